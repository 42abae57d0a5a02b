"""Exports and the engines that run them, in one-way layers (each module imports only the layers below it):

1. graph writers: :mod:`.onnx_graph` (the ONNX graph from numpy weights) and :mod:`.paddle_program` (the
   ``paddle.jit.save`` program of a Paddle model);
2. :mod:`.export_format`: what an export directory holds (``export.json``, formats, precisions, inputs);
3. the engines: :mod:`.paddle_engine` (Paddle Inference) and :mod:`.onnx_engine` (ONNX Runtime);
4. :mod:`.export`: writing an export directory from a checkpoint or a model (``ernie-m export``);
5. :mod:`.predictor`: the :class:`~.predictor.Predictor` that runs an export on its engine;
6. :mod:`.export_cache`: checkpoints exported once and kept.

Nothing here imports Paddle, torch or ONNX Runtime at import time (``tests/test_layering.py`` checks both).
"""
