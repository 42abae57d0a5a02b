"""``ernie-m export --format onnx`` (fp32 and int8) and the ONNX Runtime engine behind ``Predictor``, the extractor
and ``predict``. fp32 is held to PaddleNLP 2.8.1 within 1e-4 for every head in tests/test_inference.py; here: the
int8 error bounds (derived below, checked against PaddleNLP's fp32 outputs and against exact products), the UIE
backend against the Paddle Inference backend and Taskflow, and clear errors for broken exports and a missing
onnxruntime.

The int8 bound. A product ``y = x @ W`` is run as ``x^ @ W^``: ``W^`` has one scale per column, ``s = max|W[:, n]|
/ 63``, so ``|W - W^| <= s / 2``; ``x^`` is ``x`` quantized to uint8 over ``[min(x, 0), max(x, 0)]`` in steps ``d =
range / 255`` (``|x - x^| <= d``, a zero point rounded to the grid included). So, exactly,
``|y - y^|[n] <= d * sum_k |W[k, n]| + s / 2 * sum_k (|x[k]| + d)``: :func:`product_bound`. Relative to the
largest output this is at most ``eps = 1 / 126 + 1 / 255`` per product. A layer chains four int8 products (the
fused query/key/value one, the attention output, the two of the feed-forward block; the pooler and heads stay
float32), each error entering the residual stream and passing LayerNorm and the later products at a gain of about
one, so the outputs stay within ``4 * layers * eps * max|output|``: :func:`model_tolerance`.
"""
from __future__ import annotations

import builtins
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paddle_ernie_m.cli import main as cli_main
from paddle_ernie_m.engines.export import export_model
from paddle_ernie_m.engines.export_format import ExportError
from paddle_ernie_m.engines.predictor import Predictor
from paddle_ernie_m.engines.onnx_engine import EngineError
from paddle_ernie_m.engines.onnx_graph import INT8_WEIGHT_MAX, quantize_columns, quantize_rows
from paddle_ernie_m.uie import InformationExtractor
from paddle_ernie_m.uie.demo import DEMO_MODEL, DEMO_TEXTS, demo_schemas

from .conftest import TINY
from .paddlenlp_models import HEADS, paddlenlp_model
from .taskflow_compat import assert_same_results, paddle3_taskflow
from .export_cases import OUTPUT_NAMES, PER_TOKEN, model_tolerance, paddlenlp_outputs, shuffled_batch
from .uie_cases import CASES, CH_TEXTS, EN_TEXTS, LONG_TEXT, tiny_uie

REPO = Path(__file__).resolve().parents[1]
PAD = TINY["pad_token_id"]


def product_bound(x: np.ndarray, weight: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The largest error of ``x @ weight`` run as int8 (module docstring), per output element."""
    step = (max(float(x.max()), 0.0) - min(float(x.min()), 0.0)) / 255
    return step * np.abs(weight).sum(axis=0) + scale / 2 * (np.abs(x) + step).sum(axis=-1, keepdims=True)


def run_product(weight_q: np.ndarray, scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime's ``DynamicQuantizeMatMul`` (what the int8 graph runs) on ``x``."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(weight_q, "w"), numpy_helper.from_array(scale, "s"),
             numpy_helper.from_array(np.zeros(weight_q.shape[1], np.float32), "b")]
    node = helper.make_node("DynamicQuantizeMatMul", ["x", "w", "s", "", "b"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "product", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 9
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("inputs", ["all at the top of their range", "random signs", "one outlier"])
def test_an_int8_product_stays_within_its_quantization_bound_on_this_cpu(inputs):
    """Exact bound, adversarial inputs: rows at the top of the uint8 range times weights at the top of the int8
    range are what overflows the int16 pair sums of CPUs without VNNI (AVX2); 7-bit weights must not."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((256, 24)).astype(np.float32)
    weight[:, :8] = np.abs(weight[:, :8]) + 1  # columns of one sign: every pair sum is as large as it gets
    x = {"all at the top of their range": np.ones((8, 256)),
         "random signs": rng.uniform(-3, 3, (8, 256)),
         "one outlier": np.where(np.arange(256) == 7, 40.0, rng.uniform(0, 1, (8, 256)))}[inputs].astype(np.float32)
    q, scale = quantize_columns(weight)
    assert q.dtype == np.int8 and np.abs(q).max() == INT8_WEIGHT_MAX
    np.testing.assert_allclose(q * scale, weight, rtol=0, atol=float(scale.max()) / 2 + 1e-6)
    error = np.abs(run_product(q, scale, x) - x.astype(np.float64) @ weight)
    bound = product_bound(x, weight, scale)
    assert (error <= bound * 1.001 + 1e-5).all(), float((error / bound).max())


def test_int8_embedding_rows_are_within_half_a_step_of_the_table():
    table = np.random.default_rng(1).standard_normal((50, 16)).astype(np.float32) * np.arange(1, 51)[:, None]
    table[3] = 0  # a row of zeros keeps a usable scale
    q, scale = quantize_rows(table)
    assert q.dtype == np.int8 and scale.shape == (50, 1) and np.isfinite(scale).all()
    assert (np.abs(q * scale - table) <= scale / 2 + 1e-6).all()
    np.testing.assert_allclose(scale[:, 0][table.any(axis=1)], np.abs(table).max(axis=1)[table.any(axis=1)] / 127,
                               rtol=1e-6)


@pytest.fixture(scope="module")
def onnx_exports(tmp_path_factory):
    """``get(head, mode, precision)`` -> (PaddleNLP fp32 reference, our Predictor on the ONNX export of its
    weights)."""
    built = {}

    def get(head, mode, precision):
        if (head, mode, precision) not in built:
            reference = paddlenlp_model(head)
            root = tmp_path_factory.mktemp(f"{precision}-{head}-{mode}")
            reference.save_pretrained(str(root / "checkpoint"))
            model = HEADS[head][0].from_pretrained(root / "checkpoint", attention_mask_mode=mode)
            export_model(model, root / "export", format="onnx", precision=precision)
            built[head, mode, precision] = reference, Predictor(root / "export", threads=1, batch_size=2)
        return built[head, mode, precision]

    return get


def reference_and_ours(head, mode, predictor, reference):
    """``(ids, keep, PaddleNLP's outputs, ours)`` on a shuffled padded batch, with each mode's default mask:
    ``padding`` masks padding; ``paddlenlp`` is PaddleNLP's default ([CLS] masked, padding attended: every position
    is compared)."""
    ids = shuffled_batch(head)
    if mode == "padding":
        keep = ids != PAD
        want = paddlenlp_outputs(reference, ids, attention_mask=keep.astype("int64"))
    else:
        keep = np.ones(ids.shape, dtype=bool)
        want = paddlenlp_outputs(reference, ids)
    return ids, keep, want, predictor(input_ids=ids)


@pytest.mark.parametrize("head", list(HEADS))
def test_fp32_onnx_export_of_every_head_in_paddlenlp_mode_equals_paddlenlp(head, onnx_exports):
    """The padding mode of every head is in tests/test_inference.py; here PaddleNLP's own default mask."""
    reference, predictor = onnx_exports(head, "paddlenlp", "fp32")
    _, keep, want, got = reference_and_ours(head, "paddlenlp", predictor, reference)
    assert list(got) == OUTPUT_NAMES[head]
    for name, expected in zip(OUTPUT_NAMES[head], want):
        np.testing.assert_allclose(got[name], expected, rtol=0, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("mode", ["padding", "paddlenlp"])
@pytest.mark.parametrize("head", list(HEADS))
def test_int8_export_of_every_head_and_mask_mode_stays_within_the_derived_bound(head, mode, onnx_exports):
    reference, predictor = onnx_exports(head, mode, "int8")
    assert predictor.engine == "onnxruntime" and predictor.precision == "int8"
    _, keep, want, got = reference_and_ours(head, mode, predictor, reference)
    assert list(got) == OUTPUT_NAMES[head]
    for name, expected in zip(OUTPUT_NAMES[head], want):
        actual = got[name]
        if name in PER_TOKEN.get(head, ()):
            actual, expected = actual[keep], expected[keep]
        error = float(np.abs(actual - expected).max())
        tolerance = model_tolerance(TINY["num_hidden_layers"], float(np.abs(expected).max()))
        assert 0 < error <= tolerance, (name, error, tolerance)  # 0: the int8 graph must not be the fp32 one


def test_uie_onnxruntime_fp32_equals_the_paddle_inference_backend_and_int8_stays_close(tmp_path, monkeypatch):
    from paddle_ernie_m.uie import runner

    model = tiny_uie(tmp_path / "tiny", seed=5, start_bias=-1.0, end_bias=-1.0)
    exports = []
    real_export = runner.export_uie
    monkeypatch.setattr(runner, "export_uie", lambda *args: exports.append(args[2:]) or real_export(*args))
    for mode in ("exact", "fast"):
        extractors = {(backend, precision): InformationExtractor(model, backend=backend, precision=precision,
                                                                 mode=mode, max_seq_len=64, cache_dir=tmp_path)
                      for backend, precision in (("inference", None), ("onnxruntime", "fp32"),
                                                 ("onnxruntime", "int8"))}
        for case, (schema, lang) in sorted(CASES.items()):
            texts = (EN_TEXTS if lang == "en" else CH_TEXTS) + [LONG_TEXT]
            results = {}
            for key, extractor in extractors.items():
                extractor.set_schema(schema, schema_lang=lang)
                results[key] = extractor(texts)
            assert_same_results(results["onnxruntime", "fp32"], results["inference", None], floats=float)
            assert span_f1(results["onnxruntime", "int8"], results["inference", None]) >= 0.8, case
    # one export per format and precision, kept in the cache: the second mode's extractors exported nothing
    assert sorted(exports) == [("onnx", "fp32"), ("onnx", "int8"), ("paddle", "fp32")]
    assert len(list((tmp_path / "exports").iterdir())) == 3


def test_uie_onnxruntime_exact_mode_gives_taskflows_results(tmp_path):
    model = tiny_uie(tmp_path / "tiny", seed=5, start_bias=-1.0, end_bias=-1.0)
    extractor = InformationExtractor(model, backend="onnxruntime", max_seq_len=64, cache_dir=tmp_path / "cache")
    with paddle3_taskflow() as build:
        for case in ("relation", "event", "opinion_en"):
            schema, lang = CASES[case]
            texts = (EN_TEXTS if lang == "en" else CH_TEXTS) + [LONG_TEXT]
            reference = build(model, tmp_path / case, schema, schema_lang=lang, max_seq_len=64)(texts)
            extractor.set_schema(schema, schema_lang=lang)
            assert_same_results(extractor(texts), reference)


def spans(results):
    """Every (text index, label path, text, start, end) found, relations included."""
    found = set()

    def walk(index, path, node):
        for label, answers in node.items():
            for answer in answers:
                found.add((index, path + (label,), answer["text"], answer.get("start"), answer.get("end")))
                walk(index, path + (label, answer["text"]), answer.get("relations", {}))

    for index, result in enumerate(results):
        walk(index, (), result)
    return found


def span_f1(ours, reference) -> float:
    a, b = spans(ours), spans(reference)
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def test_int8_demo_model_finds_the_spans_fp32_finds_on_the_demo_texts(tmp_path):
    for lang, schema in demo_schemas().items():
        sentence_end = "。" if lang == "ch" else ". "
        texts = [DEMO_TEXTS[lang]] + [s + sentence_end.strip() for s in DEMO_TEXTS[lang].split(sentence_end) if s]
        fp32 = InformationExtractor(DEMO_MODEL, schema=schema, schema_lang=lang, cache_dir=tmp_path)(texts)
        int8 = InformationExtractor(DEMO_MODEL, schema=schema, schema_lang=lang, backend="onnxruntime",
                                    precision="int8", cache_dir=tmp_path)(texts)
        assert len(spans(fp32)) >= 8
        assert span_f1(int8, fp32) >= 0.97, lang


def test_export_cli_writes_onnx_exports_that_predict_runs_and_refuses_int8_for_paddle(tmp_path, capsys):
    make_classifier(tmp_path / "checkpoint")
    for precision in ("fp32", "int8"):
        out = tmp_path / f"onnx-{precision}"
        assert cli_main(["export", str(tmp_path / "checkpoint"), str(out), "--format", "onnx",
                         "--precision", precision]) == 0
        meta = json.loads((out / "export.json").read_text())
        assert (meta["engine"], meta["precision"], meta["program"]) == ("onnxruntime", precision, "model.onnx")
        assert f"onnxruntime, precision {precision}" in capsys.readouterr().out
    sizes = {p: (tmp_path / f"onnx-{p}" / "model.onnx").stat().st_size for p in ("fp32", "int8")}
    assert sizes["int8"] < 0.45 * sizes["fp32"]  # a tiny model: its LayerNorms, biases and positions stay fp32
    texts = ["hello world", "a longer text to classify here"]
    exported = {}
    for source, args in (("fp32", ["--model", str(tmp_path / "onnx-fp32")]),
                         ("checkpoint", ["--model", str(tmp_path / "checkpoint")]),
                         ("int8", ["--model", str(tmp_path / "checkpoint"), "--backend", "onnxruntime",
                                   "--precision", "int8", "--cache-dir", str(tmp_path / "cache")])):
        assert cli_main(["predict", *args, *texts]) == 0
        exported[source] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for a, b in zip(exported["fp32"], exported["checkpoint"]):
        assert a["label"] == b["label"]
        np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-5)
    assert len(exported["int8"]) == 2 and list(Path(tmp_path / "cache" / "exports").glob("standard-onnx-int8-*"))
    assert cli_main(["export", str(tmp_path / "checkpoint"), str(tmp_path / "bad"), "--precision", "int8"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--format onnx" in err and not (tmp_path / "bad").exists()
    for args, message in ((["--precision", "int8"], "int8 needs --backend onnxruntime"),
                          (["--dygraph", "--precision", "int8"], "--precision do(es) not apply to --dygraph")):
        assert cli_main(["predict", "--model", str(tmp_path / "checkpoint"), *args, "x"]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and message in err, err


def make_classifier(directory: Path) -> Path:
    """A tiny random sequence classifier with the fixture tokenizer's files."""
    from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer

    from .scripts import TOKENIZER

    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=66, num_labels=3)
    ErnieMForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx-errors")
    reference = paddlenlp_model("token_cls")
    reference.save_pretrained(str(root / "checkpoint"))
    model = HEADS["token_cls"][0].from_pretrained(root / "checkpoint")
    return export_model(model, root / "export", format="onnx")


def test_a_broken_or_mismatched_onnx_export_is_refused_with_a_message_naming_it(onnx_export, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(onnx_export, broken)
    data = (broken / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match=r"model\.onnx: ONNX Runtime .* cannot load this export"):
        Predictor(broken)
    (broken / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.onnx not found"):
        Predictor(broken)
    with pytest.raises(ValueError, match="ONNX export in fp32, which runs only in its own precision"):
        Predictor(onnx_export, precision="int8")
    with pytest.raises(ValueError, match="no CUDA provider"):
        Predictor(onnx_export, device="gpu:0")
    meta = json.loads((onnx_export / "export.json").read_text())
    shutil.copytree(onnx_export, tmp_path / "unknown")
    (tmp_path / "unknown" / "export.json").write_text(json.dumps({**meta, "engine": "tensorrt"}))
    with pytest.raises(ExportError, match=r"export\.json: unknown engine 'tensorrt'"):
        Predictor(tmp_path / "unknown")


def test_missing_onnxruntime_is_one_line_on_how_to_install_it(onnx_export, monkeypatch, capsys, tmp_path):
    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ImportError, match=r"ONNX Runtime is not installed: install it with `pip install "
                                          r"paddle-ernie-m\[onnx\]`"):
        Predictor(onnx_export)
    checkpoint = make_classifier(tmp_path / "checkpoint")
    for command in (["export", str(checkpoint), str(tmp_path / "out"), "--format", "onnx"],
                    ["predict", "--model", str(checkpoint), "--backend", "onnxruntime", "x"]):
        assert cli_main(command) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "paddle-ernie-m[onnx]" in err, err
    assert not (tmp_path / "out").exists()


def test_the_graph_is_written_from_numpy_weights_without_paddle_or_torch(tmp_path):
    """onnx_graph needs only numpy and onnx: build a tiny graph in an interpreter where Paddle cannot import, and
    check it against a numpy forward pass of the same weights."""
    script = r'''
import builtins, sys
real = builtins.__import__
def guard(name, *a, **k):
    if name.split(".")[0] in ("paddle", "torch", "paddlenlp", "transformers"):
        raise ImportError("blocked: " + name)
    return real(name, *a, **k)
builtins.__import__ = guard
import numpy as np, onnxruntime as ort
from converters.configuration import ErnieMConfig
from paddle_ernie_m.engines.onnx_graph import build_graph
cfg = ErnieMConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                   max_position_embeddings=12, num_labels=2, hidden_act="relu")
rng = np.random.default_rng(0)
H, I = 8, 32
w = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.3
st = {"ernie_m.embeddings.word_embeddings.weight": w(20, H), "ernie_m.embeddings.position_embeddings.weight": w(12, H),
      "ernie_m.embeddings.layer_norm.weight": 1 + w(H), "ernie_m.embeddings.layer_norm.bias": w(H),
      "ernie_m.pooler.dense.weight": w(H, H), "ernie_m.pooler.dense.bias": w(H),
      "classifier.weight": w(H, 2), "classifier.bias": w(2)}
p = "ernie_m.encoder.layers.0."
for n in ("q", "k", "v", "out"):
    st[p + f"self_attn.{n}_proj.weight"], st[p + f"self_attn.{n}_proj.bias"] = w(H, H), w(H)
st[p + "linear1.weight"], st[p + "linear1.bias"], st[p + "linear2.weight"], st[p + "linear2.bias"] = w(H, I), w(I), w(I, H), w(H)
for n in ("norm1", "norm2"):
    st[p + n + ".weight"], st[p + n + ".bias"] = 1 + w(H), w(H)
ids = np.array([[0, 5, 7, 2, 1], [0, 9, 2, 1, 1]]); mask = (ids != 1).astype(np.int64); pos = np.tile(np.arange(5), (2, 1))
def ln(x, n): m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True); return (x - m) / np.sqrt(v + 1e-5) * st[n + ".weight"] + st[n + ".bias"]
lin = lambda x, n: x @ st[n + ".weight"] + st[n + ".bias"]
x = ln(st["ernie_m.embeddings.word_embeddings.weight"][ids] + st["ernie_m.embeddings.position_embeddings.weight"][pos + 2], "ernie_m.embeddings.layer_norm")
heads = lambda t: t.reshape(2, 5, 2, 4).transpose(0, 2, 1, 3)
q, k, v = (heads(lin(x, p + f"self_attn.{n}_proj")) for n in "qkv")
s = q @ k.transpose(0, 1, 3, 2) / 2 + ((1 - mask) * -1e4)[:, None, None, :]
a = np.exp(s - s.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
x = ln(x + lin((a @ v).transpose(0, 2, 1, 3).reshape(2, 5, H), p + "self_attn.out_proj"), p + "norm1")
x = ln(x + lin(np.maximum(lin(x, p + "linear1"), 0), p + "linear2"), p + "norm2")
want = lin(np.tanh(lin(x[:, 0], "ernie_m.pooler.dense")), "classifier")
sess = ort.InferenceSession(build_graph(st, cfg, "ErnieMForSequenceClassification").SerializeToString(),
                            providers=["CPUExecutionProvider"])
got = sess.run(None, {"input_ids": ids, "position_ids": pos, "attention_mask": mask})[0]
assert "paddle" not in sys.modules and "torch" not in sys.modules
np.testing.assert_allclose(got, want, atol=1e-5)
print("ok")
'''
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_an_onnxruntime_older_than_1_22_is_refused_naming_the_version(onnx_export, monkeypatch):
    """Before 1.22 ONNX Runtime's CPU MultiHeadAttention mixed up batch rows given a per-row bias."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "__version__", "1.21.1")
    with pytest.raises(ImportError, match=r"ONNX Runtime 1\.21\.1 is too old .*1\.22 or newer"):
        Predictor(onnx_export)


@pytest.mark.parametrize("head", list(HEADS))
def test_onnx_export_of_a_paddlenlp_checkpoint_read_without_paddle_equals_the_export_of_the_loaded_model(head,
                                                                                                        tmp_path):
    """``export_pretrained(format="onnx")`` reads the weights with numpy (no Paddle); the graph it writes must be the
    one written from the same checkpoint loaded by the Paddle class (whose ONNX export is held to PaddleNLP above),
    byte for byte, in both precisions; a float16 checkpoint is read as float32 as ``from_pretrained`` reads it."""
    from paddle_ernie_m.engines.export import export_pretrained

    reference = paddlenlp_model(head)
    if head == "seq_cls":
        reference.to(dtype="float16")
    reference.save_pretrained(str(tmp_path / "checkpoint"))
    for precision in ("fp32", "int8"):
        ours = export_pretrained(tmp_path / "checkpoint", tmp_path / f"numpy-{precision}", precision, format="onnx")
        loaded = HEADS[head][0].from_pretrained(tmp_path / "checkpoint")
        want = export_model(loaded, tmp_path / f"paddle-{precision}", precision, format="onnx",
                            tokenizer_dir=tmp_path / "checkpoint")
        for name in ("model.onnx", "export.json", "config.json"):
            assert (ours / name).read_bytes() == (want / name).read_bytes(), (precision, name)


def test_the_onnx_head_outputs_are_the_dygraph_heads_outputs():
    """The table the ONNX export reads its outputs from (names, order, which have a sequence axis) against what the
    Paddle model of each head returns for two lengths."""
    from paddle_ernie_m import ErnieMConfig
    from paddle_ernie_m.engines.export import _output_layout
    from paddle_ernie_m.engines.onnx_graph import HEAD_OUTPUTS

    for head, (ours, _) in HEADS.items():
        model = ours(ErnieMConfig(**TINY, num_labels=3)).eval()
        rank = 3 if head == "multiple_choice" else 2
        table = [{"name": name, "per_token": per_token} for name, per_token in HEAD_OUTPUTS[model.head_name].items()]
        assert table == _output_layout(model, rank), head


def test_an_onnx_export_of_a_checkpoint_without_its_head_weights_is_one_line_naming_the_missing_tensor(
        tmp_path, capsys):
    """A base model's weights under a config naming a classifier: the Paddle class would start a fresh head; an
    export has nothing to write for it and must say so, writing nothing."""
    from paddle_ernie_m import ErnieMConfig, ErnieMModel

    ErnieMModel(ErnieMConfig(**TINY)).save_pretrained(tmp_path / "base")
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    (tmp_path / "base" / "config.json").write_text(json.dumps({**config, "architectures":
                                                               ["ErnieMForSequenceClassification"]}))
    assert cli_main(["export", str(tmp_path / "base"), str(tmp_path / "out"), "--format", "onnx"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "classifier.weight" in err and str(tmp_path / "base") in err, err
    assert not (tmp_path / "out").exists()
