"""Speed of the noise-ensemble enhancers, as time ratios measured in one run.

Usage::

    .venv/bin/python bench/enhancers.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]
                                        [--batch N] [--sweep] [--sweep-sizes 128,256,...]

Every figure is a ratio of two timings taken in the same run (see ``_common`` for the
round-robin timing), never an absolute time judged against a threshold.

Sections
--------
* NoiseGrad++ (10 weight draws x 10 noisy inputs, batch N -> 100 N explained inputs)
  against the compute floor, one plain ``Gradient`` call on the 100 N inputs at once,
  and against a reference loop that deep-copies the model for each weight draw.
* NoiseGrad (10 weight draws, no input noise) against its own floor (10 N inputs).
* SmoothGrad against captum's ``NoiseTunnel(Saliency)`` doing the same work (absolute
  noise of the same std, signed gradients), at 10 and 50 samples.
* ``--sweep``: the enhancer's ``batch_size`` against the same floors.
* NoiseGrad++ again on a ResNet-18 (torchvision's, or a ResNet-18-shaped network without
  torchvision); not with ``--quick``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
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
    spread,
    timed_rounds,
)
from torch import nn

import xai_sanity

N_MODELS = 10
N_SAMPLES = 10
WEIGHT_STD = 0.2  # NoiseGrad's default multiplicative weight noise
INPUT_LEVEL = 0.15  # NoiseGrad++'s default input noise, relative to each input's range
SG_STDEV = 0.15  # absolute input noise for the SmoothGrad / captum comparison


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over samples of the Pearson correlation of two (N, ...) attribution maps."""
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    num = (a * b).sum(1)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(np.mean(num / np.maximum(den, 1e-30)))


# ---------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------


def reference_noisegrad_pp(
    model: nn.Module,
    inputs: np.ndarray,
    targets: np.ndarray,
    device: str,
    gen: torch.Generator,
    per_sample_calls: bool = False,
) -> np.ndarray:
    """NoiseGrad++ written the straightforward way: a deep copy of the model per weight draw.

    Each draw copies the model, multiplies every parameter by ``1 + eps``, then takes the
    input gradient at ``N_SAMPLES`` noisy copies of the inputs: in one call of
    ``N_SAMPLES * N`` inputs, or (``per_sample_calls``) one call of ``N`` inputs per noisy
    copy, the loop structure of the original NoiseGrad code.
    """
    x = torch.from_numpy(inputs).to(device)
    y = torch.from_numpy(targets).to(device)
    flat = x.reshape(x.shape[0], -1)
    sigma = (INPUT_LEVEL * (flat.max(1).values - flat.min(1).values)).view(-1, 1, 1, 1)
    total = torch.zeros_like(x)
    for _ in range(N_MODELS):
        noisy_model = copy.deepcopy(model)
        with torch.no_grad():
            for p in noisy_model.parameters():
                eps = torch.randn(p.shape, generator=gen, device=p.device)
                p.mul_(1 + WEIGHT_STD * eps)
        noise = torch.randn((N_SAMPLES, *x.shape), generator=gen, device=device)
        noisy = x.unsqueeze(0) + sigma.unsqueeze(0) * noise
        if per_sample_calls:
            for k in range(N_SAMPLES):
                xi = noisy[k].detach().requires_grad_(True)
                score = noisy_model(xi).gather(1, y[:, None]).sum()
                (grad,) = torch.autograd.grad(score, xi)
                total += grad
        else:
            xi = noisy.reshape(-1, *x.shape[1:]).detach().requires_grad_(True)
            score = noisy_model(xi).gather(1, y.repeat(N_SAMPLES)[:, None]).sum()
            (grad,) = torch.autograd.grad(score, xi)
            total += grad.view(N_SAMPLES, *x.shape).sum(0)
    return (total / (N_MODELS * N_SAMPLES)).sum(1, keepdim=True).cpu().numpy()


def captum_smoothgrad(model: nn.Module, device: str, n: int) -> Callable | None:
    """captum ``NoiseTunnel(Saliency)`` with signed gradients, reduced like our maps."""
    try:
        from captum.attr import NoiseTunnel, Saliency
    except ImportError:
        return None
    tunnel = NoiseTunnel(Saliency(model))

    def explain(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(inputs).to(device)
        y = torch.from_numpy(targets).to(device)
        attr = tunnel.attribute(x, nt_type="smoothgrad", nt_samples=n, stdevs=SG_STDEV, target=y, abs=False)
        return attr.sum(1, keepdim=True).detach().cpu().numpy()

    return explain


def in_chunks(gradient: Callable, model: nn.Module, x: np.ndarray, y: np.ndarray, size: int) -> Callable:
    """A call of ``gradient`` on ``x`` in consecutive calls of at most ``size`` inputs."""

    def run() -> None:
        for start in range(0, len(x), size):
            gradient(model, x[start : start + size], y[start : start + size])

    return run


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def bench_noisegrad_pp(model, x, y, device, repeats, label="LeNet") -> None:
    n = x.shape[0]
    big_x = np.tile(x, (N_MODELS * N_SAMPLES, 1, 1, 1))
    big_y = np.tile(y, N_MODELS * N_SAMPLES)
    gradient = xai_sanity.Gradient()
    ngpp = xai_sanity.NoiseGradPlusPlus(base="Gradient", n_models=N_MODELS, n_samples=N_SAMPLES)
    gen = torch.Generator(device=device)
    outputs: dict[str, np.ndarray] = {}

    def keep(name, f):
        def run():
            outputs[name] = f()

        return run

    def ref(per_sample):
        gen.manual_seed(0)
        return reference_noisegrad_pp(model, x, y, device, gen, per_sample_calls=per_sample)

    bs = ngpp.batch_size
    m = N_MODELS * N_SAMPLES * n
    times = timed_rounds(
        {
            "floor": lambda: gradient(model, big_x, big_y),
            "chunked": in_chunks(gradient, model, big_x, big_y, bs),
            "ours": keep("ours", lambda: ngpp(model, x, y)),
            "ref": keep("ref", lambda: ref(False)),
            "ref_loop": lambda: ref(True),
        },
        repeats,
        device,
    )
    rows = [
        (f"Gradient, {m} inputs at once (floor)", fmt_time(med(times, "floor")), "1.00", "", ""),
        (
            f"Gradient, {m} inputs in calls of {bs}",
            fmt_time(med(times, "chunked")),
            f"{ratio(times, 'chunked', 'floor'):.2f}",
            spread(times, "chunked", "floor"),
            f"ours/this {ratio(times, 'ours', 'chunked'):.2f}",
        ),
        (
            f"NoiseGradPlusPlus {N_MODELS}x{N_SAMPLES}, batch {n} (ours)",
            fmt_time(med(times, "ours")),
            f"{ratio(times, 'ours', 'floor'):.2f}",
            spread(times, "ours", "floor"),
            "target <= 1.30",
        ),
        (
            "reference: deepcopy per draw, 1 call/draw",
            fmt_time(med(times, "ref")),
            f"{ratio(times, 'ref', 'floor'):.2f}",
            spread(times, "ref", "floor"),
            f"ours/ref {ratio(times, 'ours', 'ref'):.2f}",
        ),
        (
            "reference: deepcopy per draw, 1 call/sample",
            fmt_time(med(times, "ref_loop")),
            f"{ratio(times, 'ref_loop', 'floor'):.2f}",
            spread(times, "ref_loop", "floor"),
            f"ours/ref {ratio(times, 'ours', 'ref_loop'):.2f}",
        ),
    ]
    print_table(
        f"[{device}, {label}] NoiseGrad++ ({m} explained inputs) vs the compute floor",
        ("variant", "median", "/floor", "range", "note"),
        rows,
    )
    print(
        f"  'ours/this' isolates the engine's own overhead: both make calls of at most {bs} inputs\n"
        f"  map correlation ours vs reference (different noise draws, same expectation): "
        f"{correlation(outputs['ours'], outputs['ref']):.3f}"
    )


def bench_noisegrad(model, x, y, device, repeats) -> None:
    n = x.shape[0]
    big_x = np.tile(x, (N_MODELS, 1, 1, 1))
    big_y = np.tile(y, N_MODELS)
    gradient = xai_sanity.Gradient()
    ng = xai_sanity.NoiseGrad(base="Gradient", n_models=N_MODELS)
    times = timed_rounds(
        {"floor": lambda: gradient(model, big_x, big_y), "ours": lambda: ng(model, x, y)}, repeats, device
    )
    rows = [
        (f"Gradient, {N_MODELS * n} inputs at once (floor)", fmt_time(med(times, "floor")), "1.00", ""),
        (
            f"NoiseGrad {N_MODELS} models, batch {n} (ours)",
            fmt_time(med(times, "ours")),
            f"{ratio(times, 'ours', 'floor'):.2f}",
            spread(times, "ours", "floor"),
        ),
    ]
    print_table(f"[{device}] NoiseGrad (information)", ("variant", "median", "/floor", "range"), rows)


def bench_smoothgrad(model, x, y, device, repeats, sample_counts=(10, 50)) -> None:
    variants: dict[str, Callable] = {}
    outputs: dict[str, np.ndarray] = {}
    available = True
    for n in sample_counts:
        sg = xai_sanity.SmoothGrad(base="Gradient", n_samples=n, noise_level=SG_STDEV, noise_relative=False)
        cap = captum_smoothgrad(model, device, n)
        if cap is None:
            available = False

        def ours(sg=sg, n=n):
            outputs[f"ours{n}"] = sg(model, x, y)

        variants[f"ours{n}"] = ours
        if cap is not None:

            def theirs(cap=cap, n=n):
                outputs[f"captum{n}"] = cap(x, y)

            variants[f"captum{n}"] = theirs
    times = timed_rounds(variants, repeats, device)
    rows = []
    for n in sample_counts:
        row = [f"SmoothGrad n={n} (ours)", fmt_time(med(times, f"ours{n}"))]
        if available:
            row += [
                fmt_time(med(times, f"captum{n}")),
                f"{ratio(times, f'ours{n}', f'captum{n}'):.2f}",
                spread(times, f"ours{n}", f"captum{n}"),
                f"{correlation(outputs[f'ours{n}'], outputs[f'captum{n}']):.3f}",
            ]
        else:
            row += ["n/a", "n/a", "", ""]
        rows.append(tuple(row))
    print_table(
        f"[{device}] SmoothGrad vs captum NoiseTunnel(Saliency, abs=False), stdevs={SG_STDEV}, "
        f"batch {x.shape[0]} (target ours/captum <= 1.00)",
        ("variant", "ours", "captum", "ours/captum", "range", "corr"),
        rows,
    )
    if available:
        # Both estimate the same expectation; with many samples the maps should agree.
        k, n_big = min(8, x.shape[0]), 1000
        ours_big = xai_sanity.SmoothGrad(
            base="Gradient", n_samples=n_big, noise_level=SG_STDEV, noise_relative=False
        )(model, x[:k], y[:k])
        captum_big = captum_smoothgrad(model, device, n_big)(x[:k], y[:k])
        print(
            f"  convergence check, {k} inputs, n={n_big}: correlation {correlation(ours_big, captum_big):.3f}, "
            f"max |diff| / max |map| = {np.abs(ours_big - captum_big).max() / np.abs(captum_big).max():.3f}"
        )


def bench_sweep(model, x, y, device, repeats, sizes) -> None:
    n = x.shape[0]
    m = N_MODELS * N_SAMPLES * n
    big_x = np.tile(x, (N_MODELS * N_SAMPLES, 1, 1, 1))
    big_y = np.tile(y, N_MODELS * N_SAMPLES)
    gradient = xai_sanity.Gradient()
    variants: dict[str, Callable] = {"floor": lambda: gradient(model, big_x, big_y)}
    cap = captum_smoothgrad(model, device, 50)
    if cap is not None:
        variants["captum50"] = lambda: cap(x, y)
    for bs in sizes:
        ngpp = xai_sanity.NoiseGradPlusPlus(
            base="Gradient", n_models=N_MODELS, n_samples=N_SAMPLES, batch_size=bs
        )
        sg = xai_sanity.SmoothGrad(
            base="Gradient", n_samples=50, noise_level=SG_STDEV, noise_relative=False, batch_size=bs
        )
        variants[f"chunk{bs}"] = in_chunks(gradient, model, big_x, big_y, bs)
        variants[f"ngpp{bs}"] = lambda ngpp=ngpp: ngpp(model, x, y)
        variants[f"sg{bs}"] = lambda sg=sg: sg(model, x, y)
    times = timed_rounds(variants, repeats, device)
    rows = []
    for bs in sizes:
        rows.append(
            (
                str(bs),
                f"{ratio(times, f'chunk{bs}', 'floor'):.2f}",
                f"{ratio(times, f'ngpp{bs}', 'floor'):.2f}",
                spread(times, f"ngpp{bs}", "floor"),
                f"{ratio(times, f'sg{bs}', 'captum50'):.2f}" if cap is not None else "n/a",
                spread(times, f"sg{bs}", "captum50") if cap is not None else "",
            )
        )
    print_table(
        f"[{device}] batch_size sweep (batch {n}; floor = Gradient on {m} inputs at once, "
        f"{fmt_time(med(times, 'floor'))})",
        ("batch_size", "Gradient chunked/floor", "NG++/floor", "range", "SG50/captum50", "range"),
        rows,
    )


def bench_resnet18(device, repeats, n) -> None:
    model, name = resnet18(num_classes=10, device=device)
    x, y = random_batch(n, 32)
    bench_noisegrad_pp(model, x, y, device, repeats, label=f"{name}, 3x32x32")


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def run_device(device: str, args) -> None:
    batch = args.batch if args.batch else (8 if args.quick else 64)
    print(f"\n=== device: {device}")
    print(f"LeNet (xai_sanity.data.make_model), 3x32x32 inputs, batch {batch}")
    model = lenet(device)
    x, y = random_batch(batch, 32)
    bench_noisegrad_pp(model, x, y, device, args.repeats)
    bench_noisegrad(model, x, y, device, args.repeats)
    bench_smoothgrad(model, x, y, device, args.repeats)
    if args.sweep:
        sizes = [s for s in args.sweep_sizes if s <= N_MODELS * N_SAMPLES * batch] or [256]
        bench_sweep(model, x, y, device, args.repeats, sizes)
    if not args.quick:
        bench_resnet18(device, args.repeats, 8 if device == "cpu" else 64)


def main() -> None:
    parser = make_parser(
        __doc__, quick_help="batch 8, 2 rounds, no ResNet-18 section", repeats_default=5, repeats_quick=2
    )
    parser.add_argument("--batch", type=int, default=None, help="inputs per explained batch (default 64)")
    parser.add_argument("--sweep", action="store_true", help="also sweep the enhancers' batch_size")
    parser.add_argument(
        "--sweep-sizes",
        type=lambda s: [int(v) for v in s.split(",")],
        default=[128, 256, 512, 1024, 6400],
        help="comma-separated batch_size values for --sweep (default 128,256,512,1024,6400)",
    )
    args, devices = parse(parser)
    start_load = print_environment(
        "Enhancer benchmark: time ratios measured in one run (lower is faster)",
        args,
        devices,
        peers=peer_version("captum"),
    )
    for device in devices:
        run_device(device, args)
    print_end(start_load)


if __name__ == "__main__":
    main()
