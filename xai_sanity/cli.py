"""The ``xai-sanity`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


class CommandError(Exception):
    """A problem with the command's input (a file, a name, a value); shown without a traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from .config import ConfigError

    return (ConfigError, FileNotFoundError, ImportError, KeyError, ValueError, TypeError)


def _listing(entries: list[dict[str, Any]], as_json: bool) -> int:
    import json

    from .catalog import format_listing

    print(json.dumps(entries, indent=2, ensure_ascii=False) if as_json else format_listing(entries))
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from .catalog import describe_methods

    return _listing(describe_methods(), args.json)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from .catalog import describe_metrics

    return _listing(describe_metrics(), args.json)


def _cmd_check(args: argparse.Namespace) -> int:
    """Run the conformance check over every registered method on a small CNN."""
    import numpy as np
    import torch
    from torch import nn

    from . import METHODS, get_method
    from .testing import ConformanceError, check_explain_func

    gen = torch.Generator().manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10),
    )  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    rng = np.random.default_rng(args.seed)
    x = rng.random((8, 3, 16, 16), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    failed = 0
    print(f"{'method':20s} {'checks':>6s} {'ms/call':>8s}  result")
    for name in METHODS:
        func = get_method(name)
        start = time.perf_counter()
        try:
            passed = check_explain_func(func, model, x, y)
            status = "ok"
        except ConformanceError as err:
            passed, status = [], "FAIL: " + "; ".join(err.failures)
            failed += 1
        ms = (time.perf_counter() - start) * 1000 / max(1, 6)
        print(f"{name:20s} {len(passed):6d} {ms:8.1f}  {status}")
    return 1 if failed else 0


#: The studies of ``xai-sanity reproduce <study>``; :func:`runners` has their functions.
STUDIES = ("noisegrad", "roar", "sanity-checks")


def runners() -> dict[str, tuple[Callable[..., Any], str]]:
    """Every runner by command name, with its default output folder.

    The reproductions are keyed by their study name (:data:`STUDIES`), the main job by
    ``"demo"``. They are imported on call, so that the command starts fast.
    """
    from .reproduce.demo import run_demo
    from .reproduce.noisegrad import run_noisegrad
    from .reproduce.roar import run_roar_study
    from .reproduce.sanity_checks import run_sanity_checks

    return {
        "demo": (run_demo, "xai_sanity_report"),
        "sanity-checks": (run_sanity_checks, "xai_sanity_sanity_checks"),
        "noisegrad": (run_noisegrad, "xai_sanity_noisegrad"),
        "roar": (run_roar_study, "xai_sanity_roar"),
    }


def _run(name: str, args: argparse.Namespace) -> int:
    run, default_out = runners()[name]
    kwargs: dict[str, Any] = {}
    if args.preset is not None:  # checked before any work; the runner picks it from SETTINGS
        from .reproduce._common import settings_for

        table = getattr(sys.modules[run.__module__], "SETTINGS", {})
        try:
            settings_for(table, args.quick, args.preset)
        except ValueError as err:
            raise CommandError(f"--preset: {err}") from None
        kwargs["preset"] = args.preset
    run(
        args.out or default_out,
        device=args.device,
        quick=args.quick,
        seed=args.seed,
        progress=not args.no_progress,
        **kwargs,
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    return _run("demo", args)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    return _run(args.study, args)


def _cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from .config import load_config

    try:  # everything that reads the user's files, before the run starts
        config = load_config(args.config)
        if args.device is not None:
            config = dataclasses.replace(config, device=args.device)
        data = config.data.load()
        kwargs = config.study_kwargs(progress=not args.no_progress, data=data)
        from .study import Study

        Study(**kwargs)  # the study's own checks (e.g. metrics that need masks), before the run
    except _user_errors() as err:
        raise CommandError(str(err)) from None
    if args.check:
        print(f"{args.config}: ok")
        print(f"  data     {data.source}: x {data.x.shape}, masks {'yes' if data.s is not None else 'no'}")
        print(f"  models   {', '.join(f'{n} ({m.kind} {m.source})' for n, m in config.models.items())}")
        print(f"  methods  {', '.join(f'{n} ({p.target})' for n, p in config.methods.items())}")
        metrics = config.metrics
        print(f"  metrics  {', '.join(metrics) if metrics is not None else 'the default suite'}")
        print(f"  seeds    {list(config.seeds)}, out {args.out or config.out}")
        return 0
    from .jobs import run_config

    run_config(config, args.out, cache_dir=args.cache, progress=not args.no_progress, study_kwargs=kwargs)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .io import load_data, load_model
    from .jobs import evaluate_files

    try:
        kwargs = json.loads(args.model_kwargs) if args.model_kwargs else None
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ValueError(f"--model-kwargs must be a JSON object, got {args.model_kwargs!r}")
        model = load_model(args.model, state_dict=args.state_dict, kwargs=kwargs, device=args.device)
        data = load_data(args.data, args.labels, args.masks, n=args.n)
        from .explain import build_method
        from .jobs import check_model_on_data, metrics_by_name
        from .registry import METHODS

        methods = None
        if args.methods:
            methods = {METHODS.canonical(name): build_method(name) for name in args.methods}
        metrics_by_name(args.metrics, has_masks=data.s is not None)  # names checked before any work
        check_model_on_data(model, data.x, data.y, args.device)
    except json.JSONDecodeError as err:
        raise CommandError(f"--model-kwargs is not valid JSON: {err}") from None
    except _user_errors() as err:
        raise CommandError(str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)) from None
    record = {k: v for k, v in vars(args).items() if k != "func"}
    result = evaluate_files(
        model, data, methods=methods, metrics=args.metrics, out_dir=args.out, quick=args.quick,
        seed=args.seed, device=args.device, batch_size=args.batch_size, progress=not args.no_progress,
        record=record,
    )  # fmt: skip
    scores = result["scores"]
    if len(scores) and scores["error"].notna().all():
        print("xai-sanity: every method x metric cell failed (see the errors above)", file=sys.stderr)
        return 1
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("xai_sanity")
    except PackageNotFoundError:  # a source tree that is not installed
        from . import __version__ as own
    parts = [f"python {sys.version.split()[0]}"]
    for name in ("torch", "quantus"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} missing")
    return f"xai-sanity {own} ({', '.join(parts)})"


def _runner_options(p: argparse.ArgumentParser, out_help: str) -> None:
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cpu)")
    p.add_argument("--quick", action="store_true", help="a small run (the 'quick' preset)")
    p.add_argument(
        "--preset", default=None, help="a named settings preset (full, quick, ...) instead of --quick"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the data, models, methods and metrics (default 0)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xai-sanity", description=__doc__)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the main job: data, model, explanations, every metric, a report")
    _runner_options(p, "report folder (default: xai_sanity_report)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("reproduce", help="reproduce a seed paper's findings as tables and figures")
    p.add_argument("study", choices=sorted(STUDIES), help="which study")
    _runner_options(p, "output folder (default: xai_sanity_<study>)")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("run", help="run a study from a TOML config (your models, data, methods, metrics)")
    p.add_argument("config", help="the study's TOML file (see tutorials/study.toml)")
    p.add_argument("--out", default=None, help="output folder (default: the config's out)")
    p.add_argument("--cache", default=None, help="cache folder: a rerun resumes from it")
    p.add_argument("--device", default=None, help="torch device (overrides the config's)")
    p.add_argument("--check", action="store_true", help="check the config and the data, run nothing")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("evaluate", help="score one model's explanations on your data (no config)")
    p.add_argument(
        "--model", required=True, help="TorchScript file, torch.save(model) file, or package.module:factory"
    )
    p.add_argument(
        "--state-dict", default=None, help="weights for a factory (torch.save(model.state_dict()))"
    )
    p.add_argument(
        "--model-kwargs", default=None, help="arguments of the factory as JSON, e.g. '{\"width\": 16}'"
    )
    p.add_argument("--data", required=True, help=".npz with x, y[, s or masks], or .npy with the inputs")
    p.add_argument("--labels", default=None, help=".npy with the labels (with an .npy --data)")
    p.add_argument("--masks", default=None, help=".npy with binary masks (with an .npy --data)")
    p.add_argument("--n", type=int, default=None, help="use the first N samples")
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="registered methods (default: Gradient, IntegratedGradients, SmoothGrad)",
    )
    p.add_argument(
        "--metrics", nargs="+", default=None, help="registered metrics (default: the default suite)"
    )
    p.add_argument("--out", default="xai_sanity_evaluation", help="output folder (default: %(default)s)")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of every seeded metric")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="the metrics' cheap settings")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    for name, func, what in (
        ("methods", _cmd_methods, "explain methods"),
        ("metrics", _cmd_metrics, "metrics"),
    ):
        p = sub.add_parser(name, help=f"list the registered {what} with their parameters")
        p.add_argument("--json", action="store_true", help="as JSON")
        p.set_defaults(func=func)

    p = sub.add_parser("check", help="run the conformance check over every registered method")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as err:
        print(f"xai-sanity {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
