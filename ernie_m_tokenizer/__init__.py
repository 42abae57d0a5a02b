"""The ERNIE-M tokenizer, framework-neutral: its rules and their character offsets, and the transformers class that
travels with converted checkpoints.

* ``tokenization_ernie_m_engine.py``: :class:`TokenizerEngine`, the tokenization rules and the tokenizer files'
  names and special tokens (standard library; sentencepiece when an engine is built).
* ``tokenization_ernie_m_offsets.py``: where each token lies in its text (standard library and numpy).
* ``tokenization_ernie_m.py``: the transformers tokenizer on top of the engine (imports transformers).

``paddle_ernie_m.tokenizer`` and the converters stand on this package; it imports neither, nor any framework. The
three files are copied verbatim next to the weights ``ernie-m convert paddle2torch`` writes, so they import only
each other (relatively) and third-party packages. This module imports nothing.
"""
