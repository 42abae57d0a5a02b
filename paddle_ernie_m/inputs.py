"""Range checks of token and position ids, shared by the dygraph model and the Paddle Inference predictor, and the
check that what a model returns is finite.

An embedding lookup outside its table does not fail in Paddle: it reads whatever lies next to the table (NaN one
run, other values the next) or, on a GPU, may fault. Both entry points therefore refuse such ids with the same
message, which names the first offending value and where it is. Framework-neutral: numpy only.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from converters.configuration import POSITION_OFFSET, ErnieMConfig


def check_sequence_length(seq_len: int, config: ErnieMConfig) -> None:
    """Refuse sequences longer than the position table when the default positions ``0..seq_len-1`` are used."""
    limit = config.max_text_positions
    if seq_len > limit:
        raise ValueError(f"sequences of {seq_len} tokens exceed the model's {limit} positions "
                         f"(max_position_embeddings - {POSITION_OFFSET}); truncate them")


def range_error(name: str, values: np.ndarray, upper: int, bound: str) -> ValueError:
    """The error for ``values`` that are not all in ``[0, upper)``: the first offending value, its index
    (``(row, column)`` for ``[batch, seq]`` inputs) and how many lie outside. ``bound`` says where ``upper``
    comes from (e.g. ``"vocab_size"``)."""
    outside = (values < 0) | (values >= upper)
    where = np.argwhere(outside)
    index = tuple(int(i) for i in where[0])
    return ValueError(f"{name}{_index(index)} is {int(values[index])}, outside [0, {upper}) ({bound}); "
                      f"{len(where)} of {values.size} values are out of range")


def check_range(name: str, values: np.ndarray, upper: int, bound: str) -> None:
    """Raise :func:`range_error` unless every value lies in ``[0, upper)``."""
    if values.size and (values.min() < 0 or values.max() >= upper):
        raise range_error(name, values, upper, bound)


def check_ids(input_ids: np.ndarray, config: ErnieMConfig) -> None:
    check_range("input_ids", input_ids, config.vocab_size, "vocab_size")


def check_positions(position_ids: np.ndarray, config: ErnieMConfig) -> None:
    check_range("position_ids", position_ids, config.max_text_positions, POSITION_BOUND)


#: Where the upper bound of ``position_ids`` comes from, as the messages say it.
POSITION_BOUND = f"max_position_embeddings - {POSITION_OFFSET}"


def _index(index: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


class NonFiniteOutputError(ValueError):
    """The model returned NaN or infinity (weights holding NaN or infinity, an fp16 overflow): its answers are
    meaningless, so they are refused instead of printed (``NaN`` is not even valid JSON)."""


def non_finite_rows(values: np.ndarray) -> List[int]:
    """The indices of the rows (first axis) of ``values`` that hold NaN or infinity."""
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    return [int(i) for i in np.flatnonzero(~finite)]


def describe_rows(rows: Sequence[int], names: Sequence[str], shown: int = 3) -> str:
    """``"text 1, text 4 and 2 more"``: the first ``shown`` of ``rows`` by their ``names``."""
    listed = ", ".join(names[i] for i in rows[:shown])
    return listed + (f" and {len(rows) - shown} more" if len(rows) > shown else "")


#: The longest text ``predict`` and ``extract`` take (characters). The extractor splits a long text into
#: model-sized pieces, but the text, its tokens and their offsets are held whole; above this size a text is refused
#: (split it into several lines) instead of growing memory without bound (docs/safety.md).
MAX_TEXT_CHARS = 1_000_000


def check_text(text: str, where: str) -> None:
    """Refuse a text above :data:`MAX_TEXT_CHARS` or holding a lone surrogate (which no UTF-8 output can carry),
    naming ``where`` (``"input.jsonl:7"``, ``"text 3"``)."""
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"{where}: a text of {len(text):,} characters, above the limit of {MAX_TEXT_CHARS:,}; split "
                         f"it into several texts")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: the text contains a lone surrogate {text[exc.start]!r} at position "
                         f"{exc.start}") from None
