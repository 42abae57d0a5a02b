"""The third test environment: the project with its ``[onnx,serve]`` extras and neither Paddle nor torch (``make
onnx-env`` builds it; ``make test`` too). Tests run the ``ernie-m`` command there as a subprocess, on this checkout."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The environment's interpreter; ``ERNIE_M_ONNX_PYTHON`` points elsewhere (make test passes it).
PYTHON = Path(os.environ.get("ERNIE_M_ONNX_PYTHON", REPO / ".venv-onnx" / "bin" / "python"))


def python() -> Path:
    """The environment's interpreter; fails the test, naming ``make onnx-env``, when it is missing."""
    if not PYTHON.is_file():
        pytest.fail(f"the Paddle-free ONNX test environment is missing ({PYTHON} not found): build it with "
                    f"`make onnx-env` (`make test` builds it), or point ERNIE_M_ONNX_PYTHON at its python",
                    pytrace=False)
    return PYTHON


def environment() -> dict:
    """This process's environment with this checkout first on the path (the venv's editable install may be of
    another checkout)."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def ernie_m(arguments: Sequence[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``ernie-m ARGUMENTS`` in the environment; its output as text."""
    return subprocess.run([str(python()), "-m", "paddle_ernie_m.cli", *arguments], cwd=REPO, env=environment(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
