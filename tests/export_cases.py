"""Inputs and PaddleNLP reference outputs shared by the tests of the exports (Paddle Inference and ONNX Runtime)."""
from __future__ import annotations

import numpy as np
import paddle

from paddle_ernie_m.engines.onnx_graph import INT8_WEIGHT_MAX

from .conftest import padded_batch

#: The largest error of one int8 product relative to its largest output (tests/test_onnx_export.py derives it).
EPS = 1 / (2 * INT8_WEIGHT_MAX) + 1 / 255


def model_tolerance(layers: int, peak: float) -> float:
    """The bound on an int8 model's outputs whose largest magnitude is ``peak``: four chained int8 products per
    layer (tests/test_onnx_export.py)."""
    return 4 * layers * EPS * peak

#: The output names each head's export must have (the dygraph output fields, in PaddleNLP's tuple order).
OUTPUT_NAMES = {
    "base": ["last_hidden_state", "pooler_output"],
    "seq_cls": ["logits"],
    "multiple_choice": ["logits"],
    "token_cls": ["logits"],
    "qa": ["start_logits", "end_logits"],
    "uie": ["start_prob", "end_prob"],
}
PER_TOKEN = {"base": {"last_hidden_state"}, "token_cls": {"logits"}, "qa": {"start_logits", "end_logits"},
             "uie": {"start_prob", "end_prob"}}


def shuffled_batch(head: str) -> np.ndarray:
    """Five rows of lengths 7, 13, 3, 10, 4 (not sorted) padded to 13; [batch, 2 choices, 13] for multiple choice."""
    ids = padded_batch(batch=5, seq=13)[[2, 0, 4, 1, 3]]
    if head == "multiple_choice":
        ids = np.stack([ids, padded_batch(batch=5, seq=13, seed=1)[[4, 3, 2, 1, 0]]], axis=1)
    return ids


def paddlenlp_outputs(reference, ids, position_ids=None, attention_mask=None) -> list:
    kwargs = {"input_ids": paddle.to_tensor(ids)}
    if position_ids is not None:
        kwargs["position_ids"] = paddle.to_tensor(position_ids)
    if attention_mask is not None:
        kwargs["attention_mask"] = paddle.to_tensor(attention_mask)
    with paddle.no_grad():
        out = reference(**kwargs)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else [out])]
