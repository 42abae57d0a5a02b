"""Paddle Inference behind :class:`~paddle_ernie_m.engines.predictor.Predictor`: the engine of ``ernie-m export
--format paddle``.

CPU: oneDNN on, every available core (or ``threads``), bf16 through oneDNN where the CPU has ``avx512_bf16`` and
bf16 is asked for. GPU (Paddle built with CUDA): fp32, fp16 or bf16 mixed precision. Paddle is imported only when
an engine is made.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..runtime import cpu_info
from .export_format import PRECISION_NAMES, PRECISIONS, ExportError
from .paddle_program import PARAMS_SUFFIX, PROGRAM_PREFIX

logger = logging.getLogger(__name__)


def cpu_supports_bf16() -> bool:
    """Whether the CPU computes bf16 natively (``avx512_bf16`` or AMX), which oneDNN's bf16 kernels need to be
    fast. Read from ``/proc/cpuinfo``; elsewhere Paddle's own check of the same instructions."""
    flags = cpu_info()[1]
    if flags:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    import paddle

    return bool(paddle.base.core.supports_bfloat16_fast_performance())


class PaddleEngine:
    """A Paddle Inference predictor on the program of an export directory (``meta``: its ``export.json``);
    ``device``, ``threads`` and ``precision`` as for :class:`~paddle_ernie_m.engines.predictor.Predictor`."""

    def __init__(self, path: Path, meta: Dict[str, Any], device: Optional[str], threads: Optional[int],
                 precision: Optional[str]) -> None:
        import paddle

        self.device = _resolve_device(device)
        self.precision = _resolve_precision(precision, meta["precision"], self.device)
        if self.device == "cpu":
            if threads is None:  # not OMP_NUM_THREADS: importing Paddle sets it to 1 when unset
                from ..runtime import available_cores

                threads = available_cores()
            if not (isinstance(threads, int) and threads > 0):
                raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.threads = threads if self.device == "cpu" else None
        program = path / meta["program"]
        params = path / (PROGRAM_PREFIX + PARAMS_SUFFIX)
        for file in (program, params):
            if not file.is_file():
                raise FileNotFoundError(f"{file} not found (incomplete export)")
        written_by = meta["paddle_version"]
        if program.suffix == ".json" and paddle.__version__.split(".")[0] in ("1", "2"):
            raise ExportError(f"{program}: this export was written by Paddle {written_by} in the PIR format, which "
                              f"Paddle {paddle.__version__} cannot read; use Paddle >= 3.0 or export again with "
                              f"this version")
        self._predictor = self._create_predictor(program, params, written_by)
        self.input_names = list(self._predictor.get_input_names())
        self.output_count = len(self._predictor.get_output_names())
        self._inputs = [self._predictor.get_input_handle(n) for n in self.input_names]
        self._outputs = [self._predictor.get_output_handle(n) for n in self._predictor.get_output_names()]

    def _create_predictor(self, program: Path, params: Path, written_by: str):
        import paddle
        import paddle.inference as pi

        config = pi.Config(str(program), str(params))
        config.disable_glog_info()
        if self.device == "cpu":
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(self.threads)
            # oneDNN: 5.5x faster than Paddle's plain CPU kernels on AVX-512 CPUs (the README), as fast
            # on AVX2-only ones. Paddle < 3.0 names the switches mkldnn. No enable_memory_optim(): it fails in 3.x.
            (config.enable_onednn if hasattr(config, "enable_onednn") else config.enable_mkldnn)()
            if self.precision == "bf16":
                (config.enable_onednn_bfloat16 if hasattr(config, "enable_onednn_bfloat16")
                 else config.enable_mkldnn_bfloat16)()
        else:
            precision = {"fp32": pi.PrecisionType.Float32, "fp16": pi.PrecisionType.Half,
                         "bf16": pi.PrecisionType.Bfloat16}[self.precision]
            config.enable_use_gpu(256, int(self.device.partition(":")[2]), precision)
        try:
            return pi.create_predictor(config)
        except Exception as exc:  # Paddle raises assorted C++ errors for programs it cannot read
            raise ExportError(f"{program}: Paddle {paddle.__version__} cannot load this export (written by Paddle "
                              f"{written_by}); export it again with this Paddle version ({exc})") from None

    def run(self, feeds: Sequence[np.ndarray]) -> List[np.ndarray]:
        for handle, array in zip(self._inputs, feeds):
            handle.reshape(list(array.shape))
            handle.copy_from_cpu(array)
        self._predictor.run()
        return [_as_float32(handle.copy_to_cpu()) for handle in self._outputs]


# ------------------------------------------------------------------------------------------------- helpers
def _as_float32(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint16:  # bfloat16 bits
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float32, copy=False)


def _resolve_device(device: Optional[str]) -> str:
    import paddle

    from ..runtime import resolve_device

    gpus = paddle.device.cuda.device_count() if paddle.is_compiled_with_cuda() else 0
    return resolve_device(device, gpus, "this Paddle build has no CUDA or sees no GPU")


def _unavailable(precision: str, device: str) -> Optional[str]:
    """Why ``precision`` cannot run on ``device``, or None when it can."""
    if precision == "fp32":
        return None
    if device == "cpu":
        if precision == "fp16":
            return "Paddle has no fp16 CPU kernels"
        return None if cpu_supports_bf16() else "this CPU lacks avx512_bf16 (see the flags in /proc/cpuinfo)"
    if precision == "bf16":
        import paddle

        major, _ = paddle.device.cuda.get_device_capability(int(device.partition(":")[2]))
        if major < 8:
            return "bf16 needs a GPU of compute capability 8.0 or newer"
    return None


def _resolve_precision(requested: Optional[str], default: str, device: str) -> str:
    name = requested if requested is not None else default
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_NAMES)}, got {name!r}")
    name = PRECISIONS[name]
    if name == "int8":
        raise ValueError("precision 'int8' needs an ONNX Runtime export (`ernie-m export --format onnx "
                         "--precision int8`)")
    reason = _unavailable(name, device)
    if reason is None:
        return name
    if requested is not None:
        raise ValueError(f"precision {name!r} is not available on {device}: {reason}")
    logger.warning("the export's default precision %s is not available on %s (%s); running fp32", name, device,
                   reason)
    return "fp32"

