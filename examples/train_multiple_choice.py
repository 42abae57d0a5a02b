r"""Fine-tune ERNIE-M for multiple choice (XCOPA-, SWAG- or exam-style questions) in Paddle.

    python examples/train_multiple_choice.py --model ernie-m-base/ --train_file train.jsonl \
        --eval_file dev.jsonl --output_dir runs/mc

Data: ``.jsonl`` rows ``{"context": "...", "question": "...", "choices": ["...", ...], "label": 1}``
(``context`` optional; ``label`` is the index of the right choice, or its text). Every question needs the same
number of choices. Each choice is encoded as the pair ``(context + " " + question, choice)``; the model scores
each pair and a softmax over the choices is trained. Metric: accuracy.
"""
from __future__ import annotations

import sys
from typing import Dict, List, Optional, Sequence, Tuple

from paddle_ernie_m.training import script
from paddle_ernie_m.training.data import Problems, read_records, row_fields

PROG = "train_multiple_choice.py"


def parse_args(argv: Sequence[str]):
    parser = script.build_parser(PROG, __doc__, metric_for_best="accuracy")
    group = parser.add_argument_group("task")
    group.add_argument("--context_column", default="context", help="field of the context (default: context; "
                                                                    "rows may leave it out)")
    group.add_argument("--question_column", default="question", help="field of the question (default: question)")
    group.add_argument("--choices_column", default="choices", help="field of the list of choices")
    group.add_argument("--label_column", default="label", help="field of the right choice (index or text)")
    return parser.parse_args(argv)


def read_examples(path: str, args, problems: Problems,
                  num_choices: Optional[int] = None) -> List[Tuple[str, List[str], int]]:
    """``(first text, choices, label index)`` per row; every row needs ``num_choices`` choices (default: as
    many as the first row)."""
    examples = []
    for line, row in read_records(path):
        values = row_fields(path, line, row, (args.question_column, args.choices_column, args.label_column),
                            problems)
        if values is None:
            continue
        question, choices, label = values
        context = row.get(args.context_column) or ""
        if not isinstance(question, str) or not isinstance(context, str):
            problems.report(path, line, "the question and context must be strings")
            continue
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
            problems.report(path, line, "'choices' must be a list of at least two non-empty strings")
            continue
        num_choices = num_choices or len(choices)
        if len(choices) != num_choices:
            problems.report(path, line, f"{len(choices)} choices where the others have {num_choices}")
            continue
        if isinstance(label, str) and label in choices:
            label = choices.index(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(choices):
            problems.report(path, line, f"label {label!r} is neither a choice nor an index below {len(choices)}")
            continue
        examples.append(((context + " " + question).strip(), choices, label))
    return examples


def main(argv: Sequence[str]) -> dict:
    args = parse_args(argv)
    script.setup_logging()
    import numpy as np

    from paddle_ernie_m import ErnieMForMultipleChoice
    from paddle_ernie_m.training import DynamicPaddingCollator, predict
    from paddle_ernie_m.training.metrics import accuracy
    from paddle_ernie_m.training.tasks import encode_multiple_choice

    problems = Problems(skip=args.skip_invalid)
    train_rows = read_examples(args.train_file, args, problems)
    num_choices = len(train_rows[0][1]) if train_rows else None
    eval_rows = read_examples(args.eval_file, args, problems, num_choices) if args.eval_file else []
    problems.summary()

    tokenizer = script.load_tokenizer(args)

    def encode(rows):
        return [encode_multiple_choice(tokenizer, first, choices, label, args.max_length)
                for first, choices, label in rows]

    train_features, eval_features = encode(train_rows), encode(eval_rows)
    collate = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask", "labels"))
    inputs_only = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask"))

    def evaluate(model) -> Dict[str, float]:
        logits = predict(model, eval_features, inputs_only, args.eval_batch_size)["logits"]
        return {"accuracy": accuracy([int(np.argmax(row)) for row in logits], [f["labels"] for f in eval_features])}

    model = script.load_model(ErnieMForMultipleChoice, args)
    return script.train(args, model, train_features, collate, evaluate if eval_features else None, tokenizer)


if __name__ == "__main__":
    sys.exit(script.run(main, None, PROG))
