"""Study configs: parsing, every validation error (with its key path), the mapping to a Study."""

import re

import numpy as np
import pytest
import torch
from helpers import batch, small_cnn

import xai_sanity as xs
from xai_sanity.config import ConfigError, load_config, parse_config, read_toml

BASE = {
    "data": {"builtin": "semi_natural", "n": 4},
    "models": {"lenet": {"builtin": "lenet"}},
    "methods": {"Saliency": {}},
}


def parse(**changes):
    config = {**BASE, **changes}
    return parse_config({k: v for k, v in config.items() if v is not None}, source="study.toml")


def fails(match, **changes):
    with pytest.raises(ConfigError, match=match):
        parse(**changes)


def test_a_full_config_is_read_with_its_defaults(tmp_path):
    np.savez(tmp_path / "data.npz", x=batch(n=3)[0], y=batch(n=3)[1])
    (tmp_path / "study.toml").write_text(
        'out = "here"\nseeds = [0, 2]\ndevice = "cpu"\nbatch_size = 8\ncache = "cache"\n'
        '[data]\npath = "data.npz"\nn = 3\n'
        '[models.mine]\nfactory = "helpers:small_cnn"\nkwargs = { n_classes = 10 }\n'
        "[methods.Saliency]\n"
        '[methods.SG]\nmethod = "SmoothGrad"\nn_samples = 4\nbase = "IntegratedGradients"\nsteps = 4\n'
        '[methods.NG]\nmethod = "noisegrad++"\nnoise_level = 1\n'
        "[metrics.PointingGame]\nabs = true\n"
        '[metrics.Sens]\nmetric = "MaxSensitivity"\nnr_samples = 2\naggregate_func = "numpy:mean"\n'
    )
    config = load_config(tmp_path / "study.toml")
    assert (config.out, config.seeds, config.device, config.batch_size) == ("here", (0, 2), "cpu", 8)
    assert config.cache == str(tmp_path / "cache")  # relative to the config's folder
    assert config.data.params == {"path": str(tmp_path / "data.npz"), "n": 3}
    assert config.models["mine"].kind == "factory" and config.models["mine"].kwargs == {"n_classes": 10}
    # Names resolve to canonical ones; an enhancer takes its base's parameters too.
    assert {n: p.target for n, p in config.methods.items()} == {
        "Saliency": "Saliency", "SG": "SmoothGrad", "NG": "NoiseGrad++",
    }  # fmt: skip
    sg = config.build_methods()["SG"]
    assert (sg.n_samples, sg.base, sg.base_kwargs) == (4, "IntegratedGradients", {"steps": 4})
    noise = config.methods["NG"].params["noise_level"]
    assert noise == 1.0 and isinstance(noise, float)  # TOML's 1 for a float parameter
    metrics = config.build_metrics(seed=5)
    assert metrics["Sens"].nr_samples == 2 and metrics["Sens"].seed == 5
    assert config.metrics["Sens"].params["aggregate_func"] is np.mean  # "module:function" imported
    assert config.metrics["PointingGame"].for_study() == ("PointingGame", {"abs": True})
    assert config.raw["seeds"] == [0, 2] and config.path == tmp_path / "study.toml"


def test_defaults_when_keys_are_left_out():
    config = parse()
    assert (config.seeds, config.device, config.batch_size, config.cache) == ((0,), None, 64, None)
    assert config.metrics is None and config.build_metrics() is None  # the default suite
    assert config.models["lenet"].seeded()
    assert parse(seed=3).seeds == (3,)


def test_unknown_and_missing_keys():
    fails(r"^study.toml: colour: unknown key; allowed: out, seed, seeds, device, batch_size", colour="red")
    fails(r"study.toml: methods: missing; a config needs \[methods\]", methods=None)
    fails(
        r"data.rows: unknown parameter of the semi_natural dataset; allowed: n, image_size, seed",
        data={"builtin": "semi_natural", "rows": 3},
    )
    fails(r"data.x: unknown key; allowed: path, y, s, n", data={"path": "d.npz", "x": "x.npy"})
    fails(r"data: give exactly one of builtin = 'semi_natural' or path", data={"n": 3})
    fails(r"data.path: file '.*nope.npz' does not exist", data={"path": "nope.npz"})
    fails(r"data.builtin: unknown dataset 'mnist'; allowed: semi_natural", data={"builtin": "mnist"})
    fails(r"data.split: allowed: train, test; got 'val'", data={"builtin": "semi_natural", "split": "val"})
    fails(r"models: is empty", models={})
    fails(
        r"models.m: give exactly one of builtin, torchscript, module, factory; got builtin, module",
        models={"m": {"builtin": "lenet", "module": "m.pt"}},
    )
    fails(
        r"models.m.builtin: unknown model 'alexnet'; allowed: lenet, vgg, resnet",
        models={"m": {"builtin": "alexnet"}},
    )
    fails(
        r"models.m.epoch: unknown parameter of built-in model 'lenet'; allowed: image_size, seed, epochs",
        models={"m": {"builtin": "lenet", "epoch": 3}},
    )
    fails(r"models.m.module: file '.*nowhere.pt' does not exist", models={"m": {"module": "nowhere.pt"}})
    fails(
        r"models.m.kwargs: unknown key; allowed: torchscript",
        models={"m": {"torchscript": "m.pt", "kwargs": {}}},
    )
    fails(
        r"models.m.factory: expected 'package.module:function', got 'helpers.small_cnn'",
        models={"m": {"factory": "helpers.small_cnn"}},
    )
    fails(r"models.m.factory: cannot import module 'no_such_h5'", models={"m": {"factory": "no_such_h5:f"}})
    fails(
        r"models.m.kwargs.width: unknown parameter of factory 'helpers:small_cnn'; allowed: seed, n_classes",
        models={"m": {"factory": "helpers:small_cnn", "kwargs": {"width": 3}}},
    )
    fails(
        r"models.m.state_dict: file '.*w.pt' does not exist",
        models={"m": {"factory": "helpers:small_cnn", "state_dict": "w.pt"}},
    )


def test_unknown_method_metric_and_parameter_names():
    fails(
        r"methods.SG.method: unknown method 'SmoothGrads' \(did you mean SmoothGrad.*\); allowed: Gradient,",
        methods={"SG": {"method": "SmoothGrads"}},
    )
    fails(r"methods.Smoth: unknown method 'Smoth'", methods={"Smoth": {}})
    fails(
        r"metrics.PG.metric: unknown metric 'PointGame' \(did you mean PointingGame\?\)",
        metrics={"PG": {"metric": "PointGame"}},
    )
    fails(
        r"methods.IG.step: unknown parameter of method 'IntegratedGradients'; allowed: baseline, steps",
        methods={"IG": {"method": "IntegratedGradients", "step": 8}},
    )
    fails(
        r"methods.SG.n_sample: unknown parameter of method 'SmoothGrad'; allowed: base, base_kwargs, "
        r"n_samples.*; of its base 'Gradient': none",
        methods={"SG": {"method": "SmoothGrad", "n_sample": 8}},
    )
    fails(
        r"methods.SG.base: unknown method 'Gradiant'",
        methods={"SG": {"method": "SmoothGrad", "base": "Gradiant"}},
    )
    fails(
        r"methods.SG.base_kwargs.step: unknown parameter of base 'IntegratedGradients'; allowed: baseline",
        methods={"SG": {"method": "SmoothGrad", "base": "IntegratedGradients", "base_kwargs": {"step": 2}}},
    )
    fails(
        r"metrics.PointingGame.weight: unknown parameter of metric 'PointingGame'; allowed: weighted, abs",
        metrics={"PointingGame": {"weight": True}},
    )
    fails(r"metrics: is empty: give at least one \[metrics.NAME\] table", metrics={})
    fails(r"methods.x.method: cannot import module 'nowhere_h5'", methods={"x": {"method": "nowhere_h5:f"}})


def test_wrong_types_name_the_key_path_and_the_expected_type():
    fails(
        r"methods.SG.n_samples: expected int, got str '8'",
        methods={"SG": {"method": "SmoothGrad", "n_samples": "8"}},
    )
    fails(
        r"methods.SG.n_samples: expected int, got bool True",
        methods={"SG": {"method": "SmoothGrad", "n_samples": True}},
    )
    fails(
        r"methods.SG.noise_level: expected float, got str 'high'",
        methods={"SG": {"method": "SmoothGrad", "noise_level": "high"}},
    )
    fails(r"metrics.PointingGame.abs: expected bool, got int 1", metrics={"PointingGame": {"abs": 1}})
    fails(
        r"metrics.MaxSensitivity.aggregate_func: expected 'package.module:function', got int 3",
        metrics={"MaxSensitivity": {"aggregate_func": 3}},
    )
    fails(
        r"methods.IG.steps: expected int, got float 8.5",
        methods={"IG": {"method": "IntegratedGradients", "steps": 8.5}},
    )
    fails(r"data.n: expected int, got str 'all'", data={"builtin": "semi_natural", "n": "all"})
    fails(r"models.lenet.epochs: expected int", models={"lenet": {"builtin": "lenet", "epochs": "3"}})
    fails(r"^study.toml: seed: expected int, got str 'zero'", seed="zero")
    fails(r"seeds: give seed or seeds, not both", seed=0, seeds=[1])
    fails(r"seeds: expected a non-empty array of int", seeds=3)
    fails(r"seeds\[1\]: expected int, got str 'b'", seeds=[0, "b"])
    fails(r"seeds: has repeated seeds: \[1, 1\]", seeds=[1, 1])
    fails(r"batch_size: must be >= 1, got 0", batch_size=0)
    fails(r"device: not a torch device", device="gpu0")
    fails(r"out: expected a non-empty string, got int 3", out=3)
    fails(r"methods.SG: expected a table \(\[methods.SG\]\), got int 3", methods={"SG": 3})
    fails(
        r"models.m.kwargs: expected a table",
        models={"m": {"factory": "helpers:small_cnn", "kwargs": 3}},
    )


def test_values_the_constructor_refuses_are_reported_with_the_table():
    fails(r"methods.SG: ValueError: .*n_samples", methods={"SG": {"method": "SmoothGrad", "n_samples": 0}})
    fails(
        r"metrics.MPRT: .*layer_order",
        metrics={"MPRT": {"metric": "ModelParameterRandomisation", "layer_order": "sideways"}},
    )


def test_toml_syntax_errors_name_the_file(tmp_path):
    (tmp_path / "bad.toml").write_text("out = \n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML: .*line 1"):
        read_toml(tmp_path / "bad.toml")
    with pytest.raises(FileNotFoundError, match=r"config file '.*none.toml' does not exist"):
        load_config(tmp_path / "none.toml")


def test_config_builds_a_study_that_runs(tmp_path):
    x, y = batch(n=3)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    torch.save(small_cnn(seed=0).state_dict(), tmp_path / "w.pt")
    (tmp_path / "s.toml").write_text(
        "seeds = [0, 1]\n[data]\npath = 'd.npz'\n"
        "[models.fixed]\nfactory = 'helpers:small_cnn'\nstate_dict = 'w.pt'\n"
        "[models.per_seed]\nfactory = 'helpers:small_cnn'\n"
        "[methods.Saliency]\n[methods.Random]\n"
        "[metrics.Sens]\nmetric = 'MaxSensitivity'\nnr_samples = 2\n"
    )
    config = load_config(tmp_path / "s.toml")
    assert not config.models["fixed"].seeded() and config.models["per_seed"].seeded()
    kwargs = config.study_kwargs()
    assert isinstance(kwargs["models"]["fixed"], torch.nn.Module) and callable(kwargs["models"]["per_seed"])
    # A seeded factory gets the study's seed: the model of seed 1 is small_cnn(seed=1).
    with torch.no_grad():
        got = kwargs["models"]["per_seed"](1)(torch.as_tensor(x))
        np.testing.assert_allclose(got, small_cnn(seed=1)(torch.as_tensor(x)))
    assert kwargs["metrics"] == {"Sens": ("MaxSensitivity", {"nr_samples": 2})}
    frame = xs.Study(**kwargs).run(progress=False)
    assert frame["error"].isna().all(), frame["error"].dropna().unique()
    assert len(frame) == 2 * 2 * 1 * 2 * 3  # models x methods x metrics x seeds x samples
    assert set(frame["seed"]) == {0, 1}
    # The study's scores for Saliency are those of the metric called directly on that model.
    fixed = frame[(frame.model == "fixed") & (frame.method == "Saliency") & (frame.seed == 0)]
    metric = xs.METRICS["MaxSensitivity"](nr_samples=2, seed=0)
    model = small_cnn(seed=0).eval()
    direct = metric(model=model, x_batch=x, y_batch=y, a_batch=None, explain_func=xs.Saliency(), device="cpu")
    np.testing.assert_allclose(fixed["score"].to_numpy(), np.asarray(direct), rtol=1e-5)


def test_error_messages_quote_the_allowed_top_level_keys_in_order():
    with pytest.raises(ConfigError) as info:
        parse(extra=1)
    allowed = re.search(r"allowed: (.*)$", str(info.value)).group(1).split(", ")
    assert allowed == ["out", "seed", "seeds", "device", "batch_size", "cache", "data", "models", "methods",
                       "metrics"]  # fmt: skip
