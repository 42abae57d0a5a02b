"""Measure where PaddleNLP 2.8.1's and transformers 4.57.6's ErnieMTokenizer disagree, on the test corpus.

Both reference tokenizers load the fixture tokenizer (tests/fixtures/tiny_tokenizer, a 1,500-piece SentencePiece
BPE model trained on the corpus) and encode every corpus line, alone (``[CLS] A [SEP]``) and as the first text of a
pair with the next line. The script prints the fraction of lines whose ids differ, the kinds of differing tokens,
whether deleting transformers' stand-alone ``▁`` ids gives PaddleNLP's ids back, and examples (Markdown).

Usage: ``python benchmarks/tokenizer_divergence.py [--examples 8]``
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from make_tiny_tokenizer import OUTPUT as FIXTURE, read_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=8, help="examples to print")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer
    from transformers.models.deprecated.ernie_m.tokenization_ernie_m import ErnieMTokenizer as HFTokenizer

    paddlenlp = PaddleNLPTokenizer.from_pretrained(str(FIXTURE))
    hf = HFTokenizer.from_pretrained(str(FIXTURE))
    underline = hf.convert_tokens_to_ids("▁")
    corpus = read_corpus()
    pairs = corpus[1:] + corpus[:1]

    single_p, single_h = paddlenlp(corpus)["input_ids"], hf(corpus)["input_ids"]
    pair_p, pair_h = paddlenlp(corpus, pairs)["input_ids"], hf(corpus, pairs)["input_ids"]
    differ = [i for i, (a, b) in enumerate(zip(single_p, single_h)) if a != b]
    differ_pairs = sum(a != b for a, b in zip(pair_p, pair_h))
    recovered = all([t for t in b if t != underline] == a for a, b in zip(single_p + pair_p, single_h + pair_h))
    extra = Counter()
    for i in differ:
        extra.update(t for t in hf.tokenize(corpus[i]) if t not in paddlenlp.tokenize(corpus[i]))
    longer = [len(single_h[i]) - len(single_p[i]) for i in differ]

    n = len(corpus)
    print(f"Fixture vocabulary: {hf.vocab_size} ids; corpus: {n} lines (tests/data/multilingual.txt)\n")
    print("| encoding | lines whose ids differ |")
    print("|---|---|")
    print(f"| single text `[CLS] A [SEP]` | {len(differ)} / {n} ({100 * len(differ) / n:.1f}%) |")
    print(f"| pair with the next line | {differ_pairs} / {n} ({100 * differ_pairs / n:.1f}%) |")
    print(f"\nTokens transformers has and PaddleNLP lacks: {dict(extra.most_common(5))}")
    print(f"Extra tokens per differing line: {min(longer)} to {max(longer)} "
          f"(mean {sum(longer) / max(1, len(longer)):.1f})")
    print(f"Deleting every `▁` id (id {underline}) from transformers' ids gives PaddleNLP's ids on every line and "
          f"pair: {recovered}\n")
    print("| text | PaddleNLP tokens | transformers tokens |")
    print("|---|---|---|")
    shown = sorted(differ, key=lambda i: (len(corpus[i]) > 60, i))[:args.examples]
    for i in shown:
        text = corpus[i].replace("|", "\\|").replace("\n", "\\n")
        cell = lambda tokens: " ".join(tokens).replace("|", "\\|")  # noqa: E731
        print(f"| `{text}` | {cell(paddlenlp.tokenize(corpus[i]))} | {cell(hf.tokenize(corpus[i]))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
