"""Smoke-and-content tests of the three reproductions in quick mode."""

import json

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path / "cache"))


def test_sanity_checks_quick(tmp_path):
    from xai_sanity.reproduce.sanity_checks import build_methods, run_sanity_checks

    result = run_sanity_checks(tmp_path / "sc", quick=True, progress=False, echo=lambda *a: None)
    summary = result["summary"]
    methods = list(build_methods({"ig_steps": 1, "sg_samples": 1, "ng": (1, 1)}, 0))
    assert list(summary.index.get_level_values("method")) == methods
    tests = set(summary.columns.get_level_values(0))
    assert tests == {"cascading", "independent (mean)", "data"}
    assert set(summary.columns.get_level_values(1)) == {"spearman", "spearman_abs", "ssim", "hog"}
    for name in (
        "lenet_cascading.png",
        "lenet_grid.png",
        "sanity_checks.md",
        "sanity_checks.tex",
        "sanity_checks.csv",
    ):
        assert (tmp_path / "sc" / name).stat().st_size > 0
    info = json.loads((tmp_path / "sc" / "sanity_checks.json").read_text())
    # The data randomisation test is only meaningful if the random-label model memorised.
    assert info["archs"]["lenet"]["random_label_train_accuracy"] >= 0.9
    verdicts = info["verdicts"]["lenet"]
    assert set(verdicts) == set(methods) and all(v["passes"] in (True, False) for v in verdicts.values())
    assert all(0 < v["n_defined"] <= v["n_samples"] == 6 for v in verdicts.values())  # 6 = quick n_explain
    # The similarity of a method's map to itself before randomisation is 1: check one row.
    scores = result["scores"]
    assert scores["score"].between(-1, 1).all() or scores["score"].isna().any()


def test_noisegrad_quick(tmp_path):
    from xai_sanity.reproduce.noisegrad import CATEGORIES, run_noisegrad

    result = run_noisegrad(tmp_path / "ng", quick=True, progress=False, echo=lambda *a: None)
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
