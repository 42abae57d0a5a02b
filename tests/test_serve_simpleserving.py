"""``ernie-m serve``'s SimpleServing routes against PaddleNLP 2.8.1's own ``SimpleServer``: the same client request
to both gives equal results.

UIE: PaddleNLP's server runs ``Taskflow("information_extraction")`` on the demo UIE-M checkpoint (patched to run on
Paddle 3.x as in test_uie_taskflow.py, span order pinned); ours runs the same checkpoint. Classification: PaddleNLP's
``Taskflow("text_classification")`` (finetune mode, its default batch size 1) on a tiny random
``ErnieMForSequenceClassification`` saved in PaddleNLP's layout, under PaddleNLP's attention semantics. Both servers
are called in-process through Starlette's ``TestClient``, with the same bodies; JSON against JSON, probabilities
within 1e-5.
"""
from __future__ import annotations

import shutil

import paddle
import pytest
from starlette.testclient import TestClient

from paddle_ernie_m import ErnieMConfig, ErnieMForSequenceClassification, ErnieMTokenizer
from paddle_ernie_m.engines.export_cache import CACHE_ENV
from paddle_ernie_m.serving.app import create_app
from paddle_ernie_m.serving.models import load_model
from paddle_ernie_m.serving.settings import ServeSettings

from .export_cases import model_tolerance
from .serve_cases import DEMO, SCHEMAS, mixed_texts
from .taskflow_compat import assert_same_results, paddle3_taskflow
from .uie_cases import CH_TEXTS, EN_TEXTS, TOKENIZER

CLS_LABELS = {0: "负面", 1: "中性", 2: "正面"}
CLS_TEXTS = ["这家酒店的房间很干净", "服务一般", "I loved every minute of it.", "", "差", "好",
             "The room was small and the staff were rude, but the breakfast was fine."] + CH_TEXTS[:2]


@pytest.fixture(scope="module")
def taskflow_context():
    with paddle3_taskflow() as build:
        yield build


@pytest.fixture(scope="module")
def paddlenlp_uie(taskflow_context, tmp_path_factory):
    from paddlenlp.server import SimpleServer

    app = SimpleServer()
    app.register_taskflow("taskflow/uie", taskflow_context(DEMO, tmp_path_factory.mktemp("taskflow"), SCHEMAS["ch"]))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def ours_uie():
    settings = ServeSettings(model=str(DEMO), schema=SCHEMAS["ch"], threads=1)
    with TestClient(create_app(settings, load_model(settings))) as client:
        yield client


def tiny_classifier(directory):
    """A random 3-label classifier initialised wide and with a scaled head, so that labels and probabilities vary
    between texts; PaddleNLP's mask semantics (what PaddleNLP fine-tunes under)."""
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    paddle.seed(11)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=514, attention_mask_mode="paddlenlp", num_labels=3,
                          id2label=CLS_LABELS, initializer_range=0.5)
    model = ErnieMForSequenceClassification(config)
    model.classifier.weight.set_value(model.classifier.weight * 20)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return tiny_classifier(tmp_path_factory.mktemp("cls") / "model")


@pytest.fixture(scope="module")
def paddlenlp_cls(taskflow_context, classifier, tmp_path_factory):
    from paddlenlp import Taskflow
    from paddlenlp.server import SimpleServer

    task_path = tmp_path_factory.mktemp("taskflow-cls") / "model"
    shutil.copytree(classifier, task_path)  # Taskflow writes its static export into task_path
    app = SimpleServer()
    app.register_taskflow("taskflow/cls", Taskflow("text_classification", task_path=str(task_path)))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def ours_cls(classifier):
    settings = ServeSettings(model=str(classifier), task="classify", threads=1)
    with TestClient(create_app(settings, load_model(settings))) as client:
        yield client


UIE_REQUESTS = {
    "default_schema": {"data": {"text": mixed_texts("ch", 6, seed=1) + CH_TEXTS[:2]}},
    "one_string": {"data": {"text": mixed_texts("ch", 1, seed=2)[0]}, "parameters": {}},
    "request_schema_en": {"data": {"text": mixed_texts("en", 6, seed=3) + EN_TEXTS[:1]},
                          "parameters": {"schema": SCHEMAS["en"]}},
    "request_schema_relation": {"data": {"text": mixed_texts("ch", 4, seed=4)},
                                "parameters": {"schema": [{"人物": ["所属机构", "地点"]}]}},
    "no_text": {"data": {"texts": ["a"]}},
    "null_data": {"data": None, "parameters": {"schema": ["地点"]}},
}


@pytest.mark.parametrize("case", sorted(UIE_REQUESTS))
def test_taskflow_uie_answers_as_paddlenlp_simple_server(case, paddlenlp_uie, ours_uie):
    body = UIE_REQUESTS[case]
    if "schema" not in body.get("parameters", {}):  # PaddleNLP's Taskflow keeps the last request's schema
        body = {**body, "parameters": {**body.get("parameters", {}), "schema": SCHEMAS["ch"]}}
    reference = paddlenlp_uie.post("/taskflow/uie", json=body)
    ours = ours_uie.post("/taskflow/uie", json=UIE_REQUESTS[case])
    assert reference.status_code == ours.status_code == 200, (reference.text, ours.text)
    assert_same_results(ours.json(), reference.json(), floats=float)
    if case not in ("no_text", "null_data"):
        assert any(result for result in reference.json()["result"]), "nothing extracted: the case tests nothing"


def test_taskflow_uie_request_schema_does_not_stick_to_later_requests(ours_uie):
    """PaddleNLP's handler calls set_schema on the shared Taskflow; ours applies a request's schema to it alone."""
    texts = mixed_texts("ch", 3, seed=5)
    before = ours_uie.post("/taskflow/uie", json={"data": {"text": texts}}).json()
    ours_uie.post("/taskflow/uie", json={"data": {"text": texts}, "parameters": {"schema": ["地点"]}})
    after = ours_uie.post("/taskflow/uie", json={"data": {"text": texts}}).json()
    assert after == before
    assert any("人物" in result for result in after["result"])


def test_taskflow_uie_refuses_what_paddlenlp_simple_server_refuses(paddlenlp_uie, ours_uie):
    for body in ({"text": ["a"]}, {"data": {"text": ["a"]}, "extra": 1}):  # no data; a field its model forbids
        assert paddlenlp_uie.post("/taskflow/uie", json=body).status_code == 422
        answer = ours_uie.post("/taskflow/uie", json=body)
        assert answer.status_code == 422 and answer.json()["error"].startswith(("data", "body"))


@pytest.mark.parametrize("text", [CLS_TEXTS, CLS_TEXTS[0]], ids=["list", "one_string"])
def test_taskflow_cls_answers_as_paddlenlp_text_classification_server(text, paddlenlp_cls, ours_cls):
    body = {"data": {"text": text}}
    reference = paddlenlp_cls.post("/taskflow/cls", json=body)
    ours = ours_cls.post("/taskflow/cls", json=body)
    assert reference.status_code == ours.status_code == 200, (reference.text, ours.text)
    assert_same_results(ours.json(), reference.json(), floats=float)
    if isinstance(text, list):
        labels = {item["predictions"][0]["label"] for item in reference.json()["result"]}
        assert len(labels) >= 2, "every text got the same label: the case tests little"


@pytest.mark.parametrize("backend,precision", [("inference", None), ("onnxruntime", None), ("onnxruntime", "int8")])
def test_v1_classify_gives_the_softmax_of_paddlenlp_model_logits_for_each_text(backend, precision, classifier,
                                                                               ours_cls, tmp_path, monkeypatch):
    """Texts batched together (several lengths, equal lengths twice) each get the probabilities PaddleNLP's
    ErnieMForSequenceClassification gives that text alone: within 1e-5 in fp32, within the int8 bound of
    tests/test_onnx_export.py in int8 (``--backend onnxruntime --precision int8``)."""
    import numpy as np
    from paddlenlp.transformers import ErnieMForSequenceClassification as PaddleNLPClassifier
    from paddlenlp.transformers import ErnieMTokenizer as PaddleNLPTokenizer

    if backend == "inference":
        answer = ours_cls.post("/v1/classify", json={"texts": CLS_TEXTS})
    else:
        settings = ServeSettings(model=str(classifier), task="classify", threads=1, backend=backend,
                                 precision=precision)
        monkeypatch.setenv(CACHE_ENV, str(tmp_path))
        model = load_model(settings)
        assert (model.predictor.engine, model.predictor.precision) == ("onnxruntime", precision or "fp32")
        with TestClient(create_app(settings, model)) as client:
            answer = client.post("/v1/classify", json={"texts": CLS_TEXTS})
    assert answer.status_code == 200, answer.text
    reference = PaddleNLPClassifier.from_pretrained(str(classifier))
    reference.eval()
    tokenizer = PaddleNLPTokenizer.from_pretrained(str(classifier))
    for text, result in zip(CLS_TEXTS, answer.json()["results"]):
        with paddle.no_grad():
            logits = reference(paddle.to_tensor([tokenizer(text)["input_ids"]])).numpy()[0]
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert list(result["probabilities"]) == list(CLS_LABELS.values())
        # softmax moves no probability by more than the largest change of a logit
        atol = 1e-5 if precision is None else model_tolerance(reference.config.num_hidden_layers,
                                                              float(np.abs(logits).max()))
        np.testing.assert_allclose(list(result["probabilities"].values()), probs, atol=atol)
        if precision is None or np.sort(logits)[-1] - np.sort(logits)[-2] > 2 * atol:
            assert result["label"] == CLS_LABELS[int(probs.argmax())]


def test_extract_calls_gives_each_call_what_taskflow_gives_it_alone(taskflow_context, tmp_path_factory):
    """Taskflow's piece length and classification decision are per call, so a text's results can depend on its
    call's other texts: the server runs several requests together through ``extract_calls`` and must still give each
    what Taskflow gives that request alone."""
    from paddle_ernie_m.uie.extractor import InformationExtractor

    taskflow = taskflow_context(DEMO, tmp_path_factory.mktemp("taskflow-calls"), SCHEMAS["ch"])
    pool = mixed_texts("ch", 24, seed=20, sentences=(1, 1, 1, 2, 4))
    # pool[13]'s first child answer is a classification-like one, which makes Taskflow treat the whole stage so
    calls = [[pool[13], pool[1]], [pool[1]], [pool[13], pool[8]], [pool[8]], pool[14:20], [pool[12], pool[13]]]
    extractor = InformationExtractor(DEMO, schema=SCHEMAS["ch"], threads=1)
    ours = extractor.extract_calls(calls)
    for call, results in zip(calls, ours):
        assert_same_results(results, taskflow(call))
    for with_13, alone in ((ours[0][1], ours[1][0]), (ours[2][1], ours[3][0])):
        with pytest.raises(AssertionError):  # the same text, another call: other results
            assert_same_results(with_13, alone, floats=float)
