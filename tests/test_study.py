"""Studies: models × seeds × methods × metrics, cached per cell, on any executor."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest
import quantus
from torch import nn

import xai_sanity as xs
from xai_sanity.reproduce._common import GlobalNumpySeed
from xai_sanity.study import _cells

ROOT = Path(__file__).resolve().parents[1]


def factory(seed: int) -> nn.Module:
    """A model per seed: the tiny CNN with weights drawn from ``seed``."""
    return helpers.build_cnn(seed=seed)


def study_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = helpers.images().numpy()
    s = np.zeros((len(x), 1, 16, 16), dtype=np.float32)
    s[:, :, 3:11, 5:13] = 1.0
    return x, np.array(helpers.IMAGE_LABELS), s


def study_parts() -> dict:
    """2 models × 2 methods (one stochastic) × 2 cheap metrics (one stochastic)."""
    return {
        "models": {"cnn": factory, "fixed": helpers.build_cnn(seed=7)},
        "methods": {"Saliency": "Saliency", "SG": xs.SmoothGrad(n_samples=3, seed=123)},
        "metrics": {"PointingGame": "PointingGame", "MaxSens": ("MaxSensitivity", {"nr_samples": 2})},
        "data": study_data(),
    }


def make_study(**overrides) -> xs.Study:
    return xs.Study(**{**study_parts(), "seeds": (0, 1), **overrides})


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    """The sequential run without a cache."""
    return make_study().run(progress=False)


def direct_evaluate() -> pd.DataFrame:
    """The same numbers through xs.evaluate, one call per (model, seed), seeds set by hand."""
    x, y, s = study_data()
    frames = []
    for model_name in ("cnn", "fixed"):
        for seed in (0, 1):
            model = factory(seed) if model_name == "cnn" else helpers.build_cnn(seed=7)
            methods = {"Saliency": xs.Saliency(), "SG": xs.SmoothGrad(n_samples=3, seed=seed)}
            metrics = {
                "PointingGame": xs.METRICS["PointingGame"](),
                "MaxSens": xs.METRICS["MaxSensitivity"](nr_samples=2, seed=seed),
            }
            frame = xs.evaluate(model, x, y, s, methods=methods, metrics=metrics, progress=False)
            frames.append(frame.assign(model=model_name, seed=seed))
    columns = ["model", "method", "metric", "seed", "sample", "score", "error"]
    return pd.concat(frames, ignore_index=True)[columns]


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "seed", "method", "metric", "sample"]
    return frame.sort_values(keys, kind="stable", ignore_index=True)


# -- the table ------------------------------------------------------------------------------


def test_frame_has_every_cell_and_sample(reference):
    assert list(reference.columns) == ["model", "method", "metric", "seed", "sample", "score", "error"]
    assert len(reference) == 2 * 2 * 2 * 2 * 4
    counts = reference.groupby(["model", "method", "metric", "seed"]).size()
    assert len(counts) == 16 and set(counts) == {4}
    assert reference["error"].isna().all()
    assert reference.attrs["direction"] == {"PointingGame": "higher", "MaxSens": "lower"}
    assert list(reference["model"].unique()) == ["cnn", "fixed"]


def test_equals_direct_evaluate_per_model_and_seed(reference):
    pd.testing.assert_frame_equal(ordered(reference), ordered(direct_evaluate()), check_exact=True)


def test_run_study_is_study_run(reference):
    frame = xs.run_study(**study_parts(), seeds=(0, 1), progress=False)
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)


# -- seeds ----------------------------------------------------------------------------------


def scores(frame, **where) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    return frame.loc[mask, "score"].to_numpy()


def test_seed_reaches_methods_metrics_and_factories(reference):
    fixed = {"model": "fixed", "metric": "PointingGame"}
    # Saliency on the same model: deterministic, equal across seeds.
    assert np.array_equal(
        scores(reference, method="Saliency", seed=0, **fixed),
        scores(reference, method="Saliency", seed=1, **fixed),
    )
    # SmoothGrad's maps change with the seed (its seed=123 is replaced by the study's).
    sg = {"model": "fixed", "method": "SG", "metric": "MaxSens"}
    assert not np.array_equal(scores(reference, seed=0, **sg), scores(reference, seed=1, **sg))
    # MaxSensitivity's noise changes with the seed, also for a deterministic method.
    sal = {"model": "fixed", "method": "Saliency", "metric": "MaxSens"}
    assert not np.array_equal(scores(reference, seed=0, **sal), scores(reference, seed=1, **sal))
    # The factory builds one model per seed.
    cnn = {"model": "cnn", "method": "Saliency", "metric": "MaxSens"}
    assert not np.array_equal(scores(reference, seed=0, **cnn), scores(reference, seed=1, **cnn))
    # Same seed, same numbers.
    again = make_study().run(progress=False)
    pd.testing.assert_frame_equal(again, reference, check_exact=True)


def test_seed_reaches_registered_names_and_quantus_metrics():
    before = helpers.rng_states()
    quantus_metric = quantus.FaithfulnessCorrelation(nr_runs=3, subset_size=16, disable_warnings=True)
    study = make_study(
        models={"fixed": helpers.build_cnn(seed=7)},
        methods={"Random": "Random"},
        metrics={"FC": quantus_metric},
        seeds=(0, 1, 2),
    )
    frame = study.run(progress=False)
    helpers.assert_rng_unchanged(before)
    assert not quantus_metric.all_evaluation_scores  # each cell scored with a copy
    assert frame["error"].isna().all()
    assert not np.array_equal(scores(frame, seed=0), scores(frame, seed=1), equal_nan=True)
    # Random attributions with the study's seed; Quantus's draws from a global generator
    # seeded with it (as the reproductions run such metrics).
    x, y, _ = study_data()
    direct = xs.evaluate(
        helpers.build_cnn(seed=7), x, y, methods={"Random": xs.RandomAttribution(seed=2)},
        metrics={"FC": GlobalNumpySeed(quantus_metric, 2)}, progress=False,
    )  # fmt: skip
    assert np.array_equal(scores(frame, seed=2), direct["score"].to_numpy(), equal_nan=True)


def test_given_objects_are_not_changed():
    sg = xs.SmoothGrad(n_samples=3, seed=123)
    metric = xs.METRICS["MaxSensitivity"](nr_samples=2, seed=9)
    model = helpers.build_cnn(seed=7)
    watch = helpers.ModelWatch(model)
    make_study(models={"m": model}, methods={"SG": sg}, metrics={"M": metric}).run(progress=False)
    assert sg.seed == 123 and metric.seed == 9 and not metric.all_evaluation_scores
    watch.assert_unchanged()


def test_factory_must_return_a_module():
    study = make_study(models={"bad": lambda seed: (helpers.build_cnn(seed=seed), {})})
    with pytest.raises(TypeError, match="model factory 'bad' returned a tuple"):
        study.run(progress=False)


def test_shared_generator_is_refused():
    import torch

    with pytest.raises(ValueError, match="method 'SG' draws from a shared generator"):
        make_study(methods={"SG": xs.SmoothGrad(generator=torch.Generator())})


# -- arguments ------------------------------------------------------------------------------


def test_bad_names_list_what_is_registered():
    with pytest.raises(KeyError, match="Saliency"):
        make_study(methods={"x": "NoSuchMethod"})
    with pytest.raises(KeyError, match="PointingGame"):
        make_study(metrics={"x": "NoSuchMetric"})


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        ({"seeds": ()}, ValueError, "seeds is empty"),
        ({"seeds": (0, 0)}, ValueError, "distinct"),
        ({"seeds": (-1,)}, ValueError, "seed"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"models": {}}, ValueError, "models"),
        ({"models": {"m": 3}}, TypeError, "model 'm'"),
        ({"methods": {"m": 3}}, TypeError, "method 'm'"),
        ({"metrics": {"m": 3}}, TypeError, "metric 'm'"),
        ({"data": (np.zeros((2, 3, 16, 16)),)}, TypeError, "data must be"),
        ({"data": {"x": np.zeros((2, 3, 16, 16)), "labels": np.zeros(2)}}, ValueError, "unknown keys"),
        ({"data": (np.zeros((2, 3, 16, 16)), np.zeros(3))}, ValueError, "y_batch"),
        ({"cache_dir": __file__}, ValueError, "cache_dir"),
    ],
)
def test_bad_arguments_are_named(overrides, error, match):
    with pytest.raises(error, match=match):
        make_study(**overrides).run(progress=False)


def test_data_as_dict_and_callback(reference):
    x, y, s = study_data()
    seen = []
    frame = make_study(data={"x": x, "y": y, "s": s}).run(progress=False, callback=seen.append)
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)
    assert len(seen) == 16 and {c.from_cache for c in seen} == {False}
    assert {(c.model, c.method, c.metric, c.seed) for c in seen} == set(
        frame.groupby(["model", "method", "metric", "seed"]).size().index
    )


# -- the cache ------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for the process being killed (not an Exception, so nothing records it)."""


@pytest.fixture
def counted(monkeypatch):
    """Count the cells computed (one evaluate call each); raise Killed at call ``kill_at``."""
    state = {"calls": 0, "kill_at": None}
    original = _cells.evaluate

    def counting(*args, **kwargs):
        state["calls"] += 1
        if state["calls"] == state["kill_at"]:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(_cells, "evaluate", counting)
    return state


def test_killed_run_resumes_without_recomputing(tmp_path, counted, reference):
    cache = tmp_path / "cells"
    counted["kill_at"] = 6
    with pytest.raises(Killed):
        make_study(cache_dir=cache).run(progress=False)
    files = sorted(cache.glob("study_*.json"))
    assert len(files) == 5 and not list(cache.glob("*.lock"))  # locks released
    record = json.loads(files[0].read_text())
    assert set(record["config"]["names"]) == {"model", "method", "metric", "seed"}

    counted.update(calls=0, kill_at=None)
    study = make_study(cache_dir=cache)
    frame = study.run(progress=False)
    assert counted["calls"] == 16 - 5
    assert study.last_run["from_cache"] == 5 and study.last_run["computed"] == 11
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)

    counted["calls"] = 0
    again = make_study(cache_dir=cache).run(progress=False)
    assert counted["calls"] == 0
    pd.testing.assert_frame_equal(again, reference, check_exact=True)


def test_cache_key_follows_what_determines_the_scores(tmp_path, counted):
    cache = tmp_path / "cells"
    make_study(cache_dir=cache).run(progress=False)
    counted["calls"] = 0
    # Renamed entries and objects equal to the originals are served from the cache.
    parts = study_parts()
    renamed = make_study(
        cache_dir=cache,
        models={"model A": factory, "model B": helpers.build_cnn(seed=7)},
        methods={"Gradient magnitude": xs.Saliency(), "SmoothGrad": parts["methods"]["SG"]},
    )
    renamed.run(progress=False)
    assert counted["calls"] == 0
    # Another metric setting, other weights, another seed: computed.
    make_study(cache_dir=cache, metrics={"MaxSens": ("MaxSensitivity", {"nr_samples": 3})}).run(
        progress=False
    )
    assert counted["calls"] == 2 * 2 * 2
    counted["calls"] = 0
    make_study(cache_dir=cache, models={"fixed": helpers.build_cnn(seed=8)}).run(progress=False)
    assert counted["calls"] == 2 * 2 * 2
    counted["calls"] = 0
    make_study(cache_dir=cache, seeds=(1, 2)).run(progress=False)
    assert counted["calls"] == 2 * 2 * 2


def mean_abs(model, x_batch, y_batch, a_batch, **kwargs):
    """A plain-function metric with two scores per sample."""
    flat = np.abs(a_batch).reshape(len(a_batch), -1)
    return {"mean": flat.mean(1), "max": flat.max(1)}


def median_abs(model, x_batch, y_batch, a_batch, **kwargs):
    return list(np.median(np.abs(a_batch).reshape(len(a_batch), -1), axis=1))


def test_function_metrics_and_keyed_scores_through_the_cache(tmp_path, counted):
    metrics = {"abs": mean_abs, "median": median_abs}
    study = make_study(metrics=metrics, cache_dir=tmp_path / "cells", seeds=(0,))
    first = study.run(progress=False)
    assert counted["calls"] == 2 * 2 * 2  # two functions, two keys
    assert list(first["metric"].unique()) == ["abs[mean]", "abs[max]", "median"]
    x, y, s = study_data()
    direct = xs.evaluate(
        helpers.build_cnn(seed=7),
        x,
        y,
        s,
        methods={"Saliency": xs.Saliency()},
        metrics=metrics,
        progress=False,
    )
    mine = first[(first["model"] == "fixed") & (first["method"] == "Saliency")]
    np.testing.assert_array_equal(mine["score"].to_numpy(), direct["score"].to_numpy())
    counted["calls"] = 0
    pd.testing.assert_frame_equal(study.run(progress=False), first, check_exact=True)
    assert counted["calls"] == 0


def _needs_masks(model, x_batch, y_batch, a_batch=None, s_batch=None, **kwargs):
    """A third-party metric that fails without masks (it does not declare requires_s_batch)."""
    if s_batch is None:
        raise ValueError("this metric needs s_batch")
    return [0.0] * len(x_batch)


def test_failed_cells_are_recorded_not_cached(tmp_path, counted):
    x, y, _ = study_data()
    metrics = {**study_parts()["metrics"], "PointingGame": _needs_masks}
    study = make_study(data=(x, y), metrics=metrics, cache_dir=tmp_path / "cells", seeds=(0,))
    frame = study.run(progress=False)
    failed = frame[frame["error"].notna()]
    assert set(failed["metric"]) == {"PointingGame"} and (failed["sample"] == -1).all()
    assert "s_batch" in failed["error"].iloc[0]
    assert study.last_run["failed"] == 4
    counted["calls"] = 0
    study.run(progress=False)
    assert counted["calls"] == 4  # only the failed cells again


def test_unreadable_cache_file_is_recomputed(tmp_path, counted, reference):
    cache = tmp_path / "cells"
    make_study(cache_dir=cache).run(progress=False)
    broken = sorted(cache.glob("study_*.json"))[0]
    broken.write_text("{not json", encoding="utf-8")
    counted["calls"] = 0
    with pytest.warns(RuntimeWarning, match="unreadable"):
        frame = make_study(cache_dir=cache).run(progress=False)
    assert counted["calls"] == 1
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)


def test_two_runs_share_a_cache(tmp_path, reference):
    """Two runs on one folder at once (threads here; locks work the same across processes and
    hosts): every cell is computed once, and both runs return every cell."""
    cache = tmp_path / "cells"
    studies = [make_study(cache_dir=cache) for _ in range(2)]
    frames: list = [None, None]
    start = threading.Barrier(2)

    def run(i: int) -> None:
        start.wait()
        frames[i] = studies[i].run(progress=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sum(study.last_run["computed"] for study in studies) == 16
    assert all(study.last_run["computed"] > 0 for study in studies)  # the work was shared
    for frame in frames:
        pd.testing.assert_frame_equal(frame, reference, check_exact=True)


# -- executors ------------------------------------------------------------------------------


def test_process_pool_equals_sequential(tmp_path, reference):
    cache = tmp_path / "cells"
    # Workers forked from a process in which torch has run may hang in torch's thread pool:
    # fork them from a fresh server process instead (the default from Python 3.14 on).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["xai_sanity"])  # import it once, in the server
    with ProcessPoolExecutor(2, mp_context=context) as executor:
        frame = make_study(cache_dir=cache).run(executor=executor, progress=False)
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)
    assert len(list(cache.glob("study_*.json"))) == 16  # written here as tasks return


def test_forking_process_pool_is_warned_about(tmp_path):
    study = make_study(cache_dir=tmp_path / "cells", seeds=(0,))
    study.run(progress=False)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as executor:
        with pytest.warns(RuntimeWarning, match="forkserver"):
            study.run(executor=executor, progress=False)  # every cell cached: nothing is sent


def test_thread_pool_equals_sequential(reference):
    with ThreadPoolExecutor(3) as executor:
        frame = make_study().run(executor=executor, progress=False)
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)


class LockedMetric:
    """A metric that holds a lock, which does not pickle (but copies, as a new lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __deepcopy__(self, memo):
        return LockedMetric()

    def __call__(self, model, x_batch, y_batch, a_batch, **kwargs):
        return list(np.abs(a_batch).reshape(len(a_batch), -1).mean(1))


def test_what_does_not_pickle_is_named():
    study = make_study(metrics={"Locked": LockedMetric()})
    with (
        ThreadPoolExecutor(1) as executor,
        pytest.raises(TypeError, match="metric 'Locked' .*does not pickle"),
    ):
        study.run(executor=executor, progress=False)
    assert len(study.run(progress=False)) == 2 * 2 * 2 * 4  # fine in-process


def test_dask_cluster_equals_sequential(reference):
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        frame = make_study().run(executor=client.get_executor(), progress=False)
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)


# -- other layouts --------------------------------------------------------------------------


def test_time_series_study_matches_evaluate():
    x, y = helpers.conv1d_batch(n=4, length=24)
    s = np.zeros((4, 1, 24), dtype=np.float32)
    s[:, :, 6:14] = 1.0
    metrics = {"PointingGame": "PointingGame", "MaxSens": ("MaxSensitivity", {"nr_samples": 2})}
    study = xs.Study(
        models={"conv1d": lambda seed: helpers.conv1d_model(seed=seed)},
        methods={"Saliency": "Saliency", "SG": xs.SmoothGrad(n_samples=3)},
        metrics=metrics, data=(x, y, s), seeds=(0, 1),
    )  # fmt: skip
    frame = study.run(progress=False)
    assert frame["error"].isna().all() and len(frame) == 2 * 2 * 2 * 4
    direct = xs.evaluate(
        helpers.conv1d_model(seed=1), x, y, s,
        methods={"Saliency": xs.Saliency(), "SG": xs.SmoothGrad(n_samples=3, seed=1)},
        metrics={"PointingGame": xs.METRICS["PointingGame"](), "MaxSens": xs.METRICS["MaxSensitivity"](nr_samples=2, seed=1)},
        progress=False,
    )  # fmt: skip
    mine = frame[frame["seed"] == 1].drop(columns=["model", "seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, direct, check_exact=True)
    assert frame.attrs == direct.attrs


# -- the tutorial ---------------------------------------------------------------------------


def test_tutorial_quick_runs(tmp_path):
    # The tutorial's Dask step is left out here: test_dask_cluster_equals_sequential covers it.
    env = {**os.environ, "XAI_SANITY_CACHE": str(tmp_path / "models"), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, str(ROOT / "tutorials" / "study.py"), "--quick", "--no-dask"]
    result = subprocess.run(
        [*command, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resumed" in result.stdout and "Dask" not in result.stdout
    assert (tmp_path / "out" / "study_scores.csv").stat().st_size > 0
    assert (tmp_path / "out" / "study.md").read_text(encoding="utf-8").count("|") > 10


def test_metrics_named_in_a_study_give_one_score_per_sample():
    """Quantus's defaults of FaithfulnessCorrelation (a batch mean), ROAD ({percentage: accuracy})
    and PixelFlipping (curves) would reach a table as one "sample"; named in a study they give
    one score per sample unless the spec asks otherwise, and an aggregated metric is flagged."""
    x, y, _ = study_data()
    study = xs.Study(
        models={"cnn": factory},
        methods={"Saliency": "Saliency"},
        metrics={
            "FC": ("FaithfulnessCorrelation", {"nr_runs": 4, "subset_size": 0.05}),
            "ROAD": ("ROAD", {"fractions": (0.2, 0.6)}),
            "PF": ("PixelFlipping", {"max_steps": 4}),
        },
        data=(x, y),
        seeds=(0,),
    )
    frame = study.run(progress=False)
    assert frame["error"].isna().all(), frame["error"].dropna().unique()
    assert sorted(frame["metric"].unique()) == ["FC", "PF", "ROAD"]
    assert (frame.groupby("metric")["sample"].nunique() == len(x)).all()
    with pytest.warns(UserWarning, match="returned one number for"):
        xs.evaluate(
            factory(0), x, y, methods={"S": xs.Saliency()},
            metrics={"FC": xs.metrics.FaithfulnessCorrelation(nr_runs=4, subset_size=0.05)}, progress=False,
        )  # fmt: skip


def test_metrics_that_need_masks_are_refused_up_front_without_masks():
    x, y, _ = study_data()
    with pytest.raises(ValueError, match=r"metrics \['PG'\] need ground-truth masks"):
        xs.Study(
            models={"cnn": factory}, methods={"S": "Saliency"}, metrics={"PG": "PointingGame"}, data=(x, y)
        )
    suite = xs.Study(models={"cnn": factory}, methods={"S": "Saliency"}, data=(x, y))  # the default suite
    assert suite.metric_names and not any(
        getattr(xs.METRICS[name], "requires_s_batch", False) for name in suite.metric_names
    )
