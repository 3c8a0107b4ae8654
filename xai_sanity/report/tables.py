"""Tables of scores: summaries and their Markdown, LaTeX and CSV renderings.

Every function here takes flat or MultiIndex tables alike: rows may be keyed by several
levels (e.g. model × method) and columns too (e.g. metric × setting). A row level becomes
its own leading column; MultiIndex column labels are joined with ``" / "`` in Markdown and
become grouped header rows in LaTeX.

:func:`summarise` says what each cell rests on: a cell with fewer defined scores than its
column's most ends with ``(n=k/K)``, a cell without any reads ``— (0/K valid)`` or the
exception class that failed it; the spread is the std (``ddof``) or a seeded bootstrap
interval; several runs (``over="seed"``) are averaged per run first; a ``baseline`` row marks
paired differences (Wilcoxon signed-rank, Holm-corrected). The table's ``attrs["note"]``
says all of this under the Markdown and LaTeX renderings, and headers carry what a metric
measures (``attrs["label"]``, from :func:`xai_sanity.report.describe_metric`).

The summary is computed in :mod:`xai_sanity.report.summary` and rendered by
:mod:`xai_sanity.report.render`; this module writes the files and is where all of it can be
imported from.

Examples
--------
>>> import pandas as pd
>>> scores = pd.DataFrame({"method": ["A", "A", "B", "B"], "metric": "m", "sample": [0, 1] * 2,
...                        "score": [0.2, 0.4, 0.5, None]})
>>> table = summarise(scores, digits=2, direction={"m": "higher"})
>>> print(to_markdown(table, note=False), end="")
| method | m ↑ |
|---|---|
| A | 0.30 ± 0.10 |
| B | **0.50 ± 0.00 (n=1/2)** |
>>> list(numeric_table(table).columns)
[('mean', 'm'), ('std', 'm'), ('n', 'm'), ('n_total', 'm')]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .render import ARROWS, LATEX_ARROWS, to_latex, to_markdown
from .summary import SPREADS, summarise

__all__ = [
    "ARROWS",
    "LATEX_ARROWS",
    "NUMERIC_PARTS",
    "SPREADS",
    "numeric_table",
    "save_table",
    "summarise",
    "to_latex",
    "to_markdown",
    "write_tables",
]


NUMERIC_PARTS = ("mean", "std", "ci_low", "ci_high", "n", "n_total", "p_value")


def numeric_table(table: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind a table: for a :func:`summarise` table ``mean``, ``std``,
    ``ci_low``/``ci_high`` (with ``spread="ci95"``), ``n``, ``n_total`` and ``p_value`` (with a
    ``baseline``) side by side as the top column level; any other table as it is."""
    if "mean" not in table.attrs:
        return table
    return pd.concat({k: table.attrs[k] for k in NUMERIC_PARTS if k in table.attrs}, axis=1)


def save_table(
    table: pd.DataFrame,
    out_dir: str | Path,
    stem: str,
    *,
    caption: str | None = None,
    label: str | None = None,
    csv: pd.DataFrame | None = None,
    digits: int = 3,
) -> dict[str, Path]:
    """Write one table as ``<stem>.csv``, ``<stem>.md`` and ``<stem>.tex`` in ``out_dir``.

    The CSV holds ``csv`` when given, else :func:`numeric_table` of ``table``. Returns the
    paths as ``{"csv", "markdown", "latex"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / f"{stem}.csv", "markdown": out / f"{stem}.md", "latex": out / f"{stem}.tex"}
    (numeric_table(table) if csv is None else csv).to_csv(paths["csv"])
    paths["markdown"].write_text(to_markdown(table, digits=digits), encoding="utf-8")
    paths["latex"].write_text(to_latex(table, caption=caption, label=label, digits=digits), encoding="utf-8")
    return paths


def write_tables(
    scores: pd.DataFrame,
    out_dir: str | Path,
    stem: str = "results",
    caption: str | None = None,
    *,
    index: str | Sequence[str] = "method",
    columns: str | Sequence[str] = "metric",
    **summary: Any,
) -> dict[str, Path]:
    """Write the tidy scores (CSV) and their :func:`summarise` table (CSV, Markdown, LaTeX).

    Further keyword arguments (``over``, ``spread``, ``baseline``, ...) go to
    :func:`summarise`. Returns the paths as ``{"scores_csv", "csv", "markdown", "latex"}``;
    the summary CSV holds the numeric tables of :func:`numeric_table` side by side (``mean``,
    ``std``, ``n``, ``n_total``, ...).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores_csv": out / f"{stem}_scores.csv"}
    scores.to_csv(paths["scores_csv"], index=False)
    paths.update(
        save_table(summarise(scores, index=index, columns=columns, **summary), out, stem, caption=caption)
    )
    return paths
