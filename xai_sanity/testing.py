"""Public conformance checks (the idea of scikit-learn's ``check_estimator``).

``check_explain_func(f, model, x, y)`` runs an explain function through the checks every
xai_sanity method passes and raises :class:`ConformanceError` listing each failure. Use it
in a plugin's test suite before registering a method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ._safety import ModelSnapshot, snapshot


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
