"""ROAR/KAR reliability: the cache never serves another configuration's numbers, processes
sharing a cache train each cell once, and bad input is refused before any work."""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import linear_model
from torch import nn

from xai_sanity._safety import snapshot
from xai_sanity.metrics.roar import KAR, ROAR, control_estimators, run_roar
from xai_sanity.metrics.roar.cache import CellCache
from xai_sanity.testing import _rng_states, _rng_unchanged, snapshot_differences

TINY = {"epochs": 1, "batch_size": 16, "lr": 1e-2}


def tiny_data(n_train: int = 32, n_test: int = 16, seed: int = 0):
    """3x8x8 images whose class (of two) is a brighter top-left quadrant, and maps marking it."""
    rng = np.random.default_rng(seed)

    def make(n):
        x = rng.random((n, 3, 8, 8), dtype=np.float32)
        y = rng.integers(0, 2, n)
        x[y == 1, :, :4, :4] += 1.0
        a = rng.random((n, 1, 8, 8), dtype=np.float32) * 0.1
        a[:, :, :4, :4] += 1.0
        return x, y, a

    x_tr, y_tr, a_tr = make(n_train)
    x_te, y_te, a_te = make(n_test)
    return x_tr, y_tr, a_tr, x_te, y_te, a_te


def tiny_model() -> nn.Module:
    return linear_model(in_shape=(3, 8, 8), n_classes=2)


def train_with(model, x, y, seed, *, lr=1e-2, **unused):
    from xai_sanity.training import train

    return train(model, x, y, seed=seed, progress=False, epochs=1, batch_size=16, lr=lr)


def closure_trainer(lr: float):
    return lambda model, x, y, seed: train_with(model, x, y, seed, lr=lr)


class ClassTrainer:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def __call__(self, model, x, y, seed):
        return train_with(model, x, y, seed, lr=self.lr)


class RecordingTrainer:
    """Appends the seed of every training to ``log``; dies (SIGKILL) on its second training
    while the file ``log + ".kill"`` exists. Its state (``log``) is the same in every
    process, so all of them share the cache cells."""

    def __init__(self, log: str) -> None:
        self.log = log

    def __call__(self, model, x, y, seed):
        done = Path(self.log).read_text().splitlines() if os.path.exists(self.log) else []
        if done and os.path.exists(self.log + ".kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.3)  # long enough for two processes to meet on one cell
        with open(self.log, "a") as handle:
            handle.write(f"{seed}\n")
        return train_with(model, x, y, seed)


class Counting:
    """Counts the calls of the function it wraps."""

    def __init__(self, func) -> None:
        self.func, self.calls = func, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.func(*args, **kwargs)


class CountingExplain:
    """A Quantus-style explain function that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, model, inputs, targets, **kwargs):
        self.calls += 1
        return np.abs(np.asarray(inputs)).sum(axis=1, keepdims=True)


def call(metric, model=None, **extra):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    kwargs = dict(a_batch=a_tr, custom_batch=(x_te, y_te, a_te))
    kwargs.update(extra)
    return metric(model if model is not None else tiny_model(), x_tr, y_tr, **kwargs)


def study(cache_dir, log):
    """The study each process of the sharing tests runs; returns its scores."""
    metric = ROAR(
        thresholds=(0, 0.5), n_repeats=2, train_func=RecordingTrainer(str(log)), cache_dir=cache_dir
    )
    return call(metric)


def study_process(cache_dir: str, log: str, out: str) -> None:
    x, y = tiny_data()[:2]
    train_with(tiny_model(), x, y, 0)  # imports and first kernels out of the way
    Path(out + ".ready").touch()  # the parent starts its own study now
    Path(out).write_text(json.dumps(study(cache_dir, log)))


def spawn(*args) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(target=study_process, args=args)
    process.start()
    return process


# -- 1. the cache key covers the trainer ----------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: functools.partial(train_with, lr=lr),
        closure_trainer,
        ClassTrainer,
    ],
    ids=["partial", "closure", "callable-object"],
)
def test_trainers_with_other_settings_get_their_own_cells(tmp_path, make):
    settings = dict(thresholds=(0.5,), n_repeats=1, cache_dir=tmp_path)
    call(ROAR(train_func=make(1e-2), **settings))
    again = ROAR(train_func=make(1e-2), **settings)
    call(again)
    assert again.results_["from_cache"].all()  # the same configuration is served
    other = ROAR(train_func=make(0.5), **settings)
    call(other)
    assert not other.results_["from_cache"].any()  # another learning rate is not


def test_unfingerprintable_trainer_is_refused_unless_cache_key_names_it(tmp_path):
    trainer = functools.partial(train_with, lock=threading.Lock())
    explain = CountingExplain()
    settings = dict(thresholds=(0.5,), n_repeats=1, train_func=trainer)
    with pytest.raises(TypeError, match="cache_key"):
        call(ROAR(cache_dir=tmp_path, **settings), a_batch=None, explain_func=explain)
    assert explain.calls == 0 and not list(tmp_path.glob("*.json"))
    call(ROAR(**settings))  # without a cache nothing is refused
    call(ROAR(cache_dir=tmp_path, cache_key="lr=0.01, v1", **settings))
    v2 = ROAR(cache_dir=tmp_path, cache_key="lr=0.01, v2", **settings)
    call(v2)
    assert not v2.results_["from_cache"].any()  # the key is part of the digest
    with pytest.raises(TypeError, match="cache_key"):
        ROAR(cache_key="")


# -- 2. a JSON true is not an accuracy ------------------------------------------------------


def test_boolean_accuracy_in_a_cell_file_is_recomputed(tmp_path):
    metric = ROAR(thresholds=(0.5,), n_repeats=1, train_func=ClassTrainer(1e-2), cache_dir=tmp_path)
    first = call(metric)
    (path,) = tmp_path.glob("*.json")
    payload = json.loads(path.read_text())
    payload["accuracy"] = True
    path.write_text(json.dumps(payload))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert call(metric) == first
    assert not metric.results_["from_cache"].any()


# -- 3. an unusable cache_dir fails before any training -----------------------------------


def test_cache_dir_that_is_a_file_or_cannot_be_created_fails_first(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for cache_dir in (blocker, blocker / "sub"):
        explain = CountingExplain()
        with pytest.raises(ValueError, match="cache_dir"):
            call(ROAR(thresholds=(0.5,), n_repeats=1, train_kwargs=TINY, cache_dir=cache_dir),
                 a_batch=None, explain_func=explain)  # fmt: skip
        assert explain.calls == 0
    assert blocker.read_text() == "not a directory"


# -- 4. processes sharing a cache train each cell once --------------------------------------


def test_two_processes_on_one_cache_train_each_cell_once(tmp_path):
    log, cache, out = tmp_path / "trainings.log", tmp_path / "cache", tmp_path / "scores.json"
    process = spawn(str(cache), str(log), str(out))  # one process spawned, this one the other
    deadline = time.monotonic() + 180
    while not Path(str(out) + ".ready").exists() and process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    here = study(cache, log)
    process.join(180)
    assert process.exitcode == 0
    seeds = log.read_text().split()
    assert len(seeds) == 4 and len(set(seeds)) == 4, seeds  # 2 thresholds x 2 repeats, once each
    assert json.loads(out.read_text()) == {str(t): v for t, v in here.items()}
    assert not list(cache.glob("*.lock*"))


def test_stale_locks_are_broken(tmp_path):
    log = tmp_path / "trainings.log"
    assert len(study(tmp_path, log)) == 2
    cells = sorted(tmp_path.glob("*.json"))
    assert len(cells) == 4
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for path in cells:
        path.unlink()
        owner = {"pid": dead.pid, "host": socket.gethostname(), "time": time.time()}
        path.with_suffix(".lock").write_text(json.dumps(owner))
    log.unlink()
    study(tmp_path, log)  # does not wait for the dead process
    assert len(log.read_text().split()) == 4
    assert len(list(tmp_path.glob("*.json"))) == 4 and not list(tmp_path.glob("*.lock*"))


def test_lock_owner_rules(tmp_path):
    cache = CellCache(tmp_path, lock_timeout=60)
    path = tmp_path / "roar_cell.json"
    lock = path.with_suffix(".lock")

    def plant(**owner):
        lock.write_text(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()} | owner)
        )

    plant(host="elsewhere")  # a live lock on another host: its pid cannot be checked
    assert not cache.claim(path)
    plant(host="elsewhere", time=time.time() - 120)  # ... but it is older than the timeout
    assert cache.claim(path)
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    cache.release(path)
    assert not lock.exists()
    plant(pid=os.getppid())  # a live process on this host
    assert not cache.claim(path)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_killed_run_keeps_its_finished_cells_and_its_locks_are_recovered(tmp_path):
    log, out = tmp_path / "trainings.log", tmp_path / "scores.json"
    cache = tmp_path / "cache"
    Path(str(log) + ".kill").touch()
    process = spawn(str(cache), str(log), str(out))
    process.join(180)
    assert process.exitcode == -signal.SIGKILL
    assert len(list(cache.glob("*.json"))) == 1 and len(list(cache.glob("*.lock"))) == 1
    os.unlink(str(log) + ".kill")
    metric = ROAR(thresholds=(0, 0.5), n_repeats=2, train_func=RecordingTrainer(str(log)), cache_dir=cache)
    call(metric)
    assert metric.results_["from_cache"].sum() == 1
    assert len(log.read_text().split()) == 4  # one before the kill, three now
    assert not list(cache.glob("*.lock*"))


# -- 5. batch_size ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size_is_refused_before_any_work(batch_size):
    x_tr, y_tr, _, x_te, y_te, _ = tiny_data()
    explain = CountingExplain()
    with pytest.raises(ValueError, match="batch_size"):
        call(ROAR(thresholds=(0.5,), n_repeats=1, train_kwargs=TINY), batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        run_roar({}, tiny_model(), x_tr, y_tr, x_te, y_te, batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        run_roar({"e": explain}, tiny_model(), x_tr, y_tr, x_te, y_te, batch_size=batch_size)
    assert explain.calls == 0


# -- 6. labels outside the model's classes ------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "labels"),
    [("y_test", [0, 2]), ("y_test", [0, -1]), ("y_batch", [1, 7]), ("y_batch", [-3, 0])],
)
@pytest.mark.parametrize("estimator", ["precomputed", "Random", "Sobel"])
def test_labels_outside_the_models_classes_are_refused(tmp_path, argument, labels, estimator):
    x_tr, y_tr, a_tr, x_te, y_te, a_te = tiny_data()
    y = (y_te if argument == "y_test" else y_tr).copy()
    y[: len(labels)] = labels
    if argument == "y_test":
        y_te = y
    else:
        y_tr = y
    model = tiny_model().train()
    before, rng = snapshot(model), _rng_states()
    trainer = Counting(ClassTrainer(1e-2))
    kwargs = dict(thresholds=(0, 0.5), n_repeats=1, cache_dir=tmp_path, train_func=trainer)
    maps = {"a_batch": a_tr, "a_test": a_te} if estimator == "precomputed" else {}
    explain = None if maps else Counting(control_estimators()[estimator])
    for metric in (ROAR(**kwargs), KAR(retrain=False, **kwargs)):
        with pytest.raises(ValueError, match=argument):
            metric(model, x_tr, y_tr, explain_func=explain, x_test=x_te, y_test=y_te, **maps)
    assert trainer.calls == 0 and getattr(explain, "calls", 0) == 0  # refused before any work
    assert not list(tmp_path.glob("*.json"))
    assert not snapshot_differences(model, before) and model.training and _rng_unchanged(rng)


# -- 7. batched retraining and the models it cannot train ---------------------------------


@pytest.mark.parametrize(
    ("layer", "match"), [(nn.Dropout(0.5), "batched=False"), (nn.BatchNorm1d(8), "buffers")]
)
def test_batched_refuses_dropout_and_buffers_before_any_work(layer, match):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 8), layer, nn.Linear(8, 2))
    explain = CountingExplain()
    metric = ROAR(thresholds=(0, 0.5), n_repeats=1, train_kwargs=TINY, batched=True)
    with pytest.raises(ValueError, match=match):
        call(metric, model=model, a_batch=None, explain_func=explain)
    assert explain.calls == 0
    call(ROAR(thresholds=(0.5,), n_repeats=1, train_kwargs=TINY, batched=True, retrain=False), model=model)
