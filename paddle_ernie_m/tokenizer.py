"""ERNIE-M tokenizer: PaddleNLP's tokenization by default, transformers' on request, with character offsets.

The tokenization rules (normalization, splitting, SentencePiece pieces, the stand-alone ``▁`` rule of each
``compat`` mode, special and added tokens kept whole) live in ``ernie_m_tokenizer/tokenization_ernie_m_engine.py``,
the engine that is also copied next to converted transformers weights, and its character offsets in
``tokenization_ernie_m_offsets.py`` next to it; their docstrings state them. In short:

* ``"paddlenlp"`` (default): every stand-alone ``▁`` piece is dropped, as PaddleNLP 2.8.1 does. The released
  ERNIE-M and UIE-M checkpoints were trained this way.
* ``"transformers"``: a stand-alone ``▁`` is kept when it is not the first piece and the next piece does not start
  with ``▁``, as transformers 4.57's ``ErnieMTokenizer`` does (``x ★`` becomes ``▁x ▁ ★`` instead of ``▁x ★``).

This module gives the engine PaddleNLP's call (``__call__``, ``encode``, ``batch_encode`` and their keywords), numpy
or Paddle outputs and the files of a tokenizer directory; the rest of PaddleNLP's ``PretrainedTokenizer`` surface
(special-token attributes, added tokens, ``init_kwargs``, class attributes) is in ``tokenizer_paddlenlp.py``.
``tokenizer_config.json`` records the mode (``"compat"``), so a directory states which tokenization its model was
trained with; ``converters.tokenizer_files`` reads and writes it.

Outputs differ from PaddleNLP's on purpose in a few places (docs/tokenizer.md lists them): a truncation that cannot
be done raises ``ValueError`` instead of logging an error and returning an over-long sequence, and
``model_max_length`` defaults to 512 rather than "no limit".
``position_ids`` count from 0 like PaddleNLP's: the model adds ``POSITION_OFFSET``.

This module imports only numpy and sentencepiece (Paddle only for ``return_tensors="pd"``).
"""
from __future__ import annotations

import json
import os
from itertools import chain
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ernie_m_tokenizer.tokenization_ernie_m_engine import (
    DEFAULT_COMPAT,
    MODEL_MAX_LENGTH,
    NO_LIMIT,
    SENTENCEPIECE_MODEL_FILE,
    SPECIAL_TOKENS,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILE,
    TokenizerEngine,
    check_compat,
    check_text,
    read_vocab,
)

from converters.checkpoint import tokenizer_settings
from converters.files import check_outside, write_atomic
from converters.tokenizer_files import (
    ADDED_TOKENS_FILE,
    read_added_tokens,
    read_tokenizer_extras,
    refuse_overwrite,
    write_added_tokens,
    write_tokenizer_config,
)

from .tokenizer_paddlenlp import PaddleNLPTokenizerAPI, encoding_options

#: What one input may be: a text, its words (``is_split_into_words``), its tokens, or its ids.
TextInput = Union[str, Sequence[str], Sequence[int]]


# --------------------------------------------------------------------------------------------- the output
class BatchEncoding(dict):
    """The tokenizer's output: a dict (``input_ids``, ``attention_mask``, ...) whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# ------------------------------------------------------------------------------------------ the tokenizer
class ErnieMTokenizer(PaddleNLPTokenizerAPI):
    """ERNIE-M tokenizer reading ``vocab.txt`` and ``sentencepiece.bpe.model``, with PaddleNLP's constructor.

    Args:
        vocab_file: one token a line; the line number is the id. Must hold the unknown token and every piece of the
            SentencePiece model. A special token it lacks has the unknown token's id, as in PaddleNLP, until
            ``sanitize_special_tokens()`` adds it after the vocabulary (``from_pretrained`` does, as PaddleNLP's).
        sentencepiece_model_file: the SentencePiece BPE model.
        do_lower_case: lower-case the text (special tokens excepted) before tokenizing.
        encoding: the vocabulary's encoding; only UTF-8 is read (PaddleNLP's keyword).
        unk_token, sep_token, pad_token, cls_token, mask_token: the special tokens as the vocabulary spells them.
        compat: ``"paddlenlp"`` (default) or ``"transformers"``: which implementation's tokens to reproduce.
        model_max_length: the longest sequence the model accepts; the default length for truncation and
            ``padding="max_length"``.
        kwargs: PaddleNLP's other tokenizer settings (``padding_side``, ``truncation_side``, ``model_input_names``,
            ``additional_special_tokens``, ...), kept in ``init_kwargs`` and written back by ``save_pretrained``, as
            PaddleNLP keeps them.
    """

    def __init__(
        self,
        vocab_file: Union[str, os.PathLike],
        sentencepiece_model_file: Union[str, os.PathLike],
        do_lower_case: bool = False,
        encoding: str = "utf8",
        unk_token: str = SPECIAL_TOKENS["unk_token"],
        sep_token: str = SPECIAL_TOKENS["sep_token"],
        pad_token: str = SPECIAL_TOKENS["pad_token"],
        cls_token: str = SPECIAL_TOKENS["cls_token"],
        mask_token: str = SPECIAL_TOKENS["mask_token"],
        compat: str = DEFAULT_COMPAT,
        model_max_length: int = MODEL_MAX_LENGTH,
        **kwargs: Any,
    ) -> None:
        check_compat(compat)
        if isinstance(model_max_length, float) and model_max_length.is_integer():
            model_max_length = int(model_max_length)
        if not isinstance(model_max_length, int) or isinstance(model_max_length, bool) or model_max_length < 4:
            raise ValueError(f"model_max_length must be an integer >= 4, got {model_max_length!r}")
        if model_max_length >= NO_LIMIT:
            model_max_length = MODEL_MAX_LENGTH
        if not isinstance(encoding, str) or encoding.replace("-", "").lower() != "utf8":
            raise ValueError(f"encoding {encoding!r} is not supported (vocab.txt is read as UTF-8)")
        special = {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token, "cls_token": cls_token,
                   "mask_token": mask_token}
        self._engine = TokenizerEngine(vocab_file, sentencepiece_model_file, do_lower_case, compat,
                                       special_tokens={k: str(v) for k, v in special.items()})
        self.model_max_length = model_max_length
        self.vocab_file = Path(vocab_file)
        self.sentencepiece_model_file = Path(sentencepiece_model_file)
        self._init_paddlenlp_api(dict(vocab_file=os.fspath(vocab_file),
                                      sentencepiece_model_file=os.fspath(sentencepiece_model_file),
                                      do_lower_case=do_lower_case, encoding=encoding, **special, compat=compat,
                                      model_max_length=model_max_length, **kwargs))

    @property
    def compat(self) -> str:
        return self._engine.compat

    @property
    def do_lower_case(self) -> bool:
        return self._engine.do_lower_case

    @classmethod
    def from_pretrained(cls, directory: Union[str, os.PathLike], *args: Any, **overrides: Any) -> "ErnieMTokenizer":
        """Load a tokenizer directory written by this project, PaddleNLP or transformers.

        ``tokenizer_config.json`` is optional; keywords passed here override it (PaddleNLP's, such as
        ``padding_side="left"`` or ``unk_token="<unk>"``, included). A directory that does not state ``compat`` gets
        the tokenization of its checkpoint's layout: transformers' beside transformers-layout weights, else
        PaddleNLP's (:func:`converters.checkpoint.tokenizer_settings`). ``added_tokens.json`` is read as PaddleNLP
        reads it: each token's id must be the next one; then the special tokens the vocabulary lacks are added after
        them (PaddleNLP's ``sanitize_special_tokens``).
        """
        if args:
            raise TypeError("from_pretrained takes the directory and keyword arguments only")
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"tokenizer directory not found: {directory}")
        settings = tokenizer_settings(directory)
        settings.update(settings.pop("special_tokens"))
        settings.update(read_tokenizer_extras(directory))
        settings.update(overrides)
        if "unk_token" not in overrides:
            _check_stated_unk_token(directory, settings["unk_token"])
        tokenizer = cls(directory / VOCAB_FILE, directory / SENTENCEPIECE_MODEL_FILE, **settings)
        tokenizer.name_or_path = os.fspath(directory)
        for token, index in read_added_tokens(directory).items():
            if tokenizer.get_added_vocab().get(token) == index:  # an additional special token, added already
                continue
            if index != len(tokenizer):
                raise ValueError(f"{directory / ADDED_TOKENS_FILE}: added token {token!r} has id {index}, but the "
                                 f"next id is {len(tokenizer)} (added tokens follow the vocabulary)")
            tokenizer.add_tokens([token], special_tokens=token in tokenizer.all_special_tokens)
        tokenizer.sanitize_special_tokens()
        return tokenizer

    def save_pretrained(self, directory: Union[str, os.PathLike], filename_prefix: Optional[str] = None,
                        force: bool = False, **kwargs: Any) -> Tuple[Path, ...]:
        """Write ``vocab.txt``, ``sentencepiece.bpe.model``, ``tokenizer_config.json``, ``special_tokens_map.json``
        and, with added tokens, ``added_tokens.json`` (readable by PaddleNLP's and transformers'
        ``from_pretrained``). Refused where it would overwrite the files this tokenizer was built from; other
        existing files need ``force=True``."""
        if filename_prefix:
            raise ValueError("filename_prefix is not supported by save_pretrained (from_pretrained reads plain names)")
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(f"{directory} is a file, not a directory")
        names = (VOCAB_FILE, SENTENCEPIECE_MODEL_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE,
                 ADDED_TOKENS_FILE)
        refuse_overwrite(directory, names, force)
        directory.mkdir(parents=True, exist_ok=True)
        paths = self.save_vocabulary(directory, force=True)
        paths += write_tokenizer_config(directory, self.compat, self.do_lower_case, self.model_max_length, force=True,
                                        model_input_names=self.model_input_names,
                                        special_tokens=self._engine.special_tokens, extra=self._saved_settings())
        added = write_added_tokens(directory, self.get_added_vocab(), force=True)
        return paths + ((added,) if added else ())

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
        """Number of lines of ``vocab.txt`` (added tokens not counted; ``len(tokenizer)`` counts them)."""
        return len(self._engine.tokens)

    def __len__(self) -> int:
        return len(self._engine)

    def get_vocab(self) -> Dict[str, int]:
        """Token -> id of the vocabulary and the added tokens."""
        return {**self._engine.vocab, **self._engine.added_tokens}

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str], None]) -> Union[int, List[int], None]:
        """Ids of tokens; unknown tokens get the unknown token's id."""
        if tokens is None:
            return None
        if isinstance(tokens, str):
            return self._engine.token_id(tokens)
        return [self._engine.token_id(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]],
                              skip_special_tokens: bool = False) -> Union[str, List[str]]:
        token = self._engine.token
        if isinstance(ids, (int, np.integer)):
            return token(int(ids))
        special = set(self.all_special_ids) if skip_special_tokens else ()
        return [token(i) for i in _as_id_list(ids) if i not in special]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces=False)

    def decode(self, ids: Any, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: Optional[bool] = None, **kwargs: Any) -> str:
        """Text of a sequence of ids. ``clean_up_tokenization_spaces`` defaults to PaddleNLP's ``True`` or to
        transformers' ``False`` according to ``compat``. Added tokens are separated by spaces, as in PaddleNLP."""
        tokens = self.convert_ids_to_tokens(_as_id_list(ids), skip_special_tokens)
        added = self._engine.added_tokens
        if not added:
            return self._engine.tokens_to_text(tokens, clean_up_tokenization_spaces)
        parts, run = [], []
        for token in tokens:  # PaddleNLP decodes the runs between added tokens separately and joins with spaces
            if token in added:
                if run:
                    parts.append(self._engine.tokens_to_text(run, clean_up_tokenization_spaces))
                    run = []
                parts.append(token)
            else:
                run.append(token)
        if run:
            parts.append(self._engine.tokens_to_text(run, clean_up_tokenization_spaces))
        return " ".join(parts)

    # ------------------------------------------------------------------------------------ special tokens
    def build_inputs_with_special_tokens(self, token_ids_0: List[int],
                                         token_ids_1: Optional[List[int]] = None) -> List[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] [SEP] B [SEP]``."""
        return self._engine.build_inputs_with_special_tokens(token_ids_0, token_ids_1)

    def build_offset_mapping_with_special_tokens(self, offset_mapping_0: List[Tuple[int, int]],
                                                 offset_mapping_1: Optional[List[Tuple[int, int]]] = None
                                                 ) -> List[Tuple[int, int]]:
        """Offsets laid out as ``build_inputs_with_special_tokens`` lays out ids; ``(0, 0)`` for special tokens."""
        if offset_mapping_1 is None:
            return [(0, 0), *offset_mapping_0, (0, 0)]
        return [(0, 0), *offset_mapping_0, (0, 0), (0, 0), *offset_mapping_1, (0, 0)]

    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]:
        """1 where ``build_inputs_with_special_tokens`` puts a special token (or, for a sequence that already has
        them, where ``[CLS]`` or ``[SEP]`` stands), else 0."""
        return self._engine.get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0: List[int],
                                             token_ids_1: Optional[List[int]] = None) -> List[int]:
        """Token types as both reference tokenizers compute them (ERNIE-M has no token type embedding)."""
        return self._engine.create_token_type_ids_from_sequences(token_ids_0, token_ids_1)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """2 for a single text, 4 for a pair."""
        return 4 if pair else 2

    # ------------------------------------------------------------------------------------ tokenizing
    def tokenize(self, text: str, **kwargs: Any) -> List[str]:
        """Tokens of a text, without the special tokens that encoding adds (special and added tokens typed in the
        text are kept whole)."""
        return self._engine.tokenize(text)

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)``."""
        return self._engine.get_offset_mapping(text)

    # ------------------------------------------------------------------------------------ encoding
    def __call__(self, text: Union[TextInput, Sequence[TextInput]],
                 text_pair: Optional[Union[TextInput, Sequence[TextInput]]] = None, **kwargs: Any) -> BatchEncoding:
        """Encode a text, a pair of texts, or batches (lists) of either, with PaddleNLP's keywords.

        Args:
            text, text_pair: a string each, or two lists of the same length (with ``is_split_into_words=True``, a
                list of words each, or lists of such lists).
            max_length: the longest output; ``max_seq_len`` is PaddleNLP's name for it. Given alone (no
                ``truncation``, no ``padding``), it truncates ``"longest_first"``, as in both reference libraries.
            truncation: ``True``/``"longest_first"`` (drop tokens from the longer text of a pair, the second on a
                tie), ``"only_first"``, ``"only_second"``, or ``False`` (PaddleNLP's ``truncation_strategy=`` too).
                Without ``max_length`` it truncates to ``model_max_length``. ``truncation_side`` says which end.
            padding: ``True``/``"longest"`` (to the longest sequence of the batch) or ``"max_length"``.
                ``pad_to_max_seq_len=True`` is PaddleNLP's spelling: ``"max_length"`` when ``max_length`` is
                given, else ``"longest"``. ``pad_to_multiple_of`` rounds the width up; ``padding_side`` says which
                end.
            return_attention_mask, return_token_type_ids, return_position_ids: by default those of
                ``model_input_names`` (``["input_ids"]``: none, as PaddleNLP). Positions count 0, 1, ... (padding 0).
            return_special_tokens_mask: 1 for special tokens and padding.
            return_offsets_mapping: ``(start, end)`` character offsets in the text a token comes from; ``(0, 0)``
                for special tokens and padding.
            return_length: ``length`` and ``seq_len`` of each output.
            return_overflowing_tokens, stride: PaddleNLP's ``overflowing_tokens`` / ``num_truncated_tokens``; in a
                batch of pairs, ``stride > 0`` cuts the second text into windows (``overflow_to_sample``).
            add_special_tokens: ``False`` leaves out ``[CLS]`` and ``[SEP]``.
            return_tensors: ``None`` (lists), ``"np"`` (int64 arrays) or ``"pd"`` (Paddle tensors); arrays always
                have a batch axis.
        """
        options = encoding_options(self, kwargs)
        batched = (isinstance(text, (list, tuple)) and (not options["is_split_into_words"]
                                                         or (len(text) > 0 and isinstance(text[0], (list, tuple)))))
        if not batched:
            if isinstance(text_pair, (list, tuple)) and not options["is_split_into_words"]:
                raise TypeError("text and text_pair must both be strings or both be lists of strings")
            pair = None if text_pair is None else [_call_input(text_pair, options, "text_pair")]
            return self._encode_inputs([_call_input(text, options, "text")], pair, False, options)
        if text_pair is not None and not isinstance(text_pair, (list, tuple)):
            raise TypeError("text and text_pair must both be strings or both be lists of strings")
        if text_pair is not None and len(text_pair) != len(text):
            raise ValueError(f"text has {len(text)} items but text_pair has {len(text_pair)}")
        firsts = [_call_input(t, options, f"text[{k}]") for k, t in enumerate(text)]
        pairs = None if text_pair is None else [_call_input(t, options, f"text_pair[{k}]")
                                                for k, t in enumerate(text_pair)]
        return self._encode_inputs(firsts, pairs, True, options)

    def encode(self, text: TextInput, text_pair: Optional[TextInput] = None, **kwargs: Any) -> BatchEncoding:
        """One text (a string, a list of tokens, or ids) or pair, as PaddleNLP's ``encode``: a dict of lists (with
        ``return_tensors``, of arrays with a batch axis). Keywords as for ``__call__``."""
        options = encoding_options(self, kwargs)
        pair = None if text_pair is None else [_tokens_as_input(self, text_pair, options, "text_pair")]
        return self._encode_inputs([_tokens_as_input(self, text, options)], pair, False, options)

    encode_plus = encode

    def prepare_for_model(self, ids: Sequence[int], pair_ids: Optional[Sequence[int]] = None,
                          **kwargs: Any) -> BatchEncoding:
        """Ids (and a pair's) truncated, with special tokens, padded: ``encode`` of ids (PaddleNLP's name)."""
        return self.encode(list(ids), None if pair_ids is None else list(pair_ids), **kwargs)

    def batch_encode(self, batch_text_or_text_pairs: Sequence[Any], **kwargs: Any) -> BatchEncoding:
        """A batch of texts or of ``(text, text_pair)`` pairs, as PaddleNLP's ``batch_encode``. Keywords as for
        ``__call__``; ``return_dict=False`` gives one dict per output row."""
        options = encoding_options(self, kwargs)
        words = options["is_split_into_words"]
        firsts, seconds = [], []
        for k, item in enumerate(batch_text_or_text_pairs):
            name = f"batch_text_or_text_pairs[{k}]"
            if isinstance(item, (list, tuple)) and not (words and not isinstance(item[0], (list, tuple))):
                if len(item) != 2:
                    raise ValueError(f"{name} must be a text or a pair of 2 texts, got {len(item)} items")
                firsts.append(_tokens_as_input(self, item[0], options, f"{name}[0]"))
                seconds.append(_tokens_as_input(self, item[1], options, f"{name}[1]"))
            else:
                firsts.append(_tokens_as_input(self, item, options, name))
                seconds.append(None)
        if any(s is not None for s in seconds) and any(s is None for s in seconds):
            raise ValueError("batch_text_or_text_pairs mixes single texts and pairs")
        output = self._encode_inputs(firsts, None if seconds and seconds[0] is None else seconds, True, options)
        if options["return_dict"]:
            return output
        return [BatchEncoding({k: v[i] for k, v in output.items()}) for i in range(len(output["input_ids"]))]

    batch_encode_plus = batch_encode

    def _encode_inputs(self, firsts: List[Any], seconds: Optional[List[Any]], batched: bool,
                       options: Dict[str, Any]) -> BatchEncoding:
        """The output of encoded inputs (texts, word lists or id lists) under normalized ``options``."""
        n = len(firsts)

        def name_of(k: int) -> str:
            name, index = ("text", k) if k < n else ("text_pair", k - n)
            return f"{name}[{index}]" if batched else name

        windows = batched and seconds is not None and options["stride"] > 0
        if windows:  # PaddleNLP's windows always carry their offsets
            options = {**options, "return_offsets_mapping": True}
        encoded = self._encode_each(firsts + (seconds or []), options, name_of)
        if windows:
            rows = self._windows(encoded[:n], encoded[n:], options)
        else:
            rows = [self._row(encoded[k], encoded[n + k] if seconds is not None else None, k, options)
                    for k in range(n)]
        longest = max((len(r["input_ids"]) for r in rows), default=0)
        self._warn_if_too_long(longest, options)
        width = _pad_width(longest, options)
        output: Dict[str, list] = {}
        for row in rows:
            _pad_row(row, width, self.pad_token_id, self.pad_token_type_id, self.padding_side,
                     options["return_attention_mask"])
            if options["return_length"]:
                row["length"] = row["seq_len"] = len(row["input_ids"])
            for key, value in row.items():
                output.setdefault(key, []).append(value)
        if not rows:
            output = {"input_ids": []}
        return _finish(output, batched, options["return_tensors"])

    def _encode_each(self, inputs: List[Any], options: Dict[str, Any], name_of) -> List[tuple]:
        """``(ids, offsets)`` of each input: a text (offsets when asked for), a list of words (each word tokenized
        on its own), or ids."""
        offsets = options["return_offsets_mapping"]
        texts = [(k, t) for k, t in enumerate(inputs) if isinstance(t, str)]
        words = [(k, w) for k, t in enumerate(inputs) if isinstance(t, _Words) for w in t.words]
        found = self._engine.encode_texts([t for _, t in texts] + [w for _, w in words], with_offsets=offsets,
                                          name_of=lambda j: name_of(texts[j][0] if j < len(texts)
                                                                    else words[j - len(texts)][0]))
        results: List[tuple] = [None] * len(inputs)
        for (k, _), (ids, _, spans) in zip(texts, found):
            results[k] = (ids, spans)
        position = len(texts)
        for k, item in enumerate(inputs):
            if isinstance(item, _Words):
                pieces = found[position:position + len(item.words)]
                position += len(item.words)
                if offsets:
                    raise ValueError(f"{name_of(k)}: return_offsets_mapping needs texts, not words or ids")
                results[k] = (list(chain.from_iterable(p[0] for p in pieces)), None)
            elif not isinstance(item, str):
                if offsets:
                    raise ValueError(f"{name_of(k)}: return_offsets_mapping needs texts, not words or ids")
                results[k] = (item, None)
        return results

    def _row(self, first: tuple, second: Optional[tuple], index: int, options: Dict[str, Any]) -> Dict[str, list]:
        """One output row (unpadded): truncated, with its special tokens and the asked-for extras."""
        (ids_0, offsets_0), (ids_1, offsets_1) = first, second if second is not None else (None, None)
        if options["truncation"] == "only_second" and ids_1 is None:
            raise ValueError("truncation='only_second' needs text pairs (text_pair)")
        if options["return_overflowing_tokens"] and options["truncation"] == "longest_first" and ids_1 is not None:
            raise ValueError("Not possible to return overflowing tokens for pair of sequences with the "
                             "`longest_first`. Please select another truncation strategy than `longest_first`, "
                             "for instance `only_second` or `only_first`.")  # PaddleNLP's words
        special = options["add_special_tokens"]
        truncation, max_length, stride = options["truncation"], options["max_length"], options["stride"]
        row: Dict[str, list] = {}
        budget = max_length - (self.num_special_tokens_to_add(ids_1 is not None) if special else 0)
        total = len(ids_0) + (len(ids_1) if ids_1 is not None else 0)
        overflowing: List[int] = []
        if truncation and total > budget:
            keep_0, keep_1 = _truncated_lengths(len(ids_0), None if ids_1 is None else len(ids_1), budget,
                                                truncation, index)
            left = self.truncation_side == "left"
            if keep_0 < len(ids_0) and (ids_1 is None or truncation == "only_first"):
                overflowing = _window(ids_0, len(ids_0) - keep_0, stride, left)
            elif ids_1 is not None and keep_1 < len(ids_1) and truncation == "only_second":
                overflowing = _window(ids_1, len(ids_1) - keep_1, stride, left)
            ids_0, offsets_0 = _keep(ids_0, keep_0, left), offsets_0 and _keep(offsets_0, keep_0, left)
            if ids_1 is not None:
                ids_1, offsets_1 = _keep(ids_1, keep_1, left), offsets_1 and _keep(offsets_1, keep_1, left)
        if options["return_overflowing_tokens"]:
            row["overflowing_tokens"] = overflowing
            row["num_truncated_tokens"] = total + (self.num_special_tokens_to_add(ids_1 is not None)
                                                   if special else 0) - max_length
        self._fill_row(row, ids_0, ids_1, offsets_0, offsets_1, options)
        return row

    def _windows(self, firsts: List[tuple], seconds: List[tuple], options: Dict[str, Any]) -> List[Dict[str, list]]:
        """PaddleNLP's windows over the second text of each pair (``stride > 0`` in a batch): each holds the whole
        first text and up to ``max_length`` tokens of the second, the next window starting ``stride`` tokens (at
        most its length) later; ``overflow_to_sample`` names the pair."""
        special = options["add_special_tokens"]
        rows = []
        for k, ((ids_0, offsets_0), (ids_1, offsets_1)) in enumerate(zip(firsts, seconds)):
            room = options["max_length"] - len(ids_0) - (self.num_special_tokens_to_add(True) if special else 0)
            if room <= 0:
                raise ValueError(f"text[{k}] leaves no room for text_pair[{k}] within max_length "
                                 f"{options['max_length']}")
            offset = 0
            while True:
                length = min(len(ids_1) - offset, room)
                row: Dict[str, list] = {}
                self._fill_row(row, ids_0, ids_1[offset:offset + length], offsets_0,
                               offsets_1 and offsets_1[offset:offset + length], options)
                row["overflow_to_sample"] = k
                rows.append(row)
                if offset + length >= len(ids_1):
                    break
                offset += min(length, options["stride"])
        return rows

    def _fill_row(self, row: Dict[str, list], ids_0: List[int], ids_1: Optional[List[int]],
                  offsets_0: Optional[list], offsets_1: Optional[list], options: Dict[str, Any]) -> None:
        special = options["add_special_tokens"]
        if special:
            row["input_ids"] = self.build_inputs_with_special_tokens(ids_0, ids_1)
        else:
            row["input_ids"] = list(ids_0) + (list(ids_1) if ids_1 is not None else [])
        if options["return_token_type_ids"]:
            row["token_type_ids"] = (self.create_token_type_ids_from_sequences(ids_0, ids_1) if special
                                     else [0] * len(row["input_ids"]))
        if options["return_special_tokens_mask"]:
            row["special_tokens_mask"] = (self.get_special_tokens_mask(ids_0, ids_1) if special
                                          else [0] * len(row["input_ids"]))
        if options["return_offsets_mapping"]:
            if options["add_special_tokens"]:
                row["offset_mapping"] = self.build_offset_mapping_with_special_tokens(
                    offsets_0, None if ids_1 is None else offsets_1)
            else:
                row["offset_mapping"] = list(offsets_0) + (list(offsets_1) if ids_1 is not None else [])
        if options["return_position_ids"]:
            row["position_ids"] = list(range(len(row["input_ids"])))

    def pad(self, encoded_inputs: Any, padding: Union[bool, str] = True, max_length: Optional[int] = None,
            pad_to_multiple_of: Optional[int] = None, return_attention_mask: Optional[bool] = None,
            return_tensors: Optional[str] = None, verbose: bool = True) -> BatchEncoding:
        """Pad encoded inputs (one dict of lists, a dict of lists of lists, or a list of dicts) as PaddleNLP's
        ``pad`` does: ``input_ids`` with the padding id, the other keys with their padding values."""
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            encoded_inputs = {k: [row[k] for row in encoded_inputs] for k in encoded_inputs[0]}
        if "input_ids" not in encoded_inputs:
            raise ValueError("pad needs input_ids among the encoded inputs")
        ids = encoded_inputs["input_ids"]
        batched = bool(ids) and isinstance(ids[0], (list, tuple, np.ndarray))
        columns = encoded_inputs if batched else {k: [v] for k, v in encoded_inputs.items()}
        rows = [{k: list(v[i]) if isinstance(v[i], (list, tuple, np.ndarray)) else v[i] for k, v in columns.items()}
                for i in range(len(columns["input_ids"]))]
        options = encoding_options(self, {"padding": padding, "max_length": max_length,
                                          "pad_to_multiple_of": pad_to_multiple_of,
                                          "return_attention_mask": return_attention_mask})
        width = _pad_width(max((len(r["input_ids"]) for r in rows), default=0), options)
        output: Dict[str, list] = {}
        for row in rows:
            _pad_row(row, width, self.pad_token_id, self.pad_token_type_id, self.padding_side,
                     options["return_attention_mask"] or "attention_mask" in row)
            for key, value in row.items():
                output.setdefault(key, []).append(value)
        return _finish(output, batched, return_tensors)


# ------------------------------------------------------------------------------------------ helpers
class _Words:
    """An input given as words (``is_split_into_words=True``): each word is tokenized on its own."""

    __slots__ = ("words",)

    def __init__(self, words: Sequence[str], name: str):
        self.words = [check_text(w, f"{name}[{k}]") for k, w in enumerate(words)]


def _call_input(item: Any, options: Dict[str, Any], name: str) -> Union[str, _Words]:
    """A text (or, with ``is_split_into_words``, its words) of ``__call__``, checked."""
    if options["is_split_into_words"] and isinstance(item, (list, tuple)):
        return _Words(item, name)
    return check_text(item, name)


def _tokens_as_input(tokenizer: "ErnieMTokenizer", item: Any, options: Dict[str, Any],
                     name: str = "text") -> Union[str, _Words, List[int]]:
    """An input of ``encode`` / ``batch_encode`` as PaddleNLP reads it: a text, words (``is_split_into_words``),
    tokens (a list of strings otherwise) or ids (a list of integers)."""
    if isinstance(item, str):
        return item
    if isinstance(item, (list, tuple, np.ndarray)):
        items = list(item)
        if all(isinstance(t, str) for t in items):
            if options["is_split_into_words"]:
                return _Words(items, name)
            return tokenizer.convert_tokens_to_ids(items)
        if all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in items):
            return [int(t) for t in items]
    raise TypeError(f"{name} must be a str, a list of str (tokens or words) or a list of int ids, "
                    f"got {type(item).__name__}")


def _check_stated_unk_token(directory: Path, unk: str) -> None:
    """``ValueError`` naming the file that states an unknown token ``vocab.txt`` does not hold (the engine would
    only name ``vocab.txt``)."""
    if unk == SPECIAL_TOKENS["unk_token"] or unk in read_vocab(directory / VOCAB_FILE):
        return
    for name in (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE):
        path = directory / name
        if path.is_file() and "unk_token" in json.loads(path.read_text(encoding="utf-8")):
            raise ValueError(f"{path}: unk_token {unk!r} is not in {directory / VOCAB_FILE}")


def _keep(items: list, count: int, left: bool) -> list:
    """The ``count`` items that truncation keeps (the last ones when truncating from the left)."""
    return items[len(items) - count:] if left else items[:count]


def _window(ids: List[int], removed: int, stride: int, left: bool) -> List[int]:
    """PaddleNLP's ``overflowing_tokens``: the removed ids and ``stride`` more next to them."""
    size = min(len(ids), removed + stride)
    return ids[:size] if left else ids[len(ids) - size:]


def _pad_width(longest: int, options: Dict[str, Any]) -> Optional[int]:
    """The width rows are padded to (None: no padding), rounded up to ``pad_to_multiple_of``."""
    padding, multiple = options["padding"], options["pad_to_multiple_of"]
    width = options["max_length"] if padding == "max_length" else longest if padding == "longest" else None
    if width is not None and multiple and width % multiple:
        width += multiple - width % multiple
    return width


def _pad_row(row: Dict[str, list], width: Optional[int], pad_id: int, pad_type_id: int, side: str,
             attention: bool) -> None:
    """Pad one output row to ``width`` (None: not at all) on ``side``, as PaddleNLP pads each key; add the
    attention mask when asked for."""
    extra = max(0, width - len(row["input_ids"])) if width is not None else 0
    if attention and "attention_mask" not in row:
        row["attention_mask"] = [1] * len(row["input_ids"])
    if not extra:
        return
    values = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": pad_type_id, "special_tokens_mask": 1,
              "offset_mapping": (0, 0), "position_ids": 0}
    for key, value in values.items():
        if key in row:
            row[key] = [value] * extra + list(row[key]) if side == "left" else list(row[key]) + [value] * extra


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
