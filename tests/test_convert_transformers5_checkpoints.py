"""torch2paddle reads what transformers 5.x's ``save_pretrained`` writes: its config dialect (``dtype``,
``transformers_version`` 5.x, ``auto_map`` and ``attention_mask_mode`` of bundled code), safetensors metadata,
sharded indexes (``metadata.total_parameters``), float16 and bfloat16. The checkpoints are written by the real
transformers 5 (a second environment, see ``tests/fixtures/save_with_transformers5.py``) from random transformers
4.x ErnieM models; PaddleNLP 2.8.1 must load the result and match transformers 4.x's ErnieM on the same weights."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import paddle
import pytest
import torch
import transformers

import paddle_ernie_m
from paddle_ernie_m.cli import main

from . import transformers5
from .convert_helpers import (
    HEAD_NAMES,
    assert_close,
    batch,
    hf_checkpoint,
    paddlenlp_model,
    run_paddle,
    run_torch,
    state_of,
)

REPO = Path(__file__).resolve().parents[1]
WRITER = REPO / "tests" / "fixtures" / "save_with_transformers5.py"


def _saved_by_transformers5(directory: Path, source: Path, *args: str) -> Path:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    done = subprocess.run([str(transformers5.python()), str(WRITER), str(source), str(directory), *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return directory


def _convert(capsys, src: Path, dst: Path, *args: str) -> str:
    assert main(["convert", "torch2paddle", str(src), str(dst), *args]) == 0
    return capsys.readouterr().out


def _reference(src: Path, head: str, dtype: str):
    """transformers 4.x's ErnieM on the source weights rounded to ``dtype``, run in float32."""
    model = getattr(transformers, head).from_pretrained(str(src)).eval()
    return model.to(getattr(torch, dtype)).float()


@pytest.mark.parametrize("head", HEAD_NAMES)
def test_sharded_transformers5_checkpoint_of_every_head_runs_in_paddlenlp_with_equal_outputs(tmp_path, capsys, head):
    v4 = hf_checkpoint(tmp_path / "v4", head)
    v5 = _saved_by_transformers5(tmp_path / "v5", v4, "--max-shard-size", "100KB", "--attention-mask-mode",
                                 "paddlenlp")
    stated = json.loads((v5 / "config.json").read_text())
    assert stated["transformers_version"].startswith("5.") and stated["dtype"] == "float32"
    assert stated["model_type"] == "ernie_m" and stated["architectures"] == [head]
    index = json.loads((v5 / "model.safetensors.index.json").read_text())
    assert "total_parameters" in index["metadata"] and len(set(index["weight_map"].values())) > 1
    assert stated["auto_map"]["AutoConfig"] == "configuration_ernie_m.ErnieMConfig"

    out = _convert(capsys, v5, tmp_path / "pd")
    assert f"architecture  {head}" in out
    written = json.loads((tmp_path / "pd" / "config.json").read_text())
    assert "auto_map" not in written and "transformers_version" not in written and "dtype" not in written
    assert written["attention_mask_mode"] == "paddlenlp"  # bundled code's key, read by paddle_ernie_m
    ids, mask = batch(v4, head)
    expected = run_torch(_reference(v4, head, "float32"), head, ids, mask)
    assert_close(run_paddle(paddlenlp_model(tmp_path / "pd", head), head, ids, mask), expected)
    ours = getattr(paddle_ernie_m, head).from_pretrained(tmp_path / "pd")
    assert_close(run_paddle(ours, head, ids, mask), expected)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_transformers5_shards_convert_bit_for_bit_and_run_in_paddlenlp(tmp_path, capsys, dtype):
    head = "ErnieMForSequenceClassification"
    v4 = hf_checkpoint(tmp_path / "v4", head)
    v5 = _saved_by_transformers5(tmp_path / "v5", v4, "--dtype", dtype, "--max-shard-size", "100KB")
    assert json.loads((v5 / "config.json").read_text())["dtype"] == dtype
    assert "OK: max abs diff" in _convert(capsys, v5, tmp_path / "pd", "--verify")  # against transformers 4.x
    saved = paddle.load(str(tmp_path / "pd" / "model_state.pdparams"))
    assert {t.dtype for t in saved.values()} == {getattr(paddle, dtype)}
    ids, mask = batch(v4, head)
    paddlenlp = paddlenlp_model(tmp_path / "pd", head)  # PaddleNLP loads the half weights into float32
    assert_close(run_paddle(paddlenlp, head, ids, mask), run_torch(_reference(v4, head, dtype), head, ids, mask))
    # and back: transformers 5's tensors, bit for bit
    assert main(["convert", "paddle2torch", str(tmp_path / "pd"), str(tmp_path / "back")]) == 0
    original, back = state_of(v5), state_of(tmp_path / "back")
    assert set(original) == set(back)
    for name, array in original.items():
        assert back[name].dtype == array.dtype and back[name].tobytes() == array.tobytes(), name


def test_transformers5_attention_mask_mode_reaches_paddle_ernie_m(tmp_path, capsys):
    """A bundled-code config saying ``attention_mask_mode: paddlenlp`` converts to a Paddle model whose default
    mask (no mask passed) is PaddleNLP's: [CLS] masked, padding attended."""
    head = "ErnieMForTokenClassification"
    v4 = hf_checkpoint(tmp_path / "v4", head)
    v5 = _saved_by_transformers5(tmp_path / "v5", v4, "--attention-mask-mode", "paddlenlp")
    _convert(capsys, v5, tmp_path / "pd")
    ids, _ = batch(v4, head)
    ours = paddle_ernie_m.ErnieMForTokenClassification.from_pretrained(tmp_path / "pd")
    paddlenlp = paddlenlp_model(tmp_path / "pd", head)
    with paddle.no_grad():
        expected = paddlenlp(paddle.to_tensor(ids)).numpy()  # PaddleNLP's own default mask
        got = ours(paddle.to_tensor(ids), return_dict=False).numpy()  # the logits, as PaddleNLP returns them
        padding_masked = ours(paddle.to_tensor(ids), attention_mask=paddle.to_tensor((ids != 1).astype("int64")),
                              return_dict=False).numpy()
    assert_close([got], [expected])
    assert abs(got - padding_masked).max() > 1e-3  # the mode matters on this batch


def test_bare_transformers5_encoder_without_architectures_converts_as_the_base_model(tmp_path, capsys):
    head = "ErnieMModel"
    v4 = hf_checkpoint(tmp_path / "v4", head)
    v5 = _saved_by_transformers5(tmp_path / "v5", v4, "--drop-architectures")
    assert "architectures" not in json.loads((v5 / "config.json").read_text())
    assert f"architecture  {head}" in _convert(capsys, v5, tmp_path / "pd")
    ids, mask = batch(v4, head)
    assert_close(run_paddle(paddlenlp_model(tmp_path / "pd", head), head, ids, mask),
                 run_torch(_reference(v4, head, "float32"), head, ids, mask))
