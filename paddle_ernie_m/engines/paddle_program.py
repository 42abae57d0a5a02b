"""The Paddle program of an export: ``paddle.jit.save`` of a model whose inputs and outputs are fixed tensors.

Paddle 3.x writes ``inference.json`` (PIR) + ``inference.pdiparams``, Paddle 2.x ``inference.pdmodel`` +
``inference.pdiparams``; Paddle Inference (:mod:`paddle_ernie_m.engines.paddle_engine`) runs either. Paddle is
imported only when a program is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence

PROGRAM_PREFIX = "inference"
#: Program files, newest format first: PIR JSON (Paddle >= 3.0), then the ProgramDesc protobuf (Paddle 2.x).
PROGRAM_SUFFIXES = (".json", ".pdmodel")
PARAMS_SUFFIX = ".pdiparams"

#: What Paddle 3.x's C++ logs once per process when ``paddle.jit.save`` traces ``paddle.arange``, ``==`` or
#: ``softmax``: its own Python API passes ``out=None`` to the static-graph ops. Nothing is wrong with the program.
PIR_OUT_WARNING = "Paddle static graph(PIR) not support input out tensor"


def program_file(directory: Path) -> Path:
    """The program file of an export directory, whichever format Paddle wrote."""
    for suffix in PROGRAM_SUFFIXES:
        candidate = directory / (PROGRAM_PREFIX + suffix)
        if candidate.is_file():
            return candidate
    names = " or ".join(PROGRAM_PREFIX + s for s in PROGRAM_SUFFIXES)
    raise FileNotFoundError(f"{directory}: no {names}")


def save_program(layer, path: str, input_spec: Sequence[Any]) -> None:
    """``paddle.jit.save(layer, path, input_spec=input_spec)`` without Paddle's :data:`PIR_OUT_WARNING` (only
    that line of its native log is dropped)."""
    import paddle

    from ..runtime import native_stderr_without

    with native_stderr_without(PIR_OUT_WARNING):
        paddle.jit.save(layer, path, input_spec=input_spec)


def export_layer(model, output_names: List[str]):
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


def save_model_program(model, directory: Path, output_names: List[str], input_names: Sequence[str],
                       input_rank: int) -> None:
    """Write the program of ``model`` (inputs ``input_names``, int64 with dynamic dimensions; outputs
    ``output_names``) into ``directory``."""
    from paddle.static import InputSpec

    spec = [InputSpec([None] * input_rank, "int64", name) for name in input_names]
    save_program(export_layer(model, output_names), str(directory / PROGRAM_PREFIX), spec)
