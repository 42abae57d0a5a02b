"""What an export directory holds and says about itself: ``export.json``, the formats, precisions and inputs.

An export directory holds the program and its weights (:mod:`~paddle_ernie_m.engines.paddle_program` or
:mod:`~paddle_ernie_m.engines.onnx_graph`), ``export.json`` (what the predictor needs to know: engine, head, inputs,
outputs, precision, the Paddle version that wrote a Paddle program), ``config.json`` and the tokenizer files of the
source checkpoint.

Every export takes the same three int64 inputs with dynamic dimensions, ``[batch, seq]`` (``[batch, choices,
seq]`` for multiple choice): ``input_ids``, ``position_ids`` and ``attention_mask`` (a keep-mask). Leaving
``attention_mask`` or ``position_ids`` out is the predictor's business: it builds them exactly as the dygraph
model does by default, so one program serves both attention-mask modes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from converters.configuration import ErnieMConfig
from converters.files import write_atomic

from .onnx_graph import ONNX_FILE, ONNX_PRECISIONS
from .paddle_program import program_file

EXPORT_META = "export.json"
#: Version of the ``export.json`` layout; the predictor refuses newer ones. 2 added ``engine``.
FORMAT_VERSION = 2
#: ``--format`` choices -> the ``engine`` of ``export.json``.
FORMATS = {"paddle": "paddle", "onnx": "onnxruntime"}
ONNX_ENGINE = FORMATS["onnx"]
INPUT_NAMES = ("input_ids", "position_ids", "attention_mask")
#: Precision spellings -> precision names used by :class:`~paddle_ernie_m.engines.predictor.Predictor`.
PRECISIONS = {"fp32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16",
              "fp16": "fp16", "float16": "fp16", "int8": "int8"}
#: The precision names (``--precision`` choices).
PRECISION_NAMES = tuple(dict.fromkeys(PRECISIONS.values()))
#: The precisions each format is written in.
FORMAT_PRECISIONS = {"paddle": ("fp32", "bf16", "fp16"), "onnx": ONNX_PRECISIONS}
#: The backends that run an export (``--backend`` of extract, predict, serve) -> the format they export to.
BACKEND_FORMATS = {"inference": "paddle", "onnxruntime": "onnx"}


class ExportError(ValueError):
    """A model or checkpoint cannot be exported, or an export directory cannot be read."""


def check_format(format: str, precision: str) -> str:
    """The precision name of ``precision`` after checking that ``format`` is written in it."""
    if format not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    name = PRECISIONS.get(precision)
    if name not in FORMAT_PRECISIONS[format]:
        hint = " (int8 is an ONNX Runtime export: add --format onnx)" if name == "int8" else ""
        raise ExportError(f"precision must be one of {', '.join(FORMAT_PRECISIONS[format])} for the {format} "
                          f"format, got {precision!r}{hint}")
    return name


def read_export_meta(directory: Union[str, os.PathLike]) -> Dict[str, Any]:
    """``export.json`` of an export directory, checked for the fields and format version this code reads."""
    directory = Path(directory)
    path = directory / EXPORT_META
    if not path.is_file():
        if not directory.is_dir():
            raise FileNotFoundError(f"export directory not found: {directory}")
        raise FileNotFoundError(f"{path} not found: {directory} is not an ernie-m export "
                                f"(create one with `ernie-m export MODEL_DIR OUT_DIR`)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not readable JSON ({exc})") from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if not isinstance(version, int):
        raise ExportError(f"{path}: no integer 'format_version'")
    if version > FORMAT_VERSION:
        raise ExportError(f"{path}: export format {version} was written by a newer paddle-ernie-m "
                          f"(this one reads up to {FORMAT_VERSION}); re-export the model with this version")
    for key in ("head", "inputs", "outputs", "input_rank", "precision", "program", "paddle_version"):
        if key not in meta:
            raise ExportError(f"{path}: missing key {key!r}")
    meta.setdefault("engine", FORMATS["paddle"])  # format 1 wrote only Paddle programs
    if meta["engine"] not in FORMATS.values():
        raise ExportError(f"{path}: unknown engine {meta['engine']!r} (known: {', '.join(FORMATS.values())})")
    return meta


def write_export_files(directory: Path, config: ErnieMConfig, head: str, inputs: Sequence[str], input_rank: int,
                       outputs: List[Dict[str, Any]], precision: str, engine: str = FORMATS["paddle"]) -> Path:
    """Write ``export.json`` and ``config.json`` (``config`` naming ``head``) beside the program written into
    ``directory``; return the program file. ``paddle_version`` is the Paddle that wrote a Paddle program, None for
    an ONNX graph (written from numpy, whatever is installed)."""
    paddle_version: Optional[str] = None
    if engine == ONNX_ENGINE:
        program = directory / ONNX_FILE
    else:
        import paddle

        program, paddle_version = program_file(directory), paddle.__version__
    meta = {
        "format_version": FORMAT_VERSION,
        "engine": engine,
        "head": head,
        "inputs": list(inputs),
        "input_rank": input_rank,
        "outputs": outputs,
        "precision": precision,
        "program": program.name,
        "paddle_version": paddle_version,
    }
    write_atomic(directory / EXPORT_META, json.dumps(meta, indent=2) + "\n")
    config.replace(architectures=(head,)).save_pretrained(directory, dialect="paddle")
    return program
