"""Efficient MPRT (Hedström et al. 2023; Quantus ``EfficientMPRT``): the rise in explanation complexity."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.stats
import torch
from quantus.helpers.enums import DataType, ScoreDirection
from torch import nn

from ..._model_ops import swapped_parameters
from ..._safety import model_guard
from ..._signatures import parameters_of, with_parameters
from ..._validation import accepts_keyword
from .base import LAYER_ORDERS, LAYER_SEEDS, MPRT_EXTRAS, QUANTUS_COMMON, ExplainingMetric
from .parameter import ModelParameterRandomisation

#: Keys of ``complexity_func_kwargs`` that choose the number of histogram bins; they are
#: read by the metric and not passed on to the complexity function.
BIN_KEYS = ("rule", "n_bins_default", "min_n_bins", "max_n_bins", "debug")
N_BINS_RULES = ("Freedman Diaconis", "Scotts", "Square Root", "Sturges Formula", "Rice")


def discrete_entropy(a: np.ndarray, x: np.ndarray | None = None, n_bins: int = 100, **kwargs: Any) -> float:
    """Entropy (in nats) of the histogram of one explanation's values.

    The values are counted in ``n_bins`` equal-width bins between their minimum and maximum
    and the entropy of the bin frequencies is returned: 0 when all values share one bin,
    ``log(n_bins)`` when they spread evenly. Quantus's ``discrete_entropy``.

    Parameters
    ----------
    a : numpy.ndarray
        One explanation, any shape.
    x : numpy.ndarray, optional
        Its input (unused; Quantus's complexity-function signature).
    n_bins : int, default 100

    Returns
    -------
    float

    Examples
    --------
    >>> round(discrete_entropy(np.arange(4.0), n_bins=4), 4)  # log(4)
    1.3863
    """
    counts, _ = np.histogram(np.asarray(a), bins=int(n_bins))
    return float(scipy.stats.entropy(counts))


def n_bins_from_rule(a: np.ndarray, rule: str, min_n_bins: int = 10, max_n_bins: int = 200) -> int:
    """Number of histogram bins by a textbook rule, clipped to ``[min_n_bins, max_n_bins]``.

    Parameters
    ----------
    a : numpy.ndarray
        The batch of explanations ``(N, ...)``. The rules' ``n`` is the number of values in one
        explanation (the size of each histogram); spread, quartiles and standard deviation
        are the batch's.
    rule : {"Freedman Diaconis", "Scotts", "Square Root", "Sturges Formula", "Rice"}
    min_n_bins, max_n_bins : int, default 10, 200

    Returns
    -------
    int
    """
    if rule not in N_BINS_RULES:
        raise ValueError(f"rule must be one of {N_BINS_RULES}, got {rule!r}")
    a = np.asarray(a, dtype=np.float64)
    n, spread = a[0].size, float(a.max() - a.min())
    if rule == "Freedman Diaconis":
        iqr = np.percentile(a, 75) - np.percentile(a, 25)
        n_bins = spread / max(2 * iqr / n ** (1 / 3), 1e-6)
    elif rule == "Scotts":
        n_bins = spread / max(3.5 * np.std(a) / n ** (1 / 3), 1e-6)
    elif rule == "Square Root":
        n_bins = np.sqrt(n)
    elif rule == "Sturges Formula":
        n_bins = np.log2(n) + 1
    else:  # Rice
        n_bins = 2 * n ** (1 / 3)
    return max(min(int(n_bins), max_n_bins), min_n_bins)


class EfficientMPRT(ModelParameterRandomisation):
    """Efficient model-parameter randomisation test (Hedström et al. 2023; Quantus ``EfficientMPRT``).

    Hedström et al., "Sanity Checks Revisited: An Exploration to Repair the Model Parameter
    Randomisation Test" (XAI in Action: Past, Present, and Future Applications, NeurIPS 2023
    workshop), replace MPRT's pairwise similarity of explanations with the *complexity* of
    each explanation, on two models only: the original and the fully randomised one. An
    explanation of a model without learnt structure should look like noise, i.e. be more
    complex. Sample ``i``'s score is the relative rise in complexity,
    ``complexity(randomised_i) / complexity(original_i) - 1``; higher is better. Complexity
    is by default the entropy of the histogram of the map's values (:func:`discrete_entropy`).

    Parameters
    ----------
    complexity_func : callable, optional
        ``f(a=map, x=input, **complexity_func_kwargs) -> float`` for one sample (``map`` with
        its channel axis); default :func:`discrete_entropy`. Quantus's complexity functions work.
    complexity_func_kwargs : dict, optional
        Keywords of ``complexity_func``. Also: ``"n_bins"`` (default 100, given to functions
        that take it); or ``"rule"``, one of :data:`N_BINS_RULES`, to choose it from the
        original explanations, clipped to ``["min_n_bins", "max_n_bins"]`` (10, 200).
    similarity_func : str or callable, default "spearman"
        Only for ``compute_extra_scores``: compares the model's and the explanations'
        complexity over the steps.
    layer_order : {"bottom_up", "top_down", "independent"}, default "bottom_up"
        The randomisation order (the paper advises bottom-up). Cascading orders end with every
        layer randomised; ``"independent"`` ends with only the last layer randomised.
    seed : int, default 42
    compute_extra_scores : bool, default False
        Also fill ``self.scores_extra`` with Quantus's further per-sample scores (complexity
        and output-entropy deltas and fractions, their ratio, the average complexity over the
        randomised steps, and the correlation of output entropy with explanation complexity
        over the steps). Output entropy is that of the softmax of the model's outputs.
    skip_layers : bool, default True
        Explain only the original and the last step (the score needs no more).
    layer_seeds, layers
        As for :class:`ModelParameterRandomisation`.
    abs, normalise : bool, default False, False
        Take ``|a|`` / divide each map by its max ``|a|`` first (the histogram entropy does
        not change under scaling).

    Returns
    -------
    list of float
        One score per sample (NaN, with a warning, where the original map's complexity is 0,
        e.g. a constant map). ``self.explanation_scores_by_layer`` holds the complexities,
        ``self.explanations_`` the maps, ``self.n_bins_`` the number of bins used.

    Notes
    -----
    Differences from Quantus 0.6's ``EfficientMPRT``: a given ``a_batch`` is the original
    explanation (Quantus re-explains the original model and uses ``a_batch`` only to choose
    the number of bins); the bin rules count the values of one explanation (Quantus counts
    its axes, ``a[0].ndim``, so its rules give the minimum number of bins); an unknown rule
    is an error (Quantus silently uses 100 bins); the bins chosen by a rule are not stored
    in ``complexity_func_kwargs`` (Quantus stores them, so later calls skip the rule);
    ``complexity_func`` gets each sample's own input as ``x`` (Quantus passes the first
    sample's input for the original maps and ``None`` for the randomised ones); the output
    entropies of ``compute_extra_scores`` are computed only when asked for; the original
    step's key is ``"original"`` (Quantus: ``"orig"``).

    Examples
    --------
    >>> from xai_sanity import Gradient, data
    >>> len(EfficientMPRT()(*data.toy_problem(), explain_func=Gradient()))
    4
    """

    name = "Efficient Model Parameter Randomisation Test"
    data_applicability = {DataType.IMAGE, DataType.TIMESERIES, DataType.TABULAR}
    score_direction = ScoreDirection.HIGHER
    suite_params: dict[str, Any] = {}

    @with_parameters(
        parameters_of(ModelParameterRandomisation.__init__),
        order=(
            "complexity_func",
            "complexity_func_kwargs",
            "similarity_func",
            "layer_order",
            "seed",
            "compute_extra_scores",
            "skip_layers",
            *QUANTUS_COMMON,
            *MPRT_EXTRAS,
        ),
        layer_order="bottom_up",
        skip_layers=True,
        abs=False,
        normalise=False,
    )
    def __init__(
        self,
        complexity_func: Callable | None = None,
        complexity_func_kwargs: dict[str, Any] | None = None,
        compute_extra_scores: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.complexity_func = discrete_entropy if complexity_func is None else complexity_func
        self.complexity_func_kwargs = dict(complexity_func_kwargs or {})
        self.compute_extra_scores = compute_extra_scores

    def _check_params(self) -> None:
        if self.layer_order not in LAYER_ORDERS:
            raise ValueError(f"layer_order must be one of {LAYER_ORDERS}, got {self.layer_order!r}")
        if self.layer_seeds not in LAYER_SEEDS:
            raise ValueError(f"layer_seeds must be one of {LAYER_SEEDS}, got {self.layer_seeds!r}")
        if not callable(self.complexity_func):
            raise TypeError(f"complexity_func must be callable, got {self.complexity_func!r}")
        rule = self.complexity_func_kwargs.get("rule")
        if rule is not None and rule not in N_BINS_RULES:
            raise ValueError(f"complexity_func_kwargs['rule'] must be one of {N_BINS_RULES}, got {rule!r}")
        ExplainingMetric._check_params(self)

    def _complexity_kwargs(self, original: np.ndarray) -> dict[str, Any]:
        kw = {k: v for k, v in self.complexity_func_kwargs.items() if k not in BIN_KEYS}
        if "n_bins" not in kw:
            rule = self.complexity_func_kwargs.get("rule")
            get = self.complexity_func_kwargs.get
            kw["n_bins"] = (
                get("n_bins_default", 100)
                if rule is None
                else n_bins_from_rule(original, rule, get("min_n_bins", 10), get("max_n_bins", 200))
            )
        self.n_bins_ = kw["n_bins"]
        if not accepts_keyword(self.complexity_func, "n_bins", if_unknown=True):
            kw.pop("n_bins")
        return kw

    def _complexity(self, a: np.ndarray, x: np.ndarray, kw: dict[str, Any]) -> np.ndarray:
        return np.array([float(self.complexity_func(a=ai, x=xi, **kw)) for ai, xi in zip(a, x)])

    def _output_entropy(self, model: nn.Module, x: np.ndarray, batch_size: int) -> np.ndarray:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        out = []
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                chunk = torch.as_tensor(x[start : start + batch_size], device=self._device, dtype=dtype)
                out.append(torch.softmax(model(chunk), dim=1).double().cpu().numpy())
        return scipy.stats.entropy(np.concatenate(out), axis=1)

    def _run(self, model, x, y, a, explain, custom_batch):
        extra = self.compute_extra_scores
        with model_guard(model, eval_mode=False, freeze=False):
            model.eval()
            original = self._reference(model, x, y, a, explain)
            kw = self._complexity_kwargs(original)
            complexity = {"original": self._complexity(original, x, kw)}
            entropy = {"original": self._output_entropy(model, x, explain.batch_size)} if extra else {}
            self.explanations_ = {"original": original}
            n_steps = len(self.selected_layers(model))
            for i, (name, replacements) in enumerate(self.steps(model)):
                if self.skip_layers and i < n_steps - 1:
                    continue
                with swapped_parameters(model, replacements):
                    randomised = self._explain(model, x, y, explain)
                    if extra:
                        entropy[name] = self._output_entropy(model, x, explain.batch_size)
                if randomised.shape != original.shape:
                    raise ValueError(
                        f"a_batch of shape {original.shape} does not match explanations of shape "
                        f"{randomised.shape}"
                    )
                self.explanations_[name] = randomised
                complexity[name] = self._complexity(randomised, x, kw)
        self.explanation_scores_by_layer = {k: v.tolist() for k, v in complexity.items()}
        self.model_scores_by_layer = {k: v.tolist() for k, v in entropy.items()}
        first, last = complexity["original"], list(complexity.values())[-1]
        if extra:
            self.scores_extra = self._extra_scores(complexity, entropy)
        if np.any(first == 0):
            warnings.warn(
                f"{type(self).__name__}: {int(np.sum(first == 0))} original explanation(s) have "
                "complexity 0 (e.g. constant maps); their relative rise is undefined (NaN)",
                RuntimeWarning,
                stacklevel=4,
            )
        return _ratio(last - first, first).tolist()

    def _extra_scores(self, complexity: dict[str, np.ndarray], entropy: dict[str, np.ndarray]) -> dict:
        """Quantus's ``scores_extra``, per sample."""
        steps = list(complexity)
        c0, c1 = complexity[steps[0]], complexity[steps[-1]]
        m0, m1 = entropy[steps[0]], entropy[steps[-1]]
        fraction_explanation, fraction_model = _ratio(c1, c0), _ratio(m1, m0)
        over_steps = [np.stack([d[k] for k in steps], axis=1) for d in (entropy, complexity)]
        scores = {
            "scores_delta_explanation": c1 - c0,
            "scores_fraction_explanation": fraction_explanation,
            "scores_delta_model": m1 - m0,
            "scores_fraction_model": fraction_model,
            "scores_delta_explanation_vs_models": _ratio(fraction_explanation, fraction_model),
            "scores_average_complexity": np.mean([complexity[k] for k in steps[1:]], axis=0),
            "scores_correlation_model_vs_explanation_complexity": self._similarity(*over_steps),
        }
        return {k: np.asarray(v, dtype=np.float64).tolist() for k, v in scores.items()}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den != 0)
