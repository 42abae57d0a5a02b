"""InformationExtractor against PaddleNLP 2.8.1's own UIE Taskflow on the same UIE-M checkpoint.

Taskflow is made to run on Paddle 3.x inside the test only (``taskflow_compat.paddle3_taskflow``: as shipped it expects
``inference.pdmodel`` where Paddle 3.x writes ``inference.json``, and its ``Config.enable_memory_optim()`` raises; no
network), and its ``get_span``, which returns a ``set`` whose iteration order depends on float hashes, is pinned to our
order (by decreasing probability, then position); the spans themselves and the rest of Taskflow's decoding are
untouched.

The checkpoints are tiny random UIE-Ms whose heads are scaled so that about one token in six passes 0.5: every prompt
yields overlapping candidates, spans in the prompt (classification answers), spans from the prompt into the text,
spans on special tokens and (second checkpoint) on padding, and children of all of these, which exercises every
decoding rule.
"""
from __future__ import annotations

import numpy as np
import paddle
import pytest

from paddle_ernie_m import ErnieMTokenizer
from paddle_ernie_m.uie.extractor import InformationExtractor

from .taskflow_compat import assert_same_results, paddle3_taskflow
from .uie_cases import CASES, CH_TEXTS, EN_TEXTS, LONG_TEXT, tiny_uie

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_uie(tmp_path_factory.mktemp("uie") / "model", seed=5, start_bias=-1.0, end_bias=-1.0)


@pytest.fixture(scope="module")
def padding_checkpoint(tmp_path_factory):
    """Biases for which the padding token passes 0.5 as a start and as an end (seed 5)."""
    return tiny_uie(tmp_path_factory.mktemp("uie-pad") / "model", seed=5, start_bias=-0.3, end_bias=1.2)


@pytest.fixture(scope="module")
def taskflow_factory(tmp_path_factory):
    """``build(checkpoint, schema, **kwargs)``: a Taskflow UIE task on a copy of the checkpoint."""
    workdirs = {}
    with paddle3_taskflow() as build:
        def factory(checkpoint, schema, **kwargs):
            if checkpoint not in workdirs:
                workdirs[checkpoint] = tmp_path_factory.mktemp("taskflow")
            return build(checkpoint, workdirs[checkpoint], schema, **kwargs)

        yield factory


@pytest.fixture(scope="module")
def extractors(checkpoint):
    cache = {}

    def get(backend, max_seq_len):
        if (backend, max_seq_len) not in cache:
            cache[backend, max_seq_len] = InformationExtractor(checkpoint, backend=backend, max_seq_len=max_seq_len)
        return cache[backend, max_seq_len]

    return get




@pytest.mark.parametrize("case", sorted(CASES))
def test_results_equal_taskflow_on_the_same_checkpoint(case, checkpoint, taskflow_factory, extractors):
    schema, lang = CASES[case]
    texts = (EN_TEXTS if lang == "en" else CH_TEXTS) + [LONG_TEXT]
    reference = taskflow_factory(checkpoint, schema, schema_lang=lang, max_seq_len=64)(texts)
    extractor = extractors("inference", 64)
    extractor.set_schema(schema, schema_lang=lang)
    ours = extractor(texts)
    assert any(r for r in reference), "the reference found nothing: the case tests nothing"
    assert_same_results(ours, reference)


@pytest.mark.slow
def test_long_texts_split_and_join_like_taskflow_at_the_default_length(checkpoint, taskflow_factory, extractors):
    schema = [{"人物": ["公司"]}, "情感倾向[正向，负向]"]
    texts = [LONG_TEXT * 4, CH_TEXTS[0]]  # ~600 characters: two pieces at max_seq_len 512
    reference = taskflow_factory(checkpoint, schema, max_seq_len=512)(texts)
    for backend in ("inference", "dygraph"):
        extractor = extractors(backend, 512)
        extractor.set_schema(schema, schema_lang="ch")
        ours = extractor(texts)
        assert_same_results(ours, reference)
    starts = [r["start"] for r in reference[0]["人物"] if "start" in r]
    assert max(starts) > 512 - 8, "no span from the second piece: the joining is not tested"


def test_split_sentence_results_equal_taskflow_for_texts_without_newlines(taskflow_factory, checkpoint):
    schema = ["时间", "地点"]
    texts = ["今天天气很好。我们去北京吧！你觉得呢？好的……出发" * 4]
    reference = taskflow_factory(checkpoint, schema, max_seq_len=40, split_sentence=True)(texts)
    ours = InformationExtractor(checkpoint, schema=schema, max_seq_len=40, split_sentence=True)(texts)
    assert_same_results(ours, reference)


def test_spans_on_padding_tokens_decode_like_taskflow(padding_checkpoint, taskflow_factory):
    schema = ["时间"]
    texts = CH_TEXTS[:2] + EN_TEXTS[:1]
    reference = taskflow_factory(padding_checkpoint, schema, max_seq_len=64)(texts)
    ours = InformationExtractor(padding_checkpoint, schema=schema, max_seq_len=64)(texts)
    assert_same_results(ours, reference)
    padding_spans = [r for result in reference for r in result["时间"] if r.get("start") == r.get("end") == 0]
    assert len(padding_spans) > 10, "few spans on padding: the case does not test them"


def test_exact_mode_probabilities_equal_paddlenlp_padded_forward(checkpoint):
    """One padding token with a log(n) bias gives the probabilities of n padding tokens (PaddleNLP's UIEM)."""
    from paddlenlp.transformers import UIEM as PaddleNLPUIEM

    tokenizer = ErnieMTokenizer.from_pretrained(checkpoint)
    encoded = tokenizer(["时间"], [CH_TEXTS[0]], truncation=True, max_seq_len=128, pad_to_max_seq_len=True,
                        return_position_ids=True, return_attention_mask=True, return_tensors="np")
    reference = PaddleNLPUIEM.from_pretrained(str(checkpoint))
    reference.eval()
    with paddle.no_grad():
        start_ref, end_ref = reference(paddle.to_tensor(encoded["input_ids"]),
                                       paddle.to_tensor(encoded["position_ids"]))
    length = int(encoded["attention_mask"].sum())
    for backend in ("dygraph", "inference"):
        extractor = InformationExtractor(checkpoint, backend=backend, max_seq_len=128)
        start, end = extractor._probabilities([encoded["input_ids"][0, :length].tolist()])
        np.testing.assert_allclose(start[0], start_ref.numpy()[0], atol=1e-6)
        np.testing.assert_allclose(end[0], end_ref.numpy()[0], atol=1e-6)
