"""``converters.safe_json``: documents within the limits read exactly as :func:`json.loads` reads them (Hypothesis,
JSON text written by :func:`json.dumps`); a document nested too deep or holding a number too long is one
:class:`JSONLimitError` naming the place, where :func:`json.loads` raises ``RecursionError`` or ``ValueError``."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from converters.safe_json import JSONLimitError, loads

leaves = st.none() | st.booleans() | st.integers(-10**18, 10**18) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from('[]{}",:\\'), max_size=8)
documents = st.recursive(leaves, lambda children: st.lists(children, max_size=4)
                         | st.dictionaries(st.text(max_size=4), children, max_size=4), max_leaves=30)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(documents, st.booleans())
def test_documents_within_the_limits_read_as_json_loads_reads_them(document, ascii_only):
    text = json.dumps(document, ensure_ascii=ascii_only)
    assert loads(text, max_depth=max(1, depth(document))) == json.loads(text)
    if depth(document) > 1:
        with pytest.raises(JSONLimitError, match="nested deeper than"):
            loads(text, max_depth=depth(document) - 1)


@pytest.mark.parametrize("text,error", [
    ('{"texts": [' + "[" * 100000 + "]" * 100000 + "]}",
     "texts[0][0][0][0][0][0][0]...: nested deeper than the limit of 32 levels"),
    ('{"config": {"hidden_size": ' + "9" * 5000 + "}}", "config.hidden_size: a number of 5000 characters"),
    ('[1, 2, {"a": [3, -' + "1" * 40 + "]}]", "[2].a[1]: a number of 41 characters"),
    ('{"a": "' + "[" * 100 + '", "b": {"c": ' + "{" * 40 + "}" * 40 + "}}",
     "b.c...: nested deeper than the limit of 32"),
], ids=["100k_deep_list", "5000_digit_integer", "long_negative_number", "brackets_inside_a_string_do_not_count"])
def test_a_document_beyond_the_limits_is_one_error_naming_the_place(text, error):
    with pytest.raises(JSONLimitError) as raised:
        loads(text, max_depth=32, max_number_chars=32)
    assert str(raised.value).startswith(error), str(raised.value)


def test_the_standard_library_fails_on_such_documents_with_a_traceback_not_a_place():
    with pytest.raises(RecursionError):
        json.loads("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="Exceeds the limit"):
        json.loads("9" * 5000)


def test_brackets_and_digits_inside_strings_are_text_not_structure():
    text = json.dumps({"a": "[" * 1000 + "9" * 1000, "b": ["\"]]]"]})
    assert loads(text, max_depth=2, max_number_chars=8) == json.loads(text)


def test_the_source_starts_the_message_and_bytes_read_as_utf8():
    with pytest.raises(JSONLimitError) as raised:
        loads(b'{"schema": ' + b"[" * 70 + b"]" * 70 + b"}", source="--schema")
    assert str(raised.value).startswith("--schema: schema[0][0][0][0][0][0][0]...: nested deeper than the limit of "
                                        "64 levels (71 deep)"), str(raised.value)
    assert loads('{"a": "é"}'.encode("utf-8"), source="x.json") == {"a": "é"}
