"""Dynamic batching: concurrent requests are collected for a short window (or until ``max_batch_texts`` texts are
waiting), grouped by key (the UIE schema), and run together on the one model of the process, in a worker thread so
that the event loop keeps accepting and answering. The model gets the texts of each request as a list of their own
(so it can give each request what it would give that request alone) and returns one list of results per request.

The queue is bounded: :meth:`Batcher.submit` raises :class:`QueueFull` when ``max_queue`` requests are already
waiting. A request whose future is cancelled (its timeout passed, its client left) while waiting is dropped before it
runs; while it runs, the model is told to stop (the ``stop`` event of :data:`Runner`) and the other requests of its
group run again without it. A group that fails as a whole is run again one request at a time, so that a failure
reaches only the request that causes it.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Hashable, List, Optional

from .metrics import Metrics

logger = logging.getLogger(__name__)

#: ``run(context, [texts of each request], stop) -> [results of each request]``: one result per text, or an exception
#: instance for a request that fails on its own (the others of the batch get their results). ``stop`` is a
#: :class:`threading.Event` set when a request of the group no longer waits for its answer: the runner should raise
#: :class:`Stopped` at its next chance (between model runs).
Runner = Callable[[Any, List[List[str]], threading.Event], List[Any]]


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


class Batcher:
    """Runs :data:`Runner` on batches of queued requests. Start it and stop it inside the event loop that submits
    to it."""

    def __init__(self, run: Runner, max_batch_texts: int, window_s: float, max_queue: int,
                 metrics: Optional[Metrics] = None) -> None:
        self._run = run
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

    def submit(self, key: Hashable, context: Any, texts: List[str]) -> asyncio.Future:
        """Queue one request; its future resolves to its own results. Raises :class:`QueueFull`, or
        :class:`ShuttingDown` once :meth:`stop` has begun."""
        if self._stopping:
            raise ShuttingDown("the service is shutting down")
        if len(self._pending) >= self.max_queue:
            self._drop_cancelled()
            if len(self._pending) >= self.max_queue:
                raise QueueFull(f"{len(self._pending)} requests waiting (--max-queue {self.max_queue})")
        loop = asyncio.get_running_loop()
        job = Job(key, context, list(texts), loop.create_future(), loop.time())
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
        """Waiting jobs, oldest first, up to ``max_batch_texts`` texts (at least one job), grouped by key."""
        groups: "OrderedDict[Hashable, List[Job]]" = OrderedDict()
        taken = 0
        while self._pending:
            job = self._pending[0]
            if job.future.done():
                self._pending.popleft()
                continue
            if taken and taken + len(job.texts) > self.max_batch_texts:
                break
            self._pending.popleft()
            groups.setdefault(job.key, []).append(job)
            taken += len(job.texts)
        self.metrics.set_queue_depth(len(self._pending))
        return list(groups.values())

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
        """The runner's results for ``jobs``, its ``stop`` event set as soon as one of them is done elsewhere
        (cancelled)."""
        stop = threading.Event()
        gone = lambda future: stop.set()  # noqa: E731 - results are set only after the run
        for job in jobs:
            job.future.add_done_callback(gone)
        self.metrics.batch_run(sum(len(job.texts) for job in jobs))
        try:
            results = await loop.run_in_executor(self._executor, self._run, jobs[0].context,
                                                 [job.texts for job in jobs], stop)
        finally:
            for job in jobs:
                job.future.remove_done_callback(gone)
        if len(results) != len(jobs) or any(not isinstance(r, BaseException) and len(r) != len(job.texts)
                                            for r, job in zip(results, jobs)):
            raise RuntimeError("the model returned results that do not match the requests' texts")
        return results
