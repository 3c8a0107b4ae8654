"""Speed of the batched similarity functions against per-sample reference loops.

Usage::

    .venv/bin/python bench/similarity.py [--device cpu|cuda] [--threads T] [--repeats R]

For each case the batched torch function (one call for the whole batch) and the
reference loop (skimage / scipy, one call per sample, on the CPU) are timed round-robin:
each round runs both once, in alternating order, after one warm-up call each. Reported:
the median time of each and the median over rounds of the per-round ratio
``loop / batched`` (> 1: the batched function is faster). On CUDA the device is
synchronised around each call and the inputs already live on the GPU.

Cases: SSIM (N=64 maps of 32x32 and N=32 maps of 224x224), Spearman and HOG similarity
on the same batches.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy import stats
from skimage.feature import hog
from skimage.metrics import structural_similarity

from xai_sanity import similarity as sim


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(variants: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, list[float]]:
    names = list(variants)
    for name in names:
        variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            _sync(device)
            start = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def ssim_loop(a: np.ndarray, b: np.ndarray) -> list[float]:
    out = []
    for x, y in zip(a, b):
        x = (x - x.min()) / (x.max() - x.min())
        y = (y - y.min()) / (y.max() - y.min())
        out.append(
            structural_similarity(
                x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
            )
        )
    return out


def spearman_loop(a: np.ndarray, b: np.ndarray) -> list[float]:
    return [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]


def hog_loop(a: np.ndarray, b: np.ndarray) -> list[float]:
    params = dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    return [stats.spearmanr(hog(x, **params), hog(y, **params)).statistic for x, y in zip(a, b)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device={args.device} torch threads={torch.get_num_threads()} repeats={args.repeats}")
    rng = np.random.default_rng(0)
    header = f"{'case':<28}{'batched (ms)':>14}{'loop (ms)':>12}{'loop/batched':>14}  max |diff|"
    print(header)
    print("-" * len(header))
    for n, size in ((64, 32), (32, 224)):
        a = rng.random((n, size, size))
        b = a + 0.5 * rng.normal(size=a.shape)
        ta = torch.from_numpy(a).to(args.device)
        tb = torch.from_numpy(b).to(args.device)
        cases = {
            "ssim": (sim.ssim, ssim_loop),
            "spearman": (sim.spearman, spearman_loop),
            "hog": (sim.hog_similarity, hog_loop),
        }
        for name, (func, reference) in cases.items():
            batched = functools.partial(func, ta, tb)
            loop = functools.partial(reference, a, b)
            times = measure({"batched": batched, "loop": loop}, args.repeats, args.device)
            diff = float(np.max(np.abs(np.asarray(batched()) - np.asarray(loop()))))
            ratio = statistics.median(x / y for x, y in zip(times["loop"], times["batched"]))
            print(
                f"{f'{name} N={n} {size}x{size}':<28}{1e3 * statistics.median(times['batched']):>14.2f}"
                f"{1e3 * statistics.median(times['loop']):>12.2f}{ratio:>14.2f}  {diff:.1e}"
            )


if __name__ == "__main__":
    main()
