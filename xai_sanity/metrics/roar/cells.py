"""Cells of a remove-and-retrain study and how they run.

A :class:`Cell` is one (estimator, threshold, repeat) job: the degraded data, the model
template, the trainer and the cell's own seed. Jobs are independent and picklable, so
:func:`run_cells` can run them on any :class:`concurrent.futures.Executor` (a process pool,
Dask's ``Client.get_executor()``) with the same numbers as a sequential run; it reports each
finished cell to a callback as soon as it is done, so a killed run keeps what it finished.
:func:`check_batchable` and :func:`~xai_sanity._validation.count_classes` let the metric refuse, before any work, a
model the batched recipe cannot train and labels the model has no class for.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from ..._model_ops import fresh_copy
from ..._safety import make_generator
from ..._validation import count_classes  # re-exported: its old home
from ..imputation import add_noise
from .removal import noise_generator

__all__ = [
    "BATCHED_TRAIN_KWARGS",
    "Cell",
    "cell_seed",
    "check_batchable",
    "count_classes",
    "default_train",
    "run_cell",
    "run_cells",
    "run_cells_batched",
]

#: The keywords of the batched recipe (:func:`run_cells_batched`).
BATCHED_TRAIN_KWARGS = frozenset({"epochs", "lr", "batch_size", "weight_decay"})


@dataclass(frozen=True, eq=False)
class Cell:
    """One (estimator, threshold, repeat) job and where its result goes.

    Attributes
    ----------
    estimator, method : str
        The estimator's name and ``"ROAR"`` or ``"KAR"`` (``"ROAR-leak"``, ``"KAR-leak"`` for the leak
        diagnostic).
    threshold : float
        Fraction of features removed.
    repeat : int
    seed : int
        The cell's own seed (initial weights and training order of the fresh model).
    model : torch.nn.Module
        The template. With ``retrain=True`` the cell trains a fresh copy: every layer that
        has parameters, frozen ones included, re-initialised from the cell's seed (only the
        architecture is reused). With ``retrain=False`` it is evaluated as it is.
    retrain : bool
    train_func : callable
        ``train_func(model, x, y, seed, **train_kwargs) -> model``.
    train_kwargs : mapping
    x_train, y_train, x_test, y_test : numpy.ndarray
        The degraded data (without the imputation noise, which :meth:`inputs` adds).
    digest : str
        Cache key of the cell; ``config`` what it was computed from; ``path`` its cache file.
    noise : numpy.ndarray, optional
        Standard deviation per channel of the imputation noise (``"noisy_linear"``), drawn
        from the cell's own seed on the removed values ``removed_train``/``removed_test``;
        ``None``: no noise.
    removed_train, removed_test : numpy.ndarray, optional
        The removal masks, where the noise goes.
    """

    estimator: str
    method: str
    threshold: float
    repeat: int
    seed: int
    model: nn.Module
    retrain: bool
    train_func: Callable
    train_kwargs: Mapping[str, Any]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    digest: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    noise: np.ndarray | None = None
    removed_train: np.ndarray | None = None
    removed_test: np.ndarray | None = None

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """The training and test inputs the cell uses: the degraded data plus its imputation
        noise, drawn from the cell's seed (stream 0 for training, 1 for test images)."""
        if self.noise is None:
            return self.x_train, self.x_test
        return (
            add_noise(self.x_train, self.removed_train, self.noise, noise_generator(self.seed, 0)),
            add_noise(self.x_test, self.removed_test, self.noise, noise_generator(self.seed, 1)),
        )

    def row(self, accuracy: float, from_cache: bool) -> dict[str, Any]:
        """The cell's row of a results table."""
        return {
            "estimator": self.estimator,
            "method": self.method,
            "threshold": self.threshold,
            "repeat": self.repeat,
            "accuracy": float(accuracy),
            "from_cache": from_cache,
        }


def cell_seed(seed: int, threshold: float, repeat: int) -> int:
    """The seed of the (threshold, repeat) cell of a study seeded with ``seed``."""
    state = np.random.SeedSequence([int(seed), int(round(threshold * 1_000_000)), int(repeat), 0xA0A2])
    return int(state.generate_state(1, np.uint64)[0] >> 2)


def default_train(model: nn.Module, x: np.ndarray, y: np.ndarray, seed: int, **kwargs: Any) -> nn.Module:
    """The default trainer: :func:`xai_sanity.training.fit` without a progress bar."""
    from ...training import fit

    return fit(model, x, y, seed=int(seed), progress=False, **kwargs).model


def run_cell(cell: Cell) -> float:
    """Train (or not) one model on a cell's degraded training set; its test accuracy.

    The model trained is :func:`xai_sanity._model_ops.fresh_copy` of the template: every
    layer with parameters (frozen ones included) re-initialised, all parameters trainable.
    """
    from ...training import evaluate_accuracy

    model = cell.model
    x_train, x_test = cell.inputs()
    if cell.retrain:
        trained = cell.train_func(
            fresh_copy(model, cell.seed), x_train, cell.y_train, cell.seed, **cell.train_kwargs
        )
        if not isinstance(trained, nn.Module):
            raise TypeError(f"train_func must return the trained nn.Module, got {type(trained).__name__}")
        model = trained
    return float(evaluate_accuracy(model, x_test, cell.y_test))


def check_batchable(model: nn.Module) -> None:
    """``ValueError`` unless :func:`run_cells_batched` can train ``model``.

    ``vmap`` cannot draw separate random numbers per model (dropout layers) nor update
    buffers (e.g. batch norm statistics). Dropout called functionally inside ``forward``
    cannot be seen here.
    """
    if any(isinstance(module, _DropoutNd) for module in model.modules()):
        raise ValueError("batched=True cannot train a model with dropout layers; use batched=False")
    if any(True for _ in model.buffers()):
        raise ValueError("batched=True needs a model without buffers (e.g. no batch norm); use batched=False")


def run_cells_batched(cells: Sequence[Cell]) -> list[float]:
    """Train the models of several cells at once (``torch.func`` + ``vmap``); accuracies.

    Each model gets its own initial weights, data and mini-batch order (as in
    :func:`xai_sanity.training.fit`: Adam, cross-entropy, a private generator per seed), so
    the results follow the same recipe as the sequential runs, though not bit for bit
    (vectorised kernels sum in another order). Needs a model without buffers whose forward
    pass draws no random numbers (see :func:`check_batchable`), and only the keywords
    :data:`BATCHED_TRAIN_KWARGS`.
    """
    from torch.func import functional_call, stack_module_state, vmap

    from ...training import evaluate_accuracy

    options = dict(cells[0].train_kwargs)
    epochs = int(options.pop("epochs", 8))
    batch_size = int(options.pop("batch_size", 128))
    lr = float(options.pop("lr", 2e-3))
    weight_decay = float(options.pop("weight_decay", 0.0))
    if options:
        raise ValueError(f"batched retraining supports {sorted(BATCHED_TRAIN_KWARGS)}; got {sorted(options)}")
    check_batchable(cells[0].model)
    models = [fresh_copy(cell.model, cell.seed) for cell in cells]
    device = next(models[0].parameters()).device
    params, _ = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    inputs = [cell.inputs() for cell in cells]
    x = torch.stack([torch.as_tensor(x_train) for x_train, _ in inputs]).to(device)
    y = torch.as_tensor(cells[0].y_train).long().to(device)
    n, k = y.shape[0], len(cells)
    gens = [make_generator(int(cell.seed)) for cell in cells]
    optimiser = torch.optim.Adam(list(params.values()), lr=lr, weight_decay=weight_decay)

    def forward(p: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, p, (xb,))

    batched_forward = vmap(forward)
    rows = torch.arange(k, device=device)[:, None]
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
        for begin in range(0, n, batch_size):
            idx = orders[:, begin : begin + batch_size]
            logits = batched_forward(params, x[rows, idx])
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
            loss = loss.view(k, -1).mean(1).sum()  # independent per-model mean losses
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    accuracies = []
    with torch.no_grad():
        for i, (model, cell) in enumerate(zip(models, cells)):
            for name, p in model.named_parameters():
                p.copy_(params[name][i])
            accuracies.append(float(evaluate_accuracy(model, inputs[i][1], cell.y_test)))
    return accuracies


def run_cells(
    cells: Sequence[Cell],
    on_done: Callable[[Cell, float, float], None],
    *,
    executor: cf.Executor | None = None,
    batched: bool = False,
    batch_cells: int | None = None,
) -> None:
    """Run ``cells``; call ``on_done(cell, accuracy, seconds)`` as each one finishes.

    Sequential without an executor; otherwise every task is submitted and reported in
    completion order. On an error the remaining tasks are cancelled, the cells already
    finished are still reported, and the first error is raised. With ``batched`` the cells
    are trained ``batch_cells`` at a time (default all) by :func:`run_cells_batched`.
    """
    if not cells:
        return
    if batched:
        size = int(batch_cells or len(cells))
        tasks = [(run_cells_batched, list(cells[i : i + size])) for i in range(0, len(cells), size)]
    else:
        tasks = [(run_cell, [cell]) for cell in cells]

    def report(group: list[Cell], result: Any, seconds: float) -> None:
        values = result if isinstance(result, list) else [result]
        for cell, accuracy in zip(group, values):
            on_done(cell, float(accuracy), seconds / len(values))

    if executor is None:
        for func, group in tasks:
            start = time.perf_counter()
            result = func(group if func is run_cells_batched else group[0])
            report(group, result, time.perf_counter() - start)
        return
    start = time.perf_counter()
    futures = {
        executor.submit(func, group if func is run_cells_batched else group[0]): group
        for func, group in tasks
    }
    error: BaseException | None = None
    for future in cf.as_completed(futures):
        try:
            result = future.result()
        except BaseException as err:  # noqa: BLE001 - keep finished cells, then raise
            if error is None:
                error = err
                for other in futures:
                    other.cancel()
            continue
        report(futures[future], result, time.perf_counter() - start)
    if error is not None:
        raise error
