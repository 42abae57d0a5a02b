"""Data parallelism through ``python -m paddle.distributed.launch``: process group, data split, reductions.

The launcher sets ``PADDLE_TRAINERS_NUM`` / ``PADDLE_TRAINER_ID``; without it everything here is a no-op on
one process, so the same script runs either way.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Sequence

import numpy as np
import paddle
import paddle.distributed as dist
import paddle.nn as nn

logger = logging.getLogger(__name__)


def world_size() -> int:
    return int(os.environ.get("PADDLE_TRAINERS_NUM", "1") or 1)


def rank() -> int:
    return int(os.environ.get("PADDLE_TRAINER_ID", "0") or 0)


def is_main_process() -> bool:
    return rank() == 0


def init_distributed() -> int:
    """Join the launcher's process group when there are several processes; returns the world size."""
    size = world_size()
    if size > 1 and not dist.is_initialized():
        dist.init_parallel_env()
        logger.info("data parallel: rank %d of %d", rank(), size)
    return size


class _LossModule(nn.Layer):
    """Runs ``compute_loss(model, batch)`` as a layer's forward, so that ``paddle.DataParallel`` sees the loss
    tensor among the outputs (it finds the parameters to synchronise by walking back from them)."""

    def __init__(self, model: nn.Layer, compute_loss: Callable):
        super().__init__()
        self.model = model
        self.compute_loss = compute_loss

    def forward(self, batch):
        return self.compute_loss(self.model, batch)


def loss_runner(model: nn.Layer, compute_loss: Callable) -> Callable:
    """``batch -> (loss, logs)``; on several processes a ``paddle.DataParallel`` that averages gradients
    (``find_unused_parameters``, because some heads leave the pooler out of the loss). It has ``no_sync``
    when data parallel."""
    if world_size() == 1:
        return lambda batch: compute_loss(model, batch)
    return paddle.DataParallel(_LossModule(model, compute_loss), find_unused_parameters=True)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (picklable values produced by this process's own code)."""
    if world_size() == 1:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_reduce_mean(values: Sequence[float]) -> List[float]:
    """The element-wise mean of ``values`` over processes."""
    if world_size() == 1:
        return list(values)
    tensor = paddle.to_tensor(np.asarray(values, dtype="float64"))
    dist.all_reduce(tensor)
    return [float(v) / world_size() for v in tensor.numpy()]


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


@dataclass(frozen=True)
class MicroBatch:
    indices: List[int]
    #: The micro-batch loss is multiplied by this, so that after DataParallel averages the gradients over
    #: processes, the update is that of the mean loss over the whole step: ``len(indices) * world / n_step``.
    weight: float


class StepSampler:
    """Splits each epoch into optimizer steps, and each step's examples among processes and micro-batches.

    The order of the examples depends only on ``(seed, epoch)``; a step takes the next ``global_batch``
    examples and gives rank ``r`` the ``r``-th of ``world`` near-equal parts, cut into up to ``accumulation``
    micro-batches. So 1 process with batch ``B`` and 2 processes with batch ``B / 2`` see the same steps. A
    final step with fewer examples than processes is dropped (with a warning), since a process without data
    could not take part in the gradient exchange.
    """

    def __init__(self, num_examples: int, batch_size: int, accumulation: int, world: int, rank: int,
                 seed: int, shuffle: bool = True):
        if num_examples <= 0:
            raise ValueError("no training examples")
        self.num_examples = num_examples
        self.global_batch = batch_size * accumulation * world
        self.accumulation, self.world, self.rank = accumulation, world, rank
        self.seed, self.shuffle = seed, shuffle
        full, rest = divmod(num_examples, self.global_batch)
        self.steps_per_epoch = full + (1 if rest >= world else 0)
        if 0 < rest < world:
            logger.warning("the last %d examples of every epoch are left out: fewer than the %d processes",
                           rest, world)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{num_examples} training examples cannot feed {world} processes")

    def __len__(self) -> int:
        return self.steps_per_epoch

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_examples)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[List[MicroBatch]]:
        """This rank's micro-batches for each step of ``epoch``, from step ``start_step`` on."""
        order = self.order(epoch)
        for step in range(start_step, self.steps_per_epoch):
            chunk = order[step * self.global_batch:(step + 1) * self.global_batch]
            mine = np.array_split(chunk, self.world)[self.rank]
            parts = [p for p in np.array_split(mine, min(self.accumulation, len(mine)))]
            yield [MicroBatch(p.tolist(), len(p) * self.world / len(chunk)) for p in parts]


def total_steps(sampler: StepSampler, num_train_epochs: float, max_steps: int) -> int:
    return max_steps if max_steps > 0 else max(1, math.ceil(num_train_epochs * len(sampler)))
