"""Weight initialisation, ``from_pretrained`` and ``save_pretrained`` for every ERNIE-M model class.

``from_pretrained`` reads a checkpoint directory in either layout through :mod:`converters.checkpoint` (Paddle's:
``config.json`` or the legacy ``model_config.json`` next to ``model_state.pdparams``, ``model.safetensors`` or a
sharded index of either; transformers': ``model.safetensors`` or ``pytorch_model.bin``, mapped in memory).
``.pdparams`` files are read by the converters' restricted unpickler, never by plain ``pickle``;
``pytorch_model.bin`` by ``torch.load(weights_only=True)``. ``save_pretrained`` writes PaddleNLP's layout.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import paddle
import paddle.nn as nn

from converters.checkpoint import Checkpoint, read_checkpoint
from converters.configuration import PRETRAINED_INIT_CONFIGURATION, ErnieMConfig
from converters.files import atomic_files, check_outside
from converters.formats import LazyTensor, save_paddle_state
from converters.mapping import HEAD_PREFIXES, PADDLE, PREFIX as BASE_PREFIX
from converters.tensors import DTYPES, dtype_name

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
    """Base class: holds the config, initialises weights as PaddleNLP does, loads and saves checkpoints.

    Also carries the part of PaddleNLP's ``PretrainedModel`` surface that code written for PaddleNLP's ErnieM
    reads: the class attributes below, :attr:`base_model`, :attr:`model_name_list`,
    :meth:`constructed_from_pretrained_config`, :meth:`get_input_embeddings` / :meth:`set_input_embeddings`,
    :meth:`resize_token_embeddings` and the ``_init_weights`` hook.
    """

    #: The directory ``from_pretrained`` read (``None`` for a model built from a config): an input that no
    #: output (``save_pretrained``, an export, a training run) may overwrite.
    pretrained_dir: Optional[Path] = None

    config_class = ErnieMConfig
    base_model_prefix = "ernie_m"
    model_config_file = "config.json"
    resource_files_names = {"model_state": "model_state.pdparams"}
    #: PaddleNLP's table of the published models' sizes (names only: this package loads local directories).
    pretrained_init_configuration = PRETRAINED_INIT_CONFIGURATION
    #: Where PaddleNLP downloads those weights from (read by code written for PaddleNLP; never fetched here).
    pretrained_resource_files_map = {"model_state": {
        "ernie-m-base": "https://paddlenlp.bj.bcebos.com/models/transformers/ernie_m/ernie_m_base.pdparams",
        "ernie-m-large": "https://paddlenlp.bj.bcebos.com/models/transformers/ernie_m/ernie_m_large.pdparams",
        "uie-m-base": "https://paddlenlp.bj.bcebos.com/models/transformers/uie_m/uie_m_base.pdparams",
        "uie-m-large": "https://paddlenlp.bj.bcebos.com/models/transformers/uie_m/uie_m_large.pdparams",
    }}

    def __init__(self, config: Optional[ErnieMConfig] = None, **config_changes: Any):
        """``config`` is an :class:`ErnieMConfig` (or PaddleNLP's / transformers' ErnieM config object, read
        through its ``to_dict()``); keywords change its fields, or build it when ``config`` is None
        (PaddleNLP's older ``ErnieMModel(vocab_size=..., ...)``)."""
        super().__init__()
        self.config = _as_config(config, config_changes)
        configure_cpu_threads()

    @classmethod
    def from_config(cls, config: Any, dtype: Optional[str] = None, **config_changes: Any) -> "ErnieMPretrainedModel":
        """PaddleNLP's ``from_config``: a freshly initialised model, its weights in ``dtype`` when given."""
        model = cls(config, **config_changes)
        if dtype is not None:
            model.to(dtype=dtype)
        return model

    @classmethod
    def constructed_from_pretrained_config(cls, init_func=None) -> bool:
        """PaddleNLP's test for models built from a config object: always True here."""
        return True

    @property
    def base_model(self) -> "ErnieMPretrainedModel":
        """The bare ``ErnieMModel``: ``self.ernie_m`` for a head, the model itself otherwise."""
        return getattr(self, self.base_model_prefix, self)

    @property
    def model_name_list(self) -> List[str]:
        """The published model names PaddleNLP knows (:attr:`pretrained_init_configuration`)."""
        return list(self.pretrained_init_configuration)

    # ------------------------------------------------------------------------------------ input embeddings
    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.base_model.embeddings.word_embeddings = value

    def resize_token_embeddings(self, new_num_tokens: Optional[int] = None) -> nn.Embedding:
        """Give the vocabulary ``new_num_tokens`` rows, with PaddleNLP's ``PretrainedModel`` semantics: rows
        kept from the start, new rows initialised, ``config.vocab_size`` updated; returns the (new) embedding.
        ``None`` or the current size returns the embedding unchanged. (PaddleNLP 2.8.1's own ErnieM classes
        raise ``NotImplementedError`` here: they lack ``get_input_embeddings``.)"""
        old = self.get_input_embeddings()
        old_rows, width = old.weight.shape
        if not new_num_tokens or new_num_tokens == old_rows:
            return old
        new = nn.Embedding(new_num_tokens, width)
        new.to(dtype=old.weight.dtype)
        self.init_weights(new)
        kept = min(old_rows, new_num_tokens)
        with paddle.no_grad():
            new.weight[:kept] = old.weight[:kept]
        self.set_input_embeddings(new)
        for model in {id(m): m for m in (self, self.base_model)}.values():
            model.config = model.config.replace(vocab_size=new_num_tokens)
        return new

    # ---------------------------------------------------------------------------------------- initialisation
    def init_weights(self, *layers: nn.Layer) -> None:
        """Run :meth:`_init_weights` on every sublayer of ``layers`` (default: the whole model), as PaddleNLP's
        ``init_weights`` does; skipped while ``from_pretrained`` builds a model for checkpoint weights."""
        if not _init_enabled:
            return
        for root in layers or (self,):
            for layer in root.sublayers(include_self=True):
                self._init_weights(layer)

    def _init_weights(self, layer: nn.Layer) -> None:
        """PaddleNLP's per-layer hook (override it to change the initialisation): linear and embedding weights
        ~ N(0, initializer_range), biases 0, LayerNorm 1/0."""
        if isinstance(layer, (nn.Linear, nn.Embedding)):
            weight = layer.weight
            weight.set_value(paddle.normal(0.0, self.config.initializer_range, weight.shape).astype(weight.dtype))
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
        """Load a model from a local checkpoint directory in either layout: Paddle's (PaddleNLP's or ours) or
        transformers' (``ernie-m convert paddle2torch``, transformers 4.x or 5.x ``save_pretrained``), read by
        :func:`converters.checkpoint.read_checkpoint`, which tells them apart by their tensor names.

        Args:
            directory: holds ``config.json`` (either ecosystem's dialect) or ``model_config.json``, and
                ``model_state.pdparams``, ``model.safetensors``, ``pytorch_model.bin`` or a sharded index of one.
            dtype: ``"float32"`` (default), ``"float16"``, ``"bfloat16"``, or ``"auto"`` for the checkpoint's.
            strict: raise on missing base-model weights, unknown keys and shape mismatches (listing them all);
                with ``strict=False`` they are logged and the affected weights keep their initial values.
                Head weights absent from the checkpoint (fine-tuning a base model) are always initialised and
                reported; weights of another head are dropped and reported.
            reset_head: initialise the head afresh instead of loading its weights (fine-tuning a classifier on
                other labels); reported like a new head.
            config_changes: config fields to override (e.g. ``num_labels=3``,
                ``attention_mask_mode="paddlenlp"``). PaddleNLP's loading keywords are also accepted (see
                :func:`_paddlenlp_loading_keywords`).
        """
        directory, strict, config_changes = _paddlenlp_loading_keywords(cls, directory, strict, config_changes)
        checkpoint = read_checkpoint(directory, PADDLE, head=cls.__name__)
        return cls.from_checkpoint(checkpoint, dtype=dtype, strict=strict, reset_head=reset_head, **config_changes)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: Checkpoint,
        dtype: Optional[str] = None,
        strict: bool = True,
        reset_head: bool = False,
        **config_changes,
    ) -> "ErnieMPretrainedModel":
        """:meth:`from_pretrained` on a checkpoint already read for the Paddle side (``read_checkpoint(dir)``).
        The tensors are read one at a time into the model's parameters."""
        if checkpoint.side != PADDLE:
            raise ValueError(f"{checkpoint.directory}: read for the {checkpoint.side} side; Paddle models need "
                             f"read_checkpoint(directory, side='paddle')")
        for note in checkpoint.notes:  # what mapping a transformers directory did (a dropped or created tensor)
            logger.info("%s: %s", checkpoint.directory, note)
        config = checkpoint.config.replace(**config_changes) if config_changes else checkpoint.config
        state = checkpoint.tensors_for(cls.__name__)
        if reset_head:
            state = {k: v for k, v in state.items() if k.startswith(BASE_PREFIX) or not k.startswith(HEAD_PREFIXES)}
        checkpoint_dtype = _checkpoint_dtype(state, checkpoint.weights)
        target_dtype = checkpoint_dtype if dtype == "auto" else (dtype or "float32")
        if target_dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)} or 'auto', got {dtype!r}")

        with _no_weight_init():
            model = cls(config)
        if checkpoint_dtype != "float32":
            model.to(dtype=checkpoint_dtype)
        model._load_checkpoint_state(state, strict, source=checkpoint.directory)
        if target_dtype != checkpoint_dtype:
            model.to(dtype=target_dtype)
        model.eval()
        model.pretrained_dir = checkpoint.directory
        return model

    def _load_checkpoint_state(self, state: Mapping[str, LazyTensor], strict: bool, source: Path) -> None:
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
        for name, parameter in expected.items():  # one tensor in memory at a time, beside the model
            if name in state and name not in mismatched:
                parameter.set_value(state[name].read())
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


def _as_config(config: Any, changes: Dict[str, Any]) -> ErnieMConfig:
    """The :class:`ErnieMConfig` a model is built from (see :meth:`ErnieMPretrainedModel.__init__`)."""
    if config is None:
        return ErnieMConfig(**changes)
    if not isinstance(config, ErnieMConfig):
        if not callable(getattr(config, "to_dict", None)):
            raise TypeError(f"config must be an ErnieMConfig, got {type(config).__name__}")
        # every field it has, and of its other keys only those set to something else than its defaults
        changed = getattr(config, "to_diff_dict", config.to_dict)()
        data = {k: v for k, v in config.to_dict().items() if k in ErnieMConfig.__dataclass_fields__
                or k in ErnieMConfig.attribute_map or k in changed}
        if type(config).__module__.startswith("paddlenlp."):
            data.pop("intermediate_size", None)  # PaddleNLP builds 4 * hidden_size whatever the field says
        config = ErnieMConfig.from_dict(data, source=f"{type(config).__name__} object")
    return config.replace(**changes) if changes else config


#: PaddleNLP ``from_pretrained`` keywords about downloading, caching and memory: nothing to do for a local
#: directory read in full.
_DOWNLOAD_KEYWORDS = ("cache_dir", "force_download", "low_cpu_mem_usage", "load_state_as_np", "use_safetensors",
                      "variant", "convert_from_torch")
#: PaddleNLP ``from_pretrained`` keywords that name a remote source this package does not read.
_REMOTE_KEYWORDS = ("from_hf_hub", "from_aistudio")


def _paddlenlp_loading_keywords(cls, directory, strict: bool, kwargs: Dict[str, Any]):
    """``(directory, strict, config_changes)`` for the keywords of PaddleNLP's ``from_pretrained``:
    ``subfolder`` is joined to the directory, ``config`` (a config object) replaces the directory's config
    fields, ``ignore_mismatched_sizes=True`` means ``strict=False``, the download and cache keywords are
    accepted and have no effect; a remote source or a published model name is refused in one line."""
    changes = dict(kwargs)
    for key in _DOWNLOAD_KEYWORDS:
        changes.pop(key, None)
    for key in _REMOTE_KEYWORDS:
        if changes.pop(key, False):
            raise ValueError(f"from_pretrained({key}=True): this package loads local directories only")
    subfolder = changes.pop("subfolder", None)
    if subfolder:
        directory = Path(directory) / subfolder
    if changes.pop("ignore_mismatched_sizes", False):
        strict = False
    given = changes.pop("config", None)
    if given is not None:
        changes = {**dict(_as_config(given, {})), **changes}
    if str(directory) in cls.pretrained_init_configuration and not Path(directory).exists():
        raise ValueError(f"{directory!s} is a PaddleNLP model name; this package loads local directories only "
                         f"(save it with PaddleNLP's save_pretrained, or convert a transformers checkpoint)")
    return directory, strict, changes


#: How many names an error or warning lists before it only counts the rest.
LISTED = 3


def _listing(what: str, items: List[str]) -> str:
    """``"missing weights (2): a, b"``, or the first :data:`LISTED` items and how many more."""
    shown = ", ".join(items[:LISTED]) + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")
    return f"{what} ({len(items)}): {shown}"


def compare_state(expected: Dict[str, object], state: Mapping[str, object]) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, mismatched)``: names of ``expected`` (a model's state dict) absent from ``state``,
    names of ``state`` the model lacks, and names present in both with other shapes (in ``expected``'s order)."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and list(state[k].shape) != list(expected[k].shape)]
    return missing, unexpected, mismatched


def _checkpoint_dtype(state: Mapping[str, LazyTensor], source: Path) -> str:
    dtypes: List[str] = sorted({dtype_name(v.dtype) for v in state.values()})
    if len(dtypes) != 1 or dtypes[0] not in DTYPES:
        raise ValueError(f"{source}: checkpoint tensors must share one of {', '.join(DTYPES)}; found {dtypes}")
    return dtypes[0]
