"""transformers code bundled with converted checkpoints (``auto_map``, ``trust_remote_code=True``).

The files named in :data:`FILES` are copied verbatim next to the weights that ``paddle2torch`` writes; they import
nothing of this project (transformers copies a file and the files it imports relatively into its module cache).
This package imports nothing itself.
"""

#: Files copied next to converted weights.
FILES = ("tokenization_ernie_m.py", "tokenization_ernie_m_core.py")

#: ``auto_map`` of ``tokenizer_config.json``: the slow tokenizer of ``tokenization_ernie_m.py`` (no fast one).
TOKENIZER_AUTO_MAP = {"AutoTokenizer": ["tokenization_ernie_m.ErnieMTokenizer", None]}
