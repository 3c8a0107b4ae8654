"""The ROAR/KAR figure: test accuracy against the fraction of features removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["plot_roar"]


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
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
