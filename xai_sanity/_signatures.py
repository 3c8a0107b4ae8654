"""Constructors that name only their own parameters, and show and bind the full signature.

A family of classes shares most constructor parameters (every metric has Quantus's ``abs`` …
``display_progressbar``; every robustness metric ``nr_samples``, ``perturb_func``, …; every
enhancer ``base``, ``seed``, ``batch_size``, …), but each class has its own order, as Quantus
gives it, and a few defaults of its own. :func:`with_parameters` lets a class's ``__init__``
declare only its own parameters: the decorated ``__init__`` gets the whole signature (what
:func:`inspect.signature`, ``help`` and scikit-learn-style ``get_params`` see), every call is
bound to it — so positional calls keep working and a misspelt keyword is a ``TypeError`` —
and the shared arguments, defaults applied, arrive in the ``**kwargs`` of the ``__init__``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["parameters_of", "with_parameters"]

_P = inspect.Parameter


def parameters_of(func: Callable, *, exclude: Sequence[str] = ()) -> tuple[inspect.Parameter, ...]:
    """The named parameters of ``func`` (its shown signature), without ``self``, ``*args``,
    ``**kwargs`` and ``exclude``, all made positional-or-keyword."""
    return tuple(
        p.replace(kind=_P.POSITIONAL_OR_KEYWORD)
        for p in inspect.signature(func).parameters.values()
        if p.name != "self" and p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD) and p.name not in exclude
    )


def with_parameters(
    shared: Sequence[inspect.Parameter],
    *,
    order: Sequence[Any] | None = None,
    extra_keywords: bool = True,
    store_own: bool = False,
    **defaults: Any,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give an ``__init__(self, <own parameters>, **kwargs)`` the full signature of its family.

    Parameters
    ----------
    shared : sequence of inspect.Parameter
        The parameters the class shares with its family (e.g. :func:`parameters_of` of the
        base class's ``__init__``). A shared parameter the ``__init__`` declares itself is its
        own (its default and annotation win).
    order : sequence, optional
        The names of the signature in order, ``...`` standing for the own parameters not
        named. Shared parameters not named are left out of the signature (they may still be
        passed as extra keywords when ``extra_keywords``). Default: the own parameters,
        then every shared one.
    extra_keywords : bool, default True
        Whether the signature ends with ``**kwargs`` (Quantus's metrics pass unknown
        keywords on); without it, an unknown keyword is a ``TypeError``.
    store_own : bool, default False
        Set each own argument as an attribute of the same name before ``__init__`` runs.
    **defaults
        Defaults of shared parameters that differ for this class (e.g. ``abs=True``).

    Returns
    -------
    callable
        The decorator.
    """

    def decorate(init: Callable[..., None]) -> Callable[..., None]:
        self_param, *own, extra = inspect.signature(init).parameters.values()
        if extra.kind is not _P.VAR_KEYWORD:
            raise TypeError(f"{init.__qualname__} must end with **kwargs")
        own_names = [p.name for p in own]
        pool = {p.name: p for p in shared if p.name not in own_names}
        unknown = set(defaults) - set(pool)
        if unknown:
            raise TypeError(f"{init.__qualname__}: defaults {sorted(unknown)} name no shared parameter")
        pool = {name: p.replace(default=defaults.get(name, p.default)) for name, p in pool.items()}
        own_by_name = {p.name: p for p in own}
        if order is None:
            names = [*own_names, *pool]
        else:
            named = [name for name in order if name is not ...]
            missing = set(named) - set(pool) - set(own_names)
            if missing:
                raise TypeError(f"{init.__qualname__}: order names unknown parameters {sorted(missing)}")
            rest = [name for name in own_names if name not in named]
            names = [n for name in order for n in (rest if name is ... else [name])]
            if ... not in order:
                names += rest
        params = [own_by_name[name] if name in own_by_name else pool[name] for name in names]
        tail = [extra.replace(name="kwargs")] if extra_keywords else []
        signature = inspect.Signature([self_param, *params, *tail], return_annotation="None")

        @functools.wraps(init)
        def __init__(*args: Any, **kwargs: Any) -> None:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            self = arguments.pop(self_param.name)
            keywords = arguments.pop("kwargs", {}) if extra_keywords else {}
            own_args = {name: arguments.pop(name) for name in own_names}
            if store_own:
                for name, value in own_args.items():
                    setattr(self, name, value)
            init(self, **own_args, **arguments, **keywords)

        __init__.__signature__ = signature  # type: ignore[attr-defined]
        return __init__

    return decorate
