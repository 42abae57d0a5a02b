"""``ernie-m convert paddle2torch|torch2paddle SRC DST``, and ``python -m converters paddle2torch|torch2paddle``.

Both run :func:`converters.convert.convert_checkpoint`. ``--verify`` (and ``ernie-m verify``) need Paddle, so they
exist only in ``ernie-m``, which passes paddle_ernie_m's verifier to :func:`register`.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Optional, Sequence, Tuple, Type

from .checkpoint import MASK_SEMANTICS
from .convert import OUTPUT_FORMATS, Verifier
from .tensors import DTYPES
from .files import describe_os_error
from .mapping import HF, PADDLE

DIRECTION_HELP = {
    "paddle2torch": "Paddle / PaddleNLP checkpoint -> transformers directory",
    "torch2paddle": "transformers checkpoint -> Paddle / PaddleNLP directory",
}
#: Default tolerance of ``--verify`` (and ``ernie-m verify``) on the max abs difference.
ATOL = 1e-4
#: The errors a command reports as one line on stderr (exit code 1); OSError: permissions, full disk, missing files.
ERRORS: Tuple[Type[BaseException], ...] = (OSError, ValueError, KeyError)


def _add_direction(subparsers, direction: str, verify: Optional[Verifier]) -> None:
    p = subparsers.add_parser(direction, help=DIRECTION_HELP[direction], description=DIRECTION_HELP[direction])
    p.add_argument("src", metavar="SRC", help="checkpoint directory (config.json + weights [+ tokenizer files])")
    p.add_argument("dst", metavar="DST",
                   help="output directory (must not exist unless --force; never SRC, inside it or around it)")
    p.add_argument("--arch", help="head when the config names none, e.g. ErnieMForSequenceClassification or UIEM")
    p.add_argument("--dtype", choices=DTYPES, help="cast the weights (default: keep each tensor's dtype)")
    if direction == "paddle2torch":
        p.add_argument("--torch-format", dest="fmt", choices=OUTPUT_FORMATS[HF], default=OUTPUT_FORMATS[HF][0],
                       help="model.safetensors (default) or pytorch_model.bin")
        p.add_argument("--mask-semantics", choices=tuple(MASK_SEMANTICS),
                       help="what model(**tokenizer(texts, padding=True)) computes: 'paddlenlp' (the tokenizer returns "
                            "input_ids only; the model masks [CLS] and attends to padding, as PaddleNLP) or "
                            "'transformers' (the tokenizer returns the padding mask). Default: the one the checkpoint "
                            "was trained under (paddlenlp for checkpoints saved by PaddleNLP)")
    else:
        p.add_argument("--paddle-format", dest="fmt", choices=OUTPUT_FORMATS[PADDLE], default=OUTPUT_FORMATS[PADDLE][0],
                       help="model_state.pdparams (default) or model.safetensors (Paddle layout)")
        p.add_argument("--num-choices", type=int,
                       help="multiple choice: number of choices PaddleNLP's class reshapes to (written to config; "
                            "default: the source config's, else 2)")
    p.add_argument("--max-shard-size", help="shard the weights above this size, e.g. 2GB (default: one file)")
    p.add_argument("--force", action="store_true",
                   help="replace DST if an earlier conversion wrote it (or it is empty)")
    if verify is not None:
        p.add_argument("--verify", action="store_true",
                       help="run both frameworks on a fixed batch before DST appears (needs paddle, torch, "
                            "transformers)")
        p.add_argument("--atol", type=float, default=ATOL,
                       help=f"--verify tolerance on max abs difference (default {ATOL:g})")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    p.set_defaults(func=functools.partial(run_convert, verifier=verify), direction=direction)


def register(subparsers, verify: Optional[Verifier] = None) -> None:
    """Add ``convert`` (with ``paddle2torch`` / ``torch2paddle``) to the ``ernie-m`` CLI; ``--verify`` runs
    ``verify(paddle_dir, torch_dir, atol=...)`` when a verifier is given."""
    convert = subparsers.add_parser("convert", help="convert checkpoints between Paddle and transformers",
                                    description="Convert ERNIE-M checkpoints between Paddle and transformers.")
    directions = convert.add_subparsers(dest="direction", metavar="DIRECTION",
                                        help="paddle2torch or torch2paddle")
    directions.required = True
    for direction in DIRECTION_HELP:
        _add_direction(directions, direction, verify)


def run_convert(args: argparse.Namespace, verifier: Optional[Verifier] = None) -> int:
    from .convert import convert_checkpoint
    from .errors import VerificationError

    verify = functools.partial(verifier, atol=args.atol) if verifier is not None and args.verify else None
    try:
        summary = convert_checkpoint(
            args.src, args.dst, args.direction, arch=args.arch, dtype=args.dtype, fmt=args.fmt,
            max_shard_size=args.max_shard_size, num_choices=getattr(args, "num_choices", None),
            mask_semantics=getattr(args, "mask_semantics", None), force=args.force,
            verify=verify, progress=args.progress,
        )
    except VerificationError as exc:
        print(exc.report)
        raise
    if summary.verification is not None:
        print(summary.verification)
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m converters``: the two directions as top-level commands."""
    parser = argparse.ArgumentParser(prog="python -m converters",
                                     description="Convert ERNIE-M checkpoints between Paddle and transformers "
                                                 "(`ernie-m convert` adds --verify).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", help="paddle2torch or torch2paddle")
    commands.required = True
    for direction in DIRECTION_HELP:
        _add_direction(commands, direction, None)
    return parser


def run(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None,
        errors: Tuple[Type[BaseException], ...] = ERRORS) -> int:
    """Parse ``argv``, set up logging and call the command's ``func``; an error of ``errors`` is one line on
    stderr and exit code 1 (:func:`error_line`)."""
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except errors as exc:
        print(f"{parser.prog} {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


def error_line(exc: BaseException) -> str:
    """The one line an error is reported as: ``"<what>: <path>"`` for an ``OSError``, else its message."""
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
