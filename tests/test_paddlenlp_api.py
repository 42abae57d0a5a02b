"""PaddleNLP 2.8.1's public ErnieM model and config API on our classes: each call made on the real PaddleNLP
object and on ours, with the same weights, gives the same result (same structure: a Tensor where PaddleNLP
returns a Tensor, a tuple of the same length where it returns a tuple)."""
from __future__ import annotations

import inspect
import json

import numpy as np
import paddle
import paddlenlp.transformers as pnlp
import pytest
import transformers

import paddle_ernie_m as ours
from converters.configuration import ErnieMConfig

from .conftest import TINY, padded_batch
from .paddlenlp_models import HEADS, NUM_CHOICES, NUM_LABELS, paddlenlp_model

ATOL = 1e-5


def twin(head: str):
    """(PaddleNLP's model, ours built from PaddleNLP's config object and given its weights)."""
    reference = paddlenlp_model(head)
    model = HEADS[head][0](reference.config)
    model.set_state_dict(reference.state_dict())
    model.eval()
    return reference, model


def assert_same(want, got, where="output"):
    """Same structure (Tensor / tuple / None) and the same values."""
    if want is None or isinstance(want, paddle.Tensor):
        assert type(got) is type(want), f"{where}: PaddleNLP gives {type(want).__name__}, ours {type(got).__name__}"
        if want is not None:
            assert got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}"
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=ATOL, err_msg=where)
        return
    assert isinstance(want, tuple) and isinstance(got, tuple), f"{where}: {type(want)} vs {type(got)}"
    assert len(got) == len(want), f"{where}: PaddleNLP gives {len(want)} items, ours {len(got)}"
    for i, (w, g) in enumerate(zip(want, got)):
        assert_same(w, g, f"{where}[{i}]")


def inputs_for(head: str) -> dict:
    ids = padded_batch()
    if head == "multiple_choice":
        ids = np.stack([ids[:2], padded_batch(seed=1)[:2]], axis=1)  # [batch 2, choices 2, seq]
    return {"input_ids": paddle.to_tensor(ids), "attention_mask": paddle.to_tensor((ids != 1).astype("int64"))}


def labels_for(head: str, inputs: dict) -> dict:
    ids = inputs["input_ids"]
    if head == "seq_cls":
        return {"labels": paddle.to_tensor(np.array([0, 2, 1]))}
    if head == "token_cls":
        return {"labels": paddle.to_tensor(np.random.default_rng(0).integers(0, NUM_LABELS, ids.shape))}
    if head == "multiple_choice":
        return {"labels": paddle.to_tensor(np.array([1, 0]))}
    if head == "qa":
        return {"start_positions": paddle.to_tensor(np.array([1, 2, 3])),
                "end_positions": paddle.to_tensor(np.array([4, 5, 60]))}  # 60: outside, ignored
    return {}


CASES = {
    "plain": {},
    "labels": {"labels": True},
    "hidden_states_and_attentions": {"output_hidden_states": True, "output_attentions": True},
    "labels_hidden_states_and_attentions": {"labels": True, "output_hidden_states": True, "output_attentions": True},
}


@pytest.mark.parametrize("head, case", [(h, c) for h in HEADS for c in CASES
                                        if h != "uie" and not (h == "base" and "labels" in CASES[c])])
def test_return_dict_false_and_the_default_return_exactly_what_paddlenlp_returns(head, case):
    """The logits Tensor itself for the classifiers without labels, (loss, logits) with them, PaddleNLP's tuples
    for the bare model and QA, with the hidden states and attentions appended when asked for. (The bare model
    takes no labels; UIE-M: see the next test.)"""
    reference, model = twin(head)
    inputs = inputs_for(head)
    kwargs = {k: v for k, v in CASES[case].items() if k != "labels"}
    if "labels" in CASES[case]:
        kwargs.update(labels_for(head, inputs))
    with paddle.no_grad():
        want = reference(**inputs, **kwargs, return_dict=False)
        got = model(**inputs, **kwargs, return_dict=False)
        assert_same(want, got)
        assert_same(reference(**inputs, **kwargs), model(**inputs, **kwargs))  # the default is PaddleNLP's


def test_uie_returns_paddlenlps_pair_of_probabilities():
    reference, model = twin("uie")
    inputs = inputs_for("uie")
    with paddle.no_grad():
        want = reference(**inputs)  # PaddleNLP's UIEM has no return_dict: always (start_prob, end_prob)
        assert_same(want, model(**inputs, return_dict=False))
        assert_same(want, model(**inputs))
        assert_same(want, tuple(model(**inputs, return_dict=True)))


# ------------------------------------------------------------------------------------------ past_key_values
def random_cache(batch: int, past: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = [batch, TINY["num_attention_heads"], past, TINY["hidden_size"] // TINY["num_attention_heads"]]
    return tuple((paddle.to_tensor(rng.standard_normal(shape).astype("float32")),
                  paddle.to_tensor(rng.standard_normal(shape).astype("float32")))
                 for _ in range(TINY["num_hidden_layers"]))


CACHE_CASES = {
    "use_cache_without_past": dict(use_cache=True),
    "past_without_use_cache": dict(past=4),
    "past_and_use_cache": dict(past=4, use_cache=True),
    "past_with_mask_over_past_and_new": dict(past=4, use_cache=True, mask=True),
    "past_with_hidden_states_and_attentions": dict(past=3, output_hidden_states=True, output_attentions=True),
}


@pytest.mark.parametrize("return_dict", [False, True])
@pytest.mark.parametrize("case", list(CACHE_CASES))
def test_past_key_values_and_use_cache_follow_paddlenlp(case, return_dict):
    """Cached keys/values are attended to, new positions continue after them, the default mask attends to
    them, and ``use_cache`` returns every layer's cached + new keys and values, as PaddleNLP 2.8.1 does."""
    spec = dict(CACHE_CASES[case])
    reference = paddlenlp_model("base")
    # PaddleNLP's default mask (no mask passed) is the one our "paddlenlp" mode reproduces
    model = ours.ErnieMModel(reference.config, attention_mask_mode="paddlenlp")
    model.set_state_dict(reference.state_dict())
    model.eval()
    ids = paddle.to_tensor(padded_batch(seq=6))
    kwargs = {k: spec[k] for k in ("use_cache", "output_hidden_states", "output_attentions") if k in spec}
    past = spec.get("past")
    if past:
        kwargs["past_key_values"] = random_cache(ids.shape[0], past)
    if spec.get("mask"):
        mask = np.ones([ids.shape[0], past + ids.shape[1]], dtype="float32")
        mask[0, 1] = mask[1, -1] = 0  # one cached and one new position masked
        kwargs["attention_mask"] = paddle.to_tensor(mask)
    with paddle.no_grad():
        want = reference(ids, **kwargs, return_dict=return_dict)
        got = model(ids, **kwargs, return_dict=return_dict)
    if return_dict:
        names = ["last_hidden_state", "pooler_output", "past_key_values", "hidden_states", "attentions"]
        for name in names:
            w, g = getattr(want, name), getattr(got, name)
            if name == "past_key_values" and w is not None:  # PaddleNLP: tuples, or its Cache namedtuples
                w = tuple(tuple(layer) for layer in w)
            assert_same(w, g, name)
    else:
        if kwargs.get("use_cache"):
            want = tuple(tuple(tuple(layer) for layer in part) if i == 2 else part for i, part in enumerate(want))
        assert_same(want, got)


def test_a_cache_changes_the_output_and_shifts_the_positions():
    """Hand-checked: with a cache of length P and no position ids, the new tokens take positions P, P+1, ...
    (PaddleNLP's ``past_key_values_length``): the embedding output equals the one with those explicit
    ``position_ids``; and the cache is attended to: the output differs from the one without it."""
    model = ours.ErnieMModel(ErnieMConfig(**TINY))
    model.eval()
    ids = paddle.to_tensor(padded_batch(seq=5))
    cache = random_cache(ids.shape[0], 3)
    with paddle.no_grad():
        implicit = model(ids, past_key_values=cache, output_hidden_states=True, return_dict=True)
        explicit = model(ids, past_key_values=cache, output_hidden_states=True, return_dict=True,
                         position_ids=paddle.arange(3, 8, dtype="int64").unsqueeze(0).expand([3, 5]))
        without = model(ids, return_dict=True)
    np.testing.assert_allclose(implicit.hidden_states[0].numpy(), explicit.hidden_states[0].numpy(), atol=0)
    assert not np.allclose(implicit.last_hidden_state.numpy(), without.last_hidden_state.numpy(), atol=1e-3)


def test_a_cache_of_the_wrong_depth_or_a_mask_not_covering_it_is_refused_naming_the_argument():
    model = ours.ErnieMModel(ErnieMConfig(**TINY))
    ids = paddle.to_tensor(padded_batch(seq=5))
    cache = random_cache(ids.shape[0], 3)
    with pytest.raises(ValueError, match=r"past_key_values must hold one \(keys, values\) pair per layer \(3\)"):
        model(ids, past_key_values=cache[:2])
    with pytest.raises(ValueError, match="attention_mask covers 5 positions; with 3 cached and 5 new ones"):
        model(ids, past_key_values=cache, attention_mask=paddle.ones([3, 5]))


# ---------------------------------------------------------------------------------------------- the config
def test_config_keeps_paddlenlps_unknown_keys_and_aliases_and_writes_them_back(tmp_path):
    kwargs = dict(TINY, type_vocab_size=2, num_class=3, num_classes=4, dropout=0.2, num_choices=5)
    theirs, mine = pnlp.ErnieMConfig(**kwargs), ErnieMConfig(**kwargs)
    for name in ("num_labels", "num_classes", "classifier_dropout", "dropout", "num_class", "type_vocab_size",
                 "num_choices", "hidden_size"):
        assert getattr(mine, name) == getattr(theirs, name), name
        assert mine[name] == theirs[name], name
    assert ErnieMConfig.attribute_map == pnlp.ErnieMConfig.attribute_map
    mine.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["num_class"] == 3 and written["type_vocab_size"] == 2
    from_file, from_dict = pnlp.ErnieMConfig.from_pretrained(str(tmp_path)), pnlp.ErnieMConfig.from_dict(mine.to_dict())
    for name in ("num_labels", "classifier_dropout", "num_class", "type_vocab_size", "num_choices", "hidden_size"):
        assert getattr(from_file, name) == getattr(from_dict, name) == getattr(theirs, name), name


def test_config_unpacks_into_the_constructor_as_paddlenlps_older_model_api_does():
    config = ErnieMConfig(**TINY, num_labels=3, num_class=7)
    assert ErnieMConfig(**config) == config and ErnieMConfig(**config).num_class == 7
    assert ours.ErnieMModel(**config).config == config


def test_paddlenlp_and_transformers_config_objects_build_our_models():
    theirs = pnlp.ErnieMConfig(**TINY, num_classes=3, num_class=7)
    model = ours.ErnieMForSequenceClassification(theirs)
    assert (model.config.num_labels, model.config.num_class) == (3, 7)
    # PaddleNLP ignores intermediate_size (3072 by default) and builds 4 * hidden_size: so do we, from its config
    assert model.config.intermediate_size == 4 * TINY["hidden_size"]
    assert set(model.state_dict()) == set(pnlp.ErnieMForSequenceClassification(theirs).state_dict())
    hf = transformers.ErnieMConfig(**TINY, intermediate_size=100, num_labels=4, layer_norm_eps=1e-6)
    model = ours.ErnieMForSequenceClassification(hf)  # transformers honours intermediate_size: so do we
    assert (model.config.intermediate_size, model.config.num_labels, model.config.layer_norm_eps) == (100, 4, 1e-6)
    assert model.ernie_m.encoder.layers[0].linear1.weight.shape == [TINY["hidden_size"], 100]


# -------------------------------------------------------------------------------------------- construction
@pytest.mark.parametrize("head", ["seq_cls", "token_cls", "multiple_choice", "qa", "uie"])
def test_a_head_built_around_a_bare_model_uses_it_and_equals_paddlenlp(head):
    """PaddleNLP's older style ``Head(ErnieMModel(...), num_classes=...)``: the head wraps that very model."""
    reference = paddlenlp_model(head)
    base = ours.ErnieMModel(**ErnieMConfig(**TINY))
    model = HEADS[head][0](base, num_classes=NUM_LABELS, num_choices=NUM_CHOICES)
    assert model.ernie_m is base and model.base_model is base
    model.set_state_dict(reference.state_dict())
    model.eval()
    inputs = inputs_for(head)
    with paddle.no_grad():
        want = reference(**inputs) if head == "uie" else reference(**inputs, return_dict=False)
        assert_same(want, model(**inputs, return_dict=False))


# ---------------------------------------------------------------------------------- PretrainedModel surface
@pytest.mark.parametrize("head", list(HEADS))
def test_pretrained_model_attributes_equal_paddlenlps(head):
    ours_class, their_class = HEADS[head]
    reference, model = twin(head)
    assert model.model_name_list == reference.model_name_list
    assert ours_class.pretrained_init_configuration == their_class.pretrained_init_configuration
    assert ours_class.pretrained_resource_files_map == their_class.pretrained_resource_files_map
    assert ours_class.resource_files_names == their_class.resource_files_names
    assert ours_class.base_model_prefix == their_class.base_model_prefix
    assert ours_class.model_config_file == their_class.model_config_file
    assert ours_class.constructed_from_pretrained_config() == their_class.constructed_from_pretrained_config()
    assert (model.base_model is model) == (reference.base_model is reference)
    if head != "base":
        assert model.base_model is model.ernie_m
    assert isinstance(model.config, ours_class.config_class)


@pytest.mark.parametrize("head", list(HEADS))
def test_forward_takes_paddlenlps_arguments_in_paddlenlps_order(head):
    """Positional calls written for PaddleNLP (``model(ids, None, mask)``) mean the same here."""
    ours_class, their_class = HEADS[head]
    theirs = list(inspect.signature(their_class.forward).parameters)
    assert list(inspect.signature(ours_class.forward).parameters)[:len(theirs)] == theirs


def test_from_config_builds_a_fresh_model_in_the_dtype_asked_for_as_paddlenlp_does():
    theirs = pnlp.ErnieMModel.from_config(pnlp.ErnieMConfig(**TINY), dtype="float16")
    mine = ours.ErnieMModel.from_config(ErnieMConfig(**TINY), dtype="float16")
    assert {p.dtype for p in mine.parameters()} == {p.dtype for p in theirs.parameters()} == {paddle.float16}
    assert [p.shape for p in mine.parameters()] == [p.shape for p in theirs.parameters()]


def test_input_embeddings_are_the_word_embeddings_and_can_be_replaced():
    """PaddleNLP 2.8.1's ErnieM lacks get_input_embeddings (NotImplementedError): the reference is the weight
    PaddleNLP keeps at ``embeddings.word_embeddings``."""
    reference, model = twin("seq_cls")
    with pytest.raises(NotImplementedError):
        reference.get_input_embeddings()
    np.testing.assert_array_equal(model.get_input_embeddings().weight.numpy(),
                                  reference.ernie_m.embeddings.word_embeddings.weight.numpy())
    replacement = paddle.nn.Embedding(TINY["vocab_size"], TINY["hidden_size"])
    model.set_input_embeddings(replacement)
    assert model.ernie_m.embeddings.word_embeddings is replacement and model.get_input_embeddings() is replacement


def test_resize_token_embeddings_keeps_the_first_rows_and_updates_the_vocabulary_size():
    """PaddleNLP's ``PretrainedModel.resize_token_embeddings`` semantics, checked by hand (its ErnieM raises)."""
    reference, model = twin("seq_cls")
    old = reference.ernie_m.embeddings.word_embeddings.weight.numpy()
    assert model.resize_token_embeddings() is model.get_input_embeddings()
    grown = model.resize_token_embeddings(TINY["vocab_size"] + 10)
    assert grown.weight.shape == [TINY["vocab_size"] + 10, TINY["hidden_size"]]
    np.testing.assert_array_equal(grown.weight.numpy()[:TINY["vocab_size"]], old)
    assert model.config.vocab_size == model.base_model.config.vocab_size == TINY["vocab_size"] + 10
    new_ids = paddle.to_tensor(np.array([[0, TINY["vocab_size"] + 9, 2]]))
    model(new_ids)  # the new ids are in range now
    shrunk = model.resize_token_embeddings(TINY["vocab_size"] - 15)
    np.testing.assert_array_equal(shrunk.weight.numpy(), old[:TINY["vocab_size"] - 15])
    assert model.config.vocab_size == TINY["vocab_size"] - 15
    with pytest.raises(ValueError, match="input_ids"):
        model(new_ids)


def test_resizing_a_pretraining_model_resizes_its_tied_decoder_and_output_bias():
    """Hand-checked: after growing the vocabulary the logits of the old tokens are unchanged (the decoder is the
    word-embedding matrix, its bias is padded with zeros); shrinking trims both."""
    model = ours.ErnieMForPreTraining(ErnieMConfig(**TINY))
    model.eval()
    with paddle.no_grad():
        model.lm_head.bias.set_value(paddle.arange(TINY["vocab_size"], dtype="float32") / 100)
    ids = paddle.to_tensor(padded_batch(vocab=TINY["vocab_size"] - 5))  # ids that stay in the shrunk vocabulary
    with paddle.no_grad():
        before = model(ids, return_dict=True).logits.numpy()
        model.resize_token_embeddings(TINY["vocab_size"] + 7)
        grown = model(ids, return_dict=True).logits.numpy()
        model.resize_token_embeddings(TINY["vocab_size"] - 5)
        shrunk = model(ids, return_dict=True).logits.numpy()
    assert grown.shape[-1] == TINY["vocab_size"] + 7 and shrunk.shape[-1] == TINY["vocab_size"] - 5
    np.testing.assert_allclose(grown[..., :TINY["vocab_size"]], before, rtol=0, atol=1e-6)
    np.testing.assert_allclose(shrunk, before[..., :TINY["vocab_size"] - 5], rtol=0, atol=1e-6)
    assert model.lm_head.bias.shape == [TINY["vocab_size"] - 5]


def test_overriding_init_weights_hook_changes_the_initialisation_as_in_paddlenlp():
    def constant_linears(self, layer):
        if isinstance(layer, paddle.nn.Linear):
            layer.weight.set_value(paddle.full(layer.weight.shape, 0.5, layer.weight.dtype))

    theirs = type("Theirs", (pnlp.ErnieMModel,), {"_init_weights": constant_linears})(pnlp.ErnieMConfig(**TINY))
    mine = type("Mine", (ours.ErnieMModel,), {"_init_weights": constant_linears})(ErnieMConfig(**TINY))
    for model in (theirs, mine):
        linears = [layer for layer in model.sublayers() if isinstance(layer, paddle.nn.Linear)]
        assert linears and all(np.all(layer.weight.numpy() == 0.5) for layer in linears)


# ---------------------------------------------------------------------------------------------- loading
def test_from_pretrained_accepts_paddlenlps_keywords(tmp_path):
    reference = paddlenlp_model("seq_cls")
    reference.save_pretrained(str(tmp_path / "sub"))
    kwargs = dict(subfolder="sub", cache_dir=str(tmp_path / "cache"), from_hf_hub=False, from_aistudio=False,
                  low_cpu_mem_usage=True, dtype="float32", num_classes=NUM_LABELS)
    theirs = pnlp.ErnieMForSequenceClassification.from_pretrained(str(tmp_path), **kwargs)
    mine = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path, **kwargs)
    theirs.eval()
    inputs = inputs_for("seq_cls")
    with paddle.no_grad():
        assert_same(theirs(**inputs, return_dict=False), mine(**inputs, return_dict=False))
    mine = ours.ErnieMForSequenceClassification.from_pretrained(
        tmp_path / "sub", config=pnlp.ErnieMConfig(**TINY, num_classes=NUM_LABELS, dropout=0.3))
    assert mine.config.classifier_dropout == 0.3
    # another number of labels: the mismatched classifier is initialised afresh, the encoder loaded
    kwargs = dict(num_classes=NUM_LABELS + 2, ignore_mismatched_sizes=True, force_download=False)
    theirs = pnlp.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "sub"), **kwargs)
    mine = ours.ErnieMForSequenceClassification.from_pretrained(tmp_path / "sub", **kwargs)
    assert mine.classifier.weight.shape == theirs.classifier.weight.shape == [TINY["hidden_size"], NUM_LABELS + 2]
    np.testing.assert_array_equal(mine.ernie_m.pooler.dense.weight.numpy(), theirs.ernie_m.pooler.dense.weight.numpy())


def test_from_pretrained_refuses_a_remote_source_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="local directories only"):
        ours.ErnieMModel.from_pretrained(tmp_path, from_hf_hub=True)
    with pytest.raises(ValueError, match="'?ernie-m-base'? is a PaddleNLP model name"):
        ours.ErnieMModel.from_pretrained("ernie-m-base")
