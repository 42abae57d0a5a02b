"""A real ``ernie-m serve`` (uvicorn subprocess on a free loopback port, demo UIE-M) under hostile requests: a
poisoned request (a lone surrogate) fails alone with 422 while concurrent clients get the offline extractor's
answers; deep or huge-number bodies are 400 naming the field with no traceback logged; an answer above
``--max-response-bytes`` is 413; a heavy request that times out has its work stopped, so that others are answered
within the time limit and SIGTERM ends the process promptly; half-open connections under a low open-file limit never
lock a new client out and log one line, not one per connection; a port in use is one line and exit 1 before the
model loads; with ``--workers 2`` SIGTERM answers every request in flight and refuses new connections instead of
leaving them unanswered. Everything runs on 127.0.0.1 and stops by itself (bounded loops, timeouts)."""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from paddle_ernie_m.uie.extractor import InformationExtractor

from .scripts import ROOT
from .serve_cases import DEMO, SCHEMAS, mixed_texts, run_clients, running_server
from .taskflow_compat import assert_same_results

TEXTS = mixed_texts("ch", 12, seed=31, sentences=(1, 2))


@pytest.fixture(scope="module")
def offline():
    """The extractor called directly: what each request alone must get."""
    extractor = InformationExtractor(DEMO, threads=1)
    return lambda texts: extractor(texts, schema=SCHEMAS["ch"], schema_lang="ch")


@pytest.fixture(scope="module")
def server():
    with running_server("--schema", json.dumps(SCHEMAS["ch"]), "--max-response-bytes", "20000",
                        "--max-model-rows", "100000") as running:
        yield running


def post_raw(url: str, body: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(url + "/v1/extract", content=body, headers={"content-type": "application/json"},
                      timeout=timeout)


@pytest.mark.slow
def test_a_lone_surrogate_is_422_naming_its_text_and_concurrent_clients_get_their_offline_answers(server, offline):
    url, process, log = server
    good = [[("/v1/extract", {"texts": [TEXTS[i], TEXTS[i + 6]]})] * 3 for i in range(6)]
    poisoned = [[("/v1/extract", json.dumps({"texts": [TEXTS[0], "ok\udfff"]}).encode())] * 3 for _ in range(4)]
    answers = asyncio.run(run_clients(url, good + poisoned))
    for plan, client in zip(good, answers[:len(good)]):
        for (_, body), (status, answer, _, _) in zip(plan, client):
            assert status == 200, answer
            assert_same_results(answer["results"], offline(body["texts"]), floats=float)
    for client in answers[len(good):]:
        for status, answer, _, _ in client:
            assert status == 422 and answer["error"].startswith("texts[1]: a lone surrogate '\\udfff' at position 2")
    alone = post_raw(url, json.dumps({"texts": ["\udfff"]}).encode())
    assert alone.status_code == 422 and alone.json()["error"].startswith("texts[0]: a lone surrogate"), alone.text


@pytest.mark.slow  # the module's server starts in about 13 s (2 cores, shared)
@pytest.mark.parametrize("body,message", [
    ('{"texts": [' + "[" * 5000 + "]" * 5000 + "]}",
     "body: texts[0][0][0][0][0][0][0]...: nested deeper than the limit of 32"),
    ('{"texts": ["a", ' + "9" * 5000 + "]}", "body: texts[1]: a number of 5000 characters"),
    ('{"texts": ["a"], "schema": [{"x": ' + "[" * 100 + "]" * 100 + "}]}", "body: schema[0].x[0]"),
], ids=["5k_deep_list", "5000_digit_integer", "deep_schema"])
def test_deep_or_huge_number_bodies_are_400_naming_the_field_with_no_traceback_logged(body, message, server):
    url, process, log = server
    before = len(log)
    answer = post_raw(url, body.encode())
    assert answer.status_code == 400 and answer.json()["error"].startswith(message), answer.text
    assert post_raw(url, json.dumps({"texts": [TEXTS[1]]}).encode()).status_code == 200
    time.sleep(0.2)  # the log line of the answers
    assert not any("Traceback" in line or "RecursionError" in line for line in log[before:]), "".join(log[before:])


@pytest.mark.slow
def test_an_answer_larger_than_the_response_limit_is_413_naming_the_option_and_smaller_ones_pass(server, offline):
    url, process, log = server
    small = [TEXTS[2]]
    answer = post_raw(url, json.dumps({"texts": small}).encode())
    assert answer.status_code == 200
    assert_same_results(answer.json()["results"], offline(small), floats=float)
    large = TEXTS[:6] * 10  # 60 texts: about 40 KB of results (limit 20000 bytes)
    assert len(json.dumps(offline(large), ensure_ascii=False).encode()) > 20000
    answer = post_raw(url, json.dumps({"texts": large}).encode())
    assert answer.status_code == 413, answer.text
    assert "more than this service's limit of 20000 (--max-response-bytes)" in answer.json()["error"]


@pytest.mark.slow
def test_a_request_that_times_out_or_whose_client_left_has_its_work_stopped_and_sigterm_ends_promptly(
        offline):
    """The limits are lifted so that the heavy request (3,000 labels x 16 texts: minutes of model work) is taken;
    only its stopped work keeps the others' answers within the time limit. The normal requests come 1 s after it,
    so that the first of each client (which waits for the heavy one to be stopped, 3 s after it came) still has 2 s
    of its own time limit left."""
    heavy = {"texts": [TEXTS[0] * 8] * 16, "schema": [f"标签{i}" for i in range(3000)]}
    with running_server("--schema", json.dumps(SCHEMAS["ch"]), "--timeout-s", "3", "--max-labels", "100000",
                        "--max-model-rows", "100000000") as (url, process, log):
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                async def send_heavy():
                    began = time.perf_counter()
                    response = await client.post("/v1/extract", json=heavy)
                    return response, time.perf_counter() - began

                async def normal(k):
                    await asyncio.sleep(1.0)  # the heavy request runs by now
                    answers = []
                    for i in range(3):
                        began = time.perf_counter()
                        response = await client.post("/v1/extract", json={"texts": [TEXTS[k + 4 * i]]})
                        answers.append((k + 4 * i, response, time.perf_counter() - began))
                    return answers

                return await asyncio.gather(send_heavy(), asyncio.gather(*(normal(k) for k in range(4))))

        (heavy_answer, heavy_s), normals = asyncio.run(scenario())
        assert heavy_answer.status_code == 504 and "its work was stopped" in heavy_answer.json()["error"]
        assert heavy_s < 6, f"the heavy request was answered after {heavy_s:.1f} s"
        for answers in normals:
            for index, response, seconds in answers:
                assert response.status_code == 200, response.text
                assert_same_results(response.json()["results"], offline([TEXTS[index]]), floats=float)
                assert seconds < 3, f"a normal request waited {seconds:.1f} s behind the heavy one"
        # a client that leaves: its work stops at once, not at its time limit (3 s)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/extract", json=heavy, timeout=0.5)
        began = time.perf_counter()
        answer = httpx.post(url + "/v1/extract", json={"texts": [TEXTS[5]]}, timeout=30)
        assert answer.status_code == 200 and time.perf_counter() - began < 1.8, time.perf_counter() - began
        assert 'status="499"} 1' in httpx.get(url + "/metrics").text
        began = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, "".join(log)
        assert time.perf_counter() - began < 10


@pytest.mark.slow
def test_half_open_connections_under_a_low_file_limit_never_lock_out_a_new_client_and_log_one_line():
    """256 open files; 400 connections that send a request line and stop (each would hold a descriptor forever)."""
    with running_server("--schema", json.dumps(SCHEMAS["ch"]), "--header-timeout-s", "1.5",
                        file_limit=256) as (url, process, log):
        host, port = url.rsplit("/", 1)[1].split(":")
        half_open = []
        try:
            for _ in range(400):
                connection = socket.create_connection((host, int(port)), timeout=5)
                connection.sendall(b"POST /v1/extract HTTP/1.1\r\n")
                half_open.append(connection)
            began = time.perf_counter()
            answer = httpx.post(url + "/v1/extract", json={"texts": [TEXTS[3]]}, timeout=10)
            assert answer.status_code == 200 and time.perf_counter() - began < 5
            time.sleep(2.5)  # past the head deadline: the server has closed every half-open connection
            closed = 0
            for connection in half_open:
                connection.settimeout(0.05)
                try:
                    closed += connection.recv(64) == b""
                except ConnectionResetError:
                    closed += 1
                except socket.timeout:
                    pass
            assert closed == len(half_open), f"{len(half_open) - closed} half-open connections still open"
        finally:
            for connection in half_open:
                connection.close()
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        assert process.poll() is None
    text = "".join(log)
    assert "Traceback" not in text, text[-3000:]
    overload_lines = [line for line in log if "open connections" in line or "cannot accept" in line]
    assert 1 <= len(overload_lines) <= 4, overload_lines


def test_a_port_in_use_is_one_line_and_exit_1_before_the_model_loads(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "paddle_ernie_m.cli", "serve", "--model", str(DEMO), "--port",
                               str(port)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={"ERNIE_M_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin",
                                   "PYTHONPATH": str(ROOT)})
    finally:
        taken.close()
    assert done.returncode == 1, done.stderr[-2000:]
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and f"--port {port}" in err and "in use" in err, err
    assert not (tmp_path / "exports").exists(), "the model was loaded (and exported) before the port was checked"
    assert time.perf_counter() - began < 30


@pytest.mark.slow
def test_two_workers_on_sigterm_answer_every_request_in_flight_and_refuse_new_connections(offline):
    """Each request waits in its worker's 1.5 s batching window when SIGTERM comes; connections opened after it
    must be answered or refused, never accepted and then dropped (uvicorn's supervisor keeps the listening socket
    open while the workers drain)."""
    texts = [[TEXTS[i]] for i in range(8)]
    with running_server("--workers", "2", "--schema", json.dumps(SCHEMAS["ch"]), "--batch-window-ms", "1500") \
            as (url, process, log):
        host, port = url.rsplit("/", 1)[1].split(":")
        requests = []
        for text in texts:  # each request sent whole before SIGTERM
            body = json.dumps({"texts": text}).encode()
            connection = socket.create_connection((host, int(port)), timeout=60)
            connection.sendall(b"POST /v1/extract HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                               b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            requests.append(connection)
        time.sleep(0.5)  # accepted by a worker, waiting in its batching window
        process.send_signal(signal.SIGTERM)
        probes = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                probes.append(httpx.get(url + "/health", headers={"connection": "close"}, timeout=10).status_code)
            except httpx.ConnectError:
                probes.append("refused")
            except httpx.TransportError as exc:  # accepted by nobody, then reset: the failure this test is for
                probes.append(type(exc).__name__)
            time.sleep(0.1)
        answers = []
        for connection in requests:
            with connection, connection.makefile("rb") as reply:
                answers.append(reply.read())
        assert process.wait(30) == 0, "".join(log)
    assert set(probes) <= {200, "refused"} and "refused" in probes, probes
    for text, answer in zip(texts, answers):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), answer[:300]
        assert_same_results(json.loads(body)["results"], offline(text), floats=float)
