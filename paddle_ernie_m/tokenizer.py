"""ERNIE-M tokenizer: PaddleNLP's tokenization by default, transformers' on request, with character offsets.

ERNIE-M tokenizes with a SentencePiece BPE model (``sentencepiece.bpe.model``) and looks the resulting tokens up in
``vocab.txt`` (one token a line, the line number is the id; unknown tokens get ``[UNK]``). Between the two steps
every piece is re-split: each CJK ideograph (U+4E00-U+9FFF) and each of ``,;:.?!~，；：。？！《》【】`` becomes a
token of its own, digits are split from non-digits, and the ``▁`` word-boundary mark is dropped where it stands
alone. That last rule is where the two published implementations disagree (``compat``):

* ``"paddlenlp"`` (default): every stand-alone ``▁`` piece is dropped, as PaddleNLP 2.8.1 does. The released
  ERNIE-M and UIE-M checkpoints were trained this way.
* ``"transformers"``: a stand-alone ``▁`` is kept when it is not the first piece and the next piece does not start
  with ``▁``, as transformers 4.57's ``ErnieMTokenizer`` does (``x ★`` becomes ``▁x ▁ ★`` instead of ``▁x ★``).

Special tokens typed in the text (``[MASK]`` ...) are kept whole in both modes, and the whitespace around them is
stripped. ``tokenizer_config.json`` records the mode (``"compat"``), so a directory states which tokenization its
model was trained with; :func:`write_tokenizer_config` writes it for the converters.

Offsets (``return_offsets_mapping``) follow PaddleNLP: every text character is normalized on its own (full-width
ASCII U+FF01-U+FF5D to ASCII, anything else NFKC), whitespace is dropped, and each token (without its ``▁``) is
searched for from the end of the previous one. Where that search fails (PaddleNLP raises ``ValueError`` there:
decomposed accents or Hangul jamo that SentencePiece composes, ``Σ`` lower-cased differently, ...), the offsets of
the whole text come from SentencePiece's own normalization alignment instead. A token then maps to the shortest
span of original characters that normalizes to it (a ligature such as ``ﬁ`` that SentencePiece splits into ``f`` and
``i`` gives both tokens the same one-character span). Special tokens added by the tokenizer get ``(0, 0)``; a
stand-alone ``▁`` kept in transformers mode covers the whitespace before the next token.

Outputs differ from PaddleNLP's on purpose in two ways: ``attention_mask`` is returned by default (PaddleNLP returns
only ``input_ids``; pass ``return_attention_mask=False`` to get the same keys), and a truncation that cannot be done
(``max_length`` shorter than the special tokens, ``only_second`` with too short a second text) raises ``ValueError``
instead of logging an error and returning an over-long sequence. ``position_ids`` count from 0 like PaddleNLP's: the
model adds ``POSITION_OFFSET``.

This module imports only numpy and sentencepiece (Paddle only for ``return_tensors="pd"``).
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
import warnings
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import sentencepiece as spm

from .configuration import POSITION_OFFSET, ErnieMConfig
from .files import check_outside, write_atomic

# ------------------------------------------------------------------------------------------------ constants
CLS_TOKEN = "[CLS]"
PAD_TOKEN = "[PAD]"
SEP_TOKEN = "[SEP]"
UNK_TOKEN = "[UNK]"
MASK_TOKEN = "[MASK]"
#: Role -> token, in the names both ecosystems use in ``special_tokens_map.json`` and ``tokenizer_config.json``.
SPECIAL_TOKENS = {
    "cls_token": CLS_TOKEN,
    "pad_token": PAD_TOKEN,
    "sep_token": SEP_TOKEN,
    "unk_token": UNK_TOKEN,
    "mask_token": MASK_TOKEN,
}

VOCAB_FILE = "vocab.txt"
SENTENCEPIECE_MODEL_FILE = "sentencepiece.bpe.model"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"

COMPAT_MODES = ("paddlenlp", "transformers")
DEFAULT_COMPAT = "paddlenlp"

#: Longest input the published models accept: their position table minus the offset of the first position.
MODEL_MAX_LENGTH = ErnieMConfig().max_position_embeddings - POSITION_OFFSET

#: ``model_max_length`` values at or above this are the ecosystems' "no limit" placeholders (1e30).
_NO_LIMIT = 10**29

SPIECE_UNDERLINE = "\u2581"
_SPLIT_PUNCT = frozenset(",;:.?!~，；：。？！《》【】")
_CJK_RE = re.compile("[\u4e00-\u9fff]")
_SPECIAL_RE = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS.values(), key=len, reverse=True)))
_TRUNCATION = ("longest_first", "only_first", "only_second")
_PADDING = ("longest", "max_length")
_CACHE_LIMIT = 1 << 20
#: ``decode(clean_up_tokenization_spaces=True)`` replacements (both reference libraries use these).
_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


# ----------------------------------------------------------------------------------------- character rules
def _is_split_char(char: str) -> bool:
    """CJK ideographs and the punctuation PaddleNLP turns into single tokens."""
    return "\u4e00" <= char <= "\u9fff" or char in _SPLIT_PUNCT


def _is_whitespace(char: str) -> bool:
    """PaddleNLP's whitespace test, applied to a character's normalized form."""
    return char in (" ", "\t", "\n", "\r") or (len(char) == 1 and unicodedata.category(char) == "Zs")


def _search_form(code: int) -> str:
    """How PaddleNLP's offset search sees one character: full-width ASCII (not ``～``) halved, else NFKC;
    empty when that form is whitespace."""
    char = chr(code)
    form = chr(code - 0xFEE0) if 0xFF01 <= code <= 0xFF5D else unicodedata.normalize("NFKC", char)
    return "" if _is_whitespace(form) else form


def _search_length(code: int) -> str:
    """The length of ``_search_form(code)``, as a character (for a ``str.translate`` table)."""
    return chr(len(_search_form(code)))


def _split_piece(piece: str) -> Tuple[Tuple[int, int], ...]:
    """Spans of the tokens a SentencePiece piece is split into (see the module docstring)."""
    spans: List[Tuple[int, int]] = []
    last = 0
    for i, char in enumerate(piece):
        if char == SPIECE_UNDERLINE:
            continue
        if _is_split_char(char):
            if i > last and piece[last:i] != SPIECE_UNDERLINE:
                spans.append((last, i))
            spans.append((i, i + 1))
            last = i + 1
        elif i > 0 and char.isdigit() != piece[i - 1].isdigit():
            if i > last and piece[last:i] != SPIECE_UNDERLINE:
                spans.append((last, i))
            last = i
    if len(piece) > last:
        spans.append((last, len(piece)))
    return tuple(spans)


def _lower(text: str) -> str:
    """Lower-case character by character, as both reference tokenizers do (no final-sigma rule)."""
    return "".join(c.lower() for c in text) if "\u03a3" in text else text.lower()


class _CharTable(dict):
    """``str.translate`` table filled on first use of each character."""

    def __init__(self, rule):
        super().__init__()
        self._rule = rule

    def __missing__(self, code: int) -> str:
        value = self[code] = self._rule(code)
        return value


# --------------------------------------------------------------------------------------------- the output
class BatchEncoding(dict):
    """The tokenizer's output: a dict (``input_ids``, ``attention_mask``, ...) whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _Piece:
    """What one SentencePiece piece becomes: its tokens, their ids, their text without the leading ``▁`` (what the
    offset search looks for) and their spans inside the piece."""

    __slots__ = ("tokens", "ids", "search", "spans")

    def __init__(self, piece: str, vocab: Dict[str, int], unk_id: int):
        body = piece[1:] if piece[:1] == SPIECE_UNDERLINE else piece
        if body.isalpha() and not _CJK_RE.search(body):  # letters only: nothing to split (most pieces)
            self.spans, self.tokens, self.search = ((0, len(piece)),), (piece,), (body,)
        else:
            self.spans = () if piece == SPIECE_UNDERLINE else _split_piece(piece)
            self.tokens = tuple([piece[s:e] for s, e in self.spans])
            self.search = tuple([t[1:] if t[:1] == SPIECE_UNDERLINE else t for t in self.tokens])
        self.ids = tuple([vocab.get(t, unk_id) for t in self.tokens])


class _PieceCache(dict):
    """piece -> :class:`_Piece`, filled on first use (and emptied when it grows past ``_CACHE_LIMIT``)."""

    def __init__(self, vocab: Dict[str, int], unk_id: int):
        super().__init__()
        self._vocab, self._unk_id = vocab, unk_id

    def __missing__(self, piece: str) -> _Piece:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        entry = self[piece] = _Piece(piece, self._vocab, self._unk_id)
        return entry


_IDS, _TOKENS, _SEARCH = attrgetter("ids"), attrgetter("tokens"), attrgetter("search")


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
        if compat not in COMPAT_MODES:
            raise ValueError(f"compat must be one of {', '.join(map(repr, COMPAT_MODES))}, got {compat!r}")
        if not isinstance(do_lower_case, bool):
            raise ValueError(f"do_lower_case must be a bool, got {do_lower_case!r}")
        if not isinstance(model_max_length, int) or isinstance(model_max_length, bool) or model_max_length < 4:
            raise ValueError(f"model_max_length must be an integer >= 4, got {model_max_length!r}")
        self.compat = compat
        self.do_lower_case = do_lower_case
        self.model_max_length = model_max_length
        self.vocab_file = Path(vocab_file)
        self.sentencepiece_model_file = Path(sentencepiece_model_file)

        self._tokens = _read_vocab(self.vocab_file)
        self._vocab = {token: i for i, token in enumerate(self._tokens)}
        self._sp_model_proto = _read_bytes(self.sentencepiece_model_file)
        self._load_sp()
        self._check_files_match()

        self.unk_token_id = self._vocab[UNK_TOKEN]
        self.cls_token_id = self._vocab[CLS_TOKEN]
        self.sep_token_id = self._vocab[SEP_TOKEN]
        self.pad_token_id = self._vocab[PAD_TOKEN]
        self.mask_token_id = self._vocab[MASK_TOKEN]
        self._special_ids = {self._vocab[t]: t for t in SPECIAL_TOKENS.values()}
        self._underline_id = self._vocab.get(SPIECE_UNDERLINE, self.unk_token_id)
        self._warned_too_long = False
        self._init_caches()

    def _init_caches(self) -> None:
        self._pieces = _PieceCache(self._vocab, self.unk_token_id)
        self._search_table = _CharTable(_search_form)
        self._length_table = _CharTable(_search_length)
        self._vanishes: Dict[str, bool] = {}

    # ------------------------------------------------------------------------------------ construction
    def _load_sp(self) -> None:
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self._sp_model_proto)
        except (RuntimeError, OSError) as exc:
            raise ValueError(f"{self.sentencepiece_model_file}: not a SentencePiece model ({exc})") from None

    def _check_files_match(self) -> None:
        missing_special = [t for t in SPECIAL_TOKENS.values() if t not in self._vocab]
        if missing_special:
            raise ValueError(f"{self.vocab_file}: special tokens {', '.join(missing_special)} are missing")
        sp = self._sp
        missing = [
            sp.id_to_piece(i)
            for i in range(sp.get_piece_size())
            if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)) and sp.id_to_piece(i) not in self._vocab
        ]
        if missing:
            examples = ", ".join(repr(p) for p in missing[:5])
            raise ValueError(
                f"{self.vocab_file} does not match {self.sentencepiece_model_file}: {len(missing)} of "
                f"{sp.get_piece_size()} SentencePiece pieces are not in the vocabulary (e.g. {examples})"
            )

    def __getstate__(self) -> Dict[str, Any]:
        caches = ("_sp", "_pieces", "_search_table", "_length_table", "_vanishes")
        return {k: v for k, v in self.__dict__.items() if k not in caches}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._load_sp()
        self._init_caches()

    @classmethod
    def from_pretrained(cls, directory: Union[str, os.PathLike], **overrides: Any) -> "ErnieMTokenizer":
        """Load a tokenizer directory written by this project, PaddleNLP or transformers.

        ``tokenizer_config.json`` is optional; ``compat``, ``do_lower_case`` and ``model_max_length`` passed here
        override it. A directory that does not state ``compat`` gets the PaddleNLP tokenization.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"tokenizer directory not found: {directory}")
        settings = read_tokenizer_config(directory)
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
        _refuse_overwrite(directory, names, force)
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
        _refuse_overwrite(directory, names, force)
        vocab = write_atomic(directory / names[0], ("\n".join(self._tokens) + "\n").encode("utf-8"))
        model = write_atomic(directory / names[1], self._sp_model_proto)
        return vocab, model

    # ------------------------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        """Number of ids (lines of ``vocab.txt``); the model's embedding table has this many rows."""
        return len(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def get_vocab(self) -> Dict[str, int]:
        return dict(self._vocab)

    @property
    def all_special_ids(self) -> List[int]:
        return sorted(self._special_ids)

    def convert_tokens_to_ids(self, tokens: Union[str, Iterable[str]]) -> Union[int, List[int]]:
        """Ids of tokens; unknown tokens get ``[UNK]``'s id."""
        if isinstance(tokens, str):
            return self._vocab.get(tokens, self.unk_token_id)
        get, unk = self._vocab.get, self.unk_token_id
        return [get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: Union[int, Iterable[int]],
                              skip_special_tokens: bool = False) -> Union[str, List[str]]:
        if isinstance(ids, (int, np.integer)):
            return self._token(int(ids))
        return [self._token(int(i)) for i in _as_id_list(ids) if not (skip_special_tokens and i in self._special_ids)]

    def _token(self, index: int) -> str:
        if not 0 <= index < len(self._tokens):
            raise ValueError(f"token id {index} is outside the vocabulary (0..{len(self._tokens) - 1})")
        return self._tokens[index]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        return "".join(tokens).replace(SPIECE_UNDERLINE, " ").strip()

    def decode(self, ids: Any, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: Optional[bool] = None) -> str:
        """Text of a sequence of ids. ``clean_up_tokenization_spaces`` defaults to PaddleNLP's ``True`` or to
        transformers' ``False`` according to ``compat``."""
        text = self.convert_tokens_to_string(self.convert_ids_to_tokens(_as_id_list(ids), skip_special_tokens))
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.compat == "paddlenlp"
        if clean_up_tokenization_spaces:
            for before, after in _CLEAN_UP:
                text = text.replace(before, after)
        return text

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
        """1 where ``build_inputs_with_special_tokens`` puts a special token (or, for a sequence that already has
        them, where ``[CLS]`` or ``[SEP]`` stands), else 0."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 must be None when already_has_special_tokens is True")
            marks = (self.cls_token_id, self.sep_token_id)
            return [1 if i in marks else 0 for i in token_ids_0]
        if token_ids_1 is None:
            return [1] + [0] * len(token_ids_0) + [1]
        return [1] + [0] * len(token_ids_0) + [1, 1] + [0] * len(token_ids_1) + [1]

    def create_token_type_ids_from_sequences(self, token_ids_0: List[int],
                                             token_ids_1: Optional[List[int]] = None) -> List[int]:
        """Token types as both reference tokenizers compute them (ERNIE-M itself has no token type embedding):
        0 up to the first ``[SEP]``, then 1."""
        if token_ids_1 is None:
            return [0] * (len(token_ids_0) + 2)
        return [0] * (len(token_ids_0) + 1) + [1] * (len(token_ids_1) + 3)

    # ------------------------------------------------------------------------------------ tokenizing
    def tokenize(self, text: str) -> List[str]:
        """Tokens of a text, without the special tokens that encoding adds."""
        _check_text(text, "text")
        return self._encode_texts([text], with_tokens=True)[0][1]

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)``."""
        _check_text(text, "text")
        return self._encode_texts([text], with_offsets=True)[0][2]

    def _segments(self, text: str) -> List[Tuple[int, int, Optional[str]]]:
        """``(start, end, special)`` parts of a text: special tokens typed in it, and the text around them with
        its surrounding whitespace stripped (``special`` None)."""
        if "[" not in text or not _SPECIAL_RE.search(text):
            return [(0, len(text), None)]
        parts: List[Tuple[int, int, Optional[str]]] = []
        position = 0
        for match in _SPECIAL_RE.finditer(text):
            parts.append((position, match.start(), None))
            parts.append((match.start(), match.end(), match.group()))
            position = match.end()
        parts.append((position, len(text), None))
        segments = []
        for k, (start, end, special) in enumerate(parts):
            if special is None:
                if k > 0:  # right of a special token
                    start = end - len(text[start:end].lstrip())
                if k + 1 < len(parts):  # left of a special token
                    end = start + len(text[start:end].rstrip())
                if end <= start:
                    continue
            segments.append((start, end, special))
        return segments

    def _encode_texts(self, texts: Sequence[str], with_tokens: bool = False, with_offsets: bool = False,
                      name_of: Callable[[int], str] = lambda k: "text",
                      ) -> List[Tuple[List[int], Optional[List[str]], Optional[List[Tuple[int, int]]]]]:
        """``(ids, tokens, offsets)`` of each text (tokens and offsets None unless asked for); ``name_of(k)``
        names text ``k`` in errors."""
        segmented = [self._segments(t) for t in texts]
        inputs = []
        for text, segments in zip(texts, segmented):
            for start, end, special in segments:
                if special is None:
                    part = text[start:end] if end - start < len(text) else text
                    inputs.append(_lower(part) if self.do_lower_case else part)
        try:
            pieces = self._sp.encode(inputs, out_type=str, num_threads=1) if inputs else []
        except (TypeError, UnicodeError):  # SentencePiece cannot take lone surrogates
            for k, text in enumerate(texts):
                _check_surrogates(text, name_of(k))
            raise
        hf = self.compat == "transformers"
        lookup = self._pieces.__getitem__
        results = []
        searches, all_pieces = [], []
        next_input = 0
        plain = not (with_tokens or with_offsets)
        for text, segments in zip(texts, segmented):
            if plain and len(segments) == 1 and segments[0][2] is None:  # ids of one plain segment (most calls)
                segment_pieces = pieces[next_input]
                next_input += 1
                if not (hf and SPIECE_UNDERLINE in segment_pieces):
                    results.append((list(chain.from_iterable(map(_IDS, map(lookup, segment_pieces)))), None, None))
                    continue
                next_input -= 1
            ids: List[int] = []
            tokens: Optional[List[str]] = [] if with_tokens else None
            search: Optional[List[str]] = [] if with_offsets else None
            text_pieces = []
            for _, _, special in segments:
                if special is not None:
                    ids.append(self._vocab[special])
                    if tokens is not None:
                        tokens.append(special)
                    if search is not None:
                        search.append(special)
                    text_pieces.append(None)
                    continue
                segment_pieces = pieces[next_input]
                next_input += 1
                text_pieces.append(segment_pieces)
                entries = list(map(lookup, segment_pieces))
                if hf and SPIECE_UNDERLINE in segment_pieces:
                    self._keep_underlines(segment_pieces, entries, ids, tokens, search)
                    continue
                ids.extend(chain.from_iterable(map(_IDS, entries)))
                if tokens is not None:
                    tokens.extend(chain.from_iterable(map(_TOKENS, entries)))
                if search is not None:
                    search.extend(chain.from_iterable(map(_SEARCH, entries)))
            results.append((ids, tokens, None))
            searches.append(search)
            all_pieces.append(text_pieces)
        if with_offsets:
            found = self._search_offsets(texts, searches)
            for k, offsets in enumerate(found):
                if offsets is None:
                    offsets = self._aligned_offsets(texts[k], segmented[k], all_pieces[k])
                if hf and "" in searches[k]:
                    _place_underlines(searches[k], offsets)
                results[k] = (results[k][0], results[k][1], offsets)
        return results

    def _keep_underlines(self, pieces: List[str], entries: List[_Piece], ids: List[int],
                         tokens: Optional[List[str]], search: Optional[List[str]]) -> None:
        """Append a segment's tokens, keeping each stand-alone ``▁`` that transformers keeps."""
        last = len(pieces) - 1
        for k, (piece, entry) in enumerate(zip(pieces, entries)):
            if piece == SPIECE_UNDERLINE:
                if 0 < k < last and not pieces[k + 1].startswith(SPIECE_UNDERLINE):
                    ids.append(self._underline_id)
                    if tokens is not None:
                        tokens.append(SPIECE_UNDERLINE)
                    if search is not None:
                        search.append("")
                continue
            ids.extend(entry.ids)
            if tokens is not None:
                tokens.extend(entry.tokens)
            if search is not None:
                search.extend(entry.search)

    # ------------------------------------------------------------------------------------ offsets
    def _search_offsets(self, texts: Sequence[str], searches: List[List[str]]
                        ) -> List[Optional[List[Tuple[int, int]]]]:
        """PaddleNLP's offsets of each text, None where PaddleNLP fails to find a token.

        ``searches`` holds each text's tokens without their leading ``▁`` (empty for a stand-alone ``▁`` kept in
        transformers mode, placed later by ``_place_underlines``). PaddleNLP normalizes each character on its own,
        drops whitespace, and looks for each token from the end of the previous one. Where the tokens tile the
        normalized text exactly (almost always), every search finds its token right there: those texts are done
        together with a few array operations; the others run the search.
        """
        if self.do_lower_case:  # the lower-cased text may change length: one text at a time
            return [self._search_one(text, search) for text, search in zip(texts, searches)]
        whole = "".join(texts)
        normalized = whole.translate(self._search_table)
        lengths = np.frombuffer(whole.translate(self._length_table).encode("latin-1"), dtype=np.uint8)
        char_of = np.repeat(np.arange(len(whole), dtype=np.int64), lengths)
        text_starts = np.cumsum([0] + [len(t) for t in texts])
        norm_starts = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))[text_starts].tolist()
        text_starts = text_starts.tolist()
        results: List[Optional[List[Tuple[int, int]]]] = [None] * len(texts)
        tiled, token_lengths, shifts, counts = [], [], [], []
        consumed = 0
        for k, search in enumerate(searches):
            if not search:
                results[k] = []
            elif "".join(search) == normalized[norm_starts[k]:norm_starts[k + 1]]:
                tiled.append(k)
                token_lengths.extend(map(len, search))
                shifts.append(norm_starts[k] - consumed)
                counts.append(len(search))
                consumed += norm_starts[k + 1] - norm_starts[k]
            else:
                results[k] = self._search_one(texts[k], search)
        if tiled:
            lens = np.array(token_lengths, dtype=np.int64)
            ends = np.cumsum(lens) + np.repeat(np.array(shifts, dtype=np.int64), counts)
            origin = np.repeat(np.array([text_starts[k] for k in tiled], dtype=np.int64), counts)
            begin = (char_of[np.minimum(ends - lens, len(char_of) - 1)] - origin).tolist()
            end = (char_of[np.maximum(ends - 1, 0)] + 1 - origin).tolist()
            position = 0
            for k, n in zip(tiled, counts):
                results[k] = list(zip(begin[position:position + n], end[position:position + n]))
                position += n
        return results

    def _search_one(self, text: str, search: List[str]) -> Optional[List[Tuple[int, int]]]:
        """PaddleNLP's search for one text (see ``_search_offsets``)."""
        if not search:
            return []
        normalized = text.translate(self._search_table)
        if self.do_lower_case:
            normalized = normalized.lower()
        lengths = np.frombuffer(text.translate(self._length_table).encode("latin-1"), dtype=np.uint8)
        char_of = np.repeat(np.arange(len(text), dtype=np.int64), lengths)
        starts, lasts = [], []
        position = 0
        find = normalized.find
        for token in search:
            if not token:  # a kept stand-alone "▁"
                starts.append(position)
                lasts.append(position)
                continue
            start = find(token, position)
            if start < 0:
                return None
            position = start + len(token)
            starts.append(start)
            lasts.append(position - 1)
        try:
            begin = char_of[np.array(starts)].tolist()
            end = (char_of[np.array(lasts)] + 1).tolist()
        except IndexError:
            return None
        return list(zip(begin, end))

    def _aligned_offsets(self, text: str, segments, text_pieces) -> List[Tuple[int, int]]:
        """Offsets from SentencePiece's normalization alignment (used where PaddleNLP's search fails)."""
        hf = self.compat == "transformers"
        offsets: List[Tuple[int, int]] = []
        for (start, end, special), pieces in zip(segments, text_pieces):
            if special is not None:
                offsets.append((start, end))
                continue
            original = text[start:end]
            # index in `original` of each character of the string given to SentencePiece (lower-casing may grow it)
            if self.do_lower_case:
                source = [i for i, c in enumerate(original) for _ in _lower(c)]
                processed = _lower(original)
            else:
                source = list(range(len(original)))
                processed = original
            source.append(len(original))
            normalized_bytes, byte_offsets = self._sp.normalize(processed.encode("utf-8"), with_offsets=True)
            char_at_byte = [i for i, c in enumerate(processed) for _ in c.encode("utf-8")]
            char_at_byte.append(len(processed))
            # original index of each normalized character, plus one past the end
            origin = []
            position = 0
            for c in normalized_bytes.decode("utf-8"):
                origin.append(start + source[char_at_byte[byte_offsets[position]]])
                position += len(c.encode("utf-8"))
            origin.append(start + source[char_at_byte[byte_offsets[position]]])
            position = 0
            for k, piece in enumerate(pieces):
                if piece == SPIECE_UNDERLINE:
                    if hf and 0 < k < len(pieces) - 1 and not pieces[k + 1].startswith(SPIECE_UNDERLINE):
                        offsets.append((0, 0))  # set by _place_underlines
                else:
                    for s, e in self._pieces[piece].spans:
                        s += piece[s] == SPIECE_UNDERLINE
                        offsets.append(self._span(text, origin[position + s], origin[position + e]))
                position += len(piece)
        return offsets

    def _span(self, text: str, begin: int, end: int) -> Tuple[int, int]:
        """``(begin, end)`` shrunk to drop trailing characters that normalize to nothing, and at least one wide."""
        while end > begin + 1 and self._vanishing(text[end - 1]):
            end -= 1
        return begin, max(end, begin + 1)

    def _vanishing(self, char: str) -> bool:
        value = self._vanishes.get(char)
        if value is None:
            value = self._vanishes[char] = char.isspace() or not self._sp.normalize(char)
        return value

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
        batched = isinstance(text, (list, tuple))
        texts = _check_batch(text, "text") if batched else [_check_text(text, "text")]
        pairs = None
        if text_pair is not None:
            if batched != isinstance(text_pair, (list, tuple)):
                raise TypeError("text and text_pair must both be strings or both be lists of strings")
            pairs = _check_batch(text_pair, "text_pair") if batched else [_check_text(text_pair, "text_pair")]
            if len(pairs) != len(texts):
                raise ValueError(f"text has {len(texts)} items but text_pair has {len(pairs)}")
        if return_tensors not in (None, "np", "pd"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pd', got {return_tensors!r}")
        padding, truncation, max_length = self._strategies(padding, truncation, max_length, pad_to_max_seq_len)
        if truncation == "only_second" and pairs is None:
            raise ValueError("truncation='only_second' needs text pairs (text_pair)")

        n = len(texts)

        def name_of(k: int) -> str:
            name, index = ("text", k) if k < n else ("text_pair", k - n)
            return f"{name}[{index}]" if batched else name

        encoded = self._encode_texts(texts + (pairs or []), with_offsets=return_offsets_mapping, name_of=name_of)
        budget = max_length - (2 if pairs is None else 4)
        sequences, special_masks, offset_maps = [], [], []
        for k in range(n):
            ids_0, _, offsets_0 = encoded[k]
            ids_1, _, offsets_1 = encoded[n + k] if pairs is not None else (None, None, None)
            if truncation and len(ids_0) + (len(ids_1) if ids_1 is not None else 0) > budget:
                keep_0, keep_1 = _truncated_lengths(len(ids_0), None if ids_1 is None else len(ids_1),
                                                    budget, truncation, k)
                ids_0, offsets_0 = ids_0[:keep_0], offsets_0 and offsets_0[:keep_0]
                if ids_1 is not None:
                    ids_1, offsets_1 = ids_1[:keep_1], offsets_1 and offsets_1[:keep_1]
            sequences.append(self.build_inputs_with_special_tokens(ids_0, ids_1))
            if return_special_tokens_mask:
                special_masks.append(self.get_special_tokens_mask(ids_0, ids_1))
            if return_offsets_mapping:
                offset_maps.append([(0, 0), *offsets_0, (0, 0)] if offsets_1 is None
                                   else [(0, 0), *offsets_0, (0, 0), (0, 0), *offsets_1, (0, 0)])
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
def _check_text(text: Any, name: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def _check_surrogates(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} contains a lone surrogate {text[exc.start]!r} at position {exc.start}") from None


def _check_batch(texts: Sequence[Any], name: str) -> List[str]:
    return [_check_text(t, f"{name}[{k}]") for k, t in enumerate(texts)]


def _place_underlines(search: List[str], offsets: List[Tuple[int, int]]) -> None:
    """Give each stand-alone ``▁`` kept in transformers mode (an empty ``search`` string) the whitespace between the
    previous token and the next."""
    previous_end = 0
    for k, token in enumerate(search):
        if not token:
            offsets[k] = (previous_end, max(previous_end, offsets[k + 1][0]))
        else:
            previous_end = offsets[k][1]


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


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"file not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None


def _read_vocab(path: Path) -> List[str]:
    """``vocab.txt`` tokens (lines, newline stripped), read as both reference libraries read it."""
    try:
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        raise FileNotFoundError(f"vocabulary file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    if not tokens:
        raise ValueError(f"{path}: the vocabulary is empty")
    return tokens


def _refuse_overwrite(directory: Path, names: Iterable[str], force: bool) -> None:
    if force:
        return
    existing = [name for name in names if (directory / name).exists()]
    if existing:
        raise FileExistsError(f"{directory}: {', '.join(existing)} already exist (pass force=True to overwrite)")


def _json_bytes(data: Dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ------------------------------------------------------------------------------------ tokenizer_config.json
def write_tokenizer_config(
    directory: Union[str, os.PathLike],
    compat: str = DEFAULT_COMPAT,
    do_lower_case: bool = False,
    model_max_length: int = MODEL_MAX_LENGTH,
    force: bool = False,
) -> Tuple[Path, Path]:
    """Write ``tokenizer_config.json`` and ``special_tokens_map.json`` into an existing directory.

    The config names ``ErnieMTokenizer`` (so PaddleNLP's and transformers' ``from_pretrained`` and ``AutoTokenizer``
    load it) and records ``compat``: the tokenization the directory's model was trained with.
    """
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {', '.join(map(repr, COMPAT_MODES))}, got {compat!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"directory not found: {directory}")
    _refuse_overwrite(directory, (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE), force)
    config = {
        "tokenizer_class": "ErnieMTokenizer",
        "compat": compat,
        "do_lower_case": bool(do_lower_case),
        "model_max_length": int(model_max_length),
        **SPECIAL_TOKENS,
    }
    return (
        write_atomic(directory / TOKENIZER_CONFIG_FILE, _json_bytes(config)),
        write_atomic(directory / SPECIAL_TOKENS_MAP_FILE, _json_bytes(dict(SPECIAL_TOKENS))),
    )


def read_tokenizer_config(directory: Union[str, os.PathLike]) -> Dict[str, Any]:
    """``compat``, ``do_lower_case`` and ``model_max_length`` of a tokenizer directory (any ecosystem's files;
    defaults where absent). Raises ``ValueError`` naming the file and key of a value this tokenizer cannot honour."""
    directory = Path(directory)
    settings: Dict[str, Any] = {"compat": DEFAULT_COMPAT, "do_lower_case": False, "model_max_length": MODEL_MAX_LENGTH}
    for name in (SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE):
        path = directory / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a readable JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object")
        for role, token in SPECIAL_TOKENS.items():
            value = data.get(role)
            if isinstance(value, dict):  # transformers' serialized AddedToken
                value = value.get("content")
            if value is not None and value != token:
                raise ValueError(f"{path}: {role} is {value!r}; ERNIE-M uses {token!r}")
        if name != TOKENIZER_CONFIG_FILE:
            continue
        cls = data.get("tokenizer_class", data.get("init_class"))
        if cls is not None and cls != "ErnieMTokenizer":
            raise ValueError(f"{path}: tokenizer_class is {cls!r}, not 'ErnieMTokenizer'")
        if "compat" in data:
            if data["compat"] not in COMPAT_MODES:
                raise ValueError(f"{path}: compat is {data['compat']!r}; known: {', '.join(COMPAT_MODES)}")
            settings["compat"] = data["compat"]
        if "do_lower_case" in data:
            if not isinstance(data["do_lower_case"], bool):
                raise ValueError(f"{path}: do_lower_case must be true or false")
            settings["do_lower_case"] = data["do_lower_case"]
        limit = data.get("model_max_length")
        if limit is not None:
            if isinstance(limit, float) and limit.is_integer():
                limit = int(limit)
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 4:
                raise ValueError(f"{path}: model_max_length must be an integer >= 4, got {limit!r}")
            if limit < _NO_LIMIT:
                settings["model_max_length"] = limit
        if data.get("encoding", "utf8").replace("-", "").lower() != "utf8":
            raise ValueError(f"{path}: encoding {data['encoding']!r} is not supported (vocab.txt is read as UTF-8)")
    return settings
