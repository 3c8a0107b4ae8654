"""Each metric and enhancer against its own explanation floor, on a ResNet-18; localisation against Quantus.

Usage::

    .venv/bin/python bench/floor.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]
                                    [--batch N] [--side S] [--nr-samples K] [--layers L]
                                    [--only NAME,NAME,...]

Every figure is a ratio of two timings taken in the same rounds (see ``_common``), never
an absolute time judged against a threshold.

Setting: a ResNet-18 with 1000 classes and seeded random weights (torchvision's layout:
``xai_sanity.data.reference_nets.resnet18``, or torchvision's own when it imports), in
eval mode, and ``--batch`` images of 3 x ``--side`` x ``--side`` (default 8 of 224 x 224),
uniform in [0, 1), with seeded random labels. The explainer is ``xai_sanity.Saliency()``.

The floor
---------
Every metric and enhancer here does its work through explanation passes: calls of an
explain function on inputs shaped like the batch. Its *floor* is the time of the same
number of passes done by a plain loop of ``Saliency()(model, x, y)`` calls on the batch
(N inputs each), plus, where the metric needs the model's predictions, the same number of
plain forward passes (``torch.no_grad``, numpy in, numpy out). ``ours / floor`` is then
the cost of everything else (noise, normalisation, similarity, model swaps, probes) as a
fraction of the unavoidable work; 1.00 would be no cost beyond the passes. Target: <= 1.15.

===============================  =================================================
metric / enhancer                floor (plain calls on the N-input batch)
===============================  =================================================
Max-/AvgSensitivity, Lipschitz   K + 1 Saliency calls (the originals + K perturbed copies)
RelativeInputStability           K + 1 Saliency calls + K + 1 forward passes (its default
                                 ``return_nan_when_prediction_changes=True`` predicts the
                                 originals and every perturbed copy)
MPRT (``layers=L``)              L + 1 Saliency calls (the original model + one per step)
SmoothMPRT (``layers=L``, S)     (L + 1) x S Saliency calls (S noisy copies per step)
EfficientMPRT (``layers=L``)     2 Saliency calls (original and the last step; its
                                 default ``skip_layers=True``)
RandomLogit                      2 Saliency calls (the true class and the off class)
NoiseGrad (M models)             M Saliency calls
NoiseGrad++ (M x S)              M x S Saliency calls
SmoothGrad (S samples)           S Saliency calls
===============================  =================================================

The metrics call ``Saliency()`` as a black box, exactly as a user's explain function,
and the enhancers use it as their ``base``. Localisation metrics (``PointingGame``,
``AttributionLocalisation``, ``TopKIntersection``, ``RelevanceRankAccuracy``,
``RelevanceMassAccuracy``, ``AUC``) get precomputed attributions (the Saliency maps of
the batch) and random masks, and are timed against the Quantus metric of the same name
on the same ``a_batch`` / ``s_batch``: ``quantus / ours``, target >= 5.

``--quick`` is a smoke run (2 images of 64 x 64, K=2, one round); its ratios are not the
targets'. ``--only`` runs a subset (names as in the table, comma-separated, e.g.
``--only MaxSensitivity,MPRT``; ``localisation`` selects the six localisation metrics).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from _common import (
    fmt_time,
    localisation_pairs,
    make_parser,
    med,
    parse,
    peer_version,
    print_end,
    print_environment,
    print_table,
    random_batch,
    ratio,
    resnet18,
    spread,
    timed_rounds,
    verdict,
)

import xai_sanity as xs
from xai_sanity import metrics as ours

FLOOR_TARGET = 1.15
QUANTUS_TARGET = 5.0

LOCALISATION = localisation_pairs()
#: The rows of the floor table, in order (``--only`` takes these, any case, and ``localisation``).
FLOOR_NAMES = (
    "MaxSensitivity", "AvgSensitivity", "LocalLipschitzEstimate", "RelativeInputStability", "MPRT",
    "SmoothMPRT", "EfficientMPRT", "RandomLogit", "NoiseGrad", "NoiseGrad++", "SmoothGrad",
)  # fmt: skip


@dataclass
class Case:
    """One row: our call, how many Saliency calls (and forward passes) make its floor."""

    name: str
    setting: str
    run: Callable[[], object]
    explain_calls: int
    forward_calls: int = 0


def build_cases(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: str, k: int, layers: int, samples: int
) -> list[Case]:
    """The metrics and enhancers, each with the size of its floor."""
    saliency = xs.Saliency()
    n = len(x)
    call = dict(x_batch=x, y_batch=y, explain_func=saliency, device=device, batch_size=n)

    def metric(m) -> Callable[[], object]:
        return lambda: m(model, **call)

    def enhancer(e) -> Callable[[], object]:
        return lambda: e(model, x, y, device=device)

    quiet = dict(disable_warnings=True)
    cases = [
        Case("MaxSensitivity", f"nr_samples={k}", metric(ours.MaxSensitivity(nr_samples=k, **quiet)), k + 1),
        Case("AvgSensitivity", f"nr_samples={k}", metric(ours.AvgSensitivity(nr_samples=k, **quiet)), k + 1),
        Case(
            "LocalLipschitzEstimate",
            f"nr_samples={k}",
            metric(ours.LocalLipschitzEstimate(nr_samples=k, **quiet)),
            k + 1,
        ),
        Case(
            "RelativeInputStability",
            f"nr_samples={k}",
            metric(ours.RelativeInputStability(nr_samples=k, **quiet)),
            k + 1,
            k + 1,
        ),
        Case(
            "MPRT",
            f"layers={layers}, top_down",
            metric(ours.ModelParameterRandomisation(layers=layers, **quiet)),
            layers + 1,
        ),
        Case(
            "SmoothMPRT",
            f"layers={layers}, nr_samples={samples}",
            metric(ours.SmoothMPRT(layers=layers, nr_samples=samples, **quiet)),
            (layers + 1) * samples,
        ),
        Case(
            "EfficientMPRT",
            f"layers={layers}, skip_layers",
            metric(ours.EfficientMPRT(layers=layers, **quiet)),
            2,
        ),
        Case("RandomLogit", "", metric(ours.RandomLogit(**quiet)), 2),
        Case(
            "NoiseGrad",
            f"n_models={samples}",
            enhancer(xs.NoiseGrad(base=saliency, n_models=samples)),
            samples,
        ),
        Case(
            "NoiseGrad++",
            f"{samples} x {samples}",
            enhancer(xs.NoiseGradPlusPlus(base=saliency, n_models=samples, n_samples=samples)),
            samples * samples,
        ),
        Case(
            "SmoothGrad",
            f"n_samples={samples}",
            enhancer(xs.SmoothGrad(base=saliency, n_samples=samples)),
            samples,
        ),
    ]
    return cases


def floor_call(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, device: str, explain_calls: int, forward_calls: int
) -> Callable[[], object]:
    """``explain_calls`` plain Saliency calls on the batch, then ``forward_calls`` forward passes."""
    saliency = xs.Saliency()

    def run() -> None:
        for _ in range(explain_calls):
            saliency(model, x, y, device=device)
        for _ in range(forward_calls):
            with torch.no_grad():
                model(torch.as_tensor(x, device=device)).cpu().numpy()

    return run


def bench_floors(
    model, x, y, device: str, repeats: int, k: int, layers: int, samples: int, only: set[str] | None
) -> None:
    rows = []
    cases = build_cases(model, x, y, device, k, layers, samples)
    assert tuple(case.name for case in cases) == FLOOR_NAMES, "FLOOR_NAMES must list the cases"
    for case in cases:
        if only is not None and case.name.lower() not in only:
            continue
        floor = floor_call(model, x, y, device, case.explain_calls, case.forward_calls)
        # The model is warm (see run_device): no separate warm-up call of these long variants.
        times = timed_rounds(
            {"ours": case.run, "floor": floor},
            repeats,
            device,
            warmups={"ours": lambda: None, "floor": lambda: None},
        )
        value = ratio(times, "ours", "floor")
        what = f"{case.explain_calls} Saliency" + (
            f" + {case.forward_calls} fwd" if case.forward_calls else ""
        )
        rows.append(
            (
                case.name,
                case.setting,
                what,
                fmt_time(med(times, "ours")),
                fmt_time(med(times, "floor")),
                f"{value:.2f}",
                spread(times, "ours", "floor"),
                f"<= {FLOOR_TARGET}",
                verdict(value, FLOOR_TARGET, at_least=False),
            )
        )
        print(f"  {case.name}: ours / floor = {value:.2f}", flush=True)
    if rows:
        print_table(
            f"[{device}] ours / floor (floor: plain calls of Saliency() on the {len(x)}-input batch)",
            ("metric", "setting", "floor", "ours", "floor", "ours/floor", "range", "target", "met?"),
            rows,
        )


def bench_localisation(model, x, y, device: str, repeats: int) -> None:
    rng = np.random.default_rng(0)
    n, side = len(x), x.shape[-1]
    a = xs.Saliency()(model, x, y, device=device)
    s = (rng.random((n, 1, side, side)) < 0.2).astype(np.float32)
    s[np.arange(n), 0, rng.integers(0, side, n), rng.integers(0, side, n)] = 1  # >= 1 pixel each
    common = dict(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s, device=device, batch_size=n)
    rows = []
    for name, mine, theirs in LOCALISATION:
        m_ours, m_quantus = mine(disable_warnings=True), theirs(disable_warnings=True)
        results: dict[str, list] = {}

        def run(label: str, m, results: dict = results) -> Callable[[], None]:
            def call() -> None:
                results[label] = m(**common)

            return call

        times = timed_rounds(
            {"ours": run("ours", m_ours), "quantus": run("quantus", m_quantus)}, repeats, device
        )
        value = ratio(times, "quantus", "ours")
        mine_scores = np.asarray(results["ours"], dtype=np.float64)
        their_scores = np.asarray(results["quantus"], dtype=np.float64)
        diff = float(np.nanmax(np.abs(mine_scores - their_scores))) if mine_scores.size else float("nan")
        rows.append(
            (
                name,
                fmt_time(med(times, "ours")),
                fmt_time(med(times, "quantus")),
                f"{value:.2f}",
                spread(times, "quantus", "ours"),
                f">= {QUANTUS_TARGET:.0f}",
                verdict(value, QUANTUS_TARGET, at_least=True),
                f"{diff:.1e}",
            )
        )
    print_table(
        f"[{device}] localisation with a_batch given: quantus / ours ({n} maps of {side}x{side})",
        ("metric", "ours", "quantus", "quantus/ours", "range", "target", "met?", "max |diff|"),
        rows,
    )


def run_device(args, device: str) -> None:
    n, side = (2, 64) if args.quick else (args.batch, args.side)
    k = 2 if args.quick else args.nr_samples
    layers, samples = (1, 2) if args.quick else (args.layers, args.samples)
    model, model_name = resnet18(num_classes=1000, device=device)
    x, y = random_batch(n, side, 1000)
    only = None if args.only is None else {name.strip().lower() for name in args.only.split(",")}
    print(
        f"\n=== device: {device}; {model_name}, {n} images of 3x{side}x{side}; "
        f"K={k} perturbations, L={layers} layers, S={samples} samples/models"
    )
    # Warm the model up at the call sizes used below (N and the robustness chunks).
    saliency = xs.Saliency()
    saliency(model, x, y, device=device)
    saliency(model, np.concatenate([x, x]), np.concatenate([y, y]), device=device)
    if only is None or (only - {"localisation"}):
        bench_floors(model, x, y, device, args.repeats, k, layers, samples, only)
    if only is None or "localisation" in only:
        bench_localisation(model, x, y, device, args.repeats)


def main() -> None:
    parser = make_parser(
        __doc__, quick_help="2 images of 64x64, K=2, L=1, S=2, 1 round", repeats_default=3, repeats_quick=1
    )
    parser.add_argument("--batch", type=int, default=8, help="images (default 8)")
    parser.add_argument("--side", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--nr-samples", type=int, default=3, help="robustness perturbations K (default 3)")
    parser.add_argument("--layers", type=int, default=2, help="MPRT/sMPRT/eMPRT top layers L (default 2)")
    parser.add_argument(
        "--samples",
        type=int,
        default=3,
        help="SmoothMPRT samples, enhancers' models and samples S (default 3)",
    )
    parser.add_argument("--only", default=None, help="comma-separated names (see the module docstring)")
    args, devices = parse(parser)
    if args.only is not None:
        known = {name.lower() for name in FLOOR_NAMES} | {"localisation"}
        unknown = [n.strip() for n in args.only.split(",") if n.strip().lower() not in known]
        if unknown:
            parser.error(f"--only: unknown {unknown}; the names are {', '.join(FLOOR_NAMES)}, localisation")
    warnings.filterwarnings("ignore")
    start_load = print_environment(
        "Floor benchmark: ours / explanation floor, and quantus / ours for localisation (one run)",
        args,
        devices,
        peers=peer_version("quantus"),
    )
    for device in devices:
        run_device(args, device)
    print_end(start_load)


if __name__ == "__main__":
    main()
