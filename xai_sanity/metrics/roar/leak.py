"""How much the removal *pattern alone* tells about the class: the leak diagnostic of ROAR/KAR.

Rong et al. ("A Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML
2022) show that with a fixed fill value the shape of the removed region is drawn into the
degraded image, and a retrained model can read the class from that shape although the
informative pixels are gone. Then a low ROAR accuracy need not mean much was removed, and a
high one need not mean little was.

The diagnostic trains the same architecture, exactly as a ROAR cell does (a fresh copy from
:func:`xai_sanity._model_ops.fresh_copy`, the same trainer, seeds and cache), on the binary
removal masks only: each input is the mask of the features ROAR (or KAR) removes at that
threshold, broadcast to the input's channels, with no pixel value at all. Its test accuracy
is what the removal pattern alone reveals about the class: near chance means the pattern
carries no class information; well above chance means the ROAR number at that threshold is
contaminated by the pattern (and an imputation that hides it, ``imputation="noisy_linear"``,
should be preferred).
"""

from __future__ import annotations

import numpy as np

from .metric import KAR, ROAR
from .removal import removal_mask
from .study import estimator_study

__all__ = ["KARLeak", "ROARLeak", "leak_diagnostic"]


class _PatternOnly:
    """Turns ROAR/KAR into its leak diagnostic: the cells train on the removal masks."""

    _keep: bool
    per_pixel: bool
    seed: int
    retrain: bool

    @property
    def method(self) -> str:
        return f"{super().method}-leak"  # type: ignore[misc]

    def _check_params(self) -> None:
        super()._check_params()  # type: ignore[misc]
        if not self.retrain:
            raise ValueError("the leak diagnostic trains on the removal masks: retrain must be True")

    def _degrade(
        self, x: np.ndarray, a: np.ndarray, threshold: float, fill: np.ndarray, stream: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The removal mask as the input (1.0 where removed, broadcast to x's channels)."""
        mask = removal_mask(
            a,
            x.shape,
            threshold,
            keep=self._keep,
            per_pixel=self.per_pixel,
            seed=int(self.seed),
            stream=stream,
        )
        return np.ascontiguousarray(np.broadcast_to(mask, x.shape), dtype=np.float32), mask

    def _noise(self, x_train: np.ndarray) -> None:
        return None  # the masks carry no imputation, so no noise either


class ROARLeak(_PatternOnly, ROAR):
    """The leak diagnostic of :class:`~xai_sanity.metrics.roar.ROAR` (see the module docstring).

    Parameters, call and results as :class:`~xai_sanity.metrics.roar.ROAR`, except that
    each cell trains on the removal mask of its threshold instead of the degraded images,
    ``retrain`` must be ``True`` and ``imputation`` has no effect (the mask does not depend
    on it). The ``method`` column reads ``"ROAR-leak"``. The score is the test accuracy from
    the pattern alone: near chance is good (no leak).
    """

    name = "ROAR leak"


class KARLeak(_PatternOnly, KAR):
    """The leak diagnostic of :class:`~xai_sanity.metrics.roar.KAR` (the masks of the
    *least* important features); as :class:`ROARLeak`. The ``method`` column reads
    ``"KAR-leak"``."""

    name = "KAR leak"
    score_direction = ROAR.score_direction  # near chance is good here too


#: The diagnostic's class for each ``method=`` of :func:`leak_diagnostic`.
LEAK_METHODS = {"ROAR": ROARLeak, "KAR": KARLeak}


leak_diagnostic = estimator_study(
    LEAK_METHODS,
    "leak_diagnostic",
    """Test accuracy of ``model``'s architecture trained on the removal masks alone.

The counterpart of :func:`~xai_sanity.metrics.roar.run_roar`, called the same way: for
each estimator and threshold the cells are those of ROAR (same masks, trainer, seeds),
but the inputs are the masks. Accuracy well above chance (``1 / n_classes``) means the
removal pattern tells the class, and the ROAR accuracy at that threshold measures the
pattern, not the removed information (Rong et al., ICML 2022).

Parameters
----------
estimators, model, x_train, y_train, x_test, y_test, explain_func_kwargs, batch_size
    As :func:`~xai_sanity.metrics.roar.run_roar`.
method : {"ROAR", "KAR"}
    Whose removal pattern to test.
**metric_kwargs
    Constructor arguments of :class:`ROARLeak` / :class:`KARLeak` (thresholds,
    n_repeats, train_func, train_kwargs, seed, cache_dir, executor, ...); use the ones
    of the ROAR run being diagnosed so the masks are the same.

Returns
-------
pandas.DataFrame
    Columns ``estimator, method ("ROAR-leak" or "KAR-leak"), threshold, repeat,
    accuracy, from_cache``.
""",
    __name__,
)
