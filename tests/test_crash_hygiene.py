"""Killed and terminated writers (issue 22): what a ``kill -9`` leaves behind is removed by the next write once
its process is gone, ``--force`` never leaves the destination without an output (or the next write puts the
previous one back), and SIGTERM ends a command with one line on stderr, nothing on stdout but results, and no
temporary file. Each writer runs in a subprocess that kills itself at the chosen point (SIGKILL: no cleanup runs)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from converters import files
from converters.files import OUTPUT_MARKER, atomic_directory, atomic_open

REPO = Path(__file__).resolve().parents[1]
WRITER = "test writer"


def run_python(code: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def hidden(directory: Path):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def write_version(dst: Path, version: str, force: bool = True) -> None:
    with atomic_directory(dst, WRITER, force=force) as tmp:
        (tmp / "version").write_text(version)


KILL_IN_THE_BLOCK = """
    import os, signal, sys
    from pathlib import Path
    from converters.files import atomic_directory, atomic_open
    if sys.argv[1] == "directory":
        with atomic_directory(sys.argv[2], "test writer", force=True) as tmp:
            (Path(tmp) / "version").write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
    else:
        with atomic_open(sys.argv[2]) as f:
            f.write("half")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path, kind):
    dst = tmp_path / "out"
    done = run_python(KILL_IN_THE_BLOCK, kind, dst)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not dst.exists()
    (left,) = hidden(tmp_path)  # the kill left it (and its owner's process id in its name)
    assert left.startswith(".out.") and left.endswith(".tmp")
    (tmp_path / ".out.12345.tmp").write_text("someone else's file")  # not a name of ours: kept
    if kind == "directory":
        write_version(dst, "2")
        assert (dst / "version").read_text() == "2"
    else:
        with atomic_open(dst) as f:
            f.write("2")
        assert dst.read_text() == "2"
    assert hidden(tmp_path) == [".out.12345.tmp"]


def test_a_temporary_of_a_running_process_or_of_another_machine_is_kept(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ours = tmp_path / f".out.{alive.pid}@{files._HOST}-abcdefgh.tmp"
        other_host = tmp_path / f".out.{2**22 + 1}@{'0' * 8 if files._HOST != '0' * 8 else '1' * 8}-abcdefgh.tmp"
        for path in (ours, other_host):
            path.mkdir()
        write_version(tmp_path / "out", "1")
        assert hidden(tmp_path) == sorted([ours.name, other_host.name])
    finally:
        alive.kill()
        alive.wait()
    write_version(tmp_path / "out", "2")
    assert hidden(tmp_path) == [other_host.name]


KILL_BETWEEN_THE_RENAMES = """
    import os, signal, sys
    from pathlib import Path
    from converters import files
    if sys.argv[2] == "two renames":
        files._exchange = lambda a, b: False  # a system without RENAME_EXCHANGE
        real = os.replace
        def replace(a, b):
            real(a, b)
            if Path(b).name == "x":  # the previous output moved aside: the new one is not in place yet
                os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
    else:
        real = files._exchange
        def exchange(a, b):
            swapped = real(a, b)
            assert swapped, "this file system has no RENAME_EXCHANGE"
            os.kill(os.getpid(), signal.SIGKILL)  # before the previous output is deleted
        files._exchange = exchange
    with files.atomic_directory(sys.argv[1], "test writer", force=True) as tmp:
        (Path(tmp) / "version").write_text("2")
"""


@pytest.mark.parametrize("way", ["two renames", "exchange"])
def test_a_replace_killed_midway_keeps_or_puts_back_an_output_under_dst(tmp_path, way):
    dst = tmp_path / "out"
    write_version(dst, "1", force=False)
    done = run_python(KILL_BETWEEN_THE_RENAMES, dst, way)
    assert done.returncode == -signal.SIGKILL, done.stderr
    if way == "exchange":  # one step: the new output is in place, complete
        assert (dst / "version").read_text() == "2" and files.written_by(dst) == WRITER
    previous = (dst / "version").read_text() if dst.exists() else None
    with pytest.raises(RuntimeError):  # the next write fails, yet first it repairs what the kill left
        with atomic_directory(dst, WRITER, force=True):
            raise RuntimeError("the next run fails")
    expected = "2" if way == "exchange" else "1"
    assert (dst / "version").read_text() == expected and (previous in (None, expected))
    assert hidden(tmp_path) == []


def test_dst_holds_a_whole_output_at_every_instant_of_repeated_replaces(tmp_path):
    dst = tmp_path / "out"
    write_version(dst, "0", force=False)
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from pathlib import Path
        from converters.files import atomic_directory
        for i in range(1, 200):
            with atomic_directory(sys.argv[1], "test writer", force=True) as tmp:
                (Path(tmp) / "version").write_text(str(i))
    """), str(dst)], env={**os.environ, "PYTHONPATH": str(REPO)})
    missing = looks = 0
    while writer.poll() is None:
        looks += 1
        try:
            int((dst / "version").read_text())
        except (FileNotFoundError, ValueError):
            missing += 1
    assert writer.returncode == 0 and looks > 100
    assert missing == 0, f"dst had no output {missing} times of {looks}"


def test_a_killed_export_leaves_a_temporary_entry_that_the_next_start_removes(tmp_path):
    code = """
        import os, signal, sys
        from pathlib import Path
        from paddle_ernie_m.engines.export_cache import cached_export
        def export(out):
            Path(out).mkdir()
            (Path(out) / "half").write_text("x")
            os.kill(os.getpid(), signal.SIGKILL)
        cached_export(sys.argv[1], "standard", export, lambda out: None, sys.argv[2])
    """
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    done = run_python(code, tmp_path / "model", tmp_path / "cache")
    assert done.returncode == -signal.SIGKILL, done.stderr
    exports = tmp_path / "cache" / "exports"
    assert len(hidden(exports)) == 1
    from paddle_ernie_m.engines.export_cache import cached_export

    def export(out: Path) -> None:
        out.mkdir()
        (out / "whole").write_text("x")

    assert cached_export(tmp_path / "model", "other", export, lambda out: (out / "whole").read_text(),
                         tmp_path / "cache") == "x"
    assert hidden(exports) == []


def _terminate_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    started = time.monotonic()
    while not ready():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() - started < timeout
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)


@pytest.mark.slow
def test_sigterm_ends_predict_and_extract_with_one_line_on_stderr_and_nothing_half_written(tmp_path):
    import paddle

    from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer
    from tests.uie_cases import tiny_uie

    tokenizer_dir = REPO / "tests" / "fixtures" / "tiny_tokenizer"
    classifier = tmp_path / "classifier"
    paddle.seed(0)
    ErnieMForSequenceClassification(ErnieMConfig(vocab_size=ErnieMTokenizer.from_pretrained(tokenizer_dir).vocab_size,
                                                 hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                 num_labels=2)).save_pretrained(classifier)
    ErnieMTokenizer.from_pretrained(tokenizer_dir).save_pretrained(classifier)
    uie = tiny_uie(tmp_path / "uie", seed=1, start_bias=-1.0, end_bias=-1.0)
    lines = tmp_path / "lines.jsonl"
    lines.write_text("".join(json.dumps(f"text number {i} 北京") + "\n" for i in range(200_000)))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    ernie_m = [sys.executable, "-c", "import sys; from paddle_ernie_m.cli import main; sys.exit(main())"]

    with open(lines, "rb") as stdin, open(tmp_path / "predict.out", "wb") as out:
        predict = subprocess.Popen([*ernie_m, "predict", "--model", str(classifier), "--dygraph", "-"], env=env,
                                   stdin=stdin, stdout=out, stderr=subprocess.PIPE, text=True)
        _terminate_when(predict, lambda: (tmp_path / "predict.out").stat().st_size > 0)
        err = predict.communicate(timeout=60)[1]
    assert predict.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "ernie-m predict: terminated (SIGTERM)"
    assert "Traceback" not in err and "C++" not in err
    results = (tmp_path / "predict.out").read_text().splitlines()
    assert results and all(json.loads(line)["label"] in ("LABEL_0", "LABEL_1") for line in results)

    extract = subprocess.Popen([*ernie_m, "extract", "--model", str(uie), "--schema", '["人物"]', "--backend",
                                "dygraph", "--input", str(lines), "--output", str(tmp_path / "out" / "r.jsonl"),
                                "--progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _terminate_when(extract, lambda: any(p.stat().st_size for p in (tmp_path / "out").glob(".r.jsonl.*.tmp")))
    out, err = extract.communicate(timeout=60)
    assert extract.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert err.strip().splitlines()[-1] == "ernie-m extract: terminated (SIGTERM)" and out == ""
    assert not (tmp_path / "out").exists()  # neither the temporary file nor the directory it created
