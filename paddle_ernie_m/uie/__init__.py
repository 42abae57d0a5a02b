"""Universal information extraction with ERNIE-M (UIE-M): PaddleNLP Taskflow's results, faster, plus doccano
conversion and fine-tuning support. See the README.

Names are imported lazily: schemas, decoding, doccano conversion and extraction with ``backend="torch"`` work
without Paddle.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InformationExtractor": "extractor",
    "SchemaError": "schema",
    "build_schema": "schema",
    "convert_doccano_file": "doccano",
    "PromptStyle": "doccano",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
