"""Static export + Paddle Inference predictor against PaddleNLP 2.8.1's dygraph models on the same weights."""
from __future__ import annotations

import json
import logging
import shutil
import threading

import numpy as np
import paddle
import pytest

from paddle_ernie_m.engines import paddle_engine, predictor as predictor_module
from paddle_ernie_m.engines.export import export_model
from paddle_ernie_m.engines.export_format import ExportError
from paddle_ernie_m.engines.predictor import Predictor

from .conftest import TINY, padded_batch
from .export_cases import OUTPUT_NAMES, PER_TOKEN, paddlenlp_outputs, shuffled_batch
from .paddlenlp_models import HEADS, paddlenlp_model

ATOL = 1e-4  # the bound for fp32; observed differences are about 1e-6
PAD = TINY["pad_token_id"]
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``exported(head, mode, format)`` -> (PaddleNLP reference model, our Predictor on its weights); one export
    each. ``format``: ``"paddle"`` (Paddle Inference) or ``"onnx"`` (ONNX Runtime, fp32)."""
    cache = {}

    def get(head: str, mode: str = "padding", format: str = "paddle"):
        if (head, mode, format) not in cache:
            reference = paddlenlp_model(head)
            root = tmp_path_factory.mktemp(f"{head}-{mode}-{format}")
            reference.save_pretrained(str(root / "checkpoint"))
            model = HEADS[head][0].from_pretrained(root / "checkpoint", attention_mask_mode=mode)
            export_model(model, root / "export", format=format)
            cache[head, mode, format] = reference, Predictor(root / "export", threads=1, batch_size=2)
        return cache[head, mode, format]

    return get


def assert_matches(head, got: dict, want: list, keep: np.ndarray, atol: float = ATOL):
    assert list(got) == OUTPUT_NAMES[head]
    for name, expected in zip(OUTPUT_NAMES[head], want):
        actual = got[name]
        assert actual.shape == expected.shape, name
        if name in PER_TOKEN.get(head, ()):  # positions the mask removes carry no meaning
            actual, expected = actual[keep], expected[keep]
        np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=name)


@pytest.mark.parametrize("format", ["paddle", "onnx"])
@pytest.mark.parametrize("head", list(HEADS))
def test_export_and_predictor_equal_paddlenlp_dygraph_for_every_head(head, format, exported):
    reference, predictor = exported(head, format=format)
    assert predictor.output_names == OUTPUT_NAMES[head]
    ids = shuffled_batch(head)
    keep = (ids != PAD).astype("int64")
    want = paddlenlp_outputs(reference, ids, attention_mask=keep)
    # the mask built by the predictor (padding mode), then the caller's own mask; batches of 2 rows inside
    assert_matches(head, predictor(input_ids=ids), want, keep.astype(bool))
    assert_matches(head, predictor(input_ids=ids, attention_mask=keep), want, keep.astype(bool))
    # batch size 1, a short row: per-token outputs keep the caller's width
    single = ids[2:3]
    assert_matches(head, predictor(single), paddlenlp_outputs(reference, single, attention_mask=keep[2:3]),
                   keep[2:3].astype(bool))


@pytest.mark.parametrize("format", ["paddle", "onnx"])
def test_uie_without_mask_reproduces_paddlenlp_default_mask_including_padding(format, exported):
    reference, predictor = exported("uie", "paddlenlp", format)
    ids = shuffled_batch("uie")
    positions = np.where(ids != PAD, np.arange(ids.shape[1]), 0)  # as PaddleNLP's tokenizer returns them
    want = paddlenlp_outputs(reference, ids, position_ids=positions)  # UIE-M's Taskflow call: no mask
    got = predictor(input_ids=ids, position_ids=positions)
    assert_matches("uie", got, want, keep=np.ones(ids.shape, dtype=bool))  # every position, padding included
    masked = predictor(input_ids=ids, position_ids=positions, attention_mask=(ids != PAD).astype("int64"))
    assert not np.allclose(masked["start_prob"][0], got["start_prob"][0], atol=1e-3)  # the modes differ


@pytest.mark.parametrize("format", ["paddle", "onnx"])
def test_bucketing_runs_sorted_trimmed_buckets_and_returns_rows_in_callers_order(format, exported, monkeypatch):
    reference, predictor = exported("token_cls", format=format)
    lengths = [5, 30, 12, 3, 22, 17, 9]
    rng = np.random.default_rng(5)
    rows = [np.concatenate([[0], rng.integers(4, TINY["vocab_size"], n - 2), [2]]) for n in lengths]
    shapes = []
    run = predictor._run
    monkeypatch.setattr(predictor, "batch_size", 3)
    monkeypatch.setattr(predictor, "_run", lambda feeds: shapes.append(feeds[0].shape) or run(feeds))
    logits = predictor(input_ids=rows)["logits"]  # ragged rows are padded to 30 with [PAD]
    # longest first, at most 3 rows a run, each trimmed to its longest row rounded up to 8 (at most the batch
    # width); widths 30 24 24 16 16 8 8: these cuts cost 3*30 + 2*16 + 2*8 padded tokens plus 3 runs, the least
    assert shapes == [(3, 30), (2, 16), (2, 8)]
    assert logits.shape == (7, 30, 3)
    for i, row in enumerate(rows):  # each row against PaddleNLP on that row alone, unpadded
        alone = paddlenlp_outputs(reference, row[None], attention_mask=np.ones((1, len(row)), "int64"))[0][0]
        np.testing.assert_allclose(logits[i, :len(row)], alone, rtol=0, atol=ATOL, err_msg=f"row {i}")
    assert not logits[3, 8:].any()  # the row of length 3 ran 8 wide: the positions past that are 0


def test_a_long_row_runs_alone_instead_of_padding_many_short_ones():
    lengths = np.array([20] * 10 + [200] + [20] * 20)
    runs = predictor_module.plan_runs(lengths, seq_len=256, batch_size=16)
    assert [(r.tolist(), w) for r, w in runs[:1]] == [([10], 200)]
    assert [w for _, w in runs[1:]] == [24, 24] and all(len(r) <= 16 for r, _ in runs)
    assert sorted(np.concatenate([r for r, _ in runs]).tolist()) == list(range(31))


def test_tokenizer_output_mapping_and_paddle_tensors_are_accepted(exported):
    _, predictor = exported("seq_cls")
    ids = shuffled_batch("seq_cls")
    want = predictor(input_ids=ids)["logits"]
    encoding = {"input_ids": paddle.to_tensor(ids), "attention_mask": (ids != PAD).tolist(),
                "offset_mapping": [[(0, 0)] * ids.shape[1]] * len(ids)}  # keys the model does not take: ignored
    np.testing.assert_array_equal(predictor(encoding)["logits"], want)
    with pytest.raises(ValueError, match="input_ids is given both"):
        predictor(encoding, input_ids=ids)


@pytest.mark.parametrize("format", ["paddle", "onnx"])
def test_concurrent_callers_get_their_own_results(format, exported):
    _, predictor = exported("seq_cls", format=format)
    batches = [padded_batch(batch=4, seq=9 + k, seed=k) for k in range(6)]
    expected = [predictor(input_ids=b)["logits"] for b in batches]
    got = [None] * len(batches)

    def call(k):
        for _ in range(3):
            got[k] = predictor(input_ids=batches[k])["logits"]

    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(len(batches)):
        np.testing.assert_array_equal(got[k], expected[k])


@pytest.mark.parametrize("kwargs,message", [
    (dict(input_ids=np.zeros((2, 5), dtype="float32")), "input_ids must hold integers, got dtype float32"),
    (dict(input_ids=np.zeros(5, dtype="int64")), r"input_ids must be shaped \[batch, seq\].*shape \(5,\)"),
    (dict(input_ids=np.zeros((2, 5), dtype="int64"), attention_mask=np.ones((2, 4), dtype="int64")),
     r"attention_mask has shape \(2, 4\), input_ids \(2, 5\)"),
    (dict(input_ids=np.zeros((2, 5), dtype="int64"), attention_mask=np.ones((2, 5), dtype="float32")),
     "attention_mask must hold integers or bools, got dtype float32"),
    (dict(input_ids=np.full((2, 5), TINY["vocab_size"])),
     r"input_ids\[0, 0\] is 157, outside \[0, 157\) \(vocab_size\); 10 of 10"),
    (dict(input_ids=np.zeros((1, 39), dtype="int64")), "sequences of 39 tokens exceed the model's 38 positions"),
    (dict(input_ids=np.zeros((1, 5), dtype="int64"), attention_mask=np.full((1, 5), 2)), "keep-mask of 0 and 1"),
    (dict(input_ids=np.zeros((0, 5), dtype="int64")), "input_ids is empty"),
])
def test_wrong_inputs_are_refused_with_a_message_naming_them(exported, kwargs, message):
    _, predictor = exported("seq_cls")
    with pytest.raises(ValueError, match=message):
        predictor(**kwargs)


def test_missing_files_and_incompatible_exports_give_clear_errors(exported, tmp_path):
    _, predictor = exported("seq_cls")
    with pytest.raises(FileNotFoundError, match="export directory not found"):
        Predictor(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="export.json not found.*not an ernie-m export"):
        Predictor(tmp_path)

    broken = tmp_path / "no-params"
    shutil.copytree(predictor.path, broken)
    (broken / "inference.pdiparams").unlink()
    with pytest.raises(FileNotFoundError, match="inference.pdiparams not found"):
        Predictor(broken)

    newer = tmp_path / "newer-format"
    shutil.copytree(predictor.path, newer)
    meta = json.loads((newer / "export.json").read_text())
    (newer / "export.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ExportError, match="export format 99 was written by a newer paddle-ernie-m"):
        Predictor(newer)

    # a program from another Paddle version, with an operator this version does not know
    foreign = tmp_path / "foreign"
    shutil.copytree(predictor.path, foreign)
    (foreign / "export.json").write_text(json.dumps({**meta, "paddle_version": "9.9.0"}))
    program = foreign / "inference.json"
    program.write_text(program.read_text().replace('"#":"1.matmul"', '"#":"1.matmul_from_the_future"'))
    with pytest.raises(ExportError, match=rf"Paddle {paddle.__version__} cannot load this export \(written by "
                                          r"Paddle 9\.9\.0\); export it again"):
        Predictor(foreign)


def test_unavailable_precision_raises_when_asked_and_falls_back_from_the_export_default(
        exported, tmp_path, monkeypatch, caplog):
    _, predictor = exported("seq_cls")
    with pytest.raises(ValueError, match="precision 'fp16' is not available on cpu: Paddle has no fp16 CPU kernels"):
        Predictor(predictor.path, device="cpu", precision="fp16")
    monkeypatch.setattr(paddle_engine, "cpu_supports_bf16", lambda: False)
    with pytest.raises(ValueError, match="precision 'bf16' is not available on cpu: this CPU lacks avx512_bf16"):
        Predictor(predictor.path, device="cpu", precision="bf16")
    bf16_default = tmp_path / "bf16"
    shutil.copytree(predictor.path, bf16_default)
    meta = json.loads((bf16_default / "export.json").read_text())
    (bf16_default / "export.json").write_text(json.dumps({**meta, "precision": "bf16"}))
    with caplog.at_level(logging.WARNING, logger="paddle_ernie_m.engines.paddle_engine"):
        fallback = Predictor(bf16_default, device="cpu", threads=1)
    assert fallback.precision == "fp32" and "export's default precision bf16 is not available" in caplog.text


def test_cpu_bf16_support_is_read_from_cpuinfo_flags(monkeypatch):
    flags = frozenset({"avx2", "avx512f", "avx512_bf16"})
    monkeypatch.setattr(paddle_engine, "cpu_info", lambda: ("AuthenticAMD", flags))
    assert paddle_engine.cpu_supports_bf16()
    monkeypatch.setattr(paddle_engine, "cpu_info", lambda: ("AuthenticAMD", frozenset({"avx2", "avx512f"})))
    assert not paddle_engine.cpu_supports_bf16()


def test_bf16_predictor_stays_within_documented_tolerance_where_the_cpu_has_it(exported):
    reference, predictor = exported("seq_cls")
    if not paddle_engine.cpu_supports_bf16():  # this machine cannot run bf16: asking for it must say so
        with pytest.raises(ValueError, match="avx512_bf16"):
            Predictor(predictor.path, device="cpu", precision="bf16")
        return
    ids = shuffled_batch("seq_cls")
    bf16 = Predictor(predictor.path, device="cpu", precision="bf16")(input_ids=ids)["logits"]
    want = paddlenlp_outputs(reference, ids, attention_mask=(ids != PAD).astype("int64"))[0]
    np.testing.assert_allclose(bf16, want, rtol=0, atol=3e-2)  # docs/inference.md: bf16 tolerance


def test_from_model_exports_to_a_temporary_directory_and_keeps_working_after_removing_it(tmp_path):
    reference = paddlenlp_model("qa")
    reference.save_pretrained(str(tmp_path))
    model = HEADS["qa"][0].from_pretrained(tmp_path)
    model.train()
    predictor = Predictor.from_model(model, threads=1)
    assert not predictor.path.exists() and model.training  # the export ran in eval mode and restored the mode
    ids = shuffled_batch("qa")
    keep = (ids != PAD).astype("int64")
    # a PaddleNLP checkpoint keeps PaddleNLP's default mask ([CLS] masked, padding attended) when none is passed
    assert_matches("qa", predictor(input_ids=ids), paddlenlp_outputs(reference, ids), keep.astype(bool))
