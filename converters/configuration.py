"""ERNIE-M configuration: one frozen, typed object that reads and writes all three config dialects.

Dialects read by :meth:`ErnieMConfig.from_dict`:

* PaddleNLP ``config.json`` (``num_classes`` alias of ``num_labels``, ``dropout`` alias of ``classifier_dropout``,
  ``architectures`` such as ``UIEM``);
* legacy PaddleNLP ``model_config.json`` (``init_args`` / ``init_class``, possibly nested);
* Hugging Face transformers ``config.json`` (``architectures`` such as ``ErnieMForInformationExtraction``).

Imports neither Paddle nor torch: the model (paddle_ernie_m) and the converters share it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Dict, Iterator, Mapping, Optional, Tuple, Union

from .files import write_atomic
from .mapping import HEAD_ALIASES, HEADS, PADDLENLP_HEAD_NAMES

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
LEGACY_CONFIG_NAME = "model_config.json"

#: Position ids are looked up at ``position + POSITION_OFFSET`` (RoBERTa-style offset kept by every port).
POSITION_OFFSET = 2

#: Additive attention bias for masked positions, as in PaddleNLP (finite, so fully masked rows stay finite).
MASK_BIAS = -1e4

#: ``attention_mask_mode`` values. ``"padding"`` masks ``pad_token_id`` when no mask is passed (transformers);
#: ``"paddlenlp"`` reproduces PaddleNLP's default, which masks id 0 (``[CLS]``) and attends to padding. UIE-M
#: checkpoints were trained under the latter.
ATTENTION_MASK_MODES = ("padding", "paddlenlp")

ACTIVATIONS = ("gelu", "relu", "silu", "tanh")

_BASE_SIZES = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}
_LARGE_SIZES = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16}
_PUBLISHED_COMMON = {"vocab_size": 250002, "max_position_embeddings": 514, "pad_token_id": 1, "hidden_act": "gelu",
                     "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}
#: The published models and their config fields (PaddleNLP's ``ERNIE_M_PRETRAINED_INIT_CONFIGURATION``).
PRETRAINED_INIT_CONFIGURATION = {
    "ernie-m-base": {**_PUBLISHED_COMMON, **_BASE_SIZES},
    "ernie-m-large": {**_PUBLISHED_COMMON, **_LARGE_SIZES},
    "uie-m-base": {**_PUBLISHED_COMMON, **_BASE_SIZES},
    "uie-m-large": {**_PUBLISHED_COMMON, **_LARGE_SIZES},
}

# Keys of either ecosystem that carry no meaning for the model (metadata, generation defaults, ...).
_IGNORED_KEYS = frozenset(
    {
        "model_type", "transformers_version", "paddlenlp_version", "torch_dtype", "dtype", "type_vocab_size",
        "return_dict", "output_hidden_states", "output_attentions", "use_return_dict", "use_cache",
        "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id", "unk_token_id", "mask_token_id",
        "tie_word_embeddings", "is_encoder_decoder", "is_decoder", "add_cross_attention", "torchscript",
        "chunk_size_feed_forward", "tokenizer_class", "prefix", "task_specific_params", "_name_or_path",
        "_attn_implementation_autoset", "init_args", "init_class", "tensor_parallel_degree",
        "tensor_parallel_rank", "position_embedding_type", "use_flash_attention", "quantization_config",
        "fp16_opt_level", "pruned_heads", "finetuning_task", "tensor_parallel_output",
        "auto_map",  # names the bundled transformers code of a converted directory (converters.remote_code)
    }
)
#: PaddleNLP's spellings of two fields (its ``ErnieMConfig.attribute_map``): accepted by the constructor and
#: ``from_dict``, and readable as attributes (``config.num_classes``).
_ALIASES = {"num_classes": "num_labels", "dropout": "classifier_dropout"}


def _accepts_paddlenlp_keywords(cls):
    """Let the constructor take keywords as PaddleNLP's ``ErnieMConfig(**kwargs)`` does: its aliases
    (``num_classes``, ``dropout``) set the fields they name, and any other unknown keyword (``type_vocab_size``,
    ``num_class``, ...) is kept in :attr:`~ErnieMConfig.extra`, readable as an attribute and written back by
    ``save_pretrained``. (The dataclass constructor alone would raise ``TypeError``.)"""
    fields_init = cls.__init__
    names = {f.name for f in dataclasses.fields(cls)}

    def __init__(self, *args: Any, extra: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        extra = dict(extra or {})
        known: Dict[str, Any] = {}
        for key, value in kwargs.items():
            name = _ALIASES.get(key, key)
            if name not in names:
                extra[key] = value
            elif name in known and known[name] != value:
                raise TypeError(f"ErnieMConfig got {name!r} twice (also as its alias): {known[name]!r} and {value!r}")
            else:
                known[name] = value
        fields_init(self, *args, extra=extra, **known)

    __init__.__doc__ = fields_init.__doc__
    cls.__init__ = __init__
    return cls


@_accepts_paddlenlp_keywords
@dataclass(frozen=True)
class ErnieMConfig:
    """Hyper-parameters of an ERNIE-M model; defaults are those of ernie-m-base.

    ``intermediate_size`` defaults to ``4 * hidden_size`` (what PaddleNLP always builds). ``num_choices`` is
    only kept (in both dialects) so that PaddleNLP configs round-trip: the multiple-choice head reads it from the
    input shape.

    PaddleNLP's ways in also work: unknown keywords are kept (see :func:`_accepts_paddlenlp_keywords`),
    ``config.num_classes`` / ``config.dropout`` read the fields they alias (:attr:`attribute_map`), and the
    config is a read-only mapping of its constructor keywords (``config["hidden_size"]``,
    ``ErnieMModel(**config)``).
    """

    #: PaddleNLP's ``attribute_map``: alias -> field.
    attribute_map: ClassVar[Dict[str, str]] = _ALIASES
    #: PaddleNLP's class attribute of the same name.
    pretrained_init_configuration: ClassVar[Dict[str, Dict[str, Any]]] = PRETRAINED_INIT_CONFIGURATION

    vocab_size: int = 250002
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: Optional[int] = None
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    act_dropout: float = 0.0
    max_position_embeddings: int = 514
    initializer_range: float = 0.02
    pad_token_id: int = 1
    layer_norm_eps: float = 1e-5
    num_labels: int = 2
    id2label: Optional[Dict[int, str]] = None
    classifier_dropout: Optional[float] = None
    num_choices: Optional[int] = None
    problem_type: Optional[str] = None
    architectures: Tuple[str, ...] = ()
    attention_mask_mode: str = "padding"
    #: The labels may be given as ``id2label``, ``label2id`` or both (which must then agree); either sets
    #: ``num_labels``. Both attributes are always filled in (transformers' ``LABEL_i`` names by default).
    label2id: Optional[Dict[str, int]] = field(default=None, compare=False, repr=False)
    extra: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        if self.intermediate_size is None:
            set_("intermediate_size", 4 * self.hidden_size)
        set_("architectures", tuple(HEAD_ALIASES.get(a, a) for a in (self.architectures or ())))
        id2label = _label_map(self.id2label, "id2label", int, str)
        label2id = _label_map(self.label2id, "label2id", str, int)
        if id2label is not None and len(set(id2label.values())) != len(id2label):
            raise ValueError(f"config field 'id2label' names a label twice: {id2label}")
        if label2id is not None:
            by_id = dict(sorted((i, label) for label, i in label2id.items()))
            if sorted(by_id) != list(range(len(label2id))):
                raise ValueError(f"config field 'label2id' must give the labels the ids 0..{len(label2id) - 1}, "
                                 f"each once: {label2id}")
            if id2label is None:
                id2label = by_id
            elif id2label != by_id:
                i = next(i for i in sorted(set(id2label) | set(by_id)) if id2label.get(i) != by_id.get(i))
                raise ValueError(f"config fields 'id2label' and 'label2id' disagree: id2label[{i}] is "
                                 f"{id2label.get(i)!r}, label2id gives id {i} to {by_id.get(i)!r}")
        if id2label is not None:
            set_("num_labels", len(id2label))
            # transformers' placeholder names carry no information: keep None so that round trips compare equal
            set_("id2label", None if id2label == _default_labels(len(id2label)) else id2label)
        self.validate()
        set_("label2id", {label: i for i, label in self.labels.items()})

    # ----------------------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise ``ValueError`` naming the offending field when a value cannot describe a model."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "num_labels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"config field {name!r} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"config field 'hidden_size' ({self.hidden_size}) must be divisible by "
                f"'num_attention_heads' ({self.num_attention_heads})"
            )
        if self.max_position_embeddings <= POSITION_OFFSET:
            raise ValueError(f"config field 'max_position_embeddings' must exceed {POSITION_OFFSET}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"config field 'hidden_act' is {self.hidden_act!r}; known: {', '.join(ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "act_dropout", "classifier_dropout"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ValueError(f"config field {name!r} must be a probability in [0, 1), got {value!r}")
        if not (isinstance(self.pad_token_id, int) and 0 <= self.pad_token_id < self.vocab_size):
            raise ValueError(f"config field 'pad_token_id' ({self.pad_token_id!r}) must be an id in the vocabulary")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise ValueError(f"config field 'layer_norm_eps' must be positive, got {self.layer_norm_eps!r}")
        if self.attention_mask_mode not in ATTENTION_MASK_MODES:
            raise ValueError(
                f"config field 'attention_mask_mode' is {self.attention_mask_mode!r}; "
                f"known: {', '.join(ATTENTION_MASK_MODES)}"
            )
        if self.problem_type not in (None, "regression", "single_label_classification",
                                     "multi_label_classification"):
            raise ValueError(f"config field 'problem_type' has unknown value {self.problem_type!r}")
        for arch in self.architectures:
            if arch not in HEADS:
                raise ValueError(f"config field 'architectures' names {arch!r}; supported: {', '.join(HEADS)}")

    # ------------------------------------------------------------------------ PaddleNLP's attribute access
    def __getattr__(self, name: str) -> Any:
        """Aliases (``num_classes``) and kept unknown keys (``type_vocab_size``) read as attributes."""
        if name in _ALIASES:
            return getattr(self, _ALIASES[name])
        extra = self.__dict__.get("extra") if not name.startswith("__") else None
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def keys(self) -> Iterator[str]:
        """The constructor keywords that rebuild this config: ``ErnieMConfig(**config) == config``."""
        yield from (f.name for f in dataclasses.fields(self) if f.name not in ("extra", "label2id"))
        yield from self.extra

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in _ALIASES or key in set(self.keys()))

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def architecture(self) -> Optional[str]:
        """The head named by ``architectures`` (canonical name), or None."""
        return self.architectures[0] if self.architectures else None

    @property
    def max_text_positions(self) -> int:
        """The longest token sequence (special tokens included) the position table holds:
        ``max_position_embeddings - POSITION_OFFSET``."""
        return self.max_position_embeddings - POSITION_OFFSET

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def labels(self) -> Dict[int, str]:
        """``id2label`` with transformers' ``LABEL_i`` defaults filled in."""
        return self.id2label or _default_labels(self.num_labels)

    def replace(self, **changes: Any) -> "ErnieMConfig":
        """A copy with some fields changed (and validated). A new ``num_labels`` without ``id2label`` drops
        labels that no longer fit; new ``id2label`` or ``label2id`` replace both. PaddleNLP's aliases
        (``num_classes``) name the fields they stand for."""
        changes = {_ALIASES.get(name, name): value for name, value in changes.items()}
        if "label2id" not in changes:
            changes["label2id"] = None  # derived again from id2label
        elif "id2label" not in changes:
            changes["id2label"] = None
        if "num_labels" in changes and "id2label" not in changes and self.id2label is not None \
                and len(self.id2label) != changes["num_labels"]:
            changes["id2label"] = None
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "ErnieMConfig":
        """Build a config from any of the three dialects. ``source`` names the origin in error messages."""
        flat = _flatten_legacy(dict(data))
        if flat.get("pruned_heads"):  # transformers' prune_heads: layers of other widths than the config says
            raise ValueError(f"{source}: pruned_heads {flat['pruned_heads']}: a model with pruned attention heads "
                             f"has no Paddle (PaddleNLP) equivalent; load it in transformers with its bundled code")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        values: Dict[str, Any] = {}
        extra: Dict[str, Any] = {}
        for key, value in flat.items():
            name = _ALIASES.get(key, key)
            if name in known:
                if name in values and values[name] != value:
                    logger.warning("%s: both %r and its alias are set; using %r", source, name, values[name])
                    continue
                values[name] = value
            elif key in _IGNORED_KEYS:
                continue
            else:
                extra[key] = value
        if extra:
            logger.debug("%s: keeping unknown config keys %s", source, sorted(extra))
        if isinstance(values.get("architectures"), str):
            values["architectures"] = [values["architectures"]]
        if values.get("id2label") is not None and values.get("label2id") is not None:
            try:
                cls(id2label=values["id2label"], label2id=values["label2id"])
            except ValueError as exc:  # e.g. id2label edited by hand and label2id left as it was
                logger.warning("%s: %s; using id2label", source, exc)
                del values["label2id"]
        if values.get("id2label") is not None and "num_labels" in values:
            if len(values["id2label"]) != values["num_labels"]:
                logger.warning("%s: num_labels %s disagrees with id2label (%d labels); using id2label",
                               source, values["num_labels"], len(values["id2label"]))
        try:
            return cls(**values, extra=extra)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "ErnieMConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"config file not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable JSON config ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a JSON object")
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_pretrained(cls, directory: Union[str, os.PathLike]) -> "ErnieMConfig":
        """Read ``config.json`` (either ecosystem) or the legacy ``model_config.json`` from a directory."""
        directory = Path(directory)
        for name in (CONFIG_NAME, LEGACY_CONFIG_NAME):
            if (directory / name).is_file():
                return cls.from_file(directory / name)
        if not directory.is_dir():
            raise FileNotFoundError(f"model directory not found: {directory}")
        raise FileNotFoundError(f"{directory}: no {CONFIG_NAME} or {LEGACY_CONFIG_NAME}")

    # ------------------------------------------------------------------------------------------ writing
    def _common_dict(self) -> Dict[str, Any]:
        return {
            **self.extra,  # first: a kept key never overrides what the config itself writes (``model_type``)
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "hidden_dropout_prob": self.hidden_dropout_prob,
            "attention_probs_dropout_prob": self.attention_probs_dropout_prob,
            "act_dropout": self.act_dropout,
            "max_position_embeddings": self.max_position_embeddings,
            "initializer_range": self.initializer_range,
            "pad_token_id": self.pad_token_id,
            "layer_norm_eps": self.layer_norm_eps,
            "classifier_dropout": self.classifier_dropout,
            "id2label": {str(i): label for i, label in self.labels.items()},
            "label2id": self.label2id,
            "model_type": "ernie_m",
            **({"problem_type": self.problem_type} if self.problem_type else {}),
            # PaddleNLP's multiple-choice head needs it; transformers keeps it as an unknown key
            **({"num_choices": self.num_choices} if self.num_choices is not None else {}),
            **({"attention_mask_mode": self.attention_mask_mode} if self.attention_mask_mode != "padding" else {}),
        }

    def to_paddle_dict(self) -> Dict[str, Any]:
        """The PaddleNLP ``config.json`` dialect."""
        data = self._common_dict()
        data["architectures"] = [PADDLENLP_HEAD_NAMES.get(a, a) for a in self.architectures]
        return dict(sorted(data.items()))

    def to_dict(self) -> Dict[str, Any]:
        """PaddleNLP's name for the dict it writes: :meth:`to_paddle_dict`."""
        return self.to_paddle_dict()

    def to_hf_dict(self) -> Dict[str, Any]:
        """The transformers ``config.json`` dialect."""
        data = self._common_dict()
        data["architectures"] = list(self.architectures)
        return dict(sorted(data.items()))

    def save_pretrained(self, directory: Union[str, os.PathLike], dialect: str = "paddle") -> Path:
        """Write ``config.json`` in the ``"paddle"`` or ``"hf"`` dialect into an existing directory."""
        if dialect not in ("paddle", "hf"):
            raise ValueError(f"dialect must be 'paddle' or 'hf', got {dialect!r}")
        data = self.to_paddle_dict() if dialect == "paddle" else self.to_hf_dict()
        return write_atomic(Path(directory) / CONFIG_NAME, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _label_map(mapping: Any, name: str, key_type: type, value_type: type) -> Optional[Dict[Any, Any]]:
    """``mapping`` with its keys and values converted (JSON keys are strings), or None."""
    if mapping is None:
        return None
    try:
        if isinstance(mapping, (str, bytes)):
            raise TypeError
        return {key_type(k): value_type(v) for k, v in dict(mapping).items()}
    except (TypeError, ValueError):
        raise ValueError(f"config field {name!r} must map {key_type.__name__} to {value_type.__name__}, "
                         f"got {mapping!r}") from None


def _default_labels(num_labels: int) -> Dict[int, str]:
    return {i: f"LABEL_{i}" for i in range(num_labels)}


def _flatten_legacy(data: Dict[str, Any]) -> Dict[str, Any]:
    """Flatten PaddleNLP's legacy ``init_args``/``init_class`` nesting; the outermost ``init_class`` is the head."""
    flat: Dict[str, Any] = {}

    def walk(node: Dict[str, Any]) -> None:
        for key, value in node.items():
            if key == "init_class":
                flat.setdefault("architectures", [value])
            elif key != "init_args":
                flat.setdefault(key, value)
        for arg in node.get("init_args") or ():
            if isinstance(arg, dict):
                walk(arg)

    walk(data)
    return flat
