"""Run the service on uvicorn: one process with the model loaded here, or ``workers`` processes that each load
their own (uvicorn's supervisor; settings through :data:`~.settings.SETTINGS_ENV`).

Shutdown (SIGTERM or SIGINT): uvicorn stops accepting connections, lets the requests in flight finish, then stops
the batcher; the command then returns 0. (uvicorn re-raises the signal it caught once it is done, to the handler
that was there before it: the no-op installed here, so that a clean shutdown is not reported as death by signal.)
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
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
    """Load the model (once here: errors surface before anything listens, and the export cache is filled for the
    workers), then serve until a shutdown signal."""
    import uvicorn

    from .app import create_app
    from .models import load_model

    model = load_model(settings)
    options = dict(host=settings.host, port=settings.port, log_level="info", timeout_graceful_shutdown=None)
    with _signals_end_cleanly():
        if settings.workers == 1:
            uvicorn.run(create_app(settings, model), **options)
            return
        del model
        os.environ[SETTINGS_ENV] = settings.to_json()
        uvicorn.run("paddle_ernie_m.serving.app:app_from_environment", factory=True, workers=settings.workers,
                    **options)
