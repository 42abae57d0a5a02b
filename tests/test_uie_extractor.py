"""InformationExtractor and ``ernie-m extract``: inputs, errors, long texts, the fast mode (against PaddleNLP's UIEM
with an explicit mask) and the command line."""
from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer, UIEM
from paddle_ernie_m.cli import main as cli_main
from paddle_ernie_m.uie import InformationExtractor, SchemaError

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
TEXT = "2月8日上午北京冬奥会自由式滑雪女子大跳台决赛中中国选手谷爱凌以188.25分获得金牌！"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("uie") / "model"
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    paddle.seed(3)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          attention_mask_mode="paddlenlp")
    model = UIEM(config)
    for head in (model.linear_start, model.linear_end):  # logits spread over +-1, mostly below 0
        head.weight.set_value(head.weight * 10)
        head.bias.set_value(paddle.full_like(head.bias, -1.0))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def extractor(checkpoint) -> InformationExtractor:
    return InformationExtractor(checkpoint, schema=["时间", "选手"], max_seq_len=64, backend="dygraph")


def test_a_string_gives_a_list_of_one_result_and_empty_texts_give_empty_results(extractor):
    alone = extractor(TEXT)
    assert isinstance(alone, list) and len(alone) == 1 and alone[0], "the random model finds spans in TEXT"
    assert extractor(["", TEXT, " \n\t"]) == [{}, alone[0], {}]
    assert extractor([]) == []
    for label, spans in alone[0].items():
        for span in spans:
            assert TEXT[span["start"]:span["end"]] == span["text"] and type(span["probability"]) is float


def test_wrong_inputs_and_a_missing_schema_raise_clear_errors(checkpoint, extractor):
    with pytest.raises(TypeError, match="string or a list"):
        extractor(42)
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string"):
        extractor(["ok", None])
    with pytest.raises(SchemaError, match="empty"):
        extractor.set_schema([])
    unset = InformationExtractor(checkpoint, backend="dygraph", max_seq_len=64)
    with pytest.raises(SchemaError, match="no schema set"):
        unset(TEXT)
    for kwargs, message in (({"mode": "quick"}, "mode"), ({"backend": "onnx"}, "backend"),
                            ({"position_prob": 1.5}, "position_prob"), ({"max_seq_len": 9999}, "max_seq_len"),
                            ({"schema_lang": "fr"}, "schema_lang"), ({"batch_size": 0}, "batch_size")):
        with pytest.raises(ValueError, match=message):
            InformationExtractor(checkpoint, **{"backend": "dygraph", **kwargs})


def test_missing_files_and_other_heads_are_named(checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        InformationExtractor(tmp_path / "nowhere")
    no_vocab = tmp_path / "no_vocab"
    shutil.copytree(checkpoint, no_vocab)
    (no_vocab / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        InformationExtractor(no_vocab)
    classifier = tmp_path / "classifier"
    ErnieMForSequenceClassification(ErnieMConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1,
                                                 num_attention_heads=2)).save_pretrained(classifier)
    with pytest.raises(ValueError, match="not a UIE-M model"):
        InformationExtractor(classifier)


@pytest.mark.slow
def test_a_100k_character_text_is_extracted_in_bounded_memory(checkpoint):
    extractor = InformationExtractor(checkpoint, schema=["时间"], max_seq_len=128)
    text = (TEXT * 2500)[:100_000]
    tracemalloc.start()
    try:
        result = extractor([text])[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    spans = result["时间"]
    assert len(spans) > 100 and max(s["start"] for s in spans) > 99_000
    assert all(text[s["start"]:s["end"]] == s["text"] for s in spans)
    assert peak < 64 * 2**20, f"peak Python memory {peak / 2**20:.0f} MiB"


def test_fast_mode_equals_paddlenlp_uiem_without_padding_and_with_cls_masked(checkpoint):
    from paddlenlp.transformers import UIEM as PaddleNLPUIEM

    tokenizer = ErnieMTokenizer.from_pretrained(checkpoint)
    rows = tokenizer(["时间", "选手"], [TEXT, "谷爱凌"], truncation=True, max_seq_len=64)["input_ids"]
    reference = PaddleNLPUIEM.from_pretrained(str(checkpoint))
    reference.eval()
    for backend in ("dygraph", "inference"):
        extractor = InformationExtractor(checkpoint, max_seq_len=64, mode="fast", backend=backend)
        starts, ends = extractor._probabilities(rows)
        for row, start, end in zip(rows, starts, ends):
            ids = paddle.to_tensor([row])
            mask = paddle.to_tensor([[0] + [1] * (len(row) - 1)])  # [CLS] masked, no padding
            with paddle.no_grad():
                start_ref, end_ref = reference(ids, attention_mask=mask)
            np.testing.assert_allclose(start, start_ref.numpy()[0], atol=1e-6)
            np.testing.assert_allclose(end, end_ref.numpy()[0], atol=1e-6)


# ------------------------------------------------------------------------------------------ command line
def test_extract_command_prints_json_lines(checkpoint, extractor, capsys):
    schema = json.dumps(["时间", "选手"], ensure_ascii=False)
    assert cli_main(["extract", "--model", str(checkpoint), "--schema", schema, "--max-seq-len", "64",
                     "--backend", "dygraph", TEXT, "  "]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"text": TEXT, "result": extractor(TEXT)[0]}, {"text": "  ", "result": {}}]


def test_extract_command_reads_and_writes_jsonl_files(checkpoint, extractor, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 7, "text": TEXT}, ensure_ascii=False) + "\n\n" + json.dumps("谷爱凌") + "\n",
                      encoding="utf-8")
    schema_file = tmp_path / "schema.json"
    schema_file.write_text('["时间", "选手"]', encoding="utf-8")
    target = tmp_path / "out" / "result.jsonl"
    args = ["extract", "--model", str(checkpoint), "--schema", str(schema_file), "--max-seq-len", "64",
            "--backend", "dygraph", "--input", str(source), "--output", str(target)]
    assert cli_main(args) == 0
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    expected = extractor([TEXT, "谷爱凌"])  # one call, as the command makes for up to 64 lines: the same batches
    assert lines == [{"id": 7, "text": TEXT, "result": expected[0]}, {"text": "谷爱凌", "result": expected[1]}]
    assert cli_main(args) == 1
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--schema", "[人物"], "not valid JSON"),
    (["--schema", "[]"], "empty"),
    (["--schema", '["a"]', "--input", "missing.jsonl"], "not found"),
    (["--schema", '["a"]'], "give texts"),
])
def test_extract_command_reports_errors_in_one_line(checkpoint, capsys, args, message):
    argv = ["extract", "--model", str(checkpoint), *args]
    if "--input" not in args and args[-1] != '["a"]':
        argv.append(TEXT)
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
