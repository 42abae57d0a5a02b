"""The `ernie-m` command line: a thin shell that parses arguments and calls one library function.

Each sub-command lives in the module that owns its behaviour and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Heavy imports (Paddle, torch) happen inside ``func``, so ``ernie-m --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from converters.cli import ERRORS, run

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(build_parser(), argv, (CLIError, ImportError, *ERRORS))  # ImportError: a missing extra, one line


if __name__ == "__main__":
    sys.exit(main())
