"""AdamW with linear warm-up and decay, layer-wise learning-rate decay and no decay on biases and norms."""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import paddle
import paddle.nn as nn

_LAYER = re.compile(r"(?:^|\.)encoder\.layers\.(\d+)\.")


class LinearWarmupDecay(paddle.optimizer.lr.LRScheduler):
    """``peak * step / warmup`` while warming up, then linear from ``peak`` down to ``peak * end_ratio`` at
    ``total_steps``. ``last_epoch`` counts optimizer steps taken."""

    def __init__(self, learning_rate: float, total_steps: int, warmup_steps: int, end_ratio: float = 0.0):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.total_steps = total_steps
        self.warmup_steps = min(warmup_steps, total_steps)
        self.end_ratio = end_ratio
        super().__init__(learning_rate)

    def get_lr(self) -> float:
        step = self.last_epoch
        if step < self.warmup_steps:
            return self.base_lr * step / self.warmup_steps
        remaining = max(self.total_steps - step, 0) / max(self.total_steps - self.warmup_steps, 1)
        return self.base_lr * (self.end_ratio + (1.0 - self.end_ratio) * remaining)


def is_decayed(name: str) -> bool:
    """Weight decay applies to weights, not to biases and normalisation parameters (PaddleNLP's ERNIE-M
    recipes and BERT's exclude names containing ``bias`` or ``norm``)."""
    return not ("bias" in name or "norm" in name)


def count_layers(names: List[str]) -> int:
    """The number of Transformer layers, read from ``encoder.layers.N.`` parameter names."""
    return 1 + max((int(m.group(1)) for m in map(_LAYER.search, names) if m), default=-1)


def layerwise_ratio(name: str, num_layers: int, decay: float) -> float:
    """The learning-rate multiplier of a parameter under layer-wise decay, as in ERNIE-M's fine-tuning recipe:
    ``decay ** (L - i)`` for encoder layer ``i`` of ``L``, ``decay ** (L + 1)`` for the embeddings and 1 for
    everything above the encoder (pooler, heads)."""
    if decay == 1.0:
        return 1.0
    match = _LAYER.search(name)
    if match:
        return decay ** (num_layers - int(match.group(1)))
    if "embeddings." in name:
        return decay ** (num_layers + 1)
    return 1.0


def parameter_groups(model: nn.Layer, weight_decay: float, layerwise_decay: float = 1.0) -> List[Dict]:
    """AdamW parameter groups ``{"params", "weight_decay", "learning_rate"}``: one per distinct (decay,
    ratio), in parameter order. ``learning_rate`` is Paddle's per-group multiplier of the scheduled rate."""
    named = [(n, p) for n, p in model.named_parameters() if not p.stop_gradient]
    num_layers = count_layers([n for n, _ in named])
    groups: Dict[Tuple[float, float], Dict] = {}
    for name, param in named:
        key = (weight_decay if is_decayed(name) else 0.0, layerwise_ratio(name, num_layers, layerwise_decay))
        groups.setdefault(key, {"params": [], "weight_decay": key[0], "learning_rate": key[1]})
        groups[key]["params"].append(param)
    return list(groups.values())


def build_optimizer(
    model: nn.Layer,
    learning_rate: float,
    total_steps: int,
    warmup_steps: int,
    weight_decay: float = 0.01,
    layerwise_decay: float = 1.0,
    betas: Tuple[float, float] = (0.9, 0.999),
    epsilon: float = 1e-8,
    end_ratio: float = 0.0,
    multi_precision: Optional[bool] = None,
) -> Tuple[paddle.optimizer.AdamW, LinearWarmupDecay]:
    """Paddle's (fused) AdamW over :func:`parameter_groups`, driven by a :class:`LinearWarmupDecay`.

    ``multi_precision`` (fp32 master weights) defaults to whether any parameter is fp16 / bf16. Gradient
    clipping is done by the trainer, which also logs the norm.
    """
    scheduler = LinearWarmupDecay(learning_rate, total_steps, warmup_steps, end_ratio)
    if multi_precision is None:
        multi_precision = any(p.dtype in (paddle.float16, paddle.bfloat16) for p in model.parameters())
    optimizer = paddle.optimizer.AdamW(
        learning_rate=scheduler,
        parameters=parameter_groups(model, weight_decay, layerwise_decay),
        beta1=betas[0],
        beta2=betas[1],
        epsilon=epsilon,
        weight_decay=weight_decay,
        multi_precision=multi_precision,
    )
    return optimizer, scheduler
