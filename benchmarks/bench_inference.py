"""Inference speed: our Paddle Inference predictor against dygraph (ours, PaddleNLP), transformers + torch eager
and a hand-tuned Paddle Inference + oneDNN run, on the same base-size random weights.

Workloads: (A) a batch of 8 x 128 tokens; (B) 32 texts with lengths spread between 16 and 256 tokens, run
bucketed by our predictor and padded to the longest text by everything else. Engines run in interleaved rounds
(each round times every engine once) so that load from other processes hits them alike; figures are medians.

    python benchmarks/bench_inference.py [--runs 5] [--threads N] [--skip-dygraph]

Not part of the test suite: it builds a 278M-parameter model (about 6 GB of memory in all) and takes minutes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np

import paddle
import paddle.inference as pi
import paddlenlp
import paddlenlp.transformers as pnlp
import torch
import transformers

from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification
from paddle_ernie_m.engines.export import export_model
from paddle_ernie_m.engines.paddle_program import program_file
from paddle_ernie_m.engines.paddle_engine import cpu_supports_bf16
from paddle_ernie_m.engines.predictor import Predictor
from paddle_ernie_m.runtime import available_cores, configure_cpu_threads
from torch_copy import transformers_classifier

NUM_LABELS = 3


def build_models(seed: int):
    """Our base-size classifier with random weights, and PaddleNLP's and transformers' on the same weights."""
    paddle.seed(seed)
    config = ErnieMConfig(num_labels=NUM_LABELS, architectures=("ErnieMForSequenceClassification",))
    ours = ErnieMForSequenceClassification(config)
    ours.eval()
    state = {k: v.numpy() for k, v in ours.state_dict().items()}
    theirs = pnlp.ErnieMForSequenceClassification(pnlp.ErnieMConfig(num_classes=NUM_LABELS))
    theirs.set_state_dict(state)
    theirs.eval()
    hf = transformers_classifier(state, config)
    return ours, theirs, hf


def workloads(vocab: int, seed: int) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    fixed = rng.integers(5, vocab, size=(8, 128)).astype("int64")
    fixed[:, 0], fixed[:, -1] = 0, 2
    lengths = rng.permutation(np.linspace(16, 256, 32).round().astype(int))
    mixed = np.full((32, 256), 1, dtype="int64")  # [PAD] = 1
    for row, n in enumerate(lengths):
        mixed[row, :n] = rng.integers(5, vocab, size=n)
        mixed[row, 0], mixed[row, n - 1] = 0, 2
    return {"A": fixed, "B": mixed}


def hand_tuned(export_dir: Path, threads: int, onednn: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """Paddle Inference set up by hand on the same export: oneDNN, all threads, zero-copy handles."""
    config = pi.Config(str(program_file(export_dir)), str(export_dir / "inference.pdiparams"))
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(threads)
    if onednn:
        config.enable_onednn()
    predictor = pi.create_predictor(config)
    handles = [predictor.get_input_handle(n) for n in predictor.get_input_names()]
    output = predictor.get_output_handle(predictor.get_output_names()[0])

    def run(ids: np.ndarray) -> np.ndarray:
        feeds = (ids, np.ascontiguousarray(np.broadcast_to(np.arange(ids.shape[1]), ids.shape)),
                 (ids != 1).astype("int64"))
        for handle, array in zip(handles, feeds):
            handle.reshape(list(array.shape))
            handle.copy_from_cpu(array)
        predictor.run()
        return output.copy_to_cpu()

    return run


def time_rounds(engines: Dict[str, Callable[[], np.ndarray]], runs: int) -> Dict[str, Tuple[List[float], List[float]]]:
    """Wall-clock and process CPU seconds of each engine, ``runs`` interleaved rounds after one warm-up round."""
    for fn in engines.values():  # warm-up: oneDNN primitives, allocator
        fn()
    times: Dict[str, Tuple[List[float], List[float]]] = {name: ([], []) for name in engines}
    for _ in range(runs):
        for name, fn in engines.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return times


def report(title: str, times: Dict[str, Tuple[List[float], List[float]]]) -> Dict[str, float]:
    """Print wall-clock medians (the figures) and CPU-time medians (which other processes do not inflate; with
    one thread they measure the work itself). Returns the wall-clock medians."""
    medians = {name: statistics.median(wall) for name, (wall, _) in times.items()}
    print(f"\n{title}")
    for name, (wall, cpu) in times.items():
        print(f"  {name:<46} median {medians[name]:7.3f} s  cpu {statistics.median(cpu):7.3f} s  "
              f"(runs: {', '.join(f'{x:.2f}' for x in wall)})")
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--threads", type=int, default=available_cores(), help="threads for every engine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-dygraph", action="store_true", help="leave out the two slow Paddle dygraph runs")
    args = parser.parse_args()
    threads = args.threads
    configure_cpu_threads(threads)  # Paddle dygraph (process-wide)
    torch.set_num_threads(threads)
    print(f"paddle {paddle.__version__}, paddlenlp {paddlenlp.__version__}, "
          f"torch {torch.__version__}, transformers {transformers.__version__}; {threads} threads, "
          f"avx512_bf16: {cpu_supports_bf16()}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    t0 = time.perf_counter()
    ours, theirs, hf = build_models(args.seed)
    data = workloads(ours.config.vocab_size, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        export_dir = export_model(ours, Path(tmp) / "export")
        print(f"models built and exported in {time.perf_counter() - t0:.0f} s")
        fp32 = Predictor(export_dir, threads=threads)
        padded = Predictor(export_dir, threads=threads, batch_size=32, bucketing=False)
        bf16 = Predictor(export_dir, threads=threads, precision="bf16") if cpu_supports_bf16() else None
        tuned = hand_tuned(export_dir, threads)
        plain = hand_tuned(export_dir, threads, onednn=False)

        def dygraph(model, ids):
            with paddle.no_grad():
                out = model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor((ids != 1).astype("int64")))
            return (out.logits if hasattr(out, "logits") else out).numpy()

        def eager(ids):
            with torch.inference_mode():
                t = torch.from_numpy(ids)
                return hf(input_ids=t, attention_mask=(t != 1).long()).logits.numpy()

        ids = data["A"]
        engines = {
            "ours: Predictor fp32 (defaults)": lambda: fp32(input_ids=ids)["logits"],
            "hand-tuned Paddle Inference + oneDNN": lambda: tuned(ids),
            "Paddle Inference without oneDNN": lambda: plain(ids),
            "transformers + torch eager fp32": lambda: eager(ids),
        }
        if bf16 is not None:
            engines["ours: Predictor bf16"] = lambda: bf16(input_ids=ids)["logits"]
        if not args.skip_dygraph:
            engines["ours: dygraph"] = lambda: dygraph(ours, ids)
            engines["PaddleNLP 2.8.1 dygraph"] = lambda: dygraph(theirs, ids)
        a = report(f"(A) batch 8 x 128 tokens, {args.runs} rounds", time_rounds(engines, args.runs))

        reference = dygraph(ours, ids)
        print("\n  accuracy on (A), max |logits - our dygraph fp32| (logits are about 0.1-1 in size):")
        print(f"    Predictor fp32: {np.abs(fp32(input_ids=ids)['logits'] - reference).max():.2e}   "
              f"torch eager: {np.abs(eager(ids) - reference).max():.2e}   "
              f"PaddleNLP dygraph: {np.abs(dygraph(theirs, ids) - reference).max():.2e}")
        if bf16 is not None:
            print(f"    Predictor bf16: {np.abs(bf16(input_ids=ids)['logits'] - reference).max():.2e}")

        mixed = data["B"]
        engines_b = {
            "ours: Predictor fp32, bucketed (defaults)": lambda: fp32(input_ids=mixed)["logits"],
            "ours: Predictor fp32, padded to the longest": lambda: padded(input_ids=mixed)["logits"],
            "hand-tuned PI + oneDNN, padded to the longest": lambda: tuned(mixed),
            "transformers + torch eager, padded": lambda: eager(mixed),
        }
        if bf16 is not None:
            engines_b["ours: Predictor bf16, bucketed"] = lambda: bf16(input_ids=mixed)["logits"]
        b = report(f"(B) 32 texts of 16..256 tokens, {args.runs} rounds", time_rounds(engines_b, args.runs))
        print(f"\n  accuracy on (B): max |bucketed - padded| = "
              f"{np.abs(fp32(input_ids=mixed)['logits'] - padded(input_ids=mixed)['logits']).max():.2e}, "
              f"max |bucketed - torch| = {np.abs(fp32(input_ids=mixed)['logits'] - eager(mixed)).max():.2e}")

    torch_a = a["transformers + torch eager fp32"]
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    print("ratios (speed-up = other time / our time; targets from the issue):")
    print(f"  (A) Predictor fp32 vs torch eager:            {torch_a / a['ours: Predictor fp32 (defaults)']:.2f}x "
          f"(target >= 2)")
    print(f"  (A) Predictor fp32 vs hand-tuned PI + oneDNN: "
          f"{a['hand-tuned Paddle Inference + oneDNN'] / a['ours: Predictor fp32 (defaults)']:.2f}x (target >= 0.9)")
    print(f"  (A) oneDNN on vs off:                         "
          f"{a['Paddle Inference without oneDNN'] / a['hand-tuned Paddle Inference + oneDNN']:.2f}x")
    if bf16 is not None:
        print(f"  (A) Predictor bf16 vs torch eager fp32:       {torch_a / a['ours: Predictor bf16']:.2f}x "
              f"(target >= 3.5)")
    else:
        print("  (A) Predictor bf16: not measured, this CPU lacks avx512_bf16")
    if not args.skip_dygraph:
        print(f"  (A) Predictor fp32 vs our dygraph:            "
              f"{a['ours: dygraph'] / a['ours: Predictor fp32 (defaults)']:.2f}x")
        print(f"  (A) Predictor fp32 vs PaddleNLP dygraph:      "
              f"{a['PaddleNLP 2.8.1 dygraph'] / a['ours: Predictor fp32 (defaults)']:.2f}x")
    ours_b = b["ours: Predictor fp32, bucketed (defaults)"]
    print(f"  (B) bucketed vs padded to the longest:        "
          f"{b['ours: Predictor fp32, padded to the longest'] / ours_b:.2f}x (target >= 1.5)")
    print(f"  (B) bucketed vs torch eager padded:           "
          f"{b['transformers + torch eager, padded'] / ours_b:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
