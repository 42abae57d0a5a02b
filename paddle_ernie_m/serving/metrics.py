"""The service's own load, in Prometheus' text exposition format (version 0.0.4), written by hand: a request counter
by route and status, a histogram of texts per model batch, a gauge of requests waiting, and a histogram of request
latency by route. Counts are per worker process (Prometheus sums them across the workers it scrapes)."""
from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """Cumulative buckets, a sum and a count."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = tuple(buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def lines(self, name: str, labels: str = "") -> List[str]:
        sep = "," if labels else ""
        out, total = [], 0
        for bound, count in zip(self.bounds + (float("inf"),), self.counts):
            total += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {total}')
        braces = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{braces} {self.sum:.6f}", f"{name}_count{braces} {total}"]
        return out


class Metrics:
    """What ``GET /metrics`` reports. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Dict[Tuple[str, int], int] = defaultdict(int)
        self.latency: Dict[str, Histogram] = {}
        self.batch_texts = Histogram(BATCH_BUCKETS)
        self.queue_depth = 0

    def request_done(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[route, status] += 1
            self.latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch_run(self, texts: int) -> None:
        with self._lock:
            self.batch_texts.observe(texts)

    def set_queue_depth(self, depth: int) -> None:
        with self._lock:
            self.queue_depth = depth

    def render(self) -> str:
        with self._lock:
            lines = ["# HELP ernie_m_requests_total HTTP requests answered, by route and status code.",
                     "# TYPE ernie_m_requests_total counter"]
            lines += [f'ernie_m_requests_total{{route="{route}",status="{status}"}} {count}'
                      for (route, status), count in sorted(self.requests.items())]
            lines += ["# HELP ernie_m_batch_texts Texts per model run (dynamic batches).",
                      "# TYPE ernie_m_batch_texts histogram"]
            lines += self.batch_texts.lines("ernie_m_batch_texts")
            lines += ["# HELP ernie_m_queue_depth Requests waiting for the model.",
                      "# TYPE ernie_m_queue_depth gauge", f"ernie_m_queue_depth {self.queue_depth}"]
            lines += ["# HELP ernie_m_request_duration_seconds Time from a request's arrival to its answer, by route.",
                      "# TYPE ernie_m_request_duration_seconds histogram"]
            for route, histogram in sorted(self.latency.items()):
                lines += histogram.lines("ernie_m_request_duration_seconds", f'route="{route}"')
        return "\n".join(lines) + "\n"
