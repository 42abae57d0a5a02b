"""ERNIE-M tokenizer for transformers 4 and 5 (``AutoTokenizer.from_pretrained(dir, trust_remote_code=True)``).

transformers 5 no longer has ErnieM, and transformers 4's ``ErnieMTokenizer`` tokenizes differently from PaddleNLP
(it keeps some stand-alone ``▁`` pieces that PaddleNLP drops). This slow tokenizer applies the rules of
``tokenization_ernie_m_engine.py`` (next to this file) in the directory's ``compat`` mode: ``"paddlenlp"`` (the
default, PaddleNLP 2.8.1's ids) or ``"transformers"`` (transformers 4.57's ids), read from ``tokenizer_config.json``.

The keys it returns follow ``model_input_names``: ``["input_ids"]`` (the default, as in both reference tokenizers)
returns no ``attention_mask`` unless asked for, even with padding, so that a model converted from PaddleNLP runs
under PaddleNLP's default mask. ``return_offsets_mapping=True`` works on text input (PaddleNLP's offsets; ``(0, 0)``
for special tokens and padding). Truncation, padding, strides and tensors are transformers' own: the engine's tokens
enter them as position markers, so offsets follow whatever they do to the ids.
"""
from __future__ import annotations

import inspect
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from transformers import BatchEncoding, PreTrainedTokenizer
from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy

from .tokenization_ernie_m_engine import (
    DEFAULT_COMPAT,
    MODEL_INPUT_NAMES,
    MODEL_MAX_LENGTH,
    NO_LIMIT,
    SENTENCEPIECE_MODEL_FILE,
    SPECIAL_TOKENS,
    VOCAB_FILE,
    TokenizerEngine,
)

# transformers 4.x copies into its module cache only the sibling files that this one imports itself (not theirs):
# naming the core's offsets module here copies it along.
from .tokenization_ernie_m_offsets import OffsetFinder  # noqa: F401

#: transformers 5 encodes batches in ``_encode_plus``; transformers 4 has ``_batch_encode_plus`` for them.
_BATCHES_IN_ENCODE_PLUS = not hasattr(PreTrainedTokenizer, "_batch_encode_plus")


class ErnieMTokenizer(PreTrainedTokenizer):
    """ERNIE-M tokenizer reading ``vocab.txt`` and ``sentencepiece.bpe.model``.

    Args:
        vocab_file: one token a line; the line number is the id.
        sentencepiece_model_file: the SentencePiece BPE model.
        do_lower_case: lower-case the text (special tokens excepted) before tokenizing.
        compat: ``"paddlenlp"`` (default) or ``"transformers"``: which implementation's tokens to reproduce.
        clean_up_tokenization_spaces: ``decode``'s default; PaddleNLP's ``True`` or transformers' ``False``
            according to ``compat`` when not given.
        kwargs: transformers' tokenizer settings (``model_max_length``, ``model_input_names``, ...). The special
            tokens are ERNIE-M's (``[CLS]``, ``[PAD]``, ``[SEP]``, ``[UNK]``, ``[MASK]``); others are refused.
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE, "sentencepiece_model_file": SENTENCEPIECE_MODEL_FILE}
    model_input_names = list(MODEL_INPUT_NAMES)

    def __init__(self, vocab_file: str, sentencepiece_model_file: str, do_lower_case: bool = False,
                 compat: str = DEFAULT_COMPAT, clean_up_tokenization_spaces: Optional[bool] = None,
                 **kwargs: Any) -> None:
        for name, path in ((VOCAB_FILE, vocab_file), (SENTENCEPIECE_MODEL_FILE, sentencepiece_model_file)):
            if path is None or not os.path.isfile(path):
                where = "the directory has none" if path is None else f"{path} not found"
                raise ValueError(f"ErnieMTokenizer needs {name}: {where}")  # an OSError, transformers rewords
        self._engine = TokenizerEngine(vocab_file, sentencepiece_model_file, do_lower_case, compat)
        for role, token in SPECIAL_TOKENS.items():
            given = kwargs.setdefault(role, token)
            if str(given) != token:
                raise ValueError(f"{role} is {str(given)!r}; ERNIE-M uses {token!r}")
        limit = kwargs.get("model_max_length")
        if limit is None or limit >= NO_LIMIT:
            kwargs["model_max_length"] = MODEL_MAX_LENGTH
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = compat == "paddlenlp"
        super().__init__(do_lower_case=do_lower_case, compat=compat,
                         clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)

    @property
    def compat(self) -> str:
        return self._engine.compat

    @property
    def do_lower_case(self) -> bool:
        return self._engine.do_lower_case

    # ------------------------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        return len(self._engine.tokens)

    def get_vocab(self) -> Dict[str, int]:
        return dict(self._engine.vocab)

    def _add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        outside = [str(t) for t in new_tokens if str(t) not in self._engine.vocab]
        if outside:
            raise ValueError(f"ErnieMTokenizer cannot add tokens outside vocab.txt: {', '.join(outside)}")
        return super()._add_tokens(new_tokens, special_tokens=special_tokens)

    def _convert_token_to_id(self, token: str) -> int:
        return self._engine.token_id(token)

    def _convert_id_to_token(self, index: int) -> str:
        return self._engine.token(index)

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces=False)

    def _decode(self, token_ids, skip_special_tokens: bool = False,
                clean_up_tokenization_spaces: Optional[bool] = None, **kwargs: Any) -> str:
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces)

    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str, str]:
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        vocab = os.path.join(save_directory, prefix + VOCAB_FILE)
        model = os.path.join(save_directory, prefix + SENTENCEPIECE_MODEL_FILE)
        with open(vocab, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(self._engine.tokens) + "\n")
        with open(model, "wb") as f:
            f.write(self._engine.sp_model_proto)
        return vocab, model

    # ------------------------------------------------------------------------------------ special tokens
    def build_inputs_with_special_tokens(self, token_ids_0: List[int],
                                         token_ids_1: Optional[List[int]] = None) -> List[int]:
        return self._engine.build_inputs_with_special_tokens(token_ids_0, token_ids_1)

    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]:
        return self._engine.get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0: List[int],
                                             token_ids_1: Optional[List[int]] = None) -> List[int]:
        return self._engine.create_token_type_ids_from_sequences(token_ids_0, token_ids_1)

    # ------------------------------------------------------------------------------------ tokenizing
    def tokenize(self, text: str, **kwargs: Any) -> List[str]:
        """Tokens of a text (special tokens typed in it kept whole). transformers' keyword arguments (such as
        ``is_split_into_words``) change nothing."""
        return self._engine.tokenize(text)

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)`` (as PaddleNLP's)."""
        return self._engine.get_offset_mapping(text)

    def _encode_plus(self, text, text_pair=None, **kwargs: Any) -> BatchEncoding:
        if isinstance(text, str) and (text_pair is None or isinstance(text_pair, str)):
            return self._encode_strings([text], None if text_pair is None else [text_pair], False, **kwargs)
        if _BATCHES_IN_ENCODE_PLUS and not kwargs.get("is_split_into_words"):
            strings = _strings_of_batch(text, text_pair)
            if strings is not None:
                return self._encode_strings(*strings, True, **kwargs)
        return super()._encode_plus(text, text_pair, **_without_offsets(kwargs))

    def _batch_encode_plus(self, batch_text_or_text_pairs, **kwargs: Any) -> BatchEncoding:
        """transformers 4's batch entry point (5 batches in ``_encode_plus``)."""
        strings = None if kwargs.get("is_split_into_words") else _strings_of_batch(batch_text_or_text_pairs, None)
        if strings is not None:
            return self._encode_strings(*strings, True, **kwargs)
        return super()._batch_encode_plus(batch_text_or_text_pairs, **_without_offsets(kwargs))

    def _encode_strings(
        self,
        texts: List[str],
        pairs: Optional[List[str]],
        batched: bool,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: Optional[int] = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: Optional[int] = None,
        padding_side: Optional[str] = None,
        return_tensors: Any = None,
        return_token_type_ids: Optional[bool] = None,
        return_attention_mask: Optional[bool] = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool = False,
        **unexpected: Any,
    ) -> BatchEncoding:
        """Encode texts (and their pairs) with the engine, then let transformers truncate, add special tokens and
        pad: it gets marker ids ``base + k`` for the ``k``-th token of the call, mapped back to ids and offsets."""
        if unexpected:
            raise TypeError(f"ErnieMTokenizer got unexpected arguments: {', '.join(sorted(unexpected))}")
        if split_special_tokens:
            raise ValueError("split_special_tokens=True is not supported: ERNIE-M keeps special tokens typed in a "
                             "text whole")
        n = len(texts)

        def name_of(k: int) -> str:
            name, index = ("text", k) if k < n else ("text_pair", k - n)
            return f"{name}[{index}]" if batched else name

        encoded = self._engine.encode_texts(texts + (pairs or []), with_offsets=return_offsets_mapping,
                                            name_of=name_of)
        base = max(len(self), self.vocab_size)  # above every id transformers may insert
        ids: List[int] = []
        offsets: List[Tuple[int, int]] = []
        markers = []
        for text_ids, _, text_offsets in encoded:
            markers.append(list(range(base + len(ids), base + len(ids) + len(text_ids))))
            ids.extend(text_ids)
            if return_offsets_mapping:
                offsets.extend(text_offsets)
        rows: Dict[str, list] = {}
        for k in range(n):
            row = self.prepare_for_model(
                markers[k], markers[n + k] if pairs is not None else None,
                add_special_tokens=add_special_tokens, padding=PaddingStrategy.DO_NOT_PAD.value,
                truncation=truncation_strategy.value, max_length=max_length, stride=stride,
                return_attention_mask=False, return_token_type_ids=return_token_type_ids,
                return_overflowing_tokens=return_overflowing_tokens,
                return_special_tokens_mask=return_special_tokens_mask, return_length=return_length, verbose=verbose)
            for key, value in row.items():
                rows.setdefault(key, []).append(value)
        rows = dict(self._pad_rows(rows, padding_strategy.value, max_length, pad_to_multiple_of, padding_side,
                                   return_attention_mask))
        marked = rows["input_ids"]
        rows["input_ids"] = [[ids[i - base] if i >= base else i for i in row] for row in marked]
        if return_offsets_mapping:
            rows["offset_mapping"] = [[offsets[i - base] if i >= base else (0, 0) for i in row] for row in marked]
        if "overflowing_tokens" in rows:
            if return_tensors is not None:  # ragged: transformers 5 leaves them out of tensors too
                rows.pop("overflowing_tokens")
                rows.pop("num_truncated_tokens", None)
            else:
                rows["overflowing_tokens"] = [[ids[i - base] for i in row] for row in rows["overflowing_tokens"]]
        if not batched:
            rows = {key: value[0] for key, value in rows.items()}
        return BatchEncoding(rows, tensor_type=return_tensors, prepend_batch_axis=not batched)

    def _pad_rows(self, rows, padding, max_length, pad_to_multiple_of, padding_side, return_attention_mask):
        """``self.pad`` on ``padding_side`` (the tokenizer's when None). transformers before 4.45 has no
        ``padding_side`` argument: the tokenizer's own is set for the call there."""
        kwargs = dict(padding=padding, max_length=max_length, pad_to_multiple_of=pad_to_multiple_of,
                      return_attention_mask=return_attention_mask)
        if padding_side is None:
            return self.pad(rows, **kwargs)
        if "padding_side" in inspect.signature(self.pad).parameters:
            return self.pad(rows, padding_side=padding_side, **kwargs)
        own = self.padding_side
        self.padding_side = padding_side
        try:
            return self.pad(rows, **kwargs)
        finally:
            self.padding_side = own


def _strings_of_batch(items: Any, pairs: Any) -> Optional[Tuple[List[str], Optional[List[str]]]]:
    """``(texts, pairs)`` of a batch of strings or of string pairs; None for other input (words, ids)."""
    if not isinstance(items, (list, tuple)):
        return None
    if pairs is not None:
        if isinstance(pairs, (list, tuple)) and all(isinstance(t, str) for t in [*items, *pairs]):
            return list(items), list(pairs)
        return None
    if all(isinstance(t, str) for t in items):
        return list(items), None
    if all(isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(s, str) for s in t) for t in items):
        return [t[0] for t in items], [t[1] for t in items]
    return None


def _without_offsets(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """transformers' own encoding of words or ids, which has no offsets."""
    if kwargs.get("return_offsets_mapping"):
        raise ValueError("ErnieMTokenizer returns offsets for text (strings) only, not for words or ids")
    return {key: value for key, value in kwargs.items() if key != "return_offsets_mapping"}


ErnieMTokenizer.register_for_auto_class("AutoTokenizer")
