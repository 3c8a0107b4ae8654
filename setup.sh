#!/usr/bin/env bash
# Set up .venv with a CPU build of torch and xai_sanity (editable) plus its test tools.
# Safe to re-run: it reinstalls only when pyproject.toml (or the torch pin) changed.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_VERSION=${XAI_SANITY_TORCH:-2.13.0}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# Pin torch: an unpinned requirement would pull a multi-GB CUDA build.
echo "torch==${TORCH_VERSION}" > .venv/constraints.txt
stamp="$(cat pyproject.toml .venv/constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.xai_sanity_setup 2>/dev/null)" != "$stamp" ] || [ ! -x .venv/bin/xai-sanity ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c .venv/constraints.txt "torch==${TORCH_VERSION}"
    .venv/bin/python -m pip install -q -c .venv/constraints.txt -e ".[test]"
    echo "$stamp" > .venv/.xai_sanity_setup
fi
