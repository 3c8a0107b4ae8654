"""The runners: the main job (``xai-sanity demo``) and the reproductions of the seed papers'
findings on the built-in default (``xai-sanity reproduce``).

They share one skeleton (:mod:`xai_sanity.reproduce._common`): a frozen settings dataclass
with a full and a quick instance, one opening and one summary at the end.
"""

from .demo import DemoSettings, run_demo
from .noisegrad import NoiseGradSettings, run_noisegrad
from .roar import RoarSettings, run_roar_study
from .sanity_checks import SanityChecksSettings, run_sanity_checks

__all__ = [
    "DemoSettings",
    "NoiseGradSettings",
    "RoarSettings",
    "SanityChecksSettings",
    "run_demo",
    "run_noisegrad",
    "run_roar_study",
    "run_sanity_checks",
]
