"""The ASGI application (Starlette): routes, body limits, status codes, metrics.

Statuses: 200; 400 malformed JSON (or not UTF-8, or nested too deep, or a number too long); 408 a body not received
within ``timeout_s``; 413 a body larger than ``max_body_bytes``, or an answer larger than ``max_response_bytes``;
422 a field of the wrong type, an empty or too long list of texts, a text too long or not valid Unicode, a bad or
too large schema, a request costing more than ``max_model_rows`` (each ``{"error": "<field>: <why>"}``); 503 with
``Retry-After`` when ``max_queue`` requests are waiting; 504 when a request is not answered within ``timeout_s`` (its
model work is stopped); 404 / 405 an unknown route or method; 500 a model output that is not a number (NaN), or
anything else (logged). Every request is checked alone before it joins a batch, and a batch that fails is run again
one request at a time: one request's failure is never another's (:mod:`.batcher` also stops the work of requests
nobody waits for, and serves waiting requests in the time slices of a long run).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..inputs import NonFiniteOutputError
from ..uie.extractor import PromptTooLongError
from . import bodies
from .batcher import Batcher, QueueFull, ShuttingDown
from .bodies import BodyError, Call
from .metrics import CONTENT_TYPE, Metrics
from .models import taskflow_classification
from .settings import ServeSettings

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait after a 503.
RETRY_AFTER_S = 1
ROUTES = {"uie": ("/taskflow/uie", "/v1/extract"), "classify": ("/taskflow/cls", "/v1/classify")}
#: A request costing at least 1/HEAVY_SHARE of ``max_model_rows`` runs alone, never batched with others.
HEAVY_SHARE = 4


#: The status recorded (never sent) for a request whose client left before its answer (nginx's convention).
CLIENT_GONE = 499


class ClientGone(Exception):
    """The client closed its connection before its answer was ready."""


def error(status: int, message: str, headers: Any = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def answer(content: Any, limit: int) -> Response:
    """``content`` as a JSON response; :class:`BodyError` 413 when it is larger than ``limit`` bytes, 500 when it
    holds a number JSON cannot carry (NaN, infinity)."""
    try:
        body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except ValueError:
        raise BodyError(500, "model output: a non-finite number (NaN or inf) in the results; the model's weights "
                             "give no answer") from None
    if len(body) > limit:
        raise BodyError(413, f"response: {len(body)} bytes, more than this service's limit of {limit} "
                             f"(--max-response-bytes); send fewer or shorter texts per request")
    return Response(body, media_type="application/json")


async def wait_for_disconnect(request: Request) -> None:
    """Return once the client has closed its connection (the body is read already: the next message the server
    sends is ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body; :class:`BodyError` 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body: {declared} bytes, more than this service's limit of {limit} (--max-body-bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body: more than this service's limit of {limit} bytes (--max-body-bytes)")
        chunks.append(chunk)
    return bodies.parse_json(b"".join(chunks))


def create_app(settings: ServeSettings, model: Callable) -> Starlette:
    """The service for ``model`` (a :mod:`.models` instance, or any ``model(context, texts) -> results``)."""
    metrics = Metrics()
    batcher = Batcher(model, settings.max_batch_texts, settings.batch_window_ms / 1000.0, settings.max_queue,
                      metrics, heavy_cost=max(1, settings.max_model_rows // HEAVY_SHARE))
    task = settings.task

    async def run(call: Call, request: Request) -> list:
        """The results of ``call``; 504 after ``timeout_s``, :class:`ClientGone` when the client leaves (either way
        the batcher drops the request, or stops the model if it is running)."""
        future = batcher.submit(call.key, call.context, call.texts, call.cost)
        left = asyncio.ensure_future(wait_for_disconnect(request))
        try:
            done, _ = await asyncio.wait((future, left), timeout=settings.timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
            if not future.done():
                future.cancel()
        if future in done:
            return future.result()
        if left in done:
            raise ClientGone()
        raise BodyError(504, f"not answered within {settings.timeout_s:g} s (--timeout-s); its work was stopped")

    async def read_body(request: Request) -> Any:
        try:
            return await asyncio.wait_for(read_json(request, settings.max_body_bytes), settings.timeout_s)
        except asyncio.TimeoutError:
            raise BodyError(408, f"body: not received within {settings.timeout_s:g} s (--timeout-s)") from None

    def endpoint(route: str, handle: Callable[[Any, Request], Awaitable[Any]]) -> Callable:
        async def serve(request: Request) -> Response:
            began = time.perf_counter()
            try:
                response: Response = answer(await handle(await read_body(request), request),
                                            settings.max_response_bytes)
            except BodyError as exc:
                response = error(exc.status, exc.message)
            except ClientGone:
                response = Response(status_code=CLIENT_GONE)  # nobody reads it
            except NonFiniteOutputError as exc:  # a classifier's or an extractor's NaN: this request only
                logger.warning("%s: %s", route, exc)
                response = error(500, str(exc))
            except QueueFull as exc:
                response = error(503, f"overloaded: {exc}; retry later", {"Retry-After": str(RETRY_AFTER_S)})
            except ShuttingDown as exc:
                response = error(503, f"{exc}; retry later", {"Retry-After": str(RETRY_AFTER_S)})
            except PromptTooLongError as exc:  # this request's schema and texts, not the service
                response = error(422, str(exc))
            except Exception as exc:  # noqa: BLE001 - answered, logged, and the service stays up
                logger.exception("%s failed", route)
                response = error(500, f"internal error: {type(exc).__name__}: {exc}")
            metrics.request_done(route, response.status_code, time.perf_counter() - began)
            return response

        return serve

    async def taskflow(payload: Any, request: Request) -> dict:
        call = bodies.taskflow_call(payload, settings, task)
        if call is None:
            return {"result": {}}
        results = await run(call, request)
        if task == "classify":
            results = [taskflow_classification(r, t) for r, t in zip(results, call.texts)]
        return {"result": results}

    async def native(payload: Any, request: Request) -> dict:
        call = bodies.extract_call(payload, settings) if task == "uie" else bodies.classify_call(payload, settings)
        return {"results": await run(call, request)}

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "task": task, "queue": batcher.depth})

    async def metrics_page(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        hint = f" (this service runs task {task}: {' or '.join(ROUTES[task])})" if exc.status_code == 404 else ""
        return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}{hint}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        from .connections import quiet_accept_errors

        quiet_accept_errors(asyncio.get_running_loop())
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    taskflow_route, native_route = ROUTES[task]
    routes = [Route(taskflow_route, endpoint(taskflow_route, taskflow), methods=["POST"]),
              Route(native_route, endpoint(native_route, native), methods=["POST"]),
              Route("/health", health, methods=["GET"]),
              Route("/metrics", metrics_page, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.batcher = batcher
    app.state.metrics = metrics
    return app


def app_from_environment() -> Starlette:
    """The application of one uvicorn worker process (``--workers`` > 1): settings from the parent, its own
    model. Paddle installs its own SIGTERM/SIGINT handlers when it is imported (they abort the process); the worker's
    uvicorn handlers, installed before, are put back so that a shutdown stays graceful."""
    import signal

    from .models import load_model

    settings = ServeSettings.from_environment()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    model = load_model(settings)
    for sig, handler in handlers.items():
        if handler is not None:
            signal.signal(sig, handler)
    return create_app(settings, model)
