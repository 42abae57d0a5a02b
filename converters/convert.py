"""Paddle <-> transformers conversion of ERNIE-M checkpoints: state dicts, configs, tokenizers, directories.

``paddle_to_torch`` / ``torch_to_paddle`` work on name -> numpy array dicts; :func:`convert_checkpoint` converts
a whole directory, streaming tensors from file to file, and writes the result atomically.
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import ernie_m_tokenizer
import numpy as np
from ernie_m_tokenizer.tokenization_ernie_m_engine import (
    MODEL_INPUT_NAMES,
    NO_LIMIT,
    SENTENCEPIECE_MODEL_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILE,
    read_vocab,
)

from . import formats, mapping, remote_code
from .configuration import CONFIG_NAME, LEGACY_CONFIG_NAME, ErnieMConfig
from .errors import CheckpointError, ConversionError, VerificationError
from .files import atomic_directory
from .formats import LazyTensor, PathLike
from .mapping import HEAD_ALIASES, HF, PADDLE
from .tokenizer_files import read_added_tokens, read_tokenizer_config, write_tokenizer_config

logger = logging.getLogger(__name__)

#: direction -> (source side, target side)
DIRECTIONS = {"paddle2torch": (PADDLE, HF), "torch2paddle": (HF, PADDLE)}
#: output formats per target side; the first is the default
OUTPUT_FORMATS = {HF: ("safetensors", "bin"), PADDLE: ("pdparams", "safetensors")}
DTYPES = ("float32", "float16", "bfloat16")
#: The writer named in the marker of every converted directory (``--force`` replaces only those).
WRITER = "ernie-m convert"
_NUMPY_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16",
                      np.dtype(np.uint16): "bfloat16"}

#: ``num_choices`` written for a multiple-choice checkpoint that records none (transformers reads the number from
#: the input shape). PaddleNLP's ErnieMForMultipleChoice reshapes its logits to ``[-1, num_choices]`` and inherits
#: ``None`` from its base config, which cannot run; 2 is the default of PaddleNLP's heads that set one (Electra).
PADDLENLP_NUM_CHOICES = 2

TOKENIZER_FILES = (VOCAB_FILE, SENTENCEPIECE_MODEL_FILE)
REMOTE_CODE_DIR = Path(remote_code.__file__).parent
TOKENIZER_CODE_DIR = Path(ernie_m_tokenizer.__file__).parent


def bundled_file(name: str) -> Path:
    """Where the project keeps ``name``, one of :data:`remote_code.FILES`."""
    return (TOKENIZER_CODE_DIR if name in remote_code.TOKENIZER_FILES else REMOTE_CODE_DIR) / name

#: ``mask_semantics`` -> (``attention_mask_mode`` of config.json, ``model_input_names`` of tokenizer_config.json):
#: the two settings that decide what ``model(**tokenizer(texts, padding=True))`` computes. "paddlenlp": the tokenizer
#: returns ``input_ids`` alone and the model masks [CLS] and attends to padding, as PaddleNLP; "transformers": the
#: tokenizer returns the padding mask too, as transformers' models expect.
MASK_SEMANTICS = {
    "paddlenlp": ("paddlenlp", ("input_ids",)),
    "transformers": ("padding", ("input_ids", "attention_mask")),
}

ConfigLike = Union[ErnieMConfig, Mapping[str, object]]
#: ``verify(paddle_dir, torch_dir)`` -> a report with ``ok``, ``max_diff`` and ``atol`` (paddle_ernie_m.verify's).
Verifier = Callable[[Path, Path], Any]


# ---------------------------------------------------------------------------------------------- dtypes

def cast(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` as ``dtype`` ("float32" | "float16" | "bfloat16"); bfloat16 is uint16 bits, rounded to
    nearest even as torch does."""
    if _NUMPY_DTYPE_NAMES.get(array.dtype) == dtype:
        return array
    wide = (array.astype(np.uint32) << 16).view(np.float32) if array.dtype == np.uint16 else array
    if dtype == "float32":
        return wide.astype(np.float32)
    if dtype == "float16":
        return wide.astype(np.float16)
    bits = np.ascontiguousarray(wide, dtype=np.float32).view(np.uint32)
    out = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(wide)
    out[nan] = ((bits[nan] >> 16) | 0x0040).astype(np.uint16)
    return out


def transpose(array: np.ndarray, tile: int = 256) -> np.ndarray:
    """``array.T`` as a new C-ordered array, copied tile by tile (cache-friendly: about 1.4x faster than numpy's
    strided copy on ERNIE-M's 768 x 3072 matrices)."""
    if array.ndim != 2:
        return np.array(array.T, order="C")
    out = np.empty(array.shape[::-1], array.dtype)
    for i in range(0, array.shape[0], tile):
        for j in range(0, array.shape[1], tile):
            out[j:j + tile, i:i + tile] = array[i:i + tile, j:j + tile].T
    return out


def dtype_name(dtype: np.dtype) -> str:
    return _NUMPY_DTYPE_NAMES.get(np.dtype(dtype), str(np.dtype(dtype)))


# ---------------------------------------------------------------------------------------------- state dicts

def canonical_head(name: str) -> str:
    """Our / transformers' class name for ``name`` (PaddleNLP's ``UIEM`` included)."""
    head = HEAD_ALIASES.get(name, name)
    if head not in mapping.HEADS:
        raise ConversionError(f"unsupported architecture {name!r}; supported: {', '.join(mapping.HEADS)} "
                              f"(or {', '.join(HEAD_ALIASES)})")
    return head


def resolve_head(config: ErnieMConfig, arch: Optional[str], names: Sequence[str], source: str, where: str) -> str:
    """The head from ``architectures``, else from ``arch``, else the only head the tensor names fit."""
    wanted = canonical_head(arch) if arch else None
    named = config.architecture
    if named and wanted and named != wanted:
        raise ConversionError(f"{where}: config says {named} but --arch says {arch}")
    if named or wanted:
        return named or wanted
    fits = mapping.fitting_heads(names, source)
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise ConversionError(f"{where}: config names no architecture and the tensors fit several heads "
                              f"({', '.join(fits)}); pass --arch")
    unknown = mapping.first_unknown_tensor(names, source)
    if unknown is not None:
        raise ConversionError(f"{where}: config names no architecture and the tensors fit no ERNIE-M head: "
                              f"'{unknown}' belongs to none (is this an ERNIE-M checkpoint?)")
    raise ConversionError(f"{where}: config names no architecture and the tensors fit no ERNIE-M head exactly "
                          f"(some are missing); pass --arch to see which")


def target_config(config: ErnieMConfig, head: str, shapes: Mapping[str, Sequence[int]], source: str,
                  num_choices: Optional[int] = None) -> ErnieMConfig:
    """The config describing the converted model: the head, the FFN width read from the weights, QA's two
    labels (transformers sizes ``qa_outputs`` by ``num_labels``), PaddleNLP's ``num_choices``."""
    hf_base = source == PADDLE and head in mapping.HF_AS_BASE
    changes: Dict[str, object] = {"architectures": (mapping.BASE if hf_base else head,)}
    width = mapping.infer_intermediate_size(shapes, source)
    if width is not None and width != config.intermediate_size:
        changes["intermediate_size"] = width
    if head == mapping.QA and config.num_labels != 2:
        changes["num_labels"] = 2
    if num_choices is not None:
        changes["num_choices"] = num_choices
    return config.replace(**changes)


def convert_tensors(tensors: Mapping[str, LazyTensor], config: ErnieMConfig, head: str, source: str,
                    dtype: Optional[str] = None, where: str = "checkpoint") -> Tuple[Dict[str, LazyTensor], List[str]]:
    """Rename, transpose, drop and create tensors as the table says; cast to ``dtype`` if given."""
    dims = {
        "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size, "max_position_embeddings": config.max_position_embeddings,
        "num_labels": config.num_labels, "num_hidden_layers": config.num_hidden_layers,
    }
    plan = mapping.plan({k: t.shape for k, t in tensors.items()}, head, dims, source, where)
    notes = [f"ignored legacy buffer {name}" for name in plan.ignored]
    if plan.dropped and head in mapping.HF_AS_BASE:
        notes.append(f"dropped {', '.join(plan.dropped)}: transformers has no ErnieM class with this head "
                     f"({head}); wrote the encoder as ErnieMModel")
    elif plan.dropped:
        notes.append(f"dropped {', '.join(plan.dropped)}: transformers' {head} has no pooler")
    carried = [tensors[step.source].dtype for step in plan.steps if step.source is not None]
    out_dtype = np.dtype(np.uint16 if dtype == "bfloat16" else dtype) if dtype else carried[0]  # for created ones
    out: Dict[str, LazyTensor] = {}
    for step in plan.steps:
        if step.source is None:
            out[step.target] = _initialised(step, config.initializer_range, out_dtype)
            notes.append(f"created {step.target}: transformers' {head} has no pooler; initialised as a new "
                         f"model would (N(0, {config.initializer_range}) weight, zero bias); the head does not use it")
            continue
        tensor = tensors[step.source]
        if step.transform == mapping.TRANSPOSE:
            tensor = tensor.map(transpose, step.shape)
        if dtype and tensor.dtype != out_dtype:
            tensor = tensor.map(lambda a: cast(a, dtype), step.shape, out_dtype)
        out[step.target] = tensor
    return out, notes


def _initialised(step: mapping.Step, std: float, dtype: np.dtype) -> LazyTensor:
    def load() -> np.ndarray:
        if step.target.endswith(".bias"):
            values = np.zeros(step.shape, np.float32)
        else:  # a fixed seed: converting the same checkpoint twice gives the same files
            values = np.random.default_rng(0).normal(0.0, std, step.shape).astype(np.float32)
        return cast(values, dtype_name(dtype))

    return LazyTensor(dtype, step.shape, load)


def _convert_state(state: Mapping[str, np.ndarray], config: ConfigLike, source: str) -> Dict[str, np.ndarray]:
    config = config if isinstance(config, ErnieMConfig) else ErnieMConfig.from_dict(config)
    lazy = {k: formats.as_lazy(v) for k, v in state.items()}
    head = resolve_head(config, None, list(state), source, "state dict")
    config = target_config(config, head, {k: t.shape for k, t in lazy.items()}, source)
    tensors, notes = convert_tensors(lazy, config, head, source, where="state dict")
    for note in notes:
        logger.info(note)
    return {name: t.read() for name, t in tensors.items()}


def paddle_to_torch(state: Mapping[str, np.ndarray], config: ConfigLike) -> Dict[str, np.ndarray]:
    """A PaddleNLP-layout state dict (name -> array) as transformers' ErnieM names and lays it out."""
    return _convert_state(state, config, PADDLE)


def torch_to_paddle(state: Mapping[str, np.ndarray], config: ConfigLike) -> Dict[str, np.ndarray]:
    """A transformers ErnieM state dict (name -> array; bfloat16 as uint16) in PaddleNLP's layout."""
    return _convert_state(state, config, HF)


# ---------------------------------------------------------------------------------------------- configs and tokenizers

def write_config(config: ErnieMConfig, directory: Path, target: str, dtype: str) -> None:
    """``config.json``; for transformers with the ``auto_map`` of the bundled code and ``attention_mask_mode``
    stated even at its default (the bundled code reads it; transformers' own ErnieM ignores it)."""
    if target == PADDLE:
        config.save_pretrained(directory, dialect="paddle")
        return
    data = config.to_hf_dict()
    data["torch_dtype"] = dtype
    data["attention_mask_mode"] = config.attention_mask_mode
    data["auto_map"] = dict(remote_code.AUTO_MAP)
    (directory / "config.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def default_mask_semantics(src: Path) -> str:
    """The ``mask_semantics`` under which the checkpoint in ``src`` was trained, read from its config file: the one
    ``config.json`` states through ``attention_mask_mode``, else "paddlenlp" for a config PaddleNLP wrote (it always
    writes ``paddlenlp_version``; older releases wrote ``model_config.json``), else "transformers" (this project's
    ``save_pretrained`` and trainer, which train with the padding mask, and checkpoints converted from transformers)."""
    path = src / CONFIG_NAME
    if not path.is_file():
        return "paddlenlp" if (src / LEGACY_CONFIG_NAME).is_file() else "transformers"
    data = json.loads(path.read_text(encoding="utf-8"))  # already validated by ErnieMConfig.from_pretrained
    mode = data.get("attention_mask_mode")
    if mode is not None:
        return next(name for name, (mask_mode, _) in MASK_SEMANTICS.items() if mask_mode == mode)
    return "paddlenlp" if "paddlenlp_version" in data else "transformers"


def copy_remote_code(dst: Path, with_tokenizer: bool = True) -> List[str]:
    """Copy the bundled transformers code (:data:`remote_code.FILES`, or only :data:`remote_code.MODEL_FILES`
    for a directory without a tokenizer) into ``dst``."""
    names = remote_code.FILES if with_tokenizer else remote_code.MODEL_FILES
    for name in names:
        shutil.copyfile(bundled_file(name), dst / name)
    return list(names)


def copy_tokenizer(src: Path, dst: Path, source: str, config: ErnieMConfig,
                   model_input_names: Optional[Sequence[str]] = None) -> List[str]:
    """Copy ``vocab.txt`` and ``sentencepiece.bpe.model`` and write ``tokenizer_config.json`` and
    ``special_tokens_map.json`` as paddle_ernie_m's tokenizer does (both ecosystems read them).

    The config keeps the source's settings and records ``compat``, the tokenization the model was trained with:
    the source ecosystem's unless the source says otherwise (the two disagree on stand-alone "▁" pieces, and
    paddle_ernie_m's tokenizer reproduces either). ``model_max_length`` defaults to the position table's size,
    ``model_input_names`` to ``["input_ids"]`` (no attention mask unless asked for, as in both ecosystems).
    Without both vocabulary files nothing is written (a tokenizer config would name a tokenizer that cannot load).
    Tokens a transformers directory adds after its vocabulary (``add_tokens``) become ``vocab.txt`` entries at
    their ids and ``additional_special_tokens`` (kept whole in texts): PaddleNLP 2.8.1 refuses an
    ``added_tokens.json`` whose ids start after vocab.txt rather than after its SentencePiece model.
    """
    copied = [name for name in TOKENIZER_FILES if (src / name).is_file()]
    config_file = src / TOKENIZER_CONFIG_FILE
    if len(copied) < len(TOKENIZER_FILES):  # no usable tokenizer: no tokenizer config naming one either
        return []
    settings = read_tokenizer_config(src)  # validated: a ValueError names the file and key otherwise
    stated = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    if "compat" not in stated:
        settings["compat"] = "paddlenlp" if source == PADDLE else "transformers"
    if not isinstance(stated.get("model_max_length"), int) or stated["model_max_length"] >= NO_LIMIT:
        settings["model_max_length"] = config.max_text_positions
    for name in copied:
        shutil.copyfile(src / name, dst / name)
    if source == HF:  # PaddleNLP 2.8.1 numbers added tokens from its SentencePiece model's size, not vocab.txt's
        vocab = read_vocab(src / VOCAB_FILE)
        added = read_added_tokens(src, len(vocab))
        if added:  # so they become vocab.txt entries at their ids, kept whole as additional special tokens
            (dst / VOCAB_FILE).write_text("".join(t + "\n" for t in vocab + added), encoding="utf-8", newline="\n")
            stated_extra = settings.get("additional_special_tokens", [])
            settings["additional_special_tokens"] = list(dict.fromkeys([*stated_extra, *added]))
    names = model_input_names or stated.get("model_input_names", MODEL_INPUT_NAMES)  # validated when read
    written = write_tokenizer_config(dst, **settings, model_input_names=names, bundled_code=source == PADDLE,
                                     force=True)
    return copied + [p.name for p in written]


# ---------------------------------------------------------------------------------------------- directories

@dataclass
class Summary:
    """What :func:`convert_checkpoint` did."""

    direction: str
    src: Path
    dst: Path
    head: str
    files: List[str]
    tensors: int
    parameters: int
    bytes: int
    seconds: float
    notes: List[str]
    verification: Optional[object] = None  # the verifier's report when one was given

    def __str__(self) -> str:
        lines = [
            f"{self.direction}: {self.src} -> {self.dst}",
            f"  architecture  {self.head}",
            f"  tensors       {self.tensors}",
            f"  parameters    {self.parameters:,}",
            f"  bytes         {self.bytes:,} ({self.bytes / 1e9:.2f} GB)",
            f"  time          {self.seconds:.2f} s",
            f"  files         {', '.join(self.files)}",
        ]
        lines += [f"  note          {note}" for note in self.notes]
        return "\n".join(lines)


def _read_source(src: Path, source: str) -> Tuple[Dict[str, LazyTensor], Path]:
    own, other = ((formats.PADDLE_CANDIDATES, formats.TORCH_CANDIDATES) if source == PADDLE
                  else (formats.TORCH_CANDIDATES, formats.PADDLE_CANDIDATES))
    hint = "torch2paddle" if source == PADDLE else "paddle2torch"
    try:
        file = formats.find_weights(src, own)
    except CheckpointError:
        found = [name for name in other if (src / name).is_file()]
        if found:
            raise ConversionError(f"{src}: holds {found[0]}, not a {_side_name(source)} checkpoint; "
                                  f"use {hint}") from None
        raise
    tensors, metadata = formats.read_weights_file(file)
    fmt = metadata.get("format")
    if fmt is not None and (fmt == "pt") != (source == HF):
        raise ConversionError(f"{file}: a {'transformers' if fmt == 'pt' else 'Paddle'} safetensors file "
                              f"(format {fmt!r}); use {hint}")
    return tensors, file


def _side_name(side: str) -> str:
    return "Paddle" if side == PADDLE else "transformers"


def convert_checkpoint(
    src: PathLike,
    dst: PathLike,
    direction: str,
    arch: Optional[str] = None,
    dtype: Optional[str] = None,
    fmt: Optional[str] = None,
    max_shard_size: Union[int, str, None] = None,
    num_choices: Optional[int] = None,
    mask_semantics: Optional[str] = None,
    force: bool = False,
    verify: Optional[Verifier] = None,
    progress: Optional[bool] = None,
) -> Summary:
    """Convert the checkpoint directory ``src`` into ``dst`` (written atomically; nothing is left on error).

    Args:
        direction: "paddle2torch" or "torch2paddle".
        arch: the head when the config names none (our, transformers' or PaddleNLP's class name).
        dtype: cast every tensor to "float32", "float16" or "bfloat16"; default keeps each tensor's dtype.
        fmt: output format: "safetensors" (default) or "bin" for torch; "pdparams" (default) or "safetensors"
            for Paddle.
        max_shard_size: shard the weights above this size (e.g. "2GB"), named as both ecosystems name shards.
        num_choices: written into a Paddle multiple-choice config (PaddleNLP's class needs it); default: the
            source config's, else :data:`PADDLENLP_NUM_CHOICES` (with a note).
        mask_semantics: paddle2torch: "paddlenlp" or "transformers" (see :data:`MASK_SEMANTICS`), written into
            ``config.json`` and ``tokenizer_config.json``; default :func:`default_mask_semantics`.
        force: replace an existing ``dst`` that an earlier conversion wrote (or an empty directory).
        verify: called with the Paddle and the transformers directory (source and result) before ``dst``
            appears, e.g. ``paddle_ernie_m.verify.verify_dirs`` (which runs both frameworks; this package needs
            neither); a report that is not ``ok`` is a :class:`VerificationError`.
        progress: show a progress bar over tensors (default: for checkpoints above 100 MB, on a terminal).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; use {' or '.join(DIRECTIONS)}")
    source, target = DIRECTIONS[direction]
    fmt = fmt or OUTPUT_FORMATS[target][0]
    if fmt not in OUTPUT_FORMATS[target]:
        raise ValueError(f"output format {fmt!r} is not one of {', '.join(OUTPUT_FORMATS[target])} for {direction}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if arch is not None:
        canonical_head(arch)
    if max_shard_size is not None:
        formats.parse_size(max_shard_size)
    src, dst = Path(src), Path(dst)
    if num_choices is not None and (target != PADDLE or num_choices < 1):
        raise ValueError("num_choices applies to torch2paddle only and must be positive")
    if mask_semantics is not None and (target != HF or mask_semantics not in MASK_SEMANTICS):
        raise ValueError(f"mask_semantics applies to paddle2torch only and must be one of "
                         f"{', '.join(MASK_SEMANTICS)}, got {mask_semantics!r}")
    start = time.perf_counter()
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such directory")
    if not src.is_dir():
        raise ConversionError(f"{src}: not a directory (SRC is a checkpoint directory)")
    with atomic_directory(dst, WRITER, force=force, inputs=(src,)) as tmp:
        config = ErnieMConfig.from_pretrained(src)
        tensors, file = _read_source(src, source)
        shapes = {k: t.shape for k, t in tensors.items()}
        head = resolve_head(config, arch, list(tensors), source, str(src))
        unknown_choices = head == mapping.CHOICE and target == PADDLE and (num_choices or config.num_choices) is None
        if unknown_choices:
            num_choices = PADDLENLP_NUM_CHOICES
        config = target_config(config, head, shapes, source, num_choices)
        input_names = None
        if target == HF:
            mask_mode, input_names = MASK_SEMANTICS[mask_semantics or default_mask_semantics(src)]
            config = config.replace(attention_mask_mode=mask_mode)
        out, notes = convert_tensors(tensors, config, head, source, dtype, where=str(file))
        if target == PADDLE and config.intermediate_size != 4 * config.hidden_size:
            notes.append(f"intermediate_size is {config.intermediate_size}: PaddleNLP's ErnieM always builds "
                         f"4 * hidden_size = {4 * config.hidden_size}, so only paddle_ernie_m loads this checkpoint")
        if unknown_choices:
            notes.append(f"num_choices: the checkpoint records none (transformers reads it from the input shape); "
                         f"wrote {PADDLENLP_NUM_CHOICES}, since PaddleNLP's ErnieMForMultipleChoice reshapes its "
                         f"logits to [-1, num_choices]: pass --num-choices N for inputs with N choices "
                         f"(paddle_ernie_m reads the input shape)")
        total = sum(t.nbytes for t in out.values())
        out_dtype = dtype_name(next(iter(out.values())).dtype)
        written = _write(out, tmp, target, fmt, max_shard_size, total, progress)
        write_config(config, tmp, target, out_dtype)
        tokenizer_files = copy_tokenizer(src, tmp, source, config, input_names)
        files = [p.name for p in written] + ["config.json"] + tokenizer_files
        if not tokenizer_files:
            missing = " and ".join(name for name in TOKENIZER_FILES if not (src / name).is_file())
            notes.append(f"no tokenizer: {src} has no {missing}; wrote the model only (add "
                         f"{' and '.join(TOKENIZER_FILES)} to {dst} for a tokenizer)")
        if target == HF:
            files += copy_remote_code(tmp, with_tokenizer=bool(tokenizer_files))
            if config.attention_mask_mode == "paddlenlp":
                notes.append("attention_mask_mode paddlenlp: on transformers 4.x pass trust_remote_code=True for "
                             "PaddleNLP's outputs (without it, transformers' own ErnieM hides [PAD] instead)")
        report = None
        if verify is not None:
            paddle_dir, torch_dir = (src, tmp) if source == PADDLE else (tmp, src)
            report = verify(paddle_dir, torch_dir)
            if not report.ok:
                raise VerificationError(f"verification failed (max abs diff {report.max_diff:.3e}, tolerance "
                                        f"{report.atol:g}); {dst} not written", report)
    return Summary(direction, src, dst, head, files, len(out), sum(int(np.prod(t.shape)) for t in out.values()),
                   total, time.perf_counter() - start, notes, report)


def _write(tensors: Dict[str, LazyTensor], directory: Path, target: str, fmt: str,
           max_shard_size: Union[int, str, None], total: int, progress: Optional[bool]) -> List[Path]:
    side = "torch" if target == HF else "paddle"
    if not (progress or (progress is None and total > 100 * 2**20 and sys.stderr.isatty())):
        return formats.save_state(tensors, directory, side, fmt, max_shard_size)
    from tqdm import tqdm

    with tqdm(total=len(tensors), unit="tensor", desc="converting", leave=False) as bar:
        return formats.save_state(tensors, directory, side, fmt, max_shard_size, progress=lambda _name: bar.update())
