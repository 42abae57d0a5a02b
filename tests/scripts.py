"""Load the repository's scripts (examples, fixture generators) as modules, for tests and benchmarks."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Union

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: Union[str, Path]) -> ModuleType:
    """A fresh module instance of the script at ``path`` (relative to the repository root, or absolute)."""
    path = ROOT / path
    if not path.is_file():
        raise FileNotFoundError(f"script not found: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
