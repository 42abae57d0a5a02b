"""The transformers code paddle2torch bundles (converters.remote_code): with it every head of a converted PaddleNLP
2.8.1 checkpoint gives PaddleNLP's outputs (within 1e-5, fp32, padded multilingual batch) in transformers 4.57.6
and, in a second environment with nothing of this project, in transformers 5.23.0, under the mask the source was
trained with; transformers 4.57's own ErnieM is the reference for names, losses and optional outputs."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import inspect

import numpy as np
import paddle
import pytest
import torch
import transformers

from converters import remote_code
from converters.convert import bundled_file, convert_checkpoint
from converters import configuration as project_configuration
from paddle_ernie_m.cli import main

from . import transformers5
from .convert_helpers import (
    HEAD_NAMES,
    NUM_LABELS,
    PADDLENLP_NAME,
    SHAPE,
    TEXTS,
    TORCH_OUTPUTS,
    assert_close,
    ours_checkpoint,
    paddlenlp_checkpoint,
    run_paddle,
)

from converters.remote_code import configuration_ernie_m as bundled_configuration  # noqa: E402
from converters.remote_code import modeling_ernie_m as bundled  # noqa: E402

SEQ, UIE = "ErnieMForSequenceClassification", "ErnieMForInformationExtraction"
#: how each head is loaded from a converted directory: an Auto class, or (UIE) its auto_map entry
LOADERS = {
    "ErnieMModel": "AutoModel",
    SEQ: "AutoModelForSequenceClassification",
    "ErnieMForMultipleChoice": "AutoModelForMultipleChoice",
    "ErnieMForTokenClassification": "AutoModelForTokenClassification",
    "ErnieMForQuestionAnswering": "AutoModelForQuestionAnswering",
    UIE: "ErnieMForInformationExtraction",
}
#: the standard snippets need the bundled tokenizer (merged from the tokenizer branch)
MASKS = ("default", "padding")  # no mask passed (the tokenizer's input_ids alone) / the padding keep-mask
#: heads pruned in turn by the pruning tests: the second call repeats a head already gone and adds another layer, the
#: third removes a head whose position moved when the second removed its neighbour
PRUNED = ({0: [0, 2]}, {0: [2], 2: [0]}, {2: [1]})


def _outputs(head):
    return TORCH_OUTPUTS.get(head, ("logits",))


def _once(tmp_path_factory, name, build) -> Path:
    """``build(directory)`` once per test session, shared by the pytest-xdist workers."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    target = root / name
    with FileLock(str(target) + ".lock"):
        if not (target / ".done").is_file():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            (target / ".done").touch()
    return target


def paddlenlp_ids(src: Path, head: str) -> np.ndarray:
    """PaddleNLP's standard usage: ``tokenizer(TEXTS, padding=True, return_tensors="pd")["input_ids"]`` (the
    only key it returns); multiple choice as ``[3, 2, seq]``."""
    from paddlenlp.transformers import ErnieMTokenizer

    encoded = ErnieMTokenizer.from_pretrained(str(src))(TEXTS, padding=True, return_tensors="pd")
    assert list(encoded.keys()) == ["input_ids"]
    ids = encoded["input_ids"].numpy()
    return ids.reshape(3, 2, -1) if head == "ErnieMForMultipleChoice" else ids


def padding_mask(ids: np.ndarray) -> np.ndarray:
    return (ids != SHAPE["pad_token_id"]).astype(np.int64)


def run_paddlenlp(model, ids: np.ndarray, mask=None):
    """A PaddleNLP model's outputs as numpy (UIE: probabilities); ``mask=None`` passes none, as its usage does."""
    kwargs = {} if mask is None else {"attention_mask": paddle.to_tensor(mask)}
    with paddle.no_grad():
        out = model(input_ids=paddle.to_tensor(ids), **kwargs)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def run_torch(model, head: str, ids: np.ndarray, mask=None):
    """A torch model's outputs as numpy; UIE logits through a sigmoid, as PaddleNLP's UIEM returns them."""
    kwargs = {} if mask is None else {"attention_mask": torch.from_numpy(mask)}
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids), **kwargs)
    tensors = [getattr(out, name).float() for name in _outputs(head)]
    return [torch.sigmoid(t).numpy() if head == UIE else t.numpy() for t in tensors]


def load_bundled(directory: Path, head: str):
    """Load with transformers 4.57 and ``trust_remote_code=True``: the directory's own code."""
    loader = LOADERS[head]
    if loader.startswith("Auto"):
        model = getattr(transformers, loader).from_pretrained(str(directory), trust_remote_code=True)
    else:
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        config = transformers.AutoConfig.from_pretrained(str(directory), trust_remote_code=True)
        cls = get_class_from_dynamic_module(config.auto_map[loader], str(directory))
        model = cls.from_pretrained(str(directory))
    assert type(model).__module__.startswith("transformers_modules.") and type(model).__name__ == head
    return model.eval()


# ------------------------------------------------------------------------------ shared checkpoints and references

@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Path:
    """Per head: a random PaddleNLP checkpoint, its paddle2torch conversion, PaddleNLP's ids for TEXTS and
    PaddleNLP's outputs without a mask and with the padding mask (``<head>/ref.<mask>.<i>.npy``)."""
    import paddlenlp.transformers as P

    def build(root: Path) -> None:
        for seed, head in enumerate(HEAD_NAMES):
            src = paddlenlp_checkpoint(root / head / "paddlenlp", head, seed=seed)
            convert_checkpoint(src, root / head / "torch", "paddle2torch")
            ids = paddlenlp_ids(src, head)
            np.save(root / head / "ids.npy", ids)
            np.save(root / head / "mask.npy", padding_mask(ids))
            model = getattr(P, PADDLENLP_NAME[head]).from_pretrained(str(src))
            model.eval()
            for name, mask in zip(MASKS, (None, padding_mask(ids))):
                for i, array in enumerate(run_paddlenlp(model, ids, mask)):
                    np.save(root / head / f"ref.{name}.{i}.npy", array)

    return _once(tmp_path_factory, "remote-code-converted", build)


def reference(converted: Path, head: str, mask: str):
    return [np.load(converted / head / f"ref.{mask}.{i}.npy") for i in range(len(_outputs(head)))]


@pytest.fixture(scope="session")
def tf5(converted, tmp_path_factory):
    """One run of tests/tf5/run_bundled.py over every converted head in the transformers 5 environment."""
    def build(root: Path) -> None:
        models = [{
            "key": head, "dir": str(converted / head / "torch"), "loader": LOADERS[head], "outputs": _outputs(head),
            "runs": [{"name": "default", "inputs": {"input_ids": str(converted / head / "ids.npy")}},
                     {"name": "padding", "inputs": {"input_ids": str(converted / head / "ids.npy"),
                                                    "attention_mask": str(converted / head / "mask.npy")}}],
        } for head in HEAD_NAMES]
        job = {
            "models": models,
            "untrusted": [{"key": SEQ, "dir": str(converted / SEQ / "torch"), "loader": LOADERS[SEQ]}],
            "save": [{"key": head, "dir": str(converted / head / "torch"), "loader": LOADERS[head],
                      "to": str(root / "saved" / head)} for head in (SEQ, UIE)],
            "snippets": [{"key": SEQ, "dir": str(converted / SEQ / "torch"), "texts": TEXTS}],
            "attention": [{"key": "ErnieMModel", "dir": str(converted / "ErnieMModel" / "torch"),
                           "loader": "AutoModel", "output": "last_hidden_state",
                           "inputs": {"input_ids": str(converted / "ErnieMModel" / "ids.npy")}}],
            "checkpointing": [{"key": SEQ, "dir": str(converted / SEQ / "torch"), "loader": LOADERS[SEQ],
                               "output": "logits", "inputs": {"input_ids": str(converted / SEQ / "ids.npy")}}],
            "pruning": [{"key": "ErnieMModel", "dir": str(converted / "ErnieMModel" / "torch"), "loader": "AutoModel",
                         "heads": [{str(k): v for k, v in heads.items()} for heads in PRUNED],
                         "inputs": {"input_ids": str(converted / "ErnieMModel" / "ids.npy"),
                                    "attention_mask": str(converted / "ErnieMModel" / "mask.npy")},
                         "output": "last_hidden_state", "to": str(root / "pruned" / "ErnieMModel")}],
            "configs": [{"key": "hidden-37", "dir": str(converted / "ErnieMModel" / "torch"), "loader": "AutoModel",
                         "overrides": {"hidden_size": 37, "num_attention_heads": 12}}],
        }
        transformers5.run("run_bundled.py", job, root)

    root = _once(tmp_path_factory, "remote-code-tf5", build)
    results = json.loads((root / "results.json").read_text())
    assert results["transformers"] == "5.23.0"
    return root, results


# ------------------------------------------------------------------------------------------------ tests

def test_bundled_constants_and_config_defaults_are_the_projects():
    for name in ("POSITION_OFFSET", "MASK_BIAS", "ATTENTION_MASK_MODES"):
        assert getattr(bundled_configuration, name) == getattr(project_configuration, name), name
    ours, theirs = project_configuration.ErnieMConfig(), bundled_configuration.ErnieMConfig()
    for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "act_dropout",
                 "max_position_embeddings", "initializer_range", "pad_token_id", "layer_norm_eps",
                 "classifier_dropout", "attention_mask_mode"):
        assert getattr(theirs, name) == getattr(ours, name), name
    assert theirs.model_type == "ernie_m" and not theirs.is_decoder


def test_remote_code_files_exist_and_auto_map_names_the_classes_that_save_under_it():
    import importlib

    assert all(bundled_file(name).is_file() for name in remote_code.FILES)
    for key, entry in remote_code.AUTO_MAP.items():
        module, name = entry.split(".")
        assert f"{module}.py" in remote_code.FILES
        cls = getattr(importlib.import_module(f"converters.remote_code.{module}"), name)
        assert cls._auto_class == key  # what save_pretrained writes back into auto_map


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_every_head_gives_paddlenlp_outputs_in_transformers_4_natively_and_with_the_bundled_code(converted, head):
    directory = converted / head / "torch"
    ids, mask = np.load(converted / head / "ids.npy"), np.load(converted / head / "mask.npy")
    native = getattr(transformers, head).from_pretrained(str(directory)).eval()  # model_type ernie_m: 4.57's class
    assert type(native).__module__.startswith("transformers.models.")
    assert_close(reference(converted, head, "padding"), run_torch(native, head, ids, mask))
    model = load_bundled(directory, head)
    assert_close(reference(converted, head, "default"), run_torch(model, head, ids))  # PaddleNLP's usage: no mask
    assert_close(reference(converted, head, "padding"), run_torch(model, head, ids, mask))


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_every_head_gives_paddlenlp_outputs_in_transformers_5_with_the_bundled_code(converted, tf5, head):
    root, results = tf5
    assert results["classes"][head].startswith("transformers_modules.")
    assert results["classes"][head].endswith(f".modeling_ernie_m.{head}")
    for mask in MASKS:
        got = [np.load(root / f"{head}.{mask}.{name}.npy") for name in _outputs(head)]
        if head == UIE:
            got = [1.0 / (1.0 + np.exp(-g)) for g in got]
        assert_close(reference(converted, head, mask), got)


def test_transformers_5_without_trust_remote_code_raises_its_own_error_asking_for_it(tf5):
    _, results = tf5
    error = results["untrusted"][SEQ]
    assert error is not None and error["type"] == "ValueError"
    assert "custom code" in error["message"] and "trust_remote_code=True" in error["message"]
    assert "dynamic_module_utils" in error["raised_in"] and "ernie_m" not in Path(error["raised_in"]).name


@pytest.mark.parametrize("head", [SEQ, UIE])
def test_a_model_saved_by_transformers_5_converts_back_to_paddlenlp_with_equal_outputs(converted, tf5, tmp_path,
                                                                                        head):
    import paddlenlp.transformers as P

    root, results = tf5
    saved = root / "saved" / head
    assert {"config.json", "model.safetensors", *remote_code.MODEL_FILES} <= set(results["saved"][head])
    convert_checkpoint(saved, tmp_path / "paddle", "torch2paddle")
    assert "auto_map" not in json.loads((tmp_path / "paddle" / "config.json").read_text())
    model = getattr(P, PADDLENLP_NAME[head]).from_pretrained(str(tmp_path / "paddle"))
    model.eval()
    ids, mask = np.load(converted / head / "ids.npy"), np.load(converted / head / "mask.npy")
    assert_close(reference(converted, head, "default"), run_paddlenlp(model, ids))
    assert_close(reference(converted, head, "padding"), run_paddlenlp(model, ids, mask))


def test_paddlenlp_checkpoint_converts_with_paddlenlp_mask_semantics_and_the_code_copied_verbatim(converted):
    directory = converted / SEQ / "torch"
    config = json.loads((directory / "config.json").read_text())
    assert config["attention_mask_mode"] == "paddlenlp" and config["model_type"] == "ernie_m"
    assert config["auto_map"] == remote_code.AUTO_MAP
    assert set(remote_code.AUTO_MAP) >= {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification",
                                         "AutoModelForMultipleChoice", "AutoModelForTokenClassification",
                                         "AutoModelForQuestionAnswering", "ErnieMForInformationExtraction"}
    assert json.loads((directory / "tokenizer_config.json").read_text())["model_input_names"] == ["input_ids"]
    for name in remote_code.FILES:
        assert (directory / name).read_bytes() == bundled_file(name).read_bytes()


def test_legacy_paddlenlp_config_also_means_paddlenlp_mask_semantics(tmp_path):
    src = paddlenlp_checkpoint(tmp_path / "src", SEQ)
    data = json.loads((src / "config.json").read_text())
    (src / "config.json").unlink()
    (src / "model_config.json").write_text(json.dumps({"init_class": SEQ, "init_args": [data]}))
    convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    assert json.loads((tmp_path / "dst" / "config.json").read_text())["attention_mask_mode"] == "paddlenlp"


def test_own_checkpoint_converts_with_the_padding_mask_it_was_trained_with(tmp_path):
    import paddle_ernie_m

    src = ours_checkpoint(tmp_path / "src", SEQ)
    convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    assert json.loads((tmp_path / "dst" / "config.json").read_text())["attention_mask_mode"] == "padding"
    tokenizer_config = json.loads((tmp_path / "dst" / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_input_names"] == ["input_ids", "attention_mask"]
    ids = paddlenlp_ids(src, SEQ)
    reference_model = paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(src)
    expected = run_paddle(reference_model, SEQ, ids, padding_mask(ids))  # our trainer feeds the padding mask
    model = load_bundled(tmp_path / "dst", SEQ)
    assert_close(expected, run_torch(model, SEQ, ids))
    assert_close(expected, run_torch(model, SEQ, ids, padding_mask(ids)))
    # and PaddleNLP's default mask would have given other logits: the semantics matter on this batch
    paddlenlp_default = run_paddle(reference_model, SEQ, ids, (ids != 0).astype(np.int64))
    assert np.abs(paddlenlp_default[0] - expected[0]).max() > 1e-3


@pytest.mark.parametrize("semantics, mode, names, mask_of", [
    ("transformers", "padding", ["input_ids", "attention_mask"], padding_mask),
    ("paddlenlp", "paddlenlp", ["input_ids"], lambda ids: (ids != 0).astype(np.int64)),
])
def test_mask_semantics_option_sets_config_and_tokenizer_and_the_model_follows(tmp_path, capsys, semantics, mode,
                                                                               names, mask_of):
    import paddle_ernie_m

    src = ours_checkpoint(tmp_path / "src", SEQ)  # its default would be "transformers"
    assert main(["convert", "paddle2torch", str(src), str(tmp_path / "dst"), "--mask-semantics", semantics]) == 0
    assert json.loads((tmp_path / "dst" / "config.json").read_text())["attention_mask_mode"] == mode
    assert json.loads((tmp_path / "dst" / "tokenizer_config.json").read_text())["model_input_names"] == names
    ids = paddlenlp_ids(src, SEQ)
    expected = run_paddle(paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(src), SEQ, ids, mask_of(ids))
    assert_close(expected, run_torch(load_bundled(tmp_path / "dst", SEQ), SEQ, ids))


def test_a_source_without_vocabulary_converts_to_the_model_alone_with_a_note(tmp_path):
    src = paddlenlp_checkpoint(tmp_path / "src", SEQ)
    (src / "vocab.txt").unlink()
    summary = convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    written = {p.name for p in (tmp_path / "dst").iterdir() if not p.name.startswith(".")}  # not the output marker
    assert written == {"config.json", "model.safetensors", *remote_code.MODEL_FILES}
    assert sorted(summary.files) == sorted(["config.json", "model.safetensors", *remote_code.MODEL_FILES])
    assert [n for n in summary.notes if n.startswith("no tokenizer:")] == [
        f"no tokenizer: {src} has no vocab.txt; wrote the model only (add vocab.txt and sentencepiece.bpe.model "
        f"to {tmp_path / 'dst'} for a tokenizer)"]
    import paddlenlp.transformers as P

    reference_model = P.ErnieMForSequenceClassification.from_pretrained(str(src))
    reference_model.eval()
    ids = _ids(SEQ).numpy()
    assert_close(run_paddlenlp(reference_model, ids), run_torch(load_bundled(tmp_path / "dst", SEQ), SEQ, ids))


@pytest.mark.parametrize("semantics, noted", [("paddlenlp", True), ("transformers", False)])
def test_paddlenlp_mask_semantics_come_with_a_note_to_trust_remote_code_on_transformers_4(tmp_path, converted,
                                                                                          semantics, noted):
    src = paddlenlp_checkpoint(tmp_path / "src", SEQ)
    summary = convert_checkpoint(src, tmp_path / "dst", "paddle2torch", mask_semantics=semantics)
    notes = [n for n in summary.notes if "trust_remote_code=True" in n]
    assert len(notes) == noted
    if noted:
        assert "transformers 4" in notes[0] and "[PAD]" in notes[0]
        # what the note warns of: 4.57's own class on PaddleNLP's usage (input_ids alone) misses PaddleNLP's outputs
        ids = np.load(converted / SEQ / "ids.npy")
        native = transformers.ErnieMForSequenceClassification.from_pretrained(str(converted / SEQ / "torch"))
        assert np.abs(run_torch(native.eval(), SEQ, ids)[0] - reference(converted, SEQ, "default")[0]).max() > 1e-3


def test_mask_semantics_is_refused_for_torch2paddle(tmp_path):
    with pytest.raises(ValueError, match="mask_semantics applies to paddle2torch only"):
        convert_checkpoint(tmp_path, tmp_path / "dst", "torch2paddle", mask_semantics="paddlenlp")


# ------------------------------------------------------------------ the bundled classes against transformers 4.57's

def _pair(head: str, seed: int = 0, **config):
    """transformers 4.57's ErnieM ``head`` with random weights and the bundled class with the same state dict
    (loaded strictly: the parameter names are the same)."""
    shape = {**SHAPE, "intermediate_size": 4 * SHAPE["hidden_size"],
             "num_labels": 2 if head == "ErnieMForQuestionAnswering" else NUM_LABELS, **config}
    torch.manual_seed(seed)
    native = getattr(transformers, head)(transformers.ErnieMConfig(**shape)).eval()
    ours = getattr(bundled, head)(bundled_configuration.ErnieMConfig(**shape)).eval()
    ours.load_state_dict(native.state_dict(), strict=True)
    return native, ours


def _ids(head: str, seed: int = 0):
    from .conftest import padded_batch

    ids = torch.from_numpy(padded_batch(4, 9, vocab=SHAPE["vocab_size"], seed=seed))
    return ids.view(2, 2, -1) if head == "ErnieMForMultipleChoice" else ids


@pytest.mark.parametrize("head, labels", [
    (SEQ, lambda ids: {"labels": torch.tensor([0, 2, 1, 1])}),
    (SEQ, lambda ids: {"labels": torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]])}),
    ("ErnieMForMultipleChoice", lambda ids: {"labels": torch.tensor([1, 0])}),
    ("ErnieMForTokenClassification", lambda ids: {"labels": torch.randint(0, NUM_LABELS, ids.shape)}),
    ("ErnieMForQuestionAnswering", lambda ids: {"start_positions": torch.tensor([1, 2, 30, 0]),
                                                "end_positions": torch.tensor([3, 2, 4, 1])}),
    (UIE, lambda ids: {"start_positions": (torch.rand(ids.shape) > 0.8).float(),
                       "end_positions": (torch.rand(ids.shape) > 0.8).float()}),
], ids=["single-label", "multi-label", "choice", "token", "qa", "uie"])
def test_bundled_heads_give_transformers_4_logits_and_losses(head, labels):
    native, ours = _pair(head)
    ids = _ids(head)
    torch.manual_seed(1)
    targets = labels(ids)
    with torch.no_grad():
        expected, got = native(input_ids=ids, **targets), ours(input_ids=ids, **targets)
    torch.testing.assert_close(got.loss, expected.loss, rtol=0, atol=1e-6)
    for name in ("logits", "start_logits", "end_logits"):
        if name in expected:
            torch.testing.assert_close(getattr(got, name), getattr(expected, name), rtol=0, atol=1e-5)


def test_bundled_gradients_equal_transformers_4s_except_that_the_pad_embedding_trains_as_in_paddlenlp():
    native, ours = _pair("ErnieMForTokenClassification")
    ids = _ids("ErnieMForTokenClassification")
    labels = torch.randint(0, NUM_LABELS, ids.shape, generator=torch.Generator().manual_seed(0))
    native(input_ids=ids, labels=labels).loss.backward()
    ours(input_ids=ids, labels=labels).loss.backward()
    expected = dict(native.named_parameters())
    pad = SHAPE["pad_token_id"]
    for name, param in ours.named_parameters():
        grad, reference_grad = param.grad, expected[name].grad
        if name == "ernie_m.embeddings.word_embeddings.weight":
            # transformers 4.57 builds the word embedding with padding_idx, which freezes [PAD]'s row; PaddleNLP's
            # (and this code's) has none, so [PAD] (attended under PaddleNLP's mask) trains like any other token
            assert reference_grad[pad].abs().max() == 0 and grad[pad].abs().max() > 0
            grad, reference_grad = torch.cat([grad[:pad], grad[pad + 1:]]), torch.cat([reference_grad[:pad],
                                                                                        reference_grad[pad + 1:]])
        torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-6, msg=name)


def test_bundled_regression_loss_follows_problem_type():
    native, ours = _pair(SEQ, num_labels=1, problem_type="regression")
    ids, labels = _ids(SEQ), torch.tensor([0.5, -1.0, 2.0, 0.0])
    with torch.no_grad():
        expected, got = native(input_ids=ids, labels=labels), ours(input_ids=ids, labels=labels)
    torch.testing.assert_close(got.loss, expected.loss, rtol=0, atol=1e-6)
    torch.testing.assert_close(got.loss, torch.nn.functional.mse_loss(got.logits.squeeze(-1), labels))


def test_bundled_model_returns_transformers_4_hidden_states_attentions_and_tuples():
    native, ours = _pair("ErnieMModel")
    ids = _ids("ErnieMModel")
    mask = (ids != SHAPE["pad_token_id"]).long()
    with torch.no_grad():
        expected = native(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        got = ours(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        as_tuple = ours(input_ids=ids, attention_mask=mask, return_dict=False)
    assert len(got.hidden_states) == len(expected.hidden_states) == SHAPE["num_hidden_layers"] + 1
    for a, b in zip(got.hidden_states + got.attentions, expected.hidden_states + expected.attentions):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, rtol=0, atol=1e-5)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    torch.testing.assert_close(as_tuple[1], got.pooler_output, rtol=0, atol=1e-6)


def test_bundled_model_without_a_mask_in_padding_mode_is_transformers_4s_default():
    native, ours = _pair(SEQ)
    ids = _ids(SEQ)
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids).logits, native(input_ids=ids).logits, rtol=0, atol=1e-5)


def test_bundled_config_rejects_an_unknown_attention_mask_mode():
    with pytest.raises(ValueError, match="attention_mask_mode"):
        bundled_configuration.ErnieMConfig(attention_mask_mode="cls")


@pytest.mark.parametrize("dtype, unit_roundoff", [("bfloat16", 2.0**-8), ("float16", 2.0**-11)])
def test_reduced_precision_on_cpu_stays_within_a_rounding_bound_of_float32(converted, dtype, unit_roundoff):
    """bf16 and fp16 run on torch's CPU kernels (every op of the model has them). Each of the L + 1 LayerNorms
    (embeddings, then every layer) ends with a fresh rounding of about 2 unit roundoffs of its output's magnitude
    (weights rounded once, LayerNorm measured at 2u); LayerNorm rescales what came before instead of amplifying it,
    so the errors add: the last hidden state stays within 2 (L + 1) u max|h| of fp32's (seen: up to 1.2 (L + 1) u)."""
    directory = converted / "ErnieMModel" / "torch"
    ids = torch.from_numpy(np.load(converted / "ErnieMModel" / "ids.npy"))
    with torch.no_grad():
        expected = bundled.ErnieMModel.from_pretrained(str(directory)).eval()(input_ids=ids).last_hidden_state
        model = bundled.ErnieMModel.from_pretrained(str(directory), torch_dtype=getattr(torch, dtype)).eval()
        got = model(input_ids=ids).last_hidden_state
    assert got.dtype == getattr(torch, dtype)
    bound = 2 * (SHAPE["num_hidden_layers"] + 1) * unit_roundoff * expected.abs().max().item()
    error = (got.float() - expected).abs().max().item()
    assert 0 < error < bound, (error, bound)


# --------------------------------------------- transformers' model interface: arguments, tuples, attention, training

#: labels for each head, as keyword arguments
LABELS = {
    "ErnieMModel": lambda ids: {},
    SEQ: lambda ids: {"labels": torch.tensor([0, 2, 1, 1])},
    "ErnieMForMultipleChoice": lambda ids: {"labels": torch.tensor([1, 0])},
    "ErnieMForTokenClassification": lambda ids: {"labels": torch.randint(0, NUM_LABELS, ids.shape,
                                                                          generator=torch.Generator().manual_seed(0))},
    "ErnieMForQuestionAnswering": lambda ids: {"start_positions": torch.tensor([1, 2, 30, 0]),
                                               "end_positions": torch.tensor([3, 2, 4, 1])},
    UIE: lambda ids: {"start_positions": (ids % 3 == 0).float(), "end_positions": (ids % 5 == 0).float()},
}


def _assert_same_structure(got, expected, where="output"):
    """Equal nesting of tuples, ``None`` in the same places, tensors within 1e-5."""
    if expected is None or got is None:
        assert got is None and expected is None, where
    elif isinstance(expected, (tuple, list)):
        assert isinstance(got, tuple) and len(got) == len(expected), (where, type(got), len(got), len(expected))
        for k, (a, b) in enumerate(zip(got, expected)):
            _assert_same_structure(a, b, f"{where}[{k}]")
    else:
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5, msg=where)


def _arguments(head: str):
    """Keyword values for every argument of transformers 4.57's forward: the padding mask, explicit positions, a
    head mask dropping two heads, labels, both optional outputs, tuples."""
    ids = _ids(head)
    head_mask = torch.ones(SHAPE["num_hidden_layers"], SHAPE["num_attention_heads"])
    head_mask[0, 1] = head_mask[-1, 0] = 0.0
    positions = torch.arange(ids.shape[-1]).expand(ids.shape)
    return dict(input_ids=ids, attention_mask=(ids != SHAPE["pad_token_id"]).long(), position_ids=positions,
                head_mask=head_mask, use_cache=False, output_hidden_states=True, output_attentions=True,
                return_dict=False, **LABELS[head](ids))


def _positional(names, values):
    # transformers 4.57's embeddings add the position offset in place: every call gets its own position_ids
    return [values[n].clone() if n == "position_ids" else values.get(n) for n in names]


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_forward_takes_transformers_4_arguments_in_its_order_and_returns_its_tuples(head):
    native, ours = _pair(head)
    names = list(inspect.signature(native.forward).parameters)
    assert list(inspect.signature(ours.forward).parameters) == names
    values = _arguments(head)
    with torch.no_grad():
        got = ours(*_positional(names, values))
        if head == UIE:  # transformers 4.57's UIE fails on return_dict=False: its dict, as a tuple, is the layout
            expected = native(*_positional(names, dict(values, return_dict=True))).to_tuple()
        else:
            expected = native(*_positional(names, values))
    assert isinstance(got, tuple)
    _assert_same_structure(got, expected)
    assert values["head_mask"][0, 1] == 0 and got[-1][0][:, 1].abs().max() == 0  # the dropped head attends nowhere


def test_tuples_keep_the_pooler_slot_without_a_pooler_as_transformers_4():
    config = {**SHAPE, "intermediate_size": 4 * SHAPE["hidden_size"]}
    torch.manual_seed(0)
    native = transformers.ErnieMModel(transformers.ErnieMConfig(**config), add_pooling_layer=False).eval()
    ours = bundled.ErnieMModel(bundled_configuration.ErnieMConfig(**config), add_pooling_layer=False).eval()
    ours.load_state_dict(native.state_dict(), strict=True)
    ids = _ids("ErnieMModel")
    with torch.no_grad():
        for extra in ({}, {"output_hidden_states": True}):
            got, expected = ours(ids, return_dict=False, **extra), native(ids, return_dict=False, **extra)
            assert got[1] is None
            _assert_same_structure(got, expected)


@pytest.mark.parametrize("setting", [{"torchscript": True}, {"return_dict": False}])
def test_config_torchscript_and_return_dict_make_tuples_the_default_as_transformers_4s_use_return_dict(setting):
    native, ours = _pair(SEQ, **setting)
    assert native.config.use_return_dict is False
    ids = _ids(SEQ)
    with torch.no_grad():
        got = ours(ids)
        expected = native(ids, return_dict=native.config.use_return_dict)
    assert isinstance(got, tuple)
    _assert_same_structure(got, expected)
    assert isinstance(ours(ids, return_dict=True), transformers.modeling_outputs.SequenceClassifierOutput)


def test_a_key_value_cache_is_refused_and_use_cache_is_ignored():
    _, ours = _pair("ErnieMModel")
    ids = _ids("ErnieMModel")
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, use_cache=True).last_hidden_state, ours(ids).last_hidden_state)
    with pytest.raises(NotImplementedError, match="past_key_values"):
        ours(ids, past_key_values=((torch.zeros(1),),))


class _CountedSDPA:
    """Stands in for ``torch.nn.functional.scaled_dot_product_attention`` and counts its calls."""

    def __init__(self):
        self.original, self.calls = torch.nn.functional.scaled_dot_product_attention, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.original(*args, **kwargs)


@pytest.mark.parametrize("implementation", [None, "sdpa", "eager"])
def test_attn_implementation_is_declared_and_eager_runs_the_explicit_softmax_in_transformers_4(
        converted, monkeypatch, implementation):
    directory = converted / "ErnieMModel" / "torch"
    kwargs = {} if implementation is None else {"attn_implementation": implementation}
    model = transformers.AutoModel.from_pretrained(str(directory), trust_remote_code=True, **kwargs).eval()
    assert model.config._attn_implementation == (implementation or "sdpa")
    counted = _CountedSDPA()
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)
    ids = torch.from_numpy(np.load(converted / "ErnieMModel" / "ids.npy"))
    with torch.no_grad():
        out = model(input_ids=ids).last_hidden_state
        assert counted.calls == (0 if implementation == "eager" else SHAPE["num_hidden_layers"])
        model(input_ids=ids, output_attentions=True)  # the probabilities need the explicit softmax
    assert counted.calls == (0 if implementation == "eager" else SHAPE["num_hidden_layers"])
    assert_close(reference(converted, "ErnieMModel", "default")[:1], [out.numpy()])


def test_attn_implementation_is_declared_and_eager_runs_the_explicit_softmax_in_transformers_5(converted, tf5):
    root, results = tf5
    runs = results["attention"]["ErnieMModel"]
    assert runs["sdpa"] == {"config": "sdpa", "sdpa_calls": SHAPE["num_hidden_layers"]}
    assert runs["eager"] == {"config": "eager", "sdpa_calls": 0}
    for implementation in runs:
        got = np.load(root / f"ErnieMModel.{implementation}.last_hidden_state.npy")
        assert_close(reference(converted, "ErnieMModel", "default")[:1], [got])


def test_gradient_checkpointing_recomputes_the_layers_and_gives_the_same_gradients_in_transformers_4():
    from transformers.modeling_layers import GradientCheckpointingLayer

    _, ours = _pair(SEQ, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ours.train()
    assert all(isinstance(layer, GradientCheckpointingLayer) for layer in ours.ernie_m.encoder.layers)
    calls = []
    for layer in ours.ernie_m.encoder.layers:  # counted in forward itself: torch runs no hooks when it recomputes
        attention = layer.self_attn
        attention.forward = (lambda forward: lambda *args: calls.append(1) or forward(*args))(attention.forward)
    ids, labels = _ids(SEQ), LABELS[SEQ](None)["labels"]
    grads = []
    for checkpointing in (False, True):
        if checkpointing:
            ours.gradient_checkpointing_enable()
            assert ours.is_gradient_checkpointing
        ours.zero_grad()
        calls.clear()
        ours(input_ids=ids, labels=labels).loss.backward()
        assert len(calls) == SHAPE["num_hidden_layers"] * (2 if checkpointing else 1)  # recomputed in backward
        grads.append({name: p.grad.clone() for name, p in ours.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=0, atol=1e-6, msg=name)
    ours.gradient_checkpointing_disable()
    assert not ours.is_gradient_checkpointing


def test_gradient_checkpointing_recomputes_the_layers_and_gives_the_same_gradients_in_transformers_5(tf5):
    _, results = tf5
    run = results["checkpointing"][SEQ]
    layers = SHAPE["num_hidden_layers"]
    assert run["enabled"] and run["layers"] == layers and run["layer_calls"] == [layers, 2 * layers]
    assert run["checkpointing_layers"]  # every encoder layer is 5.x's GradientCheckpointingLayer
    assert run["grad_norm"] > 0 and run["max_grad_diff"] <= 1e-6 * run["grad_norm"]


# ------------------------------------------------ transformers 4's head pruning and config, on transformers 4 and 5

def _prune(model, rounds=PRUNED):
    for heads in rounds:
        model.prune_heads(heads)
    return model


@pytest.mark.parametrize("head", ["ErnieMModel", SEQ])
def test_pruned_heads_give_the_outputs_and_shapes_of_transformers_4s_own_pruned_ernie_m(head):
    native, ours = (_prune(model) for model in _pair(head))
    assert {k: sorted(v) for k, v in ours.config.pruned_heads.items()} == \
        {k: sorted(v) for k, v in native.config.pruned_heads.items()} == {0: [0, 2], 2: [0, 1]}
    expected_state, state = native.state_dict(), ours.state_dict()
    assert state.keys() == expected_state.keys()
    for name, tensor in state.items():
        torch.testing.assert_close(tensor, expected_state[name], rtol=0, atol=0, msg=name)
    ids = _ids(head)
    mask = (ids != SHAPE["pad_token_id"]).long()
    with torch.no_grad():
        expected = native(input_ids=ids, attention_mask=mask, output_attentions=True, return_dict=False)
        got = ours(input_ids=ids, attention_mask=mask, output_attentions=True, return_dict=False)
    _assert_same_structure(got, expected)
    heads = SHAPE["num_attention_heads"]
    assert [a.shape[1] for a in got[-1]] == [heads - 2, heads, heads - 2]  # layer 2 keeps head 2, moved to 0


def test_a_checkpoint_saved_by_transformers_4_after_pruning_loads_into_the_bundled_code_and_back(tmp_path):
    native, _ = _pair("ErnieMModel")
    _prune(native).save_pretrained(str(tmp_path / "native"))  # 4.57's own class: config.json records pruned_heads
    saved = json.loads((tmp_path / "native" / "config.json").read_text())
    assert saved["pruned_heads"] == {"0": [0, 2], "2": [0, 1]}
    ours, info = bundled.ErnieMModel.from_pretrained(str(tmp_path / "native"), output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    ours.eval().save_pretrained(str(tmp_path / "ours"))
    back, info = transformers.ErnieMModel.from_pretrained(str(tmp_path / "ours"), output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    ids = _ids("ErnieMModel")
    mask = (ids != SHAPE["pad_token_id"]).long()
    with torch.no_grad():
        expected = native(input_ids=ids, attention_mask=mask).last_hidden_state
        torch.testing.assert_close(ours(input_ids=ids, attention_mask=mask).last_hidden_state, expected,
                                   rtol=0, atol=1e-5)
        torch.testing.assert_close(back.eval()(input_ids=ids, attention_mask=mask).last_hidden_state, expected,
                                   rtol=0, atol=1e-5)


def test_pruning_in_transformers_5_gives_transformers_4s_outputs_and_survives_save_and_load(converted, tf5):
    root, results = tf5
    directory = converted / "ErnieMModel" / "torch"
    native = _prune(transformers.ErnieMModel.from_pretrained(str(directory)).eval())  # 4.57's own, same weights
    ids, mask = np.load(converted / "ErnieMModel" / "ids.npy"), np.load(converted / "ErnieMModel" / "mask.npy")
    with torch.no_grad():
        expected = native(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    for stage in ("pruned", "reloaded"):
        got = np.load(root / f"ErnieMModel.{stage}.last_hidden_state.npy")
        np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-5, err_msg=stage)
    run = results["pruning"]["ErnieMModel"]
    assert run["pruned_heads"] == run["reloaded_pruned_heads"] == {"0": [0, 2], "2": [0, 1]}
    assert run["shapes"] == {name: list(t.shape) for name, t in native.state_dict().items()}


def test_config_checks_no_shapes_at_construction_and_the_model_refuses_them_as_transformers_4(tf5):
    shape = {"hidden_size": 37, "num_attention_heads": 12}
    native, ours = transformers.ErnieMConfig(**shape), bundled_configuration.ErnieMConfig(**shape)
    assert (ours.hidden_size, ours.num_attention_heads) == (native.hidden_size, native.num_attention_heads)
    with pytest.raises(ValueError, match="not a multiple of the number of attention heads"):
        transformers.ErnieMModel(native)
    with pytest.raises(ValueError, match="'hidden_size' \\(37\\) is not a multiple of 'num_attention_heads' \\(12\\)"):
        bundled.ErnieMModel(ours)
    run = tf5[1]["configs"]["hidden-37"]  # the same in transformers 5.23
    assert run["config_error"] is None and run["values"] == shape
    assert run["model_error"]["type"] == "ValueError" and "not a multiple" in run["model_error"]["message"]


# ----------------------------------------------------------------------------------------- PEFT (LoRA), 0.21.2

#: The LoRA targets docs/pytorch.md names: every linear layer of the encoder (PEFT has no default for ernie_m)
LORA_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "out_proj", "linear1", "linear2"]


def test_peft_has_no_default_lora_modules_for_ernie_m_and_bert_names_match_only_the_pooler(converted):
    import peft

    with pytest.raises(ValueError, match="target_modules"):
        peft.get_peft_model(load_bundled(converted / SEQ / "torch", SEQ), peft.LoraConfig(task_type="SEQ_CLS"))
    bert_names = peft.LoraConfig(task_type="SEQ_CLS", target_modules=["query", "key", "value", "dense"])
    lora = peft.get_peft_model(load_bundled(converted / SEQ / "torch", SEQ), bert_names)
    wrapped = [name for name, module in lora.named_modules() if isinstance(module, peft.tuners.lora.LoraLayer)]
    assert wrapped == ["base_model.model.ernie_m.pooler.dense"]


def test_lora_on_the_documented_modules_trains_merges_and_converts_to_paddlenlp_with_the_same_logits(converted,
                                                                                                      tmp_path):
    import paddlenlp.transformers as P
    import peft

    model = load_bundled(converted / SEQ / "torch", SEQ)
    config = peft.LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=LORA_TARGET_MODULES)
    torch.manual_seed(0)  # LoRA's A matrices start random
    lora = peft.get_peft_model(model, config)
    wrapped = {name for name, module in lora.named_modules() if isinstance(module, peft.tuners.lora.LoraLayer)}
    assert len(wrapped) == len(LORA_TARGET_MODULES) * SHAPE["num_hidden_layers"]
    assert all(".encoder.layers." in name and name.rsplit(".", 1)[1] in LORA_TARGET_MODULES for name in wrapped)
    ids = torch.from_numpy(np.load(converted / SEQ / "ids.npy"))
    labels = torch.arange(len(ids)) % NUM_LABELS
    lora.train()
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=5e-2)
    for _ in range(5):
        optimizer.zero_grad()
        lora(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
    merged = lora.merge_and_unload().eval()
    with torch.no_grad():
        logits = merged(input_ids=ids).logits.numpy()
    assert np.abs(logits - reference(converted, SEQ, "default")[0]).max() > 1e-2  # training moved the logits
    merged.save_pretrained(str(tmp_path / "merged"))
    assert main(["convert", "torch2paddle", str(tmp_path / "merged"), str(tmp_path / "paddle")]) == 0
    paddlenlp_model = P.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "paddle"))
    paddlenlp_model.eval()
    assert_close([logits], run_paddlenlp(paddlenlp_model, ids.numpy()))


def test_a_multi_label_fine_tune_saves_its_problem_type_and_the_pipeline_scores_sigmoids_as_transformers_4(
        tmp_path):
    src = ours_checkpoint(tmp_path / "src", SEQ)
    directory = tmp_path / "converted"
    convert_checkpoint(src, directory, "paddle2torch")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), trust_remote_code=True)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 1, 1]])
    native = transformers.ErnieMForSequenceClassification.from_pretrained(str(directory))
    bundled_model = load_bundled(directory, SEQ)
    scores = {}
    for name, model in (("native", native), ("bundled", bundled_model)):
        assert model.config.problem_type is None
        model(**encoded, labels=labels).loss.backward()  # a fine-tuning step's forward infers the problem type
        model.save_pretrained(str(tmp_path / name))
        tokenizer.save_pretrained(str(tmp_path / name))
        assert json.loads((tmp_path / name / "config.json").read_text())["problem_type"] == \
            "multi_label_classification"
    reloaded = {"native": transformers.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "native")),
                "bundled": str(tmp_path / "bundled")}  # the saved directory, its own code and tokenizer
    for name, model in reloaded.items():
        classifier = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer,
                                           trust_remote_code=True, top_k=None)
        scores[name] = [[p["score"] for p in sorted(row, key=lambda p: p["label"])] for row in classifier(TEXTS)]
    np.testing.assert_allclose(scores["bundled"], scores["native"], rtol=0, atol=1e-5)
    with torch.no_grad():
        logits = bundled_model.eval()(**tokenizer(TEXTS[:1], return_tensors="pt")).logits
    np.testing.assert_allclose(scores["bundled"][0], torch.sigmoid(logits)[0].numpy(), rtol=0, atol=1e-5)


# ------------------------------------------------------------- the standard snippets (need the bundled tokenizer)


def _paddlenlp_labels(converted: Path):
    logits = reference(converted, SEQ, "default")[0]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return logits, [f"LABEL_{i}" for i in logits.argmax(-1)], probs.max(-1)


def test_standard_snippets_give_paddlenlp_labels_and_logits_in_transformers_4(converted):
    directory = str(converted / SEQ / "torch")
    logits, labels, scores = _paddlenlp_labels(converted)
    classifier = transformers.pipeline("text-classification", model=directory, trust_remote_code=True)
    predictions = classifier(TEXTS, batch_size=len(TEXTS))
    assert [p["label"] for p in predictions] == labels
    np.testing.assert_allclose([p["score"] for p in predictions], scores, rtol=0, atol=1e-5)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, trust_remote_code=True)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(directory, trust_remote_code=True)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert list(encoded.keys()) == ["input_ids"]
    with torch.no_grad():
        got = model(**encoded).logits
    assert [model.config.id2label[i] for i in got.argmax(-1).tolist()] == labels
    np.testing.assert_allclose(got.numpy(), logits, rtol=0, atol=1e-5)


def test_standard_snippets_give_paddlenlp_labels_and_logits_in_transformers_5(converted, tf5):
    root, results = tf5
    logits, labels, scores = _paddlenlp_labels(converted)
    snippet = results["snippets"][SEQ]
    assert [p["label"] for p in snippet["pipeline"]] == labels and snippet["labels"] == labels
    np.testing.assert_allclose([p["score"] for p in snippet["pipeline"]], scores, rtol=0, atol=1e-5)
    assert snippet["tokenizer_keys"] == ["input_ids"]
    np.testing.assert_allclose(np.load(root / f"{SEQ}.snippet.logits.npy"), logits, rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------ the demo's step and the environment

def test_demo_step_runs_the_converted_model_in_transformers_5_and_fails_when_the_logits_differ(tmp_path):
    from paddle_ernie_m.convert_demo import transformers5_table
    from paddle_ernie_m.demo import DEMO_IDS

    src = ours_checkpoint(tmp_path / "tiny", SEQ)
    convert_checkpoint(src, tmp_path / "tiny-transformers", "paddle2torch")
    table = transformers5_table(src, tmp_path / "tiny-transformers", DEMO_IDS, python=transformers5.python())
    assert "transformers 5.23.0" in table and "modeling_ernie_m.ErnieMForSequenceClassification" in table
    assert "(mask: padding) (OK, tolerance 1e-4)" in table
    # an environment whose model answers other logits (a script standing in for its python) fails the step
    wrong = tmp_path / "wrong-python"
    wrong.write_text('#!/bin/sh\necho \'{"transformers": "5", "torch": "2", "class": "m.C", '
                     '"logits": [[0, 0, 0], [0, 0, 0]]}\'\n')
    wrong.chmod(0o755)
    with pytest.raises(RuntimeError, match="differs in transformers 5"):
        transformers5_table(src, tmp_path / "tiny-transformers", DEMO_IDS, python=wrong)
    # and one that never answers is stopped
    stuck = tmp_path / "stuck-python"
    stuck.write_text("#!/bin/sh\nexec sleep 30\n")
    stuck.chmod(0o755)
    with pytest.raises(RuntimeError, match="did not finish running .* within 1 s"):
        transformers5_table(src, tmp_path / "tiny-transformers", DEMO_IDS, python=stuck, timeout=1)


def test_a_missing_transformers_5_environment_fails_the_test_naming_make_tf5(tmp_path, monkeypatch):
    monkeypatch.setattr(transformers5, "PYTHON", tmp_path / "nowhere" / "python")
    with pytest.raises(pytest.fail.Exception, match="build it with `make tf5`"):
        transformers5.run("run_bundled.py", {}, tmp_path)
    assert not (tmp_path / "job.json").exists()
