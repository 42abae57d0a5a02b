"""ErnieMTokenizer (default compat) against PaddleNLP 2.8.1's ErnieMTokenizer on the multilingual corpus."""
from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from paddle_ernie_m.tokenizer import ErnieMTokenizer

from .fixtures import make_tiny_tokenizer as fixture

pytestmark = pytest.mark.filterwarnings("ignore")

FIXTURE = fixture.OUTPUT
CORPUS = fixture.read_corpus()
PAIRS = CORPUS[1:] + CORPUS[:1]


@pytest.fixture(scope="module")
def paddlenlp_class():
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer

    return PaddleNLPTokenizer


def reference_offsets(reference, text):
    """PaddleNLP's offsets, or None where it raises (a token not found, or an index past its character map)."""
    try:
        return reference.get_offset_mapping(text)
    except (ValueError, IndexError):
        return None


def as_lists(encoding):
    return {k: [[tuple(x) for x in row] if k == "offset_mapping" else list(row) for row in v]
            for k, v in encoding.items()}


@pytest.mark.parametrize("lower", [False, True])
def test_tokens_ids_and_offsets_match_paddlenlp_on_every_line(paddlenlp_class, lower):
    reference = paddlenlp_class.from_pretrained(str(FIXTURE), do_lower_case=lower)
    ours = ErnieMTokenizer.from_pretrained(FIXTURE, do_lower_case=lower)
    raising = []
    for i, text in enumerate(CORPUS):
        where = f"corpus line {i + 1}: {text[:60]!r}"
        assert ours.tokenize(text) == reference.tokenize(text), where
        expected = reference_offsets(reference, text)
        if expected is None:
            raising.append(i + 1)
            assert len(ours.get_offset_mapping(text)) == len(ours.tokenize(text)), where
        else:
            assert ours.get_offset_mapping(text) == expected, where
    expected_ids, got_ids = reference(CORPUS)["input_ids"], ours(CORPUS, return_attention_mask=False)["input_ids"]
    bad = [i + 1 for i, (a, b) in enumerate(zip(got_ids, expected_ids)) if a != b]
    assert not bad, f"ids differ on corpus lines {bad}"
    # Where PaddleNLP raises, our offsets come from SentencePiece's alignment (checked in test_tokenizer.py).
    # Without lower-casing that happens only where SentencePiece composes several characters into one
    # (e + U+0301, Hangul jamo), which PaddleNLP's character-by-character NFKC cannot match.
    composed = {i + 1 for i, t in enumerate(CORPUS)
                if unicodedata.normalize("NFKC", t) != "".join(unicodedata.normalize("NFKC", c) for c in t)}
    if not lower:
        assert raising and set(raising) <= composed, raising


SETTINGS = [
    dict(padding=True),
    dict(max_length=24),
    dict(max_length=32, truncation=True, padding="max_length"),
    dict(max_length=48, truncation="only_first", padding=True),
    dict(max_seq_len=40, truncation=True, pad_to_max_seq_len=True),
]


@pytest.mark.parametrize("pairs", [False, True])
def test_batches_match_paddlenlp_with_truncation_and_padding(paddlenlp_class, pairs):
    reference = paddlenlp_class.from_pretrained(str(FIXTURE))
    ours = ErnieMTokenizer.from_pretrained(FIXTURE)
    texts = [t for t in CORPUS if reference_offsets(reference, t) is not None]
    second = texts[1:] + texts[:1] if pairs else None
    outputs = dict(return_attention_mask=True, return_position_ids=True, return_special_tokens_mask=True,
                   return_offsets_mapping=True)
    for setting in SETTINGS:
        if setting.get("truncation") == "only_first":  # only the examples PaddleNLP can truncate that way
            room = setting["max_length"] - (4 if pairs else 2)
            keep = [k for k in range(len(texts)) if not pairs or len(ours.tokenize(second[k])) < room]
            batch = ([texts[k] for k in keep], [second[k] for k in keep] if pairs else None)
        else:
            batch = (texts, second)
        expected = as_lists(reference(*batch, **setting, **outputs))
        got = as_lists(ours(*batch, **setting, **outputs))
        assert sorted(got) == sorted(expected)
        for key in expected:
            bad = [k for k, (a, b) in enumerate(zip(got[key], expected[key])) if a != b]
            assert not bad, f"{setting}: {key} differs on {len(bad)} examples, first {batch[0][bad[0]][:60]!r}"


def test_uie_m_call_matches_paddlenlp(paddlenlp_class):
    """The call PaddleNLP's UIE-M Taskflow makes: prompt + text pairs, padded to max_seq_len, with positions and
    offsets (max_seq_len shortened so that truncation happens)."""
    reference = paddlenlp_class.from_pretrained(str(FIXTURE))
    ours = ErnieMTokenizer.from_pretrained(FIXTURE)
    prompts = ["人物", "出生地", "张三的出生地", "birthplace of Zhang San", "情感倾向[正向，负向]", "时间"]
    texts = [t for t in CORPUS if reference_offsets(reference, t) is not None][:120]
    prompt_list = [prompts[k % len(prompts)] for k in range(len(texts))]
    kwargs = dict(truncation=True, max_seq_len=48, pad_to_max_seq_len=True, return_position_ids=True,
                  return_offsets_mapping=True)
    expected = as_lists(reference(text=prompt_list, text_pair=texts, **kwargs))
    got = as_lists(ours(text=prompt_list, text_pair=texts, return_attention_mask=False, **kwargs))
    assert got == expected


def test_paddlenlp_loads_a_directory_we_saved(paddlenlp_class, tmp_path):
    from paddlenlp.transformers import AutoTokenizer

    ours = ErnieMTokenizer.from_pretrained(FIXTURE)
    ours.save_pretrained(tmp_path)
    for reference in (paddlenlp_class.from_pretrained(str(tmp_path)), AutoTokenizer.from_pretrained(str(tmp_path))):
        assert type(reference).__name__ == "ErnieMTokenizer"
        assert reference.model_max_length == 512
        assert reference(CORPUS[:50], padding=True)["input_ids"] == \
            ours(CORPUS[:50], padding=True)["input_ids"]


def test_we_load_a_directory_paddlenlp_saved(paddlenlp_class, tmp_path):
    reference = paddlenlp_class.from_pretrained(str(FIXTURE))
    reference.save_pretrained(str(tmp_path))
    ours = ErnieMTokenizer.from_pretrained(tmp_path)
    assert (ours.compat, ours.do_lower_case, ours.model_max_length) == ("paddlenlp", False, 512)
    assert ours(CORPUS, CORPUS[::-1])["input_ids"] == reference(CORPUS, CORPUS[::-1])["input_ids"]


def test_decode_matches_paddlenlp(paddlenlp_class):
    reference = paddlenlp_class.from_pretrained(str(FIXTURE))
    ours = ErnieMTokenizer.from_pretrained(FIXTURE)
    for text in CORPUS:
        ids = reference(text)["input_ids"]
        assert ours.decode(ids) == reference.decode(ids), text
        assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True), text
        assert ours.convert_ids_to_tokens(ids) == reference.convert_ids_to_tokens(ids)


def test_return_tensors_pd_gives_paddle_tensors_equal_to_paddlenlp(paddlenlp_class):
    import paddle

    reference = paddlenlp_class.from_pretrained(str(FIXTURE))
    ours = ErnieMTokenizer.from_pretrained(FIXTURE)
    kwargs = dict(max_length=32, truncation=True, padding="max_length", return_position_ids=True)
    expected = reference(CORPUS[:16], CORPUS[16:32], return_tensors="pd", **kwargs)
    got = ours(CORPUS[:16], CORPUS[16:32], return_tensors="pd", **kwargs)
    for key in ("input_ids", "position_ids"):
        assert isinstance(got[key], paddle.Tensor) and got[key].dtype == paddle.int64
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
    single = ours(CORPUS[0], return_tensors="pd")["input_ids"]
    np.testing.assert_array_equal(single.numpy(), reference(CORPUS[0], return_tensors="pd")["input_ids"].numpy())
