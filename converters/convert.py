"""Paddle <-> transformers conversion of ERNIE-M checkpoint directories: configs, tokenizers, weights.

:func:`convert_checkpoint` reads a directory through :mod:`.checkpoint`, maps its tensors with :mod:`.tensors`
(``paddle_to_torch`` / ``torch_to_paddle`` there work on name -> numpy array dicts), streams them from file to file
and writes the result atomically.
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

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

from . import formats, mapping, remote_code, safe_json
from .checkpoint import LAYOUT_COMPAT, LAYOUT_NAMES, MASK_SEMANTICS, default_mask_semantics, read_files
from .configuration import ErnieMConfig
from .errors import ConversionError, VerificationError
from .files import atomic_directory, check_links_inside
from .formats import LazyTensor, PathLike, TensorLike
from .mapping import HF, PADDLE
from .tensors import DTYPES, canonical_head, convert_tensors, dtype_name, resolve_head, target_config
from .tokenizer_files import (read_tokenizer_config, read_tokenizer_extras, read_tokens_after_vocab,
                              write_tokenizer_config)

logger = logging.getLogger(__name__)

#: direction -> (source side, target side)
DIRECTIONS = {"paddle2torch": (PADDLE, HF), "torch2paddle": (HF, PADDLE)}
#: output formats per target side; the first is the default
OUTPUT_FORMATS = {HF: ("safetensors", "bin"), PADDLE: ("pdparams", "safetensors")}
#: The writer named in the marker of every converted directory (``--force`` replaces only those).
WRITER = "ernie-m convert"

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


#: ``verify(paddle_dir, torch_dir)`` -> a report with ``ok``, ``max_diff`` and ``atol`` (paddle_ernie_m.verify's).
Verifier = Callable[[Path, Path], Any]


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
    Tokens the source adds after its vocabulary (``add_tokens``, in either ecosystem) become ``vocab.txt`` entries
    at their ids and ``additional_special_tokens`` (kept whole in texts), which every tokenizer reads alike:
    PaddleNLP 2.8.1 refuses an ``added_tokens.json`` whose ids start after vocab.txt rather than after its
    SentencePiece model.
    """
    copied = [name for name in TOKENIZER_FILES if (src / name).is_file()]
    config_file = src / TOKENIZER_CONFIG_FILE
    if len(copied) < len(TOKENIZER_FILES):  # no usable tokenizer: no tokenizer config naming one either
        return []
    settings = read_tokenizer_config(src)  # validated: a ValueError names the file and key otherwise
    stated = safe_json.loads(config_file.read_text(encoding="utf-8"), str(config_file)) if config_file.is_file() else {}
    if "compat" not in stated:
        settings["compat"] = LAYOUT_COMPAT[source]
    if not isinstance(stated.get("model_max_length"), int) or stated["model_max_length"] >= NO_LIMIT:
        settings["model_max_length"] = config.max_text_positions
    for name in copied:
        shutil.copyfile(src / name, dst / name)
    extra = {}
    vocab = read_vocab(src / VOCAB_FILE)
    added = read_tokens_after_vocab(src, len(vocab))
    if added:  # vocab.txt entries at their ids, kept whole as additional special tokens
        (dst / VOCAB_FILE).write_text("".join(t + "\n" for t in vocab + added), encoding="utf-8", newline="\n")
        stated_extra = [t.get("content") if isinstance(t, dict) else t
                        for t in stated.get("additional_special_tokens") or []]
        extra["additional_special_tokens"] = list(dict.fromkeys([*stated_extra, *added]))
    names = model_input_names or stated.get("model_input_names", MODEL_INPUT_NAMES)  # validated when read
    written = write_tokenizer_config(dst, **settings, model_input_names=names, bundled_code=source == PADDLE,
                                     force=True, extra=extra)
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
    follow_symlinks: bool = False,
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
        follow_symlinks: copy tokenizer files that are symbolic links leading outside ``src`` (refused by default:
            :func:`~converters.files.check_links_inside`).
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
    check_links_inside(src, TOKENIZER_FILES, follow_symlinks)
    with atomic_directory(dst, WRITER, force=force, inputs=(src,)) as tmp:
        config, tensors, file, layout = read_files(src)
        if layout != source:
            other = "torch2paddle" if layout == HF else "paddle2torch"
            raise ConversionError(f"{src}: a {LAYOUT_NAMES[layout]} checkpoint ({file.name}), not a "
                                  f"{LAYOUT_NAMES[source]} one; use {other}")
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


def save_transformers_layout(state: Mapping[str, TensorLike], config: ErnieMConfig, directory: PathLike) -> List[str]:
    """Write a Paddle model's state dict (Paddle names and layout) and config into the existing ``directory`` in
    transformers' layout, as ``ernie-m convert paddle2torch`` writes it: ``model.safetensors``, ``config.json``
    (the model's ``attention_mask_mode`` stated) and the bundled code (tokenizer code too when ``directory`` holds
    ``vocab.txt`` and ``sentencepiece.bpe.model``, whose ``tokenizer_config.json`` then names it). Returns the
    names written."""
    directory = Path(directory)
    tensors = {name: formats.as_lazy(tensor) for name, tensor in state.items()}
    head = config.architecture or mapping.BASE
    config = target_config(config, head, {k: t.shape for k, t in tensors.items()}, PADDLE)
    out, _ = convert_tensors(tensors, config, head, PADDLE, where=str(directory))
    written = formats.save_state(out, directory, "torch", "safetensors")
    write_config(config, directory, HF, dtype_name(next(iter(out.values())).dtype))
    with_tokenizer = all((directory / name).is_file() for name in TOKENIZER_FILES)
    if with_tokenizer:
        extra = read_tokenizer_extras(directory)  # padding side, model_input_names, ... as the tokenizer saved them
        names = extra.pop("model_input_names", MODEL_INPUT_NAMES)
        write_tokenizer_config(directory, **read_tokenizer_config(directory), model_input_names=names, extra=extra,
                               bundled_code=True, force=True)
    return [p.name for p in written] + ["config.json"] + copy_remote_code(directory, with_tokenizer)


def _write(tensors: Dict[str, LazyTensor], directory: Path, target: str, fmt: str,
           max_shard_size: Union[int, str, None], total: int, progress: Optional[bool]) -> List[Path]:
    side = "torch" if target == HF else "paddle"
    if not (progress or (progress is None and total > 100 * 2**20 and sys.stderr.isatty())):
        return formats.save_state(tensors, directory, side, fmt, max_shard_size)
    from tqdm import tqdm

    with tqdm(total=len(tensors), unit="tensor", desc="converting", leave=False) as bar:
        return formats.save_state(tensors, directory, side, fmt, max_shard_size, progress=lambda _name: bar.update())
