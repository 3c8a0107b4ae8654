"""Cost and agreement of the randomisation check and of batched SSIM, as ratios from one run.

Usage::

    .venv/bin/python bench/randomisation.py [--device cpu|cuda] [--quick] [--repeats R] [--threads T]

No wall-clock time is judged against a threshold: every figure that carries a target is
a ratio of two timings taken in this run, so the script means the same on a fast or a
slow (or a busy) machine. The variants of one section are timed in rounds; each round
runs every variant once, in an order rotated from round to round, after one warm-up call
of each. A ratio is the median over rounds of the ratio within a round, which cancels
most of the drift caused by other jobs on a shared machine. On CUDA the device is
synchronised before and after each timed call.

Sections
--------
1. MPRT: ``xai_sanity``'s ``ModelParameterRandomisation(layer_order="top_down",
   layer_seeds="shared")`` against ``quantus.MPRT(layer_order="top_down")`` with the same
   seed, model, batch and explainer (``xai_sanity.Saliency()``), both with Spearman
   similarity. Reported: whether the layer keys agree and the largest per-sample score
   difference for each key; the time of each; ``quantus / ours`` (target >= 20x on the
   spec's ResNet-18 case on a GPU); and ``ours / floor`` where the floor is
   ``(randomisation steps + 1) x`` one Saliency call on the batch (target <= 2x).
   Models: a LeNet on 3x32x32 (batch 64) and a ResNet-18 (torchvision's if importable,
   otherwise a ResNet-18-shaped network defined here: BasicBlocks [2, 2, 2, 2], BatchNorm,
   64-128-256-512 channels); 224x224, batch 32 on a GPU, 64x64, batch 8 on the CPU.
2. SSIM: ``xai_sanity.similarity.ssim`` (one call for the batch) against a per-sample
   loop of ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
   use_sample_covariance=False, data_range=1)`` on the same maps, each min-max scaled to
   [0, 1] in float64 as ``ssim(scale=True)`` does; N=64 maps of 32x32 and N=32 of
   224x224. Reported: the largest difference (target <= 1e-5) and ``loop / ours``
   (target >= 20x).
3. (CPU, information) Spearman of 32 maps of 224x224, the similarity work of one MPRT step
   in the spec's ResNet-18 case: ours against quantus's ``correlation_spearman``. Both
   metrics run it on the CPU even with the model on a GPU (the explainer returns numpy
   maps), so it bounds the GPU ratios of section 1.

``--device`` defaults to the CPU plus CUDA when ``torch.cuda.is_available()``.
``--quick`` is a smoke run: one round and small sizes (its ratios are not the targets').
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable

import numpy as np
import quantus
import torch
from skimage.metrics import structural_similarity
from torch import nn

import xai_sanity
from xai_sanity.metrics import ModelParameterRandomisation
from xai_sanity.metrics.randomisation import randomisable_layers
from xai_sanity.similarity import spearman, ssim

warnings.filterwarnings("ignore", category=DeprecationWarning, module="quantus")
warnings.filterwarnings("ignore", category=FutureWarning, module="quantus")

SEED = 42

# ---------------------------------------------------------------------------------------
# Models and data
# ---------------------------------------------------------------------------------------


class _LocalLeNet(nn.Module):
    """Stand-in for ``xai_sanity.data.make_model("lenet")`` when that is not importable."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_lenet() -> tuple[nn.Module, str]:
    try:
        from xai_sanity.data import make_model
    except ImportError:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return _LocalLeNet(), "LeNet (defined in this script)"
    return make_model("lenet", seed=0), "LeNet (xai_sanity.data.make_model)"


class _Block(nn.Module):
    """ResNet basic block with torchvision's attribute names (conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet18Shaped(nn.Module):
    """ResNet-18's layout: 7x7/2 stem + max-pool, BasicBlocks [2, 2, 2, 2] at 64-128-256-512
    channels with BatchNorm, global average pool, one linear layer (41 layers with weights)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, width in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            self.add_module(
                f"layer{i + 1}", nn.Sequential(_Block(cin, width, stride), _Block(width, width, 1))
            )
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_resnet18() -> tuple[nn.Module, str, int]:
    """A ResNet-18 with seeded weights, its description and its number of classes."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            import torchvision
        except ImportError:
            return ResNet18Shaped(num_classes=10), "ResNet-18-shaped (defined here; torchvision absent)", 10
        return torchvision.models.resnet18(weights=None), "torchvision resnet18(weights=None)", 1000


def make_batch(n: int, side: int, n_classes: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, side, side), dtype=np.float32)
    y = rng.integers(0, n_classes, n).astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------------------
# Timing and printing
# ---------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_rounds(
    variants: dict[str, Callable[[], object]], repeats: int, device: str
) -> dict[str, list[float]]:
    """One warm-up call of each variant, then ``repeats`` rounds with a rotating order.

    Returns each variant's per-round times (index ``r`` = round ``r``).
    """
    names = list(variants)
    for name in names:
        variants[name]()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            _sync(device)
            start = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def per_round(times: dict[str, list[float]], num: str, den: str, den_factor: float = 1.0) -> list[float]:
    return [a / (den_factor * b) for a, b in zip(times[num], times[den])]


def median_and_range(values: list[float]) -> tuple[str, str]:
    mid = f"{statistics.median(values):.2f}"
    span = f"[{min(values):.2f}-{max(values):.2f}]" if len(values) > 1 else ""
    return mid, span


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def verdict(value: float, target: float, at_least: bool) -> str:
    ok = value >= target if at_least else value <= target
    return "met" if ok else "NOT met"


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n{rule}\n{line(header)}\n{rule}")
    for row in rows:
        print(line(row))
    print(rule)


def load_average() -> str:
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5, check=True).stdout
        if "load average" in out:
            return out.split("load average")[-1].lstrip("s: ").strip()
    except (OSError, subprocess.SubprocessError):
        pass
    if hasattr(os, "getloadavg"):
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return "unavailable"


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


def bench_mprt(label: str, model: nn.Module, x: np.ndarray, y: np.ndarray, device: str, repeats: int) -> None:
    model = model.to(device).eval()
    n_layers = len(randomisable_layers(model))
    n_steps = n_layers + 1  # the original model's explanation plus one per randomised layer
    saliency = xai_sanity.Saliency()
    ours_metric = ModelParameterRandomisation(layer_order="top_down", layer_seeds="shared", seed=SEED)
    theirs_metric = quantus.MPRT(layer_order="top_down", seed=SEED, disable_warnings=True)
    results: dict[str, dict] = {}

    def run_ours() -> None:
        results["ours"] = ours_metric(model, x, y, explain_func=saliency, batch_size=len(x))

    def run_theirs() -> None:
        results["quantus"] = theirs_metric(
            model=model,
            x_batch=x,
            y_batch=y,
            a_batch=None,
            explain_func=saliency,
            device=device,
            batch_size=len(x),
        )

    # Spearman of the maps alone, (steps) calls: the similarity share of ours' overhead.
    maps = np.abs(saliency(model, x, y))
    other = np.ascontiguousarray(maps[::-1])

    def run_spearman() -> None:
        for _ in range(n_steps):
            spearman(maps, other)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant maps give NaN plus a warning
        times = timed_rounds(
            {
                "saliency": lambda: saliency(model, x, y),
                "ours": run_ours,
                "quantus": run_theirs,
                "spearman": run_spearman,
            },
            repeats,
            device,
        )

    med = {k: statistics.median(v) for k, v in times.items()}
    q_over_o, q_span = median_and_range(per_round(times, "quantus", "ours"))
    o_over_f, o_span = median_and_range(per_round(times, "ours", "saliency", n_steps))
    t_over_f, t_span = median_and_range(per_round(times, "quantus", "saliency", n_steps))
    s_over_f, _ = median_and_range(per_round(times, "spearman", "saliency", n_steps))
    is_resnet = "ResNet" in label or "resnet" in label
    q_target = "target >= 20 (ResNet-18 on a GPU)" if is_resnet else "(no target for this model)"
    if is_resnet and device == "cuda":
        q_target += f": {verdict(float(q_over_o), 20.0, at_least=True)}"
    rows = [
        (f"floor: {n_steps} x one Saliency call", fmt_time(n_steps * med["saliency"]), "1.00", "", ""),
        (
            "ours: ModelParameterRandomisation",
            fmt_time(med["ours"]),
            o_over_f,
            o_span,
            f"target <= 2: {verdict(float(o_over_f), 2.0, at_least=False)}",
        ),
        ("quantus.MPRT", fmt_time(med["quantus"]), t_over_f, t_span, f"quantus / ours = {q_over_o} {q_span}"),
        ("", "", "", "", q_target),
        (f"  (info) ours' spearman calls alone, x{n_steps}", fmt_time(med["spearman"]), s_over_f, "", ""),
    ]
    print_table(
        f"[{device}] MPRT top_down, {label}: {n_layers} layers randomised, {n_steps} explanation passes",
        ("variant", "median", "/floor", "range", "note"),
        rows,
    )
    print(f"  one Saliency call on the batch: {fmt_time(med['saliency'])} (median); quantus.MPRT explains")
    print(f"  {n_steps + 1} times (it re-explains the original model for its a_batch), ours {n_steps} times")
    print(
        f"  bound: any implementation making the {n_steps} explanation passes is at most quantus / floor = "
        f"{t_over_f}x faster than quantus.MPRT here"
    )

    keys_equal, agreement = score_agreement(results["ours"], results["quantus"])
    print(
        f"  layer keys agree: {'yes' if keys_equal else 'NO'} "
        f"({len(results['ours'])} ours, {len(results['quantus'])} quantus)"
    )
    if not keys_equal:
        print(f"    only ours: {[k for k in results['ours'] if k not in results['quantus']]}")
        print(f"    only quantus: {[k for k in results['quantus'] if k not in results['ours']]}")
    worst = max((d for _, d, _ in agreement if np.isfinite(d)), default=float("nan"))
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
        per_map = quantus.MPRT(
            layer_order="top_down",
            seed=SEED,
            disable_warnings=True,
            normalise_func_kwargs={"normalise_axes": axes},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            again = per_map(
                model=model,
                x_batch=x,
                y_batch=y,
                a_batch=None,
                explain_func=saliency,
                device=device,
                batch_size=len(x),
            )
        _, rerun = score_agreement(results["ours"], again)
        worst_again = max((d for _, d, _ in rerun if np.isfinite(d)), default=float("nan"))
        print(
            f"  with quantus normalising each map by its own max (normalise_axes={axes}, not its default\n"
            f"  of one max per batch): overall max |ours - quantus| = {worst_again:.1e}"
        )


# ---------------------------------------------------------------------------------------
# 2. SSIM: batched against skimage per sample
# ---------------------------------------------------------------------------------------


def ssim_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """skimage SSIM per sample, each map min-max scaled to [0, 1] in float64 first."""
    out = np.empty(len(a))
    for i, (u, v) in enumerate(zip(a, b)):
        u = u.astype(np.float64)
        v = v.astype(np.float64)
        u = (u - u.min()) / (u.max() - u.min())
        v = (v - v.min()) / (v.max() - v.min())
        out[i] = structural_similarity(
            u, v, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
        )
    return out


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
            outputs["loop"] = ssim_reference(a, b)

        times = timed_rounds({"ours": ours, "loop": loop}, repeats, device)
        speed, span = median_and_range(per_round(times, "loop", "ours"))
        diff = float(np.max(np.abs(outputs["ours"] - outputs["loop"])))
        rows.append(
            (
                f"N={n} maps of {side}x{side}",
                fmt_time(statistics.median(times["ours"])),
                fmt_time(statistics.median(times["loop"])),
                speed,
                span,
                verdict(float(speed), 20.0, at_least=True),
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
# Main
# ---------------------------------------------------------------------------------------


def bench_spearman_spec_size(n: int, side: int, n_calls: int, repeats: int) -> None:
    """The Spearman work of one MPRT at the spec's ResNet-18 size, on the CPU.

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
    ratio, span = median_and_range(per_round(times, "quantus", "ours"))
    ours_t = statistics.median(times["ours"])
    print_table(
        f"[cpu] Spearman of {n} maps of {side}x{side}"
        + (" (one MPRT step at the spec's ResNet-18 size)" if (n, side) == (32, 224) else " (--quick size)"),
        ("similarity", "one call", f"x{n_calls} calls", "quantus/ours", "range"),
        [
            ("ours: similarity.spearman", fmt_time(ours_t), fmt_time(n_calls * ours_t), ratio, span),
            (
                "quantus: correlation_spearman",
                fmt_time(statistics.median(times["quantus"])),
                fmt_time(n_calls * statistics.median(times["quantus"])),
                "",
                "",
            ),
        ],
    )
    print(
        "  both metrics compute this on the CPU (the explainer returns numpy maps) even with the\n"
        "  model on a GPU, so it bounds ours / floor and quantus / ours in the GPU ResNet-18 case"
    )


def run_device(device: str, quick: bool, repeats: int) -> None:
    lenet, lenet_name = build_lenet()
    n = 16 if quick else 64
    x, y = make_batch(n, 32, 10)
    bench_mprt(f"{lenet_name}, input 3x32x32, batch {n}", lenet, x, y, device, repeats)

    resnet, resnet_name, n_classes = build_resnet18()
    if device == "cpu":
        side, n = (32, 2) if quick else (64, 8)
    else:
        side, n = (112, 8) if quick else (224, 32)
    x, y = make_batch(n, side, n_classes)
    bench_mprt(f"{resnet_name}, input 3x{side}x{side}, batch {n}", resnet, x, y, device, repeats)

    cases = [(16, 32), (8, 64)] if quick else [(64, 32), (32, 224)]
    bench_ssim(device, cases, repeats)

    if device == "cpu":
        n_calls = len(randomisable_layers(resnet)) + 1
        bench_spearman_spec_size(8 if quick else 32, 64 if quick else 224, n_calls, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default=None, help="default: cpu, plus cuda if available"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, small sizes")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    print("Randomisation benchmark: ratios of timings taken in this run (medians over rounds)")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, quantus "
        f"{getattr(quantus, '__version__', '?')}, xai_sanity {getattr(xai_sanity, '__version__', '?')}"
    )
    omp = os.environ.get("OMP_NUM_THREADS")
    print(
        f"torch threads: {torch.get_num_threads()}"
        + (" (--threads)" if args.threads is not None else " (torch default)")
        + f", OMP_NUM_THREADS={omp if omp is not None else 'unset'}, CPU cores: {os.cpu_count()}"
    )
    gpu = f" ({torch.cuda.get_device_name(0)})" if "cuda" in devices else ""
    print(f"devices: {', '.join(devices)}{gpu}; rounds: {repeats} after one warm-up call each")
    start_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    print(f"load average at start (1, 5, 15 min): {load_average()}")
    if start_load > 0.5 * (os.cpu_count() or 1):
        print(
            "note: the machine is already busy (other jobs); the variants are interleaved and the\n"
            "      ratios are medians of per-round ratios, but absolute times and ratios may be noisy"
        )
        if torch.get_num_threads() > 1:
            print(
                "      with more torch threads than free cores, each parallel operator waits for a\n"
                "      descheduled thread: torch-side times inflate; compare with --threads 1"
            )
    if args.quick:
        print("--quick: small sizes and few rounds, a smoke run; the targets refer to the full sizes")
    for device in devices:
        run_device(device, args.quick, repeats)
    print(f"\nload average at end (1, 5, 15 min): {load_average()}")


if __name__ == "__main__":
    main()
