"""The transformers tokenizer bundled with converted checkpoints (ernie_m_tokenizer/tokenization_ernie_m.py).

References: PaddleNLP 2.8.1's ErnieMTokenizer (ids, keys, decode in compat "paddlenlp"), transformers 4.57.6's
ErnieMTokenizer (compat "transformers"), and paddle_ernie_m's tokenizer for offsets (test_tokenizer_paddlenlp.py
checks those against PaddleNLP's). The bundled class is imported from ernie_m_tokenizer here (transformers
4.57) and loaded from a converted directory with ``trust_remote_code=True`` by tests/tf5/tokenizer_outputs.py, run
by transformers 5.23 in the second environment (``make tf5``) and by 4.57 in this one.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.remote_code import TOKENIZER_AUTO_MAP, TOKENIZER_FILES as FILES
from paddle_ernie_m.tokenizer import ErnieMTokenizer as OurTokenizer
from converters.tokenizer_files import write_tokenizer_config

from .fixtures import make_tiny_tokenizer as fixture

pytestmark = pytest.mark.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "tf5" / "tokenizer_outputs.py"
FIXTURE = fixture.OUTPUT
CORPUS = fixture.read_corpus()
PAIRS = CORPUS[1:] + CORPUS[:1]

#: (name, pairs, kwargs) of the batch calls compared with the references
SETTINGS = [
    ("plain", False, {}),
    ("padded", False, dict(padding=True)),
    ("truncated", False, dict(max_length=24)),
    ("pairs_max_length", True, dict(max_length=32, truncation=True, padding="max_length",
                                    return_special_tokens_mask=True)),
    ("pairs_longest", True, dict(padding=True, return_attention_mask=True)),
]


def tf5_python() -> Path:
    """The second environment's interpreter (transformers 5, nothing of this project), or a failed test."""
    from . import transformers5

    return transformers5.python()


@pytest.fixture(scope="module")
def bundled_class():
    from ernie_m_tokenizer.tokenization_ernie_m import ErnieMTokenizer

    return ErnieMTokenizer


@pytest.fixture(scope="module")
def paddlenlp_tokenizer():
    from paddlenlp.transformers import ErnieMTokenizer

    return ErnieMTokenizer.from_pretrained(str(FIXTURE))


@pytest.fixture(scope="module")
def transformers_tokenizer():
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer

    return ErnieMTokenizer.from_pretrained(str(FIXTURE))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``{"paddlenlp": dir, "transformers": dir}``: a PaddleNLP checkpoint converted by paddle2torch, and a copy
    whose tokenizer_config.json says compat "transformers"."""
    from converters.convert import convert_checkpoint

    from .convert_helpers import paddlenlp_checkpoint

    base = tmp_path_factory.mktemp("converted")
    src = paddlenlp_checkpoint(base / "src", "ErnieMModel")
    convert_checkpoint(src, base / "paddlenlp", "paddle2torch")
    shutil.copytree(base / "paddlenlp", base / "transformers")
    write_tokenizer_config(base / "transformers", compat="transformers", model_max_length=38, bundled_code=True,
                           force=True)
    return {"paddlenlp": base / "paddlenlp", "transformers": base / "transformers"}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A PaddleNLP sequence classifier converted by paddle2torch, and the PaddleNLP model itself."""
    import paddlenlp.transformers as P

    from converters.convert import convert_checkpoint

    from .convert_helpers import paddlenlp_checkpoint

    base = tmp_path_factory.mktemp("classifier")
    src = paddlenlp_checkpoint(base / "src", "ErnieMForSequenceClassification")
    convert_checkpoint(src, base / "torch", "paddle2torch")
    model = P.ErnieMForSequenceClassification.from_pretrained(str(src))
    model.eval()
    return base / "torch", model


def as_lists(encoding):
    """A tokenizer output as plain lists (offsets as lists of pairs), for comparisons across libraries."""
    plain = {}
    for key, value in dict(encoding).items():
        value = value.tolist() if hasattr(value, "tolist") else value
        if key == "offset_mapping":
            value = [[list(pair) for pair in row] for row in value]
        plain[key] = value
    return plain


def differing_rows(got, expected):
    assert sorted(got) == sorted(expected), (sorted(got), sorted(expected))
    return {key: [k for k, (a, b) in enumerate(zip(got[key], expected[key])) if a != b] or None
            for key in expected if got[key] != expected[key]}


def _rows_with_paddlenlp_offsets(paddlenlp_tokenizer, texts, pairs=None):
    """Indices of the rows whose texts PaddleNLP's ``get_offset_mapping`` handles (it raises on some, where a token
    is not found in its normalised text)."""
    def handled(text):
        try:
            paddlenlp_tokenizer.get_offset_mapping(text)
        except (ValueError, IndexError):
            return False
        return True

    return [k for k, text in enumerate(texts) if handled(text) and (pairs is None or handled(pairs[k]))]


def _with_paddlenlp_offsets(paddlenlp_tokenizer, texts, pairs=None):
    """The texts (and pairs) of :func:`_rows_with_paddlenlp_offsets`."""
    keep = _rows_with_paddlenlp_offsets(paddlenlp_tokenizer, texts, pairs)
    return [texts[k] for k in keep], None if pairs is None else [pairs[k] for k in keep]


# ----------------------------------------------------------------------------------------- in this environment
@pytest.mark.parametrize("lower", [False, True])
def test_tokens_and_ids_equal_paddlenlp_on_every_corpus_line(bundled_class, lower):
    from paddlenlp.transformers import ErnieMTokenizer

    reference = ErnieMTokenizer.from_pretrained(str(FIXTURE), do_lower_case=lower)
    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), do_lower_case=lower,
                          compat="paddlenlp")
    assert ours.compat == "paddlenlp"
    for i, text in enumerate(CORPUS):
        assert ours.tokenize(text) == reference.tokenize(text), f"corpus line {i + 1}: {text[:60]!r}"
    got, expected = ours(CORPUS)["input_ids"], reference(CORPUS)["input_ids"]
    assert [i + 1 for i, (a, b) in enumerate(zip(got, expected)) if a != b] == []


@pytest.mark.parametrize("name, pairs, kwargs", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_batches_equal_paddlenlp_keys_and_values(bundled_class, converted, paddlenlp_tokenizer, name, pairs, kwargs):
    ours = bundled_class.from_pretrained(str(converted["paddlenlp"]))
    second = PAIRS if pairs else None
    got, expected = as_lists(ours(CORPUS, second, **kwargs)), as_lists(paddlenlp_tokenizer(CORPUS, second, **kwargs))
    assert differing_rows(got, expected) == {}
    if "return_attention_mask" not in kwargs:  # model_input_names ["input_ids"]: as PaddleNLP, no mask
        assert "attention_mask" not in got


@pytest.mark.parametrize("compat", ["paddlenlp", "transformers"])
@pytest.mark.parametrize("name, pairs, kwargs", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_offsets_and_masks_equal_paddle_ernie_m(bundled_class, compat, name, pairs, kwargs):
    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat=compat)
    reference = OurTokenizer.from_pretrained(FIXTURE, compat=compat)
    second = PAIRS if pairs else None
    kwargs = dict(kwargs, return_offsets_mapping=True)
    reference_kwargs = dict(kwargs, return_attention_mask=kwargs.get("return_attention_mask", False))
    expected = reference(CORPUS, second, **reference_kwargs)
    assert differing_rows(as_lists(ours(CORPUS, second, **kwargs)), as_lists(expected)) == {}
    for k in (0, 5, len(CORPUS) - 1):  # one text at a time too (transformers 4's other entry point)
        single = ours(CORPUS[k], second[k] if pairs else None, **kwargs)
        expected = reference(CORPUS[k], second[k] if pairs else None, **reference_kwargs)
        assert as_lists({key: [v] for key, v in single.items()}) == as_lists({key: [v] for key, v in
                                                                              expected.items()})


@pytest.mark.parametrize("name, pairs, kwargs", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_offsets_equal_paddlenlp_in_compat_paddlenlp(bundled_class, paddlenlp_tokenizer, name, pairs, kwargs):
    """On the corpus lines PaddleNLP can give offsets for (its get_offset_mapping raises on some, where a token is
    not found in its normalised text)."""
    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="paddlenlp")
    texts, second = _with_paddlenlp_offsets(paddlenlp_tokenizer, CORPUS, PAIRS if pairs else None)
    assert len(texts) > len(CORPUS) / 2
    kwargs = dict(kwargs, return_offsets_mapping=True)
    expected = as_lists(paddlenlp_tokenizer(texts, second, **kwargs))
    assert "offset_mapping" in expected
    assert differing_rows(as_lists(ours(texts, second, **kwargs)), expected) == {}
    for k in (0, 5, len(texts) - 1):  # one text at a time too (transformers 4's other entry point)
        single = ours(texts[k], second[k] if pairs else None, **kwargs)
        reference = paddlenlp_tokenizer(texts[k], second[k] if pairs else None, **kwargs)
        assert as_lists({key: [v] for key, v in single.items()}) == as_lists({key: [v] for key, v in
                                                                              reference.items()})


@pytest.mark.parametrize("name, pairs, kwargs", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_compat_transformers_equals_transformers_4(bundled_class, converted, transformers_tokenizer, name, pairs,
                                                   kwargs):
    ours = bundled_class.from_pretrained(str(converted["transformers"]), model_max_length=512)
    assert ours.compat == "transformers"
    second = PAIRS if pairs else None
    got, expected = as_lists(ours(CORPUS, second, **kwargs)), as_lists(transformers_tokenizer(CORPUS, second, **kwargs))
    assert differing_rows(got, expected) == {}
    if name == "plain":
        assert [ours.tokenize(t) for t in CORPUS] == [transformers_tokenizer.tokenize(t) for t in CORPUS]
        ids = expected["input_ids"]
        for skip in (False, True):
            assert ours.batch_decode(ids, skip_special_tokens=skip) == \
                transformers_tokenizer.batch_decode(ids, skip_special_tokens=skip)


def test_left_padding_multiples_and_strides_are_transformers_own(bundled_class, transformers_tokenizer):
    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="transformers")
    kwargs = dict(padding=True, padding_side="left", pad_to_multiple_of=8, return_attention_mask=True)
    got = ours(CORPUS, return_offsets_mapping=True, **kwargs)
    assert dict(got, offset_mapping=None) == dict(transformers_tokenizer(CORPUS, **kwargs), offset_mapping=None)
    assert len(got["input_ids"][0]) % 8 == 0
    plain = OurTokenizer.from_pretrained(FIXTURE, compat="transformers")(CORPUS, return_offsets_mapping=True)
    for row, expected in zip(got["offset_mapping"], plain["offset_mapping"]):
        assert row == [(0, 0)] * (len(row) - len(expected)) + expected
    window = dict(max_length=16, truncation="only_first", stride=4, return_overflowing_tokens=True)
    for text in CORPUS[:40]:
        assert dict(ours(text, **window)) == dict(transformers_tokenizer(text, **window)), text


def test_encoding_works_where_pad_takes_no_padding_side_as_before_transformers_4_45(bundled_class,
                                                                                     transformers_tokenizer,
                                                                                     monkeypatch):
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

    original = PreTrainedTokenizerBase.pad

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None,
            return_attention_mask=None, return_tensors=None, verbose=True):  # transformers 4.32's signature
        return original(self, encoded_inputs, padding=padding, max_length=max_length,
                        pad_to_multiple_of=pad_to_multiple_of, return_attention_mask=return_attention_mask,
                        return_tensors=return_tensors, verbose=verbose)

    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="transformers")
    monkeypatch.setattr(bundled_class, "pad", pad)
    for kwargs in ({}, dict(padding=True, return_attention_mask=True),
                   dict(padding=True, padding_side="left", pad_to_multiple_of=8, return_attention_mask=True)):
        assert dict(ours(CORPUS, **kwargs)) == dict(transformers_tokenizer(CORPUS, **kwargs)), kwargs
        assert dict(ours(CORPUS[3], **kwargs)) == dict(transformers_tokenizer(CORPUS[3], **kwargs)), kwargs
    assert ours.padding_side == "right"  # the side given for a call is the call's only


def test_decode_equals_paddlenlp(bundled_class, paddlenlp_tokenizer):
    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="paddlenlp")
    ids = paddlenlp_tokenizer(CORPUS)["input_ids"]
    assert [ours.decode(row) for row in ids] == [paddlenlp_tokenizer.decode(row) for row in ids]
    assert ours.batch_decode(np.array(ids[0])[None], skip_special_tokens=True) == \
        [paddlenlp_tokenizer.decode(ids[0], skip_special_tokens=True)]
    assert ours.convert_ids_to_tokens(ids[3]) == paddlenlp_tokenizer.convert_ids_to_tokens(ids[3])


def test_return_tensors_pt_and_np_hold_the_same_values(bundled_class, paddlenlp_tokenizer):
    import torch

    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="paddlenlp")
    kwargs = dict(max_length=40, truncation=True, padding="max_length", return_offsets_mapping=True)
    lists = ours(CORPUS[:8], PAIRS[:8], **kwargs)
    for kind, array_type in (("pt", torch.Tensor), ("np", np.ndarray)):
        tensors = ours(CORPUS[:8], PAIRS[:8], return_tensors=kind, **kwargs)
        assert sorted(tensors) == ["input_ids", "offset_mapping"]
        assert all(isinstance(v, array_type) for v in tensors.values())
        assert tuple(tensors["offset_mapping"].shape) == (8, 40, 2)
        assert as_lists(tensors) == as_lists(lists)
        single = ours(CORPUS[0], return_tensors=kind)["input_ids"]
        assert tuple(single.shape) == (1, len(paddlenlp_tokenizer(CORPUS[0])["input_ids"]))
    expected = paddlenlp_tokenizer(CORPUS[:8], PAIRS[:8], max_length=40, truncation=True, padding="max_length",
                                   return_tensors="np")["input_ids"]
    np.testing.assert_array_equal(ours(CORPUS[:8], PAIRS[:8], return_tensors="np", max_length=40, truncation=True,
                                       padding="max_length")["input_ids"], expected)


def test_model_input_names_of_the_directory_decide_the_attention_mask(bundled_class, converted, tmp_path):
    assert json.loads((converted["paddlenlp"] / "tokenizer_config.json").read_text())["model_input_names"] == \
        ["input_ids"]
    ours = bundled_class.from_pretrained(str(converted["paddlenlp"]))
    assert list(ours(CORPUS[:4], padding=True)) == ["input_ids"]
    directory = shutil.copytree(converted["paddlenlp"], tmp_path / "with_mask")
    write_tokenizer_config(directory, model_input_names=["input_ids", "attention_mask"], force=True)
    masked = bundled_class.from_pretrained(str(directory))(CORPUS[:4], padding=True)
    expected = OurTokenizer.from_pretrained(directory)(CORPUS[:4], padding=True)  # honours the same key
    assert list(masked) == ["input_ids", "attention_mask"] and dict(masked) == dict(expected)
    from paddlenlp.transformers import ErnieMTokenizer  # PaddleNLP honours the same key

    assert "attention_mask" in ErnieMTokenizer.from_pretrained(str(directory))(CORPUS[:4], padding=True)


@pytest.mark.parametrize("fast", [False, True], ids=["slow", "fast"])
def test_save_pretrained_round_trips_its_settings_and_code(bundled_class, fast_class, tmp_path, fast):
    """Each class saves itself the transformers way: the slow one names only itself in ``auto_map`` (as transformers
    writes for any slow remote-code tokenizer), the fast one both classes."""
    from transformers import AutoTokenizer

    cls = fast_class if fast else bundled_class
    ours = cls(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"),
               compat="transformers", do_lower_case=True, model_max_length=64,
               model_input_names=["input_ids", "attention_mask"])
    ours.save_pretrained(str(tmp_path / "saved"))
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    expected_map = TOKENIZER_AUTO_MAP["AutoTokenizer"] if fast else [TOKENIZER_AUTO_MAP["AutoTokenizer"][0], None]
    assert config["auto_map"] == {"AutoTokenizer": expected_map}
    assert config["tokenizer_class"] == "ErnieMTokenizer"  # transformers drops "Fast"; PaddleNLP reads it too
    saved = {p.name for p in (tmp_path / "saved").iterdir()}
    assert set(FILES) - ({"tokenization_ernie_m_fast.py"} if not fast else set()) <= saved
    assert "tokenizer.json" not in saved  # the backend's Python pre-tokenizer cannot be serialized
    for again in (cls.from_pretrained(str(tmp_path / "saved")),
                  AutoTokenizer.from_pretrained(str(tmp_path / "saved"), trust_remote_code=True)):
        assert type(again).__name__ == cls.__name__
        assert (again.compat, again.do_lower_case, again.model_max_length, again.model_input_names) == \
            ("transformers", True, 64, ["input_ids", "attention_mask"])
        assert again(CORPUS)["input_ids"] == ours(CORPUS)["input_ids"]
    assert OurTokenizer.from_pretrained(tmp_path / "saved").compat == "transformers"


def test_transformers_4_loads_a_converted_directory_natively_or_with_the_bundled_code(converted,
                                                                                       paddlenlp_tokenizer):
    from transformers import AutoTokenizer

    native = AutoTokenizer.from_pretrained(str(converted["paddlenlp"]))
    assert type(native).__module__.startswith("transformers.models.deprecated.ernie_m")
    assert native("Bonjour le monde")["input_ids"] == paddlenlp_tokenizer("Bonjour le monde")["input_ids"]
    bundled = AutoTokenizer.from_pretrained(str(converted["paddlenlp"]), trust_remote_code=True)
    assert type(bundled).__module__.startswith("transformers_modules")
    assert bundled(CORPUS)["input_ids"] == paddlenlp_tokenizer(CORPUS)["input_ids"]


def test_bad_arguments_are_named(bundled_class):
    ours = bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="paddlenlp")
    with pytest.raises(ValueError, match="words or ids"):
        ours(["a", "b"], is_split_into_words=True, return_offsets_mapping=True)
    with pytest.raises(ValueError, match="encoding 'latin-1'"):
        bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), encoding="latin-1")
    with pytest.raises(ValueError, match="compat"):
        bundled_class(str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt"), compat="hf")
    with pytest.raises(ValueError, match=r"text_pair\[1\] contains a lone surrogate"):
        ours(["a", "b"], ["c", "\udfff"])
    # words and ids still go through transformers' own path
    assert ours(["Bonjour", "monde"], is_split_into_words=True)["input_ids"] == \
        [0] + ours.encode("Bonjour", add_special_tokens=False) + ours.encode("monde", add_special_tokens=False) + [2]


def test_a_directory_missing_the_sentencepiece_model_is_refused_naming_it(converted, tmp_path):
    from transformers import AutoTokenizer

    directory = shutil.copytree(converted["paddlenlp"], tmp_path / "incomplete")
    (directory / "sentencepiece.bpe.model").unlink()
    with pytest.raises(ValueError, match=r"^ErnieMTokenizer needs sentencepiece.bpe.model: the directory has none$"):
        AutoTokenizer.from_pretrained(str(directory), trust_remote_code=True)


# ----------------------------------------------------------------------------------------- from a directory
def _script_outputs(python: Path, converted, classifier: Path, paddlenlp_tokenizer, tmp_path) -> dict:
    model_texts = [t for t in CORPUS if t.strip() and len(paddlenlp_tokenizer.tokenize(t)) <= 30][:12]
    request = {
        "classifier": str(classifier),
        "directories": {key: str(path) for key, path in converted.items()},
        "texts": CORPUS, "pairs": PAIRS, "save_to": str(tmp_path / "saved"),
        "calls": [{"name": f"{compat}:{name}", "directory": compat, "pairs": pairs,
                   "kwargs": dict(kwargs, return_offsets_mapping=True)}
                  for compat in converted for name, pairs, kwargs in SETTINGS if compat == "paddlenlp" or
                  kwargs.get("max_length")]
        + [{"name": f"paddlenlp:{kind}", "directory": "paddlenlp", "pairs": True,
            "kwargs": dict(padding=True, return_tensors=kind, return_offsets_mapping=True)} for kind in ("pt", "np")],
        "model_ids": [paddlenlp_tokenizer(t)["input_ids"] for t in model_texts],
        "added_tokens": ADDED,
    }
    # the pipelines' texts first: the script runs them on texts[:len(model_ids)]
    order = model_texts + [t for t in CORPUS if t not in model_texts]
    request["texts"], request["pairs"] = order, order[1:] + order[:1]
    (tmp_path / "request.json").write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run([str(python), str(SCRIPT), str(tmp_path / "request.json"), str(tmp_path / "result.json")],
                         capture_output=True, text=True, cwd=tmp_path, stdin=subprocess.DEVNULL, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                              "HF_HOME": str(tmp_path / "hf-home"), "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    result["request"] = request
    return result


@pytest.mark.parametrize("environment", ["transformers-5", "transformers-4"])
def test_a_converted_directory_loads_with_trust_remote_code_and_gives_the_reference_outputs(
        environment, converted, classifier, paddlenlp_tokenizer, transformers_tokenizer, tmp_path):
    import paddle

    python = tf5_python() if environment == "transformers-5" else Path(sys.executable)
    result = _script_outputs(python, converted, classifier[0], paddlenlp_tokenizer, tmp_path)
    assert result["transformers"].startswith("5." if environment == "transformers-5" else "4.57.")
    texts, pairs = result["request"]["texts"], result["request"]["pairs"]
    references = {"paddlenlp": paddlenlp_tokenizer, "transformers": transformers_tokenizer}

    for kind in ("fast", "slow"):
        _check_directories_and_calls(result, kind, references, paddlenlp_tokenizer, texts, pairs)

    refused = result["without_trust_remote_code"]
    if environment == "transformers-5":  # transformers' own message, raised before any of our code runs
        assert refused["type"] == "ValueError" and "trust_remote_code=True" in refused["message"]
        assert not [f for f in refused["frames"] if "tokenization_ernie_m" in f]
    else:  # transformers 4 has its own ErnieMTokenizer
        assert refused["type"] is None

    pipelines = result["slow"]["pipelines"]
    model_ids = result["request"]["model_ids"]
    with paddle.no_grad():  # PaddleNLP's usage: one text's input_ids, no mask
        expected = [paddle.nn.functional.softmax(classifier[1](paddle.to_tensor([ids])), axis=-1).numpy()[0]
                    for ids in model_ids]
    np.testing.assert_allclose(pipelines["text_classification"], expected, rtol=0, atol=1e-5)
    assert pipelines["token_classification"] == [
        [[token, k + 1] for k, token in enumerate(paddlenlp_tokenizer.convert_ids_to_tokens(ids[1:-1]))]
        for ids in model_ids]
    _check_token_classification_spans(result["fast"]["token_classification"], texts[: len(model_ids)],
                                      paddlenlp_tokenizer)


def _check_directories_and_calls(result, kind, references, paddlenlp_tokenizer, texts, pairs):
    """The outputs of the fast or the slow class (``kind``) against the reference tokenizers."""
    for compat, out in result[kind]["directories"].items():
        name = "ErnieMTokenizerFast" if kind == "fast" else "ErnieMTokenizer"
        assert out["class"].startswith("transformers_modules.") and out["class"].endswith("." + name)
        assert out["is_fast"] == (kind == "fast")
        assert (out["compat"], out["model_input_names"]) == (compat, ["input_ids"])
        reference = references[compat]
        assert out["tokens"] == [reference.tokenize(t) for t in texts]
        ids = [reference(t)["input_ids"] for t in texts]
        assert out["decode"] == [reference.decode(row) for row in ids]
        assert out["batch_decode_skip"] == [reference.decode(row, skip_special_tokens=True) for row in ids]
        assert set(FILES) - ({"tokenization_ernie_m_fast.py"} if kind == "slow" else set()) <= \
            set(out["saved_files"])
        assert out["reloaded"] == {"class": name, "compat": compat, "model_input_names": ["input_ids"],
                                   "input_ids": ids}

    for call in result["request"]["calls"]:
        compat, kwargs = call["directory"], dict(call["kwargs"])
        second = pairs if call["pairs"] else None
        got = result[kind]["calls"][call["name"]]
        kind_of_tensors = kwargs.pop("return_tensors", None)
        if kind_of_tensors is not None:
            assert set(got["types"].values()) == {"Tensor" if kind_of_tensors == "pt" else "ndarray"}, call["name"]
        # ids and keys: the reference library; offsets: PaddleNLP's (compat "paddlenlp", on the rows it handles),
        # else paddle_ernie_m's (transformers' slow tokenizers have none; its offsets are checked against
        # PaddleNLP's elsewhere)
        kwargs.pop("return_offsets_mapping")
        expected = as_lists(references[compat](texts, second, **kwargs))
        offsets = OurTokenizer.from_pretrained(FIXTURE, compat=compat, model_max_length=38 if compat ==
                                               "transformers" else 512)(texts, second, return_offsets_mapping=True,
                                                                        **kwargs)
        expected["offset_mapping"] = as_lists(offsets)["offset_mapping"]
        if compat == "paddlenlp":
            rows = _rows_with_paddlenlp_offsets(paddlenlp_tokenizer, texts, second)
            assert len(rows) > len(texts) / 2
            subset = paddlenlp_tokenizer([texts[k] for k in rows], None if second is None else
                                         [second[k] for k in rows], return_offsets_mapping=True, **kwargs)
            for k, row in zip(rows, as_lists(subset)["offset_mapping"]):  # padded further in the whole batch
                expected["offset_mapping"][k] = row + [[0, 0]] * (len(expected["offset_mapping"][k]) - len(row))
        assert differing_rows(got["values"], expected) == {}, (kind, call["name"])

    chat = result[kind]["chat"]  # transformers 5.23 passes sanitize_control_tokens here
    assert chat["input_ids"] == paddlenlp_tokenizer(chat["rendered"], add_special_tokens=False)["input_ids"]

    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer

    reference = ErnieMTokenizer.from_pretrained(str(FIXTURE))  # transformers 4.57's ids for the added tokens
    reference.add_tokens(ADDED)
    paddlenlp = type(paddlenlp_tokenizer).from_pretrained(str(FIXTURE))
    paddlenlp.add_tokens(ADDED)
    for compat, added in result[kind]["added_tokens"].items():
        assert (added["added"], added["len"], added["reloaded_len"]) == (len(ADDED), len(reference), len(reference))
        assert added["input_ids"] == added["reloaded_input_ids"]
        if compat == "transformers":
            assert added["input_ids"] == reference(texts)["input_ids"]
        else:  # PaddleNLP's tokens; the added ids after vocab.txt (see test_added_tokens_keep_paddlenlp_...)
            known = reference.get_vocab()
            expected = [["[CLS]"] + [t if t in known else "[UNK]" for t in paddlenlp.tokenize(text)] + ["[SEP]"]
                        for text in texts]
            assert [reference.convert_ids_to_tokens(row) for row in added["input_ids"]] == expected


def _check_token_classification_spans(spans, texts, paddlenlp_tokenizer):
    """The pipeline's entities carry PaddleNLP's offsets: token by token without aggregation (every token is an
    entity: the labels have no "O"), and spans that start and end on token boundaries in order under the
    aggregation strategies."""
    rows = _rows_with_paddlenlp_offsets(paddlenlp_tokenizer, texts)
    assert len(rows) > len(texts) / 2
    for k in rows:
        offsets = paddlenlp_tokenizer(texts[k], return_offsets_mapping=True)["offset_mapping"][1:-1]
        assert spans["none"][k] == [[s, e, index + 1] for index, (s, e) in enumerate(offsets)], texts[k]
        starts, ends = {s for s, _ in offsets}, {e for _, e in offsets}
        for strategy in ("simple", "first", "average", "max"):
            entities = spans[strategy][k]
            assert entities, (strategy, texts[k])
            previous_end = 0
            for start, end in entities:
                assert start in starts and end in ends and previous_end <= start < end, (strategy, texts[k])
                previous_end = end


# ------------------------------------------------------------------------------ transformers 4's ErnieMTokenizer API
@pytest.fixture(scope="module")
def fast_class():
    from ernie_m_tokenizer.tokenization_ernie_m_fast import ErnieMTokenizerFast

    return ErnieMTokenizerFast


SP_MODEL, VOCAB = str(FIXTURE / "sentencepiece.bpe.model"), str(FIXTURE / "vocab.txt")
#: what transformers' test fixture spells otherwise: the SentencePiece model's own unknown piece, a padding token
#: outside the vocabulary
OTHER_SPECIALS = dict(unk_token="<unk>", pad_token="<pad>")


@pytest.mark.parametrize("specials", [{}, OTHER_SPECIALS], ids=["ernie-m", "spelled-otherwise"])
def test_transformers_constructor_without_vocab_file_equals_transformers_4(bundled_class, specials):
    """``ErnieMTokenizer(sentencepiece_model_ckpt, vocab_file=None, ..., unk_token=..., pad_token=...)`` as in
    transformers' docs: the vocabulary is the SentencePiece model's, the special tokens it lacks are added after
    it, in transformers' order."""
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer

    if not specials:  # transformers' own class accepts an [UNK] that the vocabulary lacks; ours needs a real one
        with pytest.raises(ValueError, match=r"the unknown token .\[UNK\]. is not in the vocabulary"):
            bundled_class(SP_MODEL)
        return
    reference = ErnieMTokenizer(SP_MODEL, **specials)
    ours = bundled_class(SP_MODEL, compat="transformers", **specials)
    assert (len(ours), ours.vocab_size, ours.get_vocab()) == (len(reference), reference.vocab_size,
                                                              reference.get_vocab())
    assert [ours.cls_token_id, ours.sep_token_id, ours.pad_token_id, ours.unk_token_id, ours.mask_token_id] == \
        [reference.cls_token_id, reference.sep_token_id, reference.pad_token_id, reference.unk_token_id,
         reference.mask_token_id]
    assert ours(CORPUS, PAIRS)["input_ids"] == reference(CORPUS, PAIRS)["input_ids"]
    assert ours(CORPUS, padding=True)["input_ids"] == reference(CORPUS, padding=True)["input_ids"]
    typed = "a [MASK] b <pad> c [SEP]"  # special tokens typed in a text stay whole
    assert ours.tokenize(typed) == reference.tokenize(typed)
    assert [ours.decode(ids) for ids in ours(CORPUS)["input_ids"]] == \
        [reference.decode(ids) for ids in reference(CORPUS)["input_ids"]]


def test_keyword_construction_and_positional_vocab_file_equal_transformers_4(bundled_class, fast_class,
                                                                             transformers_tokenizer):
    """transformers' constructor gives transformers' tokenization unless told ``compat`` (converted directories
    state theirs in tokenizer_config.json)."""
    ours = bundled_class(sentencepiece_model_ckpt=SP_MODEL, vocab_file=VOCAB, encoding="utf-8")
    assert ours.compat == "transformers" and fast_class(SP_MODEL, VOCAB).compat == "transformers"
    assert bundled_class(SP_MODEL, VOCAB).get_vocab() == ours.get_vocab()
    assert [ours.decode(ids) for ids in ours(CORPUS)["input_ids"]] == \
        [transformers_tokenizer.decode(ids) for ids in transformers_tokenizer(CORPUS)["input_ids"]]
    assert ours(CORPUS)["input_ids"] == transformers_tokenizer(CORPUS)["input_ids"]
    assert len(ours) == len(transformers_tokenizer) and ours.get_vocab() == transformers_tokenizer.get_vocab()


def test_subword_regularization_samples_as_transformers_4_does(bundled_class):
    """``sp_model_kwargs`` turns SentencePiece sampling on: under one random seed both tokenizers sample the same
    segmentations; without reseeding the next calls sample other ones; every sample spells its text."""
    import sentencepiece as spm
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer

    sampling = {"enable_sampling": True, "alpha": 0.1, "nbest_size": -1}
    reference = ErnieMTokenizer(SP_MODEL, VOCAB, sp_model_kwargs=sampling)
    ours = bundled_class(SP_MODEL, VOCAB, compat="transformers", sp_model_kwargs=sampling)
    assert ours.sp_model_kwargs == sampling
    texts = [t for t in CORPUS if t.strip()][:40]
    spm.set_random_generator_seed(7)
    expected = [reference.tokenize(t) for t in texts]
    spm.set_random_generator_seed(7)
    assert [ours.tokenize(t) for t in texts] == expected
    assert [ours.tokenize(t) for t in texts] != expected
    plain = "This is a test for subword regularization."
    samples = {tuple(ours.tokenize(plain)) for _ in range(8)}
    assert len(samples) > 1 and {ours.convert_tokens_to_string(list(s)) for s in samples} == {plain}


ADDED = ["<domain>", "COVID19", "cases", "[NEW]", "über"]
ADDED_TEXTS = ["hello <domain> world", "COVID19 cases rose<domain>12%", "a [NEW]b [SEP] c über",
               "x<domain> ★ y", "tail <sp1> end"] + CORPUS[:40]


def _with_added_tokens(tokenizer):
    assert tokenizer.add_tokens(ADDED) == 5
    assert tokenizer.add_special_tokens({"additional_special_tokens": ["<sp1>"]}) == 1
    return tokenizer


def test_added_tokens_equal_transformers_4_in_compat_transformers(bundled_class, fast_class, tmp_path):
    """transformers' recipe: ``add_tokens`` / ``add_special_tokens``, then ``len(tokenizer)`` for
    ``resize_token_embeddings``; ids, tokens and decoding as transformers 4.57's own ErnieMTokenizer, saved and
    loaded back the transformers way (which transformers' own class reads too)."""
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer

    reference = _with_added_tokens(ErnieMTokenizer(SP_MODEL, VOCAB))
    for cls in (bundled_class, fast_class):
        ours = _with_added_tokens(cls(SP_MODEL, VOCAB, compat="transformers"))
        assert len(ours) == len(reference) and ours.get_added_vocab() == reference.get_added_vocab()
        assert ours(ADDED_TEXTS)["input_ids"] == reference(ADDED_TEXTS)["input_ids"], cls.__name__
        assert [ours.tokenize(t) for t in ADDED_TEXTS] == [reference.tokenize(t) for t in ADDED_TEXTS]
        ids = reference(ADDED_TEXTS)["input_ids"]
        for skip in (False, True):
            assert [ours.decode(row, skip_special_tokens=skip) for row in ids] == \
                [reference.decode(row, skip_special_tokens=skip) for row in ids]
        ours.save_pretrained(str(tmp_path / cls.__name__))
        config = json.loads((tmp_path / cls.__name__ / "tokenizer_config.json").read_text())
        assert {v["content"] for v in config["added_tokens_decoder"].values()} >= set(ADDED) | {"<sp1>"}
        for again in (cls.from_pretrained(str(tmp_path / cls.__name__)),
                      ErnieMTokenizer.from_pretrained(str(tmp_path / cls.__name__))):
            assert len(again) == len(reference)
            assert again(ADDED_TEXTS)["input_ids"] == ids


def test_added_tokens_keep_paddlenlp_tokens_offsets_and_decoding(bundled_class, fast_class):
    """compat "paddlenlp": PaddleNLP 2.8.1's tokens, offsets and decoding around added tokens. The ids of the added
    tokens are transformers' (after the whole vocab.txt): PaddleNLP numbers them from the SentencePiece model's
    size, which gives them the ids of the last vocab.txt entries ([MASK] among them)."""
    from paddlenlp.transformers import ErnieMTokenizer

    reference = _with_added_tokens(ErnieMTokenizer.from_pretrained(str(FIXTURE)))
    vocab_lines = Path(VOCAB).read_text(encoding="utf-8").count("\n")
    assert reference.vocab_size < vocab_lines and reference.convert_tokens_to_ids(ADDED[1]) == \
        reference.convert_tokens_to_ids("[MASK]")  # PaddleNLP's collision, the reason for transformers' ids
    renumber = {reference.convert_tokens_to_ids(t): vocab_lines + k for k, t in enumerate(ADDED + ["<sp1>"])}
    texts, _ = _with_paddlenlp_offsets(reference, ADDED_TEXTS)
    for cls in (bundled_class, fast_class):
        ours = _with_added_tokens(cls(SP_MODEL, VOCAB, compat="paddlenlp"))
        assert [ours.tokenize(t) for t in ADDED_TEXTS] == [reference.tokenize(t) for t in ADDED_TEXTS]
        got = ours(texts, return_offsets_mapping=True)
        expected = reference(texts, return_offsets_mapping=True)
        assert got["offset_mapping"] == [[tuple(p) for p in row] for row in expected["offset_mapping"]]
        added_ids = set(renumber.values())
        assert [[i for i in row if i not in added_ids] for row in got["input_ids"]] == \
            [[i for i in row if i not in renumber] for row in expected["input_ids"]]
        assert [ours.decode(row) for row in got["input_ids"]] == \
            [reference.decode(row) for row in expected["input_ids"]]


def test_unknown_keywords_reach_transformers_own_encoding(bundled_class, transformers_tokenizer):
    """A keyword the slow class does not know goes to transformers' encoding (which warns about keywords nobody
    uses), as with transformers' own class, instead of a TypeError. (transformers 4's fast tokenizers refuse
    unknown keywords themselves; 5.23's ``apply_chat_template`` on both classes: tests/tf5/tokenizer_outputs.py.)"""
    for cls in (bundled_class,):
        ours = cls(SP_MODEL, VOCAB, compat="transformers")
        for kwargs in (dict(return_position_ids=True), dict(some_future_option=False, padding=True)):
            got = ours(CORPUS[:8], **kwargs)["input_ids"]
            assert got == transformers_tokenizer(CORPUS[:8], **kwargs)["input_ids"], (cls.__name__, kwargs)
            assert ours(CORPUS[0], **kwargs)["input_ids"] == transformers_tokenizer(CORPUS[0], **kwargs)["input_ids"]


def test_encoding_never_lists_the_vocabulary(bundled_class, monkeypatch):
    """No work proportional to the vocabulary per call: transformers 4.40's ``__len__`` rebuilds a set of the
    whole vocabulary (``get_vocab``) each time it is called (benchmarks/bench_tokenizer_calls.py times it)."""
    ours = _with_added_tokens(bundled_class(SP_MODEL, VOCAB, compat="paddlenlp"))
    expected = ours(ADDED_TEXTS, ADDED_TEXTS[::-1], padding=True, return_offsets_mapping=True)

    def listed(*_):
        raise AssertionError("get_vocab called while encoding")

    monkeypatch.setattr(type(ours), "get_vocab", listed)
    assert len(ours) == Path(VOCAB).read_text(encoding="utf-8").count("\n") + 6
    assert ours(ADDED_TEXTS, ADDED_TEXTS[::-1], padding=True, return_offsets_mapping=True) == expected
    ours.encode("hello world")


# ------------------------------------------------------------------------------------------------ fast tokenizer
@pytest.mark.parametrize("compat, lower", [("paddlenlp", False), ("paddlenlp", True), ("transformers", False),
                                           ("transformers", True)])
def test_fast_tokenizer_ids_and_offsets_equal_the_slow_ones_on_the_whole_corpus(bundled_class, fast_class, compat,
                                                                                lower):
    slow = bundled_class(SP_MODEL, VOCAB, compat=compat, do_lower_case=lower)
    fast = fast_class(SP_MODEL, VOCAB, compat=compat, do_lower_case=lower)
    assert fast.is_fast and not slow.is_fast
    assert [fast.tokenize(t) for t in CORPUS] == [slow.tokenize(t) for t in CORPUS]
    for name, pairs, kwargs in SETTINGS:
        second = PAIRS if pairs else None
        kwargs = dict(kwargs, return_offsets_mapping=True, return_token_type_ids=True)
        assert as_lists(fast(CORPUS, second, **kwargs)) == as_lists(slow(CORPUS, second, **kwargs)), name
    ids = slow(CORPUS)["input_ids"]
    assert fast.batch_decode(ids) == slow.batch_decode(ids)


def test_fast_tokenizer_ids_and_offsets_equal_paddlenlp(fast_class, paddlenlp_tokenizer):
    fast = fast_class(SP_MODEL, VOCAB, compat="paddlenlp")
    texts, pairs = _with_paddlenlp_offsets(paddlenlp_tokenizer, CORPUS, PAIRS)
    got = as_lists(fast(texts, pairs, return_offsets_mapping=True, max_length=48, truncation=True))
    expected = as_lists(paddlenlp_tokenizer(texts, pairs, return_offsets_mapping=True, max_length=48,
                                            truncation=True))
    assert (got["input_ids"], got["offset_mapping"]) == (expected["input_ids"], expected["offset_mapping"])


def test_fast_tokenizer_pickles_and_copies(fast_class):
    import copy
    import pickle

    fast = _with_added_tokens(fast_class(SP_MODEL, VOCAB, compat="paddlenlp"))
    expected = fast(ADDED_TEXTS, return_offsets_mapping=True)
    for again in (pickle.loads(pickle.dumps(fast)), copy.deepcopy(fast)):
        assert again(ADDED_TEXTS, return_offsets_mapping=True) == expected


def test_torch2paddle_carries_added_tokens_to_paddlenlp(converted, bundled_class, tmp_path):
    """A fine-tuned transformers directory with added tokens converts to a Paddle directory whose PaddleNLP 2.8.1
    tokenizer gives the same ids: the added tokens become vocab.txt entries at their ids and additional special
    tokens (PaddleNLP refuses an added_tokens.json numbered after vocab.txt)."""
    from paddlenlp.transformers import ErnieMTokenizer

    from converters.convert import convert_checkpoint

    torch_dir = shutil.copytree(converted["paddlenlp"], tmp_path / "torch")
    tokenizer = bundled_class.from_pretrained(str(torch_dir))
    tokenizer.add_tokens(ADDED)
    tokenizer.save_pretrained(str(torch_dir))
    convert_checkpoint(torch_dir, tmp_path / "paddle", "torch2paddle")
    paddlenlp = ErnieMTokenizer.from_pretrained(str(tmp_path / "paddle"))
    assert paddlenlp(ADDED_TEXTS)["input_ids"] == tokenizer(ADDED_TEXTS)["input_ids"]
    vocab = (tmp_path / "paddle" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert vocab[-len(ADDED):] == ADDED and len(vocab) == len(tokenizer)
    back = bundled_class.from_pretrained(str(tmp_path / "paddle"))  # and a transformers tokenizer reads it too
    assert back(ADDED_TEXTS)["input_ids"] == tokenizer(ADDED_TEXTS)["input_ids"]


def test_paddle2torch_carries_the_paddle_tokenizers_added_tokens(bundled_class, tmp_path):
    """Tokens added to a Paddle tokenizer (``added_tokens.json``, ids after vocab.txt) reach the converted
    directory as vocab.txt entries at the same ids, kept whole by the bundled tokenizer."""
    from converters.convert import convert_checkpoint

    from .convert_helpers import paddlenlp_checkpoint

    original = paddlenlp_checkpoint(tmp_path / "original", "ErnieMForSequenceClassification")
    source = tmp_path / "paddle"
    shutil.copytree(original, source, ignore=shutil.ignore_patterns("*.txt", "*.model", "tokenizer_config.json",
                                                                     "special_tokens_map.json"))
    ours = OurTokenizer.from_pretrained(original)
    ours.add_tokens(ADDED)
    ours.save_pretrained(source)
    convert_checkpoint(source, tmp_path / "torch", "paddle2torch")
    lines = (source / "vocab.txt").read_text(encoding="utf-8").rstrip("\n").split("\n")
    hf = bundled_class.from_pretrained(str(tmp_path / "torch"))
    ids = hf(ADDED_TEXTS)["input_ids"]
    assert ids == ours(ADDED_TEXTS)["input_ids"]
    assert {len(lines) + i for i in range(len(ADDED))} <= {i for row in ids for i in row}
