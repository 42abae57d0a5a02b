"""`ernie-m predict`: classify texts with a sequence-classification model, through Paddle Inference by default.

Texts stream: they are read, tokenized, run and written :data:`CHUNK` at a time, so memory stays flat however many
lines standard input holds, and a progress line goes to stderr (:mod:`paddle_ernie_m.progress`).
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from converters.configuration import ErnieMConfig
from converters.files import bounded_lines, not_utf8_message
from converters.mapping import SEQUENCE

from .engines.export_cache import CACHE_ENV, DEFAULT_CACHE
from .engines.export_format import BACKEND_FORMATS, FORMAT_PRECISIONS, PRECISION_NAMES, PRECISIONS, check_format
from .inputs import NonFiniteOutputError, check_text, describe_rows, non_finite_rows

logger = logging.getLogger(__name__)

HEAD = SEQUENCE
#: The export cache's name for the standard ``ernie-m export`` program.
EXPORT_KIND = "standard"
#: ``--backend`` choices -> the export format a checkpoint is exported to.
BACKENDS = BACKEND_FORMATS
#: Texts read, tokenized, run and written at a time.
CHUNK = 512


def scores(logits: np.ndarray, config: ErnieMConfig) -> List[Dict[str, Any]]:
    """One result per row of ``logits``: ``label`` and softmax ``probabilities`` (single-label), ``labels`` and
    sigmoid ``probabilities`` (``problem_type="multi_label_classification"``), or ``score`` (regression)."""
    labels = config.labels
    if config.problem_type == "regression" or (config.problem_type is None and config.num_labels == 1):
        return [{"score": float(row[0])} for row in logits]
    if config.problem_type == "multi_label_classification":
        probs = 1.0 / (1.0 + np.exp(-logits))
        return [{"labels": [labels[i] for i in np.flatnonzero(row > 0.5)],
                 "probabilities": {labels[i]: round(float(p), 6) for i, p in enumerate(row)}} for row in probs]
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    return [{"label": labels[int(row.argmax())],
             "probabilities": {labels[i]: round(float(p), 6) for i, p in enumerate(row)}} for row in probs]


def predict(model_dir: Union[str, os.PathLike], texts: Sequence[str], **options: Any) -> List[Dict[str, Any]]:
    """Classify ``texts`` with the model in ``model_dir``: the list of :func:`iter_predict`'s results."""
    return list(iter_predict(model_dir, texts, **options))


def iter_predict(
    model_dir: Union[str, os.PathLike],
    texts: Iterable[str],
    max_length: Optional[int] = None,
    batch_size: int = 16,
    dygraph: bool = False,
    device: Optional[str] = None,
    precision: Optional[str] = None,
    threads: Optional[int] = None,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
    backend: str = "inference",
    chunk_done: Optional[Any] = None,
) -> Iterator[Dict[str, Any]]:
    """Classify ``texts`` with the model in ``model_dir``: an ``ernie-m export`` directory, or a checkpoint
    (exported once into the export cache, ``cache_dir`` or its default: see :mod:`paddle_ernie_m.engines.export_cache`;
    not with ``dygraph``). ``backend``: how a checkpoint is exported and run, ``"inference"`` (Paddle Inference)
    or ``"onnxruntime"`` (ONNX Runtime, ``precision`` fp32 or int8); an export runs on the engine it was made for.
    Only ``input_ids`` go to the model, so the config's ``attention_mask_mode`` decides the mask, as in PaddleNLP.

    Yields one dict per text (see :func:`scores`) with the text first; blank texts as :func:`text_ids` says. The
    texts are consumed :data:`CHUNK` at a time (``chunk_done(number of texts)`` after each), so an iterator over
    a stream is never held whole. Logits that are not finite raise :class:`~paddle_ernie_m.inputs.NonFiniteOutputError`
    naming the texts (by their 1-based number, the line of standard input), never a ``NaN`` result; a text that
    :func:`~paddle_ernie_m.inputs.check_text` refuses is an error naming its number."""
    from .engines.export import load_pretrained
    from .engines.export_format import EXPORT_META
    from .tokenizer import ErnieMTokenizer

    model_dir = Path(model_dir)
    config = ErnieMConfig.from_pretrained(model_dir)
    if config.architecture != HEAD:
        raise ValueError(f"{model_dir}: predict needs an {HEAD} model, config.json names "
                         f"{config.architecture or 'no head (ErnieMModel)'}")
    is_export = (model_dir / EXPORT_META).is_file()
    if dygraph and is_export:
        raise ValueError(f"{model_dir} is an export; --dygraph needs the checkpoint directory")
    if dygraph:
        given = [name for name, value, default in (("--backend", backend, "inference"), ("--device", device, None),
                                                  ("--precision", precision, None)) if value != default]
        if given:
            raise ValueError(f"{', '.join(given)} do(es) not apply to --dygraph (it runs fp32 on Paddle's current "
                             f"device)")
    texts = iter(texts)
    chunk = list(itertools.islice(texts, CHUNK))
    if not chunk:
        return
    tokenizer = ErnieMTokenizer.from_pretrained(model_dir)
    if dygraph:
        model = load_pretrained(model_dir)

        def logits_of(ids: np.ndarray) -> np.ndarray:
            return _dygraph_logits(model, ids, batch_size, threads)
    else:
        predictor = load_predictor(model_dir, device=device, threads=threads, precision=precision,
                                   batch_size=batch_size, cache_dir=cache_dir, backend=backend)

        def logits_of(ids: np.ndarray) -> np.ndarray:
            return predictor(input_ids=ids)["logits"]

    done, blanks, first_blank = 0, 0, 0
    while chunk:
        for i, text in enumerate(chunk):
            check_text(text, f"text {done + i + 1}")
        blank = [i for i, text in enumerate(chunk) if not text.strip()]
        first_blank = first_blank or (done + blank[0] + 1 if blank else 0)
        blanks += len(blank)
        rows = text_ids(tokenizer, config, chunk, max_length, warn=False)
        ids = np.full((len(rows), max(map(len, rows))), tokenizer.pad_token_id, dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        logits = logits_of(ids)
        bad = non_finite_rows(logits)
        if bad:
            raise NonFiniteOutputError(
                f"the model's logits are not finite (NaN or infinity) for {len(bad)} of {len(chunk)} texts "
                f"({describe_rows(bad, [f'text {done + i + 1}' for i in range(len(chunk))])}): its weights (or "
                f"the export) hold NaN or infinity; no result is given for them")
        for text, result in zip(chunk, scores(logits, config)):
            yield {"text": text, **result}
        done += len(chunk)
        if chunk_done is not None:
            chunk_done(len(chunk))
        chunk = list(itertools.islice(texts, CHUNK))
    if blanks:
        _blank_warning(blanks, first_blank)


def _blank_warning(count: int, first: int) -> None:
    logger.warning("%d empty text(s) (the first is text %d): their labels are the model's answer to an empty input, "
                   "not a prediction", count, first)


def text_ids(tokenizer, config: ErnieMConfig, texts: Sequence[str], max_length: Optional[int] = None,
             warn: bool = True) -> List[List[int]]:
    """The token ids of each text (special tokens included), truncated to ``max_length`` (default: the model's
    limit). An empty (or blank) text becomes ``[CLS] [SEP]`` alone, which says nothing about any text; it is kept,
    so that results stay aligned with the inputs (one per line of a file), and a warning names it (``warn``)."""
    limit = min(tokenizer.model_max_length, config.max_text_positions)
    shortest = len(tokenizer.build_inputs_with_special_tokens([0]))  # [CLS], one token, [SEP]
    if max_length is not None and not shortest <= max_length <= limit:
        raise ValueError(f"max_length (--max-length) must lie in [{shortest}, {limit}] (the special tokens and one "
                         f"token of text; the model's {limit} positions), got {max_length}")
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    if blank and warn:
        _blank_warning(len(blank), blank[0] + 1)
    return tokenizer(list(texts), truncation=True, max_length=max_length or limit,
                     return_attention_mask=False)["input_ids"]


def load_predictor(model_dir: Union[str, os.PathLike], cache_dir: Optional[Union[str, os.PathLike]] = None,
                   backend: str = "inference", precision: Optional[str] = None, **options: Any):
    """A :class:`~paddle_ernie_m.engines.predictor.Predictor` (``precision`` and ``options``: its keyword
    arguments) of an ``ernie-m export`` directory, or of a checkpoint directory exported once (for ``backend``, see
    :data:`BACKENDS`) into the export cache."""
    from .engines.export import export_pretrained
    from .engines.export_format import EXPORT_META
    from .engines.predictor import Predictor

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    model_dir = Path(model_dir)
    if (model_dir / EXPORT_META).is_file():
        return Predictor(model_dir, precision=precision, **options)
    from .engines.export_cache import cached_export

    format = BACKENDS[backend]
    if precision is not None and PRECISIONS.get(precision) not in FORMAT_PRECISIONS[format]:  # before exporting
        hint = "; int8 needs --backend onnxruntime" if precision == "int8" else ""
        raise ValueError(f"--backend {backend} runs --precision {', '.join(FORMAT_PRECISIONS[format])}, not "
                         f"{precision!r}{hint}")
    exported = check_format(format, precision or "fp32") if format == "onnx" else "fp32"
    kind = EXPORT_KIND if format == "paddle" else f"{EXPORT_KIND}-{format}-{exported}"

    def export(out: Path) -> None:
        export_pretrained(model_dir, out, precision=exported, format=format)

    return cached_export(model_dir, kind, export, lambda out: Predictor(out, precision=precision, **options),
                         cache_dir, format=format)


def _dygraph_logits(model, ids: np.ndarray, batch_size: int, threads: Optional[int]) -> np.ndarray:
    import paddle

    from .runtime import configure_cpu_threads

    if threads is not None:
        configure_cpu_threads(threads)
    with paddle.no_grad():
        return np.concatenate([model(paddle.to_tensor(ids[i:i + batch_size])).numpy()
                               for i in range(0, len(ids), batch_size)])


# ---------------------------------------------------------------------------------------------------- CLI
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify texts with a sequence-classification model",
        description="Classify texts with an ErnieMForSequenceClassification model and print one JSON line per "
                    "text: label and probabilities (config id2label). Runs Paddle Inference on an `ernie-m export` "
                    "directory, or on a checkpoint directory exported once into the export cache; --dygraph runs "
                    "the dygraph model.",
    )
    parser.add_argument("--model", type=Path, required=True, metavar="DIR",
                        help="export directory or checkpoint directory (with tokenizer files)")
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="texts to classify; '-' reads one text a line "
                                                                 "from stdin")
    parser.add_argument("--max-length", type=int, default=None,
                        help="truncate texts to this many tokens (default: the model's limit)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (default: 16)")
    parser.add_argument("--dygraph", action="store_true", help="run the dygraph model (checkpoint directory only)")
    parser.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: GPU if available)")
    parser.add_argument("--backend", choices=tuple(BACKENDS), default="inference",
                        help="how a checkpoint directory is exported and run: inference (Paddle Inference) or "
                             "onnxruntime (ONNX Runtime, faster on CPUs; needs the [onnx] extra); an export "
                             "directory runs on the engine it was made for (default: inference)")
    parser.add_argument("--precision", choices=PRECISION_NAMES, default=None,
                        help="inference: fp32, bf16 or fp16 where the device has them; onnxruntime: fp32 or int8 "
                             "(default: the export's, fp32 for a checkpoint)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"export cache for checkpoint directories (default: ${CACHE_ENV}, else "
                             f"{DEFAULT_CACHE})")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a progress line on stderr: texts, texts/s, ETA when stdin is a file (default: on a "
                             "terminal)")
    parser.set_defaults(func=run)


class StdinTexts:
    """The lines of standard input without their line ends, read one at a time (each at most
    :data:`~converters.files.MAX_LINE_BYTES`); a line that is not UTF-8 is an error naming it. ``bytes_read``
    counts what was read; ``size`` is the input's size when it is a regular file (``< file``), else None."""

    def __init__(self, stdin: Any = None):
        self.stdin = stdin if stdin is not None else sys.stdin
        self.bytes_read = 0
        try:
            info = os.fstat(self.stdin.fileno())
            self.size: Optional[int] = info.st_size if stat.S_ISREG(info.st_mode) else None
        except (AttributeError, OSError, ValueError):  # a replaced stream without a descriptor
            self.size = None

    def __iter__(self) -> Iterator[str]:
        stream = getattr(self.stdin, "buffer", None)
        if stream is None:  # replaced by a text stream (tests, embedding applications)
            for line in self.stdin:
                self.bytes_read += len(line)
                yield line.rstrip("\r\n")
            return
        for number, raw in bounded_lines(stream, "stdin"):
            self.bytes_read += len(raw)
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise ValueError(not_utf8_message("stdin", number, raw, exc)) from None


def run(args: argparse.Namespace) -> int:
    from .progress import Progress

    if args.texts == ["-"]:
        texts: Iterable[str] = StdinTexts()
        progress = Progress("texts", total_bytes=texts.size, enabled=args.progress)
    else:
        texts = args.texts
        progress = Progress("texts", total_rows=len(texts), enabled=args.progress)
    done = [0]

    def chunk_done(count: int) -> None:
        read = getattr(texts, "bytes_read", 0)
        progress.update(count, read - done[0])
        done[0] = read
        sys.stdout.flush()

    for result in iter_predict(args.model, texts, max_length=args.max_length, batch_size=args.batch_size,
                               dygraph=args.dygraph, device=args.device, precision=args.precision,
                               threads=args.threads, cache_dir=args.cache_dir, backend=args.backend,
                               chunk_done=chunk_done):
        print(json.dumps(result, ensure_ascii=False, allow_nan=False))
    progress.close()
    return 0
