"""ERNIE-M state dicts from one framework's layout to the other's, in memory: the tensor name table
(:mod:`.mapping`) applied to lazy tensors (rename, transpose, drop, create), dtype casts, and the config of the
converted model. Numpy only; :mod:`.checkpoint` (reading a directory of either layout) and :mod:`.convert` (writing
one) stand on it.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import formats, mapping
from .configuration import ErnieMConfig
from .errors import ConversionError
from .formats import LazyTensor
from .mapping import HEAD_ALIASES, HF, PADDLE

logger = logging.getLogger(__name__)

DTYPES = ("float32", "float16", "bfloat16")
_NUMPY_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16",
                      np.dtype(np.uint16): "bfloat16"}

ConfigLike = Union[ErnieMConfig, Mapping[str, object]]


# ---------------------------------------------------------------------------------------------- dtypes

def cast(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` as ``dtype`` ("float32" | "float16" | "bfloat16"); bfloat16 is uint16 bits, rounded to
    nearest even as torch does."""
    if _NUMPY_DTYPE_NAMES.get(array.dtype) == dtype:
        return array
    wide = (array.astype(np.uint32) << 16).view(np.float32) if array.dtype == np.uint16 else array
    if dtype == "float32":
        return wide.astype(np.float32)
    if dtype == "float16":
        return wide.astype(np.float16)
    bits = np.ascontiguousarray(wide, dtype=np.float32).view(np.uint32)
    out = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(wide)
    out[nan] = ((bits[nan] >> 16) | 0x0040).astype(np.uint16)
    return out


def transpose(array: np.ndarray, tile: int = 256) -> np.ndarray:
    """``array.T`` as a new C-ordered array, copied tile by tile (cache-friendly: about 1.4x faster than numpy's
    strided copy on ERNIE-M's 768 x 3072 matrices)."""
    if array.ndim != 2:
        return np.array(array.T, order="C")
    out = np.empty(array.shape[::-1], array.dtype)
    for i in range(0, array.shape[0], tile):
        for j in range(0, array.shape[1], tile):
            out[j:j + tile, i:i + tile] = array[i:i + tile, j:j + tile].T
    return out


def dtype_name(dtype: np.dtype) -> str:
    return _NUMPY_DTYPE_NAMES.get(np.dtype(dtype), str(np.dtype(dtype)))


# ---------------------------------------------------------------------------------------------- state dicts

def canonical_head(name: str) -> str:
    """Our / transformers' class name for ``name`` (PaddleNLP's ``UIEM`` included)."""
    head = HEAD_ALIASES.get(name, name)
    if head not in mapping.HEADS:
        raise ConversionError(f"unsupported architecture {name!r}; supported: {', '.join(mapping.HEADS)} "
                              f"(or {', '.join(HEAD_ALIASES)})")
    return head


def resolve_head(config: ErnieMConfig, arch: Optional[str], names: Sequence[str], source: str, where: str) -> str:
    """The head from ``architectures``, else from ``arch``, else the only head the tensor names fit."""
    wanted = canonical_head(arch) if arch else None
    named = config.architecture
    if named and wanted and named != wanted:
        raise ConversionError(f"{where}: config says {named} but --arch says {arch}")
    if named or wanted:
        return named or wanted
    fits = mapping.fitting_heads(names, source)
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise ConversionError(f"{where}: config names no architecture and the tensors fit several heads "
                              f"({', '.join(fits)}); pass --arch")
    unknown = mapping.first_unknown_tensor(names, source)
    if unknown is not None:
        raise ConversionError(f"{where}: config names no architecture and the tensors fit no ERNIE-M head: "
                              f"'{unknown}' belongs to none (is this an ERNIE-M checkpoint?)")
    raise ConversionError(f"{where}: config names no architecture and the tensors fit no ERNIE-M head exactly "
                          f"(some are missing); pass --arch to see which")


def target_config(config: ErnieMConfig, head: str, shapes: Mapping[str, Sequence[int]], source: str,
                  num_choices: Optional[int] = None) -> ErnieMConfig:
    """The config describing the converted model: the head, the FFN width read from the weights, QA's two
    labels (transformers sizes ``qa_outputs`` by ``num_labels``), PaddleNLP's ``num_choices``."""
    hf_base = source == PADDLE and head in mapping.HF_AS_BASE
    changes: Dict[str, object] = {"architectures": (mapping.BASE if hf_base else head,)}
    width = mapping.infer_intermediate_size(shapes, source)
    if width is not None and width != config.intermediate_size:
        changes["intermediate_size"] = width
    if head == mapping.QA and config.num_labels != 2:
        changes["num_labels"] = 2
    if num_choices is not None:
        changes["num_choices"] = num_choices
    return config.replace(**changes)


def convert_tensors(tensors: Mapping[str, LazyTensor], config: ErnieMConfig, head: str, source: str,
                    dtype: Optional[str] = None, where: str = "checkpoint") -> Tuple[Dict[str, LazyTensor], List[str]]:
    """Rename, transpose, drop and create tensors as the table says; cast to ``dtype`` if given."""
    dims = {
        "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size, "max_position_embeddings": config.max_position_embeddings,
        "num_labels": config.num_labels, "num_hidden_layers": config.num_hidden_layers,
    }
    plan = mapping.plan({k: t.shape for k, t in tensors.items()}, head, dims, source, where)
    notes = [f"ignored legacy buffer {name}" for name in plan.ignored]
    if plan.dropped and head in mapping.HF_AS_BASE:
        notes.append(f"dropped {', '.join(plan.dropped)}: transformers has no ErnieM class with this head "
                     f"({head}); wrote the encoder as ErnieMModel")
    elif plan.dropped:
        notes.append(f"dropped {', '.join(plan.dropped)}: transformers' {head} has no pooler")
    carried = [tensors[step.source].dtype for step in plan.steps if step.source is not None]
    out_dtype = np.dtype(np.uint16 if dtype == "bfloat16" else dtype) if dtype else carried[0]  # for created ones
    out: Dict[str, LazyTensor] = {}
    for step in plan.steps:
        if step.source is None:
            out[step.target] = _initialised(step, config.initializer_range, out_dtype)
            notes.append(f"created {step.target}: transformers' {head} has no pooler; initialised as a new "
                         f"model would (N(0, {config.initializer_range}) weight, zero bias); the head does not use it")
            continue
        tensor = tensors[step.source]
        if step.transform == mapping.TRANSPOSE:
            tensor = tensor.map(transpose, step.shape)
        if dtype and tensor.dtype != out_dtype:
            tensor = tensor.map(lambda a: cast(a, dtype), step.shape, out_dtype)
        out[step.target] = tensor
    return out, notes


def _initialised(step: mapping.Step, std: float, dtype: np.dtype) -> LazyTensor:
    def load() -> np.ndarray:
        if step.target.endswith(".bias"):
            values = np.zeros(step.shape, np.float32)
        else:  # a fixed seed: converting the same checkpoint twice gives the same files
            values = np.random.default_rng(0).normal(0.0, std, step.shape).astype(np.float32)
        return cast(values, dtype_name(dtype))

    return LazyTensor(dtype, step.shape, load)


def _convert_state(state: Mapping[str, np.ndarray], config: ConfigLike, source: str) -> Dict[str, np.ndarray]:
    config = config if isinstance(config, ErnieMConfig) else ErnieMConfig.from_dict(config)
    lazy = {k: formats.as_lazy(v) for k, v in state.items()}
    head = resolve_head(config, None, list(state), source, "state dict")
    config = target_config(config, head, {k: t.shape for k, t in lazy.items()}, source)
    tensors, notes = convert_tensors(lazy, config, head, source, where="state dict")
    for note in notes:
        logger.info(note)
    return {name: t.read() for name, t in tensors.items()}


def paddle_to_torch(state: Mapping[str, np.ndarray], config: ConfigLike) -> Dict[str, np.ndarray]:
    """A PaddleNLP-layout state dict (name -> array) as transformers' ErnieM names and lays it out."""
    return _convert_state(state, config, PADDLE)


def torch_to_paddle(state: Mapping[str, np.ndarray], config: ConfigLike) -> Dict[str, np.ndarray]:
    """A transformers ErnieM state dict (name -> array; bfloat16 as uint16) in PaddleNLP's layout."""
    return _convert_state(state, config, HF)

