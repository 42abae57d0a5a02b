"""Fast ERNIE-M tokenizer for transformers 4 and 5: the engine's tokens inside a ``tokenizers`` backend.

A ``tokenizer.json`` cannot reproduce PaddleNLP's ids (pieces that mix digits and punctuation are cut after
SentencePiece chose them, and stand-alone ``▁`` pieces are dropped), so the backend is built when the tokenizer
loads: a ``WordLevel`` vocabulary, the template ``[CLS] A [SEP] [SEP] B [SEP]``, and a Python pre-tokenizer that
runs ``tokenization_ernie_m_engine.py`` on each stretch of text between added tokens and hands ``tokenizers`` the
finished tokens with their spans. Ids and offsets are the slow tokenizer's (``tokenization_ernie_m.py``) in both
``compat`` modes; ``is_fast`` is True, so pipelines get offsets and word-level aggregation. The backend cannot be
serialized: ``save_pretrained`` writes the vocabulary files and ``tokenizer_config.json``, no ``tokenizer.json``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

from tokenizers import Token, Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from .tokenization_ernie_m import CONSTRUCTOR_COMPAT, ErnieMTokenizer, build_engine, decode_tokens, plain_added_tokens, save_vocabulary
from .tokenization_ernie_m_engine import (
    ADDED_TOKENS_FILE,
    CLS_TOKEN,
    MASK_TOKEN,
    MODEL_INPUT_NAMES,
    MODEL_MAX_LENGTH,
    NO_LIMIT,
    PAD_TOKEN,
    SEP_TOKEN,
    UNK_TOKEN,
    TokenizerEngine,
)

# transformers 4.x copies into its module cache only the sibling files that this one imports itself.
from .tokenization_ernie_m_offsets import OffsetFinder  # noqa: F401


class EnginePreTokenizer:
    """``tokenizers`` pre-tokenizer (``PreTokenizer.custom``) that tokenizes each split with the engine: every token
    becomes a split of its own span, already tokenized (the ``WordLevel`` model is left nothing to do)."""

    def __init__(self, engine: TokenizerEngine) -> None:
        self.engine = engine

    def pre_tokenize(self, pretok) -> None:
        groups: List[List[Tuple[int, str, int]]] = []  # per split: (id, token, byte length of its span or 0)

        def split(_, normalized):
            ids, tokens, offsets = self.engine.encode_texts([str(normalized)], with_tokens=True,
                                                            with_offsets=True)[0]
            pieces = []
            for token_id, token, (start, end) in zip(ids, tokens, offsets):
                if end > start or not groups or not pieces:  # an empty span joins the token before it
                    piece = normalized[start:end]
                    pieces.append(piece)
                    groups.append([(token_id, token, len(str(piece).encode("utf-8")))])
                else:
                    groups[-1].append((token_id, token, 0))
            return pieces

        pretok.split(split)
        remaining = iter(groups)

        def tokenize(_text: str) -> List[Token]:
            group = next(remaining)
            width = group[0][2]
            return [Token(token_id, token, (0, width) if k == 0 else (width, width))
                    for k, (token_id, token, _) in enumerate(group)]

        pretok.tokenize(tokenize)


class ErnieMTokenizerFast(PreTrainedTokenizerFast):
    """Fast ERNIE-M tokenizer: the arguments of :class:`ErnieMTokenizer` (transformers 4's), the same ids and
    offsets, transformers' fast-tokenizer machinery (``is_fast``, ``word_ids``, offsets in pipelines)."""

    vocab_files_names = ErnieMTokenizer.vocab_files_names
    model_input_names = list(MODEL_INPUT_NAMES)
    slow_tokenizer_class = ErnieMTokenizer

    def __init__(self, sentencepiece_model_ckpt: Optional[str] = None, vocab_file: Optional[str] = None,
                 do_lower_case: bool = False, encoding: str = "utf8", unk_token: Any = UNK_TOKEN,
                 sep_token: Any = SEP_TOKEN, pad_token: Any = PAD_TOKEN, cls_token: Any = CLS_TOKEN,
                 mask_token: Any = MASK_TOKEN, sp_model_kwargs: Optional[Dict[str, Any]] = None,
                 compat: str = CONSTRUCTOR_COMPAT, clean_up_tokenization_spaces: Optional[bool] = None,
                 **kwargs: Any) -> None:
        for ignored in ("tokenizer_file", "tokenizer_object", "from_slow"):
            kwargs.pop(ignored, None)
        specials = dict(unk_token=unk_token, sep_token=sep_token, pad_token=pad_token, cls_token=cls_token,
                        mask_token=mask_token)
        sentencepiece_model_ckpt = sentencepiece_model_ckpt or kwargs.pop("sentencepiece_model_file", None)
        self._engine = build_engine(sentencepiece_model_ckpt, vocab_file, do_lower_case, encoding, specials, sp_model_kwargs, compat)
        backend = Tokenizer(models.WordLevel(self._engine.vocab, unk_token=self._engine.special_tokens["unk_token"]))
        backend.post_processor = self._template()  # a placeholder: transformers 5 builds its own where none is set
        limit = kwargs.get("model_max_length")
        if limit is None or limit >= NO_LIMIT:
            kwargs["model_max_length"] = MODEL_MAX_LENGTH
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = compat == "paddlenlp"
        super().__init__(tokenizer_object=backend, sentencepiece_model_ckpt=sentencepiece_model_ckpt,
                         vocab_file=vocab_file, do_lower_case=do_lower_case, compat=compat, encoding=encoding,
                         sp_model_kwargs=self._engine.sp_model_kwargs,
                         clean_up_tokenization_spaces=clean_up_tokenization_spaces, **specials, **kwargs)
        # attached after transformers has copied the backend (a Python component cannot be copied or saved)
        self._tokenizer.pre_tokenizer = pre_tokenizers.PreTokenizer.custom(EnginePreTokenizer(self._engine))
        self.update_post_processor()

    def _template(self, cls_id: Optional[int] = None, sep_id: Optional[int] = None):
        cls, sep = self._engine.special_tokens["cls_token"], self._engine.special_tokens["sep_token"]
        cls_id = self._engine.vocab.get(cls, 0) if cls_id is None else cls_id
        sep_id = self._engine.vocab.get(sep, 0) if sep_id is None else sep_id
        return processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:1 {sep}:1 $B:1 {sep}:1",
            special_tokens=[(cls, cls_id), (sep, sep_id)] if cls != sep else [(cls, cls_id)])

    def update_post_processor(self) -> None:
        """``[CLS] A [SEP]`` / ``[CLS] A [SEP] [SEP] B [SEP]`` with the current special tokens' ids (token types as
        the slow tokenizer's: 0 up to the first ``[SEP]``, then 1)."""
        self._tokenizer.post_processor = self._template(self.cls_token_id, self.sep_token_id)

    @property
    def compat(self) -> str:
        return self._engine.compat

    @property
    def do_lower_case(self) -> bool:
        return self._engine.do_lower_case

    @property
    def sp_model_kwargs(self) -> Dict[str, Any]:
        return self._engine.sp_model_kwargs

    @property
    def can_save_slow_tokenizer(self) -> bool:
        return True

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)`` (as PaddleNLP's)."""
        return self(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]

    def _decode(self, token_ids, skip_special_tokens: bool = False,
                clean_up_tokenization_spaces: Optional[bool] = None, spaces_between_special_tokens: bool = True,
                **kwargs: Any) -> str:
        """The slow tokenizer's text of ids."""
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        tokens = self.convert_ids_to_tokens(token_ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return decode_tokens(self._engine, tokens, plain_added_tokens(self), spaces_between_special_tokens,
                             clean_up_tokenization_spaces)

    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str, str]:
        return save_vocabulary(self._engine, save_directory, filename_prefix)

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        """The vocabulary files and ``added_tokens.json`` (as a slow tokenizer saves them: transformers 5 keeps a
        fast tokenizer's added tokens in ``tokenizer.json`` only); no ``tokenizer.json``."""
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        added = {token: i for token, i in self.get_added_vocab().items() if i >= self.vocab_size}
        written = []
        if added:
            path = os.path.join(os.fspath(save_directory), prefix + ADDED_TOKENS_FILE)
            with open(path, "w", encoding="utf-8") as f:
                f.write(json.dumps(added, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
            written.append(path)
        return tuple(file_names) + tuple(written) + self.save_vocabulary(os.fspath(save_directory), filename_prefix)

    def __getstate__(self) -> Dict[str, Any]:
        """Picklable (``copy.deepcopy``, ``datasets.map``): the backend travels without its Python pre-tokenizer."""
        state = self.__dict__.copy()
        pre_tokenizer, self._tokenizer.pre_tokenizer = self._tokenizer.pre_tokenizer, None
        try:
            state["_tokenizer"] = self._tokenizer.to_str()
        finally:
            self._tokenizer.pre_tokenizer = pre_tokenizer
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tokenizer = Tokenizer.from_str(state["_tokenizer"])
        self._tokenizer.pre_tokenizer = pre_tokenizers.PreTokenizer.custom(EnginePreTokenizer(self._engine))


ErnieMTokenizerFast.register_for_auto_class("AutoTokenizer")
