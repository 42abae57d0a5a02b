"""Outputs never hurt inputs or foreign files: every writer refuses an output that is, contains or lies inside
one of its inputs (symbolic links resolved), ``--force`` replaces only the writer's own earlier output (marked by
``.ernie-m-output.json``) or an empty directory, and a failed write (permissions, full disk, read-only file
system) is one line on stderr, exit 1, with nothing half-written left behind. The references are the file
trees themselves, snapshotted byte for byte before and after each command."""
from __future__ import annotations

import builtins
import errno
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from paddle_ernie_m.cli import main
from converters.files import OUTPUT_MARKER, UnsafeOutputError, WriteError, atomic_directory, written_by

from .convert_helpers import paddlenlp_checkpoint

DEMO_MODEL = Path(__file__).resolve().parents[1] / "paddle_ernie_m" / "assets" / "uie-m-demo"
DOCCANO = [
    {"text": "地址不错，服务一般", "entities": [{"id": 0, "start_offset": 0, "end_offset": 2, "label": "评价维度"},
                                          {"id": 1, "start_offset": 2, "end_offset": 4, "label": "观点"}],
     "relations": [{"id": 0, "from_id": 0, "to_id": 1, "type": "观点词"}]},
    {"text": "房间很干净", "entities": [{"id": 7, "start_offset": 0, "end_offset": 2, "label": "评价维度"}],
     "relations": []},
] * 5


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """A PaddleNLP-saved sequence classifier with the tiny tokenizer."""
    return paddlenlp_checkpoint(tmp_path_factory.mktemp("paddle") / "src", "ErnieMForSequenceClassification")


def tree(root: Path) -> Dict[str, str]:
    """Every entry under ``root`` (links not followed): relative path -> file digest, "dir" or "link -> target"."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = f"link -> {os.readlink(path)}"
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def fails(capsys, argv, *fragments) -> str:
    """Run ``ernie-m ARGV``: exit 1 and one stderr line ``ernie-m <command>: error: ...`` holding ``fragments``."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 1, err
    assert len(err.splitlines()) == 1 and err.startswith(f"ernie-m {argv[0]}: error: "), err
    for fragment in fragments:
        assert str(fragment) in err, err
    return err


def _copy(src: Path, dst: Path) -> Path:
    return Path(shutil.copytree(src, dst))


# ------------------------------------------------------------------------------------ outputs vs inputs
def test_convert_refuses_a_dst_that_is_an_ancestor_of_src_and_deletes_nothing(capsys, tmp_path, src):
    models = tmp_path / "work" / "models"
    _copy(src, models / "ernie")
    (models / "notes.txt").write_text("unrelated")
    before = tree(tmp_path)
    fails(capsys, ["convert", "paddle2torch", models / "ernie", models, "--force"],
          "the output contains the input", models / "ernie", models)
    assert tree(tmp_path) == before


def test_export_refuses_dst_equal_to_src_even_with_force(capsys, tmp_path, src):
    model = _copy(src, tmp_path / "X")
    before = tree(tmp_path)
    fails(capsys, ["export", model, model, "--force"], "the output is the input", model)
    assert tree(tmp_path) == before and (model / "model_state.pdparams").is_file()


def test_convert_refuses_a_dst_inside_src(capsys, tmp_path, src):
    model = _copy(src, tmp_path / "src")
    before = tree(tmp_path)
    fails(capsys, ["convert", "paddle2torch", model, model / "hf"], "the output lies inside the input", model / "hf")
    assert tree(tmp_path) == before


def test_symbolic_links_are_resolved_before_comparing_output_and_input(capsys, tmp_path, src):
    model = _copy(src, tmp_path / "src")
    (tmp_path / "link").symlink_to(model, target_is_directory=True)
    before = tree(tmp_path)
    fails(capsys, ["convert", "paddle2torch", tmp_path / "link", model, "--force"],
          "the output is the input", f"both are {model}")
    fails(capsys, ["convert", "paddle2torch", model, tmp_path / "link" / "hf"], "lies inside the input")
    fails(capsys, ["export", tmp_path / "link", tmp_path, "--force"], "contains the input")
    assert tree(tmp_path) == before


def test_extract_and_doccano_never_write_over_their_input_file(capsys, tmp_path):
    data = tmp_path / "train.txt"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in DOCCANO), encoding="utf-8")
    inputs = tmp_path / "texts.jsonl"
    inputs.write_text('"房间很干净"\n', encoding="utf-8")
    before = tree(tmp_path)
    fails(capsys, ["uie-doccano", data, tmp_path, "--force"], "the output is the input", data)
    fails(capsys, ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "--input", inputs, "--output",
                   inputs, "--force"], "the output is the input", inputs)
    fails(capsys, ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "x", "--output",
                   DEMO_MODEL / "out.jsonl"], "lies inside the input", DEMO_MODEL)
    assert tree(tmp_path) == before
    assert main(["uie-doccano", str(data), str(tmp_path / "examples")]) == 0  # beside the input is fine


def test_save_pretrained_refuses_the_directory_it_was_loaded_from(tmp_path, src):
    from paddle_ernie_m import ErnieMForSequenceClassification, ErnieMTokenizer

    model_dir = _copy(src, tmp_path / "src")
    (tmp_path / "alias").symlink_to(model_dir, target_is_directory=True)
    before = tree(model_dir)
    model = ErnieMForSequenceClassification.from_pretrained(model_dir)
    with pytest.raises(UnsafeOutputError, match=f"the output is the input {model_dir}"):
        model.save_pretrained(tmp_path / "alias")
    with pytest.raises(UnsafeOutputError, match="the output is the input"):
        ErnieMTokenizer.from_pretrained(model_dir).save_pretrained(model_dir, force=True)
    assert tree(model_dir) == before
    model.save_pretrained(model_dir / "copy")  # a new directory beside the input files is fine
    assert (model_dir / "copy" / "model_state.pdparams").is_file()


# ------------------------------------------------------------------------------------------- --force
def test_force_refuses_a_foreign_non_empty_directory_and_deletes_nothing(capsys, tmp_path, src):
    foreign = tmp_path / "mine"
    (foreign / "sub").mkdir(parents=True)
    (foreign / "sub" / "thesis.tex").write_text("years of work")
    before = tree(tmp_path)
    for argv in (["convert", "paddle2torch", src, foreign, "--force"], ["export", src, foreign, "--force"]):
        fails(capsys, argv, "replaces only a directory it wrote", f"has no {OUTPUT_MARKER}", "nothing was deleted",
              "remove it yourself or choose another output", foreign)
    assert tree(tmp_path) == before


def test_force_replaces_the_writers_own_previous_output_and_no_other_writers(capsys, tmp_path, src):
    dst = tmp_path / "hf"
    assert main(["convert", "paddle2torch", str(src), str(dst)]) == 0
    assert written_by(dst) == "ernie-m convert" and (dst / "model.safetensors").is_file()
    fails(capsys, ["convert", "paddle2torch", src, dst], "already exists (use --force")
    assert main(["convert", "paddle2torch", str(src), str(dst), "--force", "--torch-format", "bin"]) == 0
    assert (dst / "pytorch_model.bin").is_file() and not (dst / "model.safetensors").exists()
    assert sorted(os.listdir(tmp_path)) == ["hf"]  # no temporary or backup directory left

    exported = tmp_path / "export"
    assert main(["export", str(src), str(exported)]) == 0
    assert main(["export", str(src), str(exported), "--force"]) == 0
    before = tree(tmp_path)
    fails(capsys, ["convert", "paddle2torch", src, exported, "--force"], "written by ernie-m export")
    assert tree(tmp_path) == before


def test_force_replaces_an_empty_directory_but_not_a_file_or_a_link(capsys, tmp_path, src):
    (tmp_path / "empty").mkdir()
    assert main(["convert", "paddle2torch", str(src), str(tmp_path / "empty"), "--force"]) == 0
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "empty", target_is_directory=True)
    before = tree(tmp_path)
    fails(capsys, ["convert", "paddle2torch", src, tmp_path / "file", "--force"], "not a file")
    fails(capsys, ["convert", "paddle2torch", src, tmp_path / "link", "--force"], "symbolic link")
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------------------ failed writes
def test_a_destination_under_a_regular_file_is_one_line_and_exit_1(capsys, tmp_path, src):
    (tmp_path / "file").write_text("x")
    fails(capsys, ["convert", "paddle2torch", src, tmp_path / "file" / "dst"], "cannot write (Not a directory)",
          tmp_path / "file" / "dst")
    fails(capsys, ["uie-doccano", _doccano(tmp_path), tmp_path / "file" / "out"], "Not a directory")
    assert sorted(os.listdir(tmp_path)) == ["doccano.jsonl", "file"]


def test_extract_output_creates_parents_only_inside_the_guarded_write(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    extract = ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "--backend", "dygraph", "房间很干净"]
    fails(capsys, [*extract, "--output", tmp_path / "file" / "sub" / "out.jsonl"],
          f"cannot write (Not a directory): {tmp_path / 'file' / 'sub' / 'out.jsonl'}")
    missing = [a if a != DEMO_MODEL else tmp_path / "no-model" for a in extract]  # fails once the output is open
    fails(capsys, [*missing, "--output", tmp_path / "newdir" / "sub" / "out.jsonl"], "no-model")
    assert sorted(os.listdir(tmp_path)) == ["file"]
    assert main([str(a) for a in [*extract, "--output", tmp_path / "newdir" / "sub" / "out.jsonl"]]) == 0
    assert '"result"' in (tmp_path / "newdir" / "sub" / "out.jsonl").read_text(encoding="utf-8")


def test_extract_force_replaces_only_its_own_earlier_output_or_an_empty_file(capsys, tmp_path):
    extract = ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "--backend", "dygraph", "房间很干净",
               "--force", "--output"]
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"id": 1, "label": "x"}\n', encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(mine)
    for path in (mine, tmp_path / "link.jsonl"):
        fails(capsys, [*extract, path], "replaces only an earlier output of extract", "nothing was changed", path)
    assert mine.read_text(encoding="utf-8") == '{"id": 1, "label": "x"}\n'
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    for _ in range(2):  # an empty file, then its own output
        assert main([str(a) for a in [*extract, empty]]) == 0
        assert json.loads(empty.read_text(encoding="utf-8"))["text"] == "房间很干净"


def test_a_read_only_destination_is_one_line_and_exit_1(capsys, tmp_path, src):
    parent = tmp_path / "ro"
    parent.mkdir()
    if subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (the monkeypatched failures below cover the same path)")
    try:  # immutable: even root cannot create entries in it
        fails(capsys, ["convert", "paddle2torch", src, parent / "dst"], "cannot write (Operation not permitted)",
              parent / "dst")
        fails(capsys, ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "房间很干净", "--output",
                       parent / "out.jsonl"], "cannot write", parent / "out.jsonl")
        fails(capsys, ["demo", "--workdir", parent / "demo"], "Operation not permitted")
        assert os.listdir(parent) == []
    finally:
        subprocess.run(["chattr", "-i", str(parent)], check=True)


@pytest.mark.parametrize("filesystem, reason", [("full", "No space left on device"),
                                                ("read-only", "Read-only file system")])
def test_a_real_full_or_read_only_file_system_is_one_line_and_exit_1(capsys, tmp_path, src, filesystem, reason):
    mount = tmp_path / "mnt"
    mount.mkdir()
    command = (["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)] if filesystem == "full"
               else ["mount", "--bind", "-o", "ro", str(tmp_path / "mnt"), str(mount)])
    if subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("mounting needs privileges this machine does not give (the monkeypatched failures below "
                    "cover the same path)")
    try:  # 200 kB: less than the checkpoint's 900 kB of weights
        fails(capsys, ["convert", "paddle2torch", src, mount / "hf"], f"cannot write ({reason})", mount / "hf")
        fails(capsys, ["export", src, mount / "export"], f"cannot write ({reason})", mount / "export")
        if filesystem == "read-only":
            fails(capsys, ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "房间很干净", "--output",
                           mount / "out.jsonl"], f"cannot write ({reason})", mount / "out.jsonl")
            fails(capsys, ["demo", "--workdir", mount / "demo"], f"cannot write ({reason})", mount / "demo")
        assert os.listdir(mount) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_exit_1_with_nothing_half_written(capsys, tmp_path, src, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    previous = tmp_path / "previous"
    assert main(["convert", "paddle2torch", str(src), str(previous)]) == 0
    before = tree(tmp_path)
    monkeypatch.setattr(os, "write", full)  # the weights' writer streams through os.write
    fails(capsys, ["convert", "paddle2torch", src, tmp_path / "new"], "cannot write (No space left on device)",
          tmp_path / "new")
    fails(capsys, ["convert", "paddle2torch", src, previous, "--force"], "No space left on device", previous)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", full)  # the last step of every writer
    fails(capsys, ["export", src, tmp_path / "export"], "cannot write (No space left on device)",
          tmp_path / "export")
    fails(capsys, ["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "--backend", "dygraph", "房间很干净",
                   "--output", tmp_path / "out.jsonl"], "No space left on device", tmp_path / "out.jsonl")
    monkeypatch.undo()
    assert tree(tmp_path) == before


def test_training_checks_its_output_dir_before_the_first_step(tmp_path, src):
    from paddle_ernie_m import ErnieMForSequenceClassification
    from paddle_ernie_m.training import DynamicPaddingCollator, Trainer, TrainingArguments

    steps = []

    def loss(model, batch):
        steps.append(1)
        return model(**batch, return_dict=True).loss, {}

    def train(output_dir, model=None, **changes):
        model = model or ErnieMForSequenceClassification.from_pretrained(src, num_labels=3)
        args = TrainingArguments(output_dir=str(output_dir), max_steps=1, batch_size=2, progress_bar=False,
                                 **changes)
        features = [{"input_ids": [0, 5, 6, 2], "labels": 1}] * 4
        collate = DynamicPaddingCollator(pad_token_id=1, keys=("input_ids", "labels"))
        return Trainer(model, args, features, collate, compute_loss=loss).train()

    model_dir = _copy(src, tmp_path / "model")
    model = ErnieMForSequenceClassification.from_pretrained(model_dir, num_labels=3)
    with pytest.raises(UnsafeOutputError, match="lies inside the input"):
        train(model_dir / "run", model)
    with pytest.raises(UnsafeOutputError, match="contains the input"):
        train(tmp_path, model)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=f"cannot write \\(Not a directory\\): {tmp_path / 'file' / 'run'}"):
        train(tmp_path / "file" / "run")
    assert steps == []

    run = tmp_path / "run"
    train(run)
    assert written_by(run) == written_by(run / "checkpoint-1") == "paddle_ernie_m training"
    (run / "checkpoint-0").mkdir()  # not written by a training: --overwrite_output_dir must not delete it
    (run / "checkpoint-0" / "notes").write_text("mine")
    with pytest.raises(UnsafeOutputError, match="checkpoint-0 is not listed as such in .*nothing was deleted"):
        train(run, overwrite_output_dir=True)
    assert (run / "checkpoint-0" / "notes").read_text() == "mine" and (run / "checkpoint-1").is_dir()


def test_a_training_script_reports_a_bad_output_dir_in_one_line_before_training(tmp_path, capsys):
    from paddle_ernie_m.training.script import run

    from .scripts import DATA, QUICK, load_script, make_tiny_model

    model = make_tiny_model(tmp_path / "model")
    script = load_script("examples/train_seq_cls.py")
    (tmp_path / "file").write_text("x")
    for output_dir, message in ((tmp_path / "file" / "run", f"cannot write (Not a directory): {tmp_path}/file/run"),
                                (model / "run", f"the output lies inside the input {model}")):
        argv = ["--model", str(model), "--train_file", str(DATA / "seq_cls" / "train.jsonl"), "--text_column",
                "premise", "--text_pair_column", "hypothesis", "--output_dir", str(output_dir), "--max_steps", "1",
                *QUICK]
        capsys.readouterr()
        assert run(script.main, argv, "train_seq_cls.py") == 1
        err = capsys.readouterr().err
        assert err.startswith("train_seq_cls.py: error: ") and message in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == ["file", "model"] and not (model / "run").exists()


# ---------------------------------------------------------------------------------------------- demo
def test_demo_twice_in_the_same_workdir_replaces_its_own_output_and_keeps_foreign_files(capsys, tmp_path):
    workdir = tmp_path / "demo"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("mine")
    assert main(["demo", "--workdir", str(workdir)]) == 0
    first = tree(workdir)
    assert main(["demo", "--workdir", str(workdir)]) == 0
    assert "max |logits before save - after reload| = 0.0e+00" in capsys.readouterr().out
    assert tree(workdir) == first  # seeded: the second run writes the same bytes
    assert (workdir / "notes.txt").read_text() == "mine"
    assert written_by(workdir / "tiny-ernie-m") == "ernie-m demo"
    for entry in workdir.iterdir():  # everything it wrote is a marked directory (a later run replaces only those)
        if entry.name not in ("notes.txt", OUTPUT_MARKER):
            assert written_by(entry) in ("ernie-m demo", "ernie-m convert"), entry

    shutil.rmtree(workdir / "tiny-ernie-m-back")
    (workdir / "tiny-ernie-m-back").mkdir()
    (workdir / "tiny-ernie-m-back" / "keep").write_text("not the demo's")
    fails(capsys, ["demo", "--workdir", workdir], "replaces only a directory it wrote", "tiny-ernie-m-back")
    assert (workdir / "tiny-ernie-m-back" / "keep").read_text() == "not the demo's"


# ------------------------------------------------------------------------- failures at a random point
def _doccano(tmp_path: Path) -> Path:
    path = tmp_path / "doccano.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in DOCCANO), encoding="utf-8")
    return path


class FailOnce:
    """Count the low-level write steps (``os.open`` for writing, ``os.write``, ``os.mkdir``, ``os.replace``,
    ``os.rename``, ``open`` in a writing mode) and make the ``fail_at``-th raise ``OSError(ENOSPC)``; the calls
    after it succeed, as removing files and renames do on a full disk."""

    def __init__(self, monkeypatch, fail_at: int = 0):
        self.calls, self.fail_at, self.failed = 0, fail_at, False
        real_open = builtins.open
        for name in ("write", "mkdir", "replace", "rename"):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))
        real_os_open = os.open
        monkeypatch.setattr(os, "open", lambda path, flags, *a, **k: (
            self._step() if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) else None, real_os_open(path, flags, *a,
                                                                                                   **k))[1])
        monkeypatch.setattr(builtins, "open", lambda file, mode="r", *a, **k: (
            self._step() if set(mode) & set("wxa+") else None, real_open(file, mode, *a, **k))[1])

    def _step(self) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            self.failed = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def _wrap(self, function):
        def wrapped(*args, **kwargs):
            self._step()
            return function(*args, **kwargs)
        return wrapped


def _writers(tmp_path: Path, src: Path) -> Dict[str, tuple]:
    """name -> (argv with DST, whether DST is a file)."""
    texts = tmp_path / "texts.jsonl"
    texts.write_text('"房间很干净"\n"地址不错"\n', encoding="utf-8")
    return {
        "convert": (["convert", "paddle2torch", src, "DST", "--force"], False),
        "torch2paddle": (["convert", "torch2paddle", tmp_path / "hf", "DST", "--force"], False),
        "export": (["export", src, "DST", "--force"], False),
        "uie-doccano": (["uie-doccano", _doccano(tmp_path), "DST", "--force"], False),
        "extract": (["extract", "--model", DEMO_MODEL, "--schema", '["评价维度"]', "--backend", "dygraph",
                     "--mode", "fast", "--input", texts, "--output", "DST", "--force"], True),
    }


@pytest.fixture(scope="module")
def failing_writers(tmp_path_factory, src):
    """Each CLI writer with its reference output (run without failures) and its count of write steps, for a new
    output and for one replacing its previous output (``--force``)."""
    from _pytest.monkeypatch import MonkeyPatch

    work = tmp_path_factory.mktemp("writers")
    assert main(["convert", "paddle2torch", str(src), str(work / "hf")]) == 0
    references = {}
    for name, (argv, _) in _writers(work, src).items():
        dst = work / f"reference-{name}"
        calls = []
        for _ in range(2):  # new, then over its previous output
            with MonkeyPatch.context() as mp:
                counter = FailOnce(mp)
                assert main([str(dst) if a == "DST" else str(a) for a in argv]) == 0
            calls.append(counter.calls)
        references[name] = (calls, _snapshot(dst))
    return work, references


def _snapshot(dst: Path):
    if not dst.is_dir():
        return hashlib.sha256(dst.read_bytes()).hexdigest()
    files = tree(dst)
    entries = json.loads((dst / OUTPUT_MARKER).read_text())["entries"] if (dst / OUTPUT_MARKER).is_file() else {}
    for name in ("inference.json", "inference.pdiparams"):  # Paddle numbers the variables anew in every export
        if name in files:
            files[name] = "present"
            files[OUTPUT_MARKER] = "lists them"  # with their hashes
            assert entries[name][:2] == ["file", (dst / name).stat().st_size]
    return files


@pytest.mark.parametrize("name", ["convert", "torch2paddle", "export", "uie-doccano", "extract"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(point=st.floats(0, 1), previous=st.booleans())
@example(point=1.0, previous=True).via("the last step: the final rename over the previous output")
@example(point=0.0, previous=False).via("the first step")
def test_a_write_failing_at_any_point_leaves_the_complete_output_or_nothing(name, point, previous,
                                                                           failing_writers, src, tmp_path_factory,
                                                                           capsys):
    from _pytest.monkeypatch import MonkeyPatch

    work, references = failing_writers
    counts, reference = references[name]
    calls = counts[previous]
    argv, is_file = _writers(work, src)[name]
    place = tmp_path_factory.mktemp("out")
    dst = place / "dst"
    if previous:  # an earlier output of the same writer, replaced with --force
        assert main([str(dst) if a == "DST" else str(a) for a in argv]) == 0
    before = tree(place)
    capsys.readouterr()
    with MonkeyPatch.context() as mp:
        injector = FailOnce(mp, fail_at=1 + int(point * (calls - 1)))
        rc = main([str(dst) if a == "DST" else str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    if rc == 0:
        assert _snapshot(dst) == reference
    else:
        assert injector.failed and rc == 1
        assert len(err.splitlines()) == 1 and "No space left on device" in err, err
        assert tree(place) == before  # nothing half-written, the previous output intact, no temporary left
    entries = sorted(os.listdir(place))
    assert entries in ([], ["dst"]) and (not entries or (dst.is_file() if is_file else dst.is_dir()))


def test_atomic_directory_puts_the_previous_output_back_when_the_final_rename_fails(tmp_path, monkeypatch):
    dst = tmp_path / "dst"
    with atomic_directory(dst, "test") as tmp:
        (tmp / "old").write_text("1")
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error"))
                        if Path(b) == dst and Path(a).name.endswith(".tmp") else real(a, b))
    with pytest.raises(WriteError, match=f"cannot write \\(I/O error\\): {dst}"):
        with atomic_directory(dst, "test", force=True) as tmp:
            (tmp / "new").write_text("2")
    assert sorted(os.listdir(tmp_path)) == ["dst"] and sorted(os.listdir(dst)) == [OUTPUT_MARKER, "old"]


# ------------------------------------------------------------------------- scripts that write outside the CLI
def test_bench_convert_refuses_a_workdir_it_did_not_write_and_deletes_nothing(tmp_path):
    from .scripts import load_script

    bench = load_script("benchmarks/bench_convert.py")
    work = tmp_path / "work"
    (work / "paddle_pdparams").mkdir(parents=True)  # an input missing: the benchmark would rebuild them all
    (work / "notes.txt").write_text("mine")
    before = tree(tmp_path)
    with pytest.raises(UnsafeOutputError, match="has no .ernie-m-output.json; nothing was deleted"):
        bench.build_inputs(work)
    assert tree(tmp_path) == before


def test_build_demo_model_replaces_only_the_files_of_the_demo_model_in_out(tmp_path):
    from .scripts import load_script

    build = load_script("examples/uie/build_demo_model.py")
    model = tmp_path / "model"
    model.mkdir()
    for name in build.ASSET_FILES:
        (model / name).write_text(f"new {name}")
    out = _copy(DEMO_MODEL, tmp_path / "asset")  # as committed: no marker
    assert sorted(os.listdir(out)) == sorted(build.ASSET_FILES)
    with pytest.raises(FileExistsError, match="use --force"):
        build.publish(model, out, force=False)
    (out / "my_eval.json").write_text("mine")
    before = tree(out)
    with pytest.raises(UnsafeOutputError, match="also holds my_eval.json; nothing was changed"):
        build.publish(model, out, force=True)
    assert tree(out) == before
    (out / "my_eval.json").unlink()
    build.publish(model, out, force=True)
    assert {p.name: p.read_text() for p in out.iterdir()} == {n: f"new {n}" for n in build.ASSET_FILES}
    build.publish(model, tmp_path / "new" / "asset", force=False)
    assert sorted(os.listdir(tmp_path / "new" / "asset")) == sorted(build.ASSET_FILES)

    work = tmp_path / "work"
    (work / "init").mkdir(parents=True)
    (work / "init" / "notes.txt").write_text("mine")
    tokenizer = Path(__file__).resolve().parent / "fixtures" / "tiny_tokenizer"
    with pytest.raises(UnsafeOutputError, match="replaces only a directory it wrote"):
        build.init_model(work, tokenizer)
    assert (work / "init" / "notes.txt").read_text() == "mine"


def test_doccano_force_replaces_only_its_own_files_and_removes_its_stale_splits(capsys, tmp_path):
    from paddle_ernie_m.uie.doccano import convert_doccano_file

    export = _doccano(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "dev.txt").write_text("my dev set\n")
    fails(capsys, ["uie-doccano", export, out], "dev.txt already exist")
    fails(capsys, ["uie-doccano", export, out, "--force"], f"replaces only files it wrote, and {out / 'dev.txt'}",
          "nothing was changed")
    assert sorted(os.listdir(out)) == ["dev.txt", "notes.txt"] and (out / "dev.txt").read_text() == "my dev set\n"

    (out / "dev.txt").unlink()
    assert main(["uie-doccano", str(export), str(out)]) == 0
    assert sorted(os.listdir(out)) == [OUTPUT_MARKER, "dev.txt", "notes.txt", "sample_index.json", "test.txt",
                                       "train.txt"]
    convert_doccano_file(export, out, splits=(), force=True)  # everything to train.txt: no stale dev/test files
    assert sorted(os.listdir(out)) == [OUTPUT_MARKER, "notes.txt", "train.txt"]
    assert len((out / "train.txt").read_text(encoding="utf-8").splitlines()) > 0
    (out / "train.txt").unlink()
    (out / "train.txt").symlink_to(out / "notes.txt")
    fails(capsys, ["uie-doccano", export, out, "--force"], "replaces only files it wrote")
    assert (out / "notes.txt").read_text() == "mine"


def test_make_synthetic_data_force_replaces_only_the_files_of_an_earlier_run(tmp_path):
    from .scripts import load_script

    synthetic = load_script("examples/uie/make_synthetic_data.py")
    out = tmp_path / "raw"
    out.mkdir()
    (out / "synthetic_ch_ext.jsonl").write_text("my annotations\n")
    with pytest.raises(UnsafeOutputError, match="replaces only files it wrote.*nothing was changed"):
        synthetic.generate(out, texts=3, force=True)
    assert sorted(os.listdir(out)) == ["synthetic_ch_ext.jsonl"]
    (out / "synthetic_ch_ext.jsonl").unlink()
    first = [p.read_bytes() for p in synthetic.generate(out, texts=3)]
    assert [p.read_bytes() for p in synthetic.generate(out, texts=3, force=True)] == first
    assert written_by(out) == "make_synthetic_data.py" and len(os.listdir(out)) == 5
