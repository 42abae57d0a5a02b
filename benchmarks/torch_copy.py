"""The transformers copy of one of our classifiers, for the benchmarks that time torch against the same weights."""
from __future__ import annotations

from typing import Mapping

import numpy as np


def transformers_classifier(state: Mapping[str, np.ndarray], config):
    """transformers' ``ErnieMForSequenceClassification`` (4.x) holding ``state`` (Paddle names and layout, numpy),
    in eval mode; raises when a tensor does not fit."""
    import torch
    import transformers

    from converters.tensors import paddle_to_torch

    hf = transformers.ErnieMForSequenceClassification(transformers.ErnieMConfig(**config.to_hf_dict()))
    missing, unexpected = hf.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                                              for k, v in paddle_to_torch(state, config).items()}, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"torch state dict mismatch: missing {missing}, unexpected {unexpected}")
    return hf.eval()
