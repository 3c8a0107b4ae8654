"""Column headers that say what a score measures: ``describe_metric``.

A metric object (ours or Quantus's; both use the attribute names ``similarity_func``,
``complexity_func``, ``abs``, ``normalise`` and ``score_direction``) is turned into a short
header such as ``"MPRT, Spearman |a| ↓"``: the metric's name, the similarity (or complexity)
function its score is built from, ``|a|`` when attributions are compared as absolute values,
and an arrow for the better direction. Anything unknown falls back to the name and arrow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ARROW_TEXT", "describe_metric", "function_name", "split_arrow"]

#: Text arrow per better direction.
ARROW_TEXT = {"higher": "↑", "lower": "↓"}

#: Short names of metric classes whose class name is long or spelled two ways.
_SHORT_NAMES = {
    "ModelParameterRandomisation": "MPRT",
    "ModelParameterRandomization": "MPRT",
    "ModelParameterRandomisationTest": "MPRT",
}

#: Display names of similarity and complexity functions, by function name. ``None``: the
#: function is plumbing of the metric's own definition (a difference or a Lipschitz ratio
#: in robustness metrics) and is left out of the header.
_FUNCTION_NAMES: dict[str, str | None] = {
    "spearman": "Spearman",
    "correlation_spearman": "Spearman",
    "spearman_abs": "Spearman",
    "pearson": "Pearson",
    "correlation_pearson": "Pearson",
    "kendall": "Kendall τ",
    "correlation_kendall_tau": "Kendall τ",
    "ssim": "SSIM",
    "hog": "HOG",
    "hog_similarity": "HOG",
    "mse": "MSE",
    "cosine": "cosine",
    "discrete_entropy": "entropy",
    "entropy": "entropy",
    "difference": None,
    "abs_difference": None,
    "squared_difference": None,
    "lipschitz_constant": None,
    "distance_euclidean": None,
    "distance_manhattan": None,
    "distance_chebyshev": None,
}

#: Functions that compare absolute values themselves, whatever the metric's ``abs`` says.
_ABS_FUNCTIONS = {"spearman_abs"}


def function_name(func: Any) -> str | None:
    """The name of a similarity/complexity function: a registry name (a string) as given, a
    function's ``__name__``, the wrapped function of a :func:`functools.partial`, or the class
    name of a callable object; ``None`` for ``None``."""
    if func is None:
        return None
    if isinstance(func, str):
        return func
    inner: Callable | Any = getattr(func, "func", func)  # functools.partial
    name = getattr(inner, "__name__", None)
    return name if isinstance(name, str) else type(func).__name__


def split_arrow(text: str) -> tuple[str, str | None]:
    """``("MPRT, Spearman |a|", "lower")`` from ``"MPRT, Spearman |a| ↓"``: the text without a
    trailing arrow and the direction that arrow stands for (``None`` without one)."""
    stripped = text.rstrip()
    for direction, arrow in ARROW_TEXT.items():
        if stripped.endswith(arrow):
            return stripped[: -len(arrow)].rstrip(), direction
    return stripped, None


def describe_metric(metric: Any, name: str | None = None, *, arrow: bool = True) -> str:
    """A short header for a metric's column: name, measure, ``|a|`` and the better direction.

    Parameters
    ----------
    metric : object
        A metric instance (ours or Quantus's) or any callable. Read, never called: its class
        name, ``similarity_func`` (or ``complexity_func`` when it has one, as eMPRT, whose
        score is a rise in complexity), ``abs`` and ``score_direction``.
    name : str, optional
        The name to lead with (e.g. the key the metric has in :func:`xai_sanity.evaluate`'s
        ``metrics``); defaults to the class name, with ``ModelParameterRandomisation``
        shortened to ``MPRT`` (a plain function: its ``__name__``).
    arrow : bool, default True
        Append ``↑`` (higher is better) or ``↓`` (lower is better) when the metric says.

    Returns
    -------
    str
        E.g. ``"MPRT, Spearman |a| ↓"`` for MPRT with its defaults, ``"RandomLogit, SSIM ↓"``,
        ``"Sparseness, |a| ↑"``, ``"MaxSensitivity ↓"`` (the difference of maps is the metric's
        own definition, not a choice), or ``"my_metric"`` for a callable without metadata. A
        detail already in ``name`` (e.g. ``"MPRT (SSIM)"``) is not repeated.

    Examples
    --------
    >>> import xai_sanity as xs
    >>> describe_metric(xs.METRICS["MPRT"]())
    'MPRT, Spearman |a| ↓'
    >>> describe_metric(xs.METRICS["MPRT"](similarity_func="ssim", abs=False), "MPRT (SSIM)")
    'MPRT (SSIM) ↓'
    """
    from ..evaluation import score_direction  # evaluation imports this module

    if name is None:
        cls = metric if isinstance(metric, type) else type(metric)
        if callable(metric) and not hasattr(metric, "score_direction") and hasattr(metric, "__name__"):
            name = str(metric.__name__)  # a plain function used as a metric
        else:
            name = _SHORT_NAMES.get(cls.__name__, cls.__name__)
    func = getattr(metric, "complexity_func", None)
    if func is None:
        func = getattr(metric, "similarity_func", None)
    func_name = function_name(func)
    shown = _FUNCTION_NAMES.get(func_name, func_name) if func_name is not None else None
    flag = getattr(metric, "abs", False)
    takes_abs = flag is True or (type(flag).__name__ == "bool_" and bool(flag)) or func_name in _ABS_FUNCTIONS
    details = " ".join(part for part in (shown, "|a|" if takes_abs else None) if part)
    if details and details.lower() not in name.lower():
        if shown and shown.lower() in name.lower():  # the name already says the measure
            details = "|a|" if takes_abs else ""
        text = f"{name}, {details}" if details else name
    else:
        text = name
    direction = score_direction(metric)
    if arrow and direction in ARROW_TEXT:
        text = f"{text} {ARROW_TEXT[direction]}"
    return text
