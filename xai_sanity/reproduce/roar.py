"""``xai-sanity reproduce roar``: Hooker et al. (2019) on the built-in default.

Gradient, Integrated Gradients and Guided Backprop, each as base / SmoothGrad / SmoothGrad² /
VarGrad, plus the Random and Sobel controls: remove the top fraction of each image's
features (thresholds 0–90%), retrain LeNet from scratch several times, record test accuracy.
An estimator beats Random when removing what it ranks highest hurts accuracy more. The
paper's finding: only SmoothGrad² and VarGrad do (on ImageNet-scale data). Every finished
cell is cached under ``<out>/cache``, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .._safety import model_guard
from ..enhancers import SmoothGrad, SmoothGradSquared, VarGrad
from ..explainers import Gradient, GuidedBackprop, IntegratedGradients
from ..metrics.roar import control_estimators, explain_in_batches, plot_roar, run_roar

SETTINGS = {
    # The full protocol retrains 14 estimators x 6 thresholds x 5 repeats = 420 LeNets; a
    # 5,000-image training subset and 3 epochs keep that to CPU-feasible time.
    "full": dict(
        n_train=5000, n_test=1000, epochs=3, n_repeats=5, thresholds=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9),
        bases=("Gradient", "IntegratedGradients", "GuidedBackprop"), ig_steps=16, n_samples=16,
    ),
    "quick": dict(
        n_train=300, n_test=100, epochs=1, n_repeats=1, thresholds=(0.0, 0.5, 0.9),
        bases=("Gradient",), ig_steps=4, n_samples=2,
    ),
}  # fmt: skip


def build_estimators(cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    bases = {
        "Gradient": Gradient(),
        "IntegratedGradients": IntegratedGradients(steps=cfg["ig_steps"]),
        "GuidedBackprop": GuidedBackprop(),
    }
    estimators: dict[str, Any] = {}
    for name in cfg["bases"]:
        base = bases[name]
        estimators[name] = base
        estimators[f"{name} / SmoothGrad"] = SmoothGrad(base=base, n_samples=cfg["n_samples"], seed=seed)
        estimators[f"{name} / SmoothGrad²"] = SmoothGradSquared(
            base=base, n_samples=cfg["n_samples"], seed=seed
        )
        estimators[f"{name} / VarGrad"] = VarGrad(base=base, n_samples=cfg["n_samples"], seed=seed)
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


def _markdown_table(mean: pd.DataFrame, verdict: pd.DataFrame) -> list[str]:
    lines = ["| estimator | " + " | ".join(f"{t:.0%}" for t in mean.columns) + " | beats Random |"]
    lines.append("|" + "---|" * (len(mean.columns) + 2))
    for name, row in mean.iterrows():
        beats = "yes" if verdict.loc[name, "beats_random"] else "no"
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {beats} |")
    return lines


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
    """Run ROAR for every estimator; write the table, the figure and a summary to ``out_dir``."""
    from ..data import load_default_splits
    from ..training import load_default_model

    mode = "quick" if quick else "full"
    cfg = SETTINGS[mode]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, test = load_default_splits(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=seed)
    echo("training or loading the reference LeNet (its architecture is retrained per cell)")
    model, _ = load_default_model(
        "lenet", seed=seed, n_train=cfg["n_train"], n_test=cfg["n_test"], epochs=cfg["epochs"], device=device,
        progress=progress,
    )  # fmt: skip
    estimators = build_estimators(cfg, seed)
    echo(
        f"ROAR: {len(estimators)} estimators x {len(cfg['thresholds'])} thresholds x {cfg['n_repeats']} repeats"
    )
    frames, deletion_frames = [], []
    for name, estimator in estimators.items():
        # Explain once; the retraining cells and the no-retraining deletion curve share the maps.
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            maps = (
                explain_in_batches(estimator, model, train.x, train.y, EXPLAIN_BATCH),
                explain_in_batches(estimator, model, test.x, test.y, EXPLAIN_BATCH),
            )
        common = dict(thresholds=cfg["thresholds"], seed=seed, batch_size=EXPLAIN_BATCH)
        frames.append(
            run_roar(
                {name: maps}, model, train.x, train.y, test.x, test.y, method="ROAR",
                n_repeats=cfg["n_repeats"], cache_dir=out / "cache",
                train_kwargs={"epochs": cfg["epochs"], "device": device}, **common,
            )
        )  # fmt: skip
        deletion_frames.append(
            run_roar({name: maps}, model, train.x, train.y, test.x, test.y, retrain=False, **common)
        )
        echo(f"  {name}: done ({time.perf_counter() - start:.0f} s)")
    df = pd.concat(frames, ignore_index=True).assign(retrain=True)
    deletion = pd.concat(deletion_frames, ignore_index=True).assign(retrain=False)
    files = {"scores": out / "roar_scores.csv", "table": out / "roar.csv", "markdown": out / "roar.md"}
    pd.concat([df, deletion], ignore_index=True).to_csv(files["scores"], index=False)
    table = df.pivot_table(
        index="estimator", columns="threshold", values="accuracy", aggfunc=["mean", "std"], sort=False
    )
    table.to_csv(files["table"])
    files["deletion_table"] = out / "roar_no_retraining.csv"
    deletion_table = deletion.pivot_table(
        index="estimator", columns="threshold", values="accuracy", sort=False
    )
    deletion_table.to_csv(files["deletion_table"])
    verdict = beats_random(df)
    deletion_verdict = beats_random(deletion)
    lines = ["ROAR (retrained; mean test accuracy over repeats):", ""]
    lines += _markdown_table(table["mean"], verdict)
    lines += ["", "Without retraining (the original model on the degraded test images):", ""]
    lines += _markdown_table(deletion_table, deletion_verdict)
    files["markdown"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    files["figure"] = out / "roar.png"
    plot_study(df, deletion, files["figure"])
    winners = [n for n in verdict.index if n != "Random" and verdict.loc[n, "beats_random"]]
    deletion_winners = [
        n for n in deletion_verdict.index if n != "Random" and deletion_verdict.loc[n, "beats_random"]
    ]
    info = {
        "mode": mode,
        "seed": seed,
        "beats_random": winners,
        "beats_random_without_retraining": deletion_winners,
        "total_s": round(time.perf_counter() - start, 1),
    }
    files["info"] = out / "roar.json"
    files["info"].write_text(json.dumps(info, indent=2), encoding="utf-8")
    echo("\n".join(lines))
    echo(f"Estimators whose removal hurts accuracy more than Random's: {', '.join(winners) or 'none'}")
    echo(
        "Without retraining (a deletion curve on the original model): "
        f"{', '.join(deletion_winners) or 'none'} beat Random"
    )
    echo("(Hooker et al. 2019 found only SmoothGrad² and VarGrad did on their data.)")
    echo(f"written to {out.resolve()} in {info['total_s']} s")
    return {"scores": df, "table": table, "verdict": verdict, "files": files, "info": info}
