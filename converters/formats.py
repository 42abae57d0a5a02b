"""Checkpoint files: read and write ``.pdparams``, safetensors and ``pytorch_model.bin``, sharded or not.

Framework-neutral: tensors are numpy arrays (bfloat16 travels as ``uint16``, Paddle's convention) wrapped in
:class:`LazyTensor`, so that safetensors are streamed from file to file instead of being held in memory.
``.pdparams`` files are pickles: they are read opcode by opcode by a reader that rebuilds numpy arrays and plain
containers without importing or calling anything, refuses every other global, and leaves large arrays on disk
until they are needed; they are written by a small streaming pickle writer.
torch is imported only to read or write ``pytorch_model.bin`` (``weights_only=True``).
"""
from __future__ import annotations

import collections
import json
import math
import os
import pickle
import pickletools
import re
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import CheckpointError

PADDLE_WEIGHTS = "model_state.pdparams"
PADDLE_WEIGHTS_INDEX = "model_state.pdparams.index.json"
SAFE_WEIGHTS = "model.safetensors"
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
TORCH_WEIGHTS_INDEX = "pytorch_model.bin.index.json"

# Weight files looked for in a checkpoint directory, in order of preference, per ecosystem.
PADDLE_CANDIDATES = (PADDLE_WEIGHTS, SAFE_WEIGHTS, PADDLE_WEIGHTS_INDEX, SAFE_WEIGHTS_INDEX)
TORCH_CANDIDATES = (SAFE_WEIGHTS, TORCH_WEIGHTS, SAFE_WEIGHTS_INDEX, TORCH_WEIGHTS_INDEX)

# Paddle's bookkeeping entries in a pickled state dict (not tensors).
_PADDLE_NAME_TABLE = "StructuredToParameterName@@"
_PADDLE_SPLIT_TABLE = "UnpackBigParamInfor@@"  # large tensors split by protocol-2/3 paddle.save

PathLike = Union[str, "os.PathLike[str]"]

# safetensors dtype codes; BF16 is read as uint16 (the bits of a bfloat16, as Paddle stores them).
_ST_TO_NUMPY = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
_NUMPY_TO_ST = {np.dtype(v): k for k, v in _ST_TO_NUMPY.items() if k != "BF16"}
_NUMERIC_KINDS = "biuf"
_MAX_HEADER = 100 * 2**20
_COPY_CHUNK = 64 * 2**20
_PAGE = 4096


def _check_dtype(dtype: np.dtype, where: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in _NUMERIC_KINDS or dtype.newbyteorder("<") not in _NUMPY_TO_ST:
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
            _copy_range(self._span[0], self._span[1], self.nbytes, fd)
        else:
            _write_all(fd, memoryview(self.prepare() if prepared is None else prepared).cast("B"))


#: How many bytes of prepared (read, transposed...) tensors may wait ahead of the writer, and how many threads
#: prepare them. The window lets the transposes run while a large tensor is copied file to file.
PREPARE_AHEAD_BYTES = 64 * 2**20
PREPARE_THREADS = 2


def _prepared_ahead(tensors: Sequence[LazyTensor]) -> Iterator[Tuple[LazyTensor, Optional[np.ndarray]]]:
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


def _write_all(fd: int, data: memoryview) -> None:
    while len(data):
        written = os.write(fd, data[: 1 << 30])
        data = data[written:]


def _copy_range(path: str, offset: int, count: int, fd: int) -> None:
    with open(path, "rb", buffering=0) as src:
        remaining = count
        while remaining:
            try:
                done = os.copy_file_range(src.fileno(), fd, min(remaining, 1 << 30), offset)
            except (AttributeError, OSError):  # not Linux, or a file system that refuses: plain copy
                src.seek(offset)
                while remaining:
                    chunk = src.read(min(remaining, _COPY_CHUNK))
                    if not chunk:
                        raise CheckpointError(f"{path}: truncated (ends before byte {offset + remaining})")
                    _write_all(fd, memoryview(chunk))
                    remaining -= len(chunk)
                return
            if done == 0:
                raise CheckpointError(f"{path}: truncated (ends before byte {offset + remaining})")
            offset += done
            remaining -= done


# ---------------------------------------------------------------------------------------------- safetensors

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
            if header_len > min(_MAX_HEADER, size - 8):
                raise CheckpointError(f"{path}: corrupted or truncated safetensors header (length {header_len})")
            header = json.loads(f.read(header_len))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupted safetensors header ({exc})") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: corrupted safetensors header (nested too deeply)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupted safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(f"{path}: corrupted safetensors header (__metadata__ must map names to strings)")
    data_start, data_size = 8 + header_len, size - 8 - header_len
    entries: List[Tuple[int, int, str, LazyTensor]] = []
    for name, info in header.items():
        entry = _safetensors_entry(info)
        if entry is None and isinstance(info, dict) and isinstance(info.get("dtype"), str) \
                and info["dtype"] not in _ST_TO_NUMPY:
            raise CheckpointError(f"{path}: tensor '{name}' has dtype {info['dtype']}, which is not supported "
                                  f"(supported: {', '.join(_ST_TO_NUMPY)})")
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

    if not isinstance(info, dict) or not isinstance(info.get("dtype"), str) or info["dtype"] not in _ST_TO_NUMPY:
        return None
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(map(integer, shape)) and isinstance(offsets, list)
            and len(offsets) == 2 and all(map(integer, offsets))):
        return None
    dtype = np.dtype(_ST_TO_NUMPY[info["dtype"]])
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
        extra = (anchor._span[1] - (data_start + pad + offsets[id(anchor)])) % _PAGE
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
        code = _NUMPY_TO_ST[_check_dtype(t.dtype, f"{path}: tensor '{name}'").newbyteorder("<")]
        if code == "U16" and bf16:
            code = "BF16"
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * _header_padding(8 + len(raw), list(lazy.values()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _write_all(fd, memoryview(struct.pack("<Q", len(raw)) + raw))
        for name, (t, prepared) in zip(lazy, _prepared_ahead(list(lazy.values()))):
            t.write_to(fd, prepared)
            if progress:
                progress(name)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- .pdparams

class _Global:
    """A global the reader admits, standing for the function numpy's pickles call (never imported)."""

    def __init__(self, name: str, dotted: str):
        self.name, self.dotted = name, dotted


def _describe(args: tuple) -> str:
    return "(" + ", ".join(repr(a) if isinstance(a, (str, int, float)) else type(a).__name__ for a in args) + ")"


class _ArrayStub:
    """``_reconstruct(ndarray, (0,), b'b')``: an array awaiting its ``__setstate__``."""


_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct", ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.multiarray", "scalar"): "scalar", ("numpy._core.multiarray", "scalar"): "scalar",
    ("numpy", "ndarray"): "ndarray", ("numpy", "dtype"): "dtype", ("collections", "OrderedDict"): "dict",
    # paddle.save pickles a Tensor outside a plain state dict as `tuple((name, ndarray))`.
    ("builtins", "tuple"): "tuple", ("__builtin__", "tuple"): "tuple",
    # protocol-2 pickles spell bytes as `_codecs.encode(text, "latin1")`.
    ("_codecs", "encode"): "encode",
}
_LAZY_BYTES = 1 << 20  # array data at least this large is left in the file and read when needed


class _PickleReader:
    """Interprets the pickle opcodes (protocols 2-4) of a dict of numpy arrays, without importing or calling
    anything: the few globals numpy's pickles use are recognised by name and rebuilt here; any other global,
    and any opcode that builds arbitrary objects, is refused. Large array data is not read: each array becomes a
    :class:`LazyTensor` over its byte range in the file."""

    def __init__(self, f, path: str):
        self.f, self.path = f, path
        self.stack: List[object] = []
        self.marks: List[List[object]] = []
        self.memo: Dict[int, object] = {}
        self.frame_end: Optional[int] = None  # where the current protocol-4 frame ends

    def _enter(self, n: int) -> None:
        """Refuse a read of ``n`` bytes that would run past the end of the current frame, as pickle does."""
        if self.frame_end is not None:
            position = self.f.tell()
            if position >= self.frame_end:
                self.frame_end = None
            elif position + n > self.frame_end:
                raise pickle.UnpicklingError("pickle exhausted before end of frame")

    def read(self, n: int) -> bytes:
        self._enter(n)
        data = self.f.read(n)
        if len(data) != n:
            raise EOFError("file ends inside the pickle")
        return data

    def readline(self) -> bytes:
        line = self.f.readline()
        self.f.seek(-len(line), os.SEEK_CUR)
        return self.read(len(line))

    def frame(self) -> None:
        size = self.unpack("<Q")
        if self.frame_end is not None and self.f.tell() < self.frame_end:
            raise pickle.UnpicklingError("beginning of a new frame before end of current frame")
        if self.f.tell() + size > os.fstat(self.f.fileno()).st_size:
            raise EOFError("file ends inside a pickle frame")
        self.frame_end = self.f.tell() + size

    def unpack(self, fmt: str) -> int:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def pop_mark(self) -> List[object]:
        items, self.stack = self.stack, self.marks.pop()
        return items

    def push(self, value: object) -> None:  # not `self.stack.append`: popping a mark replaces self.stack
        self.stack.append(value)

    def bytes_value(self, n: int) -> object:
        if n < _LAZY_BYTES:
            return self.read(n)
        self._enter(n)
        offset = self.f.tell()
        self.f.seek(n, os.SEEK_CUR)
        return (offset, n)  # a byte range, read later

    def load(self) -> object:
        if self.f.read(1) != b"\x80" or not 2 <= self.unpack("<B") <= 5:
            raise ValueError("not a pickle of protocol 2 to 5 (what paddle.save writes)")
        ops = self.OPS
        while True:
            self._enter(1)
            code = self.f.read(1)
            if not code:
                raise EOFError("file ends inside the pickle")
            if code == b".":
                return self.stack.pop()
            handler = ops.get(code)
            if handler is None:
                op = pickletools.code2op.get(code.decode("latin-1"))
                if op is None:
                    raise ValueError(f"unknown pickle opcode {code!r}")
                raise pickle.UnpicklingError(f"refused pickle opcode {op.name}")
            handler(self)

    # ---- opcodes
    def _global(self, module: str, name: str) -> None:
        kind = _GLOBALS.get((module, name))
        if kind is None:
            raise pickle.UnpicklingError(f"refused global '{module}.{name}'")
        self.stack.append(_Global(kind, f"{module}.{name}"))

    def _reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack.pop()
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise pickle.UnpicklingError("refused call of a non-global")
        kind = func.name
        if kind == "reconstruct" and len(args) == 3 and isinstance(args[0], _Global) and args[0].name == "ndarray":
            value: object = _ArrayStub()
        elif kind == "dtype" and args and isinstance(args[0], str):
            value = np.dtype(args[0])
        elif kind == "scalar" and len(args) == 2 and isinstance(args[0], np.dtype) and isinstance(args[1], bytes):
            _check_dtype(args[0], f"{self.path}: scalar")
            value = np.frombuffer(args[1], dtype=args[0], count=1).reshape(()).copy()
        elif kind == "dict" and args == ():
            value = {}
        elif kind == "tuple" and len(args) == 1 and isinstance(args[0], (tuple, list)):
            value = tuple(args[0])
        elif kind == "encode" and len(args) == 2 and isinstance(args[0], str) \
                and str(args[1]).replace("-", "").lower() == "latin1":
            value = args[0].encode("latin-1")
        else:
            raise pickle.UnpicklingError(f"refused call of '{func.dotted}' with arguments {_describe(args)}")
        self.stack.append(value)

    def _build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if isinstance(target, np.dtype) and isinstance(state, tuple) and len(state) >= 2:
            if state[2:5] != (None, None, None):
                raise pickle.UnpicklingError("refused structured dtype")
            self.stack[-1] = target.newbyteorder(state[1]) if state[1] in "<>" else target
        elif isinstance(target, _ArrayStub) and isinstance(state, tuple) and len(state) == 5:
            self.stack[-1] = self._array(*state)
        else:
            raise pickle.UnpicklingError("refused object state")

    def _array(self, _version: int, shape: tuple, dtype: object, fortran: bool, data: object) -> LazyTensor:
        if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple):
            raise pickle.UnpicklingError("malformed array")
        _check_dtype(dtype, f"{self.path}: array")
        shape = tuple(int(d) for d in shape)
        size = math.prod(shape) * dtype.itemsize
        if isinstance(data, str):  # Python 2 pickles
            data = data.encode("latin-1")
        length = data[1] if isinstance(data, tuple) else len(data) if isinstance(data, bytes) else -1
        if length != size:
            raise pickle.UnpicklingError(f"array data has {length} bytes, its shape {list(shape)} needs {size}")
        little = dtype.newbyteorder("<")
        if isinstance(data, tuple) and not fortran and dtype == little:
            return LazyTensor.from_file(self.path, data[0], dtype, shape)
        path = self.path

        def load(data=data) -> np.ndarray:
            raw = np.fromfile(path, np.uint8, data[1], offset=data[0]) if isinstance(data, tuple) else data
            array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
            return np.array(array, dtype=little, order="C")  # a writable copy

        return LazyTensor(little, shape, load)

    def _setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if not isinstance(target, dict) or len(items) % 2:
            raise pickle.UnpicklingError("malformed SETITEMS")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        if not isinstance(self.stack[-1], dict):
            raise pickle.UnpicklingError("malformed SETITEM")
        self.stack[-1][key] = value

    def _appends(self, items: List[object]) -> None:
        if not isinstance(self.stack[-1], list):
            raise pickle.UnpicklingError("malformed APPENDS")
        self.stack[-1].extend(items)

    def _tuple(self, n: int) -> None:
        items = tuple(self.stack[len(self.stack) - n:]) if n else ()
        del self.stack[len(self.stack) - n:]
        self.stack.append(items)

    def _get(self, index: int) -> None:
        if index not in self.memo:
            raise pickle.UnpicklingError(f"memo entry {index} is missing")
        self.stack.append(self.memo[index])

    OPS: Dict[bytes, Callable[["_PickleReader"], None]] = {
        b"\x80": lambda r: r.read(1),                                        # PROTO
        b"\x95": lambda r: r.frame(),                                        # FRAME
        b"(": lambda r: (r.marks.append(r.stack), setattr(r, "stack", [])),  # MARK
        b"}": lambda r: r.stack.append({}),                                  # EMPTY_DICT
        b"d": lambda r: r.push(dict(zip(*[iter(r.pop_mark())] * 2))),      # DICT
        b"s": lambda r: r._setitem(),                                        # SETITEM
        b"u": lambda r: r._setitems(),                                       # SETITEMS
        b"]": lambda r: r.stack.append([]),                                  # EMPTY_LIST
        b"l": lambda r: r.push(r.pop_mark()),                                # LIST
        b"a": lambda r: r._appends([r.stack.pop()]),                         # APPEND
        b"e": lambda r: r._appends(r.pop_mark()),                            # APPENDS
        b")": lambda r: r.stack.append(()),                                  # EMPTY_TUPLE
        b"t": lambda r: r.push(tuple(r.pop_mark())),                         # TUPLE
        b"\x85": lambda r: r._tuple(1),                                      # TUPLE1
        b"\x86": lambda r: r._tuple(2),                                      # TUPLE2
        b"\x87": lambda r: r._tuple(3),                                      # TUPLE3
        b"N": lambda r: r.stack.append(None),                                # NONE
        b"\x88": lambda r: r.stack.append(True),                             # NEWTRUE
        b"\x89": lambda r: r.stack.append(False),                            # NEWFALSE
        b"J": lambda r: r.stack.append(r.unpack("<i")),                      # BININT
        b"K": lambda r: r.stack.append(r.unpack("<B")),                      # BININT1
        b"M": lambda r: r.stack.append(r.unpack("<H")),                      # BININT2
        b"\x8a": lambda r: r.stack.append(int.from_bytes(r.read(r.unpack("<B")), "little", signed=True)),  # LONG1
        b"G": lambda r: r.stack.append(r.unpack(">d")),                      # BINFLOAT
        b"\x8c": lambda r: r.stack.append(r.read(r.unpack("<B")).decode("utf-8")),  # SHORT_BINUNICODE
        b"X": lambda r: r.stack.append(r.read(r.unpack("<I")).decode("utf-8")),      # BINUNICODE
        b"\x8d": lambda r: r.stack.append(r.read(r.unpack("<Q")).decode("utf-8")),  # BINUNICODE8
        b"U": lambda r: r.stack.append(r.read(r.unpack("<B")).decode("latin-1")),    # SHORT_BINSTRING (py2)
        b"T": lambda r: r.stack.append(r.read(r.unpack("<i")).decode("latin-1")),    # BINSTRING (py2)
        b"C": lambda r: r.stack.append(r.read(r.unpack("<B"))),              # SHORT_BINBYTES
        b"B": lambda r: r.stack.append(r.bytes_value(r.unpack("<I"))),       # BINBYTES
        b"\x8e": lambda r: r.stack.append(r.bytes_value(r.unpack("<Q"))),   # BINBYTES8
        b"q": lambda r: r.memo.__setitem__(r.unpack("<B"), r.stack[-1]),     # BINPUT
        b"r": lambda r: r.memo.__setitem__(r.unpack("<I"), r.stack[-1]),     # LONG_BINPUT
        b"\x94": lambda r: r.memo.__setitem__(len(r.memo), r.stack[-1]),     # MEMOIZE
        b"h": lambda r: r._get(r.unpack("<B")),                              # BINGET
        b"j": lambda r: r._get(r.unpack("<I")),                              # LONG_BINGET
        b"c": lambda r: r._global(r.readline()[:-1].decode("utf-8"), r.readline()[:-1].decode("utf-8")),
        b"\x93": lambda r: r._global(*reversed([r.stack.pop(), r.stack.pop()])),  # STACK_GLOBAL
        b"R": lambda r: r._reduce(),                                         # REDUCE
        b"b": lambda r: r._build(),                                          # BUILD
    }


def _flatten_pickled(obj: object, path: str) -> Dict[str, LazyTensor]:
    """The name -> tensor entries of an unpickled Paddle state dict (tensors may be ``(name, array)`` tuples)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a state dict (a pickled {type(obj).__name__})")
    obj = dict(obj)
    obj.pop(_PADDLE_NAME_TABLE, None)
    split = obj.pop(_PADDLE_SPLIT_TABLE, None) or {}
    state: Dict[str, LazyTensor] = {}
    for key, value in obj.items():
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], LazyTensor):
            value = value[1]
        if isinstance(value, np.ndarray):  # a numpy scalar
            value = LazyTensor.from_array(value)
        if not isinstance(key, str) or not isinstance(value, LazyTensor):
            raise CheckpointError(f"{path}: entry '{key}' is a {type(value).__name__}, not a tensor")
        state[key] = value
    for key, info in split.items():
        try:
            parts = [state.pop(part) for part in info["slices"]]
            shape = tuple(info["OriginShape"])
            state[key] = LazyTensor(parts[0].dtype, shape,
                                    lambda parts=parts, shape=shape: np.concatenate([p.read() for p in parts])
                                    .reshape(shape))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CheckpointError(f"{path}: corrupted split tensor '{key}' ({exc})") from None
    return state


def read_pdparams(path: PathLike) -> Dict[str, LazyTensor]:
    """Name -> tensor of a ``.pdparams`` pickle; nothing in the file is executed, large arrays stay on disk."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            obj = _PickleReader(f, path).load()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused"):
            raise CheckpointError(f"{path}: {exc}: a checkpoint may hold only numpy arrays") from None
        raise CheckpointError(f"{path}: truncated or corrupted pickle ({exc})") from None
    except CheckpointError:
        raise
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError,
            struct.error, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupted pickle ({type(exc).__name__}: {exc})") from None
    return _flatten_pickled(obj, path)


class _PickleWriter:
    """Writes a pickle (protocol 4, what ``paddle.save`` writes) of ``{name: ndarray}``, streaming each array.

    The arrays are encoded exactly as numpy pickles them (``numpy.core.multiarray._reconstruct`` then
    ``__setstate__``), a name readable by numpy 1.x and 2.x, so that ``paddle.load`` and plain ``pickle``
    read the file. Bytes are copied straight from the source, never held twice in memory.
    """

    def __init__(self, fd: int):
        self.fd = fd

    def op(self, data: bytes) -> None:
        _write_all(self.fd, memoryview(data))

    @staticmethod
    def text(value: str) -> bytes:
        raw = value.encode("utf-8")
        return (b"\x8c" + struct.pack("<B", len(raw)) if len(raw) < 256 else b"X" + struct.pack("<I", len(raw))) + raw

    @staticmethod
    def integer(value: int) -> bytes:
        if 0 <= value < 256:
            return b"K" + struct.pack("<B", value)
        if -(2**31) <= value < 2**31:
            return b"J" + struct.pack("<i", value)
        raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return b"\x8a" + struct.pack("<B", len(raw)) + raw

    def array(self, tensor: LazyTensor, prepared: Optional[np.ndarray]) -> None:
        dtype = tensor.dtype.newbyteorder("<") if tensor.dtype.byteorder == ">" else tensor.dtype
        _, dtype_args, dtype_state = dtype.__reduce__()
        self.op(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + self.integer(0) + b"\x85"
                + b"C\x01b" + b"\x87R")
        shape = b"(" + b"".join(self.integer(d) for d in tensor.shape) + b"t"
        dtype_op = (b"cnumpy\ndtype\n" + self.text(dtype_args[0]) + b"\x89\x88\x87R"
                    + b"(" + self.integer(dtype_state[0]) + self.text(dtype_state[1]) + b"NNN"
                    + self.integer(dtype_state[5]) + self.integer(dtype_state[6]) + self.integer(dtype_state[7])
                    + b"tb")
        self.op(b"(" + self.integer(1) + shape + dtype_op + b"\x89" + b"\x8e" + struct.pack("<Q", tensor.nbytes))
        tensor.write_to(self.fd, prepared)
        self.op(b"tb")

    def state_dict(self, tensors: Mapping[str, LazyTensor], progress: Optional[Callable[[str], None]]) -> None:
        self.op(b"\x80\x04}")
        for name, (tensor, prepared) in zip(tensors, _prepared_ahead(list(tensors.values()))):
            self.op(b"(" + self.text(name))
            self.array(tensor, prepared)
            self.op(b"u")
            if progress:
                progress(name)
        # paddle.save's table of structured name -> parameter name (ours are the same).
        self.op(b"(" + self.text(_PADDLE_NAME_TABLE) + b"}(")
        self.op(b"".join(self.text(name) + self.text(name) for name in tensors) + b"uu.")


def write_pdparams(path: PathLike, tensors: Mapping[str, TensorLike],
                   progress: Optional[Callable[[str], None]] = None) -> None:
    """Write ``tensors`` as a ``.pdparams`` file that ``paddle.load`` and PaddleNLP read."""
    lazy = {}
    for name, t in tensors.items():
        lazy[name] = as_lazy(t)
        _check_dtype(lazy[name].dtype, f"{path}: tensor '{name}'")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _PickleWriter(fd).state_dict(lazy, progress)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- pytorch_model.bin

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
    _check_dtype(array.dtype, where)
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
        _check_dtype(array.dtype, f"{path}: tensor '{name}'")
        state[name] = (torch.from_numpy(array.view(np.int16)).view(torch.bfloat16) if array.dtype == np.uint16
                       else torch.from_numpy(array))
        if progress:
            progress(name)
    with open(path, "xb") as f:
        torch.save(state, f)


# ---------------------------------------------------------------------------------------------- files and shards

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
        weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
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
