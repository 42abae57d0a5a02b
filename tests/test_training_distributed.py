"""Data parallel through ``python -m paddle.distributed.launch``: 2 CPU processes running examples/train_seq_cls.py
train the weights of 1 process with the same global batch (dropout off: each rank draws its own masks), and
both ranks end with identical weights."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from converters.formats import load_paddle_state

from .scripts import DATA, EXAMPLES, load_script, make_tiny_model

# Dumps every rank's final weights next to the run, then runs the example script unchanged.
DRIVER = textwrap.dedent("""\
    import os, runpy, sys
    import numpy as np
    from paddle_ernie_m.training import trainer

    original = trainer.Trainer.train

    def train(self):
        state = original(self)
        rank = os.environ.get("PADDLE_TRAINER_ID", "0")
        np.savez(os.path.join(self.args.output_dir, f"rank{rank}.npz"),
                 **{k: v.numpy() for k, v in self.model.state_dict().items()})
        return state

    trainer.Trainer.train = train
    script = sys.argv.pop(1)
    sys.argv[0] = script
    runpy.run_path(script, run_name="__main__")
""")


def arguments(model: Path, output: Path, batch_size: int) -> list:
    # 48 examples, global batch 10: four full steps and a last one of 8 (4 per rank)
    return ["--model", str(model), "--train_file", str(DATA / "seq_cls" / "train.jsonl"),
            "--eval_file", str(DATA / "seq_cls" / "dev.jsonl"), "--text_column", "premise",
            "--text_pair_column", "hypothesis", "--output_dir", str(output), "--batch_size", str(batch_size),
            "--num_train_epochs", "1", "--learning_rate", "5e-3", "--logging_steps", "1", "--eval_steps", "2",
            "--max_length", "64", "--no-progress_bar"]


@pytest.mark.slow
def test_two_processes_train_the_weights_of_one_process_with_the_same_global_batch(tmp_path):
    model = make_tiny_model(tmp_path / "model", dropout=0.0)
    single = load_script("examples/train_seq_cls.py").main(arguments(model, tmp_path / "single", batch_size=10))

    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
               "--log_dir", str(tmp_path / "logs"), str(driver), str(EXAMPLES / "train_seq_cls.py"),
               *arguments(model, tmp_path / "dp", batch_size=5)]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted((tmp_path / "logs").glob("workerlog.*")))
    assert result.returncode == 0, result.stderr[-3000:] + logs

    rank0, rank1 = np.load(tmp_path / "dp" / "rank0.npz"), np.load(tmp_path / "dp" / "rank1.npz")
    reference = load_paddle_state(tmp_path / "single" / f"checkpoint-{single['global_step']}")
    assert single["global_step"] == 5 and set(rank0.files) == set(reference)
    saved = load_paddle_state(tmp_path / "dp" / "checkpoint-5")
    for name, expected in reference.items():
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)
        np.testing.assert_array_equal(saved[name], rank0[name], err_msg=name)
        np.testing.assert_allclose(rank0[name], expected, rtol=0, atol=1e-5, err_msg=name)
    initial = load_paddle_state(model)
    trained_key = "ernie_m.encoder.layers.0.linear1.weight"
    initial_key = next(k for k in initial if k.endswith("encoder.layers.0.linear1.weight"))
    assert np.abs(reference[trained_key] - initial[initial_key]).max() > 1e-3  # training did move the weights
    # rank 0 evaluated and logged for both: the same evaluations as the single process
    single_log = (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()
    dp_log = (tmp_path / "dp" / "metrics.jsonl").read_text().splitlines()
    assert [line for line in dp_log if '"eval"' in line] == [line for line in single_log if '"eval"' in line]
