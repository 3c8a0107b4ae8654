"""Robustness metrics: how far does an explanation move when its input moves a little?

Every metric perturbs each input ``nr_samples`` times, explains the perturbed copies and
compares their explanations with the original one:

* :class:`MaxSensitivity` / :class:`AvgSensitivity` (:mod:`.sensitivity`): the largest /
  mean relative change of the explanation (Yeh et al. 2019);
* :class:`LocalLipschitzEstimate` (:mod:`.lipschitz`): the largest ratio of explanation
  change to input change (Alvarez-Melis & Jaakkola 2018);
* :class:`RelativeInputStability` (:mod:`.relative_stability`): the largest ratio of the
  *relative* explanation change to the *relative* input change (Agarwal et al. 2022).

The per-perturbation scores are plain batched functions (:func:`.sensitivity.sensitivity`,
:func:`.lipschitz.lipschitz_ratio`, :func:`.relative_stability.relative_input_stability_ratio`);
the shared loop lives in :mod:`.base` and the noise in :mod:`.perturbation`.

The metrics can replace the Quantus metrics of the same names: they take the same
constructor parameters with the same defaults and give the same scores for the same
perturbations. Like Quantus's, they take images ``(N, C, H, W)``, time series
``(N, C, T)`` and tables ``(N, F)``, in any floating dtype (float64 batches reach a float32
model in its dtype). They differ in how the work is done:

* **Batched explanations.** Quantus explains the batch once per perturbation index, i.e.
  ``nr_samples`` explain calls of N inputs each. Here the N x ``nr_samples`` perturbed
  inputs of a batch are stacked and explained in chunks of up to ``chunk_size`` inputs: a
  batch of 64 with 200 samples takes 13 explain calls instead of 200. The predictions for
  ``return_nan_when_prediction_changes`` are batched alike, and each norm or similarity
  is computed for a whole chunk at once.
* **Private, seeded noise.** The default perturbations (Quantus's uniform or Gaussian
  noise, with the same parameters) come from :func:`numpy.random.default_rng` generators
  seeded from ``seed``, one per sample (by its position in ``x_batch``), never from the
  global random state. A call is therefore deterministic, and a sample's noise does not
  depend on ``batch_size`` or ``chunk_size``.
* **Quantus-style perturbation functions still work.** A callable ``perturb_func`` is
  called the way Quantus calls it, once per perturbation index with the whole batch:
  ``perturb_func(arr=x.reshape(N, -1), indices=..., **perturb_func_kwargs)``. The same
  deterministic function given to both implementations thus gives the same scores.
  Quantus's own ``batch_uniform_noise`` or ``batch_gaussian_noise`` select the seeded
  equivalent (same distribution, private generator).

As in Quantus, ``normalise_func`` normalises the attributions of one explain batch of N
together (the original ones per ``batch_size`` batch, the perturbed ones per perturbation
index), so with ``normalise=True`` and Quantus's default ``normalise_by_max`` a sample's
score depends on the other samples in its batch.

**Bad maps and undefined scores.** A map with NaN or Inf (from a faulty explanation
function) costs only its own sample's score, which is NaN; each call emits one
``RuntimeWarning`` per kind of problem that counts the samples affected, whatever
``disable_warnings`` says:

* a sample whose *original* map is not finite is left out of its batch: it is not
  perturbed, and ``normalise_func`` normalises the other maps as if it were absent. The
  others therefore score as in a call without it, given the same noise (the seeded noise
  of a sample depends only on ``seed`` and its position in ``x_batch``);
* a non-finite map of a *perturbed* input makes its sample's score NaN (also where NaN
  steps are otherwise skipped) and is left out of the normalisation of its perturbation
  index. With ``normalise=False`` (the default of all but
  :class:`LocalLipschitzEstimate`) or a normalisation of each map on its own, the others
  score as if that map had been finite; a normalisation of the whole batch normalises
  the others of that perturbation index without it;
* a score that is undefined for a finite map scores NaN: Max- and Avg-Sensitivity divide
  by the norm of the original map, so a map of norm 0 (all zero) scores NaN. Where the
  score is defined it is returned: the Local Lipschitz Estimate of an all-zero map, and
  its Relative Input Stability, where ``eps_min`` stands in for the zeros by definition.

A batch of maps that is all zero or constant, given as ``a_batch`` or from
``explain_func``, is scored like any other (Quantus raises a bare ``AssertionError``).

The chunked model calls live in :mod:`.chunks`.
"""

from ...registry import METRICS
from .base import CHUNK_VALUE_BUDGET, DEFAULT_CHUNK_SIZE, RobustnessMetric, _RobustnessMetric  # noqa: F401
from .lipschitz import LocalLipschitzEstimate
from .relative_stability import RelativeInputStability
from .sensitivity import AvgSensitivity, MaxSensitivity

__all__ = [
    "AvgSensitivity",
    "LocalLipschitzEstimate",
    "MaxSensitivity",
    "RelativeInputStability",
]

# Registered under their class names, with Quantus's names as aliases.
for _cls, _aliases in (
    (MaxSensitivity, ("Max-Sensitivity",)),
    (AvgSensitivity, ("Avg-Sensitivity", "Average Sensitivity")),
    (LocalLipschitzEstimate, ("Local Lipschitz Estimate",)),
    (RelativeInputStability, ("Relative Input Stability",)),
):
    METRICS.register(_cls, name=_cls.name, aliases=_aliases)
