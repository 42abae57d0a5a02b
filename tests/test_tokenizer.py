"""ErnieMTokenizer on its own: layout, special tokens, truncation, padding, offsets, files and bad input.

The comparisons with PaddleNLP and transformers live in test_tokenizer_paddlenlp.py and
test_tokenizer_transformers.py (they import those libraries); here the references are hand-computed values,
``vocab.txt`` read directly, and SentencePiece's own normalizer.
"""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm

from converters.configuration import POSITION_OFFSET, ErnieMConfig
from ernie_m_tokenizer.tokenization_ernie_m_engine import MASK_TOKEN, MODEL_MAX_LENGTH, SPECIAL_TOKENS
from converters.tokenizer_files import read_tokenizer_config, write_tokenizer_config
from paddle_ernie_m.tokenizer import ErnieMTokenizer

from .fixtures import make_tiny_tokenizer as fixture

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = fixture.OUTPUT
CORPUS = fixture.read_corpus()
VOCAB_LINES = (FIXTURE / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def tok():
    return ErnieMTokenizer.from_pretrained(FIXTURE)


@pytest.fixture(scope="module")
def sp():
    return spm.SentencePieceProcessor(model_file=str(FIXTURE / "sentencepiece.bpe.model"))


def ids_of(tok, text):
    return tok.convert_tokens_to_ids(tok.tokenize(text))


# ----------------------------------------------------------------------------------------- fixture and corpus
def test_fixture_script_reproduces_the_committed_tokenizer(tmp_path):
    fixture.make_tiny_tokenizer(tmp_path)
    assert (tmp_path / "vocab.txt").read_bytes() == (FIXTURE / "vocab.txt").read_bytes()
    fresh = spm.SentencePieceProcessor(model_file=str(tmp_path / "sentencepiece.bpe.model"))
    committed = spm.SentencePieceProcessor(model_file=str(FIXTURE / "sentencepiece.bpe.model"))
    assert fresh.get_piece_size() == committed.get_piece_size()
    for i in range(committed.get_piece_size()):
        assert (fresh.id_to_piece(i), fresh.get_score(i)) == (committed.id_to_piece(i), committed.get_score(i))
    assert fresh.encode(CORPUS) == committed.encode(CORPUS)
    with pytest.raises(FileExistsError, match="vocab.txt"):
        fixture.make_tiny_tokenizer(tmp_path)


def test_fixture_has_the_released_vocab_layout_and_stays_small():
    assert VOCAB_LINES[:4] == ["[CLS]", "[PAD]", "[SEP]", "[UNK]"] and VOCAB_LINES[-1] == "[MASK]"
    committed = spm.SentencePieceProcessor(model_file=str(FIXTURE / "sentencepiece.bpe.model"))
    # SentencePiece id i (after <unk>, <s>, </s>) is line i + 1, as in the released files
    assert VOCAB_LINES[4:-1] == [committed.id_to_piece(i) for i in range(3, committed.get_piece_size())]
    assert 300 <= len(VOCAB_LINES) <= 2002
    assert sum(f.stat().st_size for f in FIXTURE.iterdir()) < 400_000


def test_corpus_covers_the_required_scripts_and_hard_cases():
    assert len(CORPUS) >= 300
    scripts = {unicodedata.name(c, "?").split()[0] for line in CORPUS for c in line if c.isalpha()}
    required = {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "BENGALI", "THAI", "CJK",
                "HIRAGANA", "KATAKANA", "HANGUL", "TAMIL", "GEORGIAN", "ARMENIAN", "ETHIOPIC", "KHMER", "LAO",
                "GUJARATI", "GURMUKHI", "SINHALA", "TELUGU", "KANNADA", "MALAYALAM", "MYANMAR", "TIBETAN"}
    assert required <= scripts, required - scripts
    joined = "".join(CORPUS)
    for needle in ("\t", "\n", "\u200b", "\u200d", "\ufeff", "\x01", "\u3000", "～", "ＡＢＣ", "1,234", "!!!", "🇫🇷",
                   "e\u0301", "中华", "繁體", "ひらがな", "カタカナ", "Tiếng Việt", MASK_TOKEN):
        assert needle in joined, needle
    assert "" in CORPUS and any(line.startswith("  ") for line in CORPUS) and max(map(len, CORPUS)) >= 300


# ----------------------------------------------------------------------------------------- basics
def test_special_token_ids_are_the_vocab_lines(tok):
    for role, token in SPECIAL_TOKENS.items():
        assert getattr(tok, f"{role}_id") == VOCAB_LINES.index(token)
    assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == len(VOCAB_LINES) - 1 == tok.vocab_size - 1 == len(tok) - 1


def test_model_max_length_is_the_position_table_minus_its_offset(tok):
    assert MODEL_MAX_LENGTH == ErnieMConfig().max_position_embeddings - POSITION_OFFSET == 512
    assert ErnieMConfig().max_text_positions == MODEL_MAX_LENGTH
    assert tok.model_max_length == 512


def test_module_imports_without_paddle():
    code = ("import sys; sys.modules['paddle'] = None\n"
            "import paddle_ernie_m.tokenizer as t\n"
            f"tok = t.ErnieMTokenizer.from_pretrained({str(FIXTURE)!r})\n"
            "print(tok('hello', return_tensors='np')['input_ids'].shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("(1, ")


def test_tokens_are_vocab_entries_or_unknown(tok):
    vocab = set(VOCAB_LINES)
    for text in CORPUS:
        tokens = tok.tokenize(text)
        assert tok.convert_tokens_to_ids(tokens) == [VOCAB_LINES.index(t) if t in vocab else 3 for t in tokens]


def test_cjk_punctuation_and_digit_boundaries_are_split(tok):
    tokens = tok.tokenize("中文abc123def，好")  # SentencePiece's NFKC turns "，" into ","
    assert tokens[:2] == ["中", "文"] and tokens[-2:] == [",", "好"]
    assert "".join(tokens).replace("▁", "") == "中文abc123def,好"
    digits = [t for t in tokens if any(c.isdigit() for c in t)]
    assert all(t.isdigit() for t in digits)


def test_compat_switch_changes_only_stand_alone_underlines(sp):
    paddle_mode = ErnieMTokenizer.from_pretrained(FIXTURE)
    hf_mode = ErnieMTokenizer.from_pretrained(FIXTURE, compat="transformers")
    assert sp.encode("ok 👍 fine", out_type=str) == ["▁o", "k", "▁", "👍", "▁f", "ine"]
    assert paddle_mode.tokenize("ok 👍 fine") == ["▁o", "k", "👍", "▁f", "ine"]
    assert hf_mode.tokenize("ok 👍 fine") == ["▁o", "k", "▁", "👍", "▁f", "ine"]
    assert hf_mode.get_offset_mapping("ok 👍 fine") == [(0, 1), (1, 2), (2, 3), (3, 4), (5, 6), (6, 9)]
    changed = 0
    for text in CORPUS:
        a, b = paddle_mode.tokenize(text), hf_mode.tokenize(text)
        assert "▁" not in a
        assert [t for t in b if t != "▁"] == a
        changed += a != b
    assert changed > 50  # the tiny vocabulary makes the divergence common


def test_build_inputs_masks_and_token_types_by_hand(tok):
    assert tok.build_inputs_with_special_tokens([7, 8]) == [0, 7, 8, 2]
    assert tok.build_inputs_with_special_tokens([7, 8], [9]) == [0, 7, 8, 2, 2, 9, 2]
    assert tok.get_special_tokens_mask([7, 8], [9]) == [1, 0, 0, 1, 1, 0, 1]
    assert tok.get_special_tokens_mask([0, 7, 2, 1], already_has_special_tokens=True) == [1, 0, 1, 0]
    assert tok.create_token_type_ids_from_sequences([7, 8], [9]) == [0, 0, 0, 1, 1, 1, 1]
    assert tok.create_token_type_ids_from_sequences([7, 8]) == [0, 0, 0, 0]


def test_decode_joins_pieces_and_skips_special_tokens(tok):
    ids = tok("Hello world [MASK] again")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "Hello world again"
    assert tok.decode(ids).startswith("[CLS] Hello world") and tok.decode(ids).endswith("[SEP]")
    assert tok.convert_ids_to_tokens(np.array(ids)) == tok.convert_ids_to_tokens(ids)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])


# ----------------------------------------------------------------------------------------- calling
def test_single_and_batch_outputs_have_the_reference_shapes(tok):
    assert list(tok("hello world")) == ["input_ids"]  # model_input_names, as PaddleNLP
    single = tok("hello world", return_attention_mask=True)
    assert list(single) == ["input_ids", "attention_mask"] and single.input_ids == single["input_ids"]
    assert single["input_ids"][0] == 0 and single["input_ids"][-1] == 2 and set(single["attention_mask"]) == {1}
    batch = tok(["hello world", "a"], padding=True, return_position_ids=True, return_special_tokens_mask=True,
                return_offsets_mapping=True, return_attention_mask=True)
    n = len(batch["input_ids"][0])
    short = len(tok("a")["input_ids"])
    assert batch["input_ids"][1] == tok("a")["input_ids"] + [1] * (n - short)
    assert batch["attention_mask"][1] == [1] * short + [0] * (n - short)
    assert batch["position_ids"][1] == list(range(short)) + [0] * (n - short)
    assert batch["special_tokens_mask"][1] == [1] + [0] * (short - 2) + [1] + [1] * (n - short)
    assert batch["offset_mapping"][1][0] == (0, 0) and batch["offset_mapping"][1][short:] == [(0, 0)] * (n - short)
    assert "attention_mask" not in tok("x", return_attention_mask=False)


def test_return_tensors_np_adds_a_batch_axis_and_refuses_ragged_batches(tok):
    out = tok(["ab", "a b c d"], padding="max_length", max_length=16, return_tensors="np",
              return_offsets_mapping=True)
    assert out["input_ids"].shape == (2, 16) and out["input_ids"].dtype == np.int64
    assert out["offset_mapping"].shape == (2, 16, 2)
    assert tok("ab", return_tensors="np")["input_ids"].shape[0] == 1
    with pytest.raises(ValueError, match="padding"):
        tok(["ab", "a b c d"], return_tensors="np")
    with pytest.raises(ValueError, match="return_tensors"):
        tok("ab", return_tensors="pt")


def _reference_longest_first(n_0, n_1, remove):
    """The loop both reference libraries run: one token at a time from the longer text, the second on a tie."""
    for _ in range(remove):
        if n_0 > n_1:
            n_0 -= 1
        else:
            n_1 -= 1
    return n_0, n_1


def test_truncation_strategies_match_the_reference_rules(tok):
    a, b = "one two three four five six seven", "alpha beta gamma"
    ids_a, ids_b = ids_of(tok, a), ids_of(tok, b)
    for max_length in range(6, len(ids_a) + len(ids_b) + 6):
        out = tok(a, b, max_length=max_length, truncation=True)["input_ids"]
        keep_a, keep_b = _reference_longest_first(len(ids_a), len(ids_b),
                                                  max(0, len(ids_a) + len(ids_b) + 4 - max_length))
        assert out == [0] + ids_a[:keep_a] + [2, 2] + ids_b[:keep_b] + [2], max_length
    budget = len(ids_b) + 4 + 2
    assert tok(a, b, max_length=budget, truncation="only_first")["input_ids"] == [0] + ids_a[:2] + [2, 2] + ids_b + [2]
    budget = len(ids_a) + 4 + 1
    out = tok(a, b, max_length=budget, truncation="only_second")["input_ids"]
    assert out == [0] + ids_a + [2, 2] + ids_b[:1] + [2]
    assert tok(a, max_seq_len=5)["input_ids"] == [0] + ids_a[:3] + [2]  # max_length alone truncates
    assert len(tok(a * 100, truncation=True)["input_ids"]) == 512  # default: model_max_length
    with pytest.raises(ValueError, match="only_second"):
        tok(a, b, max_length=len(ids_a) + 4, truncation="only_second")
    with pytest.raises(ValueError, match="text pairs"):
        tok(a, max_length=5, truncation="only_second")
    with pytest.raises(ValueError, match="special tokens"):
        tok(a, b, max_length=3, truncation=True)
    assert tok(a, max_length=5, max_seq_len=6) == tok(a, max_length=5)  # max_length wins, as in PaddleNLP


def test_padding_strategies(tok):
    texts = ["a", "a b c"]
    longest = tok(texts, padding=True)["input_ids"]
    assert len({len(r) for r in longest}) == 1 and len(longest[0]) == len(tok("a b c")["input_ids"])
    assert [len(r) for r in tok(texts, padding="max_length", max_length=20)["input_ids"]] == [20, 20]
    assert [len(r) for r in tok(texts, max_seq_len=20, pad_to_max_seq_len=True)["input_ids"]] == [20, 20]
    assert [len(r) for r in tok(texts, pad_to_max_seq_len=True)["input_ids"]] == [len(longest[0])] * 2
    assert len(tok("a", padding="max_length")["input_ids"]) == 512
    with pytest.raises(ValueError, match="padding"):
        tok(texts, padding="left")


def test_empty_texts_and_empty_batches(tok):
    assert tok("")["input_ids"] == [0, 2]
    assert tok("", "")["input_ids"] == [0, 2, 2, 2]
    assert tok(" \t ", return_offsets_mapping=True)["offset_mapping"] == [(0, 0), (0, 0)]
    assert tok([])["input_ids"] == []


# ----------------------------------------------------------------------------------------- offsets
def _check_offsets(sp, tok, text):
    """Each token's slice of ``text``, normalized as SentencePiece normalizes (NFKC, whitespace to ``▁``) with
    ``▁`` removed, contains the token without its ``▁``, and no shorter slice does; slices move forward."""
    normalize = lambda s: sp.normalize(s).replace("▁", "")  # noqa: E731
    tokens, offsets = tok.tokenize(text), tok.get_offset_mapping(text)
    assert len(tokens) == len(offsets)
    previous = 0
    for token, (start, end) in zip(tokens, offsets):
        piece = text[start:end]
        where = f"token {token!r} at {(start, end)} = {piece!r} in {text!r}"
        assert previous <= start <= end <= len(text), where
        previous = start
        if token == "▁":  # a stand-alone underline kept in transformers mode covers whitespace
            assert normalize(piece) == "", where
            continue
        expected = token[1:] if token.startswith("▁") else token
        lower = tok.do_lower_case and token not in SPECIAL_TOKENS.values()
        form = lambda s: normalize(s.lower() if lower else s)  # noqa: E731
        assert start < end and expected in form(piece), where
        assert end - start == 1 or (expected not in form(text[start + 1:end]) and
                                    expected not in form(text[start:end - 1])), where


@pytest.mark.parametrize("compat", ["paddlenlp", "transformers"])
@pytest.mark.parametrize("lower", [False, True])
def test_offsets_map_back_to_the_token_on_every_corpus_line(sp, compat, lower):
    tok = ErnieMTokenizer.from_pretrained(FIXTURE, compat=compat, do_lower_case=lower)
    for text in CORPUS:
        _check_offsets(sp, tok, text)


def test_offsets_of_composed_and_decomposed_accents_cover_whole_characters(tok):
    text = "cafe\u0301 and café"
    spans = [text[s:e] for s, e in tok.get_offset_mapping(text)]
    assert spans[-1] == "é" and "e\u0301" in spans
    pair = tok("x", text, return_offsets_mapping=True)
    assert pair["offset_mapping"][-2] == (len(text) - 1, len(text)) and pair["offset_mapping"][-1] == (0, 0)


@pytest.mark.parametrize("compat", ["paddlenlp", "transformers"])
def test_offsets_of_a_lone_underline_before_a_special_token_where_paddlenlps_search_fails(sp, compat):
    """PaddleNLP raises "substring not found" on the first text; a lone "▁" normalizes to nothing, so it has no
    pieces and no offsets, and the tokens around it map back to their characters."""
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer

    tok = ErnieMTokenizer.from_pretrained(FIXTURE, compat=compat)
    with pytest.raises(ValueError, match="substring not found"):
        PaddleNLPTokenizer.from_pretrained(str(FIXTURE))("▁[SEP]e\u0301", return_offsets_mapping=True)
    for text in ("▁[SEP]e\u0301", "▁[SEP]café", "a ▁[SEP]e\u0301 ▁"):
        _check_offsets(sp, tok, text)


# ----------------------------------------------------------------------------------------- files
def test_save_and_load_round_trip_keeps_settings(tmp_path):
    tok = ErnieMTokenizer.from_pretrained(FIXTURE, compat="transformers", do_lower_case=True, model_max_length=64)
    paths = tok.save_pretrained(tmp_path / "out")
    assert sorted(p.name for p in paths) == ["sentencepiece.bpe.model", "special_tokens_map.json",
                                             "tokenizer_config.json", "vocab.txt"]
    config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["compat"] == "transformers" and config["tokenizer_class"] == "ErnieMTokenizer"
    assert config["do_lower_case"] is True and config["model_max_length"] == 64
    again = ErnieMTokenizer.from_pretrained(tmp_path / "out")
    assert (again.compat, again.do_lower_case, again.model_max_length) == ("transformers", True, 64)
    assert (tmp_path / "out" / "vocab.txt").read_bytes() == (FIXTURE / "vocab.txt").read_bytes()
    assert (tmp_path / "out" / "sentencepiece.bpe.model").read_bytes() == \
        (FIXTURE / "sentencepiece.bpe.model").read_bytes()
    assert ErnieMTokenizer.from_pretrained(tmp_path / "out", compat="paddlenlp").compat == "paddlenlp"
    with pytest.raises(FileExistsError, match="force"):
        tok.save_pretrained(tmp_path / "out")
    tok.save_pretrained(tmp_path / "out", force=True)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    vocab, model = tok.save_vocabulary(tmp_path, filename_prefix="x")
    assert (vocab.name, model.name) == ("x-vocab.txt", "x-sentencepiece.bpe.model")
    assert vocab.read_bytes() == (FIXTURE / "vocab.txt").read_bytes()


def test_write_tokenizer_config_states_the_compat_of_a_converted_directory(tmp_path):
    write_tokenizer_config(tmp_path, compat="transformers")
    assert read_tokenizer_config(tmp_path) == {"compat": "transformers", "do_lower_case": False,
                                               "model_max_length": 512, "special_tokens": SPECIAL_TOKENS}
    assert json.loads((tmp_path / "special_tokens_map.json").read_text()) == SPECIAL_TOKENS
    with pytest.raises(FileExistsError):
        write_tokenizer_config(tmp_path, compat="paddlenlp")
    write_tokenizer_config(tmp_path, compat="paddlenlp", force=True)
    assert read_tokenizer_config(tmp_path)["compat"] == "paddlenlp"
    with pytest.raises(ValueError, match="compat"):
        write_tokenizer_config(tmp_path, compat="hf", force=True)


def test_a_directory_without_config_gets_the_paddlenlp_tokenization():
    assert not (FIXTURE / "tokenizer_config.json").exists()
    tok = ErnieMTokenizer.from_pretrained(FIXTURE)
    assert (tok.compat, tok.do_lower_case, tok.model_max_length) == ("paddlenlp", False, 512)


def test_pickled_tokenizer_encodes_the_same(tok):
    copy = pickle.loads(pickle.dumps(tok))
    assert copy(CORPUS[:20], return_offsets_mapping=True) == tok(CORPUS[:20], return_offsets_mapping=True)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["ok", None]])
def test_non_string_input_is_a_type_error(tok, bad):
    with pytest.raises(TypeError, match="must be a str"):
        tok(bad)


def test_lone_surrogates_are_rejected_with_their_position(tok):
    with pytest.raises(ValueError, match="surrogate .* position 3"):
        tok("abc\ud800def")
    with pytest.raises(ValueError, match=r"text_pair\[1\]"):
        tok(["a", "b"], ["c", "\udfff"])
    with pytest.raises(ValueError, match="surrogate"):
        tok.tokenize("\udc80")


def test_text_and_pair_must_match(tok):
    with pytest.raises(TypeError, match="both"):
        tok(["a"], "b")
    with pytest.raises(ValueError, match="1 items but text_pair has 2"):
        tok(["a"], ["b", "c"])


def _copy_fixture(directory: Path) -> Path:
    directory.mkdir()
    for name in ("vocab.txt", "sentencepiece.bpe.model"):
        (directory / name).write_bytes((FIXTURE / name).read_bytes())
    return directory


def test_missing_unreadable_and_mismatched_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        ErnieMTokenizer.from_pretrained(tmp_path / "nowhere")
    d = _copy_fixture(tmp_path / "d")
    (d / "sentencepiece.bpe.model").unlink()
    with pytest.raises(FileNotFoundError, match="sentencepiece.bpe.model"):
        ErnieMTokenizer.from_pretrained(d)
    d = _copy_fixture(tmp_path / "garbage_model")
    (d / "sentencepiece.bpe.model").write_bytes(b"\x00not a model" * 10)
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        ErnieMTokenizer.from_pretrained(d)
    d = _copy_fixture(tmp_path / "latin1")
    (d / "vocab.txt").write_bytes("[CLS]\n\xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="vocab.txt: not UTF-8"):
        ErnieMTokenizer.from_pretrained(d)
    d = _copy_fixture(tmp_path / "no_unk")
    (d / "vocab.txt").write_text("\n".join(t for t in VOCAB_LINES if t != "[UNK]") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt: the unknown token '\[UNK\]' is not in the vocabulary"):
        ErnieMTokenizer.from_pretrained(d)
    d = _copy_fixture(tmp_path / "mismatch")
    other = VOCAB_LINES[:4] + [f"x{i}" for i in range(300)] + ["[MASK]"]
    (d / "vocab.txt").write_text("\n".join(other) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="does not match .*sentencepiece.bpe.model"):
        ErnieMTokenizer.from_pretrained(d)


@pytest.mark.parametrize("config, message", [
    ({"tokenizer_class": "XLMRobertaTokenizer"}, "tokenizer_class"),
    ({"compat": "hf"}, "compat"),
    ({"mask_token": 5}, "mask_token"),
    ({"unk_token": "<unk>"}, "tokenizer_config.json: unk_token '<unk>' is not in .*vocab.txt"),
    ({"do_lower_case": "yes"}, "do_lower_case"),
    ({"model_max_length": 2}, "model_max_length"),
])
def test_bad_tokenizer_config_values_are_named(tmp_path, config, message):
    d = _copy_fixture(tmp_path / "d")
    (d / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        ErnieMTokenizer.from_pretrained(d)


def test_placeholder_model_max_length_means_the_model_limit(tmp_path):
    d = _copy_fixture(tmp_path / "d")
    (d / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1000000000000000019884624838656}))
    assert ErnieMTokenizer.from_pretrained(d).model_max_length == 512


def test_bad_constructor_arguments(tmp_path):
    with pytest.raises(ValueError, match="compat"):
        ErnieMTokenizer(FIXTURE / "vocab.txt", FIXTURE / "sentencepiece.bpe.model", compat="hf")
    with pytest.raises(ValueError, match="encoding 'latin-1'"):
        ErnieMTokenizer.from_pretrained(FIXTURE, encoding="latin-1")
