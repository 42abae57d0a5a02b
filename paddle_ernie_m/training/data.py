"""Reading local training files with errors that name the file and line, and padding batches dynamically.

Readers: JSON lines / CSV / TSV records, CoNLL-style BIO files and SQuAD-format JSON. A malformed row raises
:class:`DataError` (``path:line: what is wrong``), or, with ``skip_invalid``, is counted, logged and left
out. Nothing is guessed: an unknown label is an error, never a silently wrong class.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from converters.files import json_lines, utf8_problem

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


class DataError(ValueError):
    """A data file cannot be used as it is; the message starts with ``path:line:``."""


class Problems:
    """Raises on the first invalid row, or with ``skip`` counts and logs them (``summary()`` at the end)."""

    def __init__(self, skip: bool = False, shown: int = 5):
        self.skip = skip
        self.shown = shown
        self.count: Dict[str, int] = {}

    def report(self, path: PathLike, line: Optional[int], message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        if not self.skip:
            raise DataError(f"{where}: {message}")
        self.count[str(path)] = self.count.get(str(path), 0) + 1
        if sum(self.count.values()) <= self.shown:
            logger.warning("skipping %s: %s", where, message)

    def summary(self) -> None:
        for path, n in self.count.items():
            logger.warning("%s: skipped %d invalid row(s) (--skip_invalid)", path, n)


def _open(path: PathLike):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    return open(path, encoding="utf-8-sig", newline="")


@contextlib.contextmanager
def _utf8_errors(path: PathLike) -> Iterator[None]:
    """Turn a ``UnicodeDecodeError`` of a text reader into a :class:`DataError` naming the file and line."""
    try:
        yield
    except UnicodeDecodeError:
        raise DataError(utf8_problem(path)) from None


def _non_empty(path: PathLike, items: List[Any]) -> List[Any]:
    if not items:
        raise DataError(f"{path}: no examples")
    return items


# ------------------------------------------------------------------------------------------ records

def read_records(path: PathLike) -> List[Tuple[int, Dict[str, Any]]]:
    """``(line, row)`` of a ``.jsonl``/``.json`` (one object a line), ``.csv`` or ``.tsv`` (header row) file."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _non_empty(path, list(_read_jsonl(path)))
    if suffix in (".csv", ".tsv"):
        with _utf8_errors(path):
            return _non_empty(path, list(_read_table(path, "\t" if suffix == ".tsv" else ",")))
    raise DataError(f"{path}: unknown data format {suffix!r} (use .jsonl, .csv or .tsv)")


def _read_jsonl(path: PathLike) -> Iterator[Tuple[int, Dict[str, Any]]]:
    for number, row in json_lines(path, "data file", DataError):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def _read_table(path: PathLike, delimiter: str) -> Iterator[Tuple[int, Dict[str, Any]]]:
    with _open(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            return
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
            yield number, dict(zip(header, row))


def row_fields(path: PathLike, line: int, row: Mapping[str, Any], names: Sequence[Optional[str]],
               problems: "Problems") -> Optional[List[Any]]:
    """The values of ``names`` in ``row`` (``None`` for a name that is ``None``); a missing field is reported,
    and ``None`` returned when the row is skipped."""
    missing = [n for n in names if n is not None and n not in row]
    if missing:
        problems.report(path, line, f"no field {missing[0]!r} (fields: {', '.join(map(str, row))})")
        return None
    return [row[n] if n is not None else None for n in names]


# ------------------------------------------------------------------------------------------ CoNLL / BIO

@dataclass
class TaggedSentence:
    tokens: List[str]
    tags: List[str]
    line: int  # line of the first token


_BIO = re.compile(r"^(O|[BI]-\S+)$")


def read_conll(path: PathLike, problems: Optional[Problems] = None) -> List[TaggedSentence]:
    """Sentences of a CoNLL-style file: one token a line (first column the word, last column its BIO tag),
    blank lines between sentences, ``-DOCSTART-`` lines ignored. Tags must be ``O``, ``B-X`` or ``I-X``."""
    problems = problems or Problems()
    sentences: List[TaggedSentence] = []
    current: Optional[TaggedSentence] = None
    bad = False
    with _utf8_errors(path), _open(path) as f:
        for number, line in enumerate(f, 1):
            columns = line.split()
            if not columns or columns[0] == "-DOCSTART-":
                if current is not None and not bad:
                    sentences.append(current)
                current, bad = None, False
                continue
            if current is None:
                current = TaggedSentence([], [], number)
            if len(columns) < 2:
                problems.report(path, number, f"expected a token and a tag, got {line.strip()!r}")
                bad = True
            elif not _BIO.match(columns[-1]):
                problems.report(path, number, f"tag {columns[-1]!r} is not O, B-<type> or I-<type>")
                bad = True
            else:
                current.tokens.append(columns[0])
                current.tags.append(columns[-1])
        if current is not None and not bad:
            sentences.append(current)
    return _non_empty(path, sentences)


# ------------------------------------------------------------------------------------------ SQuAD

@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: List[Tuple[str, int]] = field(default_factory=list)  # (text, character start)
    line: Optional[int] = None


def read_squad(path: PathLike, problems: Optional[Problems] = None) -> List[QAExample]:
    """Questions of a SQuAD v1.1-format JSON file (MLQA and XQuAD use it). Each answer's text must be found at
    its ``answer_start`` in the context; errors name the file, the line of the question's ``id`` and the id."""
    problems = problems or Problems()
    with _utf8_errors(path), _open(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    lines = _id_lines(text)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path}: expected SQuAD JSON: an object with a 'data' list")
    examples: List[QAExample] = []
    seen = set()
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else []):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str):
                problems.report(path, None, f"data[{a}].paragraphs[{p}] has no 'context' string")
                continue
            for q, qa in enumerate(paragraph.get("qas", [])):
                example = _qa_example(path, qa, context, lines, problems, f"data[{a}].paragraphs[{p}].qas[{q}]")
                if example is None:
                    continue
                if example.id in seen:
                    problems.report(path, example.line, f"question id {example.id!r} appears twice")
                    continue
                seen.add(example.id)
                examples.append(example)
    return _non_empty(path, examples)


def _id_lines(text: str) -> Dict[str, int]:
    """Line of each ``"id": "..."`` in the raw JSON text (json.loads keeps no positions)."""
    lines = {}
    for match in re.finditer(r'"id"\s*:\s*("(?:[^"\\]|\\.)*")', text):
        try:
            lines.setdefault(json.loads(match.group(1)), text.count("\n", 0, match.start()) + 1)
        except json.JSONDecodeError:
            continue
    return lines


def _qa_example(path: PathLike, qa: Any, context: str, lines: Dict[str, int], problems: Problems,
                where: str) -> Optional[QAExample]:
    if not isinstance(qa, dict) or not isinstance(qa.get("id"), (str, int)) \
            or not isinstance(qa.get("question"), str):
        problems.report(path, None, f"{where} needs an 'id' and a 'question' string")
        return None
    qid = str(qa["id"])
    line = lines.get(qid)
    answers = []
    for answer in qa.get("answers", []):
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str) \
                or not isinstance(answer.get("answer_start"), int):
            problems.report(path, line, f"question {qid!r}: an answer needs 'text' and an integer 'answer_start'")
            return None
        text, start = answer["text"], answer["answer_start"]
        if not text or context[start:start + len(text)] != text or start < 0:
            problems.report(path, line, f"question {qid!r}: answer {text!r} is not in its context at character "
                                        f"{start} (found {context[max(start, 0):max(start, 0) + len(text)]!r})")
            return None
        answers.append((text, start))
    if not answers:
        problems.report(path, line, f"question {qid!r} has no answer (SQuAD v2 unanswerable questions are not "
                                    "supported)")
        return None
    return QAExample(qid, qa["question"], context, answers, line)


# ------------------------------------------------------------------------------------------ labels

def sorted_labels(labels: Iterable[str]) -> List[str]:
    """Distinct labels, integers in numeric order first, then strings in alphabetical order."""
    return sorted(set(labels), key=lambda x: (0, int(x), "") if re.fullmatch(r"-?\d+", x) else (1, 0, x))


def label_index(labels: Sequence[str]) -> Dict[str, int]:
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {list(labels)}")
    return {label: i for i, label in enumerate(labels)}


# ------------------------------------------------------------------------------------------ batching

#: Padding value per input name; ``input_ids`` use the tokenizer's pad id, labels the ignored index -100.
PAD_VALUES = {"attention_mask": 0, "position_ids": 0, "labels": -100, "start_positions": 0, "end_positions": 0}


class DynamicPaddingCollator:
    """Stack features into a batch of numpy arrays, padding each ragged field (also nested ones, such as the
    ``[choices, tokens]`` ids of multiple choice) to the longest in the batch.

    ``keys`` are the fields to output (others are dropped). ``attention_mask`` is built from the lengths of
    ``input_ids`` when the features have none. ``pad_to_multiple_of`` rounds the padded length up (8 helps
    fp16 tensor cores).
    """

    def __init__(self, pad_token_id: int, keys: Sequence[str] = ("input_ids", "attention_mask", "labels"),
                 pad_to_multiple_of: Optional[int] = None):
        self.pad_values = dict(PAD_VALUES, input_ids=pad_token_id)
        self.keys = tuple(keys)
        self.multiple = pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> Dict[str, np.ndarray]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        batch = {}
        for key in self.keys:
            if key == "attention_mask" and key not in features[0]:
                values = [_ones_like(f["input_ids"]) for f in features]
            else:
                try:
                    values = [f[key] for f in features]
                except KeyError:
                    raise KeyError(f"feature has no field {key!r} (fields: {', '.join(features[0])})") from None
            batch[key] = _pad([_nested_array(v, self.pad_values.get(key, 0)) for v in values],
                              self.pad_values.get(key, 0), self.multiple)
        return batch


def _ones_like(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return np.ones_like(value)
    return [_ones_like(v) for v in value] if value and isinstance(value[0], (list, tuple, np.ndarray)) \
        else [1] * len(value)


def _nested_array(value: Any, pad: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        return _pad([_nested_array(v, pad) for v in value], pad, None)
    return np.asarray(value)


def _pad(arrays: List[np.ndarray], pad: Any, multiple: Optional[int]) -> np.ndarray:
    ndims = {a.ndim for a in arrays}
    if len(ndims) != 1:
        raise ValueError(f"cannot batch fields with different numbers of dimensions: {sorted(ndims)}")
    shape = [max(a.shape[d] for a in arrays) for d in range(arrays[0].ndim)]
    if multiple and shape:
        shape[-1] = -(-shape[-1] // multiple) * multiple
    dtype = np.result_type(*arrays)
    dtype = np.int64 if dtype.kind in "iub" else np.float32
    out = np.full([len(arrays)] + shape, pad, dtype=dtype)
    for i, a in enumerate(arrays):
        out[(i,) + tuple(slice(0, s) for s in a.shape)] = a
    return out
