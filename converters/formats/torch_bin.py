"""``pytorch_model.bin``: torch is imported only here, when such a file is read (``torch.load(weights_only=True)``)
or written."""
from __future__ import annotations

import os
import pickle
import re
from typing import Callable, Dict, Mapping, Optional

import numpy as np

from ..errors import CheckpointError
from .lazy import LazyTensor, PathLike, TensorLike, as_lazy, check_dtype


def read_torch_bin(path: PathLike) -> Dict[str, LazyTensor]:
    """Name -> tensor of a ``pytorch_model.bin`` read with ``torch.load(weights_only=True)``."""
    import torch

    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: cannot read (no such file)")
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    except pickle.UnpicklingError as exc:
        match = re.search(r"GLOBAL ([\w.]+)", str(exc))
        reason = f"refused global '{match.group(1)}'" if match else "refused by torch.load(weights_only=True)"
        raise CheckpointError(f"{path}: {reason}: a checkpoint may hold only tensors") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, zipfile errors... for damaged files
        raise CheckpointError(f"{path}: truncated or corrupted ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a state dict (a pickled {type(obj).__name__})")
    state: Dict[str, LazyTensor] = {}
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry '{name}' is a {type(value).__name__}, not a tensor")
        state[name] = LazyTensor.from_array(_torch_to_numpy(value, f"{path}: tensor '{name}'"))
    return state


def _torch_to_numpy(tensor, where: str) -> np.ndarray:
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(np.uint16)
    try:
        array = tensor.numpy()
    except TypeError:
        raise CheckpointError(f"{where}: unsupported tensor dtype {tensor.dtype}") from None
    check_dtype(array.dtype, where)
    return array


def write_torch_bin(path: PathLike, tensors: Mapping[str, TensorLike],
                    progress: Optional[Callable[[str], None]] = None) -> None:
    """Write ``tensors`` with ``torch.save`` (``uint16`` becomes ``torch.bfloat16``)."""
    import torch

    state = {}
    for name, t in tensors.items():
        array = np.ascontiguousarray(as_lazy(t).read())
        if not array.flags.writeable:
            array = array.copy()
        check_dtype(array.dtype, f"{path}: tensor '{name}'")
        state[name] = (torch.from_numpy(array.view(np.int16)).view(torch.bfloat16) if array.dtype == np.uint16
                       else torch.from_numpy(array))
        if progress:
            progress(name)
    with open(path, "xb") as f:
        torch.save(state, f)
