"""Ids outside the embedding tables are refused at the model boundary, in dygraph as by the Predictor."""
from __future__ import annotations

import re

import numpy as np
import paddle
import pytest

import paddle_ernie_m as ours
from paddle_ernie_m import ErnieMConfig
from paddle_ernie_m.engines.predictor import Predictor

from .conftest import TINY, padded_batch

LIMIT = TINY["max_position_embeddings"] - 2  # positions 0..37 (the table is indexed at position + 2)


@pytest.fixture(scope="module")
def model():
    paddle.seed(0)
    return ours.ErnieMForSequenceClassification(ErnieMConfig(**TINY)).eval()


@pytest.fixture(scope="module")
def predictor(model, tmp_path_factory):
    return Predictor.from_model(model, tmp_path_factory.mktemp("export") / "export", threads=1)


BAD_INPUTS = [
    # (input_ids, position_ids, message): the first offending value by (row, column), and the count
    ([[0, -1, 2]], None, r"input_ids\[0, 1\] is -1, outside \[0, 157\) \(vocab_size\); 1 of 3 values"),
    ([[0, 5, 2], [0, 157, 400]], None, r"input_ids\[1, 1\] is 157, outside \[0, 157\) \(vocab_size\); 2 of 6"),
    ([[0, 5, 2]], [[0, -3, 2]], r"position_ids\[0, 1\] is -3, outside \[0, 38\) "
                                r"\(max_position_embeddings - 2\); 1 of 3"),
    ([[0, 5, 2]], [[0, 1, LIMIT]], r"position_ids\[0, 2\] is 38, outside \[0, 38\)"),
    ([[3] * (LIMIT + 1)], None, "sequences of 39 tokens exceed the model's 38 positions"),
]


@pytest.mark.parametrize("ids,positions,message", BAD_INPUTS)
def test_dygraph_refuses_ids_outside_the_tables_naming_value_and_position(model, ids, positions, message):
    kwargs = {} if positions is None else {"position_ids": paddle.to_tensor(positions, dtype="int64")}
    with pytest.raises(ValueError, match=message):
        model(paddle.to_tensor(ids, dtype="int64"), **kwargs)


@pytest.mark.parametrize("ids,positions,message", BAD_INPUTS)
def test_dygraph_and_predictor_refuse_the_same_inputs_with_the_same_message(model, predictor, ids, positions,
                                                                          message):
    kwargs = {} if positions is None else {"position_ids": paddle.to_tensor(positions, dtype="int64")}
    with pytest.raises(ValueError) as dygraph:
        model(paddle.to_tensor(ids, dtype="int64"), **kwargs)
    with pytest.raises(ValueError) as inference:
        predictor(input_ids=np.array(ids), position_ids=None if positions is None else np.array(positions))
    assert str(dygraph.value) == str(inference.value)


def test_ids_at_the_edges_of_the_tables_are_accepted_and_finite(model, predictor):
    ids = np.array([[0, TINY["vocab_size"] - 1, 2]])
    positions = np.array([[0, LIMIT - 1, 1]])
    with paddle.no_grad():
        logits = model(paddle.to_tensor(ids), position_ids=paddle.to_tensor(positions),
                       return_dict=True).logits.numpy()
    assert np.isfinite(logits).all()
    np.testing.assert_allclose(predictor(input_ids=ids, position_ids=positions)["logits"], logits, atol=1e-5)
    with paddle.no_grad():  # a full-length sequence under the default positions
        assert np.isfinite(model(paddle.to_tensor([[3] * LIMIT]), return_dict=True).logits.numpy()).all()


def test_multiple_choice_errors_name_the_batch_choice_and_column_before_flattening():
    model = ours.ErnieMForMultipleChoice(ErnieMConfig(**TINY)).eval()
    ids = np.stack([padded_batch(2, 6), padded_batch(2, 6, seed=1)], axis=1)  # [batch 2, choices 2, seq 6]
    ids[1, 1, 4] = -7
    with pytest.raises(ValueError, match=r"input_ids\[1, 1, 4\] is -7, outside \[0, 157\)"):
        model(paddle.to_tensor(ids))


def test_inputs_embeds_still_get_their_positions_checked(model):
    embeds = paddle.zeros([1, 3, TINY["hidden_size"]])
    with pytest.raises(ValueError, match=r"position_ids\[0, 0\] is 99"):
        model(inputs_embeds=embeds, position_ids=paddle.to_tensor([[99, 0, 1]]))
    with paddle.no_grad():
        assert np.isfinite(model(inputs_embeds=embeds, return_dict=True).logits.numpy()).all()


def test_the_check_is_absent_from_the_exported_program(model, tmp_path):
    """A data-dependent raise cannot live in a static program: tracing skips it (the export still works and the
    program holds no reduction over the ids), and the Predictor checks its numpy inputs instead."""
    from paddle_ernie_m.engines.export import export_model

    export_model(model, tmp_path / "export")
    ops = set(re.findall(r'"#":"\d+\.(\w+)"', (tmp_path / "export" / "inference.json").read_text()))
    assert "embedding" in ops and not ops & {"min", "max", "reduce_min", "reduce_max"}
