"""Make a tiny synthetic bilingual corpus: English from a small grammar, and a letter-substitution cipher of it.

The second "language" writes every English word with a fixed permutation of the 26 letters (seeded), so it
shares no word with English but is an exact word-by-word translation of it. Written into ``OUT_DIR``:

* ``train.parallel.tsv`` / ``test.parallel.tsv``: ``en <TAB> sentence <TAB> cipher <TAB> its cipher`` (the
  parallel corpus, and held-out pairs for retrieval);
* ``mono.en.txt`` / ``mono.cipher.txt``: monolingual sentences, one a line; the two files hold *different*
  sentences, so they are not a hidden parallel corpus;
* ``vocab.txt``: a word-level vocabulary in ERNIE-M's layout (``[CLS]`` 0, ``[PAD]`` 1, ``[SEP]`` 2, ``[UNK]``
  3, the English words, the cipher words, ``[MASK]`` last), read by
  ``paddle_ernie_m.pretraining.collator.WhitespaceTokenizer``.

All sets are disjoint (no sentence occurs twice anywhere). The output is a deterministic function of the
arguments; it is small (a few hundred kB) and regenerated when needed rather than committed.

Usage: ``python examples/pretrain_data/make_cipher_corpus.py OUT_DIR [--parallel 500 --test 200
--monolingual 3000 --seed 0 --force]``
"""
from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from converters.cli import error_line
from converters.files import atomic_directory, check_replaceable

#: The writer named in the corpus directory's marker (``--force`` replaces only such a directory).
WRITER = "make_cipher_corpus.py"
LANGS = ("en", "cipher")
SPECIAL_HEAD = ("[CLS]", "[PAD]", "[SEP]", "[UNK]")
SPECIAL_TAIL = ("[MASK]",)

# A small English: "the old farmer found a red box near the river today".
DETERMINERS = "the a every some my your his her our their".split()
NOUNS = ("farmer teacher child doctor sailor king queen baker singer pilot dog cat horse bird fish wolf "
         "tiger mouse box book letter apple stone ring coat lamp key boat cart drum").split()
ADJECTIVES = "old young small big red green blue happy quiet brave tired clever strange heavy bright".split()
VERBS = "found saw took gave wanted liked carried painted opened lost sold bought hid watched followed".split()
INTRANSITIVE = "slept laughed waited danced sang smiled ran fell".split()
PREPOSITIONS = "near behind under inside beside above across beyond".split()
PLACES = "river house garden market forest bridge castle school village mountain harbor field".split()
ADVERBS = "today yesterday slowly quickly again often quietly early".split()


def _noun_phrase(rng: np.random.Generator, nouns: List[str]) -> List[str]:
    words = [rng.choice(DETERMINERS)]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJECTIVES))
    return words + [rng.choice(nouns)]


def english_sentence(rng: np.random.Generator) -> str:
    """One sentence of the grammar: subject, verb, optional object, optional place, optional adverb."""
    words = _noun_phrase(rng, NOUNS)
    if rng.random() < 0.75:
        words += [rng.choice(VERBS)] + _noun_phrase(rng, NOUNS)
    else:
        words.append(rng.choice(INTRANSITIVE))
    if rng.random() < 0.5:
        words += [rng.choice(PREPOSITIONS)] + _noun_phrase(rng, PLACES)
    if rng.random() < 0.4:
        words.append(rng.choice(ADVERBS))
    return " ".join(str(w) for w in words)


def cipher_key(seed: int) -> Dict[str, str]:
    """A letter permutation (seeded) under which no word of the grammar enciphers to an English word."""
    english = set(english_words())
    rng = np.random.default_rng(seed)
    while True:
        key = dict(zip(string.ascii_lowercase, rng.permutation(list(string.ascii_lowercase))))
        if all(c != p for c, p in key.items()) and not english & {encipher(w, key) for w in english}:
            return key


def encipher(text: str, key: Dict[str, str]) -> str:
    return "".join(key.get(c, c) for c in text)


def english_words() -> List[str]:
    words = DETERMINERS + NOUNS + ADJECTIVES + VERBS + INTRANSITIVE + PREPOSITIONS + PLACES + ADVERBS
    return sorted(set(words))


def make_cipher_corpus(out_dir: Path, parallel: int = 500, test: int = 200, monolingual: int = 3000,
                       seed: int = 0, force: bool = False) -> Path:
    """Write the corpus files into ``out_dir`` (created atomically; ``force`` replaces only a corpus this script
    wrote, or an empty directory)."""
    out_dir = Path(out_dir)
    check_replaceable(out_dir, WRITER, force)
    if min(parallel, test, monolingual) < 1:
        raise ValueError("parallel, test and monolingual must be positive")
    rng = np.random.default_rng(seed)
    key = cipher_key(seed)
    needed = parallel + test + 2 * monolingual
    sentences: Dict[str, None] = {}
    while len(sentences) < needed:
        sentences.setdefault(english_sentence(rng))
    pool = list(sentences)
    train, held_out = pool[:parallel], pool[parallel:parallel + test]
    mono_en = pool[parallel + test: parallel + test + monolingual]
    mono_cipher = [encipher(s, key) for s in pool[parallel + test + monolingual:]]
    words = english_words()
    vocab = [*SPECIAL_HEAD, *words, *sorted(encipher(w, key) for w in words), *SPECIAL_TAIL]

    def tsv(lines: List[str]) -> str:
        return "".join(f"{LANGS[0]}\t{s}\t{LANGS[1]}\t{encipher(s, key)}\n" for s in lines)

    files = {
        "train.parallel.tsv": tsv(train),
        "test.parallel.tsv": tsv(held_out),
        "mono.en.txt": "\n".join(mono_en) + "\n",
        "mono.cipher.txt": "\n".join(mono_cipher) + "\n",
        "vocab.txt": "\n".join(vocab) + "\n",
    }
    with atomic_directory(out_dir, WRITER, force=force) as tmp:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
    return out_dir


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="output directory")
    parser.add_argument("--parallel", type=int, default=500, help="training pairs (default 500)")
    parser.add_argument("--test", type=int, default=200, help="held-out pairs (default 200)")
    parser.add_argument("--monolingual", type=int, default=3000, help="sentences per language (default 3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sentences and of the cipher (default 0)")
    parser.add_argument("--force", action="store_true", help="replace an existing OUT_DIR")
    args = parser.parse_args(argv)
    try:
        out = make_cipher_corpus(Path(args.out_dir), args.parallel, args.test, args.monolingual, args.seed,
                                 args.force)
    except (OSError, ValueError) as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
