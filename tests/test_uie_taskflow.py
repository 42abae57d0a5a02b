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

from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_ernie_m import ErnieMConfig, ErnieMTokenizer, UIEM
from paddle_ernie_m.uie.extractor import InformationExtractor

from .taskflow_compat import assert_same_results, paddle3_taskflow

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"

CH_TEXTS = [
    "2月8日上午北京冬奥会自由式滑雪女子大跳台决赛中中国选手谷爱凌以188.25分获得金牌！",
    "《告别了》是孙耀威在专辑爱的故事里面的歌曲",
    "地址不错，服务一般，设施陈旧",
    "中国地震台网正式测定：5月16日06时08分在云南临沧市凤庆县(北纬24.34度，东经99.98度)发生3.5级地震，震源深度10千米。",
]
EN_TEXTS = [
    "In 1997, Steve was excited to become the CEO of Apple.",
    "I am sorry but this is the worst film I have ever seen in my life.",
    "Ｆｕｌｌ-width Ｔｅｘｔ and naïve café, 2023-07-14 at 10:30am.",
]
LONG_TEXT = "".join(CH_TEXTS)  # longer than max_seq_len 64: split, decoded per piece, joined with shifted offsets


def _tiny_uie(directory: Path, seed: int, start_bias: float, end_bias: float) -> Path:
    """A random UIE-M whose heads are scaled so that logits spread over about +-1: with biases of -1 about one
    token in six passes 0.5."""
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    paddle.seed(seed)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=514, attention_mask_mode="paddlenlp")
    model = UIEM(config)
    for head, bias in ((model.linear_start, start_bias), (model.linear_end, end_bias)):
        head.weight.set_value(head.weight * 10)
        head.bias.set_value(paddle.full_like(head.bias, bias))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return _tiny_uie(tmp_path_factory.mktemp("uie") / "model", seed=5, start_bias=-1.0, end_bias=-1.0)


@pytest.fixture(scope="module")
def padding_checkpoint(tmp_path_factory):
    """Biases for which the padding token passes 0.5 as a start and as an end (seed 5)."""
    return _tiny_uie(tmp_path_factory.mktemp("uie-pad") / "model", seed=5, start_bias=-0.3, end_bias=1.2)


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


CASES = {
    "entity": (["时间", "选手", "赛事名称"], "ch"),
    "relation": ([{"歌曲名称": ["歌手", "所属专辑"]}], "ch"),
    "event": ([{"地震触发词": ["地震强度", "时间", "震中位置", "震源深度"]}], "ch"),
    "opinion": ([{"评价维度": ["观点词", "情感倾向[正向，负向]"]}], "ch"),
    "sentiment": (["情感倾向[正向，负向]"], "ch"),
    "nested": ([{"人物": [{"公司": ["地点"]}, "职位"]}, "地点"], "ch"),
    "relation_en": ([{"Person": ["Company", "Position"]}], "en"),
    "opinion_en": ([{"Aspect": ["Opinion", "Sentiment classification [negative, positive]"]}], "en"),
    "sentiment_en": (["Sentiment classification [negative, positive]"], "en"),
}


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
                        return_position_ids=True, return_tensors="np")
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
