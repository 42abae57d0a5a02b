r"""Fine-tune ERNIE-M for named-entity recognition (CoNLL, WikiANN, ...) in Paddle.

    python examples/train_token_cls.py --model ernie-m-base/ --train_file train.conll --eval_file dev.conll \
        --output_dir runs/ner

Data: CoNLL-style files, one ``token ... tag`` line per word (first column the word, last column its BIO tag:
``O``, ``B-<type>``, ``I-<type>``), blank lines between sentences, ``-DOCSTART-`` lines ignored. The tag set
is ``--labels`` or else every tag of the training file. A word's label is trained on its first sub-word.
Metrics: entity-level precision, recall and F1 over words, computed as seqeval's default mode does (micro
average; an ``I-`` tag after ``O`` starts an entity); ``best/`` is chosen by F1.
"""
from __future__ import annotations

import sys
from typing import Dict, List, Sequence

from paddle_ernie_m.training import script
from paddle_ernie_m.training.data import Problems, TaggedSentence, read_conll

PROG = "train_token_cls.py"


def parse_args(argv: Sequence[str]):
    parser = script.build_parser(PROG, __doc__, metric_for_best="f1")
    group = parser.add_argument_group("task")
    group.add_argument("--labels", help="comma-separated tags in id order (default: O, then the training "
                                        "file's tags sorted)")
    return parser.parse_args(argv)


def known_tags(path: str, sentences: List[TaggedSentence], label2id: Dict[str, int],
               problems: Problems) -> List[TaggedSentence]:
    """The sentences whose tags are all in ``label2id``; others are reported (file and line of the tag)."""
    kept = []
    for sentence in sentences:
        unknown = [(i, tag) for i, tag in enumerate(sentence.tags) if tag not in label2id]
        if unknown:
            i, tag = unknown[0]
            problems.report(path, sentence.line + i, f"unknown tag {tag!r} (tags: {', '.join(label2id)})")
            continue
        kept.append(sentence)
    return kept


def main(argv: Sequence[str]) -> dict:
    args = parse_args(argv)
    script.setup_logging()
    from paddle_ernie_m import ErnieMForTokenClassification
    from paddle_ernie_m.training import DynamicPaddingCollator, predict
    from paddle_ernie_m.training.data import label_index
    from paddle_ernie_m.training.metrics import entity_metrics
    from paddle_ernie_m.training.tasks import encode_tagged_words, word_predictions

    problems = Problems(skip=args.skip_invalid)
    train_sentences = read_conll(args.train_file, problems)
    if args.labels:
        label2id = label_index(args.labels.split(","))
    else:
        tags = sorted({t for s in train_sentences for t in s.tags} - {"O"}, key=lambda t: (t[2:], t[0]))
        label2id = label_index(["O"] + tags)
    train_sentences = known_tags(args.train_file, train_sentences, label2id, problems)
    eval_sentences: List[TaggedSentence] = []
    if args.eval_file:
        eval_sentences = known_tags(args.eval_file, read_conll(args.eval_file, problems), label2id, problems)
    problems.summary()
    id2label = {i: tag for tag, i in label2id.items()}

    tokenizer = script.load_tokenizer(args)

    def encode(sentences: List[TaggedSentence], with_tags: bool) -> List[dict]:
        return [encode_tagged_words(tokenizer, s.tokens, s.tags if with_tags else None, label2id, args.max_length)
                for s in sentences]

    train_features, eval_features = encode(train_sentences, True), encode(eval_sentences, False)
    collate = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask", "labels"))
    inputs_only = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask"))

    def evaluate(model) -> Dict[str, float]:
        logits = predict(model, eval_features, inputs_only, args.eval_batch_size)["logits"]
        predicted = [word_predictions(row, f["word_tokens"], id2label) for row, f in zip(logits, eval_features)]
        return entity_metrics(predicted, [s.tags for s in eval_sentences])

    model = script.load_model(ErnieMForTokenClassification, args, id2label=id2label)
    return script.train(args, model, train_features, collate, evaluate if eval_features else None, tokenizer)


if __name__ == "__main__":
    sys.exit(script.run(main, None, PROG))
