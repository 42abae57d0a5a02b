"""The ERNIE-M tensor name table, read in both directions (Paddle/PaddleNLP layout <-> transformers layout).

Conversion knowledge lives in :data:`TENSORS`: one row per logical tensor with its Paddle name, its Hugging
Face name, how the values change (``copy`` or ``transpose``: Paddle linear weights are ``[in, out]``, torch's
``[out, in]``), its Paddle-side shape in config terms, and the heads it belongs to. Heads whose transformers
class has no tensor of that row (the pooler of token classification and QA) drop it going to HF and create it
going to Paddle. The small functions below only walk the table, so the two directions cannot drift apart.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from .errors import ConversionError

# Head names as used by us and transformers; PaddleNLP calls the last one UIEM.
BASE = "ErnieMModel"
SEQUENCE = "ErnieMForSequenceClassification"
CHOICE = "ErnieMForMultipleChoice"
TOKEN = "ErnieMForTokenClassification"
QA = "ErnieMForQuestionAnswering"
UIE = "ErnieMForInformationExtraction"
PRETRAIN = "ErnieMForPreTraining"
HEADS = (BASE, SEQUENCE, CHOICE, TOKEN, QA, UIE, PRETRAIN)
#: PaddleNLP's class names where they differ from ours, and the way back.
PADDLENLP_HEAD_NAMES = {UIE: "UIEM"}
HEAD_ALIASES = {alias: name for name, alias in PADDLENLP_HEAD_NAMES.items()}
#: Heads transformers has no class for: paddle2torch writes their encoder as its bare ``ErnieMModel``
#: (dropping the head) and torch2paddle cannot produce them (``from_pretrained`` builds the head instead).
HF_AS_BASE = frozenset({PRETRAIN})
ALL = frozenset(HEADS)

#: Prefix of the encoder's tensors inside a model with a head (both ecosystems).
PREFIX = "ernie_m."

#: Tensors some checkpoints carry and no model needs (older Paddle buffers): skipped in both directions.
IGNORED = (re.compile(r"^(ernie_m\.)?embeddings\.position_ids$"),)

COPY, TRANSPOSE = "copy", "transpose"


@dataclass(frozen=True)
class Row:
    """One logical tensor. ``{i}`` in a name is the layer index; ``base`` rows get ``ernie_m.`` under a head.

    ``shape`` is the Paddle-side shape, in config field names or literal sizes. ``heads`` own the tensor;
    ``hf_heads`` (default: the same) are those whose transformers class has it too.
    """

    paddle: str
    hf: str
    transform: str
    shape: Tuple[Union[str, int], ...]
    heads: FrozenSet[str] = ALL
    hf_heads: Optional[FrozenSet[str]] = None

    @property
    def base(self) -> bool:
        return self.heads == ALL

    def in_hf(self, head: str) -> bool:
        return head in (self.heads if self.hf_heads is None else self.hf_heads)


_H, _I, _L = "hidden_size", "intermediate_size", "num_labels"
#: Heads whose classifier has one output per label (``num_labels``, named by ``id2label``).
LABELLED_HEADS = frozenset({SEQUENCE, TOKEN})
_CLASSIFIERS = LABELLED_HEADS

_UIE, _CHOICE, _QA, _PRETRAIN = frozenset({UIE}), frozenset({CHOICE}), frozenset({QA}), frozenset({PRETRAIN})
#: transformers builds token classification and QA without a pooler
_POOLED = ALL - {TOKEN, QA}
_NO_HF = frozenset()

TENSORS: Tuple[Row, ...] = (
    Row("embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight", COPY, ("vocab_size", _H)),
    Row("embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight", COPY,
        ("max_position_embeddings", _H)),
    Row("embeddings.layer_norm.weight", "embeddings.layer_norm.weight", COPY, (_H,)),
    Row("embeddings.layer_norm.bias", "embeddings.layer_norm.bias", COPY, (_H,)),
    # transformers nests the projections one level deeper: self_attn.self_attn.{q,k,v}_proj
    Row("encoder.layers.{i}.self_attn.q_proj.weight", "encoder.layers.{i}.self_attn.self_attn.q_proj.weight",
        TRANSPOSE, (_H, _H)),
    Row("encoder.layers.{i}.self_attn.q_proj.bias", "encoder.layers.{i}.self_attn.self_attn.q_proj.bias", COPY, (_H,)),
    Row("encoder.layers.{i}.self_attn.k_proj.weight", "encoder.layers.{i}.self_attn.self_attn.k_proj.weight",
        TRANSPOSE, (_H, _H)),
    Row("encoder.layers.{i}.self_attn.k_proj.bias", "encoder.layers.{i}.self_attn.self_attn.k_proj.bias", COPY, (_H,)),
    Row("encoder.layers.{i}.self_attn.v_proj.weight", "encoder.layers.{i}.self_attn.self_attn.v_proj.weight",
        TRANSPOSE, (_H, _H)),
    Row("encoder.layers.{i}.self_attn.v_proj.bias", "encoder.layers.{i}.self_attn.self_attn.v_proj.bias", COPY, (_H,)),
    Row("encoder.layers.{i}.self_attn.out_proj.weight", "encoder.layers.{i}.self_attn.out_proj.weight",
        TRANSPOSE, (_H, _H)),
    Row("encoder.layers.{i}.self_attn.out_proj.bias", "encoder.layers.{i}.self_attn.out_proj.bias", COPY, (_H,)),
    Row("encoder.layers.{i}.linear1.weight", "encoder.layers.{i}.linear1.weight", TRANSPOSE, (_H, _I)),
    Row("encoder.layers.{i}.linear1.bias", "encoder.layers.{i}.linear1.bias", COPY, (_I,)),
    Row("encoder.layers.{i}.linear2.weight", "encoder.layers.{i}.linear2.weight", TRANSPOSE, (_I, _H)),
    Row("encoder.layers.{i}.linear2.bias", "encoder.layers.{i}.linear2.bias", COPY, (_H,)),
    Row("encoder.layers.{i}.norm1.weight", "encoder.layers.{i}.norm1.weight", COPY, (_H,)),
    Row("encoder.layers.{i}.norm1.bias", "encoder.layers.{i}.norm1.bias", COPY, (_H,)),
    Row("encoder.layers.{i}.norm2.weight", "encoder.layers.{i}.norm2.weight", COPY, (_H,)),
    Row("encoder.layers.{i}.norm2.bias", "encoder.layers.{i}.norm2.bias", COPY, (_H,)),
    Row("pooler.dense.weight", "pooler.dense.weight", TRANSPOSE, (_H, _H), hf_heads=_POOLED),
    Row("pooler.dense.bias", "pooler.dense.bias", COPY, (_H,), hf_heads=_POOLED),
    # heads
    Row("classifier.weight", "classifier.weight", TRANSPOSE, (_H, _L), _CLASSIFIERS),
    Row("classifier.bias", "classifier.bias", COPY, (_L,), _CLASSIFIERS),
    Row("classifier.weight", "classifier.weight", TRANSPOSE, (_H, 1), _CHOICE),
    Row("classifier.bias", "classifier.bias", COPY, (1,), _CHOICE),
    Row("classifier.weight", "qa_outputs.weight", TRANSPOSE, (_H, 2), _QA),
    Row("classifier.bias", "qa_outputs.bias", COPY, (2,), _QA),
    Row("linear_start.weight", "linear_start.weight", TRANSPOSE, (_H, 1), _UIE),
    Row("linear_start.bias", "linear_start.bias", COPY, (1,), _UIE),
    Row("linear_end.weight", "linear_end.weight", TRANSPOSE, (_H, 1), _UIE),
    Row("linear_end.bias", "linear_end.bias", COPY, (1,), _UIE),
    # the masked-LM head of pretraining (its decoder is the word embedding matrix): no transformers counterpart
    Row("lm_head.dense.weight", "lm_head.dense.weight", TRANSPOSE, (_H, _H), _PRETRAIN, hf_heads=_NO_HF),
    Row("lm_head.dense.bias", "lm_head.dense.bias", COPY, (_H,), _PRETRAIN, hf_heads=_NO_HF),
    Row("lm_head.layer_norm.weight", "lm_head.layer_norm.weight", COPY, (_H,), _PRETRAIN, hf_heads=_NO_HF),
    Row("lm_head.layer_norm.bias", "lm_head.layer_norm.bias", COPY, (_H,), _PRETRAIN, hf_heads=_NO_HF),
    Row("lm_head.bias", "lm_head.bias", COPY, ("vocab_size",), _PRETRAIN, hf_heads=_NO_HF),
)

PADDLE, HF = "paddle", "hf"

#: First name component of every head's own tensors (``classifier.``, ``linear_start.``, ...), from the table.
HEAD_PREFIXES = tuple(sorted({row.paddle.split(".", 1)[0] + "." for row in TENSORS if not row.base}))


@dataclass(frozen=True)
class Step:
    """What to do for one output tensor: ``source`` is None when the tensor is created (initialised)."""

    source: Optional[str]
    target: str
    transform: str
    shape: Tuple[int, ...]  # shape of the output tensor


@dataclass(frozen=True)
class Plan:
    steps: Tuple[Step, ...]
    dropped: Tuple[str, ...]  # input tensors deliberately not carried over (absent from the target class)
    ignored: Tuple[str, ...]  # legacy buffers skipped


def expand(head: str, num_layers: int) -> Iterator[Tuple[Row, str, str]]:
    """``(row, paddle name, hf name)`` for every tensor of ``head`` (both sides, before dropping)."""
    prefix = "" if head == BASE else PREFIX
    hf_prefix = "" if head in HF_AS_BASE else prefix
    for row in TENSORS:
        if head not in row.heads:
            continue
        for i in range(num_layers) if "{i}" in row.paddle else (None,):
            p, h = (row.paddle, row.hf) if i is None else (row.paddle.format(i=i), row.hf.format(i=i))
            yield row, (prefix + p if row.base else p), (hf_prefix + h if row.base else h)


def paddle_shape(row: Row, dims: Mapping[str, int]) -> Tuple[int, ...]:
    return tuple(d if isinstance(d, int) else int(dims[d]) for d in row.shape)


def _side_shape(row: Row, dims: Mapping[str, int], side: str) -> Tuple[int, ...]:
    shape = paddle_shape(row, dims)
    return shape[::-1] if side == HF and row.transform == TRANSPOSE else shape


def normalise_names(names: Sequence[str], head: str) -> Dict[str, str]:
    """Map input names onto the layout ``head`` expects: bare-model keys may carry ``ernie_m.`` or not."""
    if head == BASE:
        return {n: n[len(PREFIX):] if n.startswith(PREFIX) else n for n in names}
    base_roots = ("embeddings.", "encoder.", "pooler.")
    return {n: PREFIX + n if n.startswith(base_roots) else n for n in names}


def plan(shapes: Mapping[str, Sequence[int]], head: str, dims: Mapping[str, int], source: str,
         where: str = "checkpoint") -> Plan:
    """Check ``shapes`` (input name -> shape, ``source`` side) against the table and say how to convert.

    Unknown tensors, missing tensors and shape mismatches are :class:`ConversionError`s naming the tensor.
    Tensors absent from the target class are dropped; tensors absent from the source class are created.
    """
    if head not in HEADS:
        raise ConversionError(f"unsupported architecture {head!r}; supported: {', '.join(HEADS)}")
    if head in HF_AS_BASE and source == HF:
        raise ConversionError(f"{where}: transformers has no {head}; convert its ErnieMModel and load it with "
                              f"paddle_ernie_m.{head}.from_pretrained, which initialises the head")
    target = HF if source == PADDLE else PADDLE
    renamed = normalise_names(list(shapes), head)
    by_name = {renamed[n]: n for n in shapes}
    ignored = tuple(n for n in shapes if any(p.match(n) for p in IGNORED))
    steps: List[Step] = []
    dropped: List[str] = []
    used = set(ignored)
    for row, p_name, h_name in expand(head, int(dims["num_hidden_layers"])):
        src_name, dst_name = (p_name, h_name) if source == PADDLE else (h_name, p_name)
        in_source = source == PADDLE or row.in_hf(head)
        in_target = target == PADDLE or row.in_hf(head)
        expected = _side_shape(row, dims, source)
        if not in_source:
            steps.append(Step(None, dst_name, row.transform, _side_shape(row, dims, target)))
            continue
        original = by_name.get(src_name)
        if original is None:
            raise ConversionError(f"{where}: tensor '{src_name}' is missing for {head}")
        used.add(original)
        actual = tuple(int(d) for d in shapes[original])
        if actual != expected:
            fields = ", ".join(f"{d}={dims[d]}" for d in row.shape if isinstance(d, str))
            raise ConversionError(f"{where}: tensor '{original}' has shape {list(actual)}, expected "
                                  f"{list(expected)} for {head} ({fields})")
        if in_target:
            steps.append(Step(original, dst_name, row.transform, _side_shape(row, dims, target)))
        else:
            dropped.append(original)
    unknown = [n for n in shapes if n not in used]
    if unknown:
        raise ConversionError(f"{where}: unknown tensor '{unknown[0]}' for {head} with "
                              f"{dims['num_hidden_layers']} layers")
    return Plan(tuple(steps), tuple(dropped), ignored)


def fitting_heads(names: Sequence[str], source: str) -> List[str]:
    """The heads whose tensors are exactly ``names`` (ignoring layers and legacy buffers)."""
    present = {_layer_key(n) for n in names if not any(p.match(n) for p in IGNORED)}
    # transformers writes the heads it has no class for as its bare model, whose tensors they share
    heads = [h for h in HEADS if source == PADDLE or h not in HF_AS_BASE]
    return [head for head in heads if present == _head_keys(head, source)]


def unknown_tensors(names: Sequence[str], source: str) -> List[str]:
    """The ``names`` that belong to no head in ``source``'s layout (e.g. a BERT tensor, or the other layout's)."""
    known = set().union(*(_head_keys(head, source) for head in HEADS))
    return [n for n in names if _layer_key(n) not in known and not any(p.match(n) for p in IGNORED)]


def first_unknown_tensor(names: Sequence[str], source: str) -> Optional[str]:
    """The first of ``names`` that belongs to no head (e.g. a BERT tensor), or None."""
    return next(iter(unknown_tensors(names, source)), None)


def _layer_key(name: str) -> str:
    return re.sub(r"\.layers\.\d+\.", ".layers.{i}.", name[len(PREFIX):] if name.startswith(PREFIX) else name)


def _head_keys(head: str, source: str) -> Set[str]:
    return {r.paddle if source == PADDLE else r.hf for r in TENSORS
            if head in r.heads and (source == PADDLE or r.in_hf(head))}


def infer_intermediate_size(shapes: Mapping[str, Sequence[int]], source: str) -> Optional[int]:
    """The FFN width from ``linear1``'s weight (PaddleNLP ignores the config field and builds 4 * hidden)."""
    for name, shape in shapes.items():
        if name.endswith("encoder.layers.0.linear1.weight") and len(shape) == 2:
            return int(shape[1] if source == PADDLE else shape[0])
    return None
