"""Tables (DataFrame, Markdown, LaTeX, CSV) and figures (matplotlib) for reports.

Tables live in :mod:`xai_sanity.report.tables` and take flat or MultiIndex rows and
columns; figures live in :mod:`xai_sanity.report.plots`. Every public name is importable
from here.
"""

from .plots import (
    plot_explanations,
    plot_noise_curves,
    plot_randomisation_curves,
    plot_randomisation_grid,
    plot_roar,
)
from .tables import (
    ARROWS,
    LATEX_ARROWS,
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
    "numeric_table",
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
