"""``ernie-m convert paddle2torch|torch2paddle SRC DST`` and ``ernie-m verify PADDLE_DIR TORCH_DIR``.

Also ``python -m converters paddle2torch SRC DST`` (and ``torch2paddle``, ``verify``): the same functions.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

DIRECTION_HELP = {
    "paddle2torch": "Paddle / PaddleNLP checkpoint -> transformers directory",
    "torch2paddle": "transformers checkpoint -> Paddle / PaddleNLP directory",
}


def _add_direction(subparsers, direction: str) -> None:
    p = subparsers.add_parser(direction, help=DIRECTION_HELP[direction], description=DIRECTION_HELP[direction])
    p.add_argument("src", metavar="SRC", help="checkpoint directory (config.json + weights [+ tokenizer files])")
    p.add_argument("dst", metavar="DST",
                   help="output directory (must not exist unless --force; never SRC, inside it or around it)")
    p.add_argument("--arch", help="head when the config names none, e.g. ErnieMForSequenceClassification or UIEM")
    p.add_argument("--dtype", choices=("float32", "float16", "bfloat16"),
                   help="cast the weights (default: keep each tensor's dtype)")
    if direction == "paddle2torch":
        p.add_argument("--torch-format", dest="fmt", choices=("safetensors", "bin"), default="safetensors",
                       help="model.safetensors (default) or pytorch_model.bin")
        p.add_argument("--mask-semantics", choices=("paddlenlp", "transformers"),
                       help="what model(**tokenizer(texts, padding=True)) computes: 'paddlenlp' (the tokenizer returns "
                            "input_ids only; the model masks [CLS] and attends to padding, as PaddleNLP) or "
                            "'transformers' (the tokenizer returns the padding mask). Default: the one the checkpoint "
                            "was trained under (paddlenlp for checkpoints saved by PaddleNLP)")
    else:
        p.add_argument("--paddle-format", dest="fmt", choices=("pdparams", "safetensors"), default="pdparams",
                       help="model_state.pdparams (default) or model.safetensors (Paddle layout)")
        p.add_argument("--num-choices", type=int,
                       help="multiple choice: number of choices PaddleNLP's class reshapes to (written to config; "
                            "default: the source config's, else 2)")
    p.add_argument("--max-shard-size", help="shard the weights above this size, e.g. 2GB (default: one file)")
    p.add_argument("--force", action="store_true",
                   help="replace DST if an earlier conversion wrote it (or it is empty)")
    p.add_argument("--verify", action="store_true",
                   help="run both frameworks on a fixed batch before DST appears (needs paddle, torch, transformers)")
    p.add_argument("--atol", type=float, default=1e-4, help="--verify tolerance on max abs difference (default 1e-4)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar")
    p.set_defaults(func=run_convert, direction=direction)


def _add_verify(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="compare a Paddle and a transformers checkpoint on a fixed multilingual batch",
        description="Run PADDLE_DIR with our Paddle classes and TORCH_DIR with transformers on a fixed padded "
                    "multilingual batch; print the max abs difference of every output and layer; exit 1 above "
                    "the tolerance.")
    p.add_argument("paddle_dir", metavar="PADDLE_DIR", help="Paddle checkpoint directory (run with our classes)")
    p.add_argument("torch_dir", metavar="TORCH_DIR", help="transformers checkpoint directory")
    p.add_argument("--arch", help="head when the Paddle config names none")
    p.add_argument("--atol", type=float, default=1e-4, help="tolerance on max abs difference (default 1e-4)")
    p.set_defaults(func=run_verify)


def register(subparsers) -> None:
    """Add ``convert`` (with ``paddle2torch`` / ``torch2paddle``) and ``verify`` to the ``ernie-m`` CLI."""
    convert = subparsers.add_parser("convert", help="convert checkpoints between Paddle and transformers",
                                    description="Convert ERNIE-M checkpoints between Paddle and transformers.")
    directions = convert.add_subparsers(dest="direction", metavar="DIRECTION",
                                        help="paddle2torch or torch2paddle")
    directions.required = True
    for direction in DIRECTION_HELP:
        _add_direction(directions, direction)
    _add_verify(subparsers)


def run_convert(args: argparse.Namespace) -> int:
    from .convert import convert_checkpoint
    from .errors import VerificationError

    try:
        summary = convert_checkpoint(
            args.src, args.dst, args.direction, arch=args.arch, dtype=args.dtype, fmt=args.fmt,
            max_shard_size=args.max_shard_size, num_choices=getattr(args, "num_choices", None),
            mask_semantics=getattr(args, "mask_semantics", None), force=args.force,
            verify=args.verify, atol=args.atol, progress=args.progress,
        )
    except VerificationError as exc:
        print(exc.report)
        raise
    if summary.verification is not None:
        print(summary.verification)
    print(summary)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from .verify import verify_dirs

    report = verify_dirs(args.paddle_dir, args.torch_dir, atol=args.atol, arch=args.arch)
    print(report)
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m converters``: the directions and ``verify`` as top-level commands."""
    parser = argparse.ArgumentParser(prog="python -m converters",
                                     description="Convert ERNIE-M checkpoints between Paddle and transformers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", help="paddle2torch, torch2paddle or verify")
    commands.required = True
    for direction in DIRECTION_HELP:
        _add_direction(commands, direction)
    _add_verify(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from paddle_ernie_m.cli import main as cli_main

    return cli_main(argv, build_parser())


if __name__ == "__main__":
    sys.exit(main())
