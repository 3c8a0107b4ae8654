"""Fingerprints for the keys of the remove-and-retrain cache.

A cell's key must change whenever anything that determines its accuracy changes: the data
(:func:`fingerprint`), the weights (:func:`model_fingerprint`) and the trainer with its
settings and state (:func:`trainer_fingerprint`, built on :func:`value_fingerprint`). What
cannot be fingerprinted is refused, never guessed; ``ROAR(cache_key=...)`` is the way out.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "callable_id",
    "fingerprint",
    "model_fingerprint",
    "readable_settings",
    "trainer_fingerprint",
    "value_fingerprint",
]


def fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape}".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def model_fingerprint(model: nn.Module) -> str:
    """Fingerprint of every tensor in ``model``'s state dict."""
    return fingerprint(*(t.detach().cpu().numpy() for t in model.state_dict().values()))


def callable_id(func: Callable) -> str:
    """``module.qualname`` of a function (or of a callable object's class): a readable name."""
    target = func if hasattr(func, "__qualname__") else type(func)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


# -- fingerprints of values -----------------------------------------------------------------


class _Digest:
    """A SHA-256 fed with tagged, length-prefixed tokens, so distinct values never collide."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.active: dict[int, int] = {}  # id -> depth, of the containers being walked

    def put(self, tag: str, data: bytes | str = b"") -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self.sha.update(f"{tag}:{len(raw)}:".encode())
        self.sha.update(raw)


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().cpu()
    flat = (flat.to_dense() if flat.is_sparse else flat).contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def _feed(d: _Digest, value: Any, where: str) -> None:
    """Feed ``value`` to ``d``; ``TypeError`` naming ``where`` if it cannot be fingerprinted."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        d.put(type(value).__name__, repr(value))
        return
    if isinstance(value, (bytes, bytearray)):
        d.put("bytes", value)
        return
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            d.put("objarray", str(arr.shape))
            _feed(d, arr.tolist(), where)
        else:
            d.put("ndarray", f"{arr.dtype.str}{arr.shape}")
            d.put("data", np.ascontiguousarray(arr).tobytes())
        return
    if isinstance(value, torch.Tensor):
        try:
            data = _tensor_bytes(value)
        except Exception as err:  # noqa: BLE001 - e.g. meta or quantised tensors
            raise TypeError(f"{where}: cannot read the bytes of a tensor ({err})") from err
        d.put("tensor", f"{value.dtype}{tuple(value.shape)}")
        d.put("data", data)
        return
    if isinstance(value, (type, types.ModuleType)):
        d.put("name", callable_id(value) if isinstance(value, type) else value.__name__)
        return
    if id(value) in d.active:  # a cycle, e.g. a recursive closure
        d.put("cycle", str(d.active[id(value)]))
        return
    d.active[id(value)] = len(d.active)
    try:
        _feed_composite(d, value, where)
    finally:
        del d.active[id(value)]


def _feed_composite(d: _Digest, value: Any, where: str) -> None:
    if isinstance(value, nn.Module):
        d.put("module", callable_id(type(value)))
        for name, tensor in value.state_dict().items():
            d.put("key", name)
            _feed(d, tensor, f"{where}.{name}")
    elif isinstance(value, (tuple, list)):
        d.put(type(value).__name__, str(len(value)))
        for i, item in enumerate(value):
            _feed(d, item, f"{where}[{i}]")
    elif isinstance(value, Mapping):
        items = sorted(((value_fingerprint(k), k, v) for k, v in value.items()), key=lambda kv: kv[0])
        d.put("mapping", str(len(items)))
        for key_fp, key, item in items:
            d.put("key", key_fp)
            _feed(d, item, f"{where}[{key!r}]")
    elif isinstance(value, (set, frozenset)):
        d.put("set", ",".join(sorted(value_fingerprint(v) for v in value)))
    elif isinstance(value, functools.partial):
        d.put("partial")
        _feed(d, value.func, f"{where}.func")
        _feed(d, value.args, f"{where}.args")
        _feed(d, value.keywords, f"{where}.keywords")
    elif isinstance(value, types.CodeType):
        d.put("code", value.co_code)
        d.put("names", ",".join(value.co_names))
        _feed(d, value.co_consts, f"{where}.co_consts")
    elif isinstance(value, types.FunctionType):
        _feed_function(d, value, where)
    elif isinstance(value, types.MethodType):
        d.put("method")
        _feed(d, value.__func__, f"{where}.__func__")
        _feed(d, value.__self__, f"{where}.__self__")
    elif isinstance(value, types.BuiltinFunctionType):
        d.put("builtin", callable_id(value))
        owner = value.__self__
        if owner is not None and not isinstance(owner, types.ModuleType):
            _feed(d, owner, f"{where}.__self__")
    elif callable(value):
        _feed_callable_object(d, value, where)
    else:
        _feed_pickle(d, value, where)


def _feed_function(d: _Digest, func: types.FunctionType, where: str) -> None:
    """A function: its module, qualname, code, defaults and the values its closure captured."""
    d.put("function", callable_id(func))
    _feed(d, func.__code__, f"{where}.__code__")
    _feed(d, func.__defaults__, f"{where}.__defaults__")
    _feed(d, func.__kwdefaults__, f"{where}.__kwdefaults__")
    cells = func.__closure__ or ()
    d.put("closure", str(len(cells)))
    for name, cell in zip(func.__code__.co_freevars, cells):
        try:
            contents = cell.cell_contents
        except ValueError:  # a cell not filled yet
            d.put("empty", name)
            continue
        _feed(d, contents, f"{where} (captured variable {name!r})")


def _feed_callable_object(d: _Digest, obj: Any, where: str) -> None:
    """A callable object: its class, the code of its ``__call__`` and its state.

    Objects whose class pickles them its own way, or whose ``__call__`` is not Python code
    (a C type may keep state that ``__getstate__`` does not show), go by their pickle.
    """
    cls = type(obj)
    d.put("object", callable_id(cls))
    call = getattr(cls, "__call__", None)  # noqa: B004 - the code behind it, not callability
    python_call = isinstance(call, types.FunctionType)
    if python_call:
        _feed(d, call.__code__, f"{where}.__call__")
    if (
        not python_call
        or cls.__reduce_ex__ is not object.__reduce_ex__
        or cls.__reduce__ is not object.__reduce__
    ):
        _feed_pickle(d, obj, where)
        return
    getstate = getattr(obj, "__getstate__", None)
    if callable(getstate):
        state = getstate()
    elif hasattr(obj, "__dict__"):
        state = vars(obj)
    else:
        raise TypeError(f"{where}: cannot read the state of a {cls.__name__} object")
    _feed(d, state, f"{where} (state of {cls.__name__})")


def _feed_pickle(d: _Digest, value: Any, where: str) -> None:
    """Anything else: its pickle, if pickling it again after a round trip gives the same bytes."""
    try:
        data = pickle.dumps(value, protocol=4)
        deterministic = pickle.dumps(pickle.loads(data), protocol=4) == data
    except Exception as err:  # noqa: BLE001 - anything unpicklable is refused below
        raise TypeError(f"{where}: a {type(value).__name__} cannot be pickled ({err})") from err
    if not deterministic:
        raise TypeError(f"{where}: a {type(value).__name__} does not pickle deterministically")
    d.put("pickle", data)


def value_fingerprint(value: Any, where: str = "value") -> str:
    """A stable SHA-256 of ``value`` and of everything it holds.

    Numbers and strings by value; tuples, lists, dicts and sets element by element; numpy
    arrays and torch tensors by dtype, shape and bytes; ``nn.Module`` by class and state
    dict; ``functools.partial`` by function, arguments and keywords; functions by module,
    qualified name, code (bytecode, constants, names used), defaults and the values captured
    by their closure; bound methods by function and owner; other callable objects by class,
    ``__call__`` code and state (``__getstate__()`` or ``__dict__``); anything else by its
    pickle, if that is deterministic. Module-level globals a function reads are not covered.

    Raises
    ------
    TypeError
        If some part cannot be fingerprinted; the message names where it sits (``where``).
    """
    d = _Digest()
    _feed(d, value, where)
    return d.sha.hexdigest()


def trainer_fingerprint(train_func: Callable, train_kwargs: Mapping[str, Any]) -> str:
    """Fingerprint of a trainer and its keywords, for the cache key of a cell.

    Raises
    ------
    TypeError
        If they cannot be fingerprinted; the message points to ``cache_key=``.
    """
    d = _Digest()
    try:
        _feed(d, train_func, "train_func")
        _feed(d, dict(train_kwargs), "train_kwargs")
        return d.sha.hexdigest()
    except TypeError as err:
        raise TypeError(
            f"cannot fingerprint the trainer for the ROAR cache: {err}. Pass cache_key='...' (a "
            "string that you change whenever the trainer or its settings change) to ROAR/KAR, "
            "or run without cache_dir"
        ) from err


def readable_settings(value: Any) -> Any:
    """``value`` as JSON for a cell's record: plain values as they are, others by fingerprint.

    Numbers, strings, lists and dicts stay readable; anything else becomes
    ``"<TypeName fingerprint>"`` (or ``"<TypeName>"`` if it cannot be fingerprinted), never
    its ``str``, which may hold a memory address or an elided tensor.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and np.ndim(value) == 0 and not np.asarray(value).dtype.hasobject:
        return value.item()
    if isinstance(value, (list, tuple)):
        return [readable_settings(v) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: readable_settings(v) for k, v in value.items()}
    try:
        return f"<{type(value).__name__} {value_fingerprint(value)[:16]}>"
    except TypeError:
        return f"<{type(value).__name__}>"
