"""UIE-M training and inference inputs: the one-padding-token batches against PaddleNLP's padded ones (loss and
gradients of ``paddlenlp.utils.ie_utils.uie_loss_func`` on PaddleNLP's UIEM), answer targets, long examples."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_ernie_m import ErnieMConfig, ErnieMTokenizer, UIEM
from converters.configuration import MASK_BIAS
from paddle_ernie_m.uie.features import (Feature, build_batch, collate, encode_examples, label_of_prompt,
                                         loss_weights, split_example, uie_loss)

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"


def test_a_padded_batch_has_one_padding_token_per_row_weighing_for_all_of_its_padding():
    batch = build_batch([[0, 7, 2, 2, 9, 2], [0, 5, 2, 2, 2]], max_seq_len=10, pad_token_id=1, padded=True)
    assert batch.input_ids.tolist() == [[0, 7, 2, 2, 9, 2, 1, 1], [0, 5, 2, 2, 2, 1, 1, 1]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 4, 5, 0, 0], [0, 1, 2, 3, 4, 0, 0, 0]]
    m = MASK_BIAS
    np.testing.assert_allclose(batch.attention_bias, [[m, 0, 0, 0, 0, 0, math.log(4), m],
                                                      [m, 0, 0, 0, 0, math.log(5), m, m]], rtol=1e-6)
    assert loss_weights(batch, 10, padded=True).tolist() == [[1, 1, 1, 1, 1, 1, 4, 0], [1, 1, 1, 1, 1, 5, 0, 0]]
    fast = build_batch([[0, 7, 2, 2, 9, 2], [0, 5, 2, 2, 2]], max_seq_len=10, pad_token_id=1, padded=False)
    assert fast.input_ids.shape == (2, 8) and (fast.attention_bias[1, 5:] == m).all()
    full = build_batch([[0] + [5] * 9], max_seq_len=10, pad_token_id=1, padded=True)
    assert full.input_ids.shape == (1, 10) and full.attention_bias[0, 1:].tolist() == [0] * 9  # nothing to pad


def test_loss_and_gradients_equal_paddlenlp_on_inputs_padded_to_max_seq_len():
    from paddlenlp.transformers import UIEM as PaddleNLPUIEM
    from paddlenlp.transformers import ErnieMConfig as PaddleNLPConfig
    from paddlenlp.utils.ie_utils import uie_loss_func

    max_seq_len = 48
    paddle.seed(1)
    config = ErnieMConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ours = UIEM(config)
    reference = PaddleNLPUIEM(PaddleNLPConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2,
                                              num_attention_heads=2, hidden_dropout_prob=0.0,
                                              attention_probs_dropout_prob=0.0))
    reference.set_state_dict({k: v for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    features = []
    for length in (9, 17, 30):
        ids = [0] + rng.integers(4, 120, length - 2).tolist() + [2]
        starts = sorted(rng.choice(np.arange(1, length - 1), 2, replace=False).tolist())
        features.append(Feature(ids, starts, [s + 1 for s in starts], "p"))
    batch = {k: paddle.to_tensor(v) for k, v in collate(features, max_seq_len, pad_token_id=1).items()}
    loss = uie_loss(ours, batch, max_seq_len)
    loss.backward()

    padded = np.ones((3, max_seq_len), dtype="int64")
    positions = np.zeros((3, max_seq_len), dtype="int64")
    start_target = np.zeros((3, max_seq_len), dtype="float32")
    end_target = np.zeros((3, max_seq_len), dtype="float32")
    for i, f in enumerate(features):
        padded[i, :len(f.input_ids)] = f.input_ids
        positions[i, :len(f.input_ids)] = np.arange(len(f.input_ids))
        start_target[i, f.starts] = 1
        end_target[i, f.ends] = 1
    reference.train()
    probs = reference(paddle.to_tensor(padded), paddle.to_tensor(positions))
    expected = uie_loss_func(probs, (paddle.to_tensor(start_target), paddle.to_tensor(end_target)))
    expected.backward()
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    ours_grads = {n: p.grad.numpy() for n, p in ours.named_parameters() if p.grad is not None}
    for name, param in reference.named_parameters():
        if param.grad is not None and name in ours_grads:
            np.testing.assert_allclose(ours_grads[name], param.grad.numpy(), rtol=1e-3, atol=1e-7, err_msg=name)


def test_answers_map_to_tokens_in_the_text_and_in_the_prompt():
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    prompt = "情感倾向[正向,负向]"
    start = prompt.rfind("负向") - len(prompt) - 1
    examples = [
        {"content": "张三在北京工作", "prompt": "地点", "result_list": [{"text": "北京", "start": 3, "end": 5}]},
        {"content": "很失望", "prompt": prompt, "result_list": [{"text": "负向", "start": start, "end": start + 2}]},
    ]
    features, lost = encode_examples(tokenizer, examples, max_seq_len=64)
    assert lost == 0
    location, sentiment = features
    tokens = tokenizer.convert_ids_to_tokens(location.input_ids)
    assert [tokens[i] for i in location.starts + location.ends] == ["北", "京"]
    prompt_offsets = tokenizer(prompt, "很失望", return_offsets_mapping=True)["offset_mapping"]
    option = prompt.rfind("负向")  # the answer's characters in the prompt: tokens [CLS] + k for k covering them
    assert sentiment.starts == [1 + [s for s, _ in prompt_offsets[1:]].index(option)]
    assert sentiment.ends == [1 + [e for _, e in prompt_offsets[1:]].index(option + 2)]
    cut, lost = encode_examples(tokenizer, [dict(examples[0], content="一二三四五六七八北京")], max_seq_len=10)
    assert lost == 1 and cut[0].starts == []  # the answer was truncated away: left out, counted


def test_long_examples_are_cut_without_cutting_answers():
    example = {"content": "ABCDEFGHIJKLMNOP", "prompt": "p",
               "result_list": [{"text": "GHI", "start": 6, "end": 9}, {"text": "BC", "start": 1, "end": 3},
                               {"text": "opt", "start": -5, "end": -3}]}
    pieces = split_example(example, max_seq_len=1 + 3 + 8)  # 8 characters per piece
    assert [p["content"] for p in pieces] == ["ABCDEF", "GHIJKLMN", "OP"]
    assert pieces[0]["result_list"] == [{"text": "opt", "start": -5, "end": -3}, {"text": "BC", "start": 1, "end": 3}]
    assert pieces[1]["result_list"] == [{"text": "GHI", "start": 0, "end": 3}]
    assert pieces[2]["result_list"] == []
    assert split_example(dict(example, content="short"), max_seq_len=12) == [dict(example, content="short")]


@pytest.mark.parametrize("prompt, label", [
    ("人物", "人物"), ("张三的公司", "公司"), ("Company of Steve Jobs", "Company"),
    ("情感倾向[负向,正向]", "情感倾向[正向,负向]"), ("地址的情感倾向[正向,负向]", "情感倾向[正向,负向]"),
    ("Sentiment classification of food[positive,negative]", "Sentiment classification[negative,positive]"),
])
def test_prompts_are_grouped_by_the_label_they_ask_for(prompt, label):
    assert label_of_prompt(prompt) == label
