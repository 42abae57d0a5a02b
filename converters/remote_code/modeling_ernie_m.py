"""ERNIE-M in PyTorch for transformers 4.32-4.57 and 5.x: embeddings, a post-norm encoder, a pooler, the heads.

Bundled with converted checkpoints and loaded by ``AutoModel*.from_pretrained(directory, trust_remote_code=True)``.
Parameter names are those of transformers 4.57's ErnieM, so the same weights load with either:

    ernie_m.embeddings.{word_embeddings,position_embeddings,layer_norm}
    ernie_m.encoder.layers.N.self_attn.self_attn.{q,k,v}_proj     (transformers' nesting, kept for the names)
    ernie_m.encoder.layers.N.self_attn.out_proj
    ernie_m.encoder.layers.N.{linear1,linear2,norm1,norm2}
    ernie_m.pooler.dense                                          (absent in token classification and QA)
    classifier | qa_outputs | linear_start, linear_end           (heads)

Unlike transformers' ErnieM, the mask built when a call passes none follows ``config.attention_mask_mode``
(:func:`attention_bias`), so a PaddleNLP checkpoint run on its tokenizer's ``input_ids`` alone gives PaddleNLP's
outputs. Otherwise it keeps transformers 4's ErnieM API (``prune_heads``, ``head_mask``, tuples) on transformers 5
too, and transformers 5's conventions (the encoder layers subclass ``GradientCheckpointingLayer``) wherever they
exist.
"""
from functools import partial
from typing import Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import (
    BaseModelOutputWithPooling,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from .configuration_ernie_m import MASK_BIAS, PADDLENLP_MASKED_ID, POSITION_OFFSET, ErnieMConfig

try:  # transformers >= 4.52: the layer checkpoints itself once the model's gradient_checkpointing_enable() ran
    from transformers.modeling_layers import GradientCheckpointingLayer
except ImportError:  # transformers 4.32-4.51: the same contract, written out
    class GradientCheckpointingLayer(nn.Module):
        """A layer that, with ``gradient_checkpointing`` set and in training, runs under
        ``_gradient_checkpointing_func`` (set by transformers >= 4.35; reentrant ``torch.utils.checkpoint`` before,
        its default then). Tensors that need gradients go in as positional arguments."""

        gradient_checkpointing = False

        def __call__(self, *args, **kwargs):
            if self.gradient_checkpointing and self.training:
                checkpoint = getattr(self, "_gradient_checkpointing_func", None) or partial(
                    torch.utils.checkpoint.checkpoint, use_reentrant=True)
                return checkpoint(partial(super().__call__, **kwargs), *args)
            return super().__call__(*args, **kwargs)


def attention_bias(
    config: ErnieMConfig,
    input_ids: Optional[torch.Tensor],
    attention_mask: Optional[torch.Tensor],
    dtype: torch.dtype,
) -> Optional[torch.Tensor]:
    """The additive attention bias, broadcastable to ``[batch, heads, query, key]``, in ``dtype``.

    * no ``attention_mask``: built from ``input_ids`` as ``config.attention_mask_mode`` says. ``"paddlenlp"``:
      ``(input_ids == 0) * -1e4``, PaddleNLP's default (``[CLS]`` hidden, padding attended); ``"padding"``:
      ``(input_ids == pad_token_id) * finfo(dtype).min``, transformers' default.
    * a 2-D keep-mask ``[batch, key]`` (1 attend, 0 hide), or a bool/integer one of 3 or 4 dimensions:
      ``(1 - mask) * bias``, with ``bias`` -1e4 (``"paddlenlp"``, as PaddleNLP) or ``finfo(dtype).min``
      (``"padding"``, as transformers).
    * a floating-point mask of 3 or 4 dimensions: already an additive bias, used as it is.
    """
    paddlenlp = config.attention_mask_mode == "paddlenlp"
    masked_value = MASK_BIAS if paddlenlp else torch.finfo(dtype).min
    if attention_mask is None:
        if input_ids is None:
            return None
        masked_id = PADDLENLP_MASKED_ID if paddlenlp else config.pad_token_id
        return ((input_ids == masked_id).to(dtype) * masked_value)[:, None, None, :]
    if attention_mask.dim() == 2:
        return ((1.0 - attention_mask.to(dtype)) * masked_value)[:, None, None, :]
    if attention_mask.dim() not in (3, 4):
        raise ValueError(f"attention_mask must have 2, 3 or 4 dimensions, got shape {tuple(attention_mask.shape)}")
    if attention_mask.dim() == 3:
        attention_mask = attention_mask[:, None]
    if not attention_mask.is_floating_point():
        return (1.0 - attention_mask.to(dtype)) * masked_value
    return attention_mask.to(dtype)


class ErnieMEmbeddings(nn.Module):
    """Word plus position embeddings (no token types), then LayerNorm and dropout. No ``padding_idx``: ``[PAD]``'s
    embedding trains like any other, as in PaddleNLP (transformers 4.57 freezes it)."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)[None, :]
        embeddings = inputs_embeds + self.position_embeddings(position_ids + POSITION_OFFSET)
        return self.dropout(self.layer_norm(embeddings))


def head_mask_per_layer(head_mask: Optional[torch.Tensor], num_layers: int, dtype: torch.dtype) -> list:
    """Each layer's multiplier of the attention probabilities, ``[1, heads, 1, 1]`` (``None`` each without a mask):
    ``head_mask`` is ``[heads]`` (every layer) or ``[layers, heads]``, 1 keeps a head and 0 drops it, as in
    transformers 4's ``get_head_mask``."""
    if head_mask is None:
        return [None] * num_layers
    if head_mask.dim() == 1:
        head_mask = head_mask[None].expand(num_layers, -1)
    if head_mask.dim() != 2 or head_mask.shape[0] != num_layers:
        raise ValueError(f"head_mask must have shape [heads] or [{num_layers}, heads], got {tuple(head_mask.shape)}")
    return list(head_mask.to(dtype)[:, None, :, None, None])


class ErnieMSelfAttention(nn.Module):
    """Attention over ``q_proj``/``k_proj``/``v_proj``: ``[batch, seq, hidden]`` in, the heads' concatenated
    contexts out (the output projection is the parent's, where transformers' names put it). It runs
    ``F.scaled_dot_product_attention`` unless ``config._attn_implementation`` is ``"eager"`` or the call needs the
    probabilities (``output_attentions``, a head mask), which the explicit softmax computes."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        if config.hidden_size % config.num_attention_heads:  # checked here, as transformers 4.57's ErnieM does
            raise ValueError(f"config key 'hidden_size' ({config.hidden_size}) is not a multiple of "
                             f"'num_attention_heads' ({config.num_attention_heads})")
        self.config = config
        self.num_heads = config.num_attention_heads  # fewer once heads are pruned
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, bias: Optional[torch.Tensor],
                head_mask: Optional[torch.Tensor] = None, output_attentions: bool = False
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        query = self._split_heads(self.q_proj(hidden_states))
        key = self._split_heads(self.k_proj(hidden_states))
        value = self._split_heads(self.v_proj(hidden_states))
        probs = None
        eager = getattr(self.config, "_attn_implementation", None) == "eager"  # transformers < 4.36: unset
        if eager or output_attentions or head_mask is not None:
            scores = torch.matmul(query * self.head_dim**-0.5, key.transpose(-1, -2))
            probs = self.dropout(torch.softmax(scores if bias is None else scores + bias, dim=-1))
            if head_mask is not None:
                probs = probs * head_mask
            context = torch.matmul(probs, value)
        else:
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=bias,
                                                     dropout_p=self.dropout.p if self.training else 0.0)
        batch, _, seq, _ = context.shape
        return context.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim), \
            probs if output_attentions else None


def _linear_keeping(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new ``nn.Linear`` holding only the ``index`` output features (``dim=0``) or input features (``dim=1``)
    of ``linear``: same device, dtype and ``requires_grad``."""
    weight = linear.weight.detach().index_select(dim, index)
    bias = None if linear.bias is None else linear.bias.detach()
    if bias is not None and dim == 0:
        bias = bias[index]
    kept = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device=weight.device,
                     dtype=weight.dtype)
    with torch.no_grad():
        kept.weight.copy_(weight)
        if bias is not None:
            kept.bias.copy_(bias)
    kept.weight.requires_grad_(linear.weight.requires_grad)
    if bias is not None:
        kept.bias.requires_grad_(linear.bias.requires_grad)
    return kept


class ErnieMAttention(nn.Module):
    """Self-attention followed by the output projection. ``prune_heads`` removes heads for good."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.self_attn = ErnieMSelfAttention(config)
        self.out_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.pruned_heads = set()  # numbered as in the unpruned layer

    def prune_heads(self, heads: Iterable[int]) -> None:
        """Remove ``heads`` (numbered as in the unpruned layer; heads already removed are skipped): their rows of
        ``q_proj``/``k_proj``/``v_proj`` and their columns of ``out_proj``, as transformers 4's ``prune_heads``."""
        total = self.self_attn.config.num_attention_heads
        heads = set(heads)
        if any(not 0 <= head < total for head in heads):
            raise ValueError(f"cannot prune heads {sorted(heads)}: the layer has heads 0 .. {total - 1}")
        heads -= self.pruned_heads
        if not heads:
            return
        present = [head for head in range(total) if head not in self.pruned_heads]  # in their current order
        size = self.self_attn.head_dim
        index = torch.tensor([position * size + i for position, head in enumerate(present) if head not in heads
                              for i in range(size)], dtype=torch.long, device=self.out_proj.weight.device)
        attention = self.self_attn
        attention.q_proj = _linear_keeping(attention.q_proj, index, dim=0)
        attention.k_proj = _linear_keeping(attention.k_proj, index, dim=0)
        attention.v_proj = _linear_keeping(attention.v_proj, index, dim=0)
        self.out_proj = _linear_keeping(self.out_proj, index, dim=1)
        attention.num_heads -= len(heads)
        self.pruned_heads |= heads

    def forward(self, hidden_states, bias, head_mask=None, output_attentions=False):
        context, probs = self.self_attn(hidden_states, bias, head_mask, output_attentions)
        return self.out_proj(context), probs


class ErnieMEncoderLayer(GradientCheckpointingLayer):
    """Post-norm Transformer layer: ``x = norm1(x + attn(x)); x = norm2(x + linear2(act(linear1(x))))``. With
    gradient checkpointing on (``model.gradient_checkpointing_enable()``), a training forward keeps only the layer's
    input and recomputes the layer in the backward pass (``GradientCheckpointingLayer``)."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.self_attn = ErnieMAttention(config)
        self.linear1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.linear2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout1 = nn.Dropout(config.hidden_dropout_prob)
        self.dropout2 = nn.Dropout(config.hidden_dropout_prob)
        self.act_dropout = nn.Dropout(config.act_dropout)
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, hidden_states, bias, head_mask=None, output_attentions=False):
        attended, probs = self.self_attn(hidden_states, bias, head_mask, output_attentions)
        hidden_states = self.norm1(hidden_states + self.dropout1(attended))
        ffn = self.linear2(self.act_dropout(self.activation(self.linear1(hidden_states))))
        return self.norm2(hidden_states + self.dropout2(ffn)), probs


class ErnieMEncoder(nn.Module):
    """The layers."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.layers = nn.ModuleList([ErnieMEncoderLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, bias, head_mask=None, output_attentions=False, output_hidden_states=False):
        """The last hidden state, and the tuples of every layer's input and output / attention probabilities
        (``None`` unless asked for)."""
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_probs = () if output_attentions else None
        head_masks = head_mask_per_layer(head_mask, len(self.layers), hidden_states.dtype)
        for layer, layer_head_mask in zip(self.layers, head_masks):
            # positional: reentrant checkpointing passes gradients only through positional tensors
            hidden_states, probs = layer(hidden_states, bias, layer_head_mask, output_attentions)
            if output_hidden_states:
                all_hidden += (hidden_states,)
            if output_attentions:
                all_probs += (probs,)
        return hidden_states, all_hidden, all_probs


class ErnieMPooler(nn.Module):
    """``tanh(dense(hidden state of the first token))``."""

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))


class ErnieMPreTrainedModel(PreTrainedModel):
    """Base class: the config class, the weight prefix of the heads and the initialisation of new weights."""

    config_class = ErnieMConfig
    base_model_prefix = "ernie_m"
    supports_gradient_checkpointing = True
    _supports_sdpa = True  # the default; attn_implementation="eager" runs the explicit softmax

    def _init_weights(self, module: nn.Module) -> None:
        """Linear and embedding weights ~ N(0, initializer_range), biases 0, LayerNorm 1/0 (as PaddleNLP)."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    if not hasattr(PreTrainedModel, "_set_gradient_checkpointing"):  # transformers < 4.35: the model's own switch
        def _set_gradient_checkpointing(self, module: nn.Module, value: bool = False) -> None:
            if isinstance(module, ErnieMEncoderLayer):
                module.gradient_checkpointing = value

    def prune_heads(self, heads_to_prune: Dict[int, List[int]]) -> None:
        """Remove attention heads, ``{layer: [head, ...]}``, and record them in ``config.pruned_heads`` (which
        ``save_pretrained`` writes and ``from_pretrained`` rebuilds), as transformers 4's ``prune_heads``;
        transformers 5 has none of its own."""
        for layer, heads in heads_to_prune.items():
            self.config.pruned_heads[layer] = sorted(set(self.config.pruned_heads.get(layer, ())) | set(heads))
        self.base_model._prune_heads(heads_to_prune)

    def _flags(self, output_attentions, output_hidden_states, return_dict) -> Tuple[bool, bool, bool]:
        """The call's flags, else the config's; tuples by default under ``config.torchscript`` (transformers 4's
        ``use_return_dict``; transformers 5 has no ``torchscript``)."""
        config = self.config
        if return_dict is None:
            return_dict = config.return_dict and not getattr(config, "torchscript", False)
        return (config.output_attentions if output_attentions is None else output_attentions,
                config.output_hidden_states if output_hidden_states is None else output_hidden_states,
                return_dict)


_INPUTS_DOC = """
        input_ids: ``[batch, seq]`` token ids (``[batch, choices, seq]`` for multiple choice).
        attention_mask: keep-mask of the same shape (1 attend, 0 hide), or a 3/4-D mask; when left out, the model
            builds one as ``config.attention_mask_mode`` says (see ``attention_bias``).
        position_ids: positions counted from 0 (the model adds ``POSITION_OFFSET``); default ``0 .. seq - 1``.
        head_mask: ``[heads]`` or ``[layers, heads]`` multipliers of the attention probabilities (0 drops a head).
        inputs_embeds: ``[batch, seq, hidden]`` word embeddings instead of ``input_ids``.
        output_attentions, output_hidden_states: also return every layer's attention probabilities / hidden states.
        return_dict: return a ``ModelOutput`` (default, unless ``config.torchscript``) rather than a tuple (the
            ``None`` entries left out, as transformers 4.57's ErnieM does).
        The arguments come in the order of transformers 4.57's ErnieM (``past_key_values`` where it takes them:
        this encoder keeps no cache and refuses one; ``use_cache`` is ignored)."""


def _no_cache(past_key_values) -> None:
    if past_key_values is not None:
        raise NotImplementedError("ErnieM is an encoder without a key/value cache: past_key_values must be None")


class ErnieMModel(ErnieMPreTrainedModel):
    """The bare encoder: the last hidden state and the pooled first token."""

    def __init__(self, config: ErnieMConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = ErnieMEmbeddings(config)
        self.encoder = ErnieMEncoder(config)
        self.pooler = ErnieMPooler(config) if add_pooling_layer else None
        self._prune_heads(config.pruned_heads)  # a pruned checkpoint loads into its own shapes
        self.post_init()

    def _prune_heads(self, heads_to_prune: Dict[int, List[int]]) -> None:
        """Remove ``{layer: [head, ...]}`` from the encoder (``prune_heads`` also records them in the config)."""
        for layer, heads in heads_to_prune.items():
            self.encoder.layers[layer].self_attn.prune_heads(heads)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(self, input_ids=None, position_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                past_key_values=None, use_cache=None, output_hidden_states=None, output_attentions=None,
                return_dict=None):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        _no_cache(past_key_values)
        output_attentions, output_hidden_states, return_dict = self._flags(
            output_attentions, output_hidden_states, return_dict)
        embeddings = self.embeddings(input_ids, position_ids, inputs_embeds)
        bias = attention_bias(self.config, input_ids, attention_mask, embeddings.dtype)
        last, hidden_states, attentions = self.encoder(embeddings, bias, head_mask, output_attentions,
                                                       output_hidden_states)
        pooled = self.pooler(last) if self.pooler is not None else None
        if not return_dict:  # the pooler's slot stays, None without a pooler, as in transformers 4.57
            return (last, pooled) + tuple(v for v in (hidden_states, attentions) if v is not None)
        return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled, hidden_states=hidden_states,
                                          attentions=attentions)

    forward.__doc__ = "Args:" + _INPUTS_DOC


def _dropout(config: ErnieMConfig) -> nn.Dropout:
    return nn.Dropout(config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout)


class ErnieMForSequenceClassification(ErnieMPreTrainedModel):
    """A linear classifier over the pooled first token. The loss follows ``config.problem_type`` (inferred from
    ``num_labels`` and the labels' dtype when unset): MSE, cross-entropy or BCE with logits."""

    def __init__(self, config: ErnieMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.ernie_m = ErnieMModel(config)
        self.dropout = _dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                past_key_values=None, use_cache=None, output_hidden_states=None, output_attentions=None,
                return_dict=None, labels=None):
        _no_cache(past_key_values)
        output_attentions, output_hidden_states, return_dict = self._flags(
            output_attentions, output_hidden_states, return_dict)
        base = self.ernie_m(input_ids, position_ids=position_ids, attention_mask=attention_mask, head_mask=head_mask,
                            inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, return_dict=True)
        logits = self.classifier(self.dropout(base.pooler_output))
        loss = None if labels is None else self._loss(logits, labels)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                          attentions=base.attentions)
        return output if return_dict else output.to_tuple()

    forward.__doc__ = "Args:" + _INPUTS_DOC + """
        labels: ``[batch]`` class ids, or floats for regression / ``[batch, num_labels]`` multi-label targets."""

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        problem = self.config.problem_type
        if problem is None:  # inferred once and kept, as transformers does: save_pretrained records it and the
            if self.num_labels == 1:  # text-classification pipeline then scores with sigmoid or softmax
                problem = "regression"
            elif labels.dtype in (torch.long, torch.int):
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
            self.config.problem_type = problem
        if problem == "regression":
            return MSELoss()(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype)) if self.num_labels == 1 \
                else MSELoss()(logits, labels.to(logits.dtype))
        if problem == "single_label_classification":
            return CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return BCEWithLogitsLoss()(logits, labels.to(logits.dtype))


class ErnieMForMultipleChoice(ErnieMPreTrainedModel):
    """One score per choice from the pooled first token; the number of choices is read from the input shape."""

    def __init__(self, config: ErnieMConfig):
        super().__init__(config)
        self.ernie_m = ErnieMModel(config)
        self.dropout = _dropout(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        output_attentions, output_hidden_states, return_dict = self._flags(
            output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]

        def flat(x):
            return None if x is None else x.reshape(-1, *x.shape[2:])

        base = self.ernie_m(flat(input_ids), position_ids=flat(position_ids), attention_mask=flat(attention_mask),
                            head_mask=head_mask, inputs_embeds=flat(inputs_embeds),
                            output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                            return_dict=True)
        logits = self.classifier(self.dropout(base.pooler_output)).view(-1, num_choices)
        loss = None if labels is None else CrossEntropyLoss()(logits, labels)
        output = MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                           attentions=base.attentions)
        return output if return_dict else output.to_tuple()

    forward.__doc__ = "Args:" + _INPUTS_DOC + """
        labels: ``[batch]`` index of the right choice."""


class ErnieMForTokenClassification(ErnieMPreTrainedModel):
    """A linear classifier over every token (no pooler, as in transformers)."""

    def __init__(self, config: ErnieMConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.ernie_m = ErnieMModel(config, add_pooling_layer=False)
        self.dropout = _dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                past_key_values=None, output_hidden_states=None, output_attentions=None, return_dict=None,
                labels=None):
        _no_cache(past_key_values)
        output_attentions, output_hidden_states, return_dict = self._flags(
            output_attentions, output_hidden_states, return_dict)
        base = self.ernie_m(input_ids, position_ids=position_ids, attention_mask=attention_mask, head_mask=head_mask,
                            inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, return_dict=True)
        logits = self.classifier(self.dropout(base.last_hidden_state))
        loss = None if labels is None else CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        output = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=base.hidden_states,
                                       attentions=base.attentions)
        return output if return_dict else output.to_tuple()

    forward.__doc__ = "Args:" + _INPUTS_DOC + """
        labels: ``[batch, seq]`` class ids, -100 where no loss is wanted."""


class ErnieMForQuestionAnswering(ErnieMPreTrainedModel):
    """Extractive QA: start and end logits per token from ``qa_outputs`` (no pooler, as in transformers)."""

    def __init__(self, config: ErnieMConfig):
        super().__init__(config)
        self.ernie_m = ErnieMModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        output_attentions, output_hidden_states, return_dict = self._flags(
            output_attentions, output_hidden_states, return_dict)
        base = self.ernie_m(input_ids, position_ids=position_ids, attention_mask=attention_mask, head_mask=head_mask,
                            inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, return_dict=True)
        start_logits, end_logits = self.qa_outputs(base.last_hidden_state).unbind(dim=-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            ignored = start_logits.shape[1]  # positions outside the sequence are clamped to it and ignored
            loss_fn = CrossEntropyLoss(ignore_index=ignored)
            loss = (loss_fn(start_logits, start_positions.view(-1).clamp(0, ignored))
                    + loss_fn(end_logits, end_positions.view(-1).clamp(0, ignored))) / 2
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits.contiguous(),
                                              end_logits=end_logits.contiguous(), hidden_states=base.hidden_states,
                                              attentions=base.attentions)
        return output if return_dict else output.to_tuple()

    forward.__doc__ = "Args:" + _INPUTS_DOC + """
        start_positions, end_positions: ``[batch]`` token index of the answer's first and last token."""


class ErnieMForInformationExtraction(ErnieMPreTrainedModel):
    """UIE-M: per-token start and end logits from ``linear_start`` / ``linear_end``. PaddleNLP's ``UIEM`` returns
    their sigmoid (probabilities); this class returns the logits, as transformers' does."""

    def __init__(self, config: ErnieMConfig):
        super().__init__(config)
        self.ernie_m = ErnieMModel(config)
        self.linear_start = nn.Linear(config.hidden_size, 1)
        self.linear_end = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        output_attentions, output_hidden_states, return_dict = self._flags(
            output_attentions, output_hidden_states, return_dict)
        base = self.ernie_m(input_ids, position_ids=position_ids, attention_mask=attention_mask, head_mask=head_mask,
                            inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, return_dict=True)
        start_logits = self.linear_start(base.last_hidden_state).squeeze(-1)
        end_logits = self.linear_end(base.last_hidden_state).squeeze(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss_fn = BCEWithLogitsLoss()
            loss = (loss_fn(start_logits, start_positions.to(start_logits.dtype))
                    + loss_fn(end_logits, end_positions.to(end_logits.dtype))) / 2
        output = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=base.hidden_states, attentions=base.attentions)
        return output if return_dict else output.to_tuple()

    forward.__doc__ = "Args:" + _INPUTS_DOC + """
        start_positions, end_positions: ``[batch, seq]`` 0/1 targets: which tokens start / end a span."""


# save_pretrained copies this code next to the weights and names the class in config.json's auto_map, however the
# model was built. Information extraction has no Auto class: its entry is named after the class.
ErnieMModel.register_for_auto_class("AutoModel")
ErnieMForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
ErnieMForMultipleChoice.register_for_auto_class("AutoModelForMultipleChoice")
ErnieMForTokenClassification.register_for_auto_class("AutoModelForTokenClassification")
ErnieMForQuestionAnswering.register_for_auto_class("AutoModelForQuestionAnswering")
ErnieMForInformationExtraction._auto_class = "ErnieMForInformationExtraction"
