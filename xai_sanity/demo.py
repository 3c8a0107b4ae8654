"""The main job, ``xai-sanity demo``: kept importable here; it lives in
:mod:`xai_sanity.reproduce.demo` beside the reproductions that share its skeleton."""

from .reproduce.demo import (
    SETTINGS,
    DemoResult,
    DemoSettings,
    build_methods,
    default_metrics,
    enhanced_variants,
    run_demo,
)

__all__ = [
    "SETTINGS",
    "DemoResult",
    "DemoSettings",
    "build_methods",
    "default_metrics",
    "enhanced_variants",
    "run_demo",
]
