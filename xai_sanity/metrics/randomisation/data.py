"""Data randomisation (Adebayo et al. 2018): explanations of a model trained on permuted labels."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection
from torch import nn

from ..._model_ops import (
    fresh_copy,
)
from ..._safety import make_generator, model_guard
from ..._signatures import with_parameters
from ..._validation import check_batch
from ..base import COMMON_PARAMETERS
from .base import RANDOMISATION_ORDER, ExplainingMetric


class DataRandomisation(ExplainingMetric):
    """Data-randomisation test (Adebayo et al. 2018).

    Trains a fresh copy of the model's architecture on *permuted* labels, checks that it
    memorised them (``self.random_model_train_accuracy_``), and scores the similarity of the
    real model's explanations with the random-label model's on ``x_batch``. Low similarity
    passes: the explanation depends on the relation between data and labels.

    Parameters
    ----------
    train_data : tuple (x_train, y_train), optional
        Data to train the random-label model on; also accepted per call as
        ``custom_batch=(x_train, y_train)``.
    train_func : callable, optional
        ``train_func(model, x, y) -> model``. Default: :func:`xai_sanity.train` with
        ``permute_labels`` already applied by this metric, ``epochs`` and ``seed``.
    epochs : int, default 30
        Epochs of the default trainer (enough to memorise random labels on small data).
    train_kwargs : dict, optional
        Further arguments of the default trainer :func:`xai_sanity.training.fit`
        (``batch_size``, ``lr``, ``weight_decay``, ``device``...).
    min_train_accuracy : float, default 0.5
        Warn if the random-label model's training accuracy stays below it (it did not
        memorise; the comparison is then weak).
    similarity_func : str or callable, default "spearman"
    seed : int, default 42
    abs, normalise : bool, default True, True
    normalise_func : callable, optional
        As in :class:`ModelParameterRandomisation`: applied to each map on its own.
    """

    name = "Data Randomisation"
    # No Quantus counterpart; runs on each of these (tests/test_quantus_dropin.py).
    data_applicability = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.RANDOMISATION
    in_default_suite = False

    @with_parameters(COMMON_PARAMETERS, order=RANDOMISATION_ORDER, abs=True, store_own=True)
    def __init__(
        self,
        train_data: tuple[np.ndarray, np.ndarray] | None = None,
        train_func: Callable | None = None,
        epochs: int = 30,
        train_kwargs: dict[str, Any] | None = None,
        min_train_accuracy: float = 0.5,
        similarity_func: str | Callable = "spearman",
        seed: int = 42,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.random_model_: nn.Module | None = None

    def random_label_model(self, model: nn.Module, x_train: np.ndarray, y_train: np.ndarray) -> nn.Module:
        """A fresh copy of ``model``'s architecture trained on permuted ``y_train``."""
        from ...training import evaluate_accuracy, train

        fresh = fresh_copy(model, self.seed)
        perm = torch.randperm(len(y_train), generator=make_generator(self.seed)).numpy()
        y_random = np.asarray(y_train)[perm]
        if self.train_func is not None:
            trained = self.train_func(fresh, x_train, y_random)
            if not isinstance(trained, nn.Module):
                raise TypeError(f"train_func must return the trained nn.Module, got {type(trained).__name__}")
        else:
            options = {"progress": False, **(self.train_kwargs or {})}
            trained = train(fresh, x_train, y_random, epochs=self.epochs, seed=self.seed, **options)
        self.random_model_train_accuracy_ = evaluate_accuracy(trained, x_train, y_random)
        if self.random_model_train_accuracy_ < self.min_train_accuracy:
            warnings.warn(
                f"the random-label model reached only {self.random_model_train_accuracy_:.2f} training "
                "accuracy on its permuted labels; train longer for a meaningful comparison",
                RuntimeWarning,
                stacklevel=3,
            )
        return trained.eval()

    def _run(self, model, x, y, a, explain, custom_batch):
        data = custom_batch if custom_batch is not None else self.train_data
        if data is None or len(data) != 2:
            raise ValueError(
                "DataRandomisation needs training data: train_data=(x, y) or custom_batch=(x, y)"
            )
        x_train, y_train, _, _ = check_batch(data[0], data[1])
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            self.random_model_ = self.random_label_model(model, x_train, y_train)
            real = self._reference(model, x, y, a, explain)
        random_maps = self._explain(self.random_model_, x, y, explain)
        return self._similarity(real, random_maps).tolist()
