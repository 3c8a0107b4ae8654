"""Speed of the noise-ensemble enhancers, as time ratios measured in one run.

Usage::

    .venv/bin/python bench/enhancers.py [--device cpu|cuda] [--repeats R] [--quick] [--sweep]

Every figure is a ratio of two timings taken in the same run, never an absolute time
judged against a threshold, so the script is meaningful on any machine. To keep the
ratios honest on a shared (busy) machine the variants of one section are timed
round-robin: each round runs every variant once, in an order rotated from round to round,
and a ratio is the median over rounds of the per-round ratio. One warm-up call per
variant precedes the rounds; on CUDA the device is synchronised around each call.

Sections
--------
* NoiseGrad++ (10 weight draws x 10 noisy inputs, batch N -> 100 N explained inputs)
  against the compute floor, one plain ``Gradient`` call on the 100 N inputs at once,
  and against a reference loop that deep-copies the model for each weight draw.
* NoiseGrad (10 weight draws, no input noise) against its own floor (10 N inputs).
* SmoothGrad against captum's ``NoiseTunnel(Saliency)`` doing the same work (absolute
  noise of the same std, signed gradients), at 10 and 50 samples.
* ``--sweep``: the enhancer's ``batch_size`` against the same floors.
* ResNet-18 (only when torchvision is importable; silently skipped otherwise).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import xai_sanity

# ---------------------------------------------------------------------------------------
# Model and data
# ---------------------------------------------------------------------------------------

N_MODELS = 10
N_SAMPLES = 10
WEIGHT_STD = 0.2  # NoiseGrad's default multiplicative weight noise
INPUT_LEVEL = 0.15  # NoiseGrad++'s default input noise, relative to each input's range
SG_STDEV = 0.15  # absolute input noise for the SmoothGrad / captum comparison


def lenet(seed: int = 0) -> nn.Module:
    """A LeNet-5-sized CNN for 3x32x32 inputs and 10 classes, with seeded weights."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    ).eval()


def make_data(n: int, seed: int = 1, shape=(3, 32, 32), n_classes: int = 10):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, *shape)).astype(np.float32)
    y = (np.arange(n) % n_classes).astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(variants: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, list[float]]:
    """Time each variant ``repeats`` times, round-robin with a rotating order.

    Returns the list of per-round times of every variant (index ``i`` = round ``i``).
    """
    names = list(variants)
    for name in names:  # warm-up
        variants[name]()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            _sync(device)
            start = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of time(a) / time(b), both from the same round."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def spread(times: dict[str, list[float]], a: str, b: str) -> str:
    per_round = [x / y for x, y in zip(times[a], times[b])]
    if len(per_round) < 2:
        return ""
    return f"[{min(per_round):.2f}-{max(per_round):.2f}]"


def med(times: dict[str, list[float]], name: str) -> float:
    return statistics.median(times[name])


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print(line)
    print(
        "  ".join(
            str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(zip(header, widths))
        )
    )
    print(line)
    for row in rows:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
        )
    print(line)


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


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


def fmt_t(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def bench_noisegrad_pp(model, x, y, device, repeats, label="LeNet") -> dict[str, float]:
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

    def chunked():
        for start in range(0, m, bs):
            gradient(model, big_x[start : start + bs], big_y[start : start + bs])

    times = measure(
        {
            "floor": lambda: gradient(model, big_x, big_y),
            "chunked": chunked,
            "ours": keep("ours", lambda: ngpp(model, x, y)),
            "ref": keep("ref", lambda: ref(False)),
            "ref_loop": lambda: ref(True),
        },
        repeats,
        device,
    )
    rows = [
        (f"Gradient, {m} inputs at once (floor)", fmt_t(med(times, "floor")), "1.00", "", ""),
        (
            f"Gradient, {m} inputs in calls of {bs}",
            fmt_t(med(times, "chunked")),
            f"{ratio(times, 'chunked', 'floor'):.2f}",
            spread(times, "chunked", "floor"),
            f"ours/this {ratio(times, 'ours', 'chunked'):.2f}",
        ),
        (
            f"NoiseGradPlusPlus {N_MODELS}x{N_SAMPLES}, batch {n} (ours)",
            fmt_t(med(times, "ours")),
            f"{ratio(times, 'ours', 'floor'):.2f}",
            spread(times, "ours", "floor"),
            "target <= 1.30",
        ),
        (
            "reference: deepcopy per draw, 1 call/draw",
            fmt_t(med(times, "ref")),
            f"{ratio(times, 'ref', 'floor'):.2f}",
            spread(times, "ref", "floor"),
            f"ours/ref {ratio(times, 'ours', 'ref'):.2f}",
        ),
        (
            "reference: deepcopy per draw, 1 call/sample",
            fmt_t(med(times, "ref_loop")),
            f"{ratio(times, 'ref_loop', 'floor'):.2f}",
            spread(times, "ref_loop", "floor"),
            f"ours/ref {ratio(times, 'ours', 'ref_loop'):.2f}",
        ),
    ]
    print_table(
        f"[{label}] NoiseGrad++ ({m} explained inputs) vs the compute floor",
        rows,
        ("variant", "median", "/floor", "range", "note"),
    )
    print(
        f"  'ours/this' isolates the engine's own overhead: both make calls of at most {bs} inputs\n"
        f"  map correlation ours vs reference (different noise draws, same expectation): "
        f"{correlation(outputs['ours'], outputs['ref']):.3f}"
    )
    return {"ours/floor": ratio(times, "ours", "floor")}


def bench_noisegrad(model, x, y, device, repeats) -> None:
    n = x.shape[0]
    big_x = np.tile(x, (N_MODELS, 1, 1, 1))
    big_y = np.tile(y, N_MODELS)
    gradient = xai_sanity.Gradient()
    ng = xai_sanity.NoiseGrad(base="Gradient", n_models=N_MODELS)
    times = measure(
        {"floor": lambda: gradient(model, big_x, big_y), "ours": lambda: ng(model, x, y)}, repeats, device
    )
    rows = [
        (f"Gradient, {N_MODELS * n} inputs at once (floor)", fmt_t(med(times, "floor")), "1.00", ""),
        (
            f"NoiseGrad {N_MODELS} models, batch {n} (ours)",
            fmt_t(med(times, "ours")),
            f"{ratio(times, 'ours', 'floor'):.2f}",
            spread(times, "ours", "floor"),
        ),
    ]
    print_table("NoiseGrad (information)", rows, ("variant", "median", "/floor", "range"))


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
    times = measure(variants, repeats, device)
    rows = []
    for n in sample_counts:
        row = [f"SmoothGrad n={n} (ours)", fmt_t(med(times, f"ours{n}"))]
        if available:
            row += [
                fmt_t(med(times, f"captum{n}")),
                f"{ratio(times, f'ours{n}', f'captum{n}'):.2f}",
                spread(times, f"ours{n}", f"captum{n}"),
                f"{correlation(outputs[f'ours{n}'], outputs[f'captum{n}']):.3f}",
            ]
        else:
            row += ["n/a", "n/a", "", ""]
        rows.append(tuple(row))
    print_table(
        f"SmoothGrad vs captum NoiseTunnel(Saliency, abs=False), stdevs={SG_STDEV}, batch {x.shape[0]}"
        " (target ours/captum <= 1.00)",
        rows,
        ("variant", "ours", "captum", "ours/captum", "range", "corr"),
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

    def chunked_floor(bs):
        def run():
            for start in range(0, m, bs):
                gradient(model, big_x[start : start + bs], big_y[start : start + bs])

        return run

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
        variants[f"chunk{bs}"] = chunked_floor(bs)
        variants[f"ngpp{bs}"] = lambda ngpp=ngpp: ngpp(model, x, y)
        variants[f"sg{bs}"] = lambda sg=sg: sg(model, x, y)
    times = measure(variants, repeats, device)
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
        f"batch_size sweep (batch {n}; floor = Gradient on {m} inputs at once, {fmt_t(med(times, 'floor'))})",
        rows,
        ("batch_size", "Gradient chunked/floor", "NG++/floor", "range", "SG50/captum50", "range"),
    )


def bench_resnet18(device, repeats, n) -> None:
    try:
        import torchvision
    except ImportError:
        return
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).to(device).eval()
    x, y = make_data(n)
    bench_noisegrad_pp(model, x, y, device, repeats, label="ResNet-18, 3x32x32")


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run_device(device: str, args) -> None:
    batch = args.batch if args.batch else (8 if args.quick else 64)
    print(f"\n=== device: {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))
    print(f"LeNet, 3x32x32 inputs, batch {batch}, {args.repeats} timed rounds after one warm-up")
    model = lenet(0).to(device)
    x, y = make_data(batch)
    bench_noisegrad_pp(model, x, y, device, args.repeats)
    bench_noisegrad(model, x, y, device, args.repeats)
    bench_smoothgrad(model, x, y, device, args.repeats)
    if args.sweep:
        sizes = [s for s in args.sweep_sizes if s <= N_MODELS * N_SAMPLES * batch] or [256]
        bench_sweep(model, x, y, device, args.repeats, sizes)
    bench_resnet18(device, args.repeats, 8 if device == "cpu" else 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default=None, help="default: cpu, and cuda if available"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 8, 2 rounds")
    parser.add_argument("--batch", type=int, default=None, help="inputs per explained batch (default 64)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--sweep", action="store_true", help="also sweep the enhancers' batch_size")
    parser.add_argument(
        "--sweep-sizes", type=lambda s: [int(v) for v in s.split(",")], default=[128, 256, 512, 1024, 6400]
    )
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    if args.device is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    else:
        devices = [args.device]

    try:
        import captum

        captum_version = captum.__version__
    except ImportError:
        captum_version = "not installed (captum rows skipped)"
    print("Enhancer benchmark: time ratios measured in one run (lower is faster)")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, captum {captum_version}, "
        f"xai_sanity {getattr(xai_sanity, '__version__', '?')}"
    )
    print(
        f"torch threads: {torch.get_num_threads()}"
        + (" (set by --threads)" if args.threads is not None else " (torch default)")
        + f", CPU cores: {os.cpu_count()}, devices: {', '.join(devices)}"
    )
    start_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"load average at start (1, 5, 15 min): {load()}")
    for device in devices:
        run_device(device, args)
    print(f"\nload average at end (1, 5, 15 min): {load()}")
    if start_load > 0.5 * (os.cpu_count() or 1):
        print(
            "note: the machine was already busy before this run started; ratios are medians of "
            "per-round ratios (variants interleaved) but may still be noisy"
        )
        if torch.get_num_threads() > 1:
            print(
                "      with more torch threads than free cores every operator waits for a descheduled "
                "thread,\n      which penalises small calls; compare with --threads 1"
            )


if __name__ == "__main__":
    main()
