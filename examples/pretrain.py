"""Continue pre-training ERNIE-M on its own objectives: MLM, CAMLM and BTMLM (and TLM, XLM's baseline).

    python examples/pretrain.py --model ernie-m-base/ --train_parallel pairs.tsv \
        --monolingual mono.en.txt mono.de.txt --objectives mlm,camlm --output_dir runs/stage1 --max_steps 20000
    python examples/pretrain.py --model runs/stage1/checkpoint-20000 --train_parallel pairs.tsv \
        --monolingual mono.en.txt mono.de.txt --objectives mlm,camlm,btmlm --output_dir runs/stage2 ...

Data: ``--train_parallel`` is a TSV file of ``source_lang, source_text, target_lang, target_text`` lines;
``--monolingual`` text files hold one sentence a line. Both sides of the parallel pairs join the monolingual
sentences. Each training example is one monolingual sentence (MLM, BTMLM) plus, when a pair objective is on,
one parallel pair (TLM, CAMLM), so every step trains every chosen objective; each objective's loss is logged
as ``<objective>_loss`` in ``metrics.jsonl``. ``--eval_parallel`` (held-out pairs) enables evaluation by
cross-lingual sentence retrieval (``retrieval_accuracy``).

ERNIE-M trains in two stages: CAMLM (with MLM) first, then BTMLM, whose pseudo translations need a model
that CAMLM has already taught to translate; run this script twice as above. ``--from_scratch`` builds a
randomly initialised model from ``--model``'s ``config.json`` instead (the synthetic corpus of
``examples/pretrain_data``; see docs/pretraining.md). A tokenizer directory with only ``vocab.txt`` is read
word by word (``WhitespaceTokenizer``); with ``sentencepiece.bpe.model`` it is ERNIE-M's tokenizer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Sequence

from paddle_ernie_m.training import script
from paddle_ernie_m.training.arguments import TrainingArguments

PROG = "pretrain.py"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog=script.EPILOG.format(script=PROG),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("model and data")
    data.add_argument("--model", required=True, help="model directory to continue from (any head or none)")
    data.add_argument("--from_scratch", action="store_true",
                      help="initialise the model randomly from --model's config.json (no weights needed)")
    data.add_argument("--tokenizer", help="tokenizer directory (default: --model)")
    data.add_argument("--train_parallel", help="parallel corpus (TSV: source_lang, source, target_lang, target)")
    data.add_argument("--monolingual", nargs="*", default=[], help="monolingual corpora, one sentence a line")
    data.add_argument("--eval_parallel", help="held-out pairs (same TSV format) for retrieval evaluation")
    data.add_argument("--max_length", type=int, default=128, help="longest input in tokens (default: 128)")
    task = parser.add_argument_group("objectives")
    task.add_argument("--objectives", default="mlm,camlm",
                      help="comma-separated, from mlm, tlm, camlm, btmlm (default: mlm,camlm)")
    task.add_argument("--objective_weights", default="",
                      help="loss weights, e.g. 'btmlm=0.5,mlm=1' (default: 1 each)")
    task.add_argument("--mask_prob", type=float, default=0.15,
                      help="share of each sentence's tokens to mask, 80/10/10 as BERT (default: 0.15)")
    task.add_argument("--pseudo_length_ratio", type=float, default=1.0,
                      help="BTMLM placeholders per source token (default: 1.0)")
    TrainingArguments.add_arguments(parser, learning_rate=1e-4, warmup_ratio=0.01, logging_steps=50)
    return parser.parse_args(argv)


def _weights(text: str) -> Dict[str, float]:
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--objective_weights: expected name=number, got {item!r}") from None
        if not sep:
            raise ValueError(f"--objective_weights: expected name=number, got {item!r}")
    return weights


def load_tokenizer(directory: Path):
    from paddle_ernie_m.pretraining.collator import WhitespaceTokenizer
    from ernie_m_tokenizer.tokenization_ernie_m_engine import SENTENCEPIECE_MODEL_FILE
    from paddle_ernie_m.tokenizer import ErnieMTokenizer

    if (directory / SENTENCEPIECE_MODEL_FILE).is_file():
        return ErnieMTokenizer.from_pretrained(directory)
    return WhitespaceTokenizer.from_pretrained(directory)


def main(argv: Sequence[str]) -> dict:
    args = parse_args(argv)
    script.setup_logging()
    from paddle_ernie_m import ErnieMConfig, ErnieMForPreTraining
    from paddle_ernie_m.pretraining.collator import (PretrainingCollator, SpecialTokens, encode, mix_features,
                                                     read_monolingual, read_parallel_tsv)
    from paddle_ernie_m.pretraining.evaluation import cross_lingual_retrieval
    from paddle_ernie_m.pretraining.objectives import PretrainingLoss
    from paddle_ernie_m.training import Trainer, set_seed

    tokenizer = load_tokenizer(Path(args.tokenizer or args.model))
    special = SpecialTokens.from_tokenizer(tokenizer)
    collator = PretrainingCollator(special, [o.strip() for o in args.objectives.split(",") if o.strip()],
                                   args.mask_prob, args.max_length, args.pseudo_length_ratio)
    compute_loss = PretrainingLoss(special, _weights(args.objective_weights))
    if collator.needs_pairs and not args.train_parallel:
        raise ValueError(f"--objectives {args.objectives} needs --train_parallel")

    def ids(text: str) -> List[int]:
        return encode(tokenizer, text)

    pairs = [(ids(p.source), ids(p.target)) for p in read_parallel_tsv(args.train_parallel)] \
        if args.train_parallel else []
    mono = [ids(text) for path in args.monolingual for text in read_monolingual(path)]
    mono += [side for pair in pairs for side in pair]
    features = mix_features(mono, pairs if collator.needs_pairs else (), seed=args.seed)
    held_out = [(ids(p.source), ids(p.target)) for p in read_parallel_tsv(args.eval_parallel)] \
        if args.eval_parallel else []

    set_seed(args.seed)
    if args.from_scratch:
        model = ErnieMForPreTraining(ErnieMConfig.from_pretrained(args.model))
    else:
        model = ErnieMForPreTraining.from_pretrained(args.model)
    if model.config.vocab_size != special.vocab_size:
        raise ValueError(f"the tokenizer has {special.vocab_size} tokens but the model's vocab_size is "
                         f"{model.config.vocab_size}")

    def evaluate(m) -> Dict[str, float]:
        return cross_lingual_retrieval(m, held_out, special, args.eval_batch_size)

    training_args = TrainingArguments.from_namespace(args)
    state = Trainer(model, training_args, features, collator, eval_fn=evaluate if held_out else None,
                    compute_loss=compute_loss, tokenizer=tokenizer).train()
    summary = {"global_step": state.global_step, "last_eval": state.last_eval,
               "last_checkpoint": str(Path(training_args.output_dir) / f"checkpoint-{state.global_step}")}
    if script.dist.is_main_process():
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    sys.exit(script.run(main, None, PROG))
