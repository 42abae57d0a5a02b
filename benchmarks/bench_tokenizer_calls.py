"""Benchmark: the cost of one small call, ``tok.encode("hello world")``, with a vocabulary of the released size.

The bundled tokenizers (``ernie_m_tokenizer``: the slow ``ErnieMTokenizer`` and the fast ``ErnieMTokenizerFast``)
must cost no work proportional to the vocabulary per call on any transformers release they support (transformers
4.40's ``PreTrainedTokenizer.__len__`` rebuilds a set of the whole vocabulary on every call). The test tokenizer's
SentencePiece model gets a ``vocab.txt`` padded to 250,002 entries (the released ERNIE-M vocabulary's size; the
padding tokens are never produced, so the ids are the tiny model's). Peers timed in the same process when
installed: transformers' own ErnieMTokenizer (4.x) and PaddleNLP's. Each figure is the median over ``--runs``
interleaved rounds of ``--calls`` calls. A second workload encodes the multilingual test corpus in pairs (ids; ids
and offsets) to compare the fast class with the slow one and the peers.

Runs without the project installed (transformers, sentencepiece and tokenizers only), e.g. in scratch environments
for transformers 4.32 / 4.40:

    python benchmarks/bench_tokenizer_calls.py [--runs 7] [--calls 200]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

FIXTURE = ROOT / "tests" / "fixtures" / "tiny_tokenizer"
CORPUS = ROOT / "tests" / "data" / "multilingual.txt"
VOCAB_SIZE = 250_002


def padded_vocabulary(directory: Path) -> Path:
    """A tokenizer directory: the fixture's SentencePiece model and its vocab.txt padded to :data:`VOCAB_SIZE`
    lines before the last one (``[MASK]``, last as in the released vocabulary)."""
    lines = (FIXTURE / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    filler = [f"[unused{k}]" for k in range(VOCAB_SIZE - len(lines))]
    (directory / "vocab.txt").write_text("\n".join(lines[:-1] + filler + lines[-1:]) + "\n", encoding="utf-8")
    (directory / "sentencepiece.bpe.model").write_bytes((FIXTURE / "sentencepiece.bpe.model").read_bytes())
    return directory


def per_call(tokenizer, calls: int) -> float:
    """Seconds per ``encode("hello world")``."""
    start = time.perf_counter()
    for _ in range(calls):
        tokenizer.encode("hello world")
    return (time.perf_counter() - start) / calls


def per_corpus(tokenizer, texts, pairs, kwargs) -> float:
    """CPU seconds to encode the corpus in pairs, 32 a batch."""
    start = time.process_time()
    for k in range(0, len(texts), 32):
        tokenizer(texts[k:k + 32], pairs[k:k + 32], **kwargs)
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)

    import transformers

    from ernie_m_tokenizer.tokenization_ernie_m import ErnieMTokenizer
    from ernie_m_tokenizer.tokenization_ernie_m_fast import ErnieMTokenizerFast

    try:
        from machine import cpu_description

        print(cpu_description())
    except ImportError:  # the project's runtime module needs numpy only, but keep the benchmark standalone
        pass
    print(f"python {sys.version.split()[0]}, transformers {transformers.__version__}, vocabulary {VOCAB_SIZE:,}")
    directory = padded_vocabulary(Path(tempfile.mkdtemp(prefix="bench-tokenizer-calls-")))
    files = (str(directory / "sentencepiece.bpe.model"), str(directory / "vocab.txt"))
    tokenizers = {"bundled slow": ErnieMTokenizer(*files, compat="paddlenlp"),
                  "bundled fast": ErnieMTokenizerFast(*files, compat="paddlenlp")}
    try:
        from transformers import ErnieMTokenizer as TransformersTokenizer

        tokenizers["transformers' own"] = TransformersTokenizer(*files)
    except ImportError:
        pass
    try:
        from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer

        logging.disable(logging.WARNING)
        tokenizers["PaddleNLP"] = PaddleNLPTokenizer(files[1], files[0])
    except ImportError:
        pass
    logging.disable(logging.WARNING)
    expected = tokenizers["bundled slow"].encode("hello world")
    for name, tokenizer in tokenizers.items():
        ids = tokenizer.encode("hello world")
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids  # PaddleNLP returns a dict
        assert ids == expected, (name, ids, expected)

    times = {name: [] for name in tokenizers}
    for _ in range(args.runs):
        for name, tokenizer in tokenizers.items():
            times[name].append(per_call(tokenizer, args.calls))
    print(f'\nencode("hello world"): median of {args.runs} rounds of {args.calls} calls')
    for name, values in times.items():
        print(f"  {name:<18} {statistics.median(values) * 1e3:8.3f} ms per call")

    texts = CORPUS.read_text(encoding="utf-8").split("\n")
    pairs = texts[1:] + texts[:1]
    common = dict(max_length=128, truncation=True, padding="max_length")
    workloads = {"ids": (common, list(tokenizers)),  # the peers' slow tokenizers have no offsets
                 "ids+offsets": (dict(common, return_offsets_mapping=True), [n for n in tokenizers if "bundled" in n])}
    for workload, (kwargs, names) in workloads.items():
        corpus_times = {name: [] for name in names}
        for _ in range(max(3, args.runs // 2)):
            for name in names:
                corpus_times[name].append(per_corpus(tokenizers[name], texts, pairs, kwargs))
        print(f"\nthe corpus, {workload} ({len(texts)} pairs, batches of 32, max_length 128): median CPU seconds")
        slow = statistics.median(corpus_times["bundled slow"])
        for name, values in corpus_times.items():
            print(f"  {name:<18} {statistics.median(values):8.3f} s  ({slow / statistics.median(values):.2f}x the "
                  f"bundled slow one's speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
