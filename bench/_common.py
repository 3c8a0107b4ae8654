"""Helpers shared by the bench scripts: arguments, models, timing and printing.

The scripts are run as ``python bench/<name>.py``, which puts this folder on ``sys.path``,
so they import this module as ``_common``.

Timing convention: the variants of one comparison are timed in rounds. Each round calls
every variant once, in an order rotated from round to round, after one warm-up call of
each; on CUDA the device is synchronised before and after each timed call. A ratio is the
median over rounds of the ratio within a round, which cancels most of the drift caused by
other jobs on a shared machine. No wall-clock time is ever compared with a threshold.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import xai_sanity
from xai_sanity.data import make_model
from xai_sanity.data.reference_nets import resnet18 as reference_resnet18

Times = dict[str, list[float]]

# ---------------------------------------------------------------------------------------
# Arguments and environment
# ---------------------------------------------------------------------------------------


def make_parser(
    doc: str, *, quick_help: str, repeats_default: int, repeats_quick: int, device_default: str = "all"
) -> argparse.ArgumentParser:
    """A parser with the options every bench takes: ``--device``, ``--quick``, ``--repeats``,
    ``--threads``. ``device_default``: ``"all"`` (the CPU, plus CUDA when available) or
    ``"one"`` (CUDA when available, otherwise the CPU)."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.set_defaults(_device_default=device_default, _repeats_default=(repeats_default, repeats_quick))
    device_help = "cpu, plus cuda if available" if device_default == "all" else "cuda if available, else cpu"
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help=f"default: {device_help}")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {quick_help}")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help=f"timed rounds after the warm-up (default {repeats_default}; {repeats_quick} with --quick)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    return parser


def parse(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, list[str]]:
    """Parse, apply ``--threads``, fill in ``args.repeats`` and return the devices to run on."""
    args = parser.parse_args()
    full, quick = args._repeats_default
    if args.repeats is None:
        args.repeats = quick if args.quick else full
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        parser.error("--device cuda: CUDA is not available")
    if args.device is not None:
        devices = [args.device]
    elif args._device_default == "all":
        devices = ["cpu"] + (["cuda"] if cuda else [])
    else:
        devices = ["cuda" if cuda else "cpu"]
    return args, devices


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or ``"n/a"``."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def print_environment(title: str, args: argparse.Namespace, devices: list[str], peers: str = "") -> float:
    """Print versions, threads, devices and the load; returns the 1-minute load at the start."""
    print(title)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"xai_sanity {getattr(xai_sanity, '__version__', '?')}" + (f", {peers}" if peers else "")
    )
    omp = os.environ.get("OMP_NUM_THREADS")
    gpu = f" ({torch.cuda.get_device_name(0)})" if "cuda" in devices else ""
    print(
        f"torch threads: {torch.get_num_threads()}"
        + (" (--threads)" if args.threads is not None else " (torch default)")
        + f", OMP_NUM_THREADS={omp if omp is not None else 'unset'}, CPU cores: {os.cpu_count()}"
        + f", devices: {', '.join(devices)}{gpu}; {args.repeats} timed round(s) after one warm-up"
    )
    if args.quick:
        print("--quick: small sizes and few rounds, a smoke run; targets refer to the full sizes")
    print(f"load average at start (1, 5, 15 min): {load_average()}")
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def print_end(start_load: float) -> None:
    """Print the load at the end, and a note when the machine was busy from the start."""
    print(f"\nload average at end (1, 5, 15 min): {load_average()}")
    if start_load > 0.5 * (os.cpu_count() or 1):
        print(
            "note: the machine was already busy when this run started; the variants are interleaved\n"
            "      and the ratios are medians of per-round ratios, but they may still be noisy"
        )
        if torch.get_num_threads() > 1:
            print(
                "      with more torch threads than free cores every parallel operator waits for a\n"
                "      descheduled thread, which penalises many small calls; compare with --threads 1"
            )


def peer_version(module: str) -> str:
    """``"<module> <version>"``, or ``"<module> not installed"``."""
    try:
        mod = __import__(module)
    except ImportError:
        return f"{module} not installed"
    return f"{module} {getattr(mod, '__version__', '?')}"


# ---------------------------------------------------------------------------------------
# Models and data
# ---------------------------------------------------------------------------------------


def lenet(device: str = "cpu", num_classes: int = 10, image_size: int = 32) -> nn.Module:
    """The package's LeNet (``make_model("lenet", seed=0)``, 3 input channels) in eval mode."""
    return make_model("lenet", num_classes=num_classes, image_size=image_size, seed=0).to(device).eval()


def resnet18(num_classes: int, device: str = "cpu") -> tuple[nn.Module, str]:
    """A ResNet-18 with weights seeded by 0 (global RNG left as it was), in eval mode, and
    its description: torchvision's ``resnet18(weights=None)`` when torchvision imports,
    otherwise the package's re-implementation (:mod:`xai_sanity.data.reference_nets`),
    which has the same layout and, for the same seed, the same weights."""
    try:
        import torchvision
    except Exception:  # absent, or built for another torch (fails with other errors then)
        model = reference_resnet18(num_classes, seed=0)
        name = "ResNet-18 (xai_sanity.data.reference_nets; torchvision not importable)"
    else:
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(0)
            model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        name = "torchvision resnet18(weights=None)"
    return model.to(device).eval(), name


def random_batch(n: int, side: int, n_classes: int = 10, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 images of 3 x side x side, uniform in [0, 1), and int64 labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, side, side), dtype=np.float32)
    y = rng.integers(0, n_classes, n).astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------


def sync(device: str) -> None:
    """Wait for queued CUDA work (no-op on the CPU)."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed_rounds(
    variants: dict[str, Callable[[], object]],
    repeats: int,
    device: str,
    warmups: dict[str, Callable[[], object]] | None = None,
) -> Times:
    """One warm-up call of each variant (``warmups[name]`` instead where given), then
    ``repeats`` rounds, each calling every variant once in an order rotated per round.

    Returns each variant's per-round times (index ``r`` = round ``r``).
    """
    names = list(variants)
    for name in names:
        (warmups or variants)[name]()
    sync(device)
    times: Times = {name: [] for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            sync(device)
            start = time.perf_counter()
            variants[name]()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def per_round(times: Times, num: str, den: str, den_factor: float = 1.0) -> list[float]:
    """Per-round ratios ``time(num) / (den_factor * time(den))``."""
    return [a / (den_factor * b) for a, b in zip(times[num], times[den])]


def ratio(times: Times, num: str, den: str, den_factor: float = 1.0) -> float:
    """Median over rounds of ``time(num) / (den_factor * time(den))``."""
    return statistics.median(per_round(times, num, den, den_factor))


def spread(times: Times, num: str, den: str, den_factor: float = 1.0) -> str:
    """``"[min-max]"`` of the per-round ratios (empty for a single round)."""
    values = per_round(times, num, den, den_factor)
    return f"[{min(values):.2f}-{max(values):.2f}]" if len(values) > 1 else ""


def med(times: Times, name: str) -> float:
    """Median time of one variant."""
    return statistics.median(times[name])


# ---------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def verdict(value: float, target: float, at_least: bool) -> str:
    """``"met"`` or ``"NOT met"`` for ``value >= target`` (``at_least``) or ``value <= target``."""
    ok = value >= target if at_least else value <= target
    return "met" if ok else "NOT met"


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    print(f"\n{title}\n{rule}\n{line(header)}\n{rule}")
    for row in rows:
        print(line(row))
    print(rule)


# ---------------------------------------------------------------------------------------
# Reference implementations shared by several benches
# ---------------------------------------------------------------------------------------


def skimage_ssim_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """skimage SSIM per sample (Gaussian window, sigma 1.5, population covariance), each
    map min-max scaled to [0, 1] in float64 first, as ``xai_sanity``'s ``ssim(scale=True)``."""
    from skimage.metrics import structural_similarity

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


#: The localisation metrics both packages implement, by their shared class name.
LOCALISATION_NAMES = (
    "PointingGame",
    "AttributionLocalisation",
    "TopKIntersection",
    "RelevanceRankAccuracy",
    "RelevanceMassAccuracy",
    "AUC",
)


def localisation_pairs() -> list[tuple[str, type, type]]:
    """``(name, our class, Quantus's class)`` for each of :data:`LOCALISATION_NAMES`
    (Quantus is imported here, so scripts that do not compare with it do not pay for it)."""
    import quantus

    from xai_sanity import metrics

    return [(name, getattr(metrics, name), getattr(quantus, name)) for name in LOCALISATION_NAMES]
