"""Data readers name the file and line of bad rows (or count skipped ones); the collator pads dynamically."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from paddle_ernie_m.training.data import (
    DataError,
    DynamicPaddingCollator,
    Problems,
    read_conll,
    read_records,
    read_squad,
    sorted_labels,
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_json_line_is_reported_with_file_and_line(tmp_path):
    path = write(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match=rf"^{path}:3: not valid JSON"):
        read_records(path)
    write(path, '{"text": "a"}\n["not", "an", "object"]\n')
    with pytest.raises(DataError, match=rf"^{path}:2: expected a JSON object"):
        read_records(path)


def test_csv_row_with_wrong_field_count_and_empty_files_are_errors(tmp_path):
    path = write(tmp_path / "train.csv", 'text,label\n"hello, world",pos\nbye,neg,extra\n')
    with pytest.raises(DataError, match=rf"^{path}:3: 3 fields, the header has 2"):
        read_records(path)
    assert read_records(write(tmp_path / "ok.tsv", "text\tlabel\nhello, world\tpos\n")) == [
        (2, {"text": "hello, world", "label": "pos"})]
    for name in ("empty.jsonl", "empty.csv"):
        with pytest.raises(DataError, match="no examples"):
            read_records(write(tmp_path / name, "\n" if name.endswith("l") else "text,label\n"))
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        read_records(tmp_path / "missing.jsonl")


def test_conll_bad_tag_or_missing_column_names_the_line_and_skipping_counts_whole_sentences(tmp_path, caplog):
    path = write(tmp_path / "train.conll",
                 "-DOCSTART- O\n\nAnna B-PER\nlebt O\n\nin O\nBerlin X-LOC\n\nParis\n\nRom B-LOC\n")
    with pytest.raises(DataError, match=rf"^{path}:7: tag 'X-LOC' is not O, B-<type> or I-<type>"):
        read_conll(path)
    problems = Problems(skip=True)
    with caplog.at_level(logging.WARNING):
        sentences = read_conll(path, problems)
        problems.summary()
    assert [s.tokens for s in sentences] == [["Anna", "lebt"], ["Rom"]]
    assert [s.line for s in sentences] == [3, 11]
    assert problems.count == {str(path): 2}
    assert f"{path}:9" in caplog.text and "skipped 2 invalid row(s)" in caplog.text


def _squad(answer_start: int, text: str = "Berlin") -> dict:
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "Anna lebt in Berlin.", "qas": [
            {"id": "ok", "question": "Wer?", "answers": [{"text": "Anna", "answer_start": 0}]},
            {"id": "where", "question": "Wo?", "answers": [{"text": text, "answer_start": answer_start}]},
        ]}]}]}


def test_squad_answer_outside_its_context_names_file_line_and_question(tmp_path):
    path = write(tmp_path / "dev.json", json.dumps(_squad(13), indent=1))
    assert [(e.id, e.answers) for e in read_squad(path)] == [("ok", [("Anna", 0)]), ("where", [("Berlin", 13)])]
    path = write(tmp_path / "dev.json", json.dumps(_squad(14), indent=1))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if '"id": "where"' in text)
    with pytest.raises(DataError, match=rf"^{path}:{line}: question 'where': answer 'Berlin' is not in its "
                                        r"context at character 14 \(found 'erlin\.'\)"):
        read_squad(path)
    problems = Problems(skip=True)
    assert [e.id for e in read_squad(path, problems)] == ["ok"] and problems.count == {str(path): 1}
    write(path, json.dumps(_squad(100, "Rom")))
    with pytest.raises(DataError, match="not in its context at character 100"):
        read_squad(path)
    write(path, '{"data": [\n{"paragraphs": }]}')
    with pytest.raises(DataError, match=rf"^{path}:2: not valid JSON"):
        read_squad(path)


def test_collator_pads_each_field_to_the_longest_of_the_batch_including_choices():
    collate = DynamicPaddingCollator(pad_token_id=1, keys=("input_ids", "attention_mask", "labels"))
    batch = collate([{"input_ids": [0, 5, 2], "labels": [-100, 3, -100], "extra": "dropped"},
                     {"input_ids": [0, 5, 6, 7, 2], "labels": [-100, 1, 2, 2, -100]}])
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    np.testing.assert_array_equal(batch["input_ids"], [[0, 5, 2, 1, 1], [0, 5, 6, 7, 2]])
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(batch["labels"], [[-100, 3, -100, -100, -100], [-100, 1, 2, 2, -100]])
    assert batch["input_ids"].dtype == np.int64

    choices = collate([{"input_ids": [[0, 4, 2], [0, 2]], "labels": 1}, {"input_ids": [[0, 2], [0, 4, 4, 2]],
                                                                         "labels": 0}])
    assert choices["input_ids"].shape == (2, 2, 4)
    np.testing.assert_array_equal(choices["attention_mask"][1], [[1, 1, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(choices["labels"], [1, 0])

    rounded = DynamicPaddingCollator(1, ("input_ids",), pad_to_multiple_of=8)([{"input_ids": [0, 2]}])
    assert rounded["input_ids"].shape == (1, 8)


def test_labels_sort_numerically_when_they_are_integers():
    assert sorted_labels(["10", "2", "0", "2"]) == ["0", "2", "10"]
    assert sorted_labels(["neutral", "entailment", "contradiction"]) == ["contradiction", "entailment", "neutral"]
