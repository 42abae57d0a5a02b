"""Range checks of token and position ids, shared by the dygraph model and the Paddle Inference predictor.

An embedding lookup outside its table does not fail in Paddle: it reads whatever lies next to the table (NaN one
run, other values the next) or, on a GPU, may fault. Both entry points therefore refuse such ids with the same
message, which names the first offending value and where it is. Framework-neutral: numpy only.
"""
from __future__ import annotations

from typing import Sequence

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
