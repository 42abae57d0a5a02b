"""Checkpoint files, one module per format: :mod:`.safetensors`, :mod:`.pdparams` (a restricted unpickler: nothing
from a checkpoint is ever imported or called), :mod:`.torch_bin` (``pytorch_model.bin``, the only one that imports
torch, and only when used) and :mod:`.shards` (a directory's weights, one file or a sharded index). Tensors are
:class:`~.lazy.LazyTensor`\\ s, numpy arrays read when needed (bfloat16 as ``uint16``).

This package exposes what works on whole checkpoints; a format's own reader and writer are imported from its
module (``from converters.formats.safetensors import read_safetensors``).
"""
from .lazy import LazyTensor, PathLike, TensorLike, as_lazy
from .shards import (
    PADDLE_CANDIDATES,
    TORCH_CANDIDATES,
    find_weights,
    load_paddle_state,
    parse_size,
    read_weights_file,
    save_paddle_state,
    save_state,
)

__all__ = [
    "LazyTensor", "PathLike", "TensorLike", "as_lazy", "PADDLE_CANDIDATES", "TORCH_CANDIDATES", "find_weights",
    "load_paddle_state", "parse_size", "read_weights_file", "save_paddle_state", "save_state",
]
