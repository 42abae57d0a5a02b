"""examples/pretrain.py on the synthetic cipher corpus: every objective's held-out loss goes down, each is logged."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import paddle
import pytest

from .scripts import load_script

OBJECTIVES = ("mlm", "camlm", "btmlm")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    make = load_script("examples/pretrain_data/make_cipher_corpus.py")
    return make.make_cipher_corpus(tmp_path_factory.mktemp("cipher") / "corpus", parallel=80, test=32,
                                   monolingual=200, seed=1)


def test_cipher_corpus_is_a_word_by_word_substitution_with_disjoint_vocabularies(corpus):
    from paddle_ernie_m.pretraining.collator import read_monolingual, read_parallel_tsv

    pairs = read_parallel_tsv(corpus / "train.parallel.tsv")
    vocab = (corpus / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert vocab[:4] == ["[CLS]", "[PAD]", "[SEP]", "[UNK]"] and vocab[-1] == "[MASK]"
    english = {w for p in pairs for w in p.source.split()}
    cipher = {w for p in pairs for w in p.target.split()}
    assert not english & cipher and english | cipher <= set(vocab)
    letters = {}
    for pair in pairs:
        assert (pair.source_lang, pair.target_lang) == ("en", "cipher")
        for a, b in zip(pair.source, pair.target):  # one fixed letter permutation, spaces kept
            assert letters.setdefault(a, b) == b
    assert letters[" "] == " " and len(set(letters.values())) == len(letters)
    held_out = {p.source for p in read_parallel_tsv(corpus / "test.parallel.tsv")}
    mono = set(read_monolingual(corpus / "mono.en.txt"))
    assert not held_out & {p.source for p in pairs} and not held_out & mono


def _held_out_losses(model, corpus: Path):
    from paddle_ernie_m.pretraining.collator import (PretrainingCollator, SpecialTokens, WhitespaceTokenizer,
                                                     encode, mix_features, read_parallel_tsv)
    from paddle_ernie_m.pretraining.objectives import PretrainingLoss

    tokenizer = WhitespaceTokenizer.from_pretrained(corpus)
    special = SpecialTokens.from_tokenizer(tokenizer)
    pairs = [(encode(tokenizer, p.source), encode(tokenizer, p.target))
             for p in read_parallel_tsv(corpus / "test.parallel.tsv")]
    features = mix_features([s for pair in pairs for s in pair], pairs)
    batch = PretrainingCollator(special, OBJECTIVES)(features, rng=np.random.default_rng(0))
    model.eval()
    with paddle.no_grad():
        _, logs = PretrainingLoss(special)(model, {k: paddle.to_tensor(v) for k, v in batch.items()})
    return {k: float(v) for k, v in logs.items()}


@pytest.mark.slow
def test_pretraining_script_lowers_every_objective_loss_and_logs_each(corpus, tmp_path):
    from paddle_ernie_m import ErnieMConfig, ErnieMForPreTraining
    from paddle_ernie_m.training import set_seed

    config = ErnieMConfig(vocab_size=len((corpus / "vocab.txt").read_text().split("\n")) - 1, hidden_size=32,
                          num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=64)
    (tmp_path / "init").mkdir()
    config.save_pretrained(tmp_path / "init")
    set_seed(0)  # what the script does before building the model
    before = _held_out_losses(ErnieMForPreTraining(config), corpus)

    output = tmp_path / "run"
    summary = load_script("examples/pretrain.py").main([
        "--model", str(tmp_path / "init"), "--from_scratch", "--tokenizer", str(corpus),
        "--train_parallel", str(corpus / "train.parallel.tsv"),
        "--monolingual", str(corpus / "mono.en.txt"), str(corpus / "mono.cipher.txt"),
        "--eval_parallel", str(corpus / "test.parallel.tsv"), "--objectives", ",".join(OBJECTIVES),
        "--output_dir", str(output), "--max_steps", "60", "--batch_size", "16", "--learning_rate", "5e-3",
        "--warmup_steps", "4", "--logging_steps", "15", "--eval_steps", "60", "--max_length", "48",
        "--seed", "0", "--no-progress_bar"])
    assert summary["global_step"] == 60 and "retrieval_accuracy" in summary["last_eval"]

    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    assert len(train) == 4 and all(f"{o}_loss" in r for r in train for o in OBJECTIVES)
    for record in train:  # the logged loss is the sum of the objectives' (weights 1)
        assert record["loss"] == pytest.approx(sum(record[f"{o}_loss"] for o in OBJECTIVES), rel=1e-4)

    trained = ErnieMForPreTraining.from_pretrained(output / "checkpoint-60")
    assert (output / "checkpoint-60" / "vocab.txt").is_file()
    after = _held_out_losses(trained, corpus)
    for objective in OBJECTIVES:
        assert after[f"{objective}_loss"] < before[f"{objective}_loss"] - 0.5, (objective, before, after)
