"""The ``xai-sanity`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xai-sanity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
