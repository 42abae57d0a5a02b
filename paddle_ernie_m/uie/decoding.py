"""UIE decoding as pure functions: splitting long texts, turning start/end probabilities into spans, joining the
pieces of a split text, and walking a schema stage by stage.

The rules are those of PaddleNLP 2.8.1's Taskflow (``information_extraction``), stated here once:

* **Candidates.** A token is a start (end) candidate when its start (end) probability is strictly greater than
  ``position_prob``.
* **Pairing.** Walking the candidates in token order, each end takes the latest start that lies after the previous
  end and at or before itself; an end with no such start, and the starts it passed over, are dropped. The
  probability of a span is ``p(start) * p(end)``.
* **Characters.** Token offsets map a span to characters. Prompt tokens carry offsets shifted below zero (by the
  end of the last prompt token plus one), special and padding tokens carry ``(0, 0)``. A span whose end lies in the
  prompt is a classification answer: its text is cut from the prompt and it has no ``start``/``end``; a span that
  starts in the prompt and ends in the text is dropped; any other span is cut from the text.
* **Order.** Spans of one piece are listed by decreasing probability, then by token position (Taskflow lists them
  in the iteration order of a Python ``set``, which depends on the float values' hashes: arbitrary).
* **Splitting.** A text longer than ``max_text_len`` characters is cut into consecutive pieces of that length
  (with ``split_sentence``, first into sentences). Taskflow computes ``max_text_len`` per stage as
  ``max_seq_len - len(max(prompts)) - 3``: ``max`` is the lexicographically greatest prompt of the stage (over
  every text of the call), not the longest, and ERNIE-M pairs hold 4 special tokens, not 3; the tokenizer then
  truncates what does not fit. Both are kept, so pieces and results are Taskflow's.
* **Joining.** Span offsets of a piece are shifted by the piece's position in the text. A stage whose first
  non-empty piece result is a classification answer is a classification stage: each text then gets one answer,
  the option chosen by most pieces (ties: the larger summed probability, then the first seen), with the mean of
  its probabilities, each piece voting with its first (most probable) answer.
* **Calls.** The piece length and the classification decision are Taskflow's per call, so a text's results can
  depend on the other texts of its call. Texts of several calls can run together (``groups``: the call of each
  text): each call keeps its own piece length and decision, so its results are those of the call alone.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .schema import SchemaNode, child_prompt, root_prompt

logger = logging.getLogger(__name__)

#: ``(token index, probability)``.
Candidate = Tuple[int, float]
#: A start and an end candidate.
SpanCandidate = Tuple[Candidate, Candidate]
#: Result dict of one span: ``{"text", "start", "end", "probability"[, "relations"]}`` (``start``/``end`` absent
#: for classification answers).
Result = Dict[str, object]


# ----------------------------------------------------------------------------------------------------- spans
def candidates(probs: np.ndarray, threshold: float) -> List[Candidate]:
    """Positions whose probability is strictly greater than ``threshold``, with that probability."""
    probs = np.asarray(probs, dtype=np.float64)  # compare as Taskflow does: float32 values, float64 threshold
    index = np.flatnonzero(probs > threshold)
    return list(zip(index.tolist(), probs[index].tolist()))


def pair_spans(starts: Sequence[Candidate], ends: Sequence[Candidate]) -> List[SpanCandidate]:
    """Pair start and end candidates (see the module docstring): each end takes the latest start in
    ``(previous end, end]``. Returned in end order."""
    starts = sorted(starts)
    pairs: List[SpanCandidate] = []
    i = 0
    for end in sorted(ends):
        chosen = None
        while i < len(starts) and starts[i][0] <= end[0]:
            chosen = starts[i]
            i += 1
        if chosen is not None:
            pairs.append((chosen, end))
        if i == len(starts):
            break
    return pairs


def order_spans(pairs: Sequence[SpanCandidate]) -> List[SpanCandidate]:
    """Decreasing probability, then token position."""
    return sorted(pairs, key=lambda p: (-(p[0][1] * p[1][1]), p[0][0], p[1][0]))


def spans_to_results(pairs: Sequence[SpanCandidate], offsets: np.ndarray, text: str, prompt: str) -> List[Result]:
    """Turn token spans into result dicts, with ``offsets`` as Taskflow sees them (see the module docstring)."""
    results: List[Result] = []
    for (start_token, start_prob), (end_token, end_prob) in pairs:
        start, end = int(offsets[start_token][0]), int(offsets[end_token][1])
        probability = start_prob * end_prob
        if start < 0 <= end:
            continue
        if end < 0:
            shift = len(prompt) + 1
            results.append({"text": prompt[start + shift:end + shift], "probability": probability})
        else:
            results.append({"text": text[start:end], "start": start, "end": end, "probability": probability})
    return results


def decode(start_probs: np.ndarray, end_probs: np.ndarray, offsets: np.ndarray, text: str, prompt: str,
           threshold: float) -> List[Result]:
    """Results of one piece from its per-token probabilities and offsets."""
    pairs = pair_spans(candidates(start_probs, threshold), candidates(end_probs, threshold))
    return spans_to_results(order_spans(pairs), offsets, text, prompt)


# -------------------------------------------------------------------------------------------- split / join
def cut_sentences(text: str) -> List[str]:
    """Sentence split of PaddleNLP's ``cut_chinese_sent``: after ``。！？?``, six dots or two ellipses, and after a
    closing quote that follows one of them; existing newlines split too and are dropped, as is trailing space."""
    text = re.sub(r"([。！？\?])([^”’])", r"\1\n\2", text)
    text = re.sub(r"(\.{6})([^”’])", r"\1\n\2", text)
    text = re.sub(r"(\…{2})([^”’])", r"\1\n\2", text)
    text = re.sub(r"([。！？\?][”’])([^，。！？\?])", r"\1\n\2", text)
    return text.rstrip().split("\n")


@dataclass(frozen=True)
class Piece:
    """A piece of an input text: which text, where it starts in it, and its characters."""

    text_index: int
    offset: int
    text: str


def split_texts(texts: Sequence[str], max_text_len: int, split_sentence: bool = False) -> List[Piece]:
    """Cut texts into pieces of at most ``max_text_len`` characters (after a sentence split if asked), in order.

    Unlike Taskflow, each piece remembers where it starts in its text, so offsets stay right when the sentence
    split drops newlines (Taskflow shifts by the summed piece lengths).
    """
    if max_text_len <= 0:
        raise ValueError(f"no room for the text: max_seq_len leaves {max_text_len} characters after the prompt")
    pieces: List[Piece] = []
    for index, text in enumerate(texts):
        cursor = 0
        for sentence in (cut_sentences(text) if split_sentence else [text]):
            start = text.find(sentence, cursor) if split_sentence else 0
            cursor = start + len(sentence)
            for offset in range(0, max(len(sentence), 1), max_text_len):
                pieces.append(Piece(index, start + offset, sentence[offset:offset + max_text_len]))
    return pieces


def max_text_length(max_seq_len: int, prompts: Sequence[str]) -> int:
    """Taskflow's per-stage piece length: ``max_seq_len - len(max(prompts)) - 3`` (lexicographic ``max``)."""
    return max_seq_len - len(max(prompts)) - 3


def join_pieces(pieces: Sequence[Piece], piece_results: Sequence[List[Result]], num_texts: int,
                groups: Optional[Sequence[int]] = None) -> List[List[Result]]:
    """Join the results of the pieces of each text (see the module docstring); returns one list per text.
    ``groups``: the call of each text (default: one call); each call is a classification stage or not on its own."""
    group_of = groups if groups is not None else [0] * num_texts
    first: Dict[int, Result] = {}  # call -> its first non-empty piece result
    for piece, results in zip(pieces, piece_results):
        if results:
            first.setdefault(group_of[piece.text_index], results[0])
    classification = {group for group, result in first.items() if "start" not in result and "end" not in result}
    joined: List[List[Result]] = [[] for _ in range(num_texts)]
    votes: List[Dict[str, List[float]]] = [{} for _ in range(num_texts)]
    for piece, results in zip(pieces, piece_results):
        if group_of[piece.text_index] in classification:
            if results:
                vote = votes[piece.text_index].setdefault(results[0]["text"], [0, 0.0])
                vote[0] += 1
                vote[1] += results[0]["probability"]
            continue
        for result in results:
            if piece.offset and "start" in result and "end" in result:
                result["start"] += piece.offset
                result["end"] += piece.offset
            joined[piece.text_index].append(result)
    for index, options in enumerate(votes):
        if options:
            text, (count, total) = max(options.items(), key=lambda item: item[1])
            joined[index] = [{"text": text, "probability": total / count}]
    return joined


# ------------------------------------------------------------------------------------------ schema stages
#: Runs one stage: ``(texts, prompts, max_prompts, groups)`` (aligned per pair; ``max_prompts``: the
#: lexicographically greatest prompt Taskflow would ask in the stage of the pair's call, which sets the piece length;
#: ``groups``: the pair's call) -> the results of each pair, joined over pieces.
StageRunner = Callable[[List[str], List[str], List[str], List[int]], List[List[Result]]]

#: Default of ``max_child_prompts``: parent spans of one text that a child label is asked about.
MAX_CHILD_PROMPTS = 64


def extract(roots: Sequence[SchemaNode], texts: Sequence[str], schema_lang: str, run_stage: StageRunner,
            max_child_prompts: Optional[int] = MAX_CHILD_PROMPTS,
            groups: Optional[Sequence[int]] = None) -> List[Dict[str, List[Result]]]:
    """Walk the schema breadth-first, as Taskflow does: every first-level label is asked about each text, then
    every child label about each span found for its parent. Returns one ``{label: [result, ...]}`` per text; the
    answers to a child are stored under ``result["relations"][child]`` of the parent span.

    Each distinct (text, prompt) pair of a stage is run once: parent spans with the same text (``"李娜"`` found
    50 times) ask the same prompt, and each of them gets its own copies of the answers. A child label is asked
    about the first ``max_child_prompts`` parent spans of a text only (None: all, as Taskflow); the others get no
    answer to it, a warning says how many, and the piece length stays the one all of them would have given.
    ``groups``: the call of each text (default: all one call; see "Calls" in the module docstring).
    """
    group_of = list(groups) if groups is not None else [0] * len(texts)
    outputs: List[Dict[str, List[Result]]] = [{} for _ in texts]
    # (node, parent label, parents): parents[k] lists the parent results of text k the node is asked about
    queue: List[Tuple[SchemaNode, Optional[str], Optional[List[List[Result]]]]] = [(n, None, None) for n in roots]
    while queue:
        node, parent_label, parents = queue.pop(0)
        pairs: Dict[Tuple[int, str], int] = {}  # (text index, prompt) -> index among the stage's inputs
        owners: List[Tuple[int, Optional[Result]]] = []  # (pair index, parent span) per question Taskflow asks
        max_prompt: Dict[int, str] = {}  # per call
        cut, cut_texts = 0, 0
        for k in range(len(texts)):
            asked = [None] if parents is None else parents[k]
            for rank, parent in enumerate(asked):
                prompt = root_prompt(node) if parent is None else child_prompt(node, parent["text"], schema_lang)
                max_prompt[group_of[k]] = max(max_prompt.get(group_of[k], ""), prompt)
                if max_child_prompts is not None and rank >= max_child_prompts:
                    continue
                owners.append((pairs.setdefault((k, prompt), len(pairs)), parent))
            if parents is not None and max_child_prompts is not None and len(asked) > max_child_prompts:
                cut += len(asked) - max_child_prompts
                cut_texts += 1
        if cut:
            logger.warning("max_child_prompts=%d: %r was asked about the first %d %r spans of %d text(s) only; %d "
                           "span(s) after them get no %r answers", max_child_prompts, node.name, max_child_prompts,
                           parent_label, cut_texts, cut, node.name)
        keys = list(pairs)
        stage_results = run_stage([texts[k] for k, _ in keys], [p for _, p in keys],
                                  [max_prompt[group_of[k]] for k, _ in keys], [group_of[k] for k, _ in keys]) \
            if keys else []
        found: List[List[Result]] = [[] for _ in texts]
        handed_out = [False] * len(keys)
        for j, parent in owners:
            results = stage_results[j]
            if not results:
                continue
            if handed_out[j]:  # answers are flat dicts until a later stage adds their own relations
                results = [dict(r) for r in results]
            handed_out[j] = True
            k = keys[j][0]
            found[k].extend(results)
            if parent is None:
                outputs[k].setdefault(node.name, []).extend(results)
            else:
                parent.setdefault("relations", {}).setdefault(node.name, []).extend(results)
        queue.extend((child, node.name, found) for child in node.children)
    return outputs
