"""JSON from files and arguments, read with a nesting limit: too deep a document is one clear error, never a
``RecursionError`` traceback.

Python's ``json`` recurses once per nested list or object, so a document nested about a thousand deep (``[[[[...``)
raises ``RecursionError`` from deep inside the parser. :func:`loads` measures the nesting first, with two regular
expressions and a running sum (C speed: a 100 MB document in about a second), and refuses a document nested deeper
than :data:`MAX_DEPTH`, or with an integer of more digits than Python converts, as a ``ValueError`` (a
:class:`JSONDepthError`, or ``json.JSONDecodeError`` for malformed JSON) that names ``source``.
"""
from __future__ import annotations

import json
import re
from typing import Any, Union

import numpy as np

#: The deepest nesting of lists and objects accepted. ERNIE-M's files nest at most 4 deep (a config's id2label, a
#: UIE schema of relations of events); 64 leaves room for any real schema and stays far below Python's recursion
#: limit.
MAX_DEPTH = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JSONDepthError(ValueError):
    """A JSON document nested deeper than the limit; the message names where it came from."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in the JSON ``text`` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int64)
    return int(np.cumsum(steps).max())


def loads(text: Union[str, bytes], source: str = "JSON", max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)`` after checking its nesting (:func:`nesting_depth`) against ``max_depth``.

    Raises :class:`JSONDepthError` (``"<source>: JSON nested N deep, deeper than the limit of 64"``),
    ``json.JSONDecodeError`` for malformed JSON, or ``ValueError`` naming ``source`` for an integer too long to
    convert."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    depth = nesting_depth(text) if text.count("[") + text.count("{") > max_depth else 0
    if depth > max_depth:
        raise JSONDepthError(f"{source}: JSON nested {depth} deep, deeper than the limit of {max_depth}")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise ValueError(f"{source}: unreadable JSON ({exc})") from None
