"""ErnieMConfig reads and writes the PaddleNLP, legacy PaddleNLP and transformers dialects."""
from __future__ import annotations

import json
import logging

import pytest
import transformers
from paddlenlp.transformers import ErnieMConfig as PaddleNLPConfig

from converters.configuration import ErnieMConfig

from .conftest import TINY


def test_paddlenlp_config_json_is_read_with_its_aliases(tmp_path):
    PaddleNLPConfig(**TINY, num_classes=4, dropout=0.3, architectures=["UIEM"]).save_pretrained(str(tmp_path))
    config = ErnieMConfig.from_pretrained(tmp_path)
    assert config.num_labels == 4
    assert config.classifier_dropout == 0.3
    assert config.architecture == "ErnieMForInformationExtraction"
    assert (config.hidden_size, config.vocab_size, config.num_hidden_layers) == (48, 157, 3)


def test_legacy_model_config_json_with_nested_init_args_is_read(tmp_path):
    legacy = {
        "init_args": [{"init_args": [], "init_class": "ErnieMModel", **TINY}],
        "init_class": "ErnieMForTokenClassification",
        "num_classes": 5,
    }
    (tmp_path / "model_config.json").write_text(json.dumps(legacy))
    config = ErnieMConfig.from_pretrained(tmp_path)
    assert config.architecture == "ErnieMForTokenClassification"
    assert config.num_labels == 5 and config.hidden_size == 48


def test_transformers_config_json_is_read(tmp_path):
    hf = transformers.ErnieMConfig(**TINY, intermediate_size=100, layer_norm_eps=1e-6, act_dropout=0.2,
                                   classifier_dropout=0.25, id2label={0: "neg", 1: "pos"},
                                   architectures=["ErnieMForInformationExtraction"])
    hf.save_pretrained(tmp_path)
    config = ErnieMConfig.from_pretrained(tmp_path)
    assert config.intermediate_size == 100 and config.layer_norm_eps == 1e-6 and config.act_dropout == 0.2
    assert config.classifier_dropout == 0.25
    assert config.id2label == {0: "neg", 1: "pos"} and config.num_labels == 2
    assert config.architecture == "ErnieMForInformationExtraction"


def test_our_paddle_dialect_is_read_back_by_paddlenlp(tmp_path):
    ours = ErnieMConfig(**TINY, id2label={0: "a", 1: "b", 2: "c"}, classifier_dropout=0.2,
                        architectures=("ErnieMForInformationExtraction",))
    ours.save_pretrained(tmp_path, dialect="paddle")
    theirs = PaddleNLPConfig.from_pretrained(str(tmp_path))
    assert theirs.num_labels == 3 and theirs.id2label == {0: "a", 1: "b", 2: "c"}
    assert theirs.architectures == ["UIEM"]
    assert theirs.hidden_size == 48 and theirs.classifier_dropout == 0.2
    assert ErnieMConfig.from_pretrained(tmp_path) == ours


def test_our_hf_dialect_is_read_back_by_transformers(tmp_path):
    ours = ErnieMConfig(**TINY, intermediate_size=96, layer_norm_eps=1e-6, id2label={0: "x", 1: "y"},
                        architectures=("ErnieMForInformationExtraction",))
    ours.save_pretrained(tmp_path, dialect="hf")
    theirs = transformers.AutoConfig.from_pretrained(tmp_path)
    assert type(theirs).__name__ == "ErnieMConfig"
    assert theirs.architectures == ["ErnieMForInformationExtraction"]
    assert theirs.intermediate_size == 96 and theirs.layer_norm_eps == 1e-6
    assert theirs.id2label == {0: "x", 1: "y"} and theirs.num_labels == 2
    assert ErnieMConfig.from_pretrained(tmp_path) == ours


def test_round_trip_through_all_three_dialects_keeps_every_field(tmp_path):
    original = ErnieMConfig(**TINY, intermediate_size=77, hidden_act="relu", act_dropout=0.05,
                            layer_norm_eps=1e-7, num_labels=4, classifier_dropout=0.15,
                            problem_type="multi_label_classification", attention_mask_mode="paddlenlp",
                            architectures=("ErnieMForSequenceClassification",))
    paddle_dir, hf_dir = tmp_path / "p", tmp_path / "h"
    paddle_dir.mkdir(), hf_dir.mkdir()
    original.save_pretrained(paddle_dir, dialect="paddle")
    ErnieMConfig.from_pretrained(paddle_dir).save_pretrained(hf_dir, dialect="hf")
    legacy = {"init_args": [ErnieMConfig.from_pretrained(hf_dir).to_paddle_dict()],
              "init_class": "ErnieMForSequenceClassification"}
    legacy["init_args"][0].pop("architectures")
    (tmp_path / "model_config.json").write_text(json.dumps(legacy))
    assert ErnieMConfig.from_file(tmp_path / "model_config.json") == original


def test_num_labels_override_drops_labels_that_no_longer_fit():
    config = ErnieMConfig(**TINY, id2label={0: "a", 1: "b"})
    assert config.replace(num_labels=5).num_labels == 5


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"hidden_size": 50}, "hidden_size"),  # not divisible by 3 heads
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"vocab_size": -3}, "vocab_size"),
        ({"hidden_act": "swishy"}, "hidden_act"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
        ({"pad_token_id": 999}, "pad_token_id"),
        ({"attention_mask_mode": "cls"}, "attention_mask_mode"),
        ({"architectures": ["BertModel"]}, "architectures"),
        ({"num_attention_heads": "3"}, "num_attention_heads"),
    ],
)
def test_invalid_config_values_are_rejected_naming_the_field(changes, field, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY, **changes}))
    with pytest.raises(ValueError) as excinfo:
        ErnieMConfig.from_file(path)
    assert field in str(excinfo.value) and str(path) in str(excinfo.value)


def test_unreadable_config_json_names_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        ErnieMConfig.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        ErnieMConfig.from_pretrained(tmp_path / "..")


def test_config_is_frozen():
    config = ErnieMConfig(**TINY)
    with pytest.raises(Exception):
        config.hidden_size = 64  # type: ignore[misc]


def test_label2id_alone_is_accepted_and_written_as_transformers_reads_it(tmp_path):
    config = ErnieMConfig(**TINY, label2id={"neg": 1, "pos": 0, "neutral": 2})
    assert config.num_labels == 3 and config.id2label == {0: "pos", 1: "neg", 2: "neutral"}
    assert config.label2id == {"pos": 0, "neg": 1, "neutral": 2}
    config.save_pretrained(tmp_path, dialect="hf")
    theirs = transformers.AutoConfig.from_pretrained(tmp_path)
    assert theirs.id2label == config.id2label and theirs.label2id == config.label2id and theirs.num_labels == 3
    assert ErnieMConfig.from_pretrained(tmp_path) == config


def test_id2label_and_label2id_given_together_must_agree():
    both = ErnieMConfig(**TINY, id2label={0: "a", 1: "b"}, label2id={"b": 1, "a": 0})
    assert both == ErnieMConfig(**TINY, id2label={0: "a", 1: "b"})
    with pytest.raises(ValueError, match=r"'id2label' and 'label2id' disagree: id2label\[0\] is 'a', "
                                         r"label2id gives id 0 to 'b'"):
        ErnieMConfig(**TINY, id2label={0: "a", 1: "b"}, label2id={"a": 1, "b": 0})
    with pytest.raises(ValueError, match=r"'label2id' must give the labels the ids 0..1"):
        ErnieMConfig(**TINY, label2id={"a": 0, "b": 2})
    with pytest.raises(ValueError, match="'id2label' names a label twice"):
        ErnieMConfig(**TINY, id2label={0: "a", 1: "a"})


def test_a_config_json_whose_label_maps_disagree_is_read_by_id2label_with_a_warning(tmp_path, caplog):
    """As transformers does: a hand-edited id2label next to a stale label2id is common; id2label says what the
    head's outputs mean, and the warning names the file."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY, "id2label": {"0": "a", "1": "b"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1}}))
    with caplog.at_level(logging.WARNING, logger="converters.configuration"):
        config = ErnieMConfig.from_file(path)
    assert config.id2label == {0: "a", 1: "b"} and config.label2id == {"a": 0, "b": 1}
    assert transformers.ErnieMConfig.from_pretrained(tmp_path).id2label == {0: "a", 1: "b"}  # what it trusts
    assert f"{path}: config fields 'id2label' and 'label2id' disagree" in caplog.text
    assert "using id2label" in caplog.text


def test_a_transformers_config_with_both_maps_reads_back_equal(tmp_path):
    transformers.ErnieMConfig(**TINY, id2label={0: "x", 1: "y", 2: "z"},
                              label2id={"x": 0, "y": 1, "z": 2}).save_pretrained(tmp_path)
    config = ErnieMConfig.from_pretrained(tmp_path)
    assert config.id2label == {0: "x", 1: "y", 2: "z"} and config.label2id == {"x": 0, "y": 1, "z": 2}


def test_replacing_the_labels_replaces_both_maps():
    config = ErnieMConfig(**TINY, label2id={"a": 0, "b": 1})
    assert config.replace(id2label={0: "x", 1: "y", 2: "z"}).label2id == {"x": 0, "y": 1, "z": 2}
    assert config.replace(label2id={"y": 0, "x": 1}).id2label == {0: "y", 1: "x"}
    assert config.replace(num_labels=3).label2id == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    assert config.replace(hidden_dropout_prob=0.2).label2id == {"a": 0, "b": 1}


def test_a_transformers_config_with_pruned_heads_is_refused_by_name_and_an_empty_one_is_read():
    """transformers 4's ``prune_heads`` records ``{layer: [heads]}``; such layers are narrower than the config says,
    which no Paddle model can hold. transformers writes ``{}`` when nothing was pruned."""
    pruned = transformers.ErnieMConfig(**TINY, pruned_heads={0: [1]}).to_dict()
    with pytest.raises(ValueError, match=r"^hf config: pruned_heads \{0: \[1\]\}: .*pruned attention heads"):
        ErnieMConfig.from_dict(pruned, source="hf config")
    assert ErnieMConfig.from_dict(transformers.ErnieMConfig(**TINY).to_dict()).hidden_size == TINY["hidden_size"]
