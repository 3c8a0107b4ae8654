"""Public conformance checks (the idea of scikit-learn's ``check_estimator``).

``check_explain_func(f, model, x, y)`` runs an explain function through the checks every
xai_sanity method passes and raises :class:`ConformanceError` listing each failure. Use it
in a plugin's test suite before registering a method. ``check_metric(metric, model, x, y,
s)`` does the same for a Quantus-style metric.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ._safety import ModelSnapshot, model_guard, snapshot
from ._validation import model_device
from .evaluation import _call_metric


class ConformanceError(AssertionError):
    """An explain function or metric broke the contract; ``failures`` lists how."""

    def __init__(self, name: str, failures: list[str]) -> None:
        self.failures = failures
        super().__init__(f"{name} failed {len(failures)} check(s):\n  - " + "\n  - ".join(failures))


def snapshot_differences(model: nn.Module, before: ModelSnapshot) -> list[str]:
    """What about ``model`` differs from the snapshot ``before`` (empty if nothing)."""
    after = snapshot(model)
    problems = []
    for name, tensor in before.tensors.items():
        other = after.tensors.get(name)
        if other is None or other.shape != tensor.shape or not torch.equal(other, tensor):
            problems.append(f"tensor {name!r} changed")
    for name, flag in before.requires_grad.items():
        if after.requires_grad.get(name) != flag:
            problems.append(f"requires_grad of {name!r} changed")
    for name, grad in before.grads.items():
        other = after.grads.get(name)
        if (grad is None) != (other is None) or (grad is not None and not torch.equal(grad, other)):
            problems.append(f".grad of {name!r} changed")
    for name, flag in before.training.items():
        if after.training.get(name) != flag:
            problems.append(f"training flag of module {name or '<root>'!r} changed")
    for name, hooks in before.hooks.items():
        for attr, saved in hooks.items():
            live = after.hooks.get(name, {}).get(attr, {})
            if list(live.keys()) != list(saved.keys()):
                problems.append(f"{attr} of module {name or '<root>'!r} changed")
    return problems


def _rng_states() -> tuple[torch.Tensor, tuple]:
    return torch.random.get_rng_state(), np.random.get_state()


def _rng_unchanged(before: tuple[torch.Tensor, tuple]) -> bool:
    torch_state, np_state = _rng_states()
    return torch.equal(torch_state, before[0]) and all(
        np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(np_state, before[1])
    )


def check_explain_func(
    explain_func: Callable,
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    call_kwargs: dict[str, Any] | None = None,
    deterministic: bool = True,
    strict: bool | None = None,
) -> list[str]:
    """Check that ``explain_func`` honours xai_sanity's explain-function contract.

    Checks: returns a finite ``np.float32`` array of shape ``(N, 1, ...)`` or ``x.shape``;
    leaves the model bit-identical (tensors, gradients, flags, hooks) and the global torch
    and numpy RNG states unchanged; the same call twice gives the same output (when
    ``deterministic``). With ``strict`` (default: for xai_sanity's own explainers) also:
    numpy and torch inputs agree, quantus.evaluate's ``method=`` keyword is accepted, and
    bad input (NaN inputs, wrong number of targets, a non-module model) raises a
    ``ValueError``/``TypeError`` that leaves the model untouched.

    Returns the names of the checks passed; raises :class:`ConformanceError` otherwise.

    Examples
    --------
    >>> import torch, numpy as np
    >>> from xai_sanity import Saliency
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 2, 2)).astype(np.float32)
    >>> "model untouched" in check_explain_func(Saliency(), model, x, np.array([0, 1]))
    True
    """
    from .explainers.base import Explainer

    if strict is None:
        strict = isinstance(explain_func, Explainer)
    kwargs = dict(call_kwargs or {})
    name = getattr(explain_func, "name", None) or type(explain_func).__name__
    failures: list[str] = []
    passed: list[str] = []

    def check(label: str, ok: bool, detail: str = "") -> None:
        (passed.append(label) if ok else failures.append(f"{label}: {detail}".rstrip(": ")))

    x_np = np.asarray(x)
    before_model = snapshot(model)
    before_rng = _rng_states()
    try:
        out = explain_func(model, x_np, y, **kwargs)
    except Exception as err:
        raise ConformanceError(name, [f"call raised {type(err).__name__}: {err}"]) from err
    check("model untouched", not (diffs := snapshot_differences(model, before_model)), "; ".join(diffs[:5]))
    check("global RNG untouched", _rng_unchanged(before_rng), "torch or numpy global RNG state changed")
    check("returns numpy array", isinstance(out, np.ndarray), f"got {type(out).__name__}")
    if isinstance(out, np.ndarray):
        check("float32", out.dtype == np.float32, f"got {out.dtype}")
        expected = {(x_np.shape[0], 1, *x_np.shape[2:]), tuple(x_np.shape)}
        check("shape", tuple(out.shape) in expected, f"got {out.shape}, expected one of {sorted(expected)}")
        check("finite", bool(np.all(np.isfinite(out))), "NaN or Inf in the output")
        if deterministic:
            again = explain_func(model, x_np, y, **kwargs)
            check("deterministic", np.array_equal(out, again), "two identical calls differ")
        if strict:
            from_torch = explain_func(
                model, torch.from_numpy(x_np.copy()), torch.as_tensor(np.asarray(y)), **kwargs
            )
            check("numpy/torch inputs agree", np.allclose(from_torch, out, rtol=1e-5, atol=1e-6))
            with_method = explain_func(model, x_np, y, method="quantus-key", **kwargs)
            check("accepts method= keyword", np.allclose(with_method, out, rtol=1e-5, atol=1e-6))
    if strict:
        bad_x = x_np.astype(np.float32).copy()
        bad_x.reshape(-1)[0] = np.nan
        cases = {
            "rejects NaN inputs": (model, bad_x, y, ValueError),
            "rejects wrong number of targets": (
                model,
                x_np,
                np.asarray(y)[:-1] if len(y) > 1 else [0, 0],
                ValueError,
            ),
            "rejects a non-module model": (lambda t: t, x_np, y, TypeError),
        }
        for label, (bad_model, bad_inputs, bad_targets, error) in cases.items():
            snap = snapshot(model)
            try:
                explain_func(bad_model, bad_inputs, bad_targets, **kwargs)
                check(label, False, "no error raised")
            except error:
                check(label, not snapshot_differences(model, snap), "model changed on error")
            except Exception as err:  # wrong error type
                check(label, False, f"raised {type(err).__name__} instead of {error.__name__}")
    if failures:
        raise ConformanceError(name, failures)
    return passed


def _scores_array(scores: Any) -> np.ndarray | str:
    """``scores`` as a 1-d float array, or a string that says why it is not one.

    A mapping (e.g. one list of per-sample scores per randomised layer) is read value by
    value, each of which must be a list of per-sample scores, and concatenated.
    """
    if isinstance(scores, Mapping):
        if not scores:
            return "got an empty mapping"
        parts = [_scores_array(value) for value in scores.values()]
        bad = next((p for p in parts if isinstance(p, str)), None)
        if bad is not None:
            return bad
        if len({p.size for p in parts}) != 1:
            return "the mapping's score lists differ in length"
        return np.concatenate(parts)
    if isinstance(scores, (bool, np.bool_)) or not isinstance(
        scores, (list, tuple, np.ndarray, float, int, np.number)
    ):
        return f"got {type(scores).__name__}, expected a list or array of floats"
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        return f"could not read the scores as floats ({err})"
    if np.asarray(scores).dtype == object or np.iscomplexobj(scores):
        return "scores are not real numbers"
    if arr.ndim == 2:  # a curve per sample (e.g. PixelFlipping)
        return arr
    return arr.reshape(-1) if arr.ndim <= 1 else f"got an array of shape {arr.shape}, expected (N,) or (N, k)"


def check_metric(
    metric: Callable,
    model: nn.Module,
    x_batch: np.ndarray,
    y_batch: np.ndarray,
    s_batch: np.ndarray | None = None,
    *,
    explain_func: Callable | None = None,
    explain_func_kwargs: dict[str, Any] | None = None,
    a_batch: np.ndarray | None = None,
) -> list[str]:
    """Check that a Quantus-style ``metric`` honours xai_sanity's metric contract.

    The metric is called as ``quantus.evaluate`` calls it, with keyword arguments ``model``,
    ``x_batch``, ``y_batch``, ``a_batch``, ``s_batch``, ``explain_func``,
    ``explain_func_kwargs``, ``device`` and a ``batch_size`` smaller than the batch (so the
    metric's chunking is exercised), on a model put in ``train()`` mode beforehand (to catch
    a switch to ``eval()``). Checks:

    * it returns a list or 1-d array of N real numbers, each finite or NaN (one number, or
      a list of one, when ``metric.return_aggregate`` is set; N equal-length curves, such
      as ``PixelFlipping``'s; a mapping of such lists; or, for metrics with
      ``scores_per_sample = False`` such as ROAR and ROAD's Quantus output, one number per key);
    * it leaves the model bit-identical (parameters, buffers, ``.grad``, ``requires_grad``,
      training flags, hooks) and the global torch and numpy RNG states unchanged;
    * two identical calls give the same scores (NaN-aware);
    * ``quantus.evaluate(metrics={name: metric}, xai_methods={"m": explain_func}, ...)``
      runs and gives the numbers the metric gives when called directly the same way;
    * it raises ``ValueError``, with the model untouched, on NaN in ``x_batch``, on
      ``y_batch`` of the wrong length and, when the metric needs masks
      (``metric.requires_s_batch``) or ``s_batch`` is given, on masks of the wrong shape
      and on non-binary masks (a value of 0.5).

    ``explain_func`` defaults to :class:`xai_sanity.Saliency` when no ``a_batch`` is given.
    The model's state is restored when the check ends. Warnings emitted by the metric are
    silenced during the check.

    Returns the names of the checks passed; raises :class:`ConformanceError` otherwise (and
    ``ValueError`` when the metric needs ``s_batch`` and none is given).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from xai_sanity.metrics import PointingGame
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
    ...                             torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10))
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((4, 3, 8, 8), dtype=np.float32)
    >>> s = (rng.random((4, 1, 8, 8)) < 0.3).astype(np.float32)
    >>> s[:, 0, 0, 0] = 1  # at least one foreground pixel per sample
    >>> passed = check_metric(PointingGame(), model, x, np.array([0, 1, 2, 3]), s)
    >>> "model untouched" in passed and "quantus.evaluate gives the same scores" in passed
    True
    """
    import quantus  # imported here: it is slow to import and only this check needs it

    name = getattr(metric, "name", None) or type(metric).__name__
    x = np.asarray(x_batch.detach().cpu() if hasattr(x_batch, "detach") else x_batch)
    y = np.asarray(y_batch.detach().cpu() if hasattr(y_batch, "detach") else y_batch)
    s = None if s_batch is None else np.asarray(s_batch)
    a = None if a_batch is None else np.asarray(a_batch)
    checks_masks = bool(getattr(metric, "requires_s_batch", False)) or s is not None
    if checks_masks and s is None:
        raise ValueError(f"{name} needs ground-truth masks: pass s_batch")
    if explain_func is None and a is None:
        from .explainers import Saliency

        explain_func = Saliency()
    ef_kwargs = dict(explain_func_kwargs or {})
    n = len(x)
    batch_size = max(1, (n + 1) // 2)
    device = str(model_device(model))
    expected_len = 1 if getattr(metric, "return_aggregate", False) else n

    failures: list[str] = []
    passed: list[str] = []

    def check(label: str, ok: bool, detail: str = "") -> None:
        (passed.append(label) if ok else failures.append(f"{label}: {detail}".rstrip(": ")))

    def call(**overrides: Any) -> Any:
        # A fresh explain_func_kwargs each time: Quantus writes into the dict.
        return _call_metric(
            metric, model, x, y, a, s, explain_func, dict(ef_kwargs), device, batch_size, **overrides
        )

    with model_guard(model, eval_mode=False, freeze=False, copy_tensors=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.train()
        before_model = snapshot(model)
        before_rng = _rng_states()
        try:
            scores = call()
        except Exception as err:
            raise ConformanceError(
                name, [f"call with Quantus's keyword arguments raised {type(err).__name__}: {err}"]
            ) from err
        diffs = snapshot_differences(model, before_model)
        check("model untouched", not diffs, "; ".join(diffs[:5]))
        check("global RNG untouched", _rng_unchanged(before_rng), "torch or numpy global RNG state changed")
        arr = _scores_array(scores)
        check("returns a list or array of floats", not isinstance(arr, str), str(arr))
        if not isinstance(arr, str):
            per_sample = getattr(metric, "scores_per_sample", True)
            if isinstance(scores, Mapping):  # N scores per key, or one per key for batch protocols
                expected_len = expected_len * len(scores) if per_sample else len(scores)
            label = "returns N scores" if per_sample else "returns one score per key"
            count = len(arr) if arr.ndim == 2 else arr.size  # curves: one row per sample
            check(label, count == expected_len, f"got {count}, expected {expected_len}")
            check("scores finite or NaN", not np.any(np.isinf(arr)), "infinite scores")
            again = _scores_array(call())
            same = not isinstance(again, str) and np.array_equal(arr, again, equal_nan=True)
            check("deterministic", same, "two identical calls differ")

            # quantus.evaluate: the scores it reports must be those of a direct call made the
            # way it makes it (attributions precomputed for the whole batch, method="m").
            eval_kwargs = {**ef_kwargs, "method": "m"}
            if explain_func is not None:
                method: Any = explain_func
                a_eval = explain_func(model=model, inputs=x, targets=y, **eval_kwargs)
            else:
                method, a_eval = a, a
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    result = quantus.evaluate(
                        metrics={name: metric},
                        xai_methods={"m": method},
                        model=model,
                        x_batch=x,
                        y_batch=y,
                        s_batch=s,
                        explain_func_kwargs=dict(ef_kwargs),
                        call_kwargs={"conformance": {"batch_size": batch_size, "device": device}},
                    )
                in_eval = _scores_array(result["m"][name])
                direct = _scores_array(
                    call(
                        a_batch=a_eval,
                        explain_func=explain_func if explain_func is not None else quantus.explain,
                        explain_func_kwargs=dict(eval_kwargs),
                    )
                )
                ok = not isinstance(in_eval, str) and not isinstance(direct, str)
                ok = ok and in_eval.shape == direct.shape
                ok = ok and bool(np.allclose(in_eval, direct, rtol=1e-6, atol=1e-6, equal_nan=True))
                check("quantus.evaluate gives the same scores", ok, f"{in_eval} != {direct}")
            except Exception as err:
                printed = " ".join(out.getvalue().split())[:300]
                check(
                    "quantus.evaluate gives the same scores", False, f"{type(err).__name__}: {err} {printed}"
                )

        bad_x = x.astype(np.result_type(x.dtype, np.float32), copy=True)
        bad_x.reshape(-1)[0] = np.nan
        bad_y = y[:-1] if n > 1 else np.concatenate([y, y])
        cases: dict[str, dict[str, Any]] = {
            "rejects NaN in x_batch": {"x_batch": bad_x},
            "rejects y_batch of the wrong length": {"y_batch": bad_y},
        }
        if checks_masks:
            non_binary = s.astype(np.float32, copy=True)
            non_binary.reshape(-1)[0] = 0.5
            cases["rejects masks of the wrong shape"] = {"s_batch": s[..., :-1]}
            cases["rejects non-binary masks"] = {"s_batch": non_binary}
        for label, overrides in cases.items():
            model.train()
            snap = snapshot(model)
            try:
                call(**overrides)
                check(label, False, "no error raised")
            except ValueError:
                diffs = snapshot_differences(model, snap)
                check(label, not diffs, "model changed on error: " + "; ".join(diffs[:3]))
            except Exception as err:
                check(label, False, f"raised {type(err).__name__} instead of ValueError: {err}")
    if failures:
        raise ConformanceError(name, failures)
    return passed
