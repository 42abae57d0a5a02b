"""ERNIE-M tokenizer: PaddleNLP's tokenization by default, transformers' on request, with character offsets.

The tokenization rules (normalization, splitting, SentencePiece pieces, the stand-alone ``▁`` rule of each
``compat`` mode) live in ``ernie_m_tokenizer/tokenization_ernie_m_engine.py``, the engine that is also copied
next to converted transformers weights, and its character offsets in ``tokenization_ernie_m_offsets.py`` next to
it; their docstrings state them. In short:

* ``"paddlenlp"`` (default): every stand-alone ``▁`` piece is dropped, as PaddleNLP 2.8.1 does. The released
  ERNIE-M and UIE-M checkpoints were trained this way.
* ``"transformers"``: a stand-alone ``▁`` is kept when it is not the first piece and the next piece does not start
  with ``▁``, as transformers 4.57's ``ErnieMTokenizer`` does (``x ★`` becomes ``▁x ▁ ★`` instead of ``▁x ★``).

This module gives the engine PaddleNLP's call signature, numpy or Paddle outputs and the files of a tokenizer
directory. ``tokenizer_config.json`` records the mode (``"compat"``), so a directory states which tokenization its
model was trained with; ``converters.tokenizer_files`` reads and writes it. Offsets
(``return_offsets_mapping``) follow PaddleNLP's; special tokens added by the tokenizer get ``(0, 0)``.

Outputs differ from PaddleNLP's on purpose in two ways: ``attention_mask`` is returned by default (PaddleNLP returns
only ``input_ids``; pass ``return_attention_mask=False`` to get the same keys), and a truncation that cannot be done
(``max_length`` shorter than the special tokens, ``only_second`` with too short a second text) raises ``ValueError``
instead of logging an error and returning an over-long sequence. ``position_ids`` count from 0 like PaddleNLP's: the
model adds ``POSITION_OFFSET``.

This module imports only numpy and sentencepiece (Paddle only for ``return_tensors="pd"``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ernie_m_tokenizer.tokenization_ernie_m_engine import (
    DEFAULT_COMPAT,
    MODEL_MAX_LENGTH,
    SENTENCEPIECE_MODEL_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILE,
    TokenizerEngine,
    check_compat,
    check_text,
)

from converters.checkpoint import tokenizer_settings
from converters.files import check_outside, write_atomic
from converters.tokenizer_files import refuse_overwrite, write_tokenizer_config

_TRUNCATION = ("longest_first", "only_first", "only_second")
_PADDING = ("longest", "max_length")


# --------------------------------------------------------------------------------------------- the output
class BatchEncoding(dict):
    """The tokenizer's output: a dict (``input_ids``, ``attention_mask``, ...) whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# ------------------------------------------------------------------------------------------ the tokenizer
class ErnieMTokenizer:
    """ERNIE-M tokenizer reading ``vocab.txt`` and ``sentencepiece.bpe.model``.

    Args:
        vocab_file: one token a line; the line number is the id. Must hold the five special tokens and every
            piece of the SentencePiece model.
        sentencepiece_model_file: the SentencePiece BPE model.
        do_lower_case: lower-case the text (special tokens excepted) before tokenizing.
        compat: ``"paddlenlp"`` (default) or ``"transformers"``: which implementation's tokens to reproduce.
        model_max_length: the longest sequence the model accepts; the default length for truncation and
            ``padding="max_length"``.
    """

    def __init__(
        self,
        vocab_file: Union[str, os.PathLike],
        sentencepiece_model_file: Union[str, os.PathLike],
        do_lower_case: bool = False,
        compat: str = DEFAULT_COMPAT,
        model_max_length: int = MODEL_MAX_LENGTH,
    ) -> None:
        check_compat(compat)
        if not isinstance(model_max_length, int) or isinstance(model_max_length, bool) or model_max_length < 4:
            raise ValueError(f"model_max_length must be an integer >= 4, got {model_max_length!r}")
        self._engine = TokenizerEngine(vocab_file, sentencepiece_model_file, do_lower_case, compat)
        self.model_max_length = model_max_length
        self.vocab_file = Path(vocab_file)
        self.sentencepiece_model_file = Path(sentencepiece_model_file)
        self.unk_token_id = self._engine.unk_token_id
        self.cls_token_id = self._engine.cls_token_id
        self.sep_token_id = self._engine.sep_token_id
        self.pad_token_id = self._engine.pad_token_id
        self.mask_token_id = self._engine.mask_token_id
        self._warned_too_long = False

    @property
    def compat(self) -> str:
        return self._engine.compat

    @property
    def do_lower_case(self) -> bool:
        return self._engine.do_lower_case

    @classmethod
    def from_pretrained(cls, directory: Union[str, os.PathLike], **overrides: Any) -> "ErnieMTokenizer":
        """Load a tokenizer directory written by this project, PaddleNLP or transformers.

        ``tokenizer_config.json`` is optional; ``compat``, ``do_lower_case`` and ``model_max_length`` passed here
        override it. A directory that does not state ``compat`` gets the tokenization of its checkpoint's layout:
        transformers' beside transformers-layout weights, else PaddleNLP's
        (:func:`converters.checkpoint.tokenizer_settings`).
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"tokenizer directory not found: {directory}")
        settings = tokenizer_settings(directory)
        unknown = set(overrides) - {"compat", "do_lower_case", "model_max_length"}
        if unknown:
            raise TypeError(f"from_pretrained got unexpected arguments: {', '.join(sorted(unknown))}")
        settings.update(overrides)
        return cls(directory / VOCAB_FILE, directory / SENTENCEPIECE_MODEL_FILE, **settings)

    def save_pretrained(self, directory: Union[str, os.PathLike], force: bool = False) -> Tuple[Path, ...]:
        """Write ``vocab.txt``, ``sentencepiece.bpe.model``, ``tokenizer_config.json`` and
        ``special_tokens_map.json`` (readable by PaddleNLP's and transformers' ``from_pretrained``). Refused where
        it would overwrite the files this tokenizer was built from."""
        directory = Path(directory)
        names = (VOCAB_FILE, SENTENCEPIECE_MODEL_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE)
        refuse_overwrite(directory, names, force)
        directory.mkdir(parents=True, exist_ok=True)
        paths = self.save_vocabulary(directory, force=True)
        paths += write_tokenizer_config(directory, self.compat, self.do_lower_case, self.model_max_length, force=True)
        return paths

    def save_vocabulary(self, directory: Union[str, os.PathLike], filename_prefix: Optional[str] = None,
                        force: bool = False) -> Tuple[Path, Path]:
        """Write ``vocab.txt`` and ``sentencepiece.bpe.model`` (optionally prefixed ``<prefix>-``)."""
        directory = Path(directory)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        names = (prefix + VOCAB_FILE, prefix + SENTENCEPIECE_MODEL_FILE)
        for name in names:  # never over the files this tokenizer was built from
            check_outside(directory / name, (self.vocab_file, self.sentencepiece_model_file))
        refuse_overwrite(directory, names, force)
        vocab = write_atomic(directory / names[0], ("\n".join(self._engine.tokens) + "\n").encode("utf-8"))
        model = write_atomic(directory / names[1], self._engine.sp_model_proto)
        return vocab, model

    # ------------------------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        """Number of ids (lines of ``vocab.txt``); the model's embedding table has this many rows."""
        return len(self._engine.tokens)

    def __len__(self) -> int:
        return len(self._engine.tokens)

    def get_vocab(self) -> Dict[str, int]:
        return dict(self._engine.vocab)

    @property
    def all_special_ids(self) -> List[int]:
        return sorted(self._engine.special_ids)

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str]]) -> Union[int, List[int]]:
        """Ids of tokens; unknown tokens get ``[UNK]``'s id."""
        if isinstance(tokens, str):
            return self._engine.token_id(tokens)
        return [self._engine.token_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]],
                              skip_special_tokens: bool = False) -> Union[str, List[str]]:
        token, special = self._engine.token, self._engine.special_ids
        if isinstance(ids, (int, np.integer)):
            return token(int(ids))
        return [token(int(i)) for i in _as_id_list(ids) if not (skip_special_tokens and i in special)]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces=False)

    def decode(self, ids: Any, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: Optional[bool] = None) -> str:
        """Text of a sequence of ids. ``clean_up_tokenization_spaces`` defaults to PaddleNLP's ``True`` or to
        transformers' ``False`` according to ``compat``."""
        tokens = self.convert_ids_to_tokens(_as_id_list(ids), skip_special_tokens)
        return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces)

    # ------------------------------------------------------------------------------------ special tokens
    def build_inputs_with_special_tokens(self, token_ids_0: List[int],
                                         token_ids_1: Optional[List[int]] = None) -> List[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] [SEP] B [SEP]``."""
        return self._engine.build_inputs_with_special_tokens(token_ids_0, token_ids_1)

    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]:
        """1 where ``build_inputs_with_special_tokens`` puts a special token (or, for a sequence that already has
        them, where ``[CLS]`` or ``[SEP]`` stands), else 0."""
        return self._engine.get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0: List[int],
                                             token_ids_1: Optional[List[int]] = None) -> List[int]:
        """Token types as both reference tokenizers compute them (ERNIE-M has no token type embedding)."""
        return self._engine.create_token_type_ids_from_sequences(token_ids_0, token_ids_1)

    # ------------------------------------------------------------------------------------ tokenizing
    def tokenize(self, text: str) -> List[str]:
        """Tokens of a text, without the special tokens that encoding adds."""
        return self._engine.tokenize(text)

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)``."""
        return self._engine.get_offset_mapping(text)

    # ------------------------------------------------------------------------------------ encoding
    def __call__(
        self,
        text: Union[str, Sequence[str]],
        text_pair: Optional[Union[str, Sequence[str]]] = None,
        *,
        max_length: Optional[int] = None,
        truncation: Union[bool, str, None] = None,
        padding: Union[bool, str] = False,
        return_attention_mask: bool = True,
        return_position_ids: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_tensors: Optional[str] = None,
        max_seq_len: Optional[int] = None,
        pad_to_max_seq_len: bool = False,
    ) -> BatchEncoding:
        """Encode a text, a pair of texts, or batches (lists) of either.

        Args:
            text, text_pair: a string each, or two lists of the same length.
            max_length: the longest output; ``max_seq_len`` is PaddleNLP's name for it. Given alone (no
                ``truncation``, no ``padding``), it truncates ``"longest_first"``, as in both reference libraries.
            truncation: ``True``/``"longest_first"`` (drop tokens from the longer text of a pair, the second on a
                tie), ``"only_first"``, ``"only_second"``, or ``False``. Without ``max_length`` it truncates to
                ``model_max_length``.
            padding: ``True``/``"longest"`` (to the longest sequence of the batch) or ``"max_length"``.
                ``pad_to_max_seq_len=True`` is PaddleNLP's spelling: ``"max_length"`` when ``max_length`` is
                given, else ``"longest"``.
            return_attention_mask: 1 for tokens, 0 for padding (returned by default, unlike PaddleNLP).
            return_position_ids: 0, 1, ... (padding 0), as PaddleNLP.
            return_special_tokens_mask: 1 for special tokens and padding.
            return_offsets_mapping: ``(start, end)`` character offsets in the text a token comes from; ``(0, 0)``
                for special tokens and padding.
            return_tensors: ``None`` (lists), ``"np"`` (int64 arrays) or ``"pd"`` (Paddle tensors); arrays always
                have a batch axis.
        """
        if max_seq_len is not None:
            if max_length is not None and max_length != max_seq_len:
                raise ValueError(f"max_length ({max_length}) and max_seq_len ({max_seq_len}) disagree")
            max_length = max_seq_len
        batched, texts, pairs = _as_batches(text, text_pair)
        if return_tensors not in (None, "np", "pd"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {return_tensors!r}")
        padding, truncation, max_length = self._strategies(padding, truncation, max_length, pad_to_max_seq_len)
        if truncation == "only_second" and pairs is None:
            raise ValueError("truncation='only_second' needs text pairs (text_pair)")

        n = len(texts)

        def name_of(k: int) -> str:
            name, index = ("text", k) if k < n else ("text_pair", k - n)
            return f"{name}[{index}]" if batched else name

        encoded = self._engine.encode_texts(texts + (pairs or []), with_offsets=return_offsets_mapping, name_of=name_of)
        budget = max_length - (2 if pairs is None else 4)
        sequences, special_masks, offset_maps = self._assemble(
            encoded[:n], encoded[n:] if pairs is not None else None, truncation, budget, return_special_tokens_mask,
            return_offsets_mapping)
        longest = max(map(len, sequences), default=0)
        if not truncation and longest > self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            warnings.warn(f"a sequence of {longest} tokens is longer than model_max_length ({self.model_max_length})"
                          " and truncation is off: the model cannot run it", stacklevel=2)
        width = max_length if padding == "max_length" else longest if padding == "longest" else None
        output = self._collate(sequences, width, return_attention_mask, return_position_ids,
                               special_masks if return_special_tokens_mask else None,
                               offset_maps if return_offsets_mapping else None)
        return _finish(output, batched, return_tensors)

    def _assemble(self, firsts: List[tuple], seconds: Optional[List[tuple]], truncation: Optional[str],
                  budget: int, special_mask: bool, offsets: bool) -> Tuple[List[List[int]], list, list]:
        """``(sequences, special_masks, offset_maps)`` of encoded texts (and pairs): each truncated to ``budget``
        tokens, with its special tokens (masks and offset maps only where asked for)."""
        sequences, special_masks, offset_maps = [], [], []
        for k, (ids_0, _, offsets_0) in enumerate(firsts):
            ids_1, _, offsets_1 = seconds[k] if seconds is not None else (None, None, None)
            if truncation and len(ids_0) + (len(ids_1) if ids_1 is not None else 0) > budget:
                keep_0, keep_1 = _truncated_lengths(len(ids_0), None if ids_1 is None else len(ids_1),
                                                    budget, truncation, k)
                ids_0, offsets_0 = ids_0[:keep_0], offsets_0 and offsets_0[:keep_0]
                if ids_1 is not None:
                    ids_1, offsets_1 = ids_1[:keep_1], offsets_1 and offsets_1[:keep_1]
            sequences.append(self.build_inputs_with_special_tokens(ids_0, ids_1))
            if special_mask:
                special_masks.append(self.get_special_tokens_mask(ids_0, ids_1))
            if offsets:
                offset_maps.append([(0, 0), *offsets_0, (0, 0)] if offsets_1 is None
                                   else [(0, 0), *offsets_0, (0, 0), (0, 0), *offsets_1, (0, 0)])
        return sequences, special_masks, offset_maps

    def _strategies(self, padding: Any, truncation: Any, max_length: Optional[int], pad_to_max_seq_len: bool
                    ) -> Tuple[Optional[str], Optional[str], int]:
        """Normalized ``(padding, truncation, max_length)``, with both reference libraries' defaults."""
        if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool)
                                       or max_length <= 0):
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        if truncation is None:
            truncation = max_length is not None and padding in (False, None, "do_not_pad")
        if truncation is True:
            truncation = "longest_first"
        elif truncation in (False, "do_not_truncate"):
            truncation = None
        elif truncation not in _TRUNCATION:
            raise ValueError(f"truncation must be a bool or one of {', '.join(_TRUNCATION)}, got {truncation!r}")
        if padding in (False, None, "do_not_pad"):
            padding = None if not pad_to_max_seq_len else ("max_length" if max_length is not None else "longest")
        elif padding is True:
            padding = "longest"
        elif padding not in _PADDING:
            raise ValueError(f"padding must be a bool, 'longest' or 'max_length', got {padding!r}")
        if max_length is None:
            max_length = self.model_max_length
        return padding, truncation, max_length

    def _collate(self, sequences: List[List[int]], width: Optional[int], attention: bool, positions: bool,
                 special_masks: Optional[List[List[int]]], offset_maps: Optional[List[list]]) -> Dict[str, list]:
        """The output lists, each row padded to ``width`` (None: no padding)."""
        pad = self.pad_token_id
        extras = [max(0, width - len(ids)) if width is not None else 0 for ids in sequences]
        output: Dict[str, list] = {"input_ids": [ids + [pad] * e if e else ids for ids, e in zip(sequences, extras)]}
        if attention:
            output["attention_mask"] = [[1] * len(ids) + [0] * e for ids, e in zip(sequences, extras)]
        if positions:
            output["position_ids"] = [list(range(len(ids))) + [0] * e for ids, e in zip(sequences, extras)]
        if special_masks is not None:
            output["special_tokens_mask"] = [m + [1] * e for m, e in zip(special_masks, extras)]
        if offset_maps is not None:
            output["offset_mapping"] = [m + [(0, 0)] * e for m, e in zip(offset_maps, extras)]
        return output



# ------------------------------------------------------------------------------------------ helpers
def _as_batches(text: Any, text_pair: Any) -> Tuple[bool, List[str], Optional[List[str]]]:
    """``(batched, texts, pairs)``: the call's text (and pair) arguments checked and made lists."""
    batched = isinstance(text, (list, tuple))
    texts = _check_batch(text, "text") if batched else [check_text(text, "text")]
    pairs = None
    if text_pair is not None:
        if batched != isinstance(text_pair, (list, tuple)):
            raise TypeError("text and text_pair must both be strings or both be lists of strings")
        pairs = _check_batch(text_pair, "text_pair") if batched else [check_text(text_pair, "text_pair")]
        if len(pairs) != len(texts):
            raise ValueError(f"text has {len(texts)} items but text_pair has {len(pairs)}")
    return batched, texts, pairs


def _check_batch(texts: Sequence[Any], name: str) -> List[str]:
    return [check_text(t, f"{name}[{k}]") for k, t in enumerate(texts)]



def _as_id_list(ids: Any) -> List[int]:
    if isinstance(ids, (list, tuple)):
        return [int(i) for i in ids]
    array = np.asarray(ids)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"expected a 1-D sequence of integer ids, got shape {array.shape} of {array.dtype}")
    return array.tolist()


def _truncated_lengths(n_0: int, n_1: Optional[int], budget: int, strategy: str, index: int
                       ) -> Tuple[int, Optional[int]]:
    """Lengths to keep so that ``n_0 + n_1 <= budget``, removing tokens as both reference libraries do."""
    total = n_0 + (n_1 or 0)
    remove = total - budget
    if remove <= 0:
        return n_0, n_1
    if budget < 0:
        raise ValueError(f"max_length is too short for the special tokens of example {index}")
    if n_1 is None or strategy == "only_first":
        if n_0 <= remove:
            raise ValueError(
                f"cannot truncate example {index} to max_length with {strategy!r}: its first text has {n_0} tokens "
                f"and {remove} must go; use 'longest_first' or a larger max_length"
            )
        return n_0 - remove, n_1
    if strategy == "only_second":
        if n_1 <= remove:
            raise ValueError(
                f"cannot truncate example {index} to max_length with 'only_second': its second text has {n_1} "
                f"tokens and {remove} must go; use 'longest_first' or a larger max_length"
            )
        return n_0, n_1 - remove
    # longest_first: one token at a time from the longer text, from the second one on a tie
    step = min(remove, abs(n_0 - n_1))
    if n_0 > n_1:
        n_0 -= step
    else:
        n_1 -= step
    remove -= step
    n_1 -= (remove + 1) // 2
    n_0 -= remove // 2
    return n_0, n_1


def _finish(output: Dict[str, list], batched: bool, return_tensors: Optional[str]) -> BatchEncoding:
    if return_tensors is None:
        return BatchEncoding(output if batched else {k: v[0] for k, v in output.items()})
    arrays = {}
    for key, value in output.items():
        if len({len(v) for v in value}) > 1:
            raise ValueError(f"cannot make a tensor of {key}: sequences have different lengths (use padding=True)")
        arrays[key] = np.array(value, dtype=np.int64)
        if key == "offset_mapping" and arrays[key].size == 0:
            arrays[key] = arrays[key].reshape(len(value), -1, 2)
    if return_tensors == "pd":
        import paddle

        arrays = {k: paddle.to_tensor(v) for k, v in arrays.items()}
    return BatchEncoding(arrays)
