"""Outputs of the tokenizer bundled in converted directories, as any transformers environment loads it.

Run by tests/test_tokenizer_remote_code.py with the second environment's Python (transformers 5, nothing of this
project installed) and with the main one's (transformers 4.57):

    python tests/tf5/tokenizer_outputs.py REQUEST.json RESULT.json

REQUEST names the directories (``{"directories": {key: path}}``), the ``texts`` and ``pairs`` to encode, the
``calls`` to make (``{"name", "directory", "pairs": bool, "kwargs"}``), a ``save_to`` folder, ``model_ids`` (the
pipelines run on the first ``len(model_ids)`` texts), ``classifier``, a converted sequence classifier the
text-classification pipeline loads, and ``added_tokens`` to add. The directories are loaded with
``AutoTokenizer.from_pretrained(path, trust_remote_code=True)`` (the fast class, results under "fast"; transformers
5 always takes it) and through the directory's ``tokenization_ernie_m.ErnieMTokenizer`` (the slow class, under
"slow"); RESULT holds plain JSON lists.
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


def chat(tokenizer, texts) -> dict:
    """``apply_chat_template`` of one message per text, rendered and tokenized (transformers 5.23 passes
    ``sanitize_control_tokens`` to the encoding call)."""
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    messages = [{"role": "user", "content": text} for text in texts]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    encoded = tokenizer.apply_chat_template(messages, tokenize=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return {"rendered": rendered, "input_ids": plain(ids)}


def load(path: str, use_fast: bool):
    """The directory's fast tokenizer as ``AutoTokenizer`` loads it, or its slow class (transformers 5's
    ``AutoTokenizer`` always takes the fast one)."""
    from transformers import AutoTokenizer
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    if use_fast:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=True)
    return get_class_from_dynamic_module("tokenization_ernie_m.ErnieMTokenizer", path).from_pretrained(path)


def added_tokens(path: str, use_fast: bool, tokens, texts, save_to: Path) -> dict:
    """The transformers recipe: add tokens, encode, save, load back, encode again."""
    tokenizer = load(path, use_fast)
    added = tokenizer.add_tokens(tokens)
    tokenizer.save_pretrained(str(save_to))
    reloaded = load(str(save_to), use_fast)
    return {"added": added, "len": len(tokenizer), "input_ids": tokenizer(texts)["input_ids"],
            "reloaded_len": len(reloaded), "reloaded_input_ids": reloaded(texts)["input_ids"]}


def token_classification(tokenizer, texts) -> dict:
    """``(start, end)`` of each entity of the token-classification pipeline under every aggregation strategy, on a
    tiny random BERT sized to the vocabulary."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, pipeline

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=1024, num_labels=3)
    model = BertForTokenClassification(config).eval()
    spans = {}
    for strategy in ("none", "simple", "first", "average", "max"):
        tag = pipeline("token-classification", model=model, tokenizer=tokenizer, device="cpu",
                       aggregation_strategy=strategy)
        spans[strategy] = [[[e["start"], e["end"]] + ([e["index"]] if "index" in e else []) for e in entities]
                           for entities in tag(texts)]
    return spans


def describe(tokenizer, key: str, texts, save_to: Path, use_fast: bool) -> dict:
    ids = tokenizer(texts)["input_ids"]
    saved = save_to / key
    tokenizer.save_pretrained(str(saved))
    reloaded = load(str(saved), use_fast)
    return {
        "class": f"{type(tokenizer).__module__}.{type(tokenizer).__name__}",
        "is_fast": tokenizer.is_fast,
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


def main(request_path: str, result_path: str) -> None:
    import transformers

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    texts, pairs = request["texts"], request["pairs"]
    save_to = Path(request["save_to"])
    result = {"transformers": transformers.__version__}
    first = next(iter(request["directories"].values()))
    model_texts = texts[: len(request["model_ids"])]
    for kind, use_fast in (("fast", True), ("slow", False)):
        tokenizers = {key: load(path, use_fast) for key, path in request["directories"].items()}
        out = result[kind] = {"directories": {}, "calls": {}}
        for key, tokenizer in tokenizers.items():
            out["directories"][key] = describe(tokenizer, key, texts, save_to / kind, use_fast)
        for call in request["calls"]:
            tokenizer = tokenizers[call["directory"]]
            output = tokenizer(texts, pairs if call["pairs"] else None, **call["kwargs"])
            out["calls"][call["name"]] = {"types": {k: type(v).__name__ for k, v in output.items()},
                                          "values": plain(dict(output))}
        out["chat"] = chat(tokenizers[next(iter(tokenizers))], model_texts[:4])
        out["added_tokens"] = {key: added_tokens(path, use_fast, request["added_tokens"], texts,
                                                 save_to / kind / f"added-{key}")
                               for key, path in request["directories"].items()}
        if use_fast:
            out["token_classification"] = token_classification(tokenizers["paddlenlp"], model_texts)
        else:
            out["pipelines"] = pipelines(tokenizers["paddlenlp"], request["classifier"], model_texts)
    result["without_trust_remote_code"] = load_without_trust(first)
    Path(result_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tokenizer_outputs.py REQUEST.json RESULT.json")
    main(sys.argv[1], sys.argv[2])
