"""Training and evaluation of classifiers, and the cached default models.

* :func:`fit` trains a model in place (Adam, cross-entropy) and returns a :class:`TrainResult`
  with the per-epoch history; :func:`train` is the same but returns just the model.
* :func:`evaluate_accuracy` computes top-1 accuracy without changing the model.

The cached reference models of the built-in default (``load_default_model``) live next to
the built-in data, in :mod:`xai_sanity.data.default_models`, so that code which only trains
(remove-and-retrain, data randomisation) does not import the dataset generator.

Nothing here draws from the global numpy or torch random state: mini-batch shuffling and
label permutation use private generators seeded from ``seed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._safety import make_generator, model_guard
from ._validation import (
    as_input_tensor,
    as_target_tensor,
    check_input_layout,
    check_model,
    check_non_negative,
    check_positive_int,
    check_targets_in_range,
    model_dtype,
    resolve_device,
)

__all__ = ["TrainResult", "evaluate_accuracy", "fit", "train"]

# Names that moved to xai_sanity.data.default_models; still importable from here (lazily,
# so importing the trainer does not import the dataset generator).
_MOVED = ("CACHE_FORMAT_VERSION", "DEFAULT_TRAINING", "default_model_path", "load_default_model")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from .data import default_models

        return getattr(default_models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (the same object that was passed in).
    history : list of dict
        One entry per epoch with ``epoch`` (1-based), ``loss`` (mean training loss),
        ``train_accuracy`` (fraction of training samples classified correctly during the
        epoch, i.e. with the weights of the moment) and, with validation data,
        ``val_accuracy``.
    labels : torch.Tensor
        The labels actually trained on (permuted when ``permute_labels=True``), on the CPU.
    seconds : float
        Wall time of the training loop.
    """

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    labels: torch.Tensor | None = None
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else float("nan")


def _stream_seed(seed: int, stream: int) -> int:
    """A seed for an independent stream: ``seed`` mixed with a constant via SeedSequence."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, np.uint64)[0] >> 1)


def _permuted_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    # A stream independent of the shuffling one.
    gen = make_generator(_stream_seed(seed, 0x5EED))
    return labels[torch.randperm(labels.shape[0], generator=gen)]


def fit(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    epochs: int = 8,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    permute_labels: bool = False,
    progress: bool = True,
    weight_decay: float = 0.0,
    x_val: np.ndarray | torch.Tensor | None = None,
    y_val: np.ndarray | torch.Tensor | None = None,
    lr_schedule: str | None = None,
) -> TrainResult:
    """Train ``model`` in place with Adam and cross-entropy; return the history.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier producing logits ``(N, num_classes)``. It is trained in place on its own
        device; afterwards its ``training`` flags are restored and ``.grad`` is cleared.
    x, y : array or tensor
        Inputs ``(N, ...)`` and integer labels ``(N,)`` (kept on the CPU; batches are moved to
        the model's device).
    epochs, batch_size : int
        Passes over the data and mini-batch size.
    lr, weight_decay : float
        Adam learning rate and (L2) weight decay.
    seed : int
        Seeds the private generators for shuffling (and label permutation) and the random
        draws of the model's own modules while training (Dropout masks), on a forked copy of
        torch's global RNG that is restored afterwards. Same seed, same initial weights, same
        data -> same trained weights (on the same device and threads), whatever the global
        RNG state.
    device : str or torch.device, optional
        Must match the model's device if given (the model is never moved).
    permute_labels : bool
        Train on a seeded random permutation of ``y`` (data-randomisation sanity check).
    progress : bool
        Show a tqdm progress bar.
    x_val, y_val : array or tensor, optional
        Validation data; its accuracy is recorded after every epoch.
    lr_schedule : {None, "cosine"}
        ``None`` keeps ``lr`` constant; ``"cosine"`` anneals it per step from ``lr`` to 0.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> from xai_sanity.data.models import make_model
    >>> model = make_model("lenet", image_size=16)
    >>> x, y = torch.rand(32, 3, 16, 16), torch.arange(32) % 10
    >>> result = fit(model, x, y, epochs=2, progress=False)
    >>> [round(h["epoch"]) for h in result.history], result.model is model
    ([1, 2], True)
    """
    check_model(model)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = check_non_negative(lr, "lr")
    if lr == 0:
        raise ValueError("lr must be > 0")
    weight_decay = check_non_negative(weight_decay, "weight_decay")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if lr_schedule not in (None, "cosine"):
        raise ValueError(f"lr_schedule must be None or 'cosine', got {lr_schedule!r}")
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val must be given together")
    dev = resolve_device(device, model)
    cpu = torch.device("cpu")
    inputs = as_input_tensor(x, cpu, name="x")
    inputs = inputs.to(model_dtype(model, default=inputs.dtype))
    check_input_layout(model, inputs.shape, name="x")
    labels = as_target_tensor(y, inputs.shape[0], cpu, name="y")
    if permute_labels:
        labels = _permuted_labels(labels, int(seed))
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameters that require gradients")

    n = inputs.shape[0]
    gen = make_generator(int(seed))
    optimiser = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    flags = {name: m.training for name, m in model.named_modules()}
    result = TrainResult(model=model, labels=labels)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
        if lr_schedule == "cosine"
        else None
    )
    start = time.perf_counter()
    checked = False
    # Dropout (and any module that draws from torch's global RNG while training) is seeded
    # from ``seed`` too: the loop runs on a forked global state, restored afterwards, so the
    # caller's RNG neither decides nor feels the training run.
    rng_devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(_stream_seed(int(seed), 0xD409))
        try:
            model.train()
            with tqdm(total=steps, disable=not progress, desc="training", leave=False) as bar:
                for epoch in range(1, epochs + 1):
                    order = torch.randperm(n, generator=gen)
                    total_loss = 0.0
                    correct = 0
                    for begin in range(0, n, batch_size):
                        idx = order[begin : begin + batch_size]
                        xb = inputs[idx].to(dev, non_blocking=True)
                        yb = labels[idx].to(dev, non_blocking=True)
                        logits = model(xb)
                        if not checked:
                            if logits.ndim != 2:
                                raise ValueError(
                                    f"model must return logits of shape (N, classes), got {tuple(logits.shape)}"
                                )
                            check_targets_in_range(labels, logits.shape[1], name="y")
                            checked = True
                        loss = loss_fn(logits, yb)
                        optimiser.zero_grad(set_to_none=True)
                        loss.backward()
                        optimiser.step()
                        if scheduler is not None:
                            scheduler.step()
                        total_loss += float(loss.detach()) * idx.shape[0]
                        correct += int((logits.detach().argmax(1) == yb).sum())
                        bar.update(1)
                    entry = {
                        "epoch": float(epoch),
                        "loss": total_loss / n,
                        "train_accuracy": correct / n,
                    }
                    if x_val is not None:
                        entry["val_accuracy"] = evaluate_accuracy(model, x_val, y_val, device=dev)
                    result.history.append(entry)
                    bar.set_postfix({k: round(v, 4) for k, v in entry.items() if k != "epoch"})
        finally:
            optimiser.zero_grad(set_to_none=True)
            for name, module in model.named_modules():
                if name in flags:
                    module.training = flags[name]
    result.seconds = time.perf_counter() - start
    return result


def train(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    **kwargs: Any,
) -> nn.Module:
    """Train ``model`` in place (see :func:`fit` for the arguments) and return it.

    Examples
    --------
    >>> from xai_sanity.data.models import make_model
    >>> model = make_model("lenet", image_size=16)
    >>> train(model, torch.rand(8, 3, 16, 16), torch.arange(8), epochs=1, progress=False) is model
    True
    """
    return fit(model, x, y, **kwargs).model


def evaluate_accuracy(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``, in ``[0, 1]``.

    Runs in eval mode without gradients; the model's parameters, flags (``training``,
    ``requires_grad``) and hooks are as before afterwards.

    Examples
    --------
    >>> from xai_sanity.data.models import make_model
    >>> model = make_model("lenet", image_size=16).train()
    >>> acc = evaluate_accuracy(model, torch.rand(4, 3, 16, 16), [0, 1, 2, 3])
    >>> 0.0 <= acc <= 1.0, model.training
    (True, True)
    """
    check_model(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    dev = resolve_device(device, model)
    cpu = torch.device("cpu")
    inputs = as_input_tensor(x, cpu, name="x")
    labels = as_target_tensor(y, inputs.shape[0], cpu, name="y")
    check_input_layout(model, inputs.shape, name="x")
    dtype = model_dtype(model, default=inputs.dtype)  # batches are cast to the model's dtype
    correct = 0
    with model_guard(model), torch.no_grad():
        for begin in range(0, inputs.shape[0], batch_size):
            xb = inputs[begin : begin + batch_size].to(dev, dtype=dtype)
            out = model(xb)
            if begin == 0:
                if out.ndim != 2:
                    raise ValueError(
                        f"model must return logits of shape (N, classes), got {tuple(out.shape)}"
                    )
                check_targets_in_range(labels, out.shape[1], name="y")
            pred = out.argmax(dim=1).cpu()
            correct += int((pred == labels[begin : begin + batch_size]).sum())
    return correct / inputs.shape[0]
