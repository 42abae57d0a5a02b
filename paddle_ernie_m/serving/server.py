"""Run the service on uvicorn: one process with the model loaded here, or ``workers`` processes that each load
their own (uvicorn's supervisor, which loads it only once in a child process to check it and fill the export cache;
settings through :data:`~.settings.SETTINGS_ENV`).

Shutdown (SIGTERM or SIGINT): uvicorn stops accepting connections, lets the requests in flight finish, then stops
the batcher; the command then returns 0. (uvicorn re-raises the signal it caught once it is done, to the handler
that was there before it: the no-op installed here, so that a clean shutdown is not reported as death by signal.)
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from typing import Iterator

from .settings import SETTINGS_ENV, ServeSettings

logger = logging.getLogger(__name__)
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _signals_end_cleanly() -> Iterator[None]:
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in SHUTDOWN_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(settings: ServeSettings) -> None:
    """Load the model (errors surface before anything listens, and the export cache is filled for the workers),
    then serve until a shutdown signal. With several workers the model is loaded once in a child process
    (:func:`prepare_in_child`), so that uvicorn's supervisor holds neither the model nor Paddle."""
    import uvicorn

    from .app import create_app
    from .models import load_model

    options = dict(host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=None)
    if settings.workers == 1:
        model = load_model(settings)
        with _signals_end_cleanly():
            uvicorn.run(create_app(settings, model), **options)
        return
    prepare_in_child(settings)
    os.environ[SETTINGS_ENV] = settings.to_json()
    with _signals_end_cleanly():
        uvicorn.run("paddle_ernie_m.serving.app:app_from_environment", factory=True, workers=settings.workers,
                    **options)


#: What the child of :func:`prepare_in_child` prints on its last line when the model cannot be loaded.
PREPARE_ERROR = "ernie-m serve: cannot load the model: "


def prepare_in_child(settings: ServeSettings) -> None:
    """Load the model of ``settings`` once in a child process (its log goes to this one's stderr); raise
    ``ValueError`` with the child's one-line error when it cannot."""
    child = (f"import sys\nfrom paddle_ernie_m.serving.models import load_model\n"
             f"from paddle_ernie_m.serving.settings import ServeSettings\n"
             f"try:\n    load_model(ServeSettings.from_environment())\n"
             f"except (OSError, ValueError, KeyError, ImportError) as exc:\n"
             f"    print({PREPARE_ERROR!r} + str(exc).replace(chr(10), ' '))\n    sys.exit(1)\n")
    env = {**os.environ, SETTINGS_ENV: settings.to_json()}
    done = subprocess.run([sys.executable, "-c", child], env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        lines = done.stdout.strip().splitlines()
        last = lines[-1] if lines else ""
        raise ValueError(last[len(PREPARE_ERROR):] if last.startswith(PREPARE_ERROR)
                         else f"loading the model failed in a child process (exit code {done.returncode})")
