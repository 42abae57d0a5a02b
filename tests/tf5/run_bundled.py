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
  training mode (dropout 0) without and with ``gradient_checkpointing_enable()``; records their largest difference
  and how often the encoder layers ran forward in each.

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
    for spec in job.get("checkpointing", ()):
        model = load(spec["dir"], spec["loader"], trust_remote_code=True,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0).train()
        layers = model.base_model.encoder.layers
        calls = []
        for layer in layers:  # counted in forward itself: torch runs no hooks when it recomputes a layer
            layer.forward = _counting(layer.forward, calls)
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
            "layer_calls": counts, "layers": len(layers), "enabled": bool(model.is_gradient_checkpointing)}


def main(job_file):
    job_file = Path(job_file)
    job = json.loads(job_file.read_text())
    out = job_file.parent
    results = {"transformers": transformers.__version__, "torch": torch.__version__, "classes": {},
               "untrusted": {}, "saved": {}, "snippets": {}, "attention": {}, "checkpointing": {}}
    run_models(job, out, results)
    run_untrusted(job, results)
    run_saves(job, results)
    run_snippets(job, out, results)
    run_attention(job, out, results)
    run_checkpointing(job, results)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(sys.argv[1])
