"""Speed of xai_sanity's localisation and robustness metrics against Quantus's.

Usage::

    .venv/bin/python bench/metrics.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]
                                      [--nr-samples S]

Setting: a batch of 64 inputs of 3 x 32 x 32 and the package's LeNet
(``xai_sanity.data.make_model``), explained by ``xai_sanity.Saliency()``. Localisation
metrics get precomputed attributions and random binary masks (at least one foreground
pixel each); robustness metrics explain their perturbed inputs with the same Saliency
(``nr_samples=200``, 20 with ``--quick``). Each metric and its Quantus counterpart are
timed round-robin after one warm-up call each (see ``_common``). Reported: the median time
of each, the median over rounds of the per-round ratio ``Quantus / ours`` (> 1: ours is
faster), and for the robustness metrics ``ours / explain``, where ``explain`` is the cost
of their explanation passes done directly: one Saliency call on the 64 x nr_samples
perturbed inputs (1.0 would mean no overhead beyond explaining).

Targets the numbers are read against (nothing is asserted; timings depend on the
machine and its load): every localisation metric at least 5x faster than Quantus,
MaxSensitivity at least 3x faster on the CPU.

The robustness scores of the two implementations differ because their noise differs
(ours: private seeded generators; Quantus: the global numpy RNG); their agreement under
identical perturbations is tested in ``tests/test_robustness.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import quantus
import torch
from _common import (
    lenet,
    localisation_pairs,
    make_parser,
    med,
    parse,
    peer_version,
    print_end,
    print_environment,
    ratio,
    timed_rounds,
)

import xai_sanity as xs
from xai_sanity import metrics as ours

LOCALISATION = localisation_pairs()
ROBUSTNESS = [
    ("MaxSensitivity", ours.MaxSensitivity, quantus.MaxSensitivity),
    ("AvgSensitivity", ours.AvgSensitivity, quantus.AvgSensitivity),
    ("LocalLipschitzEstimate", ours.LocalLipschitzEstimate, quantus.LocalLipschitzEstimate),
    ("RelativeInputStability", ours.RelativeInputStability, quantus.RelativeInputStability),
]
TARGETS = {name: 5.0 for name, _, _ in LOCALISATION} | {"MaxSensitivity": 3.0}


def run_device(device: str, repeats: int, nr_samples: int) -> None:
    model = lenet(device)
    rng = np.random.default_rng(0)
    n = 64
    x = rng.random((n, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x).to(device)).argmax(1).cpu().numpy()
    saliency = xs.Saliency()
    a = saliency(model, x, y)
    s = (rng.random((n, 1, 32, 32)) < 0.2).astype(np.float32)
    s[np.arange(n), 0, rng.integers(0, 32, n), rng.integers(0, 32, n)] = 1  # >= 1 pixel each

    print(f"\n=== device: {device}; batch {n}, input 3x32x32, LeNet, robustness nr_samples={nr_samples}")
    header = f"{'metric':<26}{'ours (s)':>11}{'quantus (s)':>13}{'quantus/ours':>14}{'target':>10}  {'ours/explain':>12}"
    print(header)
    print("-" * len(header))

    def report(name: str, times: dict[str, list[float]]) -> None:
        speed = ratio(times, "quantus", "ours")
        target = TARGETS.get(name)
        mark = "" if target is None else f">={target:.0f}x {'ok' if speed >= target else 'MISS'}"
        extra = ""
        if "explain" in times:  # timed in the same rounds, so the ratio sees the same load
            extra = f"{ratio(times, 'ours', 'explain'):>12.2f}  (explain {med(times, 'explain'):.2f} s)"
        print(
            f"{name:<26}{med(times, 'ours'):>11.4f}{med(times, 'quantus'):>13.4f}{speed:>14.2f}{mark:>10}  {extra}"
        )

    common = dict(model=model, x_batch=x, y_batch=y, device=device, batch_size=n)
    for name, mine, theirs in LOCALISATION:
        m_ours, m_quantus = mine(disable_warnings=True), theirs(disable_warnings=True)
        times = timed_rounds(
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
        times = timed_rounds(runs(mine, theirs, nr_samples), repeats, device, warmups)
        report(name, times)
    print(f"explain = one Saliency call on the {n} x {nr_samples} = {n * nr_samples} perturbed inputs")


def main() -> None:
    parser = make_parser(__doc__, quick_help="nr_samples=20, 1 round", repeats_default=3, repeats_quick=1)
    parser.add_argument("--nr-samples", type=int, default=None, help="robustness samples (default 200)")
    args, devices = parse(parser)
    nr_samples = args.nr_samples or (20 if args.quick else 200)
    warnings.filterwarnings("ignore")
    start_load = print_environment(
        "Metric benchmark: Quantus / ours time ratios measured in one run (> 1: ours is faster)",
        args,
        devices,
        peers=peer_version("quantus"),
    )
    for device in devices:
        run_device(device, args.repeats, nr_samples)
    print_end(start_load)


if __name__ == "__main__":
    main()
