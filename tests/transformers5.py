"""The second test environment: transformers 5 and torch with nothing of this project (``make tf5`` builds it).

Tests hand it converted directories and ``.npy`` inputs through a job file and read ``.npy`` outputs back; the
scripts it runs live in ``tests/tf5/`` and import only numpy, torch and transformers.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).parent / "tf5"
#: The environment's interpreter; ``ERNIE_M_TF5_PYTHON`` points elsewhere (make test passes it).
PYTHON = Path(os.environ.get("ERNIE_M_TF5_PYTHON", REPO / ".venv-tf5" / "bin" / "python"))


def python() -> Path:
    """The environment's interpreter; fails the test, naming ``make tf5``, when it is missing."""
    if not PYTHON.is_file():
        pytest.fail(f"the transformers 5 test environment is missing ({PYTHON} not found): build it with "
                    f"`make tf5` (`make test` builds it), or point ERNIE_M_TF5_PYTHON at its python", pytrace=False)
    return PYTHON


def run(script: str, job: Dict[str, Any], workdir: Path, timeout: float = 600) -> Dict[str, Any]:
    """Run ``tests/tf5/<script>`` on ``job`` (written to ``workdir/job.json``) in the transformers 5 environment
    and return its ``results.json``."""
    interpreter = python()
    workdir.mkdir(parents=True, exist_ok=True)
    job_file = workdir / "job.json"
    job_file.write_text(json.dumps(job, indent=2), encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the project stays invisible
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(workdir / "modules"), TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([str(interpreter), str(SCRIPTS / script), str(job_file)], cwd=workdir, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{script} failed in the transformers 5 environment (exit {done.returncode}):\n"
                    f"{done.stderr[-4000:]}", pytrace=False)
    return json.loads((workdir / "results.json").read_text(encoding="utf-8"))
