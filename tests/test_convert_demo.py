"""The conversion part of `ernie-m demo`: a readable round-trip table, and a failure when a step breaks."""
from __future__ import annotations

import pytest

from converters import mapping
from paddle_ernie_m.convert_demo import roundtrip_table

from .convert_helpers import paddlenlp_checkpoint


def test_roundtrip_table_reports_load_verification_and_bit_identity(tmp_path):
    src = paddlenlp_checkpoint(tmp_path / "tiny", "ErnieMForSequenceClassification")
    table = roundtrip_table(src, tmp_path)
    assert "ErnieMForSequenceClassification.from_pretrained: no missing or unexpected keys" in table
    assert "(OK, tolerance 0.0001)" in table
    assert "5. bit-identical?          yes: 56/56 tensors equal bit for bit" in table
    assert (tmp_path / "tiny-transformers" / "model.safetensors").is_file()
    assert (tmp_path / "tiny-back" / "model_state.pdparams").is_file()


def test_roundtrip_table_fails_when_outputs_differ(tmp_path, monkeypatch):
    src = paddlenlp_checkpoint(tmp_path / "tiny", "ErnieMForSequenceClassification")
    rows = tuple(mapping.Row(r.paddle, r.hf, mapping.COPY, r.shape, r.heads, r.hf_heads)
                 if r.paddle.endswith("k_proj.weight") else r for r in mapping.TENSORS)
    monkeypatch.setattr(mapping, "TENSORS", rows)  # the key projection is no longer transposed
    with pytest.raises(RuntimeError, match="round trip failed"):
        roundtrip_table(src, tmp_path)
