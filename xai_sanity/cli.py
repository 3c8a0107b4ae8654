"""The ``xai-sanity`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


def _cmd_methods(args: argparse.Namespace) -> int:
    from . import METHODS

    for name in METHODS:
        factory = METHODS[name]
        doc = (factory.__doc__ or "").strip().splitlines()
        print(f"{name:20s} {doc[0] if doc else ''}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    """Run the conformance check over every registered method on a small CNN."""
    import numpy as np
    import torch
    from torch import nn

    from . import METHODS, get_method
    from .testing import ConformanceError, check_explain_func

    gen = torch.Generator().manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
    )  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    rng = np.random.default_rng(args.seed)
    x = rng.random((8, 3, 16, 16), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    failed = 0
    print(f"{'method':20s} {'checks':>6s} {'ms/call':>8s}  result")
    for name in METHODS:
        func = get_method(name)
        start = time.perf_counter()
        try:
            passed = check_explain_func(func, model, x, y)
            status = "ok"
        except ConformanceError as err:
            passed, status = [], "FAIL: " + "; ".join(err.failures)
            failed += 1
        ms = (time.perf_counter() - start) * 1000 / max(1, 6)
        print(f"{name:20s} {len(passed):6d} {ms:8.1f}  {status}")
    return 1 if failed else 0


#: The studies of ``xai-sanity reproduce <study>``; :func:`runners` has their functions.
STUDIES = ("noisegrad", "roar", "sanity-checks")


def runners() -> dict[str, tuple[Callable[..., Any], str]]:
    """Every runner by command name, with its default output folder.

    The reproductions are keyed by their study name (:data:`STUDIES`), the main job by
    ``"demo"``. They are imported on call, so that the command starts fast.
    """
    from .reproduce.demo import run_demo
    from .reproduce.noisegrad import run_noisegrad
    from .reproduce.roar import run_roar_study
    from .reproduce.sanity_checks import run_sanity_checks

    return {
        "demo": (run_demo, "xai_sanity_report"),
        "sanity-checks": (run_sanity_checks, "xai_sanity_sanity_checks"),
        "noisegrad": (run_noisegrad, "xai_sanity_noisegrad"),
        "roar": (run_roar_study, "xai_sanity_roar"),
    }


def _run(name: str, args: argparse.Namespace) -> int:
    run, default_out = runners()[name]
    run(
        args.out or default_out,
        device=args.device,
        quick=args.quick,
        seed=args.seed,
        progress=not args.no_progress,
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    return _run("demo", args)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    return _run(args.study, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xai-sanity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="the main job: data, model, explanations, every metric, a report")
    p.add_argument("--out", default="xai_sanity_report", help="report folder (default: %(default)s)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--quick", action="store_true", help="a small run, under a minute on 2 CPU cores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("reproduce", help="reproduce a seed paper's findings as tables and figures")
    p.add_argument("study", choices=sorted(STUDIES), help="which study")
    p.add_argument("--out", default=None, help="output folder")
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true", help="a small smoke run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_reproduce)
    p = sub.add_parser("methods", help="list the registered explain methods")
    p.set_defaults(func=_cmd_methods)
    p = sub.add_parser("check", help="run the conformance check over every registered method")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
