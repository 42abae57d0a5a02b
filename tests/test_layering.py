"""The dependency graph points one way: ``converters`` (formats, the tensor table, configs, tokenizer files, file
I/O, the conversion and its command) stands on numpy alone; ``paddle_ernie_m`` (the Paddle model, verification,
the ``ernie-m`` command) stands on ``converters``, never the other way round. Inside ``paddle_ernie_m``, the
``engines`` package imports only its own lower layers and no framework at import time, and no module forms an
import circle."""
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



ENGINES = ROOT / "paddle_ernie_m" / "engines"
#: The layers of ``paddle_ernie_m.engines``, bottom first: a module may import only modules of lower layers.
ENGINE_LAYERS = (("onnx_graph", "paddle_program"), ("export_format",), ("onnx_engine", "paddle_engine"),
                 ("export",), ("predictor",), ("export_cache",))
#: What the engines stand on in ``paddle_ernie_m`` (the model family, the tokenizer, process settings); the
#: commands above them (predict, uie, serving, training, cli) they never import.
ENGINE_FOUNDATIONS = {"modeling", "pretrained", "outputs", "tokenizer", "inputs", "runtime"}
#: What no engine module may import at import time: every framework, and the modules that import Paddle.
ENGINE_HEAVY = ("paddle", "paddlenlp", "torch", "transformers", "onnxruntime", "onnx", "paddle_ernie_m.modeling",
                "paddle_ernie_m.pretrained", "paddle_ernie_m.outputs")


def _engine_imports(path: Path):
    """``(absolute module, at_top)`` of every import of a module of ``paddle_ernie_m.engines``, relative ones
    resolved (``from .. import modeling`` is ``paddle_ernie_m.modeling``; ``from .. import __version__`` is the
    package itself)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        at_top = id(node) not in inside
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, at_top
        elif isinstance(node, ast.ImportFrom):
            base = ["paddle_ernie_m", "engines"][:3 - node.level] if node.level else []
            if node.module:
                yield ".".join(base + [node.module]), at_top
            else:
                for alias in node.names:
                    name = ".".join(base + [alias.name])
                    yield (name if (ROOT / name.replace(".", "/")).with_suffix(".py").is_file() else
                           ".".join(base)), at_top


def test_every_engines_module_has_a_layer():
    assert {p.stem for p in _modules(ENGINES)} - {"__init__"} == {m for layer in ENGINE_LAYERS for m in layer}


def test_engines_modules_import_only_lower_layers_and_never_the_commands():
    """The one-way order of the engine package: graph writers, the export format, the engines, the export, the
    predictor, the cache; no module imports its own layer or one above it (so there is no circle), and none
    imports the commands that stand on the package."""
    rank = {name: i for i, layer in enumerate(ENGINE_LAYERS) for name in layer}
    found = []
    for path in _modules(ENGINES):
        if path.stem == "__init__":
            assert list(_imports(path)) == []
            continue
        for module, _ in _engine_imports(path):
            parts = module.split(".")
            if parts[:2] == ["paddle_ernie_m", "engines"]:
                target = parts[2] if len(parts) > 2 else "__init__"
                if target not in rank or rank[target] >= rank[path.stem]:
                    found.append(f"{path.stem} (layer {rank[path.stem]}) imports {target} (layer "
                                 f"{rank.get(target, 'none')})")
            elif parts[0] == "paddle_ernie_m" and len(parts) > 1 and parts[1] not in ENGINE_FOUNDATIONS:
                found.append(f"{path.stem} imports {module}")
    assert found == []


def test_engines_modules_import_no_framework_at_import_time():
    found = [f"{p.stem}: {m}" for p in _modules(ENGINES) for m, at_top in _engine_imports(p)
             if at_top and any(m == h or m.startswith(h + ".") for h in ENGINE_HEAVY)]
    assert found == []


def test_paddle_ernie_m_has_no_import_circle():
    """No module of ``paddle_ernie_m`` reaches itself through its imports, those inside functions included (a
    package's ``__init__`` does not count: importing a module imports its packages anyway)."""
    package = ROOT / "paddle_ernie_m"
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in _modules(package)}
    edges = {}
    for name, path in names.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for module, level, _ in _imports(path):
            parts = module.split(".") if level == 0 else here[:len(here) - level + 1] + (module.split(".") if module
                                                                                            else [])
            while parts and ".".join(parts) not in names:
                parts = parts[:-1]
            if parts and ".".join(parts) != name and names[".".join(parts)].name != "__init__.py":
                targets.add(".".join(parts))
        edges[name] = targets
    state, circles = {}, []

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []
