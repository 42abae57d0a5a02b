"""Run a UIE-M model on token ids with an additive attention bias: Paddle Inference (default) or dygraph.

The runners take ``input_ids`` and ``position_ids`` (int64 ``[batch, seq]``) and ``attention_bias`` (float32
``[batch, seq]``, added to the attention scores of every query for that key: 0 to attend, ``MASK_BIAS`` to mask, or
``log(n)`` to make one key stand for ``n`` identical ones), and return ``(start_prob, end_prob)`` as float32
``[batch, seq]`` arrays. A float bias is what lets the exact mode run PaddleNLP's padded inputs with one padding
token per row (see ``extractor.py``); the project's standard export only takes a 0/1 mask, so the inference runner
exports its own program with this third input and runs it through
:meth:`paddle_ernie_m.inference.Predictor.run_program` (the predictor's device, thread and precision set-up, none
of its input handling).
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from converters.configuration import ErnieMConfig

from ..inference import Predictor

INPUTS = ("input_ids", "position_ids", "attention_bias")
OUTPUTS = ("start_prob", "end_prob")
BACKENDS = ("inference", "dygraph")

Probabilities = Tuple[np.ndarray, np.ndarray]


class DygraphRunner:
    """The model in Paddle's dygraph mode (slower on CPU; needs no export)."""

    def __init__(self, model) -> None:
        self.model = model
        self.config: ErnieMConfig = model.config

    def __call__(self, input_ids: np.ndarray, position_ids: np.ndarray, attention_bias: np.ndarray) -> Probabilities:
        import paddle

        with paddle.no_grad():
            output = self.model(paddle.to_tensor(input_ids), paddle.to_tensor(position_ids),
                                attention_mask=paddle.to_tensor(attention_bias[:, None, None, :]))
        return output.start_prob.numpy(), output.end_prob.numpy()


class InferenceRunner(Predictor):
    """A :class:`~paddle_ernie_m.inference.Predictor` over a UIE-M program whose third input is a float bias."""

    def __call__(self, input_ids: np.ndarray, position_ids: np.ndarray, attention_bias: np.ndarray) -> Probabilities:
        feeds = [np.ascontiguousarray(input_ids, dtype=np.int64), np.ascontiguousarray(position_ids, dtype=np.int64),
                 np.ascontiguousarray(attention_bias, dtype=np.float32)]
        start, end = self.run_program(feeds)
        return start, end

    @classmethod
    def from_model(cls, model, threads: Optional[int] = None) -> "InferenceRunner":
        """Export ``model`` (float32 ``ErnieMForInformationExtraction``) to a temporary directory and load it."""
        with tempfile.TemporaryDirectory(prefix="ernie-m-uie-") as tmp:
            return cls(export_uie(model, Path(tmp) / "export"), threads=threads, precision="fp32")


def export_uie(model, out_dir: Path) -> Path:
    """``paddle.jit.save`` the UIE-M model with inputs :data:`INPUTS` into ``out_dir``, with the ``export.json``
    and ``config.json`` that :class:`~paddle_ernie_m.inference.Predictor` reads."""
    import paddle
    from paddle.static import InputSpec

    from ..export import PROGRAM_PREFIX, save_program, write_export_files

    class UIEWithBias(paddle.nn.Layer):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, input_ids, position_ids, attention_bias):  # argument names become the input names
            output = self.model(input_ids, position_ids, attention_mask=attention_bias.unsqueeze([1, 2]))
            return output.start_prob, output.end_prob

    out_dir.mkdir(parents=True)
    spec = [InputSpec([None, None], "int64", INPUTS[0]), InputSpec([None, None], "int64", INPUTS[1]),
            InputSpec([None, None], "float32", INPUTS[2])]
    model.eval()
    save_program(UIEWithBias(model), str(out_dir / PROGRAM_PREFIX), spec)
    write_export_files(out_dir, model, INPUTS, 2, [{"name": name, "per_token": True} for name in OUTPUTS], "fp32")
    return out_dir
