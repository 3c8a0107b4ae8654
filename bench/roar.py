"""ROAR retraining: batched (``torch.func`` + ``vmap``) against sequential, as a time ratio.

Usage::

    .venv/bin/python bench/roar.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]

The package's LeNet (3x32x32 inputs, 10 classes) is retrained for 30 cells (6 thresholds x
5 repeats) on the default semi-natural data, with precomputed random attributions, once
cell by cell (``batched=False``) and once with all cells trained together
(``batched=True``). No wall-clock time is judged: the figure reported is the ratio
``sequential / batched`` from the same run, the median over rounds (round-robin after one
warm-up call of each, see ``_common``). The largest difference in mean accuracy per
threshold between the two is printed too (the same recipe and seeds; float sums differ, so
not bit-identical). Last, the time of one training step at batch 128 and at batch 1 bounds
what vectorising the cells can gain: it removes per-step fixed costs (Python, dispatch,
kernel launches), not arithmetic.

``--device`` defaults to CUDA when available, otherwise the CPU (one device per run).
"""

from __future__ import annotations

import copy
import statistics
import time

import numpy as np
import torch
from _common import (
    fmt_time,
    lenet,
    make_parser,
    med,
    parse,
    print_end,
    print_environment,
    ratio,
    spread,
    sync,
    timed_rounds,
)

from xai_sanity.data import load_default_splits
from xai_sanity.metrics import ROAR


def step_times(model: torch.nn.Module, device: str, batch_size: int, rounds: int = 20) -> tuple[float, float]:
    """Median time of one Adam training step of a copy of ``model`` at ``batch_size`` and at 1."""
    net = copy.deepcopy(model).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    out = []
    for n in (batch_size, 1):
        x = torch.rand(n, 3, 32, 32, device=device)
        y = torch.zeros(n, dtype=torch.long, device=device)
        times = []
        for _ in range(rounds + 3):
            sync(device)
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            sync(device)
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times[3:]))
    return out[0], out[1]


def run_device(device: str, quick: bool, repeats: int) -> None:
    n_train, n_test, epochs = (256, 64, 1) if quick else (2000, 500, 2)
    train, test = load_default_splits(n_train, n_test, image_size=32, seed=0)
    model = lenet(device).train()
    rng = np.random.default_rng(0)
    a_train = rng.random((n_train, 1, 32, 32), dtype=np.float32)
    a_test = rng.random((n_test, 1, 32, 32), dtype=np.float32)
    settings = dict(
        thresholds=(0, 0.1, 0.3, 0.5, 0.7, 0.9),
        n_repeats=5,
        train_kwargs={"epochs": epochs, "batch_size": 128, "lr": 2e-3},
    )
    metrics = {"sequential": ROAR(**settings), "batched": ROAR(batched=True, **settings)}
    scores: dict[str, dict] = {}

    def variant(name: str):
        def run() -> None:
            scores[name] = metrics[name](
                model, train.x, train.y, a_batch=a_train, custom_batch=(test.x, test.y, a_test)
            )

        return run

    print(
        f"\n=== device: {device}; 30 cells, LeNet 3x32x32, n_train={n_train}, n_test={n_test}, epochs={epochs}"
    )
    times = timed_rounds({name: variant(name) for name in metrics}, repeats, device)
    for name in metrics:
        print(f"{name:>10}: median {fmt_time(med(times, name))} over {repeats} round(s)")
    diff = max(abs(scores["sequential"][t] - scores["batched"][t]) for t in scores["sequential"])
    print(
        f"sequential / batched: {ratio(times, 'sequential', 'batched'):.2f}x {spread(times, 'sequential', 'batched')}"
    )
    print(f"largest |mean accuracy difference| per threshold: {diff:.4f}")
    step_full, step_one = step_times(model, device, batch_size=128)
    bound = step_full / max(step_full - step_one, 1e-12)
    print(
        f"one sequential training step: {step_full * 1e3:.1f} ms at batch 128, {step_one * 1e3:.1f} ms at batch 1 "
        f"(fixed per-step cost); vectorising cells removes at most the fixed cost, so on this device "
        f"batched training can be at most about {bound:.2f}x faster unless its kernels beat the dense ones"
    )


def main() -> None:
    parser = make_parser(
        __doc__,
        quick_help="256 training and 64 test images, 1 epoch, 1 round",
        repeats_default=3,
        repeats_quick=1,
        device_default="one",
    )
    args, devices = parse(parser)
    start_load = print_environment(
        "ROAR benchmark: sequential / batched retraining time ratio measured in one run", args, devices
    )
    for device in devices:
        run_device(device, args.quick, args.repeats)
    print_end(start_load)


if __name__ == "__main__":
    main()
