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
same recipe and seeds; float sums differ, so not bit-identical). Last, the time of one
training step at batch 128 and at batch 1 bounds what vectorising the cells can gain: it
removes per-step fixed costs (Python, dispatch, kernel launches), not arithmetic.
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


def step_times(model: torch.nn.Module, device: str, batch_size: int, rounds: int = 20) -> tuple[float, float]:
    """Median time of one Adam training step of a copy of ``model`` at ``batch_size`` and at 1."""
    import copy

    net = copy.deepcopy(model).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    out = []
    for n in (batch_size, 1):
        x = torch.rand(n, 3, 32, 32, device=device)
        y = torch.zeros(n, dtype=torch.long, device=device)
        times = []
        for _ in range(rounds + 3):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times[3:]))
    return out[0], out[1]


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
    step_full, step_one = step_times(model, args.device, batch_size=128)
    bound = step_full / max(step_full - step_one, 1e-12)
    print(
        f"one sequential training step: {step_full * 1e3:.1f} ms at batch 128, {step_one * 1e3:.1f} ms at batch 1 "
        f"(fixed per-step cost); vectorising cells removes at most the fixed cost, so on this device "
        f"batched training can be at most about {bound:.2f}x faster unless its kernels beat the dense ones"
    )
    print(f"load at end={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
