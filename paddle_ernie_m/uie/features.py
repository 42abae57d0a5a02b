"""UIE-M model inputs for inference and training: prompt/text pairs as token rows, batches with PaddleNLP's padding
semantics at the cost of one padding token, and training targets.

PaddleNLP pads every pair to ``max_seq_len`` and lets the model attend to the padding (only id 0, ``[CLS]``, is
masked). The padding tokens of a row are identical (``[PAD]`` at position 0), so each layer computes the same state
for all of them, and ``n`` identical keys weigh in the softmax exactly as one key whose score is raised by
``log(n)``. :func:`build_batch` therefore gives a row one padding token with an attention bias of
``log(max_seq_len - length)``; its outputs stand for every padding position (:func:`expand_padding`), and in the
training loss it counts ``max_seq_len - length`` times (:func:`loss_weights`). Rows of a batch are further padded to
a common width with fully masked filler, which changes nothing.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from converters.configuration import MASK_BIAS

from ..tokenizer import _truncated_lengths  # the tokenizer's own truncation rule, for PairEncoder

logger = logging.getLogger(__name__)

#: PaddleNLP's default mask hides id 0 (``[CLS]`` in the released vocabulary).
MASKED_ID = 0
#: Batch widths are rounded up to a multiple of this (fewer distinct shapes for oneDNN to prepare).
WIDTH_MULTIPLE = 8


@dataclass
class Batch:
    """Model inputs for rows of token ids: ``input_ids``, ``position_ids`` (int64) and ``attention_bias``
    (float32), all ``[rows, width]``; ``lengths`` are the rows' token counts."""

    input_ids: np.ndarray
    position_ids: np.ndarray
    attention_bias: np.ndarray
    lengths: List[int]


def build_batch(rows: Sequence[Sequence[int]], max_seq_len: int, pad_token_id: int, padded: bool) -> Batch:
    """Inputs for ``rows`` (each at most ``max_seq_len`` ids). ``padded``: PaddleNLP's semantics (one padding
    token per row standing for all of its padding); otherwise no padding at all. ``[CLS]`` is masked either way."""
    lengths = [len(row) for row in rows]
    if max(lengths) > max_seq_len:
        raise ValueError(f"a row of {max(lengths)} tokens exceeds max_seq_len={max_seq_len}")
    width = max(n + int(padded and n < max_seq_len) for n in lengths)
    width = min(-(-width // WIDTH_MULTIPLE) * WIDTH_MULTIPLE, max_seq_len)
    ids = np.full((len(rows), width), pad_token_id, dtype=np.int64)
    positions = np.zeros((len(rows), width), dtype=np.int64)
    bias = np.full((len(rows), width), MASK_BIAS, dtype=np.float32)
    for i, row in enumerate(rows):
        n = lengths[i]
        ids[i, :n] = row
        positions[i, :n] = np.arange(n)
        bias[i, :n] = np.where(ids[i, :n] == MASKED_ID, MASK_BIAS, 0.0)
        if padded and n < max_seq_len:
            bias[i, n] = math.log(max_seq_len - n) + (MASK_BIAS if pad_token_id == MASKED_ID else 0.0)
    return Batch(ids, positions, bias, lengths)


class PairEncoder:
    """``(prompt, text)`` pairs as ``tokenizer(prompt, text, truncation=True, max_seq_len=max_seq_len,
    return_offsets_mapping=True)`` gives them (``[CLS] prompt [SEP] [SEP] text [SEP]``, the longer side truncated
    first), with each distinct prompt and text tokenized once: the tokenizer encodes the two sides of a pair
    independently, so a pair is the two cached encodings put together. One encoder serves one schema stage; its
    cache holds the stage's distinct prompts and pieces."""

    def __init__(self, tokenizer, max_seq_len: int) -> None:
        self.tokenizer = tokenizer
        self.max_seq_len = max_seq_len
        self._cache: Dict[str, Tuple[List[int], List[Tuple[int, int]]]] = {}

    def prepare(self, strings: Sequence[str]) -> None:
        """Tokenize those of ``strings`` not seen yet, in one tokenizer call."""
        missing = list(dict.fromkeys(s for s in strings if s not in self._cache))
        if missing:
            encoded = self.tokenizer(missing, return_attention_mask=False, return_offsets_mapping=True)
            for string, ids, offsets in zip(missing, encoded["input_ids"], encoded["offset_mapping"]):
                self._cache[string] = (ids[1:-1], offsets[1:-1])  # without [CLS] ... [SEP]

    def __call__(self, prompt: str, text: str) -> Tuple[List[int], List[Tuple[int, int]]]:
        """Token ids and offsets of the pair (both sides must have been prepared)."""
        (ids_0, offsets_0), (ids_1, offsets_1) = self._cache[prompt], self._cache[text]
        keep_0, keep_1 = _truncated_lengths(len(ids_0), len(ids_1), self.max_seq_len - 4, "longest_first", 0)
        ids = self.tokenizer.build_inputs_with_special_tokens(ids_0[:keep_0], ids_1[:keep_1])
        offsets = [(0, 0), *offsets_0[:keep_0], (0, 0), (0, 0), *offsets_1[:keep_1], (0, 0)]
        return ids, offsets


def expand_padding(values: np.ndarray, length: int, max_seq_len: int) -> np.ndarray:
    """A row's per-token values at ``max_seq_len`` positions: the padding token's value at each padding position."""
    full = np.empty(max_seq_len, dtype=values.dtype)
    full[:length] = values[:length]
    if length < max_seq_len:
        full[length:] = values[length]
    return full


def loss_weights(batch: Batch, max_seq_len: int, padded: bool) -> np.ndarray:
    """Per-position weights that make a weighted sum over the batch equal PaddleNLP's sum over rows padded to
    ``max_seq_len`` (``padded``) or over the real tokens; divide by ``rows * max_seq_len`` (or the token count)
    for the mean."""
    weights = np.zeros(batch.input_ids.shape, dtype=np.float32)
    for i, n in enumerate(batch.lengths):
        weights[i, :n] = 1.0
        if padded and n < max_seq_len:
            weights[i, n] = max_seq_len - n
    return weights


def prompt_relative_offsets(offsets: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """Token offsets as Taskflow decodes them, for ``length`` positions (padding: ``(0, 0)``): the prompt tokens,
    up to the first ``(0, 0)`` after ``[CLS]``, are shifted down by the end of the last of them plus one, so
    prompt characters have negative offsets and text characters their own."""
    table = np.zeros((length, 2), dtype=np.int64)
    table[:len(offsets)] = offsets
    zero = np.flatnonzero((table[1:, 0] == 0) & (table[1:, 1] == 0))
    last_prompt = int(zero[0])  # index in `table` of the token before the first [SEP]
    table[1:last_prompt + 1] -= table[last_prompt, 1] + 1
    return table


# ----------------------------------------------------------------------------------------------- training
def split_example(example: Dict[str, Any], max_seq_len: int) -> List[Dict[str, Any]]:
    """Cut an example whose content is longer than ``max_seq_len - len(prompt) - 3`` characters into pieces, as
    PaddleNLP's UIE reader does: a piece ends early rather than cut an answer that fits in a piece; answers move
    to the piece that holds them, with offsets relative to it. Classification answers (offsets in the prompt)
    go with the first piece."""
    content, prompt = example["content"], example["prompt"]
    budget = max_seq_len - len(prompt) - 3
    if budget <= 0:
        raise ValueError(f"prompt {prompt[:60]!r} leaves no room for text within max_seq_len={max_seq_len}")
    if len(content) <= budget:
        return [example]
    results = sorted(example["result_list"], key=lambda r: (r["start"], r["end"]))
    pieces = []
    offset = 0
    while offset < len(content) or not pieces:
        end = min(offset + budget, len(content))
        for r in results:  # do not cut an answer that fits in a piece
            if r["start"] >= 0 and offset <= r["start"] < end < r["end"] and r["end"] - r["start"] <= budget \
                    and r["start"] > offset:
                end = r["start"]
                break
        inside = [r for r in results if (r["end"] <= 0 and not pieces) or (offset <= r["start"] and r["end"] <= end)]
        pieces.append({"content": content[offset:end], "prompt": prompt,
                       "result_list": [r if r["end"] <= 0 else {**r, "start": r["start"] - offset,
                                                                "end": r["end"] - offset} for r in inside]})
        offset = end
    return pieces


def map_offset(char: int, offsets: np.ndarray) -> int:
    """Index of the token whose ``[start, end)`` holds ``char``, or -1."""
    hits = np.flatnonzero((offsets[:, 0] <= char) & (char < offsets[:, 1]))
    return int(hits[0]) if hits.size else -1


@dataclass
class Feature:
    """A tokenized training example: token ids and the token indices of its answers' starts and ends."""

    input_ids: List[int]
    starts: List[int]
    ends: List[int]
    prompt: str


def encode_examples(tokenizer, examples: Sequence[Dict[str, Any]], max_seq_len: int,
                    ) -> Tuple[List[Feature], int]:
    """Split and tokenize examples; returns the features and the number of answers that could not be placed on
    tokens (cut off by truncation, or not on token boundaries), which are left out (PaddleNLP marks the last
    position instead)."""
    pieces = [piece for example in examples for piece in split_example(example, max_seq_len)]
    features: List[Feature] = []
    lost = 0
    for start in range(0, len(pieces), 256):
        chunk = pieces[start:start + 256]
        encoded = tokenizer([p["prompt"] for p in chunk], [p["content"] for p in chunk], truncation=True,
                            max_seq_len=max_seq_len, return_attention_mask=False, return_offsets_mapping=True)
        for piece, ids, offsets in zip(chunk, encoded["input_ids"], encoded["offset_mapping"]):
            table = prompt_relative_offsets(offsets, len(ids))
            starts, ends = [], []
            for result in piece["result_list"]:
                first, last = map_offset(result["start"], table), map_offset(result["end"] - 1, table)
                if first < 0 or last < 0:
                    lost += 1
                    continue
                starts.append(first)
                ends.append(last)
            features.append(Feature(ids, starts, ends, piece["prompt"]))
    if lost:
        logger.warning("%d answer(s) could not be placed on tokens (truncated or inside a token) and were left out",
                       lost)
    return features, lost


def targets(features: Sequence[Feature], width: int) -> Tuple[np.ndarray, np.ndarray]:
    """0/1 start and end maps ``[len(features), width]``."""
    start = np.zeros((len(features), width), dtype=np.float32)
    end = np.zeros((len(features), width), dtype=np.float32)
    for i, feature in enumerate(features):
        start[i, feature.starts] = 1.0
        end[i, feature.ends] = 1.0
    return start, end


def gold_spans(feature: Feature) -> List[Tuple[int, int]]:
    return sorted(set(zip(feature.starts, feature.ends)))


def collate(features: Sequence[Feature], max_seq_len: int, pad_token_id: int,
            padded: bool = True) -> Dict[str, np.ndarray]:
    """A training batch: model inputs, targets and loss weights (see :func:`loss_weights`)."""
    batch = build_batch([f.input_ids for f in features], max_seq_len, pad_token_id, padded)
    start, end = targets(features, batch.input_ids.shape[1])
    return {"input_ids": batch.input_ids, "position_ids": batch.position_ids,
            "attention_bias": batch.attention_bias, "start_positions": start, "end_positions": end,
            "weights": loss_weights(batch, max_seq_len, padded)}


def uie_loss(model, batch: Dict[str, Any], max_seq_len: int):
    """PaddleNLP's UIE loss for a :func:`collate` batch of tensors: the mean binary cross-entropy of the start and
    the end probabilities over ``rows x max_seq_len`` positions (padding included, through the weights), averaged.
    Computed from the logits (same value as PaddleNLP's BCE on probabilities, numerically stabler)."""
    import paddle.nn.functional as F

    output = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                   attention_mask=batch["attention_bias"].unsqueeze([1, 2]), return_dict=True)
    weights = batch["weights"]
    total = float(weights.shape[0] * max_seq_len)
    losses = [(F.binary_cross_entropy_with_logits(logits, batch[key], reduction="none") * weights).sum() / total
              for logits, key in ((output.start_logits, "start_positions"), (output.end_logits, "end_positions"))]
    return (losses[0] + losses[1]) / 2


def predict_spans(runner, features: Sequence[Feature], max_seq_len: int, pad_token_id: int, batch_size: int,
                  threshold: float = 0.5) -> List[set]:
    """Token spans ``{(start, end)}`` each feature's prompt gets, decoded as the extractor decodes them, with
    PaddleNLP's padding (``runner``: see :mod:`paddle_ernie_m.uie.runner`)."""
    from .decoding import candidates, pair_spans

    order = sorted(range(len(features)), key=lambda k: len(features[k].input_ids))
    predicted: List[set] = [set() for _ in features]
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = build_batch([features[k].input_ids for k in rows], max_seq_len, pad_token_id, padded=True)
        start_probs, end_probs = runner(batch.input_ids, batch.position_ids, batch.attention_bias)
        for i, k in enumerate(rows):
            n = batch.lengths[i]
            pairs = pair_spans(candidates(expand_padding(start_probs[i], n, max_seq_len), threshold),
                               candidates(expand_padding(end_probs[i], n, max_seq_len), threshold))
            predicted[k] = {(s[0], e[0]) for s, e in pairs}
    return predicted


def label_of_prompt(prompt: str) -> str:
    """The label a prompt asks for, for per-label scores: an entity prompt is its label; ``"X的Y"`` and
    ``"Y of X"`` ask for ``Y``; classification options are sorted (training shuffles them)."""
    options: Optional[str] = None
    if prompt.endswith("]") and "[" in prompt[1:]:
        cut = prompt.find("[", 1)
        prompt, options = prompt[:cut], ",".join(sorted(set(prompt[cut + 1:-1].split(","))))
    if "的" in prompt:
        prompt = prompt.rsplit("的", 1)[1]
    elif " of " in prompt:
        prompt = prompt.split(" of ", 1)[0]
    return prompt.strip() + (f"[{options}]" if options is not None else "")
