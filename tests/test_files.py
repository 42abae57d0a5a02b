"""The shared file helpers: JSON lines with ``path:line`` errors, and writes that never leave half a file."""
import hashlib
import json
import os
import stat

import pytest

from converters.files import (OUTPUT_MARKER, UnsafeOutputError, WriteError, atomic_directory, atomic_open,
                              check_replaceable, current_umask, json_lines, write_atomic, written_by)


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


# ---------------------------------------------------------------------------- --force replaces only its own output
def _write(dst, writer="ernie-m convert", force=False):
    with atomic_directory(dst, writer, force=force) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "code.py").write_text("x = 1\n")


@pytest.mark.parametrize("change, foreign", [
    (lambda d: (d / "my_notes.txt").write_text("mine"), "my_notes.txt"),
    (lambda d: (d / "checkpoint-500").mkdir(), "checkpoint-500"),
    (lambda d: (d / "sub" / "notes").write_text("mine"), "sub/notes"),
    (lambda d: (d / "config.json").write_text('{"edited": 1}'), "config.json"),
    (lambda d: (d / "config.json").write_text('[]'), "config.json"),  # the same size
    (lambda d: ((d / "sub" / "code.py").unlink(), (d / "sub" / "code.py").symlink_to(d / "config.json")),
     "sub/code.py"),
])
def test_force_refuses_a_marked_directory_holding_anything_its_writer_did_not_write(tmp_path, change, foreign):
    dst = tmp_path / "dst"
    _write(dst)
    change(dst)
    before = {p: p.lstat().st_mtime_ns for p in dst.rglob("*")}
    with pytest.raises(UnsafeOutputError, match=f"holds {foreign}, which ernie-m convert did not write.*nothing was "
                                                f"deleted"):
        _write(dst, force=True)
    assert {p: p.lstat().st_mtime_ns for p in dst.rglob("*")} == before
    assert sorted(os.listdir(tmp_path)) == ["dst"]


def test_force_refuses_weights_replaced_by_other_weights_of_the_same_size(tmp_path):
    """Large files are not hashed whole; fine-tuned weights of the same shapes in their place are still seen."""
    import numpy as np

    dst = tmp_path / "dst"
    rng = np.random.default_rng(0)
    with atomic_directory(dst, "ernie-m convert") as tmp:
        (tmp / "model.safetensors").write_bytes(rng.standard_normal(1 << 19).astype(np.float32).tobytes())  # 2 MiB
    (dst / "model.safetensors").write_bytes(rng.standard_normal(1 << 19).astype(np.float32).tobytes())
    with pytest.raises(UnsafeOutputError, match="holds model.safetensors, which ernie-m convert did not write"):
        with atomic_directory(dst, "ernie-m convert", force=True):
            pass
    assert (dst / "model.safetensors").stat().st_size == 1 << 21


def test_force_replaces_an_unchanged_output_and_its_marker_lists_what_was_written(tmp_path):
    dst = tmp_path / "dst"
    _write(dst)
    marker = json.loads((dst / OUTPUT_MARKER).read_text())
    assert marker["writer"] == "ernie-m convert"
    assert sorted(marker["entries"]) == ["config.json", "sub", "sub/code.py"]
    assert marker["entries"]["config.json"] == ["file", 2, hashlib.sha256(b"{}").hexdigest()]
    _write(dst, force=True)
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == [
        OUTPUT_MARKER, "config.json", "sub", "sub/code.py"]


def test_force_refuses_a_marker_of_an_older_version_that_lists_no_files(tmp_path):
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / OUTPUT_MARKER).write_text(json.dumps({"writer": "ernie-m convert"}))
    (dst / "config.json").write_text("{}")
    with pytest.raises(UnsafeOutputError, match="marker of an older version, which does not list its files"):
        check_replaceable(dst, "ernie-m convert", force=True)
    assert (dst / "config.json").read_text() == "{}"


def test_written_by_follows_no_symbolic_link(tmp_path):
    real = tmp_path / "real"
    _write(real)
    (tmp_path / "link").symlink_to(real)
    other = tmp_path / "other"
    other.mkdir()
    (other / OUTPUT_MARKER).symlink_to(real / OUTPUT_MARKER)
    assert written_by(real) == "ernie-m convert"
    assert written_by(tmp_path / "link") is None and written_by(other) is None


# ------------------------------------------------------------------------------------- atomic_open's parents
def test_atomic_open_creates_missing_parents_and_removes_them_when_the_write_fails(tmp_path):
    path = tmp_path / "newdir" / "sub" / "out.jsonl"
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []
    write_atomic(path, "ok\n")
    assert path.read_text() == "ok\n"


def test_atomic_open_under_a_regular_file_is_one_line_not_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "sub" / "out.jsonl"
    with pytest.raises(WriteError) as info:
        write_atomic(path, "x")
    assert str(info.value) == f"cannot write (Not a directory): {path}"
    assert os.listdir(tmp_path) == ["file"] and (tmp_path / "file").read_text() == "x"


# ------------------------------------------------------------------------------------------ umask and fsync
def test_current_umask_reads_the_mask_without_changing_it(monkeypatch):
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("current_umask changed the process umask"))
        assert current_umask() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_outputs_are_flushed_to_disk_before_the_rename_and_the_rename_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "out.txt"
    write_atomic(path, "x")
    assert events[-1] == ("fsync", str(tmp_path)) and events[-2] == ("replace", str(path))
    assert events[-3][0] == "fsync" and events[-3][1].startswith(str(tmp_path / ".out.txt."))

    events.clear()
    dst = tmp_path / "dst"
    with atomic_directory(dst, "test") as tmp:
        (tmp / "weights.bin").write_bytes(b"w" * 100)
    renamed = events.index(("replace", str(dst)))
    flushed = [p for kind, p in events[:renamed] if kind == "fsync"]
    assert str(tmp / "weights.bin") in flushed and str(tmp / OUTPUT_MARKER) in flushed and str(tmp) in flushed
    assert ("fsync", str(tmp_path)) in events[renamed:]
