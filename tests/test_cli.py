"""The ``xai-sanity`` command: --version, the listings, evaluate, run (with the tutorial config),
presets, and the summary every output folder gets."""

import inspect
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import batch, conv1d_batch, conv1d_model, small_cnn

import xai_sanity as xs
from xai_sanity.cli import build_parser, main

TUTORIAL = Path(__file__).resolve().parents[1] / "tutorials" / "study.toml"
VERSION_KEYS = {"python", "xai_sanity", "torch", "quantus", "numpy", "scipy"}


def check_run_record(record, seed):
    assert VERSION_KEYS <= set(record["versions"]) and record["versions"]["torch"] == torch.__version__
    assert record["versions"]["quantus"] == version("quantus")
    assert record["seed"] == seed and record["device"].startswith("cpu")
    assert record["started"][:2] == "20" and "T" in record["started"]  # ISO time
    assert record["duration_s"] >= 0 and isinstance(record["command"], list)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"xai-sanity {version('xai_sanity')} (python ")
    assert f"torch {version('torch')}" in out


def test_methods_listing_has_every_method_with_its_parameters(capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= 100
    for name in xs.METHODS:
        assert any(line.startswith(name + " ") for line in text.splitlines()), name
    assert "steps=50" in text and "base='Gradient'" in text
    assert main(["methods", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert list(entries) == list(xs.METHODS)
    ig = {p["name"]: p["default"] for p in entries["IntegratedGradients"]["parameters"]}
    signature = inspect.signature(xs.IntegratedGradients).parameters
    assert ig == {name: signature[name].default for name in ig} and "steps" in ig
    first_line = inspect.getdoc(xs.IntegratedGradients).splitlines()[0]
    assert entries["IntegratedGradients"]["description"] == first_line


def test_metrics_listing_has_category_direction_types_and_parameters(capsys):
    assert main(["metrics"]) == 0
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= 100
    assert main(["metrics", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert list(entries) == list(xs.METRICS)
    for name, entry in entries.items():
        cls = xs.METRICS[name]
        assert entry["direction"] == cls.score_direction.value.lower()
        assert entry["category"] == cls.evaluation_category.value.lower()
        assert entry["data_types"] == sorted(t.value for t in cls.data_applicability)
        named = [p.name for p in inspect.signature(cls).parameters.values() if p.kind is not p.VAR_KEYWORD]
        assert [p["name"] for p in entry["parameters"]] == named
        arrow = {"higher": "↑", "lower": "↓"}[entry["direction"]]
        header = next(line for line in text.splitlines() if line.startswith(name + " "))
        assert f"{entry['category']} | {arrow} |" in header
    assert entries["PointingGame"]["needs_masks"] and not entries["MaxSensitivity"]["needs_masks"]


def test_evaluate_a_conv1d_model_on_series_from_files(tmp_path, capsys):
    """(N, C, T) data through ``evaluate --model --data``; Pointing Game checked by hand."""
    model = conv1d_model()
    x, y = conv1d_batch(n=6)
    s = np.zeros((6, 1, 32), np.float32)
    s[:, :, :16] = 1
    torch.save(model, tmp_path / "model.pt")
    np.savez(tmp_path / "series.npz", x_batch=x, y_batch=y, s_batch=s)
    argv = [
        "evaluate", "--model", str(tmp_path / "model.pt"), "--data", str(tmp_path / "series.npz"),
        "--methods", "Saliency", "Gradient", "--metrics", "PointingGame", "MaxSensitivity", "--quick",
        "--out", str(tmp_path / "out"), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = tmp_path / "out"
    for name in ("results.csv", "results.md", "results.tex", "results_scores.csv", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    scores = pd.read_csv(out / "results_scores.csv")
    assert scores["error"].isna().all(), scores["error"].dropna().unique()
    # Reference: |d logit_y / d x| summed over channels; a hit when its argmax lies in the mask.
    inputs = torch.as_tensor(x).requires_grad_(True)
    logits = model(inputs)
    (grad,) = torch.autograd.grad(logits[torch.arange(6), torch.as_tensor(y)].sum(), inputs)
    saliency = grad.abs().sum(1).numpy()
    expected = s[np.arange(6), 0, saliency.argmax(1)]
    assert 0 < expected.sum() < 6  # both hits and misses
    got = scores[(scores.method == "Saliency") & (scores.metric == "PointingGame")]["score"].to_numpy()
    np.testing.assert_array_equal(got, expected)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"] == ["Saliency", "Gradient"] and summary["n_samples"] == 6
    assert summary["run"]["config"]["model"] == str(tmp_path / "model.pt")
    check_run_record(summary["run"], 0)
    assert "| Saliency |" in capsys.readouterr().out


def test_evaluate_input_errors_exit_2_with_the_reason(tmp_path, capsys):
    x, y = batch(n=2)
    torch.save(small_cnn(), tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "series.npz", x=x[:, :, 0], y=y)  # (N, C, T): not what the CNN takes
    np.savez(tmp_path / "big_labels.npz", x=x, y=np.array([0, 99]))
    base = ["evaluate", "--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "o"), "--no-progress"]
    cases = [
        (["--data", str(tmp_path / "x.npy")], "x.npy holds only the inputs: give the labels too"),
        (["--data", str(tmp_path / "d.npz"), "--methods", "Salience"], "unknown method 'Salience'"),
        (["--data", str(tmp_path / "d.npz"), "--metrics", "PointingGame"], "need ground-truth masks"),
        (["--data", str(tmp_path / "d.npz"), "--model-kwargs", "{bad"], "--model-kwargs is not valid JSON"),
        (["--data", str(tmp_path / "nope.npz")], "data file"),
        (["--data", str(tmp_path / "series.npz")], "the model cannot take the data"),
        (["--data", str(tmp_path / "big_labels.npz")], "the labels go up to 99 but the model has 10 outputs"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("xai-sanity evaluate: error:") and message in err, err
    assert not (tmp_path / "o").exists()  # nothing ran


def write_study(tmp_path, cache=False):
    x, y = batch(n=3)
    s = np.zeros((3, 1, 8, 8), np.float32)
    s[:, :, 2:6, 2:6] = 1
    np.savez(tmp_path / "d.npz", x=x, y=y, masks=s)
    torch.save(small_cnn(seed=0).state_dict(), tmp_path / "w.pt")
    (tmp_path / "s.toml").write_text(
        "out = 'ignored'\nseeds = [0, 1]\n[data]\npath = 'd.npz'\n"
        "[models.fixed]\nfactory = 'helpers:small_cnn'\nstate_dict = 'w.pt'\n"
        "[models.per_seed]\nfactory = 'helpers:small_cnn'\n"
        "[methods.Saliency]\n[methods.SG]\nmethod = 'SmoothGrad'\nn_samples = 2\n"
        "[metrics.PointingGame]\nabs = true\n[metrics.Sens]\nmetric = 'MaxSensitivity'\nnr_samples = 2\n"
    )
    return tmp_path / "s.toml"


def test_run_writes_the_outputs_and_resumes_from_the_cache(tmp_path, capsys):
    config = write_study(tmp_path)
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["run", str(config), "--out", str(out), "--cache", str(cache), "--no-progress"]
    assert main(argv) == 0
    scores = pd.read_csv(out / "results_scores.csv")
    assert list(scores.columns) == ["model", "method", "metric", "seed", "sample", "score", "error"]
    assert scores["error"].isna().all(), scores["error"].dropna().unique()
    assert len(scores) == 2 * 2 * 2 * 2 * 3  # models x methods x metrics x seeds x samples
    table = pd.read_csv(out / "results.csv", header=[0, 1], index_col=[0, 1])
    assert set(table.index) == {(m, k) for m in ("fixed", "per_seed") for k in ("Saliency", "SG")}
    assert (out / "results.md").stat().st_size > 0 and (out / "results.tex").stat().st_size > 0
    assert (out / "study.toml").read_text() == config.read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["models"] == ["fixed", "per_seed"]
    assert summary["run"]["config"]["methods"]["SG"] == {"method": "SmoothGrad", "n_samples": 2}
    check_run_record(summary["run"], [0, 1])
    assert "written to" in capsys.readouterr().out
    # The fixed model's seed-0 Saliency / PointingGame scores, by hand: argmax of |grad| in the mask.
    model = small_cnn(seed=0).eval()
    data = np.load(tmp_path / "d.npz")
    inputs = torch.as_tensor(data["x"]).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(inputs)[torch.arange(3), torch.as_tensor(data["y"])].sum(), inputs)
    saliency = grad.abs().sum(1).reshape(3, -1).numpy()
    expected = data["masks"].reshape(3, -1)[np.arange(3), saliency.argmax(1)]
    cell = scores[
        (scores.model == "fixed") & (scores.method == "Saliency") & (scores.metric == "PointingGame")
    ]
    np.testing.assert_array_equal(cell[cell.seed == 0]["score"].to_numpy(), expected)
    # A second run finds every cell in the cache and gives the same table.
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    assert files
    assert main([*argv[:2], "--out", str(tmp_path / "again"), "--cache", str(cache), "--no-progress"]) == 0
    again = pd.read_csv(tmp_path / "again" / "results_scores.csv")
    pd.testing.assert_frame_equal(again, scores)
    assert sorted(p for p in cache.rglob("*") if p.is_file()) == files


def test_run_check_and_config_errors(tmp_path, capsys):
    config = write_study(tmp_path)
    assert main(["run", str(config), "--check"]) == 0
    out = capsys.readouterr().out
    assert "s.toml: ok" in out and "x (3, 3, 8, 8), masks yes" in out and "seeds    [0, 1]" in out
    config.write_text(config.read_text().replace("n_samples = 2", "n_sample = 2"))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "xai-sanity run: error: s.toml: methods.SG.n_sample: unknown parameter" in err
    assert main(["run", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # Files that load badly are reported before the run starts, without a traceback.
    config.write_text(config.read_text().replace("n_sample = 2", "n_samples = 2"))
    torch.save(conv1d_model().state_dict(), tmp_path / "w.pt")
    assert main(["run", str(config), "--out", str(tmp_path / "never")]) == 2
    assert "w.pt' does not fit the model of 'helpers:small_cnn'" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_the_tutorial_config_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "tutorial"
    assert main(["run", str(TUTORIAL), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == [] and summary["seeds"] == [0, 1]
    scores = pd.read_csv(out / "results_scores.csv")
    assert set(scores["method"]) == {"Saliency", "IG", "SmoothGrad"}
    assert set(scores["metric"]) == {"PointingGame", "RelevanceRankAccuracy", "RandomLogit"}
    assert scores.groupby(["method", "metric", "seed"]).size().eq(summary["n_samples"]).all()
    pointing = scores[scores.metric == "PointingGame"]["score"]
    assert pointing.isin([0.0, 1.0]).all()
    check_run_record(summary["run"], [0, 1])


# -- presets ---------------------------------------------------------------------------------


def test_settings_presets():
    from xai_sanity.reproduce._common import settings_for
    from xai_sanity.reproduce.demo import SETTINGS, DemoSettings

    assert (
        settings_for(SETTINGS) is SETTINGS["full"] and settings_for(SETTINGS, quick=True) is SETTINGS["quick"]
    )
    assert settings_for(SETTINGS, preset="quick") is SETTINGS["quick"]
    assert DemoSettings.for_mode(False, "quick") == DemoSettings.quick()
    with pytest.raises(ValueError, match=r"preset must be one of \['full', 'quick'\], got 'cpu'"):
        settings_for(SETTINGS, preset="cpu")
    with pytest.raises(ValueError, match=r"quick=True and preset='full' contradict"):
        DemoSettings.for_mode(True, "full")


def test_preset_is_passed_to_the_runner_only_when_given(monkeypatch, capsys):
    import xai_sanity.reproduce.demo as demo
    import xai_sanity.reproduce.sanity_checks as sanity

    calls = []

    def stub(module_name):
        def fake(out, **kwargs):
            calls.append(kwargs)

        fake.__module__ = module_name  # the CLI checks the preset against that module's SETTINGS
        return fake

    for module, name in ((demo, "run_demo"), (sanity, "run_sanity_checks")):
        monkeypatch.setattr(module, name, stub(module.__name__))
    assert main(["demo", "--quick", "--no-progress"]) == 0
    assert "preset" not in calls[-1] and calls[-1]["quick"]
    assert main(["demo", "--preset", "quick"]) == 0
    assert calls[-1]["preset"] == "quick"
    assert main(["reproduce", "sanity-checks", "--preset", "full", "--seed", "2"]) == 0
    assert calls[-1]["preset"] == "full" and calls[-1]["seed"] == 2
    n = len(calls)
    assert main(["demo", "--preset", "huge"]) == 2
    assert "preset must be one of ['full', 'quick'], got 'huge'" in capsys.readouterr().err
    assert len(calls) == n  # refused before the runner starts
    args = build_parser().parse_args(["reproduce", "noisegrad", "--preset", "cpu"])
    assert (args.study, args.preset) == ("noisegrad", "cpu")


def test_run_record_lists_what_reproduces_a_run():
    import time

    from xai_sanity.reproduce._common import run_record
    from xai_sanity.reproduce.demo import DemoSettings

    record = run_record(config=DemoSettings.quick(), seed=3, device=None, started=time.time(), duration_s=1.26,
                        argv=["xai-sanity", "demo"])  # fmt: skip
    assert record["config"]["mode"] == "quick" and record["config"]["ngpp"] == [3, 3]
    assert record["command"] == ["xai-sanity", "demo"] and record["duration_s"] == 1.3
    check_run_record(record, 3)
    json.dumps(record)  # JSON-ready


def test_metrics_by_name_applies_overrides_over_the_suite_parameters():
    from xai_sanity.jobs import metrics_by_name

    built = metrics_by_name(
        ["MaxSensitivity", "PointingGame"], seed=3, overrides={"MaxSensitivity": {"nr_samples": 4}}
    )
    assert built["MaxSensitivity"].nr_samples == 4 and built["MaxSensitivity"].seed == 3
    assert built["PointingGame"].abs is True  # its suite parameter, untouched by another metric's override
