"""Request bodies: JSON parsing and validation, each failure a :class:`BodyError` with its status code and a
message that names the field.

Two shapes per task: PaddleNLP SimpleServing's ``{"data": {"text": str | [str]}, "parameters": {...}}`` (unknown
top-level keys refused, as its pydantic model does; ``data`` null or without ``text`` answers an empty result, as its
handler does; of the parameters, ``schema`` is honoured for UIE, as there), and the native ``{"texts": [...],
"schema": ..., "schema_lang": ...}`` (``/v1/extract``) or ``{"texts": [...]}`` (``/v1/classify``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Hashable, List, Optional, Sequence

from ..uie.schema import SCHEMA_LANGS, SchemaError, SchemaNode, build_schema
from .settings import ServeSettings


class BodyError(Exception):
    """A request the service refuses: ``status`` (400, 413, 422) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Call:
    """What one request asks the model: ``texts``, and for UIE the schema as ``context`` (root nodes and schema
    language); requests with equal ``key`` run in one batch."""

    texts: List[str]
    key: Hashable = None
    context: Any = None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body: not UTF-8 (byte {exc.start})") from None
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
    return value


def uie_schema(schema: Any, schema_lang: str, field: str = "schema") -> Call:
    """The batch key and context of a UIE schema (a :class:`Call` without texts)."""
    if schema is None:
        raise BodyError(422, f"{field}: required (this service was started without --schema)")
    try:
        nodes: List[SchemaNode] = build_schema(schema)
    except SchemaError as exc:
        message = str(exc)
        raise BodyError(422, message if message.startswith(field) else f"{field}: {message}") from None
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
    schema = uie_schema(body.get("schema", settings.schema), lang)
    return Call(texts, schema.key, schema.context)


def classify_call(payload: Any, settings: ServeSettings) -> Call:
    """``POST /v1/classify``: ``{"texts": [...]}``."""
    body = _object(payload, ("texts",))
    if "texts" not in body:
        raise BodyError(422, "texts: required")
    return Call(check_texts(body["texts"], "texts", settings))


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
        return Call(texts)
    schema = uie_schema(parameters.get("schema", settings.schema), settings.schema_lang, "parameters.schema")
    return Call(texts, schema.key, schema.context)


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
