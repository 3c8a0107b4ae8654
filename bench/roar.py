"""ROAR retraining: batched (``torch.func`` + ``vmap``) against sequential, as a time ratio.

Usage::

    .venv/bin/python bench/roar.py [--device cpu|cuda] [--quick] [--rounds R] [--threads T]

The built-in LeNet (3x32x32 inputs, 10 classes) is retrained for 30 cells (6 thresholds x
5 repeats) on the default semi-natural data, with precomputed random attributions, once
cell by cell (``batched=False``) and once with all cells trained together
(``batched=True``). No wall-clock time is judged: the figure reported is the ratio
``sequential / batched`` from the same run, the median over rounds (each round times both
variants, in an order rotated from round to round, after one warm-up call of each). The
largest difference in mean accuracy per threshold between the two is printed too (the
same recipe and seeds; float sums differ, so not bit-identical).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from xai_sanity.data import load_default_splits, make_model
from xai_sanity.metrics.roar import ROAR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="smoke run: small data, one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_train, n_test, epochs, rounds = (1000, 200, 1, 1) if args.quick else (2000, 500, 2, args.rounds)
    train, test = load_default_splits(n_train, n_test, image_size=32, seed=0)
    model = make_model("lenet", image_size=32, seed=0).to(args.device)
    rng = np.random.default_rng(0)
    a_train = rng.random((n_train, 1, 32, 32), dtype=np.float32)
    a_test = rng.random((n_test, 1, 32, 32), dtype=np.float32)
    settings = dict(
        thresholds=(0, 0.1, 0.3, 0.5, 0.7, 0.9),
        n_repeats=5,
        train_kwargs={"epochs": epochs, "batch_size": 128, "lr": 2e-3},
    )
    variants = {"sequential": ROAR(**settings), "batched": ROAR(batched=True, **settings)}

    def run(name: str) -> tuple[float, dict]:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        scores = variants[name](
            model, train.x, train.y, a_batch=a_train, custom_batch=(test.x, test.y, a_test)
        )
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start, scores

    print(f"device={args.device} threads={torch.get_num_threads()} load={os.getloadavg()[0]:.2f}")
    print(f"30 cells, LeNet 3x32x32, n_train={n_train}, n_test={n_test}, epochs={epochs}")
    scores = {name: run(name)[1] for name in variants}  # warm-up
    ratios, times = [], {name: [] for name in variants}
    for r in range(rounds):
        order = list(variants)[r % 2 :] + list(variants)[: r % 2]
        took = {name: run(name)[0] for name in order}
        for name, t in took.items():
            times[name].append(t)
        ratios.append(took["sequential"] / took["batched"])
    for name, values in times.items():
        print(f"{name:>10}: median {statistics.median(values):.2f} s over {rounds} round(s)")
    diff = max(abs(scores["sequential"][t] - scores["batched"][t]) for t in scores["sequential"])
    print(
        f"sequential / batched: {statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(f"largest |mean accuracy difference| per threshold: {diff:.4f}")
    print(f"load at end={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
