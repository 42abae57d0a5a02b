"""The four example scripts on the committed tiny data with a tiny model: the loss goes down, the metrics they
report agree with scikit-learn / seqeval on the saved best model, checkpoints load and convert, bad data
stops them with the file and line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .scripts import DATA, QUICK, load_script, make_tiny_model


def train_losses(output: Path) -> list:
    lines = (output / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r["type"] == "train"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def seq_cls_run(tiny_model, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("seq_cls") / "out"
    load_script("examples/train_seq_cls.py").main([
        "--model", str(tiny_model), "--train_file", str(DATA / "seq_cls" / "train.jsonl"),
        "--eval_file", str(DATA / "seq_cls" / "dev.jsonl"), "--text_column", "premise",
        "--text_pair_column", "hypothesis", "--output_dir", str(output), "--num_train_epochs", "4", *QUICK])
    return output


def _predict_logits(model, features, key="logits"):
    import paddle

    from paddle_ernie_m.training import DynamicPaddingCollator

    batch = DynamicPaddingCollator(1, ("input_ids", "attention_mask"))(features)
    with paddle.no_grad():
        return getattr(model(**{k: paddle.to_tensor(v) for k, v in batch.items()}, return_dict=True), key).numpy()


def test_sequence_classification_learns_and_reports_sklearn_accuracy_of_its_best_model(seq_cls_run):
    from sklearn.metrics import accuracy_score, f1_score

    from paddle_ernie_m import ErnieMForSequenceClassification
    from paddle_ernie_m.tokenizer import ErnieMTokenizer

    losses = train_losses(seq_cls_run)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    best = seq_cls_run / "best"
    model = ErnieMForSequenceClassification.from_pretrained(best)
    assert model.config.labels == {0: "contradiction", 1: "entailment", 2: "neutral"}
    tokenizer = ErnieMTokenizer.from_pretrained(best)
    rows = [json.loads(line) for line in (DATA / "seq_cls" / "dev.jsonl").read_text().splitlines()]
    features = [{"input_ids": tokenizer(r["premise"], r["hypothesis"], max_length=64)["input_ids"]} for r in rows]
    predicted = _predict_logits(model, features).argmax(-1)
    truth = [model.config.label2id[r["label"]] for r in rows]
    reported = json.loads((best / "eval_results.json").read_text())
    assert reported["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert reported["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", labels=[0, 1, 2]))
    last = max(seq_cls_run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert {"config.json", "model_state.pdparams", "optimizer.safetensors", "trainer_state.json",
            "vocab.txt"} <= {p.name for p in last.iterdir()}


def test_fine_tuned_checkpoint_converts_to_transformers_with_the_same_logits(seq_cls_run, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from converters.convert import convert_checkpoint
    from paddle_ernie_m import ErnieMForSequenceClassification

    checkpoint = max(seq_cls_run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    convert_checkpoint(checkpoint, tmp_path / "hf", "paddle2torch")
    hf = transformers.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "hf")).eval()
    ours = ErnieMForSequenceClassification.from_pretrained(checkpoint)
    ids = np.array([[0, 45, 300, 12, 2, 2, 77, 8, 2], [0, 99, 5, 2, 2, 61, 2, 1, 1]], dtype="int64")
    mask = (ids != 1).astype("int64")
    expected = _predict_logits(ours, [{"input_ids": row[m == 1].tolist()} for row, m in zip(ids, mask)])
    with torch.no_grad():
        got = hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert hf.config.id2label == {0: "contradiction", 1: "entailment", 2: "neutral"}


def test_token_classification_learns_and_reports_seqeval_f1_of_its_best_model(tiny_model, tmp_path):
    from seqeval.metrics import f1_score

    from paddle_ernie_m import ErnieMForTokenClassification
    from paddle_ernie_m.tokenizer import ErnieMTokenizer
    from paddle_ernie_m.training.data import read_conll
    from paddle_ernie_m.training.tasks import encode_tagged_words

    output = tmp_path / "out"
    load_script("examples/train_token_cls.py").main([
        "--model", str(tiny_model), "--train_file", str(DATA / "token_cls" / "train.conll"),
        "--eval_file", str(DATA / "token_cls" / "dev.conll"), "--output_dir", str(output),
        "--num_train_epochs", "3", *QUICK])
    losses = train_losses(output)
    assert losses[-1] < 0.5 * losses[0]
    model = ErnieMForTokenClassification.from_pretrained(output / "best")
    tokenizer = ErnieMTokenizer.from_pretrained(output / "best")
    sentences = read_conll(DATA / "token_cls" / "dev.conll")
    features = [encode_tagged_words(tokenizer, s.tokens, None, model.config.label2id, 64) for s in sentences]
    logits = _predict_logits(model, features)
    predicted = [[model.config.labels[int(row[t].argmax())] if t >= 0 else "O" for t in f["word_tokens"]]
                 for row, f in zip(logits, features)]
    reported = json.loads((output / "best" / "eval_results.json").read_text())
    assert reported["f1"] == pytest.approx(f1_score([s.tags for s in sentences], predicted))
    assert reported["f1"] > 0.5
    assert set(model.config.labels.values()) == {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"}


def test_question_answering_learns_with_document_stride_and_reports_squad_scores(tiny_model, tmp_path):
    output = tmp_path / "out"
    summary = load_script("examples/train_qa.py").main([
        "--model", str(tiny_model), "--train_file", str(DATA / "qa" / "train.json"),
        "--eval_file", str(DATA / "qa" / "dev.json"), "--output_dir", str(output), "--num_train_epochs", "2",
        "--doc_stride", "16", *QUICK])
    losses = train_losses(output)
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert set(summary["last_eval"]) == {"exact_match", "f1"}
    assert 0 <= summary["last_eval"]["exact_match"] <= summary["last_eval"]["f1"] <= 100
    assert (output / "best" / "model_state.pdparams").is_file()


def test_multiple_choice_learns_and_saves_a_loadable_checkpoint(tiny_model, tmp_path):
    from paddle_ernie_m import ErnieMForMultipleChoice

    output = tmp_path / "out"
    summary = load_script("examples/train_multiple_choice.py").main([
        "--model", str(tiny_model), "--train_file", str(DATA / "multiple_choice" / "train.jsonl"),
        "--eval_file", str(DATA / "multiple_choice" / "dev.jsonl"), "--output_dir", str(output),
        "--num_train_epochs", "4", "--learning_rate", "1e-2", *QUICK[2:]])
    losses = train_losses(output)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert set(summary["last_eval"]) == {"accuracy"}
    model = ErnieMForMultipleChoice.from_pretrained(output / f"checkpoint-{summary['global_step']}")
    assert model.config.architecture == "ErnieMForMultipleChoice"


def _bad_copy(tmp_path: Path, source: Path, replace: tuple) -> Path:
    path = tmp_path / source.name
    path.write_text(source.read_text(encoding="utf-8").replace(*replace, 1), encoding="utf-8")
    return path


def test_unknown_labels_stop_the_scripts_with_file_and_line_unless_skipping(tiny_model, tmp_path, capsys):
    seq_cls = load_script("examples/train_seq_cls.py")
    dev = _bad_copy(tmp_path, DATA / "seq_cls" / "dev.jsonl", ('"label": "neutral"', '"label": "neutrl"'))
    line = next(i for i, text in enumerate(dev.read_text().splitlines(), 1) if "neutrl" in text)
    argv = ["--model", str(tiny_model), "--train_file", str(DATA / "seq_cls" / "train.jsonl"), "--eval_file",
            str(dev), "--text_column", "premise", "--text_pair_column", "hypothesis", "--max_steps", "1",
            "--no-progress_bar"]
    assert seq_cls.script.run(seq_cls.main, argv + ["--output_dir", str(tmp_path / "a")], "train_seq_cls.py") == 1
    assert f"train_seq_cls.py: error: {dev}:{line}: unknown label 'neutrl'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    summary = seq_cls.main(argv + ["--output_dir", str(tmp_path / "b"), "--skip_invalid"])
    assert summary["global_step"] == 1

    ner = load_script("examples/train_token_cls.py")
    conll = _bad_copy(tmp_path, DATA / "token_cls" / "dev.conll", (" B-LOC\n", " B-CITY\n"))
    line = next(i for i, text in enumerate(conll.read_text().splitlines(), 1) if "B-CITY" in text)
    argv = ["--model", str(tiny_model), "--train_file", str(DATA / "token_cls" / "train.conll"), "--eval_file",
            str(conll), "--max_steps", "1", "--output_dir", str(tmp_path / "c")]
    assert ner.script.run(ner.main, argv, "train_token_cls.py") == 1
    assert f"{conll}:{line}: unknown tag 'B-CITY'" in capsys.readouterr().err

    mc = load_script("examples/train_multiple_choice.py")
    rows = _bad_copy(tmp_path, DATA / "multiple_choice" / "train.jsonl", ('"label": 1}', '"label": 7}'))
    argv = ["--model", str(tiny_model), "--train_file", str(rows), "--max_steps", "1",
            "--output_dir", str(tmp_path / "d")]
    line = next(i for i, text in enumerate(rows.read_text().splitlines(), 1) if '"label": 7}' in text)
    assert mc.script.run(mc.main, argv, "train_multiple_choice.py") == 1
    assert f"{rows}:{line}: label 7 is neither a choice nor an index below 3" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["train_seq_cls", "train_token_cls", "train_qa", "train_multiple_choice"])
def test_help_documents_data_training_and_distributed_options(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script(f"examples/{name}.py").parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--train_file", "--eval_file", "--layerwise_decay", "--amp",
                   "--resume_from_checkpoint", "--gradient_accumulation_steps", "paddle.distributed.launch"):
        assert option in text, option
