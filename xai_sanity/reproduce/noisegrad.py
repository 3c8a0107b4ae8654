"""``xai-sanity reproduce noisegrad``: the NoiseGrad paper's claims (Bykov et al., AAAI 2022).

On the built-in semi-natural dataset, for LeNet, the small VGG and the small ResNet, with
Saliency and Integrated Gradients as bases: Baseline, SmoothGrad, NoiseGrad and NoiseGrad++
(NoiseGrad's std from the accuracy-drop heuristic), scored on localisation, robustness,
randomisation (this package's metrics) and faithfulness (Quantus's own
``FaithfulnessCorrelation``, used as it is). The summary states, with the numbers, whether
NoiseGrad++ ≥ SmoothGrad and NoiseGrad ≥ Baseline on localisation here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import quantus

from ..evaluation import evaluate
from ..explainers import IntegratedGradients, Saliency
from ..noise_level import tune_noise_level
from ..registry import METRICS
from ..report import plot_noise_curves, summarise, to_latex, to_markdown
from ._common import GlobalNumpySeed, RunSettings, prepare, with_seed
from .demo import enhanced_variants

CATEGORIES = {
    "localisation": ("PointingGame", "AttributionLocalisation", "TopKIntersection", "RelevanceRankAccuracy",
                     "RelevanceMassAccuracy", "AUC"),
    "robustness": ("MaxSensitivity", "AvgSensitivity", "LocalLipschitzEstimate", "RelativeInputStability"),
    "randomisation": ("ModelParameterRandomisation",),
    "faithfulness": ("FaithfulnessCorrelation",),
}  # fmt: skip


@dataclass(frozen=True)
class NoiseGradSettings(RunSettings):
    """Settings of ``xai-sanity reproduce noisegrad``.

    Attributes
    ----------
    archs : tuple of str
        Default architectures to compare on.
    n_explain : int
        Test images explained and scored.
    ig_steps : int
        Integration points of Integrated Gradients.
    sg_samples : int
        Noisy inputs per SmoothGrad explanation.
    ng : tuple of int
        Noisy models of NoiseGrad and NoiseGrad++, and noisy inputs per model of NoiseGrad++.
    tune_n : int
        Test images the noise-level heuristic is measured on.
    tune_draws : int
        Noisy models per noise level in the heuristic.
    robustness_samples : int
        Perturbed inputs per sample of each robustness metric.
    faithfulness_runs : int
        Random pixel subsets per sample of ``FaithfulnessCorrelation``.
    """

    archs: tuple[str, ...]
    n_explain: int
    ig_steps: int
    sg_samples: int
    ng: tuple[int, int]
    tune_n: int
    tune_draws: int
    robustness_samples: int
    faithfulness_runs: int

    @classmethod
    def full(cls) -> NoiseGradSettings:
        return cls(
            mode="full", archs=("lenet", "vgg", "resnet"), n_train=20000, n_test=2000, model_epochs=None,
            n_explain=32, ig_steps=8, sg_samples=16, ng=(10, 10), tune_n=500, tune_draws=8,
            robustness_samples=5, faithfulness_runs=20,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> NoiseGradSettings:
        return cls(
            mode="quick", archs=("lenet",), n_train=3000, n_test=300, model_epochs=3, n_explain=8, ig_steps=4,
            sg_samples=3, ng=(2, 2), tune_n=150, tune_draws=2, robustness_samples=2, faithfulness_runs=3,
        )  # fmt: skip


#: The settings by mode name.
SETTINGS = {"full": NoiseGradSettings.full(), "quick": NoiseGradSettings.quick()}


def build_metrics(settings: NoiseGradSettings, seed: int = 0) -> dict[str, Any]:
    """The metric suite: ours from the registry (suite settings) and Quantus's faithfulness.

    Every metric of ours that takes a seed gets ``seed``; Quantus's
    ``FaithfulnessCorrelation``, which draws from NumPy's global generator, runs under it
    (:class:`GlobalNumpySeed`).
    """
    metrics: dict[str, Any] = {}
    for category, names in CATEGORIES.items():
        for name in names:
            if name == "FaithfulnessCorrelation":
                faithfulness = quantus.FaithfulnessCorrelation(
                    nr_runs=settings.faithfulness_runs, subset_size=64, abs=True, disable_warnings=True
                )
                metrics[name] = GlobalNumpySeed(faithfulness, seed)
            elif name in METRICS:
                factory = METRICS[name]
                params = dict(getattr(factory, "suite_params", {}))
                if category == "robustness":
                    params["nr_samples"] = settings.robustness_samples
                metrics[name] = with_seed(factory, params, seed)
    return metrics


def build_methods(noise_level: float, settings: NoiseGradSettings, seed: int) -> dict[str, Any]:
    """Saliency and IG, each as Baseline / SmoothGrad / NoiseGrad / NoiseGrad++, seeded with ``seed``."""
    n_models, _ = settings.ng
    return enhanced_variants(
        {"Saliency": Saliency(), "IG": IntegratedGradients(steps=settings.ig_steps)},
        noise_level,
        sg_samples=settings.sg_samples,
        ng_models=n_models,
        ngpp=settings.ng,
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
    """Run the comparison and write the tables, the heuristic-curve figure and a summary.

    ``seed`` draws the data and seeds the models, the noise-level heuristic, the enhancers
    and every metric.

    Returns
    -------
    dict
        The tidy ``scores`` of every arch, the per-arch summary ``tables``, the localisation
        ``claims``, the written ``files`` and the ``info`` written to ``noisegrad.json``.
    """
    s = NoiseGradSettings.for_mode(quick)
    prep = prepare(out_dir, s, device=device, seed=seed, progress=progress, echo=echo)
    test = prep.test
    x, y, masks = test.x[: s.n_explain], test.y[: s.n_explain], test.masks[: s.n_explain]
    frames, curves, info = [], {}, prep.info(archs={})
    for arch in s.archs:
        echo(f"[{arch}] training or loading the model")
        model, model_info = prep.load_model(arch)
        tune = tune_noise_level(
            model, test.x[: s.tune_n], test.y[: s.tune_n], n_draws=s.tune_draws, seed=seed
        )
        curves[arch] = tune
        echo(
            f"[{arch}] accuracy {tune.accuracy_clean:.3f}; NoiseGrad std by the 5% heuristic: {tune.std:.4f}"
        )
        info["archs"][arch] = {"test_accuracy": model_info.get("test_accuracy"), "noise_level": tune.std}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scores = evaluate(
                model, x, y, masks, methods=build_methods(tune.std, s, seed), metrics=build_metrics(s, seed),
                device=device, progress=progress,
            )  # fmt: skip
        directions = scores.attrs["direction"]
        frames.append(scores.assign(arch=arch))
    scores = pd.concat(frames, ignore_index=True)
    scores.attrs["direction"] = directions
    scores.to_csv(prep.file("scores", "noisegrad_scores.csv"), index=False)
    tables = {}
    for arch, part in scores.groupby("arch", sort=False):
        part = part.drop(columns="arch")
        part.attrs["direction"] = directions
        tables[arch] = summarise(part)
    prep.file("markdown", "noisegrad.md").write_text(
        "\n".join(f"### {arch}\n\n{to_markdown(t)}" for arch, t in tables.items()), encoding="utf-8"
    )
    prep.file("latex", "noisegrad.tex").write_text(
        "\n".join(to_latex(t, caption=f"NoiseGrad comparison, {arch}") for arch, t in tables.items()),
        encoding="utf-8",
    )
    # Every arch in one CSV: the means, rows keyed by arch and method.
    summarise(scores, index=["arch", "method"]).attrs["mean"].to_csv(prep.file("csv", "noisegrad.csv"))
    plot_noise_curves(curves, path=prep.file("curves", "noise_curves.png"))
    claims = localisation_claims(scores)
    info["claims"] = claims
    prep.write_summary(info, "noisegrad.json")
    for arch, table in tables.items():
        echo(f"\n### {arch}\n")
        echo(to_markdown(table))
    echo(claims_text(claims))
    prep.echo_done(info["total_s"])
    return {"scores": scores, "tables": tables, "claims": claims, "files": prep.files, "info": info}


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
