"""UIE-M extraction throughput: our InformationExtractor (exact and fast modes on Paddle Inference; exact mode on
ONNX Runtime fp32 and int8) against PaddleNLP 2.8.1's Taskflow (patched to run on Paddle 3.x), same checkpoint, same
run, CPU.

Workload: a fixed set of synthetic texts of mixed lengths (one sentence; four; thirty, which exceeds
``max_seq_len`` 512 and is split) in Chinese and English, each language with its schema of the demo model
(entities, one relation, sentence sentiment): 4 stages per text. The engines run in interleaved rounds (each round
times every engine once on the whole workload) so that load from other processes hits them alike; figures are
medians. Also reported: whether our exact results equal Taskflow's, how often the fast mode's spans differ from the
exact mode's (on this workload and on the demo model's held-out texts), and where the time goes (cProfile of one
round per engine, grouped). For ONNX Runtime: texts/s against our Paddle Inference exact mode too, and how far the
int8 results are from fp32's (span F1 of int8 against ONNX Runtime fp32 and against Paddle Inference fp32). Our
engines export the checkpoint into a temporary cache, so that the current export code is measured.

    python benchmarks/bench_uie.py [--model DIR] [--rounds 5] [--threads 2] [--quick]

Default model: the embedded toy ``paddle_ernie_m/assets/uie-m-demo``. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from paddle_ernie_m.uie import InformationExtractor  # noqa: E402
from paddle_ernie_m.uie.metrics import extraction_scores, result_items  # noqa: E402
from tests.scripts import load_script  # noqa: E402
from tests.taskflow_compat import paddle3_taskflow  # noqa: E402

ASSET = REPO / "paddle_ernie_m" / "assets" / "uie-m-demo"
ONNX_FP32 = "exact onnxruntime fp32"
ONNX_INT8 = "exact onnxruntime int8"


def workload(seed: int = 0) -> Dict[str, List[str]]:
    """Per language: 12 one-sentence texts, 6 of four sentences, 2 of thirty (longer than 512 tokens)."""
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    texts = {}
    for lang, table in (("ch", synthetic.CH), ("en", synthetic.EN)):
        rng = random.Random(f"bench-{seed}-{lang}")
        sentence = lambda: synthetic.make_text(table, rng, 0)[0]["text"]  # noqa: E731
        joiner = table["join"]
        texts[lang] = ([sentence() for _ in range(12)] + [joiner.join(sentence() for _ in range(4)) for _ in range(6)]
                       + [joiner.join(sentence() for _ in range(30)) for _ in range(2)])
    return texts


def same_results(ours, reference) -> bool:
    """Equal structure, texts and offsets, probabilities within 1e-5."""
    if isinstance(reference, dict):
        return isinstance(ours, dict) and list(ours) == list(reference) and all(
            same_results(ours[k], reference[k]) for k in reference)
    if isinstance(reference, list):
        return isinstance(ours, list) and len(ours) == len(reference) and all(
            same_results(a, b) for a, b in zip(ours, reference))
    if isinstance(reference, float):
        return math.isclose(ours, float(reference), abs_tol=1e-5)
    return ours == reference


def agreement(fast: List[dict], exact: List[dict]) -> Dict[str, float]:
    """How far the fast mode's results are from the exact mode's: share of texts with the same spans, share of
    the exact mode's items the fast mode also gives, and F1 of fast against exact."""
    same = sum(result_items(f) == result_items(e) for f, e in zip(fast, exact)) / len(exact)
    scores = extraction_scores(fast, exact)
    return {"texts_identical": same, "recall_of_exact": scores["recall"], "f1_vs_exact": scores["f1"]}


PROFILE_GROUPS: Dict[str, Callable[[str, str], bool]] = {  # (file, function) -> group; first match wins
    "model (Paddle Inference / ONNX Runtime run)": lambda file, fn: ("libpaddle" in fn or "onnxruntime" in fn)
    and "run" in fn,
    "tokenization": lambda file, fn: any(k in file for k in ("tokenizer", "tokenization_utils", "sentencepiece")),
    "batching (DataLoader / build_batch)": lambda file, fn: any(k in file for k in ("paddle/io", "dataloader",
                                                                                     "datasets"))
    or (file.endswith("features.py") and fn == "build_batch"),
    "decoding and joining": lambda file, fn: file.endswith(("decoding.py", "features.py")) or fn in (
        "get_bool_ids_greater_than", "get_span", "get_id_and_prob", "_convert_ids_to_results", "_auto_joiner",
        "ordered_get_span", "order_spans"),
}


def profile(call: Callable[[], None]) -> Dict[str, float]:
    """Seconds of one call by group (self time of the functions in each group; the rest is 'other')."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(call)
    total = time.perf_counter() - start
    groups = {name: 0.0 for name in PROFILE_GROUPS}
    for (filename, _, function), (_, _, self_time, _, _) in pstats.Stats(profiler).stats.items():
        for name, matches in PROFILE_GROUPS.items():
            if matches(filename, function):
                groups[name] += self_time
                break
    groups["other (schema walk, Python overhead, ...)"] = max(0.0, total - sum(groups.values()))
    return {**{k: round(v, 3) for k, v in groups.items()}, "total": round(total, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ASSET, help="UIE-M checkpoint (default: the demo model)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="CPU math threads for every engine (default 2)")
    parser.add_argument("--quick", action="store_true",
                        help="one round on 4 texts per language, no held-out comparison: checks that the script runs")
    args = parser.parse_args(argv)
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    texts = workload()
    if args.quick:
        args.rounds = 1
        texts = {lang: t[:3] + t[12:13] for lang, t in texts.items()}
    n_texts = sum(len(t) for t in texts.values())

    import paddle

    paddle.base.core.set_num_threads(args.threads)
    engines: Dict[str, Callable[[], Dict[str, List[dict]]]] = {}
    with tempfile.TemporaryDirectory() as tmp, paddle3_taskflow() as build:
        flows = {lang: build(args.model, Path(tmp), synthetic.SCHEMAS[lang], schema_lang=lang,
                             num_threads=args.threads) for lang in texts}
        engines["taskflow"] = lambda: {lang: flows[lang](texts[lang]) for lang in texts}
        for name, mode, engine in (("exact", "exact", {}), ("fast", "fast", {}),
                                   (ONNX_FP32, "exact", {"backend": "onnxruntime", "precision": "fp32"}),
                                   (ONNX_INT8, "exact", {"backend": "onnxruntime", "precision": "int8"})):
            extractors = {lang: InformationExtractor(args.model, schema=synthetic.SCHEMAS[lang], schema_lang=lang,
                                                     mode=mode, threads=args.threads, cache_dir=Path(tmp) / "cache",
                                                     **engine) for lang in texts}
            engines[name] = (lambda ex: lambda: {lang: ex[lang](texts[lang]) for lang in texts})(extractors)

        outputs = {name: run() for name, run in engines.items()}  # warm-up (oneDNN primitive caches)
        times: Dict[str, List[float]] = {name: [] for name in engines}
        for _ in range(args.rounds):
            for name, run in engines.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        profiles = {name: profile(run) for name, run in engines.items()}

        exact_equals_taskflow = all(same_results(outputs["exact"][lang], outputs["taskflow"][lang]) for lang in texts)
        work_agreement = agreement([r for lang in texts for r in outputs["fast"][lang]],
                                   [r for lang in texts for r in outputs["exact"][lang]])
        flat = {name: [r for lang in texts for r in outputs[name][lang]] for name in outputs}
        int8_agreement = {  # F1 of int8's results against fp32's (ONNX Runtime, Paddle Inference exact mode)
            f"vs_{reference}": {"texts_identical": sum(result_items(a) == result_items(b) for a, b in zip(
                flat[ONNX_INT8], flat[reference])) / len(flat[reference]),
                                "f1": extraction_scores(flat[ONNX_INT8], flat[reference])["f1"]}
            for reference in (ONNX_FP32, "exact")}
        onnx_fp32_equals_exact = all(same_results(outputs[ONNX_FP32][lang], outputs["exact"][lang]) for lang in texts)
        build_demo = load_script("examples/uie/build_demo_model.py")
        heldout_fast, heldout_exact = [], []
        if not args.quick:
            with tempfile.TemporaryDirectory() as data_dir:
                build_demo.prepare_data(Path(data_dir))
                for lang, (held_texts, _) in build_demo.heldout(Path(data_dir)).items():
                    for mode, sink in (("exact", heldout_exact), ("fast", heldout_fast)):
                        sink += InformationExtractor(args.model, schema=synthetic.SCHEMAS[lang], schema_lang=lang,
                                                     mode=mode, threads=args.threads,
                                                     cache_dir=Path(tmp) / "cache")(held_texts)
        heldout_agreement = agreement(heldout_fast, heldout_exact) if heldout_exact else None

    medians = {name: statistics.median(t) for name, t in times.items()}
    report = {
        "cpu": load_script("benchmarks/machine.py").cpu_description(),
        "model": str(args.model), "threads": args.threads, "rounds": args.rounds, "texts": n_texts,
        "characters": sum(len(t) for ts in texts.values() for t in ts),
        "texts_per_second": {name: round(n_texts / m, 2) for name, m in medians.items()},
        "speedup_vs_taskflow": {name: round(medians["taskflow"] / m, 2) for name, m in medians.items()},
        "speedup_vs_exact": {name: round(medians["exact"] / m, 2) for name, m in medians.items()},
        "int8_vs_taskflow_target_8x": "pass" if medians["taskflow"] / medians[ONNX_INT8] >= 8 else "FAIL",
        "exact_results_equal_taskflow": exact_equals_taskflow,
        "onnxruntime_fp32_results_equal_exact": onnx_fp32_equals_exact,
        "int8_vs_fp32_agreement_on_workload": int8_agreement,
        "fast_vs_exact_agreement": {"workload": work_agreement, "demo_heldout": heldout_agreement},
        "seconds_by_group_one_round": profiles,
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
