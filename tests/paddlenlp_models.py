"""Every head as a pair (our class, PaddleNLP 2.8.1's), and tiny PaddleNLP models to compare ours against."""
from __future__ import annotations

import paddle
import paddlenlp.transformers as pnlp

import paddle_ernie_m as ours

from .conftest import TINY

NUM_LABELS = 3
NUM_CHOICES = 2

# (our class, PaddleNLP class)
HEADS = {
    "base": (ours.ErnieMModel, pnlp.ErnieMModel),
    "seq_cls": (ours.ErnieMForSequenceClassification, pnlp.ErnieMForSequenceClassification),
    "multiple_choice": (ours.ErnieMForMultipleChoice, pnlp.ErnieMForMultipleChoice),
    "token_cls": (ours.ErnieMForTokenClassification, pnlp.ErnieMForTokenClassification),
    "qa": (ours.ErnieMForQuestionAnswering, pnlp.ErnieMForQuestionAnswering),
    "uie": (ours.ErnieMForInformationExtraction, pnlp.UIEM),
}


def paddlenlp_model(head: str, seed: int = 0):
    paddle.seed(seed)
    config = pnlp.ErnieMConfig(**TINY, num_classes=NUM_LABELS, num_choices=NUM_CHOICES)
    model = HEADS[head][1](config)
    # PaddleNLP leaves biases and LayerNorms at their defaults; perturb them so that every tensor matters.
    for name, param in model.named_parameters():
        if "bias" in name or "norm" in name:
            param.set_value(param + paddle.normal(0, 0.05, param.shape))
    model.eval()
    return model
