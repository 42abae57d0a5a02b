"""Run converted ERNIE-M directories in an environment with transformers 5 and nothing of this project.

Usage: ``python run_bundled.py JOB.json``. The job lists what to do; every array goes in and out as ``.npy``, and
``results.json`` (next to the job) says what happened. Steps, each optional:

* ``"models"``: ``[{"key", "dir", "loader", "runs": [{"name", "inputs": {argument: file.npy}}], "outputs": [...]}]``.
  ``loader`` is an Auto class name (``"AutoModelForSequenceClassification"``) or a name of the directory's
  ``auto_map`` that is no Auto class (``"ErnieMForInformationExtraction"``); the model is loaded with
  ``trust_remote_code=True`` and each run's named outputs are saved as ``<key>.<run>.<output>.npy``.
* ``"untrusted"``: ``[{"key", "dir", "loader"}]``: load without ``trust_remote_code``; the error is recorded.
* ``"save"``: ``[{"key", "dir", "loader", "to"}]``: load with the bundled code and ``save_pretrained(to)``.
* ``"snippets"``: ``[{"key", "dir", "texts"}]``: the standard text-classification usages (a pipeline over the
  batch; AutoTokenizer + AutoModelForSequenceClassification, argmax, id2label), results saved and recorded.
* ``"attention"``: ``[{"key", "dir", "loader", "inputs", "output"}]``: loaded with each ``attn_implementation``
  (``"sdpa"``, ``"eager"``); records ``config._attn_implementation`` and how often
  ``F.scaled_dot_product_attention`` ran, saves ``<key>.<implementation>.<output>.npy``.
* ``"checkpointing"``: ``[{"key", "dir", "loader", "inputs", "output"}]``: gradients of ``sum(output ** 2)`` in
  training mode (dropout 0) without and with ``gradient_checkpointing_enable()``; records their largest difference,
  how often the encoder layers' attention ran forward in each, and whether every encoder layer is a
  ``transformers.modeling_layers.GradientCheckpointingLayer``.
* ``"pruning"``: ``[{"key", "dir", "loader", "heads": [{layer: [head, ...]}, ...], "inputs", "output", "to"}]``:
  ``prune_heads`` with each dict in turn, the output saved as ``<key>.pruned.<output>.npy``; then
  ``save_pretrained(to)``, loaded back (``<key>.reloaded.<output>.npy``); records ``config.pruned_heads`` and the
  shapes of every parameter after reloading.
* ``"configs"``: ``[{"key", "dir", "loader", "overrides"}]``: ``AutoConfig.from_pretrained(dir, **overrides)``
  (recorded: built or the error), then a model from it (recorded the same way).

This file imports only numpy, torch and transformers: it must not need the project to be installed.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers.dynamic_module_utils import get_class_from_dynamic_module


def load(directory, loader, **kwargs):
    if loader.startswith("Auto"):
        return getattr(transformers, loader).from_pretrained(directory, **kwargs)
    config = transformers.AutoConfig.from_pretrained(directory, trust_remote_code=True)
    return get_class_from_dynamic_module(config.auto_map[loader], directory).from_pretrained(directory, **kwargs)


def run_models(job, out, results):
    for spec in job.get("models", ()):
        model = load(spec["dir"], spec["loader"], trust_remote_code=True).eval()
        results["classes"][spec["key"]] = f"{type(model).__module__}.{type(model).__name__}"
        for run in spec["runs"]:
            inputs = {name: torch.from_numpy(np.load(file)) for name, file in run["inputs"].items()}
            with torch.no_grad():
                output = model(**inputs)
            for name in spec["outputs"]:
                np.save(out / f"{spec['key']}.{run['name']}.{name}.npy", getattr(output, name).float().numpy())


def run_untrusted(job, results):
    for spec in job.get("untrusted", ()):
        try:
            load(spec["dir"], spec["loader"])
            results["untrusted"][spec["key"]] = None
        except Exception as exc:  # recorded: the test checks type, message and where it was raised
            tb = exc.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            results["untrusted"][spec["key"]] = {"type": type(exc).__name__, "message": str(exc),
                                                 "raised_in": tb.tb_frame.f_code.co_filename}


def run_saves(job, results):
    for spec in job.get("save", ()):
        model = load(spec["dir"], spec["loader"], trust_remote_code=True)
        model.save_pretrained(spec["to"])
        results["saved"][spec["key"]] = sorted(p.name for p in Path(spec["to"]).iterdir())


def run_snippets(job, out, results):
    for spec in job.get("snippets", ()):
        directory, texts = spec["dir"], spec["texts"]
        classifier = transformers.pipeline("text-classification", model=directory, trust_remote_code=True)
        predictions = classifier(texts, batch_size=len(texts))

        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, trust_remote_code=True)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(directory, trust_remote_code=True)
        encoded = tokenizer(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**encoded).logits
        labels = [model.config.id2label[i] for i in logits.argmax(-1).tolist()]
        np.save(out / f"{spec['key']}.snippet.logits.npy", logits.numpy())
        results["snippets"][spec["key"]] = {"pipeline": predictions, "labels": labels,
                                            "tokenizer_keys": sorted(encoded.keys()),
                                            "input_ids": encoded["input_ids"].tolist()}


def _inputs(spec):
    return {name: torch.from_numpy(np.load(file)) for name, file in spec["inputs"].items()}


def run_attention(job, out, results):
    original = torch.nn.functional.scaled_dot_product_attention
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    for spec in job.get("attention", ()):
        for implementation in ("sdpa", "eager"):
            model = load(spec["dir"], spec["loader"], trust_remote_code=True,
                         attn_implementation=implementation).eval()
            calls.clear()
            torch.nn.functional.scaled_dot_product_attention = counted
            try:
                with torch.no_grad():
                    output = getattr(model(**_inputs(spec)), spec["output"])
            finally:
                torch.nn.functional.scaled_dot_product_attention = original
            np.save(out / f"{spec['key']}.{implementation}.{spec['output']}.npy", output.float().numpy())
            results["attention"].setdefault(spec["key"], {})[implementation] = {
                "config": model.config._attn_implementation, "sdpa_calls": len(calls)}


def _counting(function, calls):
    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def run_checkpointing(job, results):
    from transformers.modeling_layers import GradientCheckpointingLayer

    for spec in job.get("checkpointing", ()):
        model = load(spec["dir"], spec["loader"], trust_remote_code=True,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0).train()
        layers = model.base_model.encoder.layers
        calls = []
        for layer in layers:  # counted inside the layer: 5.x checkpoints the class's forward, not the instance's
            layer.self_attn.forward = _counting(layer.self_attn.forward, calls)
        grads, counts = [], []
        for checkpointing in (False, True):
            if checkpointing:
                model.gradient_checkpointing_enable()
            model.zero_grad()
            calls.clear()
            getattr(model(**_inputs(spec)), spec["output"]).pow(2).sum().backward()
            counts.append(len(calls))
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        results["checkpointing"][spec["key"]] = {
            "max_grad_diff": float((grads[0] - grads[1]).abs().max()), "grad_norm": float(grads[0].norm()),
            "layer_calls": counts, "layers": len(layers), "enabled": bool(model.is_gradient_checkpointing),
            "checkpointing_layers": all(isinstance(layer, GradientCheckpointingLayer) for layer in layers)}


def run_pruning(job, out, results):
    for spec in job.get("pruning", ()):
        model = load(spec["dir"], spec["loader"], trust_remote_code=True).eval()
        for heads in spec["heads"]:
            model.prune_heads({int(layer): value for layer, value in heads.items()})
        with torch.no_grad():
            np.save(out / f"{spec['key']}.pruned.{spec['output']}.npy",
                    getattr(model(**_inputs(spec)), spec["output"]).numpy())
        model.save_pretrained(spec["to"])
        reloaded = load(spec["to"], spec["loader"], trust_remote_code=True).eval()
        with torch.no_grad():
            np.save(out / f"{spec['key']}.reloaded.{spec['output']}.npy",
                    getattr(reloaded(**_inputs(spec)), spec["output"]).numpy())
        results["pruning"][spec["key"]] = {
            "pruned_heads": {str(k): sorted(v) for k, v in model.config.pruned_heads.items()},
            "reloaded_pruned_heads": {str(k): sorted(v) for k, v in reloaded.config.pruned_heads.items()},
            "shapes": {name: list(p.shape) for name, p in reloaded.state_dict().items()}}


def _attempt(build):
    try:
        return build(), None
    except Exception as exc:  # recorded: the test checks type and message
        return None, {"type": type(exc).__name__, "message": str(exc)}


def run_configs(job, results):
    for spec in job.get("configs", ()):
        config, config_error = _attempt(lambda: transformers.AutoConfig.from_pretrained(
            spec["dir"], trust_remote_code=True, **spec["overrides"]))
        model_error = None
        if config is not None:
            model_class = get_class_from_dynamic_module(config.auto_map[spec["loader"]], spec["dir"])
            _, model_error = _attempt(lambda: model_class(config))
        results["configs"][spec["key"]] = {
            "config_error": config_error, "model_error": model_error,
            "values": None if config is None else {k: getattr(config, k) for k in spec["overrides"]}}


def main(job_file):
    job_file = Path(job_file)
    job = json.loads(job_file.read_text())
    out = job_file.parent
    results = {"transformers": transformers.__version__, "torch": torch.__version__, "classes": {},
               "untrusted": {}, "saved": {}, "snippets": {}, "attention": {}, "checkpointing": {}, "pruning": {},
               "configs": {}}
    run_models(job, out, results)
    run_untrusted(job, results)
    run_saves(job, results)
    run_snippets(job, out, results)
    run_attention(job, out, results)
    run_checkpointing(job, results)
    run_pruning(job, out, results)
    run_configs(job, results)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])
