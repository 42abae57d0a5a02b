"""Export of any ERNIE-M head for Paddle Inference or ONNX Runtime (`ernie-m export`).

Writes an export directory (:mod:`~paddle_ernie_m.engines.export_format`) that
:class:`~paddle_ernie_m.engines.predictor.Predictor` loads. Two formats:

* ``paddle``: the ``paddle.jit.save`` program (:mod:`~paddle_ernie_m.engines.paddle_program`), run by Paddle
  Inference in fp32, or bf16 / fp16 where the device computes them;
* ``onnx``: ``model.onnx``, written from the weights by :mod:`~paddle_ernie_m.engines.onnx_graph` in fp32 or int8,
  run by ONNX Runtime. A checkpoint directory is exported to ONNX with numpy and ``onnx`` alone (its weights read
  by :func:`read_weights`, in either layout): no Paddle, no torch.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from converters.checkpoint import copy_tokenizer_files, read_checkpoint
from converters.configuration import ErnieMConfig
from converters.tensors import canonical_head, cast
from converters.files import atomic_directory, check_outside, check_replaceable
from converters.mapping import CHOICE, PADDLE

from .export_format import (FORMATS, INPUT_NAMES, PRECISION_NAMES, ExportError, check_format, read_export_meta,
                            write_export_files)
from .onnx_engine import check_export_packages
from .onnx_graph import HEAD_OUTPUTS, ONNX_FILE, build_graph, save_graph
from .paddle_program import save_model_program

logger = logging.getLogger(__name__)

#: The writer named in the marker of every export directory (``--force`` replaces only those).
WRITER = "ernie-m export"


def load_pretrained(directory: Union[str, os.PathLike], **kwargs: Any):
    """Load a checkpoint in either layout into the head its config names (the bare ``ErnieMModel`` when none)."""
    from .. import modeling

    checkpoint = read_checkpoint(directory)
    return getattr(modeling, checkpoint.head).from_checkpoint(checkpoint, **kwargs)


def read_weights(directory: Union[str, os.PathLike], head: Optional[str] = None
                 ) -> Tuple[ErnieMConfig, str, Dict[str, np.ndarray]]:
    """``(config, head, weights)`` of the checkpoint in ``directory``, in either layout, read with numpy alone
    (:func:`~converters.checkpoint.read_checkpoint`): the weights as float32 arrays under the names the Paddle
    class of ``head`` (default: the config's, else the bare model) gives them. The one place the engines read a
    checkpoint without Paddle."""
    checkpoint = read_checkpoint(directory, PADDLE, head=head)
    head = canonical_head(head or checkpoint.head)
    state = {name: cast(tensor.read(), "float32") for name, tensor in checkpoint.tensors_for(head).items()}
    return checkpoint.config, head, state


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
        with atomic_directory(out_dir, WRITER, force=force, inputs=(tokenizer_dir, model.pretrained_dir)) as tmp:
            if format == "onnx":
                write_onnx_export(tmp, model.config, model.head_name, state_of(model), precision)
            else:
                outputs = _output_layout(model, input_rank)
                save_model_program(model, tmp, [o["name"] for o in outputs], INPUT_NAMES, input_rank)
                write_export_files(tmp, model.config, model.head_name, INPUT_NAMES, input_rank, outputs, precision)
            if tokenizer_dir is not None:
                copy_tokenizer_files(tokenizer_dir, tmp)
    finally:
        if was_training:
            model.train()
    logger.debug("exported %s to %s (%s)", model.head_name, out_dir, format)  # the CLI prints it
    return Path(out_dir)


def write_onnx_export(directory: Path, config: ErnieMConfig, head: str, state: Dict[str, np.ndarray],
                      precision: str, float_bias: bool = False, source: Optional[Path] = None) -> Path:
    """Write the ONNX graph of ``head`` with the float32 weights ``state`` (Paddle names; see
    :mod:`~paddle_ernie_m.engines.onnx_graph`), its ``export.json`` and ``config.json`` into the existing
    ``directory``; return the graph file. ``float_bias``: a float ``attention_bias`` input in place of
    ``attention_mask`` (the UIE runner's); ``source``: the checkpoint, named in errors."""
    check_export_packages()
    try:
        graph = build_graph(state, config, head, precision, float_bias=float_bias)
    except KeyError as exc:  # a checkpoint without the weights of its head (or of the model)
        raise ExportError(f"{source or 'the model'}: cannot export {head}: {exc.args[0]} (a head must be trained "
                          f"before it is exported)") from None
    save_graph(graph, directory / ONNX_FILE)
    outputs = [{"name": name, "per_token": per_token} for name, per_token in HEAD_OUTPUTS[head].items()]
    inputs = [i.name for i in graph.graph.input]
    return write_export_files(directory, config, head, inputs, 3 if head == CHOICE else 2, outputs, precision,
                              FORMATS["onnx"])


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
    """Export the checkpoint in ``model_dir`` (head from its config) with its tokenizer files into ``out_dir``
    (written atomically; ``force`` as for :func:`export_model`). The ``onnx`` format reads the weights with numpy
    (:func:`read_weights`): Paddle need not be installed."""
    precision = check_format(format, precision)  # fail before the slow load
    if format == "onnx":
        check_export_packages()
    check_outside(out_dir, (model_dir,))
    check_replaceable(out_dir, WRITER, force)
    if format == "paddle":
        model = load_pretrained(model_dir, dtype="float32")
        return export_model(model, out_dir, precision=precision, force=force, tokenizer_dir=model_dir)
    config, head, state = read_weights(model_dir)
    with atomic_directory(out_dir, WRITER, force=force, inputs=(model_dir,)) as tmp:
        write_onnx_export(tmp, config, head, state, precision, source=Path(model_dir))
        copy_tokenizer_files(model_dir, tmp)
    return Path(out_dir)


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
                             "Paddle Inference on the CPUs measured, written with numpy alone (needs the [onnx] extra, "
                             "not Paddle) (default: paddle)")
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
