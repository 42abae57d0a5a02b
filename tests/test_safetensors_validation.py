"""The safetensors reader validates headers as the reference ``safetensors`` library does: crafted files that it
refuses are refused here too (CheckpointError naming the file and tensor), the ones it reads are read alike."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors import SafetensorError, safe_open

from converters.errors import CheckpointError
from converters.formats.safetensors import read_safetensors

DATA = np.arange(4, dtype=np.float32).tobytes()  # 16 bytes: two F32[2] tensors


def f32(begin: int, end: int, shape=(2,)) -> dict:
    return {"dtype": "F32", "shape": list(shape), "data_offsets": [begin, end]}


def craft(path, header, data: bytes, raw: bytes = None):
    text = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


REFUSED = {
    # name: (header, data, our message)
    "k_proj_pointing_at_q_proj": ({"q_proj.weight": f32(0, 8), "k_proj.weight": f32(0, 8)}, DATA[:8],
                                  r"tensor '(k|q)_proj.weight' begins at data offset 0 and overlaps tensor "
                                  r"'(q|k)_proj.weight' \(which ends at 8\)"),
    "partial_overlap": ({"a": f32(0, 8), "b": f32(4, 12)}, DATA[:12], r"tensor 'b' begins at data offset 4 and "
                                                                      r"overlaps tensor 'a'"),
    "gap_between": ({"a": f32(0, 8), "b": f32(12, 20)}, DATA + b"0000",
                    r"tensor 'b' begins at data offset 12 and leaves bytes 8..12 unused after tensor 'a'"),
    "gap_before_first": ({"a": f32(8, 16)}, DATA, r"tensor 'a' begins at data offset 8 and leaves bytes 0..8 unused"),
    "bytes_after_last": ({"a": f32(0, 8)}, DATA, r"8 bytes after the last tensor's data"),
    "empty_tensor_inside_another": ({"a": f32(0, 8), "z": f32(4, 4, (0,)), "b": f32(8, 16)}, DATA,
                                    r"tensor 'z' begins at data offset 4 and overlaps tensor 'a'"),
    "overrun": ({"a": f32(0, 8), "b": f32(8, 16)}, DATA[:12], r"truncated: tensor 'b' ends at byte"),
    "float_shape": ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, DATA[:8],
                    r"corrupted safetensors header entry for tensor 'a'"),
    "string_offsets": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": "08"}}, DATA[:8],
                       r"corrupted safetensors header entry for tensor 'a'"),
    "boolean_dimension": ({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, DATA[:8],
                          r"corrupted safetensors header entry for tensor 'a'"),
    "size_disagrees_with_shape": ({"a": f32(0, 12)}, DATA[:12], r"corrupted safetensors header entry for tensor 'a'"),
    "metadata_not_strings": ({"__metadata__": {"format": 1}, "a": f32(0, 8)}, DATA[:8],
                             r"__metadata__ must map names to strings"),
    "metadata_a_list": ({"__metadata__": [1], "a": f32(0, 8)}, DATA[:8], r"__metadata__ must map names to strings"),
    **{f"metadata_{name}": ({"__metadata__": value, "a": f32(0, 8)}, DATA[:8], r"__metadata__ must map names to strings")
       for name, value in (("empty_list", []), ("zero", 0), ("empty_string", ""), ("false", False))},
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_files_the_safetensors_library_refuses_are_refused_naming_file_and_tensor(tmp_path, case):
    header, data, message = REFUSED[case]
    path = craft(tmp_path / f"{case}.safetensors", header, data)
    with pytest.raises(SafetensorError):  # the reference refuses the same file
        with safe_open(str(path), "np") as f:
            [f.get_tensor(k) for k in f.keys()]
    with pytest.raises(CheckpointError, match=rf"{case}\.safetensors: .*{message}"):
        read_safetensors(path)


def test_a_duplicated_key_is_refused_like_the_reference(tmp_path):
    """JSON keeps the last of two entries named alike; the data then has a hole where the first one was."""
    raw = (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
           b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}')
    path = craft(tmp_path / "dup.safetensors", None, DATA, raw)
    with pytest.raises(SafetensorError, match="invalid offset"):
        safe_open(str(path), "np")
    with pytest.raises(CheckpointError, match="tensor 'a' begins at data offset 8 and leaves bytes 0..8 unused"):
        read_safetensors(path)


ACCEPTED = {
    "two_tensors": ({"a": f32(0, 8), "b": f32(8, 16)}, DATA),
    "listed_out_of_order": ({"b": f32(8, 16), "a": f32(0, 8)}, DATA),
    "empty_tensor_at_the_end": ({"a": f32(0, 8), "b": f32(8, 16), "z": f32(16, 16, (0,))}, DATA),
    "empty_tensor_at_a_boundary": ({"a": f32(0, 8), "z": f32(8, 8, (2, 0)), "b": f32(8, 16)}, DATA),
    "only_an_empty_tensor": ({"z": f32(0, 0, (0,))}, b""),
    "no_tensors": ({}, b""),
    "scalar": ({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, DATA[:4]),
    "null_metadata_and_unknown_entry_keys": ({"__metadata__": None, "a": {**f32(0, 8), "extra": 1}}, DATA[:8]),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_files_the_safetensors_library_reads_are_read_to_the_same_arrays(tmp_path, case):
    header, data = ACCEPTED[case]
    path = craft(tmp_path / f"{case}.safetensors", header, data)
    with safe_open(str(path), "np") as f:
        expected = {k: f.get_tensor(k) for k in f.keys()}
    tensors, _ = read_safetensors(path)
    assert sorted(tensors) == sorted(expected)
    for name, array in expected.items():
        got = tensors[name].read()
        assert got.dtype == array.dtype and got.shape == array.shape
        np.testing.assert_array_equal(got, array)
    offsets = [header[name]["data_offsets"] for name in tensors]
    assert offsets == sorted(offsets)  # in file order


def test_overlapping_offsets_do_not_convert_into_a_model_with_k_equal_to_q(tmp_path):
    """The probe's file: k_proj's entry points at q_proj's bytes. Converting it fails before DST appears."""
    from converters.convert import convert_checkpoint
    from tests.convert_helpers import hf_checkpoint

    file = hf_checkpoint(tmp_path / "src", "ErnieMModel") / "model.safetensors"
    blob = file.read_bytes()
    length = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + length])
    q, k = "encoder.layers.0.self_attn.self_attn.q_proj.weight", "encoder.layers.0.self_attn.self_attn.k_proj.weight"
    header[k]["data_offsets"] = header[q]["data_offsets"]
    text = json.dumps(header).encode()
    file.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + length:])
    with pytest.raises(SafetensorError):
        safe_open(str(file), "np")
    with pytest.raises(CheckpointError, match="corrupted safetensors header: tensor .* (overlaps|leaves bytes)"):
        convert_checkpoint(file.parent, tmp_path / "dst", "torch2paddle")
    assert not (tmp_path / "dst").exists()
