"""Every example in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import xai_sanity

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(xai_sanity.__path__, prefix="xai_sanity.")
    if info.name != "xai_sanity.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, one_thread):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False
    )
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {name} failed (see output above)"
    )
