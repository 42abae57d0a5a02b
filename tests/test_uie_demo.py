"""The embedded toy UIE-M: it reaches its held-out F1 (inference only) and the README's demo command runs with it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from paddle_ernie_m.cli import main as cli_main
from paddle_ernie_m.uie import InformationExtractor
from paddle_ernie_m.uie.metrics import extraction_scores

from .scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "paddle_ernie_m" / "assets" / "uie-m-demo"


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    """Per language, the held-out test texts and gold results, regenerated from the committed generator."""
    build = load_script("examples/uie/build_demo_model.py")
    work = tmp_path_factory.mktemp("demo-data")
    build.prepare_data(work)
    return build.heldout(work)


def test_demo_model_is_a_labelled_toy_in_paddlenlp_layout():
    card = (ASSET / "README.md").read_text(encoding="utf-8")
    assert "toy" in card.splitlines()[0].lower()
    for name in ("config.json", "model_state.pdparams", "vocab.txt", "sentencepiece.bpe.model"):
        assert (ASSET / name).is_file(), name
    assert sum(p.stat().st_size for p in ASSET.iterdir()) < 8 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_demo_model_reaches_its_heldout_f1(heldout, mode):
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    predicted, gold = [], []
    for lang, (texts, expected) in heldout.items():
        extractor = InformationExtractor(ASSET, schema=synthetic.SCHEMAS[lang], schema_lang=lang, mode=mode)
        predicted += extractor(texts)
        gold += expected
    assert len(gold) == 240
    scores = extraction_scores(predicted, gold)
    recorded = json.loads((ASSET / "heldout_scores.json").read_text(encoding="utf-8"))[mode]["all"]
    assert scores["f1"] == pytest.approx(recorded["f1"], abs=0.01), "the model card's F1 is not this model's"
    if mode == "exact":
        assert scores["f1"] >= 0.9, scores


def test_demo_model_ships_the_schemas_it_was_trained_for():
    from paddle_ernie_m.uie.demo import demo_extraction, demo_schemas

    assert demo_schemas() == load_script("examples/uie/make_synthetic_data.py").SCHEMAS
    report = demo_extraction()
    for expected in ("李娜", "蓝海银行", "正向", "Emma Smith", "Globex Bank", "positive"):
        assert expected in report


def test_readme_demo_command_extracts_with_the_demo_model(capsys):
    synthetic = load_script("examples/uie/make_synthetic_data.py")
    text = "李娜是蓝海银行的工程师，常驻上海。大家都很高兴。"
    assert cli_main(["extract", "--model", str(ASSET), "--schema", json.dumps(synthetic.SCHEMAS["ch"]), text]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert [p["text"] for p in result["人物"]] == ["李娜"]
    assert [o["text"] for o in result["人物"][0]["relations"]["所属机构"]] == ["蓝海银行"]
    assert [p["text"] for p in result["地点"]] == ["上海"]
    assert [o["text"] for o in result["组织机构"]] == ["蓝海银行"]
    assert [s["text"] for s in result["情感倾向[正向,负向]"]] == ["正向"]
