"""Speed of the batched similarity functions against per-sample reference loops.

Usage::

    .venv/bin/python bench/similarity.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]

For each case the batched torch function (one call for the whole batch) and the
reference loop (skimage / scipy, one call per sample, on the CPU) are timed round-robin
after one warm-up call each (see ``_common``). Reported: the median time of each, the
median over rounds of the per-round ratio ``loop / batched`` (> 1: the batched function
is faster) and the largest difference between the two results. On CUDA the inputs of the
batched function already live on the GPU.

Cases: SSIM (N=64 maps of 32x32 and N=32 maps of 224x224), Spearman and HOG similarity
on the same batches; ``--quick`` uses N=16 of 32x32 and N=4 of 64x64.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from _common import (
    make_parser,
    med,
    parse,
    print_end,
    print_environment,
    print_table,
    ratio,
    skimage_ssim_loop,
    spread,
    timed_rounds,
)
from scipy import stats
from skimage.feature import hog

from xai_sanity import similarity as sim


def spearman_loop(a: np.ndarray, b: np.ndarray) -> list[float]:
    return [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]


def hog_loop(a: np.ndarray, b: np.ndarray) -> list[float]:
    params = dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    return [stats.spearmanr(hog(x, **params), hog(y, **params)).statistic for x, y in zip(a, b)]


CASES = {
    "ssim": (sim.ssim, skimage_ssim_loop),
    "spearman": (sim.spearman, spearman_loop),
    "hog": (sim.hog_similarity, hog_loop),
}


def run_device(device: str, sizes: list[tuple[int, int]], repeats: int) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for n, size in sizes:
        a = rng.random((n, size, size))
        b = a + 0.5 * rng.normal(size=a.shape)
        ta = torch.from_numpy(a).to(device)
        tb = torch.from_numpy(b).to(device)
        for name, (func, reference) in CASES.items():
            batched = functools.partial(func, ta, tb)
            loop = functools.partial(reference, a, b)
            times = timed_rounds({"batched": batched, "loop": loop}, repeats, device)
            diff = float(np.max(np.abs(np.asarray(batched()) - np.asarray(loop()))))
            rows.append(
                (
                    f"{name} N={n} {size}x{size}",
                    f"{1e3 * med(times, 'batched'):.2f}",
                    f"{1e3 * med(times, 'loop'):.2f}",
                    f"{ratio(times, 'loop', 'batched'):.2f}",
                    spread(times, "loop", "batched"),
                    f"{diff:.1e}",
                )
            )
    print_table(
        f"[{device}] batched similarity (one call) vs per-sample loop (CPU)",
        ("case", "batched (ms)", "loop (ms)", "loop/batched", "range", "max |diff|"),
        rows,
    )


def main() -> None:
    parser = make_parser(
        __doc__, quick_help="N=16 of 32x32 and N=4 of 64x64, 2 rounds", repeats_default=7, repeats_quick=2
    )
    args, devices = parse(parser)
    sizes = [(16, 32), (4, 64)] if args.quick else [(64, 32), (32, 224)]
    start_load = print_environment(
        "Similarity benchmark: loop / batched time ratios measured in one run (> 1: batched is faster)",
        args,
        devices,
        peers="scipy and skimage loops",
    )
    for device in devices:
        run_device(device, sizes, args.repeats)
    print_end(start_load)


if __name__ == "__main__":
    main()
