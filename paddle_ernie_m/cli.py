"""The `ernie-m` command line: a thin shell that parses arguments and calls one library function.

Each sub-command lives in the module that owns its behaviour and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Heavy imports (Paddle, torch) happen inside ``func``, so ``ernie-m --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

# Modules that contribute sub-commands, in the order they are listed by --help.
COMMAND_MODULES = (
    "paddle_ernie_m.demo",
    "converters.cli",
    "paddle_ernie_m.export",
    "paddle_ernie_m.predict",
    "paddle_ernie_m.uie.cli",
)


class CLIError(Exception):
    """An error the CLI reports as one line on stderr with a non-zero exit code."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ernie-m",
        description="ERNIE-M in PaddlePaddle: run, convert (Paddle <-> Hugging Face), export and extract.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       help="one of the commands below; `ernie-m COMMAND --help` explains it")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None, parser: Optional[argparse.ArgumentParser] = None) -> int:
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (CLIError, OSError, ValueError, KeyError) as exc:  # OSError: permissions, full disk, missing files...
        print(f"{parser.prog} {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


def error_line(exc: Exception) -> str:
    """The one line an error is reported as: ``"<what>: <path>"`` for an ``OSError``, else its message."""
    from .files import describe_os_error

    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


if __name__ == "__main__":
    sys.exit(main())
