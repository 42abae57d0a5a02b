"""Engines for a base-size ERNIE-M classifier on the CPU: ours (Paddle Inference fp32, ONNX Runtime fp32 and int8
from ``export_model(..., format="onnx")``) against transformers + torch eager fp32 and the plain ONNX Runtime way a
user would take (``torch.onnx.export`` of the same torch model, a default ``InferenceSession``, and
``quantize_dynamic`` with QInt8 weights and no other option for int8).

Workload: seq-cls, random weights (hidden 768, 12 layers, 12 heads, vocab 250002), a batch of 8 x 128 tokens (every
row full length, so bucketing plays no part). All engines live in one process and run in interleaved rounds (each
round times every engine once) so that load from other processes hits them alike; figures are medians. Also: max
|logits - torch| of each engine, the size of the int8 export against the fp32 checkpoint (``model_state.pdparams``
of the same weights), and the peak RSS of a loaded predictor (``VmHWM`` after loading and one run, each in a
fresh subprocess).

    python benchmarks/bench_engines.py [--threads 2] [--rounds 5] [--quick]

Not part of the test suite: it builds a 278M-parameter model (about 7 GB of memory at the peak, 5 GB of temporary
files) and takes several minutes. ``--quick``: a tiny model, to check that the script runs.
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import paddle_ernie_m  # noqa: E402,F401  (before torch and Paddle: MKL's AVX2 path on AMD)
from tests.scripts import load_script  # noqa: E402
from machine import cpu_description  # noqa: E402
from torch_copy import transformers_classifier  # noqa: E402

NUM_LABELS = 3
BASE = dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12)
QUICK = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
TORCH = "transformers + torch eager fp32"
PLAIN_FP32 = "plain ONNX Runtime fp32 (torch.onnx)"
PLAIN_INT8 = "plain ONNX Runtime int8 (quantize_dynamic)"
OURS_PADDLE = "ours: Predictor, Paddle Inference fp32"
OURS_FP32 = "ours: Predictor, ONNX Runtime fp32"
OURS_INT8 = "ours: Predictor, ONNX Runtime int8"

#: Run in a fresh interpreter: load the predictor of argv[1], run it once on a [batch, seq] batch, print the peak
#: resident set size in MB: ``ru_maxrss`` and ``VmHWM`` (both KiB on Linux). Linux keeps ``ru_maxrss`` across
#: ``execve``, where it takes in the peak of the memory image being replaced: a child forked (or vforked) from this
#: multi-GB benchmark would report at least the benchmark's size. ``VmHWM`` is the peak of the child's own image.
RSS_PROBE = """
import resource, sys
import numpy as np
from paddle_ernie_m.engines.predictor import Predictor
path, threads, batch, seq, vocab = sys.argv[1], *map(int, sys.argv[2:])
predictor = Predictor(path, threads=threads)
ids = np.random.default_rng(0).integers(5, vocab, size=(batch, seq))
ids[:, 0], ids[:, -1] = 0, 2
predictor(input_ids=ids)
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, int(hwm) / 1024)
"""


def build_models(sizes: Dict[str, int], seed: int):
    """Our seq-cls model with random weights and transformers' on the same weights (eval mode)."""
    import paddle

    from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification

    paddle.seed(seed)
    config = ErnieMConfig(num_labels=NUM_LABELS, architectures=("ErnieMForSequenceClassification",), **sizes)
    ours = ErnieMForSequenceClassification(config)
    ours.eval()
    state = {k: v.numpy() for k, v in ours.state_dict().items()}
    hf = transformers_classifier(state, config)
    return ours, hf


def plain_onnx(hf, directory: Path, sample: np.ndarray) -> Dict[str, Path]:
    """What a user does: ``torch.onnx.export`` (opset 17, TorchScript exporter) of the torch model, then
    ``quantize_dynamic`` with QInt8 weights and nothing else. Returns the fp32 and int8 model files."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Logits(torch.nn.Module):  # the same model, returning a tensor instead of a ModelOutput
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    fp32, int8 = directory / "plain-fp32.onnx", directory / "plain-int8.onnx"
    ids = torch.from_numpy(sample)
    axes = {0: "batch", 1: "seq"}
    # eval() on the wrapper too: the exporter puts the module back into the mode it found it in, recursively, and a
    # new wrapper is in training mode (that would turn the model's dropout on for the eager runs after this)
    with torch.inference_mode():
        torch.onnx.export(Logits(hf).eval(), (ids, (ids != 1).long()), str(fp32), opset_version=17, dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}})
    if hf.training:
        raise RuntimeError("torch.onnx.export left the model in training mode")
    logging.disable(logging.INFO)  # the quantizer logs a line per tensor it skips
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    return {"fp32": fp32, "int8": int8}


def plain_session(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A default ``InferenceSession`` on ``path`` with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda ids: session.run(None, {"input_ids": ids, "attention_mask": (ids != 1).astype(np.int64)})[0]


def profile_ops(path: Path, threads: int, ids: np.ndarray, feeds: Callable[[np.ndarray], Dict[str, np.ndarray]],
                prefix: Path, runs: int = 3) -> Dict[str, float]:
    """Kernel milliseconds per run by operator type, from ONNX Runtime's profiler (``enable_profiling``) on a session
    of ``path`` set up as the engine's (sequential, ``threads`` intra-op threads), ``runs`` runs after a warm-up."""
    import json

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(prefix)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, feeds(ids))
    for _ in range(runs):
        session.run(None, feeds(ids))
    events = json.loads(Path(session.end_profiling()).read_text())
    by_op: Dict[str, float] = {}
    run_events = [e for e in events if e.get("name") == "model_run"][-runs:]
    start = run_events[0]["ts"] if run_events else 0
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= start:
            op = event["args"].get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + event["dur"] / 1000 / runs
    by_op["(whole run)"] = sum(e["dur"] for e in run_events) / 1000 / max(1, len(run_events))
    return by_op


def print_profiles(profiles: Dict[str, Dict[str, float]], top: int = 8) -> None:
    print("\nONNX Runtime profile (enable_profiling), kernel ms per run by operator type:")
    for name, by_op in profiles.items():
        whole = by_op.pop("(whole run)")
        ops = sorted(by_op.items(), key=lambda kv: -kv[1])[:top]
        print(f"  {name} (whole run {whole:.0f} ms): " + ", ".join(f"{op} {ms:.0f}" for op, ms in ops))


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_rss_mb(export_dir: Path, threads: int, ids: np.ndarray, vocab: int) -> Tuple[float, float]:
    """``(ru_maxrss, VmHWM)`` in MB of a fresh interpreter that loads ``Predictor(export_dir)`` and runs it once
    (see :data:`RSS_PROBE`)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(export_dir), str(threads), *map(str, ids.shape),
                          str(vocab)], env=env, check=True, capture_output=True, text=True).stdout
    maxrss, hwm = out.strip().splitlines()[-1].split()
    return float(maxrss), float(hwm)


def verdict(value: float, target: float, higher: bool = True) -> str:
    ok = value >= target if higher else value <= target
    return f"(target {'>=' if higher else '<='} {target:g}: {'pass' if ok else 'FAIL'})"


def time_engines(hf, exports: Dict[str, Path], plain: Dict[str, Path], ids: np.ndarray, threads: int,
                 rounds: int) -> Dict[str, float]:
    """Load every engine, time them in interleaved rounds, print the medians and each engine's max |logits -
    torch|; return the wall-clock medians."""
    import torch

    from paddle_ernie_m.engines.predictor import Predictor

    timing = load_script("benchmarks/bench_inference.py")  # time_rounds / report: the same method as there
    run_plain_fp32, run_plain_int8 = plain_session(plain["fp32"], threads), plain_session(plain["int8"], threads)
    predictors = {name: Predictor(path, threads=threads) for name, path in exports.items()}

    def eager(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x)
            return hf(input_ids=t, attention_mask=(t != 1).long()).logits.numpy()

    engines = {
        TORCH: lambda: eager(ids),
        PLAIN_FP32: lambda: run_plain_fp32(ids),
        PLAIN_INT8: lambda: run_plain_int8(ids),
        OURS_PADDLE: lambda: predictors["paddle"](input_ids=ids)["logits"],
        OURS_FP32: lambda: predictors["onnx-fp32"](input_ids=ids)["logits"],
        OURS_INT8: lambda: predictors["onnx-int8"](input_ids=ids)["logits"],
    }
    medians = timing.report(f"batch {ids.shape[0]} x {ids.shape[1]}, {rounds} interleaved rounds (wall-clock medians)",
                            timing.time_rounds(engines, rounds))
    reference = eager(ids)
    print(f"\nmax |logits - torch eager fp32| (logits are about {np.abs(reference).max():.2f} at most):")
    for name, run in engines.items():
        if name != TORCH:
            print(f"  {name:<46} {np.abs(run() - reference).max():.2e}")
    return medians


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads of every engine (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="timed interleaved rounds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and ids (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny model (hidden 64, 2 layers, vocab 1000) on 2 x 16 tokens: checks that the script "
                             "runs; its figures mean nothing")
    parser.add_argument("--profile", action="store_true",
                        help="after timing, profile the four ONNX Runtime sessions and print where their time goes")
    args = parser.parse_args(argv)
    sizes, (batch, seq) = (QUICK, (2, 16)) if args.quick else (BASE, (8, 128))

    import onnxruntime
    import paddle
    import torch
    import transformers

    from paddle_ernie_m.engines.export import export_model

    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_description()}")
    print(f"paddle {paddle.__version__}, onnxruntime {onnxruntime.__version__}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}; {args.threads} threads; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"model: seq-cls, {sizes}, random weights (seed {args.seed}); batch {batch} x {seq} tokens")

    rng = np.random.default_rng(args.seed)
    ids = rng.integers(5, sizes["vocab_size"], size=(batch, seq)).astype("int64")
    ids[:, 0], ids[:, -1] = 0, 2

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        tmp = Path(tmp)
        ours, hf = build_models(sizes, args.seed)
        ours.save_pretrained(tmp / "checkpoint")
        exports = {name: export_model(ours, tmp / name, **kw) for name, kw in (
            ("paddle", {}), ("onnx-fp32", {"format": "onnx"}), ("onnx-int8", {"format": "onnx", "precision": "int8"}))}
        del ours
        gc.collect()
        plain = plain_onnx(hf, tmp, ids)
        print(f"models built and exported in {time.perf_counter() - t0:.0f} s")

        medians = time_engines(hf, exports, plain, ids, args.threads, args.rounds)
        del hf  # every engine is gone with time_engines' frame: only the files stay
        gc.collect()
        if args.profile:
            from paddle_ernie_m.engines.onnx_graph import ONNX_FILE

            ours_feeds = lambda x: {"input_ids": x, "position_ids": np.broadcast_to(  # noqa: E731
                np.arange(x.shape[1]), x.shape).copy(), "attention_mask": (x != 1).astype(np.int64)}
            plain_feeds = lambda x: {"input_ids": x, "attention_mask": (x != 1).astype(np.int64)}  # noqa: E731
            sessions = {PLAIN_FP32: (plain["fp32"], plain_feeds),
                        OURS_FP32: (exports["onnx-fp32"] / ONNX_FILE, ours_feeds),
                        PLAIN_INT8: (plain["int8"], plain_feeds),
                        OURS_INT8: (exports["onnx-int8"] / ONNX_FILE, ours_feeds)}
            print_profiles({name: profile_ops(path, args.threads, ids, feeds, tmp / f"profile-{i}")
                            for i, (name, (path, feeds)) in enumerate(sessions.items())})

        checkpoint = (tmp / "checkpoint" / "model_state.pdparams").stat().st_size
        int8_files = directory_bytes(exports["onnx-int8"])
        rss = {name: peak_rss_mb(exports[name], args.threads, ids, sizes["vocab_size"])
               for name in ("onnx-int8", "onnx-fp32", "paddle")}

    torch_time = medians[TORCH]
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    print("speed (ratio = other time / this time):")
    for name in (PLAIN_FP32, PLAIN_INT8, OURS_PADDLE, OURS_FP32, OURS_INT8):
        print(f"  {name:<46} {torch_time / medians[name]:5.2f}x torch")
    int8_vs_torch = torch_time / medians[OURS_INT8]
    int8_vs_plain = medians[PLAIN_INT8] / medians[OURS_INT8]
    fp32_vs_torch = torch_time / medians[OURS_FP32]
    print(f"  ours int8 vs torch eager fp32:               {int8_vs_torch:5.2f}x {verdict(int8_vs_torch, 2.2)}")
    print(f"  ours int8 vs plain ONNX Runtime int8:        {int8_vs_plain:5.2f}x {verdict(int8_vs_plain, 1.1)}")
    print(f"  ours ONNX fp32 vs torch eager fp32:          {fp32_vs_torch:5.2f}x {verdict(fp32_vs_torch, 1.1)}")
    print(f"  ours ONNX fp32 vs plain ONNX Runtime fp32:   {medians[PLAIN_FP32] / medians[OURS_FP32]:5.2f}x")
    print(f"  ours Paddle fp32 vs torch eager fp32:        {torch_time / medians[OURS_PADDLE]:5.2f}x "
          f"{verdict(torch_time / medians[OURS_PADDLE], 1.1)}")
    size_ratio = int8_files / checkpoint
    print(f"files: int8 export directory {int8_files / 1e6:.1f} MB, fp32 checkpoint model_state.pdparams "
          f"{checkpoint / 1e6:.1f} MB: {size_ratio:.3f}x {verdict(size_ratio, 0.3, higher=False)}")
    print("peak RSS of a fresh process after loading the predictor and one run (VmHWM; ru_maxrss of the same "
          "process, which holds this benchmark's own peak, in brackets):")
    for name, (maxrss, hwm) in rss.items():
        print(f"  {name:<10} {hwm:8.0f} MB   [{maxrss:.0f} MB]")
    for other in ("onnx-fp32", "paddle"):
        ratio = rss["onnx-int8"][1] / rss[other][1]
        print(f"  int8 / {other}: {ratio:.3f}x {verdict(ratio, 0.5, higher=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
