"""``reproduce roar``: presets, both imputations, the leak diagnostic and the verdicts."""

from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_SANITY_CACHE", str(tmp_path / "cache"))


def test_presets_are_checked_before_any_work(tmp_path):
    from xai_sanity.reproduce.roar import SETTINGS, run_roar_study

    assert {"full", "cpu", "quick"} <= set(SETTINGS)
    assert SETTINGS["cpu"].n_train < SETTINGS["full"].n_train
    with pytest.raises(ValueError, match=r"'full', 'cpu', 'quick'"):
        run_roar_study(tmp_path / "out", preset="huge", echo=lambda *a: None)
    assert not (tmp_path / "out").exists()


def test_tiny_study_writes_both_imputations_and_the_leak(tmp_path, monkeypatch):
    from xai_sanity.reproduce import roar

    tiny = roar.RoarSettings(
        mode="tiny", n_train=120, n_test=60, model_epochs=1, n_repeats=1, thresholds=(0.0, 0.5),
        bases=(), ig_steps=2, n_samples=2, leak_repeats=1,
    )  # fmt: skip
    monkeypatch.setitem(roar.SETTINGS, "tiny", tiny)
    lines: list[str] = []
    result = roar.run_roar_study(tmp_path / "r", preset="tiny", progress=False, echo=lines.append)
    scores = pd.read_csv(tmp_path / "r" / "roar_scores.csv")
    assert set(scores["estimator"]) == {"Random", "Sobel"}
    # ROAR under both imputations, with and without retraining, and the leak diagnostic.
    groups = scores.groupby(["analysis", "imputation", "retrain"]).size().to_dict()
    assert groups == {
        ("ROAR", "mean", False): 4, ("ROAR", "mean", True): 4,
        ("ROAR", "noisy_linear", False): 4, ("ROAR", "noisy_linear", True): 4, ("leak", "none", True): 4,
    }  # fmt: skip
    assert set(scores.loc[scores["analysis"] == "leak", "method"]) == {"ROAR-leak"}
    # The comparison is the mean over the thresholds > 0 of the tidy scores.
    comparison = result["comparison"]
    for imputation in ("mean", "noisy_linear"):
        part = scores[
            (scores["analysis"] == "ROAR") & scores["retrain"] & (scores["imputation"] == imputation)
        ]
        means = part[part["threshold"] > 0].groupby("estimator")["accuracy"].mean()
        for name in ("Random", "Sobel"):
            assert comparison.loc[name, f"{imputation}: accuracy"] == pytest.approx(means[name])
            assert comparison.loc[name, f"{imputation}: Random"] == pytest.approx(means["Random"])
        says = "yes" if means["Sobel"] < means["Random"] else "no"
        assert comparison.loc["Sobel", f"{imputation}: beats Random"] == says
    leak = scores[(scores["analysis"] == "leak") & (scores["threshold"] > 0)]
    assert comparison.loc["Sobel", "leak: accuracy"] == pytest.approx(
        leak.loc[leak["estimator"] == "Sobel", "accuracy"].mean()
    )
    # The summary says it in words, with the numbers.
    text = (tmp_path / "r" / "roar.md").read_text()
    sobel = next(line for line in text.splitlines() if line.startswith("- Sobel:"))
    assert f"{comparison.loc['Sobel', 'mean: accuracy']:.3f}" in sobel
    assert f"{comparison.loc['Sobel', 'noisy_linear: accuracy']:.3f}" in sobel
    assert "noisy linear" in sobel and "removal masks alone" in sobel
    for stem in (
        "roar_retrained_noisy_linear",
        "roar_no_retraining_noisy_linear",
        "roar_leak",
        "roar_comparison",
    ):
        for ext in ("csv", "md", "tex"):
            assert (tmp_path / "r" / f"{stem}.{ext}").stat().st_size > 0
    info = json.loads((tmp_path / "r" / "roar.json").read_text())
    assert info["mode"] == "tiny" and set(info["leak_accuracy"]) == {"Random", "Sobel"}
    assert any("noisy linear" in line for line in lines)
