"""``xai-sanity reproduce sanity-checks``: Adebayo et al. (2018) on the built-in default.

For LeNet and the small VGG trained on the semi-natural dataset: cascading (top-down) and
independent parameter randomisation, and data randomisation (a model trained on permuted
labels), for eleven explanation methods, scored with Spearman rank correlation (signed and
of absolute values), SSIM and HOG similarity. Each randomisation step is explained once; all
similarities are computed from the stored maps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

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
from ..metrics.randomisation import DataRandomisation, ModelParameterRandomisation
from ..registry import SIMILARITIES
from ..report import plot_randomisation_curves, plot_randomisation_grid

SIMILARITY_NAMES = {"spearman_abs": "Spearman (abs)", "spearman": "Spearman", "ssim": "SSIM", "hog": "HOG"}
#: A method passes when its mean Spearman (abs) similarity under full cascading
#: randomisation is below this value (the paper reads "near zero" off its figures).
PASS_THRESHOLD = 0.3
#: The random-label model must fit its permuted training labels at least this well for the
#: data randomisation rows to mean anything (the summary says when it did not).
MIN_MEMORISED = 0.9
PAPER_PASS = {"Gradient": True, "GradCAM": True, "GuidedBackprop": False, "GuidedGradCAM": False}

SETTINGS = {
    "full": dict(
        archs=("lenet", "vgg"), n_train=20000, n_test=2000, n_explain=32, model_kwargs={},
        ig_steps=32, sg_samples=32, ng=(10, 10), random_label_n=1000, random_label_epochs=60,
        random_label_kwargs={"batch_size": 32, "lr": 1e-3},
    ),
    "quick": dict(
        archs=("lenet",), n_train=3000, n_test=300, n_explain=6, model_kwargs={"epochs": 3},
        ig_steps=4, sg_samples=3, ng=(2, 2), random_label_n=128, random_label_epochs=40,
        random_label_kwargs={"batch_size": 32, "lr": 1e-3},
    ),
}  # fmt: skip


def build_methods(cfg: dict[str, Any], seed: int) -> dict[str, Any]:
    n_models, n_samples = cfg["ng"]
    return {
        "Gradient": Gradient(),
        "Saliency": Saliency(),
        "GradientXInput": GradientXInput(),
        "IntegratedGradients": IntegratedGradients(steps=cfg["ig_steps"]),
        "GuidedBackprop": GuidedBackprop(),
        "GradCAM": GradCAM(),
        "GuidedGradCAM": GuidedGradCAM(),
        "SmoothGrad": SmoothGrad(n_samples=cfg["sg_samples"], seed=seed),
        "VarGrad": VarGrad(n_samples=cfg["sg_samples"], seed=seed),
        "NoiseGrad": NoiseGrad(n_models=n_models, seed=seed),
        "NoiseGrad++": NoiseGradPlusPlus(n_models=n_models, n_samples=n_samples, seed=seed),
    }


def _similarity_rows(arch, method, test, reference, maps_by_step) -> list[dict[str, Any]]:
    rows = []
    for step, maps in maps_by_step.items():
        for sim_name in SIMILARITY_NAMES:
            scores = np.asarray(SIMILARITIES[sim_name](reference, maps), dtype=np.float64)
            for i, score in enumerate(scores):
                rows.append(
                    dict(
                        arch=arch,
                        test=test,
                        method=method,
                        step=step,
                        similarity=sim_name,
                        sample=i,
                        score=score,
                    )
                )
    return rows


def run_sanity_checks(
    out_dir: str | Path = "xai_sanity_sanity_checks",
    *,
    device: str | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    echo: Any = print,
) -> dict[str, Any]:
    """Run the three randomisation tests and write tables, figures and a summary to ``out_dir``.

    Returns a dict with the tidy ``scores`` DataFrame, the ``summary`` table (per arch,
    method, test: mean similarity at the last step), ``verdicts`` and the written ``files``.
    """
    import warnings

    from ..data import load_default_splits
    from ..training import load_default_model

    mode = "quick" if quick else "full"
    cfg = SETTINGS[mode]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, test = load_default_splits(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=seed)
    x, y = test.x[: cfg["n_explain"]], test.y[: cfg["n_explain"]]
    methods = build_methods(cfg, seed)
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {"mode": mode, "seed": seed, "archs": {}}
    files: dict[str, Path] = {}
    for arch in cfg["archs"]:
        echo(f"[{arch}] training or loading the model")
        model, model_info = load_default_model(
            arch, seed=seed, n_train=cfg["n_train"], n_test=cfg["n_test"], device=device, progress=progress,
            **cfg["model_kwargs"],
        )  # fmt: skip
        echo(f"[{arch}] training a model on permuted labels ({cfg['random_label_n']} images)")
        data_test = DataRandomisation(
            epochs=cfg["random_label_epochs"], seed=seed, min_train_accuracy=MIN_MEMORISED,
            train_kwargs={**cfg["random_label_kwargs"], "device": device},
        )  # fmt: skip
        n_rand = cfg["random_label_n"]
        random_model = data_test.random_label_model(model, train.x[:n_rand], train.y[:n_rand])
        info["archs"][arch] = {
            "test_accuracy": model_info.get("test_accuracy"),
            "random_label_train_accuracy": data_test.random_model_train_accuracy_,
        }
        cascading: dict[str, dict[str, list[float]]] = {}
        grid: dict[str, dict[str, np.ndarray]] = {}
        for method_name, method in tqdm(methods.items(), desc=f"{arch} methods", disable=not progress):
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
                random_maps = data_test._explain(
                    random_model, x, y, method, {"device": device} if device else {}, 64
                )
                rows += _similarity_rows(arch, method_name, "data", reference, {"random labels": random_maps})
        files[f"{arch}_cascading"] = out / f"{arch}_cascading.png"
        plot_randomisation_curves(
            cascading, files[f"{arch}_cascading"], title=f"{arch}: cascading randomisation (Spearman of |a|)"
        )
        files[f"{arch}_grid"] = out / f"{arch}_grid.png"
        plot_randomisation_grid(x, grid, sample=0, path=files[f"{arch}_grid"])

    scores = pd.DataFrame(rows)
    files["scores"] = out / "sanity_checks_scores.csv"
    scores.to_csv(files["scores"], index=False)
    summary, verdicts = summarise_sanity_checks(scores)
    files["summary_csv"] = out / "sanity_checks.csv"
    summary.to_csv(files["summary_csv"])
    files["summary_md"] = out / "sanity_checks.md"
    files["summary_md"].write_text(_markdown(summary), encoding="utf-8")
    files["summary_tex"] = out / "sanity_checks.tex"
    files["summary_tex"].write_text(_latex(summary), encoding="utf-8")
    info["verdicts"] = verdicts
    info["total_s"] = round(time.perf_counter() - start, 1)
    files["info"] = out / "sanity_checks.json"
    files["info"].write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    echo(_markdown(summary))
    echo(verdict_text(verdicts))
    echo(memorisation_text(info["archs"]))
    echo(f"written to {out.resolve()} in {info['total_s']} s")
    return {"scores": scores, "summary": summary, "verdicts": verdicts, "files": files, "info": info}


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


def _flat_columns(table: pd.DataFrame) -> list[str]:
    return [f"{test} / {SIMILARITY_NAMES.get(sim, sim)}" for test, sim in table.columns]


def _markdown(table: pd.DataFrame) -> str:
    header = ["arch", "method", *_flat_columns(table)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (arch, method), row in table.iterrows():
        lines.append("| " + " | ".join([arch, method, *(f"{v:.3f}" for v in row.to_numpy())]) + " |")
    return "\n".join(lines) + "\n"


def _latex(table: pd.DataFrame) -> str:
    cols = "ll" + "c" * len(table.columns)
    header = " & ".join(["Arch", "Method", *(c.replace("_", r"\_") for c in _flat_columns(table))]) + r" \\"
    body = [
        " & ".join([arch, method.replace("++", "{+}{+}"), *(f"{v:.3f}" for v in row.to_numpy())]) + r" \\"
        for (arch, method), row in table.iterrows()
    ]
    return (
        "\n".join(
            [
                rf"\begin{{tabular}}{{{cols}}}",
                r"\toprule",
                header,
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
            ]
        )
        + "\n"
    )
