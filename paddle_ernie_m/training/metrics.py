"""Evaluation metrics, numpy only: accuracy, macro-F1, entity-level P/R/F1 as seqeval computes them, and SQuAD
v1.1 exact match / F1 as the official evaluation script computes them."""
from __future__ import annotations

import collections
import re
import string
from typing import Dict, Iterable, List, Mapping, Sequence, Set, Tuple

import numpy as np


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape or predictions.size == 0:
        raise ValueError(f"accuracy needs equally many predictions and labels, got {predictions.shape} "
                         f"and {labels.shape}")
    return float((predictions == labels).mean())


def macro_f1(predictions: Sequence[int], labels: Sequence[int], num_labels: int) -> float:
    """Unweighted mean of per-class F1 over ``range(num_labels)``; a class with neither predictions nor
    examples counts as F1 0 (scikit-learn's ``f1_score(average="macro", labels=range(num_labels))``)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    scores = []
    for c in range(num_labels):
        tp = int(((predictions == c) & (labels == c)).sum())
        fp = int(((predictions == c) & (labels != c)).sum())
        fn = int(((predictions != c) & (labels == c)).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def classification_metrics(predictions: Sequence[int], labels: Sequence[int], num_labels: int) -> Dict[str, float]:
    return {"accuracy": accuracy(predictions, labels), "macro_f1": macro_f1(predictions, labels, num_labels)}


# ------------------------------------------------------------------------------------------ entities (seqeval)

def _split_tag(tag: str) -> Tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "_")`` (seqeval's default, prefix-first tags)."""
    return tag[:1], (tag[1:].split("-", maxsplit=1)[-1] or "_")


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev_tag in ("E", "S")
            or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
            or (prev_tag not in ("O", ".") and prev_type != type_))


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
            or (tag not in ("O", ".") and prev_type != type_))


def entities(sequences: Sequence[Sequence[str]]) -> Set[Tuple[str, int, int]]:
    """Entities ``(type, first, last)`` of BIO/IOBES tag sequences, positions counted over the sentences
    joined with an ``O`` between them, by seqeval's default (lenient, conlleval-like) rules: an ``I-`` after
    ``O`` or after another type starts an entity."""
    found = set()
    prev_tag, prev_type, begin = "O", "", 0
    flat = [tag for sentence in sequences for tag in list(sentence) + ["O"]]
    for i, tag in enumerate(flat + ["O"]):
        head, type_ = _split_tag(tag)
        if _end_of_chunk(prev_tag, head, prev_type, type_):
            found.add((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, head, prev_type, type_):
            begin = i
        prev_tag, prev_type = head, type_
    return found


def entity_metrics(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> Dict[str, float]:
    """Micro-averaged entity precision, recall and F1 (seqeval's ``precision_score`` etc. in default mode)."""
    if len(predictions) != len(labels) or any(len(p) != len(t) for p, t in zip(predictions, labels)):
        raise ValueError("predicted and true tag sequences must have the same lengths")
    pred, true = entities(predictions), entities(labels)
    correct = len(pred & true)
    precision = correct / len(pred) if pred else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ------------------------------------------------------------------------------------------ SQuAD v1.1

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop ASCII punctuation and English articles, collapse white space (official script)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_f1(prediction: str, truth: str) -> float:
    pred_tokens, true_tokens = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(pred_tokens) & collections.Counter(true_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(true_tokens)
    return 2 * precision * recall / (precision + recall)


def answer_exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def squad_metrics(predictions: Mapping[str, str], references: Mapping[str, Iterable[str]]) -> Dict[str, float]:
    """``exact_match`` and ``f1`` in percent, each the best over a question's reference answers, averaged over
    the questions of ``references`` (a question without prediction scores 0, as in the official script)."""
    if not references:
        raise ValueError("no reference answers")
    em = f1 = 0.0
    for qid, answers in references.items():
        answers: List[str] = list(answers)
        prediction = predictions.get(qid)
        if prediction is None:
            continue
        em += max(answer_exact_match(prediction, a) for a in answers)
        f1 += max(answer_f1(prediction, a) for a in answers)
    return {"exact_match": 100.0 * em / len(references), "f1": 100.0 * f1 / len(references)}
