"""Tutorial: a study — models × seeds × methods × metrics as one table, resumable, on a cluster.

Two architectures, each trained with three seeds, four explain methods and the default metric
suite: one :class:`xai_sanity.Study`. Every finished cell is written to ``cache_dir`` at once,
so a run that is killed resumes where it stopped; the same study runs on a Dask cluster with
the same numbers; the paper table reports mean ± std over seeds, with counts.

    .venv/bin/python tutorials/study.py            # the full study (trains 6 models once, cached)
    .venv/bin/python tutorials/study.py --quick    # a small version (untrained models), ~1 minute

Swap in your own models (a module, or a function seed -> module), data and methods where
marked.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import pandas as pd
from torch import nn

import xai_sanity as xs
from xai_sanity.data import load_default_splits
from xai_sanity.data.models import make_model
from xai_sanity.reproduce.demo import default_metrics
from xai_sanity.training import load_default_model


# 1. Models: a factory per architecture, called with each seed of the study. ---------------
# Defined at module level so that worker processes can load them. A factory that trains
# should cache what it trains (load_default_model does): a study calls it on every run, since
# the weights it returns are part of each cell's key.
def trained(arch: str, seed: int) -> nn.Module:
    """The default ``arch`` trained on the built-in dataset with ``seed`` (cached on disk)."""
    model, info = load_default_model(arch, seed=seed, progress=False)
    print(f"  {arch} seed {seed}: test accuracy {info['test_accuracy']:.3f}")
    return model


def untrained(arch: str, seed: int) -> nn.Module:
    """``arch`` with its initial weights drawn from ``seed`` (for the quick run)."""
    return make_model(arch, seed=seed).eval()


def parts(quick: bool) -> dict:
    """Everything a Study takes except the cache folder."""
    # 2. Data: x (N, C, H, W), labels y and masks s of where the class evidence is. -----------
    _, test = load_default_splits(n_train=64 if quick else 20000, n_test=100 if quick else 2000, seed=0)
    n = 8 if quick else 32
    factory = untrained if quick else trained
    # 3. Methods: registered names, (name, params) or explain functions (any Quantus one too).
    methods = {
        "Saliency": "Saliency",
        "SmoothGrad": xs.SmoothGrad(base="Saliency", n_samples=4 if quick else 32),
    }
    if not quick:
        methods["IntegratedGradients"] = ("IntegratedGradients", {"steps": 16})
        methods["NoiseGrad"] = xs.NoiseGrad(base="Saliency", n_models=10, noise_level=0.1)
    # 4. Metrics: None is the default suite, built for each seed. The quick run takes three.
    metrics = None
    if quick:
        suite = default_metrics(quick=True)
        metrics = {name: suite[name] for name in ("PointingGame", "RelevanceMassAccuracy", "MaxSensitivity")}
    return {
        "models": {
            "LeNet": functools.partial(factory, "lenet"),
            "SmallVGG": functools.partial(factory, "vgg"),
        },
        "methods": methods,
        "metrics": metrics,
        "data": (test.x[:n], test.y[:n], test.masks[:n]),
        "seeds": (0, 1) if quick else (0, 1, 2),
    }


class StopAfter:
    """A callback that interrupts the run after ``n`` computed cells (stands in for Ctrl-C,
    a job's time limit or a lost machine)."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def __call__(self, cell: xs.study.CellInfo) -> None:
        self.seen += not cell.from_cache
        if self.seen >= self.n:
            raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version (untrained models)")
    parser.add_argument("--out", default="study_report", help="output folder (default: study_report)")
    parser.add_argument("--no-dask", action="store_true", help="skip the run on a local Dask cluster")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    study_parts = parts(args.quick)
    progress = not args.quick

    # 5. One study; every finished cell lands in cache_dir as it ends. -------------------------
    study = xs.Study(**study_parts, cache_dir=out / "cells")
    print(f"{study.n_cells} cells: {study}")

    # 6. A run that is killed part way (simulated: the callback interrupts it) ... ------------
    # A real kill (Ctrl-C, `timeout 60 python tutorials/study.py`, a pre-empted node) leaves
    # the same folder behind: finished cells are complete files, nothing else is.
    try:
        study.run(progress=progress, callback=StopAfter(study.n_cells // 3))
    except KeyboardInterrupt:
        print(f"interrupted after {study.last_run['computed']} of {study.n_cells} cells")

    # ... and the same call again resumes: only the missing cells are computed. ------------
    scores = study.run(progress=progress)
    print(
        f"resumed: {study.last_run['from_cache']} cells from the cache, {study.last_run['computed']} "
        f"computed, {study.last_run['failed']} failed, in {study.last_run['seconds']:.1f} s"
    )

    # 7. The same study on a Dask cluster: here a local one; for a real cluster use
    # Client("tcp://scheduler:8786"). Cells run on the workers; the cache stays here. -------
    if not args.no_dask:
        from dask.distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            on_dask = xs.Study(**study_parts).run(executor=client.get_executor(), progress=progress)
        pd.testing.assert_frame_equal(on_dask, scores, check_exact=True)
        print("Dask: the same numbers as the sequential run")

    # 8. The paper table: each seed's mean over samples, then mean ± std over the seeds. -----
    table = xs.report.summarise(scores, index=["model", "method"], over="seed")
    print(xs.report.to_markdown(table))
    xs.report.write_tables(
        scores, out, stem="study", caption="mean ± std over seeds", index=["model", "method"], over="seed"
    )
    print(f"tables in {out.resolve()}")


if __name__ == "__main__":  # the guard lets worker processes import this file
    main()
