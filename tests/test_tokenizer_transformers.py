"""ErnieMTokenizer(compat="transformers") against transformers 4.57.6's ErnieMTokenizer on the multilingual corpus."""
from __future__ import annotations

import pytest

from paddle_ernie_m.tokenizer import ErnieMTokenizer

from .fixtures import make_tiny_tokenizer as fixture

pytestmark = pytest.mark.filterwarnings("ignore")

FIXTURE = fixture.OUTPUT
CORPUS = fixture.read_corpus()


@pytest.fixture(scope="module")
def hf_class():
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer as HFTokenizer

    return HFTokenizer


@pytest.fixture(scope="module")
def ours():
    return ErnieMTokenizer.from_pretrained(FIXTURE, compat="transformers")


@pytest.mark.parametrize("lower", [False, True])
def test_tokens_and_ids_match_transformers_on_every_line(hf_class, lower):
    reference = hf_class.from_pretrained(str(FIXTURE), do_lower_case=lower)
    ours = ErnieMTokenizer.from_pretrained(FIXTURE, compat="transformers", do_lower_case=lower)
    for i, text in enumerate(CORPUS):
        assert ours.tokenize(text) == reference.tokenize(text), f"corpus line {i + 1}: {text[:60]!r}"
    expected, got = reference(CORPUS)["input_ids"], ours(CORPUS)["input_ids"]
    bad = [i + 1 for i, (a, b) in enumerate(zip(got, expected)) if a != b]
    assert not bad, f"ids differ on corpus lines {bad}"


SETTINGS = [
    dict(padding=True),
    dict(max_length=24),
    dict(max_length=32, truncation=True, padding="max_length"),
    dict(max_length=64, padding="max_length"),
]


@pytest.mark.parametrize("pairs", [False, True])
def test_batches_match_transformers_with_truncation_and_padding(hf_class, ours, pairs):
    reference = hf_class.from_pretrained(str(FIXTURE))
    second = CORPUS[1:] + CORPUS[:1] if pairs else None
    for setting in SETTINGS:
        expected = reference(CORPUS, second, return_attention_mask=True, return_special_tokens_mask=True, **setting)
        got = ours(CORPUS, second, return_attention_mask=True, return_special_tokens_mask=True, **setting)
        assert dict(got) == dict(expected), setting
    only_second = dict(max_length=48, truncation="only_second", padding=True)
    if pairs:
        # only the examples that can be truncated that way (transformers logs an error for the others)
        keep = [k for k in range(len(CORPUS)) if len(ours.tokenize(CORPUS[k])) + 4 < 48]
        first, second = [CORPUS[k] for k in keep], [second[k] for k in keep]
        assert ours(first, second, **only_second)["input_ids"] == reference(first, second, **only_second)["input_ids"]


def test_transformers_loads_a_directory_we_saved(hf_class, ours, tmp_path):
    from transformers import AutoTokenizer

    ours.save_pretrained(tmp_path)
    for reference in (hf_class.from_pretrained(str(tmp_path)), AutoTokenizer.from_pretrained(str(tmp_path))):
        assert type(reference).__name__ == "ErnieMTokenizer"
        assert reference.model_max_length == 512
        assert reference(CORPUS, padding=True)["input_ids"] == ours(CORPUS, padding=True)["input_ids"]


def test_we_load_a_directory_transformers_saved(hf_class, tmp_path):
    reference = hf_class.from_pretrained(str(FIXTURE))
    reference.save_pretrained(str(tmp_path))
    loaded = ErnieMTokenizer.from_pretrained(tmp_path)
    # transformers' files do not say which tokenization the model was trained with: the default stays PaddleNLP's
    assert (loaded.compat, loaded.model_max_length) == ("paddlenlp", 512)
    ours = ErnieMTokenizer.from_pretrained(tmp_path, compat="transformers")
    assert ours(CORPUS, CORPUS[::-1])["input_ids"] == reference(CORPUS, CORPUS[::-1])["input_ids"]


def test_decode_and_special_token_helpers_match_transformers(hf_class, ours):
    reference = hf_class.from_pretrained(str(FIXTURE))
    for text in CORPUS:
        ids = reference(text)["input_ids"]
        assert ours.decode(ids) == reference.decode(ids), text
        assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True), text
    a, b = [5, 6, 7], [8, 9]
    assert ours.build_inputs_with_special_tokens(a, b) == reference.build_inputs_with_special_tokens(a, b)
    assert ours.get_special_tokens_mask(a, b) == reference.get_special_tokens_mask(a, b)
    assert ours.create_token_type_ids_from_sequences(a, b) == reference.create_token_type_ids_from_sequences(a, b)
    full = ours.build_inputs_with_special_tokens(a, b)
    assert ours.get_special_tokens_mask(full, already_has_special_tokens=True) == \
        reference.get_special_tokens_mask(full, already_has_special_tokens=True)
    assert ours.vocab_size == reference.vocab_size and ours.get_vocab() == reference.get_vocab()


def test_transformers_loads_a_directory_we_saved_with_paddlenlp_settings(hf_class, tmp_path):
    ours = ErnieMTokenizer.from_pretrained(FIXTURE, compat="transformers", padding_side="left")
    ours.save_pretrained(tmp_path)
    reference, saved = hf_class.from_pretrained(str(FIXTURE)), hf_class.from_pretrained(str(tmp_path))
    assert saved.padding_side == "left"
    assert saved(CORPUS[:40])["input_ids"] == reference(CORPUS[:40])["input_ids"] == ours(CORPUS[:40])["input_ids"]
