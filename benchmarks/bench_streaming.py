"""``ernie-m predict -`` and ``ernie-m extract --input`` over many lines: throughput and peak memory per input size.

Both commands read, run and write their texts in bounded chunks, so the peak resident memory must not grow with the
number of lines. Each size runs the real command in a fresh process, which reports its own peak (``VmHWM``: model
loading included) and wall time (start-up included).

* predict: a sequence classifier with random weights and the tiny test tokenizer (hidden 32, 1 layer: the
  pipeline's cost, not a model's, dominates), Paddle Inference (exported once into a scratch export cache before
  the timed runs), stdin redirected from a file of distinct lines
  (``"<i> <a sentence of tests/data/multilingual.txt>"``).
* extract: the embedded demo UIE-M model (``paddle_ernie_m/assets/uie-m-demo``), schema ``["人物", "地点"]``,
  ``--backend inference`` (exported the same way), ``--mode fast``, a
  JSON lines file of the same distinct lines.

    python benchmarks/bench_streaming.py [--sizes 10000 100000 1000000] [--commands predict extract]

Not part of the test suite.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import cpu_description  # noqa: E402

TOKENIZER = REPO / "tests" / "fixtures" / "tiny_tokenizer"
DEMO = REPO / "paddle_ernie_m" / "assets" / "uie-m-demo"
SCHEMA = '["人物", "地点"]'
MEASURED = ("import atexit, sys; atexit.register(lambda: sys.stderr.write('PEAK_KIB %s\\n' % [l.split()[1] for l in "
            "open('/proc/self/status') if l.startswith('VmHWM')][0])); "
            "from paddle_ernie_m.cli import main; sys.exit(main())")


def sentences():
    with open(REPO / "tests" / "data" / "multilingual.txt", encoding="utf-8") as f:
        return [line.rstrip("\n").replace("\u2424", " ") for line in f if line.strip()]


def write_inputs(directory: Path, count: int) -> tuple:
    texts = sentences()
    plain, jsonl = directory / f"{count}.txt", directory / f"{count}.jsonl"
    with open(plain, "w", encoding="utf-8") as p, open(jsonl, "w", encoding="utf-8") as j:
        for i in range(count):
            text = f"{i} {texts[i % len(texts)]}"[:400]
            p.write(text.replace("\r", " ").replace("\n", " ") + "\n")
            j.write(json.dumps(text, ensure_ascii=False) + "\n")
    return plain, jsonl


def classifier(directory: Path) -> Path:
    import paddle

    from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer

    paddle.seed(0)
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                          num_attention_heads=2, num_labels=2)
    ErnieMForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def run(argv, stdin_path=None, cache=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           **({"ERNIE_M_CACHE": str(cache)} if cache else {})}
    started = time.perf_counter()
    with open(stdin_path or os.devnull, "rb") as stdin:
        done = subprocess.run([sys.executable, "-c", MEASURED, *map(str, argv)], stdin=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode()[-3000:])
    peak = int(done.stderr.decode().strip().splitlines()[-1].split()[1]) / 1024
    return done.stdout.count(b"\n"), seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--commands", nargs="+", choices=("predict", "extract"), default=["predict", "extract"])
    args = parser.parse_args()
    print(cpu_description())
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as scratch:
        scratch = Path(scratch)
        model = classifier(scratch / "classifier")
        cache = scratch / "cache"
        warm = write_inputs(scratch, 10)  # export both models once, outside the timed runs
        run(["predict", "--model", model, "-"], warm[0], cache=cache)
        run(["extract", "--model", DEMO, "--schema", SCHEMA, "--mode", "fast", "--input", warm[1]], cache=cache)
        print(f"{'command':8} {'lines':>10} {'results':>10} {'seconds':>9} {'lines/s':>9} {'peak MiB':>9}")
        for size in args.sizes:
            plain, jsonl = write_inputs(scratch, size)
            for command in args.commands:
                if command == "predict":
                    results, seconds, peak = run(["predict", "--model", model, "-"], plain, cache=cache)
                else:
                    results, seconds, peak = run(["extract", "--model", DEMO, "--schema", SCHEMA, "--mode", "fast",
                                                  "--input", jsonl], cache=cache)
                print(f"{command:8} {size:>10,} {results:>10,} {seconds:>9.1f} {size / seconds:>9.1f} {peak:>9.1f}",
                      flush=True)
            plain.unlink()
            jsonl.unlink()


if __name__ == "__main__":
    main()
