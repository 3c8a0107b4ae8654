"""Study configuration files (TOML) for ``xai-sanity run``: parsing, validation, building.

A config names the models, the data, the explain methods and the metrics of a study::

    out = "my_study"          # output folder (relative to the working folder)
    seeds = [0, 1]            # or: seed = 0
    device = "cpu"

    [data]
    builtin = "semi_natural"  # n = 200, split = "test", seed = 0, ...
    # path = "data.npz"       # x, y[, s | masks]; or path = "x.npy", y = "y.npy", s = "s.npy"

    [models.lenet]
    builtin = "lenet"         # trained per seed; epochs = 3, n_train = 3000, seed = 0 (one model), ...
    # torchscript = "model.pt" | module = "model.pt"
    # factory = "my_models:make", state_dict = "weights.pt", kwargs = { width = 16 }

    [methods.Saliency]        # the table's name is the method unless method = "..." is given
    [methods.SG]
    method = "SmoothGrad"
    n_samples = 8
    base = "Saliency"

    [metrics.PointingGame]    # no [metrics] at all: the default suite

:func:`load_config` reads and checks a file before any work: an unknown key, method,
metric or parameter (checked against the constructor's signature) or a value of the wrong
type is a :class:`ConfigError` naming the key path (``methods.SG.n_samples``) and what is
allowed. File paths in the config are relative to the config file's folder.

The package: :mod:`._checks` (reading TOML, :class:`ConfigError`, a value's type checked
against the parameter it is given to), :mod:`.specs` (the checked parts and what they build
for :class:`xai_sanity.Study`), :mod:`.parsing` (:func:`parse_config`, :func:`load_config`).
"""

from ._checks import ConfigError, named_parameters, read_toml
from .parsing import BUILTIN_DATA, MODEL_SOURCES, TOP_LEVEL_KEYS, load_config, parse_config
from .specs import DataSpec, ModelSpec, PartSpec, StudyConfig

__all__ = [
    "BUILTIN_DATA",
    "MODEL_SOURCES",
    "TOP_LEVEL_KEYS",
    "ConfigError",
    "DataSpec",
    "ModelSpec",
    "PartSpec",
    "StudyConfig",
    "load_config",
    "named_parameters",
    "parse_config",
    "read_toml",
]
