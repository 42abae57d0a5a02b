"""Extractive QA: long contexts split into overlapping windows, and answers read back through character offsets.

A feature is ``[CLS] question [SEP] [SEP] context window [SEP]`` (ERNIE-M's pair layout). The question and
the context are tokenised once each (with ``return_offsets_mapping=True``), then windows of the context are
cut so that each feature fits ``max_length``; consecutive windows share ``doc_stride`` tokens (the overlap,
as transformers' ``stride``). Training targets are the answer's first and last token in a window that holds
the whole answer, else ``[CLS]`` (position 0).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .data import QAExample

logger = logging.getLogger(__name__)
NO_OFFSET = (-1, -1)


def _pieces(tokenizer: Any, text: str) -> Tuple[List[int], List[Tuple[int, int]]]:
    """Ids and character offsets of ``text`` without its ``[CLS]`` / ``[SEP]``."""
    encoded = tokenizer(text, truncation=False, return_offsets_mapping=True)
    ids, offsets = list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]
    return ids[1:-1], offsets[1:-1]


def qa_features(examples: Sequence[QAExample], tokenizer: Any, max_length: int = 384, doc_stride: int = 128,
                max_query_length: int = 64, with_labels: bool = True) -> List[Dict[str, Any]]:
    """Features of every window of every example. Each holds ``input_ids``, ``example_index`` and
    ``offsets`` (the character span in the context of each token, ``(-1, -1)`` outside the context), plus
    ``start_positions`` / ``end_positions`` when ``with_labels``."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    features = []
    for index, example in enumerate(examples):
        q_ids = _pieces(tokenizer, example.question)[0][:max_query_length]
        c_ids, c_offsets = _pieces(tokenizer, example.context)
        window = max_length - len(q_ids) - 4
        if window <= doc_stride:
            raise ValueError(f"max_length {max_length} leaves {window} context tokens per window after the "
                             f"question, not more than doc_stride {doc_stride}: raise max_length or lower "
                             "doc_stride / max_query_length")
        prefix = [cls_id] + q_ids + [sep_id, sep_id]
        start = 0
        while True:
            end = min(start + window, len(c_ids))
            feature: Dict[str, Any] = {
                "input_ids": prefix + c_ids[start:end] + [sep_id],
                "example_index": index,
                "offsets": [NO_OFFSET] * len(prefix) + c_offsets[start:end] + [NO_OFFSET],
            }
            if with_labels:
                feature["start_positions"], feature["end_positions"] = _answer_positions(
                    example, c_offsets[start:end], len(prefix))
            features.append(feature)
            if end >= len(c_ids):
                break
            start = end - doc_stride
    return features


def _answer_positions(example: QAExample, offsets: Sequence[Tuple[int, int]], shift: int) -> Tuple[int, int]:
    """Token positions of the first answer if the window holds all of it, else (0, 0)."""
    text, char_start = example.answers[0]
    char_end = char_start + len(text)
    first = next((i for i, (s, e) in enumerate(offsets) if e > char_start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < char_end), None)
    if first is None or last is None or first > last or offsets[first][0] > char_start \
            or offsets[last][1] < char_end:
        return 0, 0
    return first + shift, last + shift


def qa_predictions(examples: Sequence[QAExample], features: Sequence[Dict[str, Any]],
                   start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray], n_best: int = 20,
                   max_answer_length: int = 30) -> Dict[str, str]:
    """The best answer text of each example over all its windows: the span ``start <= end`` of context tokens,
    at most ``max_answer_length`` tokens, maximising ``start_logit + end_logit`` among the ``n_best`` best
    starts and ends; read from the context through the tokens' character offsets (empty if none is valid)."""
    best: Dict[int, Tuple[float, str]] = {}
    for feature, starts, ends in zip(features, start_logits, end_logits):
        example = examples[feature["example_index"]]
        offsets = feature["offsets"]
        length = len(offsets)
        starts, ends = np.asarray(starts[:length]), np.asarray(ends[:length])
        for s in np.argsort(-starts, kind="stable")[:n_best]:
            if offsets[s] == NO_OFFSET:
                continue
            for e in np.argsort(-ends, kind="stable")[:n_best]:
                if offsets[e] == NO_OFFSET or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(starts[s] + ends[e])
                if feature["example_index"] not in best or score > best[feature["example_index"]][0]:
                    best[feature["example_index"]] = (score, example.context[offsets[s][0]:offsets[e][1]])
    return {example.id: best[i][1] if i in best else "" for i, example in enumerate(examples)}
