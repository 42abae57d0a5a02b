"""ERNIE-M character offsets: where each token of ``tokenization_ernie_m_engine`` lies in its text.

Offsets follow PaddleNLP: every text character is normalized on its own (full-width ASCII U+FF01-U+FF5D to ASCII,
anything else NFKC), whitespace is dropped, and each token (without its ``▁``) is searched for from the end of the
previous one. Where that search fails (PaddleNLP raises ``ValueError`` there: decomposed accents or Hangul jamo that
SentencePiece composes, ``Σ`` lower-cased differently, ...), the offsets of the whole text come from SentencePiece's
own normalization alignment instead. A token then maps to the shortest span of original characters that normalizes
to it (a ligature such as ``ﬁ`` that SentencePiece splits into ``f`` and ``i`` gives both tokens the same
one-character span). A stand-alone ``▁`` kept in transformers mode covers the whitespace before the next token.

:class:`OffsetFinder` applies these rules for a ``TokenizerEngine``. This module imports only the standard library
and numpy; the core imports it (never the other way round), so it holds the one fact both need,
:data:`SPIECE_UNDERLINE`.
"""
from __future__ import annotations

import unicodedata
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

#: SentencePiece's word-boundary mark.
SPIECE_UNDERLINE = "\u2581"

Offsets = List[Tuple[int, int]]


# ----------------------------------------------------------------------------------------- character rules
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


class _CharTable(dict):
    """``str.translate`` table filled on first use of each character."""

    def __init__(self, rule):
        super().__init__()
        self._rule = rule

    def __missing__(self, code: int) -> str:
        value = self[code] = self._rule(code)
        return value


def place_underlines(search: List[str], offsets: Offsets) -> None:
    """Give each stand-alone ``▁`` kept in transformers mode (an empty ``search`` string) the whitespace between the
    previous token and the next."""
    previous_end = 0
    for k, token in enumerate(search):
        if not token:
            offsets[k] = (previous_end, max(previous_end, offsets[k + 1][0]))
        else:
            previous_end = offsets[k][1]


# ------------------------------------------------------------------------------------------ the finder
class OffsetFinder:
    """Offsets of the tokens of one engine (see the module docstring).

    Args:
        sp: the engine's ``SentencePieceProcessor`` (its ``normalize`` gives the fallback alignment).
        pieces: piece -> what it becomes (``.spans``: its tokens' spans inside the piece).
        lower: the engine's lower-casing, or None when it keeps the case.
        keep_underlines: transformers mode, where some stand-alone ``▁`` pieces stay tokens.
    """

    def __init__(self, sp, pieces: Mapping[str, object], lower: Optional[Callable[[str], str]],
                 keep_underlines: bool) -> None:
        self._sp = sp
        self._pieces = pieces
        self._lower = lower
        self._keep_underlines = keep_underlines
        self._search_table = _CharTable(_search_form)
        self._length_table = _CharTable(_search_length)
        self._vanishes: Dict[str, bool] = {}

    def search(self, texts: Sequence[str], searches: List[List[str]]) -> List[Optional[Offsets]]:
        """PaddleNLP's offsets of each text, None where PaddleNLP fails to find a token.

        ``searches`` holds each text's tokens without their leading ``▁`` (empty for a stand-alone ``▁`` kept in
        transformers mode, placed later by :func:`place_underlines`). PaddleNLP normalizes each character on its own,
        drops whitespace, and looks for each token from the end of the previous one. Where the tokens tile the
        normalized text exactly (almost always), every search finds its token right there: those texts are done
        together with a few array operations; the others run the search.
        """
        if self._lower is not None:  # the lower-cased text may change length: one text at a time
            return [self._search_one(text, search) for text, search in zip(texts, searches)]
        whole = "".join(texts)
        normalized = whole.translate(self._search_table)
        lengths = np.frombuffer(whole.translate(self._length_table).encode("latin-1"), dtype=np.uint8)
        char_of = np.repeat(np.arange(len(whole), dtype=np.int64), lengths)
        text_starts = np.cumsum([0] + [len(t) for t in texts])
        norm_starts = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))[text_starts].tolist()
        text_starts = text_starts.tolist()
        results: List[Optional[Offsets]] = [None] * len(texts)
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

    def _search_one(self, text: str, search: List[str]) -> Optional[Offsets]:
        """PaddleNLP's search for one text (see :meth:`search`)."""
        if not search:
            return []
        normalized = text.translate(self._search_table)
        if self._lower is not None:
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

    def aligned(self, text: str, segments: Sequence[Tuple[int, int, Optional[str]]],
                text_pieces: Sequence[Optional[List[str]]]) -> Offsets:
        """Offsets from SentencePiece's normalization alignment (used where PaddleNLP's search fails):
        ``segments`` are the engine's ``(start, end, special)`` parts of ``text``, ``text_pieces`` the SentencePiece
        pieces of each (None for a special token)."""
        hf = self._keep_underlines
        offsets: Offsets = []
        for (start, end, special), pieces in zip(segments, text_pieces):
            if special is not None:
                offsets.append((start, end))
                continue
            original = text[start:end]
            # index in `original` of each character of the string given to SentencePiece (lower-casing may grow it)
            if self._lower is not None:
                source = [i for i, c in enumerate(original) for _ in self._lower(c)]
                processed = self._lower(original)
            else:
                source = list(range(len(original)))
                processed = original
            source.append(len(original))
            normalized_bytes, byte_offsets = self._sp.normalize(processed.encode("utf-8"), with_offsets=True)
            if not byte_offsets:  # nothing survives normalization (a lone "▁"): no pieces, and no offsets
                continue
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
                        offsets.append((0, 0))  # set by place_underlines
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
