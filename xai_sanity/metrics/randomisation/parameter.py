"""Model-parameter randomisation (Adebayo et al. 2018; Quantus ``MPRT``)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from quantus.helpers.enums import DataType, EvaluationCategory, ScoreDirection
from torch import nn
from tqdm.auto import tqdm

from ..._model_ops import (
    randomisable_layers,
    reinitialised_tensors,
    swapped_parameters,
)
from ..._safety import model_guard
from ..._signatures import with_parameters
from ..base import COMMON_PARAMETERS
from .base import LAYER_ORDERS, LAYER_SEEDS, MPRT_EXTRAS, RANDOMISATION_ORDER, ExplainingMetric


class ModelParameterRandomisation(ExplainingMetric):
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
    return_sample_correlation : bool, optional
        Quantus's deprecated name of ``return_average_correlation`` (mapped to it, with a
        ``FutureWarning``).
    return_average_correlation : bool, default False
        Return each sample's mean similarity over the randomised steps. Unlike Quantus (whose
        average includes the original model's self-similarity), ``"original"`` is excluded.
    return_last_correlation : bool, default False
        Return each sample's similarity at the last step (the fully randomised model).
    skip_layers : bool, default False
        Only score the last step (cheaper).
    layer_seeds : {"per_layer", "shared"}, default "per_layer"
        ``"per_layer"`` seeds layer ``i`` with ``seed + 1 + i``; ``"shared"`` seeds every layer
        with ``seed + 1``: Quantus's convention, which gives the same random weights to every
        two layers of the same shape (correlated "randomisation"); use it to reproduce
        Quantus's numbers.
    layers : int, str or sequence of str, optional
        Which layers take part (default: every module that owns parameters, frozen ones
        included, as Quantus does). An int ``n``: the ``n`` layers closest to the output; a
        string: a regular expression searched in the layer names (``"^layer4"``); a sequence:
        exact layer names. For deep networks, where every step costs one explanation pass.
        Layer seeds keep their position in the full model, so a selection explains the same
        randomised weights as the full cascade at those layers.
    abs, normalise : bool, default True, True
        Take ``|a|`` / divide each map by its max ``|a|`` before comparing (Quantus's
        defaults; Spearman of ``|a|`` is the paper's "absolute" rank correlation).
    normalise_func : callable, optional
        A Quantus-style normalisation, applied to each map on its own (Quantus applies it to
        each batch of maps together, so that with a scale-sensitive ``similarity_func`` its
        scores depend on ``batch_size``). Default: divide each map by its max ``|a|``.

    Returns
    -------
    dict
        ``{"original": [...], layer name: [...], ...}`` per-sample scores, original first
        (the similarity of ``a_batch`` to a fresh explanation of the original model: 1 for a
        deterministic method given ``a_batch`` from it); or a list (see the ``return_*``
        options). ``self.explanations_`` keeps each step's maps for plotting.

    Examples
    --------
    >>> from xai_sanity import Gradient, data
    >>> scores = ModelParameterRandomisation()(*data.toy_problem(), explain_func=Gradient())
    >>> list(scores)  # the original, then each randomised layer, top down
    ['original', '3', '1']
    """

    name = "Model Parameter Randomisation"
    # As Quantus's MPRT; run and compared with it on each in tests/test_quantus_dropin.py.
    data_applicability = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.RANDOMISATION
    suite_params = {"return_average_correlation": True}

    @with_parameters(COMMON_PARAMETERS, order=(*RANDOMISATION_ORDER, *MPRT_EXTRAS), abs=True, store_own=True)
    def __init__(
        self,
        similarity_func: str | Callable = "spearman",
        layer_order: str = "top_down",
        seed: int = 42,
        return_sample_correlation: bool | None = None,
        return_average_correlation: bool = False,
        return_last_correlation: bool = False,
        skip_layers: bool = False,
        layer_seeds: str = "per_layer",
        layers: int | str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if return_sample_correlation is not None:  # Quantus's deprecated name, mapped as Quantus maps it
            warnings.warn(
                "return_sample_correlation is deprecated (as in Quantus): use return_average_correlation; "
                f"setting return_average_correlation={bool(return_sample_correlation)}",
                FutureWarning,
                stacklevel=3,
            )
            self.return_average_correlation = bool(return_sample_correlation)
        super().__init__(**kwargs)
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

    def selected_layers(self, model: nn.Module) -> list[tuple[int, str, nn.Module]]:
        """``(position, name, module)`` of the layers taking part, input to output."""
        layers = [(i, name, module) for i, (name, module) in enumerate(randomisable_layers(model))]
        if not layers:
            raise ValueError("the model has no layers with parameters to randomise")
        sel = self.layers
        if sel is None:
            return layers
        if isinstance(sel, (int, np.integer)) and not isinstance(sel, bool):
            if sel < 1:
                raise ValueError(f"layers={sel!r}: the number of top layers must be >= 1")
            return layers[-int(sel) :]
        if isinstance(sel, str):
            chosen = [entry for entry in layers if re.search(sel, entry[1])]
        elif isinstance(sel, Sequence) and all(isinstance(n, str) for n in sel):
            names = {entry[1] for entry in layers}
            unknown = [n for n in sel if n not in names]
            if unknown:
                raise ValueError(
                    f"layers {unknown} are not layers with parameters; available: {sorted(names)}"
                )
            chosen = [entry for entry in layers if entry[1] in set(sel)]
        else:
            raise TypeError(f"layers must be an int, a regular expression or a list of names, got {sel!r}")
        if not chosen:
            raise ValueError(f"layers={sel!r} selects no layer; available: {[e[1] for e in layers]}")
        return chosen

    def steps(self, model: nn.Module) -> Iterator[tuple[str, dict[torch.Tensor, torch.Tensor]]]:
        """The randomisation steps: ``(layer name, replacements)`` for each step.

        ``replacements`` maps the model's tensors to their randomised values at that step
        (cumulative for the cascading orders, one layer for ``"independent"``); run the model
        inside :func:`xai_sanity._model_ops.swapped_parameters` to explain that step. The
        model itself is never written to.
        """
        indexed = [(i, (name, module)) for i, name, module in self.selected_layers(model)]
        if self.layer_order == "top_down":
            indexed = indexed[::-1]
        cumulative: dict[torch.Tensor, torch.Tensor] = {}
        for i, (name, module) in indexed:
            layer_seed = self.seed + 1 + (i if self.layer_seeds == "per_layer" else 0)
            new = reinitialised_tensors(module, layer_seed)
            if self.layer_order == "independent":
                yield name or "<root>", new
            else:
                cumulative.update(new)
                yield name or "<root>", dict(cumulative)

    def _run(self, model, x, y, a, explain, custom_batch):
        scores: dict[str, np.ndarray] = {}
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            original = self._explain(model, x, y, explain)
            reference = original if a is None else self._preprocess(a)
            if reference.shape != original.shape:
                raise ValueError(
                    f"a_batch of shape {a.shape} does not match explanations of shape {original.shape}"
                )
            similarity_to_reference = self._similarity_to(reference)
            scores["original"] = similarity_to_reference(original)
            self.explanations_ = {"original": original}
            n_steps = len(self.selected_layers(model))
            # Quantus's display_progressbar: one tick per step, the cost (explanation passes) up front.
            bar = tqdm(
                total=n_steps if not self.skip_layers else 1,
                desc=f"{type(self).__name__}: {n_steps if not self.skip_layers else 1} explanation passes of {len(x)} inputs",
                disable=not self._display_progressbar,
                leave=False,
            )
            for i, (name, replacements) in enumerate(self.steps(model)):
                if self.skip_layers and i < n_steps - 1:
                    continue
                with swapped_parameters(model, replacements):
                    randomised = self._explain(model, x, y, explain)
                self.explanations_[name] = randomised
                scores[name] = similarity_to_reference(randomised)
                bar.update(1)
            bar.close()
        steps = [k for k in scores if k != "original"]
        if self.return_average_correlation:
            return np.mean(np.stack([scores[k] for k in steps]), axis=0).tolist()
        if self.return_last_correlation:
            return scores[steps[-1]].tolist()
        return {k: v.tolist() for k, v in scores.items()}
