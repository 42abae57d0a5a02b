"""Every option of the service, with its default, in one place: the CLI's ``--help`` reads the defaults from here,
and worker processes receive the settings as JSON (:data:`SETTINGS_ENV`)."""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Optional

TASKS = ("uie", "classify")
#: How the parent process hands the settings to uvicorn's worker processes.
SETTINGS_ENV = "ERNIE_M_SERVE_SETTINGS"
#: Open files a worker keeps free beyond its client connections and what it holds at start (logs, files opened later).
RESERVED_FILES = 32


@dataclass(frozen=True)
class ServeSettings:
    """What ``ernie-m serve`` runs and the limits it enforces.

    Args:
        model: the checkpoint directory (UIE-M for ``task="uie"``, ``ErnieMForSequenceClassification`` (or its
            ``ernie-m export``) for ``task="classify"``).
        task: ``"uie"`` or ``"classify"``.
        schema: the default UIE schema (plain form) for requests that bring none; None: every request must.
        schema_lang, mode, backend, precision: as for :class:`~paddle_ernie_m.uie.extractor.InformationExtractor`
            (``task="classify"``: backend and precision as for ``ernie-m predict``).
        threads: CPU math threads of the model (default: the backend's).
        host, port, workers: where to listen, and how many processes (one model each) share the port.
        max_batch_texts: most texts run together; 1 turns batching off.
        batch_window_ms: how long the batcher waits for more requests once one has arrived.
        max_queue: most requests waiting for the model; one more gets 503 with ``Retry-After``.
        max_body_bytes: largest request body (413 above it).
        max_texts: most texts per request (422 above it).
        max_chars: most characters per text (422 above it).
        max_labels: most labels in a UIE schema, children included (422 above it).
        max_schema_depth: most levels of a UIE schema (422 above it).
        max_model_rows: most model inputs a UIE request may ask for, counted before any model work as labels x
            texts x pieces, a child label 64 times (422 above it; see :func:`~.bodies.model_rows`).
        max_response_bytes: largest answer; a request whose results are larger gets 413 instead.
        timeout_s: a request not answered within this many seconds gets 504 and its model work is stopped; a body
            not received within it gets 408.
        max_connections: most open client connections per worker; a new one beyond it closes the connection that
            has waited longest for its request head (or, if every one is busy, itself). None: what the open-file
            limit leaves (see :mod:`.connections`).
        header_timeout_s: a connection that has not sent a complete request head within this many seconds of
            opening (or of its previous answer) is closed.
    """

    model: str
    task: str = "uie"
    schema: Any = None
    schema_lang: str = "ch"
    mode: str = "exact"
    backend: str = "inference"
    precision: Optional[str] = None
    threads: Optional[int] = None
    host: str = "127.0.0.1"
    port: int = 8189
    workers: int = 1
    max_batch_texts: int = 32
    batch_window_ms: float = 5.0
    max_queue: int = 256
    max_body_bytes: int = 1 << 20
    max_texts: int = 64
    max_chars: int = 10000
    max_labels: int = 64
    max_schema_depth: int = 4
    max_model_rows: int = 1024
    max_response_bytes: int = 8 << 20
    timeout_s: float = 30.0
    max_connections: Optional[int] = None
    header_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.task != "uie" and self.schema is not None:
            raise ValueError("--schema applies to --task uie only")
        for name in ("workers", "max_batch_texts", "max_queue", "max_body_bytes", "max_texts", "max_chars",
                     "max_labels", "max_schema_depth", "max_model_rows", "max_response_bytes", "max_connections"):
            value = getattr(self, name)
            if value is None and name == "max_connections":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must lie in [0, 65535], got {self.port}")
        if not self.batch_window_ms >= 0:
            raise ValueError(f"--batch-window-ms must be 0 or more, got {self.batch_window_ms}")
        for name in ("timeout_s", "header_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_environment(cls) -> "ServeSettings":
        """The settings the parent process put in :data:`SETTINGS_ENV`."""
        text = os.environ.get(SETTINGS_ENV)
        if not text:
            raise RuntimeError(f"{SETTINGS_ENV} is not set: start the service with `ernie-m serve`")
        return cls(**json.loads(text))


DEFAULTS = ServeSettings(model="")
