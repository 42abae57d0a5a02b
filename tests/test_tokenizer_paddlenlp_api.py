"""PaddleNLP's ``PretrainedTokenizer`` surface of ErnieMTokenizer: every call made on PaddleNLP 2.8.1's own
``ErnieMTokenizer`` and on ours, with the same files, gives the same result.

Two tokenizer directories: the tiny fixture (ERNIE-M's layout: ``[CLS]`` ``[PAD]`` ``[SEP]`` ``[UNK]`` in
``vocab.txt``, ``[MASK]`` last) and a vocabulary spelled as SentencePiece spells it (``<unk>`` first, no ``[CLS]`` ...
at all), which both tokenizers load when told ``unk_token="<unk>"``, adding the missing special tokens after it.
"""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import sentencepiece as spm

from converters.tokenizer_files import read_added_tokens, read_tokenizer_config
from paddle_ernie_m.tokenizer import ErnieMTokenizer

from .fixtures import make_tiny_tokenizer as fixture

pytestmark = pytest.mark.filterwarnings("ignore")

FIXTURE = fixture.OUTPUT
TEXT = "The quick brown fox jumps over the lazy dog."
PAIR = "Il caffè è troppo caldo, però la città è bellissima."
CHINESE = "张三出生于北京"


@pytest.fixture(scope="module")
def paddlenlp_class():
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer

    return PaddleNLPTokenizer


@pytest.fixture(scope="module")
def unk_dir(tmp_path_factory):
    """A vocabulary that is the SentencePiece model's own pieces: ``<unk>``, ``<s>``, ``</s>``, ... (no ``[CLS]``)."""
    directory = tmp_path_factory.mktemp("unk_vocab")
    shutil.copyfile(FIXTURE / "sentencepiece.bpe.model", directory / "sentencepiece.bpe.model")
    sp = spm.SentencePieceProcessor(model_file=str(directory / "sentencepiece.bpe.model"))
    (directory / "vocab.txt").write_text("".join(sp.id_to_piece(i) + "\n" for i in range(sp.get_piece_size())),
                                         encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"unk_token": "<unk>"}), encoding="utf-8")
    return directory


def plain(value):
    """Lists of lists and tuples, whatever the container (for comparing outputs)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def both(paddlenlp_class, directory, **kwargs):
    return paddlenlp_class.from_pretrained(str(directory), **kwargs), ErnieMTokenizer.from_pretrained(directory,
                                                                                                      **kwargs)


ENCODE_SETTINGS = [
    {},
    dict(return_token_type_ids=True, return_attention_mask=True, return_position_ids=True),
    dict(return_special_tokens_mask=True, return_offsets_mapping=True, return_length=True),
    dict(max_seq_len=9),
    dict(max_length=5, truncation_strategy="only_first"),
    dict(max_length=5, truncation="only_second"),  # 5 tokens of the second text
    dict(max_seq_len=40, pad_to_max_seq_len=True, return_attention_mask=True, return_position_ids=True),
    dict(padding="max_length", max_length=40, return_special_tokens_mask=True, return_offsets_mapping=True),
    dict(padding=True, pad_to_multiple_of=8, return_attention_mask=True),
    dict(add_special_tokens=False, return_special_tokens_mask=True, return_offsets_mapping=True),
    dict(max_length=6, truncation="only_first", return_overflowing_tokens=True, stride=2),
    dict(max_length=6, truncation="only_second", return_overflowing_tokens=True, stride=3),
    dict(return_tensors="np", return_attention_mask=True),
]


@pytest.mark.parametrize("pair", [False, True])
def test_encode_returns_paddlenlps_dict_under_every_keyword(paddlenlp_class, pair):
    theirs, ours = both(paddlenlp_class, FIXTURE)
    for setting in ENCODE_SETTINGS:
        strategy = setting.get("truncation", setting.get("truncation_strategy"))
        if strategy in ("only_first", "only_second"):  # max_length: how many tokens of that text to keep
            if strategy == "only_second" and not pair:
                continue
            other = (PAIR if strategy == "only_first" else TEXT) if pair else ""
            specials = 4 if pair else 2
            setting = {**setting, "max_length": len(theirs.tokenize(other)) + specials + setting["max_length"]}
        args = (TEXT, PAIR) if pair else (TEXT,)
        expected, got = theirs.encode(*args, **setting), ours.encode(*args, **setting)
        assert plain(dict(got)) == plain(dict(expected)), setting
        assert plain(dict(ours(*args, **setting))) == plain(dict(theirs(*args, **setting))), setting
    for tokenizer in (theirs, ours):  # what PaddleNLP refuses, ours refuses with its words
        with pytest.raises(ValueError, match="Asking to return token_type_ids while setting add_special_tokens"):
            tokenizer.encode(TEXT, add_special_tokens=False, return_token_type_ids=True)
        with pytest.raises(ValueError, match="overflowing tokens for pair of sequences with the `longest_first`"):
            tokenizer.encode(TEXT, PAIR, max_length=12, truncation=True, return_overflowing_tokens=True)


def test_encode_takes_tokens_and_ids_as_paddlenlp_does(paddlenlp_class):
    theirs, ours = both(paddlenlp_class, FIXTURE)
    tokens, ids = theirs.tokenize(TEXT), theirs(TEXT, add_special_tokens=False)["input_ids"]
    for first, second in ((tokens, None), (ids, None), (ids, ids[:3]), (tokens, PAIR)):
        assert plain(dict(ours.encode(first, second))) == plain(dict(theirs.encode(first, second)))
    words = TEXT.split()
    assert (ours(words, is_split_into_words=True)["input_ids"]
            == theirs(words, is_split_into_words=True)["input_ids"])
    assert plain(dict(ours.prepare_for_model(ids[:4], ids[4:9], return_token_type_ids=True))) == plain(
        dict(theirs.prepare_for_model(ids[:4], ids[4:9], return_token_type_ids=True)))


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_and_truncation_sides_given_to_from_pretrained_act_as_in_paddlenlp(paddlenlp_class, side):
    theirs, ours = both(paddlenlp_class, FIXTURE, padding_side=side, truncation_side=side, model_max_length=100)
    assert (ours.padding_side, ours.truncation_side, ours.model_max_length) == (side, side, 100)
    batch = [TEXT, PAIR, CHINESE]
    for setting in (dict(padding=True, return_attention_mask=True, return_position_ids=True),
                    dict(max_length=10, truncation=True, padding="max_length", return_special_tokens_mask=True),
                    dict(max_length=11, truncation="only_first", return_overflowing_tokens=True, stride=1)):
        assert plain(dict(ours(batch, **setting))) == plain(dict(theirs(batch, **setting))), setting
    assert plain(ours.pad({"input_ids": [[5, 6], [7]]}, padding=True, return_attention_mask=True)) == plain(
        theirs.pad({"input_ids": [[5, 6], [7]]}, padding=True, return_attention_mask=True))


def test_batch_encode_and_call_match_paddlenlp_with_pairs_rows_and_windows(paddlenlp_class):
    theirs, ours = both(paddlenlp_class, FIXTURE)
    pairs = [(TEXT, PAIR), (CHINESE, TEXT), ("x", CHINESE)]
    for setting in (dict(padding=True, return_attention_mask=True),
                    dict(max_seq_len=16, truncation=True, return_offsets_mapping=True)):
        expected = theirs.batch_encode(pairs, **setting)
        assert plain(dict(ours.batch_encode(pairs, **setting))) == plain(dict(expected)), setting
    # a stride cuts the second text of each pair into windows (the first must leave room: PaddleNLP loops forever)
    short_first = [("x", TEXT), (CHINESE, PAIR)]
    for setting in (dict(max_seq_len=16, stride=4, return_length=True, return_position_ids=True),
                    dict(max_seq_len=14, stride=2, padding=True, return_attention_mask=True,
                         return_offsets_mapping=True)):
        expected = theirs.batch_encode(short_first, **setting)
        assert plain(dict(ours.batch_encode(short_first, **setting))) == plain(dict(expected)), setting
    rows = ours.batch_encode([TEXT, CHINESE], return_dict=False, return_attention_mask=True)
    assert plain(rows) == plain(theirs.batch_encode([TEXT, CHINESE], return_dict=False, return_attention_mask=True))
    texts, seconds = [p[0] for p in pairs], [p[1] for p in pairs]
    assert plain(dict(ours(texts, seconds))) == plain(dict(theirs(texts, seconds)))
    assert plain(dict(ours(texts, seconds))) == plain(dict(ours.batch_encode(pairs)))


@pytest.mark.parametrize("directory", ["fixture", "unk"])
def test_special_token_attributes_equal_paddlenlps(paddlenlp_class, unk_dir, directory):
    path = FIXTURE if directory == "fixture" else unk_dir
    theirs, ours = both(paddlenlp_class, path, model_max_length=100)
    for name in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "unk_token_id", "sep_token_id",
                 "pad_token_id", "cls_token_id", "mask_token_id", "bos_token", "eos_token",
                 "additional_special_tokens", "all_special_tokens", "all_special_ids", "special_tokens_map",
                 "model_input_names", "padding_side", "truncation_side", "pad_token_type_id", "model_max_length",
                 "added_tokens_encoder", "unique_no_split_tokens", "max_len_single_sentence",
                 "max_len_sentences_pair", "is_fast"):
        assert getattr(ours, name) == getattr(theirs, name), name
    ids = ours(TEXT, PAIR)["input_ids"]
    for call in (lambda t: t.get_special_tokens_mask(ids[1:5], ids[6:9]),
                 lambda t: t.get_special_tokens_mask(ids, already_has_special_tokens=True),
                 lambda t: t.create_token_type_ids_from_sequences(ids[1:5], ids[6:9]),
                 lambda t: t.build_inputs_with_special_tokens(ids[1:5], ids[6:9]),
                 lambda t: [t.num_special_tokens_to_add(False), t.num_special_tokens_to_add(True)],
                 lambda t: t.convert_ids_to_tokens(ids),
                 lambda t: t.convert_ids_to_tokens(ids, skip_special_tokens=True),
                 lambda t: t.convert_tokens_to_ids(t.convert_ids_to_tokens(ids)),
                 lambda t: t.convert_tokens_to_string(t.tokenize(TEXT)),
                 lambda t: t.decode(ids, skip_special_tokens=True),
                 lambda t: t.batch_decode([ids, ids[:4]])):
        assert call(ours) == call(theirs)


def test_a_vocabulary_spelling_the_unknown_token_otherwise_loads_as_in_paddlenlp(paddlenlp_class, unk_dir):
    theirs, ours = both(paddlenlp_class, unk_dir)
    # PaddleNLP adds the special tokens missing from vocab.txt after it: [SEP], [PAD], [CLS], [MASK]
    assert ours.get_added_vocab() == theirs.get_added_vocab() and len(ours.get_added_vocab()) == 4
    assert ours.get_vocab() == theirs.get_vocab() and len(ours) == len(theirs)
    for text in (TEXT, PAIR, CHINESE, "a [MASK] b"):
        assert ours.tokenize(text) == theirs.tokenize(text), text
        assert plain(dict(ours.encode(text, PAIR))) == plain(dict(theirs.encode(text, PAIR)))
    direct = ErnieMTokenizer(unk_dir / "vocab.txt", unk_dir / "sentencepiece.bpe.model", unk_token="<unk>")
    reference = paddlenlp_class(vocab_file=str(unk_dir / "vocab.txt"),
                                sentencepiece_model_file=str(unk_dir / "sentencepiece.bpe.model"), unk_token="<unk>")
    # built directly, neither adds them: they have the unknown token's id until sanitize_special_tokens()
    assert (direct.cls_token_id, direct.all_special_ids, len(direct)) == (
        reference.cls_token_id, reference.all_special_ids, len(reference))
    assert direct.sanitize_special_tokens() == reference.sanitize_special_tokens() == 4
    assert direct.get_added_vocab() == reference.get_added_vocab()


def test_added_tokens_get_paddlenlps_ids_and_stay_whole(paddlenlp_class, unk_dir):
    for lower in (False, True):
        theirs, ours = both(paddlenlp_class, unk_dir, do_lower_case=lower)
        for tokenizer in (theirs, ours):
            assert tokenizer.add_tokens(["Qubit", "zz9", "qubit"]) == (2 if lower else 3)
            assert tokenizer.add_tokens("▁The") == 0  # already in the vocabulary
            assert tokenizer.add_special_tokens({"additional_special_tokens": ["<ent>", "</ent>"]}) == 2
            assert tokenizer.add_special_tokens({"bos_token": "<s>"}) == 0
        assert ours.get_added_vocab() == theirs.get_added_vocab()
        assert (ours.all_special_tokens, ours.all_special_ids) == (theirs.all_special_tokens, theirs.all_special_ids)
        for text in ("a Qubit and a QUBIT zz9x", "<ent>Paris</ent> is big", "x<ent> y"):
            assert ours.tokenize(text) == theirs.tokenize(text), text
            expected = theirs.encode(text, return_offsets_mapping=True, return_special_tokens_mask=True)
            assert plain(dict(ours.encode(text, return_offsets_mapping=True, return_special_tokens_mask=True))) \
                == plain(dict(expected)), text
            ids = expected["input_ids"]
            assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
            assert ours.decode(ids) == theirs.decode(ids)
            assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True)


def test_added_tokens_round_trip_through_save_pretrained_into_paddlenlp(paddlenlp_class, unk_dir, tmp_path):
    ours = ErnieMTokenizer.from_pretrained(unk_dir, padding_side="left")
    ours.add_tokens(["Qubit", "zz9"])
    ours.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    ours.save_pretrained(tmp_path / "saved")
    assert read_added_tokens(tmp_path / "saved") == ours.get_added_vocab()
    assert read_tokenizer_config(tmp_path / "saved")["special_tokens"]["unk_token"] == "<unk>"
    reloaded = ErnieMTokenizer.from_pretrained(tmp_path / "saved")
    theirs = paddlenlp_class.from_pretrained(str(tmp_path / "saved"))
    for tokenizer in (reloaded, theirs):
        assert tokenizer.get_added_vocab() == ours.get_added_vocab()
        assert tokenizer.additional_special_tokens == ["<ent>"] and tokenizer.padding_side == "left"
    text = "a Qubit <ent>zz9 b"
    assert ours(text)["input_ids"] == reloaded(text)["input_ids"] == theirs(text)["input_ids"]
    # and back: what PaddleNLP saves loads in ours with the same ids
    theirs.add_tokens(["Photon"])
    theirs.save_pretrained(str(tmp_path / "theirs"))
    again = ErnieMTokenizer.from_pretrained(tmp_path / "theirs")
    assert again.get_added_vocab() == theirs.get_added_vocab()
    assert again("Photon Qubit")["input_ids"] == theirs("Photon Qubit")["input_ids"]


def test_saved_fixture_loads_in_paddlenlp_with_the_same_ids_and_init_kwargs(paddlenlp_class, tmp_path):
    ours = ErnieMTokenizer.from_pretrained(FIXTURE, do_lower_case=True, truncation_side="left")
    ours.save_pretrained(tmp_path)
    theirs = paddlenlp_class.from_pretrained(str(tmp_path))
    assert theirs.do_lower_case and theirs.truncation_side == "left" and not theirs.get_added_vocab()
    assert theirs([TEXT, CHINESE], max_seq_len=8)["input_ids"] == ours([TEXT, CHINESE], max_seq_len=8)["input_ids"]
    reference = paddlenlp_class(vocab_file=str(FIXTURE / "vocab.txt"),
                                sentencepiece_model_file=str(FIXTURE / "sentencepiece.bpe.model"))
    built = ErnieMTokenizer(FIXTURE / "vocab.txt", FIXTURE / "sentencepiece.bpe.model")
    assert set(reference.init_kwargs) <= set(built.init_kwargs)
    assert all(built.init_kwargs[k] == v for k, v in reference.init_kwargs.items())
    for name in ("resource_files_names", "pretrained_resource_files_map", "pretrained_init_configuration",
                 "padding_side", "truncation_side", "model_input_names"):
        assert getattr(ErnieMTokenizer, name) == getattr(paddlenlp_class, name), name


def test_added_token_ids_follow_vocab_txt_where_paddlenlps_would_reuse_its_last_ids(paddlenlp_class, tmp_path):
    theirs, ours = both(paddlenlp_class, FIXTURE)
    lines = (FIXTURE / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]  # one token a line
    theirs.add_tokens(["Qubit"])
    ours.add_tokens(["Qubit"])
    # PaddleNLP counts the SentencePiece model's 1,500 pieces, not vocab.txt's 1,502 lines: its new id is already
    # the id of a vocab.txt token; ours comes after every line of vocab.txt
    assert theirs.vocab_size == 1500 and theirs.get_added_vocab()["Qubit"] < len(lines)
    assert ours.vocab_size == len(lines) and ours.get_added_vocab() == {"Qubit": len(lines)} and len(ours) == 1503
    assert ours.convert_ids_to_tokens(theirs.get_added_vocab()["Qubit"]) == lines[1500]
    # PaddleNLP refuses our added_tokens.json there rather than load other ids
    ours.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="Non-consecutive added token 'Qubit'"):
        paddlenlp_class.from_pretrained(str(tmp_path))


def test_from_pretrained_refuses_a_name_it_cannot_download_and_a_gap_in_added_tokens(tmp_path):
    with pytest.raises(FileNotFoundError, match="ernie-m-base"):
        ErnieMTokenizer.from_pretrained("ernie-m-base")
    directory = tmp_path / "d"
    shutil.copytree(FIXTURE, directory)
    (directory / "added_tokens.json").write_text(json.dumps({"Qubit": 1503}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"added_tokens.json: added token 'Qubit' has id 1503, but the next id is"):
        ErnieMTokenizer.from_pretrained(directory)
    (directory / "added_tokens.json").write_text(json.dumps(["Qubit"]), encoding="utf-8")
    with pytest.raises(ValueError, match="added_tokens.json: expected a JSON object"):
        ErnieMTokenizer.from_pretrained(directory)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_an_over_long_sequence_is_logged_once_on_paddlenlps_logger_as_paddlenlp_logs_it(paddlenlp_class):
    long_text = " ".join(["one two three four five"] * 4)
    logs = []
    for tokenizer in both(paddlenlp_class, FIXTURE, model_max_length=8):
        records = _Records()
        logging.getLogger("PaddleNLP").addHandler(records)
        try:
            tokenizer(long_text, max_length=30)  # a length was given: no warning
            tokenizer(long_text, truncation=True)
            tokenizer([long_text, "x"], padding=True)  # warns
            tokenizer(long_text)  # once per tokenizer
            tokenizer.deprecation_warnings = {}
            tokenizer.encode(long_text, PAIR)  # warns again after a reset, as PaddleNLP's test expects
        finally:
            logging.getLogger("PaddleNLP").removeHandler(records)
        logs.append(records.messages)
    assert len(logs[0]) == 2 and logs[1] == logs[0]
    assert logs[0][0].startswith("Token indices sequence length is longer than the specified maximum sequence length")
