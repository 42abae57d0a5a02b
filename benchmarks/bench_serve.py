"""``ernie-m serve`` throughput and latency: 1, 8 and 32 concurrent clients against a real server (uvicorn
subprocess on loopback, demo UIE-M), with dynamic batching on (the defaults) and off (``--max-batch-texts 1``), and
the extractor called directly in this process on the same texts, one request at a time.

Workload: one text per request (one, two or four sentences of the demo model's synthetic data, Chinese, its
schema: 4 stages per text), sent with ``POST /v1/extract``; each client sends its requests one after another. The
engines run in interleaved rounds (each round runs every engine and concurrency once), so that load from other
processes hits them alike; throughput is the median over rounds, latency percentiles are over all requests of all
rounds. The clients run in this process (httpx, asyncio) and share the CPU with the server: on a 2-core machine
that is part of what is measured.

Heavy client (``--scenario heavy``): the p50 / p99 latency of 8 normal clients (one text per request, as above)
alone, and again while one more client sends, one after another, the heaviest request the default limits allow: the
demo schema (4 labels and a child label, counted 64 times) and as many texts of one full piece (about 500
characters of the synthetic data's sentences, full of persons) as ``--max-model-rows`` (1024) allows. The normal
clients' requests wait behind the heavy one's model work, so their latency shows what one client within the limits
can do to the others.

    python benchmarks/bench_serve.py [--scenario all|throughput|heavy] [--rounds 3] [--threads 2] [--requests 384]

Not part of the test suite.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.scripts import load_script  # noqa: E402
from tests.serve_cases import DEMO, SCHEMAS, mixed_texts, run_clients, running_server  # noqa: E402

CONCURRENCY = (1, 8, 32)


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def heaviest_request() -> dict:
    """The heaviest ``/v1/extract`` body the default limits take (see the module docstring): the demo schema, and as
    many texts of one full piece each as ``--max-model-rows`` allows, each a run of the synthetic data's sentences
    (full of persons, so that the child label is asked about many spans)."""
    from paddle_ernie_m.serving.bodies import model_rows
    from paddle_ernie_m.serving.settings import DEFAULTS
    from paddle_ernie_m.uie.schema import build_schema

    nodes = build_schema(SCHEMAS["ch"])
    sentences = iter(mixed_texts("ch", 100000, seed=5, sentences=(1,)))
    texts: List[str] = []
    while len(texts) < DEFAULTS.max_texts and model_rows(nodes, texts + ["x"]) <= DEFAULTS.max_model_rows:
        text = next(sentences)
        while model_rows(nodes, [text + (more := next(sentences))]) == model_rows(nodes, ["x"]):
            text += more
        texts.append(text)
    body = {"texts": texts, "schema": SCHEMAS["ch"]}
    size = len(json.dumps(body, ensure_ascii=False).encode())
    assert size <= DEFAULTS.max_body_bytes
    return {"body": body, "texts": len(texts), "model_rows": model_rows(nodes, texts), "bytes": size,
            "characters_per_text": round(sum(map(len, texts)) / len(texts))}


def heavy_scenario(args) -> dict:
    """Normal clients' latency alone and beside one client sending the heaviest allowed request in a loop."""
    heavy = heaviest_request()
    texts = mixed_texts("ch", args.requests, seed=3)
    body = lambda text: {"texts": [text], "schema": SCHEMAS["ch"]}  # noqa: E731
    clients = 8
    plans = [[("/v1/extract", body(t)) for t in texts[c::clients]] for c in range(clients)]
    latencies: Dict[str, List[float]] = {"alone": [], "beside the heavy client": []}
    heavy_answers: List[tuple] = []
    normal_statuses: List[int] = []
    with running_server(threads=args.threads) as (url, _, _):
        asyncio.run(run_clients(url, [[("/v1/extract", body(t))] for t in texts[:32]]))  # warm-up
        for _ in range(args.rounds):
            answers = asyncio.run(run_clients(url, plans, timeout_s=120))
            latencies["alone"].extend(s for client in answers for _, _, _, s in client)

            async def beside():
                import httpx

                done = asyncio.Event()

                async def heavy_client():
                    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                        while not done.is_set():
                            began = time.perf_counter()
                            response = await client.post("/v1/extract", json=heavy["body"])
                            heavy_answers.append((response.status_code, time.perf_counter() - began))

                task = asyncio.ensure_future(heavy_client())
                await asyncio.sleep(0.5)  # the heavy request runs
                answers = await run_clients(url, plans, timeout_s=120)
                done.set()
                await task
                return answers

            answers = asyncio.run(beside())
            latencies["beside the heavy client"].extend(s for client in answers for _, _, _, s in client)
            normal_statuses.extend(status for client in answers for status, _, _, _ in client)
    return {
        "heavy_request": {key: heavy[key] for key in ("texts", "model_rows", "bytes", "characters_per_text")},
        "heavy_answers": {"statuses": sorted({status for status, _ in heavy_answers}),
                          "count": len(heavy_answers),
                          "median_s": round(statistics.median(s for _, s in heavy_answers), 2)},
        "normal_clients": clients,
        "normal_statuses_beside_the_heavy_client": {str(status): normal_statuses.count(status)
                                                    for status in sorted(set(normal_statuses))},
        "normal_latency": {key: {"requests": len(values), "p50_ms": round(1000 * percentile(values, 0.5), 1),
                                 "p99_ms": round(1000 * percentile(values, 0.99), 1),
                                 "max_ms": round(1000 * max(values), 1)} for key, values in latencies.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("all", "throughput", "heavy"), default="all",
                        help="what to measure (default all)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="CPU math threads of each model (default 2)")
    parser.add_argument("--requests", type=int, default=384,
                        help="requests per engine and concurrency, split over the clients (default 384)")
    args = parser.parse_args(argv)
    report = {"cpu": load_script("benchmarks/machine.py").cpu_description(), "model": str(DEMO.relative_to(REPO)),
              "threads": args.threads, "rounds": args.rounds}
    if args.scenario in ("all", "throughput"):
        report.update(throughput_scenario(args))
    if args.scenario in ("all", "heavy"):
        report["heavy_client"] = heavy_scenario(args)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


def throughput_scenario(args) -> dict:
    """Requests per second and latency of the direct extractor and of the service with batching on and off."""
    texts = mixed_texts("ch", args.requests, seed=3)
    body = lambda text: {"texts": [text], "schema": SCHEMAS["ch"]}  # noqa: E731

    from paddle_ernie_m.uie.extractor import InformationExtractor

    extractor = InformationExtractor(DEMO, schema=SCHEMAS["ch"], threads=args.threads)
    for text in texts[:16]:  # warm-up
        extractor([text])
    seconds: Dict[str, List[float]] = {}
    latencies: Dict[str, List[float]] = {}
    with running_server(threads=args.threads) as (batched, _, _), \
            running_server("--max-batch-texts", "1", threads=args.threads) as (unbatched, _, _):
        servers = {"batching on": batched, "batching off": unbatched}
        for url in servers.values():  # warm-up
            asyncio.run(run_clients(url, [[("/v1/extract", body(t))] for t in texts[:32]]))
        for _ in range(args.rounds):
            began = time.perf_counter()
            for text in texts:
                one = time.perf_counter()
                extractor([text])
                latencies.setdefault("direct, 1 caller", []).append(time.perf_counter() - one)
            seconds.setdefault("direct, 1 caller", []).append(time.perf_counter() - began)
            for name, url in servers.items():
                for clients in CONCURRENCY:
                    plans = [[("/v1/extract", body(t)) for t in texts[c::clients]] for c in range(clients)]
                    began = time.perf_counter()
                    answers = asyncio.run(run_clients(url, plans))
                    key = f"{name}, {clients} client(s)"
                    seconds.setdefault(key, []).append(time.perf_counter() - began)
                    statuses = {status for client in answers for status, _, _, _ in client}
                    if statuses != {200}:
                        raise RuntimeError(f"{key}: statuses {sorted(statuses)}")
                    latencies.setdefault(key, []).extend(s for client in answers for _, _, _, s in client)
    throughput = {key: len(texts) / statistics.median(times) for key, times in seconds.items()}
    return {
        "requests": len(texts), "characters_per_text": round(sum(map(len, texts)) / len(texts), 1),
        "engines": {key: {"requests_per_s": round(throughput[key], 1),
                          "p50_ms": round(1000 * percentile(latencies[key], 0.5), 1),
                          "p99_ms": round(1000 * percentile(latencies[key], 0.99), 1)} for key in seconds},
        "batching_on_vs_off_32_clients": round(throughput["batching on, 32 client(s)"]
                                               / throughput["batching off, 32 client(s)"], 2),
        "batching_on_32_clients_vs_direct": round(throughput["batching on, 32 client(s)"]
                                                  / throughput["direct, 1 caller"], 2),
    }


if __name__ == "__main__":
    sys.exit(main())
