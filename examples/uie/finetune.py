r"""Fine-tune UIE-M (ERNIE-M universal information extraction) in Paddle.

    python examples/uie/finetune.py --model uie-m-base/ --train_file data/train.txt --eval_file data/dev.txt \
        --output_dir runs/uie --learning_rate 1e-5 --batch_size 16 --num_train_epochs 10

Data: UIE examples, one JSON object a line, ``{"content": text, "prompt": label or "X的Y" / "Y of X" or
"<prefix>[option,...]", "result_list": [{"text", "start", "end"}, ...]}`` with character offsets into the content
(negative offsets, into the prompt, for classification answers): what ``ernie-m uie-doccano`` writes from a doccano
export, and what PaddleNLP's UIE recipes read. ``--model``: a UIE-M checkpoint, or an ERNIE-M base checkpoint (its
``linear_start``/``linear_end`` head is then initialised).

Training is PaddleNLP's recipe: every example padded to ``--max_length`` (default 512) with the padding attended and
``[CLS]`` masked, the mean binary cross-entropy of the start and end probabilities over all positions; content too
long for one input is cut into pieces without cutting answers. The padding is computed as one token that stands for
all of it (exactly the same loss and gradients; see ``paddle_ernie_m/uie/features.py``), so a step costs only the
real tokens. Evaluation: span precision, recall and F1 on the evaluation file, overall (``f1``, which selects
``best/``) and per label (``f1[<label>]``: the entity label, or the ``Y`` of ``X的Y`` / ``Y of X``).
Checkpoints (``checkpoint-N/``, ``best/``) are PaddleNLP-layout UIE-M directories with the tokenizer: the
extractor, PaddleNLP's Taskflow (``task_path``) and the converters read them.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, Sequence

from paddle_ernie_m.training import script

PROG = "finetune.py"


def parse_args(argv: Sequence[str]):
    parser = script.build_parser(PROG, __doc__, max_length=512, metric_for_best="f1", learning_rate=1e-5)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> dict:
    args = parse_args(argv)
    script.setup_logging()
    import json

    from paddle_ernie_m import ErnieMForInformationExtraction
    from paddle_ernie_m.training import Trainer, TrainingArguments
    from paddle_ernie_m.training import distributed as dist
    from paddle_ernie_m.training.data import Problems
    from paddle_ernie_m.uie.doccano import read_examples
    from paddle_ernie_m.uie.features import (collate, encode_examples, gold_spans, label_of_prompt, predict_spans,
                                             uie_loss)
    from paddle_ernie_m.uie.metrics import grouped_scores
    from paddle_ernie_m.uie.runner import DygraphRunner

    max_seq_len = args.max_length
    tokenizer = script.load_tokenizer(args)
    pad_id = tokenizer.pad_token_id
    problems = Problems(skip=args.skip_invalid)
    train_features, _ = encode_examples(tokenizer, read_examples(args.train_file, problems), max_seq_len)
    eval_features = []
    if args.eval_file:
        eval_features, _ = encode_examples(tokenizer, read_examples(args.eval_file, problems), max_seq_len)
    problems.summary()

    def evaluate(model) -> Dict[str, float]:
        predicted = predict_spans(DygraphRunner(model), eval_features, max_seq_len, pad_id, args.eval_batch_size)
        gold = [set(gold_spans(f)) for f in eval_features]
        return grouped_scores(predicted, gold, [label_of_prompt(f.prompt) for f in eval_features])

    model = script.load_model(ErnieMForInformationExtraction, args, attention_mask_mode="paddlenlp")
    training_args = TrainingArguments.from_namespace(args)
    trainer = Trainer(model, training_args, train_features,
                      lambda features: collate(features, max_seq_len, pad_id),
                      eval_fn=evaluate if eval_features else None,
                      compute_loss=lambda model, batch: (uie_loss(model, batch, max_seq_len), {}), tokenizer=tokenizer)
    state = trainer.train()
    output = Path(training_args.output_dir)
    summary = {"global_step": state.global_step, "best_step": state.best_step, "best_metric": state.best_metric,
               "last_eval": state.last_eval, "best_model": str(output / "best") if state.best_step is not None
               else None, "last_checkpoint": str(output / f"checkpoint-{state.global_step}")}
    if dist.is_main_process():
        print(json.dumps(summary, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    sys.exit(script.run(main, None, PROG))
