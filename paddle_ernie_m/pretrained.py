"""Weight initialisation, ``from_pretrained`` and ``save_pretrained`` for every ERNIE-M model class.

Checkpoints use PaddleNLP's layout: ``config.json`` (or the legacy ``model_config.json``) next to
``model_state.pdparams``, ``model.safetensors`` or a sharded index of either. ``.pdparams`` files are read by
the converters' restricted unpickler, never by plain ``pickle``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn

from converters.configuration import ErnieMConfig
from converters.convert import DTYPES, dtype_name
from converters.files import atomic_files, check_outside
from converters.formats import load_paddle_state, save_paddle_state
from converters.mapping import HEAD_PREFIXES, IGNORED, PADDLE, PREFIX as BASE_PREFIX, TENSORS, \
    infer_intermediate_size, normalise_names, paddle_shape

from .runtime import configure_cpu_threads

logger = logging.getLogger(__name__)

_init_enabled = True


@contextlib.contextmanager
def _no_weight_init() -> Iterator[None]:
    """Skip random initialisation while a model is built only to receive checkpoint weights."""
    global _init_enabled
    previous, _init_enabled = _init_enabled, False
    try:
        yield
    finally:
        _init_enabled = previous


class ErnieMPretrainedModel(nn.Layer):
    """Base class: holds the config, initialises weights as PaddleNLP does, loads and saves checkpoints."""

    #: The directory ``from_pretrained`` read (``None`` for a model built from a config): an input that no
    #: output (``save_pretrained``, an export, a training run) may overwrite.
    pretrained_dir: Optional[Path] = None

    def __init__(self, config: ErnieMConfig):
        super().__init__()
        if not isinstance(config, ErnieMConfig):
            raise TypeError(f"config must be an ErnieMConfig, got {type(config).__name__}")
        self.config = config
        configure_cpu_threads()

    # ---------------------------------------------------------------------------------------- initialisation
    def init_weights(self, *layers: nn.Layer) -> None:
        """Linear and embedding weights ~ N(0, initializer_range), biases 0, LayerNorm 1/0 (PaddleNLP's init)."""
        if not _init_enabled:
            return
        std = self.config.initializer_range
        for root in layers or (self,):
            for layer in root.sublayers(include_self=True):
                if isinstance(layer, (nn.Linear, nn.Embedding)):
                    weight = layer.weight
                    weight.set_value(paddle.normal(0.0, std, weight.shape).astype(weight.dtype))
                    if getattr(layer, "bias", None) is not None:
                        layer.bias.set_value(paddle.zeros_like(layer.bias))
                elif isinstance(layer, nn.LayerNorm):
                    layer.weight.set_value(paddle.ones_like(layer.weight))
                    layer.bias.set_value(paddle.zeros_like(layer.bias))

    @property
    def head_name(self) -> str:
        """The canonical architecture name written into ``config.json``."""
        return type(self).__name__

    # ------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        directory: Union[str, os.PathLike],
        dtype: Optional[str] = None,
        strict: bool = True,
        reset_head: bool = False,
        **config_changes,
    ) -> "ErnieMPretrainedModel":
        """Load a model from a local PaddleNLP-layout directory.

        Args:
            directory: holds ``config.json`` (either ecosystem's dialect) or ``model_config.json``, and
                ``model_state.pdparams``, ``model.safetensors`` or a sharded index of either.
            dtype: ``"float32"`` (default), ``"float16"``, ``"bfloat16"``, or ``"auto"`` for the checkpoint's.
            strict: raise on missing base-model weights, unknown keys and shape mismatches (listing them all);
                with ``strict=False`` they are logged and the affected weights keep their initial values.
                Head weights absent from the checkpoint (fine-tuning a base model) are always initialised and
                reported; weights of another head are dropped and reported.
            reset_head: initialise the head afresh instead of loading its weights (fine-tuning a classifier on
                other labels); reported like a new head.
            config_changes: config fields to override (e.g. ``num_labels=3``,
                ``attention_mask_mode="paddlenlp"``).
        """
        directory = Path(directory)
        config = ErnieMConfig.from_pretrained(directory)
        if config_changes:
            config = config.replace(**config_changes)
        state = load_paddle_state(directory)
        state = _adapt_prefix(state, cls.__name__)
        if reset_head:
            state = {k: v for k, v in state.items() if k.startswith(BASE_PREFIX) or not k.startswith(HEAD_PREFIXES)}
        config = _config_matching_weights(config, state, directory)
        check_config_fits(config, state, directory, strict)
        checkpoint_dtype = _checkpoint_dtype(state, directory)
        target_dtype = checkpoint_dtype if dtype == "auto" else (dtype or "float32")
        if target_dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)} or 'auto', got {dtype!r}")

        with _no_weight_init():
            model = cls(config)
        if checkpoint_dtype != "float32":
            model.to(dtype=checkpoint_dtype)
        model._load_checkpoint_state(state, strict, source=directory)
        if target_dtype != checkpoint_dtype:
            model.to(dtype=target_dtype)
        model.eval()
        model.pretrained_dir = directory
        return model

    def _load_checkpoint_state(self, state: Dict[str, np.ndarray], strict: bool, source: Path) -> None:
        expected = self.state_dict()
        missing, unexpected, mismatched = compare_state(expected, state)
        new_head = [k for k in missing if not k.startswith(BASE_PREFIX) and k.startswith(HEAD_PREFIXES)]
        other_head = [k for k in unexpected if k.startswith(HEAD_PREFIXES)]
        missing = [k for k in missing if k not in new_head]
        unknown = [k for k in unexpected if k not in other_head]

        problems = []
        if missing:
            problems.append(_listing("missing weights", missing))
        if unknown:
            problems.append(_listing("unexpected keys", unknown))
        if mismatched:
            problems.append(_listing("shape mismatches", [
                f"{k} (checkpoint {list(state[k].shape)}, model {list(expected[k].shape)})" for k in mismatched]))
        if problems and strict:
            raise ValueError(f"{source}: checkpoint does not fit {type(self).__name__}: " + "; ".join(problems)
                             + (" (the config does not match these weights)" if mismatched else ""))
        for problem in problems:
            logger.warning("%s: %s", source, problem)
        if other_head:
            logger.warning("%s: weights of another head not used by %s: %s", source, type(self).__name__,
                           ", ".join(other_head))
        with warnings.catch_warnings():  # Paddle warns of each weight left out: reported above, once
            warnings.filterwarnings("ignore", message="Skip loading for ", category=UserWarning)
            self.set_state_dict({k: v for k, v in state.items() if k in expected and k not in mismatched})
        fresh = new_head + missing + mismatched
        if fresh:
            if new_head:
                logger.warning("%s: newly initialised (train before use): %s", source, ", ".join(new_head))
            sublayers = dict(self.named_sublayers())
            self.init_weights(*{sublayers[k.rsplit(".", 1)[0]] for k in fresh})

    # -------------------------------------------------------------------------------------------- saving
    def save_pretrained(
        self,
        directory: Union[str, os.PathLike],
        safe_serialization: bool = False,
        max_shard_size: Optional[Union[int, str]] = None,
    ) -> Path:
        """Write ``config.json`` and ``model_state.pdparams`` (or ``model.safetensors`` with
        ``safe_serialization=True``) in PaddleNLP's layout, which PaddleNLP's ``from_pretrained`` reads.
        Other files in ``directory`` (e.g. tokenizer files) are kept; the files are replaced atomically, all or
        none. The directory the model was loaded from (:attr:`pretrained_dir`) is refused."""
        directory = Path(directory)
        check_outside(directory, (self.pretrained_dir,), nested=False)
        state = {name: tensor.numpy() for name, tensor in self.state_dict().items()}
        with atomic_files(directory) as tmp:
            save_paddle_state(state, tmp, fmt="safetensors" if safe_serialization else "pdparams",
                              max_shard_size=max_shard_size)
            self.config.replace(architectures=(self.head_name,)).save_pretrained(tmp, dialect="paddle")
        return directory


#: How many names an error or warning lists before it only counts the rest.
LISTED = 3


def _listing(what: str, items: List[str]) -> str:
    """``"missing weights (2): a, b"``, or the first :data:`LISTED` items and how many more."""
    shown = ", ".join(items[:LISTED]) + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")
    return f"{what} ({len(items)}): {shown}"


def compare_state(expected: Dict[str, object], state: Dict[str, np.ndarray]) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, mismatched)``: names of ``expected`` (a model's state dict) absent from ``state``,
    names of ``state`` the model lacks, and names present in both with other shapes (in ``expected``'s order)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and list(state[k].shape) != list(expected[k].shape)]
    return missing, unexpected, mismatched


def _adapt_prefix(state: Dict[str, np.ndarray], head: str) -> Dict[str, np.ndarray]:
    """Give base-model keys the ``ernie_m.`` prefix a head expects, or strip it for the bare model; drop
    legacy buffers."""
    kept = [k for k in state if not any(pattern.match(k) for pattern in IGNORED)]
    return {new: state[old] for old, new in normalise_names(kept, head).items()}


def _config_matching_weights(config: ErnieMConfig, state: Dict[str, np.ndarray], source: Path) -> ErnieMConfig:
    """Trust the weights for ``intermediate_size``: PaddleNLP ignores the field and always builds 4 * hidden,
    so its config files often say 3072 whatever the width."""
    width = infer_intermediate_size({k: v.shape for k, v in state.items()}, PADDLE)
    if width is not None and width != config.intermediate_size:
        logger.info("%s: config says intermediate_size=%d, weights say %d; using the weights",
                    source, config.intermediate_size, width)
        config = config.replace(intermediate_size=width)
    return config


#: Without ``strict``, a config may describe a model larger than its weights (the rest is initialised), but not
#: more than this many times larger (nor above :data:`ABSURD_PARAMETERS`): that is a config that does not belong
#: to the weights, and building it would allocate without bound.
LARGER_THAN_WEIGHTS = 16
#: More parameters than any ERNIE-M (large: 560 million) by far; refused whatever the weights.
ABSURD_PARAMETERS = 20_000_000_000


def _base_shapes(config: ErnieMConfig) -> Tuple[Dict[str, Tuple[int, ...]], int]:
    """The Paddle shape of each base-model tensor of one layer's worth of the table (names with ``{i}``), and the
    number of parameters of the whole base model under ``config``, computed from the table without building it."""
    dims = {"vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
            "intermediate_size": config.intermediate_size,
            "max_position_embeddings": config.max_position_embeddings}
    shapes = {row.paddle: paddle_shape(row, dims) for row in TENSORS if row.base}
    total = sum(int(np.prod(shape, dtype=object)) * (config.num_hidden_layers if "{i}" in name else 1)
                for name, shape in shapes.items())
    return shapes, total


def check_config_fits(config: ErnieMConfig, state: Dict[str, np.ndarray], source: Path, strict: bool = True) -> None:
    """Refuse, before any memory is allocated, a config that does not fit its weights (``hidden_size``,
    ``vocab_size``, ``max_position_embeddings`` or ``num_hidden_layers`` other than the weights say: with
    ``strict``, any difference of the base model; without, a model :data:`LARGER_THAN_WEIGHTS` times the
    weights), or one of absurd size (:data:`ABSURD_PARAMETERS`). One line naming the field and the tensor."""
    shapes, total = _base_shapes(config)
    held = sum(int(np.prod(v.shape, dtype=object)) for v in state.values())
    if total > ABSURD_PARAMETERS:
        raise ValueError(f"{source}: config.json describes a model of {total:,} parameters (hidden_size="
                         f"{config.hidden_size}, vocab_size={config.vocab_size}, num_hidden_layers="
                         f"{config.num_hidden_layers}, max_position_embeddings={config.max_position_embeddings}), "
                         f"more than {ABSURD_PARAMETERS:,}: not an ERNIE-M config")
    layers = {int(k.split("encoder.layers.", 1)[1].split(".", 1)[0]) for k in state if "encoder.layers." in k}
    if strict:
        if layers and len(layers) != config.num_hidden_layers:
            raise ValueError(f"{source}: config.json says num_hidden_layers={config.num_hidden_layers}, the weights "
                             f"hold {len(layers)}: the config does not fit these weights")
        for name, shape in shapes.items():
            key = name.format(i=0)
            found = state.get(key, state.get(BASE_PREFIX + key))
            if found is not None and tuple(found.shape) != shape:
                raise ValueError(f"{source}: tensor {key} has shape {list(found.shape)}, config.json asks for "
                                 f"{list(shape)}: the config does not fit these weights")
    elif total > LARGER_THAN_WEIGHTS * max(held, 1):
        raise ValueError(f"{source}: config.json describes a model of {total:,} parameters, more than "
                         f"{LARGER_THAN_WEIGHTS} times the {held:,} its weights hold: the config does not fit them")


def _checkpoint_dtype(state: Dict[str, np.ndarray], source: Path) -> str:
    dtypes: List[str] = sorted({dtype_name(v.dtype) for v in state.values()})
    if len(dtypes) != 1 or dtypes[0] not in DTYPES:
        raise ValueError(f"{source}: checkpoint tensors must share one of {', '.join(DTYPES)}; found {dtypes}")
    return dtypes[0]
