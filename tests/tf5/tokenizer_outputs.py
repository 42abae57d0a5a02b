"""Outputs of the tokenizer bundled in converted directories, as any transformers environment loads it.

Run by tests/test_tokenizer_remote_code.py with the second environment's Python (transformers 5, nothing of this
project installed) and with the main one's (transformers 4.57):

    python tests/tf5/tokenizer_outputs.py REQUEST.json RESULT.json

REQUEST names the directories (``{"directories": {key: path}}``), the ``texts`` and ``pairs`` to encode, the
``calls`` to make (``{"name", "directory", "pairs": bool, "kwargs"}``), a ``save_to`` folder, ``model_ids`` (the
pipelines run on the first ``len(model_ids)`` texts) and ``classifier``, a converted sequence classifier the
text-classification pipeline loads. The directories are loaded with
``AutoTokenizer.from_pretrained(path, trust_remote_code=True)``; RESULT holds plain JSON lists.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path


def plain(value):
    """Lists, ints, floats and strings of a tokenizer output (tensors and arrays included)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def load_without_trust(path: str) -> dict:
    """What ``AutoTokenizer.from_pretrained`` says without ``trust_remote_code`` (standard input closed)."""
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - the test reads what was raised, and from where
        frames = [frame.filename for frame in traceback.extract_tb(exc.__traceback__)]
        return {"type": type(exc).__name__, "message": str(exc), "frames": frames}
    return {"type": None, "message": "", "frames": []}


def pipelines(tokenizer, classifier: str, texts) -> dict:
    """The text-classification pipeline of the converted classifier ``classifier`` (its bundled code and tokenizer,
    every label's score), and a token-classification pipeline on a tiny random BERT sized to the vocabulary (the
    words and indices it reports)."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, pipeline

    classify = pipeline("text-classification", model=classifier, trust_remote_code=True, top_k=None, device="cpu")
    scores = [[r["score"] for r in sorted(result, key=lambda r: r["label"])] for result in classify(texts)]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=1024, num_labels=3)
    tag = pipeline("token-classification", model=BertForTokenClassification(config).eval(), tokenizer=tokenizer,
                   device="cpu")
    words = [[(e["word"], e["index"]) for e in entities] for entities in tag(texts)]
    return {"text_classification": scores, "token_classification": words}


def main(request_path: str, result_path: str) -> None:
    import transformers
    from transformers import AutoTokenizer

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    texts, pairs = request["texts"], request["pairs"]
    tokenizers = {key: AutoTokenizer.from_pretrained(path, trust_remote_code=True)
                  for key, path in request["directories"].items()}
    result = {"transformers": transformers.__version__, "directories": {}}
    for key, tokenizer in tokenizers.items():
        ids = tokenizer(texts)["input_ids"]
        saved = Path(request["save_to"]) / key
        tokenizer.save_pretrained(str(saved))
        reloaded = AutoTokenizer.from_pretrained(str(saved), trust_remote_code=True)
        result["directories"][key] = {
            "class": f"{type(tokenizer).__module__}.{type(tokenizer).__name__}",
            "compat": tokenizer.compat,
            "model_input_names": tokenizer.model_input_names,
            "model_max_length": tokenizer.model_max_length,
            "tokens": [tokenizer.tokenize(t) for t in texts],
            "decode": [tokenizer.decode(row) for row in ids],
            "batch_decode_skip": tokenizer.batch_decode(ids, skip_special_tokens=True),
            "saved_files": sorted(p.name for p in saved.iterdir()),
            "reloaded": {"class": type(reloaded).__name__, "compat": reloaded.compat,
                         "model_input_names": reloaded.model_input_names,
                         "input_ids": reloaded(texts)["input_ids"]},
        }
    result["calls"] = {}
    for call in request["calls"]:
        tokenizer = tokenizers[call["directory"]]
        output = tokenizer(texts, pairs if call["pairs"] else None, **call["kwargs"])
        result["calls"][call["name"]] = {"types": {k: type(v).__name__ for k, v in output.items()},
                                         "values": plain(dict(output))}
    first = next(iter(request["directories"].values()))
    result["without_trust_remote_code"] = load_without_trust(first)
    result["pipelines"] = pipelines(tokenizers[next(iter(tokenizers))], request["classifier"],
                                    texts[: len(request["model_ids"])])
    Path(result_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tokenizer_outputs.py REQUEST.json RESULT.json")
    main(sys.argv[1], sys.argv[2])
