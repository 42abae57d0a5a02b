"""Attention masks and position ids of ERNIE-M's sentence-pair pre-training inputs (numpy only).

A pair is laid out as the tokenizer lays out any pair, ``[CLS] source [SEP] [SEP] target [SEP]``, and split into
two *segments*: the source segment ``[CLS] source [SEP]`` and the target segment ``[SEP] target [SEP]``. Rows
of a batch are padded after the target segment.

* :func:`camlm_attention_mask`: cross-attention MLM. Every token of the source segment attends only to the
  target segment and every token of the target segment only to the source segment (ERNIE-M, section 3.1: a
  masked source token is restored from the target sentence alone, and the reverse).
* :func:`tlm_attention_mask`: translation LM (XLM), the baseline CAMLM refines: every token attends to both
  segments.
* :func:`pair_position_ids`: positions restart at 0 in the target segment, as in the figures of XLM's TLM
  and of ERNIE-M (the model adds its usual offset of 2 when it looks them up).

Masks are ``[batch, seq, seq]`` booleans, ``mask[b, query, key]`` true where ``query`` may attend to ``key``;
:class:`~paddle_ernie_m.ErnieMModel` takes them as ``attention_mask`` directly. Padding is never attended
to, and padding rows attend to nothing (the model's finite mask bias keeps them finite; no loss reads them).

Note that the CAMLM restriction holds per layer: from the second layer on, a source token also sees what the
target tokens gathered from the source in the layer before (the paper does not restrict this further).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["camlm_attention_mask", "tlm_attention_mask", "pair_position_ids", "segment_ids"]

#: ``segment_ids`` values.
SOURCE, TARGET, PADDING = 0, 1, -1


def segment_ids(source_lengths: Sequence[int], target_lengths: Sequence[int],
                seq_len: Optional[int] = None) -> np.ndarray:
    """``[batch, seq]`` int64: ``SOURCE`` (0) over each row's first ``source_lengths[b]`` tokens, ``TARGET`` (1)
    over the next ``target_lengths[b]``, ``PADDING`` (-1) after them. Lengths count the special tokens of
    their segment (``[CLS] source [SEP]`` and ``[SEP] target [SEP]``)."""
    src, tgt = _lengths(source_lengths, target_lengths)
    total = src + tgt
    seq_len = int(total.max(initial=0)) if seq_len is None else int(seq_len)
    if (total > seq_len).any():
        raise ValueError(f"seq_len {seq_len} is shorter than the longest pair ({int(total.max())} tokens)")
    position = np.arange(seq_len)[None, :]
    return np.where(position < src[:, None], SOURCE,
                    np.where(position < total[:, None], TARGET, PADDING)).astype(np.int64)


def camlm_attention_mask(source_lengths: Sequence[int], target_lengths: Sequence[int],
                         seq_len: Optional[int] = None) -> np.ndarray:
    """CAMLM's keep-mask ``[batch, seq, seq]``: source tokens attend only to target tokens, target tokens only
    to source tokens, nothing attends to padding."""
    segments = segment_ids(source_lengths, target_lengths, seq_len)
    query, key = segments[:, :, None], segments[:, None, :]
    return (query != PADDING) & (key != PADDING) & (query != key)


def tlm_attention_mask(source_lengths: Sequence[int], target_lengths: Sequence[int],
                       seq_len: Optional[int] = None) -> np.ndarray:
    """TLM's keep-mask ``[batch, seq, seq]``: every real token attends to every real token of both segments."""
    segments = segment_ids(source_lengths, target_lengths, seq_len)
    return (segments[:, :, None] != PADDING) & (segments[:, None, :] != PADDING)


def pair_position_ids(source_lengths: Sequence[int], target_lengths: Sequence[int],
                      seq_len: Optional[int] = None) -> np.ndarray:
    """``[batch, seq]`` int64 positions ``0..len-1`` within each segment (0 on padding)."""
    segments = segment_ids(source_lengths, target_lengths, seq_len)
    src, _ = _lengths(source_lengths, target_lengths)
    position = np.arange(segments.shape[1])[None, :]
    return np.where(segments == SOURCE, position,
                    np.where(segments == TARGET, position - src[:, None], 0)).astype(np.int64)


def _lengths(source_lengths: Sequence[int], target_lengths: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    src = np.asarray(source_lengths, dtype=np.int64).reshape(-1)
    tgt = np.asarray(target_lengths, dtype=np.int64).reshape(-1)
    if src.shape != tgt.shape:
        raise ValueError(f"source_lengths ({src.size}) and target_lengths ({tgt.size}) differ in length")
    if (src < 1).any() or (tgt < 1).any():
        raise ValueError("segment lengths must be positive")
    return src, tgt
