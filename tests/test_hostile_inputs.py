"""Hostile and careless inputs to the commands (issue 22): each is one line on stderr naming the file, key or
argument, exit code 1, no traceback, nothing written; what it reads never grows without bound. References:
Python's own ``json`` module (what a depth limit must not change), hand-made files, the dygraph model."""
from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import paddle
import pytest

from converters import safe_json
from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer
from paddle_ernie_m.cli import main as cli_main

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
DEEP = 100_000


def run_cli(capsys, *argv):
    code = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    directory = tmp_path_factory.mktemp("classifier") / "model"
    paddle.seed(11)
    config = ErnieMConfig(vocab_size=ErnieMTokenizer.from_pretrained(TOKENIZER).vocab_size, hidden_size=32,
                          num_hidden_layers=2, num_attention_heads=2, num_labels=2, id2label={0: "neg", 1: "pos"})
    ErnieMForSequenceClassification(config).save_pretrained(directory)
    ErnieMTokenizer.from_pretrained(TOKENIZER).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def uie(tmp_path_factory):
    from tests.uie_cases import tiny_uie

    return tiny_uie(tmp_path_factory.mktemp("uie") / "model", seed=1, start_bias=-1.0, end_bias=-1.0)


# ------------------------------------------------------------------------------------------------ deep JSON
@pytest.mark.parametrize("document", ['{"a": [1, 2, {"b": "[[[[{{{{"}], "c": "\\"]]]]"}', "[" * 64 + "]" * 64,
                                      '"x"', "3", '{"k": ' * 60 + "null" + "}" * 60, '[1, "\\\\", [2]]'])
def test_the_depth_limited_reader_reads_what_json_reads(document):
    assert safe_json.loads(document) == json.loads(document)


def test_the_depth_limited_reader_refuses_deep_documents_in_one_line():
    with pytest.raises(safe_json.JSONLimitError,
                       match=r"^src: \[0\]\[0\]\[0\]\[0\]\[0\]\[0\]\[0\]\[0\]\.\.\.: nested deeper than the "
                             r"limit of 64 levels \(65 deep\)$"):
        safe_json.loads("[" * 65 + "]" * 65, "src")
    with pytest.raises(safe_json.JSONLimitError, match="^src: a number of 5000 characters"):
        safe_json.loads("1" * 5000, "src")


def test_a_deep_config_is_one_line(classifier, tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"a": ' * DEEP + "1" + "}" * DEEP)
    code, out, err = run_cli(capsys, "predict", "--model", model, "hello")
    assert_one_line_error(code, err, f"{model / 'config.json'}", "nested")
    assert out == ""


def test_a_deep_schema_inline_or_in_a_file_is_one_line(tmp_path, capsys):
    deep = "[" * DEEP + "]" * DEEP
    code, _, err = run_cli(capsys, "extract", "--model", tmp_path, "--schema", deep[:2 * 5000], "text")
    assert_one_line_error(code, err, "--schema", "(10000 deep)")
    (tmp_path / "schema.json").write_text(deep)
    code, _, err = run_cli(capsys, "extract", "--model", tmp_path, "--schema", tmp_path / "schema.json", "text")
    assert_one_line_error(code, err, "schema file", "nested")


def test_a_deep_input_line_is_one_line_naming_its_line(uie, tmp_path, capsys):
    model = uie
    (tmp_path / "in.jsonl").write_text('"first text"\n' + "[" * DEEP + "]" * DEEP + "\n")
    code, out, err = run_cli(capsys, "extract", "--model", model, "--schema", '["人物"]', "--backend", "dygraph",
                             "--input", tmp_path / "in.jsonl", "--output", tmp_path / "out.jsonl")
    assert_one_line_error(code, err, f"{tmp_path / 'in.jsonl'}:2", "nested")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_deep_doccano_line_is_one_line_naming_its_line(tmp_path, capsys):
    (tmp_path / "doccano.jsonl").write_text('{"text": "a", "label": []}\n' + '{"a": ' * DEEP + "1" + "}" * DEEP)
    code, out, err = run_cli(capsys, "uie-doccano", tmp_path / "doccano.jsonl", tmp_path / "out")
    assert_one_line_error(code, err, f"{tmp_path / 'doccano.jsonl'}:2", "nested")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- NaN weights
def _poisoned(source: Path, target: Path, cls, text: str) -> Path:
    """A copy of the checkpoint ``source`` whose embedding rows of the tokens of ``text`` hold NaN: exactly the
    inputs that contain one of them give NaN."""
    import shutil

    shutil.copytree(source, target)
    tokenizer = ErnieMTokenizer.from_pretrained(source)
    ids = tokenizer(text)["input_ids"][1:-1]  # without [CLS] and [SEP]
    model = cls.from_pretrained(source)
    embeddings = model.ernie_m.embeddings.word_embeddings
    weight = embeddings.weight.numpy()
    weight[ids] = np.nan
    embeddings.weight.set_value(weight)
    model.save_pretrained(target)
    return target


@pytest.mark.parametrize("engine", [["--dygraph"], ["--cache-dir", "CACHE"]])
def test_predict_refuses_non_finite_logits_naming_the_texts(classifier, tmp_path, capsys, engine):
    model = _poisoned(classifier, tmp_path / "nan", ErnieMForSequenceClassification, "ZQX")
    engine = [str(tmp_path / "cache") if a == "CACHE" else a for a in engine]
    code, out, err = run_cli(capsys, "predict", "--model", model, *engine, "hello", "ZQX there", "fine", "ZQX")
    assert_one_line_error(code, err, "not finite", "2 of 4 texts (text 2, text 4)")
    assert "NaN" not in out


def test_extract_refuses_non_finite_outputs_naming_the_input_lines(uie, tmp_path, capsys):
    from paddle_ernie_m import UIEM

    model = _poisoned(uie, tmp_path / "nan", UIEM, "ZQX")
    (tmp_path / "in.jsonl").write_text('"hello world"\n"Steve ZQX Apple"\n"fine"\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "extract", "--model", model, "--schema", '["人物"]', "--backend", "dygraph",
                             "--input", tmp_path / "in.jsonl")
    assert_one_line_error(code, err, f"error: {tmp_path / 'in.jsonl'}:2: ", "not finite")
    assert "NaN" not in out


# ------------------------------------------------------------------------------------------- input files
def test_an_input_that_is_a_device_is_named_as_such_not_as_missing(tmp_path, capsys):
    code, _, err = run_cli(capsys, "extract", "--model", tmp_path, "--schema", '["人物"]', "--input", "/dev/zero")
    assert_one_line_error(code, err, "/dev/zero is not a regular file or a pipe")
    code, _, err = run_cli(capsys, "uie-doccano", "/dev/zero", tmp_path / "out")
    assert_one_line_error(code, err, "/dev/zero is not a regular file or a pipe")


def test_a_line_without_end_is_refused_before_it_fills_memory(uie, tmp_path, capsys):
    from converters.files import MAX_LINE_BYTES

    (tmp_path / "in.jsonl").write_bytes(b'"first"\n"' + b"x" * (MAX_LINE_BYTES + 10))
    code, _, err = run_cli(capsys, "extract", "--model", uie, "--schema", '["人物"]', "--input",
                           tmp_path / "in.jsonl", "--backend", "dygraph")
    assert_one_line_error(code, err, f"{tmp_path / 'in.jsonl'}:2: line longer than")


def test_a_lone_surrogate_in_an_input_file_is_named_by_file_and_line(uie, tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('"good"\n{"text": "bad \\udfff"}\n')
    code, _, err = run_cli(capsys, "extract", "--model", uie, "--schema", '["人物"]', "--input",
                           tmp_path / "in.jsonl", "--backend", "dygraph")
    assert_one_line_error(code, err, f"{tmp_path / 'in.jsonl'}:2: the text contains a lone surrogate '\\udfff'")


def test_a_text_above_the_documented_size_is_refused_naming_its_line(uie, tmp_path, capsys):
    from paddle_ernie_m.inputs import MAX_TEXT_CHARS

    (tmp_path / "in.jsonl").write_text('"good"\n"' + "字" * (MAX_TEXT_CHARS + 1) + '"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "extract", "--model", uie, "--schema", '["人物"]', "--input",
                           tmp_path / "in.jsonl", "--backend", "dygraph")
    assert_one_line_error(code, err, f"{tmp_path / 'in.jsonl'}:2: a text of {MAX_TEXT_CHARS + 1:,} characters")


def test_a_negative_ratio_below_zero_is_refused(tmp_path, capsys):
    (tmp_path / "doccano.jsonl").write_text('{"text": "abc", "label": [[0, 1, "x"]]}\n')
    code, _, err = run_cli(capsys, "uie-doccano", tmp_path / "doccano.jsonl", tmp_path / "out", "--negative-ratio",
                           "-5")
    assert_one_line_error(code, err, "--negative-ratio", "-5")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------- absurd configs
@pytest.mark.parametrize("field,value", [("hidden_size", 10**9), ("vocab_size", 10**9),
                                         ("max_position_embeddings", 10**9), ("num_hidden_layers", 10**6),
                                         ("hidden_size", 64)])
@pytest.mark.parametrize("command", ["predict", "export"])
def test_a_config_that_does_not_fit_its_weights_is_refused_before_allocating(classifier, tmp_path, capsys, field,
                                                                           value, command):
    import shutil

    model = Path(shutil.copytree(classifier, tmp_path / "model"))
    config = json.loads((model / "config.json").read_text())
    config[field] = value
    if field == "hidden_size":
        config["intermediate_size"] = 4 * value
    (model / "config.json").write_text(json.dumps(config))
    started = time.monotonic()
    argv = (["predict", "--model", model, "--dygraph", "hello"] if command == "predict"
            else ["export", model, tmp_path / "out"])
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, str(model), "does not fit" if value == 64 or field == "num_hidden_layers"
                          else "")
    assert field in err or "tensor" in err
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists()


def test_a_huge_safetensors_header_is_refused_before_it_is_parsed(tmp_path, capsys):
    """A header of 20 MB of well-formed entries: refused by its length, in one line, without reading it."""
    entries = {f"t{i:07d}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(250_000)}
    header = json.dumps(entries).encode()
    assert len(header) > 16 * 2**20
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["ErnieMForSequenceClassification"]}))
    with open(model / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(4 * len(entries)))
    code, _, err = run_cli(capsys, "convert", "paddle2torch", model, tmp_path / "out")
    assert_one_line_error(code, err, "model.safetensors: safetensors header of", "above the limit of 16,777,216")


# ------------------------------------------------------------------------------------------------ symlinks
@pytest.mark.parametrize("name", ["vocab.txt", "sentencepiece.bpe.model"])
@pytest.mark.parametrize("command", ["convert", "export"])
def test_a_tokenizer_file_linking_outside_the_checkpoint_is_refused_unless_followed_knowingly(
        classifier, tmp_path, capsys, name, command):
    import shutil

    model = Path(shutil.copytree(classifier, tmp_path / "model"))
    secret = tmp_path / "elsewhere" / name  # a valid file, so that only the link can be the reason
    secret.parent.mkdir()
    os.replace(model / name, secret)
    (model / name).symlink_to(secret)
    argv = (["convert", "paddle2torch", model, tmp_path / "out"] if command == "convert"
            else ["export", model, tmp_path / "out"])
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, f"{model / name} is a symbolic link to {secret}", "--follow-symlinks")
    assert not (tmp_path / "out").exists()
    code, out, err = run_cli(capsys, *argv, "--follow-symlinks")
    assert code == 0, err
    copied = tmp_path / "out" / name
    assert not copied.is_symlink() and copied.read_bytes() == secret.read_bytes()


def test_a_tokenizer_file_linking_inside_the_checkpoint_is_copied(classifier, tmp_path, capsys):
    import shutil

    model = Path(shutil.copytree(classifier, tmp_path / "model"))
    (model / "files").mkdir()
    os.replace(model / "vocab.txt", model / "files" / "vocab.txt")
    (model / "vocab.txt").symlink_to("files/vocab.txt")
    code, out, err = run_cli(capsys, "export", model, tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / "vocab.txt").read_bytes() == (model / "files" / "vocab.txt").read_bytes()


def test_predict_names_a_refused_text_by_its_line_of_stdin_beyond_the_first_chunk(classifier, capsys, monkeypatch):
    import io

    from paddle_ernie_m.predict import CHUNK

    lines = ["fine"] * (CHUNK + 6) + ["bad \udfff"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = run_cli(capsys, "predict", "--model", classifier, "--dygraph", "-")
    assert_one_line_error(code, err, f"text {CHUNK + 7}: the text contains a lone surrogate")
    assert len(out.splitlines()) == CHUNK  # the first chunk was written
