"""Local files shared by the commands: JSON lines read with ``path:line`` errors, and every output written safely.

The rules for outputs (docs/safety.md), enforced here for every writer of the project:

* An output never is, contains, or lies inside one of its inputs (symbolic links resolved): :func:`check_outside`.
* Outputs never appear half-written: :func:`atomic_open` writes a temporary file next to the target and renames it
  over the target only when the write succeeded; :func:`atomic_directory` does the same for a directory.
* Every directory the project writes holds a marker, :data:`OUTPUT_MARKER`, naming the writer and listing what it
  wrote there. ``force`` replaces only an empty directory, or one with the same writer's marker that holds nothing
  the marker does not list: :func:`check_replaceable`.
* Outputs are flushed to disk (``fsync``) before they take their final name, and the rename is flushed too.
* A failed write raises :class:`WriteError` (an ``OSError``) naming the output, with nothing left behind.
* Temporary names carry their owner (``.<name>.<pid>@<host>-<random>.tmp``): what a killed writer left behind is
  removed by the next write beside it once that process is gone (:func:`remove_abandoned`).
* ``force`` swaps the new directory and the old one in one step (``renameat2(RENAME_EXCHANGE)``), so the
  destination always holds one of them; where the system cannot, the old one is moved aside first and, if the
  writer is killed before the new one takes its place, put back by the next write (:func:`remove_abandoned`).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, List, Optional, Tuple, Type, Union

from . import safe_json

PathLike = Union[str, os.PathLike]

logger = logging.getLogger(__name__)

#: The file inside every directory the project writes; its JSON names the writer (``{"writer": "ernie-m export"}``).
OUTPUT_MARKER = ".ernie-m-output.json"

# errno values of a failed write that carry no file name (os.write on a full disk, ...).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES,
                           errno.EPERM})


class UnsafeOutputError(ValueError):
    """An output that would overwrite or delete an input, or a directory the writer did not write."""


class LinkOutsideError(ValueError):
    """A source file that is a symbolic link to a file outside its checkpoint directory: a writer would copy the
    target's bytes into its output."""


def check_links_inside(directory: PathLike, names: Iterable[str], follow_symlinks: bool = False) -> None:
    """Raise :class:`LinkOutsideError` when one of the files ``names`` of ``directory`` that a writer copies is a
    symbolic link whose target lies outside ``directory`` (links inside it are fine), unless ``follow_symlinks``
    (``--follow-symlinks``: the user knowingly copies the targets, e.g. of a Hugging Face cache snapshot, whose files
    link to ``../../blobs/``)."""
    if follow_symlinks:
        return
    root = Path(directory).resolve()
    for name in names:
        path = Path(directory) / name
        if not os.path.islink(path):
            continue
        target = path.resolve()
        if root not in target.parents:
            raise LinkOutsideError(f"{path} is a symbolic link to {target}, outside {directory}: refusing to copy "
                                   f"it into the output (`ernie-m convert` and `ernie-m export` copy the target "
                                   f"knowingly with --follow-symlinks; or copy the file into {directory})")


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


#: The longest line :func:`json_lines` and :func:`bounded_lines` read (bytes): a longer one is refused before it
#: is held in memory (a file without line ends, ``/dev/zero``, a 50 MB text on one line).
MAX_LINE_BYTES = 16 * 2**20


def check_readable_file(path: Path, what: str = "file", error: Type[Exception] = ValueError) -> None:
    """Raise unless ``path`` is a regular file or a pipe (``/dev/stdin``, ``<(command)``): ``FileNotFoundError``
    naming ``what`` when it does not exist, ``error`` for a directory or a device (``/dev/zero``)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    if stat.S_ISDIR(mode):
        raise error(f"{what} {path} is a directory, not a file")
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise error(f"{what} {path} is not a regular file or a pipe (a device?)")


def bounded_lines(stream: IO[bytes], where: str, error: Type[Exception] = ValueError,
                  max_bytes: int = MAX_LINE_BYTES) -> Iterator[Tuple[int, bytes]]:
    """``(line number, raw line)`` of a binary stream, each line read with at most ``max_bytes`` in memory; a
    longer line raises ``error("<where>:<line>: line longer than N bytes ...")``."""
    number = 0
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes:
            raise error(f"{where}:{number}: line longer than {max_bytes:,} bytes (the limit of one text; split it "
                        f"into several lines)")
        yield number, raw


def json_lines(
    path: PathLike,
    what: str = "file",
    error: Type[Exception] = ValueError,
    on_invalid: Optional[Callable[[int, str], None]] = None,
    bytes_read: Optional[Callable[[int], None]] = None,
) -> Iterator[Tuple[int, Any]]:
    """``(line number, value)`` for every non-blank line of a JSON lines file (a UTF-8 BOM is ignored), read a
    line at a time (:func:`bounded_lines`), each parsed by :func:`~converters.safe_json.loads`.

    A missing file raises ``FileNotFoundError`` naming ``what``; a directory, a device, a line that is not UTF-8,
    too long or nested too deep raises ``error`` naming the path (and line). A line that is not JSON raises
    ``error("path:line: not valid JSON (...)")``, or, with ``on_invalid``, is handed to
    ``on_invalid(line, message)`` and skipped. ``bytes_read(n)`` is told the size of each line read (progress).
    """
    path = Path(path)
    check_readable_file(path, what, error)
    with open(path, "rb") as f:
        for number, raw in bounded_lines(f, str(path), error):
            if bytes_read is not None:
                bytes_read(len(raw))
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise error(not_utf8_message(path, number, raw, exc)) from None
            if not line.strip():
                continue
            try:
                value = safe_json.loads(line.rstrip("\r\n"), f"{path}:{number}")
            except json.JSONDecodeError as exc:
                message = f"not valid JSON ({exc.msg} at column {exc.pos + 1})"
                if on_invalid is None:
                    raise error(f"{path}:{number}: {message}") from None
                on_invalid(number, message)
                continue
            except ValueError as exc:  # nested too deep, an integer too long
                raise error(str(exc)) from None
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
    ends normally the file is flushed to disk and takes the place of ``path``; when it raises, the file (and any
    missing parent directories this call created) is removed and ``path`` is untouched. The file gets the
    permissions a plain ``open`` would give it."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"is a directory, not a file: {path}")
    with _missing_parents(path) as created:
        with _as_write_error(path, path.absolute().parent if not created else created[-1]):
            for directory in reversed(created):
                directory.mkdir()
            remove_abandoned(path.parent, path.name)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_scratch_prefix(path.name), suffix=".tmp")
        try:
            with _as_write_error(path, Path(tmp)):
                with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
                    yield f
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o666 & ~current_umask())
                os.replace(tmp, path)
            _fsync_directory(path.absolute().parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def _missing_parents(path: Path) -> Iterator[List[Path]]:
    """Yield the missing ancestors of ``path``, nearest first, for the block to create (from the last to the
    first); if the block raises, those it created are removed again."""
    missing = []
    parent = path.absolute().parent
    while not os.path.lexists(parent):
        missing.append(parent)
        parent = parent.parent
    try:
        yield missing
    except BaseException:
        for directory in missing:
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _fsync_directory(directory: Path) -> None:
    """Flush a rename inside ``directory`` to disk (where the system allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    """Flush every file and directory below ``directory`` (and itself) to disk; symbolic links are not followed."""
    for root, dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.access(path, os.R_OK):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_directory(Path(root))


def write_atomic(path: PathLike, data: Union[str, bytes]) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` through :func:`atomic_open`; return ``path``."""
    with atomic_open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return Path(path)


def current_umask() -> int:
    """The process's file-creation mask: read from ``/proc/self/status`` where the system has it (Linux), else
    read once by setting and restoring it (not thread-safe, so only once, at the first call)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0)
        os.umask(_UMASK)
    return _UMASK


_UMASK: Optional[int] = None


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
    """The writer named by the :data:`OUTPUT_MARKER` of ``directory``; ``None`` without a readable marker (a
    symbolic link, as ``directory`` or as the marker, is not followed and has none)."""
    marker = _read_marker(Path(directory))
    writer = marker.get("writer") if marker is not None else None
    return writer if isinstance(writer, str) else None


def _read_marker(directory: Path) -> Optional[dict]:
    if os.path.islink(directory):
        return None
    try:
        fd = os.open(directory / OUTPUT_MARKER, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


#: A manifest entry for a directory (its contents are listed as entries of their own).
_DIR = "dir"
#: A manifest entry for something the writer owns whole: a file it appends to, or a directory with a marker of its
#: own (the outputs a writer adds to a directory it shares with others, see :func:`prepare_output_dir`).
_OWNED = "owned"


#: Files up to this size are hashed whole (configs, vocabularies, code: what a user edits by hand); of larger ones
#: (weights) the first and the last :data:`_HASHED_SIZE` bytes are hashed.
_HASHED_SIZE = 1 << 20


def file_digest(path: PathLike, size: int) -> str:
    """SHA-256 of the file ``path`` of ``size`` bytes: of all of it up to :data:`_HASHED_SIZE`, else of its first
    and last :data:`_HASHED_SIZE` bytes (prefixed ``ends:``). Other weights of the same shapes differ there (the end
    of a weights file is tensor data) and reading 2 MiB costs nothing next to the file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= _HASHED_SIZE:
            digest.update(f.read())
            return digest.hexdigest()
        digest.update(f.read(_HASHED_SIZE))
        f.seek(size - _HASHED_SIZE)
        digest.update(f.read(_HASHED_SIZE))
    return "ends:" + digest.hexdigest()


def sha256_file(path: PathLike) -> str:
    """SHA-256 of all of the file ``path`` (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_HASHED_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path, st: os.stat_result) -> Any:
    """What the manifest records of ``path`` (``st``: its ``lstat``): ``"dir"``, or the kind, size and
    :func:`file_digest` of a file. Added, removed, replaced and resized entries and edits are seen (of a large file,
    edits of its first and last MiB), and the marker, like the output, is the same for the same input (no
    timestamps)."""
    if stat.S_ISDIR(st.st_mode):
        return _DIR
    if not stat.S_ISREG(st.st_mode):
        return ["other", st.st_size]
    return ["file", st.st_size, file_digest(path, st.st_size)]


def manifest(directory: PathLike) -> dict:
    """``{relative path: entry}`` for everything below ``directory`` except its marker; symbolic links are listed,
    not followed."""
    directory = Path(directory)
    entries = {}
    for root, dirs, names in os.walk(directory):
        for name in sorted(dirs + names):
            path = Path(root, name)
            relative = path.relative_to(directory).as_posix()
            if relative != OUTPUT_MARKER:
                entries[relative] = _entry(path, os.lstat(path))
    return entries


def mark_output(directory: PathLike, writer: str, entries: Optional[dict] = None) -> Path:
    """Write the :data:`OUTPUT_MARKER` of ``directory``, naming ``writer`` (e.g. ``"ernie-m convert"``) and listing
    ``entries`` (by default, the :func:`manifest` of what ``directory`` holds now)."""
    directory = Path(directory)
    entries = manifest(directory) if entries is None else entries
    return write_atomic(directory / OUTPUT_MARKER, json.dumps({"writer": writer, "entries": entries}) + "\n")


def record_output(directory: PathLike, writer: str, name: str) -> None:
    """List ``name`` (a file or marked directory ``writer`` adds to ``directory``) in the marker of ``directory``
    as ``writer``'s own, before writing it. Nothing happens where the marker names another writer."""
    directory = Path(directory)
    marker = _read_marker(directory)
    entries = marker.get("entries") if marker is not None and marker.get("writer") == writer else None
    if isinstance(entries, dict) and entries.get(name) != _OWNED:
        mark_output(directory, writer, {**entries, name: _OWNED})


def owns(directory: PathLike, writer: str, name: str) -> bool:
    """Whether the marker of ``directory`` lists ``name`` as an output ``writer`` added (:func:`record_output`)."""
    marker = _read_marker(Path(directory))
    entries = marker.get("entries") if marker is not None and marker.get("writer") == writer else None
    return isinstance(entries, dict) and entries.get(name) == _OWNED


def _foreign_entry(directory: Path, writer: str, entries: dict) -> Optional[str]:
    """The first path below ``directory`` that its manifest ``entries`` does not list as it is now (added,
    changed, or a symbolic link in place of a directory), else ``None``. A directory listed as owned must itself
    be replaceable by ``writer``."""
    for root, dirs, names in os.walk(directory):
        for name in sorted(dirs + names):
            path = Path(root, name)
            relative = path.relative_to(directory).as_posix()
            if relative == OUTPUT_MARKER:
                continue
            listed, st = entries.get(relative), os.lstat(path)
            if listed == _OWNED and stat.S_ISDIR(st.st_mode):
                check_replaceable(path, writer, force=True)
                dirs.remove(name)
            elif listed == _OWNED and stat.S_ISREG(st.st_mode):
                continue
            elif listed != _entry(path, st):
                return relative
    return None


def check_replaceable(path: PathLike, writer: str, force: bool) -> None:
    """Raise unless ``writer`` may create or replace the directory ``path``: it must not exist, or ``force`` is
    set and it is an empty directory or one whose marker names ``writer`` and lists everything it holds, unchanged
    (``FileExistsError`` without ``force``, :class:`UnsafeOutputError` for anything else). A marker of an older
    version, which lists nothing, is refused: what the user added to such a directory cannot be told apart."""
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
    if not any(path.iterdir()):
        return
    owner = written_by(path)
    if owner == writer:
        entries = (_read_marker(path) or {}).get("entries")
        if not isinstance(entries, dict):
            found = "this one has a marker of an older version, which does not list its files"
        else:
            foreign = _foreign_entry(path, writer, entries)
            if foreign is None:
                return
            found = f"this one holds {foreign}, which {writer} did not write (or which changed since)"
    else:
        found = f"this one was written by {owner}" if owner else f"this one is not empty and has no {OUTPUT_MARKER}"
    raise UnsafeOutputError(f"{writer} replaces only a directory it wrote (or an empty one), {found}; nothing was "
                            f"deleted: remove it yourself or choose another output: {path}")


def remove_output(path: PathLike, writer: str) -> None:
    """Delete the directory ``path`` after :func:`check_replaceable` (``force``) allowed it."""
    check_replaceable(path, writer, force=True)
    with _as_write_error(path, Path(path)):
        shutil.rmtree(path)


def _check_shareable(directory: Path, writer: str) -> Optional[str]:
    """The writer of ``directory``'s marker; raise :class:`UnsafeOutputError` when it is not ``writer`` (a writer adds
    files only to a directory of its own or an unmarked one)."""
    owner = written_by(directory)
    if owner not in (None, writer):
        raise UnsafeOutputError(f"{directory} is the output of {owner}; {writer} adds files only to a directory of "
                                f"its own or an unmarked one: choose another")
    return owner


def prepare_output_dir(directory: PathLike, writer: str, inputs: Iterable[Optional[PathLike]] = ()) -> Path:
    """Create ``directory`` (with parents) for outputs that ``writer`` adds to it, after :func:`check_outside`, and
    prove it writable. Unless its marker already names ``writer``, it gets one that lists nothing yet: the writer
    lists there each output it adds (:func:`record_output`), and later deletes only those. A directory marked by
    another writer is refused (:class:`UnsafeOutputError`); one that cannot be written raises :class:`WriteError`."""
    directory = Path(directory)
    check_outside(directory, inputs)
    owner = _check_shareable(directory, writer)
    created = not os.path.lexists(directory)
    try:
        with _as_write_error(directory, directory):
            if directory.exists() and not directory.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
            directory.mkdir(parents=True, exist_ok=True)
            if owner is None:
                mark_output(directory, writer, {})
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
    The new directory holds the :data:`OUTPUT_MARKER` of ``writer``, listing what the block wrote (written when the
    block ends); the old ``dst`` is replaced only once the new one is complete and flushed to disk. Missing parents
    are created, and removed again on error. A failed write raises :class:`WriteError` naming ``dst``.
    """
    dst = Path(dst)
    check_outside(dst, inputs)
    if dst.absolute().parent.is_dir():
        remove_abandoned(dst.absolute().parent, dst.name)  # first: it may put back an earlier output of dst
    check_replaceable(dst, writer, force)
    with _missing_parents(dst) as created:
        with _as_write_error(dst, dst.absolute().parent):
            for directory in reversed(created):
                directory.mkdir()
            tmp = Path(tempfile.mkdtemp(prefix=_scratch_prefix(dst.name), suffix=".tmp", dir=dst.absolute().parent))
        try:
            with _as_write_error(dst, tmp):
                os.chmod(tmp, 0o777 & ~current_umask())
                mark_output(tmp, writer, {})
                yield tmp
                mark_output(tmp, writer)
                _fsync_tree(tmp)
            check_replaceable(dst, writer, force)  # again: something may have appeared there meanwhile
            with _as_write_error(dst, tmp.parent):
                if os.path.lexists(dst):
                    _swap(tmp, dst)
                else:
                    os.replace(tmp, dst)
                _fsync_directory(tmp.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _swap(new: Path, dst: Path) -> None:
    """Put the directory ``new`` in the place of the existing ``dst``, then delete the old one. In one step where
    the system exchanges two names atomically (:func:`_exchange`); otherwise by two renames, the old ``dst`` kept
    in a ``.old`` directory in between (put back if the second rename fails, or by :func:`remove_abandoned` if the
    process is killed between them)."""
    if _exchange(new, dst):
        shutil.rmtree(new, ignore_errors=True)  # now the old output
        return
    old = Path(tempfile.mkdtemp(prefix=_scratch_prefix(dst.name), suffix=".old", dir=new.parent))
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
            remove_abandoned(directory, _SHARED_SCRATCH)
            scratch.append(Path(tempfile.mkdtemp(prefix=_scratch_prefix(_SHARED_SCRATCH), suffix=".tmp",
                                                 dir=directory)))
            tmp = scratch[0]
            yield tmp
            scratch.append(Path(tempfile.mkdtemp(prefix=_scratch_prefix(_SHARED_SCRATCH), suffix=".old",
                                                 dir=directory)))
            _move_all(sorted(tmp.iterdir()), directory, scratch[-1])
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)


def check_owned_files(directory: PathLike, writer: str, names: Iterable[str], force: bool,
                      inputs: Iterable[Optional[PathLike]] = ()) -> list:
    """Raise unless ``writer`` may write the files ``names`` into ``directory`` (:func:`owned_files`): none is,
    contains or lies inside one of ``inputs``; ``directory`` is not another writer's; each name does not exist, or
    (with ``force``) is a regular file listed as ``writer``'s own (``FileExistsError`` without ``force``,
    :class:`UnsafeOutputError` for a file of someone else). Returns the names that exist."""
    directory = Path(directory)
    for name in names:
        check_outside(directory / name, inputs)
    _check_shareable(directory, writer)
    existing = [name for name in names if os.path.lexists(directory / name)]
    if existing and not force:
        raise FileExistsError(f"{directory}: {', '.join(existing)} already exist (use --force to replace them)")
    for name in existing:
        path = directory / name
        if path.is_symlink() or not path.is_file() or not owns(directory, writer, name):
            raise UnsafeOutputError(f"{writer} replaces only files it wrote, and {path} is not one of them; nothing "
                                    f"was changed: remove it yourself or choose another output")
    return existing


@contextlib.contextmanager
def owned_files(directory: PathLike, writer: str, names: Iterable[str], force: bool = False,
                inputs: Iterable[Optional[PathLike]] = ()) -> Iterator[Path]:
    """:func:`atomic_files` for the files ``names`` that ``writer`` adds to ``directory`` (its other files are
    kept), after :func:`check_owned_files`; they are listed in the marker of ``directory`` as ``writer``'s own.
    Files of ``names`` that the block did not write (left from an earlier run) are removed once the new ones are
    in place."""
    directory, names = Path(directory), list(names)
    existing = check_owned_files(directory, writer, names, force, inputs)
    marker = _read_marker(directory) if written_by(directory) == writer else None
    entries = marker.get("entries") if marker is not None else None
    entries = dict(entries) if isinstance(entries, dict) else {}
    with atomic_files(directory) as tmp:
        yield tmp
        written = [path.name for path in tmp.iterdir()]
        mark_output(tmp, writer, {**entries, **{name: _OWNED for name in written}})
    for name in existing:
        if name not in written:
            with _as_write_error(directory / name, directory / name):
                os.unlink(directory / name)


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


# ------------------------------------------------------------------------------------------- crash hygiene
#: This machine, in temporary names: a process id is only looked up on the machine that wrote it (a directory on a
#: network file system may be shared).
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:8]
#: The name in the temporary directories of :func:`atomic_files` (which writes several files of a directory).
_SHARED_SCRATCH = "ernie-m"
#: ``.<name>.<pid>@<host>-<8 random characters>.tmp`` (or ``.old``: the previous output during a replace).
_SCRATCH = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[0-9a-f]{8})-[a-z0-9_]{8}\.(?P<kind>tmp|old)$")


def _scratch_prefix(name: str) -> str:
    """The start of a temporary name for the output ``name`` of this process (``tempfile`` adds the rest)."""
    return f".{name}.{os.getpid()}@{_HOST}-"


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, another user's
        return False
    return False


def remove_abandoned(directory: PathLike, name: Optional[str] = None) -> List[Path]:
    """Remove the temporary files and directories in ``directory`` (of the output ``name``, or of any output) that a
    writer of this project left when it was killed: named by their owner (:func:`_scratch_prefix`), a process of
    this machine that no longer runs. Before that, a ``.old`` directory holding the previous output of a destination
    that is missing (a writer killed between the two renames of a replace) is put back in its place. Returns what
    was removed; what cannot be removed is left (and logged)."""
    removed: List[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in sorted(entries, key=lambda e: not e.name.endswith(".old")):  # put back before removing
        match = _SCRATCH.match(entry.name)
        if match is None or (name is not None and match["name"] != name) or match["host"] != _HOST:
            continue
        if not _process_gone(int(match["pid"])):
            continue
        path = Path(entry.path)
        destination, previous = path.parent / match["name"], path / "x"
        try:
            if match["kind"] == "old" and os.path.lexists(previous) and not os.path.lexists(destination):
                os.replace(previous, destination)
                logger.warning("%s: put back the previous output, which a replace killed midway left in %s",
                               destination, path.name)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            logger.warning("cannot remove %s, left by a killed writer (%s)", path, describe_os_error(exc))
            continue
        logger.debug("removed %s, left by process %s", path, match["pid"])
        removed.append(path)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where the
    system or file system cannot (the caller then renames twice)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


_RENAMEAT2: List[Any] = []


def _renameat2() -> Optional[Any]:
    """libc's ``renameat2`` (glibc 2.28+), or None."""
    if not _RENAMEAT2:
        function = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError, AttributeError):
                function = ctypes.CDLL(None, use_errno=True).renameat2
                function.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
                function.restype = ctypes.c_int
        _RENAMEAT2.append(function)
    return _RENAMEAT2[0]
