"""JSON read with limits: nesting depth and number length are checked before :func:`json.loads` runs, so that a
hostile document is one :class:`JSONLimitError` naming where it breaks the limit (``texts[0][0]...``), never a
``RecursionError`` (Python's parser recurses once per level) or a ``ValueError`` from an integer longer than
``sys.get_int_max_str_digits()``.

A document with fewer brackets than ``max_depth`` and no long run of digits passes at once (two ``str.count`` and
one regular expression); otherwise strings are stripped with a regular expression and the depth is a NumPy cumulative
sum over the brackets left, so a document within the limits costs about one extra pass at C speed. Only a document
that breaks a limit is walked token by token, to name the place. NumPy and the standard library only.
"""
from __future__ import annotations

import json
import re
from typing import Any, List, Optional, Union

import numpy as np

#: Deeper than any configuration, schema or request body this project reads.
MAX_DEPTH = 64
#: Characters of one number: a float64 needs at most 24, an int64 20.
MAX_NUMBER_CHARS = 64

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]|[-+0-9.eE]+', re.DOTALL)


class JSONLimitError(ValueError):
    """A document nested deeper than allowed or holding a number too long; ``path`` names the place, and the
    message starts with the document's ``source`` when one was given."""

    def __init__(self, path: str, message: str, source: Optional[str] = None) -> None:
        where = ": ".join(part for part in (source, path) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path


def loads(text: Union[str, bytes], source: Optional[str] = None, max_depth: int = MAX_DEPTH,
          max_number_chars: int = MAX_NUMBER_CHARS) -> Any:
    """:func:`json.loads` of ``text`` after :func:`check_limits`; malformed JSON raises ``json.JSONDecodeError``
    as usual. ``source`` (a file name, an option) starts the message of a :class:`JSONLimitError`."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    check_limits(text, max_depth, max_number_chars, source)
    return json.loads(text)


def check_limits(text: str, max_depth: int = MAX_DEPTH, max_number_chars: int = MAX_NUMBER_CHARS,
                 source: Optional[str] = None) -> None:
    """Raise :class:`JSONLimitError` when ``text`` nests containers deeper than ``max_depth`` or holds a number of
    more than ``max_number_chars`` characters."""
    long_number = re.compile(r"[-+0-9.eE]{%d,}" % (max_number_chars + 1))
    if text.count("[") + text.count("{") <= max_depth and not long_number.search(text):
        return
    outside = _STRING.sub('""', text)
    chars = np.frombuffer(outside.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = ((chars == ord("[")) | (chars == ord("{"))).astype(np.int32) \
        - ((chars == ord("]")) | (chars == ord("}"))).astype(np.int32)
    depth = int(np.cumsum(steps).max()) if steps.size else 0
    if depth > max_depth or long_number.search(outside):
        _name_the_place(text, max_depth, max_number_chars, depth, source)


def _name_the_place(text: str, max_depth: int, max_number_chars: int, depth: int, source: Optional[str]) -> None:
    """Walk the tokens of ``text`` keeping the path (object keys and list indices) and raise at the first place
    that breaks a limit."""
    frames: List[list] = []  # [kind, key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        token = match.group()
        head = token[0]
        if head in "[{":
            if len(frames) >= max_depth:
                raise JSONLimitError(_path(frames), f"nested deeper than the limit of {max_depth} levels "
                                                    f"({depth} deep)", source)
            frames.append(["[", 0, False] if head == "[" else ["{", None, True])
        elif head in "]}":
            if frames:
                frames.pop()
        elif head == ",":
            if frames and frames[-1][0] == "[":
                frames[-1][1] += 1
            elif frames:
                frames[-1][2] = True
        elif head == '"':
            if frames and frames[-1][0] == "{" and frames[-1][2]:
                frames[-1][1] = _key(token)
                frames[-1][2] = False
        elif len(token) > max_number_chars:
            raise JSONLimitError(_path(frames),
                                 f"a number of {len(token)} characters, more than the limit of {max_number_chars}",
                                 source)
    # not reached for well-formed JSON (the fast check and the walk agree)
    raise JSONLimitError("", f"nested deeper than the limit of {max_depth} levels or a number of more than "
                             f"{max_number_chars} characters", source)


def _key(token: str) -> Optional[str]:
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1]


def _path(frames: List[list], limit: int = 8) -> str:
    """``texts[0][0]``-style path of the open containers (the first ``limit`` levels, then ``...``)."""
    parts = []
    for kind, key, _ in frames[:limit]:
        if kind == "[":
            parts.append(f"[{key}]")
        elif key is not None:
            parts.append(f".{key}" if parts else str(key))
    path = "".join(parts)
    return path + "..." if len(frames) > limit else path
