"""``predict -`` and ``extract --input`` at scale (issue 22): texts are read, run and written in bounded chunks, so
the peak memory of the process (its own ``ru_maxrss``, measured in a subprocess) is the same for 8 times the lines;
the tokenizer's piece cache stays within its byte budget (tracemalloc) on a stream of distinct words; a progress
line goes to stderr. The million-line runs are ``benchmarks/bench_streaming.py``."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import paddle
import pytest

from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer

REPO = Path(__file__).resolve().parents[1]
TOKENIZER = REPO / "tests" / "fixtures" / "tiny_tokenizer"
#: Runs ``ernie-m`` and reports its own peak resident memory (``VmHWM``, KiB) on the last line of stderr. Not
#: ``ru_maxrss``: Linux keeps across ``exec`` the peak of the forked copy of the parent (the test process).
MEASURED = ("import atexit, sys; atexit.register(lambda: sys.stderr.write('PEAK_KIB %s\\n' % [l.split()[1] for l in "
            "open('/proc/self/status') if l.startswith('VmHWM')][0])); "
            "from paddle_ernie_m.cli import main; sys.exit(main())")


def run_measured(argv, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as source:
        done = subprocess.run([sys.executable, "-c", MEASURED, *map(str, argv)], stdin=source, env=env,
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    peak = int(done.stderr.strip().splitlines()[-1].split()[1]) / 1024
    return done.stdout.splitlines(), done.stderr, peak


YI = [chr(c) for c in range(0xA000, 0xA48C)]


def yi_word(rng: random.Random, length: int) -> str:
    """Characters of the Yi syllables block, unknown to the tiny vocabulary: SentencePiece returns each run of them
    as one piece of its own, so every word is a new cache entry."""
    return "".join(rng.choices(YI, k=length))


def test_the_tokenizer_piece_cache_stays_within_its_byte_budget(monkeypatch):
    from ernie_m_tokenizer import tokenization_ernie_m_engine as engine

    monkeypatch.setattr(engine, "_CACHE_BYTES", 1 << 20)
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    rng = random.Random(0)
    tracemalloc.start()
    for _ in range(10):  # 10,000 distinct pieces; the texts are dropped after each batch, as a stream does
        tokenizer([" ".join(yi_word(rng, 100) for _ in range(10)) for _ in range(100)])
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 2 << 20, f"{held / 2**20:.1f} MiB held after 10,000 distinct pieces of 100 characters"
    texts = [" ".join(yi_word(rng, 200) for _ in range(20)) for _ in range(3)]
    assert tokenizer(texts)["input_ids"] == [tokenizer([t])["input_ids"][0] for t in texts]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    directory = tmp_path_factory.mktemp("classifier") / "model"
    paddle.seed(3)
    config = ErnieMConfig(vocab_size=ErnieMTokenizer.from_pretrained(TOKENIZER).vocab_size, hidden_size=32,
                          num_hidden_layers=1, num_attention_heads=2, num_labels=2, max_position_embeddings=130)
    ErnieMForSequenceClassification(config).save_pretrained(directory)
    ErnieMTokenizer.from_pretrained(TOKENIZER).save_pretrained(directory)
    return directory


@pytest.mark.slow
def test_predict_stdin_streams_with_flat_peak_memory_and_keeps_order(classifier, tmp_path):
    """Lines of 128 tokens: 4 times as many lines (4,800 more results) do not raise the peak (the first chunks
    warm Paddle's allocator up)."""
    peaks = {}
    for count in (1600, 6400):
        lines = tmp_path / f"{count}.txt"
        with open(lines, "w") as f:  # line by line: the test process stays small
            for i in range(count):
                f.write(f"{i} " + "text number 12345 Beijing " * 40 + "\n")
        results, err, peaks[count] = run_measured(["predict", "--model", classifier, "--dygraph", "-"], lines)
        assert [json.loads(r)["text"].split()[0] for r in results] == [str(i) for i in range(count)]
    assert peaks[6400] - peaks[1600] < 8, peaks


@pytest.mark.slow
def test_extract_streams_with_flat_peak_memory_and_a_progress_line(tmp_path):
    """Lines of 80 distinct words unknown to the vocabulary (each a new tokenizer cache entry): the cache's budget,
    not the number of lines, bounds the peak."""
    from tests.uie_cases import tiny_uie

    model = tiny_uie(tmp_path / "uie", seed=2, start_bias=-1.0, end_bias=-1.0)
    rng = random.Random(1)
    peaks = {}
    for count in (200, 1600):
        lines = tmp_path / f"{count}.jsonl"
        with open(lines, "w") as f:
            for _ in range(count):
                f.write(json.dumps(" ".join(yi_word(rng, 150) for _ in range(80))) + "\n")
        results, err, peaks[count] = run_measured(["extract", "--model", model, "--schema", '["人物"]', "--backend",
                                                   "dygraph", "--mode", "fast", "--input", lines, "--progress"])
        assert len(results) == count
        assert f"{count:,} texts" in err and "texts/s" in err and "100%" in err
    assert peaks[1600] - peaks[200] < 40, peaks
