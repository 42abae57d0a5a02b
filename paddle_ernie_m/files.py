"""Local text files shared by the commands: JSON lines read with ``path:line`` errors, and atomic writes.

Outputs never appear half-written: :func:`atomic_open` writes a temporary file next to the target and renames it
over the target only when the write succeeded (directories: :func:`converters.formats.atomic_directory`).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Optional, Tuple, Type, Union

PathLike = Union[str, os.PathLike]


def json_lines(
    path: PathLike,
    what: str = "file",
    error: Type[Exception] = ValueError,
    on_invalid: Optional[Callable[[int, str], None]] = None,
) -> Iterator[Tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of a JSON lines file (a UTF-8 BOM is ignored).

    A missing file raises ``FileNotFoundError`` naming ``what``; a directory, or a line that is not UTF-8,
    raises ``error`` naming the path (and line). A line that is not JSON raises
    ``error("path:line: not valid JSON (...)")``, or, with ``on_invalid``, is handed to
    ``on_invalid(line, message)`` and skipped.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a directory, not a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise error(not_utf8_message(path, number, raw, exc)) from None
            if not line.strip():
                continue
            try:
                value = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                message = f"not valid JSON ({exc.msg} at column {exc.pos + 1})"
                if on_invalid is None:
                    raise error(f"{path}:{number}: {message}") from None
                on_invalid(number, message)
                continue
            yield number, value


def utf8_problem(path: PathLike) -> str:
    """``"path:line: not UTF-8 text (...)"`` for the first line of ``path`` that is not UTF-8 (for readers that
    decode in blocks, whose ``UnicodeDecodeError`` knows neither the file nor the line)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                return not_utf8_message(path, number, raw, exc)
    return f"{path}: not UTF-8 text"


def not_utf8_message(path: PathLike, number: int, raw: bytes, exc: UnicodeDecodeError) -> str:
    """The error message for line ``number`` (bytes ``raw``) of ``path`` (or ``"stdin"``) that ``exc`` refused."""
    return f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the line)"


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing (``"w"``: UTF-8 text, ``"wb"``: bytes). When the block
    ends normally the file takes the place of ``path``; when it raises, the file is removed and ``path`` is
    untouched. The file gets the permissions a plain ``open`` would give it."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            yield f
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: PathLike, data: Union[str, bytes]) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` through :func:`atomic_open`; return ``path``."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return Path(path)


def current_umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
