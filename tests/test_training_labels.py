"""Fine-tuning a classifier checkpoint on data with other label names: the old head is never reused under new
names. References: the saved arrays read back with ``paddle.load``, and logits permuted by hand."""
from __future__ import annotations

import argparse
import logging

import numpy as np
import paddle
import pytest

import paddle_ernie_m as ours
from paddle_ernie_m import ErnieMConfig
from paddle_ernie_m.training import script

from .conftest import TINY, padded_batch

OLD = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A sequence classifier for negative/positive with a classifier whose weights and bias are not the init's."""
    paddle.seed(3)
    model = ours.ErnieMForSequenceClassification(ErnieMConfig(**TINY, id2label=OLD))
    model.classifier.bias.set_value(paddle.to_tensor([0.5, -0.25]))
    directory = tmp_path_factory.mktemp("classifier")
    model.save_pretrained(directory)
    saved = paddle.load(str(directory / "model_state.pdparams"), return_numpy=True)
    return directory, saved


def load(directory, cls=ours.ErnieMForSequenceClassification, labels=None):
    return script.load_model(cls, argparse.Namespace(model=str(directory), seed=0), id2label=labels)


def test_the_same_labels_keep_the_trained_classifier(checkpoint):
    directory, saved = checkpoint
    model = load(directory, labels=dict(OLD))
    np.testing.assert_array_equal(model.classifier.weight.numpy(), saved["classifier.weight"])
    np.testing.assert_array_equal(model.classifier.bias.numpy(), saved["classifier.bias"])


def test_the_same_labels_in_another_order_keep_their_weights_reordered(checkpoint):
    directory, saved = checkpoint
    before = ours.ErnieMForSequenceClassification.from_pretrained(directory)
    model = load(directory, labels={0: "positive", 1: "negative"})
    assert model.config.id2label == {0: "positive", 1: "negative"}
    np.testing.assert_array_equal(model.classifier.weight.numpy(), saved["classifier.weight"][:, ::-1])
    ids = paddle.to_tensor(padded_batch())
    with paddle.no_grad():
        np.testing.assert_allclose(model(ids, return_dict=True).logits.numpy(), before(ids, return_dict=True).logits.numpy()[:, ::-1], atol=1e-6)


@pytest.mark.parametrize("labels", [{0: "sports", 1: "politics"}, {0: "a", 1: "b", 2: "c"}])
def test_other_labels_get_a_new_classifier_with_a_warning_naming_old_and_new(checkpoint, caplog, labels):
    directory, saved = checkpoint
    with caplog.at_level(logging.WARNING):
        model = load(directory, labels=labels)
    assert f"its classifier was trained for the labels negative, positive, the data has " \
           f"{', '.join(labels.values())}: starting a new classifier" in caplog.text
    assert model.config.id2label == labels and model.classifier.weight.shape == [TINY["hidden_size"], len(labels)]
    assert not np.array_equal(model.classifier.weight.numpy()[:, :2], saved["classifier.weight"])
    np.testing.assert_array_equal(model.classifier.bias.numpy(), np.zeros(len(labels)))  # a new head's bias
    np.testing.assert_array_equal(model.ernie_m.pooler.dense.weight.numpy(), saved["ernie_m.pooler.dense.weight"])


def test_another_heads_classifier_is_not_reused_for_token_labels(checkpoint, caplog):
    directory, saved = checkpoint
    with caplog.at_level(logging.WARNING):
        model = load(directory, ours.ErnieMForTokenClassification, labels={0: "O", 1: "B-PER"})
    assert "its head belongs to ErnieMForSequenceClassification, not ErnieMForTokenClassification: starting a " \
           "new classifier for the labels O, B-PER" in caplog.text
    assert not np.array_equal(model.classifier.weight.numpy(), saved["classifier.weight"])


def test_a_base_checkpoint_gets_its_new_head_without_a_label_warning(tmp_path, caplog):
    ours.ErnieMModel(ErnieMConfig(**TINY)).save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        model = load(tmp_path, labels={0: "x", 1: "y", 2: "z"})
    assert model.classifier.weight.shape == [TINY["hidden_size"], 3]
    assert "trained for the labels" not in caplog.text and "newly initialised" in caplog.text
