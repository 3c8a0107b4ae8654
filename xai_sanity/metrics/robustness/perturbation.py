"""Perturbations of the robustness metrics: seeded noise, Quantus-style functions, checks.

The default perturbations are Quantus's uniform and Gaussian noise, drawn from one private
:func:`numpy.random.default_rng` generator per sample (seeded from the metric's ``seed`` and
the sample's position in ``x_batch``), never from the global random state. A callable
``perturb_func`` is called exactly as Quantus calls it instead. The checks of the
metrics' numeric parameters (:func:`check_int`, :func:`check_real`, :func:`check_noise`)
live here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from quantus.functions.perturb_func import batch_gaussian_noise, batch_uniform_noise

__all__ = [
    "NOISE_DEFAULTS",
    "check_int",
    "check_noise",
    "check_real",
    "count_unchanged",
    "noise_kind",
    "perturb_with_function",
    "sample_generators",
    "seeded_noise",
]

#: The seeded noises by name, with the defaults of Quantus's ``batch_uniform_noise`` and
#: ``batch_gaussian_noise``.
NOISE_DEFAULTS: dict[str, dict[str, Any]] = {
    "uniform": {"lower_bound": 0.02, "upper_bound": None},
    "gaussian": {"perturb_mean": 0.0, "perturb_std": 0.01},
}


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int; a ``TypeError`` or ``ValueError`` naming ``name`` unless it is an int >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(value: Any, name: str) -> float:
    """``value`` as a float; a ``TypeError`` or ``ValueError`` naming ``name`` unless it is a finite real."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def check_noise(kind: str, params: dict[str, Any]) -> None:
    """Raise a clear error for noise parameters that do not define a distribution."""
    if kind == "uniform":
        low = check_real(params["lower_bound"], "lower_bound")
        high = params["upper_bound"]
        if high is None:
            if low < 0:
                raise ValueError(
                    f"lower_bound must be >= 0 when upper_bound is None (the noise is drawn from "
                    f"[-lower_bound, lower_bound]), got {low}"
                )
        elif check_real(high, "upper_bound") <= low:
            raise ValueError(f"upper_bound must be larger than lower_bound, got {high} <= {low}")
    else:
        check_real(params["perturb_mean"], "perturb_mean")
        if check_real(params["perturb_std"], "perturb_std") < 0:
            raise ValueError(f"perturb_std must be >= 0, got {params['perturb_std']}")


def noise_kind(perturb_func: Any) -> str | None:
    """Which seeded noise ``perturb_func`` selects.

    Parameters
    ----------
    perturb_func : str or callable
        ``"uniform"`` or ``"gaussian"``; Quantus's ``batch_uniform_noise`` and
        ``batch_gaussian_noise`` select the seeded noise of the same distribution.

    Returns
    -------
    str or None
        ``"uniform"`` or ``"gaussian"``, or None for any other callable (called as Quantus
        calls it, see :func:`perturb_with_function`).

    Raises
    ------
    ValueError, TypeError
        For another string, or for something that is neither a string nor callable.
    """
    if isinstance(perturb_func, str):
        if perturb_func not in NOISE_DEFAULTS:
            raise ValueError(
                f"perturb_func must be 'uniform', 'gaussian' or a callable, got {perturb_func!r}"
            )
        return perturb_func
    if perturb_func is batch_uniform_noise or perturb_func is batch_gaussian_noise:
        return "uniform" if perturb_func is batch_uniform_noise else "gaussian"
    if callable(perturb_func):
        return None
    raise TypeError(f"perturb_func must be 'uniform', 'gaussian' or a callable, got {perturb_func!r}")


def sample_generators(seed: int | None, positions: Sequence[int]) -> list[np.random.Generator]:
    """One generator per sample, seeded by ``seed`` and the sample's position.

    Parameters
    ----------
    seed : int or None
        The metric's seed; None draws fresh entropy from the operating system.
    positions : sequence of int
        The positions of the samples in ``x_batch``.

    Returns
    -------
    list of numpy.random.Generator
        The generator of the sample at position ``p`` depends only on ``seed`` and ``p``,
        so its noise does not depend on how the inputs are split into batches or chunks,
        nor on which other samples are scored with it.
    """
    entropy = seed if seed is not None else np.random.SeedSequence().entropy
    return [np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(int(p),))) for p in positions]


def seeded_noise(
    x: np.ndarray, k: int, generators: list[np.random.Generator], kind: str, params: dict[str, Any]
) -> np.ndarray:
    """``k`` noisy copies of the batch ``x``, shape ``(k, N, *x.shape[1:])``.

    Parameters
    ----------
    x : numpy.ndarray
        The batch ``(N, ...)``.
    k : int
        Copies (perturbation indices) to draw.
    generators : list of numpy.random.Generator
        One per sample (:func:`sample_generators`); sample ``i``'s noise comes from
        ``generators[i]``.
    kind : {"uniform", "gaussian"}
        Uniform noise from ``[lower_bound, upper_bound]`` (``[-lower_bound, lower_bound]``
        when ``upper_bound`` is None), or Gaussian noise ``N(perturb_mean, perturb_std²)``.
    params : dict
        The noise parameters (complete, see :data:`NOISE_DEFAULTS`).

    Returns
    -------
    numpy.ndarray
        ``x + noise``, summed in float64 and cast to the inputs' floating dtype (float32
        for other inputs), as Quantus computes it.
    """
    n = len(x)
    flat = x.reshape(n, -1)
    noise = np.empty((k, n, flat.shape[1]))
    for i, gen in enumerate(generators):
        if kind == "uniform":
            low, high = params["lower_bound"], params["upper_bound"]
            if high is None:
                low, high = -low, low
            noise[:, i] = gen.uniform(low, high, size=(k, flat.shape[1]))
        else:
            noise[:, i] = gen.normal(params["perturb_mean"], params["perturb_std"], size=(k, flat.shape[1]))
    noise += flat[None]
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    return noise.astype(dtype, copy=False).reshape(k, *x.shape)


def perturb_with_function(
    perturb_func: Callable, x: np.ndarray, k: int, perturb_func_kwargs: dict[str, Any]
) -> np.ndarray:
    """``k`` perturbed copies of ``x`` from a Quantus-style function, shape ``(k, N, ...)``.

    ``perturb_func(arr=(N, F), indices=(N, F), **perturb_func_kwargs)`` is called once per
    copy with the whole flattened batch and every feature index, as Quantus's robustness
    metrics call it once per perturbation index, so a deterministic function gives both
    implementations the same perturbations.

    Raises
    ------
    ValueError
        If the function returns an array of another size than the batch.
    """
    n = len(x)
    flat = x.reshape(n, -1)
    indices = np.tile(np.arange(flat.shape[1]), (n, 1))
    copies = [
        np.asarray(perturb_func(arr=flat.copy(), indices=indices, **perturb_func_kwargs)) for _ in range(k)
    ]
    for copy in copies:
        if copy.size != flat.size:
            raise ValueError(
                f"perturb_func returned an array of shape {copy.shape} for inputs of shape {flat.shape}"
            )
    return np.stack([c.reshape(x.shape) for c in copies])


def count_unchanged(x: np.ndarray, x_pert: np.ndarray) -> tuple[int, int]:
    """How many of the perturbed inputs ``x_pert`` (``(k, N, ...)``) equal their original in ``x``.

    Returns
    -------
    (int, int)
        The perturbed inputs close to their original (:func:`numpy.isclose`, NaN equal to
        NaN) and all perturbed inputs.
    """
    same = np.isclose(x_pert, x[None], equal_nan=True).reshape(x_pert.shape[0] * len(x), -1).all(axis=1)
    return int(same.sum()), int(same.size)
