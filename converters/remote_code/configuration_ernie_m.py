"""ERNIE-M configuration for transformers 4.32-4.57 and 5.x (bundled with converted checkpoints).

Loaded by ``AutoConfig.from_pretrained(directory, trust_remote_code=True)``. The keys are those of transformers
4.57's ``ErnieMConfig`` plus ``attention_mask_mode``, the mask the model builds when a call passes none. As there,
construction checks no shapes (``hidden_size`` need not divide by the heads until a model is built from it).
"""
from transformers import PretrainedConfig

#: Position ids are looked up at ``position + POSITION_OFFSET`` (the offset every ERNIE-M port keeps).
POSITION_OFFSET = 2

#: The additive attention bias PaddleNLP gives a masked position (finite, so a fully masked row stays finite).
MASK_BIAS = -1e4

#: ``attention_mask_mode`` values. ``"padding"``: transformers' ErnieM, masks ``pad_token_id`` when no mask is
#: passed. ``"paddlenlp"``: PaddleNLP's ErnieM, masks id 0 (``[CLS]``) and attends to padding when no mask is passed,
#: the mask PaddleNLP checkpoints (UIE-M, fine-tunes run on PaddleNLP's tokenizer output) were trained under.
ATTENTION_MASK_MODES = ("padding", "paddlenlp")

#: The id PaddleNLP's default mask hides: ``[CLS]`` in the released vocabulary.
PADDLENLP_MASKED_ID = 0


class ErnieMConfig(PretrainedConfig):
    r"""Hyper-parameters of an ERNIE-M model; the defaults are those of ernie-m-base.

    Args:
        vocab_size: size of the token vocabulary (250002 for the released models).
        hidden_size: width of the embeddings, the encoder layers and the pooler.
        num_hidden_layers: number of encoder layers.
        num_attention_heads: attention heads per layer (must divide ``hidden_size`` to build a model).
        intermediate_size: width of the feed-forward layer; ``None`` means ``4 * hidden_size``, what PaddleNLP
            always builds.
        hidden_act: activation of the feed-forward layer (``"gelu"`` is the exact, erf-based GELU).
        hidden_dropout_prob: dropout after the embeddings, the attention and the feed-forward layer.
        attention_probs_dropout_prob: dropout on the attention probabilities.
        act_dropout: dropout after the feed-forward activation.
        max_position_embeddings: size of the position table (positions are offset by ``POSITION_OFFSET``).
        initializer_range: standard deviation of the normal initialisation of new weights.
        pad_token_id: id of ``[PAD]``.
        layer_norm_eps: epsilon of every LayerNorm.
        classifier_dropout: dropout before the classification heads; ``None`` means ``hidden_dropout_prob``.
        attention_mask_mode: ``"padding"`` or ``"paddlenlp"``, see :data:`ATTENTION_MASK_MODES`.
        pruned_heads: ``{layer: [head, ...]}``, the attention heads removed from each layer (``prune_heads``); the
            model is built without them, so a transformers 4 checkpoint saved after pruning loads with its shapes.
            transformers 4 kept this key on every config; transformers 5 has none, so it is declared here.
    """

    model_type = "ernie_m"
    attribute_map = {"dropout": "classifier_dropout", "num_classes": "num_labels"}  # PaddleNLP's names

    def __init__(
        self,
        vocab_size=250002,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=None,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        act_dropout=0.0,
        max_position_embeddings=514,
        initializer_range=0.02,
        pad_token_id=1,
        layer_norm_eps=1e-5,
        classifier_dropout=None,
        attention_mask_mode="padding",
        pruned_heads=None,
        **kwargs,
    ):
        if attention_mask_mode not in ATTENTION_MASK_MODES:
            raise ValueError(f"config key 'attention_mask_mode' is {attention_mask_mode!r}; "
                             f"known: {', '.join(ATTENTION_MASK_MODES)}")
        kwargs.setdefault("is_decoder", False)  # an encoder; transformers 5 no longer defines these itself
        kwargs.setdefault("add_cross_attention", False)
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = 4 * hidden_size if intermediate_size is None else intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.act_dropout = act_dropout
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.classifier_dropout = classifier_dropout
        self.attention_mask_mode = attention_mask_mode
        # JSON turns the layer numbers into strings: back to ints, as transformers 4's from_dict does
        self.pruned_heads = {int(layer) if isinstance(layer, str) and layer.isdigit() else layer: heads
                             for layer, heads in (pruned_heads or {}).items()}


ErnieMConfig.register_for_auto_class()  # save_pretrained copies this file and names it in config.json's auto_map
