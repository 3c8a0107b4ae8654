"""Figures for reports (matplotlib, drawn off-screen): explanations, noise curves and
randomisation results."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _as_image(x: np.ndarray) -> np.ndarray:
    img = np.moveaxis(np.asarray(x, dtype=np.float32), 0, -1)
    if img.shape[-1] == 1:
        img = img[..., 0]
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def _pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use, drawing off-screen (Agg) unless a backend
    was already chosen."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: str | Path | None, close: bool = True) -> Any:
    """Lay ``fig`` out and return it; saved to ``path`` if given, and then closed if ``close``
    (a figure drawn on the caller's axes stays open)."""
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return fig


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
    plt = _pyplot()
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
    return _finish(fig, path)


def plot_noise_curves(results: Mapping[str, Any], path: str | Path | None = None) -> Any:
    """Accuracy drop ``AD(σ)`` against ``σ`` for one or more :class:`NoiseLevelResult`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for label, result in results.items():
        result.plot(ax=ax, label=f"{label} (σ={result.std:.3f})")
    ax.legend(fontsize=7)
    ax.set_title("NoiseGrad accuracy-drop heuristic", fontsize=8)
    return _finish(fig, path)


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
    plt = _pyplot()
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
    return _finish(fig, path)


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
    plt = _pyplot()
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
    return _finish(fig, path)


def plot_roar(
    df: pd.DataFrame, path: str | Path | None = None, ax: Any = None, title: str | None = None
) -> Any:
    """Test accuracy against the fraction removed: one curve per estimator, ±1 std band.

    Parameters
    ----------
    df : pandas.DataFrame
        :func:`run_roar`'s output (or ``ROAR.results_``; several concatenated).
    path : str or path, optional
        Save the figure there.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    else:
        fig = ax.figure
    group_cols = ["estimator", "method"] if "method" in df and df["method"].nunique() > 1 else ["estimator"]
    groups = list(df.groupby(group_cols, sort=False))
    # Distinct colours beyond matplotlib's ten; the controls drawn dashed in black and grey.
    palette = plt.get_cmap("tab20" if len(groups) > 10 else "tab10").colors
    controls = {"Random": "black", "Sobel": "grey", "SobelEdges": "grey"}
    for i, (key, part) in enumerate(groups):
        label = " ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        name = key[0] if isinstance(key, tuple) else key
        style = (
            {"color": controls[name], "linestyle": "--"}
            if name in controls
            else {"color": palette[i % len(palette)]}
        )
        stats = part.groupby("threshold")["accuracy"].agg(["mean", "std"]).fillna(0.0)
        t = stats.index.to_numpy() * 100
        (line,) = ax.plot(t, stats["mean"], marker="o", label=label, **style)
        ax.fill_between(
            t, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color=line.get_color(), alpha=0.2
        )
    ax.set_xlabel("% of input features removed")
    ax.set_ylabel("test accuracy")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    return _finish(fig, path, close=False)
