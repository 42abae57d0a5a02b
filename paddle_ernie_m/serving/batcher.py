"""Dynamic batching: concurrent requests are collected for a short window (or until ``max_batch_texts`` texts are
waiting), grouped by key (the UIE schema), and run together on the one model of the process, in a worker thread so
that the event loop keeps accepting and answering. The model gets the texts of each request as a list of their own
(so it can give each request what it would give that request alone) and returns one list of results per request.

The queue is bounded: :meth:`Batcher.submit` raises :class:`QueueFull` when ``max_queue`` requests are already
waiting. A request whose future is cancelled (its timeout passed, its client left) while waiting is dropped before it
runs; while it runs, the model stops at its next ``interrupt`` (see :data:`Runner`) and the other requests of its
group run again without it. A group that fails as a whole is run again one request at a time, so that a failure
reaches only the request that causes it.

Time slices: a model run that has gone on for ``slice_s`` serves the requests waiting meanwhile from its next
``interrupt`` (they run to the end in the model thread, between two model runs of the long one, and are answered at
once), so that one heavy request delays the others by about one slice, not by all of its work.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Hashable, List, Optional

from .metrics import Metrics

logger = logging.getLogger(__name__)

#: ``run(context, [texts of each request], interrupt) -> [results of each request]``: one result per text, or an
#: exception instance for a request that fails on its own (the others of the batch get their results). The runner
#: calls ``interrupt()`` between its model runs: it raises :class:`Stopped` once a request of the group no longer
#: waits for its answer, and may run other requests' work meanwhile (time slices).
Runner = Callable[[Any, List[List[str]], Callable[[], None]], List[Any]]
#: Seconds a model run goes on before the requests waiting meanwhile are served from its next ``interrupt``.
SLICE_S = 0.25


class Stopped(Exception):
    """Raised by a :data:`Runner` whose ``stop`` event was set: its work was abandoned."""


class QueueFull(Exception):
    """The service has ``max_queue`` requests waiting already."""


class ShuttingDown(Exception):
    """The service is stopping: the request was not run."""


@dataclass
class Job:
    key: Hashable
    context: Any
    texts: List[str]
    future: asyncio.Future
    arrived: float = field(default=0.0)
    cost: int = field(default=0)


class Batcher:
    """Runs :data:`Runner` on batches of queued requests. Start it and stop it inside the event loop that submits
    to it."""

    def __init__(self, run: Runner, max_batch_texts: int, window_s: float, max_queue: int,
                 metrics: Optional[Metrics] = None, heavy_cost: Optional[int] = None) -> None:
        self._run = run
        self.heavy_cost = heavy_cost
        self.max_batch_texts = max_batch_texts
        self.window_s = window_s
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self._pending: Deque[Job] = deque()
        self._arrival: Optional[asyncio.Event] = None
        self._task: Optional[asyncio.Task] = None
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ernie-m-model")

    @property
    def depth(self) -> int:
        """Requests waiting (not yet running)."""
        return len(self._pending)

    def start(self) -> None:
        self._arrival = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def stop(self) -> None:
        """Stop taking batches: the batch that is running (every group taken with it) finishes first, requests
        still waiting are cancelled, and the model thread is released."""
        self._stopping = True
        if self._arrival is not None:
            self._arrival.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            for job in self._pending:
                if not job.future.done():
                    job.future.set_exception(ShuttingDown("the service is shutting down"))
            self._pending.clear()
            self._executor.shutdown(wait=True)

    def submit(self, key: Hashable, context: Any, texts: List[str], cost: int = 0) -> asyncio.Future:
        """Queue one request (``cost``: see ``heavy_cost``); its future resolves to its own results. Raises
        :class:`QueueFull`, or :class:`ShuttingDown` once :meth:`stop` has begun."""
        if self._stopping:
            raise ShuttingDown("the service is shutting down")
        if len(self._pending) >= self.max_queue:
            self._drop_cancelled()
            if len(self._pending) >= self.max_queue:
                raise QueueFull(f"{len(self._pending)} requests waiting (--max-queue {self.max_queue})")
        loop = asyncio.get_running_loop()
        job = Job(key, context, list(texts), loop.create_future(), loop.time(), cost)
        self._pending.append(job)
        self.metrics.set_queue_depth(len(self._pending))
        self._arrival.set()
        return job.future

    def _drop_cancelled(self) -> None:
        self._pending = deque(job for job in self._pending if not job.future.done())
        self.metrics.set_queue_depth(len(self._pending))

    def _waiting_texts(self) -> int:
        return sum(len(job.texts) for job in self._pending if not job.future.done())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._drop_cancelled()
            if not self._pending:
                self._arrival.clear()
                await self._arrival.wait()
                continue
            deadline = self._pending[0].arrived + self.window_s
            while (self._waiting_texts() < self.max_batch_texts and loop.time() < deadline
                   and not self._stopping):
                self._arrival.clear()
                try:
                    await asyncio.wait_for(self._arrival.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
            if self._stopping:
                break
            for jobs in self._take_batch():
                await self._run_group(loop, jobs)

    def _take_batch(self) -> List[List[Job]]:
        """Waiting jobs, oldest first, up to ``max_batch_texts`` texts (at least one job), grouped by key; a heavy
        job alone, after the others."""
        groups: "OrderedDict[Hashable, List[Job]]" = OrderedDict()
        heavy: List[List[Job]] = []
        taken = 0
        while self._pending:
            job = self._pending[0]
            if job.future.done():
                self._pending.popleft()
                continue
            if taken and taken + len(job.texts) > self.max_batch_texts:
                break
            self._pending.popleft()
            if self.heavy_cost is not None and job.cost >= self.heavy_cost:
                heavy.append([job])
            else:
                groups.setdefault(job.key, []).append(job)
            taken += len(job.texts)
        self.metrics.set_queue_depth(len(self._pending))
        return list(groups.values()) + heavy

    async def _run_group(self, loop: asyncio.AbstractEventLoop, jobs: List[Job]) -> None:
        """Run one group; again without the requests that left while it ran; one request at a time if it failed."""
        while True:
            jobs = [job for job in jobs if not job.future.done()]
            if not jobs:
                return
            try:
                results = await self._run_once(loop, jobs)
                break
            except Stopped:
                if not any(job.future.done() for job in jobs):
                    raise RuntimeError("the model stopped although every request of its batch still waits")
                continue
            except Exception as exc:
                if len(jobs) == 1:
                    if not jobs[0].future.done():
                        jobs[0].future.set_exception(exc)
                    return
                logger.info("a batch of %d requests failed (%s: %s); running them one at a time", len(jobs),
                            type(exc).__name__, exc)
                for job in jobs:
                    await self._run_group(loop, [job])
                return
        for job, job_results in zip(jobs, results):
            if job.future.done():
                continue
            if isinstance(job_results, BaseException):  # this request's own error (see Runner)
                job.future.set_exception(job_results)
            else:
                job.future.set_result(list(job_results))

    async def _run_once(self, loop: asyncio.AbstractEventLoop, jobs: List[Job]) -> List[Any]:
        """The runner's results for ``jobs``; its ``interrupt`` stops it as soon as one of them is done elsewhere
        (cancelled) and serves waiting requests once it has run for :data:`SLICE_S`."""
        stop = threading.Event()
        gone = lambda future: stop.set()  # noqa: E731 - results are set only after the run
        for job in jobs:
            job.future.add_done_callback(gone)
        slice_began = [time.monotonic()]

        def interrupt() -> None:
            if stop.is_set():
                raise Stopped()
            if time.monotonic() - slice_began[0] >= SLICE_S:
                self._serve_waiting(loop)
                slice_began[0] = time.monotonic()

        try:
            return await loop.run_in_executor(self._executor, self._checked_run, jobs, interrupt)
        finally:
            for job in jobs:
                job.future.remove_done_callback(gone)

    def _checked_run(self, jobs: List[Job], interrupt: Callable[[], None]) -> List[Any]:
        """(Model thread.) The runner's results for ``jobs``, checked to match their texts."""
        self.metrics.batch_run(sum(len(job.texts) for job in jobs))
        results = self._run(jobs[0].context, [job.texts for job in jobs], interrupt)
        if len(results) != len(jobs) or any(not isinstance(r, BaseException) and len(r) != len(job.texts)
                                            for r, job in zip(results, jobs)):
            raise RuntimeError("the model returned results that do not match the requests' texts")
        return results

    def _serve_waiting(self, loop: asyncio.AbstractEventLoop) -> None:
        """(Model thread, between two model runs of a long one.) Take the requests waiting now and run them to the
        end, answering each at once."""
        taken = asyncio.run_coroutine_threadsafe(self._take_waiting(), loop)
        try:
            groups = taken.result(timeout=10)
        except concurrent.futures.TimeoutError:  # the event loop is busy: serve them later
            taken.cancel()
            return
        for jobs in groups:
            self._run_nested(loop, jobs)

    async def _take_waiting(self) -> List[List[Job]]:
        return [] if self._stopping or not self._pending else self._take_batch()

    def _run_nested(self, loop: asyncio.AbstractEventLoop, jobs: List[Job]) -> None:
        """(Model thread.) :meth:`_run_group` inside a long run: stopped when one of ``jobs`` is cancelled, one
        request at a time after a failure; no time slices of its own."""
        jobs = [job for job in jobs if not job.future.done()]
        if not jobs:
            return

        def interrupt() -> None:
            if any(job.future.done() for job in jobs):
                raise Stopped()

        try:
            results: List[Any] = self._checked_run(jobs, interrupt)
        except Stopped:
            return self._run_nested(loop, jobs)
        except Exception as exc:
            if len(jobs) > 1:
                for job in jobs:
                    self._run_nested(loop, [job])
                return
            results = [exc]
        for job, job_results in zip(jobs, results):
            loop.call_soon_threadsafe(self._answer, job, job_results)

    @staticmethod
    def _answer(job: Job, results: Any) -> None:
        if job.future.done():
            return
        if isinstance(results, BaseException):
            job.future.set_exception(results)
        else:
            job.future.set_result(list(results))
