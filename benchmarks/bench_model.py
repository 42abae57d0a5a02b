"""Dygraph forward time: our ErnieMModel vs PaddleNLP 2.8.1's, same base-size random weights, same run.

Each implementation runs in a fresh process so that each gets its own default settings (PaddleNLP leaves
Paddle's CPU threads at 1 and MKL on its default code path; ours uses every core and, on AMD CPUs, MKL's AVX2
kernels: see ``paddle_ernie_m.runtime``). A third row runs PaddleNLP's model with our runtime settings, to show
that the difference comes from them, not from the model code.

    .venv/bin/python benchmarks/bench_model.py [--runs 5] [--batch 8] [--seq 128]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time


def build_checkpoint(directory: str) -> None:
    import paddle
    from paddlenlp.transformers import ErnieMConfig, ErnieMModel

    paddle.seed(0)
    ErnieMModel(ErnieMConfig()).save_pretrained(directory)  # ernie-m-base shapes


def worker(impl: str, directory: str, runs: int, batch: int, seq: int) -> dict:
    import numpy as np
    import paddle

    if impl == "ours":
        from paddle_ernie_m import ErnieMModel

        model = ErnieMModel.from_pretrained(directory)
    else:
        from paddlenlp.transformers import ErnieMModel

        if impl == "paddlenlp-our-runtime":
            from paddle_ernie_m.runtime import configure_cpu_threads

            configure_cpu_threads()
        model = ErnieMModel.from_pretrained(directory)
    model.eval()
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 250000, size=(batch, seq)).astype("int64")
    ids[:, 0], ids[:, -1] = 0, 2
    input_ids = paddle.to_tensor(ids)
    mask = paddle.ones([batch, seq], dtype="int64")
    times = []
    with paddle.no_grad():
        model(input_ids, attention_mask=mask)  # warm-up
        for _ in range(runs):
            start = time.perf_counter()
            out = model(input_ids, attention_mask=mask)
            (out[0] if isinstance(out, (tuple, list)) else out.last_hidden_state).numpy()
            times.append(time.perf_counter() - start)
    return {"impl": impl, "median_s": statistics.median(times), "times": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed forwards per implementation (median reported)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.dir, args.runs, args.batch, args.seq)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-model-") as directory:
        build_checkpoint(directory)
        results = {}
        for impl in ("paddlenlp", "ours", "paddlenlp-our-runtime"):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", impl, "--dir", directory, "--runs", str(args.runs),
                 "--batch", str(args.batch), "--seq", str(args.seq)],
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            results[impl] = json.loads(out)
    base = results["paddlenlp"]["median_s"]
    print(f"ERNIE-M base shapes, batch {args.batch} x {args.seq}, fp32, dygraph, median of {args.runs}")
    print(f"{'implementation':<34}{'median s':>10}{'ratio to PaddleNLP':>20}")
    for impl, label in (("paddlenlp", "PaddleNLP 2.8.1 (its defaults)"), ("ours", "paddle-ernie-m (defaults)"),
                        ("paddlenlp-our-runtime", "PaddleNLP 2.8.1, our runtime settings")):
        median = results[impl]["median_s"]
        print(f"{label:<34}{median:>10.3f}{median / base:>20.2f}")


if __name__ == "__main__":
    main()
