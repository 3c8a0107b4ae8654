"""The jobs behind ``xai-sanity run`` and ``xai-sanity evaluate``: a user's study, written out.

:func:`run_config` runs a checked study config (:mod:`xai_sanity.config`) through
:class:`xai_sanity.Study`; :func:`evaluate_files` scores one model loaded from files
(:mod:`xai_sanity.io`) with :func:`xai_sanity.evaluate`. Both write what the demo writes —
``results_scores.csv`` (tidy scores), ``results.{csv,md,tex}`` (mean ± std table) — and a
``summary.json`` with what is needed to run them again (:func:`~xai_sanity.reproduce._common.run_record`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["JobResult", "evaluate_files", "metrics_by_name", "run_config"]


class JobResult(dict):
    """What a job returns: ``scores`` (tidy DataFrame), ``table`` (mean ± std), ``files``
    (written paths by key), ``info`` (the contents of ``summary.json``)."""


def _errors(scores: pd.DataFrame, keys: Sequence[str]) -> list[dict[str, Any]]:
    if "error" not in scores:
        return []
    failed = scores[scores["error"].notna()]
    return failed[[*keys, "error"]].drop_duplicates().to_dict(orient="records")


def _finish(
    scores: pd.DataFrame,
    out: Path,
    info: dict[str, Any],
    *,
    index: str | list[str],
    caption: str,
    echo: Callable[..., Any],
    start: float,
    extra_files: Mapping[str, Path] | None = None,
    over: str | None = None,
) -> JobResult:
    """Write a job's tables and ``summary.json``, show the table and the errors, and return
    the :class:`JobResult`. ``over="seed"``: each seed's mean first, then mean ± std over seeds."""
    from .report import summarise, to_markdown, write_tables
    from .reproduce._common import write_json

    summary = {"over": over} if over is not None else {}
    files = dict(write_tables(scores, out, caption=caption, index=index, **summary))
    files["summary"] = write_json(out / "summary.json", info)
    files.update(extra_files or {})
    table = summarise(scores, index=index, **summary)
    echo("")
    echo(to_markdown(table))
    for record in info["errors"]:  # where it failed (without the seed), then the error
        where = " / ".join(str(v) for k, v in record.items() if k not in ("seed", "error"))
        echo(f"error: {where}: {record['error']}")
    echo(f"written to {out.resolve()} in {time.perf_counter() - start:.1f} s")
    return JobResult(scores=scores, table=table, files=files, info=info)


def run_config(
    config: Any,
    out_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    echo: Callable[..., Any] = print,
    argv: Sequence[str] | None = None,
    study_kwargs: Mapping[str, Any] | None = None,
) -> JobResult:
    """Run a study config and write its outputs.

    Parameters
    ----------
    config : StudyConfig
        From :func:`xai_sanity.config.load_config`.
    out_dir : path-like, optional
        Output folder (default: the config's ``out``).
    cache_dir : path-like, optional
        Cache folder of the study, to resume an interrupted run (default: the config's
        ``cache``).
    progress : bool, default True
        Show progress bars.
    echo : callable, default print
        Where messages go.
    argv : sequence of str, optional
        The command line for the summary (default ``sys.argv``).
    study_kwargs : mapping, optional
        ``config.study_kwargs()`` already built (data and models loaded), e.g. to report
        loading errors before the run starts.

    Returns
    -------
    JobResult
    """
    from .reproduce._common import run_record
    from .study import Study

    started, start = time.time(), time.perf_counter()
    out = Path(out_dir if out_dir is not None else config.out)
    out.mkdir(parents=True, exist_ok=True)
    source = config.path.name if config.path is not None else "config"
    echo(
        f"study {source}: {len(config.models)} model(s) x {len(config.methods)} method(s), seeds {list(config.seeds)}"
    )
    kwargs = dict(study_kwargs) if study_kwargs is not None else config.study_kwargs(progress=progress)
    if cache_dir is not None:
        kwargs["cache_dir"] = str(cache_dir)
    n_samples = len(kwargs["data"][0])
    scores = Study(**kwargs).run(progress=progress)
    if config.path is not None:
        (out / "study.toml").write_text(Path(config.path).read_text(encoding="utf-8"), encoding="utf-8")
    metrics = sorted({m.split("[", 1)[0] for m in scores["metric"].unique()}) if len(scores) else []
    info: dict[str, Any] = {
        "config_file": str(config.path) if config.path is not None else None,
        "models": list(config.models),
        "methods": list(config.methods),
        "metrics": list(config.metrics) if config.metrics is not None else metrics,
        "seeds": list(config.seeds),
        "n_samples": n_samples,
        "data": config.data.params if config.data.kind == "builtin" else config.data.params.get("path"),
        "errors": _errors(scores, ["model", "method", "metric", "seed"]),
        "run": run_record(
            config=config.raw, seed=list(config.seeds), device=config.device, started=started,
            duration_s=time.perf_counter() - start, argv=argv,
        ),
    }  # fmt: skip
    index = ["model", "method"] if scores["model"].nunique() > 1 else "method"
    # Several seeds: each seed's mean over the samples, then mean ± std over the seeds.
    over = "seed" if len(config.seeds) > 1 else None
    caption = (
        f"xai_sanity study {source}: mean ± std over seeds {list(config.seeds)} of each seed's mean over "
        f"{n_samples} samples"
        if over
        else f"xai_sanity study {source}: mean ± std over {n_samples} samples (seed {config.seeds[0]})"
    )
    extra = {"config": out / "study.toml"} if config.path is not None else None
    return _finish(
        scores, out, info, index=index, caption=caption, echo=echo, start=start, extra_files=extra, over=over
    )


def metrics_by_name(
    names: Sequence[str] | None,
    *,
    quick: bool = False,
    seed: int = 0,
    has_masks: bool = True,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Metrics as the default suite builds them (suite parameters, the run's seed).

    Parameters
    ----------
    names : sequence of str, optional
        Registered metric names; ``None``: the whole default suite, less the metrics that
        need masks when ``has_masks`` is false.
    quick : bool, default False
        Apply each metric's ``quick_params`` too.
    seed : int, default 0
        Given to every metric whose constructor takes a seed.
    has_masks : bool, default True
        Whether the data has masks; naming a metric that needs them without masks is an error.
    overrides : mapping, optional
        Constructor arguments by metric name, applied over the suite (and quick) parameters.

    Raises
    ------
    KeyError
        An unknown name (the message lists the registered ones).
    ValueError
        A metric that needs masks and there are none.
    """
    from ._seeding import with_seed
    from .registry import METRICS

    if names is None:
        chosen = [n for n in METRICS if getattr(METRICS[n], "in_default_suite", True)]
        if not has_masks:
            chosen = [n for n in chosen if not getattr(METRICS[n], "requires_s_batch", False)]
    else:
        chosen = [METRICS.canonical(n) for n in names]
        need = [n for n in chosen if getattr(METRICS[n], "requires_s_batch", False)]
        if need and not has_masks:
            raise ValueError(
                f"metrics {need} need ground-truth masks: give --masks or s/masks in the .npz file"
            )
    built = {}
    for name in chosen:
        factory = METRICS[name]
        params = {**getattr(factory, "suite_params", {})}
        if quick:
            params.update(getattr(factory, "quick_params", {}))
        params.update((overrides or {}).get(name, {}))
        built[name] = with_seed(factory, params, seed)
    return built


def check_model_on_data(model: Any, x: Any, y: Any, device: str | None = None) -> int:
    """One forward pass of the first input: the model must take the data and have a class for
    every label. Returns the number of classes; ``ValueError`` saying what does not fit.

    Run before any work, so that a model and data that do not fit give one clear error rather
    than a failed cell per method and metric.
    """
    import numpy as np
    import torch

    from ._validation import as_model_input, resolve_device

    target = resolve_device(device, model)
    try:
        with torch.no_grad():
            out = model(as_model_input(np.asarray(x[:1]), model).to(target))
    except Exception as err:  # noqa: BLE001 - reported with the data's shape
        lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
        raise ValueError(
            f"the model cannot take the data: a forward pass of one input of shape "
            f"{tuple(np.shape(x)[1:])} failed ({type(err).__name__}: {lines[-1] if lines else ''})"
        ) from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return class scores (N, n_classes); it returned {shape}")
    n_classes = int(out.shape[1])
    top = int(np.max(y)) if len(y) else -1
    if top >= n_classes:
        raise ValueError(f"the labels go up to {top} but the model has {n_classes} outputs")
    return n_classes


def evaluate_files(
    model: Any,
    data: Any,
    *,
    methods: Sequence[str] | Mapping[str, Callable] | None = None,
    metrics: Sequence[str] | None = None,
    out_dir: str | Path = "xai_sanity_evaluation",
    quick: bool = False,
    seed: int = 0,
    device: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    echo: Callable[..., Any] = print,
    record: Mapping[str, Any] | None = None,
    argv: Sequence[str] | None = None,
) -> JobResult:
    """Score one model's explanations with :func:`xai_sanity.evaluate` and write the outputs.

    Parameters
    ----------
    model : torch.nn.Module
        The model (e.g. from :func:`xai_sanity.io.load_model`).
    data : LoadedData
        From :func:`xai_sanity.io.load_data`.
    methods : sequence of str or mapping, optional
        Registered method names (default: Gradient, IntegratedGradients, SmoothGrad), or
        name → explain function.
    metrics : sequence of str, optional
        Registered metric names (default: the default suite; without masks, less the
        localisation metrics); built by :func:`metrics_by_name`.
    out_dir, quick, seed, device, batch_size, progress, echo
        The run's options.
    record : mapping, optional
        What the summary records as the configuration (e.g. the command's arguments).
    argv : sequence of str, optional
        The command line for the summary.
    """
    from .evaluation import evaluate
    from .explain import build_method
    from .registry import METHODS
    from .reproduce._common import run_record

    started, start = time.time(), time.perf_counter()
    if methods is None:
        methods = ("Gradient", "IntegratedGradients", "SmoothGrad")
    if isinstance(methods, Mapping):
        method_funcs = dict(methods)
    else:
        method_funcs = {METHODS.canonical(name): build_method(name) for name in methods}
    metric_objs = metrics_by_name(metrics, quick=quick, seed=seed, has_masks=data.s is not None)
    if not metric_objs:
        raise ValueError("no metric to run: name some with --metrics")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    echo(f"evaluating {len(method_funcs)} method(s) x {len(metric_objs)} metric(s) on {len(data)} samples")
    scores = evaluate(
        model, data.x, data.y, data.s, methods=method_funcs, metrics=metric_objs, device=device,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
    info: dict[str, Any] = {
        "methods": list(method_funcs),
        "metrics": list(metric_objs),
        "n_samples": len(data),
        "data": data.source,
        "errors": _errors(scores, ["method", "metric"]),
        "run": run_record(
            config=dict(record or {}), seed=seed, device=device, started=started,
            duration_s=time.perf_counter() - start, argv=argv,
        ),
    }  # fmt: skip
    caption = f"xai_sanity evaluate: {data.source}"
    return _finish(scores, out, info, index="method", caption=caption, echo=echo, start=start)
