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
                      help="local checkpoint directory in either layout: ours or PaddleNLP's (config.json + "
                           "model_state.pdparams), or transformers' (model.safetensors or pytorch_model.bin, read "
                           "without a conversion on disk); what is saved is PaddleNLP's layout unless --save_layout "
                           "transformers")
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
    initialised the same way on every run (and every process). A classifier trained for other labels than
    ``config_changes["id2label"]`` is not reused under the new names: the same labels in another order keep
    their weights, reordered; other labels (or another head's classifier) get a new classifier, with a warning
    naming the old and the new labels."""
    from converters.mapping import LABELLED_HEADS, TENSORS

    from converters.configuration import ErnieMConfig
    from .trainer import set_seed

    set_seed(args.seed)
    new_labels = config_changes.get("id2label")
    saved = ErnieMConfig.from_pretrained(args.model)
    head = model_class.__name__
    with_classifier = {h for row in TENSORS if row.paddle.startswith("classifier.") for h in row.heads}
    if new_labels is None or head not in LABELLED_HEADS or saved.architecture not in with_classifier:
        return model_class.from_pretrained(args.model, **config_changes)  # no trained classifier to mislabel
    old = list(saved.labels.values())
    new = [str(label) for _, label in sorted(new_labels.items())]
    if saved.architecture != head:
        logger.warning("%s: its head belongs to %s, not %s: starting a new classifier for the labels %s (train "
                       "before use)", args.model, saved.architecture, head, ", ".join(new))
    elif old == new:
        return model_class.from_pretrained(args.model, **config_changes)
    elif sorted(old) == sorted(new):
        logger.info("%s: the classifier's labels %s are reordered as the data's %s", args.model, ", ".join(old),
                    ", ".join(new))
        model = model_class.from_pretrained(args.model, **config_changes)
        reorder_classifier(model, [old.index(label) for label in new])
        return model
    else:
        logger.warning("%s: its classifier was trained for the labels %s, the data has %s: starting a new "
                       "classifier (train before use)", args.model, ", ".join(old), ", ".join(new))
    return model_class.from_pretrained(args.model, reset_head=True, **config_changes)


def reorder_classifier(model: Any, order: Sequence[int]) -> None:
    """Make output ``j`` of ``model.classifier`` what output ``order[j]`` was (Paddle weights are ``[in, out]``)."""
    import paddle

    index = paddle.to_tensor(list(order), dtype="int64")
    with paddle.no_grad():
        model.classifier.weight.set_value(paddle.index_select(model.classifier.weight, index, axis=1))
        model.classifier.bias.set_value(paddle.index_select(model.classifier.bias, index, axis=0))


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
        from converters.cli import error_line

        print(f"{prog}: error: {error_line(exc)}", file=sys.stderr)
        return 1
