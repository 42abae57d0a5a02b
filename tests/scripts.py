"""Load the repository's scripts (examples, fixture generators) as modules, for tests and benchmarks; the examples'
data and a tiny model to train them on."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Union

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = EXAMPLES / "data"
TOKENIZER = ROOT / "tests" / "fixtures" / "tiny_tokenizer"


def load_script(path: Union[str, Path]) -> ModuleType:
    """A fresh module instance of the script at ``path`` (relative to the repository root, or absolute)."""
    path = ROOT / path
    if not path.is_file():
        raise FileNotFoundError(f"script not found: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Options that make an example training script quick on the tiny data.
QUICK = ["--batch_size", "8", "--learning_rate", "5e-3", "--logging_steps", "2", "--no-progress_bar",
         "--max_length", "64"]


def make_tiny_model(directory: Path, dropout: float = 0.1) -> Path:
    """A randomly initialised tiny ERNIE-M (base model, no head) with the fixture tokenizer's files."""
    from paddle_ernie_m import ErnieMModel
    from converters.configuration import ErnieMConfig
    from paddle_ernie_m.tokenizer import ErnieMTokenizer
    from paddle_ernie_m.training import set_seed

    set_seed(0)
    config = ErnieMConfig(vocab_size=ErnieMTokenizer.from_pretrained(TOKENIZER).vocab_size, hidden_size=32,
                          num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=130,
                          hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    ErnieMModel(config).save_pretrained(directory)
    for name in ("vocab.txt", "sentencepiece.bpe.model"):
        shutil.copy(TOKENIZER / name, directory / name)
    return directory
