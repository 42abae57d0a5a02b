"""``ernie-m serve``. Imports neither the server stack nor a framework: ``ernie-m --help`` stays fast, and a missing
``[serve]`` extra is one line saying how to install it."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..uie.extractor import MODES
from ..uie.runner import BACKENDS
from ..uie.schema import SCHEMA_LANGS, build_schema
from ..engines.export_format import PRECISION_NAMES
from .settings import DEFAULTS, TASKS, ServeSettings

#: What ``[serve]`` installs (a missing one is reported by name).
SERVER_MODULES = ("starlette", "uvicorn")


def register(subparsers) -> None:
    d = DEFAULTS
    parser = subparsers.add_parser(
        "serve",
        help="serve UIE-M extraction or a classifier over HTTP (PaddleNLP SimpleServing compatible)",
        description="Serve a UIE-M checkpoint (--task uie: POST /taskflow/uie, PaddleNLP SimpleServing's body; "
                    "POST /v1/extract {texts, schema, schema_lang}) or a sequence classifier (--task classify: "
                    "POST /taskflow/cls; POST /v1/classify {texts}), plus GET /health and GET /metrics "
                    "(Prometheus). Concurrent requests are batched together. Needs the [serve] extra. "
                    "See docs/serving.md.",
    )
    parser.add_argument("--model", required=True, type=Path, metavar="DIR",
                        help="checkpoint directory: UIE-M (--task uie) or ErnieMForSequenceClassification or its "
                             "export (--task classify)")
    parser.add_argument("--task", choices=TASKS, default=d.task, help=f"what to serve (default {d.task})")
    parser.add_argument("--schema", default=None,
                        help="default UIE schema for requests without one: JSON or a JSON file, as for `ernie-m "
                             "extract` (default: none; every request then brings its schema)")
    parser.add_argument("--schema-lang", choices=SCHEMA_LANGS, default=d.schema_lang,
                        help=f"language of child prompts for requests without schema_lang (default {d.schema_lang})")
    parser.add_argument("--backend", choices=BACKENDS, default=d.backend,
                        help=f"backend, as for `ernie-m extract` (uie) or `ernie-m predict` (classify: inference "
                             f"or onnxruntime) (default {d.backend})")
    parser.add_argument("--precision", choices=PRECISION_NAMES, default=None,
                        help="precision, as for `ernie-m extract` / `ernie-m predict`: int8 with --backend "
                             "onnxruntime (default: fp32; an export directory: its own)")
    parser.add_argument("--mode", choices=MODES, default=d.mode,
                        help=f"UIE mode, as for `ernie-m extract` (default {d.mode})")
    parser.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host})")
    parser.add_argument("--port", type=int, default=d.port, help=f"port (default {d.port}; 0: any free port)")
    parser.add_argument("--workers", type=int, default=d.workers,
                        help=f"processes sharing the port, one model each (default {d.workers})")
    parser.add_argument("--max-batch-texts", type=int, default=d.max_batch_texts,
                        help=f"most texts run together (default {d.max_batch_texts}; 1: no batching)")
    parser.add_argument("--batch-window-ms", type=float, default=d.batch_window_ms,
                        help=f"how long to wait for more requests to batch (default {d.batch_window_ms:g})")
    parser.add_argument("--max-queue", type=int, default=d.max_queue,
                        help=f"most requests waiting; beyond it 503 with Retry-After (default {d.max_queue})")
    parser.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                        help=f"largest request body; beyond it 413 (default {d.max_body_bytes})")
    parser.add_argument("--max-texts", type=int, default=d.max_texts,
                        help=f"most texts per request; beyond it 422 (default {d.max_texts})")
    parser.add_argument("--max-chars", type=int, default=d.max_chars,
                        help=f"most characters per text; beyond it 422 (default {d.max_chars})")
    parser.add_argument("--timeout-s", type=float, default=d.timeout_s,
                        help=f"answer 504 to a request not done within this many seconds (default {d.timeout_s:g})")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU math threads per worker (default: all cores for inference and onnxruntime, the "
                             "framework's default otherwise)")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """The settings of the parsed command line; the schema is read and checked as `ernie-m extract` does."""
    from ..predict import BACKENDS as CLASSIFY_BACKENDS
    from ..uie.cli import parse_schema

    if args.task != "uie" and args.mode != DEFAULTS.mode:
        raise ValueError("--mode applies to --task uie only")
    if args.task != "uie" and args.backend not in CLASSIFY_BACKENDS:
        raise ValueError(f"--backend {args.backend} applies to --task uie only; classify runs "
                         f"{' or '.join(CLASSIFY_BACKENDS)}")
    schema = None
    if args.schema is not None:
        schema = parse_schema(args.schema)
        build_schema(schema)
    options = {field.name: getattr(args, field.name) for field in dataclasses.fields(ServeSettings)}
    return ServeSettings(**{**options, "model": str(args.model), "schema": schema})


def check_server_stack() -> None:
    """One line saying how to install the server stack where it is missing."""
    import importlib.util

    from ..cli import CLIError

    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise CLIError(f"ernie-m serve needs {' and '.join(missing)}: install them with "
                          f"`pip install paddle-ernie-m[serve]`")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    check_server_stack()
    from .server import serve

    serve(settings)
    return 0
