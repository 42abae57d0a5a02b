"""The predictor for ERNIE-M exports, set up for the device without the caller knowing how: Paddle Inference for
``--format paddle`` exports (:mod:`~paddle_ernie_m.engines.paddle_engine`), ONNX Runtime for ``--format onnx``
ones (:mod:`~paddle_ernie_m.engines.onnx_engine`).

Inputs are numpy arrays or tokenizer output, outputs a dict of numpy arrays named like the dygraph output fields.
Rows are sorted by length and run in buckets trimmed to their longest row, then returned in the caller's order.
See docs/inference.md.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from converters.configuration import ErnieMConfig

from ..inputs import check_ids, check_positions, check_sequence_length
from .export import export_model
from .export_format import INPUT_NAMES, ONNX_ENGINE, PRECISION_NAMES, PRECISIONS, ExportError, read_export_meta
from .onnx_engine import OnnxEngine
from .paddle_engine import PaddleEngine

logger = logging.getLogger(__name__)

__all__ = ["Predictor", "default_attention_mask"]

#: Bucket lengths are rounded up to a multiple of this (fewer distinct shapes for oneDNN to prepare).
LENGTH_MULTIPLE = 8
#: What one more run costs, in tokens: a bucket is split only where that saves more padded tokens than this.
RUN_COST_TOKENS = 256


def default_attention_mask(input_ids: np.ndarray, config: ErnieMConfig) -> np.ndarray:
    """The keep-mask the dygraph model uses when none is passed (see ``modeling.attention_bias``):
    ``"padding"`` mode masks ``pad_token_id``; ``"paddlenlp"`` mode masks id 0 (``[CLS]``) and keeps padding."""
    masked_id = 0 if config.attention_mask_mode == "paddlenlp" else config.pad_token_id
    return (input_ids != masked_id).astype(np.int64)


class Predictor:
    """Runs an ``ernie-m export`` with the engine it was made for (``export.json``'s ``engine``).

    Args:
        path: the export directory.
        device: ``"cpu"``, ``"gpu"`` or ``"gpu:N"``; default: the GPU when the engine has CUDA and sees one, else
            the CPU.
        threads: CPU math threads; default: every core available to the process.
        precision: Paddle exports: ``"fp32"``, ``"bf16"`` or ``"fp16"``; default: the export's. An explicit
            precision the device cannot run raises ``ValueError``; the export's default falls back to fp32 with a
            warning. ONNX exports run in the precision they were written in (fp32 or int8).
        batch_size: most rows per run.
        bucketing: sort rows by true length and trim each run to its longest row (exact: only positions masked
            in every row of the run are trimmed; their per-token outputs are 0).

    Calls are thread-safe: a lock serialises them (one call already uses every core).
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        device: Optional[str] = None,
        threads: Optional[int] = None,
        precision: Optional[str] = None,
        batch_size: int = 16,
        bucketing: bool = True,
    ):
        self.path = Path(path)
        meta = read_export_meta(self.path)
        self.config = ErnieMConfig.from_pretrained(self.path)
        self.head: str = meta["head"]
        self.input_rank: int = int(meta["input_rank"])
        self.output_names: List[str] = [o["name"] for o in meta["outputs"]]
        self._per_token = {o["name"]: bool(o["per_token"]) for o in meta["outputs"]}
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.bucketing = bucketing
        self.engine: str = meta["engine"]
        if precision is not None:
            if precision not in PRECISIONS:
                raise ValueError(f"precision must be one of {', '.join(PRECISION_NAMES)}, got {precision!r}")
            precision = PRECISIONS[precision]
        if self.engine == ONNX_ENGINE:
            self._engine = OnnxEngine(self.path, meta, device, threads, precision)
        else:
            self._engine = PaddleEngine(self.path, meta, device, threads, precision)
        self.device, self.threads, self.precision = self._engine.device, self._engine.threads, self._engine.precision
        names = list(self._engine.input_names)
        if names != list(meta["inputs"]) or self._engine.output_count != len(self.output_names):
            raise ExportError(f"{self.path / meta['program']}: program inputs {names} / {self._engine.output_count} "
                              f"outputs do not match {self.path / 'export.json'}")
        self._lock = threading.Lock()

    @classmethod
    def from_model(cls, model, workdir: Optional[Union[str, os.PathLike]] = None, **kwargs: Any) -> "Predictor":
        """Export ``model`` (float32, any head) and load it. The export goes to ``workdir`` (which must not
        exist; kept for later ``Predictor(workdir)``), or to a temporary directory removed once loaded.
        ``kwargs`` go to :class:`Predictor`."""
        if workdir is not None:
            return cls(export_model(model, workdir), **kwargs)
        with tempfile.TemporaryDirectory(prefix="ernie-m-export-") as tmp:
            return cls(export_model(model, Path(tmp) / "export"), **kwargs)

    def __repr__(self) -> str:
        where = self.device + (f", {self.threads} threads" if self.threads else "")
        return f"Predictor({self.head} from {self.path}, {self.engine}, {where}, {self.precision})"

    # -------------------------------------------------------------------------------------------- running
    def __call__(
        self,
        inputs: Any = None,
        *,
        input_ids: Any = None,
        position_ids: Any = None,
        attention_mask: Any = None,
    ) -> Dict[str, np.ndarray]:
        """Run the model; return ``{output name: float32 array}`` with rows in the order of ``input_ids``.

        ``inputs`` is either a mapping holding ``input_ids`` and optionally ``position_ids`` /
        ``attention_mask`` (tokenizer output; other keys are ignored) or the ``input_ids`` themselves.
        Missing ``position_ids`` / ``attention_mask`` are built as the dygraph model builds them.
        """
        given = {"input_ids": input_ids, "position_ids": position_ids, "attention_mask": attention_mask}
        if isinstance(inputs, Mapping):
            for name in INPUT_NAMES:
                if inputs.get(name) is not None:
                    if given[name] is not None:
                        raise ValueError(f"{name} is given both in the inputs mapping and as a keyword")
                    given[name] = inputs[name]
        elif inputs is not None:
            if input_ids is not None:
                raise ValueError("input_ids is given both positionally and as a keyword")
            given["input_ids"] = inputs
        ids, positions, mask = self._prepare(**given)
        with self._lock:
            return self._run_batches(ids, positions, mask)

    def _prepare(self, input_ids, position_ids, attention_mask):
        """Validated int64 arrays of one shape, with the defaults filled in."""
        config = self.config
        if input_ids is None:
            raise ValueError("input_ids is required")
        ids = _integer_array("input_ids", input_ids, config.pad_token_id, self.input_rank, allow_bool=False)
        shape = "[batch, choices, seq]" if self.input_rank == 3 else "[batch, seq]"
        if ids.ndim != self.input_rank:
            raise ValueError(f"input_ids must be shaped {shape} for {self.head}, got shape {ids.shape}")
        if ids.size == 0:
            raise ValueError(f"input_ids is empty (shape {ids.shape})")
        check_ids(ids, config)
        arrays = {}
        for name, value, pad in (("position_ids", position_ids, 0), ("attention_mask", attention_mask, 0)):
            if value is None:
                continue
            array = _integer_array(name, value, pad, self.input_rank, allow_bool=name == "attention_mask")
            if array.shape != ids.shape:
                raise ValueError(f"{name} has shape {array.shape}, input_ids {ids.shape}: they must be equal")
            arrays[name] = array
        seq_len = ids.shape[-1]
        positions = arrays.get("position_ids")
        if positions is None:
            check_sequence_length(seq_len, config)
            positions = np.broadcast_to(np.arange(seq_len, dtype=np.int64), ids.shape)
        else:
            check_positions(positions, config)
        mask = arrays.get("attention_mask")
        if mask is None:
            mask = default_attention_mask(ids, config)
        elif not np.isin(mask, (0, 1)).all():
            raise ValueError("attention_mask must be a keep-mask of 0 and 1")
        return ids, positions, mask

    def _run_batches(self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray) -> Dict[str, np.ndarray]:
        batch, seq_len = ids.shape[0], ids.shape[-1]
        kept = mask.reshape(batch, -1, seq_len).any(axis=1)  # [batch, seq]: kept in any choice
        lengths = seq_len - np.argmax(kept[:, ::-1], axis=1)  # up to the last kept position (all masked: seq_len)
        if self.bucketing:
            runs = plan_runs(lengths, seq_len, self.batch_size)
        else:
            runs = [(np.arange(i, min(i + self.batch_size, batch)), seq_len) for i in range(0, batch, self.batch_size)]
        seq_axis = self.input_rank - 1
        results: Dict[str, np.ndarray] = {}
        for rows, width in runs:
            outputs = self._run([np.ascontiguousarray(x[rows][..., :width]) for x in (ids, positions, mask)])
            for name, out in zip(self.output_names, outputs):
                if name not in results:
                    shape = list(out.shape)
                    shape[0] = batch
                    if self._per_token[name]:
                        shape[seq_axis] = seq_len
                    results[name] = np.zeros(shape, dtype=out.dtype)
                target = (rows,) + (slice(None),) * (seq_axis - 1) + (slice(0, width),) \
                    if self._per_token[name] else rows
                results[name][target] = out
        return results

    def run_program(self, feeds: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Run the exported program once on ``feeds``, arrays in the order and dtypes of the program's inputs
        (``export.json``), with no validation, default inputs or bucketing; return its outputs as float32, in the
        order of :attr:`output_names`. For programs with inputs of their own (the UIE runner's float bias).
        Thread-safe."""
        with self._lock:
            return self._run(feeds)

    def _run(self, feeds: Sequence[np.ndarray]) -> List[np.ndarray]:
        return self._engine.run(feeds)


def plan_runs(lengths: np.ndarray, seq_len: int, batch_size: int) -> List[Tuple[np.ndarray, int]]:
    """Cut the rows, longest first, into runs of at most ``batch_size`` rows, each trimmed to its longest row
    rounded up to ``LENGTH_MULTIPLE`` (at most ``seq_len``). The cuts minimise the padded tokens computed plus
    ``RUN_COST_TOKENS`` per run (dynamic programming over the sorted lengths). Returns ``(rows, width)`` pairs."""
    order = np.argsort(-lengths, kind="stable")
    widths = np.minimum(seq_len, -(-lengths[order] // LENGTH_MULTIPLE) * LENGTH_MULTIPLE).tolist()
    count = len(order)
    cost = [0.0] + [float("inf")] * count  # cost[j]: best plan for the first j sorted rows
    start = [0] * (count + 1)
    for j in range(1, count + 1):
        for i in range(max(0, j - batch_size), j):  # last run: sorted rows i..j-1, as wide as row i
            candidate = cost[i] + (j - i) * widths[i] + RUN_COST_TOKENS
            if candidate < cost[j]:
                cost[j], start[j] = candidate, i
    runs = []
    j = count
    while j:
        runs.append((order[start[j]:j], int(widths[start[j]])))
        j = start[j]
    return runs[::-1]


def _integer_array(name: str, value: Any, pad: int, rank: int, allow_bool: bool) -> np.ndarray:
    """``value`` as an int64 array; a list of rows of unequal length is padded with ``pad`` (rank 2 only)."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        array = None
    if array is None or array.dtype == object:
        if rank != 2 or not isinstance(value, Sequence):
            raise ValueError(f"{name} must be a rectangular array, got ragged {type(value).__name__}")
        rows = [np.asarray(row).reshape(-1) for row in value]
        array = np.full((len(rows), max((len(r) for r in rows), default=0)), pad, dtype=np.int64)
        for i, row in enumerate(rows):
            if row.size and not (np.issubdtype(row.dtype, np.integer) or (allow_bool and row.dtype == bool)):
                raise ValueError(f"{name} must hold integers, row {i} has dtype {row.dtype}")
            array[i, :len(row)] = row
    ok = np.issubdtype(array.dtype, np.integer) or (allow_bool and array.dtype == np.bool_)
    if not ok:
        kinds = "integers or bools" if allow_bool else "integers"
        raise ValueError(f"{name} must hold {kinds}, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)
