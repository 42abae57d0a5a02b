"""The bundled transformers classes (:mod:`converters.remote_code`, never the code files inside a directory) loaded
from a checkpoint directory in either layout: PyTorch on a Paddle checkpoint with no conversion on disk.

The directory is read by :func:`converters.checkpoint.read_checkpoint` for the transformers side and its tensors are
copied one at a time into the model's parameters, in float32. Imports torch, transformers and the converters only:
this path runs where Paddle is not installed.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np

from converters.checkpoint import read_checkpoint
from converters.mapping import HF
from converters.tensors import cast


def load_bundled_model(model_dir: Union[str, os.PathLike], head: Optional[str] = None):
    """The bundled class of the checkpoint's head (``head``: the one required, a ``ValueError`` otherwise) with the
    weights of ``model_dir`` in float32, in eval mode, on the CPU."""
    try:
        import torch

        from converters.remote_code import configuration_ernie_m, modeling_ernie_m
    except ImportError as exc:
        raise ImportError(f"PyTorch models need torch and transformers ({exc}); install them with "
                          f"`pip install paddle-ernie-m[torch]`") from None
    checkpoint = read_checkpoint(model_dir, HF, head=head)
    if head is not None and checkpoint.head != head:
        raise ValueError(f"{model_dir}: config.json names {checkpoint.head}, not {head}")
    data = checkpoint.config.to_hf_dict()
    data["attention_mask_mode"] = checkpoint.config.attention_mask_mode
    config = configuration_ernie_m.ErnieMConfig.from_dict(data)
    model = getattr(modeling_ernie_m, checkpoint.head)(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(checkpoint.tensors))
    unexpected = sorted(set(checkpoint.tensors) - set(expected))
    if missing or unexpected:
        problems = [f"{what} {', '.join(names[:3])}" for what, names in (("missing", missing),
                                                                          ("unexpected", unexpected)) if names]
        raise ValueError(f"{model_dir}: the weights do not fit {checkpoint.head}: " + "; ".join(problems))
    with torch.no_grad():
        for name, parameter in expected.items():  # one tensor in memory at a time, beside the model
            values = np.ascontiguousarray(cast(checkpoint.tensors[name].read(), "float32"))
            parameter.copy_(torch.from_numpy(values).reshape(parameter.shape))
    return model.float().eval()
