"""The `ernie-m` command line: a thin shell that parses arguments and calls one library function.

Each sub-command lives in the module that owns its behaviour and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Heavy imports (Paddle, torch) happen inside ``func``, so ``ernie-m --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.util
import signal
import sys
from typing import Optional, Sequence

from converters.cli import ERRORS, install_signal_handlers, run

# Modules that contribute sub-commands, in the order they are listed by --help.
COMMAND_MODULES = (
    "paddle_ernie_m.demo",
    "paddle_ernie_m.verify",  # `convert` (the converters' commands, with --verify) and `verify`
    "paddle_ernie_m.engines.export",
    "paddle_ernie_m.predict",
    "paddle_ernie_m.uie.cli",
    "paddle_ernie_m.serving.cli",
)


class CLIError(Exception):
    """An error the CLI reports as one line on stderr with a non-zero exit code."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ernie-m",
        description="ERNIE-M in PaddlePaddle: run, convert (Paddle <-> Hugging Face), export, extract and serve.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       help="one of the commands below; `ernie-m COMMAND --help` explains it")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


class _PaddleSignals(importlib.abc.MetaPathFinder):
    """Once ``paddle`` is imported (by whichever command needs it), reset the signal handlers its C++ core installs
    (which print a C++ "stack" to stdout, into redirected results, and abort without cleaning up) and put the
    command's back: SIGTERM ends it with one line on stderr, Ctrl-C with ``KeyboardInterrupt``."""

    def find_spec(self, name, path=None, target=None):
        if name != "paddle":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module) -> None:
            execute(module)
            module.disable_signal_handler()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            install_signal_handlers()

        spec.loader.exec_module = exec_module
        return spec


def main(argv: Optional[Sequence[str]] = None) -> int:
    if "paddle" not in sys.modules and not any(isinstance(f, _PaddleSignals) for f in sys.meta_path):
        sys.meta_path.insert(0, _PaddleSignals())
    return run(build_parser(), argv, (CLIError, ImportError, *ERRORS))  # ImportError: a missing extra, one line


if __name__ == "__main__":
    sys.exit(main())
