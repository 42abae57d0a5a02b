"""The weights of a checkpoint directory: file names per ecosystem, finding them, one file or a sharded index
(``*.index.json``) read and written as transformers and PaddleNLP name shards, and whole state dicts."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .. import safe_json
from ..errors import CheckpointError
from .lazy import LazyTensor, PathLike, TensorLike, as_lazy
from .pdparams import read_pdparams, write_pdparams
from .safetensors import read_safetensors, write_safetensors
from .torch_bin import read_torch_bin, write_torch_bin

PADDLE_WEIGHTS = "model_state.pdparams"
PADDLE_WEIGHTS_INDEX = "model_state.pdparams.index.json"
SAFE_WEIGHTS = "model.safetensors"
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
TORCH_WEIGHTS_INDEX = "pytorch_model.bin.index.json"

# Weight files looked for in a checkpoint directory, in order of preference, per ecosystem.
PADDLE_CANDIDATES = (PADDLE_WEIGHTS, SAFE_WEIGHTS, PADDLE_WEIGHTS_INDEX, SAFE_WEIGHTS_INDEX)
TORCH_CANDIDATES = (SAFE_WEIGHTS, TORCH_WEIGHTS, SAFE_WEIGHTS_INDEX, TORCH_WEIGHTS_INDEX)


def find_weights(directory: PathLike, candidates: Sequence[str]) -> Path:
    """The first of ``candidates`` present in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such directory" if not directory.exists()
                              else f"{directory}: not a directory")
    for name in candidates:
        if (directory / name).is_file():
            return directory / name
    raise CheckpointError(f"{directory}: no weights found (looked for {', '.join(candidates)})")


def read_weights_file(path: PathLike) -> Tuple[Dict[str, LazyTensor], Dict[str, str]]:
    """Tensors and safetensors metadata (empty for other formats) of one weights file or sharded index."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    name = path.name
    if name.endswith(".index.json"):
        return _read_index(path)
    if name.endswith(".safetensors"):
        return read_safetensors(path)
    if name.endswith(".pdparams"):
        return read_pdparams(path), {}
    if name.endswith((".bin", ".pt", ".pth")):
        return read_torch_bin(path), {}
    raise CheckpointError(f"{path}: unknown weights format (expected .pdparams, .safetensors, .bin or .index.json)")


def _read_index(path: Path) -> Tuple[Dict[str, LazyTensor], Dict[str, str]]:
    try:
        weight_map = safe_json.loads(path.read_text(encoding="utf-8"), str(path))["weight_map"]
        shards = list(dict.fromkeys(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: corrupted shard index ({type(exc).__name__}: {exc})") from None
    tensors: Dict[str, LazyTensor] = {}
    metadata: Dict[str, str] = {}
    for shard in shards:
        shard_path = path.parent / shard
        if Path(shard).name != shard or not shard_path.is_file():
            raise CheckpointError(f"{path}: shard '{shard}' is missing")
        shard_tensors, shard_metadata = read_weights_file(shard_path)
        metadata = metadata or shard_metadata
        for name, tensor in shard_tensors.items():
            if weight_map.get(name) != shard:
                raise CheckpointError(f"{shard_path}: tensor '{name}' is not listed for this shard in {path.name}")
            tensors[name] = tensor
    missing = [name for name in weight_map if name not in tensors]
    if missing:
        raise CheckpointError(f"{path}: tensor '{missing[0]}' is listed but absent from {weight_map[missing[0]]}")
    return {name: tensors[name] for name in weight_map}, metadata


def parse_size(size: Union[int, str]) -> int:
    """Bytes in ``size``: an int, or digits with a unit like ``"5GB"``, ``"500MB"``, ``"2GiB"``."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", size, flags=re.IGNORECASE)
    if not match:
        raise ValueError(f"invalid size {size!r} (use e.g. 500MB, 5GB, 2GiB)")
    unit = (match.group(2) or "B").upper()
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}[unit]
    return int(float(match.group(1)) * scale)


def shard_names(weights_name: str, count: int) -> List[str]:
    """``model.safetensors`` -> ``model-00001-of-00002.safetensors``..., as transformers and PaddleNLP name shards."""
    stem, dot, suffix = weights_name.partition(".")
    return [f"{stem}-{i:05d}-of-{count:05d}{dot}{suffix}" for i in range(1, count + 1)]


def plan_shards(tensors: Mapping[str, TensorLike], max_shard_size: Optional[int]) -> List[List[str]]:
    """Tensor names per shard, in order; a new shard starts when the next tensor would exceed the limit."""
    shards: List[List[str]] = [[]]
    size = 0
    for name, t in tensors.items():
        nbytes = as_lazy(t).nbytes
        if max_shard_size is not None and shards[-1] and size + nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


# file name, index name, writer per output format
_WRITERS = {
    ("paddle", "pdparams"): (PADDLE_WEIGHTS, PADDLE_WEIGHTS_INDEX),
    ("paddle", "safetensors"): (SAFE_WEIGHTS, SAFE_WEIGHTS_INDEX),
    ("torch", "safetensors"): (SAFE_WEIGHTS, SAFE_WEIGHTS_INDEX),
    ("torch", "bin"): (TORCH_WEIGHTS, TORCH_WEIGHTS_INDEX),
}


def save_state(tensors: Mapping[str, TensorLike], directory: PathLike, ecosystem: str, fmt: str,
               max_shard_size: Union[int, str, None] = None,
               progress: Optional[Callable[[str], None]] = None) -> List[Path]:
    """Write ``tensors`` into ``directory`` the way ``ecosystem`` ("paddle" | "torch") names and encodes them.

    Paddle safetensors carry ``{"format": "np"}`` and bfloat16 as U16 (what PaddleNLP writes and reads);
    Hugging Face safetensors carry ``{"format": "pt"}`` and BF16. Returns the files written.
    """
    if (ecosystem, fmt) not in _WRITERS:
        raise ValueError(f"unsupported output format {fmt!r} for {ecosystem}")
    weights_name, index_name = _WRITERS[(ecosystem, fmt)]
    limit = parse_size(max_shard_size) if max_shard_size is not None else None
    shards = plan_shards(tensors, limit)
    names = [weights_name] if len(shards) == 1 else shard_names(weights_name, len(shards))
    directory = Path(directory)
    written = []
    for file_name, keys in zip(names, shards):
        part = {k: tensors[k] for k in keys}
        path = directory / file_name
        if fmt == "safetensors":
            write_safetensors(path, part, {"format": "pt" if ecosystem == "torch" else "np"},
                              bf16=ecosystem == "torch", progress=progress)
        elif fmt == "pdparams":
            write_pdparams(path, part, progress)
        else:
            write_torch_bin(path, part, progress)
        written.append(path)
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(as_lazy(t).nbytes for t in tensors.values())},
            "weight_map": {k: file_name for file_name, keys in zip(names, shards) for k in keys},
        }
        (directory / index_name).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        written.append(directory / index_name)
    return written


def load_paddle_state(path: PathLike) -> Dict[str, np.ndarray]:
    """Name -> array of a Paddle checkpoint: a directory, a weights file or a shard index (bfloat16 as uint16)."""
    path = Path(path)
    file = find_weights(path, PADDLE_CANDIDATES) if path.is_dir() else path
    tensors, _ = read_weights_file(file)
    return {name: t.read() for name, t in tensors.items()}


def save_paddle_state(state: Mapping[str, TensorLike], directory: PathLike, fmt: str = "pdparams",
                      max_shard_size: Union[int, str, None] = None) -> List[Path]:
    """Write a Paddle state dict into ``directory`` as PaddleNLP names its files (``model_state.pdparams``...)."""
    return save_state(state, directory, "paddle", fmt, max_shard_size)
