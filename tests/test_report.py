"""Tables of the report: flat and MultiIndex summaries in Markdown, LaTeX and CSV, and bolding."""

import re

import numpy as np
import pandas as pd
import pytest

from xai_sanity.report import save_table, summarise, to_latex, to_markdown, write_tables


def _scores(values: dict[tuple, list[float]], keys: list[str]) -> pd.DataFrame:
    """Tidy scores from ``{(key values...): [score per sample]}``."""
    rows = [
        {**dict(zip(keys, key)), "sample": i, "score": v, "error": None}
        for key, samples in values.items()
        for i, v in enumerate(samples)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def two_level():
    """model × method rows, metric × setting columns; "acc" is better high, "err" better low."""
    rng = np.random.default_rng(0)
    values = {}
    for model in ("lenet", "vgg"):
        for method in ("A", "B", "C"):
            for metric in ("acc", "err"):
                for setting in ("clean", "noisy"):
                    values[(model, method, metric, setting)] = rng.random(4).round(3).tolist()
    scores = _scores(values, ["model", "method", "metric", "setting"])
    scores.attrs["direction"] = {"acc": "higher", "err": "lower"}
    return scores


def _bold_cells(markdown: str) -> list[tuple[int, int]]:
    """(body row, cell) positions of the bold cells of a Markdown table."""
    body = markdown.strip().splitlines()[2:]
    return [
        (r, c)
        for r, line in enumerate(body)
        for c, cell in enumerate(line.strip("|").split("|"))
        if cell.strip().startswith("**")
    ]


def test_summarise_two_level_rows_and_columns(two_level):
    table = summarise(two_level, index=["model", "method"], columns=["metric", "setting"])
    assert table.index.names == ["model", "method"] and table.columns.names == ["metric", "setting"]
    assert list(table.index) == [(m, x) for m in ("lenet", "vgg") for x in ("A", "B", "C")]
    assert list(table.columns) == [("acc", "clean"), ("acc", "noisy"), ("err", "clean"), ("err", "noisy")]
    mean, std = table.attrs["mean"], table.attrs["std"]
    for (model, method), row in table.iterrows():
        for (metric, setting), cell in row.items():
            part = two_level[
                (two_level["model"] == model)
                & (two_level["method"] == method)
                & (two_level["metric"] == metric)
                & (two_level["setting"] == setting)
            ]["score"]
            m, sd = mean.loc[(model, method), (metric, setting)], std.loc[(model, method), (metric, setting)]
            assert m == pytest.approx(part.mean()) and sd == pytest.approx(part.std(ddof=0))
            assert cell == f"{m:.3f} ± {sd:.3f}"
    assert table.attrs["direction"][("acc", "noisy")] == "higher"
    assert table.attrs["direction"][("err", "clean")] == "lower"


def test_two_level_table_renders_every_cell(two_level, tmp_path):
    table = summarise(two_level, index=["model", "method"], columns=["metric", "setting"])
    markdown = to_markdown(table)
    lines = markdown.split("\n\n")[0].strip().splitlines()  # the table; the note follows a blank line
    assert lines[0] == "| model | method | acc / clean ↑ | acc / noisy ↑ | err / clean ↓ | err / noisy ↓ |"
    assert len(lines) == 2 + len(table)
    for line, ((model, method), row) in zip(lines[2:], table.iterrows()):
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        assert cells == [model, method, *row.tolist()]
    latex = to_latex(table, caption="a caption")
    assert r"\begin{tabular}{llcccc}" in latex
    assert r"\multicolumn{2}{c}{acc} & \multicolumn{2}{c}{err}" in latex
    assert r"\cmidrule(lr){3-4} \cmidrule(lr){5-6}" in latex
    body = latex[latex.index(r"\midrule") : latex.index(r"\bottomrule")].splitlines()[1:]
    assert r"{\footnotesize Cells: mean $\pm$ std over samples (population std, ddof=0)." in latex
    assert len(body) == len(table)
    for line, ((model, method), row) in zip(body, table.iterrows()):
        cells = [
            re.sub(r"\\textbf\{(.*)\}", r"\1", c.strip()) for c in line.removesuffix(r" \\").split(" & ")
        ]
        assert cells == [model, method, *(v.replace("±", r"$\pm$") for v in row)]
    paths = write_tables(two_level, tmp_path, index=["model", "method"], columns=["metric", "setting"])
    back = pd.read_csv(paths["csv"], header=[0, 1, 2], index_col=[0, 1])
    # mean, std, n and n_total (the count a cell's n is out of), four columns each
    assert back.shape == (6, 16) and not back.isna().any().any()
    assert (back["n"] == 4).all().all() and (back["n_total"] == 4).all().all()
    pd.testing.assert_frame_equal(back["mean"], table.attrs["mean"], check_names=False)
    assert paths["markdown"].read_text(encoding="utf-8") == markdown
    assert (tmp_path / "results_scores.csv").stat().st_size > 0


def test_bold_marks_the_best_cell_by_direction():
    # Method "good" is best on both metrics: highest "acc" (higher is better) and lowest
    # "err" (lower is better); "bad" is the worst on both.
    scores = _scores(
        {
            ("good", "acc"): [0.9, 0.9],
            ("mid", "acc"): [0.5, 0.5],
            ("bad", "acc"): [0.1, 0.1],
            ("good", "err"): [0.1, 0.1],
            ("mid", "err"): [0.5, 0.5],
            ("bad", "err"): [0.9, 0.9],
            ("good", "none"): [0.2, 0.2],
            ("bad", "none"): [0.3, 0.3],
        },
        ["method", "metric"],
    )
    scores.attrs["direction"] = {"acc": "higher", "err": "lower", "none": None}
    table = summarise(scores)
    # Body row 0 is "good"; cells 1 and 2 are "acc" and "err"; "none" has no direction.
    assert _bold_cells(to_markdown(table)) == [(0, 1), (0, 2)]
    latex = to_latex(table)
    good = next(line for line in latex.splitlines() if line.startswith("good"))
    bad = next(line for line in latex.splitlines() if line.startswith("bad"))
    assert good.count(r"\textbf") == 2 and r"\textbf" not in bad
    # Flipping a direction moves the bold to the other end of that column only.
    scores.attrs["direction"] = {"acc": "lower", "err": "lower"}
    assert _bold_cells(to_markdown(summarise(scores))) == [(0, 2), (2, 1)]


def test_bold_per_column_of_a_multiindex_table(two_level):
    table = summarise(two_level, index=["model", "method"], columns=["metric", "setting"])
    mean = table.attrs["mean"]
    expected = []
    for c, (metric, _) in enumerate(table.columns):
        column = mean.iloc[:, c].to_numpy()
        best = int(np.argmax(column) if metric == "acc" else np.argmin(column))
        expected.append((best, 2 + c))  # two leading row-label cells
    assert sorted(_bold_cells(to_markdown(table))) == sorted(expected)


def test_numeric_table_with_direction_and_errors(tmp_path):
    # A plain numeric table (no summarise attrs): numbers are formatted, bold comes from
    # the table itself, and the CSV holds the table.
    table = pd.DataFrame(
        {("x", "a"): [0.25, 0.75], ("x", "b"): [np.nan, 0.5]},
        index=pd.MultiIndex.from_tuples([("m", "p"), ("m", "q")], names=["model", "method"]),
    )
    table.attrs["direction"] = {("x", "a"): "lower"}
    markdown = to_markdown(table, digits=2)
    assert markdown.splitlines()[0] == "| model | method | x / a ↓ | x / b |"
    assert "| m | p | **0.25** | nan |" in markdown and "| m | q | 0.75 | 0.50 |" in markdown
    paths = save_table(table, tmp_path, "plain")
    back = pd.read_csv(paths["csv"], header=[0, 1], index_col=[0, 1])
    assert back.shape == (2, 2) and back.iloc[1, 1] == 0.5
    # A failed cell names the exception class of its error entry and is never bolded.
    scores = _scores({("A", "acc"): [0.9], ("B", "acc"): [0.1]}, ["method", "metric"])
    scores.loc[0, "error"] = "metric: ZeroDivisionError: division by zero (x.py:3)"
    scores.attrs["direction"] = {"acc": "higher"}
    table = summarise(scores)
    assert table.loc["A", "acc"] == "error: ZeroDivisionError"
    assert "| B | **0.100 ± 0.000** |" in to_markdown(table)
