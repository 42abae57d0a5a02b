"""paddle2torch: random PaddleNLP and own-class checkpoints of every head become transformers 4.57.6 checkpoints
that load with no missing or unexpected keys and give the same outputs (within 1e-5, fp32, padded
multilingual batch, explicit masks)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from .convert_helpers import (
    HEAD_NAMES,
    PADDLENLP_NAME,
    assert_close,
    batch,
    ours_checkpoint,
    paddlenlp_checkpoint,
    run_paddle,
    run_torch,
    state_of,
)
from converters.convert import convert_checkpoint

paddle = pytest.importorskip("paddle")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _load_hf(directory, head):
    model, info = getattr(transformers, head).from_pretrained(str(directory), output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    return model.eval()


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_paddlenlp_checkpoint_converts_to_transformers_with_equal_outputs(tmp_path, head):
    import paddlenlp.transformers as P

    src = paddlenlp_checkpoint(tmp_path / "src", head)
    summary = convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    assert summary.head == head
    reference = getattr(P, PADDLENLP_NAME[head]).from_pretrained(str(src))
    reference.eval()
    converted = _load_hf(tmp_path / "dst", head)
    ids, mask = batch(tmp_path / "dst", head)  # the tokenizer came along
    assert_close(run_paddle(reference, head, ids, mask), run_torch(converted, head, ids, mask))
    if head == "ErnieMForInformationExtraction":  # also under PaddleNLP's default mask, the one UIE-M uses
        uie_mask = (ids != 0).astype(np.int64)
        assert_close(run_paddle(reference, head, ids, uie_mask), run_torch(converted, head, ids, uie_mask))


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_own_checkpoint_converts_to_transformers_with_equal_outputs(tmp_path, head):
    import paddle_ernie_m

    src = ours_checkpoint(tmp_path / "src", head)
    convert_checkpoint(src, tmp_path / "dst", "paddle2torch", fmt="bin")
    assert (tmp_path / "dst" / "pytorch_model.bin").is_file()
    reference = getattr(paddle_ernie_m, head).from_pretrained(src)
    converted = _load_hf(tmp_path / "dst", head)
    ids, mask = batch(tmp_path / "dst", head)
    assert_close(run_paddle(reference, head, ids, mask), run_torch(converted, head, ids, mask))


def test_config_is_translated_for_transformers(tmp_path):
    src = paddlenlp_checkpoint(tmp_path / "src", "ErnieMForInformationExtraction")
    data = json.loads((src / "config.json").read_text())
    assert data["architectures"] == ["UIEM"] and data["intermediate_size"] == 3072  # PaddleNLP ignores it
    convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    config = transformers.AutoConfig.from_pretrained(str(tmp_path / "dst"))
    assert config.architectures == ["ErnieMForInformationExtraction"]
    assert config.intermediate_size == 4 * 48  # from the weights
    assert config.classifier_dropout == 0.15  # PaddleNLP's `dropout`
    assert config.num_labels == 3 and config.layer_norm_eps == 1e-5 and config.act_dropout == 0.0


def test_question_answering_config_says_two_labels_for_transformers(tmp_path):
    src = paddlenlp_checkpoint(tmp_path / "src", "ErnieMForQuestionAnswering")
    assert len(json.loads((src / "config.json").read_text())["id2label"]) == 3  # PaddleNLP QA ignores it
    convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    assert transformers.AutoConfig.from_pretrained(str(tmp_path / "dst")).num_labels == 2


def test_tokenizer_loads_in_transformers_with_the_same_ids(tmp_path):
    from paddlenlp.transformers import ErnieMTokenizer as PaddleTokenizer

    src = paddlenlp_checkpoint(tmp_path / "src", "ErnieMModel")
    convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    hf = transformers.ErnieMTokenizer.from_pretrained(str(tmp_path / "dst"))
    pd = PaddleTokenizer.from_pretrained(str(src))
    text = "Bonjour le monde, énergie électrique."
    assert hf(text)["input_ids"] == pd(text)["input_ids"]
    assert hf.pad_token_id == 1 and hf.cls_token_id == 0 and hf.model_max_length == 38  # max_position_embeddings - 2
    # the model was trained with PaddleNLP's tokenization: the directory says so for paddle_ernie_m's tokenizer
    from paddle_ernie_m.tokenizer import ErnieMTokenizer as OurTokenizer

    assert OurTokenizer.from_pretrained(tmp_path / "dst").compat == "paddlenlp"


def test_pretraining_checkpoint_converts_to_the_bare_transformers_model_dropping_the_lm_head(tmp_path):
    import paddle_ernie_m
    from converters.errors import ConversionError

    src = ours_checkpoint(tmp_path / "src", "ErnieMForPreTraining")
    summary = convert_checkpoint(src, tmp_path / "dst", "paddle2torch")
    assert any("lm_head.bias" in note and "wrote the encoder as ErnieMModel" in note for note in summary.notes)
    config = json.loads((tmp_path / "dst" / "config.json").read_text())
    assert config["architectures"] == ["ErnieMModel"]
    converted = _load_hf(tmp_path / "dst", "ErnieMModel")
    reference = paddle_ernie_m.ErnieMForPreTraining.from_pretrained(src).ernie_m
    ids, mask = batch(tmp_path / "dst", "ErnieMModel")
    assert_close(run_paddle(reference, "ErnieMModel", ids, mask), run_torch(converted, "ErnieMModel", ids, mask))
    from converters.tensors import torch_to_paddle

    with pytest.raises(ConversionError, match="transformers has no ErnieMForPreTraining"):
        torch_to_paddle(state_of(tmp_path / "dst"), {**config, "architectures": ["ErnieMForPreTraining"]})
