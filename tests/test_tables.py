"""Tables that tell the truth: counts of missing scores, labelled spread (std or bootstrap CI),
headers from metric metadata, paired significance marks (Wilcoxon + Holm), several runs."""

import doctest
import warnings

import helpers
import numpy as np
import pandas as pd
import pytest
import quantus
import scipy.stats

import xai_sanity as xs
from xai_sanity.report import (
    bootstrap_mean_ci,
    describe_metric,
    holm,
    numeric_table,
    paired_wilcoxon,
    save_table,
    summarise,
    to_latex,
    to_markdown,
    write_tables,
)
from xai_sanity.report import labels as labels_module
from xai_sanity.report import significance as significance_module
from xai_sanity.report import tables as tables_module
from xai_sanity.report.labels import split_arrow
from xai_sanity.report.significance import bootstrap_batch

N = 32


def _tidy(cells: dict[tuple, object], keys: list[str], extra: dict | None = None) -> pd.DataFrame:
    """Tidy scores from ``{(key values...): [score per sample] or "error message"}``: a list
    gives one row per sample, a string one failure row as :func:`xai_sanity.evaluate` writes."""
    rows = []
    for key, samples in cells.items():
        base = {**dict(zip(keys, key)), **(extra or {})}
        if isinstance(samples, str):
            rows.append({**base, "sample": -1, "score": np.nan, "error": samples})
        else:
            rows += [{**base, "sample": i, "score": v, "error": None} for i, v in enumerate(samples)]
    return pd.DataFrame(rows)


def _body(markdown: str) -> list[list[str]]:
    """The cells of each body row of a Markdown table (the note under it left out)."""
    table = markdown.split("\n\n")[0].strip().splitlines()[2:]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in table]


@pytest.fixture
def gradcam_like():
    """32 samples: Saliency complete; GradCAM with 10 undefined MPRT scores (constant maps);
    Blank with none defined; Broken failed in its explain function (one error row each)."""
    rng = np.random.default_rng(1)
    gradcam_mprt = rng.random(N)
    gradcam_mprt[rng.choice(N, 10, replace=False)] = np.nan
    error = "explain: ValueError: no layer to hook (cam.py:88)"
    scores = _tidy(
        {
            ("Saliency", "MPRT"): rng.random(N),
            ("Saliency", "PointingGame"): rng.integers(0, 2, N).astype(float),
            ("GradCAM", "MPRT"): gradcam_mprt,
            ("GradCAM", "PointingGame"): rng.integers(0, 2, N).astype(float),
            ("Blank", "MPRT"): np.full(N, np.nan),
            ("Blank", "PointingGame"): np.zeros(N),
            ("Broken", "MPRT"): error,
            ("Broken", "PointingGame"): error,
        },
        ["method", "metric"],
    )
    scores.attrs["direction"] = {"MPRT": "lower", "PointingGame": "higher"}
    scores.attrs["label"] = {"MPRT": "MPRT, Spearman |a| ↓", "PointingGame": "PointingGame ↑"}
    return scores


def _cell_scores(scores: pd.DataFrame, **where) -> np.ndarray:
    mask = np.ones(len(scores), dtype=bool)
    for column, value in where.items():
        mask &= (scores[column] == value).to_numpy()
    return scores.loc[mask & scores["error"].isna().to_numpy(), "score"].to_numpy(dtype=float)


def test_counts_missing_and_failed_cells_in_every_format(gradcam_like, tmp_path):
    table = summarise(gradcam_like)
    s = _cell_scores(gradcam_like, method="Saliency", metric="MPRT")
    g = _cell_scores(gradcam_like, method="GradCAM", metric="MPRT")
    g = g[~np.isnan(g)]
    assert g.size == 22
    # mean ± population std against numpy; a count wherever a cell rests on fewer samples.
    assert table.loc["Saliency", "MPRT"] == f"{np.mean(s):.3f} ± {np.std(s):.3f}"
    assert table.loc["GradCAM", "MPRT"] == f"{np.mean(g):.3f} ± {np.std(g):.3f} (n=22/32)"
    assert table.loc["Blank", "MPRT"] == "— (0/32 valid)"
    assert table.loc["Blank", "PointingGame"] == "0.000 ± 0.000"
    assert table.loc["Broken", "MPRT"] == table.loc["Broken", "PointingGame"] == "error: ValueError"
    assert not any("nan" in cell for cell in table.to_numpy().ravel())
    assert "(n=22/32)" in str(table)  # the printed DataFrame says it too
    assert table.attrs["n"].loc["GradCAM", "MPRT"] == 22 and table.attrs["n_nan"].loc["GradCAM", "MPRT"] == 10
    assert (table.attrs["n_total"] == N).all().all()
    assert table.attrs["mean"].loc["GradCAM", "MPRT"] == pytest.approx(np.mean(g))

    markdown = to_markdown(table)
    lines = markdown.splitlines()
    assert lines[0] == r"| method | MPRT, Spearman \|a\| ↓ | PointingGame ↑ |"
    body = _body(markdown)
    assert body[1][1].strip("*") == table.loc["GradCAM", "MPRT"]
    assert body[2][1] == "— (0/32 valid)" and body[3][1] == "error: ValueError"
    note = markdown.split("\n\n", 1)[1]
    assert "Cells: mean ± std over samples (population std, ddof=0)." in note
    assert "(n=k/K): the cell rests on k of the column's K samples" in note
    assert "— (0/K valid)" in note and "error: X" in note and "↑/↓: higher/lower is better" in note

    latex = to_latex(table, caption="MPRT on 64² images")
    assert r"MPRT, Spearman $|a|$ $\downarrow$ & PointingGame $\uparrow$ \\" in latex
    assert r"--- (0/32 valid)" in latex and r"$\pm$" in latex and "(n=22/32)" in latex
    assert r"{\footnotesize Cells: mean $\pm$ std over samples (population std, ddof=0)." in latex
    assert latex.index(r"\end{tabular}") < latex.index(r"\footnotesize") < latex.index(r"\caption")

    # The CSV carries the counts as numbers next to mean and std.
    paths = save_table(table, tmp_path, "counts")
    back = pd.read_csv(paths["csv"], header=[0, 1], index_col=0)
    assert back[("n", "MPRT")].tolist() == [32, 22, 0, 0]
    assert back[("n_total", "MPRT")].tolist() == [32] * 4
    assert back[("mean", "MPRT")].iloc[1] == pytest.approx(np.mean(g))
    assert set(back.columns.get_level_values(0)) == {"mean", "std", "n", "n_total"}


def test_std_ddof_and_too_few_values():
    scores = _tidy({("A", "m"): [0.1, 0.4, 0.8], ("B", "m"): [0.3, np.nan, np.nan]}, ["method", "metric"])
    table = summarise(scores, ddof=1)
    assert table.loc["A", "m"] == f"{np.mean([0.1, 0.4, 0.8]):.3f} ± {np.std([0.1, 0.4, 0.8], ddof=1):.3f}"
    assert table.loc["B", "m"] == "0.300 (n=1/3)"  # one value: no sample std
    assert "sample std, ddof=1" in to_markdown(table)
    # The population std of one value is 0, and is written.
    assert summarise(scores).loc["B", "m"] == "0.300 ± 0.000 (n=1/3)"


@pytest.mark.parametrize("n", [2, 7, 40])
@pytest.mark.parametrize("batch", [None, 3])
def test_bootstrap_interval_is_scipys_percentile_bootstrap(n, batch):
    values = np.random.default_rng(n).normal(size=n)
    for confidence in (0.95, 0.9):
        ours = bootstrap_mean_ci(
            values, np.random.default_rng(5), confidence=confidence, n_resamples=999, batch=batch
        )
        theirs = scipy.stats.bootstrap(
            (values,), np.mean, confidence_level=confidence, n_resamples=999, method="percentile",
            batch=bootstrap_batch(n) if batch is None else batch, rng=np.random.default_rng(5),
        ).confidence_interval  # fmt: skip
        assert ours == pytest.approx((theirs.low, theirs.high), rel=1e-12, abs=1e-12)


def test_bootstrap_interval_covers_the_mean():
    # Normal data, n = 40: a 95% interval should contain the true mean in about 95% of
    # datasets (percentile intervals undercover slightly at small n).
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(300):
        low, high = bootstrap_mean_ci(rng.normal(1.0, 2.0, 40), rng, n_resamples=999)
        hits += low <= 1.0 <= high
    assert 0.90 <= hits / 300 <= 0.985


def test_bootstrap_edge_cases():
    assert np.isnan(bootstrap_mean_ci(np.array([0.5]), np.random.default_rng(0))).all()
    assert bootstrap_mean_ci(np.full(5, 0.25), np.random.default_rng(0)) == (0.25, 0.25)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean_ci(np.array([0.1, np.nan]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_ci(np.array([0.1, 0.2]), np.random.default_rng(0), confidence=95)


def test_summarise_ci95_is_seeded_and_leaves_the_global_rng_alone(gradcam_like):
    before = helpers.rng_states()
    table = summarise(gradcam_like, spread="ci95", seed=3, n_resamples=999)
    helpers.assert_rng_unchanged(before)
    # The first cell drawn (row-major) uses a fresh generator seeded with 3.
    s = _cell_scores(gradcam_like, method="Saliency", metric="MPRT")
    ci = scipy.stats.bootstrap(
        (s,), np.mean, n_resamples=999, method="percentile", batch=bootstrap_batch(s.size),
        rng=np.random.default_rng(3),
    ).confidence_interval  # fmt: skip
    assert table.loc["Saliency", "MPRT"] == f"{np.mean(s):.3f} [{ci.low:.3f}, {ci.high:.3f}]"
    assert table.attrs["ci_low"].loc["Saliency", "MPRT"] == pytest.approx(ci.low)
    assert table.loc["GradCAM", "MPRT"].endswith(" (n=22/32)")
    assert table.loc["GradCAM", "MPRT"].count("[") == 1
    pd.testing.assert_frame_equal(table, summarise(gradcam_like, spread="ci95", seed=3, n_resamples=999))
    assert not table.equals(summarise(gradcam_like, spread="ci95", seed=4, n_resamples=999))
    # A Generator works as the seed; the note says what the interval is.
    summarise(gradcam_like, spread="ci95", seed=np.random.default_rng(3), n_resamples=99)
    note = to_markdown(table).split("\n\n", 1)[1]
    assert (
        "mean [95% CI] over samples; the CI is a percentile bootstrap of the mean (999 resamples, seed 3)"
        in note
    )
    assert {"ci_low", "ci_high"} <= set(numeric_table(table).columns.get_level_values(0))


def test_holm_on_a_hand_worked_family():
    # p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted: 0.005, 0.01, 0.03, 0.04, multiplied by
    # 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04; the running maximum makes the last 0.06.
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])
    np.testing.assert_allclose(holm(p), [0.03, 0.06, np.nan, 0.06, 0.02])
    # Rejected at 0.05: the two smallest only (0.03 > 0.05 / 2 stops the procedure).
    assert (np.nan_to_num(holm(p), nan=1) < 0.05).tolist() == [True, False, False, False, True]
    np.testing.assert_allclose(holm(np.array([0.5, 0.6])), [1.0, 1.0])
    assert np.isnan(holm(np.array([np.nan]))).all()
    with pytest.raises(ValueError, match="p_values"):
        holm(np.array([1.5]))


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).random(17) ** 3
    np.testing.assert_allclose(holm(p), multitest.multipletests(p, method="holm")[1])


def test_paired_wilcoxon_drops_nan_pairs_and_identical_samples():
    a = np.array([0.3, 0.5, 0.9, 0.1, 0.7, np.nan])
    b = np.array([0.1, 0.2, 0.4, 0.0, 0.1, 0.2])
    p, n_pairs = paired_wilcoxon(a, b)
    assert n_pairs == 5 and p == pytest.approx(scipy.stats.wilcoxon(a[:5] - b[:5]).pvalue)
    assert paired_wilcoxon(b, b) == (1.0, 6)
    assert np.isnan(paired_wilcoxon(np.array([np.nan]), np.array([1.0]))[0])


@pytest.fixture
def two_models():
    """model × method rows, 14 samples: Shifted = Saliency + 0.3 (clearly different),
    Jitter = Saliency ± a small symmetric noise (not different); rows shuffled."""
    rng = np.random.default_rng(2)
    cells = {}
    for model in ("lenet", "vgg"):
        for metric in ("MPRT", "PointingGame"):
            base = rng.random(14)
            noise = rng.normal(0, 0.01, 14)
            cells[(model, "Saliency", metric)] = base
            cells[(model, "Shifted", metric)] = base + 0.3 + noise
            jitter = base + noise
            jitter[3] = np.nan
            cells[(model, "Jitter", metric)] = jitter
    scores = _tidy(cells, ["model", "method", "metric"])
    scores = scores.sample(frac=1.0, random_state=0).reset_index(drop=True)
    scores.attrs["direction"] = {"MPRT": "lower", "PointingGame": "higher"}
    return scores


def test_significance_marks_paired_wilcoxon_with_holm(two_models):
    table = summarise(two_models, index=["model", "method"], baseline="Saliency")
    p_raw = table.attrs["p_raw"]
    # Independent reference: scipy's test on the differences of the same samples.
    tests = {}
    for model in ("lenet", "vgg"):
        for method in ("Shifted", "Jitter"):
            for metric in ("MPRT", "PointingGame"):
                pair = {}
                for name in ("Saliency", method):
                    part = two_models[
                        (two_models.model == model)
                        & (two_models.method == name)
                        & (two_models.metric == metric)
                    ]
                    pair[name] = part.set_index("sample")["score"].sort_index()
                diff = (pair[method] - pair["Saliency"]).dropna()
                expected = scipy.stats.wilcoxon(diff).pvalue
                assert p_raw.loc[(model, method), metric] == pytest.approx(expected)
                tests[(model, method, metric)] = expected
    assert p_raw.loc[("lenet", "Saliency")].isna().all()  # the baseline is not compared with itself
    # Holm's sequential procedure at 0.05 over the 8 tests decides the marks.
    ordered = sorted(tests.items(), key=lambda kv: kv[1])
    rejected = set()
    for i, (key, p) in enumerate(ordered):
        if p >= 0.05 / (len(ordered) - i):
            break
        rejected.add(key)
    for (model, method), row in table.iterrows():
        for metric, cell in row.items():
            assert (cell.split(" (")[0].endswith("*")) == ((model, method, metric) in rejected), cell
    assert {k[1] for k in rejected} == {"Shifted"}  # the jitter is not a difference
    assert table.loc[("lenet", "Jitter"), "MPRT"].endswith(" (n=13/14)")
    markdown = to_markdown(table)
    assert any(r"\*" in cell for row in _body(markdown) for cell in row)
    assert (
        r"\*: differs from Saliency (two-sided paired Wilcoxon signed-rank test over samples, "
        "Holm-corrected across 8 compared cells, p < 0.05)."
    ) in markdown
    assert "p_value" in numeric_table(table).columns.get_level_values(0)
    # A full row label compares every row with that row, across models too.
    full = summarise(two_models, index=["model", "method"], baseline=("lenet", "Saliency"))
    assert full.attrs["p_raw"].notna().sum().sum() == 2 * 5


def test_significance_arguments_are_checked(two_models):
    with pytest.raises(ValueError, match="baseline 'Nope' is not a row"):
        summarise(two_models, index=["model", "method"], baseline="Nope")
    with pytest.raises(ValueError, match="not unique by pair_on"):
        summarise(two_models, index="method", baseline="Saliency", pair_on="sample")  # models pooled
    with pytest.raises(ValueError, match="pair"):
        summarise(two_models.drop(columns=["sample", "model"]), baseline="Saliency")
    ambiguous = two_models.assign(model=two_models["model"].replace({"vgg": "Saliency"}))
    with pytest.raises(ValueError, match="several row levels"):
        summarise(ambiguous, index=["model", "method"], baseline="Saliency")


@pytest.fixture
def seeds():
    """model × method × seed (3 runs of 6 samples): GradCAM's runs have 2 undefined samples;
    one GradCAM run of vgg failed on PointingGame."""
    rng = np.random.default_rng(4)
    frames = []
    for seed in range(3):
        cells = {}
        for model in ("lenet", "vgg"):
            for method in ("Saliency", "GradCAM"):
                for metric in ("MPRT", "PointingGame"):
                    values = rng.random(6) + 0.1 * seed
                    if method == "GradCAM" and metric == "MPRT":
                        values[:2] = np.nan
                    cells[(model, method, metric)] = values
        if seed == 2:
            cells[("vgg", "GradCAM", "PointingGame")] = "metric: RuntimeError: CUDA out of memory (x.py:1)"
        frames.append(_tidy(cells, ["model", "method", "metric"], extra={"seed": seed}))
    scores = pd.concat(frames, ignore_index=True)
    scores.attrs["direction"] = {"MPRT": "lower", "PointingGame": "higher"}
    return scores


def test_over_runs_mean_and_spread_across_seeds(seeds):
    table = summarise(seeds, index=["model", "method"], over="seed")
    ok = seeds[seeds["error"].isna()]
    run_means = ok.pivot_table(
        index=["model", "method", "metric"], columns="seed", values="score", aggfunc="mean"
    )
    for (model, method), row in table.iterrows():
        for metric, cell in row.items():
            runs = run_means.loc[(model, method, metric)].dropna().to_numpy()
            assert table.attrs["mean"].loc[(model, method), metric] == pytest.approx(runs.mean())
            assert table.attrs["std"].loc[(model, method), metric] == pytest.approx(runs.std())
            assert cell.startswith(f"{runs.mean():.3f} ± {runs.std():.3f}")
    assert table.loc[("vgg", "GradCAM"), "PointingGame"].endswith(" (n=2/3; error: RuntimeError)")
    assert table.loc[("lenet", "GradCAM"), "MPRT"].endswith(" (12/18 samples)")
    assert table.loc[("lenet", "Saliency"), "MPRT"] == f"{table.attrs['mean'].iloc[0, 0]:.3f} ± " + (
        f"{table.attrs['std'].iloc[0, 0]:.3f}"
    )
    assert table.attrs["n"].loc[("vgg", "GradCAM"), "PointingGame"] == 2
    assert (table.attrs["n_total"] == 3).all().all()
    note = to_markdown(table).split("\n\n", 1)[1]
    assert "mean ± std over runs (one per seed; a run's value is its mean over samples)" in note
    assert "(n=k/K): the cell rests on k of the column's K runs" in note
    assert "(k/N samples)" in note
    # Without over, the samples of all runs are pooled (the old behaviour) and paired by seed.
    pooled = summarise(seeds, index=["model", "method"])
    assert pooled.attrs["n"].loc[("lenet", "Saliency"), "MPRT"] == 18
    assert pooled.loc[("vgg", "GradCAM"), "PointingGame"].endswith(" (n=12/18; error: RuntimeError)")
    # Runs pair up for the significance test and bootstrap over runs works.
    marked = summarise(seeds, index=["model", "method"], over="seed", baseline="Saliency", spread="ci95")
    assert marked.attrs["p_raw"].notna().sum().sum() == 4
    assert "over runs" in marked.attrs["note"][-2]


def test_bad_arguments_name_the_argument(gradcam_like):
    with pytest.raises(ValueError, match="spread must be one of"):
        summarise(gradcam_like, spread="sem")
    with pytest.raises(ValueError, match="index names columns not in scores"):
        summarise(gradcam_like, index="model")
    with pytest.raises(ValueError, match="over names columns"):
        summarise(gradcam_like, over="seed")
    with pytest.raises(ValueError, match="overlaps"):
        summarise(gradcam_like, over="method")
    with pytest.raises(ValueError, match="alpha"):
        summarise(gradcam_like, alpha=5)
    with pytest.raises(TypeError, match="DataFrame"):
        summarise(gradcam_like.to_dict())


def test_old_calls_and_note_switch(gradcam_like, tmp_path):
    table = summarise(gradcam_like, 2)  # digits positional, as before
    assert table.loc["Blank", "PointingGame"] == "0.00 ± 0.00"
    markdown = to_markdown(table, 2, note=False)
    assert "\n\n" not in markdown and len(markdown.strip().splitlines()) == 2 + len(table)
    assert to_markdown(table, note="Scores on the test split.").rstrip().endswith("Scores on the test split.")
    latex = to_latex(table, "caption", "tab:x", 2, note=False)
    assert r"\footnotesize" not in latex and r"\label{tab:x}" in latex
    # A plain numeric table has no note and renders as before.
    plain = pd.DataFrame({"a": [0.5, np.nan]}, index=pd.Index(["x", "y"], name="method"))
    assert to_markdown(plain) == "| method | a |\n|---|---|\n| x | 0.500 |\n| y | nan |\n"
    # write_tables passes summarise's options on.
    paths = write_tables(gradcam_like, tmp_path, "ci", "caption", spread="ci95", n_resamples=99)
    assert "95% CI" in paths["markdown"].read_text(encoding="utf-8")


def test_multiindex_columns_with_labels_in_latex_and_markdown():
    scores = _tidy(
        {
            ("A", "MPRT", "clean"): [0.1, 0.2],
            ("A", "MPRT", "noisy"): [0.3, np.nan],
            ("B", "MPRT", "clean"): [0.5, 0.6],
            ("B", "MPRT", "noisy"): [0.7, 0.8],
        },
        ["method", "metric", "setting"],
    )
    scores.attrs["label"] = {"MPRT": "MPRT, Spearman |a| ↓"}  # direction only from the arrow
    table = summarise(scores, columns=["metric", "setting"])
    assert table.attrs["direction"][("MPRT", "clean")] == "lower"
    assert table.attrs["label"][("MPRT", "noisy")] == ("MPRT, Spearman |a|", "noisy")
    assert to_markdown(table).splitlines()[0] == (
        r"| method | MPRT, Spearman \|a\| / clean ↓ | MPRT, Spearman \|a\| / noisy ↓ |"
    )
    latex = to_latex(table)
    assert r"& \multicolumn{2}{c}{MPRT, Spearman $|a|$} \\" in latex
    assert r"Method & clean $\downarrow$ & noisy $\downarrow$ \\" in latex
    assert "0.300 ± 0.000 (n=1/2)" in table[("MPRT", "noisy")].tolist()
    # A text for a whole column label heads its lowest level.
    whole = summarise(scores, columns=["metric", "setting"], labels={("MPRT", "noisy"): "noisy input ↓"})
    assert whole.attrs["label"] == {("MPRT", "noisy"): ("MPRT", "noisy input")}
    assert whole.attrs["direction"] == {("MPRT", "clean"): None, ("MPRT", "noisy"): "lower"}
    assert r"Method & clean & noisy input $\downarrow$ \\" in to_latex(whole)


def test_describe_metric_for_ours_and_quantus():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert describe_metric(xs.METRICS["MPRT"]()) == "MPRT, Spearman |a| ↓"
        assert describe_metric(quantus.MPRT(disable_warnings=True)) == "MPRT, Spearman |a| ↓"
        assert describe_metric(xs.METRICS["MPRT"](similarity_func="ssim", abs=False)) == "MPRT, SSIM ↓"
        assert describe_metric(xs.METRICS["MPRT"](similarity_func="hog"), "MPRT") == "MPRT, HOG |a| ↓"
        assert describe_metric(quantus.RandomLogit(disable_warnings=True)) == "RandomLogit, SSIM ↓"
        assert describe_metric(quantus.Sparseness(disable_warnings=True)) == "Sparseness, |a| ↑"
        assert describe_metric(xs.METRICS["EfficientMPRT"]()) == "EfficientMPRT, entropy ↑"
        assert describe_metric(xs.METRICS["MaxSensitivity"]()) == "MaxSensitivity ↓"
        assert describe_metric(xs.METRICS["PointingGame"](), "PG") == "PG ↑"
        assert describe_metric(xs.METRICS["MPRT"](), arrow=False) == "MPRT, Spearman |a|"
        spearman_abs = xs.METRICS["MPRT"](similarity_func=xs.similarity.spearman_abs, abs=False)
        assert describe_metric(spearman_abs) == "MPRT, Spearman |a| ↓"

    def my_similarity(a, b):
        return 0.0

    class Custom:
        similarity_func = staticmethod(my_similarity)
        abs = False
        score_direction = "higher"

    assert describe_metric(Custom()) == "Custom, my_similarity ↑"

    def plain_metric(**kwargs):
        return [0.0]

    assert describe_metric(plain_metric) == "plain_metric"
    assert split_arrow("MPRT, Spearman |a| ↓") == ("MPRT, Spearman |a|", "lower")
    assert split_arrow("Sparseness") == ("Sparseness", None)


def test_docstring_examples():
    for module in (labels_module, significance_module, tables_module):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__


def _blank_first_two(model, inputs, targets, **kwargs):
    """Saliency with the maps of the first two samples set to zero (constant maps)."""
    maps = xs.Saliency()(model, inputs, targets)
    maps[:2] = 0
    return maps


def _broken(model, inputs, targets, **kwargs):
    raise ValueError("no maps")


def test_tables_from_a_real_evaluate(tmp_path):
    x, y = helpers.batch(n=6)
    masks = np.zeros((6, 1, 8, 8), np.float32)
    masks[:, :, 2:5, 2:5] = 1
    methods = {"Saliency": xs.Saliency(), "HalfBlank": _blank_first_two, "Broken": _broken}
    metrics = {"MPRT": xs.METRICS["MPRT"](layers=2), "PointingGame": xs.METRICS["PointingGame"]()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant maps have no rank correlation
        scores = xs.evaluate(
            helpers.small_cnn(), x, y, masks, methods=methods, metrics=metrics, progress=False
        )
    assert scores.attrs["label"] == {"MPRT": "MPRT, Spearman |a| ↓", "PointingGame": "PointingGame ↑"}
    table = summarise(scores, baseline="Saliency")
    mprt_columns = [c for c in table.columns if c.startswith("MPRT[")]
    assert mprt_columns and "MPRT" not in table.columns  # the failure is filed under each layer
    for column in mprt_columns:
        defined = scores[(scores.method == "HalfBlank") & (scores.metric == column)]["score"].notna().sum()
        assert defined < 6
        assert table.loc["HalfBlank", column].split(" (")[-1].split(";")[0].rstrip(")") == f"n={defined}/6"
        assert table.loc["Broken", column] == "error: ValueError"
        assert table.attrs["label"][column][0].startswith(f"{column}, Spearman |a|")
    markdown = to_markdown(table)
    header = markdown.splitlines()[0]
    assert rf"{mprt_columns[-1]}, Spearman \|a\| ↓" in header and "PointingGame ↑" in header
    assert "nan" not in markdown
    paths = write_tables(scores, tmp_path, spread="ci95", n_resamples=99)
    assert "error: ValueError" in paths["latex"].read_text(encoding="utf-8")


def test_runs_from_several_real_evaluate_calls():
    x, y = helpers.batch(n=5)
    masks = np.zeros((5, 1, 8, 8), np.float32)
    masks[:, :, 1:4, 1:4] = 1
    frames = []
    for seed in (0, 1):
        metrics = {
            "PointingGame": xs.METRICS["PointingGame"](),
            "Sparseness": quantus.Sparseness(disable_warnings=True),
        }
        frame = xs.evaluate(
            helpers.small_cnn(seed=seed), x, y, masks, methods={"Saliency": xs.Saliency(), "Gradient": xs.Gradient()},
            metrics=metrics, progress=False,
        )  # fmt: skip
        frames.append(frame.assign(model="cnn", seed=seed))
    scores = pd.concat(frames, ignore_index=True)
    table = summarise(scores, index=["model", "method"], over="seed")
    per_run = [f[(f.method == "Gradient") & (f.metric == "Sparseness")]["score"].mean() for f in frames]
    assert table.attrs["mean"].loc[("cnn", "Gradient"), "Sparseness"] == pytest.approx(np.mean(per_run))
    assert table.attrs["std"].loc[("cnn", "Gradient"), "Sparseness"] == pytest.approx(np.std(per_run))
    assert table.attrs["direction"]["Sparseness"] == "higher"  # attrs survive the concat
    assert to_markdown(table).splitlines()[0] == r"| model | method | PointingGame ↑ | Sparseness, \|a\| ↑ |"
