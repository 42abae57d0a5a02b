"""``TrainingArguments``: every option of the training loop, once, with its command-line help."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

AMP_MODES = ("none", "fp16", "bf16")
#: ``save_layout`` choices (:mod:`.checkpoint` writes them).
SAVE_LAYOUTS = ("paddle", "transformers")


def _opt(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class TrainingArguments:
    """Options of :class:`~paddle_ernie_m.training.Trainer`. Steps are optimizer steps."""

    output_dir: str = _opt(None, "directory for checkpoints, the best model and metrics.jsonl (required)")
    overwrite_output_dir: bool = _opt(False, "start afresh even if output_dir already holds checkpoints")
    resume_from_checkpoint: Optional[str] = _opt(
        None, "'latest' (newest checkpoint-* in output_dir) or a checkpoint directory to resume from")
    seed: int = _opt(42, "seed of initialisation, data order, dropout")

    num_train_epochs: float = _opt(3.0, "epochs to train (may be fractional); ignored when max_steps > 0")
    max_steps: int = _opt(0, "optimizer steps to train; > 0 overrides num_train_epochs")
    batch_size: int = _opt(16, "training examples per process and micro-batch")
    eval_batch_size: int = _opt(32, "examples per evaluation batch")
    gradient_accumulation_steps: int = _opt(1, "micro-batches per optimizer step")

    learning_rate: float = _opt(5e-5, "peak learning rate")
    warmup_ratio: float = _opt(0.0, "fraction of the steps spent warming up linearly from 0")
    warmup_steps: int = _opt(0, "warm-up steps; > 0 overrides warmup_ratio")
    lr_end_ratio: float = _opt(0.0, "learning rate at the last step, as a fraction of the peak (linear decay)")
    layerwise_decay: float = _opt(
        1.0, "layer-wise learning-rate decay: layer i of L gets decay**(L - i), embeddings decay**(L + 1), "
        "heads and pooler 1 (ERNIE-M's recipes use 0.8-0.9); 1 turns it off")
    weight_decay: float = _opt(0.01, "AdamW weight decay (never applied to biases and norms)")
    adam_beta1: float = _opt(0.9, "AdamW beta1")
    adam_beta2: float = _opt(0.999, "AdamW beta2")
    adam_epsilon: float = _opt(1e-8, "AdamW epsilon")
    max_grad_norm: float = _opt(1.0, "clip gradients to this global L2 norm; 0 turns clipping off")
    amp: str = _opt("none", "mixed precision on GPU: none, fp16 (with loss scaling) or bf16; ignored on CPU",
                    choices=AMP_MODES)

    logging_steps: int = _opt(10, "log training loss every N steps")
    eval_steps: int = _opt(0, "evaluate every N steps; 0: at the end of every epoch")
    save_steps: int = _opt(0, "also save a resumable checkpoint every N steps; 0: only when evaluating")
    save_total_limit: int = _opt(2, "keep the newest N checkpoint-* directories (best/ is kept apart)")
    metric_for_best: Optional[str] = _opt(None, "evaluation metric that selects best/; default: the first one")
    greater_is_better: bool = _opt(True, "whether a larger metric_for_best is better")
    early_stopping_patience: int = _opt(0, "stop after N evaluations without improvement; 0 turns it off")
    progress_bar: bool = _opt(True, "show a tqdm progress bar (rank 0)")
    save_layout: str = _opt("paddle", "layout of best/ and the checkpoints: paddle (PaddleNLP's) or transformers "
                                      "(what `ernie-m convert paddle2torch` writes, e.g. for a --model in that layout)",
                            choices=SAVE_LAYOUTS)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid option."""
        if not self.output_dir:
            raise ValueError("output_dir is required")
        positive = ("batch_size", "eval_batch_size", "gradient_accumulation_steps", "logging_steps")
        non_negative = ("max_steps", "warmup_steps", "eval_steps", "save_steps", "early_stopping_patience",
                        "weight_decay", "max_grad_norm", "num_train_epochs", "save_total_limit")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.max_steps == 0 and self.num_train_epochs == 0:
            raise ValueError("set num_train_epochs or max_steps")
        if not 0 < self.learning_rate:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        for name in ("warmup_ratio", "lr_end_ratio"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 < self.layerwise_decay <= 1:
            raise ValueError(f"layerwise_decay must be in (0, 1], got {self.layerwise_decay}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.save_layout not in SAVE_LAYOUTS:
            raise ValueError(f"save_layout must be one of {', '.join(SAVE_LAYOUTS)}, got {self.save_layout!r}")

    # ------------------------------------------------------------------------------------ command line
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, **defaults: Any) -> argparse.ArgumentParser:
        """Add every field as ``--name`` (booleans as ``--name`` / ``--no-name``). ``defaults`` override the
        dataclass defaults for one script (e.g. ``metric_for_best="f1"``)."""
        group = parser.add_argument_group("training")
        for f in dataclasses.fields(cls):
            default = defaults.get(f.name, f.default)
            help_text = f.metadata["help"] + ("" if default is None else f" (default: {default})")
            if f.type in ("bool", bool):
                group.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=default,
                                   help=f.metadata["help"])
                continue
            kind = {"int": int, "float": float}.get(str(f.type), str)
            group.add_argument(f"--{f.name}", type=kind, default=default, help=help_text,
                               choices=f.metadata.get("choices"), required=f.name == "output_dir")
        return parser

    @classmethod
    def from_namespace(cls, namespace: argparse.Namespace) -> "TrainingArguments":
        return cls(**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
