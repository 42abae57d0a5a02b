"""Conversion speed and memory on an ernie-m-base-shaped checkpoint (random weights, 278M parameters, 1.1 GB fp32).

For each direction and input format, runs ``python -m converters`` in a fresh process (median wall time of
``--runs`` runs, and its peak RSS from ``wait4``), next to ``cp`` of the same weights file in the same run.

Targets (issue 3): wall time <= 2x cp for safetensors -> safetensors and <= 3x cp for .pdparams -> safetensors;
peak RSS <= 1.3x the checkpoint size for .pdparams input and <= 0.5x for safetensors input.

Usage: python benchmarks/bench_convert.py [--runs 5] [--workdir benchmarks/out/convert]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from converters.convert import WRITER as CONVERT  # noqa: E402
from converters.tensors import paddle_to_torch  # noqa: E402
from converters.configuration import ErnieMConfig  # noqa: E402
from converters.files import atomic_directory, record_output, remove_output, write_atomic  # noqa: E402

#: The writer named in the marker of the work directory (a later run rebuilds or deletes only what it wrote).
WRITER = "bench_convert.py"
BASE = ErnieMConfig(architectures=("ErnieMModel",))  # ernie-m-base: hidden 768, 12 layers, vocab 250002


def _paddle_state() -> Dict[str, np.ndarray]:
    """Random ernie-m-base weights in PaddleNLP's layout (names and [in, out] shapes)."""
    from converters.mapping import BASE as HEAD, expand, paddle_shape

    dims = {f: getattr(BASE, f) for f in ("vocab_size", "hidden_size", "intermediate_size",
                                          "max_position_embeddings", "num_labels")}
    rng = np.random.default_rng(0)
    state = {}
    for row, name, _ in expand(HEAD, BASE.num_hidden_layers):
        state[name] = rng.standard_normal(paddle_shape(row, dims), dtype=np.float32) * np.float32(0.02)
    return state


def build_inputs(workdir: Path) -> Dict[str, Path]:
    """The four input checkpoints, each written by a writer independent of the converter's, in ``workdir`` (which
    is replaced only when it is this benchmark's own)."""
    names = ("paddle_pdparams", "paddle_safetensors", "hf_safetensors", "hf_bin")
    if all((workdir / name / "config.json").is_file() for name in names):
        return {name: workdir / name for name in names}
    with atomic_directory(workdir, WRITER, force=True) as tmp:
        _write_inputs({name: tmp / name for name in names})
    return {name: workdir / name for name in names}


def _write_inputs(dirs: Dict[str, Path]) -> None:
    for d in dirs.values():
        d.mkdir()
    state = _paddle_state()
    # what paddle.save writes for a state dict: a protocol-4 pickle of numpy arrays plus a name table
    with open(dirs["paddle_pdparams"] / "model_state.pdparams", "wb") as f:
        pickle.dump({**state, "StructuredToParameterName@@": {k: k for k in state}}, f, protocol=4)
    from safetensors.numpy import save_file

    save_file(state, str(dirs["paddle_safetensors"] / "model.safetensors"), metadata={"format": "np"})
    hf = paddle_to_torch(state, BASE)
    del state
    save_file(hf, str(dirs["hf_safetensors"] / "model.safetensors"), metadata={"format": "pt"})
    import torch

    torch.save({k: torch.from_numpy(v) for k, v in hf.items()}, dirs["hf_bin"] / "pytorch_model.bin")
    del hf
    for name, d in dirs.items():
        BASE.save_pretrained(d, dialect="paddle" if name.startswith("paddle") else "hf")


def run(argv: List[str]) -> Tuple[float, int]:
    """Wall time (s) and peak RSS (bytes) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {process.stderr.read().decode()}")
    process.stderr.close()
    return elapsed, usage.ru_maxrss * 1024


CASES = [
    # (label, direction, input dir, weights file, extra options, time target x cp, RSS target x size)
    ("pdparams -> safetensors", "paddle2torch", "paddle_pdparams", "model_state.pdparams", [], 3.0, 1.3),
    ("safetensors (Paddle) -> safetensors", "paddle2torch", "paddle_safetensors", "model.safetensors", [], 2.0, 0.5),
    ("safetensors -> safetensors (Paddle)", "torch2paddle", "hf_safetensors", "model.safetensors",
     ["--paddle-format", "safetensors"], 2.0, 0.5),
    ("safetensors -> pdparams", "torch2paddle", "hf_safetensors", "model.safetensors", [], None, 0.5),
    ("pytorch_model.bin -> pdparams", "torch2paddle", "hf_bin", "pytorch_model.bin", [], None, None),
    ("pdparams -> pytorch_model.bin", "paddle2torch", "paddle_pdparams", "model_state.pdparams",
     ["--torch-format", "bin"], None, 1.3),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out" / "convert")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_inputs(args.workdir)
        return 0
    # built in a child process: a child forked from a large parent would report the parent's RSS as its own
    subprocess.run([sys.executable, __file__, "--build-only", "--workdir", str(args.workdir)], check=True)
    dirs = build_inputs(args.workdir)
    out, copy = args.workdir / "dst", args.workdir / "cp"
    for name in (out.name, copy.name, "results.json"):
        record_output(args.workdir, WRITER, name)
    print(f"ernie-m-base-shaped checkpoint, {args.runs} runs per figure (medians), python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    header = (f"{'direction':<12} {'input -> output':<38} {'size GB':>7} {'convert s':>9} {'cp s':>6} "
              f"{'x cp':>5} {'peak RSS GB':>11} {'x size':>6}  target")
    print(header)
    print("-" * len(header))
    results = []
    for label, direction, name, weights, options, time_target, rss_target in CASES:
        src_file = dirs[name] / weights
        size = src_file.stat().st_size
        convert_times, rss, cp_times = [], [], []
        for _ in range(args.runs):
            if os.path.lexists(out):
                remove_output(out, CONVERT)
            t, m = run([sys.executable, "-m", "converters", direction, str(dirs[name]), str(out), "--no-progress",
                        *options])
            convert_times.append(t)
            rss.append(m)
            remove_output(out, CONVERT)
            with atomic_directory(copy, WRITER, force=True) as tmp:
                cp_times.append(run(["cp", str(src_file), str(tmp / weights)])[0])
        remove_output(copy, WRITER)
        t, c, m = statistics.median(convert_times), statistics.median(cp_times), max(rss)
        verdicts = []
        if time_target is not None:
            verdicts.append(f"time <= {time_target:g}x cp {'ok' if t <= time_target * c else 'MISSED'}")
        if rss_target is not None:
            verdicts.append(f"RSS <= {rss_target:g}x {'ok' if m <= rss_target * size else 'MISSED'}")
        print(f"{direction:<12} {label:<38} {size / 1e9:>7.2f} {t:>9.2f} {c:>6.2f} {t / c:>5.2f} "
              f"{m / 1e9:>11.2f} {m / size:>6.2f}  {'; '.join(verdicts) or '-'}", flush=True)
        results.append(dict(direction=direction, case=label, bytes=size, convert_s=t, cp_s=c, peak_rss=m,
                            runs=convert_times, cp_runs=cp_times, rss_runs=rss))
    write_atomic(args.workdir / "results.json", json.dumps(results, indent=2))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
