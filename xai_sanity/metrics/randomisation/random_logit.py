"""The random-logit test (Sixt et al. 2020; Quantus ``RandomLogit``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection

from ..._safety import make_generator, model_guard
from ..._signatures import with_parameters
from ..._validation import as_model_input
from ..base import COMMON_PARAMETERS
from .base import RANDOMISATION_ORDER, ExplainingMetric


class RandomLogit(ExplainingMetric):
    """Random-logit test (Sixt et al. 2020; Quantus ``RandomLogit``).

    Compares each sample's explanation for its class ``y`` with one for a class drawn
    uniformly from the other classes (seeded). The number of classes is read from the
    model's output — no ``num_classes=1000`` default to trip over (Quantus's
    ``num_classes=`` is accepted and checked against the model). Lower similarity means the
    explanation is class-sensitive.

    Parameters
    ----------
    similarity_func : str or callable, default "ssim"
        A registered name, one of our batched functions or a Quantus similarity function
        (called as Quantus calls it). SSIM is an image measure: on time-series or tabular
        maps the default falls back to Quantus's SSIM of the flattened maps (what Quantus
        computes there), with a warning.
    num_classes : int, optional
        Quantus's keyword; when given it must equal the model's number of outputs.
    seed : int, default 42
    abs, normalise : bool, default False, True
    normalise_func : callable, optional
        As in :class:`ModelParameterRandomisation`: applied to each map on its own.

    Notes
    -----
    Differences from Quantus: the off classes come from a private generator seeded with
    ``seed`` (Quantus reseeds the global numpy generator in every batch), so they differ
    from Quantus's for more than two classes. The default SSIM of image maps is a 2-D SSIM
    (Quantus's default is scikit-image's SSIM of the flattened maps; pass
    ``similarity_func=quantus.similarity_func.ssim`` for it).
    """

    name = "Random Logit"
    # As Quantus's RandomLogit; the default SSIM needs at least 7 values per non-image map.
    data_applicability = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.RANDOMISATION

    @with_parameters(COMMON_PARAMETERS, order=RANDOMISATION_ORDER, store_own=True)
    def __init__(
        self,
        similarity_func: str | Callable = "ssim",
        num_classes: int | None = None,
        seed: int = 42,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)

    def _run(self, model, x, y, a, explain, custom_batch):
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            with torch.no_grad():
                n_classes = int(model(as_model_input(x[:1], model)).shape[-1])
            if self.num_classes is not None and int(self.num_classes) != n_classes:
                raise ValueError(
                    f"num_classes={self.num_classes!r} but the model has {n_classes} outputs; "
                    "omit num_classes (it is read from the model) or fix it"
                )
            if n_classes < 2:
                raise ValueError("RandomLogit needs a model with at least 2 classes")
            if y.max() >= n_classes or y.min() < 0:
                raise ValueError(f"y_batch has classes outside [0, {n_classes})")
            shift = torch.randint(1, n_classes, (len(y),), generator=make_generator(self.seed)).numpy()
            self.off_labels_ = (y.astype(np.int64) + shift) % n_classes
            true = self._reference(model, x, y, a, explain)
            off = self._explain(model, x, self.off_labels_, explain)
        return self._similarity(true, off).tolist()
