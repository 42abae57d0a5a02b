"""Run a converted directory with its bundled code, for ``ernie-m demo``, in an environment without this project
(a script, run by path by :mod:`.convert_demo`; never imported).

``python run_in_transformers5.py DIRECTORY AUTO_CLASS IDS_JSON`` loads ``DIRECTORY`` with
``transformers.AUTO_CLASS.from_pretrained(DIRECTORY, trust_remote_code=True)``, runs it on the ``input_ids`` given as
a JSON list of lists (no mask: the model builds the one its config says) and prints one JSON object: the
transformers and torch versions, the class that ran and its logits. Imports only torch and transformers.
"""
import json
import sys

import torch
import transformers


def main(directory: str, auto_class: str, ids_json: str) -> None:
    model = getattr(transformers, auto_class).from_pretrained(directory, trust_remote_code=True).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(json.loads(ids_json))).logits
    print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__,
                      "class": f"{type(model).__module__}.{type(model).__name__}", "logits": logits.tolist()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
