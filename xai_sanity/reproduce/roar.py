"""``xai-sanity reproduce roar``: Hooker et al. (2019) on the built-in default.

Gradient, Integrated Gradients and Guided Backprop, each as base / SmoothGrad / SmoothGrad² /
VarGrad, plus the Random and Sobel controls: remove the top fraction of each image's
features (thresholds 0–90%), retrain LeNet from scratch several times, record test accuracy.
An estimator beats Random when removing what it ranks highest hurts accuracy more. The
paper's finding: only SmoothGrad² and VarGrad do (on ImageNet-scale data).

The removal is run with both imputations: the paper's mean fill and ROAD's noisy linear
imputation (Rong et al., ICML 2022), which does not draw the outline of the removed region
into the image; and the leak diagnostic trains the same LeNet on the removal masks alone, to
show how much the pattern by itself tells the retrained model (with the mean fill, that is
what ROAR measures when removing *raises* accuracy). Every finished cell is cached under
``<out>/cache``, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._safety import model_guard
from ..enhancers import SmoothGrad, SmoothGradSquared, VarGrad
from ..explainers import Gradient, GuidedBackprop, IntegratedGradients
from ..metrics.imputation import IMPUTATIONS
from ..metrics.roar import control_estimators, explain_in_batches, leak_diagnostic, plot_roar, run_roar
from ..report import save_table, to_markdown
from ._common import Prepared, RunSettings, runner

#: How the summary names the imputations.
IMPUTATION_LABELS = {"mean": "mean fill (Hooker et al. 2019)", "noisy_linear": "noisy linear (ROAD)"}


@dataclass(frozen=True)
class RoarSettings(RunSettings):
    """Settings of ``xai-sanity reproduce roar``.

    The full protocol retrains 14 estimators x 6 thresholds x 5 repeats = 420 LeNets per
    imputation, plus the leak diagnostic's; a 5,000-image training subset and 3 epochs
    (``model_epochs``, for the reference model and every retraining) keep that to CPU-feasible
    time. The ``"cpu"`` preset (one base method, 2,000 images, 2 repeats) runs both
    imputations and the leak diagnostic in about half an hour on two cores.

    Attributes
    ----------
    n_repeats : int
        Retrainings per estimator and threshold.
    thresholds : tuple of float
        Fractions of each image's features removed.
    bases : tuple of str
        Base explanation methods, each also enhanced by SmoothGrad, SmoothGrad² and VarGrad.
    ig_steps : int
        Integration points of Integrated Gradients.
    n_samples : int
        Noisy inputs per enhanced explanation.
    leak_repeats : int
        Trainings per estimator and threshold of the leak diagnostic.
    """

    n_repeats: int
    thresholds: tuple[float, ...]
    bases: tuple[str, ...]
    ig_steps: int
    n_samples: int
    leak_repeats: int = 1

    @classmethod
    def full(cls) -> RoarSettings:
        return cls(
            mode="full", n_train=5000, n_test=1000, model_epochs=3, n_repeats=5,
            thresholds=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9),
            bases=("Gradient", "IntegratedGradients", "GuidedBackprop"), ig_steps=16, n_samples=16,
            leak_repeats=2,
        )  # fmt: skip

    @classmethod
    def cpu(cls) -> RoarSettings:
        """A moderate run: one base method, 2,000 training images, 2 repeats."""
        return cls(
            mode="cpu", n_train=2000, n_test=500, model_epochs=3, n_repeats=2,
            thresholds=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9), bases=("Gradient",), ig_steps=16, n_samples=16,
            leak_repeats=1,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> RoarSettings:
        return cls(
            mode="quick", n_train=300, n_test=100, model_epochs=1, n_repeats=1, thresholds=(0.0, 0.5, 0.9),
            bases=("Gradient",), ig_steps=4, n_samples=2, leak_repeats=1,
        )  # fmt: skip


#: The settings by preset name (``run_roar_study(preset=...)``, ``--preset``).
SETTINGS = {"full": RoarSettings.full(), "cpu": RoarSettings.cpu(), "quick": RoarSettings.quick()}


def build_estimators(settings: RoarSettings, seed: int) -> dict[str, Any]:
    """Each base plain and as SmoothGrad, SmoothGrad² and VarGrad, then the Random and Sobel
    controls; every stochastic one is seeded with ``seed``."""
    bases = {
        "Gradient": Gradient(),
        "IntegratedGradients": IntegratedGradients(steps=settings.ig_steps),
        "GuidedBackprop": GuidedBackprop(),
    }
    n = settings.n_samples
    estimators: dict[str, Any] = {}
    for name in settings.bases:
        base = bases[name]
        estimators[name] = base
        estimators[f"{name} / SmoothGrad"] = SmoothGrad(base=base, n_samples=n, seed=seed)
        estimators[f"{name} / SmoothGrad²"] = SmoothGradSquared(base=base, n_samples=n, seed=seed)
        estimators[f"{name} / VarGrad"] = VarGrad(base=base, n_samples=n, seed=seed)
    estimators.update(control_estimators(seed))
    return estimators


def beats_random(df: pd.DataFrame) -> pd.DataFrame:
    """Mean test accuracy over the thresholds > 0 per estimator, and whether it is below Random's."""
    removed = df[df["threshold"] > 0]
    mean = removed.groupby("estimator", sort=False)["accuracy"].mean()
    random = mean.get("Random")
    out = pd.DataFrame({"mean_accuracy_removed": mean})
    out["beats_random"] = out["mean_accuracy_removed"] < random if random is not None else None
    return out


#: Chunk of the explain calls: the one ``run_roar`` uses, so that the maps, the degraded
#: data and hence the cached cells are the same as those of a plain ``run_roar`` call.
EXPLAIN_BATCH = 64


def verdict_table(mean: pd.DataFrame, verdict: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per estimator (rows) and threshold (columns, as percentages), with a
    last column saying whether the estimator beats Random."""
    table = mean.rename(columns=lambda t: f"{t:.0%}")
    table["beats Random"] = ["yes" if verdict.loc[name, "beats_random"] else "no" for name in table.index]
    table.index.name = "estimator"
    table.columns.name = None
    table.attrs = {}  # no better direction: nothing is bolded
    return table


def accuracy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over repeats per estimator (rows, in run order) and threshold (columns)."""
    return df.pivot_table(index="estimator", columns="threshold", values="accuracy", sort=False)


def comparison_table(retrained: pd.DataFrame, leak: pd.DataFrame) -> pd.DataFrame:
    """Per estimator, for each imputation: the mean accuracy over the thresholds > 0, Random's,
    and whether the estimator is lower (beats Random); then the leak diagnostic's mean
    accuracy over the same thresholds (the removal pattern alone). Columns
    ``"<imputation>: accuracy"``, ``"<imputation>: Random"``, ``"<imputation>: beats Random"``
    and ``"leak: accuracy"``."""
    columns: dict[str, Any] = {}
    for imputation in IMPUTATIONS:
        verdict = beats_random(retrained[retrained["imputation"] == imputation])
        random = verdict["mean_accuracy_removed"].get("Random", float("nan"))
        columns[f"{imputation}: accuracy"] = verdict["mean_accuracy_removed"]
        columns[f"{imputation}: Random"] = pd.Series(random, index=verdict.index)
        columns[f"{imputation}: beats Random"] = verdict["beats_random"].map({True: "yes", False: "no"})
    pattern = leak[leak["threshold"] > 0].groupby("estimator", sort=False)["accuracy"].mean()
    columns["leak: accuracy"] = pattern
    table = pd.DataFrame(columns)
    table.index.name = "estimator"
    return table


def verdict_lines(table: pd.DataFrame, chance: float) -> list[str]:
    """One plain sentence per estimator: beats Random or not under each imputation, with the
    numbers, and what the removal pattern alone gives."""
    lines = []
    for name, row in table.iterrows():
        if name == "Random":
            continue
        parts = []
        for imputation in IMPUTATIONS:
            acc, rnd = row[f"{imputation}: accuracy"], row[f"{imputation}: Random"]
            says = "beats Random" if row[f"{imputation}: beats Random"] == "yes" else "does not beat Random"
            parts.append(f"{says} with the {IMPUTATION_LABELS[imputation]} ({acc:.3f} vs {rnd:.3f})")
        parts.append(f"its removal masks alone give {row['leak: accuracy']:.3f} (chance {chance:.3f})")
        lines.append(f"- {name}: " + "; ".join(parts) + ".")
    return lines


def plot_study(scores: pd.DataFrame, path: str | Path) -> Any:
    """Panels: ROAR retrained under each imputation, the leak diagnostic, and the same
    removals without retraining."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = []
    for retrain in (True, False):
        for imputation in IMPUTATIONS:
            part = scores[(scores["analysis"] == "ROAR") & (scores["retrain"] == retrain)]
            title = f"{'ROAR, retrained' if retrain else 'no retraining'}: {IMPUTATION_LABELS[imputation]}"
            panels.append((part[part["imputation"] == imputation], title))
        if retrain:
            panels.append((scores[scores["analysis"] == "leak"], "leak: trained on the removal masks alone"))
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharey=True)
    for ax, (part, title) in zip(axes.flat, panels):
        plot_roar(part.drop(columns="method"), ax=ax, title=title)
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    axes.flat[-1].axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    axes.flat[-1].legend(handles, labels, loc="center", frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return fig


@runner(RoarSettings, "xai_sanity_roar")
def run_roar_study(prep: Prepared) -> dict[str, Any]:
    """Run ROAR for every estimator under both imputations, and the leak diagnostic; write
    the tables, the figure and a summary to ``out_dir``.

    ``seed`` draws the data and seeds the reference model, the stochastic estimators and
    every retraining. ``preset`` names an entry of :data:`SETTINGS` (``"full"``,
    ``"cpu"``, ``"quick"``) instead of ``quick``; ``ValueError`` (listing them) otherwise.

    Returns
    -------
    dict
        The retrained ``scores`` (ROAR under both imputations and the leak diagnostic:
        columns ``analysis`` ("ROAR" or "leak") and ``imputation`` added), the ``table``
        (mean and std of accuracy per estimator and threshold, mean fill), the ``verdict``
        (beats Random or not, mean fill), the ``comparison`` (per estimator and imputation),
        the written ``files`` and the ``info`` written to ``roar.json``.
    """
    s, seed, device, echo = prep.settings, prep.seed, prep.device, prep.echo
    train, test, out = prep.train, prep.test, prep.out
    echo("training or loading the reference LeNet (its architecture is retrained per cell)")
    model, _ = prep.load_model("lenet")
    estimators = build_estimators(s, seed)
    echo(
        f"ROAR: {len(estimators)} estimators x {len(s.thresholds)} thresholds x {s.n_repeats} repeats, "
        f"imputations {', '.join(IMPUTATIONS)}; leak diagnostic x {s.leak_repeats} repeats"
    )
    data = (model, train.x, train.y, test.x, test.y)
    common = dict(thresholds=s.thresholds, seed=seed, batch_size=EXPLAIN_BATCH)
    training = dict(
        cache_dir=out / "cache", train_kwargs={"epochs": s.model_epochs, "device": device}, **common
    )
    frames = []
    for name, estimator in estimators.items():
        # Explain once; every analysis of this estimator shares the maps.
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            maps = {
                name: (
                    explain_in_batches(estimator, model, train.x, train.y, EXPLAIN_BATCH),
                    explain_in_batches(estimator, model, test.x, test.y, EXPLAIN_BATCH),
                )
            }
        for imputation in IMPUTATIONS:
            for retrain, options in ((True, dict(n_repeats=s.n_repeats, **training)), (False, common)):
                df = run_roar(maps, *data, retrain=retrain, imputation=imputation, **options)
                frames.append(df.assign(analysis="ROAR", imputation=imputation, retrain=retrain))
        leak = leak_diagnostic(maps, *data, n_repeats=s.leak_repeats, **training)
        frames.append(leak.assign(analysis="leak", imputation="none", retrain=True))
        echo(f"  {name}: done ({prep.elapsed():.0f} s)")
    scores = pd.concat(frames, ignore_index=True)
    scores.to_csv(prep.file("scores", "roar_scores.csv"), index=False)
    roar = scores[scores["analysis"] == "ROAR"]
    retrained, leak = roar[roar["retrain"]], scores[scores["analysis"] == "leak"]
    deletion = roar[~roar["retrain"]]

    # Hooker et al.'s protocol (mean fill): the mean/std table and the deletion curve, as before.
    mean_df = retrained[retrained["imputation"] == "mean"]
    table = mean_df.pivot_table(
        index="estimator", columns="threshold", values="accuracy", aggfunc=["mean", "std"], sort=False
    )
    table.to_csv(prep.file("table", "roar.csv"))
    deletion_mean = deletion[deletion["imputation"] == "mean"]
    accuracy_table(deletion_mean).to_csv(prep.file("deletion_table", "roar_no_retraining.csv"))

    sections, verdicts = [], {}
    for imputation in IMPUTATIONS:
        label = IMPUTATION_LABELS[imputation]
        for retrain, part in ((True, retrained), (False, deletion)):
            part = part[part["imputation"] == imputation]
            verdict = beats_random(part)
            verdicts[(imputation, retrain)] = verdict
            stem = f"roar_{'retrained' if retrain else 'no_retraining'}_{imputation}"
            shown = verdict_table(accuracy_table(part), verdict)
            for key, path in save_table(shown, out, stem).items():
                prep.files[f"{stem}_{key}"] = path
            heading = (
                f"ROAR, retrained, {label} (mean test accuracy over repeats):"
                if retrain
                else f"Without retraining, {label} (the original model on the degraded test images):"
            )
            sections += [heading + "\n", to_markdown(shown)]
    leak_table = accuracy_table(leak).rename(columns=lambda t: f"{t:.0%}")
    leak_table.attrs = {}
    for key, path in save_table(leak_table, out, "roar_leak").items():
        prep.files[f"roar_leak_{key}"] = path
    sections += [
        "Leak diagnostic: the same LeNet trained on the removal masks alone (no pixel values); "
        "accuracy above chance is what the removal pattern by itself tells about the class:\n",
        to_markdown(leak_table),
    ]
    comparison = comparison_table(retrained, leak)
    for key, path in save_table(comparison, out, "roar_comparison").items():
        prep.files[f"roar_comparison_{key}"] = path
    chance = 1.0 / max(int(pd.Series(train.y).nunique()), 1)
    lines = verdict_lines(comparison, chance)
    sections += [
        "Does an estimator beat Random? Mean accuracy over the thresholds > 0 per imputation, Random's, "
        "and whether it is lower; `leak`: the mean accuracy from the removal masks alone.\n",
        to_markdown(comparison),
        *lines,
        "",
    ]
    text = "\n".join(sections)
    prep.file("markdown", "roar.md").write_text(text, encoding="utf-8")
    plot_study(scores, prep.file("figure", "roar.png"))

    def winners(verdict: pd.DataFrame) -> list[str]:
        return [n for n in verdict.index if n != "Random" and verdict.loc[n, "beats_random"]]

    info = prep.info(
        beats_random=winners(verdicts[("mean", True)]),
        beats_random_without_retraining=winners(verdicts[("mean", False)]),
        beats_random_noisy_linear=winners(verdicts[("noisy_linear", True)]),
        beats_random_noisy_linear_without_retraining=winners(verdicts[("noisy_linear", False)]),
        leak_accuracy=comparison["leak: accuracy"].round(4).to_dict(),
        chance=chance,
    )
    prep.write_summary(info, "roar.json")
    echo(text.rstrip("\n"))
    for imputation in IMPUTATIONS:
        found = winners(verdicts[(imputation, True)])
        echo(
            f"Retrained, {IMPUTATION_LABELS[imputation]}: {', '.join(found) or 'no estimator'} "
            "hurt accuracy more than Random"
        )
    echo("(Hooker et al. 2019 found only SmoothGrad² and VarGrad did on their data, with the mean fill.)")
    prep.echo_done(info["total_s"])
    return {
        "scores": scores[scores["retrain"]].reset_index(drop=True),
        "table": table,
        "verdict": verdicts[("mean", True)],
        "comparison": comparison,
        "files": prep.files,
        "info": info,
    }
