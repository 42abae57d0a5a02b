"""ErnieMForPreTraining: the masked-LM head, the CAMLM mask inside the model, loading and saving."""
from __future__ import annotations

import json
import logging
import math

import numpy as np
import paddle
import paddlenlp.transformers as pnlp

import paddle_ernie_m as ours
from converters.configuration import ErnieMConfig
from paddle_ernie_m.pretraining.masks import camlm_attention_mask, pair_position_ids, tlm_attention_mask

from .conftest import TINY, padded_batch

MASK_ID = TINY["vocab_size"] - 1
_erf = np.vectorize(math.erf)


def _model(seed=0, **changes):
    paddle.seed(seed)
    model = ours.ErnieMForPreTraining(ErnieMConfig(**{**TINY, **changes}))
    # non-trivial head parameters, so that a wrong formula cannot pass by accident
    rng = np.random.default_rng(seed)
    head = model.lm_head
    for param, centre in ((head.bias, 0.0), (head.layer_norm.weight, 1.0), (head.layer_norm.bias, 0.0)):
        param.set_value((centre + rng.normal(0.0, 0.5, param.shape)).astype("float32"))
    model.eval()
    return model


def _numpy_head(hidden: np.ndarray, state) -> np.ndarray:
    """XLM-R's LM head by hand: dense, exact GELU, LayerNorm (eps 1e-5), tied decoder, bias."""
    x = hidden @ state["lm_head.dense.weight"] + state["lm_head.dense.bias"]
    x = 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    x = x * state["lm_head.layer_norm.weight"] + state["lm_head.layer_norm.bias"]
    return x @ state["ernie_m.embeddings.word_embeddings.weight"].T + state["lm_head.bias"]


def test_logits_equal_paddlenlp_encoder_followed_by_the_head_computed_by_hand(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path)
    reference = pnlp.ErnieMModel.from_pretrained(str(tmp_path))
    reference.eval()
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    hidden = reference(ids, attention_mask=mask)[0].numpy()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    expected = _numpy_head(hidden, state)
    logits = model(ids, attention_mask=mask).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=2e-4, rtol=1e-4)

    # masked_positions: only those rows, flattened in row-major order; the loss is their cross-entropy
    positions = np.zeros(ids.shape, dtype=bool)
    positions[0, [2, 5]] = positions[2, 1] = True
    labels = np.full(ids.shape, -100, dtype="int64")
    labels[positions] = [7, 11, 13]
    out = model(ids, attention_mask=mask, labels=paddle.to_tensor(labels), masked_positions=paddle.to_tensor(positions))
    np.testing.assert_allclose(out.logits.numpy(), expected[positions], atol=2e-4, rtol=1e-4)
    chosen = expected[positions]
    log_probs = chosen - chosen.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    np.testing.assert_allclose(float(out.loss), -log_probs[np.arange(3), [7, 11, 13]].mean(), rtol=1e-4)


def test_decoder_is_the_word_embedding_matrix_and_is_not_stored_twice():
    model = _model()
    keys = set(model.state_dict())
    assert {k for k in keys if k.startswith("lm_head.")} == {
        "lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight", "lm_head.layer_norm.bias",
        "lm_head.bias"}
    ids = paddle.to_tensor(padded_batch(batch=1))
    labels = paddle.to_tensor(np.where(np.arange(ids.shape[1]) == 3, 9, -100)[None].astype("int64"))
    model.train()
    model(ids, labels=labels).loss.backward()
    grad = model.ernie_m.embeddings.word_embeddings.weight.grad.numpy()
    # row 9 is only reached through the decoder (id 9 is not in the input)
    assert 9 not in padded_batch(batch=1) and np.abs(grad[9]).sum() > 0


def _camlm_inputs(source, target, full=False):
    ids = np.array([[0, *source, 2, 2, *target, 2]], dtype="int64")
    lengths = ([len(source) + 2], [len(target) + 2])
    build = tlm_attention_mask if full else camlm_attention_mask
    return (paddle.to_tensor(ids), paddle.to_tensor(pair_position_ids(*lengths)),
            paddle.to_tensor(build(*lengths)))


def _logits_at(model, source, target, position, full=False):
    ids, positions, mask = _camlm_inputs(source, target, full)
    return model(ids, position_ids=positions, attention_mask=mask).logits.numpy()[0, position]


def test_masked_source_token_is_predicted_from_the_target_only_and_the_reverse():
    """One layer: a masked token's prediction depends on the other segment and on nothing else of its own."""
    model = _model(num_hidden_layers=1, initializer_range=0.2)  # wide weights: attention moves the outputs
    source, target = [10, 11, MASK_ID, 13], [20, 21, 22, MASK_ID, 24]
    src_pos, tgt_pos = 1 + 2, 1 + 4 + 2 + 3  # [CLS] s s [MASK] ... / ... [SEP] [SEP] t t t [MASK]
    base_src = _logits_at(model, source, target, src_pos)
    base_tgt = _logits_at(model, source, target, tgt_pos)

    other_source = [40, 41, MASK_ID, 43]
    np.testing.assert_allclose(_logits_at(model, other_source, target, src_pos), base_src, atol=1e-6)
    assert np.abs(_logits_at(model, source, [20, 50, 22, MASK_ID, 24], src_pos) - base_src).max() > 1e-3

    other_target = [60, 61, 62, MASK_ID, 64]
    np.testing.assert_allclose(_logits_at(model, source, other_target, tgt_pos), base_tgt, atol=1e-6)
    assert np.abs(_logits_at(model, [10, 70, MASK_ID, 13], target, tgt_pos) - base_tgt).max() > 1e-3

    # under TLM's full attention the same change of the source does move the source prediction
    assert np.abs(_logits_at(model, other_source, target, src_pos, full=True)
                  - _logits_at(model, source, target, src_pos, full=True)).max() > 1e-3


def test_every_layer_gives_no_attention_to_blocked_positions():
    model = _model()  # three layers
    ids, positions, mask = _camlm_inputs([10, 11, MASK_ID, 13], [20, MASK_ID, 22])
    out = model(ids, position_ids=positions, attention_mask=mask, output_attentions=True)
    blocked = ~mask.numpy()[:, None]  # [batch, 1, query, key]
    assert len(out.attentions) == 3
    for probs in out.attentions:
        assert probs.numpy()[np.broadcast_to(blocked, probs.shape)].max() < 1e-20  # exp(-1e4), up to Paddle's exp
        np.testing.assert_allclose(probs.numpy().sum(-1), 1.0, rtol=1e-5)


def test_base_checkpoint_loads_with_a_new_reported_head_and_the_same_encoder(tmp_path, caplog):
    paddle.seed(3)
    base = pnlp.ErnieMModel(pnlp.ErnieMConfig(**TINY))
    base.eval()
    base.save_pretrained(str(tmp_path))
    with caplog.at_level(logging.WARNING):
        model = ours.ErnieMForPreTraining.from_pretrained(tmp_path)
    assert "newly initialised" in caplog.text and "lm_head.dense.weight" in caplog.text
    assert "lm_head.bias" in caplog.text
    assert float(model.lm_head.dense.weight.std()) > 0
    np.testing.assert_array_equal(model.lm_head.bias.numpy(), 0.0)
    np.testing.assert_array_equal(model.lm_head.layer_norm.weight.numpy(), 1.0)
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    np.testing.assert_array_equal(model.ernie_m(ids, attention_mask=mask, return_dict=True).last_hidden_state.numpy(),
                                  base(ids, attention_mask=mask)[0].numpy())


def test_saved_checkpoint_reloads_exactly_and_feeds_other_heads_and_paddlenlp(tmp_path, caplog):
    model = _model(seed=5)
    model.save_pretrained(tmp_path, safe_serialization=True)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["ErnieMForPreTraining"]
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    again = ours.ErnieMForPreTraining.from_pretrained(tmp_path)
    np.testing.assert_array_equal(again(ids, attention_mask=mask).logits.numpy(),
                                  model(ids, attention_mask=mask).logits.numpy())
    with caplog.at_level(logging.WARNING):
        classifier = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert "another head" in caplog.text and "lm_head.dense.weight" in caplog.text
    reference = pnlp.ErnieMModel.from_pretrained(str(tmp_path))
    reference.eval()
    np.testing.assert_array_equal(classifier.ernie_m(ids, attention_mask=mask, return_dict=True).pooler_output.numpy(),
                                  reference(ids, attention_mask=mask)[1].numpy())
