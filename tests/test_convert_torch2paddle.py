"""torch2paddle: random transformers checkpoints of every head (pytorch_model.bin and model.safetensors) become
Paddle checkpoints that our classes and PaddleNLP's load untouched and that give the same outputs (1e-5)."""
from __future__ import annotations

import json

import pytest

from converters.convert import convert_checkpoint

from .convert_helpers import (
    HEAD_NAMES,
    NUM_CHOICES,
    SHAPE,
    assert_close,
    batch,
    hf_checkpoint,
    paddlenlp_checkpoint,
    paddlenlp_model,
    run_paddle,
    run_torch,
)

paddle = pytest.importorskip("paddle")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
@pytest.mark.parametrize("head", HEAD_NAMES)
def test_transformers_checkpoint_converts_to_paddle_with_equal_outputs(tmp_path, head, safe):
    import paddle_ernie_m

    src = hf_checkpoint(tmp_path / "src", head, safe=safe)
    assert (src / ("model.safetensors" if safe else "pytorch_model.bin")).is_file()
    summary = convert_checkpoint(src, tmp_path / "dst", "torch2paddle",
                                 num_choices=NUM_CHOICES if head == "ErnieMForMultipleChoice" else None)
    assert summary.head == head
    reference = getattr(transformers, head).from_pretrained(str(src)).eval()
    ids, mask = batch(src, head)
    expected = run_torch(reference, head, ids, mask)
    ours = getattr(paddle_ernie_m, head).from_pretrained(tmp_path / "dst")
    assert_close(run_paddle(ours, head, ids, mask), expected)
    assert_close(run_paddle(paddlenlp_model(tmp_path / "dst", head), head, ids, mask), expected)


@pytest.mark.parametrize("head", ["ErnieMForTokenClassification", "ErnieMForQuestionAnswering"])
def test_pooler_is_created_when_converting_poolerless_heads_to_paddle(tmp_path, head):
    src = hf_checkpoint(tmp_path / "src", head)
    assert not any("pooler" in k for k in getattr(transformers, head).from_pretrained(str(src)).state_dict())
    summary = convert_checkpoint(src, tmp_path / "dst", "torch2paddle")
    assert any(note.startswith("created ernie_m.pooler.dense.weight") for note in summary.notes)
    saved = paddle.load(str(tmp_path / "dst" / "model_state.pdparams"), return_numpy=True)
    weight, bias = saved["ernie_m.pooler.dense.weight"], saved["ernie_m.pooler.dense.bias"]
    assert weight.shape == (48, 48) and abs(weight.std() - 0.02) < 0.003 and not bias.any()


def test_paddle_safetensors_output_loads_in_paddlenlp(tmp_path):
    import paddlenlp.transformers as P

    src = hf_checkpoint(tmp_path / "src", "ErnieMForSequenceClassification")
    convert_checkpoint(src, tmp_path / "dst", "torch2paddle", fmt="safetensors")
    assert (tmp_path / "dst" / "model.safetensors").is_file()
    model = P.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "dst"))
    model.eval()
    ids, mask = batch(src, "ErnieMForSequenceClassification")
    reference = transformers.ErnieMForSequenceClassification.from_pretrained(str(src)).eval()
    assert_close(run_paddle(model, "ErnieMForSequenceClassification", ids, mask),
                 run_torch(reference, "ErnieMForSequenceClassification", ids, mask))


def test_config_is_translated_for_paddlenlp(tmp_path):
    import paddlenlp.transformers as P

    src = hf_checkpoint(tmp_path / "src", "ErnieMForInformationExtraction")
    convert_checkpoint(src, tmp_path / "dst", "torch2paddle")
    data = json.loads((tmp_path / "dst" / "config.json").read_text())
    assert data["architectures"] == ["UIEM"]
    config = P.ErnieMConfig.from_pretrained(str(tmp_path / "dst"))
    assert config.num_classes == 3 and config.num_labels == 3  # PaddleNLP's alias
    assert config.classifier_dropout == 0.15 and config.hidden_size == 48


def test_transformers_multiple_choice_model_runs_in_paddlenlp_with_two_choices_unless_told(tmp_path):
    head = "ErnieMForMultipleChoice"
    src = hf_checkpoint(tmp_path / "src", head)
    assert "num_choices" not in json.loads((src / "config.json").read_text())  # transformers records none
    reference = transformers.ErnieMForMultipleChoice.from_pretrained(str(src)).eval()
    summary = convert_checkpoint(src, tmp_path / "default", "torch2paddle")
    assert [n for n in summary.notes if n.startswith("num_choices: the checkpoint records none")]
    assert json.loads((tmp_path / "default" / "config.json").read_text())["num_choices"] == 2
    ids, mask = batch(src, head, num_choices=2)
    assert_close(run_paddle(paddlenlp_model(tmp_path / "default", head), head, ids, mask),
                 run_torch(reference, head, ids, mask))

    summary = convert_checkpoint(src, tmp_path / "three", "torch2paddle", num_choices=3)  # --num-choices wins
    assert not [n for n in summary.notes if n.startswith("num_choices")]
    ids, mask = batch(src, head, num_choices=3)
    out = run_paddle(paddlenlp_model(tmp_path / "three", head), head, ids, mask)
    assert out[0].shape == (2, 3)
    assert_close(out, run_torch(reference, head, ids, mask))


def test_multiple_choice_keeps_num_choices_from_paddle_to_torch_and_back(tmp_path):
    import paddlenlp.transformers as P

    head = "ErnieMForMultipleChoice"
    src = paddlenlp_checkpoint(tmp_path / "src", head, num_choices=3)
    convert_checkpoint(src, tmp_path / "hf", "paddle2torch")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["num_choices"] == 3
    transformers.ErnieMForMultipleChoice.from_pretrained(str(tmp_path / "hf"))  # transformers accepts the key
    summary = convert_checkpoint(tmp_path / "hf", tmp_path / "back", "torch2paddle")
    assert not [n for n in summary.notes if n.startswith("num_choices")]
    assert json.loads((tmp_path / "back" / "config.json").read_text())["num_choices"] == 3
    ids, mask = batch(tmp_path / "hf", head, num_choices=3)
    original = P.ErnieMForMultipleChoice.from_pretrained(str(src)).eval()
    out = run_paddle(paddlenlp_model(tmp_path / "back", head), head, ids, mask)
    assert out[0].shape == (2, 3)
    assert_close(out, run_paddle(original, head, ids, mask), atol=0)


def test_bare_transformers_encoder_without_architectures_converts_as_the_base_model(tmp_path):
    head = "ErnieMModel"
    src = hf_checkpoint(tmp_path / "src", head)
    data = json.loads((src / "config.json").read_text())
    assert data.pop("architectures") == [head]
    (src / "config.json").write_text(json.dumps(data))
    summary = convert_checkpoint(src, tmp_path / "dst", "torch2paddle")  # no --arch
    assert summary.head == head
    assert json.loads((tmp_path / "dst" / "config.json").read_text())["architectures"] == [head]
    reference = transformers.ErnieMModel.from_pretrained(str(src)).eval()
    ids, mask = batch(src, head)
    assert_close(run_paddle(paddlenlp_model(tmp_path / "dst", head), head, ids, mask),
                 run_torch(reference, head, ids, mask))


def test_head_inference_tells_the_pretraining_model_from_the_base_model_on_the_paddle_side():
    import paddle_ernie_m
    from converters.mapping import PADDLE, fitting_heads
    from converters.configuration import ErnieMConfig

    config = ErnieMConfig(**SHAPE)
    for head in ("ErnieMModel", "ErnieMForPreTraining"):
        assert fitting_heads(list(getattr(paddle_ernie_m, head)(config).state_dict()), PADDLE) == [head]


def test_tokenizer_loads_in_paddlenlp_with_the_same_ids(tmp_path):
    from paddlenlp.transformers import ErnieMTokenizer as PaddleTokenizer

    src = hf_checkpoint(tmp_path / "src", "ErnieMModel")
    assert "added_tokens_decoder" in json.loads((src / "tokenizer_config.json").read_text())
    convert_checkpoint(src, tmp_path / "dst", "torch2paddle")
    data = json.loads((tmp_path / "dst" / "tokenizer_config.json").read_text())
    assert data["tokenizer_class"] == "ErnieMTokenizer" and "added_tokens_decoder" not in data
    pd = PaddleTokenizer.from_pretrained(str(tmp_path / "dst"))
    hf = transformers.ErnieMTokenizer.from_pretrained(str(src))
    text = "Hello world, this is a test."
    assert pd(text)["input_ids"] == hf(text)["input_ids"]
    assert (pd.cls_token_id, pd.pad_token_id, pd.sep_token_id) == (0, 1, 2)
    # our tokenizer reproduces the tokenization the model was trained with: transformers'
    from paddle_ernie_m.tokenizer import ErnieMTokenizer as OurTokenizer

    ours = OurTokenizer.from_pretrained(tmp_path / "dst")
    assert data["compat"] == "transformers" and ours.compat == "transformers"
    for text in ("x ★ ＡＢＣ１２３ and énergie", "Bonjour le monde, énergie électrique."):
        assert ours(text)["input_ids"] == hf(text)["input_ids"]


def test_ffn_width_other_than_four_hidden_converts_for_our_classes_with_a_note(tmp_path):
    import paddle_ernie_m

    head = "ErnieMForSequenceClassification"
    src = hf_checkpoint(tmp_path / "src", head, intermediate_size=80)
    summary = convert_checkpoint(src, tmp_path / "dst", "torch2paddle")
    assert any("only paddle_ernie_m loads" in note for note in summary.notes)
    assert json.loads((tmp_path / "dst" / "config.json").read_text())["intermediate_size"] == 80
    ids, mask = batch(src, head)
    reference = transformers.ErnieMForSequenceClassification.from_pretrained(str(src)).eval()
    ours = paddle_ernie_m.ErnieMForSequenceClassification.from_pretrained(tmp_path / "dst")
    assert_close(run_paddle(ours, head, ids, mask), run_torch(reference, head, ids, mask))
