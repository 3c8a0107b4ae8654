"""The words of a summary table: each cell's text, column headers and the notes underneath.

:func:`xai_sanity.report.summarise` computes the numbers; this module says them. A cell
reads ``mean ± std`` or ``mean [low, high]``, with a significance mark and whatever the
cell lacks (``n=k/K``, samples missing behind its runs, the class of an error); headers come
from metric labels (:func:`xai_sanity.report.describe_metric`), directions from the labels'
arrows where none is given; the notes say in sentences what each of those remarks means.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from .labels import split_arrow

_STAGES = ("explain", "metric")


def error_class(message: Any) -> str:
    """``"ValueError"`` from an ``error`` entry written by :func:`xai_sanity.evaluate`
    (``"metric: ValueError: text (file.py:12)"``); other entries, shortened, as they are.

    Examples
    --------
    >>> error_class("metric: ValueError: no maps (chunks.py:12)")
    'ValueError'
    """
    parts = str(message).split(": ")
    if len(parts) >= 2 and parts[0] in _STAGES:
        parts = parts[1:]
    head = parts[0].strip()
    if len(parts) >= 2 and head.replace(".", "").replace("_", "").isalnum():
        return head
    return head if len(head) <= 40 else head[:39] + "…"


def _lookup(mapping: Mapping[Any, Any], key: Any) -> Any:
    """``mapping.get(key)``, ``None`` for a key that cannot be hashed (an unhashable part)."""
    try:
        return mapping.get(key)
    except TypeError:
        return None


def direction_for(label: Hashable, directions: Mapping[Any, Any]) -> str | None:
    """The better direction of a column: its full label, then each part of a tuple label,
    each also without a ``"[key]"`` suffix (a metric returning several scores per sample)."""
    parts = label if isinstance(label, tuple) else (label,)
    for key in (label, *parts):
        candidates = [key]
        if isinstance(key, str) and "[" in key:
            candidates.append(key.split("[", 1)[0])
        for candidate in candidates:
            value = _lookup(directions, candidate)
            if value is not None:
                return value
    return None


def label_parts(label: Hashable, labels: Mapping[Any, Any]) -> tuple[tuple[str, ...] | None, str | None]:
    """Display parts of a column (each level's header text) from ``labels`` (by the full label
    or by any part, a ``"[key]"`` suffix kept), and the direction of an arrow found in them."""
    whole = _lookup(labels, label)
    parts = label if isinstance(label, tuple) else (label,)
    if whole is not None:  # the text of the whole label heads its lowest level
        text, arrow = split_arrow(str(whole))
        return (*(str(p) for p in parts[:-1]), text), arrow
    shown, found, arrow = [], False, None
    for part in parts:
        key = None
        text = _lookup(labels, part)
        if text is None and isinstance(part, str) and "[" in part:
            base, key = part.split("[", 1)
            text = labels.get(base)
        if text is None:
            shown.append(str(part))
            continue
        found = True
        text, part_arrow = split_arrow(str(text))
        arrow = arrow or part_arrow
        if key is not None:
            text = f"{base}[{key}{text[len(base) :]}" if text.startswith(base) else f"{text} [{key}"
        shown.append(text)
    return (tuple(shown) if found else None), arrow


def column_headers(
    columns: Iterable[Hashable], directions: Mapping[Any, Any], labels: Mapping[Any, Any]
) -> tuple[dict[Any, str | None], dict[Any, tuple[str, ...]]]:
    """Each column's better direction (``directions``, else the arrow of its label) and, where
    ``labels`` has one, its header text per level (see :func:`label_parts`)."""
    column_direction, column_label = {}, {}
    for c in columns:
        parts, arrow = label_parts(c, labels)
        column_direction[c] = direction_for(c, directions) or arrow
        if parts is not None:
            column_label[c] = parts
    return column_direction, column_label


def cell_text(
    numbers: Mapping[str, float],
    count: tuple[int, int],
    samples: tuple[int, int] | None,
    errors: list[str],
    mark: str,
    spread: str,
    digits: int,
    shown: set[str],
) -> str:
    """One cell of :func:`summarise`: the numbers, the mark, and whatever the cell lacks.

    ``count`` is ``(k, K)`` (defined samples or runs of the cell, the column's most),
    ``samples`` the ``(defined, all)`` samples behind a cell's runs (``None`` without runs);
    ``shown`` collects which kinds of remark were written, for the note under the table.

    Examples
    --------
    >>> numbers = {"mean": 0.5, "std": 0.1, "ci_low": np.nan, "ci_high": np.nan}
    >>> cell_text(numbers, (2, 3), None, [], "*", "std", 2, set())
    '0.50 ± 0.10* (n=2/3)'
    """
    k, total = count
    if k == 0:
        shown.add("error" if errors else "empty")
        if errors:
            return f"error: {', '.join(errors)}"
        return f"— (0/{total} valid)" if total else "—"
    mean, std, low, high = (numbers[name] for name in ("mean", "std", "ci_low", "ci_high"))
    if spread == "std" and not np.isnan(std):
        text = f"{mean:.{digits}f} ± {std:.{digits}f}"
    elif spread == "ci95" and not np.isnan(low):
        text = f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    else:  # too few values for a spread
        text = f"{mean:.{digits}f}"
    extras = []
    if k < total:
        extras.append(f"n={k}/{total}")
        shown.add("count")
    if samples is not None and samples[0] < samples[1]:
        extras.append(f"{samples[0]}/{samples[1]} samples")
        shown.add("samples")
    if errors:
        extras.append(f"error: {', '.join(errors)}")
        shown.add("error")
    return f"{text}{mark} ({'; '.join(extras)})" if extras else f"{text}{mark}"


def spread_note(spread: str, unit: str, ddof: int, n_resamples: int, seed: Any) -> str:
    """The sentence that says what a cell's numbers are (``unit``: what they are taken over)."""
    if spread == "ci95":
        seeded = f"seed {seed}" if isinstance(seed, (int, np.integer)) else "the given generator"
        return (
            f"Cells: mean [95% CI] over {unit}; the CI is a percentile bootstrap of the mean "
            f"({n_resamples} resamples, {seeded})."
        )
    kind = {0: "population std, ddof=0", 1: "sample std, ddof=1"}.get(ddof, f"std with ddof={ddof}")
    return f"Cells: mean ± std over {unit} ({kind})."


def summary_notes(
    first: str,
    shown: set[str],
    unit_word: str,
    *,
    baseline: Any = None,
    compared: int = 0,
    alpha: float = 0.05,
    directed: bool = False,
) -> list[str]:
    """The sentences under a summary: ``first`` (:func:`spread_note`), then one per kind of
    remark in ``shown`` (see :func:`cell_text`), the marks against ``baseline`` (``compared``
    cells tested) and, when a column has a direction (``directed``), the arrows."""
    notes = [first]
    if "count" in shown:
        notes.append(
            f"(n=k/K): the cell rests on k of the column's K {unit_word}; "
            "the others have no defined score (NaN) or failed."
        )
    if "samples" in shown:
        notes.append(
            "(k/N samples): the runs' means rest on k of their N samples; the others have no defined score."
        )
    if "empty" in shown:
        notes.append(f"— (0/K valid): none of the K {unit_word} has a defined score.")
    if "error" in shown:
        notes.append("error: X: the explain function or the metric raised X (message in the error column).")
    if baseline is not None:
        notes.append(
            f"*: differs from {baseline} (two-sided paired Wilcoxon signed-rank test over {unit_word}, "
            f"Holm-corrected across {compared} compared cells, p < {alpha:g})."
        )
    if directed:
        notes.append("↑/↓: higher/lower is better; bold: the best mean in the column.")
    return notes
