"""Training and evaluation of classifiers, and the cached default models.

* :func:`fit` trains a model in place (Adam, cross-entropy) and returns a :class:`TrainResult`
  with the per-epoch history; :func:`train` is the same but returns just the model.
* :func:`evaluate_accuracy` computes top-1 accuracy without changing the model.
* :func:`load_default_model` returns a reference model trained on the default semi-natural
  dataset, from the on-disk cache when available.

Nothing here draws from the global numpy or torch random state: mini-batch shuffling and
label permutation use private generators seeded from ``seed``.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._safety import make_generator, model_guard
from ._validation import (
    as_input_tensor,
    as_target_tensor,
    check_model,
    check_non_negative,
    check_positive_int,
    check_targets_in_range,
    resolve_device,
)
from .cache import atomic_write_bytes, cache_dir, config_digest
from .data.models import MODEL_NAMES, make_model
from .data.semi_natural import DATASET_VERSION, load_default_splits

__all__ = [
    "CACHE_FORMAT_VERSION",
    "DEFAULT_TRAINING",
    "TrainResult",
    "default_model_path",
    "evaluate_accuracy",
    "fit",
    "load_default_model",
    "train",
]

#: Bump when the cached file layout or anything that changes cached models changes.
CACHE_FORMAT_VERSION = 1

#: Default training recipe of :func:`load_default_model` (per model name). The LeNet recipe
#: reaches about 95 % test accuracy on the default 20,000-image dataset in well under two
#: minutes on two CPU cores; the VGG and ResNet recipes are much slower on a CPU.
DEFAULT_TRAINING: dict[str, dict[str, Any]] = {
    "lenet": {"epochs": 8, "lr": 2e-3, "batch_size": 128, "weight_decay": 0.0, "lr_schedule": "cosine"},
    "vgg": {"epochs": 5, "lr": 1e-3, "batch_size": 128, "weight_decay": 0.0, "lr_schedule": "cosine"},
    "resnet": {"epochs": 5, "lr": 2e-3, "batch_size": 128, "weight_decay": 0.0, "lr_schedule": "cosine"},
}
_DEFAULT_N_TRAIN = 20000
_DEFAULT_N_TEST = 2000


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


def _permuted_labels(labels: torch.Tensor, seed: int) -> torch.Tensor:
    # A stream independent of the shuffling one: seed mixed with a constant via SeedSequence.
    mixed = int(np.random.SeedSequence([int(seed), 0x5EED]).generate_state(1, np.uint64)[0] >> 1)
    gen = make_generator(mixed)
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
        Seeds the private generators for shuffling (and label permutation). Same seed, same
        initial weights, same data -> same trained weights (on the same device and threads).
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
    correct = 0
    with model_guard(model, copy_tensors=False), torch.no_grad():
        for begin in range(0, inputs.shape[0], batch_size):
            xb = inputs[begin : begin + batch_size].to(dev)
            pred = model(xb).argmax(dim=1).cpu()
            correct += int((pred == labels[begin : begin + batch_size]).sum())
    return correct / inputs.shape[0]


# ----------------------------------------------------------------------------------------
# Cached default models


def _default_config(
    name: str,
    image_size: int,
    seed: int,
    epochs: int,
    n_train: int,
    n_test: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    lr_schedule: str | None,
) -> dict[str, Any]:
    torch_version = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "dataset_version": DATASET_VERSION,
        "torch": torch_version,
        "model": name,
        "num_classes": 10,
        "in_channels": 3,
        "image_size": int(image_size),
        "model_seed": int(seed),
        "data_seed": int(seed),
        "train_seed": int(seed),
        "n_train": int(n_train),
        "n_test": int(n_test),
        "epochs": int(epochs),
        "lr": float(lr),
        "batch_size": int(batch_size),
        "weight_decay": float(weight_decay),
        "lr_schedule": lr_schedule,
        "optimiser": "adam",
    }


def default_model_path(config: dict[str, Any]) -> Path:
    """Cache file of the default model described by ``config`` (see :func:`load_default_model`)."""
    digest = config_digest(config)[:20]
    stem = f"{config['model']}_{config['image_size']}px_seed{config['model_seed']}_{digest}"
    return cache_dir() / "models" / f"{stem}.pt"


def _read_cached(path: Path, config: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    payload = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("config") != config:
        raise ValueError("cache file does not match the requested configuration")
    model = make_model(
        config["model"],
        num_classes=config["num_classes"],
        in_channels=config["in_channels"],
        image_size=config["image_size"],
        seed=config["model_seed"],
    )
    model.load_state_dict(payload["state_dict"], strict=True)
    info = dict(payload["info"])
    if not isinstance(info.get("test_accuracy"), float):
        raise ValueError("cache file has no test accuracy")
    return model, info


def load_default_model(
    name: str = "lenet",
    image_size: int = 32,
    seed: int = 0,
    *,
    epochs: int | None = None,
    n_train: int = _DEFAULT_N_TRAIN,
    n_test: int = _DEFAULT_N_TEST,
    lr: float | None = None,
    batch_size: int | None = None,
    weight_decay: float | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    use_cache: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """A reference model trained on the default semi-natural dataset (cached on disk).

    The model (:func:`~xai_sanity.data.models.make_model`, seed ``seed``) is trained with
    :func:`fit` on ``load_default_splits(n_train, n_test, image_size, seed)``. The result is
    stored under :func:`~xai_sanity.cache.cache_dir` in a file named by a hash of everything
    that determines it (model, image size, seeds, dataset sizes and version, training
    hyper-parameters, torch major.minor version, cache format version), so later calls load
    it instead of training. An unreadable or mismatching file triggers a warning and is
    rebuilt. The training device is not part of the key.

    Parameters
    ----------
    name : {"lenet", "vgg", "resnet"}
    image_size, seed : int
    epochs, lr, batch_size, weight_decay : optional
        Override :data:`DEFAULT_TRAINING` for ``name``.
    n_train, n_test : int
        Dataset sizes.
    device : str or torch.device, optional
        Device to train on and to return the model on (default CPU).
    progress : bool
        Show a progress bar while training.
    use_cache : bool
        ``False`` always trains and neither reads nor writes the cache.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on ``device``.
    info : dict
        ``test_accuracy``, ``train_accuracy``, ``history``, ``train_seconds``, ``config``,
        ``path`` (cache file), ``from_cache`` (bool).

    Examples
    --------
    >>> model, info = load_default_model("lenet", progress=False)  # doctest: +SKIP
    >>> info["test_accuracy"] > 0.9  # doctest: +SKIP
    True
    """
    if not isinstance(name, str) or name.lower() not in MODEL_NAMES:
        raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")
    name = name.lower()
    recipe = dict(DEFAULT_TRAINING[name])
    for key, value in (
        ("epochs", epochs),
        ("lr", lr),
        ("batch_size", batch_size),
        ("weight_decay", weight_decay),
    ):
        if value is not None:
            recipe[key] = value
    check_positive_int(image_size, "image_size", minimum=16)
    check_positive_int(n_train, "n_train")
    check_positive_int(n_test, "n_test")
    check_positive_int(recipe["epochs"], "epochs")
    check_positive_int(recipe["batch_size"], "batch_size")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    config = _default_config(
        name,
        image_size,
        seed,
        recipe["epochs"],
        n_train,
        n_test,
        check_non_negative(recipe["lr"], "lr"),
        recipe["batch_size"],
        check_non_negative(recipe["weight_decay"], "weight_decay"),
        recipe["lr_schedule"],
    )
    dev = torch.device(device) if device is not None else torch.device("cpu")
    path = default_model_path(config)

    if use_cache and path.exists():
        try:
            model, info = _read_cached(path, config)
        except Exception as err:  # noqa: BLE001 - any unreadable file is rebuilt
            warnings.warn(
                f"cached model {path} could not be loaded ({type(err).__name__}: {err}); "
                "retraining and overwriting it",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            info.update(path=str(path), from_cache=True)
            return model.to(dev).eval(), info

    train_data, test_data = load_default_splits(n_train, n_test, image_size, seed)
    model = make_model(name, num_classes=10, in_channels=3, image_size=image_size, seed=seed)
    model.to(dev)
    result = fit(
        model,
        train_data.x,
        train_data.y,
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        lr_schedule=config["lr_schedule"],
        seed=seed,
        device=dev,
        progress=progress,
    )
    info: dict[str, Any] = {
        "test_accuracy": float(evaluate_accuracy(model, test_data.x, test_data.y, device=dev)),
        "train_accuracy": float(evaluate_accuracy(model, train_data.x, train_data.y, device=dev)),
        "history": [dict(h) for h in result.history],
        "train_seconds": float(result.seconds),
        "trained_on": str(dev),
        "config": dict(config),
    }
    if use_cache:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        buffer = io.BytesIO()
        torch.save({"config": config, "state_dict": state, "info": info}, buffer)
        try:
            atomic_write_bytes(path, buffer.getvalue())
        except OSError as err:
            warnings.warn(f"could not write the model cache {path}: {err}", RuntimeWarning, stacklevel=2)
    info.update(path=str(path), from_cache=False)
    return model.eval(), info
