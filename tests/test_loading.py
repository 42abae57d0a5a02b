"""from_pretrained / save_pretrained: head adaptation, strictness, dtypes, bad and malicious files."""
from __future__ import annotations

import logging
import os
import pickle

import numpy as np
import paddle
import paddlenlp.transformers as pnlp
import pytest

import paddle_ernie_m as ours
from converters.configuration import ErnieMConfig

from .conftest import TINY, padded_batch


def _paddlenlp_saved(tmp_path, cls=pnlp.ErnieMForSequenceClassification, seed=0, dtype=None, **config):
    paddle.seed(seed)
    model = cls(pnlp.ErnieMConfig(**TINY, **config))
    if dtype:
        model.to(dtype=dtype)
    model.eval()
    model.save_pretrained(str(tmp_path))
    return model


def test_base_checkpoint_gives_a_head_with_fresh_classifier_and_identical_encoder(tmp_path, caplog):
    base = _paddlenlp_saved(tmp_path, pnlp.ErnieMModel)
    with caplog.at_level(logging.WARNING):
        model = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, num_labels=4)
    assert "newly initialised" in caplog.text and "classifier.weight" in caplog.text
    assert model.classifier.weight.shape == [48, 4]
    assert float(model.classifier.weight.std()) > 0  # initialised, not left empty
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    np.testing.assert_array_equal(model.ernie_m(ids, attention_mask=mask, return_dict=True).last_hidden_state.numpy(),
                                  base(ids, attention_mask=mask)[0].numpy())


def test_head_checkpoint_loads_into_the_bare_model_dropping_the_head(tmp_path, caplog):
    _paddlenlp_saved(tmp_path, num_classes=3)
    reference = pnlp.ErnieMModel.from_pretrained(str(tmp_path))
    reference.eval()
    with caplog.at_level(logging.WARNING):
        model = ours.ErnieMModel.from_pretrained(tmp_path)
    assert "another head" in caplog.text and "classifier.weight" in caplog.text
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    np.testing.assert_array_equal(model(ids, attention_mask=mask, return_dict=True).pooler_output.numpy(),
                                  reference(ids, attention_mask=mask)[1].numpy())


def test_shape_mismatch_is_an_error_naming_the_key_unless_not_strict(tmp_path, caplog):
    _paddlenlp_saved(tmp_path, num_classes=3)
    with pytest.raises(ValueError, match=r"shape mismatches \(2\): classifier\.weight \(checkpoint \[48, 3\], "
                                         r"model \[48, 5\]\), classifier\.bias"):
        ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    with caplog.at_level(logging.WARNING):
        model = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, num_labels=5, strict=False)
    assert model.classifier.weight.shape == [48, 5] and "shape mismatches" in caplog.text


def _rewrite_state(tmp_path, edit):
    path = tmp_path / "model_state.pdparams"
    state = paddle.load(str(path), return_numpy=True)
    edit(state)
    paddle.save(state, str(path))


def test_unknown_and_missing_keys_are_errors_listing_them(tmp_path):
    _paddlenlp_saved(tmp_path, num_classes=3)
    _rewrite_state(tmp_path, lambda s: s.update({"ernie_m.encoder.extra.weight": np.zeros(3, "float32")}))
    with pytest.raises(ValueError, match=r"unexpected keys \(1\): ernie_m\.encoder\.extra\.weight"):
        ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)
    _rewrite_state(tmp_path, lambda s: (s.pop("ernie_m.encoder.extra.weight"),
                                        s.pop("ernie_m.encoder.layers.1.norm2.bias")))
    with pytest.raises(ValueError, match=r"missing weights \(1\): ernie_m\.encoder\.layers\.1\.norm2\.bias"):
        ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)


def test_legacy_position_ids_buffer_is_ignored(tmp_path):
    reference = _paddlenlp_saved(tmp_path, num_classes=3)
    _rewrite_state(tmp_path, lambda s: s.update(
        {"ernie_m.embeddings.position_ids": np.arange(40, dtype="int64")[None]}))
    model = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)
    ids = paddle.to_tensor(padded_batch())
    np.testing.assert_array_equal(model(ids, attention_mask=ids != 1, return_dict=True).logits.numpy(),
                                  reference(ids, attention_mask=(ids != 1).astype("int64")).numpy())


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pdparams_is_refused_and_nothing_runs(tmp_path):
    _paddlenlp_saved(tmp_path, num_classes=3)
    marker = tmp_path / "pwned"
    with open(tmp_path / "model_state.pdparams", "wb") as f:
        pickle.dump({"ernie_m.pooler.dense.weight": _RunsCommand(marker)}, f)
    with pytest.raises(ValueError) as excinfo:
        ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)
    assert "model_state.pdparams" in str(excinfo.value)
    assert "system" in str(excinfo.value)  # names the refused global
    assert not marker.exists()


def test_truncated_pdparams_is_an_error_naming_the_file(tmp_path):
    _paddlenlp_saved(tmp_path, num_classes=3)
    path = tmp_path / "model_state.pdparams"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="model_state.pdparams"):
        ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)


def test_missing_weights_file_is_an_error_naming_the_directory(tmp_path):
    ErnieMConfig(**TINY).save_pretrained(tmp_path)
    with pytest.raises((FileNotFoundError, ValueError), match=str(tmp_path)):
        ours.ErnieMModel.from_pretrained(tmp_path)


def test_safetensors_we_write_are_loaded_by_paddlenlp(tmp_path):
    paddle.seed(9)
    model = ours.ErnieMForTokenClassification(ErnieMConfig(**TINY, num_labels=3))
    model.eval()
    model.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / "model_state.pdparams").exists()
    reference = pnlp.ErnieMForTokenClassification.from_pretrained(str(tmp_path), use_safetensors=True)
    reference.eval()
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    np.testing.assert_array_equal(model(ids, attention_mask=mask, return_dict=True).logits.numpy(),
                                  reference(ids, attention_mask=mask).numpy())
    again = ours.ErnieMForTokenClassification.from_pretrained(tmp_path)
    np.testing.assert_array_equal(again(ids, attention_mask=mask, return_dict=True).logits.numpy(),
                                  model(ids, attention_mask=mask, return_dict=True).logits.numpy())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_checkpoints_load_bit_exactly_and_upcast_by_default(dtype, tmp_path):
    reference = _paddlenlp_saved(tmp_path, num_classes=3, dtype=dtype)
    want = {k: v.numpy() for k, v in reference.state_dict().items()}
    kept = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, dtype="auto")
    for name, tensor in kept.state_dict().items():
        assert str(tensor.dtype).endswith(dtype), name
        np.testing.assert_array_equal(tensor.numpy(), want[name], err_msg=name)
    upcast = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)
    for name, tensor in upcast.state_dict().items():
        assert tensor.dtype == paddle.float32
        np.testing.assert_array_equal(tensor.numpy(),
                                      reference.state_dict()[name].astype("float32").numpy(), err_msg=name)
    kept.save_pretrained(tmp_path / "again")
    again = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path / "again", dtype="auto")
    for name, tensor in again.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), want[name], err_msg=name)


def test_unknown_dtype_is_rejected(tmp_path):
    _paddlenlp_saved(tmp_path, num_classes=3)
    with pytest.raises(ValueError, match="dtype must be one of float32, float16, bfloat16 or 'auto', got 'int8'"):
        ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, dtype="int8")


def test_pooler_uses_the_first_token_only():
    paddle.seed(6)
    model = ours.ErnieMModel(ErnieMConfig(**TINY))
    model.eval()
    out = model(paddle.to_tensor(padded_batch()), return_dict=True)
    first = out.last_hidden_state[:, 0].numpy()
    w, b = model.pooler.dense.weight.numpy(), model.pooler.dense.bias.numpy()
    np.testing.assert_allclose(out.pooler_output.numpy(), np.tanh(first @ w + b), atol=1e-6)


def test_position_ids_are_offset_by_two():
    paddle.seed(7)
    model = ours.ErnieMModel(ErnieMConfig(**TINY, hidden_dropout_prob=0.0))
    model.eval()
    ids = paddle.to_tensor(padded_batch()[:1, :5])
    emb = model.embeddings
    got = emb(ids).numpy()
    raw = emb.word_embeddings.weight.numpy()[ids.numpy()] + emb.position_embeddings.weight.numpy()[2:7]
    mean, var = raw.mean(-1, keepdims=True), raw.var(-1, keepdims=True)
    want = (raw - mean) / np.sqrt(var + 1e-5) * emb.layer_norm.weight.numpy() + emb.layer_norm.bias.numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
