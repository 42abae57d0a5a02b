"""``.pdparams`` files (pickles written by ``paddle.save``): read opcode by opcode by a reader that rebuilds numpy
arrays and plain containers without importing or calling anything, refuses every other global, and leaves large
arrays on disk until they are needed; written by a small streaming pickle writer."""
from __future__ import annotations

import math
import os
import pickle
import pickletools
import struct
from typing import Callable, Dict, List, Mapping, Optional

import numpy as np

from ..errors import CheckpointError
from .lazy import LazyTensor, PathLike, TensorLike, as_lazy, check_dtype, prepared_ahead, write_all

# Paddle's bookkeeping entries in a pickled state dict (not tensors).
_PADDLE_NAME_TABLE = "StructuredToParameterName@@"
_PADDLE_SPLIT_TABLE = "UnpackBigParamInfor@@"  # large tensors split by protocol-2/3 paddle.save


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
            check_dtype(args[0], f"{self.path}: scalar")
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
        check_dtype(dtype, f"{self.path}: array")
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
        write_all(self.fd, memoryview(data))

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
        for name, (tensor, prepared) in zip(tensors, prepared_ahead(list(tensors.values()))):
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
        check_dtype(lazy[name].dtype, f"{path}: tensor '{name}'")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        _PickleWriter(fd).state_dict(lazy, progress)
    finally:
        os.close(fd)
