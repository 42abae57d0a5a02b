"""Client connections that cannot starve the service: uvicorn's HTTP/1.1 protocol (h11) with a deadline for each
request head and a cap on open connections, so that half-open connections (a request line and nothing more, a
head sent a byte at a time) never hold the descriptors that new clients need.

* **Head deadline** (``header_timeout_s``): a connection must send a complete request head within that many seconds
  of opening, and of each answer (keep-alive); otherwise it is closed. uvicorn alone times out only connections
  that send nothing at all after an answer (its keep-alive timeout), and none before the first request.
* **Connection cap** (``max_connections``; default: the open-file limit minus the files the worker holds when its
  first client connects, model included, minus :data:`ACCEPT_BACKLOG` and :data:`~.settings.RESERVED_FILES`): asyncio
  accepts up to ``backlog`` connections in one turn of the event loop before any of them is seen here, so that many
  descriptors stay free above the cap. A connection opened beyond the cap
  closes the connection that has waited longest for its request head; if every connection is busy with a request,
  the new one is closed instead. The first time the cap is reached a warning is logged; the next warning comes only
  after the count has fallen below 90% of it.
* **Drain without a race**: at shutdown uvicorn closes every idle keep-alive connection at once, so a request a
  client has just sent on one is lost (the client reads a closed connection). Here an idle connection gets
  :data:`DRAIN_GRACE_S` more to bring its request, which is answered with ``Connection: close``.
* **One line per overload**: should ``accept()`` still run out of descriptors (other files, a cap set too high),
  asyncio's own report (a traceback per refused connection, about a hundred per event-loop turn) is replaced by
  :func:`quiet_accept_errors`: one warning until accepting works again.

The limits come from the settings in :data:`~.settings.SETTINGS_ENV` (set by :func:`~.server.serve` for every
worker process).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
from typing import Any, Dict, Optional, Tuple

from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import RESERVED_FILES, ServeSettings

logger = logging.getLogger(__name__)
#: Seconds an idle keep-alive connection may still bring a request once shutdown has begun.
DRAIN_GRACE_S = 1.0
#: The listen backlog given to uvicorn: also the most connections asyncio accepts in one turn of the event loop.
ACCEPT_BACKLOG = 128


@functools.lru_cache(maxsize=1)
def connection_limits() -> Tuple[int, float]:
    """``(max_connections, header_timeout_s)`` of this worker's settings."""
    settings = ServeSettings.from_environment()
    return settings.max_connections or default_max_connections(), settings.header_timeout_s


def default_max_connections() -> int:
    """The open-file limit minus the descriptors open now, :data:`ACCEPT_BACKLOG` and
    :data:`~.settings.RESERVED_FILES`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    try:
        open_now = len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux
        open_now = RESERVED_FILES
    return max(1, soft - open_now - ACCEPT_BACKLOG - RESERVED_FILES)


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Report ``accept()`` running out of descriptors once per episode (a warning, no traceback) instead of
    asyncio's traceback per attempt; every other report goes to the handler that was there."""
    previous = loop.get_exception_handler()
    state = {"reported": 0.0}

    def handler(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        if context.get("message") == "socket.accept() out of system resource":
            now = loop.time()
            if now - state["reported"] > 60.0:
                logger.warning("cannot accept connections: %s (reported once a minute at most; see "
                               "--max-connections)", context.get("exception"))
            state["reported"] = now
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


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
        self.draining = False

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
            if self.draining:
                self.cycle.keep_alive = False

    def shutdown(self) -> None:
        """Close at once unless idle: an idle connection may have a request on its way (see the module docstring)."""
        if self.waiting_since is None or self.transport.is_closing():
            super().shutdown()
            return
        self.draining = True
        self._cancel_deadline()
        self.head_deadline = self.loop.call_later(DRAIN_GRACE_S, self._head_too_late)

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
