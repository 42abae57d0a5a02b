"""Process-wide runtime settings: CPU threads, MKL's code path on AMD CPUs, and Paddle's native log noise.

Nothing here imports Paddle at module level: :func:`select_mkl_avx2_path` must run before Paddle's first BLAS call.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from typing import FrozenSet, Iterator, MutableMapping, Optional, Tuple

logger = logging.getLogger(__name__)
_threads: Optional[int] = None

#: MKL 2019 (``libmklml_intel.so`` in Paddle's CPU wheels, per ``MKL_VERBOSE=1``) runs its generic SSE kernels on
#: CPUs that are not Intel's unless this variable says otherwise. It is process-wide: another MKL in the process
#: may follow it too (torch 2.13's did: 54 -> 66 GFLOP/s on the same product).
MKL_CPU_TYPE_VARIABLE = "MKL_DEBUG_CPU_TYPE"
MKL_CPU_TYPE_AVX2 = "5"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_device(device: Optional[str], gpus: int, no_gpu: str, prefer_gpu: bool = True) -> str:
    """``"cpu"`` or ``"gpu:N"`` for ``device`` spelled ``"cpu"``, ``"gpu"``, ``"gpu:N"`` (or ``"cuda[:N]"``);
    None: the first GPU when the engine sees one and ``prefer_gpu``, else the CPU. ``gpus``: how many GPUs the
    engine sees (``sys.maxsize``: some, count unknown); ``no_gpu``: why it sees none, for the error."""
    if device is None:
        return "gpu:0" if gpus and prefer_gpu else "cpu"
    kind, _, index = str(device).partition(":")
    if kind == "cpu" and not index:
        return "cpu"
    if kind in ("gpu", "cuda") and (not index or index.isdigit()):
        if not gpus:
            raise ValueError(f"device {device!r}: {no_gpu}")
        if int(index or 0) >= gpus:
            raise ValueError(f"device {device!r}: only {gpus} GPU(s) visible")
        return f"gpu:{int(index or 0)}"
    raise ValueError(f"device must be 'cpu', 'gpu' or 'gpu:N', got {device!r}")


def cpu_info(path: str = "/proc/cpuinfo") -> Tuple[str, FrozenSet[str]]:
    """``(vendor id, feature flags)`` of the first CPU in ``/proc/cpuinfo``; ``("", frozenset())`` where there is
    no such file."""
    vendor, flags = "", frozenset()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags":
                    return vendor, frozenset(value.split())
    except OSError:
        pass
    return vendor, flags


def select_mkl_avx2_path(environ: Optional[MutableMapping[str, str]] = None,
                         info: Optional[Tuple[str, FrozenSet[str]]] = None) -> bool:
    """On AMD CPUs with AVX2 and FMA, set ``MKL_DEBUG_CPU_TYPE=5`` (unless the user set it) so that Paddle's MKL
    runs its AVX2 kernels: its float32 GEMM is then 2.7x faster on one core of an AMD EPYC (measured: 20 -> 54
    GFLOP/s), and dygraph models and training with it. MKL reads the variable at its first call, so this runs
    when ``paddle_ernie_m`` is imported. Returns whether the variable was set."""
    environ = os.environ if environ is None else environ
    vendor, flags = cpu_info() if info is None else info
    if MKL_CPU_TYPE_VARIABLE in environ or vendor != "AuthenticAMD" or not {"avx2", "fma"} <= flags:
        return False
    environ[MKL_CPU_TYPE_VARIABLE] = MKL_CPU_TYPE_AVX2
    logger.debug("AMD CPU with AVX2: %s=%s for Paddle's MKL", MKL_CPU_TYPE_VARIABLE, MKL_CPU_TYPE_AVX2)
    return True


def configure_cpu_threads(threads: Optional[int] = None) -> int:
    """Let Paddle's CPU kernels use ``threads`` threads; by default every core, shared among the local
    processes started by ``paddle.distributed.launch``. Paddle's dygraph otherwise runs one thread.

    An explicit ``OMP_NUM_THREADS`` wins over the default (as set before Paddle was imported: Paddle sets it to
    1 when it is unset). Returns the number of threads set.
    """
    import paddle

    global _threads
    if threads is None:
        if _threads is not None:
            return _threads
        from . import _USER_OMP_NUM_THREADS as requested

        if (requested or "").isdigit():
            threads = int(requested)
        else:
            local_processes = int(os.environ.get("PADDLE_LOCAL_SIZE", "1") or 1)
            threads = max(1, available_cores() // max(1, local_processes))
    if threads < 1:
        raise ValueError(f"threads must be positive, got {threads}")
    paddle.base.core.set_num_threads(threads)
    _threads = threads
    logger.debug("Paddle CPU threads: %d", threads)
    return threads


@contextlib.contextmanager
def native_stderr_without(fragment: str) -> Iterator[None]:
    """Drop the lines containing ``fragment`` that native code (Paddle's C++ logging) writes to file descriptor 2
    inside the block; every other line is passed on as it comes. Python's ``sys.stderr`` is flushed first, so
    output keeps its order. Where descriptor 2 cannot be redirected, nothing is filtered."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    read_end, write_end = os.pipe()
    needle = fragment.encode()

    def write(data: bytes) -> None:
        with contextlib.suppress(OSError):  # keep reading whatever happens, or the writer would block
            os.write(saved, data)

    def forward() -> None:
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if needle not in line:
                    write(line + b"\n")
        if pending and needle not in pending:
            write(pending)

    thread = threading.Thread(target=forward, name="stderr-filter", daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's write end: the thread reads to its end and stops
        thread.join(timeout=10)
        if not thread.is_alive():  # else a child process still holds the write end: let the thread forward it
            os.close(read_end)
            os.close(saved)
