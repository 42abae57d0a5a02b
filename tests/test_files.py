"""The shared file helpers: JSON lines with ``path:line`` errors, and writes that never leave half a file."""
import os
import stat

import pytest

from converters.files import OUTPUT_MARKER, atomic_directory, atomic_open, json_lines, write_atomic


def test_json_lines_skips_blank_lines_and_a_bom_and_numbers_lines_from_one(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes('\ufeff{"a": 1}\n\n   \n"text"\r\n[1, 2]\n'.encode("utf-8"))
    assert list(json_lines(path)) == [(1, {"a": 1}), (4, "text"), (5, [1, 2])]


def test_json_lines_names_file_and_line_of_invalid_json_with_the_callers_error_type(tmp_path):
    class MyError(ValueError):
        pass

    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(MyError, match=rf"^{path}:2: not valid JSON \(Expecting value at column 7\)$"):
        list(json_lines(path, error=MyError))


def test_json_lines_hands_invalid_lines_to_on_invalid_and_goes_on(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('oops\n{"a": 1}\n', encoding="utf-8")
    seen = []
    assert list(json_lines(path, on_invalid=lambda line, message: seen.append((line, message)))) == [(2, {"a": 1})]
    assert seen == [(1, "not valid JSON (Expecting value at column 1)")]


def test_json_lines_says_which_kind_of_file_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"^input file not found: {tmp_path / 'x.jsonl'}$"):
        list(json_lines(tmp_path / "x.jsonl", "input file"))


def test_atomic_open_keeps_the_old_file_and_leaves_no_temporary_when_the_write_fails(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["out.jsonl"]


def test_write_atomic_writes_text_and_bytes_with_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o027)
    try:
        text = write_atomic(tmp_path / "a.txt", "ünïcode\n")
        data = write_atomic(tmp_path / "b.bin", b"\x00\x01")
        (tmp_path / "plain").write_text("x")
    finally:
        os.umask(old)
    assert text.read_text(encoding="utf-8") == "ünïcode\n" and data.read_bytes() == b"\x00\x01"
    want = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert want == 0o640
    assert stat.S_IMODE(text.stat().st_mode) == want and stat.S_IMODE(data.stat().st_mode) == want
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin", "plain"]


def test_atomic_directory_refuses_existing_destination_before_any_work(tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep").write_text("old")
    ran = []
    with pytest.raises(FileExistsError, match="dst"):
        with atomic_directory(dst, "test"):
            ran.append(True)
    assert not ran and (dst / "keep").read_text() == "old"


def test_atomic_directory_leaves_nothing_on_error_and_replaces_with_force(tmp_path):
    dst = tmp_path / "a" / "b" / "dst"
    with pytest.raises(RuntimeError):
        with atomic_directory(dst, "test") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    with atomic_directory(dst, "test") as tmp:
        (tmp / "first").write_text("1")
    with atomic_directory(dst, "test", force=True) as tmp:
        (tmp / "second").write_text("2")
    assert sorted(os.listdir(dst)) == [OUTPUT_MARKER, "second"] and os.listdir(dst.parent) == ["dst"]
