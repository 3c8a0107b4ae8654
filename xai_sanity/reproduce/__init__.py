"""Reproductions of the seed papers' findings on the built-in default (``xai-sanity reproduce``)."""

from .sanity_checks import run_sanity_checks

__all__ = ["run_sanity_checks"]
