"""The training loop: optimizer groups and schedule against hand-computed values and a NumPy AdamW, gradient
accumulation, exact resume after an interruption, best checkpoint, early stopping, logging, refusals."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import paddle
import pytest

from paddle_ernie_m import ErnieMForSequenceClassification
from converters.configuration import ErnieMConfig
from converters.files import OUTPUT_MARKER, UnsafeOutputError
from paddle_ernie_m.training import DynamicPaddingCollator, Trainer, TrainingArguments, set_seed
from paddle_ernie_m.training.checkpoint import load_model_weights
from paddle_ernie_m.training.optim import LinearWarmupDecay, build_optimizer, layerwise_ratio, parameter_groups

from converters.formats import load_paddle_state

VOCAB = 60
COLLATE = DynamicPaddingCollator(pad_token_id=1, keys=("input_ids", "attention_mask", "labels"))


def tiny_model(dropout: float = 0.1, seed: int = 0) -> ErnieMForSequenceClassification:
    set_seed(seed)
    config = ErnieMConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=24, num_labels=3, hidden_dropout_prob=dropout,
                          attention_probs_dropout_prob=dropout)
    return ErnieMForSequenceClassification(config)


def features(n: int = 20, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = int(rng.integers(0, 3))
        body = rng.integers(4, 20, size=int(rng.integers(2, 10))) + 20 * label
        out.append({"input_ids": [0, *body.tolist(), 2], "labels": label})
    return out


def args(tmp_path, name: str = "run", **changes) -> TrainingArguments:
    values = dict(output_dir=str(tmp_path / name), max_steps=6, batch_size=4, learning_rate=5e-3,
                  logging_steps=1, progress_bar=False, seed=7)
    values.update(changes)
    return TrainingArguments(**values)


def weights(model) -> dict:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def records(tmp_path, name="run", kind=None) -> list:
    lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if kind is None or r["type"] == kind]


# ------------------------------------------------------------------------------------------ optimizer

def test_groups_exclude_biases_and_norms_from_decay_and_scale_lr_by_depth():
    model = tiny_model()
    groups = parameter_groups(model, weight_decay=0.01, layerwise_decay=0.5)
    by_param = {id(p): (g["weight_decay"], g["learning_rate"]) for g in groups for p in g["params"]}
    names = dict(model.named_parameters())
    expected = {  # 2 layers: layer i gets 0.5 ** (2 - i), embeddings 0.5 ** 3, head and pooler 1
        "ernie_m.embeddings.word_embeddings.weight": (0.01, 0.125),
        "ernie_m.embeddings.layer_norm.weight": (0.0, 0.125),
        "ernie_m.encoder.layers.0.self_attn.q_proj.weight": (0.01, 0.25),
        "ernie_m.encoder.layers.0.self_attn.q_proj.bias": (0.0, 0.25),
        "ernie_m.encoder.layers.1.linear1.weight": (0.01, 0.5),
        "ernie_m.encoder.layers.1.norm2.bias": (0.0, 0.5),
        "ernie_m.pooler.dense.weight": (0.01, 1.0),
        "classifier.weight": (0.01, 1.0),
        "classifier.bias": (0.0, 1.0),
    }
    for name, value in expected.items():
        assert by_param[id(names[name])] == value, name
    assert sum(len(g["params"]) for g in groups) == len(names)
    assert layerwise_ratio("classifier.weight", 2, 1.0) == 1.0


def test_schedule_warms_up_then_decays_linearly_to_the_end_ratio():
    schedule = LinearWarmupDecay(1.0, total_steps=10, warmup_steps=4, end_ratio=0.1)
    rates = []
    for _ in range(11):
        rates.append(schedule.last_lr)
        schedule.step()
    expected = [0, 0.25, 0.5, 0.75] + [0.1 + 0.9 * (10 - s) / 6 for s in range(4, 11)]
    np.testing.assert_allclose(rates, expected, atol=1e-12)


def test_two_optimizer_steps_equal_a_numpy_adamw_with_layerwise_rates_and_decay_exclusions():
    model = tiny_model(dropout=0.0)
    model.train()
    lr, wd, decay, b1, b2, eps = 1e-2, 0.1, 0.5, 0.9, 0.98, 1e-6
    optimizer, schedule = build_optimizer(model, lr, total_steps=4, warmup_steps=0, weight_decay=wd,
                                          layerwise_decay=decay, betas=(b1, b2), epsilon=eps)
    named = dict(model.named_parameters())
    ratios = {id(p): g["learning_rate"] for g in parameter_groups(model, wd, decay) for p in g["params"]}
    reference = {n: p.numpy().astype("float64") for n, p in named.items()}
    m = {n: 0.0 for n in named}
    v = {n: 0.0 for n in named}
    for t, batch in enumerate([features(4, seed=1), features(4, seed=2)], start=1):
        loss = model(**{k: paddle.to_tensor(x) for k, x in COLLATE(batch).items()}, return_dict=True).loss
        loss.backward()
        grads = {n: p.grad.numpy().astype("float64") for n, p in named.items()}
        rate = lr * (4 - (t - 1)) / 4  # linear decay from the peak, no warm-up
        optimizer.step()
        optimizer.clear_grad()
        schedule.step()
        for n, p in named.items():
            step_lr = rate * ratios[id(p)]
            decays = not ("bias" in n or "norm" in n)
            m[n] = b1 * m[n] + (1 - b1) * grads[n]
            v[n] = b2 * v[n] + (1 - b2) * grads[n] ** 2
            m_hat, v_hat = m[n] / (1 - b1 ** t), v[n] / (1 - b2 ** t)
            reference[n] = reference[n] * (1 - step_lr * wd * decays) - step_lr * m_hat / (np.sqrt(v_hat) + eps)
    for n, p in named.items():
        np.testing.assert_allclose(p.numpy(), reference[n], rtol=1e-4, atol=1e-6, err_msg=n)


# ------------------------------------------------------------------------------------------ loop

def test_gradient_accumulation_trains_the_weights_of_the_full_batch_including_a_short_last_one(tmp_path):
    data = features(20)  # global batch 8: steps of 8, 8 and 4 examples
    full, accumulated = tiny_model(dropout=0.0), tiny_model(dropout=0.0)
    Trainer(full, args(tmp_path, "full", batch_size=8, max_steps=0, num_train_epochs=2), data, COLLATE).train()
    Trainer(accumulated, args(tmp_path, "acc", batch_size=3, gradient_accumulation_steps=3, max_steps=0,
                              num_train_epochs=2), data, COLLATE).train()
    # batch 3 x 3 = 9 per step: a different global batch, so compare with the matching full batch instead
    full9 = tiny_model(dropout=0.0)
    Trainer(full9, args(tmp_path, "full9", batch_size=9, max_steps=0, num_train_epochs=2), data, COLLATE).train()
    for name, value in weights(full9).items():
        np.testing.assert_allclose(weights(accumulated)[name], value, atol=1e-5, err_msg=name)
    steps = [r["step"] for r in records(tmp_path, "full", "train")]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert not np.allclose(weights(full)["classifier.weight"], weights(full9)["classifier.weight"])


class Interrupt(Exception):
    pass


def test_resumed_run_ends_with_exactly_the_weights_of_an_uninterrupted_run(tmp_path):
    data = features(20)

    def accuracy(model):
        logits = model(**{k: paddle.to_tensor(v) for k, v in COLLATE(data).items()}, return_dict=True).logits.numpy()
        return {"accuracy": float((logits.argmax(-1) == [f["labels"] for f in data]).mean())}

    common = dict(max_steps=9, gradient_accumulation_steps=2, batch_size=2, save_steps=2, eval_steps=3)
    straight = tiny_model()
    Trainer(straight, args(tmp_path, "straight", **common), data, COLLATE, eval_fn=accuracy).train()

    calls = {"n": 0}

    def failing_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 2 * 5 + 1:  # the first micro-batch of step 6
            raise Interrupt
        return model(**batch, return_dict=True).loss, {}

    with pytest.raises(Interrupt):
        Trainer(tiny_model(), args(tmp_path, "resumed", **common), data, COLLATE, eval_fn=accuracy,
                compute_loss=failing_loss).train()
    assert sorted(p.name for p in (tmp_path / "resumed").glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-4"]
    resumed_model = tiny_model(seed=123)  # a different start: everything must come from the checkpoint
    state = Trainer(resumed_model, args(tmp_path, "resumed", resume_from_checkpoint="latest", **common), data,
                    COLLATE, eval_fn=accuracy).train()
    assert state.global_step == 9
    for name, value in weights(straight).items():
        np.testing.assert_array_equal(weights(resumed_model)[name], value, err_msg=name)
    assert [r["step"] for r in records(tmp_path, "resumed", "train")] == list(range(1, 10))
    assert records(tmp_path, "resumed", "eval") == records(tmp_path, "straight", "eval")
    final = load_paddle_state(tmp_path / "resumed" / "checkpoint-9")
    for name, value in weights(straight).items():
        np.testing.assert_array_equal(final[name], value)


def test_best_checkpoint_follows_the_named_metric_and_training_stops_early(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    snapshots = []

    def evaluate(model):
        snapshots.append(weights(model))
        return {"loss": 1.0, "f1": next(scores)}

    model = tiny_model()
    state = Trainer(model, args(tmp_path, max_steps=10, eval_steps=2, metric_for_best="f1",
                                early_stopping_patience=2), features(), COLLATE, eval_fn=evaluate).train()
    assert (state.global_step, state.best_step, state.best_metric, state.stopped_early) == (8, 4, 0.7, True)
    assert json.loads((tmp_path / "run" / "best" / "eval_results.json").read_text()) == {
        "step": 4, "loss": 1.0, "f1": 0.7}
    best = ErnieMForSequenceClassification.from_pretrained(tmp_path / "run" / "best")
    for name, value in snapshots[1].items():
        np.testing.assert_array_equal(best.state_dict()[name].numpy(), value)
    assert [r["f1"] for r in records(tmp_path, kind="eval")] == [0.5, 0.7, 0.6, 0.65]
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-6", "checkpoint-8"]


def test_compute_loss_logs_are_averaged_per_logging_window(tmp_path):
    def two_objectives(model, batch):
        loss = model(**batch, return_dict=True).loss
        return loss, {"mlm_loss": loss * 2, "constant": 3.0}

    Trainer(tiny_model(), args(tmp_path, max_steps=4, logging_steps=2), features(), COLLATE,
            compute_loss=two_objectives).train()
    logged = records(tmp_path, kind="train")
    assert [r["step"] for r in logged] == [2, 4]
    for record in logged:
        assert record["mlm_loss"] == pytest.approx(2 * record["loss"], rel=1e-6)
        assert record["constant"] == pytest.approx(3.0)
        assert record["loss"] > 0 and record["grad_norm"] > 0 and record["lr"] > 0


def test_a_previous_run_is_never_overwritten_without_being_asked(tmp_path, caplog):
    Trainer(tiny_model(), args(tmp_path, max_steps=1), features(), COLLATE).train()
    with pytest.raises(FileExistsError, match="resume_from_checkpoint latest.*overwrite_output_dir"):
        Trainer(tiny_model(), args(tmp_path, max_steps=1), features(), COLLATE).train()
    with pytest.raises(FileNotFoundError, match="not a training checkpoint"):
        Trainer(tiny_model(), args(tmp_path, max_steps=1, resume_from_checkpoint=str(tmp_path)), features(),
                COLLATE).train()
    with pytest.raises(ValueError, match="global_batch=4, this run 8"):
        Trainer(tiny_model(), args(tmp_path, max_steps=1, batch_size=8, resume_from_checkpoint="latest"),
                features(), COLLATE).train()
    with caplog.at_level(logging.WARNING):
        Trainer(tiny_model(), args(tmp_path, max_steps=2, overwrite_output_dir=True, amp="bf16"), features(),
                COLLATE).train()
    assert "needs a GPU" in caplog.text
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [OUTPUT_MARKER, "checkpoint-2", "metrics.jsonl"]
    model = tiny_model(seed=5)
    load_model_weights(model, tmp_path / "run" / "checkpoint-2")
    assert len(records(tmp_path, kind="train")) == 2


def test_overwrite_output_dir_reruns_in_a_directory_that_held_files_of_the_user_and_keeps_them(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    Trainer(tiny_model(), args(tmp_path, max_steps=1), features(), COLLATE).train()
    for steps in (2, 3):  # every rerun, not only the first
        Trainer(tiny_model(), args(tmp_path, max_steps=steps, overwrite_output_dir=True), features(),
                COLLATE).train()
        assert sorted(p.name for p in run.iterdir()) == [
            OUTPUT_MARKER, f"checkpoint-{steps}", "metrics.jsonl", "notes.txt"]
        assert [r["step"] for r in records(tmp_path, kind="train")] == list(range(1, steps + 1))
    assert (run / "notes.txt").read_text() == "mine"

    (run / "checkpoint-7").mkdir()  # the user's, though named like a checkpoint
    with pytest.raises(UnsafeOutputError, match="checkpoint-7 is not listed as such.*nothing was deleted"):
        Trainer(tiny_model(), args(tmp_path, max_steps=1, overwrite_output_dir=True), features(), COLLATE).train()
    (run / "checkpoint-7").rmdir()
    (run / "checkpoint-3" / "my_eval.txt").write_text("mine")
    with pytest.raises(UnsafeOutputError, match="holds my_eval.txt, which paddle_ernie_m training did not write"):
        Trainer(tiny_model(), args(tmp_path, max_steps=1, overwrite_output_dir=True), features(), COLLATE).train()
    assert (run / "checkpoint-3" / "my_eval.txt").read_text() == "mine" and (run / "metrics.jsonl").is_file()


def test_overwrite_output_dir_checks_every_previous_output_before_deleting_any(tmp_path):
    def evaluate(model):
        return {"accuracy": 0.5}

    for name in ("other", "run"):
        Trainer(tiny_model(), args(tmp_path, name, max_steps=2, save_steps=1, save_total_limit=2), features(),
                COLLATE, eval_fn=evaluate).train()
    run = tmp_path / "run"
    shutil.rmtree(run / "best")
    (run / "best").symlink_to(tmp_path / "other" / "best")  # another run's best/, marked by a training
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(UnsafeOutputError, match="does not replace a symbolic link"):
        Trainer(tiny_model(), args(tmp_path, max_steps=1, overwrite_output_dir=True), features(), COLLATE).train()
    assert sorted(p.name for p in run.iterdir()) == before
    assert (run / "checkpoint-1").is_dir() and (tmp_path / "other" / "best" / "eval_results.json").is_file()


def test_resume_drops_a_torn_last_line_of_the_metrics_with_a_warning(tmp_path, caplog):
    calls = {"n": 0}

    def failing_loss(model, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Interrupt
        return model(**batch, return_dict=True).loss, {}

    common = dict(max_steps=4, save_steps=2)
    with pytest.raises(Interrupt):
        Trainer(tiny_model(), args(tmp_path, **common), features(), COLLATE, compute_loss=failing_loss).train()
    metrics = tmp_path / "run" / "metrics.jsonl"
    with open(metrics, "a") as f:
        f.write('{"type": "train", "step": "3"}\n')  # edited by hand: no integer step
        f.write('{"type": "train", "step": 4, "lo')  # killed while appending
    with caplog.at_level(logging.WARNING):
        Trainer(tiny_model(), args(tmp_path, resume_from_checkpoint="latest", **common), features(),
                COLLATE).train()
    assert f"{metrics}:4: not a record of this trainer (no integer 'step'); dropped" in caplog.text
    assert f"{metrics}:5: not valid JSON" in caplog.text and "dropped" in caplog.text
    assert [r["step"] for r in records(tmp_path, kind="train")] == [1, 2, 3, 4]
