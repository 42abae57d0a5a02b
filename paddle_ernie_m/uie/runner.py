"""Run a UIE-M model on token ids with an additive attention bias: Paddle Inference (default), ONNX Runtime (fp32
or int8), Paddle dygraph, or PyTorch; every backend reads a checkpoint in either layout (Paddle's or transformers').

The runners take ``input_ids`` and ``position_ids`` (int64 ``[batch, seq]``) and ``attention_bias`` (float32
``[batch, seq]``, added to the attention scores of every query for that key: 0 to attend, ``MASK_BIAS`` to mask, or
``log(n)`` to make one key stand for ``n`` identical ones), and return ``(start_prob, end_prob)`` as float32
``[batch, seq]`` arrays. A float bias is what lets the exact mode run PaddleNLP's padded inputs with one padding
token per row (see ``extractor.py``); the project's standard export only takes a 0/1 mask, so the inference runner
exports its own program with this third input (kept in the export cache, :mod:`paddle_ernie_m.engines.export_cache`) and
runs it through :meth:`paddle_ernie_m.engines.predictor.Predictor.run_program` (the predictor's device, thread and
precision set-up, none of its input handling); the onnxruntime runner does the same with an ONNX export.

Each runner imports only its own framework: the torch and onnxruntime runners work where Paddle is not installed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from converters.mapping import UIE

from ..engines.export_format import BACKEND_FORMATS, FORMAT_PRECISIONS

INPUTS = ("input_ids", "position_ids", "attention_bias")
OUTPUTS = ("start_prob", "end_prob")
BACKENDS = ("inference", "onnxruntime", "dygraph", "torch")
#: The precisions each backend runs UIE-M in (the first is the default).
BACKEND_PRECISIONS = {"inference": ("fp32",), "onnxruntime": FORMAT_PRECISIONS["onnx"], "dygraph": ("fp32",),
                      "torch": ("fp32",)}
#: The export cache's name for the UIE program with a float bias (not the standard ``ernie-m export``).
EXPORT_KIND = "uie-bias"

Probabilities = Tuple[np.ndarray, np.ndarray]
PathLike = Union[str, os.PathLike]


def check_precision(backend: str, precision: Optional[str]) -> str:
    """``precision`` (``None``: the backend's default) after checking that ``backend`` runs it."""
    choices = BACKEND_PRECISIONS[backend]
    if precision is None:
        return choices[0]
    if precision not in choices:
        raise ValueError(f"backend {backend!r} runs precision {', '.join(choices)}, not {precision!r}"
                         + (" (int8: backend 'onnxruntime')" if precision == "int8" else ""))
    return precision


def load_runner(backend: str, model_dir: PathLike, device: Optional[str] = None, threads: Optional[int] = None,
                cache_dir: Optional[PathLike] = None, precision: Optional[str] = None):
    """The runner of ``backend`` for the UIE-M checkpoint in ``model_dir``, in either layout (Paddle's or
    transformers': every backend reads both, through :mod:`converters.checkpoint`).
    ``device``: the framework's spelling (``"cpu"``, ``"gpu:0"`` for Paddle Inference and ONNX Runtime,
    ``"cuda:0"`` for torch); ``cache_dir``: the export cache (inference, onnxruntime); ``precision``: see
    :data:`BACKEND_PRECISIONS`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    precision = check_precision(backend, precision)
    if backend == "torch":
        return TorchRunner(model_dir, device=device, threads=threads)
    if backend in BACKEND_FORMATS:
        return InferenceRunner.load(model_dir, device=device, threads=threads, cache_dir=cache_dir,
                                    format=BACKEND_FORMATS[backend], precision=precision)
    if device is not None:
        raise ValueError("device applies to backends 'inference' and 'torch'; 'dygraph' runs on Paddle's current "
                         "device (paddle.set_device)")
    from ..modeling import ErnieMForInformationExtraction
    from ..runtime import configure_cpu_threads

    if threads is not None:
        configure_cpu_threads(threads)
    return DygraphRunner(ErnieMForInformationExtraction.from_pretrained(model_dir, dtype="float32"))


class DygraphRunner:
    """The model in Paddle's dygraph mode (slower on CPU; needs no export)."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, input_ids: np.ndarray, position_ids: np.ndarray, attention_bias: np.ndarray) -> Probabilities:
        import paddle

        with paddle.no_grad():
            output = self.model(paddle.to_tensor(input_ids), paddle.to_tensor(position_ids),
                                attention_mask=paddle.to_tensor(attention_bias[:, None, None, :]), return_dict=True)
        return output.start_prob.numpy(), output.end_prob.numpy()


class InferenceRunner:
    """A UIE-M program whose third input is a float bias, run by a :class:`~paddle_ernie_m.engines.predictor.Predictor`
    (Paddle Inference or ONNX Runtime, whichever the export is for)."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def __call__(self, input_ids: np.ndarray, position_ids: np.ndarray, attention_bias: np.ndarray) -> Probabilities:
        feeds = [np.ascontiguousarray(input_ids, dtype=np.int64), np.ascontiguousarray(position_ids, dtype=np.int64),
                 np.ascontiguousarray(attention_bias, dtype=np.float32)]
        start, end = self.predictor.run_program(feeds)
        return start, end

    @classmethod
    def load(cls, model_dir: PathLike, device: Optional[str] = None, threads: Optional[int] = None,
             cache_dir: Optional[PathLike] = None, format: str = "paddle",
             precision: str = "fp32") -> "InferenceRunner":
        """The runner of the checkpoint in ``model_dir``, exported once (per format and precision) into the
        export cache."""
        from ..engines.export_cache import cached_export
        from ..engines.predictor import Predictor

        def export(out_dir: Path) -> None:
            export_uie(model_dir, out_dir, format, precision)

        def load(export_dir: Path) -> InferenceRunner:
            return cls(Predictor(export_dir, device=device, threads=threads, precision=precision))

        kind = EXPORT_KIND if format == "paddle" else f"{EXPORT_KIND}-{format}-{precision}"
        return cached_export(model_dir, kind, export, load, cache_dir, format=format)


class TorchRunner:
    """The model in PyTorch: this project's bundled ``ErnieMForInformationExtraction`` (never the code files of the
    directory) with the weights of a checkpoint in either layout, mapped in memory
    (:func:`~paddle_ernie_m.torch_loading.load_bundled_model`). Its forward takes the 4-D float bias as it is and
    adds the position offset itself, as the Paddle model does.

    Args:
        model_dir: the checkpoint directory (Paddle's ``model_state.pdparams`` or ``model.safetensors``, or
            transformers' ``model.safetensors`` or ``pytorch_model.bin``, read with ``torch.load(weights_only=True)``).
        device: a torch device; default CUDA when available, else the CPU.
        threads: CPU threads (``torch.set_num_threads``); default torch's.
    """

    def __init__(self, model_dir: PathLike, device: Optional[str] = None, threads: Optional[int] = None) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ImportError(f"backend 'torch' needs torch and transformers ({exc}); install them with "
                              f"`pip install paddle-ernie-m[torch]`") from None
        from ..torch_loading import load_bundled_model

        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer, got {threads!r}")
            torch.set_num_threads(threads)
        self.device = _torch_device(torch, device)
        self.model = load_bundled_model(model_dir, UIE).to(self.device)
        self._torch = torch

    def __call__(self, input_ids: np.ndarray, position_ids: np.ndarray, attention_bias: np.ndarray) -> Probabilities:
        torch = self._torch
        with torch.inference_mode():
            output = self.model(
                input_ids=torch.from_numpy(np.ascontiguousarray(input_ids, dtype=np.int64)).to(self.device),
                position_ids=torch.from_numpy(np.ascontiguousarray(position_ids, dtype=np.int64)).to(self.device),
                attention_mask=torch.from_numpy(np.ascontiguousarray(attention_bias[:, None, None, :],
                                                                     dtype=np.float32)).to(self.device))
            return tuple(torch.sigmoid(logits).float().cpu().numpy()
                         for logits in (output.start_logits, output.end_logits))


def _torch_device(torch, device: Optional[str]):
    """``device`` as a ``torch.device`` that exists here (default: CUDA when available, else the CPU)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a torch device ({exc})") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            raise ValueError(f"device {device!r}: this torch sees no CUDA device")
        if (chosen.index or 0) >= count:
            raise ValueError(f"device {device!r}: only {count} CUDA device(s) visible")
    return chosen


def export_uie(model_dir: PathLike, out_dir: Path, format: str = "paddle", precision: str = "fp32") -> Path:
    """Export the UIE-M checkpoint in ``model_dir`` with inputs :data:`INPUTS` into ``out_dir``
    (``paddle.jit.save``, or with ``format="onnx"`` an ONNX graph written from the weights with numpy alone), with
    the ``export.json`` and ``config.json`` that :class:`~paddle_ernie_m.engines.predictor.Predictor` reads."""
    if format == "onnx":
        from ..engines.export import read_weights, write_onnx_export

        config, head, state = read_weights(model_dir, head=UIE)
        out_dir.mkdir(parents=True)
        write_onnx_export(out_dir, config, head, state, precision, float_bias=True, source=Path(model_dir))
        return out_dir
    import paddle
    from paddle.static import InputSpec

    from ..engines.export_format import write_export_files
    from ..engines.paddle_program import PROGRAM_PREFIX, save_program
    from ..modeling import ErnieMForInformationExtraction

    model = ErnieMForInformationExtraction.from_pretrained(model_dir, dtype="float32")
    outputs = [{"name": name, "per_token": True} for name in OUTPUTS]

    class UIEWithBias(paddle.nn.Layer):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, input_ids, position_ids, attention_bias):  # argument names become the input names
            output = self.model(input_ids, position_ids, attention_mask=attention_bias.unsqueeze([1, 2]),
                                return_dict=True)
            return output.start_prob, output.end_prob

    out_dir.mkdir(parents=True)
    spec = [InputSpec([None, None], "int64", INPUTS[0]), InputSpec([None, None], "int64", INPUTS[1]),
            InputSpec([None, None], "float32", INPUTS[2])]
    model.eval()
    save_program(UIEWithBias(model), str(out_dir / PROGRAM_PREFIX), spec)
    write_export_files(out_dir, model.config, model.head_name, INPUTS, 2, outputs, "fp32")
    return out_dir
