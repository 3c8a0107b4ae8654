"""Datasets with localisation ground truth and small reference models.

Examples
--------
>>> import torch
>>> from xai_sanity.data import load_default_splits, make_model
>>> train, test = load_default_splits(n_train=8, n_test=4)
>>> make_model("lenet")(torch.from_numpy(test.x)).shape
torch.Size([4, 10])
"""

from __future__ import annotations

from .models import MODEL_NAMES, LeNet, SmallResNet, SmallVGG, last_conv_layer, make_model
from .semi_natural import (
    BACKGROUND_NAMES,
    DATASET_VERSION,
    SemiNaturalData,
    digit_split_indices,
    load_default_splits,
    make_semi_natural,
)
from .toy import toy_problem

__all__ = [
    "BACKGROUND_NAMES",
    "DATASET_VERSION",
    "MODEL_NAMES",
    "LeNet",
    "SemiNaturalData",
    "SmallResNet",
    "SmallVGG",
    "digit_split_indices",
    "last_conv_layer",
    "load_default_splits",
    "make_model",
    "make_semi_natural",
    "toy_problem",
]
