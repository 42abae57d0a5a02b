"""The README's first command (`make demo` -> `ernie-m demo`) runs end to end and reports what it checked."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_command_runs_and_reports_identical_outputs_after_reload(tmp_path):
    no_tf5 = tmp_path / "no-tf5" / "python"  # the transformers 5 step has its own test (test_pytorch_remote_code)
    result = subprocess.run(
        [sys.executable, "-m", "paddle_ernie_m.cli", "demo", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "ERNIE_M_TF5_PYTHON": str(no_tf5)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "max |logits before save - after reload| = 0.0e+00" in result.stdout
    assert (tmp_path / "tiny-ernie-m" / "model_state.pdparams").is_file()
    assert "information extraction with the embedded toy UIE-M" in result.stdout
    assert f"skipped: no transformers 5 environment ({no_tf5} not found). `make tf5` builds one" in result.stdout
    assert "蓝海银行" in result.stdout and "Globex Bank" in result.stdout  # spans found by the demo model


def _undocumented(parser, prefix):
    for action in parser._actions:
        if action.dest == "help" or action.help == "==SUPPRESS==":
            continue
        if not action.help:
            yield f"{prefix}: {action.option_strings or action.dest}"
        choices = getattr(action, "choices", None)
        for name, sub in (choices.items() if isinstance(choices, dict) else ()):
            yield from _undocumented(sub, f"{prefix} {name}")


def test_every_cli_option_is_explained_in_help():
    from paddle_ernie_m.cli import build_parser

    missing = list(_undocumented(build_parser(), "ernie-m"))
    assert not missing, "options without help: " + "; ".join(missing)
