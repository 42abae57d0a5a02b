"""ERNIE-M in Paddle: embeddings, a post-norm Transformer encoder, a pooler and the task heads.

Parameter names and shapes are those of PaddleNLP's ``paddlenlp.transformers.ernie_m`` (which builds its encoder
from ``paddle.nn.TransformerEncoderLayer``), so state dicts move between the two without renaming:

    ernie_m.embeddings.{word_embeddings,position_embeddings,layer_norm}
    ernie_m.encoder.layers.N.self_attn.{q,k,v,out}_proj
    ernie_m.encoder.layers.N.{linear1,linear2,norm1,norm2}
    ernie_m.pooler.dense
    classifier | linear_start, linear_end            (heads)

Linear weights are ``[in, out]`` as everywhere in Paddle.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import Tensor

from converters.configuration import MASK_BIAS, POSITION_OFFSET, ErnieMConfig

from .inputs import POSITION_BOUND, check_sequence_length, range_error
from .outputs import (
    BaseModelOutput,
    ClassifierOutput,
    InformationExtractionOutput,
    QuestionAnsweringOutput,
)
from .pretrained import ErnieMPretrainedModel

__all__ = [
    "ErnieMModel",
    "ErnieMForSequenceClassification",
    "ErnieMForMultipleChoice",
    "ErnieMForTokenClassification",
    "ErnieMForQuestionAnswering",
    "ErnieMForInformationExtraction",
    "UIEM",
    "attention_bias",
]

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "tanh": paddle.tanh}


def attention_bias(
    config: ErnieMConfig,
    input_ids: Optional[Tensor],
    attention_mask: Optional[Tensor],
    dtype: str,
    past_length: int = 0,
) -> Optional[Tensor]:
    """The additive attention bias, broadcastable to ``[batch, heads, query, key]``.

    * ``attention_mask`` given with 2 dimensions ``[batch, key]``, or as a bool/integer tensor of 3 or 4
      dimensions: a keep-mask (1 = attend, 0 = masked), turned into ``0`` / ``MASK_BIAS``.
    * a floating-point tensor of 3 or 4 dimensions: already an additive bias, used as it is.
    * no mask: built from ``input_ids`` according to ``config.attention_mask_mode``: ``"padding"`` masks
      ``pad_token_id``; ``"paddlenlp"`` masks id 0 (``[CLS]``) and attends to padding, like PaddleNLP.
      Cached positions (``past_length`` of them, see ``past_key_values``) are attended to, as in PaddleNLP.
      A mask that is passed covers the cached positions and the new ones.
    """
    if attention_mask is None:
        if input_ids is None:
            return None
        masked_id = 0 if config.attention_mask_mode == "paddlenlp" else config.pad_token_id
        bias = (input_ids == masked_id).astype(dtype) * MASK_BIAS
        if past_length:
            bias = paddle.concat([paddle.zeros([bias.shape[0], past_length], dtype=dtype), bias], axis=-1)
        return bias.unsqueeze([1, 2])
    if attention_mask.ndim == 2:
        return ((1.0 - attention_mask.astype(dtype)) * MASK_BIAS).unsqueeze([1, 2])
    if attention_mask.ndim not in (3, 4):
        raise ValueError(f"attention_mask must have 2, 3 or 4 dimensions, got shape {attention_mask.shape}")
    if attention_mask.ndim == 3:
        attention_mask = attention_mask.unsqueeze(1)
    if attention_mask.dtype == paddle.bool or not attention_mask.is_floating_point():
        return (1.0 - attention_mask.astype(dtype)) * MASK_BIAS
    return attention_mask.astype(dtype)


def check_input_ranges(config: ErnieMConfig, input_ids: Optional[Tensor], position_ids: Optional[Tensor],
                       seq_len: int) -> None:
    """Refuse ids outside the embedding tables with a ``ValueError`` naming the first offending value and its
    index (Paddle would read past the table: NaN or arbitrary values). One min/max reduction per tensor.

    Dygraph only: while ``paddle.jit`` traces an export the values are unknown, and a data-dependent raise cannot
    be part of the program; the :class:`~paddle_ernie_m.engines.predictor.Predictor` checks the same on its inputs."""
    if not paddle.in_dynamic_mode():
        return
    checks = [("input_ids", input_ids, config.vocab_size, "vocab_size"),
              ("position_ids", position_ids, config.max_text_positions, POSITION_BOUND)]
    for name, tensor, upper, bound in checks:
        if tensor is None or tensor.size == 0:
            continue
        low, high = paddle.stack([tensor.min(), tensor.max()]).tolist()
        if low < 0 or high >= upper:
            raise range_error(name, tensor.numpy(), upper, bound)
    if position_ids is None:
        check_sequence_length(seq_len, config)


def check_cache(config: ErnieMConfig, past_key_values, attention_mask: Optional[Tensor], seq_len: int) -> int:
    """The number of cached positions; a ``ValueError`` naming the argument when the cache does not have one
    (keys, values) pair per layer or a ``[batch, key]`` mask does not cover the cached and the new positions."""
    if past_key_values is None:
        return 0
    if len(past_key_values) != config.num_hidden_layers or any(len(kv) != 2 for kv in past_key_values):
        raise ValueError(f"past_key_values must hold one (keys, values) pair per layer "
                         f"({config.num_hidden_layers}), got {len(past_key_values)} items")
    past_length = past_key_values[0][0].shape[2]
    if attention_mask is not None and attention_mask.ndim == 2 and attention_mask.shape[1] != past_length + seq_len:
        raise ValueError(f"attention_mask covers {attention_mask.shape[1]} positions; with {past_length} cached "
                         f"and {seq_len} new ones it must cover {past_length + seq_len}")
    return past_length


class ErnieMEmbeddings(nn.Layer):
    """Word plus position embeddings (no token types), then LayerNorm and dropout."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None, past_length: int = 0) -> Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:  # new tokens follow the cached ones
            seq_len = inputs_embeds.shape[1]
            position_ids = paddle.arange(past_length, past_length + seq_len, dtype="int64").unsqueeze(0)
        embeddings = inputs_embeds + self.position_embeddings(position_ids + POSITION_OFFSET)
        return self.dropout(self.layer_norm(embeddings))


#: One layer's cached attention keys and values, each ``[batch, heads, cached_seq, head_dim]``.
KeyValue = Tuple[Tensor, Tensor]


class ErnieMSelfAttention(nn.Layer):
    """Multi-head self-attention with separate q/k/v/out projections (Paddle ``MultiHeadAttention`` names).

    ``past`` (keys, values) of earlier positions are put before this input's, so its queries also attend to
    them; the concatenation is returned for the next call (PaddleNLP's ``MultiHeadAttention.Cache``)."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_size
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _split_heads(self, x: Tensor) -> Tensor:
        return x.reshape([0, 0, self.num_heads, self.head_dim]).transpose([0, 2, 1, 3])

    def forward(self, hidden_states: Tensor, bias: Optional[Tensor],
                past: Optional[KeyValue] = None) -> Tuple[Tensor, Tensor, KeyValue]:
        query = self._split_heads(self.q_proj(hidden_states))
        key = self._split_heads(self.k_proj(hidden_states))
        value = self._split_heads(self.v_proj(hidden_states))
        if past is not None:
            key, value = paddle.concat([past[0], key], axis=2), paddle.concat([past[1], value], axis=2)
        scores = paddle.matmul(query * self.head_dim**-0.5, key, transpose_y=True)
        if bias is not None:
            scores = scores + bias
        probs = F.softmax(scores, axis=-1)
        context = paddle.matmul(self.dropout(probs), value)
        context = context.transpose([0, 2, 1, 3]).reshape([0, 0, self.num_heads * self.head_dim])
        return self.out_proj(context), probs, (key, value)


class ErnieMEncoderLayer(nn.Layer):
    """Post-norm Transformer layer: ``x = norm1(x + attn(x)); x = norm2(x + ffn(x))``."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.self_attn = ErnieMSelfAttention(config)
        self.linear1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.linear2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.norm1 = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.norm2 = nn.LayerNorm(config.hidden_size, epsilon=config.layer_norm_eps)
        self.dropout1 = nn.Dropout(config.hidden_dropout_prob)
        self.dropout2 = nn.Dropout(config.hidden_dropout_prob)
        self.act_dropout = nn.Dropout(config.act_dropout)
        self.activation = _ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: Tensor, bias: Optional[Tensor],
                past: Optional[KeyValue] = None) -> Tuple[Tensor, Tensor, KeyValue]:
        attended, probs, key_value = self.self_attn(hidden_states, bias, past)
        hidden_states = self.norm1(hidden_states + self.dropout1(attended))
        ffn = self.linear2(self.act_dropout(self.activation(self.linear1(hidden_states))))
        return self.norm2(hidden_states + self.dropout2(ffn)), probs, key_value


class ErnieMEncoder(nn.Layer):
    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.layers = nn.LayerList([ErnieMEncoderLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, bias, past_key_values=None, use_cache=False, output_hidden_states=False,
                output_attentions=False):
        """Returns ``(last hidden states, caches, all hidden states, attentions)``; the last three are None
        unless asked for (``use_cache`` / ``output_hidden_states`` / ``output_attentions``)."""
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attn = [] if output_attentions else None
        caches = [] if use_cache else None
        for i, layer in enumerate(self.layers):
            hidden_states, probs, key_value = layer(hidden_states, bias,
                                                    None if past_key_values is None else past_key_values[i])
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_attn.append(probs)
            if use_cache:
                caches.append(key_value)
        return (
            hidden_states,
            tuple(caches) if use_cache else None,
            tuple(all_hidden) if output_hidden_states else None,
            tuple(all_attn) if output_attentions else None,
        )


class ErnieMPooler(nn.Layer):
    """``tanh(dense(h[:, 0]))``: the first token's final state."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: Tensor) -> Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class ErnieMModel(ErnieMPretrainedModel):
    """The bare encoder: returns the last hidden states and the pooled first token.

    Inputs (shared by every head):
        input_ids: ``[batch, seq]`` int64 token ids (or ``inputs_embeds``: ``[batch, seq, hidden]``).
        position_ids: ``[batch, seq]``; default ``0..seq-1``. The embedding table is indexed at
            ``position_ids + 2`` (the offset every ERNIE-M port keeps).
        attention_mask: see :func:`attention_bias`.
        output_hidden_states / output_attentions: also return the embedding output and every layer's
            states / attention probabilities.
        return_dict: False (the default, as in PaddleNLP) returns what PaddleNLP returns: the tuple of the
            tensors that are set, loss first, or the tensor itself when it is alone (a classifier's logits);
            True returns a named output (``.logits``, ``.loss``, ...).

    The bare model also takes PaddleNLP's cache arguments:
        past_key_values: per layer, the (keys, values) of earlier positions, ``[batch, heads, past, head_dim]``
            each; the input's positions continue after them, and its tokens attend to them (a mask that is
            passed covers ``past + seq`` positions).
        use_cache: also return ``past_key_values``: per layer, the cached and the new keys and values.
    """

    def __init__(self, config: Optional[ErnieMConfig] = None, **config_changes):
        super().__init__(config, **config_changes)
        config = self.config
        self.embeddings = ErnieMEmbeddings(config)
        self.encoder = ErnieMEncoder(config)
        self.pooler = ErnieMPooler(config)
        self.init_weights()

    def forward(
        self,
        input_ids: Optional[Tensor] = None,
        position_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        inputs_embeds: Optional[Tensor] = None,
        past_key_values: Optional[Tuple[KeyValue, ...]] = None,
        use_cache: Optional[bool] = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = False,
    ):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        seq_len = (input_ids if inputs_embeds is None else inputs_embeds).shape[1]
        past_length = check_cache(self.config, past_key_values, attention_mask, seq_len)
        check_input_ranges(self.config, input_ids, position_ids, past_length + seq_len)
        embeddings = self.embeddings(input_ids, position_ids, inputs_embeds, past_length)
        bias = attention_bias(self.config, input_ids, attention_mask, embeddings.dtype, past_length)
        sequence_output, caches, hidden_states, attentions = self.encoder(
            embeddings, bias, past_key_values, bool(use_cache), output_hidden_states, output_attentions
        )
        output = BaseModelOutput(sequence_output, self.pooler(sequence_output), caches, hidden_states, attentions)
        return output if return_dict else output.to_paddlenlp()


class _ErnieMWithHead(ErnieMPretrainedModel):
    """A head on top of ``self.ernie_m``; subclasses add their layers and initialise them.

    Built from a config (``Head(config)``, ``Head(**config_fields)``) or, in PaddleNLP's older style, around
    an existing bare model: ``Head(ErnieMModel(...), num_classes=3)``."""

    def __init__(self, config: Union[ErnieMConfig, ErnieMModel, None] = None, **config_changes):
        base = config if isinstance(config, ErnieMModel) else None
        super().__init__(config if base is None else base.config, **config_changes)
        self.ernie_m = base if base is not None else ErnieMModel(self.config)

    def _encode(self, input_ids, position_ids, attention_mask, inputs_embeds, output_hidden_states,
                output_attentions) -> BaseModelOutput:
        return self.ernie_m(input_ids, position_ids, attention_mask, inputs_embeds,
                            output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                            return_dict=True)

    def _classifier_dropout(self) -> nn.Dropout:
        p = self.config.classifier_dropout
        return nn.Dropout(self.config.hidden_dropout_prob if p is None else p)


class ErnieMForSequenceClassification(_ErnieMWithHead):
    """Pooled output -> dropout -> ``classifier`` (``num_labels``). ``labels``: ``[batch]`` int64 class ids
    (cross-entropy), floats with ``num_labels == 1`` (MSE), or ``[batch, num_labels]`` floats (multi-label
    BCE); ``config.problem_type`` overrides that choice, as in transformers."""

    def __init__(self, config: Union[ErnieMConfig, ErnieMModel, None] = None, **config_changes):
        super().__init__(config, **config_changes)
        self.dropout = self._classifier_dropout()
        self.classifier = nn.Linear(self.config.hidden_size, self.config.num_labels)
        self.init_weights(self.classifier)

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, labels=None, inputs_embeds=None,
                output_hidden_states=False, output_attentions=False, return_dict=False):
        encoded = self._encode(input_ids, position_ids, attention_mask, inputs_embeds,
                               output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(encoded.pooler_output))
        loss = None if labels is None else self._loss(logits, labels)
        output = ClassifierOutput(loss, logits, encoded.hidden_states, encoded.attentions)
        return output if return_dict else output.to_paddlenlp()

    def _loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        num_labels = self.config.num_labels
        problem = self.config.problem_type
        if problem is None:
            if num_labels == 1:
                problem = "regression"
            elif labels.dtype in (paddle.int64, paddle.int32):
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
        if problem == "regression":
            if num_labels == 1:
                return F.mse_loss(logits.squeeze(), labels.astype(logits.dtype).squeeze())
            return F.mse_loss(logits, labels.astype(logits.dtype))
        if problem == "single_label_classification":
            return F.cross_entropy(logits.reshape([-1, num_labels]), labels.reshape([-1]))
        return F.binary_cross_entropy_with_logits(logits, labels.astype(logits.dtype))


class ErnieMForTokenClassification(_ErnieMWithHead):
    """Per-token ``classifier`` (``num_labels``). ``labels``: ``[batch, seq]``; -100 is ignored."""

    def __init__(self, config: Union[ErnieMConfig, ErnieMModel, None] = None, **config_changes):
        super().__init__(config, **config_changes)
        self.dropout = self._classifier_dropout()
        self.classifier = nn.Linear(self.config.hidden_size, self.config.num_labels)
        self.init_weights(self.classifier)

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, labels=None, inputs_embeds=None,
                output_hidden_states=False, output_attentions=False, return_dict=False):
        encoded = self._encode(input_ids, position_ids, attention_mask, inputs_embeds,
                               output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(encoded.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape([-1, self.config.num_labels]), labels.reshape([-1]),
                                   ignore_index=-100)
        output = ClassifierOutput(loss, logits, encoded.hidden_states, encoded.attentions)
        return output if return_dict else output.to_paddlenlp()


class ErnieMForQuestionAnswering(_ErnieMWithHead):
    """Extractive QA: ``classifier`` maps each token to (start, end) logits (transformers calls it
    ``qa_outputs``). ``start_positions`` / ``end_positions``: ``[batch]``; positions outside the sequence are
    ignored by the loss."""

    def __init__(self, config: Union[ErnieMConfig, ErnieMModel, None] = None, **config_changes):
        super().__init__(config, **config_changes)
        self.classifier = nn.Linear(self.config.hidden_size, 2)
        self.init_weights(self.classifier)

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, start_positions=None,
                end_positions=None, inputs_embeds=None, output_hidden_states=False, output_attentions=False,
                return_dict=False):
        encoded = self._encode(input_ids, position_ids, attention_mask, inputs_embeds,
                               output_hidden_states, output_attentions)
        logits = self.classifier(encoded.last_hidden_state)
        start_logits, end_logits = logits[:, :, 0], logits[:, :, 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            seq_len = start_logits.shape[1]
            start = start_positions.reshape([-1]).clip(0, seq_len)
            end = end_positions.reshape([-1]).clip(0, seq_len)
            loss = (F.cross_entropy(start_logits, start, ignore_index=seq_len)
                    + F.cross_entropy(end_logits, end, ignore_index=seq_len)) / 2
        output = QuestionAnsweringOutput(loss, start_logits, end_logits, encoded.hidden_states, encoded.attentions)
        return output if return_dict else output.to_paddlenlp()


class ErnieMForMultipleChoice(_ErnieMWithHead):
    """Inputs shaped ``[batch, num_choices, seq]``; pooled output -> ``classifier`` (1) -> logits
    ``[batch, num_choices]``. The number of choices comes from the input shape (PaddleNLP needs it in the
    config). ``labels``: ``[batch]`` index of the right choice."""

    def __init__(self, config: Union[ErnieMConfig, ErnieMModel, None] = None, **config_changes):
        super().__init__(config, **config_changes)
        self.dropout = self._classifier_dropout()
        self.classifier = nn.Linear(self.config.hidden_size, 1)
        self.init_weights(self.classifier)

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, labels=None, inputs_embeds=None,
                output_hidden_states=False, output_attentions=False, return_dict=False):
        reference = input_ids if input_ids is not None else inputs_embeds
        if reference is None or reference.ndim < 3:
            raise ValueError("multiple choice inputs must be shaped [batch, num_choices, seq]")
        num_choices = reference.shape[1]
        check_input_ranges(self.config, input_ids, position_ids, reference.shape[2])  # indices before flattening

        def flat(x):
            return None if x is None else x.reshape([-1] + list(x.shape[2:]))

        encoded = self._encode(flat(input_ids), flat(position_ids), flat(attention_mask), flat(inputs_embeds),
                               output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(encoded.pooler_output)).reshape([-1, num_choices])
        loss = None if labels is None else F.cross_entropy(logits, labels.reshape([-1]))
        output = ClassifierOutput(loss, logits, encoded.hidden_states, encoded.attentions)
        return output if return_dict else output.to_paddlenlp()


class ErnieMForInformationExtraction(_ErnieMWithHead):
    """UIE-M: ``linear_start`` / ``linear_end`` score every token as a span start / end.

    Returns sigmoid probabilities (as PaddleNLP's ``UIEM``), and the logits as attributes.
    ``start_positions`` / ``end_positions``: ``[batch, seq]`` 0/1 targets; the loss is the mean of the two
    binary cross-entropies (computed from the logits, for stability).
    """

    def __init__(self, config: Union[ErnieMConfig, ErnieMModel, None] = None, **config_changes):
        super().__init__(config, **config_changes)
        self.linear_start = nn.Linear(self.config.hidden_size, 1)
        self.linear_end = nn.Linear(self.config.hidden_size, 1)
        self.init_weights(self.linear_start, self.linear_end)

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, start_positions=None,
                end_positions=None, inputs_embeds=None, output_hidden_states=False, output_attentions=False,
                return_dict=False):
        encoded = self._encode(input_ids, position_ids, attention_mask, inputs_embeds,
                               output_hidden_states, output_attentions)
        start_logits = self.linear_start(encoded.last_hidden_state).squeeze(-1)
        end_logits = self.linear_end(encoded.last_hidden_state).squeeze(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = (F.binary_cross_entropy_with_logits(start_logits, start_positions.astype(start_logits.dtype))
                    + F.binary_cross_entropy_with_logits(end_logits, end_positions.astype(end_logits.dtype))) / 2
        output = InformationExtractionOutput(
            loss, F.sigmoid(start_logits), F.sigmoid(end_logits), encoded.hidden_states, encoded.attentions,
            start_logits, end_logits,
        )
        return output if return_dict else output.to_paddlenlp()


#: PaddleNLP's name for the UIE-M model.
UIEM = ErnieMForInformationExtraction
