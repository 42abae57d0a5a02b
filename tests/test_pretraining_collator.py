"""Pre-training data: corpora readers, BERT masking statistics, the CAMLM / BTMLM layouts, dynamic padding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paddle_ernie_m.pretraining.collator import (
    PretrainingCollator,
    SpecialTokens,
    WhitespaceTokenizer,
    encode,
    mix_features,
    read_monolingual,
    read_parallel_tsv,
)
from paddle_ernie_m.tokenizer import ErnieMTokenizer

from .conftest import TINY

FIXTURE_TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
# ERNIE-M's layout, written out: [CLS] 0, [PAD] 1, [SEP] 2, [UNK] 3, [MASK] last
SPECIAL = SpecialTokens(cls=0, pad=1, sep=2, unk=3, mask=TINY["vocab_size"] - 1, vocab_size=TINY["vocab_size"])
CLS, PAD, SEP, MASK = 0, 1, 2, TINY["vocab_size"] - 1


def _sentence(rng, n):
    return rng.integers(4, MASK, size=n)


def test_special_ids_come_from_the_tokenizer():
    tokenizer = ErnieMTokenizer.from_pretrained(FIXTURE_TOKENIZER)
    lines = (FIXTURE_TOKENIZER / "vocab.txt").read_text(encoding="utf-8").rstrip("\n").split("\n")
    special = SpecialTokens.from_tokenizer(tokenizer)
    assert (special.cls, special.pad, special.sep, special.unk) == (0, 1, 2, 3)
    assert special.mask == len(lines) - 1 == lines.index("[MASK]") and special.vocab_size == len(lines)
    assert encode(tokenizer, "The quick brown fox") == tokenizer("The quick brown fox")["input_ids"][1:-1]


def test_masking_follows_bert_counts_and_80_10_10_split():
    collator = PretrainingCollator(SPECIAL, ["mlm"], mask_prob=0.15)
    rng = np.random.default_rng(0)
    chosen = masked = randomised = kept = 0
    for n in [1, 2, 5, 7, 10, 20, 33] * 300:
        ids = _sentence(rng, n)
        out, labels = collator.mask_tokens(ids, rng)
        picked = labels != -100
        assert picked.sum() == max(1, round(0.15 * n))  # BERT: round(n * p) tokens, at least one
        np.testing.assert_array_equal(labels[picked], ids[picked])
        np.testing.assert_array_equal(out[~picked], ids[~picked])
        assert not np.isin(out, [CLS, PAD, SEP, 3]).any()  # random replacements are ordinary tokens
        chosen += picked.sum()
        masked += (out[picked] == MASK).sum()
        changed = (out[picked] != MASK) & (out[picked] != ids[picked])
        randomised += changed.sum()
        kept += (out[picked] == ids[picked]).sum()
    # a random replacement equals the original with probability 1/151, which counts as kept
    assert abs(masked / chosen - 0.8) < 0.02
    assert abs(randomised / chosen - 0.1 * 150 / 151) < 0.015
    assert abs(kept / chosen - (0.1 + 0.1 / 151)) < 0.015


def test_mlm_batch_is_cls_sentence_sep_padded_to_the_longest():
    collator = PretrainingCollator(SPECIAL, ["mlm"])
    rng = np.random.default_rng(1)
    sentences = [_sentence(rng, 5), _sentence(rng, 2)]
    batch = collator([{"input_ids": s} for s in sentences], rng=np.random.default_rng(2))
    assert set(batch) == {"mlm_input_ids", "mlm_labels", "mlm_attention_mask"}
    ids, labels = batch["mlm_input_ids"], batch["mlm_labels"]
    assert ids.shape == (2, 7)
    assert list(ids[0, [0, 6]]) == [CLS, SEP] and list(ids[1, [0, 3]]) == [CLS, SEP]
    assert list(ids[1, 4:]) == [PAD] * 3 and list(labels[1, 4:]) == [-100] * 3
    np.testing.assert_array_equal(batch["mlm_attention_mask"], [[1] * 7, [1] * 4 + [0] * 3])
    original = np.where(labels != -100, labels, ids)
    np.testing.assert_array_equal(original[0, 1:6], sentences[0])
    assert (labels[:, 0] == -100).all() and labels[0, 6] == -100


def test_camlm_batch_masks_both_sentences_restarts_positions_and_swaps_directions():
    collator = PretrainingCollator(SPECIAL, ["camlm"])
    a, b = np.arange(10, 15), np.arange(30, 33)  # 5 and 3 tokens
    orders = set()
    for seed in range(20):
        batch = collator([{"input_ids": a, "source_ids": a, "target_ids": b}], rng=np.random.default_rng(seed))
        ids, labels = batch["camlm_input_ids"][0], batch["camlm_labels"][0]
        original = np.where(labels != -100, labels, ids)
        first = tuple(original[1:original.tolist().index(SEP)])
        orders.add(first)
        n = len(first)
        expected = [CLS, *first, SEP, SEP, *(b if first == tuple(a) else a), SEP]
        np.testing.assert_array_equal(original, expected)
        assert (labels[1:n + 1] != -100).sum() == 1 and (labels[n + 3:-1] != -100).sum() == 1  # 15% of 5 / 3
        second = 10 - 2 - n  # tokens of the second sentence
        np.testing.assert_array_equal(batch["camlm_position_ids"][0], [*range(n + 2), *range(second + 2)])
        mask = batch["camlm_attention_mask"][0]
        assert mask[1, : n + 2].sum() == 0 and mask[1, n + 2:].all()  # a first-sentence token sees the second
        assert mask[-1, n + 2:].sum() == 0 and mask[-1, : n + 2].all()
    assert orders == {tuple(a), tuple(b)}


def test_btmlm_batch_holds_the_generation_input_the_slots_and_labels_on_the_original_only():
    collator = PretrainingCollator(SPECIAL, ["btmlm"], pseudo_length_ratio=1.5)
    sentence = np.arange(10, 16)  # 6 tokens -> 9 placeholders
    batch = collator([{"input_ids": sentence}, {"input_ids": np.arange(20, 22)}], rng=np.random.default_rng(0))
    source, ids, labels = batch["btmlm_source_ids"][0], batch["btmlm_input_ids"][0], batch["btmlm_labels"][0]
    expected = [CLS, *sentence, SEP, SEP, *[MASK] * 9, SEP]
    np.testing.assert_array_equal(source, expected)
    slots = batch["btmlm_pseudo_slots"][0]
    np.testing.assert_array_equal(np.flatnonzero(slots), np.arange(9, 18))
    np.testing.assert_array_equal(ids[8:], source[8:])  # the placeholders are not masked again
    assert (labels[8:] == -100).all() and (labels[1:7] != -100).sum() == 1
    np.testing.assert_array_equal(np.where(labels != -100, labels, ids)[:8], source[:8])
    np.testing.assert_array_equal(batch["btmlm_position_ids"][0], [*range(8), *range(11)])
    # second row: 2 tokens -> 3 placeholders, then padding
    np.testing.assert_array_equal(batch["btmlm_source_ids"][1], [CLS, 20, 21, SEP, SEP, MASK, MASK, MASK, SEP]
                                  + [PAD] * 10)
    assert not batch["btmlm_pseudo_slots"][1, 9:].any() and not batch["btmlm_attention_mask"][1, 9:].any()


def test_long_inputs_are_truncated_to_max_length():
    collator = PretrainingCollator(SPECIAL, ["mlm", "camlm", "btmlm"], max_length=16)
    feature = {"input_ids": np.arange(4, 40), "source_ids": np.arange(4, 30), "target_ids": np.arange(40, 46)}
    batch = collator([feature], rng=np.random.default_rng(0))
    assert batch["mlm_input_ids"].shape == (1, 16)
    assert batch["camlm_input_ids"].shape == (1, 16)  # the longer side loses tokens: 6 + 6 + 4
    assert (np.where(batch["camlm_labels"] != -100, batch["camlm_labels"], batch["camlm_input_ids"]) >= 40).sum() == 6
    assert batch["btmlm_input_ids"].shape == (1, 16) and batch["btmlm_pseudo_slots"].sum() == 6


def test_collation_follows_the_global_numpy_seed_as_the_trainer_sets_it():
    collator = PretrainingCollator(SPECIAL, ["mlm", "camlm"])
    rng = np.random.default_rng(0)
    features = mix_features([_sentence(rng, 8) for _ in range(4)], [(_sentence(rng, 6), _sentence(rng, 7))])
    np.random.seed(7)
    first = collator(features)
    np.random.seed(7)
    second = collator(features)
    np.random.seed(8)
    third = collator(features)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert any(not np.array_equal(first[k], third[k]) for k in first)


def test_pair_objectives_need_pairs_and_mix_features_cycles_them():
    features = mix_features([[5, 6], [7], [], [8, 9, 10]], [([11], [12]), ([13], [14])], seed=0)
    assert [list(f["input_ids"]) for f in features] == [[5, 6], [7], [8, 9, 10]]  # the empty one is dropped
    sources = [int(f["source_ids"][0]) for f in features]
    assert sorted(sources[:2]) == [11, 13] and sources[2] == sources[0]
    with pytest.raises(ValueError, match="camlm needs parallel pairs"):
        PretrainingCollator(SPECIAL, ["camlm"])(mix_features([[5, 6]]), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="objectives must be some of"):
        PretrainingCollator(SPECIAL, ["mlm", "xlm"])


def test_corpus_readers_and_whitespace_tokenizer(tmp_path):
    (tmp_path / "vocab.txt").write_text("[CLS]\n[PAD]\n[SEP]\n[UNK]\nthe\ncat\nzaq\n[MASK]\n", encoding="utf-8")
    tokenizer = WhitespaceTokenizer.from_pretrained(tmp_path)
    assert SpecialTokens.from_tokenizer(tokenizer) == SpecialTokens(0, 1, 2, 3, 7, 8)
    assert encode(tokenizer, "the  cat sat") == [4, 5, 3]
    (tmp_path / "pairs.tsv").write_text("en\tthe cat\tci\tzaq\n\nen\tthe\tci\tzaq zaq\n", encoding="utf-8")
    pairs = read_parallel_tsv(tmp_path / "pairs.tsv")
    assert [(p.source_lang, p.source, p.target_lang, p.target) for p in pairs] == [
        ("en", "the cat", "ci", "zaq"), ("en", "the", "ci", "zaq zaq")]
    (tmp_path / "bad.tsv").write_text("en\tthe cat\tci\tzaq\nen\tthe cat\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:2: expected 4 non-empty tab-separated fields"):
        read_parallel_tsv(tmp_path / "bad.tsv")
    (tmp_path / "mono.txt").write_text("a b\n\n  c  \n", encoding="utf-8")
    assert read_monolingual(tmp_path / "mono.txt") == ["a b", "c"]
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_monolingual(tmp_path / "missing.txt")
