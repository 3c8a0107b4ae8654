"""Cost and agreement of the randomisation check and of batched SSIM, as ratios from one run.

Usage::

    .venv/bin/python bench/randomisation.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]

No wall-clock time is judged against a threshold: every figure that carries a target is
a ratio of two timings taken in this run (round-robin rounds, see ``_common``), so the
script means the same on a fast or a slow (or a busy) machine.

Sections
--------
1. MPRT: ``xai_sanity``'s ``ModelParameterRandomisation(layer_order="top_down",
   layer_seeds="shared")`` against ``quantus.MPRT(layer_order="top_down")`` with the same
   seed, model, batch and explainer (``xai_sanity.Saliency()``), both with Spearman
   similarity. Reported: whether the layer keys agree and the largest per-sample score
   difference for each key; the time of each; ``quantus / ours`` (target >= 20x for the
   ResNet-18 at 224x224, batch 32, on a GPU); and ``ours / floor`` where the floor is
   ``(randomisation steps + 1) x`` one Saliency call on the batch (target <= 2x).
   Models: the package's LeNet on 3x32x32 (batch 64) and a ResNet-18 with 1000 classes
   (torchvision's if importable, otherwise the ResNet-18-shaped network of ``_common``);
   224x224, batch 32 on a GPU, 64x64, batch 8 on the CPU.
2. SSIM: ``xai_sanity.similarity.ssim`` (one call for the batch) against a per-sample
   loop of ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
   use_sample_covariance=False, data_range=1)`` on the same maps, each min-max scaled to
   [0, 1] in float64 as ``ssim(scale=True)`` does; N=64 maps of 32x32 and N=32 of
   224x224. Reported: the largest difference (target <= 1e-5) and ``loop / ours``
   (target >= 20x).
3. (CPU, information) Spearman of 32 maps of 224x224, the similarity work of one MPRT step
   in the GPU ResNet-18 case: ours against quantus's ``correlation_spearman``. Both
   metrics run it on the CPU even with the model on a GPU (the explainer returns numpy
   maps), so it bounds the GPU ratios of section 1.

``--device`` defaults to the CPU plus CUDA when ``torch.cuda.is_available()``.
``--quick`` is a smoke run: one round and small sizes (its ratios are not the targets').
"""

from __future__ import annotations

import warnings

import numpy as np
import quantus
import torch
from _common import (
    fmt_time,
    lenet,
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
    skimage_ssim_loop,
    spread,
    timed_rounds,
    verdict,
)
from torch import nn

import xai_sanity
from xai_sanity.metrics import ModelParameterRandomisation
from xai_sanity.similarity import spearman, ssim

warnings.filterwarnings("ignore", category=DeprecationWarning, module="quantus")
warnings.filterwarnings("ignore", category=FutureWarning, module="quantus")

SEED = 42


# ---------------------------------------------------------------------------------------
# 1. MPRT: ours against quantus.MPRT
# ---------------------------------------------------------------------------------------


def score_agreement(ours: dict, theirs: dict) -> tuple[bool, list[tuple[str, float, int]]]:
    """Whether the key lists are equal, and per shared key: max |diff| over samples where
    both are finite, and the number of samples where exactly one of them is NaN."""
    rows = []
    for key in ours:
        if key not in theirs:
            continue
        a, b = np.asarray(ours[key], dtype=np.float64), np.asarray(theirs[key], dtype=np.float64)
        both = np.isfinite(a) & np.isfinite(b)
        diff = float(np.max(np.abs(a[both] - b[both]))) if both.any() else float("nan")
        rows.append((key, diff, int(np.sum(np.isnan(a) != np.isnan(b)))))
    return list(ours) == list(theirs), rows


def quantus_mprt(model, x, y, explain_func, device, **kwargs) -> dict:
    """``quantus.MPRT(layer_order="top_down")`` with this bench's seed, on the whole batch."""
    metric = quantus.MPRT(layer_order="top_down", seed=SEED, disable_warnings=True, **kwargs)
    return metric(
        model=model,
        x_batch=x,
        y_batch=y,
        a_batch=None,
        explain_func=explain_func,
        device=device,
        batch_size=len(x),
    )


def max_finite(agreement: list[tuple[str, float, int]]) -> float:
    return max((d for _, d, _ in agreement if np.isfinite(d)), default=float("nan"))


def bench_mprt(label: str, model: nn.Module, x: np.ndarray, y: np.ndarray, device: str, repeats: int) -> int:
    """Time and compare the two MPRTs; returns the number of explanation passes of ours."""
    model = model.to(device).eval()
    saliency = xai_sanity.Saliency()
    ours_metric = ModelParameterRandomisation(layer_order="top_down", layer_seeds="shared", seed=SEED)
    results: dict[str, dict] = {}

    def run_ours() -> None:
        results["ours"] = ours_metric(model, x, y, explain_func=saliency, batch_size=len(x))

    def run_theirs() -> None:
        results["quantus"] = quantus_mprt(model, x, y, saliency, device)

    # Spearman of the maps alone, (steps) calls: the similarity share of ours' overhead.
    maps = np.abs(saliency(model, x, y))
    other = np.ascontiguousarray(maps[::-1])

    def run_spearman() -> None:
        for _ in range(n_steps):
            spearman(maps, other)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant maps give NaN plus a warning
        run_ours()  # also ours' warm-up
        # One score list for the original model and one per randomised layer.
        n_steps = len(results["ours"])
        variants = {
            "saliency": lambda: saliency(model, x, y),
            "ours": run_ours,
            "quantus": run_theirs,
            "spearman": run_spearman,
        }
        times = timed_rounds(variants, repeats, device, warmups={**variants, "ours": lambda: None})

    q_over_o = ratio(times, "quantus", "ours")
    o_over_f = ratio(times, "ours", "saliency", n_steps)
    t_over_f = ratio(times, "quantus", "saliency", n_steps)
    is_resnet = "ResNet" in label or "resnet" in label
    q_target = "target >= 20 (ResNet-18 on a GPU)" if is_resnet else "(no target for this model)"
    if is_resnet and device == "cuda":
        q_target += f": {verdict(q_over_o, 20.0, at_least=True)}"
    rows = [
        (f"floor: {n_steps} x one Saliency call", fmt_time(n_steps * med(times, "saliency")), "1.00", "", ""),
        (
            "ours: ModelParameterRandomisation",
            fmt_time(med(times, "ours")),
            f"{o_over_f:.2f}",
            spread(times, "ours", "saliency", n_steps),
            f"target <= 2: {verdict(o_over_f, 2.0, at_least=False)}",
        ),
        (
            "quantus.MPRT",
            fmt_time(med(times, "quantus")),
            f"{t_over_f:.2f}",
            spread(times, "quantus", "saliency", n_steps),
            f"quantus / ours = {q_over_o:.2f} {spread(times, 'quantus', 'ours')}",
        ),
        ("", "", "", "", q_target),
        (
            f"  (info) ours' spearman calls alone, x{n_steps}",
            fmt_time(med(times, "spearman")),
            f"{ratio(times, 'spearman', 'saliency', n_steps):.2f}",
            "",
            "",
        ),
    ]
    print_table(
        f"[{device}] MPRT top_down, {label}: {n_steps - 1} layers randomised, {n_steps} explanation passes",
        ("variant", "median", "/floor", "range", "note"),
        rows,
    )
    print(
        f"  one Saliency call on the batch: {fmt_time(med(times, 'saliency'))} (median); quantus.MPRT explains"
    )
    print(f"  {n_steps + 1} times (it re-explains the original model for its a_batch), ours {n_steps} times")
    print(
        f"  bound: any implementation making the {n_steps} explanation passes is at most quantus / floor = "
        f"{t_over_f:.2f}x faster than quantus.MPRT here"
    )

    keys_equal, agreement = score_agreement(results["ours"], results["quantus"])
    print(
        f"  layer keys agree: {'yes' if keys_equal else 'NO'} "
        f"({len(results['ours'])} ours, {len(results['quantus'])} quantus)"
    )
    if not keys_equal:
        print(f"    only ours: {[k for k in results['ours'] if k not in results['quantus']]}")
        print(f"    only quantus: {[k for k in results['quantus'] if k not in results['ours']]}")
    worst = max_finite(agreement)
    nan_mismatch = sum(m for _, _, m in agreement)
    print(
        f"  max |ours - quantus| per layer key (over {len(x)} samples); overall {worst:.1e}, "
        f"NaN in one but not the other: {nan_mismatch}"
    )
    cells = [f"{key}: {d:.1e}" + (f" ({m} NaN-mismatch)" if m else "") for key, d, m in agreement]
    per_line = 4
    width = max(len(c) for c in cells) + 2
    for i in range(0, len(cells), per_line):
        print("    " + "".join(c.ljust(width) for c in cells[i : i + per_line]).rstrip())
    if np.isfinite(worst) and worst > 1e-12:
        # quantus.MPRT's default normalise_by_max divides the whole batch by one maximum,
        # ours each map by its own; in float32 the two roundings can merge or split tied
        # values, which moves a Spearman score slightly. Re-run quantus with per-map maxima.
        axes = tuple(range(1, x.ndim))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            again = quantus_mprt(
                model, x, y, saliency, device, normalise_func_kwargs={"normalise_axes": axes}
            )
        _, rerun = score_agreement(results["ours"], again)
        print(
            f"  with quantus normalising each map by its own max (normalise_axes={axes}, not its default\n"
            f"  of one max per batch): overall max |ours - quantus| = {max_finite(rerun):.1e}"
        )
    return n_steps


# ---------------------------------------------------------------------------------------
# 2. SSIM: batched against skimage per sample
# ---------------------------------------------------------------------------------------


def ssim_maps(n: int, side: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Float32 saliency-like maps: non-negative, ``b`` a noisy variant of ``a``."""
    rng = np.random.default_rng(seed)
    a = rng.random((n, side, side), dtype=np.float32) ** 2
    b = (0.7 * a + 0.3 * rng.random((n, side, side), dtype=np.float32)).astype(np.float32)
    return a, b


def bench_ssim(device: str, cases: list[tuple[int, int]], repeats: int) -> None:
    rows = []
    for n, side in cases:
        a, b = ssim_maps(n, side)
        if device == "cpu":
            ta, tb = a, b  # numpy in, as the metrics pass explanations
        else:
            ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
        outputs: dict[str, np.ndarray] = {}

        def ours(ta=ta, tb=tb, outputs=outputs) -> None:
            outputs["ours"] = ssim(ta, tb)

        def loop(a=a, b=b, outputs=outputs) -> None:
            outputs["loop"] = skimage_ssim_loop(a, b)

        times = timed_rounds({"ours": ours, "loop": loop}, repeats, device)
        speed = ratio(times, "loop", "ours")
        diff = float(np.max(np.abs(outputs["ours"] - outputs["loop"])))
        rows.append(
            (
                f"N={n} maps of {side}x{side}",
                fmt_time(med(times, "ours")),
                fmt_time(med(times, "loop")),
                f"{speed:.2f}",
                spread(times, "loop", "ours"),
                verdict(speed, 20.0, at_least=True),
                f"{diff:.1e}",
                verdict(diff, 1e-5, at_least=False),
            )
        )
    where = "numpy input" if device == "cpu" else f"tensors already on {device}"
    print_table(
        f"[{device}] SSIM: xai_sanity.similarity.ssim (one call, {where}) vs skimage loop (CPU)",
        ("case", "ours", "skimage loop", "loop/ours", "range", ">= 20x", "max |diff|", "<= 1e-5"),
        rows,
    )


# ---------------------------------------------------------------------------------------
# 3. Spearman at the size of one GPU ResNet-18 MPRT step (CPU)
# ---------------------------------------------------------------------------------------


def bench_spearman_step_size(n: int, side: int, n_calls: int, repeats: int) -> None:
    """The Spearman work of one MPRT step of the GPU ResNet-18 case, on the CPU.

    ``ModelParameterRandomisation`` hands the explainer's numpy maps to the similarity, so
    this part runs on the CPU even when the model is on a GPU; quantus.MPRT's
    ``correlation_spearman`` (scipy) likewise. Information for the GPU targets.
    """
    from quantus.functions.similarity_func import correlation_spearman

    rng = np.random.default_rng(3)
    a = rng.random((n, 1, side, side), dtype=np.float32)
    b = rng.random((n, 1, side, side), dtype=np.float32)
    flat_a, flat_b = a.reshape(n, -1), b.reshape(n, -1)
    times = timed_rounds(
        {
            "ours": lambda: spearman(a, b),
            "quantus": lambda: correlation_spearman(flat_a, flat_b, batched=True),
        },
        repeats,
        "cpu",
    )
    ours_t = med(times, "ours")
    quantus_t = med(times, "quantus")
    speed = f"{ratio(times, 'quantus', 'ours'):.2f}"
    print_table(
        f"[cpu] Spearman of {n} maps of {side}x{side}"
        + (" (one MPRT step of the GPU ResNet-18 case)" if (n, side) == (32, 224) else " (--quick size)"),
        ("similarity", "one call", f"x{n_calls} calls", "quantus/ours", "range"),
        [
            (
                "ours: similarity.spearman",
                fmt_time(ours_t),
                fmt_time(n_calls * ours_t),
                speed,
                spread(times, "quantus", "ours"),
            ),
            ("quantus: correlation_spearman", fmt_time(quantus_t), fmt_time(n_calls * quantus_t), "", ""),
        ],
    )
    print(
        "  both metrics compute this on the CPU (the explainer returns numpy maps) even with the\n"
        "  model on a GPU, so it bounds ours / floor and quantus / ours in the GPU ResNet-18 case"
    )


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def run_device(device: str, quick: bool, repeats: int) -> None:
    n = 16 if quick else 64
    x, y = random_batch(n, 32)
    bench_mprt(
        f"LeNet (xai_sanity.data.make_model), input 3x32x32, batch {n}", lenet(), x, y, device, repeats
    )

    # 1000 classes: the ImageNet head of torchvision's default ResNet-18.
    resnet, resnet_name = resnet18(num_classes=1000)
    if device == "cpu":
        side, n = (32, 2) if quick else (64, 8)
    else:
        side, n = (112, 8) if quick else (224, 32)
    x, y = random_batch(n, side, 1000)
    label = f"{resnet_name}, input 3x{side}x{side}, batch {n}"
    n_steps = bench_mprt(label, resnet, x, y, device, repeats)

    cases = [(16, 32), (8, 64)] if quick else [(64, 32), (32, 224)]
    bench_ssim(device, cases, repeats)

    if device == "cpu":
        bench_spearman_step_size(8 if quick else 32, 64 if quick else 224, n_steps, repeats)


def main() -> None:
    parser = make_parser(__doc__, quick_help="1 round, small sizes", repeats_default=3, repeats_quick=1)
    args, devices = parse(parser)
    start_load = print_environment(
        "Randomisation benchmark: ratios of timings taken in this run (medians over rounds)",
        args,
        devices,
        peers=peer_version("quantus"),
    )
    for device in devices:
        run_device(device, args.quick, args.repeats)
    print_end(start_load)


if __name__ == "__main__":
    main()
