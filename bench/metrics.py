"""Speed of xai_sanity's localisation and robustness metrics against Quantus's.

Usage::

    .venv/bin/python bench/metrics.py [--quick] [--device cpu|cuda] [--threads T] [--repeats R]

Setting: a batch of 64 inputs of 3 x 32 x 32 and a LeNet (``xai_sanity.data.make_model``),
explained by ``xai_sanity.Saliency()``. Localisation metrics get precomputed attributions
and random binary masks (at least one foreground pixel each); robustness metrics explain
their perturbed inputs with the same Saliency (``nr_samples=200``, 20 with ``--quick``).
Each metric and its Quantus counterpart are timed round-robin after one warm-up call
each: every round runs both, in alternating order. Reported: the median time of each, the
median over rounds of the per-round ratio ``Quantus / ours`` (> 1: ours is faster), and
for the robustness metrics ``ours / explain``, where ``explain`` is the cost of their
explanation passes done directly: one Saliency call on the 64 x nr_samples perturbed
inputs (1.0 would mean no overhead beyond explaining).

Targets the numbers are read against (nothing is asserted; timings depend on the
machine and its load): every localisation metric at least 5x faster than Quantus,
MaxSensitivity at least 3x faster on the CPU.

The robustness scores of the two implementations differ because their noise differs
(ours: private seeded generators; Quantus: the global numpy RNG); their agreement under
identical perturbations is tested in ``tests/test_robustness.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
import quantus
import torch

import xai_sanity as xs
from xai_sanity import metrics as ours

LOCALISATION = [
    ("PointingGame", ours.PointingGame, quantus.PointingGame),
    ("AttributionLocalisation", ours.AttributionLocalisation, quantus.AttributionLocalisation),
    ("TopKIntersection", ours.TopKIntersection, quantus.TopKIntersection),
    ("RelevanceRankAccuracy", ours.RelevanceRankAccuracy, quantus.RelevanceRankAccuracy),
    ("RelevanceMassAccuracy", ours.RelevanceMassAccuracy, quantus.RelevanceMassAccuracy),
    ("AUC", ours.AUC, quantus.AUC),
]
ROBUSTNESS = [
    ("MaxSensitivity", ours.MaxSensitivity, quantus.MaxSensitivity),
    ("AvgSensitivity", ours.AvgSensitivity, quantus.AvgSensitivity),
    ("LocalLipschitzEstimate", ours.LocalLipschitzEstimate, quantus.LocalLipschitzEstimate),
    ("RelativeInputStability", ours.RelativeInputStability, quantus.RelativeInputStability),
]
TARGETS = {name: 5.0 for name, _, _ in LOCALISATION} | {"MaxSensitivity": 3.0}


def make_lenet() -> torch.nn.Module:
    try:
        from xai_sanity.data import make_model
    except ImportError:  # pragma: no cover - older checkouts
        return _FallbackLeNet().eval()
    return make_model("lenet", num_classes=10, in_channels=3, image_size=32, seed=0).eval()


class _FallbackLeNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(32 * 5 * 5, 120), torch.nn.ReLU(),
            torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(
    variants: dict[str, Callable[[], object]],
    repeats: int,
    device: str,
    warmups: dict[str, Callable[[], object]] | None = None,
) -> dict[str, list[float]]:
    """Warm each variant up once (with ``warmups[name]`` if given), then time ``repeats``
    rounds in alternating order."""
    names = list(variants)
    for name in names:
        (warmups or variants)[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            _sync(device)
            start = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: nr_samples=20, 1 repeat")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3, --quick 1)")
    parser.add_argument("--nr-samples", type=int, default=None, help="robustness samples (default 200)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    nr_samples = args.nr_samples or (20 if args.quick else 200)
    device = args.device
    warnings.filterwarnings("ignore")

    model = make_lenet().to(device)
    rng = np.random.default_rng(0)
    n = 64
    x = rng.random((n, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x).to(device)).argmax(1).cpu().numpy()
    saliency = xs.Saliency()
    a = saliency(model, x, y)
    s = (rng.random((n, 1, 32, 32)) < 0.2).astype(np.float32)
    s[np.arange(n), 0, rng.integers(0, 32, n), rng.integers(0, 32, n)] = 1  # >= 1 pixel each

    load = os.getloadavg()
    print(
        f"device={device} torch threads={torch.get_num_threads()} repeats={repeats} batch={n} "
        f"input=3x32x32 model=LeNet nr_samples={nr_samples} "
        f"load average={load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    header = f"{'metric':<26}{'ours (s)':>11}{'quantus (s)':>13}{'quantus/ours':>14}{'target':>10}  {'ours/explain':>12}"
    print(header)
    print("-" * len(header))

    def report(name: str, times: dict[str, list[float]]) -> None:
        ratio = statistics.median(q / o for q, o in zip(times["quantus"], times["ours"]))
        target = TARGETS.get(name)
        mark = "" if target is None else f">={target:.0f}x {'ok' if ratio >= target else 'MISS'}"
        extra = ""
        if "explain" in times:  # timed in the same rounds, so the ratio sees the same load
            overhead = statistics.median(o / e for o, e in zip(times["ours"], times["explain"]))
            extra = f"{overhead:>12.2f}  (explain {statistics.median(times['explain']):.2f} s)"
        print(
            f"{name:<26}{statistics.median(times['ours']):>11.4f}{statistics.median(times['quantus']):>13.4f}"
            f"{ratio:>14.2f}{mark:>10}  {extra}"
        )

    common = dict(model=model, x_batch=x, y_batch=y, device=device, batch_size=n)
    for name, mine, theirs in LOCALISATION:
        m_ours, m_quantus = mine(disable_warnings=True), theirs(disable_warnings=True)
        times = measure(
            {
                "ours": lambda m=m_ours: m(a_batch=a, s_batch=s, **common),
                "quantus": lambda m=m_quantus: m(a_batch=a, s_batch=s, **common),
            },
            repeats,
            device,
        )
        report(name, times)

    def runs(mine: type, theirs: type, samples: int) -> dict[str, Callable[[], object]]:
        m_ours = mine(nr_samples=samples, disable_warnings=True)
        m_quantus = theirs(nr_samples=samples, disable_warnings=True)
        # The cost of the metric's own explanation passes, done directly in one call.
        x_rep, y_rep = np.tile(x, (samples, 1, 1, 1)), np.tile(y, samples)
        return {
            "ours": lambda: m_ours(a_batch=a, explain_func=saliency, **common),
            "quantus": lambda: m_quantus(a_batch=a, explain_func=saliency, **common),
            "explain": lambda: saliency(model, x_rep, y_rep, device=device),
        }

    for name, mine, theirs in ROBUSTNESS:
        # Warm-up with 16 samples: the same explain-call shapes as the timed runs (64-input
        # calls for Quantus, 1024-input chunks for ours) at a fraction of the cost.
        warmups = runs(mine, theirs, min(nr_samples, 16))
        times = measure(runs(mine, theirs, nr_samples), repeats, device, warmups)
        report(name, times)
    print(f"explain = one Saliency call on the {n} x {nr_samples} = {n * nr_samples} perturbed inputs")
    load = os.getloadavg()
    print(f"load average at the end={load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
