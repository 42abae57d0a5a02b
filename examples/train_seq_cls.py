r"""Fine-tune ERNIE-M for sentence or sentence-pair classification (XNLI, PAWS-X, ...) in Paddle.

    python examples/train_seq_cls.py --model ernie-m-base/ --train_file train.jsonl --eval_file dev.jsonl \
        --text_column premise --text_pair_column hypothesis --output_dir runs/xnli

Data: ``.jsonl`` (one JSON object a line), ``.csv`` or ``.tsv`` (with a header row). Labels are strings or
integers; the label set is ``--labels`` or else every label of the training file, sorted. An evaluation row
whose label is not in the set is an error naming the file and line (or skipped with ``--skip_invalid``).
Metrics: accuracy and macro-F1; ``best/`` is chosen by ``--metric_for_best`` (default accuracy).
"""
from __future__ import annotations

import sys
from typing import Dict, List, Optional, Sequence, Tuple

from paddle_ernie_m.training import script
from paddle_ernie_m.training.data import Problems, read_records, row_fields

PROG = "train_seq_cls.py"


def parse_args(argv: Sequence[str]):
    parser = script.build_parser(PROG, __doc__, metric_for_best="accuracy")
    group = parser.add_argument_group("task")
    group.add_argument("--text_column", default="text", help="field of the first text (default: text)")
    group.add_argument("--text_pair_column", help="field of the second text of a pair (e.g. hypothesis)")
    group.add_argument("--label_column", default="label", help="field of the label (default: label)")
    group.add_argument("--labels", help="comma-separated label names in id order (default: sorted labels of "
                                        "the training file)")
    return parser.parse_args(argv)


def read_examples(path: str, args, problems: Problems,
                  label2id: Optional[Dict[str, int]]) -> List[Tuple[str, Optional[str], str]]:
    """``(text, text_pair, label)`` rows; with ``label2id``, rows with an unknown label are reported."""
    examples = []
    for line, row in read_records(path):
        values = row_fields(path, line, row, (args.text_column, args.text_pair_column, args.label_column),
                            problems)
        if values is None:
            continue
        text, pair, label = values
        if isinstance(label, bool) or not isinstance(label, (str, int)) or not str(label).strip():
            problems.report(path, line, f"the label must be a non-empty string or an integer, got {label!r}")
            continue
        label = str(label)
        if not isinstance(text, str) or not text.strip() or (pair is not None and not isinstance(pair, str)):
            problems.report(path, line, "the text fields must be non-empty strings")
            continue
        if label2id is not None and label not in label2id:
            problems.report(path, line, f"unknown label {label!r} (labels: {', '.join(label2id)})")
            continue
        examples.append((text, pair, label))
    return examples


def main(argv: Sequence[str]) -> dict:
    args = parse_args(argv)
    script.setup_logging()
    import numpy as np

    from paddle_ernie_m import ErnieMForSequenceClassification
    from paddle_ernie_m.training import DynamicPaddingCollator, predict
    from paddle_ernie_m.training.data import label_index, sorted_labels
    from paddle_ernie_m.training.metrics import classification_metrics
    from paddle_ernie_m.training.tasks import encode_classification

    problems = Problems(skip=args.skip_invalid)
    given = label_index(args.labels.split(",")) if args.labels else None
    train_rows = read_examples(args.train_file, args, problems, given)
    label2id = given or label_index(sorted_labels(label for _, _, label in train_rows))
    if len(label2id) < 2:
        raise ValueError(f"{args.train_file}: needs at least two labels, found {list(label2id)}")
    eval_rows = read_examples(args.eval_file, args, problems, label2id) if args.eval_file else []
    problems.summary()

    tokenizer = script.load_tokenizer(args)

    def encode(rows):
        return [encode_classification(tokenizer, t, p, label2id[label], args.max_length) for t, p, label in rows]

    train_features, eval_features = encode(train_rows), encode(eval_rows)
    collate = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask", "labels"))
    inputs_only = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask"))

    def evaluate(model) -> Dict[str, float]:
        logits = predict(model, eval_features, inputs_only, args.eval_batch_size)["logits"]
        predictions = [int(np.argmax(row)) for row in logits]
        return classification_metrics(predictions, [f["labels"] for f in eval_features], len(label2id))

    model = script.load_model(ErnieMForSequenceClassification, args,
                              id2label={i: label for label, i in label2id.items()})
    return script.train(args, model, train_features, collate, evaluate if eval_features else None, tokenizer)


if __name__ == "__main__":
    sys.exit(script.run(main, None, PROG))
