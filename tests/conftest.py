"""Shared fixtures: tiny ERNIE-M shapes and batches. Tests never download anything."""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile

# Two pytest-xdist workers share two cores: one math thread each. Set before Paddle is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PPNLP_HOME", os.path.join(os.path.dirname(__file__), ".paddlenlp-home"))
if "HF_MODULES_CACHE" not in os.environ:  # where trust_remote_code copies code: one per process, removed at exit
    os.environ["HF_MODULES_CACHE"] = tempfile.mkdtemp(prefix="ernie-m-hf-modules-")
    atexit.register(shutil.rmtree, os.environ["HF_MODULES_CACHE"], True)
# The export cache (paddle_ernie_m.engines.export_cache) of this test process: a fresh directory, never the user's.
os.environ["ERNIE_M_CACHE"] = tempfile.mkdtemp(prefix="ernie-m-export-cache-")
atexit.register(shutil.rmtree, os.environ["ERNIE_M_CACHE"], True)

import numpy as np
import pytest

#: A deliberately non-default shape: hidden 48, 3 heads, 3 layers, odd vocabulary, short position table.
TINY = dict(
    vocab_size=157,
    hidden_size=48,
    num_hidden_layers=3,
    num_attention_heads=3,
    max_position_embeddings=40,
    pad_token_id=1,
)


@pytest.fixture
def tiny_kwargs():
    return dict(TINY)


def padded_batch(batch: int = 3, seq: int = 11, vocab: int = TINY["vocab_size"], seed: int = 0) -> np.ndarray:
    """Ids shaped like tokenizer output: [CLS]=0 first, [SEP]=2 last, [PAD]=1 after it, lengths differ."""
    rng = np.random.default_rng(seed)
    ids = np.full((batch, seq), TINY["pad_token_id"], dtype="int64")
    for row in range(batch):
        length = seq - 3 * row if seq - 3 * row >= 3 else 3
        ids[row, :length] = rng.integers(4, vocab, size=length)
        ids[row, 0], ids[row, length - 1] = 0, 2
    return ids


@pytest.fixture
def batch_ids():
    return padded_batch()


@pytest.fixture(autouse=True)
def _quiet_paddlenlp():
    logging.getLogger("paddlenlp").setLevel(logging.ERROR)
    yield
