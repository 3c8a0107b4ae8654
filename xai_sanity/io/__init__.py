"""Loading a user's own model and data from files, for ``xai-sanity run`` and ``evaluate``.

Models come from a TorchScript file (:func:`load_torchscript`), a whole module saved with
``torch.save(model, path)`` (:func:`load_module`; unpickling runs code from the file, so only
for files you trust) or a ``"package.module:factory"`` with an optional state dict
(:func:`load_factory`); :func:`load_model` tells the three apart. Data comes from one ``.npz``
file or from ``.npy`` files (:func:`load_data`). Every error names the file, the key and what
was expected.

The package: :mod:`._paths` (files and ``"module:name"`` imports), :mod:`.models`,
:mod:`.data`.
"""

from ._paths import PathLike as PathLike  # the type of path arguments
from ._paths import import_object
from .data import DATA_KEYS, LoadedData, load_data
from .models import (
    load_factory,
    load_model,
    load_module,
    load_state_dict,
    load_torchscript,
    model_file_format,
)

__all__ = [
    "DATA_KEYS",
    "LoadedData",
    "import_object",
    "load_data",
    "load_factory",
    "load_model",
    "load_module",
    "load_state_dict",
    "load_torchscript",
    "model_file_format",
]
