"""Client connections that cannot starve the service: uvicorn's HTTP/1.1 protocol (h11) with a deadline for each
request head and a cap on open connections, so that half-open connections (a request line and nothing more, a
head sent a byte at a time) never hold the descriptors that new clients need.

* **Head deadline** (``header_timeout_s``): a connection must send a complete request head within that many seconds
  of opening, and of each answer (keep-alive); otherwise it is closed. uvicorn alone times out only connections
  that send nothing at all after an answer (its keep-alive timeout), and none before the first request.
* **Connection cap** (``max_connections``, default the open-file limit minus
  :data:`~.settings.RESERVED_FILES`): a connection opened beyond it closes the connection that has waited longest
  for its request head; if every connection is busy with a request, the new one is closed instead. The first time
  the cap is reached a warning is logged; the next warning comes only after the count has fallen below 90% of it.

The limits come from the settings in :data:`~.settings.SETTINGS_ENV` (set by :func:`~.server.serve` for every
worker process).
"""
from __future__ import annotations

import functools
import logging
import resource
from typing import Optional, Tuple

from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import RESERVED_FILES, ServeSettings

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def connection_limits() -> Tuple[int, float]:
    """``(max_connections, header_timeout_s)`` of this worker's settings."""
    settings = ServeSettings.from_environment()
    return settings.max_connections or default_max_connections(), settings.header_timeout_s


def default_max_connections() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    return max(1, soft - RESERVED_FILES)


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with a request-head deadline and a connection cap (see the module docstring)."""

    #: Whether the cap was reached and not yet logged as relieved (one warning per overload, not per connection).
    overloaded = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections, self.header_timeout_s = connection_limits()
        self.waiting_since: Optional[float] = None  # when it began waiting for a request head; None: busy
        self.head_deadline = None
        self.head_cycle = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)
        if GuardedH11Protocol.overloaded and len(self.connections) < 0.9 * self.max_connections:
            GuardedH11Protocol.overloaded = False
            logger.info("open connections back to %d of %d (--max-connections)", len(self.connections),
                        self.max_connections)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self.head_cycle:  # a request head arrived
            self.head_cycle = self.cycle
            self.waiting_since = None
            self._cancel_deadline()

    def on_response_complete(self) -> None:
        self._wait_for_head()  # before super(): a pipelined request may start (and be seen) inside it
        super().on_response_complete()

    def _wait_for_head(self) -> None:
        self._cancel_deadline()
        if self.transport.is_closing():
            return
        self.waiting_since = self.loop.time()
        self.head_deadline = self.loop.call_later(self.header_timeout_s, self._head_too_late)

    def _cancel_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_too_late(self) -> None:
        self.head_deadline = None
        if self.waiting_since is not None and not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        """Close the connection waiting longest for its request head (maybe this one), or this one."""
        if not GuardedH11Protocol.overloaded:
            GuardedH11Protocol.overloaded = True
            logger.warning("%d open connections, this worker's limit (--max-connections): closing the ones that "
                           "wait longest for a request head", len(self.connections))
        idle = [c for c in self.connections if getattr(c, "waiting_since", None) is not None
                and not c.transport.is_closing()]
        victim = min(idle, key=lambda c: c.waiting_since) if idle else self
        victim._cancel_deadline()
        victim.transport.close()
