"""Does the miniature reproduce ERNIE-M's claim that CAMLM and BTMLM improve cross-lingual alignment?

Pre-trains tiny ERNIE-M models from scratch on the synthetic bilingual corpus of
``examples/pretrain_data/make_cipher_corpus.py`` (English and a letter-substitution cipher of it; parallel data
scarce next to monolingual data) with the same budget, and measures cross-lingual sentence retrieval on
held-out pairs (mean-pooled last hidden states, cosine nearest neighbour, both directions; see
``paddle_ernie_m.pretraining.evaluation``). Configurations, each trained in ERNIE-M's two stages of
``steps / 2`` optimizer steps (stage 2 starts from stage 1's weights with a fresh optimizer and schedule):

    MLM                   mlm          -> mlm
    MLM + TLM             mlm, tlm     -> mlm, tlm          (XLM's use of parallel data, for reference)
    MLM + CAMLM           mlm, camlm   -> mlm, camlm
    MLM + CAMLM + BTMLM   mlm, camlm   -> mlm, camlm, btmlm (stage 1 shared with the row above)

Every step sees the same monolingual sentences (both sides of the training pairs included) whatever the
objectives; runs with a pair objective also see one pair per example. Also reported: the pseudo-translation
token accuracy of BTMLM's step 1 on the held-out pairs (how well the model "translates" with placeholders),
and the wall time. Runs one math thread per process (``OMP_NUM_THREADS=1``).

    python benchmarks/pretrain_experiment.py [--steps 2400] [--seeds 0 1 2] [--out DIR]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scripts import load_script  # noqa: E402

STAGES = {
    "MLM": (("mlm",), ("mlm",)),
    "MLM + TLM": (("mlm", "tlm"), ("mlm", "tlm")),
    "MLM + CAMLM": (("mlm", "camlm"), ("mlm", "camlm")),
    "MLM + CAMLM + BTMLM": (("mlm", "camlm"), ("mlm", "camlm", "btmlm")),
}
MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64)
TRAINING = dict(batch_size=32, learning_rate=3e-3, warmup_ratio=0.05, weight_decay=0.01, max_grad_norm=1.0,
                logging_steps=100, progress_bar=False)
MAX_LENGTH = 48

Pair = Tuple[List[int], List[int]]


def _corpus(directory: Path) -> Path:
    make = load_script("examples/pretrain_data/make_cipher_corpus.py")
    return make.make_cipher_corpus(directory, parallel=500, test=200, monolingual=3000, seed=0)


def pseudo_translation_accuracy(model, pairs: Sequence[Pair], special) -> float:
    """Share of BTMLM step-1 pseudo tokens equal to the true translation's token at the same place (the cipher
    translates word by word), over both directions."""
    import paddle

    from paddle_ernie_m.pretraining.collator import PretrainingCollator
    from paddle_ernie_m.pretraining.objectives import generate_pseudo_tokens

    collator = PretrainingCollator(special, ["btmlm"], max_length=MAX_LENGTH)
    right = total = 0
    for sources, targets in (([a for a, _ in pairs], [b for _, b in pairs]),
                             ([b for _, b in pairs], [a for a, _ in pairs])):
        for start in range(0, len(sources), 64):
            chunk = sources[start:start + 64]
            batch = collator([{"input_ids": np.asarray(s)} for s in chunk], rng=np.random.default_rng(0))
            tensors = {k: paddle.to_tensor(v) for k, v in batch.items()}
            filled = generate_pseudo_tokens(model, tensors, special).numpy()
            for row, target in enumerate(targets[start:start + 64]):
                pseudo = filled[row][batch["btmlm_pseudo_slots"][row]]
                right += int((pseudo == np.asarray(target)).sum())
                total += len(target)
    return right / total


def train_stage(model, objectives, features_for, special, steps: int, seed: int, out: Path):
    from paddle_ernie_m.pretraining.collator import PretrainingCollator
    from paddle_ernie_m.pretraining.objectives import PretrainingLoss
    from paddle_ernie_m.training import Trainer, TrainingArguments

    collator = PretrainingCollator(special, objectives, max_length=MAX_LENGTH)
    args = TrainingArguments(output_dir=str(out), max_steps=steps, seed=seed, save_total_limit=1,
                             overwrite_output_dir=True, **TRAINING)
    Trainer(model, args, features_for(collator.needs_pairs), collator,
            compute_loss=PretrainingLoss(special)).train()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2400, help="optimizer steps per model (default 2400)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to repeat the runs with")
    parser.add_argument("--out", help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import paddle

    from paddle_ernie_m import ErnieMConfig, ErnieMForPreTraining
    from paddle_ernie_m.pretraining.collator import (SpecialTokens, WhitespaceTokenizer, encode, mix_features,
                                                     read_monolingual, read_parallel_tsv)
    from paddle_ernie_m.pretraining.evaluation import cross_lingual_retrieval
    from paddle_ernie_m.training import set_seed

    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        corpus = _corpus(Path(scratch) / "corpus")
        tokenizer = WhitespaceTokenizer.from_pretrained(corpus)
        special = SpecialTokens.from_tokenizer(tokenizer)

        def pairs_of(path: Path) -> List[Pair]:
            return [(encode(tokenizer, p.source), encode(tokenizer, p.target)) for p in read_parallel_tsv(path)]

        train_pairs, test_pairs = pairs_of(corpus / "train.parallel.tsv"), pairs_of(corpus / "test.parallel.tsv")
        mono = [encode(tokenizer, text) for lang in ("en", "cipher")
                for text in read_monolingual(corpus / f"mono.{lang}.txt")]
        mono += [side for pair in train_pairs for side in pair]
        print(f"corpus: {len(train_pairs)} training pairs, {len(mono)} monolingual sentences (pair sides "
              f"included), {len(test_pairs)} held-out pairs, vocabulary {special.vocab_size}")

        results: Dict[str, List[Dict[str, float]]] = {name: [] for name in STAGES}
        for seed in args.seeds:
            def features_for(with_pairs: bool):
                return mix_features(mono, train_pairs if with_pairs else (), seed=seed)

            stage1_cache: Dict[Tuple[str, ...], Tuple[dict, float]] = {}
            for name, (first, second) in STAGES.items():
                start = time.perf_counter()
                set_seed(seed)
                model = ErnieMForPreTraining(ErnieMConfig(vocab_size=special.vocab_size, **MODEL))
                if first in stage1_cache:
                    state, seconds = stage1_cache[first]
                    model.set_state_dict(state)
                    start -= seconds
                else:
                    train_stage(model, first, features_for, special, args.steps // 2, seed,
                                out / f"seed{seed}" / f"{'+'.join(first)}-stage1")
                    stage1_cache[first] = ({k: v.clone() for k, v in model.state_dict().items()},
                                           time.perf_counter() - start)
                train_stage(model, second, features_for, special, args.steps - args.steps // 2, seed + 1,
                            out / f"seed{seed}" / f"{name.replace(' ', '')}-stage2")
                seconds = time.perf_counter() - start
                model.eval()
                with paddle.no_grad():
                    row = cross_lingual_retrieval(model, test_pairs, special)
                    row["pseudo_translation_accuracy"] = pseudo_translation_accuracy(model, test_pairs, special)
                row["seconds"] = seconds
                results[name].append(row)
                print(f"seed {seed} {name}: " + ", ".join(f"{k}={v:.4f}" for k, v in row.items()), flush=True)

    print(f"\n{args.steps} optimizer steps per model (two stages of {args.steps // 2}), batch "
          f"{TRAINING['batch_size']}, hidden {MODEL['hidden_size']}, {MODEL['num_hidden_layers']} layers, "
          f"seeds {args.seeds}; chance = {1 / len(test_pairs):.3f}\n")
    print("| objectives | retrieval accuracy | centered retrieval accuracy | pseudo-translation token accuracy "
          "| wall time (s) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        def cell(key: str) -> str:
            values = np.array([r[key] for r in rows])
            return f"{values.mean():.3f}" + (f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else "")

        print(f"| {name} | {cell('retrieval_accuracy')} | {cell('retrieval_accuracy_centered')} | "
              f"{cell('pseudo_translation_accuracy')} | {np.mean([r['seconds'] for r in rows]):.0f} |")


if __name__ == "__main__":
    main()
