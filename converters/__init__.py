"""ERNIE-M checkpoint converters between Paddle (PaddleNLP's layout) and Hugging Face transformers.

Framework-neutral: numpy and safetensors only; torch is imported to read or write ``pytorch_model.bin``, and
paddle, torch and transformers together only to verify a conversion. Modules: :mod:`.formats` (files),
:mod:`.mapping` (the tensor name table), :mod:`.convert` (state dicts, configs, directories), :mod:`.verify`,
:mod:`.cli` (``ernie-m convert`` / ``ernie-m verify`` / ``python -m converters``).
"""
