"""The ONNX Runtime engine of :class:`~paddle_ernie_m.engines.predictor.Predictor`, for ``--format onnx`` exports.

CPU: ONNX Runtime's CPU provider with ``threads`` intra-op threads (default: every core available to the
process). GPU: the CUDA provider, when the installed ``onnxruntime`` has it (``onnxruntime-gpu``); int8 exports
are for CPUs (their quantized products have CPU kernels only). Imports
``onnxruntime`` only when an engine is made; without it, one line says how to install it.
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .export_format import FORMAT_PRECISIONS, ExportError

logger = logging.getLogger(__name__)

INSTALL_HINT = "install it with `pip install paddle-ernie-m[onnx]` (onnxruntime-gpu for CUDA)"
#: Oldest ONNX Runtime that runs the graphs right: before 1.22 its CPU MultiHeadAttention mixed up the rows of a
#: batch given a per-row attention bias (the UIE graph's), changing results by up to 0.13.
MIN_ONNXRUNTIME = (1, 22)


class EngineError(ExportError):
    """An ONNX export cannot be loaded here (the export cache then exports again)."""


def import_onnxruntime():
    """The ``onnxruntime`` module, or ``ImportError`` with one line on how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(f"ONNX Runtime is not installed: {INSTALL_HINT}") from None
    version = tuple(int(part) for part in re.findall(r"\d+", onnxruntime.__version__)[:2])
    if version < MIN_ONNXRUNTIME:
        raise ImportError(f"ONNX Runtime {onnxruntime.__version__} is too old (its MultiHeadAttention gives wrong "
                          f"results for batches with a per-row bias; {'.'.join(map(str, MIN_ONNXRUNTIME))} or newer "
                          f"needed): {INSTALL_HINT}")
    return onnxruntime


def check_export_packages() -> None:
    """Raise ``ImportError`` (one line: how to install them) unless ``onnx`` and ``onnxruntime`` import: an
    export needs the first to be written and the second to be of use."""
    import_onnxruntime()
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError(f"the onnx package is not installed: {INSTALL_HINT}") from None


def onnx_device(ort, device: Optional[str], precision: str) -> str:
    """``"cpu"`` or ``"gpu:N"``: the default is the GPU when the CUDA provider is available, except for int8
    (whose quantized products have CPU kernels only)."""
    from ..runtime import resolve_device

    gpus = sys.maxsize if "CUDAExecutionProvider" in ort.get_available_providers() else 0
    return resolve_device(device, gpus, "this onnxruntime has no CUDA provider (install onnxruntime-gpu)",
                          prefer_gpu=precision != "int8")


class OnnxEngine:
    """An ONNX Runtime session on the graph of an export directory.

    Args:
        path: the export directory; ``meta``: its ``export.json``.
        device, threads: as for :class:`~paddle_ernie_m.engines.predictor.Predictor`.
        precision: must be the export's (``None``: the export's).
    """

    def __init__(self, path: Path, meta: Dict[str, Any], device: Optional[str], threads: Optional[int],
                 precision: Optional[str]) -> None:
        ort = import_onnxruntime()
        graph = path / meta["program"]
        if not graph.is_file():
            raise FileNotFoundError(f"{graph} not found (incomplete export)")
        exported = meta["precision"]
        if precision is not None and precision != exported:
            again = (f"export it again with --precision {precision}" if precision in FORMAT_PRECISIONS["onnx"]
                     else f"ONNX exports are {' or '.join(FORMAT_PRECISIONS['onnx'])}")
            raise ValueError(f"precision {precision!r}: {path} is an ONNX export in {exported}, which runs only in "
                             f"its own precision ({again})")
        self.precision = exported
        self.device = onnx_device(ort, device, exported)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no notes about initializers the optimizer drops
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if self.device == "cpu":
            if threads is None:
                from ..runtime import available_cores

                threads = available_cores()
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer, got {threads!r}")
            options.intra_op_num_threads = threads
            providers: List[Any] = ["CPUExecutionProvider"]
        else:
            providers = [("CUDAExecutionProvider", {"device_id": int(self.device.partition(":")[2])}),
                         "CPUExecutionProvider"]
            if exported == "int8":  # DynamicQuantizeMatMul has CPU kernels only: asked for explicitly
                logger.warning("%s: an int8 export runs its matrix products on the CPU even with the CUDA "
                               "provider; export fp32 for GPUs", path)
        self.threads = threads if self.device == "cpu" else None
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise EngineError(f"{graph}: ONNX Runtime {ort.__version__} cannot load this export ({exc}); export "
                              f"it again") from None
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_count = len(self._session.get_outputs())

    def run(self, feeds: Sequence[np.ndarray]) -> List[np.ndarray]:
        outputs = self._session.run(None, dict(zip(self.input_names, feeds)))
        return [np.asarray(out, dtype=np.float32) for out in outputs]

