"""safetensors files, read and written without the safetensors package: the header is validated, tensors stay in
the file until read (:class:`~converters.formats.lazy.LazyTensor`), writers stream tensor by tensor."""
from __future__ import annotations

import json
import math
import os
import struct
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import safe_json
from ..errors import CheckpointError
from .lazy import (
    NUMPY_TO_ST,
    PAGE,
    ST_TO_NUMPY,
    LazyTensor,
    PathLike,
    TensorLike,
    as_lazy,
    check_dtype,
    prepared_ahead,
    write_all,
)

#: The longest header read (bytes). A header lists each tensor in about 100 bytes: ERNIE-M large's 390 tensors take
#: 40 KB, and 16 MiB leave room for 150,000 tensors per file. The reference reader allows 100 MB, which takes a
#: minute and gigabytes to parse and check before a damaged file is refused.
_MAX_HEADER = 16 * 2**20


def read_safetensors(path: PathLike) -> Tuple[Dict[str, LazyTensor], Dict[str, str]]:
    """The tensors (lazy, in file order) and the ``__metadata__`` of a safetensors file, header validated as the
    reference reader validates it: each entry well formed, and the tensors tiling the data section exactly
    (sorted by offset, the first begins at 0, each where the previous ends, the last at the end of the file)."""
    path = str(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: truncated or not a safetensors file (shorter than its header)")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > _MAX_HEADER:
                raise CheckpointError(f"{path}: safetensors header of {header_len:,} bytes, above the limit of "
                                      f"{_MAX_HEADER:,} (corrupted, or not an ERNIE-M checkpoint)")
            if header_len > size - 8:
                raise CheckpointError(f"{path}: corrupted or truncated safetensors header (length {header_len})")
            header = safe_json.loads(f.read(header_len), "header")
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, nested too deep
        raise CheckpointError(f"{path}: corrupted safetensors header ({exc})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupted safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None)
    metadata = {} if metadata is None else metadata  # null is no metadata; [], 0, "", false are refused
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: corrupted safetensors header (__metadata__ must map names to strings)")
    data_start, data_size = 8 + header_len, size - 8 - header_len
    entries: List[Tuple[int, int, str, LazyTensor]] = []
    for name, info in header.items():
        entry = _safetensors_entry(info)
        if entry is None and isinstance(info, dict) and isinstance(info.get("dtype"), str) \
                and info["dtype"] not in ST_TO_NUMPY:
            raise CheckpointError(f"{path}: tensor '{name}' has dtype {info['dtype']}, which is not supported "
                                  f"(supported: {', '.join(ST_TO_NUMPY)})")
        if entry is None:
            raise CheckpointError(f"{path}: corrupted safetensors header entry for tensor '{name}'")
        dtype, shape, begin, end = entry
        if end > data_size:
            raise CheckpointError(
                f"{path}: truncated: tensor '{name}' ends at byte {data_start + end}, the file has {size}")
        entries.append((begin, end, name, LazyTensor.from_file(path, data_start + begin, dtype, shape)))
    entries.sort(key=lambda e: (e[0], e[1]))
    previous, expected = None, 0  # the tensor before, and where the next one must begin
    for begin, end, name, _ in entries:
        if begin != expected:
            what = f"overlaps tensor '{previous}' (which ends at {expected})" if begin < expected else \
                f"leaves bytes {expected}..{begin} unused" + (f" after tensor '{previous}'" if previous else "")
            raise CheckpointError(f"{path}: corrupted safetensors header: tensor '{name}' begins at data offset "
                                  f"{begin} and {what}")
        previous, expected = name, end
    if expected != data_size:
        raise CheckpointError(f"{path}: corrupted safetensors file: {data_size - expected} bytes after the last "
                              f"tensor's data (the header accounts for {expected} of {data_size})")
    return {name: tensor for _, _, name, tensor in entries}, dict(metadata)


def _safetensors_entry(info: object) -> Optional[Tuple[np.dtype, List[int], int, int]]:
    """``(dtype, shape, begin, end)`` of a well-formed header entry (its byte count matching dtype and shape),
    else None."""
    def integer(x: object) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    if not isinstance(info, dict) or not isinstance(info.get("dtype"), str) or info["dtype"] not in ST_TO_NUMPY:
        return None
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(map(integer, shape)) and isinstance(offsets, list)
            and len(offsets) == 2 and all(map(integer, offsets))):
        return None
    dtype = np.dtype(ST_TO_NUMPY[info["dtype"]])
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize:
        return None
    return dtype, shape, begin, end


def _header_padding(data_start: int, tensors: Sequence[LazyTensor]) -> int:
    """Spaces after the JSON header: the data start stays 8-byte aligned (as the reference writer does), and the
    largest tensor copied from a file lands at the same offset modulo the page size as in its source, which
    lets the kernel copy it page by page (about twice as fast as a misaligned copy)."""
    pad = -data_start % 8
    offsets, position = {}, 0
    for t in tensors:
        offsets[id(t)] = position
        position += t.nbytes
    copied = [t for t in tensors if t.copied_from_file]
    if copied:
        anchor = max(copied, key=lambda t: t.nbytes)
        extra = (anchor._span[1] - (data_start + pad + offsets[id(anchor)])) % PAGE
        if extra % 8 == 0:
            pad += extra
    return pad


def write_safetensors(path: PathLike, tensors: Mapping[str, TensorLike], metadata: Mapping[str, str],
                      bf16: bool, progress: Optional[Callable[[str], None]] = None) -> None:
    """Stream ``tensors`` into a new safetensors file; ``uint16`` is written as BF16 when ``bf16`` else U16."""
    lazy = {name: as_lazy(t) for name, t in tensors.items()}
    header: Dict[str, object] = {"__metadata__": dict(metadata)}
    offset = 0
    for name, t in lazy.items():
        code = NUMPY_TO_ST[check_dtype(t.dtype, f"{path}: tensor '{name}'").newbyteorder("<")]
        if code == "U16" and bf16:
            code = "BF16"
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * _header_padding(8 + len(raw), list(lazy.values()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        write_all(fd, memoryview(struct.pack("<Q", len(raw)) + raw))
        for name, (t, prepared) in zip(lazy, prepared_ahead(list(lazy.values()))):
            t.write_to(fd, prepared)
            if progress:
                progress(name)
    finally:
        os.close(fd)
