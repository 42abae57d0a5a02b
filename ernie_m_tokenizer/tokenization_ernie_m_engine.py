"""ERNIE-M tokenization engine: the rules both bundled tokenizers share (no framework, no project import).

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
stripped. So are added tokens (:meth:`TokenizerEngine.add_tokens`): they get the ids after the vocabulary, in the
order they were added, and are never split. With ``do_lower_case`` an added token that is not special is stored
lower-cased and matches the text whatever its case, as in PaddleNLP.

The special tokens default to ``[CLS]`` ``[PAD]`` ``[SEP]`` ``[UNK]`` ``[MASK]``; an engine can be told other spellings
(``special_tokens={"unk_token": "<unk>"}``). The unknown token must be in ``vocab.txt``; a special token that is not
has the unknown token's id until it is added (:meth:`TokenizerEngine.add_tokens`, as PaddleNLP's ``from_pretrained``
adds it), and is kept whole meanwhile.

Character offsets (``return_offsets_mapping``) follow PaddleNLP; their rules live in
``tokenization_ernie_m_offsets.py``.

:class:`TokenizerEngine` applies these rules; ``paddle_ernie_m.tokenizer.ErnieMTokenizer`` (Paddle and numpy
outputs) and the transformers tokenizer of ``tokenization_ernie_m.py`` (copied next to converted weights, with this
file) wrap it. This module imports only the standard library and the offsets module (sentencepiece when an engine
is built).
"""
from __future__ import annotations

import os
import re
from itertools import chain
from operator import attrgetter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .tokenization_ernie_m_offsets import SPIECE_UNDERLINE, OffsetFinder, place_underlines

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
#: Tokens added after the vocabulary (``{token: id}``), as both ecosystems save them.
ADDED_TOKENS_FILE = "added_tokens.json"

#: What a tokenizer returns by default, in both reference libraries: no attention mask, so that PaddleNLP's
#: default mask applies (``model_input_names`` in ``tokenizer_config.json`` says otherwise).
MODEL_INPUT_NAMES = ("input_ids",)

COMPAT_MODES = ("paddlenlp", "transformers")
DEFAULT_COMPAT = "paddlenlp"

#: Longest input the published models accept: 514 positions minus the offset 2 of the first position
#: (``converters.configuration`` states both; a test checks that they give this number).
MODEL_MAX_LENGTH = 512
#: ``model_max_length`` values at or above this are the ecosystems' "no limit" placeholders (1e30): read as
#: :data:`MODEL_MAX_LENGTH`.
NO_LIMIT = 10**29

# SPIECE_UNDERLINE, the word-boundary mark, is imported from the offsets module (which cannot import this one).
_SPLIT_PUNCT = frozenset(",;:.?!~，；：。？！《》【】")
_CJK_RE = re.compile("[\u4e00-\u9fff]")
#: The per-word piece cache empties when it holds this many words ...
_CACHE_LIMIT = 1 << 20
#: ... or when its entries take about this many bytes (:func:`_entry_bytes`): an unknown word comes back from
#: SentencePiece as a piece of its own, so a stream of distinct texts would otherwise fill it with long pieces.
_CACHE_BYTES = 64 << 20
#: texts per call from which SentencePiece's batch encoding is faster than one call a text
_BATCH_ENCODE_FROM = 100


def _entry_bytes(piece: str) -> int:
    """About what a cached piece takes (measured with tracemalloc: 500 bytes, and 4 per character)."""
    return 512 + 4 * len(piece)
#: ``decode(clean_up_tokenization_spaces=True)`` replacements (both reference libraries use these).
_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
             (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def check_compat(compat: Any) -> str:
    """``compat`` itself, or ``ValueError`` naming the known modes."""
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {', '.join(map(repr, COMPAT_MODES))}, got {compat!r}")
    return compat


# ----------------------------------------------------------------------------------------- character rules
def _is_split_char(char: str) -> bool:
    """CJK ideographs and the punctuation PaddleNLP turns into single tokens."""
    return "\u4e00" <= char <= "\u9fff" or char in _SPLIT_PUNCT


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
    """piece -> :class:`_Piece`, filled on first use (and emptied when it grows past ``_CACHE_LIMIT`` entries or
    about ``_CACHE_BYTES``)."""

    def __init__(self, vocab: Dict[str, int], unk_id: int):
        super().__init__()
        self._vocab, self._unk_id = vocab, unk_id
        self.bytes = 0

    def __missing__(self, piece: str) -> _Piece:
        size = _entry_bytes(piece)
        if len(self) >= _CACHE_LIMIT or self.bytes + size > _CACHE_BYTES:
            self.clear()
            self.bytes = 0
        entry = self[piece] = _Piece(piece, self._vocab, self._unk_id)
        self.bytes += size
        return entry


_IDS, _TOKENS, _SEARCH = attrgetter("ids"), attrgetter("tokens"), attrgetter("search")


# ------------------------------------------------------------------------------------------ the engine
class TokenizerEngine:
    """Tokens, ids and character offsets of texts under one ``compat`` mode (see the module docstring).

    Args:
        vocab_file: one token a line; the line number is the id. Must hold every piece of the SentencePiece
            model. None: the SentencePiece pieces in id order (as transformers' ``ErnieMTokenizer`` without one).
        sentencepiece_model_file: the SentencePiece BPE model.
        do_lower_case: lower-case the text (special tokens excepted) before tokenizing.
        compat: ``"paddlenlp"`` (default) or ``"transformers"``: which implementation's tokens to reproduce.
        special_tokens: role (``"unk_token"``, ...) -> token, for spellings other than :data:`SPECIAL_TOKENS`.
        sp_model_kwargs: ``SentencePieceProcessor`` settings, such as ``{"enable_sampling": True, "alpha": 0.1,
            "nbest_size": -1}`` (subword regularization: every encode samples a segmentation).
    """

    def __init__(self, vocab_file: Optional[Union[str, os.PathLike]],
                 sentencepiece_model_file: Union[str, os.PathLike], do_lower_case: bool = False,
                 compat: str = DEFAULT_COMPAT, special_tokens: Optional[Dict[str, str]] = None,
                 sp_model_kwargs: Optional[Dict[str, Any]] = None) -> None:
        check_compat(compat)
        if not isinstance(do_lower_case, bool):
            raise ValueError(f"do_lower_case must be a bool, got {do_lower_case!r}")
        self.compat = compat
        self.do_lower_case = do_lower_case
        self.sentencepiece_model_file = os.fspath(sentencepiece_model_file)
        self.sp_model_kwargs = dict(sp_model_kwargs or {})
        self.sp_model_proto = read_bytes(self.sentencepiece_model_file)
        self._load_sp()
        if vocab_file is None:  # the SentencePiece pieces in id order, as transformers' ErnieMTokenizer reads them
            self.vocab_file = None
            self.tokens = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
        else:
            self.vocab_file = os.fspath(vocab_file)
            self.tokens = read_vocab(self.vocab_file)
        self.vocab = {token: i for i, token in enumerate(self.tokens)}
        #: role -> token of the five special tokens
        self.special_tokens = _check_special_tokens(special_tokens)
        #: tokens added after the vocabulary -> their ids (see :meth:`add_tokens`)
        self.added_tokens: Dict[str, int] = {}
        #: tokens never split and stripped of the whitespace around them: the special and the added tokens
        self.no_split_tokens: Dict[str, bool] = {t: True for t in self.special_tokens.values()}  # token -> special
        self._check_files_match()
        self._underline_id = self.vocab.get(SPIECE_UNDERLINE, self.vocab[self.special_tokens["unk_token"]])
        self._set_special_ids()
        self._init_caches()

    def _set_special_ids(self) -> None:
        ids = {**self.vocab, **self.added_tokens}
        self.unk_token_id = ids[self.special_tokens["unk_token"]]
        self.cls_token_id = ids.get(self.special_tokens["cls_token"], self.unk_token_id)
        self.sep_token_id = ids.get(self.special_tokens["sep_token"], self.unk_token_id)
        self.pad_token_id = ids.get(self.special_tokens["pad_token"], self.unk_token_id)
        self.mask_token_id = ids.get(self.special_tokens["mask_token"], self.unk_token_id)
        #: id -> token of the five special tokens
        self.special_ids = {ids[t]: t for t in self.special_tokens.values() if t in ids}

    def _init_caches(self) -> None:
        self._ids = {**self.vocab, **self.added_tokens} if self.added_tokens else self.vocab
        self._no_split_re = _no_split_pattern(self.no_split_tokens, self.do_lower_case)
        self._no_split_starts = frozenset(t[:1] for t in self.no_split_tokens)
        if self.do_lower_case:
            self._no_split_starts |= {t[:1].upper() for t, special in self.no_split_tokens.items() if not special}
        self._pieces = _PieceCache(self._ids, self.unk_token_id)
        self._offsets = OffsetFinder(self._sp, self._pieces, _lower if self.do_lower_case else None,
                                     keep_underlines=self.compat == "transformers")

    def _load_sp(self) -> None:
        import sentencepiece as spm  # here, so that the converters read this module's constants without it

        self._sp = spm.SentencePieceProcessor(**self.sp_model_kwargs)  # sampling settings apply to every encode
        try:
            self._sp.LoadFromSerializedProto(self.sp_model_proto)
        except (RuntimeError, OSError) as exc:
            raise ValueError(f"{self.sentencepiece_model_file}: not a SentencePiece model ({exc})") from None

    def _check_files_match(self) -> None:
        unk = self.special_tokens["unk_token"]
        if unk not in self.vocab:
            raise ValueError(f"{self.vocab_file or self.sentencepiece_model_file}: the unknown token {unk!r} is not in "
                             "the vocabulary "
                             "(pass unk_token= with the vocabulary's spelling, e.g. '<unk>')")
        sp = self._sp
        missing = [
            sp.id_to_piece(i)
            for i in range(sp.get_piece_size())
            if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)) and sp.id_to_piece(i) not in self.vocab
        ]
        if missing:
            examples = ", ".join(repr(p) for p in missing[:5])
            raise ValueError(
                f"{self.vocab_file} does not match {self.sentencepiece_model_file}: {len(missing)} of "
                f"{sp.get_piece_size()} SentencePiece pieces are not in the vocabulary (e.g. {examples})"
            )

    def __getstate__(self) -> Dict[str, Any]:
        caches = ("_sp", "_pieces", "_offsets")
        return {k: v for k, v in self.__dict__.items() if k not in caches}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._load_sp()
        self._init_caches()

    # ------------------------------------------------------------------------------------ vocabulary
    def __len__(self) -> int:
        """Number of ids: the vocabulary and the added tokens."""
        return len(self.tokens) + len(self.added_tokens)

    def add_tokens(self, tokens: Sequence[str], special: bool = False) -> int:
        """Add tokens after the vocabulary (ids ``len(self)``, ``len(self) + 1``, ...) and never split them; return
        how many got a new id. As in PaddleNLP: a token already known (or an empty one) gets no new id, but a special
        one still becomes unsplittable; with ``do_lower_case`` a token that is not special is lower-cased first."""
        new = 0
        for token in tokens:
            check_text(token, "token")
            if not token:
                continue
            if not special and self.do_lower_case:
                token = _lower(token)
            if token not in self._ids and token not in self.added_tokens:
                self.added_tokens[token] = len(self)
                new += 1
            if special or token in self.added_tokens:
                self.no_split_tokens[token] = special or self.no_split_tokens.get(token, False)
        self._set_special_ids()
        self._init_caches()
        return new

    def set_special_token(self, role: str, token: str) -> None:
        """Make ``token`` the special token of ``role`` (``"pad_token"``, ...), kept whole. A token not yet known has
        the unknown token's id until :meth:`add_tokens` adds it. The token it replaces stays unsplittable."""
        self.special_tokens = _check_special_tokens({**self.special_tokens, role: token})
        self.no_split_tokens[token] = True
        self._set_special_ids()
        self._init_caches()

    def token(self, index: int) -> str:
        """The token of an id; ``ValueError`` outside the vocabulary and the added tokens."""
        if 0 <= index < len(self.tokens):
            return self.tokens[index]
        if self.added_tokens and len(self.tokens) <= index < len(self):
            return next(t for t, i in self.added_tokens.items() if i == index)
        raise ValueError(f"token id {index} is outside the vocabulary (0..{len(self) - 1})")

    def token_id(self, token: str) -> int:
        """The id of a token; ``[UNK]``'s id for an unknown one."""
        return self._ids.get(token, self.unk_token_id)

    def tokens_to_text(self, tokens: Sequence[str], clean_up_tokenization_spaces: Optional[bool] = None) -> str:
        """Text of tokens: ``▁`` becomes a space, the ends are stripped. The clean-up of spaces before punctuation
        defaults to PaddleNLP's ``True`` or to transformers' ``False`` according to ``compat``."""
        text = "".join(tokens).replace(SPIECE_UNDERLINE, " ").strip()
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.compat == "paddlenlp"
        return clean_up_spaces(text) if clean_up_tokenization_spaces else text

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
        check_text(text, "text")
        return self.encode_texts([text], with_tokens=True)[0][1]

    def get_offset_mapping(self, text: str) -> List[Tuple[int, int]]:
        """``(start, end)`` character offsets in ``text`` of each token of ``tokenize(text)``."""
        check_text(text, "text")
        return self.encode_texts([text], with_offsets=True)[0][2]

    def _segments(self, text: str) -> List[Tuple[int, int, Optional[str]]]:
        """``(start, end, special)`` parts of a text: special tokens typed in it, and the text around them with
        its surrounding whitespace stripped (``special`` None). Added tokens count as special tokens here; ``special``
        is the token as stored (lower-cased where ``do_lower_case`` matched it whatever its case)."""
        if not any(c in text for c in self._no_split_starts) or not self._no_split_re.search(text):
            return [(0, len(text), None)]
        parts: List[Tuple[int, int, Optional[str]]] = []
        position = 0
        for match in self._no_split_re.finditer(text):
            token = match.group()
            parts.append((position, match.start(), None))
            parts.append((match.start(), match.end(), token if token in self._ids else _lower(token)))
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

    def encode_texts(self, texts: Sequence[str], with_tokens: bool = False, with_offsets: bool = False,
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
            # SentencePiece's batch call costs a fixed ~0.3 ms: one text a call for few texts (and when sampling,
            # the random stream of transformers' tokenizer, which samples one text a call)
            if len(inputs) < _BATCH_ENCODE_FROM or self.sp_model_kwargs.get("enable_sampling"):
                pieces = [self._sp.encode(text, out_type=str) for text in inputs]
            else:
                pieces = self._sp.encode(inputs, out_type=str, num_threads=1)
        except (TypeError, UnicodeError, RuntimeError):  # SentencePiece cannot take lone surrogates
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
                    ids.append(self._ids[special])
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
            found = self._offsets.search(texts, searches)
            for k, offsets in enumerate(found):
                if offsets is None:
                    offsets = self._offsets.aligned(texts[k], segmented[k], all_pieces[k])
                if hf and "" in searches[k]:
                    place_underlines(searches[k], offsets)
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

# ------------------------------------------------------------------------------------------ helpers
def _check_special_tokens(special_tokens: Optional[Dict[str, str]]) -> Dict[str, str]:
    """:data:`SPECIAL_TOKENS` with the given spellings; ``ValueError`` naming an unknown role or a bad token."""
    tokens = dict(SPECIAL_TOKENS)
    for role, token in (special_tokens or {}).items():
        if role not in tokens:
            raise ValueError(f"unknown special token role {role!r}; known: {', '.join(tokens)}")
        if not isinstance(token, str) or not token or token != token.strip():
            raise ValueError(f"{role} must be a non-empty string without surrounding whitespace, got {token!r}")
        tokens[role] = token
    return tokens


def _no_split_pattern(tokens: Dict[str, bool], ignore_case: bool) -> "re.Pattern[str]":
    """A pattern matching any of ``tokens`` (token -> special), longest first; with ``ignore_case`` the tokens that
    are not special match whatever their case."""
    ordered = sorted(tokens, key=len, reverse=True)
    return re.compile("|".join(f"(?i:{re.escape(t)})" if ignore_case and not tokens[t] else re.escape(t)
                               for t in ordered))


def clean_up_spaces(text: str) -> str:
    """``text`` without the spaces before punctuation and contractions that both reference libraries remove
    (``decode(clean_up_tokenization_spaces=True)``)."""
    for before, after in _CLEAN_UP:
        text = text.replace(before, after)
    return text


def check_text(text: Any, name: str) -> str:
    """``text`` itself, or ``TypeError`` naming the argument."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def _check_surrogates(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name} contains a lone surrogate {text[exc.start]!r} at position {exc.start}") from None


def read_bytes(path: Union[str, os.PathLike]) -> bytes:
    """The bytes of a file; errors name it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"file not found: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None


def read_vocab(path: Union[str, os.PathLike]) -> List[str]:
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
