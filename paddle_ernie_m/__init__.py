"""paddle-ernie-m: ERNIE-M for PaddlePaddle, with Paddle <-> Hugging Face converters.

Names are imported lazily: ``from paddle_ernie_m import ErnieMConfig`` and ``ErnieMTokenizer`` work without Paddle
installed. The configuration, file formats and conversion live in the framework-neutral :mod:`converters`, which
never imports this package.
"""
from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

__version__ = "0.1.0"

# `import paddle` sets OMP_NUM_THREADS to 1 when it is unset; remember the user's value (None: unset) before any
# module of ours imports Paddle, for runtime.configure_cpu_threads.
_USER_OMP_NUM_THREADS = os.environ.get("OMP_NUM_THREADS")

# On AMD CPUs, point Paddle's MKL at its AVX2 kernels before its first call (runtime.select_mkl_avx2_path).
from .runtime import select_mkl_avx2_path  # noqa: E402

select_mkl_avx2_path()

# `import paddle` warns that its C++-extension builder finds no ccache; nothing here builds extensions.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning,
                        module=r"paddle\.utils\.cpp_extension")

_EXPORTS = {
    "ErnieMConfig": "converters.configuration",
    "ErnieMPretrainedModel": ".pretrained",
    "ErnieMModel": ".modeling",
    "ErnieMForSequenceClassification": ".modeling",
    "ErnieMForMultipleChoice": ".modeling",
    "ErnieMForTokenClassification": ".modeling",
    "ErnieMForQuestionAnswering": ".modeling",
    "ErnieMForInformationExtraction": ".modeling",
    "UIEM": ".modeling",
    "ErnieMForPreTraining": ".pretraining.model",
    "ErnieMTokenizer": ".tokenizer",
    "Predictor": ".engines.predictor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
