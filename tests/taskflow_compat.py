"""Run PaddleNLP 2.8.1's UIE Taskflow on Paddle 3.x, offline, for the UIE reference tests and benchmark only.

Taskflow as shipped fails on Paddle 3.x in two places: ``paddle.jit.save`` writes the program as
``inference.json`` (PIR) where Taskflow opens ``inference.pdmodel``, and ``Config.enable_memory_optim()`` raises.
:func:`paddle3_taskflow` patches both for as long as it is active, and turns off Taskflow's start-up statistics
request (no network). With ``pin_span_order`` it also makes Taskflow's ``get_span`` return its spans as a list
ordered as ours (by decreasing probability, then position) instead of a ``set``, whose iteration order depends on
the hashes of the probabilities; the spans themselves are unchanged.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


@contextlib.contextmanager
def paddle3_taskflow(pin_span_order: bool = True) -> Iterator[Callable]:
    """Yields ``build(checkpoint, workdir, schema, **taskflow_kwargs)``: a Taskflow UIE task on a copy of the
    checkpoint in ``workdir`` (Taskflow writes its static export and rewrites weights in ``task_path``)."""
    import paddle
    import paddlenlp.taskflow.information_extraction as ie_module
    import paddlenlp.taskflow.task as task_module
    from paddlenlp import Taskflow

    from paddle_ernie_m.uie.decoding import order_spans

    original_config = paddle.inference.Config
    original_get_span = ie_module.get_span
    original_check = task_module.download_check

    class Paddle3Config(original_config):
        def __init__(self, model_file, params_file):
            if model_file.endswith(".pdmodel") and not os.path.exists(model_file):
                model_file = model_file[: -len(".pdmodel")] + ".json"
            super().__init__(model_file, params_file)

        def enable_memory_optim(self, *args):
            pass

    def ordered_get_span(start_ids, end_ids, with_prob=False):
        return order_spans(original_get_span(start_ids, end_ids, with_prob))

    def build(checkpoint: Path, workdir: Path, schema, **kwargs):
        task_path = Path(workdir) / "taskflow-model"
        if not task_path.exists():
            shutil.copytree(checkpoint, task_path)
        return Taskflow("information_extraction", model="uie-m-base", task_path=str(task_path), schema=schema,
                        **kwargs)

    task_module.download_check = lambda task: None
    paddle.inference.Config = Paddle3Config
    if pin_span_order:
        ie_module.get_span = ordered_get_span
    try:
        yield build
    finally:
        task_module.download_check = original_check
        paddle.inference.Config = original_config
        ie_module.get_span = original_get_span


def assert_same_results(ours, reference, path="result", floats=np.floating):
    """Equal structure, texts and offsets; probabilities within 1e-5 (ours are Python floats; ``floats`` is the
    type of the reference's: Taskflow's are numpy float64 values, pass ``float`` for another run of ours)."""
    if isinstance(reference, floats):
        assert type(ours) is float, path
        assert math.isclose(ours, float(reference), abs_tol=1e-5), f"{path}: {ours} != {reference}"
        return
    assert type(ours) is type(reference), path
    if isinstance(reference, dict):
        assert list(ours) == list(reference), f"{path}: keys {list(ours)} != {list(reference)}"
        for key in reference:
            assert_same_results(ours[key], reference[key], f"{path}[{key!r}]", floats)
    elif isinstance(reference, list):
        assert len(ours) == len(reference), f"{path}: {len(ours)} items != {len(reference)}"
        for i, (a, b) in enumerate(zip(ours, reference)):
            assert_same_results(a, b, f"{path}[{i}]", floats)
    else:
        assert ours == reference, f"{path}: {ours!r} != {reference!r}"
