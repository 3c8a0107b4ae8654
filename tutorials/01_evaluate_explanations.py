"""Tutorial: explain, enhance and evaluate — the flow of ``xai-sanity demo``, step by step.

Run it as it is (it uses the built-in semi-natural dataset and LeNet), then swap in your own
model and data where marked. Every piece is a Quantus-compatible explain function or metric,
so Quantus's own metrics can be mixed in the same table.

    .venv/bin/python tutorials/01_evaluate_explanations.py
"""

from pathlib import Path

import quantus

import xai_sanity as xs
from xai_sanity.data import load_default_splits
from xai_sanity.training import load_default_model

OUT = Path("tutorial_report")
OUT.mkdir(exist_ok=True)

# 1. Data and model. ------------------------------------------------------------------------
# Replace with your own: x (N, C, H, W) float32, y (N,) int, optional masks s (N, 1, H, W)
# marking where the class evidence is, and any torch classifier.
train, test = load_default_splits(n_train=20000, n_test=2000, seed=0)
model, info = load_default_model("lenet", seed=0)  # trained once, then cached
print(f"LeNet test accuracy: {info['test_accuracy']:.3f}")
x, y, s = test.x[:32], test.y[:32], test.masks[:32]

# 2. NoiseGrad's noise level by the 5% accuracy-drop heuristic (Bykov et al. 2022). ---------
level = xs.tune_noise_level(model, test.x[:500], test.y[:500], target_drop=0.05)
print(f"weight-noise std for a 5% relative accuracy drop: {level.std:.3f}")
level.plot().figure.savefig(OUT / "noise_curve.png", dpi=120)

# 3. Explain functions: base explainers, wrapped by enhancers. ---------------------------------
# Any Quantus explain function works as a base too, e.g.
# xs.NoiseGrad(base=quantus.explain, base_kwargs={"method": "Saliency"}).
methods = {
    "Saliency": xs.Saliency(),
    "SmoothGrad": xs.SmoothGrad(base="Saliency", n_samples=32),
    "NoiseGrad": xs.NoiseGrad(base="Saliency", noise_level=level.std),
    "NoiseGrad++": xs.NoiseGradPlusPlus(base="Saliency", noise_level=level.std),
}

# 4. Metrics: ours and Quantus's, mixed. --------------------------------------------------------
metrics = {
    "PointingGame": xs.METRICS["PointingGame"](),
    "RelevanceMassAccuracy": xs.METRICS["RelevanceMassAccuracy"](),
    "AUC": xs.METRICS["AUC"](),
    "Randomisation": xs.METRICS["ModelParameterRandomisation"](return_average_correlation=True),
    "Sparseness (Quantus)": quantus.Sparseness(disable_warnings=True),
}

# 5. One call: every method explained once, every metric on it, one tidy table. ------------
scores = xs.evaluate(model, x, y, s, methods=methods, metrics=metrics)
table = xs.report.summarise(scores)
print(xs.report.to_markdown(table))
xs.report.write_tables(scores, OUT, stem="tutorial")
explanations = {name: f(model, x, y) for name, f in methods.items()}
xs.report.plot_explanations(x, explanations, masks=s, n=4, path=OUT / "explanations.png")
print(f"tables and figures in {OUT.resolve()}")
