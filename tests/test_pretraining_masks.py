"""CAMLM / TLM attention masks and per-segment positions, against matrices written out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from paddle_ernie_m.pretraining.masks import (
    camlm_attention_mask,
    pair_position_ids,
    segment_ids,
    tlm_attention_mask,
)

# Row 0: source segment of 3 tokens ([CLS] a [SEP]), target of 4 ([SEP] b c [SEP]), one padding position.
# Row 1: 2 + 2 tokens, four padding positions.
S, T, P = "s", "t", "p"
ROWS = [[S, S, S, T, T, T, T, P], [S, S, T, T, P, P, P, P]]


def _by_hand(rule):
    return np.array([[[rule(q, k) for k in row] for q in row] for row in ROWS], dtype=bool)


def test_camlm_mask_lets_source_see_only_target_and_target_only_source():
    expected = _by_hand(lambda q, k: (q, k) in ((S, T), (T, S)))
    mask = camlm_attention_mask([3, 2], [4, 2], seq_len=8)
    assert mask.dtype == bool and mask.shape == (2, 8, 8)
    np.testing.assert_array_equal(mask, expected)
    # spelled out for row 0, so a reader can check the rule itself
    np.testing.assert_array_equal(mask[0].astype(int), [
        [0, 0, 0, 1, 1, 1, 1, 0],
        [0, 0, 0, 1, 1, 1, 1, 0],
        [0, 0, 0, 1, 1, 1, 1, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ])


def test_tlm_mask_attends_every_real_token_and_no_padding():
    expected = _by_hand(lambda q, k: q != P and k != P)
    np.testing.assert_array_equal(tlm_attention_mask([3, 2], [4, 2], seq_len=8), expected)


def test_position_ids_restart_at_zero_in_the_target_segment_and_are_zero_on_padding():
    np.testing.assert_array_equal(pair_position_ids([3, 2], [4, 2], seq_len=8),
                                  [[0, 1, 2, 0, 1, 2, 3, 0], [0, 1, 0, 1, 0, 0, 0, 0]])


def test_seq_len_defaults_to_the_longest_pair():
    assert camlm_attention_mask([3, 2], [4, 2]).shape == (2, 7, 7)
    np.testing.assert_array_equal(segment_ids([1], [1]), [[0, 1]])


@pytest.mark.parametrize("source, target, seq_len, message", [
    ([3], [4], 6, "shorter than the longest pair"),
    ([3, 2], [4], None, "differ in length"),
    ([0], [4], None, "must be positive"),
])
def test_invalid_segment_lengths_are_rejected(source, target, seq_len, message):
    with pytest.raises(ValueError, match=message):
        camlm_attention_mask(source, target, seq_len)
