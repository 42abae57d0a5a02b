"""Process-wide runtime settings: CPU threads."""
from __future__ import annotations

import logging
import os
from typing import Optional

import paddle

logger = logging.getLogger(__name__)
_threads: Optional[int] = None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure_cpu_threads(threads: Optional[int] = None) -> int:
    """Let Paddle's CPU kernels use ``threads`` threads; by default every core, shared among the local
    processes started by ``paddle.distributed.launch``. Paddle's dygraph otherwise runs one thread.

    An explicit ``OMP_NUM_THREADS`` wins over the default (as set before Paddle was imported: Paddle sets it to
    1 when it is unset). Returns the number of threads set.
    """
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
