"""Pre-training data: corpora readers, features, and the collator that masks and pads them (numpy only).

Corpora:

* parallel: a UTF-8 TSV file, one pair a line: ``source_lang <TAB> source_text <TAB> target_lang <TAB> target_text``
  (:func:`read_parallel_tsv`);
* monolingual: UTF-8 text files, one sentence a line, blank lines skipped (:func:`read_monolingual`).

Texts become token ids (without special tokens) through :func:`encode`, with the ERNIE-M tokenizer or, for
synthetic word-level corpora, :class:`WhitespaceTokenizer`. :func:`mix_features` then builds the training
examples: each holds one monolingual sentence (``input_ids``) and, when a pair objective is trained, one
parallel pair (``source_ids``, ``target_ids``; pairs are cycled in a seeded order). Every batch
therefore feeds every objective with the same number of examples.

:class:`PretrainingCollator` turns a list of examples into one flat dict of numpy arrays, prefixed by objective
(``mlm_*``, ``tlm_*``, ``camlm_*``, ``btmlm_*``); see its docstring for the layouts. Masking follows BERT:
``mask_prob`` (15%) of the maskable tokens of each sentence, at least one, are chosen; 80% of those become
``[MASK]``, 10% a random ordinary token, 10% stay; ``labels`` hold the original ids there and -100 elsewhere.
Randomness comes from the global NumPy state (the trainer re-seeds it before every micro-batch) unless an
explicit ``rng`` is passed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from converters.files import write_atomic
from ernie_m_tokenizer.tokenization_ernie_m_engine import (
    CLS_TOKEN,
    MASK_TOKEN,
    PAD_TOKEN,
    SEP_TOKEN,
    UNK_TOKEN,
    VOCAB_FILE,
    read_vocab as _read_vocab,
)

from .masks import camlm_attention_mask, pair_position_ids, tlm_attention_mask

__all__ = [
    "SpecialTokens", "WhitespaceTokenizer", "encode", "ParallelPair", "read_parallel_tsv", "read_monolingual",
    "mix_features", "PretrainingCollator", "OBJECTIVES", "PAIR_OBJECTIVES", "IGNORE_INDEX",
]

PathLike = Union[str, os.PathLike]
#: Every objective; pair objectives read ``source_ids`` / ``target_ids``, the others ``input_ids``.
OBJECTIVES = ("mlm", "tlm", "camlm", "btmlm")
PAIR_OBJECTIVES = ("tlm", "camlm")
IGNORE_INDEX = -100


@dataclass(frozen=True)
class SpecialTokens:
    """The special-token ids of a vocabulary (ERNIE-M's: ``[CLS]`` 0, ``[PAD]`` 1, ``[SEP]`` 2, ``[UNK]`` 3,
    ``[MASK]`` last) and its size."""

    cls: int
    pad: int
    sep: int
    unk: int
    mask: int
    vocab_size: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SpecialTokens":
        """From an ``ErnieMTokenizer`` or a :class:`WhitespaceTokenizer`."""
        return cls(tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id,
                   tokenizer.mask_token_id, tokenizer.vocab_size)

    @property
    def ids(self) -> Tuple[int, ...]:
        return self.cls, self.pad, self.sep, self.unk, self.mask

    def ordinary_ids(self) -> np.ndarray:
        """Ids of every non-special token: the candidates of the 10% random replacement."""
        return np.setdiff1d(np.arange(self.vocab_size), np.asarray(self.ids))


class WhitespaceTokenizer:
    """Word-level tokenizer over an ERNIE-M-layout ``vocab.txt``: words are split on whitespace, unknown words
    get ``[UNK]``. For synthetic corpora such as ``examples/pretrain_data``; real text uses ``ErnieMTokenizer``,
    whose ``tokenize`` / ``convert_tokens_to_ids`` / ``*_token_id`` / ``vocab_size`` / ``save_pretrained`` it
    mirrors."""

    def __init__(self, vocab_file: PathLike):
        self.vocab_file = Path(vocab_file)
        self._tokens = _read_vocab(self.vocab_file)
        self._vocab = {token: i for i, token in enumerate(self._tokens)}
        missing = [t for t in (CLS_TOKEN, PAD_TOKEN, SEP_TOKEN, UNK_TOKEN, MASK_TOKEN) if t not in self._vocab]
        if missing:
            raise ValueError(f"{self.vocab_file}: no {', '.join(missing)} token")
        self.cls_token_id, self.pad_token_id = self._vocab[CLS_TOKEN], self._vocab[PAD_TOKEN]
        self.sep_token_id, self.unk_token_id = self._vocab[SEP_TOKEN], self._vocab[UNK_TOKEN]
        self.mask_token_id = self._vocab[MASK_TOKEN]

    @classmethod
    def from_pretrained(cls, directory: PathLike) -> "WhitespaceTokenizer":
        return cls(Path(directory) / VOCAB_FILE)

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def tokenize(self, text: str) -> List[str]:
        return text.split()

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]:
        return [self._vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> List[str]:
        return [self._tokens[int(i)] for i in ids]

    def save_pretrained(self, directory: PathLike) -> Tuple[Path]:
        return (write_atomic(Path(directory) / VOCAB_FILE, "\n".join(self._tokens) + "\n"),)


# ------------------------------------------------------------------------------------------------- corpora

def encode(tokenizer, text: str) -> List[int]:
    """Token ids of ``text`` without special tokens."""
    return tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))


@dataclass(frozen=True)
class ParallelPair:
    source_lang: str
    source: str
    target_lang: str
    target: str


def read_parallel_tsv(path: PathLike) -> List[ParallelPair]:
    """Pairs of a ``source_lang, source_text, target_lang, target_text`` TSV file; blank lines are skipped."""
    path = Path(path)
    pairs = []
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise FileNotFoundError(f"parallel corpus not found: {path}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 4 or not all(f.strip() for f in fields):
            raise ValueError(f"{path}:{number}: expected 4 non-empty tab-separated fields "
                             f"(source_lang, source_text, target_lang, target_text), got {len(fields)}")
        pairs.append(ParallelPair(*(f.strip() for f in fields)))
    return pairs


def read_monolingual(path: PathLike) -> List[str]:
    """The non-blank lines of a text file, stripped."""
    path = Path(path)
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    except FileNotFoundError:
        raise FileNotFoundError(f"monolingual corpus not found: {path}") from None


def mix_features(monolingual: Sequence[Sequence[int]], pairs: Sequence[Tuple[Sequence[int], Sequence[int]]] = (),
                 seed: int = 0) -> List[Dict[str, np.ndarray]]:
    """One example per monolingual sentence (``input_ids``); with ``pairs``, each example also carries a pair
    (``source_ids``, ``target_ids``), the pairs cycled in an order shuffled by ``seed``. Empty sentences are
    dropped."""
    mono = [np.asarray(ids, dtype=np.int64) for ids in monolingual if len(ids)]
    para = [(np.asarray(s, dtype=np.int64), np.asarray(t, dtype=np.int64)) for s, t in pairs if len(s) and len(t)]
    if not mono:
        raise ValueError("no monolingual sentences")
    order = np.random.default_rng(seed).permutation(len(para)) if para else []
    features = []
    for i, ids in enumerate(mono):
        feature = {"input_ids": ids}
        if para:
            source, target = para[order[i % len(para)]]
            feature.update(source_ids=source, target_ids=target)
        features.append(feature)
    return features


# ------------------------------------------------------------------------------------------------- collator

class PretrainingCollator:
    """Mask and pad examples for the chosen objectives. Output keys, for an objective ``o``:

    * ``o_input_ids``, ``o_labels`` ``[batch, seq]`` int64;
    * ``o_attention_mask``: ``[batch, seq]`` int64 real-token mask for ``mlm``; ``[batch, seq, seq]`` bool for
      the pair layouts (see :mod:`.masks`);
    * ``o_position_ids`` ``[batch, seq]`` int64 for the pair layouts (positions restart in the second segment).

    Layouts (``~`` marks masked tokens):

    * ``mlm``: ``[CLS] x~ [SEP]``, full attention.
    * ``tlm`` / ``camlm``: ``[CLS] a~ [SEP] [SEP] b~ [SEP]`` with the TLM / CAMLM mask; both sentences are
      masked; which side of the pair comes first is drawn at random per example, so both directions are learnt.
    * ``btmlm`` (from the monolingual sentence): ``btmlm_source_ids`` is ``[CLS] x [SEP] [SEP] [MASK]*m [SEP]``,
      the input of step 1 (pseudo-token generation); ``btmlm_pseudo_slots`` (bool) marks the ``m`` placeholders;
      ``btmlm_input_ids`` is ``[CLS] x~ [SEP] [SEP] [MASK]*m [SEP]``, step 2's input once the placeholders are
      replaced by the generated tokens; ``btmlm_labels`` cover the original sentence only. Both steps use the
      CAMLM mask and positions; ``m = max(1, round(pseudo_length_ratio * len(x)))``.

    Sentences are truncated so that every sequence fits ``max_length`` (pairs: the longer side first).
    """

    def __init__(self, special: SpecialTokens, objectives: Sequence[str] = ("mlm", "camlm", "btmlm"),
                 mask_prob: float = 0.15, max_length: int = 128, pseudo_length_ratio: float = 1.0):
        unknown = [o for o in objectives if o not in OBJECTIVES]
        if unknown or not objectives:
            raise ValueError(f"objectives must be some of {', '.join(OBJECTIVES)}, got {list(objectives)}")
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {max_length}")
        if pseudo_length_ratio <= 0:
            raise ValueError(f"pseudo_length_ratio must be positive, got {pseudo_length_ratio}")
        self.special = special
        self.objectives = tuple(dict.fromkeys(objectives))
        self.mask_prob = mask_prob
        self.max_length = max_length
        self.pseudo_length_ratio = pseudo_length_ratio
        self._ordinary = special.ordinary_ids()

    @property
    def needs_pairs(self) -> bool:
        return any(o in PAIR_OBJECTIVES for o in self.objectives)

    def __call__(self, features: Sequence[Mapping[str, np.ndarray]],
                 rng: Optional[np.random.Generator] = None) -> Dict[str, np.ndarray]:
        if rng is None:  # follow the global NumPy state, which the trainer seeds per micro-batch
            rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        batch: Dict[str, np.ndarray] = {}
        for objective in self.objectives:
            if objective in PAIR_OBJECTIVES:
                missing = [i for i, f in enumerate(features) if "source_ids" not in f or "target_ids" not in f]
                if missing:
                    raise ValueError(f"{objective} needs parallel pairs, but example {missing[0]} has no "
                                     "source_ids/target_ids (build the examples with mix_features(..., pairs))")
                batch.update(self._pairs(objective, [(f["source_ids"], f["target_ids"]) for f in features], rng))
            else:
                sentences = [f["input_ids"] for f in features]
                batch.update(self._mlm(sentences, rng) if objective == "mlm" else self._btmlm(sentences, rng))
        return batch

    # ------------------------------------------------------------------------------------------ pieces
    def mask_tokens(self, ids: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """BERT masking of a sentence without special tokens: ``(masked ids, labels)``."""
        ids = np.asarray(ids, dtype=np.int64)
        count = max(1, int(round(self.mask_prob * len(ids))))
        chosen = rng.choice(len(ids), size=count, replace=False)
        labels = np.full(len(ids), IGNORE_INDEX, dtype=np.int64)
        labels[chosen] = ids[chosen]
        masked = ids.copy()
        roll = rng.random(count)
        masked[chosen[roll < 0.8]] = self.special.mask
        randomised = chosen[(roll >= 0.8) & (roll < 0.9)]
        masked[randomised] = rng.choice(self._ordinary, size=len(randomised))
        return masked, labels

    def _mlm(self, sentences: Sequence[np.ndarray], rng: np.random.Generator) -> Dict[str, np.ndarray]:
        s = self.special
        rows, label_rows = [], []
        for ids in sentences:
            masked, labels = self.mask_tokens(ids[: self.max_length - 2], rng)
            rows.append(np.concatenate([[s.cls], masked, [s.sep]]))
            label_rows.append(np.concatenate([[IGNORE_INDEX], labels, [IGNORE_INDEX]]))
        input_ids = self._pad(rows, s.pad)
        return {"mlm_input_ids": input_ids, "mlm_labels": self._pad(label_rows, IGNORE_INDEX),
                "mlm_attention_mask": (self._pad([np.ones(len(r)) for r in rows], 0)).astype(np.int64)}

    def _pairs(self, objective: str, pairs: Sequence[Tuple[np.ndarray, np.ndarray]],
               rng: np.random.Generator) -> Dict[str, np.ndarray]:
        rows, label_rows, lengths = [], [], []
        for source, target in pairs:
            if rng.random() < 0.5:
                source, target = target, source
            source, target = self._fit(list(source), list(target))
            (a, a_labels), (b, b_labels) = self.mask_tokens(source, rng), self.mask_tokens(target, rng)
            row, labels, length = self._pair_row(a, b, a_labels, b_labels)
            rows.append(row)
            label_rows.append(labels)
            lengths.append(length)
        return self._pair_arrays(objective, rows, label_rows, lengths)

    def _btmlm(self, sentences: Sequence[np.ndarray], rng: np.random.Generator) -> Dict[str, np.ndarray]:
        s = self.special
        rows, source_rows, label_rows, slot_rows, lengths = [], [], [], [], []
        for ids in sentences:
            ids = np.asarray(ids, dtype=np.int64)
            while len(ids) > 1 and len(ids) + self._pseudo_length(len(ids)) + 4 > self.max_length:
                ids = ids[:-1]
            placeholders = np.full(self._pseudo_length(len(ids)), s.mask, dtype=np.int64)
            none = np.full(len(placeholders), IGNORE_INDEX, dtype=np.int64)
            masked, labels = self.mask_tokens(ids, rng)
            row, label_row, length = self._pair_row(masked, placeholders, labels, none)
            source_row, _, _ = self._pair_row(ids, placeholders, labels, none)
            slots = np.zeros(len(row), dtype=bool)
            slots[length[0] + 1: length[0] + 1 + len(placeholders)] = True
            rows.append(row)
            source_rows.append(source_row)
            label_rows.append(label_row)
            slot_rows.append(slots)
            lengths.append(length)
        batch = self._pair_arrays("btmlm", rows, label_rows, lengths)
        batch["btmlm_source_ids"] = self._pad(source_rows, s.pad)
        batch["btmlm_pseudo_slots"] = self._pad(slot_rows, False).astype(bool)
        return batch

    def _pseudo_length(self, n: int) -> int:
        return max(1, int(round(self.pseudo_length_ratio * n)))

    def _fit(self, source: List[int], target: List[int]) -> Tuple[List[int], List[int]]:
        while len(source) + len(target) + 4 > self.max_length:
            if len(source) >= len(target):
                source.pop()
            else:
                target.pop()
        return source, target

    def _pair_row(self, a: np.ndarray, b: np.ndarray, a_labels: np.ndarray, b_labels: np.ndarray):
        """``[CLS] a [SEP] [SEP] b [SEP]``, its labels and its two segment lengths."""
        s = self.special
        row = np.concatenate([[s.cls], a, [s.sep], [s.sep], b, [s.sep]]).astype(np.int64)
        labels = np.concatenate([[IGNORE_INDEX], a_labels, [IGNORE_INDEX], [IGNORE_INDEX], b_labels,
                                 [IGNORE_INDEX]]).astype(np.int64)
        return row, labels, (len(a) + 2, len(b) + 2)

    def _pair_arrays(self, objective: str, rows, label_rows, lengths) -> Dict[str, np.ndarray]:
        source_lengths, target_lengths = zip(*lengths)
        seq_len = max(len(r) for r in rows)
        build_mask = tlm_attention_mask if objective == "tlm" else camlm_attention_mask
        return {
            f"{objective}_input_ids": self._pad(rows, self.special.pad),
            f"{objective}_labels": self._pad(label_rows, IGNORE_INDEX),
            f"{objective}_position_ids": pair_position_ids(source_lengths, target_lengths, seq_len),
            f"{objective}_attention_mask": build_mask(source_lengths, target_lengths, seq_len),
        }

    @staticmethod
    def _pad(rows: Sequence[np.ndarray], value) -> np.ndarray:
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), value, dtype=np.asarray(rows[0]).dtype if len(rows[0]) else np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out
