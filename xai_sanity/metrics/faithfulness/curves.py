"""ROAD's curves: remove pixels by rank, impute them, record the model's output.

:func:`road_curves` gives, for each sample, the MoRF (most relevant first) and LeRF (least
relevant first) curves over a grid of removed fractions, imputed by noisy linear imputation
(Rong et al., ICML 2022), a fixed fill, or a Quantus-style perturbation function; the
imputed inputs are stacked and forwarded in chunks sized to the memory budget.
:func:`road_score` is the area between the two curves. The metric class is in :mod:`.road`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..._memory import input_cost, memory_budget
from ..._validation import as_model_input, model_device
from ..imputation import check_imputation, impute
from ..roar.removal import channel_means, check_fractions, removal_mask

__all__ = ["DEFAULT_FRACTIONS", "MEASURES", "road_curves", "road_score"]

#: The fractions of features removed by default: 10 %, 20 %, ..., 90 % (Rong et al. 2022
#: report curves over this range).
DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: What is recorded per imputed input: the target's softmax probability, or 1/0 for whether
#: the model still predicts the target (ROAD's accuracy curves).
MEASURES = ("probability", "accuracy")
#: At most this many input values are stacked for one forward pass (64 MiB of float32).
_VALUE_BUDGET = 2**24
#: Separates the imputation noise's seeds from the tie-breaking keys of the ranking.
_NOISE_STREAM = 0x20AD


def _forward_rows(model: nn.Module, x: np.ndarray) -> int:
    """Imputed inputs per forward pass: what the memory budget and the value budget allow."""
    per_input = max(1, int(np.prod(x.shape[1:])))
    # The model's activations (no backward pass) plus the stacked numpy copies of the input.
    cost = input_cost(model, as_model_input(x[:1], model), backward=False) + 3 * per_input * x.itemsize
    by_memory = memory_budget(model_device(model)) // max(1, cost)
    return int(max(1, min(by_memory, _VALUE_BUDGET // per_input)))


def _measure(outputs: torch.Tensor, targets: np.ndarray, measure: str, softmax: bool) -> np.ndarray:
    """Per row: the target's probability (softmax of the outputs unless ``softmax`` is False)
    or whether the predicted class is the target."""
    outputs = outputs.detach().to(torch.float64).cpu()
    rows = torch.arange(len(targets))
    target = torch.as_tensor(targets, dtype=torch.long)
    if measure == "accuracy":
        return (outputs.argmax(dim=-1) == target).to(torch.float64).numpy()
    values = torch.softmax(outputs, dim=-1) if softmax else outputs
    return values[rows, target].numpy()


def road_curves(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    imputation: str | Callable[..., np.ndarray] = "noisy_linear",
    fill: np.ndarray | Sequence[float] | float | None = None,
    noise: float | None = None,
    measure: str = "probability",
    softmax: bool = True,
    seed: int = 0,
    positions: np.ndarray | None = None,
    chunk_size: int | None = None,
    lerf: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """MoRF and LeRF curves of each sample: the model's output after removing ranked features.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, used as it is (the caller puts it in eval mode); never written to.
    x : numpy.ndarray
        Inputs ``(N, C, *spatial)`` (images ``(N, C, H, W)``, series ``(N, C, T)``) or tables
        ``(N, F)``.
    y : numpy.ndarray
        Target classes ``(N,)``.
    a : numpy.ndarray
        Attributions ``(N, 1 or C, *spatial)`` (``(N, F)`` for tables), finite. Pixels are
        ranked by their attribution summed over channels (tables: each feature on its own);
        ties are broken by a seeded random order (:func:`xai_sanity.metrics.roar.removal.removal_mask`).
    fractions : sequence of float, default :data:`DEFAULT_FRACTIONS`
        Fractions of the pixels removed, in ``[0, 1]``; exactly ``round(p * n_pixels)`` per
        sample. Sorted and de-duplicated.
    imputation : {"noisy_linear", "mean"} or callable, default "noisy_linear"
        How removed pixels are filled (:func:`xai_sanity.metrics.imputation.impute`):
        ROAD's noisy linear imputation (images and series only) or a fixed value per channel.
        A callable is a Quantus-style perturbation function, called once per imputed input
        as Quantus's ``ROAD`` calls ``noisy_linear_imputation``: ``f(arr=sample, indices=idx)``
        with one sample ``(C, ...)`` (tables: ``(F,)``) and the flat indices of the removed
        pixels over its spatial axes (tables: its features); it returns the imputed sample.
    fill : float or array of shape (C,), optional
        The value per channel of ``"mean"`` (and of wholly removed inputs under
        ``"noisy_linear"``). Default: the channel means of ``x`` over the batch (feature
        means for tables), as ROAR fills with the data's means.
    noise : float, optional
        Standard deviation of the imputation noise. Default: none for ``"mean"``; for
        ``"noisy_linear"`` 0.01 times each channel's standard deviation within the sample.
    measure : {"probability", "accuracy"}, default "probability"
        What each point of a curve holds: the target's probability, or 1/0 for whether the
        model still predicts the target (ROAD's accuracy, averaged over a data set).
    softmax : bool, default True
        Whether ``"probability"`` applies a softmax to the model's outputs (False for a
        model that outputs probabilities already).
    seed : int, default 0
        Seeds the tie-breaking order and the imputation noise, per sample (with its position).
    positions : numpy.ndarray, optional
        Each sample's position in its data set ``(N,)`` (default ``0 .. N-1``), which with
        ``seed`` draws its tie-breaking order and noise, so that a sample's curves do not
        depend on the chunks it is computed in.
    chunk_size : int, optional
        Imputed inputs per forward pass; default: what the memory budget allows
        (:mod:`xai_sanity._memory`). The curves do not depend on it.
    lerf : bool, default True
        Also compute the LeRF curves (False: MoRF only, half the work; ``lerf`` is None).

    Returns
    -------
    tuple of numpy.ndarray
        ``(morf, lerf)``, each ``(N, len(fractions))`` float64: the measure after removing the
        most relevant (MoRF) and the least relevant (LeRF) pixels, one column per fraction.

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    >>> x = np.ones((1, 1, 2, 2), np.float32)
    >>> a = np.arange(4.0).reshape(1, 1, 2, 2)
    >>> morf, lerf = road_curves(model, x, np.array([0]), a, (0.5,), imputation="mean")
    >>> morf.shape, lerf.shape
    ((1, 1), (1, 1))
    """
    fractions = check_fractions(fractions)
    perturb = imputation if callable(imputation) else None
    imputation = "custom" if perturb is not None else check_imputation(imputation)
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    a = np.asarray(a)
    n = len(x)
    table = x.ndim == 2
    if imputation == "noisy_linear" and table:
        raise ValueError(
            "imputation='noisy_linear' needs neighbouring pixels: inputs (N, C, T) or (N, C, H, W); "
            f"x is a table {x.shape}. Use imputation='mean' for tables"
        )
    if a.shape[0] != n or a.ndim != x.ndim:
        raise ValueError(f"attributions {a.shape} do not fit inputs {x.shape}")
    if imputation == "mean" and fill is None:
        fill = channel_means(x)
    positions = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)
    if positions.shape != (n,):
        raise ValueError(f"positions must have shape ({n},), got {positions.shape}")
    orders = (False, True) if lerf else (False,)
    n_rows = len(orders) * len(fractions)  # MoRF then LeRF, one row per fraction
    rows_per_pass = int(chunk_size) if chunk_size is not None else _forward_rows(model, x)
    if rows_per_pass < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    samples_per_chunk = max(1, rows_per_pass // n_rows)
    curves = np.empty((n, n_rows), dtype=np.float64)
    for start in range(0, n, samples_per_chunk):
        stop = min(n, start + samples_per_chunk)
        imputed = []
        for i in range(start, stop):
            xi, ai = x[i : i + 1], a[i : i + 1]
            removed = np.concatenate(
                [
                    removal_mask(
                        ai, xi.shape, p, keep=least_first, per_pixel=not table, seed=seed, stream=positions[i]
                    )
                    for least_first in orders
                    for p in fractions
                ]
            )
            if perturb is not None:
                imputed.append(np.stack([_perturbed(perturb, xi[0], mask) for mask in removed]))
                continue
            copies = np.broadcast_to(xi, (n_rows, *x.shape[1:]))
            rng = np.random.default_rng([int(seed), _NOISE_STREAM, int(positions[i])])
            imputed.append(impute(copies, removed, imputation, fill=fill, noise=noise, seed=rng))
        stacked = np.concatenate(imputed)
        targets = np.repeat(y[start:stop], n_rows)
        values = []
        for lo in range(0, len(stacked), rows_per_pass):
            with torch.no_grad():
                out = model(as_model_input(stacked[lo : lo + rows_per_pass], model))
            values.append(_measure(out, targets[lo : lo + rows_per_pass], measure, softmax))
        curves[start:stop] = np.concatenate(values).reshape(stop - start, n_rows)
    k = len(fractions)
    return curves[:, :k], (curves[:, k:] if lerf else None)


def _perturbed(perturb: Callable[..., np.ndarray], sample: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """``perturb(arr=sample, indices=...)`` for one removal mask, checked (see :func:`road_curves`)."""
    out = np.asarray(perturb(arr=sample.copy(), indices=np.flatnonzero(removed.reshape(-1))))
    if out.shape != sample.shape:
        raise ValueError(
            f"perturb_func returned an array of shape {out.shape} for a sample of shape {sample.shape}; "
            "it must return the perturbed sample"
        )
    return out.astype(sample.dtype, copy=False)


def road_score(morf: np.ndarray, lerf: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    """Area between the LeRF and MoRF curves per unit of removed fraction, ``(N,)``.

    ``trapezoid(lerf - morf, fractions) / (max(fractions) - min(fractions))``: for an evenly
    spaced grid, the mean gap with the two end points weighted by half. One fraction: the gap
    itself. Positive when removing the top-ranked pixels hurts the model more than removing
    the bottom-ranked ones; in ``[-1, 1]`` for probabilities and accuracies.

    Examples
    --------
    >>> road_score(np.array([[0.2, 0.0]]), np.array([[0.8, 0.6]]), (0.1, 0.9))
    array([0.6])
    """
    fractions = np.asarray(check_fractions(fractions), dtype=np.float64)
    gap = np.asarray(lerf, dtype=np.float64) - np.asarray(morf, dtype=np.float64)
    if gap.shape[-1] != fractions.size:
        raise ValueError(f"curves have {gap.shape[-1]} points, fractions {fractions.size}")
    if fractions.size == 1:
        return gap[..., 0]
    return np.trapezoid(gap, fractions, axis=-1) / (fractions[-1] - fractions[0])
