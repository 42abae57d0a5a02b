r"""Fine-tune ERNIE-M for extractive question answering (MLQA, XQuAD, SQuAD v1.1) in Paddle.

    python examples/train_qa.py --model ernie-m-base/ --train_file train.json --eval_file dev.json \
        --max_length 384 --doc_stride 128 --output_dir runs/mlqa

Data: SQuAD v1.1-format JSON. Every answer must be found at its ``answer_start`` in the context (an error names
the file, the line of the question's id and the id; ``--skip_invalid`` skips such questions and counts them).
Contexts longer than a window are split into windows that overlap by ``--doc_stride`` tokens; the answer of a
question is the best span over all its windows, read from the context through the tokens' character offsets.
Metrics: exact match and F1 in percent, as the official SQuAD v1.1 evaluation script computes them (``best/``
is chosen by F1).
"""
from __future__ import annotations

import sys
from typing import Dict, Sequence

from paddle_ernie_m.training import script

PROG = "train_qa.py"


def parse_args(argv: Sequence[str]):
    parser = script.build_parser(PROG, __doc__, max_length=384, metric_for_best="f1")
    group = parser.add_argument_group("task")
    group.add_argument("--doc_stride", type=int, default=128,
                       help="tokens shared by consecutive windows of a long context (default: 128)")
    group.add_argument("--max_query_length", type=int, default=64,
                       help="questions are cut to this many tokens (default: 64)")
    group.add_argument("--max_answer_length", type=int, default=30,
                       help="longest predicted answer in tokens (default: 30)")
    group.add_argument("--n_best", type=int, default=20,
                       help="start and end candidates considered per window (default: 20)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> dict:
    args = parse_args(argv)
    script.setup_logging()
    from paddle_ernie_m import ErnieMForQuestionAnswering
    from paddle_ernie_m.training import DynamicPaddingCollator, predict
    from paddle_ernie_m.training.data import Problems, read_squad
    from paddle_ernie_m.training.metrics import squad_metrics
    from paddle_ernie_m.training.qa import qa_features, qa_predictions

    problems = Problems(skip=args.skip_invalid)
    train_examples = read_squad(args.train_file, problems)
    eval_examples = read_squad(args.eval_file, problems) if args.eval_file else []
    problems.summary()

    tokenizer = script.load_tokenizer(args)
    windows = dict(max_length=args.max_length, doc_stride=args.doc_stride, max_query_length=args.max_query_length)
    train_features = qa_features(train_examples, tokenizer, **windows)
    eval_features = qa_features(eval_examples, tokenizer, with_labels=False, **windows)
    collate = DynamicPaddingCollator(tokenizer.pad_token_id,
                                     ("input_ids", "attention_mask", "start_positions", "end_positions"))
    inputs_only = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask"))
    references = {e.id: [text for text, _ in e.answers] for e in eval_examples}

    def evaluate(model) -> Dict[str, float]:
        out = predict(model, eval_features, inputs_only, args.eval_batch_size, ("start_logits", "end_logits"))
        answers = qa_predictions(eval_examples, eval_features, out["start_logits"], out["end_logits"],
                                 args.n_best, args.max_answer_length)
        return squad_metrics(answers, references)

    model = script.load_model(ErnieMForQuestionAnswering, args)
    return script.train(args, model, train_features, collate, evaluate if eval_features else None, tokenizer)


if __name__ == "__main__":
    sys.exit(script.run(main, None, PROG))
