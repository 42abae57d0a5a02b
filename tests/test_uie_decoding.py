"""UIE schemas, prompts, span decoding, splitting and joining: hand-computed cases, and PaddleNLP 2.8.1's own helper
functions as the reference where it has one."""
from __future__ import annotations

import random

import numpy as np
import pytest

from paddle_ernie_m.uie.decoding import (
    Piece,
    candidates,
    cut_sentences,
    decode,
    extract,
    join_pieces,
    max_text_length,
    order_spans,
    pair_spans,
    spans_to_results,
    split_texts,
)
from paddle_ernie_m.uie.features import prompt_relative_offsets
from paddle_ernie_m.uie.schema import SchemaError, build_schema, child_prompt, dbc2sbc, root_prompt


# ------------------------------------------------------------------------------------------------- schema
def test_schema_tree_keeps_order_and_nests_to_any_depth():
    roots = build_schema([{"人物": [{"公司": ["地点", "成立时间"]}, "职位"]}, "地点", {"情感倾向[正向,负向]": "原因"}])
    assert [r.name for r in roots] == ["人物", "地点", "情感倾向[正向,负向]"]
    assert [c.name for c in roots[0].children] == ["公司", "职位"]
    assert [c.name for c in roots[0].children[0].children] == ["地点", "成立时间"]
    assert build_schema({"a": "b"})[0].to_schema() == {"a": ["b"]}
    assert build_schema("a")[0].to_schema() == "a"


@pytest.mark.parametrize("schema, message", [
    ([], "empty"),
    ("", "empty label"),
    (["人物", "  "], "empty label"),
    ([["人物"]], "expected a label"),
    ([{"人物": 3}], "children of a label"),
    ([{"人物": []}], "no children"),
    ([{}], "empty dict"),
    (42, "must be a label"),
    (["人物", {"人物": ["公司"]}], "more than once"),
    ([{1: ["a"]}], "keys must be labels"),
])
def test_malformed_schemas_are_rejected_with_a_message(schema, message):
    with pytest.raises(SchemaError, match=message):
        build_schema(schema)


def test_dbc2sbc_equals_paddlenlp_around_the_full_width_block():
    from paddlenlp.taskflow.utils import dbc2sbc as reference

    codes = [*range(0x0300), *range(0x3000, 0x3040), *range(0xFE00, 0x10000), *range(0x0300, 0xD800, 101)]
    text = "".join(chr(c) for c in codes)
    assert dbc2sbc(text) == reference(text)
    assert dbc2sbc("情感倾向[正向，负向]") == "情感倾向[正向,负向]"
    assert dbc2sbc("\u3000～") == "\u3000~"  # the ideographic space stays, the full-width tilde does not


def test_prompts_are_built_as_taskflow_builds_them():
    company = build_schema({"人物": ["公司"]})[0].children[0]
    sentiment = build_schema({"Aspect": ["Sentiment classification [negative, positive]"]})[0].children[0]
    assert child_prompt(company, "张三", "ch") == "张三的公司"
    assert child_prompt(company, "Steve", "en") == "公司 of Steve"
    assert child_prompt(sentiment, "food", "en") == "Sentiment classification of food [negative, positive]"
    assert child_prompt(sentiment, "ＡＢ", "ch") == "AB的Sentiment classification [negative, positive]"
    assert root_prompt(build_schema("情感倾向[正向，负向]")[0]) == "情感倾向[正向,负向]"


# -------------------------------------------------------------------------------------------------- spans
def test_candidates_are_strictly_above_the_threshold_compared_in_float64():
    probs = np.array([0.5, 0.50000006, 0.3, 0.2999999], dtype=np.float32)
    assert [i for i, _ in candidates(probs, 0.5)] == [1]
    # float32(0.3) is 0.30000001192..., above the float64 threshold 0.3 (Taskflow compares in float64)
    assert [i for i, _ in candidates(probs, 0.3)] == [0, 1, 2]
    assert candidates(probs, 0.5)[0][1] == float(np.float32(0.50000006))


def test_each_end_takes_the_latest_start_after_the_previous_end():
    starts = [(1, 0.9), (3, 0.8), (5, 0.7), (9, 0.6)]
    ends = [(4, 0.9), (6, 0.8), (7, 0.7), (8, 0.6), (12, 0.5)]
    pairs = pair_spans(starts, ends)
    # start 1 is passed over by start 3; ends 7 and 8 find no start after end 6
    assert [(s[0], e[0]) for s, e in pairs] == [(3, 4), (5, 6), (9, 12)]
    assert [(s[0], e[0]) for s, e in pair_spans([(2, 0.9)], [(2, 0.9), (5, 0.9)])] == [(2, 2)]
    assert pair_spans([(5, 0.9)], [(2, 0.9)]) == []


def test_pairing_equals_paddlenlp_get_span_on_random_candidates():
    from paddlenlp.utils.tools import get_span

    rng = random.Random(0)
    for _ in range(300):
        starts = [(i, rng.random()) for i in sorted(rng.sample(range(40), rng.randint(0, 12)))]
        ends = [(i, rng.random()) for i in sorted(rng.sample(range(40), rng.randint(0, 12)))]
        assert set(pair_spans(starts, ends)) == get_span(starts, ends, with_prob=True)


def test_spans_are_ordered_by_probability_then_position():
    pairs = [((1, 0.5), (2, 0.5)), ((4, 0.9), (5, 0.9)), ((0, 0.25), (3, 1.0))]
    assert [(s[0], e[0]) for s, e in order_spans(pairs)] == [(4, 5), (0, 3), (1, 2)]


def _offsets_for(prompt_offsets, text_offsets, padding):
    """The offset table of ``[CLS] prompt [SEP] [SEP] text [SEP] [PAD]*padding`` as the tokenizer gives it."""
    rows = [(0, 0)] + prompt_offsets + [(0, 0), (0, 0)] + text_offsets + [(0, 0)]
    return prompt_relative_offsets(rows, len(rows) + padding)


def test_offsets_of_prompt_tokens_are_shifted_below_zero():
    # prompt "情感[好,坏]" as 6 tokens; text "很好" as 2 tokens
    table = _offsets_for([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)], [(0, 1), (1, 2)], padding=2)
    assert table[1:7].tolist() == [[-7, -6], [-6, -5], [-5, -4], [-4, -3], [-3, -2], [-2, -1]]
    assert table[9:11].tolist() == [[0, 1], [1, 2]]
    assert table[7:9].tolist() == [[0, 0]] * 2  # [SEP] [SEP]
    assert table[11:].tolist() == [[0, 0]] * 3  # [SEP], padding


def test_results_cut_text_spans_and_prompt_answers_and_drop_spans_from_prompt_to_text():
    prompt, text = "情感[好,坏]", "很好吧"
    table = _offsets_for([(i, i + 1) for i in range(7)], [(0, 1), (1, 2), (2, 3)], padding=3)
    # positions: 0 [CLS], 1-7 prompt, 8-9 [SEP][SEP], 10-12 text, 13 [SEP], 14-16 padding
    pairs = [
        ((10, 0.9), (11, 0.8)),   # text span "很好"
        ((4, 0.9), (4, 0.9)),     # the option "好" inside the prompt: a classification answer
        ((6, 0.7), (6, 0.7)),     # the option "坏"
        ((5, 0.6), (11, 0.6)),    # starts in the prompt, ends in the text: dropped
        ((12, 0.6), (15, 0.5)),   # ends on padding (0, 0): Taskflow cuts text[2:0] = ""
        ((0, 0.55), (0, 0.55)),   # [CLS] alone: (0, 0)
    ]
    results = spans_to_results(pairs, table, text, prompt)
    assert results == [
        {"text": "很好", "start": 0, "end": 2, "probability": 0.9 * 0.8},
        {"text": "好", "probability": 0.9 * 0.9},
        {"text": "坏", "probability": 0.7 * 0.7},
        {"text": "", "start": 2, "end": 0, "probability": 0.6 * 0.5},
        {"text": "", "start": 0, "end": 0, "probability": 0.55 * 0.55},
    ]


def test_decode_runs_thresholding_pairing_and_ordering_together():
    prompt, text = "人", "张三李四"
    table = _offsets_for([(0, 1)], [(0, 1), (1, 2), (2, 3), (3, 4)], padding=0)
    start = np.zeros(len(table), np.float32)
    end = np.zeros(len(table), np.float32)
    start[[4, 5, 6]] = [0.9, 0.6, 0.8]  # overlapping candidates: 张 and 三 both start, 三 is the latest before 三
    end[[5, 7]] = [0.7, 0.95]
    assert decode(start, end, table, text, prompt, 0.5) == [
        {"text": "李四", "start": 2, "end": 4, "probability": float(np.float32(0.8)) * float(np.float32(0.95))},
        {"text": "三", "start": 1, "end": 2, "probability": float(np.float32(0.6)) * float(np.float32(0.7))},
    ]


# ---------------------------------------------------------------------------------------- split and join
def test_texts_are_cut_into_pieces_with_their_offsets():
    pieces = split_texts(["ABCDEFGHIJ", "", "XY"], 4)
    assert pieces == [Piece(0, 0, "ABCD"), Piece(0, 4, "EFGH"), Piece(0, 8, "IJ"), Piece(1, 0, ""), Piece(2, 0, "XY")]
    with pytest.raises(ValueError, match="no room"):
        split_texts(["A"], 0)


def test_sentence_split_equals_paddlenlp_and_keeps_offsets_in_the_original_text():
    from paddlenlp.taskflow.utils import cut_chinese_sent

    text = "今天下雨。“真的吗？”他问……好吧……走吧!\n明天见？  OK...... bye  \n"
    assert cut_sentences(text) == cut_chinese_sent(text)
    for piece in split_texts([text], 5, split_sentence=True):
        assert text[piece.offset:piece.offset + len(piece.text)] == piece.text


def test_piece_length_uses_the_lexicographically_greatest_prompt_as_taskflow_does():
    assert max_text_length(20, ["b", "aaaa"]) == 20 - 1 - 3
    assert max_text_length(20, ["aaaa"]) == 20 - 4 - 3


def test_a_span_crossing_a_split_boundary_comes_back_as_two_shifted_spans():
    text = "ABCDEFGH"
    pieces = split_texts([text], 4)
    joined = join_pieces(pieces, [[{"text": "CD", "start": 2, "end": 4, "probability": 0.6}],
                                  [{"text": "EF", "start": 0, "end": 2, "probability": 0.7}]], 1)
    assert joined == [[{"text": "CD", "start": 2, "end": 4, "probability": 0.6},
                       {"text": "EF", "start": 4, "end": 6, "probability": 0.7}]]
    assert [text[r["start"]:r["end"]] for r in joined[0]] == ["CD", "EF"]


def test_classification_answers_are_voted_over_pieces():
    pieces = [Piece(0, 0, "a"), Piece(0, 1, "b"), Piece(0, 2, "c"), Piece(1, 0, "d"), Piece(1, 1, "e"),
              Piece(2, 0, "f"), Piece(2, 1, "g"), Piece(3, 0, "h")]
    results = [
        [{"text": "正向", "probability": 0.9}, {"text": "负向", "probability": 0.85}],  # only the first one votes
        [{"text": "负向", "probability": 0.8}],
        [{"text": "负向", "probability": 0.6}],
        [{"text": "正向", "probability": 0.9}],   # text 1: one vote each, the larger sum wins
        [{"text": "负向", "probability": 0.8}],
        [{"text": "负向", "probability": 0.5}],   # text 2: a tie in votes and sums: the first seen wins
        [{"text": "正向", "probability": 0.5}],
        [],                                          # text 3: nothing
    ]
    joined = join_pieces(pieces, results, 4)
    assert joined[0] == [{"text": "负向", "probability": pytest.approx(0.7)}]
    assert joined[1] == [{"text": "正向", "probability": 0.9}]
    assert joined[2] == [{"text": "负向", "probability": 0.5}]
    assert joined[3] == []


def test_a_stage_is_a_classification_stage_by_its_first_non_empty_piece():
    pieces = [Piece(0, 0, "ab"), Piece(0, 2, "cd")]
    spans = join_pieces(pieces, [[], [{"text": "c", "start": 0, "end": 1, "probability": 0.6},
                                      {"text": "正向", "probability": 0.9}]], 1)
    assert spans == [[{"text": "c", "start": 2, "end": 3, "probability": 0.6}, {"text": "正向", "probability": 0.9}]]


# --------------------------------------------------------------------------------------------- stages
def test_stages_walk_the_schema_breadth_first_and_nest_relations():
    answers = {
        ("t1", "人物"): [{"text": "A", "start": 0, "end": 1, "probability": 0.9},
                       {"text": "B", "start": 2, "end": 3, "probability": 0.8}],
        ("t1", "A的公司"): [{"text": "C", "start": 4, "end": 5, "probability": 0.7}],
        ("t1", "C的地点"): [{"text": "D", "start": 6, "end": 7, "probability": 0.6}],
        ("t1", "A的情感倾向[正向,负向]"): [{"text": "正向", "probability": 0.95}],
        ("t2", "人物"): [],
    }
    calls = []

    def run_stage(texts, prompts, max_prompts, groups):
        assert max_prompts == [max(prompts)] * len(prompts)
        calls.append(list(prompts))
        return [[dict(r) for r in answers.get((t, p), [])] for t, p in zip(texts, prompts)]

    schema = build_schema([{"人物": [{"公司": ["地点"]}, "情感倾向[正向，负向]"]}])
    results = extract(schema, ["t1", "t2"], "ch", run_stage)
    assert calls == [["人物", "人物"], ["A的公司", "B的公司"], ["A的情感倾向[正向,负向]", "B的情感倾向[正向,负向]"],
                     ["C的地点"]]
    assert results == [
        {"人物": [
            {"text": "A", "start": 0, "end": 1, "probability": 0.9, "relations": {
                "公司": [{"text": "C", "start": 4, "end": 5, "probability": 0.7,
                         "relations": {"地点": [{"text": "D", "start": 6, "end": 7, "probability": 0.6}]}}],
                "情感倾向[正向，负向]": [{"text": "正向", "probability": 0.95}]}},
            {"text": "B", "start": 2, "end": 3, "probability": 0.8}]},
        {},
    ]


def test_english_child_prompts_name_the_child_first():
    calls = []

    def run_stage(texts, prompts, max_prompts, groups):
        calls.append(list(prompts))
        return [[{"text": "Steve", "start": 0, "end": 5, "probability": 0.9}] if p == "Person" else [] for p in prompts]

    extract(build_schema([{"Person": ["Company", "Sentiment [negative, positive]"]}]), ["x"], "en", run_stage)
    assert calls == [["Person"], ["Company of Steve"], ["Sentiment of Steve [negative, positive]"]]
