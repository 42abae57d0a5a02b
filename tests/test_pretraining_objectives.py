"""BTMLM's two steps and the combined pre-training loss, against numpy computations on the model's logits."""
from __future__ import annotations

import numpy as np
import paddle
import pytest

import paddle_ernie_m as ours
from converters.configuration import ErnieMConfig
from paddle_ernie_m.pretraining.collator import PretrainingCollator, SpecialTokens, mix_features
from paddle_ernie_m.pretraining.objectives import PretrainingLoss, btmlm_loss, generate_pseudo_tokens

from .conftest import TINY

SPECIAL = SpecialTokens(cls=0, pad=1, sep=2, unk=3, mask=TINY["vocab_size"] - 1, vocab_size=TINY["vocab_size"])
SPECIAL_IDS = [0, 1, 2, 3, TINY["vocab_size"] - 1]


def _model(seed=0, **changes):
    paddle.seed(seed)
    model = ours.ErnieMForPreTraining(ErnieMConfig(**{**TINY, "initializer_range": 0.2, **changes}))
    model.train()
    return model


def _tensors(batch):
    return {k: paddle.to_tensor(v) for k, v in batch.items()}


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _pseudo_of_row(batch, pair, row):
    return pair.numpy()[row][batch["btmlm_pseudo_slots"].numpy()[row]]


def test_pseudo_tokens_are_a_deterministic_function_of_the_sentence():
    model = _model()  # dropout 0.1, train mode: generation must not depend on it
    collator = PretrainingCollator(SPECIAL, ["btmlm"])
    rng = np.random.default_rng(0)
    sentence = rng.integers(4, 150, size=7)
    others = [rng.integers(4, 150, size=n) for n in (3, 12, 5)]
    batch_a = _tensors(collator([{"input_ids": sentence}, {"input_ids": others[0]}], rng=np.random.default_rng(1)))
    batch_b = _tensors(collator([{"input_ids": others[1]}, {"input_ids": others[2]}, {"input_ids": sentence}],
                                rng=np.random.default_rng(2)))
    paddle.seed(11)
    pseudo_a = _pseudo_of_row(batch_a, generate_pseudo_tokens(model, batch_a, SPECIAL), 0)
    paddle.seed(12)
    pseudo_b = _pseudo_of_row(batch_b, generate_pseudo_tokens(model, batch_b, SPECIAL), 2)
    assert model.training  # restored after generation
    np.testing.assert_array_equal(pseudo_a, pseudo_b)
    assert len(pseudo_a) == 7 and not np.isin(pseudo_a, SPECIAL_IDS).any()

    # reference: the same sentence alone, eval mode, full logits, arg-max over the ordinary tokens
    model.eval()
    alone = collator([{"input_ids": sentence}], rng=np.random.default_rng(3))
    logits = model(paddle.to_tensor(alone["btmlm_source_ids"]),
                   position_ids=paddle.to_tensor(alone["btmlm_position_ids"]),
                   attention_mask=paddle.to_tensor(alone["btmlm_attention_mask"])).logits.numpy()[0]
    logits[:, SPECIAL_IDS] = -np.inf
    np.testing.assert_array_equal(pseudo_a, logits[alone["btmlm_pseudo_slots"][0]].argmax(-1))


def test_btmlm_second_step_loss_counts_only_the_original_sentence_masks():
    model = _model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    collator = PretrainingCollator(SPECIAL, ["btmlm"], mask_prob=0.3)
    rng = np.random.default_rng(4)
    batch = _tensors(collator([{"input_ids": rng.integers(4, 150, size=n)} for n in (6, 9, 4)],
                              rng=np.random.default_rng(5)))
    loss = float(btmlm_loss(model, batch, SPECIAL))

    labels = batch["btmlm_labels"].numpy()
    slots = batch["btmlm_pseudo_slots"].numpy()
    segment = batch["btmlm_position_ids"].numpy()
    first_segment = np.cumsum(segment == 0, axis=1) == 1  # until positions restart
    assert ((labels != -100) <= first_segment).all() and (labels[slots] == -100).all()

    pseudo_pair = generate_pseudo_tokens(model, batch, SPECIAL).numpy()
    step2 = np.where(slots, pseudo_pair, batch["btmlm_input_ids"].numpy())

    def reference(ids, targets):
        logits = model(paddle.to_tensor(ids), position_ids=batch["btmlm_position_ids"],
                       attention_mask=batch["btmlm_attention_mask"]).logits.numpy()
        picked = targets != -100
        return -_log_softmax(logits[picked])[np.arange(picked.sum()), targets[picked]].mean()

    np.testing.assert_allclose(loss, reference(step2, labels), rtol=1e-5)
    # counting the pseudo tokens too would give another value; so would leaving the placeholders unfilled
    with_pseudo = np.where(slots, pseudo_pair, labels)
    assert abs(loss - reference(step2, with_pseudo)) > 1e-3
    assert abs(loss - reference(batch["btmlm_input_ids"].numpy(), labels)) > 1e-3


def test_pretraining_loss_is_the_weighted_sum_and_logs_each_objective():
    model = _model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    rng = np.random.default_rng(6)
    features = mix_features([rng.integers(4, 150, size=n) for n in (5, 8)],
                            [(rng.integers(4, 150, size=6), rng.integers(4, 150, size=4))])
    batch = _tensors(PretrainingCollator(SPECIAL, ["mlm", "tlm", "camlm", "btmlm"])(
        features, rng=np.random.default_rng(7)))
    total, logs = PretrainingLoss(SPECIAL, {"btmlm": 0.5, "tlm": 2.0})(model, batch)
    assert sorted(logs) == ["btmlm_loss", "camlm_loss", "mlm_loss", "tlm_loss"]
    values = {k: float(v) for k, v in logs.items()}
    expected = values["mlm_loss"] + 2.0 * values["tlm_loss"] + values["camlm_loss"] + 0.5 * values["btmlm_loss"]
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    for value in values.values():  # random 157-way predictions
        assert abs(value - np.log(TINY["vocab_size"])) < 2.0
    with pytest.raises(ValueError, match="unknown objectives"):
        PretrainingLoss(SPECIAL, {"nsp": 1.0})
    with pytest.raises(ValueError, match="holds no pre-training objective"):
        PretrainingLoss(SPECIAL)(model, {"input_ids": batch["mlm_input_ids"]})
