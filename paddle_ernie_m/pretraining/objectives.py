"""The pre-training losses: MLM, TLM, CAMLM and BTMLM on batches made by :class:`.PretrainingCollator`.

* MLM / TLM / CAMLM: the masked-LM cross-entropy over the masked tokens of their layout; the three differ only
  in the input layout and attention mask the collator builds.
* BTMLM (ERNIE-M, section 3.2), two steps in one training step:

  1. *pseudo-token generation*: the model reads ``[CLS] x [SEP] [SEP] [MASK]*m [SEP]`` under the CAMLM mask,
     in eval mode (no dropout) and without gradients, and every placeholder takes its most likely ordinary
     token, all in one pass (non-autoregressive). With a model that CAMLM has taught to restore one language
     from the other, these are a rough translation of ``x``. The language is not named: with no language
     embeddings in ERNIE-M, the model produces "the other side" of the pairs it has seen.
  2. the pseudo tokens replace the placeholders, the original sentence is masked, and the masked-LM loss
     over the original sentence's masked tokens only is minimised under the CAMLM mask, so that they must be
     restored from the pseudo translation.

:class:`PretrainingLoss` is the trainer's ``compute_loss``: the weighted sum of the objectives present in the
batch, each one's loss logged as ``<objective>_loss``.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from paddle import Tensor

from .collator import IGNORE_INDEX, OBJECTIVES, SpecialTokens

__all__ = ["PretrainingLoss", "masked_lm_loss", "generate_pseudo_tokens", "btmlm_loss"]


def masked_lm_loss(model: nn.Layer, batch: Mapping[str, Tensor], objective: str,
                   input_ids: Optional[Tensor] = None) -> Tensor:
    """Mean cross-entropy over the masked tokens of ``objective``'s part of ``batch`` (``input_ids``
    replaces ``<objective>_input_ids`` when given)."""
    labels = batch[f"{objective}_labels"]
    output = model(
        input_ids=batch[f"{objective}_input_ids"] if input_ids is None else input_ids,
        position_ids=batch.get(f"{objective}_position_ids"),
        attention_mask=batch[f"{objective}_attention_mask"],
        labels=labels,
        masked_positions=labels != IGNORE_INDEX,
    )
    return output.loss


def generate_pseudo_tokens(model: nn.Layer, batch: Mapping[str, Tensor], special: SpecialTokens) -> Tensor:
    """BTMLM step 1: ``btmlm_source_ids`` with every placeholder replaced by the model's most likely ordinary
    token (special tokens are never generated), in one pass, in eval mode, without gradients."""
    layer = getattr(model, "_layers", model)  # a paddle.DataParallel wrapper: no gradient, so no sync needed
    was_training = layer.training
    layer.eval()
    try:
        with paddle.no_grad():
            slots = batch["btmlm_pseudo_slots"].astype("bool")
            logits = layer(input_ids=batch["btmlm_source_ids"], position_ids=batch["btmlm_position_ids"],
                           attention_mask=batch["btmlm_attention_mask"], masked_positions=slots).logits
            banned = np.zeros(logits.shape[-1], dtype=np.float32)
            banned[list(special.ids)] = -np.inf
            pseudo = (logits.astype("float32") + paddle.to_tensor(banned)).argmax(axis=-1)
            return paddle.masked_scatter(batch["btmlm_source_ids"], slots, pseudo.astype("int64"))
    finally:
        if was_training:
            layer.train()


def btmlm_loss(model: nn.Layer, batch: Mapping[str, Tensor], special: SpecialTokens) -> Tensor:
    """BTMLM: generate the pseudo target (step 1), then restore the masked original sentence from it (step 2)."""
    pseudo_pair = generate_pseudo_tokens(model, batch, special)
    slots = batch["btmlm_pseudo_slots"].astype("bool")
    return masked_lm_loss(model, batch, "btmlm", paddle.where(slots, pseudo_pair, batch["btmlm_input_ids"]))


class PretrainingLoss:
    """``compute_loss(model, batch) -> (loss, logs)``: ``sum(weight[o] * loss_o)`` over the objectives whose
    inputs are in ``batch``; ``logs`` holds each ``<o>_loss``. ``weights`` default to 1."""

    def __init__(self, special: SpecialTokens, weights: Optional[Mapping[str, float]] = None):
        unknown = sorted(set(weights or {}) - set(OBJECTIVES))
        if unknown:
            raise ValueError(f"weights name unknown objectives {unknown}; known: {', '.join(OBJECTIVES)}")
        self.special = special
        self.weights = {o: float((weights or {}).get(o, 1.0)) for o in OBJECTIVES}

    def __call__(self, model: nn.Layer, batch: Mapping[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        losses: Dict[str, Tensor] = {}
        for objective in OBJECTIVES:
            if f"{objective}_input_ids" in batch:
                losses[objective] = (btmlm_loss(model, batch, self.special) if objective == "btmlm"
                                     else masked_lm_loss(model, batch, objective))
        if not losses:
            raise ValueError(f"the batch (keys {sorted(batch)}) holds no pre-training objective")
        total = paddle.add_n([self.weights[o] * loss for o, loss in losses.items()])
        return total, {f"{o}_loss": loss.detach() for o, loss in losses.items()}
