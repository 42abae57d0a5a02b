"""Run the service on uvicorn: one process with the model loaded here, or ``workers`` processes that each load
their own (uvicorn's supervisor, which loads it only once in a child process to check it and fill the export cache;
settings through :data:`~.settings.SETTINGS_ENV`).

The port is bound first, before the model loads: a port in use is a one-line error at once. Connections go through
:class:`~.connections.GuardedH11Protocol` (request-head deadline, connection cap).

Shutdown (SIGTERM or SIGINT): uvicorn stops accepting connections, lets the requests in flight finish (each within
its ``timeout_s``: the work of a request that times out is stopped), then stops the batcher; the command then
returns 0. With several workers the supervisor closes its own copy of the listening socket before it signals the
workers, so that new connections are refused at once instead of waiting in the listen queue of a socket nobody
accepts from any more (and being reset when the last process exits). (uvicorn re-raises the signal it caught once it
is done, to the handler that was there before it: the no-op installed here, so that a clean shutdown is not reported
as death by signal.)
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
import signal
import socket
import subprocess
import sys
from typing import Iterator

import uvicorn
from uvicorn.supervisors import Multiprocess

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


def bind(settings: ServeSettings) -> socket.socket:
    """A socket bound to the service's address (not listening yet); ``ValueError`` in one line when the port is taken
    or the address is not this machine's."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"--host {settings.host} --port {settings.port}: cannot listen there: "
                         f"{exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: ServeSettings) -> None:
    """Bind the port, load the model (errors surface before anything listens, and the export cache is filled for
    the workers), then serve until a shutdown signal. With several workers the model is loaded once in a child
    process (:func:`prepare_in_child`), so that uvicorn's supervisor holds neither the model nor Paddle."""
    from .app import create_app
    from .connections import ACCEPT_BACKLOG, GuardedH11Protocol
    from .models import load_model

    sock = bind(settings)
    os.environ[SETTINGS_ENV] = settings.to_json()  # the protocol of every worker reads its limits there
    options = dict(host=settings.host, port=sock.getsockname()[1], log_level="info", http=GuardedH11Protocol,
                   backlog=ACCEPT_BACKLOG, timeout_graceful_shutdown=settings.timeout_s + 10, workers=settings.workers)
    if settings.workers == 1:
        config = uvicorn.Config(create_app(settings, load_model(settings)), **options)
        _log_address(settings, sock)
        with _signals_end_cleanly():
            uvicorn.Server(config).run(sockets=[sock])
        return
    prepare_in_child(settings)
    config = uvicorn.Config("paddle_ernie_m.serving.app:app_from_environment", factory=True, **options)
    _log_address(settings, sock)
    with _signals_end_cleanly():
        Supervisor(config, sockets=[sock], **_supervisor_target(config)).run()


def _log_address(settings: ServeSettings, sock: socket.socket) -> None:
    """uvicorn's own start line (it does not write it for a socket it is given)."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host,
                                            sock.getsockname()[1])


def _supervisor_target(config) -> dict:
    """Older uvicorn versions give the supervisor the server's ``run`` to start in each worker; newer ones make it."""
    return {"target": uvicorn.Server(config).run} if "target" in inspect.signature(Multiprocess).parameters else {}


class Supervisor(Multiprocess):
    """uvicorn's worker supervisor, closing its copy of the listening socket before it stops the workers."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


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
