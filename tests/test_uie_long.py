"""UIE on long texts: each distinct (prompt, piece) runs once, each prompt and piece is tokenized once (pairs put
together exactly as the tokenizer and PaddleNLP's put them), results stay Taskflow's, and ``max_child_prompts``
bounds what a text with thousands of parent spans asks and returns."""
from __future__ import annotations

import json
import logging
import tracemalloc

import pytest

from paddle_ernie_m.cli import main as cli_main
from paddle_ernie_m.tokenizer import ErnieMTokenizer
from paddle_ernie_m.uie import InformationExtractor
from paddle_ernie_m.uie.decoding import MAX_CHILD_PROMPTS, extract
from paddle_ernie_m.uie.demo import DEMO_MODEL, DEMO_TEXTS
from paddle_ernie_m.uie.features import PairEncoder
from paddle_ernie_m.uie.schema import build_schema, dbc2sbc

from .fixtures import make_tiny_tokenizer as fixture
from .taskflow_compat import paddle3_taskflow
from .taskflow_compat import assert_same_results

SENTENCE = DEMO_TEXTS["ch"]  # 李娜是蓝海银行的工程师，常驻上海。大家都很高兴。 (25 characters)
SCHEMA = [{"人物": ["所属机构"]}, "地点", "情感倾向[正向,负向]"]


class CountingTokenizer:
    """A tokenizer that records every string it is asked to tokenize."""

    def __init__(self, inner: ErnieMTokenizer) -> None:
        self.inner, self.strings = inner, []

    def __call__(self, text, text_pair=None, **kwargs):
        self.strings += list(text) + list(text_pair or [])
        return self.inner(text, text_pair, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def count_work(extractor: InformationExtractor):
    """Make ``extractor`` count the rows it runs and the strings it tokenizes: returns ``(rows, strings)``
    (``rows`` a one-item list)."""
    rows, runner = [0], extractor._runner

    def run(input_ids, position_ids, attention_bias):
        rows[0] += len(input_ids)
        return runner(input_ids, position_ids, attention_bias)

    extractor._runner = run
    extractor.tokenizer = CountingTokenizer(extractor.tokenizer)
    return rows, extractor.tokenizer.strings


@pytest.fixture(scope="module")
def taskflow(tmp_path_factory):
    with paddle3_taskflow() as build:
        yield lambda schema, **kwargs: build(DEMO_MODEL, tmp_path_factory.mktemp("taskflow"), schema, **kwargs)


# ----------------------------------------------------------------------------------------------- tokenizing
def test_pairs_from_cached_pieces_equal_the_tokenizers_and_paddlenlps_pair_output():
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer

    ours = ErnieMTokenizer.from_pretrained(fixture.OUTPUT)
    reference = PaddleNLPTokenizer.from_pretrained(str(fixture.OUTPUT))
    corpus = fixture.read_corpus()
    texts = []
    for text in corpus:  # PaddleNLP raises on the offsets of a few corpus lines: those are left out
        try:
            reference.get_offset_mapping(text)
            texts.append(text)
        except (ValueError, IndexError):
            pass
    texts = texts[:150] + ["", "[SEP] 李娜[PAD]是", SENTENCE * 3]
    prompts = ["人物", "李娜的所属机构", "birthplace of Zhang San", "情感倾向[正向,负向]", "x" * 40, ""]
    prompt_list = [prompts[k % len(prompts)] for k in range(len(texts))]
    for max_seq_len in (16, 48, 512):  # 16 and 48 truncate the prompt, the text or both
        encoder = PairEncoder(ours, max_seq_len)
        encoder.prepare(prompt_list + texts)
        got = [encoder(p, t) for p, t in zip(prompt_list, texts)]
        for tokenizer in (ours, reference):
            kwargs = {"return_attention_mask": False} if tokenizer is ours else {}
            expected = tokenizer(text=prompt_list, text_pair=texts, truncation=True, max_seq_len=max_seq_len,
                                 return_offsets_mapping=True, **kwargs)
            assert [ids for ids, _ in got] == [list(ids) for ids in expected["input_ids"]]
            assert [offsets for _, offsets in got] == [[tuple(o) for o in row] for row in expected["offset_mapping"]]


# ----------------------------------------------------------------------------------------------- bounded work
def distinct_pieces(text: str, max_seq_len: int, max_prompt: str) -> set:
    """Taskflow's pieces of ``text`` in a stage whose greatest prompt is ``max_prompt``, as a set."""
    length = max_seq_len - len(max_prompt) - 3
    return {text[i:i + length] for i in range(0, len(text), length)}


def test_a_relation_schema_on_a_long_text_runs_each_distinct_prompt_and_piece_once():
    text = SENTENCE * 2000  # 50,000 characters, the demo model finds 李娜 in (almost) every sentence
    extractor = InformationExtractor(DEMO_MODEL, schema=SCHEMA)
    rows, strings = count_work(extractor)
    tracemalloc.start()
    try:
        result = extractor(text)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    people = result["人物"]
    assert len(people) > 1500, "few parent spans: the case tests nothing"
    asked = people[:MAX_CHILD_PROMPTS]
    child_prompts = {dbc2sbc(f"{p['text']}的所属机构") for p in asked}  # prompts are half-width
    assert len(child_prompts) < 20  # the toy model finds one name and a few odd spans, each many times
    # per stage: its distinct prompts, each with the distinct pieces of the text (one stage = one piece length)
    every_child_prompt = {dbc2sbc(f"{p['text']}的所属机构") for p in people}
    stages = [({"人物"}, "人物"), ({"地点"}, "地点"), ({"情感倾向[正向,负向]"}, "情感倾向[正向,负向]"),
              (child_prompts, max(every_child_prompt))]
    expected_rows = sum(len(prompts) * len(distinct_pieces(text, 512, longest)) for prompts, longest in stages)
    assert rows[0] == expected_rows < 300  # Taskflow: 100 pieces per prompt, the child's once per parent span
    assert sorted(strings) == sorted(
        s for prompts, longest in stages for s in [*prompts, *distinct_pieces(text, 512, longest)])
    assert all(len(p.get("relations", {}).get("所属机构", [])) > 0 for p in asked[:3])
    assert all("relations" not in p for p in people[MAX_CHILD_PROMPTS:])
    assert peak < 16 * 2**20, f"peak Python memory {peak / 2**20:.0f} MiB"  # 3 MiB seen; 39 MiB with no cap


# ----------------------------------------------------------------------------------------------- results
def test_repeated_parents_and_texts_give_taskflows_results(taskflow):
    """Taskflow runs every repeated (prompt, text) pair: the deduplicated run must answer the same."""
    schema = [{"人物": ["所属机构", "情感倾向[正向,负向]"]}, "地点"]
    texts = [SENTENCE * 6, SENTENCE, SENTENCE * 6, DEMO_TEXTS["en"], SENTENCE[:9] * 3]
    reference = taskflow(schema, max_seq_len=128)(texts)
    people = reference[0]["人物"]
    answered = [p["text"] for p in people if "所属机构" in p.get("relations", {})]
    assert len(answered) > len(set(answered)), "no repeated parents to share answers"
    for cap in (None, MAX_CHILD_PROMPTS):
        ours = InformationExtractor(DEMO_MODEL, schema=schema, max_seq_len=128, max_child_prompts=cap)(texts)
        assert_same_results(ours, reference)
        shared = [o for p in ours[0]["人物"] for o in p.get("relations", {}).get("所属机构", [])]
        assert len({id(o) for o in shared}) == len(shared), "owners share result dicts"


def test_max_child_prompts_asks_the_first_spans_only_and_says_so(taskflow, caplog):
    text = SENTENCE * 6
    reference = taskflow(SCHEMA, max_seq_len=128)([text, SENTENCE])
    people = reference[0]["人物"]
    assert len(people) > 3 and any("relations" in p for p in people[2:]), "the cap would change nothing"
    for p in people[2:]:  # the exact effect: spans after the second lose their answers, nothing else changes
        p.pop("relations", None)
    extractor = InformationExtractor(DEMO_MODEL, schema=SCHEMA, max_seq_len=128, max_child_prompts=2)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="paddle_ernie_m.uie.decoding"):
        ours = extractor([text, SENTENCE])
    assert_same_results(ours, reference)
    assert [r.getMessage() for r in caplog.records] == [
        f"max_child_prompts=2: '所属机构' was asked about the first 2 '人物' spans of 1 text(s) only; "
        f"{len(people) - 2} span(s) after them get no '所属机构' answers"]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_child_prompts"):
            InformationExtractor(DEMO_MODEL, max_child_prompts=bad, backend="dygraph")


def test_extract_command_passes_max_child_prompts(capsys):
    text = SENTENCE * 6
    base = ["extract", "--model", str(DEMO_MODEL), "--schema", json.dumps(SCHEMA, ensure_ascii=False),
            "--max-seq-len", "128", text]
    printed = {}
    for value, cap in (("1", 1), ("0", None)):
        assert cli_main([*base, "--max-child-prompts", value]) == 0
        printed[cap] = json.loads(capsys.readouterr().out)["result"]
        extractor = InformationExtractor(DEMO_MODEL, schema=SCHEMA, max_seq_len=128, max_child_prompts=cap)
        assert printed[cap] == extractor(text)[0]
    assert printed[1] != printed[None], "the cap changes nothing on this text: the test proves nothing"
    assert cli_main([*base, "--max-child-prompts", "-2"]) == 1
    assert "--max-child-prompts" in capsys.readouterr().err


def test_the_cap_keeps_the_piece_length_the_uncut_stage_would_have():
    """Pieces are cut to ``max_seq_len - len(max(prompts)) - 3`` over the prompts Taskflow would ask, cut ones
    included, so the spans that are asked get the answers they get without the cap."""
    calls = []

    def run_stage(texts, prompts, max_prompts, groups):
        calls.append((prompts, max_prompts[0]))
        if prompts == ["人物"]:
            return [[{"text": name, "start": 0, "end": 1, "probability": 0.9} for name in "AZA"]]
        return [[{"text": "C", "start": 2, "end": 3, "probability": 0.8}] for _ in prompts]

    results = extract(build_schema([{"人物": ["公司"]}]), ["AZA"], "ch", run_stage, max_child_prompts=1)
    assert calls == [(["人物"], "人物"), (["A的公司"], "Z的公司")]
    assert [p.get("relations") for p in results[0]["人物"]] == [
        {"公司": [{"text": "C", "start": 2, "end": 3, "probability": 0.8}]}, None, None]
