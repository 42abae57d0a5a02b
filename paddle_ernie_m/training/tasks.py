"""Turning examples into model features for classification, token classification and multiple choice.

Only the tokenizer's documented call is used: ``tokenizer(text, text_pair=None, max_length=..., truncation=True,
return_offsets_mapping=True)`` returning ``input_ids`` (and ``offset_mapping``, character spans, ``(0, 0)`` for
special tokens).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np


def encode_pair(tokenizer: Any, text: str, text_pair: Optional[str], max_length: int) -> List[int]:
    """``[CLS] text [SEP]`` or ``[CLS] text [SEP] [SEP] text_pair [SEP]``, truncated to ``max_length``."""
    encoded = tokenizer(text, text_pair=text_pair, max_length=max_length, truncation=True)
    return list(encoded["input_ids"])


def encode_classification(tokenizer: Any, text: str, text_pair: Optional[str], label: Optional[int],
                          max_length: int) -> Dict[str, Any]:
    feature: Dict[str, Any] = {"input_ids": encode_pair(tokenizer, text, text_pair, max_length)}
    if label is not None:
        feature["labels"] = label
    return feature


def encode_multiple_choice(tokenizer: Any, first: str, choices: Sequence[str], label: Optional[int],
                           max_length: int) -> Dict[str, Any]:
    """One ``[CLS] first [SEP] [SEP] choice [SEP]`` per choice: ``input_ids`` is ``[choices][tokens]``."""
    feature: Dict[str, Any] = {"input_ids": [encode_pair(tokenizer, first, c, max_length) for c in choices]}
    if label is not None:
        feature["labels"] = label
    return feature


def encode_tagged_words(tokenizer: Any, words: Sequence[str], tags: Optional[Sequence[str]],
                        label2id: Mapping[str, int], max_length: int) -> Dict[str, Any]:
    """Token-classification features of a pre-split sentence.

    The words are joined with spaces and tokenised once (so sub-words get the tokenizer's normal context);
    character offsets map tokens back to words. A word's label goes to its first token, the other tokens get
    -100 (ignored). ``word_tokens[i]`` is the first token of word ``i``, or -1 when truncation or the
    tokenizer dropped it (it is then predicted ``O``).
    """
    text = " ".join(words)
    owner = np.full(len(text), -1, dtype=np.int64)  # character -> word
    position = 0
    for i, word in enumerate(words):
        owner[position:position + len(word)] = i
        position += len(word) + 1
    encoded = tokenizer(text, max_length=max_length, truncation=True, return_offsets_mapping=True)
    input_ids = list(encoded["input_ids"])
    word_tokens = [-1] * len(words)
    for t, (start, end) in enumerate(encoded["offset_mapping"]):
        inside = owner[start:end]
        inside = inside[inside >= 0]
        if inside.size and word_tokens[inside[0]] == -1:
            word_tokens[inside[0]] = t
    feature: Dict[str, Any] = {"input_ids": input_ids, "word_tokens": word_tokens}
    if tags is not None:
        labels = [-100] * len(input_ids)
        for word, token in enumerate(word_tokens):
            if token >= 0:
                labels[token] = label2id[tags[word]]
        feature["labels"] = labels
    return feature


def word_predictions(logits: np.ndarray, word_tokens: Sequence[int], id2label: Mapping[int, str]) -> List[str]:
    """The tag of each word: the arg-max at its first token (``O`` for words without a token)."""
    best = np.asarray(logits).argmax(-1)
    return [id2label[int(best[t])] if t >= 0 else "O" for t in word_tokens]
