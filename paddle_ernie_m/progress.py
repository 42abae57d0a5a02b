"""A progress line on stderr for the commands that stream texts (``predict``, ``extract``): rows done, rows per
second, and the estimated time left where the size of the input is known (a file: its bytes; texts given as
arguments: their number). Never written to stdout, which holds the results.

On a terminal the line is redrawn in place at most every :data:`REDRAW` seconds; elsewhere (a log file) it is
written only when asked for (``--progress``), as a full line every :data:`LOG_EVERY` seconds.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Optional

#: Seconds between redraws on a terminal.
REDRAW = 0.5
#: Seconds between lines when stderr is not a terminal.
LOG_EVERY = 10.0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Call :meth:`update` after each chunk, :meth:`close` at the end. ``total_rows`` or ``total_bytes`` (with the
    bytes read passed to :meth:`update`) give the ETA. ``enabled``: ``None`` shows it on a terminal only."""

    def __init__(self, what: str = "texts", total_rows: Optional[int] = None, total_bytes: Optional[int] = None,
                 enabled: Optional[bool] = None, stream: Optional[IO[str]] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = self.terminal if enabled is None else enabled
        self.what, self.total_rows, self.total_bytes = what, total_rows, total_bytes
        self.rows, self.bytes = 0, 0
        self.start = self.last = time.monotonic()

    def update(self, rows: int, bytes_read: int = 0) -> None:
        """``rows`` more rows done, ``bytes_read`` more bytes of the input read."""
        self.rows += rows
        self.bytes += bytes_read
        now = time.monotonic()
        if self.enabled and rows and now - self.last >= (REDRAW if self.terminal else LOG_EVERY):
            self.last = now
            self._draw(now)

    def _fraction(self) -> Optional[float]:
        if self.total_rows:
            return min(self.rows / self.total_rows, 1.0)
        if self.total_bytes:
            return min(self.bytes / self.total_bytes, 1.0)
        return None

    def line(self, now: Optional[float] = None) -> str:
        """``"12,345 texts  1,234.5 texts/s  0:10  40% ETA 0:15"`` (no percentage or ETA without a known size)."""
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        text = f"{self.rows:,} {self.what}  {self.rows / elapsed:,.1f} {self.what}/s  {_duration(elapsed)}"
        fraction = self._fraction()
        if fraction is not None:
            text += f"  {fraction:.0%}"
            if 0 < fraction < 1:
                text += f" ETA {_duration(elapsed * (1 - fraction) / fraction)}"
        return text

    def _draw(self, now: float) -> None:
        if self.terminal:
            self.stream.write("\r\033[K" + self.line(now))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Write the final line (when enabled)."""
        if self.enabled:
            self._draw(time.monotonic())
            if self.terminal:
                self.stream.write("\n")
                self.stream.flush()
