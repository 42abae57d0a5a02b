"""examples/uie/finetune.py on a tiny UIE-M: per-label evaluation, ``best/`` in PaddleNLP's layout (PaddleNLP's own
UIEM loads it and gives the same probabilities), exact resume, bad data reported by file and line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import paddle
import pytest

from converters.formats import load_paddle_state
from paddle_ernie_m import ErnieMConfig, ErnieMTokenizer, UIEM
from paddle_ernie_m.uie.doccano import write_jsonl

from .scripts import load_script

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    work = tmp_path_factory.mktemp("finetune")
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    paddle.seed(0)
    UIEM(ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).save_pretrained(work / "init")
    tokenizer.save_pretrained(work / "init")
    examples = []
    for i, name in enumerate(["张三", "李四", "王五", "赵六"] * 4):
        text = f"{name}在北京工作{i}。"
        examples.append({"content": text, "prompt": "人物", "result_list": [{"text": name, "start": 0, "end": 2}]})
        examples.append({"content": text, "prompt": "地点", "result_list": [{"text": "北京", "start": 3, "end": 5}]})
    write_jsonl(work / "train.txt", examples)
    write_jsonl(work / "dev.txt", examples[:8])
    return work


def _args(work: Path, output: str, *extra: str):
    return ["--model", str(work / "init"), "--train_file", str(work / "train.txt"), "--eval_file",
            str(work / "dev.txt"), "--output_dir", str(work / output), "--max_length", "32", "--batch_size", "8",
            "--max_steps", "6", "--eval_steps", "3", "--save_steps", "3", "--learning_rate", "1e-3",
            "--no-progress_bar", *extra]


def test_best_checkpoint_is_a_paddlenlp_uie_checkpoint_scored_per_label(setup):
    from paddlenlp.transformers import UIEM as PaddleNLPUIEM

    summary = load_script("examples/uie/finetune.py").main(_args(setup, "run"))
    records = [json.loads(line) for line in (setup / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["step"] for r in evals] == [3, 6]
    assert {"f1", "precision", "recall", "f1[人物]", "f1[地点]"} <= set(evals[0])
    best = Path(summary["best_model"])
    config = json.loads((best / "config.json").read_text())
    assert config["architectures"] == ["UIEM"] and config["attention_mask_mode"] == "paddlenlp"
    for name in ("model_state.pdparams", "vocab.txt", "sentencepiece.bpe.model"):
        assert (best / name).is_file()
    reference = PaddleNLPUIEM.from_pretrained(str(best))
    reference.eval()
    ids = paddle.to_tensor([[0, 5, 9, 2, 2, 17, 23, 2, 1, 1]])
    ours = UIEM.from_pretrained(best)
    with paddle.no_grad():
        np.testing.assert_allclose(ours(ids, return_dict=True).start_prob.numpy(), reference(ids)[0].numpy(),
                                   atol=1e-6)


def test_an_interrupted_run_resumes_to_the_same_weights(setup):
    finetune = load_script("examples/uie/finetune.py")
    finetune.main(_args(setup, "full"))
    shutil.copytree(setup / "full", setup / "cut")
    shutil.rmtree(setup / "cut" / "checkpoint-6")  # as if stopped after step 3
    finetune.main(_args(setup, "cut", "--resume_from_checkpoint", "latest"))
    full = load_paddle_state(setup / "full" / "checkpoint-6")
    resumed = load_paddle_state(setup / "cut" / "checkpoint-6")
    assert sorted(full) == sorted(resumed)
    for key, value in full.items():
        np.testing.assert_allclose(resumed[key], value, atol=1e-7, err_msg=key)


def test_malformed_training_lines_are_named_or_skipped(setup, capsys):
    bad = setup / "bad.txt"
    bad.write_text((setup / "train.txt").read_text(encoding="utf-8") + '{"content": "x"}\n', encoding="utf-8")
    args = ["--model", str(setup / "init"), "--train_file", str(bad), "--output_dir", str(setup / "bad-run"),
            "--max_steps", "1", "--max_length", "32", "--no-progress_bar"]
    finetune = load_script("examples/uie/finetune.py")
    assert finetune.script.run(finetune.main, args, "finetune.py") == 1
    assert "bad.txt:33: a UIE example needs" in capsys.readouterr().err
    assert finetune.script.run(finetune.main, args + ["--skip_invalid"], "finetune.py") == 0
