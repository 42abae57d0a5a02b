"""Time and peak memory of ``from_pretrained`` on the same checkpoint in Paddle's layout and in transformers'
(``model.safetensors`` and ``pytorch_model.bin``), each in a fresh process, against a process that builds the same
model without loading anything: what reading either layout costs beyond the model itself.

Usage: ``python benchmarks/bench_loading.py [--hidden 768] [--layers 12] [--vocab 30000] [--repeats 3]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, resource, sys, time
from paddle_ernie_m import ErnieMForSequenceClassification as M
from paddle_ernie_m.pretrained import _no_weight_init
from converters.configuration import ErnieMConfig
directory = sys.argv[1]
start = time.perf_counter()
if sys.argv[2] == "load":
    model = M.from_pretrained(directory)
else:
    with _no_weight_init():
        model = M(ErnieMConfig.from_pretrained(directory))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def measure(directory: Path, what: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(directory), what], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    import numpy as np

    from benchmarks.machine import cpu_description
    from converters.configuration import ErnieMConfig
    from converters.convert import convert_checkpoint
    from converters.formats import save_paddle_state
    from converters.mapping import SEQUENCE, expand, paddle_shape

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=30000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(cpu_description())
    config = ErnieMConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                          num_attention_heads=args.hidden // 64, num_labels=3, architectures=(SEQUENCE,))
    dims = {"vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
            "intermediate_size": config.intermediate_size, "num_labels": 3,
            "max_position_embeddings": config.max_position_embeddings}
    rng = np.random.default_rng(0)
    state = {p: rng.standard_normal(paddle_shape(row, dims), dtype=np.float32) * 0.02
             for row, p, _ in expand(SEQUENCE, args.layers)}
    size = sum(a.nbytes for a in state.values())
    with tempfile.TemporaryDirectory(prefix="bench-loading-") as tmp:
        dirs = {"paddle (model_state.pdparams)": Path(tmp) / "paddle"}
        dirs["paddle (model_state.pdparams)"].mkdir()
        save_paddle_state(state, dirs["paddle (model_state.pdparams)"])
        config.save_pretrained(dirs["paddle (model_state.pdparams)"])
        del state
        dirs["transformers (model.safetensors)"] = Path(tmp) / "hf"
        dirs["transformers (pytorch_model.bin)"] = Path(tmp) / "hf-bin"
        convert_checkpoint(dirs["paddle (model_state.pdparams)"], dirs["transformers (model.safetensors)"],
                           "paddle2torch")
        convert_checkpoint(dirs["paddle (model_state.pdparams)"], dirs["transformers (pytorch_model.bin)"],
                           "paddle2torch", fmt="bin")
        print(f"ErnieMForSequenceClassification hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}: "
              f"{size / 2**20:.0f} MiB of float32 weights; medians of {args.repeats} interleaved runs, each in a "
              f"fresh process, one thread")
        runs = {name: [] for name in ["model only (no weights read)", *dirs]}
        for _ in range(args.repeats):
            runs["model only (no weights read)"].append(measure(dirs["paddle (model_state.pdparams)"], "build"))
            for name, directory in dirs.items():
                runs[name].append(measure(directory, "load"))
        base = statistics.median(r["peak_rss"] for r in runs["model only (no weights read)"])
        print(f"{'':34}  {'seconds':>8}  {'peak RSS MiB':>12}  {'over the model only':>20}")
        for name, results in runs.items():
            rss = statistics.median(r["peak_rss"] for r in results)
            print(f"{name:34}  {statistics.median(r['seconds'] for r in results):8.2f}  {rss / 2**20:12.0f}  "
                  f"{(rss - base) / 2**20:17.0f} MiB")


if __name__ == "__main__":
    main()
