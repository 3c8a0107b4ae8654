"""The built-in default's reference models, trained once and cached on disk.

:func:`load_default_model` trains a model from :mod:`xai_sanity.data.models` on the default
semi-natural dataset with :func:`xai_sanity.training.fit` and keeps it under
:func:`xai_sanity.cache.cache_dir`, keyed by everything that determines it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_non_negative, check_positive_int
from ..cache import atomic_write_bytes, cache_dir, config_digest
from ..training import evaluate_accuracy, fit
from .models import MODEL_NAMES, make_model
from .semi_natural import DATASET_VERSION, load_default_splits

__all__ = ["CACHE_FORMAT_VERSION", "DEFAULT_TRAINING", "default_model_path", "load_default_model"]

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
