"""Peak memory of our calls with default settings against Quantus's / captum's same call.

    .venv/bin/python bench/memory.py [--device cpu|cuda] [--quick] [--threads T]

Model: torchvision's ResNet-18 layout (random weights, 1000 classes), 8 images of
3×224×224. Each measurement runs in a fresh subprocess: the model and data are built, the
resident set (CPU) or allocated memory (CUDA) is read, the call runs, and the peak above
that baseline is reported (``ru_maxrss`` on the CPU, ``torch.cuda.max_memory_allocated`` on
CUDA). Printed per call: our peak, the peer's peak, their difference and ratio, and whether
ours meets the targets (< 1.5 GiB above the baseline; within 0.5 GiB of the peer).

``--quick`` keeps the chunking that decides the peak but fewer steps/samples (IG 8 steps,
SmoothGrad 8 samples, NoiseGrad++ 3×3, MaxSensitivity 3 samples, MPRT on the top 4 layers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

GIB = 2**30

SETUP = """
import json, resource, sys, time, warnings
import numpy as np, torch
warnings.filterwarnings("ignore")
torch.set_num_threads({threads})
from xai_sanity.data.reference_nets import resnet18
device = "{device}"
model = resnet18(1000, seed=0).eval().to(device)
rng = np.random.default_rng(0)
x = rng.random((8, 3, 224, 224), dtype=np.float32)
y = rng.integers(0, 1000, 8)
quick = {quick}
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
if device == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else:
    base = rss()
start = time.perf_counter()
"""

FINISH = """
seconds = time.perf_counter() - start
if device == "cuda":
    torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated() - base
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps({{"peak": peak, "seconds": seconds}}))
"""

# name -> (ours, peer, peer name); each a code snippet run after SETUP.
CASES = {
    "IntegratedGradients": (
        "import xai_sanity as xs\nxs.IntegratedGradients(steps=8 if quick else 50)(model, x, y, device=device)",
        "from captum.attr import IntegratedGradients as IG\n"
        "IG(model).attribute(torch.from_numpy(x).to(device), target=torch.from_numpy(y).to(device), "
        "n_steps=8 if quick else 50)",
        "captum",
    ),
    "SmoothGrad": (
        "import xai_sanity as xs\nxs.SmoothGrad(base='Saliency', n_samples=8 if quick else 50)(model, x, y, device=device)",
        "from captum.attr import NoiseTunnel, Saliency\n"
        "NoiseTunnel(Saliency(model)).attribute(torch.from_numpy(x).to(device), "
        "target=torch.from_numpy(y).to(device), nt_type='smoothgrad', nt_samples=8 if quick else 50, stdevs=0.15)",
        "captum",
    ),
    "NoiseGrad++": (
        "import xai_sanity as xs\nn = 3 if quick else 10\n"
        "xs.NoiseGradPlusPlus(base='Saliency', n_models=n, n_samples=n)(model, x, y, device=device)",
        "from captum.attr import Saliency\n"
        "Saliency(model).attribute(torch.from_numpy(x).to(device), target=torch.from_numpy(y).to(device))",
        "one captum Saliency call (floor)",
    ),
    "MaxSensitivity": (
        "import xai_sanity as xs\nxs.metrics.MaxSensitivity(nr_samples=3 if quick else 10)"
        "(model, x, y, explain_func=xs.Saliency(), device=device)",
        "import quantus\nquantus.MaxSensitivity(nr_samples=3 if quick else 10, disable_warnings=True)"
        "(model, x, y, explain_func=quantus.explain, explain_func_kwargs={'method': 'Saliency'}, device=device)",
        "Quantus",
    ),
    "MPRT": (
        "import xai_sanity as xs\nxs.metrics.ModelParameterRandomisation(layers=4 if quick else None)"
        "(model, x, y, explain_func=xs.Saliency(), device=device)",
        "import quantus\nquantus.MPRT(disable_warnings=True, skip_layers=quick)"
        "(model, x, y, explain_func=quantus.explain, explain_func_kwargs={'method': 'Saliency'}, device=device)",
        "Quantus",
    ),
    "NoiseGrad, 100M params": (
        "import xai_sanity as xs\nbig = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 224 * 224, 664), "
        "torch.nn.ReLU(), torch.nn.Linear(664, 1000)).to(device)\n"
        "size = sum(p.numel() * p.element_size() for p in big.parameters())\n"
        "xs.NoiseGrad(base='Saliency', n_models=3 if quick else 10)(big, x, y, device=device)",
        "big = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 224 * 224, 664), "
        "torch.nn.ReLU(), torch.nn.Linear(664, 1000)).to(device)\n"
        "size = sum(p.numel() * p.element_size() for p in big.parameters())\n"
        "import copy\nnoisy = copy.deepcopy(big)",
        "one deep copy of the model (= 1.0x its size)",
    ),
    "PointingGame (a_batch)": (
        "import xai_sanity as xs\ns = np.zeros((8, 1, 224, 224)); s[:, :, 64:160, 64:160] = 1\n"
        "a = rng.random((8, 1, 224, 224), dtype=np.float32)\n"
        "for m in ('PointingGame', 'AttributionLocalisation', 'TopKIntersection', 'RelevanceRankAccuracy', "
        "'RelevanceMassAccuracy', 'AUC'):\n    xs.METRICS[m]()(model, x, y, a_batch=a, s_batch=s)",
        "import quantus\ns = np.zeros((8, 1, 224, 224)); s[:, :, 64:160, 64:160] = 1\n"
        "a = rng.random((8, 1, 224, 224), dtype=np.float32)\n"
        "for m in (quantus.PointingGame, quantus.AttributionLocalisation, quantus.TopKIntersection, "
        "quantus.RelevanceRankAccuracy, quantus.RelevanceMassAccuracy, quantus.AUC):\n"
        "    m(disable_warnings=True)(model, x, y, a_batch=a, s_batch=s)",
        "Quantus",
    ),
}


def measure(code: str, device: str, quick: bool, threads: int) -> dict:
    script = SETUP.format(device=device, quick=quick, threads=threads) + code + "\n" + FINISH.format()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="case names to run")
    args = parser.parse_args()
    print(f"ResNet-18 layout, 8x3x224x224, {args.device}, quick={args.quick}, threads={args.threads}")
    header = f"{'call':24s} {'ours GiB':>9s} {'peer GiB':>9s} {'diff':>7s} {'ratio':>6s} {'s ours':>7s} {'s peer':>7s}  targets / peer"
    print(header)
    for name, (ours, peer, peer_name) in CASES.items():
        if args.only and name not in args.only:
            continue
        a = measure(ours, args.device, args.quick, args.threads)
        b = measure(peer, args.device, args.quick, args.threads)
        if "error" in a or "error" in b:
            print(f"{name:24s} error: ours {a.get('error', 'ok')} | peer {b.get('error', 'ok')}")
            continue
        ga, gb = a["peak"] / GIB, b["peak"] / GIB
        ok = "ok" if ga < 1.5 and ga - gb < 0.5 else "MISSED"
        print(
            f"{name:24s} {ga:9.2f} {gb:9.2f} {ga - gb:+7.2f} {ga / max(gb, 1e-3):6.2f} "
            f"{a['seconds']:7.1f} {b['seconds']:7.1f}  {ok} / {peer_name}"
        )
    print(
        textwrap.dedent("""
        targets: ours < 1.5 GiB above the process baseline, and within 0.5 GiB of the peer's peak.
        Override the budget with XAI_SANITY_MEMORY_BUDGET (e.g. 512MiB) to trade speed for memory.""")
    )


if __name__ == "__main__":
    main()
