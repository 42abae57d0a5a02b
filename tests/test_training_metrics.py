"""Metrics against seqeval / scikit-learn and hand-computed values (SQuAD: the official v1.1 formulas); QA windows
and answer read-back; word-to-token alignment for NER."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from paddle_ernie_m.training.data import QAExample, read_squad
from paddle_ernie_m.training.metrics import (
    accuracy,
    answer_exact_match,
    answer_f1,
    entity_metrics,
    macro_f1,
    squad_metrics,
)
from paddle_ernie_m.training.qa import NO_OFFSET, qa_features, qa_predictions
from paddle_ernie_m.training.tasks import encode_tagged_words, word_predictions

ROOT = Path(__file__).resolve().parents[1]
TOKENIZER = ROOT / "tests" / "fixtures" / "tiny_tokenizer"
QA_TRAIN = ROOT / "examples" / "data" / "qa" / "train.json"


@pytest.fixture(scope="module")
def tokenizer():
    from paddle_ernie_m.tokenizer import ErnieMTokenizer

    return ErnieMTokenizer.from_pretrained(TOKENIZER)


# ------------------------------------------------------------------------------------------ classification

def test_accuracy_and_macro_f1_match_hand_computed_values_and_scikit_learn():
    from sklearn.metrics import f1_score

    predictions, labels = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]
    assert accuracy(predictions, labels) == pytest.approx(4 / 6)
    # per class F1: 2tp / (2tp + fp + fn): class 0: 2/4, class 1: 2/3, class 2: 4/5
    assert macro_f1(predictions, labels, 3) == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, t = rng.integers(0, 4, 30), rng.integers(0, 4, 30)
        assert macro_f1(p, t, 5) == pytest.approx(f1_score(t, p, average="macro", labels=range(5), zero_division=0))


# ------------------------------------------------------------------------------------------ entities

def test_entity_scores_match_hand_computed_values_with_lenient_i_tags():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "I-ORG"]]
    # true: PER 0-1, LOC 3, ORG 5; predicted: PER 0-1, LOC 3 (I- after O starts one), ORG 5-6: 2 of 3 right
    scores = entity_metrics(pred, true)
    assert scores == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})


def test_entity_scores_equal_seqeval_on_random_tag_sequences():
    from seqeval.metrics import f1_score, precision_score, recall_score

    rng = random.Random(0)
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG"]
    for _ in range(30):
        lengths = [rng.randint(1, 9) for _ in range(rng.randint(1, 5))]
        true = [[rng.choice(tags) for _ in range(n)] for n in lengths]
        pred = [[rng.choice(tags) for _ in range(n)] for n in lengths]
        ours = entity_metrics(pred, true)
        assert ours["precision"] == pytest.approx(precision_score(true, pred, zero_division=0))
        assert ours["recall"] == pytest.approx(recall_score(true, pred, zero_division=0))
        assert ours["f1"] == pytest.approx(f1_score(true, pred, zero_division=0))


# ------------------------------------------------------------------------------------------ SQuAD

def test_squad_scores_match_hand_computed_values():
    references = {"q1": ["Eiffel Tower"], "q2": ["Paris"], "q3": ["Paris", "paris."], "q4": ["Rome"],
                  "q5": ["the city of Paris", "Paris"]}
    predictions = {"q1": "the Eiffel Tower", "q2": "in Paris, France", "q3": "London", "q5": "Paris"}
    # q1 exact after normalisation; q2 F1 = 2 * (1/3 * 1) / (1/3 + 1) = 0.5; q3 wrong; q4 unanswered; q5 best of 2
    assert squad_metrics(predictions, references) == pytest.approx({"exact_match": 40.0, "f1": 50.0})


@pytest.mark.parametrize("prediction, truth, em, f1", [
    ("The Eiffel tower!", "eiffel Tower", 1.0, 1.0),    # case, punctuation and articles are ignored
    ("an apple a day", "apple day", 1.0, 1.0),
    ("a b c", "c b a d", 0.0, 0.8),                      # "b c" vs "c b d": P = 2/2, R = 2/3
    ("1,000 people", "1000 people", 1.0, 1.0),
    ("New  York City", "new york", 0.0, 0.8),            # P = 2/3, R = 1
    ("x", "y", 0.0, 0.0),
])
def test_answer_scores_follow_the_official_squad_normalisation(prediction, truth, em, f1):
    assert answer_exact_match(prediction, truth) == em
    assert answer_f1(prediction, truth) == pytest.approx(f1)


def test_best_answer_is_taken_over_all_windows_skipping_invalid_spans():
    context = "Anna lives in Berlin now"
    examples = [QAExample("a", "q", context, [("Berlin", 14)]), QAExample("b", "q", context, [("Anna", 0)])]
    features = [
        {"example_index": 0, "offsets": [NO_OFFSET, (0, 4), (5, 10), (11, 13), (14, 20), NO_OFFSET]},
        {"example_index": 0, "offsets": [NO_OFFSET, (14, 20), (21, 24), NO_OFFSET]},
        {"example_index": 1, "offsets": [NO_OFFSET, NO_OFFSET]},
    ]
    starts = [np.array([9, 5, 1, 0, 3, 8.0]), np.array([0, 2, 6, 0.0]), np.array([1, 2.0])]
    ends = [np.array([9, 0, 1, 0, 4, 8.0]), np.array([0, 2, 1.5, 0.0]), np.array([2, 1.0])]
    # window 1: [CLS] and the last token are no answer; "Anna lives in Berlin" (4 tokens) exceeds 2 tokens;
    # best valid is "Berlin" (3 + 4 = 7). Window 2: "now" (6 + 1.5 = 7.5) wins; its end-before-start pair
    # (start "now", end "Berlin") is skipped. Example b has no context token at all.
    answers = qa_predictions(examples, features, starts, ends, n_best=20, max_answer_length=2)
    assert answers == {"a": "now", "b": ""}
    only_first = qa_predictions(examples, features[:1] + features[2:], starts[:1] + starts[2:],
                                ends[:1] + ends[2:], max_answer_length=2)
    assert only_first["a"] == "Berlin"


def test_long_contexts_become_overlapping_windows_whose_labels_read_back_the_answer(tokenizer):
    examples = read_squad(QA_TRAIN)
    stride = 8
    features = qa_features(examples, tokenizer, max_length=40, doc_stride=stride, max_query_length=16)
    by_example = {}
    for feature in features:
        assert len(feature["input_ids"]) <= 40
        by_example.setdefault(feature["example_index"], []).append(feature)
        s, e = feature["start_positions"], feature["end_positions"]
        if s:
            example = examples[feature["example_index"]]
            assert example.context[feature["offsets"][s][0]:feature["offsets"][e][1]] == example.answers[0][0]
    assert len(by_example) == len(examples)
    assert any(len(windows) > 2 for windows in by_example.values())
    for index, windows in by_example.items():
        assert any(f["start_positions"] for f in windows), examples[index].id
        spans = [[o for o in f["offsets"] if o != NO_OFFSET] for f in windows]
        for previous, current in zip(spans, spans[1:]):
            assert previous[-stride:] == current[:stride]  # consecutive windows share doc_stride tokens
        assert spans[-1][-1][1] >= len(examples[index].context.rstrip()) - 1  # the last window reaches the end


# ------------------------------------------------------------------------------------------ NER alignment

def test_word_labels_go_to_the_first_token_of_each_word_and_truncated_words_predict_o(tokenizer):
    words = ["Lucía", "García", "trabaja", "para", "Telefónica", "en", "Madrid", "."]
    tags = ["B-PER", "I-PER", "O", "O", "B-ORG", "O", "B-LOC", "O"]
    label2id = {t: i for i, t in enumerate(["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"])}
    feature = encode_tagged_words(tokenizer, words, tags, label2id, max_length=128)
    offsets = tokenizer(" ".join(words), return_offsets_mapping=True)["offset_mapping"]
    starts = np.cumsum([0] + [len(w) + 1 for w in words])
    for i, token in enumerate(feature["word_tokens"]):
        begin, end = offsets[token]
        assert starts[i] <= begin < starts[i] + len(words[i]) or (begin < starts[i] < end)
        assert feature["labels"][token] == label2id[tags[i]]
    assert sum(label != -100 for label in feature["labels"]) == len(words)
    assert feature["labels"][0] == feature["labels"][-1] == -100  # [CLS], [SEP]

    short = encode_tagged_words(tokenizer, words, tags, label2id, max_length=8)
    assert short["word_tokens"][-1] == -1 and len(short["input_ids"]) == 8
    logits = np.eye(len(label2id))[[label2id[t] for t in ["O"] + tags[:3] + ["O"] * 4]]
    predicted = word_predictions(logits, short["word_tokens"], {i: t for t, i in label2id.items()})
    assert predicted[-1] == "O" and len(predicted) == len(words)
