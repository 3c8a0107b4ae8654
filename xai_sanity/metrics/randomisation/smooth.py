"""Smooth MPRT (Hedström et al. 2023; Quantus ``SmoothMPRT``): MPRT on denoised explanations."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from quantus.helpers.enums import DataType
from torch import nn

from ..._safety import make_generator
from ..._signatures import parameters_of, with_parameters
from ..._validation import check_non_negative, check_positive_int
from ...enhancers import SmoothGrad
from .._plumbing import ExplainCall
from .base import MPRT_EXTRAS, QUANTUS_COMMON
from .parameter import ModelParameterRandomisation

#: MPRT's parameters after ``seed`` in sMPRT's signature (Quantus's order).
_MPRT_TAIL = (
    "return_average_correlation",
    "return_last_correlation",
    "skip_layers",
    *QUANTUS_COMMON,
    *MPRT_EXTRAS,
)


class SmoothMPRT(ModelParameterRandomisation):
    """Smooth model-parameter randomisation test (Hedström et al. 2023; Quantus ``SmoothMPRT``).

    The model-parameter randomisation test of :class:`ModelParameterRandomisation`, with one
    change proposed by Hedström et al., "Sanity Checks Revisited: An Exploration to Repair
    the Model Parameter Randomisation Test" (XAI in Action: Past, Present, and Future
    Applications, NeurIPS 2023 workshop): every explanation, of the
    original and of each randomised model, is first averaged over ``nr_samples`` copies of
    the input, ``nr_samples - 1`` of them with Gaussian noise of standard deviation
    ``noise_magnitude * (max(x) - min(x))`` (each input's own value range) and one without
    noise. Averaging removes the input-noise part of the explanations, whose chance
    agreement or disagreement would otherwise be read as a (lack of) dependence on the
    model.

    The explanations are those of the given ``explain_func`` (with ``explain_func_kwargs``);
    the noisy copies go through the :class:`xai_sanity.SmoothGrad` engine with that function
    as its base, in chunks of ``batch_size`` inputs.

    Parameters
    ----------
    similarity_func : str or callable, default "spearman"
        A name in :data:`xai_sanity.SIMILARITIES` or ``f(a, b) -> (N,)`` scores.
    layer_order : {"bottom_up", "top_down", "independent"}, default "bottom_up"
        As for :class:`ModelParameterRandomisation`; the default is Quantus's.
    seed : int, default 42
        Seeds the layer re-initialisation (as in :class:`ModelParameterRandomisation`) and
        the input noise. Every step is explained on the same noisy inputs, so differences
        between steps come from the model alone. The same seed (and ``batch_size``) gives
        the same scores.
    nr_samples : int, default 50
        Copies of the input per explanation, one of them without noise; ``1`` is the plain
        MPRT. Quantus's default, set for ImageNet in the paper.
    noise_magnitude : float, default 0.1
        Noise standard deviation as a fraction of each input's value range.
    return_average_correlation, return_last_correlation, skip_layers, layer_seeds, layers
        As for :class:`ModelParameterRandomisation`.
    abs, normalise : bool, default True, True
        Take ``|a|`` / normalise each averaged map (by default: divide it by its max ``|a|``;
        a Quantus ``normalise_func`` may be given, and is applied to each map on its own).

    Returns
    -------
    dict or list
        As :class:`ModelParameterRandomisation`; ``self.explanations_`` holds the averaged maps.

    Notes
    -----
    Deliberate differences from Quantus 0.6's ``SmoothMPRT``:

    * Quantus ignores ``explain_func`` and always explains with ``quantus.explain`` (and the
      ``explain_func_kwargs``); here the given ``explain_func`` is used, as in every metric.
    * Quantus draws the noise from NumPy's global generator, unseeded, so its scores change
      from call to call; here it is seeded by ``seed`` and the global generators are untouched.
    * Quantus's default normalisation divides the whole batch by one number (the root mean
      square over all its values), so a sample's map depends on its batch mates; here each
      map is divided by its own max ``|a|`` (as in our MPRT). Rank and correlation
      similarities (``"spearman"``, ``"pearson"``) are unaffected by either.
    * Quantus's average over steps includes the original model's self-similarity; it is
      excluded here (as in :class:`ModelParameterRandomisation`).

    With ``nr_samples=1`` the scores are exactly those of :class:`ModelParameterRandomisation`.

    Examples
    --------
    >>> from xai_sanity import Gradient, data
    >>> smprt = SmoothMPRT(nr_samples=5, return_last_correlation=True)
    >>> len(smprt(*data.toy_problem(), explain_func=Gradient()))  # one score per sample
    4
    """

    name = "Smooth Model Parameter Randomisation Test"
    data_applicability = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    # The paper's score: original vs fully randomised model, on a few noisy copies.
    suite_params = {"return_last_correlation": True, "skip_layers": True, "nr_samples": 5}
    quick_params = {"nr_samples": 3}

    @with_parameters(
        parameters_of(ModelParameterRandomisation.__init__),
        order=("similarity_func", "layer_order", "seed", ..., *_MPRT_TAIL),
        layer_order="bottom_up",
        store_own=True,
    )
    def __init__(self, nr_samples: int = 50, noise_magnitude: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def _check_params(self) -> None:
        check_positive_int(self.nr_samples, "nr_samples")
        check_non_negative(self.noise_magnitude, "noise_magnitude")
        super()._check_params()

    def _explain(self, model: nn.Module, x: np.ndarray, y: np.ndarray, explain: ExplainCall) -> np.ndarray:
        """Mean of the caller's explanations over the clean input and ``nr_samples - 1`` noisy copies."""
        a = explain(model, x, y)
        n_noisy = self.nr_samples - 1
        if n_noisy > 0:
            # The caller's function and keywords are the engine's base, called as Quantus
            # calls an explain function; one generator per pass, so each step sees the same noise.
            noisy = SmoothGrad(
                base=functools.partial(explain.func, **explain.kwargs),
                n_samples=n_noisy,
                noise_level=self.noise_magnitude,
                noise_relative=True,
                generator=make_generator(self.seed, self._device),
                batch_size=explain.batch_size,
            )
            # reduce_axes=None: the base's output is averaged as it is, channels and all.
            mean_noisy = ExplainCall(noisy, {"reduce_axes": None}, explain.batch_size)(model, x, y)
            if mean_noisy.shape != a.shape:
                raise ValueError(
                    f"explain_func returned maps of shape {mean_noisy.shape} for noisy inputs but "
                    f"{a.shape} for clean ones"
                )
            a = (a + n_noisy * mean_noisy) / self.nr_samples
        return self._preprocess(a)
