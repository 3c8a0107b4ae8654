"""Tables (DataFrame, Markdown, LaTeX, CSV) and figures (matplotlib) for reports.

Tables live in :mod:`xai_sanity.report.tables` (files, and every table function) and take
flat or MultiIndex rows and columns; :mod:`xai_sanity.report.summary` computes a summary,
:mod:`xai_sanity.report.render` writes it as Markdown or LaTeX. Headers come from
:mod:`xai_sanity.report.labels` (what a metric measures) and intervals, paired tests and
Holm's correction from :mod:`xai_sanity.report.significance`; figures live in
:mod:`xai_sanity.report.plots`.
Every public name is importable from here.
"""

from .labels import describe_metric
from .plots import (
    plot_explanations,
    plot_noise_curves,
    plot_randomisation_curves,
    plot_randomisation_grid,
    plot_roar,
)
from .significance import bootstrap_mean_ci, holm, paired_wilcoxon
from .tables import (
    ARROWS,
    LATEX_ARROWS,
    SPREADS,
    numeric_table,
    save_table,
    summarise,
    to_latex,
    to_markdown,
    write_tables,
)

__all__ = [
    "ARROWS",
    "LATEX_ARROWS",
    "SPREADS",
    "bootstrap_mean_ci",
    "describe_metric",
    "holm",
    "numeric_table",
    "paired_wilcoxon",
    "plot_explanations",
    "plot_noise_curves",
    "plot_randomisation_curves",
    "plot_randomisation_grid",
    "plot_roar",
    "save_table",
    "summarise",
    "to_latex",
    "to_markdown",
    "write_tables",
]
