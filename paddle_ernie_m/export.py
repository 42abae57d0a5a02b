"""Export of any ERNIE-M head for Paddle Inference or ONNX Runtime (`ernie-m export`).

An export directory holds the program and its weights, ``export.json`` (what the predictor needs to know: engine,
head, inputs, outputs, precision, writer's Paddle version), ``config.json`` and the tokenizer files of the source
checkpoint; :class:`paddle_ernie_m.inference.Predictor` loads either kind. Two formats:

* ``paddle``: the ``paddle.jit.save`` program (``inference.json`` + ``inference.pdiparams`` on Paddle 3.x,
  ``inference.pdmodel`` + ``inference.pdiparams`` before), run by Paddle Inference in fp32, or bf16 / fp16 where
  the device computes them;
* ``onnx``: ``model.onnx``, written from the weights by :mod:`paddle_ernie_m.onnx_graph` in fp32 or int8, run by
  ONNX Runtime.

Every export takes the same three int64 inputs with dynamic dimensions, ``[batch, seq]`` (``[batch, choices,
seq]`` for multiple choice): ``input_ids``, ``position_ids`` and ``attention_mask`` (a keep-mask). Leaving
``attention_mask`` or ``position_ids`` out is the predictor's business: it builds them exactly as the dygraph
model does by default, so one program serves both attention-mask modes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from converters import safe_json
from converters.configuration import ErnieMConfig
from converters.files import atomic_directory, check_links_inside, check_outside, check_replaceable, write_atomic
from converters.mapping import BASE

from .onnx_graph import ONNX_PRECISIONS

logger = logging.getLogger(__name__)

EXPORT_META = "export.json"
#: The writer named in the marker of every export directory (``--force`` replaces only those).
WRITER = "ernie-m export"
#: Version of the ``export.json`` layout; the predictor refuses newer ones. 2 added ``engine``.
FORMAT_VERSION = 2
#: ``--format`` choices -> the ``engine`` of ``export.json``.
FORMATS = {"paddle": "paddle", "onnx": "onnxruntime"}
ONNX_ENGINE = FORMATS["onnx"]
PROGRAM_PREFIX = "inference"
#: Program files, newest format first: PIR JSON (Paddle >= 3.0), then the ProgramDesc protobuf (Paddle 2.x).
PROGRAM_SUFFIXES = (".json", ".pdmodel")
PARAMS_SUFFIX = ".pdiparams"
INPUT_NAMES = ("input_ids", "position_ids", "attention_mask")
#: Precision spellings -> precision names used by :class:`~paddle_ernie_m.inference.Predictor`.
PRECISIONS = {"fp32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16",
              "fp16": "fp16", "float16": "fp16", "int8": "int8"}
#: The precision names (``--precision`` choices).
PRECISION_NAMES = tuple(dict.fromkeys(PRECISIONS.values()))
#: The precisions each format is written in.
FORMAT_PRECISIONS = {"paddle": ("fp32", "bf16", "fp16"), "onnx": ONNX_PRECISIONS}
#: The backends that run an export (``--backend`` of extract, predict, serve) -> the format they export to.
BACKEND_FORMATS = {"inference": "paddle", "onnxruntime": "onnx"}


#: What Paddle 3.x's C++ logs once per process when ``paddle.jit.save`` traces ``paddle.arange``, ``==`` or
#: ``softmax``: its own Python API passes ``out=None`` to the static-graph ops. Nothing is wrong with the program.
PIR_OUT_WARNING = "Paddle static graph(PIR) not support input out tensor"


class ExportError(ValueError):
    """A model or checkpoint cannot be exported, or an export directory cannot be read."""


def load_pretrained(directory: Union[str, os.PathLike], **kwargs: Any):
    """Load a checkpoint into the head its ``config.json`` names (the bare ``ErnieMModel`` when none)."""
    from . import modeling

    config = ErnieMConfig.from_pretrained(directory)
    return getattr(modeling, config.architecture or BASE).from_pretrained(directory, **kwargs)


def _tokenizer_files() -> Tuple[str, ...]:
    """Files a checkpoint directory may hold for its tokenizer (copied into the export when present)."""
    from . import tokenizer

    return (tokenizer.VOCAB_FILE, tokenizer.SENTENCEPIECE_MODEL_FILE, tokenizer.TOKENIZER_CONFIG_FILE,
            tokenizer.SPECIAL_TOKENS_MAP_FILE)


def program_file(directory: Path) -> Path:
    """The program file of an export directory, whichever format Paddle wrote."""
    for suffix in PROGRAM_SUFFIXES:
        candidate = directory / (PROGRAM_PREFIX + suffix)
        if candidate.is_file():
            return candidate
    names = " or ".join(PROGRAM_PREFIX + s for s in PROGRAM_SUFFIXES)
    raise FileNotFoundError(f"{directory}: no {names}")


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
        meta = safe_json.loads(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError, nested too deep
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


def _output_layout(model, input_rank: int) -> List[Dict[str, Any]]:
    """Names of the tensors the head returns with ``return_dict=False`` (the fields of its output dataclass)
    and whether each has a sequence axis, found by running the model on two tiny inputs of different length."""
    import dataclasses

    import paddle

    shapes = []
    with paddle.no_grad():
        for seq in (1, 2):
            ids = paddle.zeros([1] * (input_rank - 1) + [seq], dtype="int64")
            output = model(ids, return_dict=True)
            named = {f.name: getattr(output, f.name) for f in dataclasses.fields(output)
                     if f.metadata.get("in_tuple", True) and getattr(output, f.name) is not None}
            shapes.append({name: list(t.shape) for name, t in named.items()})
    return [{"name": name, "per_token": shape != shapes[1][name]} for name, shape in shapes[0].items()]


def save_program(layer, path: str, input_spec: Sequence[Any]) -> None:
    """``paddle.jit.save(layer, path, input_spec=input_spec)`` without Paddle's :data:`PIR_OUT_WARNING` (only
    that line of its native log is dropped)."""
    import paddle

    from .runtime import native_stderr_without

    with native_stderr_without(PIR_OUT_WARNING):
        paddle.jit.save(layer, path, input_spec=input_spec)


def _export_layer(model, output_names: List[str]):
    """The ``paddle.nn.Layer`` traced by ``paddle.jit.save``: the three inputs, a tuple of named outputs."""
    import paddle

    class ErnieMExport(paddle.nn.Layer):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, input_ids, position_ids, attention_mask):  # argument names become the input names
            output = self.model(input_ids, position_ids=position_ids, attention_mask=attention_mask,
                                return_dict=True)
            return tuple(getattr(output, name) for name in output_names)

    return ErnieMExport(model)


def export_model(
    model,
    out_dir: Union[str, os.PathLike],
    precision: str = "fp32",
    force: bool = False,
    tokenizer_dir: Optional[Union[str, os.PathLike]] = None,
    format: str = "paddle",
    follow_symlinks: bool = False,
) -> Path:
    """Export a float32 ERNIE-M model (any head) for Paddle Inference or ONNX Runtime into ``out_dir``; return
    ``out_dir``.

    Args:
        model: an ``ErnieMModel`` or head instance (its weights must be float32).
        out_dir: the export directory; written atomically, refused if it exists unless ``force`` (which replaces
            only an earlier export, or an empty directory).
        precision: ``format="paddle"``: the predictor's default precision, ``"fp32"``, ``"bf16"`` or ``"fp16"``
            (weights stay float32: Paddle Inference converts them where the device supports the precision);
            ``format="onnx"``: ``"fp32"`` or ``"int8"`` (int8 weights, see :mod:`paddle_ernie_m.onnx_graph`).
        tokenizer_dir: copy the tokenizer files found there (those that are symbolic links leading outside it only
            with ``follow_symlinks``).
        format: ``"paddle"`` or ``"onnx"``.
    """
    from paddle.static import InputSpec

    from .modeling import ErnieMForMultipleChoice
    from .pretrained import ErnieMPretrainedModel

    if not isinstance(model, ErnieMPretrainedModel):
        raise ExportError(f"can only export ERNIE-M models, got {type(model).__name__}")
    precision = check_format(format, precision)
    dtypes = {str(p.dtype).replace("paddle.", "") for p in model.parameters()}
    if dtypes != {"float32"}:
        raise ExportError(f"export needs float32 weights, the model has {', '.join(sorted(dtypes))}: load it with "
                          f"dtype='float32' (the predictor runs bf16/fp16 from float32 weights)")
    if tokenizer_dir is not None:
        check_links_inside(tokenizer_dir, _tokenizer_files(), follow_symlinks)
    input_rank = 3 if isinstance(model, ErnieMForMultipleChoice) else 2
    was_training = model.training
    model.eval()
    try:
        outputs = _output_layout(model, input_rank)
        with atomic_directory(out_dir, WRITER, force=force, inputs=(tokenizer_dir, model.pretrained_dir)) as tmp:
            if format == "onnx":
                write_onnx(model, tmp, [o["name"] for o in outputs], precision)
            else:
                spec = [InputSpec([None] * input_rank, "int64", name) for name in INPUT_NAMES]
                save_program(_export_layer(model, [o["name"] for o in outputs]), str(tmp / PROGRAM_PREFIX), spec)
            program = write_export_files(tmp, model, INPUT_NAMES, input_rank, outputs, precision, FORMATS[format])
            if tokenizer_dir is not None:
                for name in _tokenizer_files():
                    if (Path(tokenizer_dir) / name).is_file():
                        shutil.copy2(Path(tokenizer_dir) / name, tmp / name)
    finally:
        if was_training:
            model.train()
    logger.debug("exported %s to %s (%s)", model.head_name, out_dir, program.name)  # the CLI prints it
    return Path(out_dir)


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


def write_onnx(model, directory: Path, output_names: Sequence[str], precision: str,
               float_bias: bool = False) -> None:
    """Write the ONNX graph of ``model`` (:mod:`paddle_ernie_m.onnx_graph`) into ``directory``."""
    from .onnx_engine import ONNX_FILE, check_export_packages, save_graph
    from .onnx_graph import build_graph, state_of

    check_export_packages()
    graph = build_graph(state_of(model), model.config, model.head_name, precision, float_bias=float_bias)
    produced = [o.name for o in graph.graph.output]
    if produced != list(output_names):  # the graph must return what the dygraph head returns
        raise AssertionError(f"ONNX outputs {produced} differ from the model's {list(output_names)}")
    save_graph(graph, directory / ONNX_FILE)


def write_export_files(directory: Path, model, inputs: Sequence[str], input_rank: int,
                       outputs: List[Dict[str, Any]], precision: str, engine: str = FORMATS["paddle"]) -> Path:
    """Write ``export.json`` and ``config.json`` beside the program written into ``directory``; return the
    program file."""
    import paddle

    from .onnx_engine import ONNX_FILE

    program = directory / ONNX_FILE if engine == ONNX_ENGINE else program_file(directory)
    meta = {
        "format_version": FORMAT_VERSION,
        "engine": engine,
        "head": model.head_name,
        "inputs": list(inputs),
        "input_rank": input_rank,
        "outputs": outputs,
        "precision": precision,
        "program": program.name,
        "paddle_version": paddle.__version__,
    }
    write_atomic(directory / EXPORT_META, json.dumps(meta, indent=2) + "\n")
    model.config.replace(architectures=(model.head_name,)).save_pretrained(directory, dialect="paddle")
    return program


def export_pretrained(
    model_dir: Union[str, os.PathLike],
    out_dir: Union[str, os.PathLike],
    precision: str = "fp32",
    force: bool = False,
    format: str = "paddle",
    follow_symlinks: bool = False,
) -> Path:
    """Export the checkpoint in ``model_dir`` (head from its config) with its tokenizer files (those that are
    symbolic links leading outside ``model_dir`` only with ``follow_symlinks``)."""
    check_format(format, precision)  # fail before the slow load
    check_links_inside(model_dir, _tokenizer_files(), follow_symlinks)
    if format == "onnx":
        from .onnx_engine import check_export_packages

        check_export_packages()
    check_outside(out_dir, (model_dir,))
    check_replaceable(out_dir, WRITER, force)
    model = load_pretrained(model_dir, dtype="float32")
    return export_model(model, out_dir, precision=precision, force=force, tokenizer_dir=model_dir, format=format,
                        follow_symlinks=follow_symlinks)


# ---------------------------------------------------------------------------------------------------- CLI
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint for Paddle Inference or ONNX Runtime",
        description="Export a checkpoint (any head) for Paddle Inference (paddle.jit.save) or ONNX Runtime (an ONNX "
                    "graph written from the weights, fp32 or int8): dynamic batch and sequence dimensions, inputs "
                    "input_ids, position_ids, attention_mask. Writes the program, export.json, config.json and the "
                    "tokenizer files into OUT_DIR; load it with paddle_ernie_m.inference.Predictor or `ernie-m "
                    "predict --model OUT_DIR`.",
    )
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="checkpoint directory")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="export directory to create")
    parser.add_argument("--format", choices=tuple(FORMATS), default="paddle",
                        help="paddle: a Paddle Inference program; onnx: an ONNX graph for ONNX Runtime, faster than "
                             "Paddle Inference on the CPUs measured (needs the [onnx] extra) (default: paddle)")
    parser.add_argument("--precision", "--dtype", dest="precision", choices=PRECISION_NAMES, default="fp32",
                        help="paddle format: the predictor's default precision, fp32, bf16 (CPUs with avx512_bf16) "
                             "or fp16 (GPUs), weights stored in float32; onnx format: fp32, or int8 (int8 weights, "
                             "a quarter of the size, 1.7x onnx fp32 on a base-size model on an AVX2 CPU; see "
                             "docs/benchmarks.md) (default: fp32)")
    parser.add_argument("--force", action="store_true", help="replace OUT_DIR if an earlier export wrote it")
    parser.add_argument("--follow-symlinks", action="store_true",
                        help="copy tokenizer files that are symbolic links leading outside MODEL_DIR (refused by "
                             "default, so that a link cannot carry another file's bytes into OUT_DIR)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = export_pretrained(args.model_dir, args.out_dir, precision=args.precision, force=args.force,
                            format=args.format, follow_symlinks=args.follow_symlinks)
    meta = read_export_meta(out)
    print(f"exported {meta['head']} to {out} (outputs: {', '.join(o['name'] for o in meta['outputs'])}; "
          f"{meta['engine']}, precision {meta['precision']})")
    return 0
