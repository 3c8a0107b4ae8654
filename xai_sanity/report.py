"""Tables (DataFrame, Markdown, LaTeX, CSV) and figures (matplotlib) for reports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ARROWS = {"higher": "↑", "lower": "↓", None: ""}
LATEX_ARROWS = {"higher": r"$\uparrow$", "lower": r"$\downarrow$", None: ""}


def summarise(scores: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Methods × metrics table of ``mean ± std`` from :func:`xai_sanity.evaluate`'s output.

    The result keeps numeric ``mean``/``std``/``n`` tables in ``attrs`` (for bolding the best,
    plotting) and each metric's better direction in ``attrs["direction"]``. Failed cells show
    ``"error"``; NaN scores are left out of the mean (their count is in ``attrs["n_nan"]``).
    """
    ok = scores[scores["error"].isna()]
    grouped = ok.groupby(["method", "metric"], sort=False)["score"]
    mean = grouped.mean().unstack("metric")
    std = grouped.std(ddof=0).unstack("metric")
    count = grouped.count().unstack("metric")
    n_nan = grouped.apply(lambda s: int(s.isna().sum())).unstack("metric")
    methods = list(dict.fromkeys(scores["method"]))
    metrics = list(dict.fromkeys(scores["metric"]))
    mean, std, count, n_nan = (t.reindex(index=methods, columns=metrics) for t in (mean, std, count, n_nan))
    failed = scores[scores["error"].notna()].groupby(["method", "metric"]).size()
    table = pd.DataFrame(index=methods, columns=metrics, dtype=object)
    for method in methods:
        for metric in metrics:
            if (method, metric) in failed.index:
                table.loc[method, metric] = "error"
            elif pd.isna(mean.loc[method, metric]):
                table.loc[method, metric] = "nan"
            else:
                table.loc[method, metric] = (
                    f"{mean.loc[method, metric]:.{digits}f} ± {std.loc[method, metric]:.{digits}f}"
                )
    directions = scores.attrs.get("direction", {})
    table.attrs.update(
        mean=mean,
        std=std,
        n=count,
        n_nan=n_nan,
        direction={m: directions.get(m.split("[", 1)[0]) for m in metrics},
    )
    table.index.name = "method"
    return table


def _best(table: pd.DataFrame) -> dict[str, set[str]]:
    mean, direction = table.attrs.get("mean"), table.attrs.get("direction", {})
    best: dict[str, set[str]] = {}
    if mean is None:
        return best
    for metric in table.columns:
        column = pd.to_numeric(mean[metric], errors="coerce")
        if direction.get(metric) is None or column.isna().all():
            continue
        target = column.max() if direction[metric] == "higher" else column.min()
        best[metric] = set(column.index[np.isclose(column, target, rtol=0, atol=1e-12)])
    return best


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table; ↑/↓ marks the better direction, the best cell is bold."""
    best, direction = _best(table), table.attrs.get("direction", {})
    header = ["method"] + [f"{m} {ARROWS[direction.get(m)]}".strip() for m in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in table.iterrows():
        cells = [f"**{row[m]}**" if method in best.get(m, ()) else str(row[m]) for m in table.columns]
        lines.append("| " + " | ".join([str(method), *cells]) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(char, repl)
    return text.replace("±", r"$\pm$").replace("++", "{+}{+}")


def to_latex(table: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    """A booktabs LaTeX table; arrows mark the better direction, the best cell is bold."""
    best, direction = _best(table), table.attrs.get("direction", {})
    cols = "l" + "c" * len(table.columns)
    header = ["Method"] + [
        f"{_latex_escape(m)} {LATEX_ARROWS[direction.get(m)]}".strip() for m in table.columns
    ]
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    lines.append(" & ".join(header) + r" \\")
    lines.append(r"\midrule")
    for method, row in table.iterrows():
        cells = []
        for m in table.columns:
            cell = _latex_escape(str(row[m]))
            cells.append(rf"\textbf{{{cell}}}" if method in best.get(m, ()) else cell)
        lines.append(" & ".join([_latex_escape(str(method)), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_tables(
    scores: pd.DataFrame, out_dir: str | Path, stem: str = "results", caption: str | None = None
) -> dict[str, Path]:
    """Write the tidy scores (CSV) and the summary (CSV, Markdown, LaTeX) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(scores)
    paths = {
        "scores_csv": out / f"{stem}_scores.csv",
        "csv": out / f"{stem}.csv",
        "markdown": out / f"{stem}.md",
        "latex": out / f"{stem}.tex",
    }
    scores.to_csv(paths["scores_csv"], index=False)
    numeric = pd.concat(
        {"mean": table.attrs["mean"], "std": table.attrs["std"], "n": table.attrs["n"]}, axis=1
    )
    numeric.index.name = "method"
    numeric.to_csv(paths["csv"])
    paths["markdown"].write_text(to_markdown(table), encoding="utf-8")
    paths["latex"].write_text(to_latex(table, caption=caption), encoding="utf-8")
    return paths


# ------------------------------------------------------------------------ figures -------------
def _as_image(x: np.ndarray) -> np.ndarray:
    img = np.moveaxis(np.asarray(x, dtype=np.float32), 0, -1)
    if img.shape[-1] == 1:
        img = img[..., 0]
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def plot_explanations(
    x: np.ndarray,
    attributions: Mapping[str, np.ndarray],
    masks: np.ndarray | None = None,
    n: int = 6,
    path: str | Path | None = None,
    titles: list[str] | None = None,
) -> Any:
    """A grid: one row per sample, the input then each method's map over it.

    Maps are shown as heatmaps (symmetric colour range for signed maps) blended over the
    grey input, with the ground-truth mask outlined.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = min(n, len(x))
    names = list(attributions)
    fig, axes = plt.subplots(n, len(names) + 1, figsize=(1.6 * (len(names) + 1), 1.6 * n), squeeze=False)
    for i in range(n):
        image = _as_image(x[i])
        grey = image.mean(-1) if image.ndim == 3 else image
        axes[i, 0].imshow(image, cmap=None if image.ndim == 3 else "gray")
        if titles:
            axes[i, 0].set_ylabel(titles[i], fontsize=7)
        for j, name in enumerate(names, start=1):
            amap = np.asarray(attributions[name][i], dtype=np.float32).sum(0)
            signed = amap.min() < 0
            vmax = float(np.abs(amap).max()) or 1.0
            axes[i, j].imshow(grey, cmap="gray", alpha=0.5)
            axes[i, j].imshow(
                amap, cmap="bwr" if signed else "hot", vmin=-vmax if signed else 0, vmax=vmax, alpha=0.75
            )
        for ax in axes[i]:
            if masks is not None and masks[i].any():
                ax.contour(
                    np.asarray(masks[i]).reshape(masks.shape[-2:]),
                    levels=[0.5],
                    colors="cyan",
                    linewidths=0.6,
                )
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=7)
    for j, name in enumerate(names, start=1):
        axes[0, j].set_title(name, fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig


def plot_noise_curves(results: Mapping[str, Any], path: str | Path | None = None) -> Any:
    """Accuracy drop ``AD(σ)`` against ``σ`` for one or more :class:`NoiseLevelResult`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for label, result in results.items():
        result.plot(ax=ax, label=f"{label} (σ={result.std:.3f})")
    ax.legend(fontsize=7)
    ax.set_title("NoiseGrad accuracy-drop heuristic", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig


def plot_randomisation_curves(
    results: Mapping[str, Mapping[str, Any]],
    path: str | Path | None = None,
    title: str = "Cascading parameter randomisation",
    ylabel: str = "similarity to original explanation",
) -> Any:
    """Similarity against randomisation step, one curve per method with a ±std band.

    ``results`` maps a method name to the dict returned by
    :class:`xai_sanity.metrics.ModelParameterRandomisation` (``{"original": [...], layer: [...]}``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps: list[str] = []
    for method, scores in results.items():
        steps = list(scores)
        values = [np.asarray(scores[k], dtype=np.float64) for k in steps]
        mean = np.array([np.nanmean(v) for v in values])
        std = np.array([np.nanstd(v) for v in values])
        positions = np.arange(len(steps))
        ax.plot(positions, mean, marker="o", ms=3, label=method)
        ax.fill_between(positions, mean - std, mean + std, alpha=0.15)
    ax.set_xticks(np.arange(len(steps)))
    ax.set_xticklabels(steps, rotation=45, ha="right", fontsize=7)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig


def plot_randomisation_grid(
    x: np.ndarray,
    explanations: Mapping[str, Mapping[str, np.ndarray]],
    sample: int = 0,
    path: str | Path | None = None,
) -> Any:
    """One row per method, one column per randomisation step, for one input (as in the paper).

    ``explanations`` maps a method name to ``{step: maps}`` (e.g. the metric's
    ``explanations_``); each map is shown with its own colour scale.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    methods = list(explanations)
    steps = list(next(iter(explanations.values())))
    fig, axes = plt.subplots(
        len(methods), len(steps) + 1, figsize=(1.3 * (len(steps) + 1), 1.3 * len(methods)), squeeze=False
    )
    for r, method in enumerate(methods):
        axes[r, 0].imshow(_as_image(x[sample]))
        axes[r, 0].set_ylabel(method, fontsize=6)
        for c, step in enumerate(steps, start=1):
            amap = np.abs(np.asarray(explanations[method][step][sample], dtype=np.float32).sum(0))
            axes[r, c].imshow(amap, cmap="gray", vmin=0, vmax=float(amap.max()) or 1.0)
            if r == 0:
                axes[r, c].set_title(step, fontsize=6)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("input", fontsize=6)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig
