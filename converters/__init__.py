"""ERNIE-M checkpoint converters between Paddle (PaddleNLP's layout) and Hugging Face transformers.

The framework-neutral bottom layer of the project: numpy only (torch is imported to read or write
``pytorch_model.bin``); nothing here imports ``paddle_ernie_m``, Paddle or transformers, and importing it changes
nothing in the process. ``paddle_ernie_m`` (the Paddle model, ``paddle_ernie_m.verify``, the ``ernie-m`` command)
stands on it. Modules: :mod:`.errors`, :mod:`.files` (atomic outputs), :mod:`.formats` (weight files),
:mod:`.mapping` (the tensor name table), :mod:`.configuration` (``ErnieMConfig``, every config dialect),
:mod:`.tokenizer_files` (``tokenizer_config.json``), :mod:`.tensors` (state dicts mapped between the layouts),
:mod:`.checkpoint` (the one loader: a directory of either layout read for either side), :mod:`.convert`
(converting directories), :mod:`.cli` (``ernie-m convert`` / ``python -m converters``), :mod:`.remote_code`
(copied next to converted weights).
"""
