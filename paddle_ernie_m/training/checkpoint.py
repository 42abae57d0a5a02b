"""Training checkpoints: a model directory (PaddleNLP's layout, or transformers' with ``save_layout``) plus what an
exact resume needs.

``checkpoint-<step>/`` holds ``config.json`` + ``model_state.pdparams`` (``save_pretrained``; ``model.safetensors``
and the bundled code in transformers' layout), tokenizer files,
``optimizer.safetensors`` (AdamW moments, beta powers and fp32 master weights, keyed
``<parameter name>/<accumulator>`` so they do not depend on Paddle's per-process tensor names) and
``trainer_state.json``. Nothing here unpickles: tensors are safetensors, the rest is JSON.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import paddle
import paddle.nn as nn

from converters.checkpoint import read_checkpoint
from converters.convert import save_transformers_layout
from converters.files import atomic_directory, remove_output, written_by
from converters.formats import load_paddle_state, save_paddle_state
from converters.formats.safetensors import read_safetensors, write_safetensors

from ..pretrained import compare_state
from .arguments import SAVE_LAYOUTS

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
BEST_DIR = "best"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
EVAL_RESULTS_FILE = "eval_results.json"
MASTER_WEIGHT = "master_weight"
#: The writer named in the marker of the output directory, its checkpoints and ``best/``: only directories with
#: it are ever deleted or replaced (rotation, ``overwrite_output_dir``).
WRITER = "paddle_ernie_m training"
_CHECKPOINT = re.compile(re.escape(CHECKPOINT_PREFIX) + r"(\d+)$")


#: ``save_layout``: PaddleNLP's layout (default), or transformers' (e.g. for a run started from one).
PADDLE_LAYOUT, TRANSFORMERS_LAYOUT = SAVE_LAYOUTS


class CheckpointMismatchError(ValueError):
    """A checkpoint does not belong to the run that tries to resume from it."""


def list_checkpoints(output_dir: Path) -> List[Path]:
    """``checkpoint-<step>`` directories of ``output_dir``, oldest (smallest step) first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(output_dir: Path, spec: str) -> Path:
    """``"latest"`` -> the newest checkpoint of ``output_dir``; anything else is a checkpoint directory."""
    if spec == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(f"resume_from_checkpoint=latest: no {CHECKPOINT_PREFIX}* in {output_dir}")
        return found[-1]
    path = Path(spec)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"resume_from_checkpoint: {path} is not a training checkpoint (no {STATE_FILE})")
    return path


def save_model(model: nn.Layer, directory: Path, tokenizer: Any = None, layout: str = PADDLE_LAYOUT) -> None:
    """The model in PaddleNLP's layout (``save_pretrained`` when the model has it, else its state dict as
    ``model_state.pdparams``), or with ``layout="transformers"`` in transformers' (what ``ernie-m convert
    paddle2torch`` writes), and the tokenizer's files."""
    if tokenizer is not None:
        tokenizer.save_pretrained(str(directory))
    if layout == TRANSFORMERS_LAYOUT and hasattr(model, "config"):
        state = {k: v.numpy() for k, v in model.state_dict().items()}
        save_transformers_layout(state, model.config.replace(architectures=(model.head_name,)), directory)
    elif hasattr(model, "save_pretrained"):
        model.save_pretrained(directory)
    else:
        save_paddle_state({k: v.numpy() for k, v in model.state_dict().items()}, directory)


def load_model_weights(model: nn.Layer, directory: Path) -> None:
    """Load the weights a :func:`save_model` wrote (either layout) into ``model`` of the same architecture
    (strict)."""
    if hasattr(model, "head_name"):  # an ERNIE-M model: its directory may be in either layout
        tensors = read_checkpoint(directory, head=model.head_name).tensors_for(model.head_name)
        state = {name: tensor.read() for name, tensor in tensors.items()}
    else:  # any other layer: its state dict as save_model wrote it
        state = load_paddle_state(directory)
    missing, unexpected, shapes = compare_state(model.state_dict(), state)
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(
            f"{directory}: weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatches {shapes[:5]})")
    model.set_state_dict(state)


def optimizer_tensors(optimizer: paddle.optimizer.Optimizer, model: nn.Layer) -> Dict[str, np.ndarray]:
    """AdamW's accumulators and master weights keyed by structured parameter name."""
    names = {p.name: n for n, p in model.named_parameters()}
    tensors = {}
    for acc, per_param in optimizer._accumulators.items():
        for param_name, var in per_param.items():
            tensors[f"{names[param_name]}/{acc}"] = var.numpy()
    for param_name, var in getattr(optimizer, "_master_weights", {}).items():
        tensors[f"{names[param_name]}/{MASTER_WEIGHT}"] = var.numpy()
    return tensors


def load_optimizer_tensors(optimizer: paddle.optimizer.Optimizer, model: nn.Layer, path: Path) -> None:
    """Recreate the accumulators of the parameters saved in ``path`` and fill them; parameters without
    saved state (they had no gradient yet) keep being created lazily by Paddle."""
    lazy, _ = read_safetensors(path)
    params = dict(model.named_parameters())
    saved = list(dict.fromkeys(key.rsplit("/", 1)[0] for key in lazy))
    unknown = [n for n in saved if n not in params]
    if unknown:
        raise CheckpointMismatchError(f"{path}: optimizer state for unknown parameters {unknown[:5]}")
    block = paddle.static.default_main_program().global_block()
    optimizer._create_accumulators(block, [params[n] for n in saved])
    names = {p.name: n for n, p in params.items()}
    targets = {f"{names[pname]}/{acc}": var for acc, per_param in optimizer._accumulators.items()
               for pname, var in per_param.items() if names[pname] in saved}
    targets.update({f"{names[pname]}/{MASTER_WEIGHT}": var
                    for pname, var in getattr(optimizer, "_master_weights", {}).items() if names[pname] in saved})
    if set(targets) != set(lazy):
        raise CheckpointMismatchError(
            f"{path}: optimizer state does not fit this optimizer (only in file: "
            f"{sorted(set(lazy) - set(targets))[:5]}, missing: {sorted(set(targets) - set(lazy))[:5]})")
    for key, var in targets.items():
        array = lazy[key].read()
        if list(array.shape) != list(var.shape):
            raise CheckpointMismatchError(f"{path}: '{key}' has shape {list(array.shape)}, expected {var.shape}")
        var.set_value(paddle.to_tensor(array).astype(var.dtype))


def write_checkpoint(directory: Path, model: nn.Layer, optimizer: paddle.optimizer.Optimizer,
                     state: Dict[str, Any], tokenizer: Any = None, layout: str = PADDLE_LAYOUT) -> None:
    """Write a complete checkpoint atomically (a half-written one never appears under its final name)."""
    with atomic_directory(directory, WRITER, force=True) as tmp:
        save_model(model, tmp, tokenizer, layout)
        write_safetensors(tmp / OPTIMIZER_FILE, optimizer_tensors(optimizer, model), {"format": "np"}, bf16=False)
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def read_state(directory: Path) -> Dict[str, Any]:
    path = directory / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointMismatchError(f"{path}: unreadable trainer state ({exc})") from None


def write_best(directory: Path, model: nn.Layer, metrics: Dict[str, Any], tokenizer: Any = None,
               layout: str = PADDLE_LAYOUT) -> None:
    """Replace ``best/`` atomically with the model, tokenizer and the evaluation that selected them."""
    with atomic_directory(directory, WRITER, force=True) as tmp:
        save_model(model, tmp, tokenizer, layout)
        (tmp / EVAL_RESULTS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def rotate_checkpoints(output_dir: Path, keep: int) -> None:
    """Delete the oldest ``checkpoint-*`` beyond the newest ``keep`` (at least one is kept); one that a training
    did not write is left alone."""
    for old in list_checkpoints(output_dir)[:-max(keep, 1)]:
        if written_by(old) != WRITER:
            logger.warning("%s was not written by a training run: not deleted", old)
            continue
        try:
            remove_output(old, WRITER)
        except OSError as exc:
            logger.warning("could not remove old checkpoint %s: %s", old, exc)
            continue
        logger.debug("removed old checkpoint %s", old)
