"""``xai-sanity reproduce noisegrad``: the NoiseGrad paper's claims (Bykov et al., AAAI 2022).

On the built-in semi-natural dataset, for LeNet, the small VGG and the small ResNet, with
Saliency and Integrated Gradients as bases: Baseline, SmoothGrad, NoiseGrad and NoiseGrad++
(NoiseGrad's std from the accuracy-drop heuristic), scored on localisation, robustness,
randomisation and faithfulness (ROAD's MoRF/LeRF gap, Quantus's ``FaithfulnessCorrelation``
and ``PixelFlipping``, seeded). The summary states, with the numbers, paired differences and
Wilcoxon p-values, whether NoiseGrad++ ≥ SmoothGrad and NoiseGrad ≥ Baseline on localisation
and on faithfulness here.

The run is resumable: each (architecture, method) unit's scores are written atomically to a
cache folder (``<out_dir>/cache`` by default) under a key made of the settings, the seed, the
architecture, the method and its noise level; a rerun after an interruption recomputes only
the missing units and gives the numbers of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cache import atomic_write_bytes, config_digest
from ..evaluation import COLUMNS, evaluate, score_direction
from ..explainers import IntegratedGradients, Saliency
from ..noise_level import tune_noise_level
from ..report import plot_noise_curves, summarise, to_latex, to_markdown
from ._common import ComparisonSettings, Prepared, runner
from .demo import enhanced_variants

CATEGORIES = {
    "localisation": ("PointingGame", "AttributionLocalisation", "TopKIntersection", "RelevanceRankAccuracy",
                     "RelevanceMassAccuracy", "AUC"),
    "robustness": ("MaxSensitivity", "AvgSensitivity", "LocalLipschitzEstimate", "RelativeInputStability"),
    "randomisation": ("ModelParameterRandomisation",),
    "faithfulness": ("ROAD", "FaithfulnessCorrelation", "PixelFlipping"),
}  # fmt: skip

#: The criteria of the claims: name → the metrics whose per-sample mean is compared (all
#: higher-is-better). Faithfulness is judged by ROAD (the area between its LeRF and MoRF
#: curves) and, separately, by Quantus's FaithfulnessCorrelation.
CRITERIA = {
    "localisation": CATEGORIES["localisation"],
    "faithfulness (ROAD)": ("ROAD",),
    "faithfulness (FaithfulnessCorrelation)": ("FaithfulnessCorrelation",),
}
#: The comparisons of the claims: (better, worse) variants.
COMPARISONS = (("NoiseGrad++", "SmoothGrad"), ("NoiseGrad", "Baseline"))
#: Bump when a change alters the scores of cached units.
UNIT_CACHE_VERSION = 2


@dataclass(frozen=True)
class NoiseGradSettings(ComparisonSettings):
    """Settings of ``xai-sanity reproduce noisegrad``.

    Attributes
    ----------
    n_explain, ig_steps, sg_samples, archs, ng
        See :class:`~xai_sanity.reproduce._common.ComparisonSettings`.
    tune_n : int
        Test images the noise-level heuristic is measured on.
    tune_draws : int
        Noisy models per noise level in the heuristic.
    robustness_samples : int
        Perturbed inputs per sample of each robustness metric.
    faithfulness_runs : int
        Random pixel subsets per sample of ``FaithfulnessCorrelation``.
    road_fractions : tuple of float
        Fractions of the pixels removed by ROAD (MoRF and LeRF).
    """

    tune_n: int
    tune_draws: int
    robustness_samples: int
    faithfulness_runs: int
    road_fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

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
            road_fractions=(0.2, 0.5, 0.8),
        )  # fmt: skip

    @classmethod
    def cpu(cls) -> NoiseGradSettings:
        """All three architectures with fewer images and draws: about 20 minutes on 2 CPU cores.

        Against :meth:`full`: 16 images explained (not 32), IG with 4 points (not 8),
        SmoothGrad with 8 samples (not 16), NoiseGrad with 5 models and NoiseGrad++ with
        5 x 5 draws (not 10 and 10 x 10), the heuristic on 300 images with 4 draws (not 500
        and 8), 3 robustness perturbations (not 5), 10 FaithfulnessCorrelation subsets (not
        20) and ROAD at 5 fractions (not 9). The models and data are the full run's (trained
        once and cached, which the first run adds to its time).
        """
        return cls(
            mode="cpu", archs=("lenet", "vgg", "resnet"), n_train=20000, n_test=2000, model_epochs=None,
            n_explain=16, ig_steps=4, sg_samples=8, ng=(5, 5), tune_n=300, tune_draws=4,
            robustness_samples=3, faithfulness_runs=10, road_fractions=(0.1, 0.3, 0.5, 0.7, 0.9),
        )  # fmt: skip


#: The settings by preset name (``run_noisegrad(preset=...)``, ``--preset``).
SETTINGS = {
    "full": NoiseGradSettings.full(),
    "quick": NoiseGradSettings.quick(),
    "cpu": NoiseGradSettings.cpu(),
}


def build_metrics(settings: NoiseGradSettings, seed: int = 0) -> dict[str, Any]:
    """The metric suite, from the registry with suite settings and ``seed``.

    Every metric that takes a seed gets ``seed`` (``FaithfulnessCorrelation`` draws its
    subsets from a seeded generator and restores NumPy's global state). The settings set
    the robustness perturbations, the FaithfulnessCorrelation subsets and ROAD's fractions.
    """
    from ..jobs import metrics_by_name  # the default suite's builder (suite parameters, seed)

    overrides: dict[str, dict[str, Any]] = {
        name: {"nr_samples": settings.robustness_samples} for name in CATEGORIES.get("robustness", ())
    }
    overrides["FaithfulnessCorrelation"] = {"nr_runs": settings.faithfulness_runs}
    overrides["ROAD"] = {"fractions": settings.road_fractions}
    names = [name for category in CATEGORIES.values() for name in category]
    return metrics_by_name(names, seed=seed, overrides=overrides)


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


@runner(NoiseGradSettings, "xai_sanity_noisegrad")
def run_noisegrad(prep: Prepared, *, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the comparison and write the tables, the heuristic-curve figure and a summary.

    ``seed`` draws the data and seeds the models, the noise-level heuristic, the enhancers
    and every metric.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Output folder.
    device : str, optional
        Torch device of the models and explanations.
    quick : bool, default False
        The quick settings (``preset="quick"``).
    seed : int, default 0
    progress : bool, default True
    echo : callable, default print
    preset : str, optional
        A key of :data:`SETTINGS` (``"full"``, ``"quick"``, ``"cpu"``); ``ValueError``
        listing the keys for another name.
    cache_dir : str or pathlib.Path, optional
        Where each (architecture, method) unit's scores are kept; default ``out_dir/cache``.
        A rerun skips the units found there.

    Returns
    -------
    dict
        The tidy ``scores`` of every arch, the per-arch summary ``tables``, the
        localisation and faithfulness ``claims``, the written ``files`` and the ``info``
        written to ``noisegrad.json``.
    """
    s, seed, device, progress, echo = prep.settings, prep.seed, prep.device, prep.progress, prep.echo
    cache = Path(cache_dir) if cache_dir is not None else prep.out / "cache"
    echo(f"settings: {s.mode} ({_describe(s)}); unit cache: {cache}")
    test = prep.test
    x, y, masks = test.x[: s.n_explain], test.y[: s.n_explain], test.masks[: s.n_explain]
    frames, curves, info = [], {}, prep.info(archs={}, settings=dataclasses.asdict(s))
    metrics = build_metrics(s, seed)
    directions = {name: score_direction(m) for name, m in metrics.items()}
    reused = 0
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
        for method, explain in build_methods(tune.std, s, seed).items():
            key = {
                "version": UNIT_CACHE_VERSION, "settings": dataclasses.asdict(s), "seed": seed, "arch": arch,
                "method": method, "noise_level": float(tune.std), "metrics": list(metrics),
                "device": None if device is None else str(device),
            }  # fmt: skip
            path = cache / f"{arch}_{_slug(method)}_{config_digest(key)[:20]}.json"
            rows = _read_unit(path, key)
            if rows is None:
                echo(f"[{arch}] {method}: scoring")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    unit = evaluate(
                        model, x, y, masks, methods={method: explain}, metrics=metrics, device=device,
                        progress=progress,
                    )  # fmt: skip
                rows = unit.to_dict(orient="records")
                payload = {"key": key, "rows": rows}
                atomic_write_bytes(path, json.dumps(payload, default=str).encode("utf-8"))
            else:
                reused += 1
                echo(f"[{arch}] {method}: taken from {path.name}")
            frames.append(pd.DataFrame(rows, columns=COLUMNS).assign(arch=arch))
    info["units_reused"] = reused
    scores = pd.concat(frames, ignore_index=True)
    scores["error"] = scores["error"].astype(object).where(scores["error"].notna(), None)
    scores.attrs["direction"] = directions
    scores.to_csv(prep.file("scores", "noisegrad_scores.csv"), index=False)
    tables = {}
    for arch, part in scores.groupby("arch", sort=False):
        part = part.drop(columns="arch")
        part.attrs["direction"] = directions
        tables[arch] = summarise(part)
    claims = all_claims(scores)
    prep.file("markdown", "noisegrad.md").write_text(
        "\n".join(f"### {arch}\n\n{to_markdown(t)}" for arch, t in tables.items())
        + f"\n### Claims\n\n{claims_table(claims)}\n",
        encoding="utf-8",
    )
    prep.file("latex", "noisegrad.tex").write_text(
        "\n".join(to_latex(t, caption=f"NoiseGrad comparison, {arch}") for arch, t in tables.items()),
        encoding="utf-8",
    )
    # Every arch in one CSV: the means, rows keyed by arch and method.
    summarise(scores, index=["arch", "method"]).attrs["mean"].to_csv(prep.file("csv", "noisegrad.csv"))
    pd.DataFrame(claims).to_csv(prep.file("claims", "noisegrad_claims.csv"), index=False)
    plot_noise_curves(curves, path=prep.file("curves", "noise_curves.png"))
    info["claims"] = claims
    info["verdicts"] = verdicts(claims)
    prep.write_summary(info, "noisegrad.json")
    for arch, table in tables.items():
        echo(f"\n### {arch}\n")
        echo(to_markdown(table))
    echo(claims_text(claims))
    prep.echo_done(info["total_s"])
    return {"scores": scores, "tables": tables, "claims": claims, "files": prep.files, "info": info}


def _describe(s: NoiseGradSettings) -> str:
    """The settings that size the run, in one line (printed at the start)."""
    return (
        f"archs {', '.join(s.archs)}; {s.n_explain} images; IG {s.ig_steps} points; SmoothGrad "
        f"{s.sg_samples}; NoiseGrad {s.ng[0]}; NoiseGrad++ {s.ng[0]}x{s.ng[1]}; heuristic {s.tune_n} images x "
        f"{s.tune_draws} draws; robustness {s.robustness_samples}; FaithfulnessCorrelation "
        f"{s.faithfulness_runs} runs; ROAD {len(s.road_fractions)} fractions"
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name.replace("++", "pp")).strip("-").lower()


def _read_unit(path: Path, key: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A cached unit's rows, or None if absent; a file that is unreadable or holds another key
    is recomputed with a warning."""
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if json.loads(json.dumps(key, default=str)) != payload["key"]:
            raise ValueError("its key differs")
        rows = payload["rows"]
        if not isinstance(rows, list) or not rows or set(rows[0]) != set(COLUMNS):
            raise ValueError("its rows are malformed")
        return rows
    except Exception as err:  # noqa: BLE001 - any bad file is recomputed
        warnings.warn(
            f"unit cache file {path} is unusable ({err}); recomputing it", RuntimeWarning, stacklevel=3
        )
        return None


def category_claims(scores: pd.DataFrame, metrics: tuple[str, ...], criterion: str) -> list[dict[str, Any]]:
    """Per arch and base: the mean score over ``metrics`` (each metric's mean over samples,
    then their mean) of Baseline, SmoothGrad, NoiseGrad and NoiseGrad++, and the two
    comparisons with the per-sample paired difference and Wilcoxon p-value.

    ``metrics`` must all be higher-is-better (the localisation metrics, ROAD,
    FaithfulnessCorrelation).
    """
    part = scores[scores["metric"].isin(metrics) & scores["error"].isna()]
    part = part.assign(
        base=part["method"].str.split(" / ").str[0], variant=part["method"].str.split(" / ").str[1]
    )
    per_metric = part.groupby(["arch", "base", "variant", "metric"], sort=False)["score"].mean()
    mean = per_metric.groupby(["arch", "base", "variant"], sort=False).mean()
    # Per sample: the mean over the metrics, for paired tests.
    per_sample = part.groupby(["arch", "base", "variant", "sample"])["score"].mean()
    claims = []
    for (arch, base), values in mean.groupby(level=["arch", "base"], sort=False):
        v = values.droplevel(["arch", "base"]).to_dict()
        claim = {"arch": arch, "base": base, "criterion": criterion}
        claim.update({k: round(float(val), 4) for k, val in v.items()})
        for better, worse in COMPARISONS:
            claim[f"{better} >= {worse}"] = bool(v.get(better, np.nan) >= v.get(worse, np.nan))
            diff, p_value = _paired_difference(per_sample, arch, base, better, worse)
            claim[f"{better} - {worse}"] = diff
            claim[f"{better} vs {worse} p"] = p_value
        claims.append(claim)
    return claims


def localisation_claims(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Per arch and base: mean localisation score (mean over the localisation metrics of each
    metric's mean) of Baseline, SmoothGrad, NoiseGrad, NoiseGrad++, and the two comparisons."""
    return category_claims(scores, CATEGORIES["localisation"], "localisation")


def faithfulness_claims(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """The claims of the faithfulness criteria of :data:`CRITERIA` (ROAD, FaithfulnessCorrelation)."""
    return [
        claim
        for criterion, metrics in CRITERIA.items()
        if criterion.startswith("faithfulness")
        for claim in category_claims(scores, metrics, criterion)
    ]


def all_claims(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Localisation claims, then faithfulness claims."""
    return localisation_claims(scores) + faithfulness_claims(scores)


def verdicts(claims: list[dict[str, Any]], alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """Per criterion and comparison: in how many (arch, base) pairs the better variant's mean
    is at least the other's, and in how many the paired difference is positive with a
    Wilcoxon p-value below ``alpha``."""
    out: dict[str, dict[str, Any]] = {}
    for criterion in dict.fromkeys(c["criterion"] for c in claims):
        rows = [c for c in claims if c["criterion"] == criterion]
        for better, worse in COMPARISONS:
            diffs = [c[f"{better} - {worse}"] for c in rows]
            out[f"{criterion}: {better} vs {worse}"] = {
                "pairs": len(rows),
                "at_least": sum(bool(c[f"{better} >= {worse}"]) for c in rows),
                "significantly_better": sum(
                    (d > 0) and (c[f"{better} vs {worse} p"] < alpha) for d, c in zip(diffs, rows)
                ),
                "significantly_worse": sum(
                    (d < 0) and (c[f"{better} vs {worse} p"] < alpha) for d, c in zip(diffs, rows)
                ),
                "mean_difference": round(float(np.nanmean(diffs)), 4) if rows else float("nan"),
            }
    return out


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


def claims_table(claims: list[dict[str, Any]]) -> str:
    """The claims as a Markdown table: one row per criterion, arch and base."""
    nan = float("nan")
    lines = [
        "| criterion | arch | base | Baseline | SmoothGrad | NoiseGrad | NoiseGrad++ | NoiseGrad − Baseline (p) "
        "| NoiseGrad++ − SmoothGrad (p) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        cells = [f"{c.get(v, nan):.4f}" for v in ("Baseline", "SmoothGrad", "NoiseGrad", "NoiseGrad++")]
        pairs = [
            f"{c.get(f'{b} - {w}', nan):+.4f} ({c.get(f'{b} vs {w} p', nan):.3g})"
            for b, w in (("NoiseGrad", "Baseline"), ("NoiseGrad++", "SmoothGrad"))
        ]
        lines.append(f"| {c['criterion']} | {c['arch']} | {c['base']} | " + " | ".join(cells + pairs) + " |")
    return "\n".join(lines)


def claims_text(claims: list[dict[str, Any]]) -> str:
    """The claims and the verdicts in words, with the numbers."""
    nan = float("nan")
    lines = [
        "Each criterion is the mean over its metrics (each averaged over samples); localisation: the six",
        "localisation metrics; faithfulness: ROAD (area between LeRF and MoRF curves) and, separately,",
        "FaithfulnessCorrelation. The paired difference is per sample, with the two-sided Wilcoxon",
        "signed-rank p-value:",
    ]
    for criterion in dict.fromkeys(c["criterion"] for c in claims):
        lines.append(f"{criterion}:")
        for c in (c for c in claims if c["criterion"] == criterion):
            lines.append(
                f"  {c['arch']:6s} {c['base']:8s} Baseline {c.get('Baseline', nan):.4f}  "
                f"SmoothGrad {c.get('SmoothGrad', nan):.4f}  NoiseGrad {c.get('NoiseGrad', nan):.4f}  "
                f"NoiseGrad++ {c.get('NoiseGrad++', nan):.4f}"
            )
            for better, worse in COMPARISONS:
                lines.append(
                    f"      {better} >= {worse}: {'yes' if c[f'{better} >= {worse}'] else 'no'} "
                    f"(difference {c.get(f'{better} - {worse}', nan):+.4f}, "
                    f"p = {c.get(f'{better} vs {worse} p', nan):.3g})"
                )
    lines.append("In short (pairs of architecture and base method; significant: p < 0.05):")
    for label, v in verdicts(claims).items():
        lines.append(
            f"  {label}: at least as good in {v['at_least']} of {v['pairs']}, significantly better in "
            f"{v['significantly_better']}, significantly worse in {v['significantly_worse']} "
            f"(mean difference {v['mean_difference']:+.4f})"
        )
    return "\n".join(lines)
