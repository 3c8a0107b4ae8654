"""End-to-end: the main job and the sanity-checks reproduction in quick mode."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import xai_sanity as xs
from xai_sanity.demo import build_methods, default_metrics


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    cache = tmp_path_factory.mktemp("cache")
    env = {"XAI_SANITY_CACHE": str(cache), "PYTHONWARNINGS": "ignore"}
    import os

    result = subprocess.run(
        [sys.executable, "-m", "xai_sanity", "demo", "--quick", "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result.stdout


def test_demo_writes_every_report_file(demo_dir):
    out, stdout = demo_dir
    for name in [
        "results.csv", "results.md", "results.tex", "results_scores.csv",
        "explanations.png", "noise_curve.png", "noise_curve.csv", "summary.json",
    ]:  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert "report written to" in stdout


def test_demo_table_has_every_method_and_metric(demo_dir):
    from xai_sanity.reproduce.demo import DemoSettings

    out, stdout = demo_dir
    summary = json.loads((out / "summary.json").read_text())
    methods = list(build_methods(0.1, "quick"))
    metrics = list(default_metrics(quick=True))
    assert summary["methods"] == methods and summary["metrics"] == metrics
    assert {"PointingGame", "ModelParameterRandomisation"} <= set(metrics)
    table = pd.read_csv(out / "results.csv", header=[0, 1], index_col=0)
    assert list(table.index) == methods
    scored = {c.split("[", 1)[0] for c in table["mean"].columns}
    assert scored == set(metrics)  # every metric has a column, none failed silently
    assert not summary["errors"], summary["errors"]
    markdown = (out / "results.md").read_text()
    assert "↑" in markdown and "↓" in markdown  # better directions are marked
    assert 0 < summary["noise_level"] < 10 and summary["test_accuracy"] > 0.1
    # What reruns it: the settings, the seed, the versions, the command line.
    run = summary["run"]
    assert run["config"] == {**run["config"], "mode": "quick", "n_explain": DemoSettings.quick().n_explain}
    assert run["seed"] == 0 and run["command"][1:3] == ["demo", "--quick"] and run["versions"]["torch"]


def test_default_metrics_take_the_run_seed():
    import inspect

    first, second = default_metrics(quick=True, seed=1), default_metrics(quick=True, seed=2)
    assert list(first) == list(second)
    seeded = [name for name, m in first.items() if "seed" in inspect.signature(type(m)).parameters]
    assert {"ModelParameterRandomisation", "RandomLogit", "MaxSensitivity", "AvgSensitivity"} <= set(seeded)
    for name in seeded:
        assert (first[name].seed, second[name].seed) == (1, 2), name
    assert all(m.seed == 0 for name, m in default_metrics(quick=True).items() if name in seeded)


def test_demo_settings_and_import_paths():
    from xai_sanity import demo
    from xai_sanity.reproduce import demo as moved

    for name in ("run_demo", "default_metrics", "build_methods", "enhanced_variants", "DemoResult"):
        assert getattr(demo, name) is getattr(moved, name)
    quick = moved.DemoSettings.quick()
    assert build_methods(0.1, quick).keys() == build_methods(0.1, "quick").keys()
    assert build_methods(0.1, "quick")["IG"].steps == quick.ig_steps == 8


def test_cli_runs_every_runner_by_name():
    from xai_sanity.cli import STUDIES, build_parser, runners
    from xai_sanity.reproduce import run_noisegrad, run_roar_study, run_sanity_checks

    table = runners()
    assert set(table) == {"demo", *STUDIES}
    assert table["noisegrad"][0] is run_noisegrad and table["roar"][0] is run_roar_study
    assert table["sanity-checks"] == (run_sanity_checks, "xai_sanity_sanity_checks")
    args = build_parser().parse_args(["reproduce", "roar", "--quick", "--seed", "3"])
    assert (args.study, args.quick, args.seed) == ("roar", True, 3)


def test_evaluate_keeps_going_after_a_metric_fails():
    import numpy as np
    import quantus
    from helpers import batch, small_cnn

    def broken(**kwargs):
        raise RuntimeError("metric broke")

    x, y = batch(n=4)
    s = np.zeros((4, 1, 8, 8), np.float32)
    s[:, :, 2:5, 2:5] = 1
    df = xs.evaluate(
        small_cnn(), x, y, s,
        methods={"Saliency": xs.Saliency(), "Gradient": xs.Gradient()},
        metrics={"broken": broken, "Sparseness": quantus.Sparseness(disable_warnings=True),
                 "PointingGame": xs.METRICS["PointingGame"]()},
        progress=False,
    )  # fmt: skip
    errors = df[df["error"].notna()]
    assert set(errors["metric"]) == {"broken"} and errors["error"].str.contains("metric broke").all()
    ok = df[df["error"].isna()]
    assert len(ok) == 2 * 2 * 4  # two methods x two working metrics x four samples
    # Quantus's own Sparseness gives the same numbers through evaluate().
    direct = quantus.Sparseness(disable_warnings=True)(
        model=small_cnn(), x_batch=x, y_batch=y, a_batch=xs.Saliency()(small_cnn(), x, y), device="cpu"
    )
    np.testing.assert_allclose(ok[(ok.method == "Saliency") & (ok.metric == "Sparseness")]["score"], direct)
    table = xs.report.summarise(df)
    assert table.loc["Saliency", "broken"] == "error: RuntimeError"  # the class from the error column
    assert table.attrs["direction"]["PointingGame"] == "higher"
