#!/usr/bin/env bash
# Set up .venv with a CPU build of torch and xai_sanity (editable) plus its test tools.
# Safe to re-run; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# Pin torch: an unpinned requirement would pull a multi-GB CUDA build.
echo "torch==${XAI_SANITY_TORCH:-2.13.0}" > .venv/constraints.txt
# Checked from outside the repo, so an uninstalled checkout does not count as installed.
if ! (cd / && "$OLDPWD/.venv/bin/python" -c "import xai_sanity, captum, pytest, torch" >/dev/null 2>&1) \
    || [ ! -x .venv/bin/xai-sanity ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c .venv/constraints.txt "torch==${XAI_SANITY_TORCH:-2.13.0}"
    .venv/bin/python -m pip install -q -c .venv/constraints.txt -e ".[test]"
fi
