"""Helpers for the converter tests: tiny random models of every head in PaddleNLP, ours and transformers, a tiny
SentencePiece tokenizer, a padded multilingual batch, and the outputs of each implementation as numpy."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np

from .conftest import TINY

TOKENIZER_FIXTURE = Path(__file__).parent / "fixtures" / "tiny_tokenizer"
#: TINY shapes with the fixture tokenizer's vocabulary
SHAPE = dict(TINY, vocab_size=sum(1 for _ in open(TOKENIZER_FIXTURE / "vocab.txt", encoding="utf-8")))

#: (our / transformers class, PaddleNLP class)
HEADS = [
    ("ErnieMModel", "ErnieMModel"),
    ("ErnieMForSequenceClassification", "ErnieMForSequenceClassification"),
    ("ErnieMForMultipleChoice", "ErnieMForMultipleChoice"),
    ("ErnieMForTokenClassification", "ErnieMForTokenClassification"),
    ("ErnieMForQuestionAnswering", "ErnieMForQuestionAnswering"),
    ("ErnieMForInformationExtraction", "UIEM"),
]
HEAD_NAMES = [h for h, _ in HEADS]
PADDLENLP_NAME = dict(HEADS)

TEXTS = [
    "Hello world, this is a test.",
    "Bonjour le monde, énergie électrique.",
    "你好世界，这是一个测试。",
    "Привет мир, это тест.",
    "¡Hola mundo!",
    "Hallo Welt",
]
NUM_LABELS = 3
NUM_CHOICES = 2


def write_tokenizer(directory: Path, ecosystem: str = "paddle") -> None:
    """The fixture tokenizer saved by PaddleNLP's or transformers' ``ErnieMTokenizer.save_pretrained``."""
    vocab, sp = str(TOKENIZER_FIXTURE / "vocab.txt"), str(TOKENIZER_FIXTURE / "sentencepiece.bpe.model")
    if ecosystem == "paddle":
        from paddlenlp.transformers import ErnieMTokenizer

        ErnieMTokenizer(vocab, sp).save_pretrained(str(directory))
    else:
        from transformers import ErnieMTokenizer

        ErnieMTokenizer(sentencepiece_model_ckpt=sp, vocab_file=vocab).save_pretrained(str(directory))


def batch(tokenizer_dir: Path, head: str, num_choices: int = NUM_CHOICES):
    """Ids of :data:`TEXTS` padded with [PAD] (transformers' tokenizer) and the padding keep-mask; multiple
    choice gets ``[6 / num_choices, num_choices, seq]``."""
    from transformers import ErnieMTokenizer

    tokenizer = ErnieMTokenizer.from_pretrained(str(tokenizer_dir))
    ids = np.asarray(tokenizer(TEXTS, padding=True)["input_ids"], dtype=np.int64)
    assert (ids == SHAPE["pad_token_id"]).any() and ids.max() < SHAPE["vocab_size"]
    mask = (ids != SHAPE["pad_token_id"]).astype(np.int64)
    if head == "ErnieMForMultipleChoice":
        ids, mask = ids.reshape(-1, num_choices, ids.shape[1]), mask.reshape(-1, num_choices, ids.shape[1])
    return ids, mask


def _random_values(shape, name: str, rng: np.random.Generator) -> np.ndarray:
    """Random everywhere (LayerNorm and biases too), so that any swapped or untransposed tensor shows up."""
    if "norm" in name and name.endswith("weight"):
        return (1.0 + rng.normal(0, 0.1, shape)).astype(np.float32)
    return rng.normal(0, 0.05, shape).astype(np.float32)


def paddlenlp_checkpoint(directory: Path, head: str, seed: int = 0, dtype: str = "float32",
                         num_choices: int = NUM_CHOICES) -> Path:
    """A random PaddleNLP model of ``head`` saved with PaddleNLP's save_pretrained, plus tokenizer files."""
    import paddle
    import paddlenlp.transformers as P

    config = P.ErnieMConfig(**SHAPE, intermediate_size=3072, num_labels=NUM_LABELS, num_choices=num_choices,
                            dropout=0.15)
    model = getattr(P, PADDLENLP_NAME[head])(config)
    rng = np.random.default_rng(seed)
    for name, param in model.named_parameters():
        param.set_value(paddle.to_tensor(_random_values(param.shape, name, rng)))
    if dtype != "float32":
        model.to(dtype=dtype)
    model.save_pretrained(str(directory))
    write_tokenizer(directory)
    return directory


def ours_checkpoint(directory: Path, head: str, seed: int = 0) -> Path:
    """A random model of our class saved with our save_pretrained, plus tokenizer files."""
    import paddle
    import paddle_ernie_m
    from converters.configuration import ErnieMConfig

    config = ErnieMConfig(**SHAPE, num_labels=NUM_LABELS, classifier_dropout=0.15)
    model = getattr(paddle_ernie_m, head)(config)
    rng = np.random.default_rng(seed)
    for name, param in model.named_parameters():
        param.set_value(paddle.to_tensor(_random_values(param.shape, name, rng)))
    model.save_pretrained(directory)
    write_tokenizer(directory)
    return directory


def hf_checkpoint(directory: Path, head: str, seed: int = 0, safe: bool = True, dtype: str = "float32",
                  intermediate_size: int = 4 * SHAPE["hidden_size"]) -> Path:
    """A random transformers model of ``head`` saved with transformers' save_pretrained, plus tokenizer files.
    (PaddleNLP can only build ``intermediate_size == 4 * hidden_size``.)"""
    import torch
    import transformers

    config = transformers.ErnieMConfig(**SHAPE, intermediate_size=intermediate_size, num_labels=2 if "Question" in head
                                       else NUM_LABELS, classifier_dropout=0.15, layer_norm_eps=1e-5)
    model = getattr(transformers, head)(config)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.from_numpy(_random_values(tuple(param.shape), name, rng)))
    model.to(getattr(torch, dtype))
    model.save_pretrained(str(directory), safe_serialization=safe)
    write_tokenizer(directory, "torch")
    return directory


def paddlenlp_model(directory: Path, head: str):
    """PaddleNLP 2.8.1's class of ``head`` loaded from a converted directory, asserting that the weights file
    holds exactly that class's tensors (nothing missing, nothing unexpected)."""
    import paddle
    import paddlenlp.transformers as P

    model = getattr(P, PADDLENLP_NAME[head]).from_pretrained(str(directory))
    model.eval()
    files = sorted(directory.glob("model_state*.pdparams"))
    saved = {k for f in files for k in paddle.load(str(f), return_numpy=True)}
    assert saved == set(model.state_dict())
    return model


def run_paddle(model, head: str, ids: np.ndarray, mask: np.ndarray) -> List[np.ndarray]:
    """The head's outputs from a Paddle model (PaddleNLP's or ours); UIE gives probabilities."""
    import paddle

    ours = type(model).__module__.startswith("paddle_ernie_m")  # PaddleNLP returns tuples by default
    with paddle.no_grad():
        kwargs = {"return_dict": False} if ours else {}
        out = model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(mask), **kwargs)
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [t.numpy() for t in out[: _count(head)]]


TORCH_OUTPUTS = {"ErnieMModel": ("last_hidden_state", "pooler_output"),
                 "ErnieMForQuestionAnswering": ("start_logits", "end_logits"),
                 "ErnieMForInformationExtraction": ("start_logits", "end_logits")}


def run_torch(model, head: str, ids: np.ndarray, mask: np.ndarray) -> List[np.ndarray]:
    """The head's outputs from a transformers model; UIE logits go through a sigmoid as PaddleNLP's UIEM does.
    (transformers' ErnieMForInformationExtraction fails with return_dict=False: named outputs are used.)"""
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    tensors = [getattr(out, name).float() for name in TORCH_OUTPUTS.get(head, ("logits",))]
    if head == "ErnieMForInformationExtraction":
        tensors = [torch.sigmoid(t) for t in tensors]
    return [t.numpy() for t in tensors]


def _count(head: str) -> int:
    return len(TORCH_OUTPUTS.get(head, ("logits",)))


def assert_close(a: List[np.ndarray], b: List[np.ndarray], atol: float = 1e-5) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def state_of(directory: Path) -> Dict[str, np.ndarray]:
    """Tensors of a transformers checkpoint directory, read by safetensors/torch (independent of our reader),
    as numpy (bfloat16 as its uint16 bits)."""
    import torch

    if (directory / "model.safetensors").is_file() or (directory / "model.safetensors.index.json").is_file():
        from safetensors.torch import load_file

        files = sorted(directory.glob("model*.safetensors"))
        state = {k: v for f in files for k, v in load_file(f).items()}
    else:
        files = sorted(directory.glob("pytorch_model*.bin"))
        state = {k: v for f in files for k, v in torch.load(f, weights_only=True).items()}
    return {k: (v.view(torch.int16).numpy().view(np.uint16) if v.dtype == torch.bfloat16 else v.numpy())
            for k, v in state.items()}
