"""ONNX Runtime without Paddle or torch: in the environment ``make onnx-env`` builds (the project with its
``[onnx,serve]`` extras), ``ernie-m export --format onnx``, ``ernie-m extract --backend onnxruntime`` and ``ernie-m
serve --backend onnxruntime`` run on the embedded demo UIE-M checkpoint, in PaddleNLP's layout and converted to
transformers' (``paddle2torch``, safetensors), ``ernie-m predict
--backend onnxruntime`` on a classifier saved by PaddleNLP. The export equals, byte for byte, the ONNX export of the
same checkpoint loaded by Paddle here; the fp32 results equal PaddleNLP 2.8.1's (Taskflow, the classifier), computed
here, in the main environment."""
from __future__ import annotations

import json
import subprocess

import httpx
import pytest

from converters.convert import convert_checkpoint
from paddle_ernie_m.engines.export import export_model
from paddle_ernie_m.modeling import ErnieMForInformationExtraction

from . import onnx_env
from .serve_cases import DEMO, SCHEMAS, mixed_texts, running_server
from .taskflow_compat import assert_same_results, paddle3_taskflow
from .test_inference_cli import checkpoint  # noqa: F401  (the fixture: a PaddleNLP classifier, saved by PaddleNLP)
from .uie_cases import CH_TEXTS

TEXTS = mixed_texts("ch", 4, seed=21) + CH_TEXTS[:2]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """The demo UIE-M in each layout: as shipped (PaddleNLP's) and as ``paddle2torch`` writes it."""
    converted = tmp_path_factory.mktemp("layouts") / "uie-m-demo-torch"
    convert_checkpoint(DEMO, converted, "paddle2torch")
    return {"paddle": DEMO, "transformers": converted}


@pytest.fixture(scope="module")
def taskflow_results(tmp_path_factory):
    """PaddleNLP's Taskflow on the demo checkpoint: the reference for every fp32 result of the environment."""
    with paddle3_taskflow() as build:
        return build(DEMO, tmp_path_factory.mktemp("taskflow"), SCHEMAS["ch"])(TEXTS)


def test_the_onnx_environment_has_onnx_runtime_and_the_serve_stack_but_neither_paddle_nor_torch():
    probe = ("import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in "
             "('paddle', 'paddlenlp', 'torch', 'transformers', 'onnx', 'onnxruntime', 'starlette', 'uvicorn', "
             "'sentencepiece', 'paddle_ernie_m')}))")
    done = subprocess.run([str(onnx_env.python()), "-c", probe], env=onnx_env.environment(),
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found == {"paddle": False, "paddlenlp": False, "torch": False, "transformers": False, "onnx": True,
                     "onnxruntime": True, "starlette": True, "uvicorn": True, "sentencepiece": True,
                     "paddle_ernie_m": True}


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_export_without_paddle_equals_the_export_of_the_checkpoint_loaded_by_paddle(precision, tmp_path):
    out = tmp_path / "paddle-free"
    done = onnx_env.ernie_m(["export", str(DEMO), str(out), "--format", "onnx", "--precision", precision])
    assert done.returncode == 0, done.stderr
    assert f"exported ErnieMForInformationExtraction to {out}" in done.stdout
    reference = export_model(ErnieMForInformationExtraction.from_pretrained(DEMO), tmp_path / "paddle",
                             precision=precision, tokenizer_dir=DEMO, format="onnx")
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names and "model.onnx" in names
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert json.loads((out / "export.json").read_text())["paddle_version"] is None  # no framework wrote it


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["paddle", "transformers"])
def test_extract_with_onnxruntime_without_paddle_gives_taskflows_results(layout, layouts, taskflow_results, tmp_path):
    done = onnx_env.ernie_m(["extract", "--model", str(layouts[layout]), "--schema", json.dumps(SCHEMAS["ch"]), "--backend",
                             "onnxruntime", "--cache-dir", str(tmp_path / "cache"), "--threads", "1", *TEXTS])
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == TEXTS
    assert_same_results([line["result"] for line in lines], taskflow_results)
    assert any(taskflow_results), "nothing extracted: the case tests nothing"


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["paddle", "transformers"])
def test_serve_with_onnxruntime_without_paddle_gives_taskflows_results(layout, layouts, taskflow_results, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("ERNIE_M_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(onnx_env.REPO))
    with running_server("--backend", "onnxruntime", "--schema", json.dumps(SCHEMAS["ch"]), "--model",
                        str(layouts[layout]),
                        python=str(onnx_env.python())) as (url, _, log):
        answer = httpx.post(url + "/taskflow/uie", json={"data": {"text": TEXTS}}, timeout=120)
    assert answer.status_code == 200, answer.text + "".join(log)
    assert_same_results(answer.json()["result"], taskflow_results)


def test_an_onnx_cache_entry_is_keyed_alike_with_and_without_paddle_installed(tmp_path):
    """The cache key of an ONNX export holds what the graph depends on, not the framework that happens to be
    installed: the Paddle-free environment and this one (Paddle, torch) name the same entry."""
    from paddle_ernie_m.engines.export_cache import entry_path

    probe = ("import sys; from paddle_ernie_m.engines.export_cache import entry_path; "
             "print(entry_path(sys.argv[1], 'uie-bias-onnx-fp32', sys.argv[2], format='onnx'))")
    done = subprocess.run([str(onnx_env.python()), "-c", probe, str(DEMO), str(tmp_path)],
                                   env=onnx_env.environment(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(entry_path(DEMO, "uie-bias-onnx-fp32", tmp_path, format="onnx"))
    assert entry_path(DEMO, "uie-bias", tmp_path) != entry_path(DEMO, "uie-bias", tmp_path, format="onnx")


@pytest.mark.slow
def test_predict_with_onnxruntime_without_paddle_gives_paddlenlps_probabilities(checkpoint, tmp_path):
    from .test_inference_cli import TEXTS as CLS_TEXTS, assert_predictions_match, paddlenlp_predictions

    directory, model = checkpoint
    done = onnx_env.ernie_m(["predict", "--model", str(directory), "--backend", "onnxruntime", "--threads", "1",
                             "--cache-dir", str(tmp_path / "cache"), *CLS_TEXTS])
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert_predictions_match(results, CLS_TEXTS, paddlenlp_predictions(model, CLS_TEXTS))
