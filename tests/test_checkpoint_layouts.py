"""Every entry point takes a checkpoint directory in either layout (:mod:`converters.checkpoint`): the same model
in Paddle's layout (as PaddleNLP or this project saves it), in transformers' (``ernie-m convert paddle2torch``, a
``pytorch_model.bin``, and transformers 5.23's own ``save_pretrained``, sharded) gives identical outputs, equal to
PaddleNLP 2.8.1's on the Paddle-layout original (Taskflow's results for UIE-M); a directory that fits neither layout
is refused with a message naming what it holds and what was expected."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

import paddle_ernie_m
from converters.checkpoint import read_checkpoint
from converters.convert import convert_checkpoint
from converters.errors import ConversionError
from paddle_ernie_m.cli import main

from . import transformers5
from .convert_helpers import HEAD_NAMES, assert_close, batch, paddlenlp_checkpoint, paddlenlp_model, run_paddle
from .serve_cases import DEMO, SCHEMAS
from .taskflow_compat import assert_same_results, paddle3_taskflow
from .test_serve_simpleserving import CLS_LABELS, CLS_TEXTS, tiny_classifier

REPO = Path(__file__).resolve().parents[1]
TF5_WRITER = REPO / "tests" / "fixtures" / "save_with_transformers5.py"
TOKENIZER_FILES = ("vocab.txt", "sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json")
UIE_TEXTS = ["李娜是蓝海银行的工程师，常驻上海。大家都很高兴。", "王伟在北京的星光公司做会计。"]


def saved_by_transformers5(hf_dir: Path, out: Path) -> Path:
    """``hf_dir`` (a transformers-layout directory) re-saved by transformers 5.23's ``save_pretrained`` in 100 KB
    shards, with the tokenizer files of ``hf_dir``."""
    mode = json.loads((hf_dir / "config.json").read_text())["attention_mask_mode"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    done = subprocess.run([str(transformers5.python()), str(TF5_WRITER), str(hf_dir), str(out), "--max-shard-size",
                           "100KB", "--attention-mask-mode", mode], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "config.json").read_text())["transformers_version"].startswith("5.")
    assert len(list(out.glob("model-*.safetensors"))) > 1
    for name in TOKENIZER_FILES:
        shutil.copy(hf_dir / name, out / name)
    return out


def layouts(paddle_dir: Path, root: Path, tf5: bool = True) -> dict:
    """layout name -> directory: the Paddle original, its paddle2torch conversion (safetensors and
    ``pytorch_model.bin``) and, with ``tf5``, the conversion re-saved by transformers 5."""
    dirs = {"paddle": paddle_dir}
    convert_checkpoint(paddle_dir, root / "hf", "paddle2torch")
    dirs["hf"] = root / "hf"
    convert_checkpoint(paddle_dir, root / "hf-bin", "paddle2torch", fmt="bin")
    dirs["hf-bin"] = root / "hf-bin"
    if tf5:
        dirs["tf5"] = saved_by_transformers5(root / "hf", root / "tf5")
    return dirs


# ------------------------------------------------------------------------------------------------ the loader
def test_read_checkpoint_tells_the_layout_from_the_names_and_maps_to_either_side(tmp_path):
    source = paddlenlp_checkpoint(tmp_path / "pd", "ErnieMForQuestionAnswering")
    dirs = layouts(source, tmp_path, tf5=False)
    paddle_side = read_checkpoint(source)
    assert (paddle_side.layout, paddle_side.side, paddle_side.converted) == ("paddle", "paddle", False)
    assert paddle_side.mask_semantics == "paddlenlp" and paddle_side.compat == "paddlenlp"  # PaddleNLP wrote it
    for name in ("hf", "hf-bin"):
        checkpoint = read_checkpoint(dirs[name])
        assert (checkpoint.layout, checkpoint.side, checkpoint.converted) == ("hf", "paddle", True)
        assert checkpoint.config.architecture == "ErnieMForQuestionAnswering"
        assert set(checkpoint.tensors) == set(paddle_side.tensors)
        original = paddle.load(str(source / "model_state.pdparams"), return_numpy=True)
        for key, tensor in checkpoint.tensors.items():  # PaddleNLP's own arrays, bit for bit
            if "pooler" not in key:  # transformers' QA class has none: created afresh on the way back
                np.testing.assert_array_equal(tensor.read(), original[key])
    to_hf = read_checkpoint(source, "hf")
    assert to_hf.config.attention_mask_mode == "paddlenlp" and "qa_outputs.weight" in to_hf.tensors
    assert "ernie_m.pooler.dense.weight" not in to_hf.tensors  # transformers' QA class has no pooler


def test_read_checkpoint_needs_neither_paddle_nor_torch(tmp_path):
    source = paddlenlp_checkpoint(tmp_path / "pd", "ErnieMForSequenceClassification")
    convert_checkpoint(source, tmp_path / "hf", "paddle2torch")
    code = ("import sys\n"
            "class Refuse:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.partition('.')[0] in ('paddle', 'paddlenlp', 'torch', 'transformers'):\n"
            "            raise ImportError(name)\n"
            "sys.meta_path.insert(0, Refuse())\n"
            "from converters.checkpoint import read_checkpoint\n"
            f"a = read_checkpoint({str(source)!r}, 'hf')\n"
            f"b = read_checkpoint({str(tmp_path / 'hf')!r})\n"
            "print(a.layout, b.layout, sum(t.read().size for t in b.tensors.values()))\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    layout_a, layout_b, size = done.stdout.split()
    assert (layout_a, layout_b) == ("paddle", "hf") and int(size) > 0


def _rewrite_names(directory: Path, rename) -> None:
    from safetensors.numpy import load_file, save_file

    state = load_file(str(directory / "model.safetensors"))
    save_file({rename(k): v for k, v in state.items()}, str(directory / "model.safetensors"), {"format": "pt"})


def test_a_directory_that_fits_neither_layout_is_refused_naming_what_it_holds_and_what_was_expected(tmp_path):
    source = paddlenlp_checkpoint(tmp_path / "pd", "ErnieMForSequenceClassification")
    convert_checkpoint(source, tmp_path / "bert", "paddle2torch")
    _rewrite_names(tmp_path / "bert", lambda k: "bert." + k.replace("self_attn.self_attn.q_proj", "attention.query"))
    expected = ("expected the names of ERNIE-M in Paddle's layout ('encoder.layers.0.self_attn.q_proj.weight', ...) "
                "or in transformers' ('encoder.layers.0.self_attn.self_attn.q_proj.weight', ...)")
    with pytest.raises(ConversionError) as neither:
        paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(tmp_path / "bert")
    assert str(neither.value) == (
        f"{tmp_path / 'bert' / 'model.safetensors'}: the tensors fit neither layout of ERNIE-M: found "
        f"'bert.classifier.bias' and 55 more of its 56 tensors, which neither has, and no "
        f"attention projection; {expected} (is this an ERNIE-M checkpoint?)")

    convert_checkpoint(source, tmp_path / "mixed", "paddle2torch")
    _rewrite_names(tmp_path / "mixed", lambda k: k.replace("layers.1.self_attn.self_attn.", "layers.1.self_attn."))
    with pytest.raises(ConversionError) as mixed:
        paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(tmp_path / "mixed")
    assert str(mixed.value) == (
        f"{tmp_path / 'mixed' / 'model.safetensors'}: the tensors mix the two layouts of ERNIE-M: found "
        f"'ernie_m.encoder.layers.0.self_attn.self_attn.k_proj.bias' (transformers' name) and "
        f"'ernie_m.encoder.layers.1.self_attn.k_proj.bias' (Paddle's name); {expected}, not both")
    # the commands say it in one line, exit 1, and write nothing
    for argv in (["export", str(tmp_path / "bert"), str(tmp_path / "out")],
                 ["predict", "--model", str(tmp_path / "bert"), "x"]):
        assert main(argv) == 1
    assert not (tmp_path / "out").exists()


def test_the_transformers_layout_no_longer_reads_as_a_transposed_paddle_one(tmp_path, caplog):
    """The issue's case: the embedded demo UIE-M converted by paddle2torch loads with no message about its
    intermediate_size (it once read a transposed matrix as 'weights say 64')."""
    convert_checkpoint(DEMO, tmp_path / "hf", "paddle2torch")
    with caplog.at_level("INFO"):
        model = paddle_ernie_m.ErnieMForInformationExtraction.from_pretrained(tmp_path / "hf")
    assert "intermediate_size" not in caplog.text and model.config.intermediate_size == 256


# ------------------------------------------------------------------------------------------------ from_pretrained
@pytest.mark.parametrize("head", HEAD_NAMES)
def test_from_pretrained_of_every_head_reads_the_transformers_layout_as_paddlenlp_reads_the_original(tmp_path, head):
    source = paddlenlp_checkpoint(tmp_path / "pd", head)
    dirs = layouts(source, tmp_path, tf5=False)
    ids, mask = batch(source, head)
    expected = run_paddle(paddlenlp_model(source, head), head, ids, mask)
    outputs = {name: run_paddle(getattr(paddle_ernie_m, head).from_pretrained(d), head, ids, mask)
               for name, d in dirs.items()}
    assert_close(outputs["paddle"], expected)
    for name in ("hf", "hf-bin"):
        for ours, original in zip(outputs[name], outputs["paddle"]):
            np.testing.assert_array_equal(ours, original)


@pytest.mark.slow
def test_from_pretrained_reads_a_sharded_transformers5_save_pretrained_directory(tmp_path):
    head = "ErnieMForTokenClassification"
    source = paddlenlp_checkpoint(tmp_path / "pd", head)
    dirs = layouts(source, tmp_path)
    ids, mask = batch(source, head)
    expected = run_paddle(paddlenlp_model(source, head), head, ids, mask)
    ours = run_paddle(getattr(paddle_ernie_m, head).from_pretrained(dirs["tf5"]), head, ids, mask)
    original = run_paddle(getattr(paddle_ernie_m, head).from_pretrained(source), head, ids, mask)
    np.testing.assert_array_equal(ours[0], original[0])
    assert_close(ours, expected)


def test_the_tokenizer_of_a_transformers_directory_tokenizes_as_transformers(tmp_path):
    """A transformers ``save_pretrained`` directory states no ``compat``: its tokenizer gets transformers' ids
    (they differ from PaddleNLP's on stand-alone '▁' pieces), as torch2paddle would have recorded."""
    import transformers

    from .convert_helpers import hf_checkpoint

    hf_dir = hf_checkpoint(tmp_path / "hf", "ErnieMForSequenceClassification")
    texts = ["x ★", "ＡＢＣ１２３ and énergie", "Hello world"]
    ours = paddle_ernie_m.ErnieMTokenizer.from_pretrained(hf_dir)
    theirs = transformers.ErnieMTokenizer.from_pretrained(str(hf_dir))
    assert ours.compat == "transformers"
    assert [ours(t)["input_ids"] for t in texts] == [theirs(t)["input_ids"] for t in texts]
    assert paddle_ernie_m.ErnieMTokenizer.from_pretrained(hf_dir, compat="paddlenlp").compat == "paddlenlp"
    # an export carries no weights to tell the layout: its tokenizer_config.json states the compat
    assert main(["export", str(hf_dir), str(tmp_path / "export"), "--format", "onnx"]) == 0
    exported = paddle_ernie_m.ErnieMTokenizer.from_pretrained(tmp_path / "export")
    assert [exported(t)["input_ids"] for t in texts] == [theirs(t)["input_ids"] for t in texts]


# ------------------------------------------------------------------------------------------------ commands
@pytest.fixture(scope="module")
def classifier_layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("classifier")
    return layouts(tiny_classifier(root / "paddle"), root)


def _paddlenlp_probabilities(directory: Path, texts, batched: bool):
    """PaddleNLP's classifier and tokenizer on the original, called as PaddleNLP calls them (no mask, so padding is
    attended): on the padded batch of ``texts`` (what ``predict`` runs), or on each text alone (what ``serve`` runs
    under PaddleNLP's mask semantics)."""
    from paddlenlp.transformers import ErnieMForSequenceClassification, ErnieMTokenizer

    model = ErnieMForSequenceClassification.from_pretrained(str(directory))
    model.eval()
    tokenizer = ErnieMTokenizer.from_pretrained(str(directory))
    batches = [tokenizer(texts, padding=True)["input_ids"]] if batched else [[tokenizer(t)["input_ids"]] for t in texts]
    with paddle.no_grad():
        logits = np.concatenate([model(paddle.to_tensor(ids)).numpy() for ids in batches])
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _printed(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.slow
def test_predict_export_and_serve_give_the_same_results_from_either_layout(classifier_layouts, tmp_path, capsys):
    from starlette.testclient import TestClient

    from paddle_ernie_m.serving.app import create_app
    from paddle_ernie_m.serving.models import load_model
    from paddle_ernie_m.serving.settings import ServeSettings

    texts = [t for t in CLS_TEXTS if t]
    references = {batched: _paddlenlp_probabilities(classifier_layouts["paddle"], texts, batched)
                  for batched in (True, False)}
    results = {}
    for name, directory in classifier_layouts.items():
        results[name, "predict"] = _printed(capsys, ["predict", "--model", str(directory), "--threads", "1", *texts])
        results[name, "dygraph"] = _printed(capsys, ["predict", "--model", str(directory), "--dygraph", *texts])
        for precision in ("fp32", "int8"):
            out = tmp_path / f"export-{name}-{precision}"
            assert main(["export", str(directory), str(out), "--format", "onnx", "--precision", precision]) == 0
            results[name, f"onnx-{precision}"] = _printed(capsys, ["predict", "--model", str(out), *texts])
        settings = ServeSettings(model=str(directory), task="classify", threads=1)
        with TestClient(create_app(settings, load_model(settings))) as client:
            answer = client.post("/v1/classify", json={"texts": texts})
        assert answer.status_code == 200, answer.text
        results[name, "serve"] = [{"text": t, **r} for t, r in zip(texts, answer.json()["results"])]
    for (name, kind), result in results.items():
        assert result == results["paddle", kind], (name, kind)
        if kind == "onnx-int8":  # its distance from fp32 is tests/test_onnx_export.py's business
            continue
        for row, probs in zip(result, references[kind != "serve"]):
            np.testing.assert_allclose([row["probabilities"][label] for label in CLS_LABELS.values()], probs,
                                       atol=1e-5)


@pytest.mark.slow
def test_verify_compares_either_layout_with_either(tmp_path, capsys):
    dirs = layouts(paddlenlp_checkpoint(tmp_path / "pd", "ErnieMForSequenceClassification"), tmp_path, tf5=False)
    reports = {}
    for paddle_side, torch_side in (("paddle", "hf"), ("hf", "paddle"), ("hf-bin", "hf-bin"), ("paddle", "paddle")):
        capsys.readouterr()
        assert main(["verify", str(dirs[paddle_side]), str(dirs[torch_side])]) == 0
        reports[paddle_side, torch_side] = capsys.readouterr().out
        assert "OK: max abs diff" in reports[paddle_side, torch_side]
    # the Paddle side's outputs do not depend on the layout it was read from: the same rows, the same numbers
    assert reports["hf", "paddle"].split("default")[1:] == reports["paddle", "paddle"].split("default")[1:]


# ------------------------------------------------------------------------------------------------ UIE-M
@pytest.fixture(scope="module")
def uie_layouts(tmp_path_factory):
    return layouts(DEMO, tmp_path_factory.mktemp("uie"))


@pytest.fixture(scope="module")
def taskflow_results(tmp_path_factory):
    with paddle3_taskflow() as build:
        results = build(DEMO, tmp_path_factory.mktemp("taskflow"), SCHEMAS["ch"])(UIE_TEXTS)
    assert all(results), "the demo model finds spans in each text"
    return results


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inference", "onnxruntime", "dygraph", "torch"])
def test_extract_on_every_backend_gives_taskflows_results_from_either_layout(backend, uie_layouts,
                                                                             taskflow_results, tmp_path):
    from paddle_ernie_m.uie import InformationExtractor

    results = {name: InformationExtractor(directory, schema=SCHEMAS["ch"], backend=backend,
                                          cache_dir=tmp_path)(UIE_TEXTS)
               for name, directory in uie_layouts.items()}
    for name, result in results.items():
        assert result == results["paddle"], name
    assert_same_results(results["paddle"], taskflow_results)


@pytest.mark.slow
def test_extract_and_serve_commands_take_a_transformers5_directory(uie_layouts, taskflow_results, tmp_path, capsys):
    from starlette.testclient import TestClient

    from paddle_ernie_m.serving.app import create_app
    from paddle_ernie_m.serving.models import load_model
    from paddle_ernie_m.serving.settings import ServeSettings

    for backend in ("inference", "torch"):
        printed = _printed(capsys, ["extract", "--model", str(uie_layouts["tf5"]), "--backend", backend, "--schema",
                                    json.dumps(SCHEMAS["ch"], ensure_ascii=False), *UIE_TEXTS])
        assert_same_results([line["result"] for line in printed], taskflow_results)
    settings = ServeSettings(model=str(uie_layouts["tf5"]), schema=SCHEMAS["ch"], threads=1)
    with TestClient(create_app(settings, load_model(settings))) as client:
        answer = client.post("/taskflow/uie", json={"data": {"text": UIE_TEXTS}})
    assert answer.status_code == 200, answer.text
    assert_same_results(answer.json()["result"], taskflow_results)


# ------------------------------------------------------------------------------------------------ training
@pytest.mark.slow
def test_fine_tuning_from_a_transformers_directory_trains_as_from_the_paddle_one_and_saves_either_layout(tmp_path):
    """``--model`` in transformers' layout trains exactly as the Paddle original (same losses, same weights);
    ``best/`` is PaddleNLP's layout (PaddleNLP loads it), or transformers' with ``--save_layout transformers``
    (transformers 4.57 loads it with the bundled code and gives PaddleNLP's logits)."""
    import transformers
    from paddlenlp.transformers import ErnieMForSequenceClassification as PaddleNLPClassifier

    from .scripts import DATA, QUICK, load_script, make_tiny_model

    tiny = make_tiny_model(tmp_path / "tiny")
    convert_checkpoint(tiny, tmp_path / "tiny-hf", "paddle2torch")
    runs = {}
    for name, model, extra in (("paddle", tiny, []), ("hf", tmp_path / "tiny-hf", []),
                               ("hf-kept", tmp_path / "tiny-hf", ["--save_layout", "transformers"])):
        runs[name] = tmp_path / f"run-{name}"
        load_script("examples/train_seq_cls.py").main([
            "--model", str(model), "--train_file", str(DATA / "seq_cls" / "train.jsonl"),
            "--eval_file", str(DATA / "seq_cls" / "dev.jsonl"), "--text_column", "premise",
            "--text_pair_column", "hypothesis", "--output_dir", str(runs[name]), "--num_train_epochs", "1", *QUICK,
            *extra])
    metrics = {name: [{k: v for k, v in json.loads(line).items() if "second" not in k}  # timings vary
                      for line in (out / "metrics.jsonl").read_text().splitlines()] for name, out in runs.items()}
    assert metrics["hf"] == metrics["paddle"] == metrics["hf-kept"]
    assert (runs["hf"] / "best" / "model_state.pdparams").is_file()
    kept = json.loads((runs["hf-kept"] / "best" / "config.json").read_text())
    assert "auto_map" in kept and not (runs["hf-kept"] / "best" / "model_state.pdparams").exists()

    ids, mask = batch(runs["paddle"] / "best", "ErnieMForSequenceClassification")
    reference = PaddleNLPClassifier.from_pretrained(str(runs["paddle"] / "best"))
    reference.eval()
    expected = run_paddle(reference, "ErnieMForSequenceClassification", ids, mask)
    from_hf_run = run_paddle(paddlenlp_model(runs["hf"] / "best", "ErnieMForSequenceClassification"),
                             "ErnieMForSequenceClassification", ids, mask)
    np.testing.assert_array_equal(from_hf_run[0], expected[0])
    import torch

    hf_model = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(runs["hf-kept"] / "best"), trust_remote_code=True).eval()
    with torch.no_grad():
        logits = hf_model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    np.testing.assert_allclose(logits, expected[0], atol=1e-5)
    # resuming reads a checkpoint of either layout back into the model, bit for bit
    from paddle_ernie_m.training.checkpoint import load_model_weights

    resumed = paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(runs["paddle"] / "best")
    for parameter in resumed.parameters():
        parameter.set_value(paddle.zeros_like(parameter))
    load_model_weights(resumed, runs["hf-kept"] / "best")
    for name, value in paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(
            runs["paddle"] / "best").state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name].numpy(), value.numpy())


# ---------------------------------------------------------------------------------- tokenizer files alongside
def _tokenizer_with_added_token(directory: Path, **config):
    from paddle_ernie_m.tokenizer import ErnieMTokenizer

    from .fixtures import make_tiny_tokenizer as fixture

    tokenizer = ErnieMTokenizer.from_pretrained(fixture.OUTPUT, **config)
    tokenizer.add_tokens(["hello-world"])
    tokenizer.save_pretrained(directory)
    return tokenizer


def test_copied_tokenizer_files_keep_the_added_tokens_at_their_ids(tmp_path):
    """What exports and the export cache copy: ``added_tokens.json`` too, so the copy tokenizes as the source (the
    added token's id is the first after ``vocab.txt``'s lines)."""
    from converters.checkpoint import copy_tokenizer_files
    from paddle_ernie_m.tokenizer import ErnieMTokenizer

    source, copy = tmp_path / "source", tmp_path / "copy"
    source.mkdir(), copy.mkdir()
    _tokenizer_with_added_token(source)
    assert "added_tokens.json" in copy_tokenizer_files(source, copy)
    lines = len((source / "vocab.txt").read_text(encoding="utf-8").rstrip("\n").split("\n"))
    ids = ErnieMTokenizer.from_pretrained(copy)("a hello-world b")["input_ids"]
    assert lines in ids and ids == ErnieMTokenizer.from_pretrained(source)("a hello-world b")["input_ids"]


def test_saving_in_transformers_layout_keeps_the_tokenizers_settings(tmp_path):
    """``--save_layout transformers`` rewrites tokenizer_config.json to name the bundled code: the settings the
    tokenizer saved (inputs, padding side) stay, as transformers 4.57 reads them back."""
    import transformers

    from converters.configuration import ErnieMConfig
    from converters.convert import save_transformers_layout

    from .conftest import TINY

    _tokenizer_with_added_token(tmp_path, padding_side="left",
                                model_input_names=["input_ids", "attention_mask"])
    paddle.seed(0)
    model = paddle_ernie_m.ErnieMForSequenceClassification(ErnieMConfig(**TINY, num_labels=2))
    save_transformers_layout({k: v.numpy() for k, v in model.state_dict().items()},
                             model.config.replace(architectures=(model.head_name,)), tmp_path)
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert saved["padding_side"] == "left" and saved["model_input_names"] == ["input_ids", "attention_mask"]
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path), trust_remote_code=True)
    assert hf.padding_side == "left" and list(hf.model_input_names) == ["input_ids", "attention_mask"]


def test_a_tokenizer_config_nested_too_deep_is_one_error_naming_it(tmp_path):
    from converters import safe_json

    source = tmp_path / "ckpt"
    paddlenlp_checkpoint(source, "ErnieMForSequenceClassification")
    (source / "tokenizer_config.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(safe_json.JSONLimitError, match=r"tokenizer_config\.json: .*nested deeper than the limit"):
        read_checkpoint(source)
