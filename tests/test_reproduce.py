"""Smoke-and-content tests of the three reproductions in quick mode."""

import json

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path / "cache"))


def test_sanity_checks_quick(tmp_path):
    from xai_sanity.reproduce.sanity_checks import (
        MIN_MEMORISED,
        PASS_THRESHOLD,
        SanityChecksSettings,
        build_methods,
        memorisation_text,
        run_sanity_checks,
    )

    result = run_sanity_checks(tmp_path / "sc", quick=True, progress=False, echo=lambda *a: None)
    summary = result["summary"]
    methods = list(build_methods(SanityChecksSettings.quick(), 0))
    assert list(summary.index.get_level_values("method")) == methods
    tests = set(summary.columns.get_level_values(0))
    assert tests == {"cascading", "independent (mean)", "data", "sMPRT", "eMPRT"}
    for test in ("cascading", "independent (mean)", "data"):
        assert set(summary[test].columns) == {"spearman", "spearman_abs", "ssim", "hog"}
    # Hedström et al. (2023)'s repaired tests, original vs fully randomised model, one column
    # each: sMPRT, Spearman(|a|) of maps averaged over noisy inputs; eMPRT, the relative rise
    # in histogram entropy (>= -1, since entropy >= 0; positive when the maps get noisier).
    assert set(summary["sMPRT"].columns) == {"spearman_abs"}
    assert set(summary["eMPRT"].columns) == {"complexity_rise"}
    smprt, emprt = summary[("sMPRT", "spearman_abs")], summary[("eMPRT", "complexity_rise")]
    assert smprt.notna().all() and smprt.between(-1, 1).all()
    assert emprt.notna().all() and emprt.between(-1, 5).all()
    assert emprt.loc[("lenet", "Gradient")] > 0
    for name in (
        "lenet_cascading.png",
        "lenet_grid.png",
        "sanity_checks.md",
        "sanity_checks.tex",
        "sanity_checks.csv",
    ):
        assert (tmp_path / "sc" / name).stat().st_size > 0
    info = json.loads((tmp_path / "sc" / "sanity_checks.json").read_text())
    # Every output folder has summary.json: the results plus what reruns them.
    assert json.loads((tmp_path / "sc" / "summary.json").read_text()) == info
    assert info["run"]["config"] == {**info["run"]["config"], "mode": "quick", "n_explain": 6}
    assert info["run"]["seed"] == 0 and info["run"]["versions"]["torch"] and info["run"]["duration_s"] > 0
    # The data randomisation rows are only meaningful if the random-label model memorised
    # its permuted labels (the quick setting trains 60 epochs on 128 images for that), and
    # the summary must say whether it reached MIN_MEMORISED.
    memorised = info["archs"]["lenet"]["random_label_train_accuracy"]
    assert memorised >= MIN_MEMORISED
    text = memorisation_text(info["archs"])
    assert ("reached only" in text) == (memorised < MIN_MEMORISED) and f"{memorised:.3f}" in text
    scores = result["scores"]
    # Every similarity lies in [-1, 1]; a score is NaN only for a constant map, which here
    # means Grad-CAM's (and Guided Grad-CAM's) all-zero maps after the ReLU.
    assert scores.loc[scores["test"] != "eMPRT", "score"].dropna().between(-1, 1).all()
    assert scores.loc[scores["test"] == "eMPRT", "score"].dropna().between(-1, 5).all()
    assert (scores.groupby(["test", "method"]).size().loc[["sMPRT", "eMPRT"]] == 6).all()
    assert set(scores.loc[scores["score"].isna(), "method"]) <= {"GradCAM", "GuidedGradCAM"}
    assert scores.loc[scores["method"] == "Gradient", "score"].notna().all()
    # Each verdict is the mean Spearman(|a|) after full cascading randomisation, over the
    # samples where it is defined, against the threshold.
    cascading = scores[(scores["test"] == "cascading") & (scores["similarity"] == "spearman_abs")]
    final = cascading[cascading["step"] == cascading["step"].iloc[-1]]
    verdicts = info["verdicts"]["lenet"]
    assert set(verdicts) == set(methods)
    for method, verdict in verdicts.items():
        values = final.loc[final["method"] == method, "score"]
        assert verdict["n_samples"] == len(values) == 6  # 6 = quick n_explain
        assert 0 < verdict["n_defined"] == values.notna().sum()
        assert verdict["final_spearman_abs"] == pytest.approx(values.mean(), abs=5e-4)
        assert isinstance(verdict["passes"], bool) and verdict["passes"] == (values.mean() < PASS_THRESHOLD)
    # As in the paper: Grad-CAM loses its similarity (near zero), Guided Backprop keeps it.
    assert verdicts["GradCAM"]["passes"] and abs(verdicts["GradCAM"]["final_spearman_abs"]) < 0.15
    assert not verdicts["GuidedBackprop"]["passes"]
    # Gradient's map drifts from the original as more layers are randomised (in the quick
    # run it stays above the pass threshold: 3 epochs of LeNet, 6 images).
    gradient = cascading[cascading["method"] == "Gradient"].groupby("step", sort=False)["score"].mean()
    assert gradient.iloc[-1] < gradient.iloc[0] - 0.1


def test_settings_are_frozen_dataclasses():
    import dataclasses

    from xai_sanity.reproduce import NoiseGradSettings, RoarSettings, SanityChecksSettings
    from xai_sanity.reproduce.demo import DemoSettings

    for cls in (DemoSettings, NoiseGradSettings, RoarSettings, SanityChecksSettings):
        full, quick = cls.full(), cls.quick()
        assert (full.mode, quick.mode) == ("full", "quick")
        assert cls.for_mode(True) == quick and cls.for_mode(False) == full
        assert quick.n_train < full.n_train
        with pytest.raises(dataclasses.FrozenInstanceError):
            quick.n_train = 1


def test_noisegrad_metrics_get_the_run_seed():
    import numpy as np

    from xai_sanity.reproduce._common import GlobalNumpySeed, takes_seed
    from xai_sanity.reproduce.noisegrad import NoiseGradSettings, build_metrics

    metrics = build_metrics(NoiseGradSettings.quick(), seed=7)
    seeded = {n for n, m in metrics.items() if takes_seed(type(m))}
    assert {"ModelParameterRandomisation", "MaxSensitivity", "RelativeInputStability"} <= seeded
    assert all(metrics[n].seed == 7 for n in seeded)
    # The faithfulness metrics are the registry's, seeded natively (no global-seed wrapper).
    assert {"FaithfulnessCorrelation", "ROAD"} <= seeded

    # The wrapper makes a global-generator metric reproducible and leaves the caller's stream alone.
    def draw(**kwargs):
        return np.random.random(3)

    wrapped = GlobalNumpySeed(draw, seed=3)
    np.random.seed(0)
    expected_next = np.random.random()
    np.random.seed(0)
    first = wrapped()
    assert np.random.random() == expected_next
    np.testing.assert_array_equal(first, wrapped())
    assert not np.array_equal(first, GlobalNumpySeed(draw, seed=4)())


def test_noisegrad_quick(tmp_path):
    from xai_sanity.reproduce.noisegrad import CATEGORIES, run_noisegrad

    result = run_noisegrad(tmp_path / "ng", quick=True, progress=False, echo=lambda *a: None)
    summary = json.loads((tmp_path / "ng" / "summary.json").read_text())
    assert summary["run"]["config"]["mode"] == "quick" and summary["run"]["versions"]["quantus"]
    scores = result["scores"]
    assert scores["error"].isna().all(), scores[scores["error"].notna()]["error"].unique()
    expected = {m for names in CATEGORIES.values() for m in names}
    assert {m.split("[")[0] for m in scores["metric"]} == expected
    assert {c["base"] for c in result["claims"]} == {"Saliency", "IG"}
    for claim in result["claims"]:
        assert claim["NoiseGrad >= Baseline"] == (claim["NoiseGrad"] >= claim["Baseline"])
        assert 0.0 <= claim["NoiseGrad++ vs SmoothGrad p"] <= 1.0
    # The paired difference, recomputed from the per-sample scores by hand.
    loc = scores[scores["metric"].isin(CATEGORIES["localisation"])]
    prefix = "Saliency"
    per_sample = {
        v: loc[loc["method"] == f"{prefix} / {v}"].groupby("sample")["score"].mean()
        for v in ("NoiseGrad", "Baseline")
    }
    claim = next(c for c in result["claims"] if c["base"] == prefix)
    expected_diff = float((per_sample["NoiseGrad"] - per_sample["Baseline"]).mean())
    assert claim["NoiseGrad - Baseline"] == pytest.approx(expected_diff, abs=1e-4)
    assert (tmp_path / "ng" / "noise_curves.png").stat().st_size > 0
    assert "### lenet" in (tmp_path / "ng" / "noisegrad.md").read_text()


def test_roar_quick(tmp_path):
    from xai_sanity.reproduce.roar import run_roar_study

    result = run_roar_study(tmp_path / "roar", quick=True, progress=False, echo=lambda *a: None)
    summary = json.loads((tmp_path / "roar" / "summary.json").read_text())
    assert summary["run"]["config"]["mode"] == "quick" and summary["run"]["versions"]["numpy"]
    df = result["scores"]
    assert set(df["estimator"]) == {
        "Gradient", "Gradient / SmoothGrad", "Gradient / SmoothGrad²", "Gradient / VarGrad", "Random", "Sobel",
    }  # fmt: skip
    assert set(df["threshold"]) == {0.0, 0.5, 0.9}
    table = pd.read_csv(tmp_path / "roar" / "roar.csv", header=[0, 1], index_col=0)
    assert table.shape[0] == 6
    # The deletion curve without retraining: at 0% removed it is the original model's accuracy.
    deletion = pd.read_csv(tmp_path / "roar" / "roar_no_retraining.csv", index_col=0)
    assert deletion.shape == (6, 3) and deletion["0.0"].nunique() == 1
    assert "beats_random_without_retraining" in result["info"]
    assert "Without retraining" in (tmp_path / "roar" / "roar.md").read_text()
    # Rerunning resumes from the cache: every cell comes back from it.
    again = run_roar_study(tmp_path / "roar", quick=True, progress=False, echo=lambda *a: None)
    assert again["scores"]["from_cache"].all()
    pd.testing.assert_series_equal(again["scores"]["accuracy"], df["accuracy"])
