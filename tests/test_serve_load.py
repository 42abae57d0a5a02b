"""A real ``ernie-m serve`` (uvicorn subprocess on a free loopback port, demo UIE-M): concurrent clients with mixed
lengths and two schemas each get the offline extractor's results for their own texts (what the extractor gives
that request's texts alone: a text's results can depend on the other texts of its call, as in Taskflow); overload
gets 503s with Retry-After and never hangs; SIGTERM lets the request in flight finish, refuses new connections and
exits 0."""
from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time

import httpx
import pytest

from paddle_ernie_m.uie.extractor import InformationExtractor

from .serve_cases import DEMO, SCHEMAS, mixed_texts, run_clients, running_server
from .taskflow_compat import assert_same_results

pytestmark = pytest.mark.slow

POOL = {lang: mixed_texts(lang, 24, seed=20, sentences=(1, 1, 1, 2, 4)) for lang in ("ch", "en")}


@pytest.fixture(scope="module")
def offline():
    """``offline(plans) -> {(lang, texts): results}``: the extractor called directly on each request's texts (as
    separate calls, run together: test_serve_simpleserving.py checks that against Taskflow called per request)."""
    extractor = InformationExtractor(DEMO, threads=1)

    def expected(plans):
        calls = {lang: sorted({tuple(texts) for plan in plans for _, _, l, texts in plan if l == lang})
                 for lang in POOL}
        answers = {}
        for lang, texts_of_calls in calls.items():
            results = extractor.extract_calls([list(t) for t in texts_of_calls], SCHEMAS[lang], lang)
            answers.update(((lang, texts), result) for texts, result in zip(texts_of_calls, results))
        return answers

    return expected


def client_requests(clients, per_client, seed=0):
    """Per client: ``(path, body, lang, texts)`` with 1 or 2 texts, the language (so the schema) drawn per request;
    Chinese requests alternate between /v1/extract and SimpleServing's route (default schema)."""
    rng = random.Random(seed)
    plans = []
    for _ in range(clients):
        plan = []
        for _ in range(per_client):
            lang = rng.choice(("ch", "en"))
            texts = rng.sample(POOL[lang], rng.choice((1, 1, 2)))
            if lang == "ch" and rng.random() < 0.5:
                plan.append(("/taskflow/uie", {"data": {"text": texts}}, lang, texts))
            else:
                plan.append(("/v1/extract", {"texts": texts, "schema": SCHEMAS[lang], "schema_lang": lang}, lang,
                             texts))
        plans.append(plan)
    return plans


def check_answer(status, body, lang, texts, expected, path):
    assert status == 200, body
    results = body["result"] if path == "/taskflow/uie" else body["results"]
    assert_same_results(results, expected[lang, tuple(texts)], floats=float)


def test_32_concurrent_clients_each_get_the_offline_results_for_their_own_texts(offline):
    plans = client_requests(32, 20)
    expected = offline(plans)
    assert sum(bool(r) for results in expected.values() for r in results) > 400, "offline results mostly empty"
    with running_server("--schema", json.dumps(SCHEMAS["ch"])) as (url, process, log):
        began = time.perf_counter()
        answers = asyncio.run(run_clients(url, [[(p, b) for p, b, _, _ in plan] for plan in plans]))
        elapsed = time.perf_counter() - began
        metrics = httpx.get(url + "/metrics").text
    for plan, client_answers in zip(plans, answers):
        assert len(client_answers) == len(plan)
        for (path, _, lang, texts), (status, body, _, _) in zip(plan, client_answers):
            check_answer(status, body, lang, texts, expected, path)
    assert 'status="200"} ' in metrics and 'status="5' not in metrics and 'status="4' not in metrics
    batches = [line for line in metrics.splitlines() if line.startswith("ernie_m_batch_texts_count")]
    runs, texts = int(batches[0].split()[-1]), sum(len(t) for plan in plans for _, _, _, t in plan)
    assert runs < texts / 2, f"{runs} model runs for {texts} texts: requests were not batched ({elapsed:.1f} s)"


def test_overload_gets_503_with_retry_after_never_hangs_and_the_service_recovers(offline):
    plans = client_requests(32, 3, seed=1)
    recovery = POOL["en"][:2]
    expected = offline(plans + [[("", {}, "en", recovery)]])
    with running_server("--schema", json.dumps(SCHEMAS["ch"]), "--max-queue", "2", "--max-batch-texts", "1",
                        "--batch-window-ms", "0") as (url, process, log):
        answers = asyncio.run(run_clients(url, [[(p, b) for p, b, _, _ in plan] for plan in plans], timeout_s=60))
        statuses = [status for client_answers in answers for status, _, _, _ in client_answers]
        assert statuses.count(503) > 10 and statuses.count(200) > 0, statuses
        assert set(statuses) == {200, 503}
        for plan, client_answers in zip(plans, answers):
            for (path, _, lang, texts), (status, body, headers, _) in zip(plan, client_answers):
                if status == 503:
                    assert headers["retry-after"] == "1" and body["error"].startswith("overloaded")
                else:
                    check_answer(status, body, lang, texts, expected, path)
        again = httpx.post(url + "/v1/extract", json={"texts": recovery, "schema": SCHEMAS["en"],
                                                      "schema_lang": "en"})
        check_answer(again.status_code, again.json(), "en", recovery, expected, "/v1/extract")
        assert process.poll() is None


def test_sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_0(offline):
    texts = POOL["ch"][:3]
    expected = offline([[("", {}, "ch", texts)]])
    with running_server("--schema", json.dumps(SCHEMAS["ch"]), "--batch-window-ms", "1500") as (url, process, log):
        answer = []
        request = threading.Thread(target=lambda: answer.append(
            httpx.post(url + "/taskflow/uie", json={"data": {"text": texts}}, timeout=60)))
        request.start()
        deadline = time.monotonic() + 10
        while httpx.get(url + "/health", headers={"connection": "close"}).json()["queue"] != 1:
            assert time.monotonic() < deadline, "the request never reached the queue"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        refused = False
        deadline = time.monotonic() + 1.2  # the request waits out its 1.5 s batching window meanwhile
        while not refused and time.monotonic() < deadline:
            try:
                httpx.get(url + "/health", headers={"connection": "close"}, timeout=1)
                time.sleep(0.05)
            except httpx.TransportError:
                refused = True
        assert request.is_alive(), "the request in flight was answered before the test could check refusal"
        assert refused, "new connections were still accepted after SIGTERM"
        request.join(30)
        assert process.wait(30) == 0, "".join(log)
    assert answer and answer[0].status_code == 200, answer
    check_answer(200, answer[0].json(), "ch", texts, expected, "/taskflow/uie")


def test_two_workers_answer_and_shut_down_gracefully_on_sigterm(offline):
    """Each worker loads its own model after Paddle's import has replaced the signal handlers; SIGTERM must still
    reach uvicorn's (Paddle's abort the process)."""
    texts = POOL["ch"][3:5]
    expected = offline([[("", {}, "ch", texts)]])
    with running_server("--workers", "2", "--schema", json.dumps(SCHEMAS["ch"]), "--batch-window-ms", "1000") \
            as (url, process, log):
        answers = asyncio.run(run_clients(url, [[("/taskflow/uie", {"data": {"text": texts}})]] * 4))
        for (status, body, _, _), in answers:
            check_answer(status, body, "ch", texts, expected, "/taskflow/uie")
        answer = []
        request = threading.Thread(target=lambda: answer.append(
            httpx.post(url + "/taskflow/uie", json={"data": {"text": texts}}, timeout=60)))
        request.start()
        time.sleep(0.4)  # inside the request's 1 s batching window
        process.send_signal(signal.SIGTERM)
        request.join(30)
        assert process.wait(30) == 0, "".join(log)
    assert answer and answer[0].status_code == 200
    check_answer(200, answer[0].json(), "ch", texts, expected, "/taskflow/uie")
    assert "FatalError" not in "".join(log) and "Finished server process" in "".join(log)
