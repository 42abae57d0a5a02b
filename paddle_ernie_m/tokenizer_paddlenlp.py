"""PaddleNLP's ``PretrainedTokenizer`` surface for ``paddle_ernie_m.ErnieMTokenizer``, in one place.

Code written for PaddleNLP 2.8.1's ``ErnieMTokenizer`` reads and sets its special tokens as attributes
(``tokenizer.pad_token``, ``pad_token_id``, ``all_special_tokens``, ``special_tokens_map``), adds tokens
(``add_tokens``, ``add_special_tokens``: ids after the vocabulary, saved in ``added_tokens.json``), reads
``init_kwargs``, ``model_input_names``, ``padding_side``, ``pad_token_type_id`` and the class attributes
``resource_files_names`` / ``pretrained_resource_files_map`` / ``pretrained_init_configuration``, and passes
PaddleNLP's keywords to the encoding calls (``max_seq_len``, ``pad_to_max_seq_len``, ``truncation_strategy``,
``return_token_type_ids``, ...). :class:`PaddleNLPTokenizerAPI` gives the tokenizer those names, with PaddleNLP's
semantics; :func:`encoding_options` turns a call's keywords into the tokenizer's normalized options. The tokenizer
itself (``tokenizer.py``) and the engine underneath hold the rules; nothing here tokenizes.

Imports only the standard library.
"""
from __future__ import annotations

import copy
import logging
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

#: The special-token attributes of PaddleNLP's tokenizers, in the order PaddleNLP lists (and adds) them.
SPECIAL_TOKENS_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                             "mask_token", "additional_special_tokens")
#: The five ERNIE-M uses; the engine holds them (``bos_token`` / ``eos_token`` are None unless set).
_ENGINE_ROLES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
#: ``init_kwargs`` keys that are not settings written back to ``tokenizer_config.json``.
_NOT_SAVED = ("vocab_file", "sentencepiece_model_file", "name_or_path")

_PADDLENLP_NAMES = ("ernie-m-base", "ernie-m-large", "uie-m-base", "uie-m-large")
_URL = "https://bj.bcebos.com/paddlenlp/models/transformers/ernie_m/"

#: Keywords of the encoding calls, with their defaults (None: from ``model_input_names`` or the tokenizer).
_CALL_DEFAULTS = {
    "max_length": None, "max_seq_len": None, "stride": 0, "is_split_into_words": False, "padding": False,
    "pad_to_max_seq_len": False, "truncation": False, "truncation_strategy": "do_not_truncate",
    "pad_to_multiple_of": None, "return_position_ids": None, "return_token_type_ids": None,
    "return_attention_mask": None, "return_length": False, "return_overflowing_tokens": False,
    "return_special_tokens_mask": False, "return_dict": True, "return_offsets_mapping": False,
    "add_special_tokens": True, "return_tensors": None, "verbose": True,
}
_TRUNCATION = ("longest_first", "only_first", "only_second")
_PADDING = ("longest", "max_length")
#: PaddleNLP's logger: its warnings about inputs go there, so that code that watches PaddleNLP's log sees ours.
PADDLENLP_LOGGER = logging.getLogger("PaddleNLP")


class PaddleNLPTokenizerAPI:
    """PaddleNLP's ``PretrainedTokenizer`` names on top of the tokenizer's engine (``self._engine``)."""

    resource_files_names = {"sentencepiece_model_file": "sentencepiece.bpe.model", "vocab_file": "vocab.txt"}
    #: PaddleNLP's built-in names and where PaddleNLP downloads their files (this package loads directories only).
    pretrained_resource_files_map = {
        "vocab_file": {name: _URL + "ernie_m.vocab.txt" for name in _PADDLENLP_NAMES},
        "sentencepiece_model_file": {name: _URL + "ernie_m.sentencepiece.bpe.model" for name in _PADDLENLP_NAMES},
    }
    pretrained_init_configuration = {name: {"do_lower_case": False} for name in _PADDLENLP_NAMES}
    #: 514 positions minus the first position's offset 2 (PaddleNLP's table says 514, past the position table).
    max_model_input_sizes = {name: 512 for name in _PADDLENLP_NAMES}
    #: What the call returns by default: ERNIE-M has no token types, and PaddleNLP's models build their own mask.
    model_input_names: List[str] = ["input_ids"]
    padding_side = "right"
    truncation_side = "right"
    SPECIAL_TOKENS_ATTRIBUTES = list(SPECIAL_TOKENS_ATTRIBUTES)

    def _init_paddlenlp_api(self, init_kwargs: Dict[str, Any]) -> None:
        """Keep ``init_kwargs`` and apply PaddleNLP's base-class settings among them."""
        self.init_kwargs = copy.deepcopy(init_kwargs)
        self.init_inputs = ()
        self.name_or_path = init_kwargs.get("name_or_path", "")
        self.deprecation_warnings: Dict[str, bool] = {}
        self.verbose = bool(init_kwargs.get("verbose", True))
        for name in ("padding_side", "truncation_side"):
            side = init_kwargs.get(name, getattr(type(self), name))
            if side not in ("right", "left"):
                raise ValueError(f"{name} must be 'right' or 'left', got {side!r}")
            setattr(self, name, side)
        names = init_kwargs.get("model_input_names")
        if names is not None:
            if (not isinstance(names, (list, tuple)) or not names or names[0] != "input_ids"
                    or not all(isinstance(n, str) for n in names)):
                raise ValueError(f"model_input_names must be a list of input names starting with 'input_ids', "
                                 f"got {names!r}")
            self.model_input_names = list(names)
        self._extra_special: Dict[str, Any] = {"bos_token": None, "eos_token": None, "additional_special_tokens": []}
        for name in ("bos_token", "eos_token", "additional_special_tokens"):
            if init_kwargs.get(name) is not None:
                setattr(self, name, init_kwargs[name])

    def _saved_settings(self) -> Dict[str, Any]:
        """``init_kwargs`` as ``save_pretrained`` writes them back (current sides, names and extra special tokens)."""
        settings = {k: v for k, v in self.init_kwargs.items() if k not in _NOT_SAVED}
        settings.update(padding_side=self.padding_side, truncation_side=self.truncation_side)
        for name in ("bos_token", "eos_token"):
            if self._extra_special[name] is not None:
                settings[name] = self._extra_special[name]
        if self._extra_special["additional_special_tokens"]:
            settings["additional_special_tokens"] = list(self._extra_special["additional_special_tokens"])
        return settings

    # ------------------------------------------------------------------------------------ special tokens
    def _special_token(self, role: str) -> Optional[str]:
        if role in _ENGINE_ROLES:
            return self._engine.special_tokens[role]
        return self._extra_special[role]

    def _set_special_token(self, role: str, token: Any) -> None:
        """Set a special-token attribute as PaddleNLP does: the token is not added (``add_special_tokens`` and
        ``sanitize_special_tokens`` add it)."""
        if role == "additional_special_tokens":
            self._extra_special[role] = [str(t) for t in (token or [])]
        elif token is None and role in _ENGINE_ROLES:
            raise ValueError(f"{role} cannot be unset: ERNIE-M's encoding needs it")
        elif role in _ENGINE_ROLES:
            self._engine.set_special_token(role, str(token))
        else:
            self._extra_special[role] = None if token is None else str(token)

    @property
    def special_tokens_map(self) -> Dict[str, Union[str, List[str]]]:
        """Special-token attribute -> token, for those that are set (PaddleNLP's order)."""
        mapping: Dict[str, Union[str, List[str]]] = {}
        for role in SPECIAL_TOKENS_ATTRIBUTES:
            value = self._special_token(role)
            if value:
                mapping[role] = list(value) if isinstance(value, list) else value
        return mapping

    special_tokens_map_extended = special_tokens_map

    @property
    def all_special_tokens(self) -> List[str]:
        """Every special token once, in PaddleNLP's order (the additional ones last)."""
        tokens: List[str] = []
        for value in self.special_tokens_map.values():
            tokens.extend(value if isinstance(value, list) else [value])
        return list(dict.fromkeys(tokens))

    all_special_tokens_extended = all_special_tokens

    @property
    def all_special_ids(self) -> List[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def additional_special_tokens_ids(self) -> List[int]:
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, ids: Sequence[int]) -> None:
        self.additional_special_tokens = [self.convert_ids_to_tokens(i) for i in ids]

    @property
    def pad_token_type_id(self) -> int:
        """Token type of padding (ERNIE-M has no token types: 0, as PaddleNLP)."""
        return 0

    # ------------------------------------------------------------------------------------ added tokens
    def add_tokens(self, new_tokens: Union[str, Sequence[str]], special_tokens: bool = False) -> int:
        """Add tokens after the vocabulary (ids ``len(tokenizer)``, ...), never split; return how many are new.

        As PaddleNLP: a token already known gets no new id; ``special_tokens=True`` also keeps known tokens whole
        and keeps the case of a ``do_lower_case`` tokenizer. Resize the model's embeddings to ``len(tokenizer)``.
        """
        if not new_tokens:
            return 0
        if isinstance(new_tokens, str) or not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        return self._engine.add_tokens([str(t) for t in new_tokens], special=bool(special_tokens))

    def add_special_tokens(self, special_tokens_dict: Dict[str, Any]) -> int:
        """Set special-token attributes (``{"cls_token": "<s>"}``, ``{"additional_special_tokens": [...]}``) and
        add their tokens as special tokens; return how many got a new id."""
        added = 0
        for role, value in (special_tokens_dict or {}).items():
            if role not in SPECIAL_TOKENS_ATTRIBUTES:
                raise ValueError(f"{role!r} is not a special token attribute; known: "
                                 f"{', '.join(SPECIAL_TOKENS_ATTRIBUTES)}")
            setattr(self, role, value)
            added += self.add_tokens(list(value) if role == "additional_special_tokens" else [value],
                                     special_tokens=True)
        return added

    def sanitize_special_tokens(self) -> int:
        """Add every special token that is not yet known; return how many (PaddleNLP's name)."""
        return self.add_tokens(self.all_special_tokens, special_tokens=True)

    def get_added_vocab(self) -> Dict[str, int]:
        """Added token -> id."""
        return dict(self._engine.added_tokens)

    @property
    def added_tokens_encoder(self) -> Dict[str, int]:
        return dict(self._engine.added_tokens)

    @property
    def added_tokens_decoder(self) -> Dict[int, str]:
        return {i: t for t, i in self._engine.added_tokens.items()}

    @property
    def unique_no_split_tokens(self) -> List[str]:
        """Tokens never split: the special and the added tokens (sorted, as PaddleNLP keeps them)."""
        return sorted(self._engine.no_split_tokens)

    # ------------------------------------------------------------------------------------ PaddleNLP's names
    def _convert_token_to_id(self, token: str) -> int:
        return self._engine.token_id(token)

    def _convert_id_to_token(self, index: int) -> str:
        return self._engine.token(index)

    def convert_ids_to_string(self, ids: Sequence[int]) -> str:
        return self.convert_tokens_to_string(self.convert_ids_to_tokens(ids))

    def batch_decode(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: Optional[bool] = None, **kwargs: Any) -> List[str]:
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]

    @property
    def is_fast(self) -> bool:
        return False

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def _warn_if_too_long(self, length: int, options: Dict[str, Any]) -> None:
        """PaddleNLP's warning, once per tokenizer, when a sequence is longer than ``model_max_length`` and the call
        gave no length to keep to (no ``max_length``, no truncation, no padding to ``"max_length"``)."""
        key = "sequence-length-is-longer-than-the-specified-maximum"
        if options["length_unbounded"] and length > self.model_max_length and not self.deprecation_warnings.get(key):
            self.deprecation_warnings[key] = True
            PADDLENLP_LOGGER.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                f"({length} > {self.model_max_length}). Running this sequence through the model will result in "
                "indexing errors")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_len={self.model_max_length}, compat={self.compat!r}, padding_side={self.padding_side!r}, "
                f"truncation_side={self.truncation_side!r}, special_tokens={self.special_tokens_map})")


def _special_property(role: str) -> property:
    def get(self) -> Optional[Union[str, List[str]]]:
        value = self._special_token(role)
        return list(value) if isinstance(value, list) else value

    def set_(self, value: Any) -> None:
        self._set_special_token(role, value)

    return property(get, set_, doc=f"The {role.replace('_', ' ')} (PaddleNLP's attribute).")


def _special_id_property(role: str) -> property:
    def get(self) -> Optional[int]:
        token = self._special_token(role)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set_(self, value: int) -> None:
        self._set_special_token(role, None if value is None else self.convert_ids_to_tokens(int(value)))

    return property(get, set_, doc=f"The id of the {role.replace('_', ' ')}.")


for _role in SPECIAL_TOKENS_ATTRIBUTES:
    setattr(PaddleNLPTokenizerAPI, _role, _special_property(_role))
    if _role != "additional_special_tokens":
        setattr(PaddleNLPTokenizerAPI, f"{_role}_id", _special_id_property(_role))


# ---------------------------------------------------------------------------------------------- call options
def encoding_options(tokenizer: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The normalized options of an encoding call from PaddleNLP's keywords.

    ``truncation`` (``None`` or a strategy) and ``padding`` (``None``, ``"longest"`` or ``"max_length"``) follow
    PaddleNLP's ``_get_padding_truncation_strategies``: ``max_length`` alone truncates ``"longest_first"``,
    ``truncation_strategy`` and ``pad_to_max_seq_len`` are the old spellings, and truncating or padding to
    ``"max_length"`` without a length uses ``model_max_length``. ``max_seq_len`` is ``max_length``'s old name. The
    ``return_*`` keywords left None follow ``model_input_names``; ``length_unbounded`` says that the call gave no
    length to keep to (PaddleNLP then warns about over-long sequences). Keywords PaddleNLP accepts and ignores (it passes
    them down to methods that do not use them) warn once and are ignored.
    """
    unknown = sorted(set(kwargs) - set(_CALL_DEFAULTS))
    for name in unknown:
        key = f"unused-keyword-{name}"
        if not tokenizer.deprecation_warnings.get(key):
            tokenizer.deprecation_warnings[key] = True
            warnings.warn(f"keyword argument {name!r} is not used by ErnieMTokenizer and is ignored", stacklevel=3)
    options = {**_CALL_DEFAULTS, **{k: v for k, v in kwargs.items() if k in _CALL_DEFAULTS}}
    max_length = options.pop("max_length")
    max_seq_len = options.pop("max_seq_len")
    if max_length is None:
        max_length = max_seq_len
    for name in ("max_length", "pad_to_multiple_of"):
        value = max_length if name == "max_length" else options[name]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    stride = options["stride"]
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
        raise ValueError(f"stride must be a non-negative integer, got {stride!r}")
    if options["return_tensors"] not in (None, "np", "pd"):
        raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {options['return_tensors']!r}")
    if options["is_split_into_words"] not in (False, True, "token"):
        raise ValueError(f"is_split_into_words must be True, False or 'token', got {options['is_split_into_words']!r}")

    padding, truncation = options["padding"], options["truncation"]
    old_truncation, old_padding = options.pop("truncation_strategy"), options.pop("pad_to_max_seq_len")
    if max_length is not None and padding in (False, None) and truncation in (False, None):
        truncation = "longest_first"
    if padding in (False, None, "do_not_pad"):
        padding = None if not old_padding else ("max_length" if max_length is not None else "longest")
    elif padding is True:
        padding = "longest"
    elif padding not in _PADDING:
        raise ValueError(f"padding must be a bool, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")
    if truncation in (False, None, "do_not_truncate"):
        truncation = old_truncation
    if truncation is True:
        truncation = "longest_first"
    elif truncation in (False, None, "do_not_truncate"):
        truncation = None
    elif truncation not in _TRUNCATION:
        raise ValueError(f"truncation must be a bool or one of {', '.join(_TRUNCATION)}, got {truncation!r}")
    if max_length is None and (padding == "max_length" or truncation):
        max_length = tokenizer.model_max_length
    multiple = options["pad_to_multiple_of"]
    if truncation and padding and multiple and max_length is not None and max_length % multiple:
        raise ValueError(f"truncation length ({max_length}) is not a multiple of pad_to_multiple_of ({multiple})")
    if options["return_token_type_ids"] and not options["add_special_tokens"]:
        raise ValueError("Asking to return token_type_ids while setting add_special_tokens to False results in an "
                         "undefined behavior. Please set add_special_tokens to True or set return_token_type_ids to "
                         "None.")  # PaddleNLP's refusal, in its words
    for name in ("return_attention_mask", "return_token_type_ids", "return_position_ids"):
        if options[name] is None:
            options[name] = name[len("return_"):] in tokenizer.model_input_names
    options.update(max_length=max_length if max_length is not None else tokenizer.model_max_length,
                   padding=padding, truncation=truncation, length_unbounded=max_length is None and options["verbose"])
    return options
