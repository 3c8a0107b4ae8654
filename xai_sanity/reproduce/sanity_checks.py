"""``xai-sanity reproduce sanity-checks``: Adebayo et al. (2018) on the built-in default.

For LeNet and the small VGG trained on the semi-natural dataset: cascading (top-down) and
independent parameter randomisation, and data randomisation (a model trained on permuted
labels), for eleven explanation methods, scored with Spearman rank correlation (signed and
of absolute values), SSIM and HOG similarity. Each randomisation step is explained once; all
similarities are computed from the stored maps. Two repaired variants of the parameter test
(Hedström et al. 2023, "Sanity Checks Revisited: An Exploration to Repair the Model Parameter
Randomisation Test") add a column each: sMPRT, the Spearman similarity of ``|a|`` averaged
over noisy inputs, and eMPRT, the relative rise in explanation complexity (histogram
entropy), both between the original and the fully randomised model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..enhancers import NoiseGrad, NoiseGradPlusPlus, SmoothGrad, VarGrad
from ..explainers import (
    GradCAM,
    Gradient,
    GradientXInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    Saliency,
)
from ..metrics._plumbing import ExplainCall
from ..metrics.randomisation import DataRandomisation, EfficientMPRT, ModelParameterRandomisation, SmoothMPRT
from ..registry import SIMILARITIES
from ..report import plot_randomisation_curves, plot_randomisation_grid, save_table, to_markdown
from ._common import ComparisonSettings, Prepared, runner

SIMILARITY_NAMES = {"spearman_abs": "Spearman (abs)", "spearman": "Spearman", "ssim": "SSIM", "hog": "HOG"}
#: Column labels of the table: the similarities, and eMPRT's score, which is no similarity.
DISPLAY_NAMES = {**SIMILARITY_NAMES, "complexity_rise": "complexity rise"}
#: A method passes when its mean Spearman (abs) similarity under full cascading
#: randomisation is below this value (the paper reads "near zero" off its figures).
PASS_THRESHOLD = 0.3
#: The random-label model must fit its permuted training labels at least this well for the
#: data randomisation rows to mean anything (the summary says when it did not).
MIN_MEMORISED = 0.9
PAPER_PASS = {"Gradient": True, "GradCAM": True, "GuidedBackprop": False, "GuidedGradCAM": False}


@dataclass(frozen=True)
class SanityChecksSettings(ComparisonSettings):
    """Settings of ``xai-sanity reproduce sanity-checks``.

    Attributes
    ----------
    n_explain, ig_steps, sg_samples, archs, ng
        See :class:`~xai_sanity.reproduce._common.ComparisonSettings`.
    random_label_n : int
        Training images (with permuted labels) of the data randomisation model.
    random_label_epochs, random_label_batch_size : int
        Its training epochs and batch size.
    random_label_lr : float
        Its learning rate.
    smprt_samples : int
        Copies of the input (one without noise) per sMPRT explanation.
    smprt_noise : float
        sMPRT's noise standard deviation, as a fraction of each input's value range.
    """

    random_label_n: int
    random_label_epochs: int
    random_label_batch_size: int = 32
    random_label_lr: float = 1e-3
    smprt_samples: int = 10
    smprt_noise: float = 0.1

    @classmethod
    def full(cls) -> SanityChecksSettings:
        return cls(
            mode="full", archs=("lenet", "vgg"), n_train=20000, n_test=2000, model_epochs=None, n_explain=32,
            ig_steps=32, sg_samples=32, ng=(10, 10), random_label_n=1000, random_label_epochs=60,
            smprt_samples=20,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> SanityChecksSettings:
        return cls(
            mode="quick", archs=("lenet",), n_train=3000, n_test=300, model_epochs=3, n_explain=6,
            ig_steps=4, sg_samples=3, ng=(2, 2), random_label_n=128, random_label_epochs=60,
            smprt_samples=3,
        )  # fmt: skip


#: The settings by mode name.
SETTINGS = {"full": SanityChecksSettings.full(), "quick": SanityChecksSettings.quick()}


def build_methods(settings: SanityChecksSettings, seed: int) -> dict[str, Any]:
    """The eleven explanation methods under test; the stochastic ones are seeded with ``seed``."""
    n_models, n_samples = settings.ng
    return {
        "Gradient": Gradient(),
        "Saliency": Saliency(),
        "GradientXInput": GradientXInput(),
        "IntegratedGradients": IntegratedGradients(steps=settings.ig_steps),
        "GuidedBackprop": GuidedBackprop(),
        "GradCAM": GradCAM(),
        "GuidedGradCAM": GuidedGradCAM(),
        "SmoothGrad": SmoothGrad(n_samples=settings.sg_samples, seed=seed),
        "VarGrad": VarGrad(n_samples=settings.sg_samples, seed=seed),
        "NoiseGrad": NoiseGrad(n_models=n_models, seed=seed),
        "NoiseGrad++": NoiseGradPlusPlus(n_models=n_models, n_samples=n_samples, seed=seed),
    }


def _similarity_rows(arch, method, test, reference, maps_by_step) -> list[dict[str, Any]]:
    rows = []
    for step, maps in maps_by_step.items():
        for sim_name in SIMILARITY_NAMES:
            scores = np.asarray(SIMILARITIES[sim_name](reference, maps), dtype=np.float64)
            rows += _score_rows(arch, test, method, step, sim_name, scores)
    return rows


def _score_rows(arch, test, method, step, similarity, scores) -> list[dict[str, Any]]:
    """One tidy row per sample of ``scores``."""
    key = {"arch": arch, "test": test, "method": method, "step": step, "similarity": similarity}
    return [{**key, "sample": i, "score": v} for i, v in enumerate(scores)]


def _repaired_mprt_rows(arch, method_name, model, x, y, method, s, seed, device) -> list[dict[str, Any]]:
    """sMPRT (Spearman of ``|a|``) and eMPRT (complexity rise) on the fully randomised model,
    the cascading test's last step (same seeds)."""
    rows = []
    for test, score_name, metric in (
        ("sMPRT", "spearman_abs", SmoothMPRT(nr_samples=s.smprt_samples, noise_magnitude=s.smprt_noise,
                                             seed=seed, skip_layers=True, return_last_correlation=True)),
        ("eMPRT", "complexity_rise", EfficientMPRT(seed=seed)),
    ):  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # constant maps: NaN
            scores = np.asarray(metric(model, x, y, explain_func=method, device=device), dtype=np.float64)
        rows += _score_rows(arch, test, method_name, list(metric.explanations_)[-1], score_name, scores)
    return rows


@runner(SanityChecksSettings, "xai_sanity_sanity_checks")
def run_sanity_checks(prep: Prepared) -> dict[str, Any]:
    """Run the three randomisation tests and write tables, figures and a summary to ``out_dir``.

    ``seed`` draws the data and seeds the models, the randomisations, the random-label
    training and the stochastic methods. ``preset`` picks a named entry of :data:`SETTINGS`
    instead of ``quick``.

    Returns
    -------
    dict
        The tidy ``scores`` DataFrame, the ``summary`` table (per arch and method × test and
        similarity: mean similarity at the last step), the ``verdicts``, the written
        ``files`` and the ``info`` written to ``sanity_checks.json``.
    """
    s, seed, device, echo = prep.settings, prep.seed, prep.device, prep.echo
    train, test = prep.train, prep.test
    x, y = test.x[: s.n_explain], test.y[: s.n_explain]
    methods = build_methods(s, seed)
    rows: list[dict[str, Any]] = []
    info = prep.info(archs={})
    for arch in s.archs:
        echo(f"[{arch}] training or loading the model")
        model, model_info = prep.load_model(arch)
        echo(f"[{arch}] training a model on permuted labels ({s.random_label_n} images)")
        data_test = DataRandomisation(
            epochs=s.random_label_epochs, seed=seed, min_train_accuracy=MIN_MEMORISED,
            train_kwargs={"batch_size": s.random_label_batch_size, "lr": s.random_label_lr, "device": device},
        )  # fmt: skip
        n_rand = s.random_label_n
        random_model = data_test.random_label_model(model, train.x[:n_rand], train.y[:n_rand])
        info["archs"][arch] = {
            "test_accuracy": model_info.get("test_accuracy"),
            "random_label_train_accuracy": data_test.random_model_train_accuracy_,
        }
        cascading: dict[str, dict[str, list[float]]] = {}
        grid: dict[str, dict[str, np.ndarray]] = {}
        for method_name, method in prep.bar(methods.items(), f"{arch} methods"):
            for order, test_name in (("top_down", "cascading"), ("independent", "independent")):
                metric = ModelParameterRandomisation(
                    similarity_func="spearman", layer_order=order, seed=seed, abs=False, normalise=True
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # constant maps give NaN; means skip them
                    scores = metric(model, x, y, explain_func=method, device=device)
                    reference = metric.explanations_["original"]
                    steps = {k: v for k, v in metric.explanations_.items() if k != "original"}
                    rows += _similarity_rows(arch, method_name, test_name, reference, steps)
                    if order == "top_down":
                        cascading[method_name] = {
                            k: np.asarray(
                                SIMILARITIES["spearman_abs"](reference, metric.explanations_[k])
                            ).tolist()
                            for k in scores
                        }
                        grid[method_name] = metric.explanations_
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                explain = ExplainCall(method, {"device": device} if device else {}, batch_size=64)
                random_maps = data_test._explain(random_model, x, y, explain)
                rows += _similarity_rows(arch, method_name, "data", reference, {"random labels": random_maps})
            rows += _repaired_mprt_rows(arch, method_name, model, x, y, method, s, seed, device)
        plot_randomisation_curves(
            cascading, prep.file(f"{arch}_cascading", f"{arch}_cascading.png"),
            title=f"{arch}: cascading randomisation (Spearman of |a|)",
        )  # fmt: skip
        plot_randomisation_grid(x, grid, sample=0, path=prep.file(f"{arch}_grid", f"{arch}_grid.png"))

    scores = pd.DataFrame(rows)
    scores.to_csv(prep.file("scores", "sanity_checks_scores.csv"), index=False)
    summary, verdicts = summarise_sanity_checks(scores)
    display = display_table(summary)
    written = save_table(
        display, prep.out, "sanity_checks", csv=summary,
        caption="Sanity checks: mean similarity to the original explanation after randomisation",
    )  # fmt: skip
    prep.files.update(
        summary_csv=written["csv"], summary_md=written["markdown"], summary_tex=written["latex"]
    )
    info["verdicts"] = verdicts
    prep.write_summary(info, "sanity_checks.json")
    echo(to_markdown(display))
    echo(verdict_text(verdicts))
    echo(memorisation_text(info["archs"]))
    prep.echo_done(info["total_s"])
    return {"scores": scores, "summary": summary, "verdicts": verdicts, "files": prep.files, "info": info}


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with readable similarity names (``"Spearman (abs)"`` for ``spearman_abs``)."""
    return summary.rename(columns=DISPLAY_NAMES, level="similarity")


def summarise_sanity_checks(scores: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Mean similarity at the final step of each test, per arch × method × similarity."""
    last_step = scores.groupby(["arch", "test"], sort=False)["step"].agg(lambda s: list(dict.fromkeys(s))[-1])
    is_last = (
        scores["step"].to_numpy()
        == last_step.reindex(pd.MultiIndex.from_frame(scores[["arch", "test"]])).to_numpy()
    )
    # Cascading and data randomisation: the fully randomised model; independent: mean over layers.
    kept = scores[is_last | (scores["test"] == "independent")].assign(
        test=lambda d: d["test"].where(d["test"] != "independent", "independent (mean)")
    )
    table = (
        kept.groupby(["arch", "method", "test", "similarity"], sort=False)["score"]
        .mean()
        .unstack(["test", "similarity"])
        .sort_index(axis=1)
    )
    # How many samples the headline number rests on: a constant map (e.g. an all-zero
    # Grad-CAM after its ReLU) has no rank correlation and is left out of the mean.
    headline = kept[(kept["test"] == "cascading") & (kept["similarity"] == "spearman_abs")]
    defined = headline.groupby(["arch", "method"], sort=False)["score"].agg(["count", "size"])
    verdicts: dict[str, Any] = {}
    for (arch, method), row in table.iterrows():
        value = row.get(("cascading", "spearman_abs"))
        n_defined, n_total = (
            defined.loc[(arch, method)].tolist() if (arch, method) in defined.index else (0, 0)
        )
        verdicts.setdefault(arch, {})[method] = {
            "final_spearman_abs": None if pd.isna(value) else round(float(value), 3),
            "passes": bool(value < PASS_THRESHOLD) if not pd.isna(value) else None,
            "n_defined": int(n_defined),
            "n_samples": int(n_total),
        }
    return table, verdicts


def verdict_text(verdicts: dict[str, Any]) -> str:
    lines = [
        f"Pass = mean Spearman(|a|) to the original below {PASS_THRESHOLD} after full cascading randomisation."
    ]
    for arch, methods in verdicts.items():
        passed = [m for m, v in methods.items() if v["passes"]]
        failed = [m for m, v in methods.items() if v["passes"] is False]
        lines.append(f"{arch}: pass: {', '.join(passed) or '-'}; fail: {', '.join(failed) or '-'}")
        partial = [
            f"{m} {v['n_defined']}/{v['n_samples']}"
            for m, v in methods.items()
            if v.get("n_defined", 0) < v.get("n_samples", 0)
        ]
        if partial:
            lines.append(f"  samples with a defined score (others are constant maps): {', '.join(partial)}")
        for method, expected in PAPER_PASS.items():
            if method in methods and methods[method]["passes"] is not None:
                agree = "agrees" if methods[method]["passes"] == expected else "DIFFERS"
                lines.append(
                    f"  {method}: {'pass' if methods[method]['passes'] else 'fail'} "
                    f"({methods[method]['final_spearman_abs']}); paper: {'pass' if expected else 'fail'} -> {agree}"
                )
    return "\n".join(lines)


def memorisation_text(archs: dict[str, Any]) -> str:
    """One line per architecture: did the random-label model fit its permuted labels?"""
    lines = []
    for arch, arch_info in archs.items():
        acc = arch_info["random_label_train_accuracy"]
        if acc >= MIN_MEMORISED:
            lines.append(f"{arch}: random-label model fits its permuted training labels ({acc:.3f})")
        else:
            lines.append(
                f"{arch}: random-label model reached only {acc:.3f} on its permuted training labels "
                f"(< {MIN_MEMORISED}); the data randomisation rows compare against an undertrained model"
            )
    return "\n".join(lines)
