"""Training steps per second: our training loop on our ErnieMForSequenceClassification vs the same loop on
PaddleNLP 2.8.1's class, same base-size random weights, same data, same process, CPU.

    .venv/bin/python benchmarks/bench_training.py [--steps 6] [--batch 16] [--seq 128] [--order paddlenlp,ours]

Each step is one AdamW update on a batch of ``batch x seq`` tokens (forward, backward, clipping, optimizer);
the first step of each model is a warm-up, the median of the others is reported, as wall time and as process
CPU time (the latter is less sensitive to other work on a shared machine). Both models get the same threads
(``configure_cpu_threads``: every core) and dropout 0.1. Checkpoint writing is left out of the run.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path


def make_model(name: str, state: dict):
    """A base-size classifier of either implementation; the first one built fills ``state``, the second
    takes its weights from it."""
    import paddle
    import paddlenlp.transformers as pnlp

    from paddle_ernie_m import ErnieMForSequenceClassification
    from converters.configuration import ErnieMConfig

    paddle.seed(0)
    if name == "ours":
        model = ErnieMForSequenceClassification(ErnieMConfig(num_labels=3))  # ernie-m-base shapes
    else:
        model = pnlp.ErnieMForSequenceClassification(pnlp.ErnieMConfig(num_classes=3))
    if state:
        model.set_state_dict(state)
        state.clear()
    else:
        state.update({k: v.numpy() for k, v in model.state_dict().items()})
    return model


def run(name, model, steps: int, batch: int, seq: int, output: Path) -> dict:
    import numpy as np

    from paddle_ernie_m.training import DynamicPaddingCollator, Trainer, TrainingArguments

    wall, cpu = [], []

    class TimedTrainer(Trainer):
        def _train_step(self, *args):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            logs = super()._train_step(*args)
            float(logs["loss"])  # wait for the step to finish
            wall.append(time.perf_counter() - start_wall)
            cpu.append(time.process_time() - start_cpu)
            return logs

        def _save(self, *args):  # the benchmark measures steps, not 3 GB of checkpoint writes
            pass

    rng = np.random.default_rng(0)
    features = []
    for _ in range(batch * steps):
        ids = rng.integers(5, 250000, size=seq)
        ids[0], ids[-1] = 0, 2
        features.append({"input_ids": ids.tolist(), "labels": int(rng.integers(0, 3))})

    def paddlenlp_loss(model, inputs):
        return model(**inputs, return_dict=True).loss, {}

    args = TrainingArguments(output_dir=str(output / name), max_steps=steps, batch_size=batch, logging_steps=1,
                             learning_rate=5e-5, warmup_ratio=0.1, layerwise_decay=0.8, progress_bar=False)
    collate = DynamicPaddingCollator(1, ("input_ids", "attention_mask", "labels"))
    TimedTrainer(model, args, features, collate, compute_loss=paddlenlp_loss if name == "paddlenlp" else None
                 ).train()
    median = statistics.median(wall[1:])
    return {"impl": name, "steps_per_second": 1.0 / median, "median_s_per_step": median,
            "median_cpu_s_per_step": statistics.median(cpu[1:]), "wall_s": wall, "cpu_s": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="steps per model, the first is a warm-up")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--order", default="ours,paddlenlp", choices=("ours,paddlenlp", "paddlenlp,ours"),
                        help="which loop runs first (the machine's load may change during a run)")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2 (one warm-up)")
    from paddle_ernie_m.runtime import configure_cpu_threads

    threads = configure_cpu_threads()
    results, state = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.order.split(","):
            model = make_model(name, state)
            results[name] = run(name, model, args.steps, args.batch, args.seq, Path(tmp))
            print(json.dumps(results[name]), flush=True)
            del model
            gc.collect()
    ours, theirs = results["ours"], results["paddlenlp"]
    print(f"\nbase size, batch {args.batch} x {args.seq}, {threads} threads, median of {args.steps - 1} steps")
    print(f"{'loop on':<12}{'steps/s':>10}{'s/step':>10}{'CPU s/step':>12}")
    for r in results.values():
        print(f"{r['impl']:<12}{r['steps_per_second']:>10.4f}{r['median_s_per_step']:>10.2f}"
              f"{r['median_cpu_s_per_step']:>12.2f}")
    print(f"ours / paddlenlp speed: {ours['steps_per_second'] / theirs['steps_per_second']:.2f}x wall, "
          f"{theirs['median_cpu_s_per_step'] / ours['median_cpu_s_per_step']:.2f}x CPU time")


if __name__ == "__main__":
    main()
