"""The export cache of the inference backend and ``predict``: a second start loads the cached export (no
``paddle.jit.save``), a changed checkpoint is exported again, a damaged entry is rebuilt with a warning, two processes
starting at once both succeed, an unwritable cache falls back to a temporary export. Results are checked against the
dygraph model on the same checkpoint. Every test points the cache at its own ``tmp_path``."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer
from paddle_ernie_m.cli import main as cli_main
from paddle_ernie_m.engines.export_cache import CACHE_ENV, EXPORT_DIR, MANIFEST, cache_root, cached_export, entry_path
from paddle_ernie_m.predict import EXPORT_KIND, predict
from paddle_ernie_m.uie import InformationExtractor
from paddle_ernie_m.uie.runner import EXPORT_KIND as UIE_KIND

from .uie_cases import CH_TEXTS, tiny_uie

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
SCHEMA = ["时间", {"选手": ["赛事名称"]}]


@pytest.fixture
def saves(monkeypatch):
    """The number of ``paddle.jit.save`` calls so far (a one-item list)."""
    count, save = [0], paddle.jit.save

    def counting(*args, **kwargs):
        count[0] += 1
        return save(*args, **kwargs)

    monkeypatch.setattr(paddle.jit, "save", counting)
    return count


@pytest.fixture(scope="module")
def uie_source(tmp_path_factory):
    return tiny_uie(tmp_path_factory.mktemp("uie") / "model", seed=5, start_bias=-1.0, end_bias=-1.0)


@pytest.fixture
def uie_checkpoint(uie_source, tmp_path):
    return Path(shutil.copytree(uie_source, tmp_path / "uie"))


@pytest.fixture
def classifier(tmp_path):
    directory = tmp_path / "classifier"
    paddle.seed(7)
    config = ErnieMConfig(vocab_size=ErnieMTokenizer.from_pretrained(TOKENIZER).vocab_size, hidden_size=32,
                          num_hidden_layers=2, num_attention_heads=2, num_labels=3)
    ErnieMForSequenceClassification(config).save_pretrained(directory)
    ErnieMTokenizer.from_pretrained(TOKENIZER).save_pretrained(directory)
    return directory


def extract(checkpoint, backend="inference", **kwargs):
    return InformationExtractor(checkpoint, schema=SCHEMA, max_seq_len=64, backend=backend, **kwargs)(CH_TEXTS)


def entries(cache: Path):
    return sorted(p.name for p in (cache / "exports").iterdir() if not p.name.startswith("."))


def test_a_second_start_reuses_the_uie_export_without_saving_the_program_again(uie_checkpoint, saves, tmp_path):
    reference = extract(uie_checkpoint, backend="dygraph")
    first = extract(uie_checkpoint, cache_dir=tmp_path / "cache")
    assert saves[0] == 1
    second = extract(uie_checkpoint, cache_dir=tmp_path / "cache")
    assert saves[0] == 1, "the second start exported again"
    assert second == first and any(first)
    for ours, ref in zip(first, reference):
        assert ours.keys() == ref.keys()
    assert entries(tmp_path / "cache") == [entry_path(uie_checkpoint, UIE_KIND, tmp_path / "cache").name]


def test_a_second_predict_reuses_the_standard_export(classifier, saves, tmp_path, capsys):
    texts = ["Hello world", "你好世界"]
    reference = predict(classifier, texts, dygraph=True)
    argv = ["predict", "--model", str(classifier), "--cache-dir", str(tmp_path / "cache"), *texts]
    runs = []
    for _ in range(2):
        capsys.readouterr()
        assert cli_main(argv) == 0
        runs.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    assert saves[0] == 1 and runs[0] == runs[1]
    for ours, ref in zip(runs[0], reference):
        assert ours["label"] == ref["label"]
        np.testing.assert_allclose(list(ours["probabilities"].values()), list(ref["probabilities"].values()),
                                   atol=1e-5)
    (entry,) = entries(tmp_path / "cache")
    assert entry.startswith(EXPORT_KIND + "-")
    meta = json.loads((tmp_path / "cache" / "exports" / entry / EXPORT_DIR / "export.json").read_text())
    assert meta["inputs"][2] == "attention_mask"  # the standard program, not the UIE one with a float bias


def test_the_uie_program_and_the_standard_export_are_separate_entries(uie_checkpoint, tmp_path):
    extract(uie_checkpoint, cache_dir=tmp_path / "cache")
    (entry,) = entries(tmp_path / "cache")
    meta = json.loads((tmp_path / "cache" / "exports" / entry / EXPORT_DIR / "export.json").read_text())
    assert entry.startswith(UIE_KIND + "-") and meta["inputs"][2] == "attention_bias"
    assert entry_path(uie_checkpoint, EXPORT_KIND, tmp_path / "cache").name != entry


@pytest.mark.parametrize("change", ["new weights", "touched"])
def test_a_changed_checkpoint_is_exported_again_and_its_old_entry_removed(change, uie_checkpoint, saves, tmp_path):
    cache = tmp_path / "cache"
    before = extract(uie_checkpoint, cache_dir=cache)
    old_entries = entries(cache)
    if change == "new weights":
        other = tiny_uie(tmp_path / "other", seed=6, start_bias=-1.0, end_bias=-1.0)
        shutil.copyfile(other / "model_state.pdparams", uie_checkpoint / "model_state.pdparams")  # in place
    else:
        weights = uie_checkpoint / "model_state.pdparams"
        os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    after = extract(uie_checkpoint, cache_dir=cache)
    assert saves[0] == 2, "the changed checkpoint was not exported again"
    assert entries(cache) != old_entries and len(entries(cache)) == 1, "the stale entry is still there"
    if change == "new weights":
        assert after != before and after == extract(uie_checkpoint, backend="inference", cache_dir=tmp_path / "c2")
        dygraph = extract(uie_checkpoint, backend="dygraph")
        assert [r.keys() for r in after] == [r.keys() for r in dygraph]
    else:
        assert after == before


def _corrupt(export: Path, how: str) -> None:
    if how == "truncated weights":
        params = export / "inference.pdiparams"
        params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    elif how == "edited program":
        program = next(export.glob("inference.json"), None) or export / "inference.pdmodel"
        data = bytearray(program.read_bytes())
        data[len(data) // 2] ^= 0x01  # same size, one bit
        program.write_bytes(bytes(data))
    elif how == "missing export.json":
        (export / "export.json").unlink()
    else:
        (export.parent / MANIFEST).write_text("{not json")


@pytest.mark.parametrize("how", ["truncated weights", "edited program", "missing export.json", "garbled manifest"])
def test_a_corrupted_entry_is_rebuilt_with_a_warning(how, uie_checkpoint, saves, tmp_path, caplog):
    cache = tmp_path / "cache"
    reference = extract(uie_checkpoint, cache_dir=cache)
    (entry,) = entries(cache)
    _corrupt(cache / "exports" / entry / EXPORT_DIR, how)
    with caplog.at_level(logging.WARNING, logger="paddle_ernie_m.engines.export_cache"):
        rebuilt = extract(uie_checkpoint, cache_dir=cache)
    assert rebuilt == reference and saves[0] == 2
    assert any("is unusable" in r.getMessage() and entry in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert extract(uie_checkpoint, cache_dir=cache) == reference and saves[0] == 2  # the rebuilt entry is good
    assert not caplog.records


def test_an_entry_another_process_wrote_meanwhile_wins_and_both_results_are_right(classifier, saves, tmp_path):
    """Simulates two processes starting at once: while this one exports, the other puts its entry in place."""
    from paddle_ernie_m.engines.export import export_model, load_pretrained
    from paddle_ernie_m.engines.predictor import Predictor

    cache = tmp_path / "cache"
    ids = np.array([[0, 5, 6, 7, 2]], dtype=np.int64)

    def other_process_then_export(out):
        cached_export(classifier, EXPORT_KIND, lambda o: export_model(load_pretrained(classifier), o), Predictor,
                      cache)
        export_model(load_pretrained(classifier), out)

    ours = cached_export(classifier, EXPORT_KIND, other_process_then_export, Predictor, cache)
    assert saves[0] == 2 and len(entries(cache)) == 1
    later = cached_export(classifier, EXPORT_KIND, pytest.fail, Predictor, cache)  # the entry is whole
    np.testing.assert_allclose(ours(input_ids=ids)["logits"], later(input_ids=ids)["logits"], atol=1e-6)
    assert not [p for p in (cache / "exports").iterdir() if p.name.startswith(".")], "temporary directory left"


@pytest.mark.slow
def test_two_processes_starting_at_once_both_succeed(classifier, tmp_path):
    script = ("import json, sys; from paddle_ernie_m.predict import predict; "
              "print(json.dumps(predict(sys.argv[1], ['Hello world', '你好'], cache_dir=sys.argv[2])))")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen([sys.executable, "-c", script, str(classifier), str(tmp_path / "cache")],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert json.loads(outputs[0][0]) == json.loads(outputs[1][0])
    assert len(entries(tmp_path / "cache")) == 1
    assert not [p for p in (tmp_path / "cache" / "exports").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("below", ["cache", "home/.cache/paddle-ernie-m"])
def test_an_unwritable_cache_falls_back_to_a_temporary_export(uie_checkpoint, saves, tmp_path, caplog, below):
    """The cache directory, or a parent of it (a HOME that is a file or does not exist), cannot be created."""
    (tmp_path / "file").write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="paddle_ernie_m.engines.export_cache"):
        results = extract(uie_checkpoint, cache_dir=tmp_path / "file" / below)
    assert results == extract(uie_checkpoint, cache_dir=tmp_path / "cache")
    assert any("cannot write the export cache" in r.getMessage() for r in caplog.records)


def test_the_cache_is_the_argument_else_the_variable_else_under_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "paddle-ernie-m"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "paddle-ernie-m"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert not (tmp_path / "home").exists()


def test_tests_never_use_the_users_cache():
    home_cache = Path("~/.cache/paddle-ernie-m").expanduser().resolve()
    assert cache_root().resolve() != home_cache and os.environ[CACHE_ENV]


def test_extract_command_keeps_its_export_in_cache_dir(uie_checkpoint, saves, tmp_path, capsys):
    argv = ["extract", "--model", str(uie_checkpoint), "--schema", json.dumps(SCHEMA, ensure_ascii=False),
            "--max-seq-len", "64", "--cache-dir", str(tmp_path / "cache"), CH_TEXTS[0]]
    outputs = []
    for _ in range(2):
        capsys.readouterr()
        assert cli_main(argv) == 0
        outputs.append(json.loads(capsys.readouterr().out)["result"])
    assert saves[0] == 1 and outputs[0] == outputs[1] == extract(uie_checkpoint, cache_dir=tmp_path / "api")[0]
    assert [e.split("-")[0] for e in entries(tmp_path / "cache")] == ["uie"]
