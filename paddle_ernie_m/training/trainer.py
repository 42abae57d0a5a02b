"""The training loop shared by every fine-tuning and pre-training script (see the README)."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn
from tqdm.auto import tqdm

from converters.files import (OUTPUT_MARKER, UnsafeOutputError, check_outside, check_replaceable, json_lines, owns,
                              prepare_output_dir, record_output, remove_output, write_atomic)

from ..runtime import configure_cpu_threads
from . import checkpoint as ckpt
from . import distributed as dist
from .arguments import TrainingArguments
from .optim import build_optimizer

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
STATE_VERSION = 1

Batch = Dict[str, Any]
#: ``compute_loss(model, batch) -> (loss, logs)``: a scalar loss tensor and a dict of scalars to log.
LossFn = Callable[[nn.Layer, Batch], Tuple[paddle.Tensor, Mapping[str, Any]]]
#: ``eval_fn(model) -> {metric: float}``; called on rank 0 in eval mode under ``paddle.no_grad()``.
EvalFn = Callable[[nn.Layer], Mapping[str, float]]


def set_seed(seed: int) -> None:
    """Seed Paddle, NumPy and ``random`` (call before building a model whose head is initialised randomly)."""
    paddle.seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def derived_seed(*parts: int) -> int:
    """A well-mixed 32-bit seed from integers, e.g. ``(seed, step, micro_batch, rank)``."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def model_loss(model: nn.Layer, batch: Batch) -> Tuple[paddle.Tensor, Dict[str, Any]]:
    """The default step: ``model(**batch, return_dict=True).loss``."""
    loss = model(**batch, return_dict=True).loss
    if loss is None:
        raise ValueError(f"the model returned no loss: the batch (keys {sorted(batch)}) holds no labels")
    return loss, {}


def to_tensors(batch: Mapping[str, Any]) -> Batch:
    return {k: paddle.to_tensor(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}


def predict(model: nn.Layer, features: Sequence[Any], collate_fn: Callable[[List[Any]], Mapping[str, Any]],
            batch_size: int, keys: Sequence[str] = ("logits",)) -> Dict[str, List[np.ndarray]]:
    """Run ``model`` over ``features`` in order; per example, the numpy row of each output field in ``keys``
    (padded to its batch's length). The model is put in eval mode for the call."""
    was_training = model.training
    model.eval()
    results: Dict[str, List[np.ndarray]] = {k: [] for k in keys}
    try:
        with paddle.no_grad():
            for start in range(0, len(features), batch_size):
                output = model(**to_tensors(collate_fn(list(features[start:start + batch_size]))), return_dict=True)
                for key in keys:
                    value = getattr(output, key)
                    if value.dtype in (paddle.float16, paddle.bfloat16):
                        value = value.astype("float32")
                    results[key].extend(value.numpy())
    finally:
        if was_training:
            model.train()
    return results


@dataclass
class TrainerState:
    """Progress of a run; saved in every checkpoint's ``trainer_state.json``."""

    global_step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    best_metric: Optional[float] = None
    best_step: Optional[int] = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    last_eval: Optional[Dict[str, float]] = None


class Trainer:
    """Fine-tune (or pre-train) ``model`` on ``train_dataset``; see the README.

    Args:
        model: a Paddle layer; by default its output's ``.loss`` is minimised.
        args: the options.
        train_dataset: a sequence of features; ``collate_fn(list_of_features)`` turns some into a batch
            (a dict of numpy arrays, passed to the model as keyword arguments).
        eval_fn: ``model -> {metric: float}``, on rank 0, in eval mode, without gradients.
        compute_loss: ``(model, batch) -> (loss, logs)`` replacing ``model(**batch, return_dict=True).loss``; ``logs`` values
            (floats or scalar tensors) are averaged and logged.
        tokenizer: saved into every checkpoint and ``best/`` through its ``save_pretrained``.
    """

    def __init__(self, model: nn.Layer, args: TrainingArguments, train_dataset: Sequence[Any],
                 collate_fn: Callable[[List[Any]], Mapping[str, Any]], eval_fn: Optional[EvalFn] = None,
                 compute_loss: Optional[LossFn] = None, tokenizer: Any = None):
        self.model = model
        self.args = args
        self.train_dataset = train_dataset
        self.collate_fn = collate_fn
        self.eval_fn = eval_fn
        self.compute_loss = compute_loss or model_loss
        self.tokenizer = tokenizer
        self.output_dir = Path(args.output_dir)
        self.state = TrainerState()
        self.is_main = dist.is_main_process()

    # ------------------------------------------------------------------------------------------- set-up
    def _prepare_output_dir(self) -> Optional[Path]:
        """The checkpoint to resume from, if any. Before the first step: refuses an output directory that is,
        contains or lies inside the model's or tokenizer's files, or that cannot be written, and refuses to
        clobber a previous run (``overwrite_output_dir`` deletes only what a previous training wrote)."""
        args = self.args
        inputs = (getattr(self.model, "pretrained_dir", None), getattr(self.tokenizer, "vocab_file", None))
        check_outside(self.output_dir, inputs)
        if self.is_main:
            prepare_output_dir(self.output_dir, ckpt.WRITER)
        if args.resume_from_checkpoint:
            return ckpt.resolve_checkpoint(self.output_dir, args.resume_from_checkpoint)
        previous = ckpt.list_checkpoints(self.output_dir) + [
            p for p in (self.output_dir / ckpt.BEST_DIR, self.output_dir / METRICS_FILE) if p.exists()]
        if previous and not args.overwrite_output_dir:
            raise FileExistsError(f"{self.output_dir} holds a previous run ({previous[0].name}): pass "
                                  "--resume_from_checkpoint latest to continue it or --overwrite_output_dir")
        for path in previous:  # every one is checked before any is deleted
            if not owns(self.output_dir, ckpt.WRITER, path.name):
                raise UnsafeOutputError(f"--overwrite_output_dir deletes only what a previous training wrote, and "
                                        f"{path.name} is not listed as such in {self.output_dir / OUTPUT_MARKER}; "
                                        f"nothing was deleted: remove it yourself or choose another output_dir: "
                                        f"{path}")
            if path.is_dir() or path.is_symlink():
                check_replaceable(path, ckpt.WRITER, force=True)
        if previous and self.is_main:
            for path in previous:
                remove_output(path, ckpt.WRITER) if path.is_dir() else path.unlink()
        dist.barrier()
        return None

    def _amp_dtype(self) -> Optional[str]:
        if self.args.amp == "none":
            return None
        if paddle.get_device().startswith("cpu"):
            logger.warning("--amp %s needs a GPU; training in float32 on CPU", self.args.amp)
            return None
        return {"fp16": "float16", "bf16": "bfloat16"}[self.args.amp]

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return paddle.amp.auto_cast(enable=True, dtype=self.amp_dtype, level="O1")

    def _run_state(self, sampler: dist.StepSampler, total: int) -> Dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "trainer": dataclasses.asdict(self.state),
            "total_steps": total,
            "global_batch": sampler.global_batch,
            "num_examples": sampler.num_examples,
            "seed": self.args.seed,
            "world_size": dist.world_size(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                       for k, v in (self.scaler.state_dict() if self.scaler else {}).items()},
            "args": self.args.to_dict(),
        }

    def _restore(self, directory: Path, sampler: dist.StepSampler, total: int) -> None:
        saved = ckpt.read_state(directory)
        expected = {"global_batch": sampler.global_batch, "num_examples": sampler.num_examples,
                    "seed": self.args.seed, "total_steps": total}
        for key, value in expected.items():
            if saved.get(key) != value:
                raise ckpt.CheckpointMismatchError(
                    f"{directory}: cannot resume exactly: the checkpoint has {key}={saved.get(key)}, this run "
                    f"{value} (keep the data, seed, epochs/max_steps and batch_size x accumulation x processes)")
        ckpt.load_model_weights(self.model, directory)
        ckpt.load_optimizer_tensors(self.optimizer, self.model, directory / ckpt.OPTIMIZER_FILE)
        self.state = TrainerState(**saved["trainer"])
        self.scheduler.set_state_dict(saved["scheduler"])
        if self.scaler is not None and saved.get("scaler"):
            self.scaler.load_state_dict(saved["scaler"])
        if self.is_main:
            self._truncate_metrics(self.state.global_step)
        logger.info("resumed from %s at step %d", directory, self.state.global_step)

    # ------------------------------------------------------------------------------------------- logging
    def _log(self, record: Dict[str, Any]) -> None:
        if not self.is_main:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        record_output(self.output_dir, ckpt.WRITER, METRICS_FILE)
        with open(self.output_dir / METRICS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_metrics(self, step: int) -> None:
        path = self.output_dir / METRICS_FILE
        if path.is_file():
            def torn(line: int, message: str) -> None:  # a run killed while appending, or a full disk
                logger.warning("%s:%d: %s; dropped", path, line, message)

            kept = []
            for line, record in json_lines(path, "metrics file", on_invalid=torn):
                logged = record.get("step", 0) if isinstance(record, dict) else None
                if not isinstance(logged, int) or isinstance(logged, bool):
                    torn(line, "not a record of this trainer (no integer 'step')")
                elif logged <= step:
                    kept.append(record)
            write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))

    # ------------------------------------------------------------------------------------------- training
    def train(self) -> TrainerState:
        """Run the training; returns the final :class:`TrainerState`."""
        args = self.args
        configure_cpu_threads()
        world = dist.init_distributed()
        resume = self._prepare_output_dir()
        sampler = dist.StepSampler(len(self.train_dataset), args.batch_size, args.gradient_accumulation_steps,
                                   world, dist.rank(), args.seed)
        total = dist.total_steps(sampler, args.num_train_epochs, args.max_steps)
        warmup = args.warmup_steps or round(args.warmup_ratio * total)
        self.optimizer, self.scheduler = build_optimizer(
            self.model, args.learning_rate, total, warmup, args.weight_decay, args.layerwise_decay,
            (args.adam_beta1, args.adam_beta2), args.adam_epsilon, args.lr_end_ratio)
        self.amp_dtype = self._amp_dtype()
        self.scaler = paddle.amp.GradScaler() if self.amp_dtype == "float16" else None
        if resume is not None:
            self._restore(resume, sampler, total)
        self.params = [p for p in self.model.parameters() if not p.stop_gradient]
        runner = dist.loss_runner(self.model, self.compute_loss)
        self.model.train()

        state = self.state
        logger.info("training: %d examples, %d steps (%d per epoch), global batch %d, %d process(es)",
                    sampler.num_examples, total, len(sampler), sampler.global_batch, world)
        bar = tqdm(total=total, initial=state.global_step, disable=not (self.is_main and args.progress_bar),
                   desc="train", dynamic_ncols=True)
        window: Dict[str, Any] = {}
        window_steps, window_start = 0, time.perf_counter()
        while state.global_step < total and not state.stopped_early:
            for micro_batches in sampler.epoch(state.epoch, state.step_in_epoch):
                logs = self._train_step(runner, micro_batches)
                state.global_step += 1
                state.step_in_epoch += 1
                epoch_end = state.step_in_epoch == len(sampler)
                if epoch_end:
                    state.epoch, state.step_in_epoch = state.epoch + 1, 0
                for key, value in logs.items():
                    window[key] = window.get(key, 0.0) + value
                window_steps += 1
                bar.update(1)
                step, done = state.global_step, state.global_step >= total
                if step % args.logging_steps == 0 or done:
                    record = self._log_window(window, window_steps, time.perf_counter() - window_start, sampler)
                    bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                    window, window_steps, window_start = {}, 0, time.perf_counter()
                due = (step % args.eval_steps == 0) if args.eval_steps else epoch_end
                evaluate = self.eval_fn is not None and (due or done)
                paused = time.perf_counter()
                if evaluate:
                    self._evaluate(sampler)
                if evaluate or done or state.stopped_early or (args.save_steps and step % args.save_steps == 0):
                    self._save(sampler, total)
                window_start += time.perf_counter() - paused  # steps_per_second counts training only
                if done or state.stopped_early:
                    break
        bar.close()
        dist.barrier()
        return state

    def _log_window(self, window: Dict[str, Any], steps: int, seconds: float,
                    sampler: dist.StepSampler) -> Dict[str, Any]:
        """Log the means over the window's steps and over processes (all ranks take part)."""
        means = dict(zip(window, dist.all_reduce_mean([float(v) / steps for v in window.values()])))
        if not math.isfinite(means["loss"]) and self.scaler is None:
            raise FloatingPointError(f"step {self.state.global_step}: the loss is {means['loss']}")
        record = {"type": "train", "step": self.state.global_step, "epoch": self._epoch_progress(sampler),
                  **means, "lr": self.step_lr, "steps_per_second": steps / seconds}
        self._log(record)
        return record

    def _epoch_progress(self, sampler: dist.StepSampler) -> float:
        return round(self.state.epoch + self.state.step_in_epoch / len(sampler), 4)

    def _train_step(self, runner: Callable, micro_batches: List[dist.MicroBatch]) -> Dict[str, Any]:
        """Forward and backward over this rank's micro-batches, then one optimizer step. Returns this rank's
        weighted loss and logs as scalars or 0-d tensors (read only when logged, so that accelerators are not
        synchronised every step); their mean over processes is the step's mean."""
        args, step = self.args, self.state.global_step
        totals: Dict[str, Any] = {"loss": 0.0}
        for k, micro in enumerate(micro_batches):
            seed = derived_seed(args.seed, step, k, dist.rank())
            paddle.seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            batch = to_tensors(self.collate_fn([self.train_dataset[i] for i in micro.indices]))
            sync = k == len(micro_batches) - 1 or dist.world_size() == 1
            with contextlib.nullcontext() if sync else runner.no_sync():
                with self._autocast():
                    loss, logs = runner(batch)
                weighted = loss * micro.weight
                (self.scaler.scale(weighted) if self.scaler else weighted).backward()
            totals["loss"] = totals["loss"] + weighted.detach().astype("float32")
            for key, value in logs.items():
                value = value.detach().astype("float32") if isinstance(value, paddle.Tensor) else float(value)
                totals[key] = totals.get(key, 0.0) + value * micro.weight
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if args.max_grad_norm > 0:
            totals["grad_norm"] = paddle.nn.utils.clip_grad_norm_(self.params, args.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.clear_grad()
        self.step_lr = self.scheduler.last_lr
        self.scheduler.step()
        return totals

    # ------------------------------------------------------------------------------------------- evaluation
    def _evaluate(self, sampler: dist.StepSampler) -> None:
        """Evaluate on rank 0, share the result, update best/ and the early-stopping counter on every rank."""
        state, args = self.state, self.args
        outcome: Any = None
        error: Optional[Exception] = None
        if self.is_main:
            self.model.eval()
            try:
                with paddle.no_grad(), self._autocast():
                    outcome = {k: float(v) for k, v in dict(self.eval_fn(self.model)).items()}
            except Exception as exc:  # re-raised below, once the other ranks know
                error, outcome = exc, f"{type(exc).__name__}: {exc}"
            self.model.train()
        outcome = dist.broadcast_object(outcome)
        if error is not None:
            raise error
        if isinstance(outcome, str):
            raise RuntimeError(f"evaluation failed on rank 0: {outcome}")
        metrics = outcome
        if not metrics:
            raise ValueError("eval_fn returned no metrics")
        key = args.metric_for_best or next(iter(metrics))
        if key not in metrics:
            raise KeyError(f"metric_for_best {key!r} is not among the evaluation metrics {sorted(metrics)}")
        value = metrics[key]
        better = state.best_metric is None or (value > state.best_metric if args.greater_is_better
                                               else value < state.best_metric)
        state.last_eval = metrics
        if better:
            state.best_metric, state.best_step, state.evals_without_improvement = value, state.global_step, 0
        else:
            state.evals_without_improvement += 1
        if args.early_stopping_patience and state.evals_without_improvement >= args.early_stopping_patience:
            state.stopped_early = True
            logger.info("early stopping at step %d: %s has not improved for %d evaluations (best %.6g at %d)",
                        state.global_step, key, state.evals_without_improvement, state.best_metric,
                        state.best_step)
        self._log({"type": "eval", "step": state.global_step, "epoch": self._epoch_progress(sampler), **metrics})
        if self.is_main:
            logger.info("step %d: %s", state.global_step,
                        ", ".join(f"{k}={v:.6g}" for k, v in metrics.items()))
            if better:
                record_output(self.output_dir, ckpt.WRITER, ckpt.BEST_DIR)
                ckpt.write_best(self.output_dir / ckpt.BEST_DIR, self.model,
                                {"step": state.global_step, **metrics}, self.tokenizer, self.args.save_layout)

    def _save(self, sampler: dist.StepSampler, total: int) -> None:
        if not self.is_main:
            return
        directory = self.output_dir / f"{ckpt.CHECKPOINT_PREFIX}{self.state.global_step}"
        record_output(self.output_dir, ckpt.WRITER, directory.name)
        ckpt.write_checkpoint(directory, self.model, self.optimizer, self._run_state(sampler, total),
                              self.tokenizer, self.args.save_layout)
        ckpt.rotate_checkpoints(self.output_dir, self.args.save_total_limit)
