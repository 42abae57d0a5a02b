"""`ernie-m export` and `ernie-m predict` against PaddleNLP 2.8.1's tokenizer and classifier on the same files."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import paddle
import paddlenlp.transformers as pnlp
import pytest

from paddle_ernie_m.cli import main

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
TEXTS = ["Hello world, this is ERNIE-M.", "你好世界", "Ein kurzer Satz.",
         "A much longer sentence that goes on and on, with commas, numbers 12345 and more words than the others."]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A PaddleNLP sequence classifier with named labels and the tiny tokenizer files, saved by PaddleNLP."""
    paddle.seed(11)
    config = pnlp.ErnieMConfig(vocab_size=1502, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               max_position_embeddings=64, num_classes=3)
    model = pnlp.ErnieMForSequenceClassification(config)
    for name, param in model.named_parameters():  # PaddleNLP initialises biases to 0: make them matter
        if "bias" in name or "norm" in name:
            param.set_value(param + paddle.normal(0, 0.05, param.shape))
    model.eval()
    directory = tmp_path_factory.mktemp("checkpoint")
    model.save_pretrained(str(directory))
    config_path = directory / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "id2label": LABELS}))
    for name in ("vocab.txt", "sentencepiece.bpe.model"):
        shutil.copy(TOKENIZER / name, directory / name)
    return directory, model


def paddlenlp_predictions(model, texts):
    tokenizer = pnlp.ErnieMTokenizer(vocab_file=str(TOKENIZER / "vocab.txt"),
                                     sentencepiece_model_file=str(TOKENIZER / "sentencepiece.bpe.model"))
    ids = np.array(tokenizer(texts, padding=True)["input_ids"], dtype="int64")
    with paddle.no_grad():
        logits = model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor((ids != 1).astype("int64"))).numpy()
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs


def predictions(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def assert_predictions_match(results, texts, probs):
    assert [r["text"] for r in results] == texts
    for result, row in zip(results, probs):
        assert result["label"] == LABELS[str(int(row.argmax()))]
        got = [result["probabilities"][LABELS[str(i)]] for i in range(3)]
        np.testing.assert_allclose(got, row, rtol=0, atol=1e-4)


def test_export_cli_writes_program_metadata_config_and_tokenizer_and_refuses_to_overwrite(checkpoint, tmp_path,
                                                                                          capsys):
    directory, _ = checkpoint
    out = tmp_path / "export"
    assert main(["export", str(directory), str(out), "--dtype", "bf16"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"inference.json", "inference.pdiparams", "export.json", "config.json", "vocab.txt",
            "sentencepiece.bpe.model"} <= names
    meta = json.loads((out / "export.json").read_text())
    assert meta["head"] == "ErnieMForSequenceClassification" and meta["precision"] == "bf16"
    assert meta["paddle_version"] == paddle.__version__
    assert [o["name"] for o in meta["outputs"]] == ["logits"]
    assert json.loads((out / "config.json").read_text())["id2label"] == LABELS
    capsys.readouterr()
    assert main(["export", str(directory), str(out)]) == 1
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "x")]) == 1
    assert "missing" in capsys.readouterr().err and not (tmp_path / "x").exists()


@pytest.mark.slow
def test_predict_cli_on_an_export_a_checkpoint_and_dygraph_equals_paddlenlp(checkpoint, tmp_path, capsys,
                                                                            monkeypatch):
    directory, model = checkpoint
    probs = paddlenlp_predictions(model, TEXTS)
    out = tmp_path / "export"
    assert main(["export", str(directory), str(out)]) == 0
    assert_predictions_match(predictions(capsys, ["predict", "--model", str(out), "--threads", "1", *TEXTS]),
                             TEXTS, probs)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(TEXTS) + "\n"))  # '-': one text a line from stdin
    assert_predictions_match(predictions(capsys, ["predict", "--model", str(directory), "--batch-size", "2", "-"]),
                             TEXTS, probs)
    assert_predictions_match(predictions(capsys, ["predict", "--model", str(directory), "--dygraph", *TEXTS]),
                             TEXTS, probs)
    assert main(["predict", "--model", str(out), "--dygraph", "x"]) == 1
    assert "is an export; --dygraph needs the checkpoint directory" in capsys.readouterr().err


def test_predict_refuses_a_model_that_is_not_a_sequence_classifier(tmp_path, capsys):
    paddle.seed(0)
    model = pnlp.ErnieMForTokenClassification(pnlp.ErnieMConfig(vocab_size=1502, hidden_size=32,
                                                                num_hidden_layers=1, num_attention_heads=2))
    model.save_pretrained(str(tmp_path))
    assert main(["predict", "--model", str(tmp_path), "hello"]) == 1
    assert "predict needs an ErnieMForSequenceClassification model, config.json names " \
           "ErnieMForTokenClassification" in capsys.readouterr().err
