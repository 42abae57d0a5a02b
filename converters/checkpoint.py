"""The one checkpoint loader: a directory in either layout, read for either framework.

A checkpoint directory is in Paddle's layout (PaddleNLP's ``save_pretrained``, this project's, the legacy
``model_config.json``; ``model_state.pdparams`` or ``model.safetensors``, single or sharded) or in transformers'
(``ernie-m convert paddle2torch``, transformers 4.x or 5.x ``save_pretrained``; ``model.safetensors`` or
``pytorch_model.bin``, single or sharded). :func:`read_checkpoint` tells which from the tensor names (the two
layouts name the attention projections differently, and only the names are sure: a ``model.safetensors`` may be
either), and maps the tensors in memory through the table of :mod:`.mapping` to the names and layout the requested
side needs: lazy arrays, read (and transposed) one at a time by whoever consumes them, with no temporary directory
and no second copy of the weights.

The source's config dialect, its mask semantics (:data:`MASK_SEMANTICS`) and its tokenizer's ``compat`` come along.
Numpy only: Paddle-free and torch-free (torch is imported only to read a ``pytorch_model.bin``).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from ernie_m_tokenizer.tokenization_ernie_m_engine import (
    ADDED_TOKENS_FILE,
    SENTENCEPIECE_MODEL_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILE,
)

from . import mapping, safe_json
from .configuration import CONFIG_NAME, LEGACY_CONFIG_NAME, ErnieMConfig
from .errors import CheckpointError, ConversionError
from .formats import LazyTensor, read_weights_file, shards
from .mapping import BASE, HF, PADDLE
from .tensors import convert_tensors, resolve_head, target_config
from .tokenizer_files import read_tokenizer_config

#: The two layouts, as the rest of the project names its sides, and how messages name them.
LAYOUTS = (PADDLE, HF)
LAYOUT_NAMES = {PADDLE: "Paddle (PaddleNLP)", HF: "transformers"}
#: Weight files looked for in a directory of either layout, in order of preference.
WEIGHT_FILES = tuple(dict.fromkeys(shards.PADDLE_CANDIDATES + shards.TORCH_CANDIDATES))

#: ``mask_semantics`` -> (``attention_mask_mode`` of config.json, ``model_input_names`` of tokenizer_config.json):
#: the two settings that decide what ``model(**tokenizer(texts, padding=True))`` computes. "paddlenlp": the tokenizer
#: returns ``input_ids`` alone and the model masks [CLS] and attends to padding, as PaddleNLP; "transformers": the
#: tokenizer returns the padding mask too, as transformers' models expect.
MASK_SEMANTICS = {
    "paddlenlp": ("paddlenlp", ("input_ids",)),
    "transformers": ("padding", ("input_ids", "attention_mask")),
}
#: The files of a checkpoint's tokenizer (added tokens included).
TOKENIZER_FILES = (VOCAB_FILE, SENTENCEPIECE_MODEL_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE,
                   ADDED_TOKENS_FILE)
#: The tokenization (``compat`` of the tokenizer) a directory that does not state one was trained with.
LAYOUT_COMPAT = {PADDLE: "paddlenlp", HF: "transformers"}

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint directory read for one side.

    Attributes:
        directory: the directory read.
        layout: the layout of its files, ``"paddle"`` or ``"hf"`` (transformers').
        side: the layout of :attr:`tensors`: the one asked for.
        config: the model's config: the source's fields, with ``intermediate_size`` read from the weights and
            ``attention_mask_mode`` set by :attr:`mask_semantics` (a PaddleNLP checkpoint that states no mode keeps
            PaddleNLP's default mask, on either side); when converted, the head in ``architectures`` (the bare
            ``ErnieMModel`` for a head transformers lacks), as ``ernie-m convert`` writes them.
        tensors: name -> lazy array, in ``side``'s names and layout (bfloat16 as ``uint16``). Same-side
            checkpoints keep their names as they are (``ernie_m.`` prefix or not, legacy buffers): the model class
            adapts them.
        weights: the weights file or shard index read.
        mask_semantics: ``"paddlenlp"`` or ``"transformers"``, what the source was trained with
            (:func:`default_mask_semantics`).
        compat: the tokenization the source's tokenizer reproduces (:func:`tokenizer_settings`).
        notes: what the conversion did that a reader may want to know (dropped or created tensors).
    """

    directory: Path
    layout: str
    side: str
    config: ErnieMConfig
    tensors: Dict[str, LazyTensor]
    weights: Path
    mask_semantics: str
    compat: str
    notes: Tuple[str, ...] = ()

    @property
    def head(self) -> str:
        """The head the config names, else the bare ``ErnieMModel``."""
        return self.config.architecture or BASE

    @property
    def converted(self) -> bool:
        """Whether the tensors were mapped from the other layout."""
        return self.layout != self.side

    def tensors_for(self, head: Optional[str] = None) -> Dict[str, LazyTensor]:
        """:attr:`tensors` named as the model of ``head`` (default: the checkpoint's) names them: the encoder's
        with the ``ernie_m.`` prefix under a head and without it in the bare ``ErnieMModel``; legacy buffers left
        out. Tensors of another head keep their names (the model reports them)."""
        kept = [name for name in self.tensors if not any(pattern.match(name) for pattern in mapping.IGNORED)]
        return {new: self.tensors[old] for old, new in mapping.normalise_names(kept, head or self.head).items()}

    def state(self) -> Dict[str, np.ndarray]:
        """Every tensor read into memory (for a state dict consumer; models read :attr:`tensors` one by one)."""
        return {name: tensor.read() for name, tensor in self.tensors.items()}


def read_checkpoint(directory: PathLike, side: str = PADDLE, head: Optional[str] = None) -> Checkpoint:
    """Read the checkpoint in ``directory``, whichever its layout, for ``side`` (``"paddle"`` or ``"hf"``).

    ``head``: the head wanted by the caller (a model class name), used only to choose between heads whose tensors
    are the same (sequence and token classification) when the config names none. Errors name the file and what
    is wrong: :class:`~converters.errors.CheckpointError` for an unreadable file,
    :class:`~converters.errors.ConversionError` for tensors that fit neither layout or do not fit the config.
    """
    if side not in LAYOUTS:
        raise ValueError(f"side must be one of {', '.join(LAYOUTS)}, got {side!r}")
    directory = Path(directory)
    config, tensors, weights, layout = read_files(directory)
    shapes = {name: tensor.shape for name, tensor in tensors.items()}
    mask_semantics = default_mask_semantics(directory)
    notes: Tuple[str, ...] = ()
    if layout == side:
        width = mapping.infer_intermediate_size(shapes, layout)  # PaddleNLP's configs say 3072 whatever the width
        if width is not None and width != config.intermediate_size:
            config = config.replace(intermediate_size=width)
    else:
        wanted = None
        if config.architecture is None and head is not None and head in mapping.fitting_heads(list(tensors), layout):
            wanted = head
        resolved = resolve_head(config, wanted, list(tensors), layout, str(weights))
        config = target_config(config, resolved, shapes, layout)
        tensors, converted_notes = convert_tensors(tensors, config, resolved, layout, where=str(weights))
        notes = tuple(converted_notes)
    config = config.replace(attention_mask_mode=MASK_SEMANTICS[mask_semantics][0])
    compat = _stated_compat(directory) or LAYOUT_COMPAT[layout]  # the tokenizer validates its files when loaded
    return Checkpoint(directory, layout, side, config, tensors, weights, mask_semantics, compat, notes)


def read_files(directory: PathLike) -> Tuple[ErnieMConfig, Dict[str, LazyTensor], Path, str]:
    """The config, the tensors as stored, the weights file and the layout (``"paddle"`` or ``"hf"``) of the
    checkpoint in ``directory``."""
    directory = Path(directory)
    config = ErnieMConfig.from_pretrained(directory)
    weights = shards.find_weights(directory, WEIGHT_FILES)
    tensors, metadata = read_weights_file(weights)
    return config, tensors, weights, detect_layout(list(tensors), weights, metadata)


def detect_layout(names: Sequence[str], weights: Path, metadata: Optional[Dict[str, str]] = None) -> str:
    """``"paddle"`` or ``"hf"``: the layout whose ERNIE-M tensor names ``names`` (read from ``weights``) are.

    The names only one layout has decide (the attention projections, transformers' ``qa_outputs``, Paddle's
    pre-training head); other unknown names are left for the model or the conversion to report. Names that both
    layouts share go by the file: transformers' ``pytorch_model.bin`` or a safetensors file marked
    ``{"format": "pt"}``, else Paddle's. Names of both layouts at once, or no ERNIE-M name that tells a layout
    beside unknown ones, are a :class:`~converters.errors.ConversionError` naming what was found and what was
    expected."""
    unknown = {layout: set(mapping.unknown_tensors(names, layout)) for layout in LAYOUTS}
    own = {PADDLE: [n for n in names if n in unknown[HF] and n not in unknown[PADDLE]],
           HF: [n for n in names if n in unknown[PADDLE] and n not in unknown[HF]]}
    example = next(row for row in mapping.TENSORS if row.paddle.endswith("q_proj.weight"))
    expected = (f"expected the names of ERNIE-M in Paddle's layout ('{example.paddle.format(i=0)}', ...) or in "
                f"transformers' ('{example.hf.format(i=0)}', ...)")
    if own[PADDLE] and own[HF]:
        raise ConversionError(f"{weights}: the tensors mix the two layouts of ERNIE-M: found '{own[HF][0]}' "
                              f"(transformers' name) and '{own[PADDLE][0]}' (Paddle's name); {expected}, not both")
    if own[PADDLE] or own[HF]:
        return PADDLE if own[PADDLE] else HF
    foreign = [n for n in names if n in unknown[PADDLE]]
    if foreign:
        more = f" and {len(foreign) - 1} more of its {len(names)} tensors" if len(foreign) > 1 else ""
        raise ConversionError(f"{weights}: the tensors fit neither layout of ERNIE-M: found '{foreign[0]}'{more}, "
                              f"which neither has, and no attention projection; {expected} (is this an ERNIE-M "
                              f"checkpoint?)")
    by_file = weights.name.startswith("pytorch_model") or (metadata or {}).get("format") == "pt"
    return HF if by_file else PADDLE


def weights_layout(directory: PathLike) -> Optional[str]:
    """The layout of the weights in ``directory``, or None when it holds none (a tokenizer directory) or none that
    can be read (loading the model says why). Reads only names (a safetensors header, a ``.pdparams`` pickle's
    structure); a ``pytorch_model.bin``, which only transformers writes, is not opened (that would import torch)."""
    try:
        weights = shards.find_weights(directory, WEIGHT_FILES)
        if weights.name.startswith("pytorch_model"):
            return HF
        tensors, metadata = read_weights_file(weights)
        return detect_layout(list(tensors), weights, metadata)
    except (CheckpointError, ConversionError):
        return None


def default_mask_semantics(src: Path) -> str:
    """The ``mask_semantics`` under which the checkpoint in ``src`` was trained, read from its config file: the one
    ``config.json`` states through ``attention_mask_mode``, else "paddlenlp" for a config PaddleNLP wrote (it always
    writes ``paddlenlp_version``; older releases wrote ``model_config.json``), else "transformers" (this project's
    ``save_pretrained`` and trainer, which train with the padding mask, and checkpoints converted from transformers)."""
    path = Path(src) / CONFIG_NAME
    if not path.is_file():
        return "paddlenlp" if (Path(src) / LEGACY_CONFIG_NAME).is_file() else "transformers"
    data = safe_json.loads(path.read_text(encoding="utf-8"), str(path))  # validated by ErnieMConfig.from_pretrained
    mode = data.get("attention_mask_mode")
    if mode is not None:
        return next(name for name, (mask_mode, _) in MASK_SEMANTICS.items() if mask_mode == mode)
    return "paddlenlp" if "paddlenlp_version" in data else "transformers"


def tokenizer_settings(directory: PathLike, layout: Optional[str] = None) -> Dict[str, Any]:
    """``compat``, ``do_lower_case`` and ``model_max_length`` of the tokenizer in ``directory``
    (:func:`~converters.tokenizer_files.read_tokenizer_config`), with ``compat``, when its files do not state one,
    the tokenization of the checkpoint's layout (:data:`LAYOUT_COMPAT`: transformers' for a transformers
    directory, PaddleNLP's otherwise). ``layout``: the checkpoint's, when the caller knows it."""
    directory = Path(directory)
    settings = read_tokenizer_config(directory)
    if _stated_compat(directory) is None:
        layout = layout or weights_layout(directory)
        if layout is not None:
            settings["compat"] = LAYOUT_COMPAT[layout]
    return settings


def copy_tokenizer_files(src: PathLike, dst: PathLike, layout: Optional[str] = None) -> List[str]:
    """Copy the tokenizer files of the checkpoint in ``src`` (those present of :data:`TOKENIZER_FILES`) into
    ``dst``; a ``tokenizer_config.json`` that does not state ``compat`` gets the one :func:`tokenizer_settings`
    gives, so that the copy, without the weights beside it, still tokenizes as the source does. Returns the names
    written."""
    src, dst = Path(src), Path(dst)
    copied = [name for name in TOKENIZER_FILES if (src / name).is_file()]
    for name in copied:
        shutil.copy2(src / name, dst / name)
    if copied and _stated_compat(src) is None:
        compat = tokenizer_settings(src, layout)["compat"]
        path = dst / TOKENIZER_CONFIG_FILE
        data = safe_json.loads(path.read_text(encoding="utf-8"), str(path)) if path.is_file() else {}
        path.write_text(json.dumps({**data, "compat": compat}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        copied = list(dict.fromkeys(copied + [TOKENIZER_CONFIG_FILE]))
    return copied


def _stated_compat(directory: Path) -> Optional[str]:
    """The ``compat`` that ``tokenizer_config.json`` in ``directory`` states, or None (no file, no such key, or a
    file the tokenizer itself will refuse with a message when it loads)."""
    try:
        data = safe_json.loads((directory / TOKENIZER_CONFIG_FILE).read_text(encoding="utf-8"),
                               str(directory / TOKENIZER_CONFIG_FILE))
    except safe_json.JSONLimitError:
        raise
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    compat = data.get("compat") if isinstance(data, dict) else None
    return compat if isinstance(compat, str) else None
