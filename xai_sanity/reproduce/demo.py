"""The main job: ``xai-sanity demo`` on the built-in semi-natural dataset.

Trains (or loads) the default LeNet, picks NoiseGrad's noise level by the accuracy-drop
heuristic, explains a test batch with Gradient and Integrated Gradients, each plain and
enhanced (SmoothGrad, NoiseGrad, NoiseGrad++), and scores them with every metric of the
default suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..enhancers import NoiseGrad, NoiseGradPlusPlus, SmoothGrad
from ..evaluation import evaluate
from ..explainers import Gradient, IntegratedGradients
from ..jobs import metrics_by_name
from ..noise_level import tune_noise_level
from ..report import plot_explanations, plot_noise_curves, summarise, to_markdown, write_tables
from ._common import ExplainSettings, Prepared, runner


@dataclass(frozen=True)
class DemoSettings(ExplainSettings):
    """Settings of ``xai-sanity demo``.

    The quick run takes 2–3 minutes on 2 CPU cores (144 s with a second job on the cores);
    the full run explains 32 images
    (IG with 8 Gauss-Legendre points, NoiseGrad++ with 5 x 5 draws; the NoiseGrad
    reproduction uses the paper's 10 x 10) so that the metrics' repeated explanation passes
    (randomisation, robustness) stay within minutes on a CPU.

    Attributes
    ----------
    n_explain, ig_steps, sg_samples
        See :class:`~xai_sanity.reproduce._common.ExplainSettings`.
    ng_models : int
        Noisy models per NoiseGrad explanation.
    ngpp : tuple of int
        Noisy models and noisy inputs per model of NoiseGrad++.
    tune_n : int
        Test images the noise-level heuristic is measured on.
    tune_draws : int
        Noisy models per noise level in the heuristic.
    """

    ng_models: int
    ngpp: tuple[int, int]
    tune_n: int
    tune_draws: int

    @classmethod
    def full(cls) -> DemoSettings:
        return cls(
            mode="full", n_train=20000, n_test=2000, model_epochs=None, n_explain=32, ig_steps=8,
            sg_samples=16, ng_models=10, ngpp=(5, 5), tune_n=500, tune_draws=8,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> DemoSettings:
        return cls(
            mode="quick", n_train=3000, n_test=300, model_epochs=3, n_explain=16, ig_steps=8,
            sg_samples=6, ng_models=4, ngpp=(3, 3), tune_n=200, tune_draws=3,
        )  # fmt: skip


#: The settings by mode name.
SETTINGS = {"full": DemoSettings.full(), "quick": DemoSettings.quick()}


@dataclass
class DemoResult:
    """What :func:`run_demo` returns.

    Attributes
    ----------
    scores : pandas.DataFrame
        Tidy per-sample scores (:func:`xai_sanity.evaluate`'s output).
    table : pandas.DataFrame
        Methods × metrics, ``mean ± std`` (:func:`xai_sanity.report.summarise`).
    out_dir : pathlib.Path
        Where the files were written.
    files : dict of str to pathlib.Path
        The written files by key.
    info : dict
        The contents of ``summary.json``.
    """

    scores: pd.DataFrame
    table: pd.DataFrame
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def default_metrics(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Every registered metric that belongs in the default suite, built for one batch.

    Parameters
    ----------
    quick : bool, default False
        Apply each metric's ``quick_params`` (e.g. fewer perturbation samples) on top of its
        ``suite_params`` (e.g. localisation on ``|a|``, one averaged randomisation score).
    seed : int, default 0
        Given to every metric whose constructor takes a ``seed``.

    Returns
    -------
    dict
        Metric name → metric instance, in registry order.
    """
    return metrics_by_name(None, quick=quick, seed=seed)


def enhanced_variants(
    bases: dict[str, Any],
    noise_level: float,
    *,
    sg_samples: int,
    ng_models: int,
    ngpp: tuple[int, int],
    seed: int = 0,
    baseline_label: str | None = None,
    sep: str = " + ",
) -> dict[str, Any]:
    """Each base method plain and wrapped by SmoothGrad, NoiseGrad and NoiseGrad++.

    Parameters
    ----------
    bases : dict
        Name → explain method.
    noise_level : float
        Weight-noise level of NoiseGrad and NoiseGrad++.
    sg_samples : int
        Noisy inputs per SmoothGrad explanation.
    ng_models : int
        Noisy models per NoiseGrad explanation.
    ngpp : tuple of int
        Noisy models and noisy inputs per model of NoiseGrad++.
    seed : int, default 0
        Seed of every enhancer.
    baseline_label : str, optional
        Suffix of the plain base's name; without it the plain base keeps its own name.
    sep : str, default ``" + "``
        Between the base's name and the enhancer's.

    Returns
    -------
    dict
        ``"<base><sep><enhancer>"`` → method, base by base.
    """
    methods: dict[str, Any] = {}
    n_models, n_samples = ngpp
    for label, base in bases.items():
        methods[f"{label}{sep}{baseline_label}" if baseline_label else label] = base
        methods[f"{label}{sep}SmoothGrad"] = SmoothGrad(base=base, n_samples=sg_samples, seed=seed)
        methods[f"{label}{sep}NoiseGrad"] = NoiseGrad(
            base=base, n_models=ng_models, noise_level=noise_level, seed=seed
        )
        methods[f"{label}{sep}NoiseGrad++"] = NoiseGradPlusPlus(
            base=base, n_models=n_models, n_samples=n_samples, noise_level=noise_level, seed=seed
        )
    return methods


def build_methods(noise_level: float, settings: DemoSettings | str = "full", seed: int = 0) -> dict[str, Any]:
    """Gradient and Integrated Gradients, each as baseline / SmoothGrad / NoiseGrad / NoiseGrad++.

    Parameters
    ----------
    noise_level : float
        Weight-noise level of NoiseGrad and NoiseGrad++.
    settings : DemoSettings or {"full", "quick"}, default "full"
        The demo's settings, or the name of a mode.
    seed : int, default 0
        Seed of every enhancer.
    """
    s = SETTINGS[settings] if isinstance(settings, str) else settings
    bases = {"Gradient": Gradient(), "IG": IntegratedGradients(steps=s.ig_steps)}
    return enhanced_variants(
        bases, noise_level, sg_samples=s.sg_samples, ng_models=s.ng_models, ngpp=s.ngpp, seed=seed
    )


@runner(
    DemoSettings,
    "xai_sanity_report",
    message=lambda s: f"[1/5] building the semi-natural dataset ({s.n_train} train / {s.n_test} test)",
)
def run_demo(prep: Prepared) -> DemoResult:
    """Build the data, train (or load) the default LeNet, explain, evaluate, and report.

    Writes to ``out_dir``: ``results.{csv,md,tex}`` (methods × metrics, mean ± std),
    ``results_scores.csv`` (tidy per-sample scores), ``explanations.png`` (maps over the
    inputs with the ground-truth outline), ``noise_curve.png`` and ``noise_curve.csv`` (the
    accuracy-drop heuristic) and ``summary.json``. ``seed`` draws the data and seeds the
    model, the heuristic, the enhancers and every seeded metric. ``preset`` picks a named
    entry of :data:`SETTINGS` instead of ``quick``.
    """
    s, seed, device, progress, echo = prep.settings, prep.seed, prep.device, prep.progress, prep.echo
    test = prep.test

    echo("[2/5] training or loading the default LeNet")
    with prep.timed("model_s"):
        model, model_info = prep.load_model("lenet")
    accuracy = model_info.get("test_accuracy")
    echo(f"      test accuracy {accuracy:.3f}" if accuracy is not None else "      (no accuracy recorded)")

    echo("[3/5] choosing NoiseGrad's noise level by the 5% accuracy-drop heuristic")
    with prep.timed("noise_level_s"):
        tune = tune_noise_level(
            model, test.x[: s.tune_n], test.y[: s.tune_n], n_draws=s.tune_draws, seed=seed, progress=progress
        )
    echo(f"      sigma = {tune.std:.4f} (ACC(0) = {tune.accuracy_clean:.3f}, chance = {tune.chance:.2f})")

    echo("[4/5] explaining a test batch")
    with prep.timed("explain_s"):
        x, y, masks = test.x[: s.n_explain], test.y[: s.n_explain], test.masks[: s.n_explain]
        methods = build_methods(tune.std, s, seed)
        explanations = {
            name: func(model, x, y, device=device) for name, func in prep.bar(methods.items(), "explain")
        }

    echo("[5/5] evaluating every registered metric")
    with prep.timed("evaluate_s"):
        metrics = default_metrics(prep.mode == "quick", seed=seed)
        scores = evaluate(
            model, x, y, masks, methods=methods, metrics=metrics, a_batches=explanations, device=device,
            progress=progress,
        )  # fmt: skip
    prep.timings["total_s"] = prep.elapsed()

    table = summarise(scores)
    caption = "xai_sanity demo: explanation quality on the semi-natural dataset"
    prep.files.update(write_tables(scores, prep.out, caption=caption))
    plot_explanations(x, explanations, masks=masks, n=6, path=prep.file("explanations", "explanations.png"))
    plot_noise_curves({"LeNet": tune}, path=prep.file("noise_curve", "noise_curve.png"))
    tune.to_frame().to_csv(prep.file("noise_curve_csv", "noise_curve.csv"), index=False)
    errors = scores[scores["error"].notna()][["method", "metric", "error"]].drop_duplicates()
    info = prep.info(
        model="lenet",
        test_accuracy=accuracy,
        noise_level=tune.std,
        n_explained=int(len(x)),
        methods=list(methods),
        metrics=list(metrics),
        errors=errors.to_dict(orient="records"),
    )
    prep.write_summary(info, "summary.json", key="summary")

    echo("")
    echo(to_markdown(table))
    if not metrics:
        echo("(no metrics are registered yet)")
    for record in info["errors"]:
        echo(f"error: {record['method']} / {record['metric']}: {record['error']}")
    prep.echo_done(prep.timings["total_s"], what="report written")
    return DemoResult(scores=scores, table=table, out_dir=prep.out, files=prep.files, info=info)
