"""The dependency graph points one way: ``converters`` (formats, the tensor table, configs, tokenizer files, file
I/O, the conversion and its command) stands on numpy alone; ``paddle_ernie_m`` (the Paddle model, verification,
the ``ernie-m`` command) stands on ``converters``, never the other way round."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from converters import remote_code

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "converters"
REMOTE_CODE = PACKAGE / "remote_code"
TOKENIZER = ROOT / "ernie_m_tokenizer"
#: What importing the converters must not load: the frameworks, the project's Paddle side, optional libraries.
FORBIDDEN = ("paddle", "paddle_ernie_m", "paddlenlp", "torch", "transformers", "sentencepiece", "safetensors")
#: The bundled transformers code: runs only next to converted weights, in transformers' environment.
FRAMEWORK_FILES = ("configuration_ernie_m.py", "modeling_ernie_m.py", "tokenization_ernie_m.py")
#: The modules of those that live in ``converters`` (the tokenizer's lives in ``ernie_m_tokenizer``).
FRAMEWORK_MODULES = ("converters.remote_code.configuration_ernie_m", "converters.remote_code.modeling_ernie_m",
                     "ernie_m_tokenizer.tokenization_ernie_m", "ernie_m_tokenizer.tokenization_ernie_m_fast")


def _imports(path: Path):
    """``(module, level, at_top)`` for every import statement of ``path``; ``at_top``: runs when it is imported
    (not inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0, id(node) not in inside
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, id(node) not in inside


def _modules(package: Path = PACKAGE):
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def _bundled(name: str) -> Path:
    return (TOKENIZER if name in remote_code.TOKENIZER_FILES else REMOTE_CODE) / name


def test_no_converters_module_imports_paddle_ernie_m_anywhere():
    found = [f"{p.relative_to(ROOT)}: imports {m}" for p in _modules() for m, level, _ in _imports(p)
             if level == 0 and m.split(".")[0] == "paddle_ernie_m"]
    assert found == []


def test_converters_import_frameworks_only_lazily_and_transformers_never():
    found = []
    for path in _modules():
        if path.parent == REMOTE_CODE and path.name in FRAMEWORK_FILES:
            continue
        for module, level, at_top in _imports(path):
            root = module.split(".")[0]
            if level == 0 and (root == "transformers" or (at_top and root in FORBIDDEN)):
                found.append(f"{path.relative_to(ROOT)}: imports {module}{' at import time' if at_top else ''}")
    assert found == []


@pytest.mark.parametrize("name", remote_code.FILES)
def test_bundled_transformers_code_imports_nothing_of_the_project(name):
    """The files copied next to converted weights must work where only the converted directory is: the standard
    library, torch, transformers, numpy, sentencepiece, tokenizers and each other."""
    allowed = set(sys.stdlib_module_names) | {"torch", "transformers", "numpy", "sentencepiece", "tokenizers"}
    imports = list(_imports(_bundled(name)))
    assert imports, name
    outside = [m for m, level, _ in imports if level == 0 and m.split(".")[0] not in allowed]
    siblings = [m for m, level, _ in imports if level > 0 and (level > 1 or f"{m}.py" not in remote_code.FILES)]
    assert outside == [] and siblings == []


def test_the_bundled_code_package_and_the_tokenizer_package_import_nothing():
    assert list(_imports(REMOTE_CODE / "__init__.py")) == []
    assert list(_imports(TOKENIZER / "__init__.py")) == []


def test_the_tokenizer_package_stands_below_both_project_packages():
    """``ernie_m_tokenizer`` is the bottom layer: the converters and paddle_ernie_m import it, never it them."""
    found = [f"{p.relative_to(ROOT)}: imports {m}" for p in _modules(TOKENIZER) for m, level, _ in _imports(p)
             if level == 0 and m.split(".")[0] in ("converters", "paddle_ernie_m")]
    assert found == []
    assert {p.name for p in _modules(TOKENIZER)} == {"__init__.py", *remote_code.TOKENIZER_FILES}


def test_importing_every_converters_module_loads_no_framework_and_leaves_the_environment_alone():
    script = f"""
import importlib, json, os, pkgutil, runpy, sys
before = dict(os.environ)
import converters, ernie_m_tokenizer
names = [m.name for package in (converters, ernie_m_tokenizer)
         for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
skipped = set({FRAMEWORK_MODULES!r}) | {{"converters.__main__"}}
for name in names:
    if name not in skipped:
        importlib.import_module(name)
sys.argv = ["converters", "paddle2torch", "--help"]
try:
    runpy.run_module("converters", run_name="__main__")
except SystemExit as exc:
    code = exc.code
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({FORBIDDEN!r}))
print(json.dumps({{"imported": len(names) - len(skipped), "help_exit": code, "changed": changed, "loaded": loaded}}))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DEBUG_CPU_TYPE", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] >= 10  # formats, mapping, configuration, convert, cli, ... were really imported
    assert result["help_exit"] == 0
    assert result["changed"] == [] and result["loaded"] == []

