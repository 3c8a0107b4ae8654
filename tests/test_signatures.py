"""Constructors that declare only their own parameters still show and bind the full signature."""

from __future__ import annotations

import inspect

import pytest
import quantus

import xai_sanity as xs
from xai_sanity._signatures import parameters_of, with_parameters
from xai_sanity.metrics import (
    AvgSensitivity,
    LocalLipschitzEstimate,
    MaxSensitivity,
    ModelParameterRandomisation,
    RelativeInputStability,
)


class _Base:
    def __init__(self, a: int = 1, b: int = 2, c: int = 3, **kwargs):
        self.a, self.b, self.c, self.extra = a, b, c, kwargs


class _Child(_Base):
    @with_parameters(parameters_of(_Base.__init__), order=("a", ..., "c"), b=20, store_own=True)
    def __init__(self, own: str = "x", **kwargs):
        super().__init__(**kwargs)


def test_signature_order_defaults_and_binding():
    params = list(inspect.signature(_Child).parameters)
    assert params == ["a", "own", "c", "kwargs"]  # b is left out of the shown signature
    child = _Child(5, "y")  # positional calls bind to the full signature
    assert (child.a, child.own, child.c) == (5, "y", 3)
    assert child.b == 2  # not in the signature: the base's own default
    child = _Child(b=7, z=1)
    assert child.b == 7 and child.extra == {"z": 1}


def test_without_extra_keywords_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="n_sample"):
        xs.SmoothGrad(n_sample=3)
    with pytest.raises(TypeError):
        xs.NoiseGrad("Saliency", {}, 3, 0.1, "additive", 0, None, None, False, "one too many")


def test_bad_declarations_fail_at_class_creation():
    with pytest.raises(TypeError, match="must end with"):
        with_parameters(())(lambda self, a=1: None)
    with pytest.raises(TypeError, match="no shared parameter"):
        with_parameters((), nope=1)(lambda self, **kwargs: None)
    with pytest.raises(TypeError, match="unknown parameters"):
        with_parameters((), order=("nope",))(lambda self, **kwargs: None)


def test_enhancer_presets_positional_and_get_params():
    ng = xs.NoiseGrad("Saliency", None, 4, 0.3)
    assert ng.get_params(deep=False) == {
        "base": "Saliency", "base_kwargs": None, "n_models": 4, "noise_level": 0.3,
        "noise_mode": "multiplicative", "seed": 0, "generator": None, "batch_size": None, "progress": False,
    }  # fmt: skip
    assert ng.clone(noise_level=0.5).noise_level == 0.5
    assert list(inspect.signature(xs.VarGrad).parameters)[-5:] == [
        "unbiased", "seed", "generator", "batch_size", "progress",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (MaxSensitivity, quantus.MaxSensitivity),
        (AvgSensitivity, quantus.AvgSensitivity),
        (LocalLipschitzEstimate, quantus.LocalLipschitzEstimate),
        (RelativeInputStability, quantus.RelativeInputStability),
    ],
)
def test_robustness_signatures_follow_quantus_order_and_defaults(ours, theirs):
    """Quantus's parameters keep their order and defaults (ours add seed and chunk_size at the end)."""
    our_params = inspect.signature(ours).parameters
    their_params = [
        p for p in inspect.signature(theirs).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    ours_in_their_order = [name for name in our_params if name in {p.name for p in their_params}]
    assert ours_in_their_order == [p.name for p in their_params]
    for p in their_params:
        if p.name in (
            "similarity_func",
            "norm_numerator",
            "norm_denominator",
            "perturb_func",
            "normalise_func",
        ):
            continue  # None here selects the same function Quantus names as its default
        if p.name == "disable_warnings":
            continue  # deliberately True here (README, "Coming from Quantus")
        assert our_params[p.name].default == p.default, p.name


def test_defaults_reach_the_instance():
    assert MaxSensitivity().similarity_func is quantus.similarity_func.difference
    assert LocalLipschitzEstimate().norm_numerator is quantus.similarity_func.distance_euclidean
    assert LocalLipschitzEstimate().normalise is True and MaxSensitivity().normalise is False
    assert RelativeInputStability().return_nan_when_prediction_changes is True
    mprt = ModelParameterRandomisation(layer_order="bottom_up")
    assert (mprt.layer_order, mprt.abs, mprt.seed) == ("bottom_up", True, 42)


_QUANTUS_NAMES = {"ModelParameterRandomisation": "MPRT"}


@pytest.mark.parametrize(
    "name",
    sorted(
        {
            cls.__name__
            for cls in xs.METRICS.values()
            if hasattr(quantus, _QUANTUS_NAMES.get(cls.__name__, cls.__name__))
        }
    ),
)
def test_every_quantus_namesake_takes_quantus_parameters_in_quantus_order(name):
    """A Quantus user's positional call binds as in Quantus: Quantus's parameter list is the
    start of ours (this package's own parameters come after it)."""
    ours = next(cls for cls in xs.METRICS.values() if cls.__name__ == name)
    theirs = getattr(quantus, _QUANTUS_NAMES.get(name, name))
    names = [p for p in inspect.signature(ours).parameters if p != "kwargs"]
    quantus_names = [p for p in inspect.signature(theirs).parameters if p != "kwargs"]
    assert names[: len(quantus_names)] == quantus_names
