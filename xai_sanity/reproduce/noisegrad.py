"""``xai-sanity reproduce noisegrad``: the NoiseGrad paper's claims (Bykov et al., AAAI 2022).

On the built-in semi-natural dataset, for LeNet, the small VGG and the small ResNet, with
Saliency and Integrated Gradients as bases: Baseline, SmoothGrad, NoiseGrad and NoiseGrad++
(NoiseGrad's std from the accuracy-drop heuristic), scored on localisation, robustness,
randomisation (this package's metrics) and faithfulness (Quantus's own
``FaithfulnessCorrelation``, used as it is). The summary states, with the numbers, whether
NoiseGrad++ ≥ SmoothGrad and NoiseGrad ≥ Baseline on localisation here.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import quantus

from ..demo import enhanced_variants
from ..evaluation import evaluate
from ..explainers import IntegratedGradients, Saliency
from ..noise_level import tune_noise_level
from ..registry import METRICS
from ..report import plot_noise_curves, summarise, to_latex, to_markdown

CATEGORIES = {
    "localisation": ("PointingGame", "AttributionLocalisation", "TopKIntersection", "RelevanceRankAccuracy",
                     "RelevanceMassAccuracy", "AUC"),
    "robustness": ("MaxSensitivity", "AvgSensitivity", "LocalLipschitzEstimate", "RelativeInputStability"),
    "randomisation": ("ModelParameterRandomisation",),
    "faithfulness": ("FaithfulnessCorrelation",),
}  # fmt: skip

SETTINGS = {
    "full": dict(
        archs=("lenet", "vgg", "resnet"), n_train=20000, n_test=2000, n_explain=32, model_kwargs={},
        ig_steps=8, sg_samples=16, ng=(10, 10), tune_n=500, tune_draws=8, robustness_samples=5,
        faithfulness_runs=20,
    ),
    "quick": dict(
        archs=("lenet",), n_train=3000, n_test=300, n_explain=8, model_kwargs={"epochs": 3},
        ig_steps=4, sg_samples=3, ng=(2, 2), tune_n=150, tune_draws=2, robustness_samples=2,
        faithfulness_runs=3,
    ),
}  # fmt: skip


def build_metrics(cfg: dict[str, Any]) -> dict[str, Any]:
    """The metric suite: ours from the registry (suite settings) and Quantus's faithfulness."""
    metrics: dict[str, Any] = {}
    for category, names in CATEGORIES.items():
        for name in names:
            if name == "FaithfulnessCorrelation":
                metrics[name] = quantus.FaithfulnessCorrelation(
                    nr_runs=cfg["faithfulness_runs"], subset_size=64, abs=True, disable_warnings=True
                )
            elif name in METRICS:
                factory = METRICS[name]
                params = dict(getattr(factory, "suite_params", {}))
                if category == "robustness":
                    params["nr_samples"] = cfg["robustness_samples"]
                metrics[name] = factory(**params)
    return metrics


def build_methods(noise_level: float, cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    """Saliency and IG, each as Baseline / SmoothGrad / NoiseGrad / NoiseGrad++."""
    n_models, _ = cfg["ng"]
    return enhanced_variants(
        {"Saliency": Saliency(), "IG": IntegratedGradients(steps=cfg["ig_steps"])},
        noise_level,
        sg_samples=cfg["sg_samples"],
        ng_models=n_models,
        ngpp=cfg["ng"],
        seed=seed,
        baseline_label="Baseline",
        sep=" / ",
    )


def run_noisegrad(
    out_dir: str | Path = "xai_sanity_noisegrad",
    *,
    device: str | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    echo: Any = print,
) -> dict[str, Any]:
    """Run the comparison and write the table, the heuristic-curve figure and a summary."""
    from ..data import load_default_splits
    from ..training import load_default_model

    mode = "quick" if quick else "full"
    cfg = SETTINGS[mode]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, test = load_default_splits(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=seed)
    x, y, s = test.x[: cfg["n_explain"]], test.y[: cfg["n_explain"]], test.masks[: cfg["n_explain"]]
    frames, curves, info = [], {}, {"mode": mode, "seed": seed, "archs": {}}
    for arch in cfg["archs"]:
        echo(f"[{arch}] training or loading the model")
        model, model_info = load_default_model(
            arch, seed=seed, n_train=cfg["n_train"], n_test=cfg["n_test"], device=device, progress=progress,
            **cfg["model_kwargs"],
        )  # fmt: skip
        tune = tune_noise_level(
            model, test.x[: cfg["tune_n"]], test.y[: cfg["tune_n"]], n_draws=cfg["tune_draws"], seed=seed
        )
        curves[arch] = tune
        echo(
            f"[{arch}] accuracy {tune.accuracy_clean:.3f}; NoiseGrad std by the 5% heuristic: {tune.std:.4f}"
        )
        info["archs"][arch] = {"test_accuracy": model_info.get("test_accuracy"), "noise_level": tune.std}
        metrics = build_metrics(cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scores = evaluate(
                model, x, y, s, methods=build_methods(tune.std, cfg, seed), metrics=metrics, device=device,
                progress=progress,
            )  # fmt: skip
        directions = scores.attrs["direction"]
        frames.append(scores.assign(arch=arch))
    scores = pd.concat(frames, ignore_index=True)
    scores.attrs["direction"] = directions
    files = {"scores": out / "noisegrad_scores.csv"}
    scores.to_csv(files["scores"], index=False)
    tables = {}
    for arch, part in scores.groupby("arch", sort=False):
        part = part.drop(columns="arch")
        part.attrs["direction"] = directions
        tables[arch] = summarise(part)
    files["markdown"] = out / "noisegrad.md"
    files["markdown"].write_text(
        "\n".join(f"### {arch}\n\n{to_markdown(t)}" for arch, t in tables.items()), encoding="utf-8"
    )
    files["latex"] = out / "noisegrad.tex"
    files["latex"].write_text(
        "\n".join(to_latex(t, caption=f"NoiseGrad comparison, {arch}") for arch, t in tables.items()),
        encoding="utf-8",
    )
    files["csv"] = out / "noisegrad.csv"
    pd.concat({arch: t.attrs["mean"] for arch, t in tables.items()}, names=["arch", "method"]).to_csv(
        files["csv"]
    )
    files["curves"] = out / "noise_curves.png"
    plot_noise_curves(curves, path=files["curves"])
    claims = localisation_claims(scores)
    info["claims"] = claims
    info["total_s"] = round(time.perf_counter() - start, 1)
    files["info"] = out / "noisegrad.json"
    files["info"].write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    for arch, table in tables.items():
        echo(f"\n### {arch}\n")
        echo(to_markdown(table))
    echo(claims_text(claims))
    echo(f"written to {out.resolve()} in {info['total_s']} s")
    return {"scores": scores, "tables": tables, "claims": claims, "files": files, "info": info}


def localisation_claims(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Per arch and base: mean localisation score (mean over the localisation metrics of each
    metric's mean) of Baseline, SmoothGrad, NoiseGrad, NoiseGrad++, and the two comparisons."""
    loc = scores[scores["metric"].isin(CATEGORIES["localisation"]) & scores["error"].isna()]
    loc = loc.assign(
        base=loc["method"].str.split(" / ").str[0], variant=loc["method"].str.split(" / ").str[1]
    )
    per_metric = loc.groupby(["arch", "base", "variant", "metric"], sort=False)["score"].mean()
    mean = per_metric.groupby(["arch", "base", "variant"], sort=False).mean()
    # Per sample: the mean over the localisation metrics (all in [0, 1]), for paired tests.
    per_sample = loc.groupby(["arch", "base", "variant", "sample"], sort=False)["score"].mean()
    claims = []
    for (arch, base), values in mean.groupby(level=["arch", "base"], sort=False):
        v = values.droplevel(["arch", "base"]).to_dict()
        claim = {"arch": arch, "base": base, **{k: round(float(val), 4) for k, val in v.items()}}
        for better, worse in (("NoiseGrad++", "SmoothGrad"), ("NoiseGrad", "Baseline")):
            claim[f"{better} >= {worse}"] = bool(v.get(better, np.nan) >= v.get(worse, np.nan))
            diff, p_value = _paired_difference(per_sample, arch, base, better, worse)
            claim[f"{better} - {worse}"] = diff
            claim[f"{better} vs {worse} p"] = p_value
        claims.append(claim)
    return claims


def _paired_difference(per_sample: pd.Series, arch: str, base: str, a: str, b: str) -> tuple[float, float]:
    """Mean per-sample difference ``a - b`` and the two-sided Wilcoxon signed-rank p-value."""
    from scipy.stats import wilcoxon

    try:
        pair = pd.concat(
            {a: per_sample.loc[(arch, base, a)], b: per_sample.loc[(arch, base, b)]}, axis=1
        ).dropna()
    except KeyError:
        return float("nan"), float("nan")
    diff = (pair[a] - pair[b]).to_numpy()
    if diff.size == 0:
        return float("nan"), float("nan")
    if not np.any(diff):
        return 0.0, 1.0
    return round(float(diff.mean()), 4), float(wilcoxon(diff).pvalue)


def claims_text(claims: list[dict[str, Any]]) -> str:
    nan = float("nan")
    lines = [
        "Localisation (mean over the six localisation metrics, each averaged over samples); the paired",
        "difference is per sample, with the two-sided Wilcoxon signed-rank p-value:",
    ]
    for c in claims:
        lines.append(
            f"  {c['arch']:6s} {c['base']:8s} Baseline {c.get('Baseline', nan):.4f}  "
            f"SmoothGrad {c.get('SmoothGrad', nan):.4f}  NoiseGrad {c.get('NoiseGrad', nan):.4f}  "
            f"NoiseGrad++ {c.get('NoiseGrad++', nan):.4f}"
        )
        for better, worse in (("NoiseGrad++", "SmoothGrad"), ("NoiseGrad", "Baseline")):
            lines.append(
                f"      {better} >= {worse}: {'yes' if c[f'{better} >= {worse}'] else 'no'} "
                f"(difference {c.get(f'{better} - {worse}', nan):+.4f}, p = {c.get(f'{better} vs {worse} p', nan):.3g})"
            )
    return "\n".join(lines)
