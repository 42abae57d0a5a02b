"""Install size and start-up time of an ONNX Runtime service without Paddle or torch, against a Paddle one.

Each environment is given by its python (``make onnx-env`` builds the Paddle-free one, ``.venv-onnx``; a Paddle
service environment is ``pip install -e '.[cpu,serve]'`` in a fresh venv). For each, the size on disk of its
site-packages (``du``-style, bytes of every file), then the start-up time of each backend it can run, interleaved
over ``--runs`` rounds (median):

* ``serve``: ``ernie-m serve`` on the embedded demo UIE-M until ``/health`` answers 200;
* ``extract``: ``ernie-m extract`` of one text, start to exit.

Every start finds the export in its export cache (filled once before timing: a restart, the usual case); the first,
cold start (which exports) is timed once per backend and printed apart. Run:

    python benchmarks/bench_startup.py --env onnx=.venv-onnx/bin/python --env paddle=/tmp/paddle-venv/bin/python
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from machine import cpu_description  # noqa: E402

DEMO = REPO / "paddle_ernie_m" / "assets" / "uie-m-demo"
SCHEMA = json.dumps(json.loads((DEMO / "schemas.json").read_text(encoding="utf-8"))["ch"], ensure_ascii=False)
TEXT = "李娜是蓝海银行的工程师，常驻上海。大家都很高兴。"
#: The backends each environment can run: those whose framework it has.
BACKENDS = {"onnxruntime": "onnxruntime", "inference": "paddle"}


def site_packages_bytes(python: str) -> Tuple[str, int]:
    """``(site-packages directory, bytes of every file under it)``."""
    where = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    total = 0
    for root, _, files in os.walk(where):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return where, total


def has_module(python: str, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe]).returncode == 0


def environment(cache: Path) -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "ERNIE_M_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def time_extract(python: str, backend: str, cache: Path) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-m", "paddle_ernie_m.cli", "extract", "--model", str(DEMO), "--schema", SCHEMA,
                    "--backend", backend, "--threads", "1", TEXT], env=environment(cache), check=True,
                   capture_output=True)
    return time.perf_counter() - start


def time_serve(python: str, backend: str, cache: Path) -> float:
    """Seconds from starting ``ernie-m serve`` until ``/health`` answers 200 (then the server is stopped)."""
    import httpx

    port = free_port()
    start = time.perf_counter()
    process = subprocess.Popen([python, "-m", "paddle_ernie_m.cli", "serve", "--model", str(DEMO), "--schema",
                                SCHEMA, "--backend", backend, "--threads", "1", "--port", str(port)],
                               env=environment(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"ernie-m serve ({python}, {backend}) exited with {process.returncode}")
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", required=True, metavar="NAME=PYTHON",
                        help="an environment to measure, by the python of its venv (repeatable)")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per command (default 5)")
    args = parser.parse_args(argv)
    envs = dict(item.split("=", 1) for item in args.env)
    print(cpu_description())
    for name, python in envs.items():
        where, size = site_packages_bytes(python)
        print(f"{name}: site-packages {size / 2**20:.0f} MiB ({where})")
    with tempfile.TemporaryDirectory(prefix="ernie-m-startup-") as tmp:
        cases = [(name, python, backend) for name, python in envs.items() for backend, module in BACKENDS.items()
                 if has_module(python, module)]
        for name, python, backend in cases:  # fill each cache once (a cold start: it exports)
            cold = time_extract(python, backend, Path(tmp) / name)
            print(f"{name} / {backend}: first extract (exports into the cache) {cold:.2f} s")
        times: Dict[Tuple[str, str, str], List[float]] = {}
        for _ in range(args.runs):
            for name, python, backend in cases:
                for command, timer in (("serve", time_serve), ("extract", time_extract)):
                    times.setdefault((name, backend, command), []).append(timer(python, backend, Path(tmp) / name))
    for (name, backend, command), values in times.items():
        print(f"{name} / {backend} / {command}: median {statistics.median(values):.2f} s "
              f"(runs: {', '.join(f'{v:.2f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
