"""Noisy linear imputation (ROAD) against one ROAR retraining cell, as time ratios.

Usage::

    .venv/bin/python bench/imputation.py [--quick] [--repeats R] [--threads T]

What ``ROAR(imputation="noisy_linear")`` adds to a study is one sparse solve per threshold
and split (shared by the repeats; each cell only draws its noise). This script times
:func:`xai_sanity.metrics.imputation.impute` on

* 1000 images of the built-in data (3x32x32) with half of each image's pixels removed at
  random, and with the 90% top-ranked of a smooth attribution removed (large connected
  regions, the hardest case for the solver);
* 8 images of 3x224x224 with half of the pixels removed at random;
* the data of one cell of ``xai-sanity reproduce roar`` (5000 training and 1000 test
  images, 50% removed): what the noisy linear fill adds per threshold;

and the mean fill of the 1000 images, each divided by the time of one ROAR retraining cell
on the built-in default (:func:`xai_sanity.metrics.roar.cells.run_cell` with the default
trainer: a fresh LeNet, 5000 images, 3 epochs, as the reproduction trains it). Imputation
is numpy/scipy work on the CPU, whatever the device. The ratios are medians over rounds of
the ratio within a round (see ``_common``); ``--quick`` uses 1000 training images and one
epoch for the cell.
"""

from __future__ import annotations

import numpy as np
from _common import (
    fmt_time,
    lenet,
    make_parser,
    med,
    parse,
    print_end,
    print_environment,
    print_table,
    ratio,
    spread,
    timed_rounds,
)
from scipy.ndimage import gaussian_filter

from xai_sanity.data import load_default_splits
from xai_sanity.metrics.imputation import impute
from xai_sanity.metrics.roar.cells import Cell, default_train, run_cell
from xai_sanity.metrics.roar.removal import removal_mask


def random_mask(n: int, side: int, fraction: float, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).random((n, 1, side, side))
    return removal_mask(a, (n, 3, side, side), fraction)


def main() -> None:
    parser = make_parser(
        __doc__, quick_help="a cell of 1000 images and 1 epoch, 1 round", repeats_default=3, repeats_quick=1
    )
    args, _ = parse(parser)
    start_load = print_environment(
        "Imputation benchmark: impute() time / one ROAR retraining cell, measured in one run", args, ["cpu"]
    )
    n_train, epochs = (1000, 1) if args.quick else (5000, 3)
    train, test = load_default_splits(n_train, 1000, image_size=32, seed=0)
    x = train.x[:1000]
    smooth = gaussian_filter(np.random.default_rng(1).random((1000, 1, 32, 32)), sigma=(0, 0, 3, 3))
    masks = {
        "random50": random_mask(1000, 32, 0.5, 2),
        "top90": removal_mask(smooth, x.shape, 0.9),
    }
    big = np.random.default_rng(3).random((8, 3, 224, 224), dtype=np.float32)
    big_mask = random_mask(8, 224, 0.5, 4)
    cell_masks = (random_mask(n_train, 32, 0.5, 5), random_mask(len(test.x), 32, 0.5, 6))
    cell = Cell(
        estimator="bench", method="ROAR", threshold=0.5, repeat=0, seed=0, model=lenet("cpu").train(),
        retrain=True, train_func=default_train,
        train_kwargs={"epochs": epochs, "lr": 2e-3, "batch_size": 128, "device": "cpu"},
        x_train=train.x, y_train=train.y, x_test=test.x, y_test=test.y,
    )  # fmt: skip
    variants = {
        "cell": lambda: run_cell(cell),
        "noisy_linear 1000x3x32x32, 50% random": lambda: impute(x, masks["random50"], "noisy_linear"),
        "noisy_linear 1000x3x32x32, top 90% of a smooth map": lambda: impute(
            x, masks["top90"], "noisy_linear"
        ),
        "noisy_linear 8x3x224x224, 50% random": lambda: impute(big, big_mask, "noisy_linear"),
        f"noisy_linear, one cell's data ({n_train}+1000 images, 50%)": lambda: (
            impute(train.x, cell_masks[0], "noisy_linear"),
            impute(test.x, cell_masks[1], "noisy_linear"),
        ),
        "mean 1000x3x32x32, 50% random": lambda: impute(x, masks["random50"], "mean"),
    }
    times = timed_rounds(variants, args.repeats, "cpu")
    rows = [("one ROAR cell (LeNet, default trainer)", fmt_time(med(times, "cell")), "1", "")]
    for name in list(variants)[1:]:
        rows.append(
            (
                name,
                fmt_time(med(times, name)),
                f"{ratio(times, name, 'cell'):.3f}",
                spread(times, name, "cell"),
            )
        )
    print_table(
        f"\nimputation time / one retraining cell ({n_train} training images, {epochs} epoch(s))",
        ("variant", "median time", "/ cell", "range"),
        rows,
    )
    print_end(start_load)


if __name__ == "__main__":
    main()
