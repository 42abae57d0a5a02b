"""Cross-lingual sentence retrieval: how well an encoder aligns translations without any fine-tuning.

Each sentence is encoded alone as ``[CLS] x [SEP]``; its embedding is the mean of the last hidden states over
the sentence's own tokens (``[CLS]`` / ``[SEP]`` left out). For held-out pairs ``(a_i, b_i)``, a retrieval is
right when ``b_i`` is the cosine nearest neighbour of ``a_i`` among all ``b`` (and the reverse); the accuracy
is the mean of both directions. ``centered`` first subtracts each language's mean embedding, which removes
a constant offset between the languages' embedding clouds.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np
import paddle
import paddle.nn as nn

from .collator import SpecialTokens

__all__ = ["sentence_embeddings", "retrieval_accuracy", "cross_lingual_retrieval"]


def sentence_embeddings(model: nn.Layer, sentences: Sequence[Sequence[int]], special: SpecialTokens,
                        batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """``[n, hidden]`` float32 mean-pooled last hidden states; ``model`` is an ``ErnieMModel`` or any model
    with one as ``ernie_m``."""
    encoder = getattr(model, "ernie_m", model)
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        with paddle.no_grad():
            for start in range(0, len(sentences), batch_size):
                chunk = [list(s)[: max_length - 2] for s in sentences[start:start + batch_size]]
                width = max(len(s) for s in chunk) + 2
                ids = np.full((len(chunk), width), special.pad, dtype=np.int64)
                keep = np.zeros((len(chunk), width), dtype=np.int64)
                for i, s in enumerate(chunk):
                    ids[i, : len(s) + 2] = [special.cls, *s, special.sep]
                    keep[i, : len(s) + 2] = 1
                hidden = encoder(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(keep), return_dict=True).last_hidden_state
                hidden = hidden.astype("float32").numpy()
                for i, s in enumerate(chunk):
                    out.append(hidden[i, 1: len(s) + 1].mean(axis=0))
    finally:
        if was_training:
            encoder.train()
    return np.stack(out).astype(np.float32)


def retrieval_accuracy(a: np.ndarray, b: np.ndarray, centered: bool = False) -> float:
    """Top-1 cosine retrieval accuracy between row-aligned embeddings ``a`` and ``b``, both directions averaged."""
    if a.shape != b.shape:
        raise ValueError(f"embeddings differ in shape: {a.shape} vs {b.shape}")
    if centered:
        a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    similarity = a @ b.T
    truth = np.arange(len(a))
    return float(((similarity.argmax(axis=1) == truth).mean() + (similarity.argmax(axis=0) == truth).mean()) / 2)


def cross_lingual_retrieval(model: nn.Layer, pairs: Sequence[Tuple[Sequence[int], Sequence[int]]],
                            special: SpecialTokens, batch_size: int = 64) -> Dict[str, float]:
    """``{"retrieval_accuracy", "retrieval_accuracy_centered"}`` over held-out token-id pairs."""
    a = sentence_embeddings(model, [p[0] for p in pairs], special, batch_size)
    b = sentence_embeddings(model, [p[1] for p in pairs], special, batch_size)
    return {"retrieval_accuracy": retrieval_accuracy(a, b),
            "retrieval_accuracy_centered": retrieval_accuracy(a, b, centered=True)}
