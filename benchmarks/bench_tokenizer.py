"""Benchmark: batch-encode the multilingual test corpus with ours vs PaddleNLP's vs transformers' ErnieMTokenizer.

Every corpus line is paired with the next one and encoded in batches of 32 as
``tokenizer(texts, pairs, max_length=128, truncation=True, padding="max_length", return_position_ids=True,
return_offsets_mapping=True)`` (the UIE-M call shape); the few lines on which PaddleNLP's offsets raise are left
out for all three. transformers' slow tokenizer cannot return offsets, so a
second workload drops ``return_offsets_mapping`` and compares all three. Each figure is the median of 5 runs; the
runs of the three tokenizers are interleaved so that they share the machine's noise, and both wall-clock and process
CPU time are reported (all three are single-threaded; on a shared machine CPU time is the steadier figure, and the
speed-up ratios use it). "cold" builds a new tokenizer (empty caches) before each timed run; "warm" reuses one.

Usage: ``python benchmarks/bench_tokenizer.py [--runs 5] [--batch 32] [--max-length 128]``
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from make_tiny_tokenizer import OUTPUT as FIXTURE, read_corpus  # noqa: E402

from paddle_ernie_m.tokenizer import ErnieMTokenizer  # noqa: E402


def batches(texts, size):
    pairs = texts[1:] + texts[:1]
    return [(texts[i:i + size], pairs[i:i + size]) for i in range(0, len(texts), size)]


def _paddlenlp_offsets_work(tokenizer, text: str) -> bool:
    try:
        tokenizer.get_offset_mapping(text)
    except ValueError:
        return False
    return True


def run(tokenizer, work, kwargs) -> Tuple[float, float]:
    """(wall, CPU) seconds to encode every batch once."""
    wall, cpu = time.perf_counter(), time.process_time()
    for texts, pairs in work:
        tokenizer(texts, pairs, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer as HFTokenizer
    logging.disable(logging.WARNING)  # PaddleNLP's logger logs truncation warnings per example

    paddlenlp = PaddleNLPTokenizer.from_pretrained(str(FIXTURE))
    hf = HFTokenizer.from_pretrained(str(FIXTURE))
    warm = ErnieMTokenizer.from_pretrained(FIXTURE)
    corpus = [text for text in read_corpus() if _paddlenlp_offsets_work(paddlenlp, text)]
    work = batches(corpus, args.batch)
    n_pairs = len(corpus)
    common = dict(max_length=args.max_length, truncation=True, padding="max_length")
    workloads = {
        "pairs+truncation+padding+offsets": dict(common, return_position_ids=True, return_offsets_mapping=True),
        "pairs+truncation+padding": dict(common),
    }
    print(f"corpus: {n_pairs} pairs in batches of {args.batch}, max_length {args.max_length}; median of {args.runs}")

    for name, kwargs in workloads.items():
        times = {"ours (cold)": [], "ours (warm)": [], "PaddleNLP": [], "transformers": []}
        theirs = dict(kwargs, return_attention_mask=False)  # neither reference returns a mask by default
        with_offsets = kwargs.get("return_offsets_mapping", False)
        run(warm, work, kwargs)
        for _ in range(args.runs):
            cold = ErnieMTokenizer.from_pretrained(FIXTURE)
            times["ours (cold)"].append(run(cold, work, kwargs))
            times["ours (warm)"].append(run(warm, work, kwargs))
            times["PaddleNLP"].append(run(paddlenlp, work, theirs))
            if not with_offsets:
                times["transformers"].append(run(hf, work, theirs))
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items() if v}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items() if v}
        print(f"\n{name}: median wall / CPU ms per pass over the corpus")
        for key in cpu:
            line = (f"  {key:<14} {wall[key] * 1e3:8.1f} / {cpu[key] * 1e3:6.1f} ms "
                    f"{n_pairs / cpu[key]:7.0f} pairs/CPU-s")
            if not key.startswith("ours"):
                line += (f"   ours is {cpu[key] / cpu['ours (cold)']:.1f}x faster (cold), "
                         f"{cpu[key] / cpu['ours (warm)']:.1f}x (warm)")
            print(line)
        if with_offsets:
            print("  transformers   n/a (its slow tokenizer cannot return offsets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
