"""``xai-sanity reproduce roar``: Hooker et al. (2019) on the built-in default.

Gradient, Integrated Gradients and Guided Backprop, each as base / SmoothGrad / SmoothGrad² /
VarGrad, plus the Random and Sobel controls: remove the top fraction of each image's
features (thresholds 0–90%), retrain LeNet from scratch several times, record test accuracy.
An estimator beats Random when removing what it ranks highest hurts accuracy more. The
paper's finding: only SmoothGrad² and VarGrad do (on ImageNet-scale data). Every finished
cell is cached under ``<out>/cache``, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._safety import model_guard
from ..enhancers import SmoothGrad, SmoothGradSquared, VarGrad
from ..explainers import Gradient, GuidedBackprop, IntegratedGradients
from ..metrics.roar import control_estimators, explain_in_batches, plot_roar, run_roar
from ..report import to_markdown
from ._common import RunSettings, prepare


@dataclass(frozen=True)
class RoarSettings(RunSettings):
    """Settings of ``xai-sanity reproduce roar``.

    The full protocol retrains 14 estimators x 6 thresholds x 5 repeats = 420 LeNets; a
    5,000-image training subset and 3 epochs (``model_epochs``, for the reference model and
    every retraining) keep that to CPU-feasible time.

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
    """

    n_repeats: int
    thresholds: tuple[float, ...]
    bases: tuple[str, ...]
    ig_steps: int
    n_samples: int

    @classmethod
    def full(cls) -> RoarSettings:
        return cls(
            mode="full", n_train=5000, n_test=1000, model_epochs=3, n_repeats=5,
            thresholds=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9),
            bases=("Gradient", "IntegratedGradients", "GuidedBackprop"), ig_steps=16, n_samples=16,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> RoarSettings:
        return cls(
            mode="quick", n_train=300, n_test=100, model_epochs=1, n_repeats=1, thresholds=(0.0, 0.5, 0.9),
            bases=("Gradient",), ig_steps=4, n_samples=2,
        )  # fmt: skip


#: The settings by mode name.
SETTINGS = {"full": RoarSettings.full(), "quick": RoarSettings.quick()}


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


def plot_study(retrained: pd.DataFrame, deletion: pd.DataFrame, path: str | Path) -> Any:
    """Two panels: ROAR with retraining, and the same removal without retraining."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    plot_roar(retrained, ax=axes[0], title="ROAR: retrained LeNet")
    plot_roar(deletion, ax=axes[1], title="same removal, no retraining")
    for ax in axes:
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", frameon=False, fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return fig


def run_roar_study(
    out_dir: str | Path = "xai_sanity_roar",
    *,
    device: str | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    echo: Any = print,
) -> dict[str, Any]:
    """Run ROAR for every estimator; write the tables, the figure and a summary to ``out_dir``.

    ``seed`` draws the data and seeds the reference model, the stochastic estimators and
    every retraining.

    Returns
    -------
    dict
        The retrained ``scores``, the ``table`` (mean and std of accuracy per estimator and
        threshold), the ``verdict`` (beats Random or not), the written ``files`` and the
        ``info`` written to ``roar.json``.
    """
    s = RoarSettings.for_mode(quick)
    prep = prepare(out_dir, s, device=device, seed=seed, progress=progress, echo=echo)
    train, test, out = prep.train, prep.test, prep.out
    echo("training or loading the reference LeNet (its architecture is retrained per cell)")
    model, _ = prep.load_model("lenet")
    estimators = build_estimators(s, seed)
    echo(f"ROAR: {len(estimators)} estimators x {len(s.thresholds)} thresholds x {s.n_repeats} repeats")
    frames, deletion_frames = [], []
    for name, estimator in estimators.items():
        # Explain once; the retraining cells and the no-retraining deletion curve share the maps.
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            maps = (
                explain_in_batches(estimator, model, train.x, train.y, EXPLAIN_BATCH),
                explain_in_batches(estimator, model, test.x, test.y, EXPLAIN_BATCH),
            )
        common = dict(thresholds=s.thresholds, seed=seed, batch_size=EXPLAIN_BATCH)
        frames.append(
            run_roar(
                {name: maps}, model, train.x, train.y, test.x, test.y, method="ROAR",
                n_repeats=s.n_repeats, cache_dir=out / "cache",
                train_kwargs={"epochs": s.model_epochs, "device": device}, **common,
            )
        )  # fmt: skip
        deletion_frames.append(
            run_roar({name: maps}, model, train.x, train.y, test.x, test.y, retrain=False, **common)
        )
        echo(f"  {name}: done ({prep.elapsed():.0f} s)")
    df = pd.concat(frames, ignore_index=True).assign(retrain=True)
    deletion = pd.concat(deletion_frames, ignore_index=True).assign(retrain=False)
    pd.concat([df, deletion], ignore_index=True).to_csv(prep.file("scores", "roar_scores.csv"), index=False)
    table = df.pivot_table(
        index="estimator", columns="threshold", values="accuracy", aggfunc=["mean", "std"], sort=False
    )
    table.to_csv(prep.file("table", "roar.csv"))
    deletion_table = deletion.pivot_table(
        index="estimator", columns="threshold", values="accuracy", sort=False
    )
    deletion_table.to_csv(prep.file("deletion_table", "roar_no_retraining.csv"))
    verdict = beats_random(df)
    deletion_verdict = beats_random(deletion)
    text = "\n".join(
        [
            "ROAR (retrained; mean test accuracy over repeats):\n",
            to_markdown(verdict_table(table["mean"], verdict)),
            "Without retraining (the original model on the degraded test images):\n",
            to_markdown(verdict_table(deletion_table, deletion_verdict)),
        ]
    )
    prep.file("markdown", "roar.md").write_text(text, encoding="utf-8")
    plot_study(df, deletion, prep.file("figure", "roar.png"))
    winners = [n for n in verdict.index if n != "Random" and verdict.loc[n, "beats_random"]]
    deletion_winners = [
        n for n in deletion_verdict.index if n != "Random" and deletion_verdict.loc[n, "beats_random"]
    ]
    info = prep.info(beats_random=winners, beats_random_without_retraining=deletion_winners)
    prep.write_summary(info, "roar.json")
    echo(text.rstrip("\n"))
    echo(f"Estimators whose removal hurts accuracy more than Random's: {', '.join(winners) or 'none'}")
    echo(
        "Without retraining (a deletion curve on the original model): "
        f"{', '.join(deletion_winners) or 'none'} beat Random"
    )
    echo("(Hooker et al. 2019 found only SmoothGrad² and VarGrad did on their data.)")
    prep.echo_done(info["total_s"])
    return {"scores": df, "table": table, "verdict": verdict, "files": prep.files, "info": info}
