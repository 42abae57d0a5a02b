"""Tensors as :class:`LazyTensor`: a dtype, a shape and how to read the values, so that weights stream from file to
file instead of being held in memory. Numpy arrays throughout; bfloat16 travels as ``uint16`` (Paddle's convention).
Also the dtypes every format here stores, and the byte-level copy helpers the writers share."""
from __future__ import annotations

import collections
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Deque, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import CheckpointError

PathLike = Union[str, "os.PathLike[str]"]

# safetensors dtype codes; BF16 is read as uint16 (the bits of a bfloat16, as Paddle stores them).
ST_TO_NUMPY = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
NUMPY_TO_ST = {np.dtype(v): k for k, v in ST_TO_NUMPY.items() if k != "BF16"}
NUMERIC_KINDS = "biuf"
COPY_CHUNK = 64 * 2**20
PAGE = 4096


def check_dtype(dtype: np.dtype, where: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in NUMERIC_KINDS or dtype.newbyteorder("<") not in NUMPY_TO_ST:
        raise CheckpointError(f"{where}: unsupported tensor dtype {dtype}")
    return dtype


class LazyTensor:
    """A tensor read only when needed: a byte range of a file, or an array (possibly computed on demand)."""

    __slots__ = ("dtype", "shape", "_load", "_span")

    def __init__(self, dtype: np.dtype, shape: Sequence[int], load: Callable[[], np.ndarray],
                 span: Optional[Tuple[str, int]] = None):
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(d) for d in shape)
        self._load = load
        self._span = span  # (file, offset) of the little-endian C-order bytes, when they lie in a file

    @classmethod
    def from_array(cls, array: np.ndarray) -> "LazyTensor":
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        return cls(array.dtype, array.shape, lambda: array)

    @classmethod
    def from_file(cls, path: str, offset: int, dtype: np.dtype, shape: Sequence[int]) -> "LazyTensor":
        count = math.prod(shape)
        return cls(dtype, shape, lambda: np.fromfile(path, dtype=dtype, count=count, offset=offset).reshape(shape),
                   (path, offset))

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def read(self) -> np.ndarray:
        return self._load()

    def view(self) -> np.ndarray:
        """A read-only array over the file's bytes (a memory map) when the tensor lies in a file, else ``read()``;
        for callers that only compute a new array from it."""
        if self._span is None:
            return self.read()
        return np.memmap(self._span[0], dtype=self.dtype, mode="r", offset=self._span[1], shape=self.shape)

    def map(self, fn: Callable[[np.ndarray], np.ndarray], shape: Sequence[int],
            dtype: Optional[np.dtype] = None) -> "LazyTensor":
        """A new lazy tensor ``fn(view)`` (same dtype unless ``dtype``); ``fn`` must return a new array."""
        return LazyTensor(self.dtype if dtype is None else dtype, shape, lambda: np.asarray(fn(self.view())))

    @property
    def copied_from_file(self) -> bool:
        """Whether writing copies the bytes straight from the source file (nothing to prepare)."""
        return self._span is not None

    def prepare(self) -> Optional[np.ndarray]:
        """The array to write, or None when the bytes are copied straight from the source file."""
        return None if self._span is not None else np.ascontiguousarray(self.read())

    def write_to(self, fd: int, prepared: Optional[np.ndarray] = None) -> None:
        """Append the tensor's little-endian C-order bytes (``prepared`` if given) to the file descriptor ``fd``."""
        if self._span is not None:
            copy_range(self._span[0], self._span[1], self.nbytes, fd)
        else:
            write_all(fd, memoryview(self.prepare() if prepared is None else prepared).cast("B"))


#: How many bytes of prepared (read, transposed...) tensors may wait ahead of the writer, and how many threads
#: prepare them. The window lets the transposes run while a large tensor is copied file to file.
PREPARE_AHEAD_BYTES = 64 * 2**20
PREPARE_THREADS = 2


def prepared_ahead(tensors: Sequence[LazyTensor]) -> Iterator[Tuple[LazyTensor, Optional[np.ndarray]]]:
    """Each tensor with its prepared array, in order. Worker threads prepare the tensors after it, up to
    :data:`PREPARE_AHEAD_BYTES` ahead, while it is written: numpy and file I/O release the GIL, so they overlap."""
    pending: Deque[Tuple[Future, int]] = collections.deque()
    ahead = 0
    queued = 0
    with ThreadPoolExecutor(max_workers=PREPARE_THREADS) as pool:
        for tensor in tensors:
            while queued < len(tensors):
                nxt = tensors[queued]
                cost = 0 if nxt.copied_from_file else nxt.nbytes
                if pending and ahead + cost > PREPARE_AHEAD_BYTES:
                    break
                pending.append((pool.submit(nxt.prepare), cost))
                ahead += cost
                queued += 1
            future, cost = pending.popleft()
            prepared = future.result()
            ahead -= cost
            yield tensor, prepared
            del prepared


TensorLike = Union[LazyTensor, np.ndarray]


def as_lazy(tensor: TensorLike) -> LazyTensor:
    return tensor if isinstance(tensor, LazyTensor) else LazyTensor.from_array(np.asarray(tensor))


def write_all(fd: int, data: memoryview) -> None:
    while len(data):
        written = os.write(fd, data[: 1 << 30])
        data = data[written:]


def copy_range(path: str, offset: int, count: int, fd: int) -> None:
    with open(path, "rb", buffering=0) as src:
        remaining = count
        while remaining:
            try:
                done = os.copy_file_range(src.fileno(), fd, min(remaining, 1 << 30), offset)
            except (AttributeError, OSError):  # not Linux, or a file system that refuses: plain copy
                src.seek(offset)
                while remaining:
                    chunk = src.read(min(remaining, COPY_CHUNK))
                    if not chunk:
                        raise CheckpointError(f"{path}: truncated (ends before byte {offset + remaining})")
                    write_all(fd, memoryview(chunk))
                    remaining -= len(chunk)
                return
            if done == 0:
                raise CheckpointError(f"{path}: truncated (ends before byte {offset + remaining})")
            offset += done
            remaining -= done
