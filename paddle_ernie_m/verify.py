"""Run a checkpoint with our Paddle classes and one with transformers on the same batch and compare.

Either directory may be in either layout (:mod:`converters.checkpoint`): a transformers directory runs in transformers
as it is; a Paddle one runs in the bundled transformers code with its weights mapped in memory.

Needs paddle, torch and transformers (4.x or 5.x); they are imported only when :func:`verify_dirs` runs. Also
``ernie-m verify`` and the ``--verify`` option of ``ernie-m convert`` (:func:`register`). Both models run in
float32, three ways:

* ``padding``: an explicit padding mask, with transformers' own ErnieM class where it has one (4.32-4.57), else the
  bundled code of :mod:`converters.remote_code` (this project's files, never the copies inside ``TORCH_DIR``);
* ``default``: no mask passed, with the bundled code, which applies the mask the directory's ``config.json``
  states (``attention_mask_mode``: ``paddlenlp`` for a PaddleNLP checkpoint), against the Paddle model in that
  mode (``paddlenlp``: PaddleNLP's own default): what ``model(**tokenizer(texts, padding=True))`` computes with
  ``trust_remote_code=True`` on each side;
* UIE models also under the mask PaddleNLP applies by default (``[CLS]`` masked, padding attended), passed
  explicitly.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from converters import cli as converters_cli, mapping
from converters.checkpoint import read_checkpoint, weights_layout
from converters.configuration import ErnieMConfig
from converters.tensors import canonical_head
from converters.errors import ConversionError
from converters.formats import PathLike

#: A fixed multilingual batch: Latin scripts with accents, CJK, Cyrillic, full-width forms, symbols.
TEXTS = (
    "ERNIE-M understands 96 languages.",
    "Le modèle comprend l'énergie électrique.",
    "你好，世界！这是一个测试。",
    "Привет, мир! Это проверка.",
    "¡Hola! ¿Qué tal?",
    "x ★ ＡＢＣ１２３ and énergie",
)

#: Fields of our outputs that are not compared as outputs (the hidden states are compared layer by layer).
NOT_COMPARED = ("loss", "hidden_states", "attentions")


@dataclass
class Report:
    """Max abs difference per (output, mask), and whether all are within ``atol``."""

    head: str
    batch: str
    atol: float
    rows: List[Tuple[str, str, float]] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    @property
    def max_diff(self) -> float:
        return max((d for _, _, d in self.rows), default=float("nan"))

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.rows) and all(d <= self.atol for _, _, d in self.rows)

    def __str__(self) -> str:
        width = max((len(name) for name, _, _ in self.rows), default=10)
        lines = [f"verify {self.head} on {self.batch} (float32, tolerance {self.atol:g})",
                 f"  {'output':<{width}}  {'mask':<9}  max abs diff"]
        lines += [f"  {name:<{width}}  {mask:<9}  {diff:.3e}{'' if diff <= self.atol else '  FAIL'}"
                  for name, mask, diff in self.rows]
        lines += [f"  problem: {p}" for p in self.problems]
        lines.append(f"  {'OK' if self.ok else 'FAILED'}: max abs diff {self.max_diff:.3e}")
        return "\n".join(lines)


def fixed_batch(config: ErnieMConfig, tokenizer_dir: Optional[Path]) -> Tuple[np.ndarray, str]:
    """Ids ``[6, seq]`` of :data:`TEXTS`, padded with ``pad_token_id``; synthetic ids shaped the same way when
    ``tokenizer_dir`` holds no tokenizer (``[CLS]`` = 0 first, ``[SEP]`` = 2 last, lengths differ)."""
    max_len = min(32, config.max_text_positions)
    if tokenizer_dir is not None and (tokenizer_dir / "sentencepiece.bpe.model").is_file():
        from .tokenizer import ErnieMTokenizer

        tokenizer = ErnieMTokenizer.from_pretrained(tokenizer_dir)  # the ids the directory's compat says
        rows = [tokenizer(text, truncation=True, max_length=max_len)["input_ids"] for text in TEXTS]
        source = f"the multilingual batch (tokenizer compat {tokenizer.compat!r})"
    else:
        rng = np.random.default_rng(0)
        lengths = [max(3, max_len - 4 * i) for i in range(len(TEXTS))]
        rows = [[0, *rng.integers(4, config.vocab_size, n - 2).tolist(), 2] for n in lengths]
        source = "a synthetic padded batch (no tokenizer)"
    seq = max(len(r) for r in rows)
    ids = np.full((len(rows), seq), config.pad_token_id, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    if ids.max() >= config.vocab_size:
        raise ConversionError(f"{tokenizer_dir}: tokenizer ids exceed the model's vocab_size {config.vocab_size}")
    return ids, source


def verify_dirs(paddle_dir: PathLike, torch_dir: PathLike, atol: float = 1e-4, arch: Optional[str] = None) -> Report:
    """Load ``paddle_dir`` with our Paddle classes and ``torch_dir`` with transformers, run both on the fixed
    batch, and report the max abs difference of every output and every layer's hidden states."""
    try:
        import paddle
        import torch
        import transformers

        import paddle_ernie_m
    except ImportError as exc:
        raise ConversionError(f"verification needs paddle, torch and transformers: {exc}") from None

    from .torch_loading import load_bundled_model

    paddle_dir, torch_dir = Path(paddle_dir), Path(torch_dir)
    config = ErnieMConfig.from_pretrained(paddle_dir)
    head = config.architecture or (canonical_head(arch) if arch else None) or mapping.BASE
    ids, batch = fixed_batch(config, torch_dir)
    report = Report(head, batch, atol)

    from converters.remote_code import modeling_ernie_m as bundled

    ours = getattr(paddle_ernie_m, head).from_pretrained(paddle_dir, dtype="float32")
    mode = read_checkpoint(torch_dir, mapping.HF).config.attention_mask_mode
    ours_default = ours if mode == ours.config.attention_mask_mode else getattr(paddle_ernie_m, head).from_pretrained(
        paddle_dir, dtype="float32", attention_mask_mode=mode)
    loaded = {}
    if weights_layout(torch_dir) == mapping.PADDLE:  # only the bundled code reads it (mapped in memory)
        loaded["bundled"] = load_bundled_model(torch_dir, head)
    else:
        models = {"bundled": getattr(bundled, head)}
        if hasattr(transformers, head):  # transformers 4.32-4.57
            models["transformers"] = getattr(transformers, head)
        for name, cls in models.items():
            dtype = {"dtype" if hasattr(transformers.PretrainedConfig(), "dtype") else "torch_dtype": torch.float32}
            model, info = cls.from_pretrained(str(torch_dir), output_loading_info=True, **dtype)
            for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
                if info.get(kind):
                    report.problems.append(f"{name} code reports {kind.replace('_', ' ')}: {info[kind]}")
            loaded[name] = model.eval()
    explicit = loaded.get("transformers", loaded["bundled"])

    runs = [("padding", ids != config.pad_token_id, ours, explicit), ("default", None, ours_default, loaded["bundled"])]
    if head == mapping.UIE:  # PaddleNLP's default, passed explicitly: [CLS] (id 0) masked, padding attended
        runs.append(("paddlenlp", ids != 0, ours, explicit))
    for mask_name, mask, mine, theirs in runs:
        inputs, keep = ids, None if mask is None else mask.astype(np.int64)
        if head == mapping.CHOICE:  # [batch, choices, seq]
            inputs = inputs.reshape(-1, 2, ids.shape[1])
            keep = None if keep is None else keep.reshape(-1, 2, ids.shape[1])
        with paddle.no_grad():
            a = mine(paddle.to_tensor(inputs), attention_mask=None if keep is None else paddle.to_tensor(keep),
                     output_hidden_states=True, return_dict=True)
        with torch.no_grad():
            b = theirs(input_ids=torch.from_numpy(inputs),
                       attention_mask=None if keep is None else torch.from_numpy(keep), output_hidden_states=True)
        for name, x, y in _pairs(head, a, b, torch):
            report.rows.append((name, mask_name, float(np.max(np.abs(x.astype(np.float64) - y)))))
    return report


def _pairs(head: str, ours, theirs, torch):
    def hf(name: str) -> np.ndarray:
        if name.endswith("_prob"):
            return torch.sigmoid(getattr(theirs, name.replace("_prob", "_logits"))).numpy()
        return getattr(theirs, name).numpy()

    for name in (f.name for f in dataclasses.fields(ours) if f.name not in NOT_COMPARED):
        if getattr(ours, name) is not None:  # every output tensor of our head (*_prob: sigmoid of their logits)
            yield name, getattr(ours, name).numpy(), hf(name)
    for i, (x, y) in enumerate(zip(ours.hidden_states, theirs.hidden_states)):
        yield ("hidden_states[0] embeddings" if i == 0 else f"hidden_states[{i}] layer {i}"), x.numpy(), y.numpy()
    if len(ours.hidden_states) != len(theirs.hidden_states):
        raise ConversionError(f"hidden states: {len(ours.hidden_states)} layers in Paddle, "
                              f"{len(theirs.hidden_states)} in transformers")


# ---------------------------------------------------------------------------------------------- command line

def register(subparsers) -> None:
    """``ernie-m convert`` (the converters' commands, with ``--verify`` running :func:`verify_dirs`) and
    ``ernie-m verify``."""
    converters_cli.register(subparsers, verify=verify_dirs)
    p = subparsers.add_parser(
        "verify", help="compare a Paddle and a transformers checkpoint on a fixed multilingual batch",
        description="Run PADDLE_DIR with our Paddle classes and TORCH_DIR with transformers on a fixed padded "
                    "multilingual batch; print the max abs difference of every output and layer; exit 1 above "
                    "the tolerance.")
    p.add_argument("paddle_dir", metavar="PADDLE_DIR", help="checkpoint directory, either layout (run with our Paddle "
                                                           "classes)")
    p.add_argument("torch_dir", metavar="TORCH_DIR", help="checkpoint directory, either layout (run in transformers; "
                                                         "a Paddle-layout one in the bundled code)")
    p.add_argument("--arch", help="head when the Paddle config names none")
    p.add_argument("--atol", type=float, default=converters_cli.ATOL,
                   help=f"tolerance on max abs difference (default {converters_cli.ATOL:g})")
    p.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    report = verify_dirs(args.paddle_dir, args.torch_dir, atol=args.atol, arch=args.arch)
    print(report)
    return 0 if report.ok else 1
