"""doccano exports -> UIE examples. Reference: PaddleNLP 2.8.1's ``DataConverter`` (paddlenlp/utils/tools.py), the
installed twin of ``doccano.py``'s conversion (it reads Label Studio exports, so the test feeds it the same
annotations in that layout), with the same seed for the random choices."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from paddle_ernie_m.uie.doccano import (
    DoccanoError,
    PromptStyle,
    Record,
    convert_cls,
    convert_doccano_file,
    convert_ext,
    parse_record,
    read_doccano,
    read_examples,
)

from .scripts import load_script



ASPECTS = [  # entity-level sentiment with the separator, and an entity with two options
    {"text": "地址不错，服务一般，设施陈旧", "entities": [
        {"id": 0, "start_offset": 0, "end_offset": 2, "label": "评价维度##正向"},
        {"id": 1, "start_offset": 2, "end_offset": 4, "label": "观点"},
        {"id": 2, "start_offset": 5, "end_offset": 7, "label": "评价维度##负向"},
        {"id": 3, "start_offset": 10, "end_offset": 12, "label": "评价维度##负向##正向"}],
     "relations": [{"id": 0, "from_id": 0, "to_id": 1, "type": "观点词"}]},
    {"text": "房间很干净", "entities": [{"id": 7, "start_offset": 0, "end_offset": 2, "label": "评价维度##正向"}],
     "relations": []},
]


def _records(lang: str, count: int):
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    rng = random.Random(3)
    lang_table = synthetic.CH if lang == "ch" else synthetic.EN
    items = [synthetic.make_text(lang_table, rng, i)[0] for i in range(count)]
    if lang == "ch":
        items += ASPECTS
    return [parse_record(item) for item in items]


def _label_studio(record: Record, task: str) -> dict:
    if task == "cls":
        return {"data": {"text": record.text}, "annotations": [{"result": [{"value": {"choices": record.labels}}]}]}
    result = [{"type": "labels", "id": str(e.id), "value": {"start": e.start, "end": e.end, "labels": [e.label]}}
              for e in record.entities]
    result += [{"type": "relation", "from_id": str(r.from_id), "to_id": str(r.to_id), "labels": [r.type]}
               for r in record.relations]
    return {"data": {"text": record.text}, "annotations": [{"result": result}]}


@pytest.mark.parametrize("lang", ["ch", "en"])
@pytest.mark.parametrize("is_train, ratio", [(False, -1), (True, 5), (True, 2)])
def test_extraction_examples_equal_paddlenlp_with_the_same_seed(lang, is_train, ratio):
    from paddlenlp.utils.tools import DataConverter

    records = _records(lang, 150)
    prefix = "情感倾向" if lang == "ch" else "Sentiment classification"
    options = ["正向", "负向"] if lang == "ch" else ["negative", "positive"]
    random.seed(11)
    converter = DataConverter("unused", negative_ratio=ratio, prompt_prefix=prefix, options=list(options),
                              schema_lang=lang)
    reference = converter.convert_ext_examples([_label_studio(r, "ext") for r in records], is_train=is_train)
    ours = convert_ext(records, PromptStyle(lang, prefix, tuple(options)), ratio, is_train, random.Random(11))
    assert ours == reference
    prompts = {e["prompt"] for e in ours}
    assert any(not e["result_list"] for e in ours), "no negative examples"
    if lang == "ch":
        assert {"地址的情感倾向[正向,负向]", "地址的情感倾向[负向,正向]"} & prompts
        answer = next(e for e in ours if e["prompt"].startswith("设施的情感倾向"))["result_list"]
        assert [r["text"] for r in answer] == ["负向", "正向"]


def test_classification_examples_equal_paddlenlp_with_the_same_seed():
    from paddlenlp.utils.tools import DataConverter

    records = [parse_record({"text": f"text {i}", "label": [random.Random(i).choice(["好", "坏", "中"])]})
               for i in range(40)]
    random.seed(5)
    converter = DataConverter("unused", prompt_prefix="评价", options=["好", "坏", "中"])
    reference = converter.convert_cls_examples([_label_studio(r, "cls") for r in records])
    ours = convert_cls(records, PromptStyle(prompt_prefix="评价", options=("好", "坏", "中")), random.Random(5))
    assert ours == reference
    example = ours[0]
    answer = example["result_list"][0]
    shift = len(example["prompt"]) + 1
    assert example["prompt"][answer["start"] + shift:answer["end"] + shift] == answer["text"]


def test_every_doccano_layout_is_read():
    entities = [{"id": 4, "start_offset": 0, "end_offset": 2, "label": "人物"},
                {"id": 9, "start_offset": 3, "end_offset": 5, "label": "公司"}]
    relations = [{"id": 0, "from_id": 4, "to_id": 9, "type": "任职"}]
    layouts = [
        {"text": "张三在华为", "entities": entities, "relations": relations},          # doccano >= 1.7, relations
        {"data": "张三在华为", "label": {"entities": entities, "relations": relations}},  # doccano < 1.7, relations
    ]
    first, second = (parse_record(item) for item in layouts)
    assert first == second
    assert [(e.start, e.end, e.label) for e in first.entities] == [(0, 2, "人物"), (3, 5, "公司")]
    sequence = [parse_record({"text": "张三在华为", "label": [[0, 2, "人物"], [3, 5, "公司"]]}),
                parse_record({"data": "张三在华为", "label": [[0, 2, "人物"], [3, 5, "公司"]]})]
    assert sequence[0] == sequence[1]
    assert [(e.id, e.label) for e in sequence[0].entities] == [(0, "人物"), (1, "公司")]
    assert parse_record({"text": "好", "label": ["正向"]}).labels == ["正向"]


@pytest.mark.parametrize("item, message", [
    ({"label": []}, "no text"),
    ({"text": "abc", "label": [[0, 9, "x"]]}, "outside the text"),
    ({"text": "abc", "entities": [{"id": 1, "start_offset": 0, "end_offset": 1, "label": "x"}],
      "relations": [{"id": 0, "from_id": 1, "to_id": 2, "type": "r"}]}, "unknown entity"),
    ({"text": "abc", "label": [[0, "x"]]}, "malformed"),
    ({"text": "abc"}, "no annotations"),
    (["abc"], "JSON object"),
])
def test_malformed_records_are_rejected_with_a_message(item, message):
    with pytest.raises(DoccanoError, match=message):
        parse_record(item)


def _write_export(path: Path, count: int = 50) -> Path:
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    rng = random.Random(1)
    path.write_text("".join(json.dumps(synthetic.make_text(synthetic.CH, rng, i)[0], ensure_ascii=False) + "\n"
                            for i in range(count)), encoding="utf-8")
    return path


def test_file_conversion_splits_with_a_seed_and_gives_dev_and_test_every_negative(tmp_path):
    export = _write_export(tmp_path / "export.jsonl")
    first = convert_doccano_file(export, tmp_path / "a", seed=3)
    again = convert_doccano_file(export, tmp_path / "b", seed=3)
    other = convert_doccano_file(export, tmp_path / "c", seed=4)
    for name in ("train", "dev", "test", "sample_index"):
        assert first[name].read_bytes() == again[name].read_bytes()
    index = json.loads(first["sample_index"].read_text())
    assert sorted(index["train_ids"] + index["dev_ids"] + index["test_ids"]) == list(range(50))
    assert (len(index["train_ids"]), len(index["dev_ids"]), len(index["test_ids"])) == (40, 5, 5)
    assert index != json.loads(other["sample_index"].read_text())
    records = read_doccano(export)
    dev = read_examples(first["dev"])
    expected = convert_ext([records[i] for i in index["dev_ids"]], PromptStyle(), -1, False, random.Random(0))
    assert sorted(map(json.dumps, dev)) == sorted(map(json.dumps, expected))


def test_file_conversion_refuses_to_overwrite_and_reports_bad_lines(tmp_path):
    export = _write_export(tmp_path / "export.jsonl", 10)
    convert_doccano_file(export, tmp_path / "out")
    with pytest.raises(FileExistsError, match="already exist"):
        convert_doccano_file(export, tmp_path / "out")
    convert_doccano_file(export, tmp_path / "out", force=True)
    with pytest.raises(ValueError, match="summing to 1"):
        convert_doccano_file(export, tmp_path / "other", splits=(0.5, 0.2, 0.2))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(export.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    with pytest.raises(DoccanoError, match=r"bad.jsonl:11: not valid JSON"):
        convert_doccano_file(bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_uie_doccano_command_writes_the_splits(tmp_path, capsys):
    from paddle_ernie_m.cli import main

    export = _write_export(tmp_path / "export.jsonl", 20)
    assert main(["uie-doccano", str(export), str(tmp_path / "out"), "--splits", "0.5", "0.25", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and (tmp_path / "out" / "test.txt").is_file()
    assert main(["uie-doccano", str(export), str(tmp_path / "out")]) == 1
    assert "already exist" in capsys.readouterr().err
