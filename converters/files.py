"""Local files shared by the commands: JSON lines read with ``path:line`` errors, and every output written safely.

The rules for outputs (docs/safety.md), enforced here for every writer of the project:

* An output never is, contains, or lies inside one of its inputs (symbolic links resolved): :func:`check_outside`.
* Outputs never appear half-written: :func:`atomic_open` writes a temporary file next to the target and renames it
  over the target only when the write succeeded; :func:`atomic_directory` does the same for a directory.
* Every directory the project writes holds a marker, :data:`OUTPUT_MARKER`, naming the writer. ``force`` replaces
  only a directory with the same writer's marker, or an empty one: :func:`check_replaceable`.
* A failed write raises :class:`WriteError` (an ``OSError``) naming the output, with nothing left behind.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Optional, Tuple, Type, Union

PathLike = Union[str, os.PathLike]

#: The file inside every directory the project writes; its JSON names the writer (``{"writer": "ernie-m export"}``).
OUTPUT_MARKER = ".ernie-m-output.json"

# errno values of a failed write that carry no file name (os.write on a full disk, ...).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES,
                           errno.EPERM})


class UnsafeOutputError(ValueError):
    """An output that would overwrite or delete an input, or a directory the writer did not write."""


class WriteError(OSError):
    """Writing an output failed (permissions, full disk, read-only file system, ...); nothing was left behind.
    ``str()`` is one line naming the output."""

    def __init__(self, path: PathLike, cause: OSError):
        reason = cause.strerror or str(cause)
        super().__init__(f"cannot write ({reason}): {path}")
        self.errno, self.strerror, self.path = cause.errno, reason, Path(path)

    def __str__(self) -> str:
        return self.args[0]


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: ``"<what>: <path>"`` (``"Permission denied: /x"``), or its own message."""
    if isinstance(exc, WriteError) or exc.strerror is None:
        return str(exc)
    if exc.filename is None:
        return exc.strerror
    paths = f"{os.fsdecode(exc.filename)}" + (f" -> {os.fsdecode(exc.filename2)}" if exc.filename2 else "")
    return f"{exc.strerror}: {paths}"


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
    if path.is_dir():
        raise IsADirectoryError(f"is a directory, not a file: {path}")
    with _as_write_error(path, path.parent):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with _as_write_error(path, Path(tmp)):
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


# ------------------------------------------------------------------------------------------------ safe outputs
def check_outside(output: PathLike, inputs: Iterable[Optional[PathLike]], nested: bool = True) -> None:
    """Raise :class:`UnsafeOutputError` when ``output`` is, contains, or lies inside one of ``inputs`` (files or
    directories, symbolic links resolved; ``None`` entries are skipped). With ``nested=False`` only an ``output``
    that is an input is refused (for writers that add files to a directory and delete nothing)."""
    target = Path(output).resolve()
    for source in inputs:
        if source is None:
            continue
        resolved = Path(source).resolve()
        if target == resolved:
            same = "" if Path(output).absolute() == Path(source).absolute() else f" (both are {resolved})"
            raise UnsafeOutputError(f"the output is the input {source}{same}; choose another output: {output}")
        if not nested:
            continue
        if resolved in target.parents:
            raise UnsafeOutputError(f"the output lies inside the input {source}; choose an output outside it: "
                                    f"{output}")
        if target in resolved.parents:
            raise UnsafeOutputError(f"the output contains the input {source}; choose an output that does not: "
                                    f"{output}")


def written_by(directory: PathLike) -> Optional[str]:
    """The writer named by the :data:`OUTPUT_MARKER` of ``directory``; ``None`` without a readable marker."""
    try:
        marker = json.loads((Path(directory) / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    writer = marker.get("writer") if isinstance(marker, dict) else None
    return writer if isinstance(writer, str) else None


def mark_output(directory: PathLike, writer: str) -> Path:
    """Write the :data:`OUTPUT_MARKER` of ``directory``, naming ``writer`` (e.g. ``"ernie-m convert"``)."""
    return write_atomic(Path(directory) / OUTPUT_MARKER, json.dumps({"writer": writer}) + "\n")


def check_replaceable(path: PathLike, writer: str, force: bool) -> None:
    """Raise unless ``writer`` may create or replace the directory ``path``: it must not exist, or ``force`` is
    set and it is an empty directory or one whose marker names ``writer`` (``FileExistsError`` without ``force``,
    :class:`UnsafeOutputError` for anything else)."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if not force:
        raise FileExistsError(f"{path} already exists (use --force to replace it)")
    if path.is_symlink():
        raise UnsafeOutputError(f"{writer} does not replace a symbolic link; remove it or choose another output: "
                                f"{path}")
    if not path.is_dir():
        raise UnsafeOutputError(f"{writer} replaces only a directory it wrote, not a file; remove it or choose "
                                f"another output: {path}")
    owner = written_by(path)
    if owner == writer or not any(path.iterdir()):
        return
    found = f"this one was written by {owner}" if owner else f"this one is not empty and has no {OUTPUT_MARKER}"
    raise UnsafeOutputError(f"{writer} replaces only a directory it wrote (or an empty one), {found}; nothing was "
                            f"deleted: remove it yourself or choose another output: {path}")


def remove_output(path: PathLike, writer: str) -> None:
    """Delete the directory ``path`` after :func:`check_replaceable` (``force``) allowed it."""
    check_replaceable(path, writer, force=True)
    with _as_write_error(path, Path(path)):
        shutil.rmtree(path)


def prepare_output_dir(directory: PathLike, writer: str, inputs: Iterable[Optional[PathLike]] = ()) -> Path:
    """Create ``directory`` (with parents) for outputs that ``writer`` adds to it, after :func:`check_outside`;
    mark it when it is new or empty, and prove it writable. Raises :class:`WriteError` when it is not."""
    directory = Path(directory)
    check_outside(directory, inputs)
    created = not os.path.lexists(directory)
    try:
        with _as_write_error(directory, directory):
            if directory.exists() and not directory.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
            directory.mkdir(parents=True, exist_ok=True)
            if not any(directory.iterdir()):
                mark_output(directory, writer)
            fd, probe = tempfile.mkstemp(dir=directory, prefix=".write-test.")
            os.close(fd)
            os.unlink(probe)
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory


@contextlib.contextmanager
def atomic_directory(dst: PathLike, writer: str, force: bool = False,
                     inputs: Iterable[Optional[PathLike]] = ()) -> Iterator[Path]:
    """Yield a fresh temporary directory next to ``dst``; on success it becomes ``dst``, on error it vanishes.

    Before any work: :func:`check_outside` ``inputs`` and :func:`check_replaceable` (``writer``, ``force``).
    The new directory holds the :data:`OUTPUT_MARKER` of ``writer``; the old ``dst`` is replaced only once the new
    one is complete. Missing parents are created, and removed again on error. A failed write raises
    :class:`WriteError` naming ``dst``.
    """
    dst = Path(dst)
    check_outside(dst, inputs)
    check_replaceable(dst, writer, force)
    created = []
    parent = dst.absolute().parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    try:
        with _as_write_error(dst, dst.absolute().parent):
            for directory in reversed(created):
                directory.mkdir()
            tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.absolute().parent))
        try:
            with _as_write_error(dst, tmp):
                os.chmod(tmp, 0o777 & ~current_umask())
                mark_output(tmp, writer)
                yield tmp
            check_replaceable(dst, writer, force)  # again: something may have appeared there meanwhile
            with _as_write_error(dst, tmp.parent):
                if os.path.lexists(dst):
                    _swap(tmp, dst)
                else:
                    os.replace(tmp, dst)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except BaseException:
        for directory in created:
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _swap(new: Path, dst: Path) -> None:
    """Put the directory ``new`` in the place of the existing ``dst``, then delete the old one; if the second
    rename fails, the old ``dst`` is put back."""
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=new.parent))
    try:
        os.replace(dst, old / "x")
        try:
            os.replace(new, dst)
        except BaseException:
            os.replace(old / "x", dst)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _as_write_error(output: PathLike, scratch: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` of writing into ``scratch`` (a temporary file or directory of ``output``, or its
    parent) as a :class:`WriteError` naming ``output``. Errors about other files (an input) pass unchanged."""
    try:
        yield
    except WriteError as exc:
        if not _within(exc.path, scratch) or exc.path == Path(output):
            raise
        raise WriteError(output, exc) from exc
    except OSError as exc:
        name = exc.filename
        ours = (name is None and exc.errno in _WRITE_ERRNOS) or (
            name is not None and _within(Path(os.fsdecode(name)), scratch))
        if not ours:
            raise
        raise WriteError(output, exc) from exc


def _within(path: Path, directory: Path) -> bool:
    path, directory = path.absolute(), directory.absolute()
    return path == directory or directory in path.parents


@contextlib.contextmanager
def atomic_files(directory: PathLike) -> Iterator[Path]:
    """Yield a temporary directory inside ``directory`` (created with its parents if missing); the files written
    there then replace their namesakes in ``directory`` together: if one move fails, the earlier ones are undone.
    Other files of ``directory`` are kept. On error the temporary files, and a ``directory`` this call created,
    vanish. A failed write raises :class:`WriteError` naming ``directory``."""
    directory = Path(directory)
    created = not os.path.lexists(directory)
    scratch: list = []
    try:
        with _as_write_error(directory, directory):
            directory.mkdir(parents=True, exist_ok=True)
            scratch.append(Path(tempfile.mkdtemp(prefix=".ernie-m-", suffix=".tmp", dir=directory)))
            tmp = scratch[0]
            yield tmp
            scratch.append(Path(tempfile.mkdtemp(prefix=".ernie-m-", suffix=".old", dir=directory)))
            _move_all(sorted(tmp.iterdir()), directory, scratch[-1])
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)


def _move_all(files: Iterable[Path], directory: Path, backups: Path) -> None:
    """Move ``files`` into ``directory``, keeping replaced files in ``backups`` until all moved; on error put
    every replaced file back and remove the moved ones."""
    moved: list = []
    try:
        for path in files:
            target = directory / path.name
            backup = backups / path.name if os.path.lexists(target) else None
            if backup is not None:
                os.replace(target, backup)
            moved.append((target, backup))
            os.replace(path, target)
    except BaseException:
        for target, backup in reversed(moved):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, target)
                elif os.path.lexists(target):
                    os.unlink(target)
        raise
