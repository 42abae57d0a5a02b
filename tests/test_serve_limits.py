"""``ernie-m serve`` in-process (Starlette's TestClient): every malformed or oversized request gets its 4xx with a
JSON message naming the field, overload gets 503 with Retry-After, a slow answer 504, and the service keeps
answering; the batcher groups, bounds and splits correctly; /metrics parses as Prometheus text
(``prometheus_client``'s own parser); the CLI's help and errors."""
from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from starlette.testclient import TestClient

from paddle_ernie_m.cli import main
from paddle_ernie_m.serving.app import create_app
from paddle_ernie_m.serving.batcher import Batcher, QueueFull, ShuttingDown
from paddle_ernie_m.serving.models import load_model
from paddle_ernie_m.serving.settings import DEFAULTS, ServeSettings
from paddle_ernie_m.uie.extractor import InformationExtractor

from .serve_cases import DEMO, SCHEMAS, mixed_texts


@pytest.fixture(scope="module")
def demo_client():
    settings = ServeSettings(model=str(DEMO), schema=SCHEMAS["ch"], threads=1, max_texts=4, max_chars=200,
                             max_body_bytes=4096)
    with TestClient(create_app(settings, load_model(settings))) as client:
        yield client


BAD_REQUESTS = [
    ("malformed_json", b'{"texts": ["a"', 400, "body: malformed JSON"),
    ("not_utf8", b'{"texts": ["\xff"]}', 400, "body: not UTF-8"),
    ("not_an_object", b'["a"]', 422, "body: expected a JSON object"),
    ("unknown_field", b'{"texts": ["a"], "text": "a"}', 422, "body: unknown field 'text'"),
    ("no_texts", b'{"schema": ["x"]}', 422, "texts: required"),
    ("texts_a_string", b'{"texts": "a"}', 422, "texts: expected a list of strings, got a string"),
    ("empty_list", b'{"texts": []}', 422, "texts: empty list"),
    ("text_a_number", b'{"texts": ["a", 3]}', 422, "texts[1]: expected a string, got a number"),
    ("too_many_texts", json.dumps({"texts": ["a"] * 5}).encode(), 422, "texts: 5 texts, more than"),
    ("text_too_long", json.dumps({"texts": ["a", "b" * 201]}).encode(), 422, "texts[1]: 201 characters"),
    ("empty_schema", b'{"texts": ["a"], "schema": []}', 422, "schema: the schema is empty"),
    ("schema_a_number", b'{"texts": ["a"], "schema": 3}', 422, "schema: a schema must be"),
    ("schema_empty_label", b'{"texts": ["a"], "schema": ["x", ""]}', 422, "schema[1]: empty label"),
    ("bad_schema_lang", b'{"texts": ["a"], "schema_lang": "fr"}', 422, "schema_lang: expected one of ch, en"),
    ("oversized_body", json.dumps({"texts": ["a" * 5000]}).encode(), 413, "body: 50"),
    ("deep_list", b'{"texts": [' + b"[" * 2000 + b"]" * 2000 + b"]}", 400,
     "body: texts[0][0][0][0][0][0][0]...: nested deeper than the limit of 32 levels"),
    ("1000_digit_integer", b'{"texts": [' + b"7" * 1000 + b"]}", 400,
     "body: texts[0]: a number of 1000 characters, more than the limit of 32"),
    ("lone_surrogate", b'{"texts": ["a", "b\\udfff"]}', 422, "texts[1]: a lone surrogate '\\udfff' at position 1"),
]


@pytest.mark.parametrize("body,status,message", [case[1:] for case in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_their_4xx_with_a_message_naming_the_field_and_the_service_stays_up(
        body, status, message, demo_client):
    answer = demo_client.post("/v1/extract", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"].startswith(message), answer.json()
    assert demo_client.post("/v1/extract", json={"texts": ["张三在北京工作。"]}).status_code == 200


TASKFLOW_BAD = [
    ({"parameters": {}}, "data: required"),
    ({"data": {"text": ["a"]}, "extra": 1}, "body: unknown field 'extra'"),
    ({"data": "a"}, "data: expected a JSON object"),
    ({"data": {"text": [1]}}, "data.text[0]: expected a string"),
    ({"data": {"text": []}}, "data.text: empty list"),
    ({"data": {"text": ["a"]}, "parameters": {"schema": {}}}, "parameters.schema: schema[0]: an empty dict"),
    ({"data": {"text": ["a"]}, "parameters": []}, "parameters: expected a JSON object"),
]


@pytest.mark.parametrize("body,message", TASKFLOW_BAD, ids=[m.split(":")[0] for _, m in TASKFLOW_BAD])
def test_taskflow_route_refuses_bad_bodies_with_422_naming_the_field(body, message, demo_client):
    answer = demo_client.post("/taskflow/uie", json=body)
    assert answer.status_code == 422 and message in answer.json()["error"], answer.text


def test_a_body_streamed_without_length_is_cut_off_at_the_limit_with_413(demo_client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    answer = demo_client.post("/v1/extract", content=chunks())
    assert answer.status_code == 413 and "limit of 4096 bytes" in answer.json()["error"]


def test_unknown_routes_and_methods_answer_json_naming_the_routes_of_the_task(demo_client):
    answer = demo_client.post("/v1/classify", json={"texts": ["a"]})
    assert answer.status_code == 404 and "/taskflow/uie or /v1/extract" in answer.json()["error"]
    assert demo_client.get("/v1/extract").status_code == 405


def test_requests_without_schema_need_one_when_the_service_has_none():
    settings = ServeSettings(model=str(DEMO), threads=1)
    model = lambda context, calls, stop: [[{} for _ in texts] for texts in calls]  # noqa: E731
    with TestClient(create_app(settings, model)) as client:
        answer = client.post("/v1/extract", json={"texts": ["a"]})
        assert answer.status_code == 422 and answer.json()["error"].startswith("schema: required")
        assert client.post("/v1/extract", json={"texts": ["a"], "schema": ["x"]}).status_code == 200


def test_per_call_schema_gives_the_results_of_an_extractor_set_to_it_and_leaves_its_own_schema():
    texts = mixed_texts("en", 4, seed=7)
    extractor = InformationExtractor(DEMO, schema=SCHEMAS["ch"], threads=1)
    reference = InformationExtractor(DEMO, schema=SCHEMAS["en"], schema_lang="en", threads=1)(texts)
    assert extractor(texts, schema=SCHEMAS["en"], schema_lang="en") == reference
    assert any(reference)
    assert extractor.schema == SCHEMAS["ch"] and extractor.schema_lang == "ch"


class GatedModel:
    """A stand-in model that echoes ``context:text`` and blocks while its gate is closed; records its calls."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls = []

    def __call__(self, context, calls, stop):
        self.calls.append((context, calls))
        if not self.gate.wait(20):
            raise RuntimeError("gate never opened")
        return [[f"{context}:{text}" for text in texts] for texts in calls]


def _post_in_thread(client, path, body, answers):
    thread = threading.Thread(target=lambda: answers.append(client.post(path, json=body)))
    thread.start()
    return thread


def _wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_full_queue_answers_503_with_retry_after_and_the_service_recovers():
    model = GatedModel()
    settings = ServeSettings(model="unused", task="classify", max_queue=1, batch_window_ms=0)
    with TestClient(create_app(settings, model)) as client:
        batcher = client.app.state.batcher
        answers = []
        running = _post_in_thread(client, "/v1/classify", {"texts": ["a"]}, answers)
        _wait_until(lambda: len(model.calls) == 1)  # the first runs (blocked); the queue is empty again
        waiting = _post_in_thread(client, "/v1/classify", {"texts": ["b"]}, answers)
        _wait_until(lambda: batcher.depth == 1)
        refused = client.post("/v1/classify", json={"texts": ["c"]})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"].startswith("overloaded")
        model.gate.set()
        running.join(10), waiting.join(10)
        assert sorted(a.json()["results"] for a in answers) == [["None:a"], ["None:b"]]
        assert client.post("/v1/classify", json={"texts": ["d"]}).json() == {"results": ["None:d"]}


def test_a_request_not_answered_in_time_gets_504_and_later_ones_are_answered():
    model = GatedModel()
    settings = ServeSettings(model="unused", task="classify", timeout_s=0.3, batch_window_ms=0)
    with TestClient(create_app(settings, model)) as client:
        answer = client.post("/v1/classify", json={"texts": ["slow"]})
        assert answer.status_code == 504 and "within 0.3 s" in answer.json()["error"]
        model.gate.set()
        assert client.post("/v1/classify", json={"texts": ["next"]}).json() == {"results": ["None:next"]}


def test_batcher_groups_by_key_bounds_batches_and_splits_results_per_request():
    calls = []

    def run(context, requests, stop):
        calls.append((context, [text for texts in requests for text in texts]))
        if context == "bad":
            raise ValueError("refused")
        return [[f"{context}:{text}" for text in texts] for texts in requests]

    async def scenario():
        batcher = Batcher(run, max_batch_texts=6, window_s=0.05, max_queue=100)
        batcher.start()
        requests = [(("a", "b", "bad")[i % 3], [f"t{i}.{j}" for j in range(1 + i % 2)]) for i in range(12)]
        futures = [batcher.submit(key, key, texts) for key, texts in requests]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.stop()
        return requests, outcomes

    requests, outcomes = asyncio.run(scenario())
    for (key, texts), outcome in zip(requests, outcomes):
        if key == "bad":
            assert isinstance(outcome, ValueError)  # the failing group's requests only
        else:
            assert outcome == [f"{key}:{text}" for text in texts]
    key_of = {text: key for key, texts in requests for text in texts}
    assert all(key_of[text] == context for context, texts in calls for text in texts), "schemas mixed in a run"
    assert len(calls) < len(requests), "no two requests were batched together"
    assert sum(len(texts) for _, texts in calls[:3]) <= 6, "the first batch holds more than max_batch_texts"
    good = sorted(text for context, texts in calls if context != "bad" for text in texts)
    assert good == sorted(t for t, key in key_of.items() if key != "bad"), "a text ran twice or never"
    for key, texts in requests:  # a failed batch runs again one request at a time
        if key == "bad":
            assert ("bad", texts) in calls, f"{texts} never ran alone"


def test_stopping_the_batcher_finishes_the_running_batch_and_cancels_what_waits():
    def run(context, requests, stop):
        time.sleep(0.3)
        return requests

    async def scenario():
        batcher = Batcher(run, max_batch_texts=1, window_s=0, max_queue=10)
        batcher.start()
        running = batcher.submit(None, None, ["a"])
        await asyncio.sleep(0.1)  # "a" is in the model thread now
        waiting = batcher.submit(None, None, ["b"])
        await batcher.stop()
        return running, waiting

    running, waiting = asyncio.run(scenario())
    assert running.result() == ["a"]
    assert isinstance(waiting.exception(), ShuttingDown)  # answered 503, not a dropped connection


def test_a_request_that_fails_alone_fails_alone_in_its_batch():
    """A prompt too long for one request's texts (child prompts carry spans of its own text) must not fail the
    requests batched with it."""
    from paddle_ernie_m.serving.models import ExtractionModel
    from paddle_ernie_m.uie.extractor import PromptTooLongError

    class Extractor:
        def extract_calls(self, calls, schema, schema_lang, interrupt):
            if any("BAD" in text for call in calls for text in call):
                raise PromptTooLongError("prompt 'BAD' leaves no room for text")
            return [[f"ok:{text}" for text in call] for call in calls]

    model = ExtractionModel.__new__(ExtractionModel)
    model.extractor = Extractor()

    async def scenario():
        batcher = Batcher(model, max_batch_texts=10, window_s=0.05, max_queue=10)
        batcher.start()
        futures = [batcher.submit("k", (None, "ch"), texts) for texts in (["a"], ["BAD"], ["b", "c"])]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.stop()
        return outcomes

    good, bad, other = asyncio.run(scenario())
    assert good == ["ok:a"] and other == ["ok:b", "ok:c"] and isinstance(bad, PromptTooLongError)


def test_a_prompt_that_leaves_no_room_for_text_is_422_naming_it(demo_client):
    answer = demo_client.post("/v1/extract", json={"texts": ["张三在北京工作。"], "schema": ["地点", "地" * 600]})
    assert answer.status_code == 422 and answer.json()["error"].startswith("schema[1]: label of 600 characters "
                                                                           "leaves no room for text"), answer.text
    child = {"texts": ["张三在北京工作。"], "schema": [{"人物": ["x" * 508]}]}  # with a parent span of 1: 511 + 3
    answer = demo_client.post("/v1/extract", json=child)
    assert answer.status_code == 422 and answer.json()["error"].startswith("schema[0]['人物'][0]: label"), answer.text
    assert demo_client.post("/v1/extract", json={"texts": ["张三在北京工作。"]}).status_code == 200


def test_with_several_workers_the_model_is_checked_in_a_child_and_the_supervisor_never_imports_paddle(tmp_path):
    script = ("import sys\n"
              "from paddle_ernie_m.serving.server import prepare_in_child\n"
              "from paddle_ernie_m.serving.settings import ServeSettings\n"
              f"prepare_in_child(ServeSettings(model={str(DEMO)!r}, schema=['地点'], threads=1))\n"
              "assert 'paddle' not in sys.modules, 'the supervisor imported Paddle'\n")
    env = {**os.environ, "ERNIE_M_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "exports").glob("uie-bias-*")), "the child did not fill the export cache"


def test_batcher_refuses_beyond_max_queue():
    async def scenario():
        batcher = Batcher(lambda context, calls, stop: calls, max_batch_texts=1, window_s=10, max_queue=2)
        batcher.start()
        batcher.submit(None, None, ["a"]), batcher.submit(None, None, ["b"])
        with pytest.raises(QueueFull):
            batcher.submit(None, None, ["c"])
        await batcher.stop()

    asyncio.run(scenario())


def test_metrics_are_prometheus_text_counting_requests_batches_and_latency(demo_client):
    from prometheus_client.parser import text_string_to_metric_families

    before = demo_client.get("/metrics").text
    demo_client.post("/v1/extract", json={"texts": ["张三在北京工作。", "李四"]})
    demo_client.post("/v1/extract", content=b"{")
    families = {f.name: f for f in text_string_to_metric_families(demo_client.get("/metrics").text)}
    old = {f.name: f for f in text_string_to_metric_families(before)}

    def value(families, name, sample, **labels):
        found = [s.value for s in families[name].samples if s.name == sample and s.labels == labels]
        return found[0] if found else 0.0

    assert families["ernie_m_requests"].type == "counter"
    for status, grew in (("200", 1), ("400", 1)):
        assert (value(families, "ernie_m_requests", "ernie_m_requests_total", route="/v1/extract", status=status)
                - value(old, "ernie_m_requests", "ernie_m_requests_total", route="/v1/extract", status=status)) == grew
    assert families["ernie_m_batch_texts"].type == "histogram"
    assert value(families, "ernie_m_batch_texts", "ernie_m_batch_texts_sum") \
        - value(old, "ernie_m_batch_texts", "ernie_m_batch_texts_sum") == 2
    assert families["ernie_m_queue_depth"].type == "gauge"
    assert value(families, "ernie_m_queue_depth", "ernie_m_queue_depth") == 0
    latency = "ernie_m_request_duration_seconds"
    assert families[latency].type == "histogram"
    assert value(families, latency, latency + "_count", route="/v1/extract") \
        - value(old, latency, latency + "_count", route="/v1/extract") == 2


def test_serve_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, default in (("--task", DEFAULTS.task), ("--host", DEFAULTS.host), ("--port", DEFAULTS.port),
                            ("--workers", DEFAULTS.workers), ("--max-batch-texts", DEFAULTS.max_batch_texts),
                            ("--batch-window-ms", "5"), ("--max-queue", DEFAULTS.max_queue),
                            ("--max-body-bytes", DEFAULTS.max_body_bytes), ("--max-texts", DEFAULTS.max_texts),
                            ("--max-chars", DEFAULTS.max_chars), ("--timeout-s", "30"),
                            ("--max-labels", DEFAULTS.max_labels), ("--max-schema-depth", DEFAULTS.max_schema_depth),
                            ("--max-model-rows", DEFAULTS.max_model_rows),
                            ("--max-response-bytes", DEFAULTS.max_response_bytes), ("--header-timeout-s", "10"),
                            ("--schema-lang", DEFAULTS.schema_lang), ("--backend", DEFAULTS.backend),
                            ("--mode", DEFAULTS.mode)):
        assert option in text and f"default {default}" in text, option
    for option in ("--model", "--schema", "--threads", "--max-connections"):
        assert option in text


def test_the_cli_does_not_import_the_server_stack():
    code = ("import sys; from paddle_ernie_m.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'paddle', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_server_stack_is_one_line_saying_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    assert main(["serve", "--model", str(DEMO)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install paddle-ernie-m[serve]" in err and "uvicorn" in err


@pytest.mark.parametrize("argv,message", [
    (["--schema", "[]"], "the schema is empty"),
    (["--schema", "missing.json"], "schema file not found"),
    (["--workers", "0"], "--workers must be a positive integer"),
    (["--task", "classify", "--schema", '["x"]'], "--schema applies to --task uie only"),
    (["--task", "classify", "--backend", "torch"], "--backend torch applies to --task uie only"),
    (["--task", "classify", "--mode", "fast"], "--mode applies to --task uie only"),
    (["--model", "/nonexistent/model"], "model directory not found: /nonexistent/model"),
    (["--workers", "2", "--model", "/nonexistent/model"], "model directory not found: /nonexistent/model"),
])
def test_bad_serve_options_are_one_line_errors(argv, message, capsys):
    assert main(["serve", "--model", str(DEMO), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_failure_inside_a_batch_reaches_only_the_request_that_caused_it():
    """Whatever the model raises for one request's texts (here a ValueError, as a tokenizer would) fails that
    request alone; the requests batched with it get what they get alone."""
    def run(context, calls, stop):
        if any("POISON" in text for call in calls for text in call):
            raise ValueError("text[3] contains something the model cannot take")
        return [[text.upper() for text in call] for call in calls]

    async def scenario():
        batcher = Batcher(run, max_batch_texts=100, window_s=0.05, max_queue=100)
        batcher.start()
        requests = [["a", "b"], ["c", "POISON"], ["d"], ["e", "f", "g"]]
        outcomes = await asyncio.gather(*(batcher.submit("k", None, texts) for texts in requests),
                                        return_exceptions=True)
        await batcher.stop()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes[0] == ["A", "B"] and outcomes[2] == ["D"] and outcomes[3] == ["E", "F", "G"]
    assert isinstance(outcomes[1], ValueError)


def test_a_request_nobody_waits_for_stops_the_model_and_its_batch_mates_run_again_without_it():
    """The model calls ``interrupt`` between runs (as the extractor does before each model batch): once a request of
    the running group is cancelled (timed out, client gone), the run ends and the others run again alone."""
    runs = []

    def run(context, calls, interrupt):
        runs.append([list(call) for call in calls])
        for _ in range(200):  # 10 s of "model batches" unless stopped
            interrupt()
            time.sleep(0.05)
            if not any("slow" in text for call in calls for text in call):
                break
        return [[text + "!" for text in call] for call in calls]

    async def scenario():
        batcher = Batcher(run, max_batch_texts=100, window_s=0.05, max_queue=100)
        batcher.start()
        slow = batcher.submit("k", None, ["slow"])
        other = batcher.submit("k", None, ["fast"])
        began = time.perf_counter()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow, 0.5)
        result = await asyncio.wait_for(other, 5)
        waited = time.perf_counter() - began
        await batcher.stop()
        return result, waited

    result, waited = asyncio.run(scenario())
    assert result == ["fast!"] and waited < 2, waited
    assert runs == [[["slow"], ["fast"]], [["fast"]]]


@pytest.mark.parametrize("body,message", [
    ({"texts": ["a"], "schema": [f"l{i}" for i in range(10000)]}, "schema: more than this service's limit of 64 "
                                                                  "labels (--max-labels)"),
    ({"texts": ["a"], "schema": [{"a": [{"b": [{"c": [{"d": ["e"]}]}]}]}]},
     "schema[0]['a'][0]['b'][0]['c'][0]['d'][0]: nested 5 levels deep, more than this service's limit of 4 "
     "(--max-schema-depth)"),
    ({"texts": ["a" * 2000] * 32, "schema": [f"l{i}" for i in range(9)]},  # 9 x 32 x ceil(2000 / 507)
     "texts: up to 1152 model inputs (labels x texts x pieces of 512 tokens, a child label 64 times), more than "
     "this service's limit of 1024"),
    ({"texts": ["a"] * 16, "schema": [{"人物": ["组织"]}]}, "texts: up to 1040 model inputs"),  # (1 + 64) x 16
    ({"texts": ["a"], "schema": ["x\udfff"]}, "schema[0]: a lone surrogate"),
], ids=["labels", "depth", "cost", "child_cost", "surrogate_label"])
def test_schema_and_cost_limits_are_422_naming_the_option_before_any_model_work(body, message):
    calls = []
    settings = ServeSettings(model="unused", schema=None)
    with TestClient(create_app(settings, lambda context, texts, stop: calls.append(texts))) as client:
        answer = client.post("/v1/extract", content=json.dumps(body).encode(),
                             headers={"content-type": "application/json"})
        assert answer.status_code == 422 and answer.json()["error"].startswith(message), answer.text
        taskflow = client.post("/taskflow/uie", content=json.dumps(
            {"data": {"text": body["texts"]}, "parameters": {"schema": body["schema"]}}).encode())
        assert taskflow.status_code == 422
    assert calls == []


def test_the_cost_is_labels_times_texts_times_pieces_as_the_extractor_cuts_them():
    """A text of n characters under a longest first-level prompt of p characters is cut into ceil(n / (509 - p))
    pieces (Taskflow's piece length at max_seq_len 512); a child label counts 64 times (the most parent spans it is
    asked about per text)."""
    from paddle_ernie_m.serving.bodies import model_rows
    from paddle_ernie_m.uie.decoding import max_text_length, split_texts
    from paddle_ernie_m.uie.schema import build_schema

    nodes = build_schema([{"人物": ["组织"]}, "地点名称"])
    texts = ["甲" * 1, "乙" * 505, "丙" * 506, "丁" * 1200]
    piece = max_text_length(512, ["地点名称"])
    assert piece == 505
    pieces = [len(split_texts([text], piece)) for text in texts]
    assert pieces == [1, 1, 2, 3]
    assert model_rows(nodes, texts) == (1 + 64 + 1) * sum(pieces)


def test_non_finite_logits_fail_only_their_request_with_500_naming_the_texts():
    """A classifier whose weights give NaN for some inputs: those requests get a 500 naming the texts, never
    ``NaN`` in JSON; the requests batched with them get the softmax of their logits."""
    from paddle_ernie_m.serving.models import ClassificationModel
    from converters.configuration import ErnieMConfig

    class Model(ClassificationModel):
        def __init__(self):
            self.config = ErnieMConfig(num_labels=2, id2label={0: "neg", 1: "pos"})

        def logits(self, texts, interrupt=None):
            return np.array([[float("nan"), 0.0] if "nan" in t else [0.0, float(len(t))] for t in texts])

    settings = ServeSettings(model="unused", task="classify", batch_window_ms=200)
    with TestClient(create_app(settings, Model())) as client:
        answers = []
        threads = [_post_in_thread(client, "/v1/classify", {"texts": texts}, answers)
                   for texts in (["ab"], ["x", "nan here", "y", "nan"], ["abc"])]
        for thread in threads:
            thread.join(20)
    assert len(answers) == 3
    failed = [a for a in answers if a.status_code != 200]
    assert len(failed) == 1 and failed[0].status_code == 500
    assert failed[0].json()["error"] == ("model output: non-finite logits (NaN or inf) for texts[1, 3]: the "
                                         "model's weights give no answer for them")
    for answer in answers:
        if answer.status_code == 200:
            (text,) = json.loads(answer.request.content)["texts"]
            p_pos = 1 / (1 + math.exp(-len(text)))  # softmax([0, len]) by hand
            assert answer.json()["results"] == [{"label": "pos", "probabilities": {"neg": round(1 - p_pos, 6),
                                                                                   "pos": round(p_pos, 6)}}]


def test_a_long_run_serves_the_requests_that_arrive_meanwhile_in_time_slices():
    """A heavy request (3 s of model runs, calling ``interrupt`` between them) must not hold back a light one that
    arrives while it runs: the light one is answered within about a slice (0.25 s), the heavy one still gets its
    own results."""
    def run(context, calls, interrupt):
        if context == "heavy":
            for _ in range(60):
                interrupt()
                time.sleep(0.05)
        return [[f"{context}:{text}" for text in call] for call in calls]

    async def scenario():
        batcher = Batcher(run, max_batch_texts=100, window_s=0.01, max_queue=100)
        batcher.start()
        heavy = batcher.submit("heavy", "heavy", ["h"])
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        light = await asyncio.wait_for(batcher.submit("light", "light", ["l1", "l2"]), 10)
        light_s = time.perf_counter() - began
        heavy_result = await asyncio.wait_for(heavy, 10)
        await batcher.stop()
        return light, light_s, heavy_result, heavy.done()

    light, light_s, heavy_result, _ = asyncio.run(scenario())
    assert light == ["light:l1", "light:l2"] and heavy_result == ["heavy:h"]
    assert light_s < 1.0, f"the light request waited {light_s:.2f} s behind the heavy one"


def test_a_heavy_request_runs_alone_after_the_light_ones_taken_with_it():
    """Requests batched with a heavy one would wait for all of its work: a request costing ``heavy_cost`` or more
    gets a run of its own, after the light ones that arrived with it (which still share one run)."""
    runs = []

    def run(context, calls, interrupt):
        runs.append([list(call) for call in calls])
        return [[text for text in call] for call in calls]

    async def scenario():
        batcher = Batcher(run, max_batch_texts=100, window_s=0.05, max_queue=100, heavy_cost=100)
        batcher.start()
        futures = [batcher.submit("k", None, ["light1"], cost=68), batcher.submit("k", None, ["heavy"], cost=1020),
                   batcher.submit("k", None, ["light2"], cost=99)]
        outcomes = await asyncio.gather(*futures)
        await batcher.stop()
        return outcomes

    assert asyncio.run(scenario()) == [["light1"], ["heavy"], ["light2"]]
    assert runs == [[["light1"], ["light2"]], [["heavy"]]]


def test_an_extractors_non_finite_probabilities_fail_their_request_with_500_naming_them():
    """The extractor refuses NaN span probabilities with ``inputs.NonFiniteOutputError`` (as ``ernie-m extract``
    does); the service answers that request with a 500 carrying the message, not an ``internal error``."""
    from paddle_ernie_m.inputs import NonFiniteOutputError

    def model(context, calls, stop):
        if any("nan" in text for call in calls for text in call):
            raise NonFiniteOutputError("model output: span probabilities are not finite for texts[0]")
        return [[{} for _ in call] for call in calls]

    settings = ServeSettings(model=str(DEMO), threads=1, schema=["x"])
    with TestClient(create_app(settings, model)) as client:
        broken = client.post("/v1/extract", json={"texts": ["nan"]})
        fine = client.post("/v1/extract", json={"texts": ["a"]})
    assert broken.status_code == 500
    assert broken.json()["error"] == "model output: span probabilities are not finite for texts[0]"
    assert fine.status_code == 200 and fine.json()["results"] == [{}]
