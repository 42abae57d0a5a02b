"""Universal information extraction with a UIE-M checkpoint: the results of PaddleNLP's
``Taskflow("information_extraction")``, faster.

Modes (``mode``):

* ``"exact"`` (default): PaddleNLP's inputs and attention semantics. Taskflow pads every prompt/text pair to
  ``max_seq_len`` and passes no attention mask, so the model masks ``[CLS]`` (id 0) and attends to the padding,
  and UIE-M checkpoints were trained that way: their probabilities depend on how much padding there is. All
  padding tokens of a row are the same token at the same position (``[PAD]``, position 0), so every layer computes
  the same state for each of them, and ``n`` identical keys weigh in the softmax exactly as one key whose score is
  raised by ``log(n)``. The exact mode therefore runs one padding token per row with an attention bias of
  ``log(max_seq_len - length)``: the same function as Taskflow's (equal up to float rounding, ~1e-6), at the cost
  of the real tokens only. The padding token's probabilities stand for every padding position when decoding.
* ``"fast"``: no padding at all (``[CLS]`` still masked, as in training). Cheaper by one token per row, but the
  probabilities are no longer those the checkpoint gives under Taskflow's padding, so spans can differ.

Everything else (prompts, splitting, decoding, joining) is shared by the two modes and documented in
:mod:`paddle_ernie_m.uie.decoding`; the schema in :mod:`paddle_ernie_m.uie.schema`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from converters.configuration import ErnieMConfig
from converters.mapping import UIE
from ernie_m_tokenizer.tokenization_ernie_m_engine import SENTENCEPIECE_MODEL_FILE, VOCAB_FILE

from .decoding import MAX_CHILD_PROMPTS, Piece, Result, decode, extract, join_pieces, max_text_length, split_texts
from .features import PairEncoder, build_batch, expand_padding, prompt_relative_offsets
from .schema import SchemaError, SchemaNode, build_schema, check_schema_lang

logger = logging.getLogger(__name__)

MODES = ("exact", "fast")
UIE_HEAD = UIE
TOKENIZER_FILES = (VOCAB_FILE, SENTENCEPIECE_MODEL_FILE)
#: Model rows of a stage tokenized at a time (and sorted by length for batching): bounds the ids held at once.
CHUNK_ROWS = 512


class PromptTooLongError(ValueError):
    """A prompt (a label, or a child label with its parent span) leaves no room for text within ``max_seq_len``:
    a property of the schema and the texts, not of the model."""


class InformationExtractor:
    """Extract spans, relations, events and opinions from texts with a UIE-M checkpoint.

    Args:
        model_dir: a UIE-M checkpoint in PaddleNLP's layout (``config.json`` naming ``UIEM`` or
            ``ErnieMForInformationExtraction``, ``model_state.pdparams`` or ``model.safetensors``, ``vocab.txt``,
            ``sentencepiece.bpe.model``), e.g. Taskflow's ``uie-m-base`` directory or a fine-tuned ``best/``; for
            ``backend="torch"``, what ``ernie-m convert paddle2torch`` makes of one.
        schema: what to extract (see :mod:`paddle_ernie_m.uie.schema`); can be set later with :meth:`set_schema`.
        schema_lang: ``"ch"`` or ``"en"``: how child prompts are worded.
        position_prob: a token starts (ends) a span when its probability is greater than this.
        max_seq_len: tokens per model input, prompt and special tokens included; longer texts are split.
        batch_size: model inputs per run.
        split_sentence: split texts into sentences before cutting them to length.
        mode: ``"exact"`` (Taskflow's results) or ``"fast"`` (see the module docstring).
        backend: ``"inference"`` (Paddle Inference, oneDNN on CPU), ``"onnxruntime"`` (ONNX Runtime: faster
            on CPUs, fp32 or int8; needs the ``[onnx]`` extra), ``"dygraph"`` (Paddle), or ``"torch"`` (PyTorch, on
            a directory ``ernie-m convert paddle2torch`` wrote; needs neither Paddle nor its export).
        precision: ``"fp32"`` (default), or ``"int8"`` with ``backend="onnxruntime"`` (int8 weights: faster
            on large models, spans close to fp32's; figures in docs/benchmarks.md).
        threads: CPU math threads (default: every core for ``"inference"`` and ``"onnxruntime"``, the framework's
            default otherwise).
        device: ``"inference"``, ``"onnxruntime"``: ``"cpu"``, ``"gpu"`` or ``"gpu:N"``; ``"torch"``: a torch device
            such as ``"cpu"`` or ``"cuda:0"``. Default: the GPU when there is one (int8: the CPU), else the CPU.
        cache_dir: where the ``"inference"`` and ``"onnxruntime"`` backends keep their export of the checkpoint
            (default ``$ERNIE_M_CACHE``, else ``~/.cache/paddle-ernie-m``; see :mod:`paddle_ernie_m.engines.export_cache`).
        max_child_prompts: a child label is asked about at most this many spans of its parent per text (Taskflow
            asks about every one, each time over the whole text); the spans after them get no answer to it and a
            warning is logged. None: no limit.
    """

    def __init__(
        self,
        model_dir: Union[str, os.PathLike],
        schema: Any = None,
        schema_lang: str = "ch",
        position_prob: float = 0.5,
        max_seq_len: int = 512,
        batch_size: int = 16,
        split_sentence: bool = False,
        mode: str = "exact",
        backend: str = "inference",
        threads: Optional[int] = None,
        max_child_prompts: Optional[int] = MAX_CHILD_PROMPTS,
        device: Optional[str] = None,
        cache_dir: Optional[Union[str, os.PathLike]] = None,
        precision: Optional[str] = None,
    ) -> None:
        from ..tokenizer import ErnieMTokenizer
        from .runner import BACKENDS, check_precision, load_runner

        self.schema_lang = check_schema_lang(schema_lang)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.precision = check_precision(backend, precision)
        if isinstance(position_prob, bool) or not isinstance(position_prob, (int, float)) \
                or not 0.0 <= position_prob < 1.0:
            raise ValueError(f"position_prob must be a number in [0, 1), got {position_prob!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if max_child_prompts is not None and (isinstance(max_child_prompts, bool)
                                              or not isinstance(max_child_prompts, int) or max_child_prompts < 1):
            raise ValueError(f"max_child_prompts must be a positive integer or None, got {max_child_prompts!r}")
        self.max_child_prompts = max_child_prompts
        self.mode = mode
        self.position_prob = float(position_prob)
        self.batch_size = batch_size
        self.split_sentence = bool(split_sentence)

        model_dir = Path(model_dir)
        config = ErnieMConfig.from_pretrained(model_dir)
        if config.architecture not in (UIE_HEAD, None):
            raise ValueError(f"{model_dir}: config.json names {config.architecture}, "
                             f"not a UIE-M model (UIEM / {UIE_HEAD})")
        missing = [name for name in TOKENIZER_FILES if not (model_dir / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{model_dir}: tokenizer file(s) {', '.join(missing)} not found")
        limit = config.max_text_positions
        if isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int) or not 8 <= max_seq_len <= limit:
            raise ValueError(f"max_seq_len must be an integer in [8, {limit}] for this model, got {max_seq_len!r}")
        self.max_seq_len = max_seq_len
        self.tokenizer = ErnieMTokenizer.from_pretrained(model_dir)
        self.config: ErnieMConfig = config
        self._runner = load_runner(backend, model_dir, device=device, threads=threads, cache_dir=cache_dir,
                                   precision=self.precision)
        self.backend = backend
        self._schema: Optional[List[SchemaNode]] = None
        if schema is not None:
            self.set_schema(schema)

    # ------------------------------------------------------------------------------------------ schema
    def set_schema(self, schema: Any, schema_lang: Optional[str] = None) -> None:
        """Replace the schema (raises :class:`~paddle_ernie_m.uie.schema.SchemaError` when it is malformed) and,
        if given, the schema language."""
        self._schema = build_schema(schema)
        if schema_lang is not None:
            self.schema_lang = check_schema_lang(schema_lang)

    @property
    def schema(self) -> Optional[List[Any]]:
        """The schema in plain form (labels and dicts), or None."""
        return None if self._schema is None else [node.to_schema() for node in self._schema]

    # ------------------------------------------------------------------------------------------ running
    def __call__(self, texts: Union[str, Sequence[str]], schema: Any = None,
                 schema_lang: Optional[str] = None) -> List[Dict[str, List[Result]]]:
        """One ``{label: [result, ...]}`` per text (a single string gives a list of one), in Taskflow's format:
        ``{"text", "start", "end", "probability", "relations": {child label: [...]}}``; classification answers
        have no ``start``/``end``. Empty and whitespace-only texts give ``{}``.

        ``schema`` / ``schema_lang``, when given, apply to this call only (the extractor's own are left as they
        are, so concurrent callers with different schemas never race); ``schema`` is a plain schema or the nodes
        :func:`~paddle_ernie_m.uie.schema.build_schema` returned for one."""
        if isinstance(texts, str):
            texts = [texts]
        return self.extract_calls([texts], schema, schema_lang)[0]

    def extract_calls(self, calls: Sequence[Sequence[str]], schema: Any = None,
                      schema_lang: Optional[str] = None) -> List[List[Dict[str, List[Result]]]]:
        """The results of each list of texts in ``calls``, each exactly what calling the extractor on that list
        alone gives (Taskflow's piece length and classification decision are per call: see
        :mod:`~paddle_ernie_m.uie.decoding`), with the model run over the texts of every call together.
        ``schema`` / ``schema_lang`` as for :meth:`__call__`."""
        nodes = self._schema if schema is None else _schema_nodes(schema)
        lang = self.schema_lang if schema_lang is None else check_schema_lang(schema_lang)
        if nodes is None:
            raise SchemaError("no schema set: pass schema= or call set_schema()")
        texts: List[str] = []
        groups: List[int] = []
        for call, call_texts in enumerate(calls):
            if not isinstance(call_texts, (list, tuple)):
                raise TypeError(f"texts must be a string or a list of strings, got {type(call_texts).__name__}")
            for index, text in enumerate(call_texts):
                if not isinstance(text, str):
                    raise TypeError(f"texts[{index}] must be a string, got {type(text).__name__}")
            texts.extend(call_texts)
            groups.extend([call] * len(call_texts))
        kept = [i for i, text in enumerate(texts) if text.strip()]
        outputs: List[Dict[str, List[Result]]] = [{} for _ in texts]
        if kept:
            found = extract(nodes, [texts[i] for i in kept], lang, self._run_stage, self.max_child_prompts,
                            [groups[i] for i in kept])
            for i, result in zip(kept, found):
                outputs[i] = result
        results, start = [], 0
        for call_texts in calls:
            results.append(outputs[start:start + len(call_texts)])
            start += len(call_texts)
        return results

    def _run_stage(self, texts: List[str], prompts: List[str], max_prompts: List[str],
                   groups: List[int]) -> List[List[Result]]:
        """Results of each (text, prompt) pair of one schema stage, with Taskflow's pieces (their length set by the
        pair's call): each distinct (prompt, piece) is run once and each piece of each pair gets its own copies of
        its results."""
        pieces_of: Dict[Tuple[str, int], List[Piece]] = {}
        rows: Dict[Tuple[str, str], int] = {}  # distinct (prompt, piece text) -> row
        pieces: List[Piece] = []  # every piece of every pair, numbered by pair
        piece_rows: List[int] = []
        for index, (text, prompt, max_prompt) in enumerate(zip(texts, prompts, max_prompts)):
            max_text_len = max_text_length(self.max_seq_len, [max_prompt])
            if max_text_len <= 0:
                raise PromptTooLongError(f"prompt {max_prompt[:60]!r} leaves no room for text within "
                                 f"max_seq_len={self.max_seq_len}")
            if (text, max_text_len) not in pieces_of:
                pieces_of[text, max_text_len] = split_texts([text], max_text_len, self.split_sentence)
            for piece in pieces_of[text, max_text_len]:
                pieces.append(Piece(index, piece.offset, piece.text))
                piece_rows.append(rows.setdefault((prompt, piece.text), len(rows)))
        row_results = self._run_rows(list(rows))
        results = [[dict(r) for r in row_results[row]] for row in piece_rows]
        return join_pieces(pieces, results, len(texts), groups)

    def _run_rows(self, rows: List[Tuple[str, str]]) -> List[List[Result]]:
        """Decoded results of each ``(prompt, piece text)`` row, relative to the piece. Rows are tokenized and run
        :data:`CHUNK_ROWS` at a time (sorted by length within a chunk), each distinct prompt and piece tokenized
        once per stage."""
        encoder = PairEncoder(self.tokenizer, self.max_seq_len)
        results: List[List[Result]] = [[] for _ in rows]
        for first in range(0, len(rows), CHUNK_ROWS):
            chunk = range(first, min(first + CHUNK_ROWS, len(rows)))
            encoder.prepare([part for k in chunk for part in rows[k]])
            encoded = {k: encoder(*rows[k]) for k in chunk}
            order = sorted(chunk, key=lambda k: len(encoded[k][0]))
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                start_probs, end_probs = self._probabilities([encoded[k][0] for k in batch])
                for k, p_start, p_end in zip(batch, start_probs, end_probs):
                    prompt, text = rows[k]
                    offsets = prompt_relative_offsets(encoded[k][1], len(p_start))
                    results[k] = decode(p_start, p_end, offsets, text, prompt, self.position_prob)
        return results

    def _probabilities(self, rows: List[List[int]]):
        """Per-row start/end probabilities: ``max_seq_len`` positions in the exact mode (padding included), the
        row's length in the fast mode."""
        padded = self.mode == "exact"
        batch = build_batch(rows, self.max_seq_len, self.tokenizer.pad_token_id, padded)
        start, end = self._runner(batch.input_ids, batch.position_ids, batch.attention_bias)
        if padded:
            return ([expand_padding(start[i], n, self.max_seq_len) for i, n in enumerate(batch.lengths)],
                    [expand_padding(end[i], n, self.max_seq_len) for i, n in enumerate(batch.lengths)])
        return [start[i, :n] for i, n in enumerate(batch.lengths)], [end[i, :n] for i, n in enumerate(batch.lengths)]


def _schema_nodes(schema: Any) -> List[SchemaNode]:
    """``schema`` as root nodes: parsed with :func:`build_schema` unless it already is a list of nodes."""
    if isinstance(schema, list) and schema and all(isinstance(node, SchemaNode) for node in schema):
        return schema
    return build_schema(schema)
