"""Damaged checkpoint and tokenizer files: random truncations, bit flips and header edits never crash or hang the
reader; each file either loads exactly what an independent reader finds in it (the safetensors library, a
restricted ``pickle.Unpickler``, ``torch.load``, the original arrays) or is refused with the project's error
naming the file. Bounded: a few dozen examples per reader, a time limit on each load."""
from __future__ import annotations

import contextlib
import io
import json
import pickle
import shutil
import signal
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converters.errors import CheckpointError
from converters.formats import read_weights_file

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Seconds one load may take before the example counts as a hang (they take milliseconds).
HANG_SECONDS = 10

ARRAYS = {
    "embeddings.word_embeddings.weight": np.arange(24, dtype=np.float32).reshape(6, 4) / 7,
    "encoder.layers.0.norm1.bias": np.linspace(-1, 1, 4).astype(np.float16),
    "position_ids": np.arange(5, dtype=np.int64)[None],
    "scalar": np.array(3.5, dtype=np.float64),
}


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float = HANG_SECONDS):
    """Raise :class:`Hang` in the block after ``seconds`` (SIGALRM: the tests run in the main thread)."""
    def alarm(signum, frame):
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------------------------ originals
@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Each format written by its own ecosystem's writer: bytes per file name."""
    import paddle
    import torch
    from safetensors.numpy import save_file

    root = tmp_path_factory.mktemp("originals")
    save_file(ARRAYS, str(root / "model.safetensors"), metadata={"format": "np"})
    paddle.save(dict(ARRAYS), str(root / "model_state.pdparams"))
    torch.save({k: torch.from_numpy(v.copy()) for k, v in ARRAYS.items()}, str(root / "pytorch_model.bin"))
    names = sorted(ARRAYS)
    shards = {"model-00001-of-00002.safetensors": names[:2], "model-00002-of-00002.safetensors": names[2:]}
    for shard, keys in shards.items():
        save_file({k: ARRAYS[k] for k in keys}, str(root / shard), metadata={"format": "pt"})
    index = {"metadata": {"total_size": 0}, "weight_map": {k: s for s, keys in shards.items() for k in keys}}
    (root / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return {p.name: p.read_bytes() for p in root.iterdir()}


def mutations(data: bytes, header_edits=st.nothing()):
    """A truncation, one to three bit flips, or a format-specific header edit of ``data``."""
    truncate = st.integers(0, len(data) - 1).map(lambda n: data[:n])

    def flip(positions):
        out = bytearray(data)
        for position, bit in positions:
            out[position] ^= 1 << bit
        return bytes(out)

    flips = st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 7)), min_size=1, max_size=3).map(flip)
    return st.one_of(truncate, flips, header_edits)


def same_arrays(got: dict, expected: dict) -> None:
    assert list(got) == list(expected) or sorted(got) == sorted(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        assert got[name].tobytes() == array.tobytes(), name


def ours(path: Path):
    """``{name: array}`` as our reader loads ``path``, or the :class:`CheckpointError` it raised (which must name a
    file of the checkpoint). Any other exception, or a hang, fails the example."""
    try:
        with time_limit():
            tensors, _ = read_weights_file(path)
            return {name: tensor.read() for name, tensor in tensors.items()}
    except CheckpointError as exc:  # names the damaged file, or the shard of the index it points at
        assert str(path) in str(exc) or (path.name.endswith(".index.json") and str(path.parent) in str(exc)), exc
        return exc


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------------ safetensors
def _safetensors_header_edits(data: bytes):
    """Edit one header entry and re-encode: a field set to a random value, the entry deleted, shifted by a few
    bytes, or pointed at another tensor's bytes (the probe's ``k_proj`` read from ``q_proj``); or the length."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    names = sorted(k for k in header if k != "__metadata__")
    values = st.one_of(st.integers(-2, 200), st.lists(st.integers(-1, 120), max_size=3), st.sampled_from(
        ["F32", "F16", "I64", "BF16", "U8", "X9", None]), st.text(max_size=3))

    def edit(args):
        name, other, field, value, shift, new_length = args
        edited = json.loads(json.dumps(header))
        if field == "length":
            return struct.pack("<Q", new_length) + data[8:]
        if field == "delete":
            del edited[name]
        elif field == "alias":
            edited[name] = dict(edited[other])
        elif field == "shift":
            edited[name]["data_offsets"] = [o + shift for o in edited[name]["data_offsets"]]
        else:
            edited[name][field] = value
        raw = json.dumps(edited).encode()
        return struct.pack("<Q", len(raw)) + raw + data[8 + length:]

    fields = st.sampled_from(["data_offsets", "shape", "dtype", "delete", "alias", "shift", "length"])
    return st.tuples(st.sampled_from(names), st.sampled_from(names), fields, values, st.integers(-16, 16),
                     st.integers(0, 2**64 - 1)).map(edit)


def reference_safetensors(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError, AttributeError) as exc:
        return exc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_damaged_safetensors_load_what_the_safetensors_library_loads_or_are_refused(originals, work):
    data = originals["model.safetensors"]

    @EXAMPLES
    @given(mutations(data, _safetensors_header_edits(data)))
    def check(damaged):
        path = write(work, "model.safetensors", damaged)
        got, expected = ours(path), reference_safetensors(path)
        if isinstance(got, Exception):
            assert isinstance(expected, Exception), f"the library reads it, we refused: {got}"
        else:
            assert not isinstance(expected, Exception), f"the library refuses it ({expected}), we read it"
            same_arrays(got, expected)

    check()


def test_a_damaged_shard_index_loads_the_original_arrays_or_is_refused(originals, work):
    for name, data in originals.items():
        if name.startswith("model-"):
            write(work, name, data)
    index = originals["model.safetensors.index.json"]
    weight_map = json.loads(index)["weight_map"]
    edits = st.tuples(st.sampled_from(sorted(weight_map)),
                      st.sampled_from(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                       "missing.safetensors", "../model.safetensors", "", None])).map(
        lambda e: json.dumps({"weight_map": {**weight_map, e[0]: e[1]}}).encode())

    @EXAMPLES
    @given(mutations(index, edits))
    def check(damaged):
        got = ours(write(work, "model.safetensors.index.json", damaged))
        if not isinstance(got, Exception):
            same_arrays(got, ARRAYS)

    check()


# ------------------------------------------------------------------------------------------------ .pdparams
class _NumpyOnly(pickle.Unpickler):
    """The reference for .pdparams: Python's own unpickler, admitting only what numpy's pickles need."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}")
        return super().find_class(module, name)


def reference_pdparams(data: bytes):
    try:
        with time_limit():
            obj = _NumpyOnly(io.BytesIO(data)).load()
        obj = dict(obj)
        obj.pop("StructuredToParameterName@@", None)
        return {k: np.asarray(v) for k, v in obj.items()}
    except Hang:
        raise
    except Exception as exc:  # whatever Python's unpickler raises for damaged bytes
        return exc


def test_damaged_pdparams_load_what_pythons_unpickler_loads_or_are_refused(originals, work):
    data = originals["model_state.pdparams"]

    @EXAMPLES
    @given(mutations(data))
    def check(damaged):
        got = ours(write(work, "model_state.pdparams", damaged))
        if isinstance(got, Exception):
            return  # refusing more than pickle does is allowed: the reader admits numpy arrays only
        expected = reference_pdparams(damaged)
        assert not isinstance(expected, Exception), f"pickle refuses it ({expected!r}), we read it"
        same_arrays(got, expected)

    check()


# ------------------------------------------------------------------------------------------------ pytorch_model.bin
def test_damaged_pytorch_model_bin_loads_what_torch_loads_or_is_refused(originals, work):
    import torch

    data = originals["pytorch_model.bin"]

    @settings(EXAMPLES, max_examples=25)
    @given(mutations(data))
    def check(damaged):
        path = write(work, "pytorch_model.bin", damaged)
        got = ours(path)
        if isinstance(got, Exception):
            return
        with time_limit():
            expected = torch.load(str(path), map_location="cpu", weights_only=True)
        same_arrays(got, {k: v.numpy() for k, v in expected.items()})

    check()


# ------------------------------------------------------------------------------------------------ tokenizer files
@pytest.fixture(scope="module")
def tokenizer_dir(work):
    from converters.tokenizer_files import write_tokenizer_config

    directory = work / "tokenizer"
    directory.mkdir()
    for name in ("vocab.txt", "sentencepiece.bpe.model"):
        shutil.copy(TOKENIZER / name, directory / name)
    write_tokenizer_config(directory, compat="paddlenlp", do_lower_case=False, model_max_length=64)
    return directory


def load_tokenizer(directory: Path, damaged: Path):
    """The tokenizer and the ids of a sample text, or the ValueError naming ``damaged``."""
    from paddle_ernie_m.tokenizer import ErnieMTokenizer

    try:
        with time_limit():
            tokenizer = ErnieMTokenizer.from_pretrained(directory)
            return tokenizer, tokenizer("Hello wörld, 你好! 12345")["input_ids"]
    except ValueError as exc:
        assert str(damaged) in str(exc), exc
        return None, exc


def restore(directory: Path, name: str) -> None:
    if name == "tokenizer_config.json":
        from converters.tokenizer_files import write_tokenizer_config

        write_tokenizer_config(directory, compat="paddlenlp", do_lower_case=False, model_max_length=64, force=True)
    else:
        shutil.copy(TOKENIZER / name, directory / name)


def paddlenlp_vocabulary(path: Path) -> dict:
    """``Vocab.load_vocabulary`` of PaddleNLP 2.8.1 (``paddlenlp/data/vocab.py``), line for line: each line
    stripped of its newline is a token, its index the id (a later duplicate wins)."""
    token_to_idx = {}
    with io.open(path, "r", encoding="utf-8") as f:
        for index, line in enumerate(f):
            token_to_idx[line.rstrip("\n")] = int(index)
    return token_to_idx


def test_a_damaged_vocab_txt_loads_as_paddlenlp_reads_it_or_is_refused_naming_it(tokenizer_dir):
    original = (TOKENIZER / "vocab.txt").read_bytes()

    @EXAMPLES
    @given(mutations(original))
    def check(damaged):
        path = write(tokenizer_dir, "vocab.txt", damaged)
        tokenizer, _ = load_tokenizer(tokenizer_dir, path)
        if tokenizer is not None:  # special tokens the damage removed are added after it, as PaddleNLP adds them
            added = tokenizer.get_added_vocab()
            assert set(added) <= {"[CLS]", "[PAD]", "[SEP]", "[MASK]"}
            assert tokenizer.get_vocab() == {**paddlenlp_vocabulary(path), **added}

    try:
        check()
    finally:
        restore(tokenizer_dir, "vocab.txt")


def test_a_damaged_tokenizer_config_json_loads_or_is_refused_naming_it(tokenizer_dir):
    original = (tokenizer_dir / "tokenizer_config.json").read_bytes()
    settings_ = json.loads(original)
    values = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**70), st.floats(allow_nan=True),
                       st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(
                           st.text(max_size=3), st.integers(), max_size=2))
    keys = st.sampled_from(sorted(settings_) + ["encoding", "tokenizer_class", "unk_token", "init_class"])
    edits = st.tuples(keys, values).map(lambda e: json.dumps({**settings_, e[0]: e[1]}).encode())

    @EXAMPLES
    @given(mutations(original, edits))
    def check(damaged):
        path = write(tokenizer_dir, "tokenizer_config.json", damaged)
        load_tokenizer(tokenizer_dir, path)

    try:
        check()
    finally:
        restore(tokenizer_dir, "tokenizer_config.json")


def test_a_truncated_sentencepiece_model_loads_or_is_refused_naming_it(tokenizer_dir):
    original = (TOKENIZER / "sentencepiece.bpe.model").read_bytes()

    @settings(EXAMPLES, max_examples=30)
    @given(st.integers(0, len(original) - 1))
    def check(length):
        path = write(tokenizer_dir, "sentencepiece.bpe.model", original[:length])
        tokenizer, result = load_tokenizer(tokenizer_dir, path)
        if tokenizer is not None:
            assert all(0 <= i < tokenizer.vocab_size for i in result)

    try:
        check()
    finally:
        restore(tokenizer_dir, "sentencepiece.bpe.model")


# ------------------------------------------------------------------------------------------------ readers accept
@pytest.mark.parametrize("name", ["model.safetensors", "model_state.pdparams", "pytorch_model.bin"])
def test_a_bit_flipped_inside_tensor_data_still_loads_with_that_value_changed(originals, work, name):
    """The fuzz tests above allow a refusal; this one proves the readers do not simply refuse everything: the
    undamaged file loads exactly, and a flip inside the bytes of a tensor loads with exactly that value changed."""
    data = originals[name]
    same_arrays(ours(write(work, name, data)), ARRAYS)
    key = "embeddings.word_embeddings.weight"
    raw = ARRAYS[key].tobytes()
    offset = data.find(raw)
    assert offset > 0 and data.find(raw, offset + 1) == -1, "the tensor's bytes are stored once, contiguously"
    damaged = bytearray(data)
    damaged[offset + 41] ^= 0x10  # a mantissa bit of element 10
    expected = {k: v.copy() for k, v in ARRAYS.items()}
    expected[key].view(np.uint8).reshape(-1)[41] ^= 0x10
    same_arrays(ours(write(work, name, bytes(damaged))), expected)
