"""``InformationExtractor(backend="torch")`` and ``ernie-m extract --backend torch`` on directories that
``ernie-m convert paddle2torch`` wrote from UIE-M checkpoints: the same spans as the Paddle backends on the Paddle
checkpoint (probabilities within 1e-5) for every schema kind, in both modes, on long texts that split, in
transformers 4.57 and (second environment, no Paddle installed) 5.x; Taskflow's results in the exact mode; no
import of Paddle on the way; every backend on the other framework's layout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from converters.convert import convert_checkpoint
from paddle_ernie_m.cli import main as cli_main
from paddle_ernie_m.uie import InformationExtractor
from paddle_ernie_m.uie.demo import DEMO_MODEL, DEMO_TEXTS, demo_schemas

from . import transformers5
from .taskflow_compat import assert_same_results, paddle3_taskflow
from .uie_cases import CASES, CH_TEXTS, EN_TEXTS, LONG_TEXT, tiny_uie

REPO = Path(__file__).resolve().parents[1]
JOB = Path(__file__).parent / "uie_torch_job.py"
MODES = ("exact", "fast")


def assert_equal_results(ours, reference):
    """Equal structure, texts and offsets; probabilities (Python floats on both sides) within 1e-5."""
    assert_same_results(ours, reference, floats=float)


def count_spans(results) -> int:
    """Spans and classification answers in a list of results, relations included."""
    def walk(node) -> int:
        if isinstance(node, dict):
            return ("probability" in node) + sum(walk(v) for v in node.values())
        return sum(walk(v) for v in node) if isinstance(node, list) else 0
    return walk(results)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (Paddle checkpoint, converted directory): a tiny random UIE-M whose heads pass 0.5 on about one token
    in six (every decoding rule), the same with spans on padding, and the embedded demo model."""
    root = tmp_path_factory.mktemp("uie-torch")
    sources = {"tiny": tiny_uie(root / "tiny", seed=5, start_bias=-1.0, end_bias=-1.0),
               "padding": tiny_uie(root / "padding", seed=5, start_bias=-0.3, end_bias=1.2),
               "demo": DEMO_MODEL}
    pairs = {}
    for name, source in sources.items():
        convert_checkpoint(source, root / f"{name}-torch", "paddle2torch")
        pairs[name] = (Path(source), root / f"{name}-torch")
    return pairs


@pytest.fixture(scope="module")
def extractors(models):
    """``get(model, backend, mode, max_seq_len)``: one extractor each, built once."""
    built = {}

    def get(name, backend, mode, max_seq_len):
        if (name, backend, mode, max_seq_len) not in built:
            paddle_dir, torch_dir = models[name]
            built[name, backend, mode, max_seq_len] = InformationExtractor(
                torch_dir if backend == "torch" else paddle_dir, backend=backend, mode=mode, max_seq_len=max_seq_len)
        return built[name, backend, mode, max_seq_len]

    return get


def extract(extractor, schema, lang, texts):
    extractor.set_schema(schema, schema_lang=lang)
    return extractor(texts)


def case_texts(lang):
    return (EN_TEXTS if lang == "en" else CH_TEXTS) + [LONG_TEXT]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_results_equal_the_inference_backends_on_the_same_checkpoint(case, mode, extractors):
    schema, lang = CASES[case]
    texts = case_texts(lang)  # the last is longer than max_seq_len 64: split and joined
    reference = extract(extractors("tiny", "inference", mode, 64), schema, lang, texts)
    ours = extract(extractors("tiny", "torch", mode, 64), schema, lang, texts)
    assert count_spans(reference) > 3, "the reference found little: the case tests little"
    assert_equal_results(ours, reference)


def test_torch_exact_mode_gives_taskflows_results(models, extractors, tmp_path):
    """Against PaddleNLP's Taskflow on the Paddle checkpoint: every schema kind, and spans on padding tokens."""
    with paddle3_taskflow() as build:
        for case, (schema, lang) in sorted(CASES.items()):
            texts = case_texts(lang)
            reference = build(models["tiny"][0], tmp_path / case, schema, schema_lang=lang, max_seq_len=64)(texts)
            assert_same_results(extract(extractors("tiny", "torch", "exact", 64), schema, lang, texts), reference)
        texts = CH_TEXTS[:2] + EN_TEXTS[:1]
        reference = build(models["padding"][0], tmp_path / "padding", ["时间"], max_seq_len=64)(texts)
        ours = extract(extractors("padding", "torch", "exact", 64), ["时间"], "ch", texts)
        assert_same_results(ours, reference)
        assert sum(r.get("start") == r.get("end") == 0 for result in reference for r in result["时间"]) > 10


@pytest.mark.parametrize("mode", MODES)
def test_the_converted_demo_model_extracts_what_the_paddle_one_does(mode, extractors):
    for lang, schema in demo_schemas().items():
        texts = [DEMO_TEXTS[lang], DEMO_TEXTS[lang] * 30]  # the second splits at max_seq_len 512
        reference = extract(extractors("demo", "inference", mode, 512), schema, lang, texts)
        ours = extract(extractors("demo", "torch", mode, 512), schema, lang, texts)
        starts = [r["start"] for spans in reference[1].values() for r in spans if "start" in r]
        assert count_spans(reference[0]) >= 4 and max(starts) > 512, "no span past the first piece"
        assert_equal_results(ours, reference)


def test_a_pytorch_model_bin_directory_gives_the_same_results(models, extractors, tmp_path):
    convert_checkpoint(models["tiny"][0], tmp_path / "bin", "paddle2torch", fmt="bin")
    assert (tmp_path / "bin" / "pytorch_model.bin").is_file() and not (tmp_path / "bin" / "model.safetensors").exists()
    schema, lang = CASES["relation"]
    ours = extract(InformationExtractor(tmp_path / "bin", backend="torch", max_seq_len=64), schema, lang, CH_TEXTS)
    assert_equal_results(ours, extract(extractors("tiny", "inference", "exact", 64), schema, lang, CH_TEXTS))


def test_device_and_threads_reach_torch(models):
    import torch

    before = torch.get_num_threads()
    try:
        extractor = InformationExtractor(models["tiny"][1], backend="torch", device="cpu", threads=1, max_seq_len=64)
        assert extractor._runner.device == torch.device("cpu") and torch.get_num_threads() == 1
        assert next(extractor._runner.model.parameters()).device.type == "cpu"
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="not a torch device"):
        InformationExtractor(models["tiny"][1], backend="torch", device="tpu:x")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA device"):
            InformationExtractor(models["tiny"][1], backend="torch", device="cuda:0")
    with pytest.raises(ValueError, match="'dygraph' runs on Paddle's current device"):
        InformationExtractor(models["tiny"][0], backend="dygraph", device="cpu")


def test_each_backend_reads_the_other_frameworks_layout(models, extractors, capsys):
    """The torch backend on the Paddle checkpoint and the Paddle backends on the converted one give the results
    each gives on its own framework's layout (the weights are mapped in memory)."""
    paddle_dir, torch_dir = models["tiny"]
    schema, lang = CASES["entity"]
    texts = case_texts(lang)
    for backend, other_layout in (("torch", paddle_dir), ("dygraph", torch_dir), ("inference", torch_dir)):
        ours = extract(InformationExtractor(other_layout, backend=backend, max_seq_len=64), schema, lang, texts)
        assert_equal_results(ours, extract(extractors("tiny", backend, "exact", 64), schema, lang, texts))
    assert cli_main(["extract", "--backend", "torch", "--model", str(paddle_dir), "--schema", '["时间"]', "x"]) == 0


def test_extract_help_explains_the_torch_backend(capsys):
    with pytest.raises(SystemExit):
        cli_main(["extract", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "torch: PyTorch with the bundled transformers code" in help_text and "either layout" in help_text
    assert "--device" in help_text and "--cache-dir" in help_text


def _job(models, extractors, workdir: Path):
    """The job for tests/uie_torch_job.py and the Paddle inference backend's results for it."""
    runs, expected = [], []
    for case in ("entity", "nested", "event", "opinion_en", "sentiment"):
        schema, lang = CASES[case]
        for mode in MODES:
            runs.append({"schema": schema, "schema_lang": lang, "mode": mode, "max_seq_len": 64,
                         "texts": case_texts(lang)})
            expected.append(extract(extractors("tiny", "inference", mode, 64), schema, lang, case_texts(lang)))
    # the Paddle-layout checkpoint itself, read without Paddle (.pdparams through the restricted unpickler)
    runs += [{**run, "model": str(models["tiny"][0])} for run in runs[:2]]
    expected += expected[:2]
    workdir.mkdir(parents=True, exist_ok=True)
    texts = workdir / "texts.jsonl"
    texts.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in CH_TEXTS), encoding="utf-8")
    schema = CASES["relation"][0]
    cli = ["extract", "--backend", "torch", "--device", "cpu", "--model", str(models["tiny"][1]),
           "--schema", json.dumps(schema, ensure_ascii=False), "--max-seq-len", "64", "--input", str(texts),
           "--output", str(workdir / "cli.jsonl")]
    cli_expected = extract(extractors("tiny", "inference", "exact", 64), schema, "ch", CH_TEXTS)
    job = {"model": str(models["tiny"][1]), "runs": runs, "cli": cli, "results": str(workdir / "results.json")}
    (workdir / "job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    return expected, cli_expected


def _run_job(python, workdir: Path, env):
    done = subprocess.run([str(python), str(JOB), str(workdir / "job.json")], cwd=workdir, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((workdir / "results.json").read_text(encoding="utf-8"))
    cli = [json.loads(line)["result"] for line in (workdir / "cli.jsonl").read_text(encoding="utf-8").splitlines()]
    return results, cli


def _check(results, cli, expected, cli_expected):
    assert results["modules"] == [] and results["cli_status"] == 0
    assert len(results["runs"]) == len(expected)
    for ours, reference in zip(results["runs"], expected):
        assert_equal_results(ours, reference)
    assert_equal_results(cli, cli_expected)


@pytest.mark.slow
def test_the_torch_path_imports_no_paddle(models, extractors, tmp_path):
    """In a process whose every ``import paddle`` fails: the API and the command give the Paddle backend's
    results."""
    expected, cli_expected = _job(models, extractors, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results, cli = _run_job(sys.executable, tmp_path, env)
    _check(results, cli, expected, cli_expected)


@pytest.mark.slow
def test_the_torch_backend_runs_in_transformers5_without_paddle(models, extractors, tmp_path):
    """The second environment (transformers 5, torch, no Paddle, the project not installed) runs the source tree
    and gives the results the Paddle inference backend computes here."""
    python = transformers5.python()
    missing = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('paddle'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert missing == "None", "the second environment has Paddle: it proves nothing about running without it"
    expected, cli_expected = _job(models, extractors, tmp_path)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    results, cli = _run_job(python, tmp_path, env)
    _check(results, cli, expected, cli_expected)


def test_safetensors_of_either_layout_run_on_every_backend(models, extractors, tmp_path):
    """A Paddle ``model.safetensors`` (``{"format": "np"}``, as PaddleNLP writes) and a transformers one (``"pt"``):
    the tensor names tell the layout, and both run on the Paddle and the torch backends with the same results."""
    from converters.checkpoint import read_checkpoint

    paddle_safe = tmp_path / "paddle-safetensors"
    convert_checkpoint(models["tiny"][1], paddle_safe, "torch2paddle", fmt="safetensors")
    assert read_checkpoint(paddle_safe).layout == "paddle" and read_checkpoint(models["tiny"][1]).layout == "hf"
    schema, lang = CASES["entity"]
    expected = extract(extractors("tiny", "inference", "exact", 64), schema, lang, CH_TEXTS)
    for backend in ("inference", "torch"):
        ours = extract(InformationExtractor(paddle_safe, max_seq_len=64, backend=backend), schema, lang, CH_TEXTS)
        assert_equal_results(ours, expected)
