"""What the example fine-tuning scripts share: common options, model and tokenizer loading, the run itself."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

from . import distributed as dist
from .arguments import TrainingArguments
from .data import DataError

logger = logging.getLogger(__name__)

EPILOG = """\
Data parallel: python -m paddle.distributed.launch --nproc_per_node N {script} ... (batch_size is per process).
Several machines: add --ips host1,host2 and run the same command on each. Resume an interrupted run with
--resume_from_checkpoint latest (same data, seed and global batch). See the README."""


def build_parser(script: str, description: str, max_length: int = 128,
                 **training_defaults: Any) -> argparse.ArgumentParser:
    """A parser with the options every example takes, then the :class:`TrainingArguments` options (whose
    defaults ``training_defaults`` override)."""
    parser = argparse.ArgumentParser(
        prog=script, description=description, epilog=EPILOG.format(script=script),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("model and data")
    data.add_argument("--model", required=True,
                      help="local model directory: ours, PaddleNLP's (config.json + model_state.pdparams) or a "
                           "Hugging Face checkpoint converted with torch2paddle")
    data.add_argument("--tokenizer", help="tokenizer directory (default: --model)")
    data.add_argument("--train_file", required=True, help="training data")
    data.add_argument("--eval_file", help="evaluation data (enables evaluation and best/ selection)")
    data.add_argument("--max_length", type=int, default=max_length,
                      help=f"longest input in tokens (default: {max_length})")
    data.add_argument("--skip_invalid", action="store_true",
                      help="skip malformed rows and unknown labels (counted and logged) instead of stopping")
    return TrainingArguments.add_arguments(parser, **training_defaults)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO if dist.is_main_process() else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_tokenizer(args: argparse.Namespace):
    from ..tokenizer import ErnieMTokenizer

    return ErnieMTokenizer.from_pretrained(args.tokenizer or args.model)


def load_model(model_class: type, args: argparse.Namespace, **config_changes: Any):
    """``model_class.from_pretrained(--model, **config_changes)`` after seeding, so that a new head is
    initialised the same way on every run (and every process)."""
    from .trainer import set_seed

    set_seed(args.seed)
    return model_class.from_pretrained(args.model, **config_changes)


def train(args: argparse.Namespace, model: Any, features: Sequence[Any], collate_fn: Callable,
          eval_fn: Optional[Callable], tokenizer: Any) -> dict:
    """Train, then print (rank 0) and return a summary: steps, best metric and where the models are."""
    from .trainer import Trainer

    training_args = TrainingArguments.from_namespace(args)
    state = Trainer(model, training_args, features, collate_fn, eval_fn=eval_fn, tokenizer=tokenizer).train()
    output = Path(training_args.output_dir)
    summary = {"global_step": state.global_step, "best_step": state.best_step, "best_metric": state.best_metric,
               "last_eval": state.last_eval, "stopped_early": state.stopped_early,
               "best_model": str(output / "best") if state.best_step is not None else None,
               "last_checkpoint": str(output / f"checkpoint-{state.global_step}")}
    if dist.is_main_process():
        print(json.dumps(summary, ensure_ascii=False))
    return summary


def run(main: Callable[[List[str]], Any], argv: Optional[List[str]], prog: str) -> int:
    """Call ``main(argv)``; data, file and option errors become one line on stderr and exit code 1."""
    try:
        main(sys.argv[1:] if argv is None else argv)
        return 0
    except (DataError, OSError, ValueError, KeyError) as exc:  # OSError: permissions, full disk, missing files...
        from ..cli import error_line

        print(f"{prog}: error: {error_line(exc)}", file=sys.stderr)
        return 1
