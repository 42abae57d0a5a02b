"""doccano exports -> UIE training examples, with the positive and negative prompts PaddleNLP's ``doccano.py`` builds.

Input: the JSONL that doccano exports, one annotated text per line, in any of its layouts:

* sequence labelling: ``{"text": ..., "label": [[start, end, "label"], ...]}`` (``"data"`` instead of ``"text"``
  before doccano 1.7);
* relations: ``{"text": ..., "entities": [{"id", "start_offset", "end_offset", "label"}], "relations": [{"id",
  "from_id", "to_id", "type"}]}`` (before 1.7: ``{"data": ..., "label": {"entities": [...], "relations": [...]}}``);
* classification (``task_type="cls"``): ``{"text": ..., "label": ["positive"]}``.

An entity label ``"aspect##positive"`` (``separator``) also asks for the entity's sentiment: it adds an example
with the prompt ``"<entity>的情感倾向[正向,负向]"`` (``schema_lang="en"``: ``"<prompt_prefix> of <entity>[...]"``),
options shuffled, whose answer points into the prompt.

Output examples are ``{"content", "result_list": [{"text", "start", "end"}], "prompt"}``, the format PaddleNLP's
UIE fine-tuning reads. For each text: one positive example per entity label and per relation prompt
(``"<subject>的<predicate>"`` / ``"<predicate> of <subject>"``), then negatives:

* entity prompts: the labels of the data set the text does not use (all of them for dev/test; for training at most
  ``negative_ratio`` per positive, sampled);
* relation prompts, training: at most ``negative_ratio // 3`` per positive from each of (1) the inverse relations
  (object in place of subject), (2) other entity names with one of the text's predicates, (3) the text's subjects
  with entity labels it does not use; topped up to ``negative_ratio`` per positive from what was left over;
* relation prompts, dev/test: every ``subject x predicate`` of the data set that is not a positive.

The random choices follow PaddleNLP's order of calls, so with a ``random.Random`` seeded like PaddleNLP's global
``random`` the examples are the same. The train/dev/test split and the shuffles use our own seeded generator.
"""
from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, Union

from converters.files import check_owned_files, json_lines, owned_files, write_atomic

from .schema import check_schema_lang

Example = Dict[str, Any]
TASK_TYPES = ("ext", "cls")
#: The writer named in the marker of a ``save_dir`` (a later run with ``force`` replaces only its own files).
WRITER = "ernie-m uie-doccano"
#: Every file a conversion may write (one without splits removes the dev/test files of an earlier one with splits).
OUTPUT_FILES = ("train.txt", "dev.txt", "test.txt", "sample_index.json")


@dataclass
class Entity:
    id: Any
    start: int
    end: int
    label: str


@dataclass
class Relation:
    from_id: Any
    to_id: Any
    type: str


@dataclass
class Record:
    """One annotated text of a doccano export."""

    text: str
    entities: List[Entity] = field(default_factory=list)
    relations: List[Relation] = field(default_factory=list)
    labels: List[str] = field(default_factory=list)  # classification exports


class DoccanoError(ValueError):
    """A line of a doccano export that cannot be read; the message names the file and line."""


# ----------------------------------------------------------------------------------------------- reading
def parse_record(item: Any, where: str = "record") -> Record:
    """Read one exported line (already JSON-decoded) in any of the layouts in the module docstring."""
    if not isinstance(item, dict):
        raise DoccanoError(f"{where}: expected a JSON object, got {type(item).__name__}")
    text = item.get("text", item.get("data"))
    if not isinstance(text, str):
        raise DoccanoError(f"{where}: no text (a string under 'text' or 'data')")
    label = item.get("label")
    record = Record(text)
    try:
        if isinstance(label, dict):  # relation export of doccano < 1.7
            record.entities = [_entity(e, i) for i, e in enumerate(label.get("entities", []))]
            record.relations = [_relation(r) for r in label.get("relations", [])]
        elif isinstance(label, list) and all(isinstance(x, str) for x in label):
            record.labels = list(label)  # classification; an empty list is also an empty sequence labelling
        elif isinstance(label, list):
            record.entities = [_entity(e, i) for i, e in enumerate(label)]
        elif label is None and ("entities" in item or "relations" in item):
            record.entities = [_entity(e, i) for i, e in enumerate(item.get("entities", []))]
            record.relations = [_relation(r) for r in item.get("relations", [])]
        else:
            raise DoccanoError("no annotations: expected 'label' or 'entities'/'relations'")
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise DoccanoError(f"{where}: malformed annotation ({exc.__class__.__name__}: {exc})") from None
    ids = {e.id for e in record.entities}
    for entity in record.entities:
        if not 0 <= entity.start < entity.end <= len(text):
            raise DoccanoError(f"{where}: entity {entity.id!r} ({entity.label!r}) has offsets "
                               f"[{entity.start}, {entity.end}) outside the text of {len(text)} characters")
    for relation in record.relations:
        missing = [i for i in (relation.from_id, relation.to_id) if i not in ids]
        if missing:
            raise DoccanoError(f"{where}: relation {relation.type!r} refers to unknown entity id(s) {missing}")
    return record


def _entity(item: Any, index: int) -> Entity:
    if isinstance(item, (list, tuple)):
        start, end, label = item[:3]
        return Entity(index, int(start), int(end), str(label))
    return Entity(item["id"], int(item["start_offset"]), int(item["end_offset"]), str(item["label"]))


def _relation(item: Dict[str, Any]) -> Relation:
    return Relation(item["from_id"], item["to_id"], str(item["type"]))


def read_doccano(path: Union[str, os.PathLike]) -> List[Record]:
    """Every non-blank line of a doccano JSONL export."""
    return [parse_record(item, f"{path}:{number}") for number, item in json_lines(path, "doccano file", DoccanoError)]


# ------------------------------------------------------------------------------------------- converting
@dataclass
class PromptStyle:
    """How prompts are written: the language of the schema and the sentiment classification prompt."""

    schema_lang: str = "ch"
    prompt_prefix: str = "情感倾向"
    options: Tuple[str, ...] = ("正向", "负向")
    separator: str = "##"

    def __post_init__(self) -> None:
        check_schema_lang(self.schema_lang)
        if not self.options:
            raise ValueError("options: give at least one classification option")

    def relation(self, subject: str, predicate: str) -> str:
        return f"{subject}的{predicate}" if self.schema_lang == "ch" else f"{predicate} of {subject}"

    def entity_classification_prefix(self, entity: str) -> str:
        return f"{entity}的{self.prompt_prefix}" if self.schema_lang == "ch" else f"{self.prompt_prefix} of {entity}"


def classification_example(text: str, labels: Sequence[str], prefix: str, options: List[str],
                           rng: random.Random) -> Example:
    """An example whose answers are options inside the prompt ``prefix[o1,o2,...]``; ``options`` is shuffled in
    place (as PaddleNLP does), so the option order varies between examples. Answers get offsets below zero:
    ``prompt.rfind(label) - len(prompt) - 1``."""
    rng.shuffle(options)
    prompt = f"{prefix}[{','.join(options)}]"
    results = []
    for label in labels:
        start = prompt.rfind(label) - len(prompt) - 1
        results.append({"text": label, "start": start, "end": start + len(label)})
    return {"content": text, "result_list": results, "prompt": prompt}


def convert_cls(records: Sequence[Record], style: PromptStyle, rng: random.Random) -> List[Example]:
    """Text classification exports: one example per text, prompt ``prompt_prefix[options]``."""
    options = list(style.options)
    return [classification_example(r.text, r.labels, style.prompt_prefix, options, rng) for r in records]


@dataclass(frozen=True)
class TextExamples:
    """One text's positive examples and the names its negative prompts are drawn from."""

    text: str
    entity_examples: Tuple[Example, ...]  # one per entity label
    labels: FrozenSet[str]  # the entity labels the text uses
    names: Tuple[str, ...]  # the text of each entity
    relation_examples: Tuple[Example, ...]  # one per relation prompt
    relation_prompts: FrozenSet[str]
    subjects: Tuple[str, ...]  # distinct, in order of first use
    predicates: Tuple[str, ...]  # one per relation
    inverse_prompts: Tuple[str, ...]  # one per relation, the object in place of the subject
    sentiment_examples: Tuple[Example, ...]  # one per entity with ``separator`` in its label


def text_examples(record: Record, style: PromptStyle, options: List[str], rng: random.Random) -> TextExamples:
    """The positives of one text; its sentiment examples shuffle the shared ``options`` (one ``rng`` call each)."""
    text = record.text
    by_id = {entity.id: entity for entity in record.entities}
    entities, labels, sentiments = [], [], []
    for entity in record.entities:
        name = text[entity.start:entity.end]
        label, *classes = entity.label.split(style.separator)
        if classes:
            sentiments.append(classification_example(
                text, classes, style.entity_classification_prefix(name), options, rng))
        entities.append((label, {"text": name, "start": entity.start, "end": entity.end}))
        labels.append(label)
    relations, subjects, inverse = [], [], []
    for relation in record.relations:
        subject, obj = by_id[relation.from_id], by_id[relation.to_id]
        subject_name, object_name = text[subject.start:subject.end], text[obj.start:obj.end]
        relations.append((style.relation(subject_name, relation.type),
                          {"text": object_name, "start": obj.start, "end": obj.end}))
        subjects.append(subject_name)
        inverse.append(style.relation(object_name, relation.type))
    return TextExamples(
        text=text,
        entity_examples=_grouped(text, entities),
        labels=frozenset(labels),
        names=tuple(result["text"] for _, result in entities),
        relation_examples=_grouped(text, relations),
        relation_prompts=frozenset(prompt for prompt, _ in relations),
        subjects=tuple(dict.fromkeys(subjects)),
        predicates=tuple(relation.type for relation in record.relations),
        inverse_prompts=tuple(inverse),
        sentiment_examples=tuple(sentiments),
    )


def _grouped(text: str, answers: Sequence[Tuple[str, Dict[str, Any]]]) -> Tuple[Example, ...]:
    """One example per prompt (in order of first use) with all of its answers."""
    by_prompt: Dict[str, Example] = {}
    for prompt, result in answers:
        example = by_prompt.setdefault(prompt, {"content": text, "result_list": [], "prompt": prompt})
        example["result_list"].append(result)
    return tuple(by_prompt.values())


def convert_ext(records: Sequence[Record], style: PromptStyle, negative_ratio: int, is_train: bool,
                rng: random.Random) -> List[Example]:
    """Entity, relation and entity-sentiment examples with negatives (see the module docstring). ``negative_ratio``
    -1 keeps every entity negative."""
    options = list(style.options)
    texts = [text_examples(record, style, options, rng) for record in records]
    labels = frozenset().union(*(t.labels for t in texts))
    names = frozenset(name for t in texts for name in t.names)
    predicates = list(dict.fromkeys(predicate for t in texts for predicate in t.predicates))

    examples = [e for t in texts for e in t.entity_examples]
    examples += [_negative(t.text, prompt) for t in texts
                 for prompt in entity_negatives(t, labels, negative_ratio, rng)]
    if predicates and is_train:
        chosen = [relation_negatives(t, labels, names, negative_ratio, style, rng) for t in texts]
        examples += [e for t in texts for e in t.relation_examples]
        examples += [_negative(t.text, prompt) for t, prompts in zip(texts, chosen) for prompt in prompts]
    elif predicates:
        for t in texts:
            examples += t.relation_examples
            examples += [_negative(t.text, prompt) for prompt in every_relation_negative(t, predicates, style)]
    return examples + [e for t in texts for e in t.sentiment_examples]


def entity_negatives(t: TextExamples, labels: FrozenSet[str], ratio: int, rng: random.Random) -> List[str]:
    """The data set's entity labels the text does not use, sampled down to ``ratio`` per positive."""
    return _sample_negatives(sorted(labels - t.labels), len(t.entity_examples), ratio, rng)[0]


def relation_negatives(t: TextExamples, labels: FrozenSet[str], names: FrozenSet[str], ratio: int,
                       style: PromptStyle, rng: random.Random) -> List[str]:
    """Training relation negatives: ``ratio // 3`` per positive from each kind, topped up to ``ratio`` from the
    rest (see the module docstring)."""
    num_positive = len(t.relation_examples)
    groups = [list(t.inverse_prompts), [], []]
    if t.predicates:
        groups[1] = [style.relation(name, t.predicates[rng.randrange(len(t.predicates))])
                     for name in sorted(names - set(t.subjects))]
    if t.subjects:
        groups[2] = [style.relation(t.subjects[rng.randrange(len(t.subjects))], label)
                     for label in sorted(labels - t.labels)]
    chosen: List[str] = []
    leftover: List[str] = []
    for group in groups:
        kept, rest = _sample_negatives(group, num_positive, ratio // 3, rng)
        chosen.extend(kept)
        leftover.extend(rest)
    missing = num_positive * ratio - len(chosen)
    if missing > 0 and leftover:
        picks = range(len(leftover)) if missing > len(leftover) else rng.sample(range(len(leftover)), missing)
        chosen.extend(leftover[k] for k in picks)
    return chosen


def every_relation_negative(t: TextExamples, predicates: Sequence[str], style: PromptStyle) -> List[str]:
    """Dev/test relation negatives: each ``subject x predicate`` of the data set that is not a positive."""
    return [prompt for subject in t.subjects for predicate in predicates
            for prompt in [style.relation(subject, predicate)] if prompt not in t.relation_prompts]


def _negative(text: str, prompt: str) -> Example:
    return {"content": text, "result_list": [], "prompt": prompt}


def _sample_negatives(candidates: Sequence[str], num_positive: int, ratio: int, rng: random.Random,
                      ) -> Tuple[List[str], List[str]]:
    """Keep every candidate when there are at most ``ratio`` per positive (or ``ratio == -1``), else sample
    ``ratio * num_positive`` of them. Returns (kept, left over); a text without positives counts as one."""
    if num_positive:
        actual_ratio = math.ceil(len(candidates) / num_positive)
    else:
        num_positive, actual_ratio = 1, 0
    if actual_ratio <= ratio or ratio == -1:
        return list(candidates), []
    kept = rng.sample(range(len(candidates)), ratio * num_positive)
    rest = list(set(range(len(candidates))) ^ set(kept))
    return [candidates[k] for k in kept], [candidates[k] for k in rest]


# ------------------------------------------------------------------------------------------ file level
def convert_doccano_file(
    doccano_file: Union[str, os.PathLike],
    save_dir: Union[str, os.PathLike],
    task_type: str = "ext",
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    negative_ratio: int = 5,
    style: Optional[PromptStyle] = None,
    shuffle: bool = True,
    seed: int = 1000,
    force: bool = False,
) -> Dict[str, Path]:
    """Convert an export and write ``train.txt``, ``dev.txt``, ``test.txt`` (JSON lines) and ``sample_index.json``
    (which input lines went where) into ``save_dir``; with ``splits=()`` everything goes to ``train.txt``.

    Training examples get sampled negatives (``negative_ratio``); dev and test get every negative, so their
    scores do not depend on the sampling. Returns the written paths by split name.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")
    splits = tuple(splits)
    if splits and (len(splits) != 3 or any(s < 0 for s in splits)
                   or sum(Decimal(str(s)) for s in splits) != Decimal(1)):
        raise ValueError(f"splits must be three non-negative ratios summing to 1 (train, dev, test), "
                         f"got {list(splits)}")
    if isinstance(negative_ratio, bool) or not isinstance(negative_ratio, int) or negative_ratio < 0:
        raise ValueError(f"negative_ratio (--negative-ratio) must be a whole number of at least 0, got "
                         f"{negative_ratio!r}")
    style = style or PromptStyle()
    records = read_doccano(doccano_file)
    save_dir = Path(save_dir)
    check_owned_files(save_dir, WRITER, OUTPUT_FILES, force, inputs=(doccano_file,))  # before any work

    rng = random.Random(seed)
    order = list(range(len(records)))
    if shuffle:
        rng.shuffle(order)

    def convert(indexes: List[int], training: bool) -> List[Example]:
        chosen = [records[i] for i in indexes]
        if task_type == "cls":
            examples = convert_cls(chosen, style, rng)
        else:
            examples = convert_ext(chosen, style, negative_ratio if training else -1, training, rng)
        if shuffle and training:
            rng.shuffle(examples)
        return examples

    outputs: Dict[str, Any] = {}
    if not splits:
        outputs["train"] = convert(order, True)
    else:
        first = int(len(order) * splits[0])
        second = int(len(order) * (Decimal(str(splits[0])) + Decimal(str(splits[1]))))
        parts = {"train": order[:first], "dev": order[first:second], "test": order[second:]}
        for name, indexes in parts.items():
            outputs[name] = convert(indexes, name == "train")
        outputs["sample_index"] = {f"{name}_ids": indexes for name, indexes in parts.items()}

    with owned_files(save_dir, WRITER, OUTPUT_FILES, force, inputs=(doccano_file,)) as tmp:  # all files or none
        for name, content in outputs.items():
            if name == "sample_index":
                write_atomic(tmp / "sample_index.json", json.dumps(content) + "\n")
            else:
                write_jsonl(tmp / f"{name}.txt", content)
    return {name: save_dir / ("sample_index.json" if name == "sample_index" else f"{name}.txt") for name in outputs}


def write_jsonl(path: Path, items: Iterable[Any]) -> Path:
    return write_atomic(path, "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items))


def read_examples(path: Union[str, os.PathLike], problems=None) -> List[Example]:
    """UIE training examples (``{"content", "result_list", "prompt"}`` per line). A malformed line raises
    ``ValueError`` naming the file and line, or is skipped and counted when ``problems`` (a
    :class:`paddle_ernie_m.training.data.Problems`) says so."""
    def invalid(number: int, message: str) -> None:
        if problems is None:
            raise ValueError(f"{path}:{number}: {message}")
        problems.report(path, number, message)

    examples = []
    for number, example in json_lines(path, "examples file", on_invalid=invalid):
        message = _example_problem(example)
        if message is None:
            examples.append(example)
        else:
            invalid(number, message)
    return examples


def _example_problem(example: Any) -> Optional[str]:
    """What is wrong with a UIE example, or None."""
    if not isinstance(example, dict) or not {"content", "result_list", "prompt"} <= set(example):
        return "a UIE example needs 'content', 'result_list' and 'prompt'"
    if not isinstance(example["content"], str) or not isinstance(example["prompt"], str):
        return "'content' and 'prompt' must be strings"
    for result in example["result_list"] if isinstance(example["result_list"], list) else [None]:
        if not (isinstance(result, dict) and isinstance(result.get("start"), int)
                and isinstance(result.get("end"), int) and result["start"] < result["end"]):
            return "every answer in 'result_list' needs integer 'start' < 'end'"
    return None
