"""Studies: every model × seed × method × metric as one tidy table, resumable and distributable.

:class:`Study` (and :func:`run_study`, the one-call form) run :func:`xai_sanity.evaluate`
per cell, cache each cell atomically in ``cache_dir`` (so a killed run resumes where it
stopped) and run on any ``concurrent.futures.Executor``, including a Dask cluster's
``Client(...).get_executor()``.
"""

from ._cells import StudyCache
from ._study import COLUMNS, CellInfo, Study, run_study

__all__ = ["COLUMNS", "CellInfo", "Study", "StudyCache", "run_study"]
