"""Fine-tuning and pre-training loop for Paddle: see the README.

Names are imported lazily, so that :mod:`paddle_ernie_m.training.metrics` works without Paddle.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainingArguments": "arguments",
    "Trainer": "trainer",
    "TrainerState": "trainer",
    "predict": "trainer",
    "set_seed": "trainer",
    "DynamicPaddingCollator": "data",
    "DataError": "data",
    "build_optimizer": "optim",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
