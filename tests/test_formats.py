"""Checkpoint files: the restricted .pdparams reader, the writers, and atomic output directories.

References: paddle.save / paddle.load (Paddle 3.3.1), PaddleNLP 2.8.1 from_pretrained, the safetensors package.
"""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from converters.errors import CheckpointError
from converters.formats import load_paddle_state, save_paddle_state
from converters.formats.safetensors import read_safetensors, write_safetensors

paddle = pytest.importorskip("paddle")


def _paddle_state(seed: int = 0):
    """A small state dict of Paddle tensors in fp32, fp16 and bf16."""
    paddle.seed(seed)
    layer = paddle.nn.Linear(5, 3)
    return {
        "w": layer.weight,
        "b": layer.bias,
        "h": layer.weight.astype("float16"),
        "bf": layer.weight.astype("bfloat16"),
    }


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_without_running_its_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model_state.pdparams"
    with open(path, "wb") as f:
        pickle.dump({"w": np.zeros(2, "float32"), "x": _Payload(str(marker))}, f, protocol=4)
    with pytest.raises(CheckpointError, match=r"model_state\.pdparams.*refused global '(posix|os|nt)\.system'"):
        load_paddle_state(tmp_path)
    assert not marker.exists()
    # the same payload does run under plain pickle: the test would catch a reader that executes it
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_codecs_encode_is_admitted_only_as_latin1_bytes(tmp_path):
    path = tmp_path / "evil.pdparams"
    # GLOBAL _codecs.encode called with the zlib codec: not what numpy's protocol-2 pickles do.
    path.write_bytes(b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib"
                     b"\x86Rs.")
    with pytest.raises(CheckpointError,
                       match=r"evil\.pdparams: refused call of ._codecs\.encode. with arguments \(.x., .zlib.\)"):
        load_paddle_state(path)


@pytest.mark.parametrize("protocol", [2, 4])
def test_reads_what_paddle_save_writes_exactly(tmp_path, protocol):
    state = _paddle_state()
    paddle.save(state, str(tmp_path / "model_state.pdparams"), protocol=protocol)
    loaded = load_paddle_state(tmp_path)
    assert list(loaded) == list(state)  # StructuredToParameterName@@ dropped
    reference = paddle.load(str(tmp_path / "model_state.pdparams"), return_numpy=True)
    for name, array in loaded.items():
        assert array.dtype == reference[name].dtype and np.array_equal(array, reference[name]), name
    assert loaded["bf"].dtype == np.uint16


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_large_arrays_read_from_their_byte_range_are_exact(tmp_path, protocol):
    rng = np.random.default_rng(0)
    big = paddle.to_tensor(rng.standard_normal((700, 600)).astype("float32"))  # 1.7 MB: left on disk until read
    state = {"big": big, "big_bf16": big.astype("bfloat16"), "small": big[:2]}
    paddle.save(state, str(tmp_path / "model_state.pdparams"), protocol=protocol)
    loaded = load_paddle_state(tmp_path)
    for name, tensor in state.items():
        assert np.array_equal(loaded[name], tensor.numpy()) and loaded[name].dtype == tensor.numpy().dtype, name


def test_fortran_order_and_big_endian_arrays_are_read_exactly(tmp_path):
    values = np.random.default_rng(0).standard_normal((800, 500)).astype("float32")
    arrays = {"fortran": np.asfortranarray(values), "big_endian": values.astype(">f4"),
              "small_fortran": np.asfortranarray(values[:3, :5]), "small_big_endian": values[:3].astype(">f4")}
    with open(tmp_path / "model_state.pdparams", "wb") as f:
        pickle.dump(arrays, f, protocol=4)
    loaded = load_paddle_state(tmp_path)
    for name, array in arrays.items():
        assert np.array_equal(loaded[name], array) and loaded[name].dtype == np.float32, name


def test_reads_tensors_pickled_as_name_array_tuples(tmp_path):
    # paddle.save pickles each Tensor of a dict that is not a pure state dict as tuple((name, ndarray)).
    import paddle.framework.io as pio

    state = _paddle_state()
    with open(tmp_path / "x.pdparams", "wb") as f:
        pio._pickle_save({"w": state["w"], "bf": state["bf"]}, f, protocol=4)
    loaded = load_paddle_state(tmp_path / "x.pdparams")
    assert np.array_equal(loaded["w"], state["w"].numpy())
    assert loaded["bf"].dtype == np.uint16 and np.array_equal(loaded["bf"], state["bf"].numpy())


def test_entries_that_are_not_tensors_are_an_error_naming_the_key(tmp_path):
    paddle.save({"w": _paddle_state()["w"], "step": 3}, str(tmp_path / "x.pdparams"))
    with pytest.raises(CheckpointError, match=r"x\.pdparams: entry 'step' is a int, not a tensor"):
        load_paddle_state(tmp_path / "x.pdparams")


def test_truncated_pdparams_is_an_error_naming_the_file(tmp_path):
    paddle.save(_paddle_state(), str(tmp_path / "model_state.pdparams"))
    data = (tmp_path / "model_state.pdparams").read_bytes()
    (tmp_path / "model_state.pdparams").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model_state\.pdparams: truncated or corrupted"):
        load_paddle_state(tmp_path)


def test_truncated_safetensors_is_an_error_naming_file_and_tensor(tmp_path):
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {"a": np.ones(4, "float32"), "b": np.ones(8, "float32")}, {"format": "np"}, bf16=False)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: truncated: tensor 'b'"):
        load_paddle_state(tmp_path)
    path.write_bytes(b"\xff" * 4)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: truncated or not a safetensors file"):
        load_paddle_state(tmp_path)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "model_state.pdparams"
    with open(path, "wb") as f:
        pickle.dump({"w": np.array([1, "a"], dtype=object)}, f)
    with pytest.raises(CheckpointError, match=r"model_state\.pdparams"):
        load_paddle_state(path)


@pytest.mark.parametrize("fmt", ["pdparams", "safetensors"])
def test_bf16_round_trip_is_bit_exact_through_paddle(tmp_path, fmt):
    state = {k: v.numpy() for k, v in _paddle_state().items()}
    assert state["bf"].dtype == np.uint16
    save_paddle_state(state, tmp_path, fmt=fmt)
    assert load_paddle_state(tmp_path).keys() == state.keys()
    for name, array in load_paddle_state(tmp_path).items():
        assert array.dtype == state[name].dtype and np.array_equal(array, state[name]), name
    # PaddleNLP's checkpoint reader gets the same bits back
    from paddlenlp.transformers.model_utils import load_state_dict

    file = tmp_path / ("model_state.pdparams" if fmt == "pdparams" else "model.safetensors")
    loaded = load_state_dict(str(file))
    for name, array in state.items():
        assert np.array_equal(loaded[name].numpy(), array), name
    if fmt == "pdparams":
        assert paddle.load(str(file))["bf"].dtype == paddle.bfloat16


def test_safetensors_bf16_is_written_as_BF16_for_torch_and_U16_for_paddle(tmp_path):
    from safetensors import safe_open

    bits = np.array([0x3F80, 0xC000], dtype=np.uint16)  # bfloat16 1.0 and -2.0
    write_safetensors(tmp_path / "hf.safetensors", {"x": bits}, {"format": "pt"}, bf16=True)
    write_safetensors(tmp_path / "pd.safetensors", {"x": bits}, {"format": "np"}, bf16=False)
    torch = pytest.importorskip("torch")
    with safe_open(tmp_path / "hf.safetensors", "pt") as f:
        assert f.metadata() == {"format": "pt"}
        assert f.get_tensor("x").dtype == torch.bfloat16
        assert f.get_tensor("x").tolist() == [1.0, -2.0]
    with safe_open(tmp_path / "pd.safetensors", "np") as f:
        assert f.metadata() == {"format": "np"}
        assert np.array_equal(f.get_tensor("x"), bits)
    tensors, metadata = read_safetensors(tmp_path / "hf.safetensors")
    assert metadata == {"format": "pt"} and np.array_equal(tensors["x"].read(), bits)


@pytest.mark.parametrize("fmt", ["pdparams", "safetensors"])
@pytest.mark.parametrize("shard", [None, "6KB"])
def test_paddlenlp_from_pretrained_reads_what_we_write(tmp_path, fmt, shard):
    from paddlenlp.transformers import ErnieMConfig, ErnieMModel

    config = ErnieMConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=20)
    paddle.seed(1)
    reference = ErnieMModel(config)
    state = {k: v.numpy() for k, v in reference.state_dict().items()}
    out = tmp_path / "out"
    out.mkdir()
    config.save_pretrained(str(out))
    files = save_paddle_state(state, out, fmt=fmt, max_shard_size=shard)
    assert (len(files) > 2) == (shard is not None)
    model = ErnieMModel.from_pretrained(str(out))
    for name, tensor in model.state_dict().items():
        assert np.array_equal(tensor.numpy(), state[name]), name


def test_sharded_index_names_match_paddlenlp(tmp_path):
    from paddlenlp.transformers.model_utils import shard_checkpoint

    state = {f"t{i}": np.full((100,), i, "float32") for i in range(5)}
    save_paddle_state(state, tmp_path, fmt="pdparams", max_shard_size=900)
    expected, index = shard_checkpoint({k: paddle.to_tensor(v) for k, v in state.items()}, max_shard_size=900)
    assert sorted(os.listdir(tmp_path)) == sorted([*expected, "model_state.pdparams.index.json"])
    import json

    assert json.loads((tmp_path / "model_state.pdparams.index.json").read_text()) == index


def test_object_construction_opcodes_are_refused(tmp_path):
    path = tmp_path / "model_state.pdparams"
    path.write_bytes(b"\x80\x04c__main__\nPoint\n)\x81.")  # GLOBAL then NEWOBJ: the global is refused first
    with pytest.raises(CheckpointError, match=r"refused global '__main__\.Point'"):
        load_paddle_state(path)
    path.write_bytes(b"\x80\x04]\x81.")  # NEWOBJ on a list: refused as an opcode
    with pytest.raises(CheckpointError, match=r"refused pickle opcode NEWOBJ"):
        load_paddle_state(path)
    path.write_bytes(b"\x80\x04}\xff.")  # not an opcode at all: corrupted
    with pytest.raises(CheckpointError, match=r"truncated or corrupted pickle .*unknown pickle opcode"):
        load_paddle_state(path)


def test_streamed_safetensors_keep_page_offsets_and_load_in_the_reference_reader(tmp_path):
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(0)
    arrays = {"b": rng.standard_normal(3).astype("float32"), "big": rng.standard_normal((300, 700)).astype("float32")}
    save_file(arrays, str(tmp_path / "src.safetensors"), metadata={"format": "np"})
    tensors, _ = read_safetensors(tmp_path / "src.safetensors")
    write_safetensors(tmp_path / "dst.safetensors", tensors, {"format": "pt"}, bf16=True)
    header_len = int.from_bytes((tmp_path / "dst.safetensors").read_bytes()[:8], "little")
    assert (8 + header_len) % 8 == 0  # data start aligned as the reference writer aligns it
    copied, _ = read_safetensors(tmp_path / "dst.safetensors")
    assert copied["big"]._span[1] % 4096 == tensors["big"]._span[1] % 4096  # page-congruent: fast kernel copy
    for name, array in load_file(str(tmp_path / "dst.safetensors")).items():
        assert np.array_equal(array, arrays[name]), name


def test_read_ahead_writes_tensors_in_order_and_keeps_its_window(tmp_path, monkeypatch):
    """Transposed tensors are prepared by worker threads ahead of the writer, never more than the window ahead,
    and the file holds every tensor in order, exactly (checked with the safetensors package's own reader)."""
    import threading

    from safetensors.numpy import load_file

    import converters.formats.lazy as lazy_tensors

    window = 3 * 400  # bytes: three 10x10 float32 tensors
    monkeypatch.setattr(lazy_tensors, "PREPARE_AHEAD_BYTES", window)
    lock = threading.Lock()
    live = {"bytes": 0, "most": 0}
    released = []

    def lazy(array):
        def load():
            with lock:
                live["bytes"] += array.nbytes
                live["most"] = max(live["most"], live["bytes"])
            return array.T.copy()  # a new array, as a transposing map returns

        return lazy_tensors.LazyTensor(array.dtype, array.shape[::-1], load)

    arrays = {f"t{i:02d}": np.arange(100, dtype=np.float32).reshape(10, 10) + i for i in range(12)}
    original_write = lazy_tensors.LazyTensor.write_to

    def write_to(self, fd, prepared=None):
        original_write(self, fd, prepared)
        with lock:  # the writer is done with this one
            live["bytes"] -= prepared.nbytes
            released.append(prepared[0, 1])

    monkeypatch.setattr(lazy_tensors.LazyTensor, "write_to", write_to)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {name: lazy(a) for name, a in arrays.items()}, {}, bf16=False)
    loaded = load_file(str(path))
    assert list(loaded) == sorted(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array.T)
    assert released == [a.T[0, 1] for a in arrays.values()]  # written in order
    assert live["most"] <= window + 400  # the window plus the tensor being written
