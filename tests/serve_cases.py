"""Material shared by the serving tests and benchmarks/bench_serve.py: the demo model and its two schemas, texts of
mixed lengths, a real ``ernie-m serve`` subprocess on a free loopback port, and concurrent clients."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

from .scripts import ROOT, load_script

DEMO = ROOT / "paddle_ernie_m" / "assets" / "uie-m-demo"
SCHEMAS: Dict[str, Any] = json.loads((DEMO / "schemas.json").read_text(encoding="utf-8"))
STARTED = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


def mixed_texts(lang: str, count: int, seed: int = 0, sentences: Sequence[int] = (1, 1, 2, 4)) -> List[str]:
    """``count`` texts of the demo model's synthetic data set in ``lang``, each of a number of sentences drawn from
    ``sentences``."""
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    table = synthetic.CH if lang == "ch" else synthetic.EN
    rng = random.Random(f"serve-{seed}-{lang}")
    sentence = lambda: synthetic.make_text(table, rng, 0)[0]["text"]  # noqa: E731
    return [table["join"].join(sentence() for _ in range(rng.choice(sentences))) for _ in range(count)]


@contextlib.contextmanager
def running_server(*options: str, threads: int = 1, startup_s: float = 120.0,
                   python: str = sys.executable) -> Iterator[Tuple[str, subprocess.Popen, List[str]]]:
    """``(base url, process, log lines)`` of ``ernie-m serve`` on the demo model (any free loopback port, ``threads``
    math threads, run by ``python``), ready; killed on exit if still running (a test that stops it itself checks the
    exit code)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": str(threads)}
    command = [str(python), "-m", "paddle_ernie_m.cli", "serve", "--model", str(DEMO), "--port", "0",
               "--threads", str(threads), *options]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, encoding="utf-8")
    log: List[str] = []
    ready = threading.Event()
    where: List[str] = []

    def read() -> None:
        for line in process.stdout:
            log.append(line)
            found = STARTED.search(line)
            if found and not ready.is_set():
                where.append(f"http://{found.group(1)}:{found.group(2)}")
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not ready.wait(startup_s) or not where:
            raise RuntimeError("ernie-m serve did not start:\n" + "".join(log))
        _wait_for_health(where[0], process, log, startup_s)  # with --workers, each worker loads its model after
        yield where[0], process, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        reader.join(10)


def _wait_for_health(url: str, process: subprocess.Popen, log: List[str], seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url + "/health", headers={"connection": "close"}, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("ernie-m serve does not answer /health:\n" + "".join(log))
        time.sleep(0.1)


async def run_clients(url: str, requests: Sequence[Sequence[Tuple[str, Dict[str, Any]]]],
                      timeout_s: float = 60.0) -> List[List[Tuple[int, Any, Dict[str, str], float]]]:
    """Each client (one list of ``(path, body)``) sends its requests one after another, all clients at once;
    returns ``(status, JSON body, headers, seconds)`` per request, per client."""
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per request
    limits = httpx.Limits(max_connections=len(requests) + 1, max_keepalive_connections=len(requests) + 1)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:
        async def one_client(calls):
            answers = []
            for path, body in calls:
                began = time.perf_counter()
                response = await client.post(path, json=body)
                answers.append((response.status_code, response.json(), dict(response.headers),
                                time.perf_counter() - began))
            return answers

        return list(await asyncio.gather(*(one_client(calls) for calls in requests)))
