"""Round trips are bit-identical (fp32, fp16, bf16; sharded in and out), and the state-dict level API matches
the frameworks' own modules."""
from __future__ import annotations

import json

import numpy as np
import pytest

from converters.convert import convert_checkpoint
from converters.tensors import cast, paddle_to_torch, torch_to_paddle
from converters.errors import ConversionError

from .convert_helpers import (
    SHAPE,
    assert_close,
    batch,
    hf_checkpoint,
    paddlenlp_checkpoint,
    run_paddle,
    run_torch,
    state_of,
)

paddle = pytest.importorskip("paddle")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _paddle_files(directory):
    """Tensors of a Paddle checkpoint as paddle.load reads them (numpy; bfloat16 as uint16)."""
    files = sorted(directory.glob("model_state*.pdparams"))
    return {k: v for f in files for k, v in paddle.load(str(f), return_numpy=True).items()}


def _assert_identical(a, b):
    assert set(a) == set(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        assert a[name].tobytes() == b[name].tobytes(), name


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_paddle_to_torch_to_paddle_is_bit_identical(tmp_path, dtype):
    src = paddlenlp_checkpoint(tmp_path / "src", "ErnieMForSequenceClassification", dtype=dtype)
    convert_checkpoint(src, tmp_path / "hf", "paddle2torch")
    hf = state_of(tmp_path / "hf")
    assert {v.dtype for v in hf.values()} == {np.dtype(np.uint16 if dtype == "bfloat16" else dtype)}
    convert_checkpoint(tmp_path / "hf", tmp_path / "back", "torch2paddle")
    _assert_identical(_paddle_files(src), _paddle_files(tmp_path / "back"))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_torch_to_paddle_to_torch_is_bit_identical(tmp_path, dtype, safe):
    src = hf_checkpoint(tmp_path / "src", "ErnieMForQuestionAnswering", safe=safe, dtype=dtype)
    convert_checkpoint(src, tmp_path / "pd", "torch2paddle")
    assert paddle.load(str(tmp_path / "pd" / "model_state.pdparams"))["classifier.weight"].dtype == \
        getattr(paddle, dtype)
    convert_checkpoint(tmp_path / "pd", tmp_path / "back", "paddle2torch", fmt="safetensors" if safe else "bin")
    _assert_identical(state_of(src), state_of(tmp_path / "back"))  # the created pooler is dropped again


def test_sharded_round_trip_is_bit_identical_and_loads_in_both_ecosystems(tmp_path):
    import paddlenlp.transformers as P

    head = "ErnieMForSequenceClassification"
    src = tmp_path / "src"
    paddlenlp_checkpoint(src, head)
    model = P.ErnieMForSequenceClassification.from_pretrained(str(src))
    model.save_pretrained(str(tmp_path / "src_sharded"), max_shard_size="300KB")  # PaddleNLP's own shards
    for name in ("vocab.txt", "sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"):
        (tmp_path / "src_sharded" / name).write_bytes((src / name).read_bytes())
    assert (tmp_path / "src_sharded" / "model_state.pdparams.index.json").is_file()

    convert_checkpoint(tmp_path / "src_sharded", tmp_path / "hf", "paddle2torch", max_shard_size="300KB")
    index = json.loads((tmp_path / "hf" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    hf_model = transformers.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "hf")).eval()
    ids, mask = batch(tmp_path / "hf", head)
    assert_close(run_paddle(model.eval(), head, ids, mask), run_torch(hf_model, head, ids, mask))

    convert_checkpoint(tmp_path / "hf", tmp_path / "back", "torch2paddle", max_shard_size="300KB")
    assert (tmp_path / "back" / "model_state.pdparams.index.json").is_file()
    _assert_identical(_paddle_files(src), _paddle_files(tmp_path / "back"))
    reloaded = P.ErnieMForSequenceClassification.from_pretrained(str(tmp_path / "back")).eval()
    assert_close(run_paddle(reloaded, head, ids, mask), run_paddle(model, head, ids, mask), atol=0)


def test_paddle_safetensors_input_converts(tmp_path):
    import paddlenlp.transformers as P

    head = "ErnieMForSequenceClassification"
    src = paddlenlp_checkpoint(tmp_path / "pdparams", head)
    model = P.ErnieMForSequenceClassification.from_pretrained(str(src))
    model.save_pretrained(str(tmp_path / "st"), safe_serialization=True)
    convert_checkpoint(tmp_path / "st", tmp_path / "hf", "paddle2torch")
    convert_checkpoint(src, tmp_path / "hf2", "paddle2torch")
    _assert_identical(state_of(tmp_path / "hf"), state_of(tmp_path / "hf2"))


def _paddlenlp_model(head_cls, seed=0, **config):
    import paddlenlp.transformers as P

    paddle.seed(seed)
    model = getattr(P, head_cls)(P.ErnieMConfig(**SHAPE, **config))
    for name, param in model.named_parameters():  # LayerNorm and biases random too
        param.set_value(paddle.randn(param.shape) * 0.05 + (1.0 if "norm" in name and "weight" in name else 0.0))
    return model.eval()


def test_state_dict_api_matches_transformers_modules():
    head = "ErnieMForQuestionAnswering"
    paddle_model = _paddlenlp_model(head)
    state = {k: v.numpy() for k, v in paddle_model.state_dict().items()}
    config = {**SHAPE, "architectures": [head]}
    converted = paddle_to_torch(state, config)
    hf_model = transformers.ErnieMForQuestionAnswering(transformers.ErnieMConfig(**SHAPE, intermediate_size=192))
    hf_model.load_state_dict({k: torch.from_numpy(v) for k, v in converted.items()}, strict=True)
    ids = np.array([[0, 5, 6, 7, 2, 1], [0, 8, 2, 1, 1, 1]], dtype=np.int64)
    mask = (ids != 1).astype(np.int64)
    assert_close(run_paddle(paddle_model, head, ids, mask), run_torch(hf_model.eval(), head, ids, mask))
    back = torch_to_paddle(converted, config)
    assert set(back) == set(state)  # pooler created again
    for name, array in back.items():
        if "pooler" not in name:
            assert np.array_equal(array, state[name]), name


def test_legacy_position_ids_buffer_is_ignored():
    model = _paddlenlp_model("ErnieMModel")
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state["embeddings.position_ids"] = np.arange(SHAPE["max_position_embeddings"], dtype=np.int64)[None]
    converted = paddle_to_torch(state, {**SHAPE, "architectures": ["ErnieMModel"]})
    assert "embeddings.position_ids" not in converted
    assert set(converted) == set(transformers.ErnieMModel(transformers.ErnieMConfig(**SHAPE)).state_dict())


def test_unknown_tensor_is_an_error_naming_it():
    state = {k: v.numpy() for k, v in _paddlenlp_model("ErnieMModel").state_dict().items()}
    state["encoder.layers.7.linear1.weight"] = np.zeros((48, 192), np.float32)
    with pytest.raises(ConversionError, match=r"unknown tensor 'encoder\.layers\.7\.linear1\.weight'"):
        paddle_to_torch(state, {**SHAPE, "architectures": ["ErnieMModel"]})


def test_shape_mismatch_is_an_error_naming_the_tensor():
    state = {k: v.numpy() for k, v in _paddlenlp_model("ErnieMModel").state_dict().items()}
    with pytest.raises(ConversionError,
                       match=r"tensor 'embeddings\.word_embeddings\.weight' has shape \[1502, 48\], expected "
                             r"\[2000, 48\].*vocab_size=2000"):
        paddle_to_torch(state, {**SHAPE, "vocab_size": 2000, "architectures": ["ErnieMModel"]})


def test_bfloat16_cast_rounds_like_torch():
    values = np.array([1.0, -2.5, 3.14159265, 1e-40, 65504.0, 3.0e38, np.inf, -np.inf, np.nan,
                       1.00390625, 1.01171875, -0.0], dtype=np.float32)  # ties round to even
    values = np.concatenate([values, np.random.default_rng(0).normal(0, 10, 1000).astype(np.float32)])
    expected = torch.from_numpy(values).to(torch.bfloat16)
    ours = cast(values, "bfloat16")
    nan = np.isnan(values)  # torch's NaN bit pattern varies with the kernel; any NaN will do
    assert np.array_equal(ours[~nan], expected.view(torch.int16).numpy().view(np.uint16)[~nan])
    assert np.isnan(cast(ours, "float32")[nan]).all()
    assert np.array_equal(cast(ours, "float32"), expected.float().numpy(), equal_nan=True)


def test_dtype_option_casts_every_tensor(tmp_path):
    src = paddlenlp_checkpoint(tmp_path / "src", "ErnieMModel")
    convert_checkpoint(src, tmp_path / "hf", "paddle2torch", dtype="bfloat16")
    model = transformers.ErnieMModel.from_pretrained(str(tmp_path / "hf"), dtype=torch.bfloat16)
    original = _paddle_files(src)["embeddings.word_embeddings.weight"]
    assert torch.equal(model.embeddings.word_embeddings.weight, torch.from_numpy(original).to(torch.bfloat16))


@pytest.mark.parametrize("shape", [(700, 301), (3, 5), (256, 512), (1, 9)])
def test_tiled_transpose_equals_numpy_transpose(shape):
    from converters.tensors import transpose

    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    result = transpose(array, tile=64)
    assert result.flags.c_contiguous and np.array_equal(result, array.T)


def test_sharded_pytorch_bin_input_converts_bit_identically(tmp_path):
    head = "ErnieMForTokenClassification"
    src = hf_checkpoint(tmp_path / "src", head, safe=False)
    model = transformers.ErnieMForTokenClassification.from_pretrained(str(src))
    model.save_pretrained(str(tmp_path / "sharded"), safe_serialization=False, max_shard_size="300KB")
    assert (tmp_path / "sharded" / "pytorch_model.bin.index.json").is_file()
    convert_checkpoint(tmp_path / "sharded", tmp_path / "pd", "torch2paddle", arch=head)
    convert_checkpoint(tmp_path / "pd", tmp_path / "back", "paddle2torch", fmt="bin")
    _assert_identical(state_of(src), state_of(tmp_path / "back"))
