"""``ernie-m serve``: the UIE-M extractor or a sequence classifier as an HTTP service (Starlette on uvicorn).

Routes (see docs/serving.md): PaddleNLP SimpleServing's ``POST /taskflow/uie`` and ``POST /taskflow/cls`` with its
request and response bodies, the native ``POST /v1/extract`` and ``POST /v1/classify``, ``GET /health`` and
``GET /metrics`` (Prometheus text). Concurrent requests are batched together (:mod:`.batcher`) and run on one model
per worker process, off the event loop; every limit has its own status code (:mod:`.bodies`).

Modules: :mod:`.settings` (every option and its default), :mod:`.bodies` (request parsing and validation),
:mod:`.models` (the model behind a route), :mod:`.batcher` (batches, time slices, stopped work), :mod:`.metrics`,
:mod:`.app` (the ASGI application), :mod:`.connections` (request-head deadline, connection cap), :mod:`.server`
(uvicorn, workers, port, shutdown), :mod:`.cli`. Only :mod:`.app`, :mod:`.connections` and :mod:`.server` need the
``[serve]`` extra (Starlette, uvicorn); :mod:`.cli` imports no framework at all.
"""
