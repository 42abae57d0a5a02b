"""A cache of exports (Paddle programs, ONNX graphs): a checkpoint directory is exported once, not on every start.

``InformationExtractor`` (inference and onnxruntime backends) and ``predict`` on a checkpoint need an export of it.
Each export kind (the standard ``ernie-m export`` program, the UIE program with a float attention bias) is kept in
``<cache>/exports/<kind>-<checkpoint>-<state>/``; ``<cache>`` is the ``cache_dir`` argument, else
``$ERNIE_M_CACHE``, else ``~/.cache/paddle-ernie-m``.

The key is computed from ``os.stat`` of every file the loader and the export read (:func:`checkpoint_files`: every
top-level ``*.json``, ``*.pdparams``, ``*.safetensors`` and ``*.bin``, the tokenizer files, and every shard a
``*.index.json`` names, whatever its extension (``.bin``, ``.pt``, ``.pth``): name, size, mtime, ctime, inode; a
symbolic link's target), its resolved path, the versions of this package and of the export format, a digest of the
code that writes the format and, for a Paddle program, Paddle's version. A content hash would read the whole
checkpoint (1.1 GB for ernie-m-base) on every start, which is what the cache is there to avoid; any rewrite of a file
changes its stat (an atomic save makes a new inode, an in-place one moves mtime and ctime, and ctime cannot be set
back by hand), so the stat key invalidates an entry whenever a file changes. Entries of an earlier state of the same checkpoint
are removed once the new one is written.

An entry is written with :func:`~converters.files.atomic_directory` and its manifest lists the exported
files' sizes and the SHA-256 of each whole file, checked before every load (about 0.5 s per GB); an entry that does
not match it (a file damaged anywhere, even in the middle of the weights), or that Paddle cannot load, is exported
again with a warning. A process loads the export it wrote from its temporary directory before putting it
in place, so two processes starting at once each export once and neither reads a half-written entry; the second
one's entry is dropped. A cache directory that cannot be written falls back to a temporary export, with a warning.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar, Union

from converters import safe_json
from converters.checkpoint import TOKENIZER_FILES  # the tokenizer files an export copies
from converters.files import (UnsafeOutputError, WriteError, atomic_directory, remove_abandoned, remove_output,
                              sha256_file, write_atomic, written_by)

logger = logging.getLogger(__name__)

#: The environment variable naming the cache directory.
CACHE_ENV = "ERNIE_M_CACHE"
#: The cache directory when neither ``cache_dir`` nor :data:`CACHE_ENV` is given (under ``$XDG_CACHE_HOME`` when
#: that is set, as pip and Hugging Face do).
DEFAULT_CACHE = "~/.cache/paddle-ernie-m"
#: The writer named in every entry's marker (only directories with it are replaced or removed).
WRITER = "ernie-m export cache"
MANIFEST = "cache.json"
#: The export inside an entry.
EXPORT_DIR = "export"
#: Files of a checkpoint whose state keys its entries: config, weights, shard indexes (and the shards and
#: tokenizer files of :func:`checkpoint_files`).
KEYED_SUFFIXES = (".json", ".pdparams", ".safetensors", ".bin")

T = TypeVar("T")
PathLike = Union[str, os.PathLike]


def cache_root(cache_dir: Optional[PathLike] = None) -> Path:
    """The cache directory: ``cache_dir``, else ``$ERNIE_M_CACHE``, else :data:`DEFAULT_CACHE`."""
    if cache_dir is None and not os.environ.get(CACHE_ENV) and os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "paddle-ernie-m"
    chosen = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or DEFAULT_CACHE
    return Path(chosen).expanduser()


def checkpoint_files(model_dir: PathLike) -> List[str]:
    """The names (relative to ``model_dir``) of every file loading and exporting ``model_dir`` may read: top-level
    config, weight and index files (:data:`KEYED_SUFFIXES`), the tokenizer files, and every shard that a
    ``*.index.json`` names, whatever its extension. An index that cannot be read adds nothing (the loader refuses
    it)."""
    model_dir = Path(model_dir)
    names = {entry.name for entry in os.scandir(model_dir)
             if entry.is_file() and (entry.name.endswith(KEYED_SUFFIXES) or entry.name in TOKENIZER_FILES)}
    for index in sorted(n for n in names if n.endswith(".index.json")):
        try:
            weight_map = safe_json.loads((model_dir / index).read_text(encoding="utf-8"), index)["weight_map"]
            names.update(shard for shard in weight_map.values() if isinstance(shard, str))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(names)


def checkpoint_state(model_dir: PathLike) -> List[List[Any]]:
    """``[name, size, mtime_ns, ctime_ns, inode]`` of each file of :func:`checkpoint_files` (its target's, for a
    symbolic link; ``[name, None]`` for one that is missing), sorted."""
    state: List[List[Any]] = []
    for name in checkpoint_files(model_dir):
        try:
            info = os.stat(Path(model_dir, name))
        except OSError:
            state.append([name, None])
            continue
        state.append([name, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino])
    return state


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()[:16]


#: The modules whose code decides what an export of each format holds (the loader's among them): an edited source
#: checkout re-exports.
_READING_MODULES = ("converters/checkpoint.py", "converters/tensors.py", "converters/mapping.py")
EXPORTING_MODULES = {
    "paddle": ("paddle_ernie_m/modeling.py", "paddle_ernie_m/engines/export.py",
               "paddle_ernie_m/engines/export_format.py", "paddle_ernie_m/engines/paddle_program.py",
               "paddle_ernie_m/uie/runner.py", *_READING_MODULES),
    "onnx": ("paddle_ernie_m/engines/export.py", "paddle_ernie_m/engines/export_format.py",
             "paddle_ernie_m/engines/onnx_graph.py", "paddle_ernie_m/uie/runner.py", *_READING_MODULES),
}


@functools.lru_cache(maxsize=None)
def _code_digest(format: str) -> str:
    root = Path(__file__).parents[2]  # where paddle_ernie_m and converters are
    return _digest([hashlib.sha256((root / name).read_bytes()).hexdigest() for name in EXPORTING_MODULES[format]])


def _key(model_dir: Path, kind: str, format: str) -> Dict[str, Any]:
    """What the ``kind`` export of ``model_dir`` in ``format`` depends on: the checkpoint's files, the code that
    writes the format and, for a Paddle program, the Paddle that traces it (an ONNX graph is written from numpy,
    whatever framework is installed)."""
    from .. import __version__
    from .export_format import FORMAT_VERSION

    key = {"kind": kind, "format": format, "source": str(model_dir), "state": checkpoint_state(model_dir),
           "package_version": __version__, "export_format": FORMAT_VERSION, "code": _code_digest(format)}
    if format == "paddle":
        import paddle

        key["paddle_version"] = paddle.__version__
    return key


def _entry_prefix(model_dir: Path, kind: str) -> str:
    return f"{kind}-{_digest(str(model_dir))}-"


def entry_path(model_dir: PathLike, kind: str, cache_dir: Optional[PathLike] = None, format: str = "paddle") -> Path:
    """The entry that holds (or would hold) the ``kind`` export (in ``format``) of ``model_dir`` in its current
    state."""
    model_dir = Path(model_dir).resolve()
    key = _key(model_dir, kind, format)
    return cache_root(cache_dir) / "exports" / (_entry_prefix(model_dir, kind) + _digest(key))


def _file_record(path: Path) -> Dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}  # all of it: a damaged byte anywhere shows


def _manifest(export: Path, key: Dict[str, Any]) -> Dict[str, Any]:
    files = {p.relative_to(export).as_posix(): _file_record(p) for p in sorted(export.rglob("*")) if p.is_file()}
    return {"key": key, "files": files}


def _problem(entry: Path, key: Dict[str, Any]) -> Optional[str]:
    """Why ``entry`` cannot be used (its manifest is missing or does not match its files), or None."""
    try:
        manifest = safe_json.loads((entry / MANIFEST).read_text(encoding="utf-8"), MANIFEST)
    except (OSError, ValueError) as exc:
        return f"unreadable {MANIFEST} ({exc})"
    if not isinstance(manifest, dict) or manifest.get("key") != key or not isinstance(manifest.get("files"), dict):
        return f"{MANIFEST} does not describe this checkpoint"
    for name, record in manifest["files"].items():
        path = entry / EXPORT_DIR / name
        try:
            found = _file_record(path)
        except OSError as exc:
            return f"{name}: {exc.strerror or exc}"
        if found != record:
            return f"{name} differs from {MANIFEST} (damaged or changed)"
    return None


def cached_export(
    model_dir: PathLike,
    kind: str,
    export: Callable[[Path], Any],
    load: Callable[[Path], T],
    cache_dir: Optional[PathLike] = None,
    format: str = "paddle",
) -> T:
    """``load(export directory)`` of the ``kind`` export (in ``format``) of ``model_dir``, from the cache when it
    holds a valid one; otherwise ``export(directory)`` writes it (into a directory that does not exist yet), it is
    loaded, and then it is put into the cache (see the module docstring)."""
    from .export_format import ExportError

    model_dir = Path(model_dir).resolve()
    key = _key(model_dir, kind, format)
    exports = cache_root(cache_dir) / "exports"
    entry = exports / (_entry_prefix(model_dir, kind) + _digest(key))
    remove_abandoned(exports)  # the temporary entries of killed processes (of any checkpoint)
    for attempt in range(2):  # a second time when another process put its entry in place while this one looked
        replace = os.path.lexists(entry)
        if replace:
            problem = _problem(entry, key)
            if problem is None:
                try:
                    loaded = load(entry / EXPORT_DIR)
                    logger.debug("%s: using the cached %s export %s", model_dir, kind, entry)
                    return loaded
                except (ExportError, OSError, RuntimeError) as exc:  # RuntimeError: Paddle's C++ loader
                    problem = f"it cannot be loaded ({exc})"
            logger.warning("the cached export %s is unusable (%s); exporting %s again", entry, problem, model_dir)
            if written_by(entry) == WRITER:  # the cache's own entry, damaged: what it holds no longer matches its
                shutil.rmtree(entry, ignore_errors=True)  # marker, so files.remove_output would refuse it
                replace = os.path.lexists(entry)
        logger.info("%s: exporting it (%s, once: kept in %s)", model_dir, kind, exports)
        result: List[T] = []
        try:
            with atomic_directory(entry, WRITER, force=replace) as tmp:
                export(tmp / EXPORT_DIR)
                write_atomic(tmp / MANIFEST, json.dumps(_manifest(tmp / EXPORT_DIR, key), indent=2) + "\n")
                result.append(load(tmp / EXPORT_DIR))  # from here: Paddle holds the program, not the files
        except (OSError, UnsafeOutputError) as exc:  # WriteError, FileExistsError, a parent that is a file...
            if result:  # another process put its entry in place first (FileExistsError, or the rename failed)
                logger.debug("%s: keeping the entry another process wrote (%s)", entry, exc)
                return result[0]
            if isinstance(exc, FileExistsError) and attempt == 0:
                continue  # it appeared before this process began writing
            if isinstance(exc, OSError) and not isinstance(exc, FileExistsError) and not _about(exc, exports.parent):
                raise  # not the cache's problem: reading the checkpoint, exporting, loading
            logger.warning("cannot write the export cache (%s); exporting %s to a temporary directory (point %s "
                           "or cache_dir at a writable directory to keep it)", exc, model_dir, CACHE_ENV)
            with tempfile.TemporaryDirectory(prefix="ernie-m-export-") as scratch:
                export(Path(scratch) / EXPORT_DIR)
                return load(Path(scratch) / EXPORT_DIR)
        _remove_stale(entry)
        return result[0]
    raise AssertionError("unreachable")


def _about(exc: OSError, root: Path) -> bool:
    """Whether ``exc`` concerns a path inside ``root``."""
    name = exc.path if isinstance(exc, WriteError) else exc.filename
    if name is None:
        return False
    path, root = Path(os.fsdecode(name)).absolute(), root.absolute()
    return path == root or root in path.parents or path in root.parents  # e.g. a HOME without a writable .cache


def _remove_stale(entry: Path) -> None:
    """Remove the entries of earlier states of the same checkpoint and kind as ``entry``."""
    prefix = entry.name[:entry.name.rindex("-") + 1]
    for other in entry.parent.glob(prefix + "*"):
        if other != entry and other.is_dir():
            with contextlib.suppress(OSError, UnsafeOutputError):
                remove_output(other, WRITER)
                logger.debug("removed the stale cache entry %s", other)
