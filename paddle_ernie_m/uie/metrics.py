"""Scores for UIE: span precision/recall/F1 of model outputs (training) and of extraction results (end to end)."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, Hashable, Iterable, List, Mapping, Sequence, Set, Tuple


def prf(correct: int, predicted: int, gold: int) -> Tuple[float, float, float]:
    """Precision, recall and F1 from counts (0 where undefined)."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def grouped_scores(predicted: Sequence[Set[Hashable]], gold: Sequence[Set[Hashable]],
                   groups: Sequence[str]) -> Dict[str, float]:
    """Micro precision/recall/F1 over all items (``precision``, ``recall``, ``f1``) and F1 per group
    (``f1[<group>]``); ``predicted[i]`` and ``gold[i]`` are sets of comparable items of group ``groups[i]``."""
    counts: Dict[str, List[int]] = defaultdict(lambda: [0, 0, 0])
    for p, g, group in zip(predicted, gold, groups):
        for key in ("", group):
            counts[key][0] += len(p & g)
            counts[key][1] += len(p)
            counts[key][2] += len(g)
    precision, recall, f1 = prf(*counts.pop(""))
    scores = {"f1": f1, "precision": precision, "recall": recall}
    scores.update({f"f1[{group}]": prf(*c)[2] for group, c in sorted(counts.items())})
    return scores


def result_items(result: Mapping[str, Iterable[Mapping]], parent: Tuple = ()) -> Set[Tuple]:
    """Everything an extraction result states, as comparable tuples ``(path, label, text, start, end)``: ``path``
    names the parent spans (label, text, start, end) down to this one; classification answers have no offsets.
    Probabilities are left out."""
    items = set()
    for label, spans in result.items():
        for span in spans:
            key = (label, span["text"], span.get("start"), span.get("end"))
            items.add((parent,) + key)
            if span.get("relations"):
                items |= result_items(span["relations"], parent + (key,))
    return items


def extraction_scores(predicted: Sequence[Mapping], gold: Sequence[Mapping]) -> Dict[str, float]:
    """Micro precision/recall/F1 of extraction results against gold results (Taskflow's format), overall and per
    label (a child label is scored with its parent's: ``f1[人物/所属机构]``)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted results for {len(gold)} gold ones")
    pred_sets, gold_sets, groups = [], [], []
    for p, g in zip(predicted, gold):
        p_items, g_items = result_items(p), result_items(g)
        for group in sorted({_group(i) for i in p_items | g_items}):
            pred_sets.append({i for i in p_items if _group(i) == group})
            gold_sets.append({i for i in g_items if _group(i) == group})
            groups.append(group)
    return grouped_scores(pred_sets, gold_sets, groups)


def _group(item: Tuple) -> str:
    return "/".join([parent[0] for parent in item[0]] + [item[1]])
