"""The accuracy-drop heuristic for NoiseGrad's weight-noise level (Bykov et al., AAAI 2022).

The paper picks the std ``σ`` of the multiplicative weight noise so that the relative
accuracy drop

    AD(σ) = 1 - (ACC(σ) - ACC(∞)) / (ACC(0) - ACC(∞))

reaches about 5%, where ``ACC(σ)`` is the accuracy of the noisy models and ``ACC(∞)`` the
chance level. The paper's code does not implement the search; this module does.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._model_ops import WEIGHT_NOISE_MODES, noisy_parameters, swapped_parameters
from ._safety import derive_seed, make_generator, model_guard
from ._validation import (
    as_input_tensor,
    as_target_tensor,
    check_model,
    check_positive_int,
    check_targets_in_range,
    resolve_device,
)


@dataclass
class NoiseLevelResult:
    """Outcome of :func:`tune_noise_level`.

    Attributes
    ----------
    std : float
        The chosen weight-noise std (where ``AD`` reaches ``target_drop``).
    target_drop : float
    accuracy_clean : float
        ``ACC(0)``, the accuracy of the unperturbed model.
    chance : float
        ``ACC(∞)``.
    sigmas, accuracies, accuracy_stds, drops : numpy.ndarray
        Every evaluated noise level (sorted), its mean accuracy over the draws, the std of
        the accuracy across draws, and ``AD(σ)``.
    reached : bool
        False when even ``sigma_max`` did not reach the target (then ``std = sigma_max``).
    """

    std: float
    target_drop: float
    accuracy_clean: float
    chance: float
    sigmas: np.ndarray = field(repr=False)
    accuracies: np.ndarray = field(repr=False)
    accuracy_stds: np.ndarray = field(repr=False)
    drops: np.ndarray = field(repr=False)
    reached: bool = True

    def to_frame(self):
        """The measured curve as a pandas DataFrame (sigma, accuracy, accuracy_std, drop)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "sigma": self.sigmas,
                "accuracy": self.accuracies,
                "accuracy_std": self.accuracy_stds,
                "drop": self.drops,
            }
        )

    def plot(self, ax=None, label: str | None = None):
        """Plot ``AD(σ)`` against ``σ`` (log axis) with the target and the chosen std."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.2))
        positive = self.sigmas > 0
        ax.plot(self.sigmas[positive], self.drops[positive], marker="o", ms=3, label=label)
        ax.axhline(self.target_drop, color="black", lw=0.8, ls="--")
        ax.axvline(self.std, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("weight noise std σ")
        ax.set_ylabel("relative accuracy drop AD(σ)")
        return ax


def tune_noise_level(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    target_drop: float = 0.05,
    *,
    n_draws: int = 8,
    noise_mode: str = "multiplicative",
    chance: float | None = None,
    sigma_start: float = 0.01,
    sigma_max: float = 10.0,
    refine_steps: int = 6,
    batch_size: int = 512,
    seed: int | None = 0,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> NoiseLevelResult:
    """Find the weight-noise std whose relative accuracy drop reaches ``target_drop``.

    The accuracy at each ``σ`` is averaged over ``n_draws`` noisy models. The same noise
    directions ``z_d`` are reused at every ``σ`` (``W ⊙ (1 + σ z_d)``: common random numbers),
    so the measured curve is smooth and the search is deterministic for a seed. The search
    doubles ``σ`` from ``sigma_start`` until the target is passed, then bisects the bracket
    on a log scale ``refine_steps`` times, and interpolates.

    Parameters
    ----------
    model : torch.nn.Module
        A trained classifier (returned untouched).
    x, y : array or tensor
        Held-out inputs ``(N, C, ...)`` and labels ``(N,)``.
    target_drop : float, default 0.05
        The paper's 5%.
    n_draws : int, default 8
        Noisy models per noise level.
    noise_mode : {"multiplicative", "additive"}, default "multiplicative"
    chance : float, optional
        ``ACC(∞)``; defaults to ``1 / n_classes`` (read from the model's output).
    sigma_start, sigma_max : float
        The search range.
    refine_steps : int, default 6
    batch_size : int, default 512
        Inputs per forward pass.
    seed, generator
        Randomness (never the global RNG).
    device : optional
        Defaults to the model's device.
    progress : bool, default False
        Show a progress bar over evaluated noise levels.

    Returns
    -------
    NoiseLevelResult

    Examples
    --------
    >>> import torch, numpy as np
    >>> model = torch.nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 8, np.float32); y = np.array([0, 1] * 8)
    >>> result = tune_noise_level(model, x, y, n_draws=16)
    >>> 0.1 < result.std < 2.0
    True
    """
    model = check_model(model)
    if not 0 < target_drop < 1:
        raise ValueError(f"target_drop must be in (0, 1), got {target_drop!r}")
    n_draws = check_positive_int(n_draws, "n_draws")
    refine_steps = check_positive_int(refine_steps, "refine_steps", minimum=0)
    batch_size = check_positive_int(batch_size, "batch_size")
    if noise_mode not in WEIGHT_NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {WEIGHT_NOISE_MODES}, got {noise_mode!r}")
    if not 0 < sigma_start < sigma_max:
        raise ValueError(f"need 0 < sigma_start < sigma_max, got {sigma_start!r}, {sigma_max!r}")
    dev = resolve_device(device, model)
    x_t = as_input_tensor(x, dev, name="x")
    y_t = as_target_tensor(y, x_t.shape[0], dev, name="y")

    with model_guard(model):
        gen = generator if generator is not None else make_generator(seed, dev)
        draw_seeds = [derive_seed(gen) for _ in range(n_draws)]
        draw_gen = torch.Generator(device=dev)

        def accuracies_at(sigma: float) -> np.ndarray:
            accs = []
            for draw_seed in draw_seeds if sigma > 0 else draw_seeds[:1]:
                draw_gen.manual_seed(draw_seed)
                with swapped_parameters(model, noisy_parameters(model, sigma, noise_mode, draw_gen)):
                    accs.append(_accuracy(model, x_t, y_t, batch_size))
            return np.asarray(accs)

        curve: dict[float, np.ndarray] = {}
        bar = tqdm(desc="noise levels", disable=not progress, leave=False)

        def measure(sigma: float) -> float:
            if sigma not in curve:
                curve[sigma] = accuracies_at(sigma)
                bar.update(1)
            return float(curve[sigma].mean())

        acc_clean = measure(0.0)
        n_classes = _n_classes(model, x_t[:1])
        check_targets_in_range(y_t, n_classes, name="y")
        chance_level = 1.0 / n_classes if chance is None else float(chance)
        if acc_clean - chance_level <= 1e-12:
            raise ValueError(
                f"the model's accuracy on (x, y) is {acc_clean:.3f}, not above chance "
                f"{chance_level:.3f}; the accuracy-drop heuristic needs a trained model"
            )

        def drop(sigma: float) -> float:
            return 1.0 - (measure(sigma) - chance_level) / (acc_clean - chance_level)

        lo, hi = 0.0, sigma_start
        while drop(hi) < target_drop and hi < sigma_max:
            lo, hi = hi, min(hi * 2.0, sigma_max)
        reached = drop(hi) >= target_drop
        if reached:
            for _ in range(refine_steps):
                mid = math.sqrt(lo * hi) if lo > 0 else hi / 2.0
                if drop(mid) >= target_drop:
                    hi = mid
                else:
                    lo = mid
            d_lo, d_hi = drop(lo), drop(hi)
            if d_hi > d_lo and lo > 0:
                t = (target_drop - d_lo) / (d_hi - d_lo)
                std = float(math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo))))
            else:
                std = hi
        else:
            std = sigma_max
            warnings.warn(
                f"the accuracy drop stayed below {target_drop} up to sigma_max={sigma_max}; "
                "returning sigma_max",
                RuntimeWarning,
                stacklevel=2,
            )
        bar.close()

    sigmas = np.array(sorted(curve))
    accs = [curve[s] for s in sigmas]
    mean_acc = np.array([a.mean() for a in accs])
    return NoiseLevelResult(
        std=std,
        target_drop=float(target_drop),
        accuracy_clean=acc_clean,
        chance=chance_level,
        sigmas=sigmas,
        accuracies=mean_acc,
        accuracy_stds=np.array([a.std() for a in accs]),
        drops=1.0 - (mean_acc - chance_level) / (acc_clean - chance_level),
        reached=bool(reached),
    )


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            out = model(x[start : start + batch_size])
            if out.ndim != 2:
                raise ValueError(f"model must return class scores (N, n_classes), got {tuple(out.shape)}")
            correct += int((out.argmax(1) == y[start : start + batch_size]).sum())
    return correct / x.shape[0]


def _n_classes(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(x).shape[1])
