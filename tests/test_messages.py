"""What users see when something is wrong, and nothing else: one clear line naming the file, line or argument,
and no noise from Paddle on a run that goes well."""
from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import paddle
import pytest

import paddle_ernie_m as ours
from paddle_ernie_m import ErnieMConfig
from paddle_ernie_m.cli import main
from paddle_ernie_m.tokenizer import ErnieMTokenizer

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT / "tests" / "fixtures" / "tiny_tokenizer"
DEMO = ROOT / "paddle_ernie_m" / "assets" / "uie-m-demo"


def one_error_line(capsys, argv, *fragments):
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A tiny sequence classifier with named labels and the fixture tokenizer (max 40 positions: 38 tokens)."""
    paddle.seed(5)
    vocab = ErnieMTokenizer.from_pretrained(TOKENIZER).vocab_size
    config = ErnieMConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          max_position_embeddings=40, id2label={0: "no", 1: "yes"})
    directory = tmp_path_factory.mktemp("classifier")
    ours.ErnieMForSequenceClassification(config).save_pretrained(directory)
    for name in ("vocab.txt", "sentencepiece.bpe.model"):
        shutil.copy(TOKENIZER / name, directory / name)
    return directory


# ------------------------------------------------------------------------------------------------ extract
def test_a_missing_schema_file_is_reported_as_not_found(capsys, tmp_path):
    one_error_line(capsys, ["extract", "--model", str(DEMO), "--schema", str(tmp_path / "missing.json"), "x"],
                   f"schema file not found: {tmp_path / 'missing.json'}")


def test_a_schema_directory_and_bad_json_in_a_schema_file_are_named(capsys, tmp_path):
    one_error_line(capsys, ["extract", "--model", str(DEMO), "--schema", str(tmp_path), "x"],
                   f"--schema {tmp_path} is a directory, not a JSON file")
    bad = tmp_path / "schema.json"
    bad.write_text('["人物",\n  {"公司": }]', encoding="utf-8")
    one_error_line(capsys, ["extract", "--model", str(DEMO), "--schema", str(bad), "x"],
                   f"schema file {bad}: not valid JSON (Expecting value at line 2 column 10)")
    one_error_line(capsys, ["extract", "--model", str(DEMO), "--schema", "[人物", "x"], "--schema: not valid JSON")


def test_extract_input_that_is_a_directory_says_so(capsys, tmp_path):
    one_error_line(capsys, ["extract", "--model", str(DEMO), "--schema", '["人物"]', "--input", str(tmp_path),
                            "--backend", "dygraph"], f"input file {tmp_path} is a directory, not a file")


def test_extract_input_that_is_not_utf8_names_file_and_line(capsys, tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_bytes('"谷爱凌"\n"北京"\n'.encode("utf-8") + b'"caf\xe9"\n')  # a Latin-1 line
    one_error_line(capsys, ["extract", "--model", str(DEMO), "--schema", '["人物"]', "--input", str(path),
                            "--backend", "dygraph"], f"{path}:3: not UTF-8 text (byte 0xe9 at byte 5 of the line)")


def test_training_files_that_are_not_utf8_name_file_and_line(tmp_path):
    from paddle_ernie_m.training.data import DataError, read_conll, read_records

    table = tmp_path / "train.csv"
    table.write_bytes(b"text,label\nhello,1\n" + b"x" * 20000 + b",0\nna\xefve,1\n")
    with pytest.raises(DataError, match=rf"^{table}:4: not UTF-8 text \(byte 0xef at byte 3 of the line\)$"):
        read_records(table)
    conll = tmp_path / "train.conll"
    conll.write_bytes(b"Paris B-LOC\n\nM\xfcnchen B-LOC\n")
    with pytest.raises(DataError, match=rf"^{conll}:3: not UTF-8 text \(byte 0xfc"):
        read_conll(conll)


# ------------------------------------------------------------------------------------------------ predict
@pytest.mark.parametrize("value, fragment", [("0", "got 0"), ("2", "got 2"), ("39", "got 39")])
def test_predict_max_length_must_fit_the_special_tokens_and_the_positions(classifier, capsys, value, fragment):
    one_error_line(capsys, ["predict", "--model", str(classifier), "--dygraph", "--max-length", value, "hi"],
                   "max_length (--max-length) must lie in [3, 38]", fragment)


def test_predict_accepts_the_bounds_of_max_length(classifier, capsys):
    for value in ("3", "38"):
        assert main(["predict", "--model", str(classifier), "--dygraph", "--max-length", value, "hello"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_predict_warns_of_empty_texts_and_keeps_one_result_per_text(classifier, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        assert main(["predict", "--model", str(classifier), "--dygraph", "hello", "", "  "]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in results] == ["hello", "", "  "]
    assert "2 empty text(s) (the first is text 2)" in caplog.text


def test_predict_stdin_that_is_not_utf8_names_the_line(classifier, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"good\r\nbad \xff\n")))
    one_error_line(capsys, ["predict", "--model", str(classifier), "--dygraph", "-"],
                   "stdin:2: not UTF-8 text (byte 0xff at byte 5 of the line)")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("ein\r\nzwei\n".encode())))
    assert main(["predict", "--model", str(classifier), "--dygraph", "-"]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == ["ein", "zwei"]


def test_a_checkpoint_that_does_not_fit_is_summarised_in_one_short_line(classifier, tmp_path, capsys):
    """The config says 3 layers, the weights hold 1: 32 missing weights, listed as the first three and a count,
    without options the CLI does not have."""
    directory = tmp_path / "model"
    shutil.copytree(classifier, directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3, "hidden_size": 64,
                                                       "num_attention_heads": 2}))
    err = one_error_line(capsys, ["export", str(directory), str(tmp_path / "out")],
                         "checkpoint does not fit ErnieMForSequenceClassification: missing weights (32): "
                         "ernie_m.encoder.layers.1.self_attn.q_proj.weight, ",
                         "and 29 more; shape mismatches (", "(the config does not match these weights)")
    assert len(err) < 1000 and "strict" not in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ convert
def test_a_bert_checkpoint_fits_neither_layout_and_the_message_names_what_it_found_and_expected(tmp_path, capsys):
    import transformers

    bert = transformers.BertModel(transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                          num_attention_heads=2, intermediate_size=32))
    bert.save_pretrained(tmp_path / "bert")
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    config.pop("architectures")
    (tmp_path / "bert" / "config.json").write_text(json.dumps(config))
    one_error_line(capsys, ["convert", "torch2paddle", str(tmp_path / "bert"), str(tmp_path / "out")],
                   "model.safetensors: the tensors fit neither layout of ERNIE-M: found 'embeddings.",
                   "which neither has, and no attention projection; expected the names of ERNIE-M in Paddle's layout "
                   "('encoder.layers.0.self_attn.q_proj.weight', ...) or in transformers' "
                   "('encoder.layers.0.self_attn.self_attn.q_proj.weight', ...)")
    assert not (tmp_path / "out").exists()


def test_tensors_that_fit_several_heads_name_them_all(tmp_path):
    from converters.errors import ConversionError
    from converters.tensors import resolve_head
    from converters.mapping import PADDLE, expand

    names = [p for _, p, _ in expand("ErnieMForSequenceClassification", 1)]
    with pytest.raises(ConversionError, match=r"fit several heads \(ErnieMForSequenceClassification, "
                                              r"ErnieMForMultipleChoice, ErnieMForTokenClassification, "
                                              r"ErnieMForQuestionAnswering\); pass --arch"):
        resolve_head(ErnieMConfig(num_hidden_layers=1), None, names, PADDLE, "ckpt")


# ------------------------------------------------------------------------------------------------ noise
def _run_cli(*args, **env):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env}
    environment.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", "paddle_ernie_m.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=300, check=False)


def test_export_prints_its_success_line_once_and_no_paddle_noise(classifier, tmp_path):
    done = _run_cli("export", str(classifier), str(tmp_path / "export"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("exported ErnieMForSequenceClassification to") == 1
    assert "exported" not in done.stderr
    assert "PIR" not in done.stderr and "ccache" not in done.stderr and "eager_utils" not in done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_the_native_stderr_filter_drops_only_the_named_line(capfd):
    from paddle_ernie_m.engines.paddle_program import PIR_OUT_WARNING
    from paddle_ernie_m.runtime import native_stderr_without

    with native_stderr_without(PIR_OUT_WARNING):
        os.write(2, b"W1201 eager_utils.cc:3584] " + PIR_OUT_WARNING.encode() + b" for now!!!!!\n")
        os.write(2, b"E1201 something else went wrong\npartial ")
        os.write(2, b"line\n")
    assert capfd.readouterr().err == "E1201 something else went wrong\npartial line\n"
    os.write(2, PIR_OUT_WARNING.encode() + b"\n")  # outside the block: untouched
    assert capfd.readouterr().err == PIR_OUT_WARNING + "\n"


def test_the_pir_warning_is_what_paddle_prints_without_the_filter(tmp_path):
    """The reference: the same trace through plain ``paddle.jit.save`` prints the line the filter drops."""
    script = ("import paddle\nfrom paddle.static import InputSpec\n"
              "class L(paddle.nn.Layer):\n    def forward(self, x):\n        return (x == 0).astype('float32')\n"
              f"paddle.jit.save(L(), {str(tmp_path / 'm')!r}, input_spec=[InputSpec([None, 3], 'int64', 'x')])\n")
    (tmp_path / "trace.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "trace.py")], capture_output=True, text=True,
                          timeout=300, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    from paddle_ernie_m.engines.paddle_program import PIR_OUT_WARNING

    assert PIR_OUT_WARNING in done.stderr and "No ccache found" in done.stderr


def test_importing_the_package_filters_only_paddles_ccache_warning():
    code = ("import warnings, paddle_ernie_m\nfrom paddle_ernie_m import ErnieMModel\n"
            "warnings.warn('No ccache found, but from elsewhere')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}, cwd=ROOT)
    assert "extension_utils" not in done.stderr
    assert "UserWarning: No ccache found, but from elsewhere" in done.stderr
