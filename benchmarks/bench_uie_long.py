"""UIE-M on long texts with a relation schema: wall time and peak memory against text length.

Workload: the demo sentence (``paddle_ernie_m.uie.demo.DEMO_TEXTS["ch"]``, 25 characters) repeated to each size,
schema ``[{"人物": ["所属机构"]}, "地点", "情感倾向[正向,负向]"]``, the embedded demo model, default settings
(exact mode, Paddle Inference, ``max_seq_len`` 512, ``max_child_prompts`` 64). The demo model finds 李娜 in about
every sentence: Taskflow asks ``李娜的所属机构`` over the whole text once per mention (6,653 times at 200k
characters). Each size runs in a fresh process, which times the extraction call and the JSON encoding of its
result (what ``ernie-m extract`` does per text) on a second call (the first, timed apart, also prepares oneDNN's
kernels for each batch shape) and reports its peak RSS (``ru_maxrss``, model loading included)
and the model rows it ran. Linearity: the time per 1,000 characters of each size against the smallest's, and
apart the time outside the model runs ("rest": splitting, tokenizing, decoding, copying, joining, JSON), which
grows with the text while the model rows stop growing once every distinct piece of the repeated sentence is seen.

    python benchmarks/bench_uie_long.py [--sizes 5000 20000 200000] [--max-child-prompts 64] [--threads 2]

Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import cpu_description  # noqa: E402

SCHEMA = [{"人物": ["所属机构"]}, "地点", "情感倾向[正向,负向]"]
#: (title, report key, width, format) of the table; times of the second call (extraction + JSON) unless said.
COLUMNS = [("chars", "chars", 7, "d"), ("1st call s", "first_call_s", 10, ".2f"),
           ("extract s", "extract_s", 9, ".2f"), ("json s", "json_s", 6, ".2f"), ("model s", "model_s", 7, ".2f"),
           ("rest s", "other_s", 6, ".2f"), ("rest ms/1k", "other_ms_per_1k", 10, ".1f"),
           ("ms/1k chars", "ms_per_1k", 11, ".1f"), ("vs first", "vs_first", 8, ".3f"),
           ("peak RSS MB", "peak_rss_mb", 11, ".0f"), ("after load", "rss_after_load_mb", 10, ".0f"),
           ("rows", "model_rows", 6, "d"), ("parents", "parent_spans", 7, "d"), ("answered", "answered_spans", 8, "d"),
           ("relations", "relations", 9, "d"), ("JSON MB", "json_mb", 7, ".1f")]


def worker(size: int, max_child_prompts: int, threads: int) -> dict:
    from paddle_ernie_m.uie import InformationExtractor
    from paddle_ernie_m.uie.demo import DEMO_MODEL, DEMO_TEXTS

    sentence = DEMO_TEXTS["ch"]
    text = (sentence * (size // len(sentence) + 1))[:size]
    extractor = InformationExtractor(DEMO_MODEL, schema=SCHEMA, threads=threads,
                                     max_child_prompts=max_child_prompts or None)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows, model_s, runner = [0], [0.0], extractor._runner

    def counting_runner(input_ids, position_ids, attention_bias):
        rows[0] += len(input_ids)
        start = time.perf_counter()
        output = runner(input_ids, position_ids, attention_bias)
        model_s[0] += time.perf_counter() - start
        return output

    extractor._runner = counting_runner
    start = time.perf_counter()
    extractor(text)  # the first call also prepares oneDNN kernels for each batch shape
    cold = time.perf_counter() - start
    rows[0], model_s[0] = 0, 0.0
    start = time.perf_counter()
    result = extractor(text)[0]
    extracted = time.perf_counter()
    line = json.dumps({"text": text, "result": result}, ensure_ascii=False)
    done = time.perf_counter()
    people = result.get("人物", [])
    return {"chars": size, "first_call_s": cold, "extract_s": extracted - start, "json_s": done - extracted,
            "total_s": done - start, "model_s": model_s[0], "other_s": done - start - model_s[0],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_load_mb": rss_loaded / 1024, "model_rows": rows[0], "json_mb": len(line.encode()) / 2**20,
            "parent_spans": len(people), "answered_spans": sum("relations" in p for p in people),
            "relations": sum(len(v) for p in people for v in p.get("relations", {}).values())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 200000], help="text lengths")
    parser.add_argument("--max-child-prompts", type=int, default=64, help="0: no limit (Taskflow)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.max_child_prompts, args.threads)))
        return 0

    print(f"CPU: {cpu_description()}")
    print(f"schema {json.dumps(SCHEMA, ensure_ascii=False)}, max_child_prompts {args.max_child_prompts}, "
          f"threads {args.threads}; one fresh process per size")
    reports = []
    for size in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--worker", str(size), "--max-child-prompts",
                               str(args.max_child_prompts), "--threads", str(args.threads)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{size} characters: the worker failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            return 1
        reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = reports[0]["total_s"] / reports[0]["chars"]
    for r in reports:
        r["ms_per_1k"] = r["total_s"] / r["chars"] * 1e6
        r["vs_first"] = r["total_s"] / r["chars"] / base
        r["other_ms_per_1k"] = r["other_s"] / r["chars"] * 1e6
    print("  ".join(f"{title:>{width}}" for title, _, width, _ in COLUMNS))
    for r in reports:
        print("  ".join(f"{r[key]:>{width}{spec}}" for _, key, width, spec in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
