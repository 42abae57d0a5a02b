"""``ernie-m serve`` throughput and latency: 1, 8 and 32 concurrent clients against a real server (uvicorn
subprocess on loopback, demo UIE-M), with dynamic batching on (the defaults) and off (``--max-batch-texts 1``), and
the extractor called directly in this process on the same texts, one request at a time.

Workload: one text per request (one, two or four sentences of the demo model's synthetic data, Chinese, its
schema: 4 stages per text), sent with ``POST /v1/extract``; each client sends its requests one after another. The
engines run in interleaved rounds (each round runs every engine and concurrency once), so that load from other
processes hits them alike; throughput is the median over rounds, latency percentiles are over all requests of all
rounds. The clients run in this process (httpx, asyncio) and share the CPU with the server: on a 2-core machine
that is part of what is measured.

Heavy client (``--scenario heavy``): the p50 / p99 latency of normal clients (one text per request, as above) alone,
and again while one more client sends, one after another, the heaviest request the default limits allow: 64 texts and
the demo schema plus first-level labels up to ``--max-model-rows`` (2048) model inputs counted as the service counts
them (labels x texts x pieces), texts as long as that allows (the demo schema's child labels then ask about every span
found: the real work is above the count). The normal clients' requests wait behind the heavy one's model work, so
their latency shows what one client within the limits can do to the others.

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
    """The heaviest ``/v1/extract`` body the default limits take (see the module docstring)."""
    from paddle_ernie_m.serving.bodies import model_rows
    from paddle_ernie_m.serving.settings import DEFAULTS
    from paddle_ernie_m.uie.schema import build_schema

    schema = list(SCHEMAS["ch"])
    count = lambda nodes: sum(1 + count(node.children) for node in nodes)  # noqa: E731
    per_text = DEFAULTS.max_model_rows // DEFAULTS.max_texts  # labels x pieces of one text
    schema += [f"标签{i}" for i in range(max(0, 8 - count(build_schema(schema))))]
    labels = count(build_schema(schema))
    sentences = mixed_texts("ch", 4096, seed=5, sentences=(1,))
    texts, k = [], 0
    for _ in range(DEFAULTS.max_texts):  # texts just short enough for per_text // labels pieces each
        text = ""
        while True:
            longer = text + sentences[k % len(sentences)]
            if model_rows(build_schema(schema), [longer]) > labels * (per_text // labels) \
                    or len(longer) > DEFAULTS.max_chars:
                break
            text, k = longer, k + 1
        texts.append(text)
    body = {"texts": texts, "schema": schema}
    rows = model_rows(build_schema(schema), texts)
    size = len(json.dumps(body, ensure_ascii=False).encode())
    assert rows <= DEFAULTS.max_model_rows and size <= DEFAULTS.max_body_bytes, (rows, size)
    return {"body": body, "labels": labels, "model_rows": rows, "bytes": size,
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
            statuses = {status for client in answers for status, _, _, _ in client}
            if statuses != {200}:
                raise RuntimeError(f"normal clients beside the heavy one: statuses {sorted(statuses)}")
    return {
        "heavy_request": {key: heavy[key] for key in ("labels", "model_rows", "bytes", "characters_per_text")},
        "heavy_answers": {"statuses": sorted({status for status, _ in heavy_answers}),
                          "count": len(heavy_answers),
                          "median_s": round(statistics.median(s for _, s in heavy_answers), 2)},
        "normal_clients": clients,
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
