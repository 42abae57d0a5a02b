"""Our model classes against PaddleNLP 2.8.1's ErnieM on the same random weights: names, shapes, outputs, losses."""
from __future__ import annotations

import numpy as np
import paddle
import pytest

import paddle_ernie_m as ours
from converters.configuration import ErnieMConfig

from .conftest import TINY, padded_batch
from .paddlenlp_models import HEADS, NUM_CHOICES, NUM_LABELS, paddlenlp_model

ATOL = 1e-6


def inputs_for(head: str) -> dict:
    ids = padded_batch()
    if head == "multiple_choice":
        ids = np.stack([ids[:2], padded_batch(seed=1)[:2]], axis=1)  # [batch 2, choices 2, seq]
    return {"input_ids": paddle.to_tensor(ids), "attention_mask": paddle.to_tensor((ids != 1).astype("int64"))}


def output_tensors(head: str, output) -> dict:
    """The named tensors of an output object (PaddleNLP's or ours) that both implementations produce."""
    if head == "uie":
        start, end = output[0], output[1]
        return {"start_prob": start, "end_prob": end}
    if head == "base":
        names = ["last_hidden_state", "pooler_output"]
    elif head == "qa":
        names = ["start_logits", "end_logits"]
    else:
        names = ["logits"]
    tensors = {n: getattr(output, n) for n in names}
    for group in ("hidden_states", "attentions"):
        for i, t in enumerate(getattr(output, group, None) or ()):
            tensors[f"{group}[{i}]"] = t
    return tensors


def assert_outputs_equal(head: str, expected, actual, atol: float = ATOL):
    want, got = output_tensors(head, expected), output_tensors(head, actual)
    assert set(want) <= set(got), f"missing outputs: {set(want) - set(got)}"
    for name in want:
        np.testing.assert_allclose(got[name].numpy(), want[name].numpy(), rtol=0, atol=atol, err_msg=name)


def run(model, head: str, inputs: dict, **kwargs):
    if head == "uie":  # PaddleNLP's UIEM takes no output flags
        return model(inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
    return model(**inputs, output_hidden_states=True, output_attentions=True, return_dict=True, **kwargs)


@pytest.mark.parametrize("head", list(HEADS))
def test_paddlenlp_checkpoint_loads_into_our_class_with_identical_outputs(head, tmp_path):
    reference = paddlenlp_model(head)
    reference.save_pretrained(str(tmp_path))
    model = HEADS[head][0].from_pretrained(tmp_path)
    inputs = inputs_for(head)
    assert_outputs_equal(head, run(reference, head, inputs), run(model, head, inputs))


@pytest.mark.parametrize("head", list(HEADS))
def test_state_dicts_have_identical_names_and_shapes_both_ways(head):
    reference = paddlenlp_model(head)
    config = ErnieMConfig(**TINY, num_labels=NUM_LABELS)
    model = HEADS[head][0](config)
    theirs = {k: list(v.shape) for k, v in reference.state_dict().items()}
    mine = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert mine == theirs
    model.set_state_dict(reference.state_dict())
    model.eval()
    inputs = inputs_for(head)
    assert_outputs_equal(head, run(reference, head, inputs), run(model, head, inputs))


@pytest.mark.parametrize("head", list(HEADS))
def test_our_checkpoint_loads_into_paddlenlp_with_identical_outputs(head, tmp_path):
    paddle.seed(3)
    model = HEADS[head][0](ErnieMConfig(**TINY, num_labels=NUM_LABELS, num_choices=NUM_CHOICES))
    model.eval()
    model.save_pretrained(tmp_path)
    reference = HEADS[head][1].from_pretrained(str(tmp_path))
    reference.eval()
    assert set(reference.state_dict()) == set(model.state_dict())
    inputs = inputs_for(head)
    assert_outputs_equal(head, run(reference, head, inputs), run(model, head, inputs))


@pytest.mark.parametrize("head", ["base", "seq_cls", "uie"])
@pytest.mark.parametrize("stated", [True, False], ids=["stated", "from_paddlenlps_config"])
def test_paddlenlp_default_mask_is_reproduced_by_the_paddlenlp_mask_mode(head, stated, tmp_path):
    """Stated, or left to the checkpoint: a directory PaddleNLP wrote (no ``attention_mask_mode``) keeps its mask."""
    reference = paddlenlp_model(head)
    reference.save_pretrained(str(tmp_path))
    model = HEADS[head][0].from_pretrained(tmp_path, **({"attention_mask_mode": "paddlenlp"} if stated else {}))
    ids = paddle.to_tensor(padded_batch())
    want = reference(ids) if head == "uie" else reference(ids, return_dict=True)
    got = model(ids, return_dict=True)
    assert_outputs_equal(head, want, got)


def test_default_mask_ignores_padding_like_an_unpadded_input():
    paddle.seed(1)
    model = ours.ErnieMModel(ErnieMConfig(**TINY))
    model.eval()
    ids = padded_batch()
    short = ids[2][ids[2] != 1]
    padded_out = model(paddle.to_tensor(ids), return_dict=True).last_hidden_state.numpy()[2, : len(short)]
    alone_out = model(paddle.to_tensor(short[None]), return_dict=True).last_hidden_state.numpy()[0]
    np.testing.assert_allclose(padded_out, alone_out, atol=1e-5)


def test_four_dimensional_additive_mask_equals_two_dimensional_keep_mask():
    paddle.seed(2)
    model = ours.ErnieMModel(ErnieMConfig(**TINY))
    model.eval()
    ids = padded_batch()
    keep = (ids != 1).astype("float32")
    additive = ((1.0 - keep) * -1e4)[:, None, None, :]
    a = model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(keep), return_dict=True).last_hidden_state
    b = model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(additive), return_dict=True).last_hidden_state
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def _labels(head: str, kind: str = "single"):
    rng = np.random.default_rng(7)
    if head == "seq_cls" and kind == "single":
        return {"labels": paddle.to_tensor(rng.integers(0, NUM_LABELS, size=3).astype("int64"))}
    if head == "seq_cls" and kind == "multi":
        return {"labels": paddle.to_tensor(rng.integers(0, 2, size=(3, NUM_LABELS)).astype("float32"))}
    if head == "token_cls":
        labels = rng.integers(0, NUM_LABELS, size=(3, 11)).astype("int64")
        labels[padded_batch() == 1] = -100
        return {"labels": paddle.to_tensor(labels)}
    if head == "multiple_choice":
        return {"labels": paddle.to_tensor(np.array([1, 0], dtype="int64"))}
    if head == "qa":
        return {"start_positions": paddle.to_tensor(np.array([1, 2, 40], dtype="int64")),
                "end_positions": paddle.to_tensor(np.array([3, 2, 5], dtype="int64"))}
    raise KeyError(head)


@pytest.mark.parametrize("head,kind", [("seq_cls", "single"), ("seq_cls", "multi"), ("token_cls", "single"),
                                       ("multiple_choice", "single"), ("qa", "single")])
def test_losses_equal_paddlenlp(head, kind, tmp_path):
    reference = paddlenlp_model(head)
    reference.save_pretrained(str(tmp_path))
    model = HEADS[head][0].from_pretrained(tmp_path)
    inputs = {**inputs_for(head), **_labels(head, kind)}
    want = reference(**inputs, return_dict=True).loss
    got = model(**inputs, return_dict=True).loss
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=ATOL)


def test_regression_loss_is_mean_squared_error_by_hand(tmp_path):
    paddle.seed(4)
    model = ours.ErnieMForSequenceClassification(ErnieMConfig(**TINY, num_labels=1))
    model.eval()
    ids = paddle.to_tensor(padded_batch())
    target = np.array([0.5, -1.0, 2.0], dtype="float32")
    out = model(ids, labels=paddle.to_tensor(target), return_dict=True)
    logits = out.logits.numpy()[:, 0]
    np.testing.assert_allclose(out.loss.numpy(), np.mean((logits - target) ** 2), rtol=1e-6)


def test_uie_loss_is_paddlenlp_finetuning_bce_on_probabilities(tmp_path):
    reference = paddlenlp_model("uie")
    reference.save_pretrained(str(tmp_path))
    model = ours.UIEM.from_pretrained(tmp_path)
    ids = paddle.to_tensor(padded_batch())
    rng = np.random.default_rng(0)
    start = paddle.to_tensor(rng.integers(0, 2, size=(3, 11)).astype("float32"))
    end = paddle.to_tensor(rng.integers(0, 2, size=(3, 11)).astype("float32"))
    start_prob, end_prob = reference(ids, attention_mask=(ids != 1).astype("int64"))
    # PaddleNLP's UIE fine-tuning script: BCELoss on the probabilities, averaged over start and end.
    want = (paddle.nn.BCELoss()(start_prob, start) + paddle.nn.BCELoss()(end_prob, end)) / 2
    got = model(ids, attention_mask=(ids != 1).astype("int64"), start_positions=start, end_positions=end,
                return_dict=True).loss
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_multiple_choice_reads_the_number_of_choices_from_the_input_shape():
    paddle.seed(5)
    model = ours.ErnieMForMultipleChoice(ErnieMConfig(**TINY))  # no num_choices in the config
    model.eval()
    ids = np.stack([padded_batch()] * 4, axis=1)  # 3 questions x 4 choices
    assert model(paddle.to_tensor(ids), return_dict=True).logits.shape == [3, 4]


def test_return_dict_false_gives_paddlenlps_tuple(tmp_path):
    reference = paddlenlp_model("seq_cls")
    reference.save_pretrained(str(tmp_path))
    model = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path)
    ids = paddle.to_tensor(padded_batch())
    mask = (ids != 1).astype("int64")
    labels = paddle.to_tensor(np.array([0, 1, 2], dtype="int64"))
    want = reference(ids, attention_mask=mask, labels=labels)  # PaddleNLP: (loss, logits)
    got = model(ids, attention_mask=mask, labels=labels, return_dict=False)
    assert isinstance(got, tuple) and len(got) == len(want) == 2
    for w, g in zip(want, got):
        np.testing.assert_allclose(g.numpy(), w.numpy(), atol=ATOL)
    seq, pooled = model.ernie_m(ids, attention_mask=mask, return_dict=False)
    want_seq, want_pooled = reference.ernie_m(ids, attention_mask=mask)
    np.testing.assert_allclose(seq.numpy(), want_seq.numpy(), atol=ATOL)
    np.testing.assert_allclose(pooled.numpy(), want_pooled.numpy(), atol=ATOL)
