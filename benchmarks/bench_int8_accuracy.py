"""Accuracy of the int8 ONNX Runtime export against fp32, on trained models (random weights say nothing here).

(a) The embedded UIE-M demo model (``paddle_ernie_m/assets/uie-m-demo``): held-out span F1 (the test split its
    ``heldout_scores.json`` was computed on, rebuilt by ``examples/uie/build_demo_model.py``'s ``prepare_data`` and
    ``heldout``, scored by ``paddle_ernie_m.uie.metrics.extraction_scores``) of ``InformationExtractor`` in exact
    mode with Paddle Inference fp32, ONNX Runtime fp32 and ONNX Runtime int8; and how well int8's spans agree
    with fp32's (F1 of int8's results against fp32's) on the demo texts (``paddle_ernie_m.uie.demo.DEMO_TEXTS``)
    and on the held-out texts.
(b) A classifier fine-tuned by ``examples/train_seq_cls.py`` on its default data (``examples/data/seq_cls``, XNLI-style
    pairs in five languages, 3 labels) from the tests' tiny random model (``tests/scripts.py``'s
    ``make_tiny_model``: hidden 32, 2 layers, the fixture tokenizer) with the tests' quick options and
    ``--num_train_epochs 12`` (about a minute on 2 cores; dev accuracy well above the 1/3 of chance): dev accuracy
    of dygraph fp32, ONNX Runtime fp32 and int8, for ``best/`` (chosen on dev) and for the last checkpoint.

Targets (issue 14): int8 held-out F1 within 1 point of fp32, int8-vs-fp32 span agreement F1 >= 0.97, int8 dev
accuracy within 1 point of fp32.

    python benchmarks/bench_int8_accuracy.py [--threads 2] [--epochs 12] [--quick]

Not part of the test suite. ``--quick``: 2 epochs and the first 20 held-out texts per language, to check that the
script runs; its figures mean nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from paddle_ernie_m.uie import InformationExtractor  # noqa: E402
from paddle_ernie_m.uie.demo import DEMO_MODEL, DEMO_TEXTS  # noqa: E402
from paddle_ernie_m.uie.metrics import extraction_scores  # noqa: E402
from tests.scripts import DATA, QUICK, load_script, make_tiny_model  # noqa: E402

#: The three ways each model is run: (label, InformationExtractor / export arguments).
ENGINES = {
    "Paddle Inference fp32": {"backend": "inference"},
    "ONNX Runtime fp32": {"backend": "onnxruntime", "precision": "fp32"},
    "ONNX Runtime int8": {"backend": "onnxruntime", "precision": "int8"},
}
F1_POINTS = 1.0  # int8 within this many points of fp32 (F1, accuracy)
AGREEMENT_F1 = 0.97


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def uie_demo(threads: int, cache: Path, limit: int) -> bool:
    """Part (a); returns whether every target is met."""
    build_demo = load_script("examples/uie/build_demo_model.py")
    schemas = json.loads((DEMO_MODEL / "schemas.json").read_text(encoding="utf-8"))
    published = json.loads((DEMO_MODEL / "heldout_scores.json").read_text(encoding="utf-8"))["exact"]["all"]["f1"]
    with tempfile.TemporaryDirectory(prefix="int8-uie-data-") as work:
        build_demo.prepare_data(Path(work))
        heldout = {lang: (texts[:limit], gold[:limit])
                   for lang, (texts, gold) in build_demo.heldout(Path(work)).items()}
    n_texts = sum(len(texts) for texts, _ in heldout.values())
    results: Dict[str, Dict[str, List[dict]]] = {}  # engine -> {"heldout": [...], "demo": [...]}
    for name, kwargs in ENGINES.items():
        held, demo = [], []
        for lang, (texts, _) in heldout.items():
            extractor = InformationExtractor(DEMO_MODEL, schema=schemas[lang], schema_lang=lang, mode="exact",
                                             threads=threads, cache_dir=cache, **kwargs)
            held += extractor(texts)
            demo += extractor([DEMO_TEXTS[lang]])
        results[name] = {"heldout": held, "demo": demo}
    gold = [g for _, golds in heldout.values() for g in golds]

    print(f"(a) UIE-M demo model, exact mode, {n_texts} held-out texts (test split of build_demo_model.py)")
    f1 = {name: extraction_scores(r["heldout"], gold)["f1"] for name, r in results.items()}
    for name, value in f1.items():
        print(f"  held-out span F1, {name:<22} {100 * value:6.2f}")
    print(f"  (heldout_scores.json, exact mode, all: {100 * published:.2f})")
    ok = True
    int8 = results["ONNX Runtime int8"]
    for reference in ("ONNX Runtime fp32", "Paddle Inference fp32"):
        gap = 100 * abs(f1["ONNX Runtime int8"] - f1[reference])
        ok &= gap <= F1_POINTS
        print(f"  int8 vs {reference}: |F1 difference| {gap:.2f} points "
              f"(target <= {F1_POINTS:g}: {verdict(gap <= F1_POINTS)})")
        for texts in ("demo", "heldout"):
            agreement = extraction_scores(int8[texts], results[reference][texts])["f1"]
            ok &= agreement >= AGREEMENT_F1
            label = f"the {len(int8[texts])} demo texts (DEMO_TEXTS)" if texts == "demo" else \
                f"the {n_texts} held-out texts"
            print(f"    span agreement F1 of int8 against it on {label}: {agreement:.4f} "
                  f"(target >= {AGREEMENT_F1}: {verdict(agreement >= AGREEMENT_F1)})")
    fp32_same = extraction_scores(results["ONNX Runtime fp32"]["heldout"],
                                  results["Paddle Inference fp32"]["heldout"])["f1"]
    print(f"  (ONNX Runtime fp32 against Paddle Inference fp32, held-out: agreement F1 {fp32_same:.4f})")
    return ok


def classifier(threads: int, epochs: int, work: Path) -> bool:
    """Part (b); returns whether every target is met."""
    import paddle

    from paddle_ernie_m import ErnieMForSequenceClassification
    from paddle_ernie_m.engines.export import export_model
    from paddle_ernie_m.engines.predictor import Predictor
    from paddle_ernie_m.tokenizer import ErnieMTokenizer
    from paddle_ernie_m.training import DynamicPaddingCollator
    from paddle_ernie_m.training.data import Problems
    from paddle_ernie_m.training.tasks import encode_classification

    train_seq_cls = load_script("examples/train_seq_cls.py")
    options = ["--train_file", str(DATA / "seq_cls" / "train.jsonl"),
               "--eval_file", str(DATA / "seq_cls" / "dev.jsonl"), "--text_column", "premise",
               "--text_pair_column", "hypothesis", "--num_train_epochs", str(epochs), *QUICK]
    start = time.perf_counter()
    summary = train_seq_cls.main(["--model", str(make_tiny_model(work / "init")), "--output_dir",
                                  str(work / "run"), *options])
    print(f"\n(b) seq-cls fine-tuned by examples/train_seq_cls.py {' '.join(options)} from make_tiny_model "
          f"(hidden 32, 2 layers) in {time.perf_counter() - start:.0f} s; dev set "
          f"{DATA / 'seq_cls' / 'dev.jsonl'}")
    max_length = int(QUICK[QUICK.index("--max_length") + 1])
    args = train_seq_cls.parse_args(["--model", "-", "--output_dir", "-", *options])
    ok = True
    for label, checkpoint in (("best/ (chosen on dev)", Path(summary["best_model"])),
                              ("last checkpoint", Path(summary["last_checkpoint"]))):
        model = ErnieMForSequenceClassification.from_pretrained(checkpoint)
        model.eval()
        tokenizer = ErnieMTokenizer.from_pretrained(checkpoint)
        rows = train_seq_cls.read_examples(str(DATA / "seq_cls" / "dev.jsonl"), args, Problems(),
                                             model.config.label2id)
        truth = np.array([model.config.label2id[label_] for _, _, label_ in rows])
        batch = DynamicPaddingCollator(tokenizer.pad_token_id, ("input_ids", "attention_mask"))(
            [encode_classification(tokenizer, text, pair, None, max_length) for text, pair, _ in rows])
        with paddle.no_grad():
            logits = {"dygraph fp32": model(**{k: paddle.to_tensor(v) for k, v in batch.items()}).numpy()}
        for precision in ("fp32", "int8"):
            export = export_model(model, work / f"{checkpoint.name}-{precision}", format="onnx", precision=precision)
            logits[f"ONNX Runtime {precision}"] = Predictor(export, threads=threads)(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])["logits"]
        accuracy = {name: float((value.argmax(-1) == truth).mean()) for name, value in logits.items()}
        reported = json.loads((checkpoint / "eval_results.json").read_text())["accuracy"] \
            if (checkpoint / "eval_results.json").is_file() else None
        print(f"  {label}: {len(rows)} dev rows" + (f", the trainer reported accuracy {reported:.4f}"
                                                    if reported is not None else ""))
        for name, value in accuracy.items():
            print(f"    dev accuracy, {name:<18} {100 * value:6.2f}")
        for reference in ("dygraph fp32", "ONNX Runtime fp32"):
            gap = 100 * abs(accuracy["ONNX Runtime int8"] - accuracy[reference])
            ok &= gap <= F1_POINTS
            int8, fp32 = logits["ONNX Runtime int8"], logits[reference]
            print(f"    int8 vs {reference}: {gap:.2f} points (target <= {F1_POINTS:g}: {verdict(gap <= F1_POINTS)}); "
                  f"same predictions on {int((int8.argmax(-1) == fp32.argmax(-1)).sum())}/{len(rows)}; "
                  f"max |logits difference| {np.abs(int8 - fp32).max():.2e}")
        print(f"    ONNX fp32 vs dygraph: max |logits difference| "
              f"{np.abs(logits['ONNX Runtime fp32'] - logits['dygraph fp32']).max():.2e}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads of every engine (default 2)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs of the classifier (default 12)")
    parser.add_argument("--quick", action="store_true",
                        help="2 epochs and 20 held-out texts per language: checks that the script runs")
    args = parser.parse_args(argv)
    import onnxruntime
    import paddle

    print(f"CPU: {load_script('benchmarks/machine.py').cpu_description()}")
    print(f"paddle {paddle.__version__}, onnxruntime {onnxruntime.__version__}; {args.threads} threads; load average "
          f"{os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="int8-accuracy-") as tmp:
        tmp = Path(tmp)
        ok = uie_demo(args.threads, tmp / "cache", 20 if args.quick else None)
        ok &= classifier(args.threads, 2 if args.quick else args.epochs, tmp)
    print(f"\nevery target met: {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
