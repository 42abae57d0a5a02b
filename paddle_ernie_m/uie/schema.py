"""UIE schemas: the tree of labels a user asks for, and the prompts built from it (as PaddleNLP's Taskflow does).

A schema is a label (``"人物"``), a dict ``{label: child or [children]}`` or a list of those, nested to any
depth. Children are asked about each span found for their parent: in Chinese the child prompt is
``"<parent span>的<child>"``; in English it is ``"<child> of <parent span>"``, and a classification label
``"Sentiment classification [negative, positive]"`` becomes ``"Sentiment classification of <span> [negative,
positive]"``. A label ending in ``[a, b, ...]`` is a classification prompt: the model points at one of the options
inside the prompt. Every prompt is passed through :func:`dbc2sbc` before tokenisation.

This module imports neither Paddle nor numpy.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, List

SCHEMA_LANGS = ("ch", "en")

#: A classification label ends with ``[option, option, ...]``.
_OPTIONS = re.compile(r"\[.*?\]$")


class SchemaError(ValueError):
    """A schema that cannot be turned into prompts; the message says where and why."""


@dataclass
class SchemaNode:
    """One label of the schema and the labels asked about each of its spans."""

    name: str
    children: List["SchemaNode"] = field(default_factory=list)

    def to_schema(self) -> Any:
        """The plain schema value this node was built from (a label, or ``{label: [children]}``)."""
        if not self.children:
            return self.name
        return {self.name: [child.to_schema() for child in self.children]}


def build_schema(schema: Any) -> List[SchemaNode]:
    """Parse a schema (label, dict or list of those) into root nodes, in the order given.

    Raises :class:`SchemaError` for an empty schema, an empty label, a value that is neither a label, a dict nor
    a list, a list directly inside a list, and for two siblings with the same label (Taskflow would run both and
    mix their results; merge them into one entry instead).
    """
    if isinstance(schema, (str, dict)):
        schema = [schema]
    if not isinstance(schema, (list, tuple)):
        raise SchemaError(f"a schema must be a label, a dict or a list of those, got {type(schema).__name__}")
    if not schema:
        raise SchemaError("the schema is empty: give at least one label")
    return _build_children(schema, path="schema")


def _build_children(items: Any, path: str) -> List[SchemaNode]:
    nodes: List[SchemaNode] = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]"
        if isinstance(item, str):
            nodes.append(SchemaNode(_check_label(item, where)))
        elif isinstance(item, dict):
            if not item:
                raise SchemaError(f"{where}: an empty dict; write {{label: [child, ...]}}")
            for key, value in item.items():
                if not isinstance(key, str):
                    raise SchemaError(f"{where}: keys must be labels (strings), got {key!r}")
                label = _check_label(key, where)
                if isinstance(value, (str, dict)):
                    value = [value]
                elif not isinstance(value, (list, tuple)):
                    raise SchemaError(f"{where}[{key!r}]: the children of a label must be a label, a dict or a "
                                      f"list of those, got {type(value).__name__}")
                if not value:
                    raise SchemaError(f"{where}[{key!r}]: no children; write the label alone instead")
                nodes.append(SchemaNode(label, _build_children(value, f"{where}[{key!r}]")))
        else:
            raise SchemaError(f"{where}: expected a label (string) or a dict, got {type(item).__name__} {item!r}")
    names = [node.name for node in nodes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SchemaError(f"{path}: label(s) {', '.join(map(repr, duplicates))} given more than once at the same "
                          "level; merge their children into one entry")
    return nodes


def _check_label(label: str, where: str) -> str:
    if not label.strip():
        raise SchemaError(f"{where}: empty label {label!r}")
    return label


def dbc2sbc(text: str) -> str:
    """Full-width ASCII variants (U+FF01-U+FF5E, the tilde included) to their ASCII forms, as PaddleNLP's
    ``dbc2sbc`` does for prompts. The ideographic space U+3000 is kept, as there (its half-width form, a space,
    falls outside the converted range)."""
    return "".join(chr(ord(ch) - 0xFEE0) if 0xFF01 <= ord(ch) <= 0xFF5E else ch for ch in text)


def root_prompt(node: SchemaNode) -> str:
    """The prompt of a first-level label."""
    return dbc2sbc(node.name)


def child_prompt(node: SchemaNode, parent_text: str, schema_lang: str) -> str:
    """The prompt that asks for ``node`` about the parent span ``parent_text``."""
    if schema_lang == "en":
        options = _OPTIONS.search(node.name)
        if options:
            prefix = node.name[: node.name.find("[", 1)].strip()
            prompt = f"{prefix} of {parent_text} {options.group()}"
        else:
            prompt = f"{node.name} of {parent_text}"
    else:
        prompt = f"{parent_text}的{node.name}"
    return dbc2sbc(prompt)


def check_schema_lang(schema_lang: str) -> str:
    if schema_lang not in SCHEMA_LANGS:
        raise ValueError(f"schema_lang must be one of {', '.join(SCHEMA_LANGS)}, got {schema_lang!r}")
    return schema_lang
