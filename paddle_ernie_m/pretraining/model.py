"""``ErnieMForPreTraining``: the encoder plus the masked-LM head that CAMLM, BTMLM and plain MLM train.

The head is XLM-R's (ERNIE-M keeps XLM-R's vocabulary layout and position offset): ``dense -> activation ->
layer_norm``, then a decoder tied to the word embeddings, plus an output bias. Its tensors are
``lm_head.dense.{weight,bias}``, ``lm_head.layer_norm.{weight,bias}`` and ``lm_head.bias``; the decoder weight is
``ernie_m.embeddings.word_embeddings.weight`` itself and is not stored twice. Released ERNIE-M checkpoints
carry no such head: loading one initialises the head and reports it.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import Tensor

from converters.configuration import ErnieMConfig

from ..modeling import _ACTIVATIONS, _ErnieMWithHead
from ..outputs import ClassifierOutput
from .collator import IGNORE_INDEX

__all__ = ["ErnieMForPreTraining", "ErnieMLMHead"]


class ErnieMLMHead(nn.Layer):
    """Hidden states -> vocabulary logits: ``layer_norm(act(dense(h))) @ word_embeddings.T + bias``."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = _ACTIVATIONS[config.hidden_act]
        self.layer_norm = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.bias = self.create_parameter([config.vocab_size], is_bias=True,
                                          default_initializer=nn.initializer.Constant(0.0))

    def forward(self, hidden_states: Tensor, decoder_weight: Tensor) -> Tensor:
        hidden_states = self.layer_norm(self.activation(self.dense(hidden_states)))
        return paddle.matmul(hidden_states, decoder_weight, transpose_y=True) + self.bias


class ErnieMForPreTraining(_ErnieMWithHead):
    """ERNIE-M with its masked-LM head, for (continued) pre-training with MLM, TLM, CAMLM and BTMLM.

    Besides the inputs every model takes (see :class:`~paddle_ernie_m.ErnieMModel`):

    * ``labels``: ``[batch, seq]`` int64 token ids to predict, ``IGNORE_INDEX`` (-100) elsewhere; the loss is the
      mean cross-entropy over the predicted tokens.
    * ``masked_positions``: ``[batch, seq]`` bool; when given, logits are computed only there and returned
      flattened in row-major order as ``[n, vocab]`` (a full ``[batch, seq, 250002]`` tensor rarely fits in
      memory). Without it, ``logits`` is ``[batch, seq, vocab]``.

    The output is a :class:`~paddle_ernie_m.outputs.ClassifierOutput` (``loss``, ``logits``, ...).
    """

    def __init__(self, config: ErnieMConfig):
        super().__init__(config)
        self.lm_head = ErnieMLMHead(config)
        self.init_weights(self.lm_head)

    def resize_token_embeddings(self, new_num_tokens=None) -> nn.Embedding:
        """Also give the output bias one entry per token: kept from the start, zeros for new tokens (what
        PaddleNLP's ``tie_weights`` does to a tied decoder's bias)."""
        embedding = super().resize_token_embeddings(new_num_tokens)
        old, rows = self.lm_head.bias, embedding.weight.shape[0]
        if old.shape[0] != rows:
            bias = self.lm_head.create_parameter([rows], dtype=old.dtype, is_bias=True,
                                                 default_initializer=nn.initializer.Constant(0.0))
            kept = min(rows, old.shape[0])
            with paddle.no_grad():
                bias[:kept] = old[:kept]
            self.lm_head.bias = bias
        return embedding

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, labels=None, masked_positions=None,
                inputs_embeds=None, output_hidden_states=False, output_attentions=False, return_dict=True):
        encoded = self._encode(input_ids, position_ids, attention_mask, inputs_embeds,
                               output_hidden_states, output_attentions)
        hidden = encoded.last_hidden_state
        if masked_positions is not None:
            index = paddle.nonzero(masked_positions.astype("bool"))
            hidden = paddle.gather_nd(hidden, index)
            if labels is not None:
                labels = paddle.gather_nd(labels, index)
        logits = self.lm_head(hidden, self.ernie_m.embeddings.word_embeddings.weight)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape([-1, self.config.vocab_size]).astype("float32"),
                                   labels.reshape([-1]), ignore_index=IGNORE_INDEX)
        output = ClassifierOutput(loss, logits, encoded.hidden_states, encoded.attentions)
        return output if return_dict else output.to_tuple()
