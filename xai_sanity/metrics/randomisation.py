"""Randomisation sanity checks (Adebayo et al., NeurIPS 2018) as Quantus-compatible metrics.

* :class:`ModelParameterRandomisation` — re-initialise the model's layers, cascading from the
  top (``"top_down"``), from the bottom (``"bottom_up"``) or one at a time
  (``"independent"``), and measure how similar the explanations stay. An explanation that
  stays similar while the model is destroyed does not explain the model.
* :class:`RandomLogit` — the explanation for the true class against one for a random other
  class (Sixt et al. 2020).
* :class:`DataRandomisation` — train the same architecture on permuted labels and compare
  its explanations with the real model's.

Everything is seeded through private generators; the user's model is handed back
bit-identical; explanations for all steps are computed batch-wise on the model's device.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from quantus.helpers.enums import EvaluationCategory, ScoreDirection
from torch import nn

from .._model_ops import fresh_copy, randomisable_layers, reinitialise
from .._safety import make_generator, model_guard
from .._validation import check_batch, model_device
from ..registry import METRICS, SIMILARITIES
from ._plumbing import explain_in_chunks
from .base import Metric

__all__ = [
    "DataRandomisation",
    "ModelParameterRandomisation",
    "RandomLogit",
    "randomisable_layers",  # re-exported from xai_sanity._model_ops
    "reinitialise",
]

LAYER_ORDERS = ("top_down", "bottom_up", "independent")
LAYER_SEEDS = ("per_layer", "shared")


def _resolve_similarity(similarity_func: str | Callable) -> Callable:
    if isinstance(similarity_func, str):
        return SIMILARITIES[similarity_func]
    if callable(similarity_func):
        return similarity_func
    raise TypeError(f"similarity_func must be a registered name or a callable, got {similarity_func!r}")


def _preprocess(a: np.ndarray, normalise: bool, absolute: bool) -> np.ndarray:
    """Normalise each map by its max |a| (all-zero maps left alone), then take |a|."""
    a = np.asarray(a, dtype=np.float32)
    if normalise:
        peak = np.abs(a.reshape(len(a), -1)).max(1).reshape((-1,) + (1,) * (a.ndim - 1))
        a = np.divide(a, peak, out=np.zeros_like(a), where=peak > 0)
    return np.abs(a) if absolute else a


class _ExplainingMetric(Metric):
    """Shared machinery: explain in chunks with the caller's explain function."""

    def _explain(
        self,
        model: nn.Module,
        x: np.ndarray,
        y: np.ndarray,
        explain_func: Callable,
        explain_func_kwargs: dict[str, Any],
        batch_size: int,
    ) -> np.ndarray:
        a = explain_in_chunks(explain_func, model, x, y, batch_size, kwargs=explain_func_kwargs)
        return _preprocess(a, self.normalise, self.abs)

    def _similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # Compare on the model's device (batched similarity functions take tensors there).
        device = getattr(self, "_device", None)
        if device is not None and device.type != "cpu":
            a, b = torch.as_tensor(a, device=device), torch.as_tensor(b, device=device)
        scores = np.asarray(self._similarity_func(a, b), dtype=np.float64).reshape(-1)
        if scores.shape[0] != len(a):
            raise ValueError(f"similarity_func returned {scores.shape[0]} scores for {len(a)} samples")
        return scores

    @staticmethod
    def _explain_kwargs(explain_func_kwargs: dict | None, device: str | None) -> dict[str, Any]:
        kwargs = dict(explain_func_kwargs or {})
        if device is not None:
            kwargs.setdefault("device", device)
        return kwargs

    # Every protocol re-explains changed models.
    requires_model: ClassVar[bool] = True
    requires_explain_func: ClassVar[bool] = True

    def _evaluate(
        self,
        *,
        model: nn.Module,
        x_batch: np.ndarray,
        y_batch: np.ndarray,
        a_batch: np.ndarray | None,
        explain_func: Callable,
        explain_func_kwargs: dict[str, Any],
        device: str | None,
        batch_size: int,
        custom_batch: Any,
        **unused: Any,
    ) -> Any:
        """The checked call (see :meth:`Metric.__call__`); the protocol is each subclass's :meth:`_run`."""
        self._check_params()
        self._device = model_device(model)
        ekw = self._explain_kwargs(explain_func_kwargs, device)
        result = self._run(model, x_batch, y_batch, a_batch, explain_func, ekw, batch_size, custom_batch)
        if self.return_aggregate:
            result = [float(self.aggregate_func(result))]
        self.evaluation_scores = result
        self.all_evaluation_scores.append(result)
        return result

    def _check_params(self) -> None:
        self._similarity_func = _resolve_similarity(self.similarity_func)

    def _run(self, model, x, y, a, explain_func, ekw, batch_size, custom_batch) -> Any:
        raise NotImplementedError

    def _reference(self, model, x, y, a, explain_func, ekw, batch_size) -> np.ndarray:
        """The explanations compared against: ``a_batch`` if given, else explain ``model``."""
        if a is not None:
            return _preprocess(a, self.normalise, self.abs)
        return self._explain(model, x, y, explain_func, ekw, batch_size)

    def evaluate_batch(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used
        raise RuntimeError(f"{type(self).__name__} computes whole batches in __call__")


class ModelParameterRandomisation(_ExplainingMetric):
    """Model-parameter randomisation test (Adebayo et al. 2018; Quantus ``MPRT``).

    For each step of the randomisation order the model's layers are re-initialised (each
    trainable tensor by its layer's own initialiser, from a seeded generator), the inputs
    are explained again, and each sample's explanation is compared with the original one by
    ``similarity_func``. Scores near zero under full randomisation mean the explanation
    depends on the model (the test is passed).

    Parameters
    ----------
    similarity_func : str or callable, default "spearman"
        A name in :data:`xai_sanity.SIMILARITIES` or ``f(a, b) -> (N,)`` scores.
    layer_order : {"top_down", "bottom_up", "independent"}, default "top_down"
        ``"top_down"``: cascading from the output layer; ``"bottom_up"``: cascading from the
        input; ``"independent"``: one layer at a time, the others original.
    seed : int, default 42
    layer_seeds : {"per_layer", "shared"}, default "per_layer"
        ``"per_layer"`` seeds layer ``i`` with ``seed + 1 + i``; ``"shared"`` seeds every layer
        with ``seed + 1`` (Quantus's convention, for comparisons).
    return_average_correlation : bool, default False
        Return each sample's mean similarity over the randomised steps. Unlike Quantus (whose
        average includes the original model's self-similarity), ``"original"`` is excluded.
    return_last_correlation : bool, default False
        Return each sample's similarity at the last step (the fully randomised model).
    skip_layers : bool, default False
        Only score the last step (cheaper).
    abs, normalise : bool, default True, True
        Take ``|a|`` / divide each map by its max ``|a|`` before comparing (Quantus's
        defaults; Spearman of ``|a|`` is the paper's "absolute" rank correlation).

    Returns
    -------
    dict
        ``{"original": [...], layer name: [...], ...}`` per-sample scores, original first
        (the similarity of ``a_batch`` to a fresh explanation of the original model: 1 for a
        deterministic method given ``a_batch`` from it); or a list (see the ``return_*``
        options). ``self.explanations_`` keeps each step's maps for plotting.

    Examples
    --------
    >>> import numpy as np, torch, xai_sanity as xs
    >>> from xai_sanity.metrics import ModelParameterRandomisation
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 3))
    >>> x = np.random.default_rng(0).random((4, 3, 4, 4), dtype=np.float32)
    >>> scores = ModelParameterRandomisation()(model, x, np.array([0, 1, 2, 0]),
    ...                                        explain_func=xs.Gradient())
    >>> list(scores)
    ['original', '3', '1']
    """

    name = "Model Parameter Randomisation"
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.RANDOMISATION
    suite_params = {"return_average_correlation": True}

    def __init__(
        self,
        similarity_func: str | Callable = "spearman",
        layer_order: str = "top_down",
        seed: int = 42,
        layer_seeds: str = "per_layer",
        return_average_correlation: bool = False,
        return_last_correlation: bool = False,
        skip_layers: bool = False,
        abs: bool = True,
        normalise: bool = True,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            abs=abs,
            normalise=normalise,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            **kwargs,
        )
        self.similarity_func = similarity_func
        self.layer_order = layer_order
        self.seed = seed
        self.layer_seeds = layer_seeds
        self.return_average_correlation = return_average_correlation
        self.return_last_correlation = return_last_correlation
        self.skip_layers = skip_layers
        self.explanations_: dict[str, np.ndarray] = {}

    def _check_params(self) -> None:
        if self.layer_order not in LAYER_ORDERS:
            raise ValueError(f"layer_order must be one of {LAYER_ORDERS}, got {self.layer_order!r}")
        if self.layer_seeds not in LAYER_SEEDS:
            raise ValueError(f"layer_seeds must be one of {LAYER_SEEDS}, got {self.layer_seeds!r}")
        if self.return_average_correlation and self.return_last_correlation:
            raise ValueError("choose one of return_average_correlation and return_last_correlation")
        if self.return_aggregate and not (self.return_average_correlation or self.return_last_correlation):
            raise ValueError("return_aggregate needs return_average_correlation or return_last_correlation")
        super()._check_params()

    def steps(self, model: nn.Module) -> Iterator[str]:
        """Randomise ``model`` in place step by step, yielding each step's name.

        The caller owns restoring the model (``model_guard``).
        """
        layers = randomisable_layers(model)
        if not layers:
            raise ValueError("the model has no layers with trainable parameters to randomise")
        indexed = list(enumerate(layers))
        if self.layer_order == "top_down":
            indexed = indexed[::-1]
        originals = {name: copy.deepcopy(module.state_dict()) for name, module in layers}
        previous: nn.Module | None = None
        previous_name = None
        for i, (name, module) in indexed:
            if self.layer_order == "independent" and previous is not None:
                previous.load_state_dict(originals[previous_name])
            layer_seed = self.seed + 1 + (i if self.layer_seeds == "per_layer" else 0)
            reinitialise(module, layer_seed)
            previous, previous_name = module, name
            yield name or "<root>"

    def _run(self, model, x, y, a, explain_func, ekw, batch_size, custom_batch):
        scores: dict[str, np.ndarray] = {}
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            original = self._explain(model, x, y, explain_func, ekw, batch_size)
            reference = original if a is None else _preprocess(a, self.normalise, self.abs)
            if reference.shape != original.shape:
                raise ValueError(
                    f"a_batch of shape {a.shape} does not match explanations of shape {original.shape}"
                )
            scores["original"] = self._similarity(reference, original)
            self.explanations_ = {"original": original}
            n_steps = len(randomisable_layers(model))
            for i, name in enumerate(self.steps(model)):
                if self.skip_layers and i < n_steps - 1:
                    continue
                randomised = self._explain(model, x, y, explain_func, ekw, batch_size)
                self.explanations_[name] = randomised
                scores[name] = self._similarity(reference, randomised)
        steps = [k for k in scores if k != "original"]
        if self.return_average_correlation:
            return np.mean(np.stack([scores[k] for k in steps]), axis=0).tolist()
        if self.return_last_correlation:
            return scores[steps[-1]].tolist()
        return {k: v.tolist() for k, v in scores.items()}


class RandomLogit(_ExplainingMetric):
    """Random-logit test (Sixt et al. 2020; Quantus ``RandomLogit``).

    Compares each sample's explanation for its class ``y`` with one for a class drawn
    uniformly from the other classes (seeded). The number of classes is read from the
    model's output — no ``num_classes=1000`` default to trip over. Lower similarity means
    the explanation is class-sensitive.

    Parameters
    ----------
    similarity_func : str or callable, default "ssim"
    seed : int, default 42
    abs, normalise : bool, default False, True
    """

    name = "Random Logit"
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.RANDOMISATION

    def __init__(
        self,
        similarity_func: str | Callable = "ssim",
        seed: int = 42,
        abs: bool = False,
        normalise: bool = True,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            abs=abs,
            normalise=normalise,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            **kwargs,
        )
        self.similarity_func = similarity_func
        self.seed = seed

    def _run(self, model, x, y, a, explain_func, ekw, batch_size, custom_batch):
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            with torch.no_grad():
                n_classes = int(model(torch.as_tensor(x[:1], device=self._device)).shape[-1])
            if n_classes < 2:
                raise ValueError("RandomLogit needs a model with at least 2 classes")
            if y.max() >= n_classes or y.min() < 0:
                raise ValueError(f"y_batch has classes outside [0, {n_classes})")
            shift = torch.randint(1, n_classes, (len(y),), generator=make_generator(self.seed)).numpy()
            self.off_labels_ = (y.astype(np.int64) + shift) % n_classes
            true = self._reference(model, x, y, a, explain_func, ekw, batch_size)
            off = self._explain(model, x, self.off_labels_, explain_func, ekw, batch_size)
        return self._similarity(true, off).tolist()


class DataRandomisation(_ExplainingMetric):
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
    """

    name = "Data Randomisation"
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.RANDOMISATION
    in_default_suite = False

    def __init__(
        self,
        train_data: tuple[np.ndarray, np.ndarray] | None = None,
        train_func: Callable | None = None,
        epochs: int = 30,
        train_kwargs: dict[str, Any] | None = None,
        min_train_accuracy: float = 0.5,
        similarity_func: str | Callable = "spearman",
        seed: int = 42,
        abs: bool = True,
        normalise: bool = True,
        return_aggregate: bool = False,
        aggregate_func: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            abs=abs,
            normalise=normalise,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            **kwargs,
        )
        self.train_data = train_data
        self.train_func = train_func
        self.epochs = epochs
        self.train_kwargs = train_kwargs
        self.min_train_accuracy = min_train_accuracy
        self.similarity_func = similarity_func
        self.seed = seed
        self.random_model_: nn.Module | None = None

    def random_label_model(self, model: nn.Module, x_train: np.ndarray, y_train: np.ndarray) -> nn.Module:
        """A fresh copy of ``model``'s architecture trained on permuted ``y_train``."""
        from ..training import evaluate_accuracy, train

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

    def _run(self, model, x, y, a, explain_func, ekw, batch_size, custom_batch):
        data = custom_batch if custom_batch is not None else self.train_data
        if data is None or len(data) != 2:
            raise ValueError(
                "DataRandomisation needs training data: train_data=(x, y) or custom_batch=(x, y)"
            )
        x_train, y_train, _, _ = check_batch(data[0], data[1])
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            self.random_model_ = self.random_label_model(model, x_train, y_train)
            real = self._reference(model, x, y, a, explain_func, ekw, batch_size)
        random_maps = self._explain(self.random_model_, x, y, explain_func, ekw, batch_size)
        return self._similarity(real, random_maps).tolist()


# Registered under their class names, with display names and Quantus's names as aliases.
for _cls, _aliases in (
    (
        ModelParameterRandomisation,
        ("Model Parameter Randomisation", "MPRT", "Model Parameter Randomisation Test"),
    ),
    (RandomLogit, ("Random Logit",)),
    (DataRandomisation, ("Data Randomisation",)),
):
    METRICS.register(_cls, name=_cls.__name__, aliases=_aliases)
