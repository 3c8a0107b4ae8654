"""``reproduce noisegrad``: presets, and resuming per (architecture, method) unit."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from xai_sanity.reproduce import noisegrad


@pytest.fixture
def tiny(monkeypatch):
    """A preset smaller than quick (the quick LeNet, 3 images, one draw or two of everything),
    scored with one localisation metric and two faithfulness metrics only."""
    settings = dataclasses.replace(
        noisegrad.NoiseGradSettings.quick(), mode="tiny", n_explain=3, ig_steps=2, sg_samples=2, ng=(2, 2),
        tune_n=60, tune_draws=1, robustness_samples=1, faithfulness_runs=3, road_fractions=(0.5,),
    )  # fmt: skip
    monkeypatch.setitem(noisegrad.SETTINGS, "tiny", settings)
    categories = {"localisation": ("PointingGame",), "faithfulness": ("ROAD", "FaithfulnessCorrelation")}
    monkeypatch.setattr(noisegrad, "CATEGORIES", categories)
    monkeypatch.setattr(
        noisegrad,
        "CRITERIA",
        {"localisation": ("PointingGame",), "faithfulness (ROAD)": ("ROAD",),
         "faithfulness (FaithfulnessCorrelation)": ("FaithfulnessCorrelation",)},
    )  # fmt: skip
    return settings


def _run(out, **kwargs):
    return noisegrad.run_noisegrad(out, preset="tiny", progress=False, echo=lambda *a: None, **kwargs)


def test_an_interrupted_run_resumes_without_recomputing_finished_units(tmp_path, tiny, monkeypatch):
    real_evaluate = noisegrad.evaluate
    calls = []

    def failing_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt("interrupted")
        calls.append(next(iter(kwargs["methods"])))
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(noisegrad, "evaluate", failing_after_two)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "resumed")
    finished = sorted(p.name for p in (tmp_path / "resumed" / "cache").glob("*.json"))
    assert len(finished) == 2

    recomputed = []

    def counting(*args, **kwargs):
        recomputed.append(next(iter(kwargs["methods"])))
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(noisegrad, "evaluate", counting)
    resumed = _run(tmp_path / "resumed")
    assert not set(calls) & set(recomputed) and len(recomputed) == 8 - 2
    assert resumed["info"]["units_reused"] == 2

    monkeypatch.setattr(noisegrad, "evaluate", real_evaluate)
    fresh = _run(tmp_path / "fresh", cache_dir=tmp_path / "elsewhere")
    assert fresh["info"]["units_reused"] == 0
    pd.testing.assert_frame_equal(resumed["scores"], fresh["scores"])
    pd.testing.assert_frame_equal(pd.DataFrame(resumed["claims"]), pd.DataFrame(fresh["claims"]))
    _check_faithfulness_claims(fresh, tmp_path / "fresh")


def _check_faithfulness_claims(result, out):
    """The faithfulness claims are the paired ROAD differences, recomputed here by hand."""
    scores = result["scores"]
    assert set(scores["metric"]) == {"PointingGame", "ROAD", "FaithfulnessCorrelation"}
    claims = [c for c in result["claims"] if c["criterion"] == "faithfulness (ROAD)"]
    assert {c["base"] for c in claims} == {"Saliency", "IG"}
    road = scores[scores["metric"] == "ROAD"]
    for claim in claims:
        per = {
            v: road[road["method"] == f"{claim['base']} / {v}"].set_index("sample")["score"]
            for v in ("NoiseGrad", "Baseline")
        }
        diff = (per["NoiseGrad"] - per["Baseline"]).dropna()
        assert claim["NoiseGrad - Baseline"] == pytest.approx(float(diff.mean()), abs=1e-4)
        assert claim["NoiseGrad"] == pytest.approx(float(per["NoiseGrad"].mean()), abs=1e-4)
    text = (out / "noisegrad.md").read_text()
    assert "faithfulness (ROAD)" in text and "NoiseGrad − Baseline (p)" in text
    assert result["info"]["verdicts"]["faithfulness (ROAD): NoiseGrad vs Baseline"]["pairs"] == 2


def test_presets_and_bad_preset_names():
    assert noisegrad.SETTINGS["cpu"] == noisegrad.NoiseGradSettings.cpu()
    cpu, full = noisegrad.NoiseGradSettings.cpu(), noisegrad.NoiseGradSettings.full()
    assert cpu.archs == full.archs and cpu.n_explain < full.n_explain and cpu.ng < full.ng
    with pytest.raises(ValueError, match="cpu"):
        noisegrad.run_noisegrad("unused", preset="laptop", progress=False, echo=lambda *a: None)
    assert np.isfinite(cpu.road_fractions).all()
