"""Request bodies: JSON parsing and validation, each failure a :class:`BodyError` with its status code and a
message that names the field.

Two shapes per task: PaddleNLP SimpleServing's ``{"data": {"text": str | [str]}, "parameters": {...}}`` (unknown
top-level keys refused, as its pydantic model does; ``data`` null or without ``text`` answers an empty result, as its
handler does; of the parameters, ``schema`` is honoured for UIE, as there), and the native ``{"texts": [...],
"schema": ..., "schema_lang": ...}`` (``/v1/extract``) or ``{"texts": [...]}`` (``/v1/classify``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Hashable, List, Optional, Sequence

from converters.safe_json import JSONLimitError, check_limits

from ..uie.decoding import MAX_CHILD_PROMPTS
from ..uie.schema import SCHEMA_LANGS, SchemaError, SchemaNode, build_schema, dbc2sbc
from .settings import ServeSettings

#: Deepest nesting of a request body (a schema of ``--max-schema-depth`` levels needs about twice that plus two).
MAX_BODY_DEPTH = 32
#: Longest number in a request body, in characters (no field of a request is a number).
MAX_NUMBER_CHARS = 32
#: Tokens per model input of the UIE-M extractor the service runs (its ``max_seq_len``).
UIE_MAX_SEQ_LEN = 512


class BodyError(Exception):
    """A request the service refuses: ``status`` (400, 413, 422) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Call:
    """What one request asks the model: ``texts``, and for UIE the schema as ``context`` (root nodes and schema
    language); requests with equal ``key`` run in one batch. ``cost``: its model inputs (:func:`model_rows`; the
    number of texts for a classifier)."""

    texts: List[str]
    key: Hashable = None
    context: Any = None
    cost: int = 0


def parse_json(body: bytes) -> Any:
    """The JSON of ``body``; 400 when it is not UTF-8, not JSON, nested more than :data:`MAX_BODY_DEPTH` levels or
    holds a number of more than :data:`MAX_NUMBER_CHARS` characters (the message names the field)."""
    try:
        text = body.decode("utf-8")
        check_limits(text, MAX_BODY_DEPTH, MAX_NUMBER_CHARS)
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body: not UTF-8 (byte {exc.start})") from None
    except JSONLimitError as exc:
        raise BodyError(400, f"body: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"body: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _object(payload: Any, allowed: Sequence[str], where: str = "body") -> dict:
    if not isinstance(payload, dict):
        raise BodyError(422, f"{where}: expected a JSON object, got {_type(payload)}")
    unknown = [key for key in payload if key not in allowed]
    if unknown:
        raise BodyError(422, f"{where}: unknown field {unknown[0]!r} (expected {', '.join(allowed)})")
    return payload


def check_texts(value: Any, field: str, settings: ServeSettings, string_allowed: bool = False) -> List[str]:
    """``value`` as a non-empty list of at most ``max_texts`` strings of at most ``max_chars`` characters each."""
    if string_allowed and isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        expected = "a string or a list of strings" if string_allowed else "a list of strings"
        raise BodyError(422, f"{field}: expected {expected}, got {_type(value)}")
    if not value:
        raise BodyError(422, f"{field}: empty list; give at least one text")
    if len(value) > settings.max_texts:
        raise BodyError(422, f"{field}: {len(value)} texts, more than this service's limit of {settings.max_texts} "
                             f"per request (--max-texts)")
    for index, text in enumerate(value):
        if not isinstance(text, str):
            raise BodyError(422, f"{field}[{index}]: expected a string, got {_type(text)}")
        if len(text) > settings.max_chars:
            raise BodyError(422, f"{field}[{index}]: {len(text)} characters, more than this service's limit of "
                                 f"{settings.max_chars} (--max-chars)")
        _check_unicode(text, f"{field}[{index}]")
    return value


def _check_unicode(text: str, field: str) -> None:
    """422 for a lone surrogate (a ``"\\udfff"`` escape): no tokenizer can encode it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BodyError(422, f"{field}: a lone surrogate {text[exc.start]!r} at position {exc.start}; send "
                             f"valid Unicode text") from None


def _check_schema_size(nodes: List[SchemaNode], field: str, settings: ServeSettings) -> None:
    """422 for a schema of more than ``max_labels`` labels or ``max_schema_depth`` levels, a label with a lone
    surrogate, or a label whose prompt alone leaves no room for text in a model input (each named by its path, as
    :func:`~paddle_ernie_m.uie.schema.build_schema` names them)."""
    labels = 0
    stack = [(node, f"{field}[{index}]", 1) for index, node in enumerate(nodes)]
    while stack:
        node, where, depth = stack.pop()
        labels += 1
        if labels > settings.max_labels:
            raise BodyError(422, f"{field}: more than this service's limit of {settings.max_labels} labels "
                                 f"(--max-labels)")
        if depth > settings.max_schema_depth:
            raise BodyError(422, f"{where}: nested {depth} levels deep, more than this service's limit of "
                                 f"{settings.max_schema_depth} (--max-schema-depth)")
        _check_unicode(node.name, where)
        # the shortest prompt of a label: itself (first level), or with a parent span of one character
        shortest = len(dbc2sbc(node.name)) + (0 if depth == 1 else 2)
        if UIE_MAX_SEQ_LEN - shortest - 3 <= 0:
            raise BodyError(422, f"{where}: label of {len(node.name)} characters leaves no room for text within "
                                 f"max_seq_len={UIE_MAX_SEQ_LEN}")
        stack.extend((child, f"{where}[{node.name!r}][{index}]", depth + 1)
                     for index, child in enumerate(node.children))


def model_rows(nodes: List[SchemaNode], texts: List[str]) -> int:
    """The cost of a UIE request, as ``--max-model-rows`` counts it: the most model inputs it can ask for, labels x
    texts x pieces with each child label counted :data:`~paddle_ernie_m.uie.decoding.MAX_CHILD_PROMPTS` (64) times,
    since the extractor asks it about each of up to that many spans its parent finds in a text. A text is cut into
    pieces of ``max_seq_len`` minus the longest first-level prompt minus 3 characters, as the extractor cuts it."""
    weight, stack = 0, [(node, 1) for node in nodes]
    while stack:
        node, times = stack.pop()
        weight += times
        stack.extend((child, MAX_CHILD_PROMPTS) for child in node.children)
    piece = max(1, UIE_MAX_SEQ_LEN - max(len(dbc2sbc(node.name)) for node in nodes) - 3)
    return weight * sum(max(1, math.ceil(len(text) / piece)) for text in texts)


def check_cost(nodes: List[SchemaNode], texts: List[str], field: str, settings: ServeSettings) -> int:
    """:func:`model_rows` of the request; 422 when it passes ``max_model_rows``: refused before any model work."""
    rows = model_rows(nodes, texts)
    if rows > settings.max_model_rows:
        raise BodyError(422, f"{field}: up to {rows} model inputs (labels x texts x pieces of {UIE_MAX_SEQ_LEN} "
                             f"tokens, a child label {MAX_CHILD_PROMPTS} times), more than this service's limit of "
                             f"{settings.max_model_rows} per request (--max-model-rows); send fewer texts or labels")
    return rows


def uie_schema(schema: Any, schema_lang: str, settings: ServeSettings, field: str = "schema") -> Call:
    """The batch key and context of a UIE schema (a :class:`Call` without texts)."""
    if schema is None:
        raise BodyError(422, f"{field}: required (this service was started without --schema)")
    try:
        nodes: List[SchemaNode] = build_schema(schema)
    except SchemaError as exc:
        message = str(exc)
        raise BodyError(422, message if message.startswith(field) else f"{field}: {message}") from None
    _check_schema_size(nodes, field, settings)
    plain = json.dumps([node.to_schema() for node in nodes], ensure_ascii=False)
    return Call([], (plain, schema_lang), (nodes, schema_lang))


def extract_call(payload: Any, settings: ServeSettings) -> Call:
    """``POST /v1/extract``: ``{"texts": [...], "schema"?: ..., "schema_lang"?: "ch" | "en"}``."""
    body = _object(payload, ("texts", "schema", "schema_lang"))
    if "texts" not in body:
        raise BodyError(422, "texts: required")
    texts = check_texts(body["texts"], "texts", settings)
    lang = body.get("schema_lang", settings.schema_lang)
    if lang not in SCHEMA_LANGS:
        raise BodyError(422, f"schema_lang: expected one of {', '.join(SCHEMA_LANGS)}, got {lang!r}")
    schema = uie_schema(body.get("schema", settings.schema), lang, settings)
    return Call(texts, schema.key, schema.context, check_cost(schema.context[0], texts, "texts", settings))


def classify_call(payload: Any, settings: ServeSettings) -> Call:
    """``POST /v1/classify``: ``{"texts": [...]}``."""
    body = _object(payload, ("texts",))
    if "texts" not in body:
        raise BodyError(422, "texts: required")
    texts = check_texts(body["texts"], "texts", settings)
    return Call(texts, cost=len(texts))


def taskflow_call(payload: Any, settings: ServeSettings, task: str) -> Optional[Call]:
    """SimpleServing's body; None where its handler answers an empty result (``data`` null or without
    ``text``)."""
    body = _object(payload, ("data", "parameters"))
    if "data" not in body:
        raise BodyError(422, "data: required")
    parameters = body.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise BodyError(422, f"parameters: expected a JSON object, got {_type(parameters)}")
    data = body["data"]
    if data is None:
        return None
    if not isinstance(data, dict):
        raise BodyError(422, f"data: expected a JSON object with a 'text', got {_type(data)}")
    if "text" not in data:
        return None
    texts = check_texts(data["text"], "data.text", settings, string_allowed=True)
    if task != "uie":
        return Call(texts, cost=len(texts))
    schema = uie_schema(parameters.get("schema", settings.schema), settings.schema_lang, settings,
                        "parameters.schema")
    return Call(texts, schema.key, schema.context, check_cost(schema.context[0], texts, "data.text", settings))


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
