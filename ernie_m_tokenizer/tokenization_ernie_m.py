"""ERNIE-M tokenizer for transformers 4 and 5 (``AutoTokenizer.from_pretrained(dir, trust_remote_code=True)``).

transformers 5 no longer has ErnieM, and transformers 4's ``ErnieMTokenizer`` tokenizes differently from PaddleNLP
(it keeps some stand-alone ``▁`` pieces that PaddleNLP drops). This slow tokenizer applies the rules of
``tokenization_ernie_m_engine.py`` (next to this file) in the directory's ``compat`` mode, read from
``tokenizer_config.json``: ``"paddlenlp"`` (PaddleNLP 2.8.1's ids, which paddle2torch writes for PaddleNLP
checkpoints) or ``"transformers"`` (transformers 4.57's ids, the default of transformers' constructor).

The keys it returns follow ``model_input_names``: ``["input_ids"]`` (the default, as in both reference tokenizers)
returns no ``attention_mask`` unless asked for, even with padding, so that a model converted from PaddleNLP runs
under PaddleNLP's default mask. ``return_offsets_mapping=True`` works on text input (PaddleNLP's offsets; ``(0, 0)``
for special tokens and padding). Truncation, padding, strides and tensors are transformers' own: the engine's tokens
enter them as position markers, so offsets follow whatever they do to the ids.
"""
from __future__ import annotations

import inspect
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from transformers import BatchEncoding, PreTrainedTokenizer
from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy

from .tokenization_ernie_m_engine import (
    CLS_TOKEN,
    MASK_TOKEN,
    MODEL_INPUT_NAMES,
    MODEL_MAX_LENGTH,
    NO_LIMIT,
    PAD_TOKEN,
    SENTENCEPIECE_MODEL_FILE,
    SEP_TOKEN,
    UNK_TOKEN,
    VOCAB_FILE,
    TokenizerEngine,
    check_text,
    clean_up_spaces,
)

# transformers 4.x copies into its module cache only the sibling files that this one imports itself (not theirs):
# naming the core's offsets module here copies it along.
from .tokenization_ernie_m_offsets import OffsetFinder  # noqa: F401

#: The ``compat`` of a tokenizer built with transformers' constructor: transformers' own ErnieMTokenizer's
#: tokenization (a converted directory states its model's in tokenizer_config.json, which ``from_pretrained`` reads).
CONSTRUCTOR_COMPAT = "transformers"

#: transformers 5 encodes batches in ``_encode_plus``; transformers 4 has ``_batch_encode_plus`` for them.
_BATCHES_IN_ENCODE_PLUS = not hasattr(PreTrainedTokenizer, "_batch_encode_plus")


class ErnieMTokenizer(PreTrainedTokenizer):
    """ERNIE-M tokenizer reading ``sentencepiece.bpe.model`` and ``vocab.txt``, with transformers 4's constructor.

    Args:
        sentencepiece_model_ckpt: the SentencePiece BPE model (``sentencepiece_model_file`` is accepted too).
        vocab_file: one token a line; the line number is the id. None: the SentencePiece pieces in id order, as
            transformers' ``ErnieMTokenizer`` does.
        do_lower_case: lower-case the text (special tokens excepted) before tokenizing.
        encoding: of ``vocab.txt``; UTF-8 only.
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens, as the vocabulary spells them
            (ERNIE-M's ``[UNK]`` ... by default). Those missing from the vocabulary are added after it, as
            transformers does.
        sp_model_kwargs: ``SentencePieceProcessor`` settings, e.g. ``{"enable_sampling": True, "alpha": 0.1,
            "nbest_size": -1}`` for subword regularization.
        compat: ``"transformers"`` (default: transformers' own class's tokens) or ``"paddlenlp"`` (PaddleNLP 2.8.1's,
            what the released checkpoints were trained with); converted directories state it.
        clean_up_tokenization_spaces: ``decode``'s default; PaddleNLP's ``True`` or transformers' ``False``
            according to ``compat`` when not given.
        kwargs: transformers' tokenizer settings (``model_max_length``, ``model_input_names``,
            ``additional_special_tokens``, ...).
    """

    vocab_files_names = {"sentencepiece_model_ckpt": SENTENCEPIECE_MODEL_FILE, "vocab_file": VOCAB_FILE}
    model_input_names = list(MODEL_INPUT_NAMES)

    def __init__(self, sentencepiece_model_ckpt: Optional[str] = None, vocab_file: Optional[str] = None,
                 do_lower_case: bool = False, encoding: str = "utf8", unk_token: Any = UNK_TOKEN,
                 sep_token: Any = SEP_TOKEN, pad_token: Any = PAD_TOKEN, cls_token: Any = CLS_TOKEN,
                 mask_token: Any = MASK_TOKEN, sp_model_kwargs: Optional[Dict[str, Any]] = None,
                 compat: str = CONSTRUCTOR_COMPAT, clean_up_tokenization_spaces: Optional[bool] = None,
                 **kwargs: Any) -> None:
        specials = dict(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                        mask_token=mask_token)
        sentencepiece_model_ckpt = sentencepiece_model_ckpt or kwargs.pop("sentencepiece_model_file", None)
        self._engine = build_engine(sentencepiece_model_ckpt, vocab_file, do_lower_case, encoding, specials, sp_model_kwargs, compat)
        self._added = _AddedTokens(self._engine, {}, (), ())
        limit = kwargs.get("model_max_length")
        if limit is None or limit >= NO_LIMIT:
            kwargs["model_max_length"] = MODEL_MAX_LENGTH
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = compat == "paddlenlp"
        super().__init__(sentencepiece_model_ckpt=sentencepiece_model_ckpt, vocab_file=vocab_file,
                         do_lower_case=do_lower_case, compat=compat, encoding=encoding,
                         sp_model_kwargs=self._engine.sp_model_kwargs,
                         clean_up_tokenization_spaces=clean_up_tokenization_spaces, **specials, **kwargs)
        self._refresh_added_tokens()

    @property
    def compat(self) -> str:
        return self._engine.compat

    @property
    def do_lower_case(self) -> bool:
        return self._engine.do_lower_case

    @property
    def sp_model_kwargs(self) -> Dict[str, Any]:
        return self._engine.sp_model_kwargs

    # ------------------------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        return len(self._engine.tokens)

    def __len__(self) -> int:
        """The vocabulary and the added tokens (kept up to date by ``_add_tokens``: transformers before 4.42
        rebuilds a set of the whole vocabulary here on every call)."""
        return self._added.size

    def get_vocab(self) -> Dict[str, int]:
        vocab = dict(self._engine.vocab)
        vocab.update(self.get_added_vocab())
        return vocab

    def _add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        added = super()._add_tokens(new_tokens, special_tokens=special_tokens)
        self._refresh_added_tokens()
        return added

    def _refresh_added_tokens(self) -> None:
        """Rebuild what encoding needs to know of the added tokens (after every change to them)."""
        if hasattr(self, "_engine"):  # transformers adds the special tokens before ``__init__`` has returned
            self._added = _AddedTokens(self._engine, self.get_added_vocab(), self.all_special_tokens,
                                       _extra_special_tokens(self))

    def _convert_token_to_id(self, token: str) -> int:
        return self._engine.token_id(token)

    def _convert_id_to_token(self, index: int) -> str:
        return self._engine.token(index)

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces=False)

    def _decode(self, token_ids, skip_special_tokens: bool = False,
                clean_up_tokenization_spaces: Optional[bool] = None, spaces_between_special_tokens: bool = True,
                **kwargs: Any) -> str:
        """Text of ids; added tokens stand as typed, apart from the text around them by a space (transformers')."""
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens=skip_special_tokens)
        if isinstance(tokens, str):
            tokens = [tokens]
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return decode_tokens(self._engine, tokens, self._added.plain, spaces_between_special_tokens,
                             clean_up_tokenization_spaces)

    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str, str]:
        return save_vocabulary(self._engine, save_directory, filename_prefix)

    # ------------------------------------------------------------------------------------ special tokens
    def build_inputs_with_special_tokens(self, token_ids_0: List[int],
                                         token_ids_1: Optional[List[int]] = None) -> List[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] [SEP] B [SEP]``."""
        cls, sep = self.cls_token_id, self.sep_token_id
        if token_ids_1 is None:
            return [cls, *token_ids_0, sep]
        return [cls, *token_ids_0, sep, sep, *token_ids_1, sep]

    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]:
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 must be None when already_has_special_tokens is True")
            marks = (self.cls_token_id, self.sep_token_id)
            return [1 if i in marks else 0 for i in token_ids_0]
        return self._engine.get_special_tokens_mask(token_ids_0, token_ids_1)

    def create_token_type_ids_from_sequences(self, token_ids_0: List[int],
                                             token_ids_1: Optional[List[int]] = None) -> List[int]:
        return self._engine.create_token_type_ids_from_sequences(token_ids_0, token_ids_1)

    # ------------------------------------------------------------------------------------ tokenizing
    def tokenize(self, text: str, **kwargs: Any) -> List[str]:
        """Tokens of a text (special tokens typed in it kept whole). transformers' keyword arguments (such as
        ``is_split_into_words``) change nothing."""
        return self._added.encode_texts([check_text(text, "text")], with_tokens=True)[0][1]

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)`` (as PaddleNLP's)."""
        return self._added.encode_texts([check_text(text, "text")], with_offsets=True)[0][2]

    def _encode_plus(self, text, text_pair=None, **kwargs: Any) -> BatchEncoding:
        if not kwargs.keys() <= _OWN_ARGUMENTS:  # transformers' own keywords (of any release): its own encoding
            return super()._encode_plus(text, text_pair, **_without_offsets(kwargs))
        if isinstance(text, str) and (text_pair is None or isinstance(text_pair, str)):
            return self._encode_strings([text], None if text_pair is None else [text_pair], False, **kwargs)
        if _BATCHES_IN_ENCODE_PLUS and not kwargs.get("is_split_into_words"):
            strings = _strings_of_batch(text, text_pair)
            if strings is not None:
                return self._encode_strings(*strings, True, **kwargs)
        return super()._encode_plus(text, text_pair, **_without_offsets(kwargs))

    def _batch_encode_plus(self, batch_text_or_text_pairs, **kwargs: Any) -> BatchEncoding:
        """transformers 4's batch entry point (5 batches in ``_encode_plus``)."""
        own = kwargs.keys() <= _OWN_ARGUMENTS and not kwargs.get("is_split_into_words")
        strings = _strings_of_batch(batch_text_or_text_pairs, None) if own else None
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
    ) -> BatchEncoding:
        """Encode texts (and their pairs) with the engine, then let transformers truncate, add special tokens and
        pad: it gets marker ids ``base + k`` for the ``k``-th token of the call, mapped back to ids and offsets."""
        if split_special_tokens:
            raise ValueError("split_special_tokens=True is not supported: ERNIE-M keeps special tokens typed in a "
                             "text whole")
        n = len(texts)

        def name_of(k: int) -> str:
            name, index = ("text", k) if k < n else ("text_pair", k - n)
            return f"{name}[{index}]" if batched else name

        encoded = self._added.encode_texts(texts + (pairs or []), with_offsets=return_offsets_mapping,
                                           name_of=name_of)
        base = self._added.size  # above every id transformers may insert
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


def build_engine(sentencepiece_model_ckpt: Optional[str], vocab_file: Optional[str], do_lower_case: bool,
                 encoding: str, special_tokens: Dict[str, Any], sp_model_kwargs: Optional[Dict[str, Any]],
                 compat: str) -> TokenizerEngine:
    """The engine of a tokenizer's arguments (see :class:`ErnieMTokenizer`); ``ValueError`` naming a bad one."""
    for name, path, required in ((SENTENCEPIECE_MODEL_FILE, sentencepiece_model_ckpt, True),
                                 (VOCAB_FILE, vocab_file, False)):
        if (path is None and required) or (path is not None and not os.path.isfile(path)):
            where = "the directory has none" if path is None else f"{path} not found"
            raise ValueError(f"ErnieMTokenizer needs {name}: {where}")  # an OSError, transformers rewords
    if not isinstance(encoding, str) or encoding.replace("-", "").lower() != "utf8":
        raise ValueError(f"encoding {encoding!r} is not supported (vocab.txt is read as UTF-8)")
    return TokenizerEngine(vocab_file, sentencepiece_model_ckpt, do_lower_case, compat,
                           special_tokens={role: str(token) for role, token in special_tokens.items()},
                           sp_model_kwargs=sp_model_kwargs)


def decode_tokens(engine: TokenizerEngine, tokens: List[str], plain_added: Any, spaces_between_special_tokens: bool,
                  clean_up_tokenization_spaces: bool) -> str:
    """Text of tokens: the engine's, except that the added tokens in ``plain_added`` stand as typed, apart from the
    text around them by a space (``spaces_between_special_tokens``), as transformers' slow tokenizers do."""
    parts: List[str] = []
    run: List[str] = []
    for token in [*tokens, None]:
        if token is None or token in plain_added:
            text = engine.tokens_to_text(run, clean_up_tokenization_spaces=False) if run else ""
            parts.extend([text] if text else [])
            parts.extend([token] if token is not None else [])
            run = []
        else:
            run.append(token)
    text = (" " if spaces_between_special_tokens else "").join(parts)
    return clean_up_spaces(text) if clean_up_tokenization_spaces else text


def save_vocabulary(engine: TokenizerEngine, save_directory: str, filename_prefix: Optional[str]) -> Tuple[str, str]:
    """Write the engine's ``sentencepiece.bpe.model`` and ``vocab.txt`` into ``save_directory``."""
    prefix = f"{filename_prefix}-" if filename_prefix else ""
    model = os.path.join(save_directory, prefix + SENTENCEPIECE_MODEL_FILE)
    vocab = os.path.join(save_directory, prefix + VOCAB_FILE)
    with open(model, "wb") as f:
        f.write(engine.sp_model_proto)
    with open(vocab, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(engine.tokens) + "\n")
    return model, vocab


#: The keywords ``_encode_strings`` takes; a call with any other goes to transformers' own encoding.
_OWN_ARGUMENTS = frozenset(list(inspect.signature(ErnieMTokenizer._encode_strings).parameters)[4:])


class _AddedTokens:
    """What encoding needs to know of the added tokens (the special tokens among them): their ids, the size of the
    vocabulary with them, and how to cut a text around them before the engine tokenizes the rest.

    Args:
        engine: the tokenizer's engine (it keeps its own special tokens whole already).
        added_vocab: token -> id of transformers' added tokens.
        special_tokens: the tokenizer's special tokens (transformers before 4.34 keeps those of the vocabulary
            out of ``added_vocab``).
        extra_special_tokens: its ``additional_special_tokens``.
    """

    def __init__(self, engine: TokenizerEngine, added_vocab: Dict[str, int], special_tokens: Sequence[str],
                 extra_special_tokens: Sequence[str]):
        self.engine = engine
        self.ids = dict(added_vocab)
        for token in special_tokens:
            if token not in self.ids and token in engine.vocab:
                self.ids[token] = engine.vocab[token]
        self.size = max([len(engine.tokens)] + [i + 1 for i in self.ids.values()])
        #: what ``decode`` sets apart with spaces, as transformers 4 does: the added tokens that are not special,
        #: and the additional special tokens outside the vocabulary
        self.plain = frozenset(added_vocab) - frozenset(special_tokens) | frozenset(
            t for t in extra_special_tokens if added_vocab.get(t, -1) >= len(engine.tokens))
        own = set(engine.special_ids.values())
        whole = sorted(self.ids, key=len, reverse=True)
        self.pattern = None
        if set(whole) - own:  # lower-casing tokenizers match the added tokens that are not special in any case
            specials = frozenset(special_tokens)
            self.pattern = re.compile("|".join(
                re.escape(t) if t in specials or not engine.do_lower_case else f"(?i:{re.escape(t)})"
                for t in whole))
            if engine.do_lower_case:  # the match's spelling differs from the token's: look it up lower-cased
                self.ids.update({t.lower(): i for t, i in list(self.ids.items()) if t not in specials})

    def encode_texts(self, texts: List[str], with_tokens: bool = False, with_offsets: bool = False,
                     name_of: Callable[[int], str] = lambda k: "text"):
        """``engine.encode_texts`` with the added tokens kept whole (their ids, themselves, their spans)."""
        if self.pattern is None:  # only the engine's own special tokens
            return self.engine.encode_texts(texts, with_tokens, with_offsets, name_of)
        layouts, inputs, owners = [], [], []
        for k, text in enumerate(texts):
            layout, position = [], 0
            for match in self.pattern.finditer(text):
                layout.append((position, match.start(), None))
                layout.append((match.start(), match.end(), match.group()))
                position = match.end()
            layout.append((position, len(text), None))
            for start, end, token in layout:
                if token is None:
                    inputs.append(text[start:end])
                    owners.append(k)
            layouts.append(layout)
        encoded = iter(self.engine.encode_texts(inputs, with_tokens, with_offsets, lambda i: name_of(owners[i])))
        results = []
        for layout in layouts:
            ids: List[int] = []
            tokens: Optional[List[str]] = [] if with_tokens else None
            offsets: Optional[List[Tuple[int, int]]] = [] if with_offsets else None
            for start, end, token in layout:
                if token is None:
                    part_ids, part_tokens, part_offsets = next(encoded)
                    ids.extend(part_ids)
                    if with_tokens:
                        tokens.extend(part_tokens)
                    if with_offsets:
                        offsets.extend([(s + start, e + start) for s, e in part_offsets])
                    continue
                ids.append(self.ids[token] if token in self.ids else self.ids[token.lower()])
                if with_tokens:
                    tokens.append(token if token in self.ids else token.lower())
                if with_offsets:
                    offsets.append((start, end))
            results.append((ids, tokens, offsets))
        return results


def _extra_special_tokens(tokenizer: Any) -> List[str]:
    """``additional_special_tokens`` (transformers 4) or ``extra_special_tokens`` (5) of a tokenizer."""
    extra = getattr(tokenizer, "additional_special_tokens", None)
    if extra is None:
        extra = getattr(tokenizer, "_extra_special_tokens", [])
    return [str(t) for t in extra]


def plain_added_tokens(tokenizer: Any) -> frozenset:
    """The added tokens ``decode`` sets apart with spaces (see :class:`_AddedTokens`)."""
    return _AddedTokens(tokenizer._engine, tokenizer.get_added_vocab(), tokenizer.all_special_tokens,
                        _extra_special_tokens(tokenizer)).plain


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
