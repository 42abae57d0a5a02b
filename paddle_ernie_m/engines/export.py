"""Export of any ERNIE-M head for Paddle Inference or ONNX Runtime (`ernie-m export`).

Writes an export directory (:mod:`~paddle_ernie_m.engines.export_format`) that
:class:`~paddle_ernie_m.engines.predictor.Predictor` loads. Two formats:

* ``paddle``: the ``paddle.jit.save`` program (:mod:`~paddle_ernie_m.engines.paddle_program`), run by Paddle
  Inference in fp32, or bf16 / fp16 where the device computes them;
* ``onnx``: ``model.onnx``, written from the weights by :mod:`~paddle_ernie_m.engines.onnx_graph` in fp32 or int8,
  run by ONNX Runtime.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from converters.configuration import ErnieMConfig
from converters.files import atomic_directory, check_outside, check_replaceable
from converters.mapping import BASE, CHOICE

from .export_format import (FORMATS, INPUT_NAMES, PRECISION_NAMES, ExportError, check_format, read_export_meta,
                            write_export_files)
from .onnx_engine import check_export_packages
from .onnx_graph import ONNX_FILE, build_graph, save_graph
from .paddle_program import save_model_program

logger = logging.getLogger(__name__)

#: The writer named in the marker of every export directory (``--force`` replaces only those).
WRITER = "ernie-m export"


def load_pretrained(directory: Union[str, os.PathLike], **kwargs: Any):
    """Load a checkpoint into the head its ``config.json`` names (the bare ``ErnieMModel`` when none)."""
    from .. import modeling

    config = ErnieMConfig.from_pretrained(directory)
    return getattr(modeling, config.architecture or BASE).from_pretrained(directory, **kwargs)


def _tokenizer_files() -> Tuple[str, ...]:
    """Files a checkpoint directory may hold for its tokenizer (copied into the export when present)."""
    from .. import tokenizer

    return (tokenizer.VOCAB_FILE, tokenizer.SENTENCEPIECE_MODEL_FILE, tokenizer.TOKENIZER_CONFIG_FILE,
            tokenizer.SPECIAL_TOKENS_MAP_FILE)


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


def export_model(
    model,
    out_dir: Union[str, os.PathLike],
    precision: str = "fp32",
    force: bool = False,
    tokenizer_dir: Optional[Union[str, os.PathLike]] = None,
    format: str = "paddle",
) -> Path:
    """Export a float32 ERNIE-M model (any head) for Paddle Inference or ONNX Runtime into ``out_dir``; return
    ``out_dir``.

    Args:
        model: an ``ErnieMModel`` or head instance (its weights must be float32).
        out_dir: the export directory; written atomically, refused if it exists unless ``force`` (which replaces
            only an earlier export, or an empty directory).
        precision: ``format="paddle"``: the predictor's default precision, ``"fp32"``, ``"bf16"`` or ``"fp16"``
            (weights stay float32: Paddle Inference converts them where the device supports the precision);
            ``format="onnx"``: ``"fp32"`` or ``"int8"`` (int8 weights, see :mod:`~paddle_ernie_m.engines.onnx_graph`).
        tokenizer_dir: copy the tokenizer files found there.
        format: ``"paddle"`` or ``"onnx"``.
    """
    from ..pretrained import ErnieMPretrainedModel

    if not isinstance(model, ErnieMPretrainedModel):
        raise ExportError(f"can only export ERNIE-M models, got {type(model).__name__}")
    precision = check_format(format, precision)
    dtypes = {str(p.dtype).replace("paddle.", "") for p in model.parameters()}
    if dtypes != {"float32"}:
        raise ExportError(f"export needs float32 weights, the model has {', '.join(sorted(dtypes))}: load it with "
                          f"dtype='float32' (the predictor runs bf16/fp16 from float32 weights)")
    input_rank = 3 if model.head_name == CHOICE else 2
    was_training = model.training
    model.eval()
    try:
        outputs = _output_layout(model, input_rank)
        with atomic_directory(out_dir, WRITER, force=force, inputs=(tokenizer_dir, model.pretrained_dir)) as tmp:
            names = [o["name"] for o in outputs]
            if format == "onnx":
                write_onnx(model, tmp, names, precision)
            else:
                save_model_program(model, tmp, names, INPUT_NAMES, input_rank)
            program = write_export_files(tmp, model.config, model.head_name, INPUT_NAMES, input_rank, outputs,
                                         precision, FORMATS[format])
            if tokenizer_dir is not None:
                for name in _tokenizer_files():
                    if (Path(tokenizer_dir) / name).is_file():
                        shutil.copy2(Path(tokenizer_dir) / name, tmp / name)
    finally:
        if was_training:
            model.train()
    logger.debug("exported %s to %s (%s)", model.head_name, out_dir, program.name)  # the CLI prints it
    return Path(out_dir)


def write_onnx(model, directory: Path, output_names: Sequence[str], precision: str,
               float_bias: bool = False) -> None:
    """Write the ONNX graph of ``model`` (:mod:`~paddle_ernie_m.engines.onnx_graph`) into ``directory``."""
    check_export_packages()
    graph = build_graph(state_of(model), model.config, model.head_name, precision, float_bias=float_bias)
    produced = [o.name for o in graph.graph.output]
    if produced != list(output_names):  # the graph must return what the dygraph head returns
        raise AssertionError(f"ONNX outputs {produced} differ from the model's {list(output_names)}")
    save_graph(graph, directory / ONNX_FILE)


def state_of(model) -> Dict[str, np.ndarray]:
    """A Paddle model's weights as float32 numpy arrays."""
    return {name: value.numpy().astype(np.float32) for name, value in model.state_dict().items()}


def export_pretrained(
    model_dir: Union[str, os.PathLike],
    out_dir: Union[str, os.PathLike],
    precision: str = "fp32",
    force: bool = False,
    format: str = "paddle",
) -> Path:
    """Export the checkpoint in ``model_dir`` (head from its config) with its tokenizer files."""
    check_format(format, precision)  # fail before the slow load
    if format == "onnx":
        check_export_packages()
    check_outside(out_dir, (model_dir,))
    check_replaceable(out_dir, WRITER, force)
    model = load_pretrained(model_dir, dtype="float32")
    return export_model(model, out_dir, precision=precision, force=force, tokenizer_dir=model_dir, format=format)


# ---------------------------------------------------------------------------------------------------- CLI
def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint for Paddle Inference or ONNX Runtime",
        description="Export a checkpoint (any head) for Paddle Inference (paddle.jit.save) or ONNX Runtime (an ONNX "
                    "graph written from the weights, fp32 or int8): dynamic batch and sequence dimensions, inputs "
                    "input_ids, position_ids, attention_mask. Writes the program, export.json, config.json and the "
                    "tokenizer files into OUT_DIR; load it with paddle_ernie_m.Predictor or `ernie-m "
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = export_pretrained(args.model_dir, args.out_dir, precision=args.precision, force=args.force,
                            format=args.format)
    meta = read_export_meta(out)
    print(f"exported {meta['head']} to {out} (outputs: {', '.join(o['name'] for o in meta['outputs'])}; "
          f"{meta['engine']}, precision {meta['precision']})")
    return 0
