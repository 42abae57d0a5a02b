r"""Rebuild the embedded toy UIE-M (``paddle_ernie_m/assets/uie-m-demo``) from nothing, deterministically.

    OMP_NUM_THREADS=1 python examples/uie/build_demo_model.py --workdir runs/uie-demo [--force]

Steps: generate the synthetic bilingual data set (``make_synthetic_data.py``); convert its doccano exports with
the project's converter (train/dev/test 80/10/10, seed 1000; sentence sentiment as a classification prompt);
train a SentencePiece tokenizer on its texts and prompts with ``tests/fixtures/make_tiny_tokenizer.py``; build a
randomly initialised small UIE-M; fine-tune it with ``finetune.py`` (PaddleNLP's recipe, ``max_length`` 512);
copy ``best/`` into the package with a model card; report span F1 on the held-out test texts through
:class:`~paddle_ernie_m.uie.InformationExtractor` in both modes. A toy for demos and tests, nothing more.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Tuple

from converters.files import UnsafeOutputError, atomic_directory, atomic_files, prepare_output_dir

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ASSET = ROOT / "paddle_ernie_m" / "assets" / "uie-m-demo"
SEED = 1000
#: The writer named in the markers of the work directory and its ``init/`` and ``model/``.
WRITER = "build_demo_model.py"
#: What ``--out`` receives: the checkpoint, tokenizer and model card (the committed asset holds exactly these).
ASSET_FILES = ("config.json", "model_state.pdparams", "vocab.txt", "sentencepiece.bpe.model", "tokenizer_config.json",
               "special_tokens_map.json", "README.md", "schemas.json", "heldout_scores.json")
SPLITS = (0.8, 0.1, 0.1)
NEGATIVE_RATIO = 3
#: initializer_range 0.1, not 0.02: at this width the default leaves attention uniform at first, and the prompt
#: tokens never learn to look at the text (the sentiment options stay at their prior).
MODEL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=514,
             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.1)
#: adam_beta2 0.98 (not 0.999): the loss is a mean over 512 mostly trivial positions, whose large early gradients
#: would otherwise keep Adam's second moments high, and the steps small, for a thousand steps.
TRAINING = ["--max_length", "512", "--learning_rate", "2e-3", "--adam_beta2", "0.98", "--warmup_ratio", "0.03",
            "--batch_size", "32", "--eval_batch_size", "64", "--num_train_epochs", "6", "--eval_steps", "300",
            "--logging_steps", "50", "--weight_decay", "0.01", "--seed", "1", "--save_total_limit", "1",
            "--no-progress_bar"]


def _load(name: str):
    path = HERE / f"{name}.py" if name != "make_tiny_tokenizer" else ROOT / "tests" / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic = _load("make_synthetic_data")


def prepare_data(work: Path) -> Dict[str, Path]:
    """Generate and convert the data set into ``work``; returns the paths of ``train.txt`` and ``dev.txt``."""
    from paddle_ernie_m.uie.doccano import PromptStyle, convert_doccano_file, read_examples, write_jsonl

    raw = work / "doccano"
    synthetic.generate(raw, force=True)
    merged: Dict[str, List[dict]] = {"train": [], "dev": []}
    for lang in ("ch", "en"):
        sentiment = synthetic.SENTIMENT[lang]
        for kind, style in (("ext", PromptStyle(schema_lang=lang)),
                            ("cls", PromptStyle(schema_lang=lang, prompt_prefix=sentiment["prompt_prefix"],
                                                options=sentiment["options"]))):
            paths = convert_doccano_file(raw / f"synthetic_{lang}_{kind}.jsonl", work / f"{lang}_{kind}", kind,
                                         SPLITS, NEGATIVE_RATIO, style, seed=SEED, force=True)
            for split in merged:
                merged[split] += read_examples(paths[split])
    random.Random(SEED).shuffle(merged["train"])
    return {split: write_jsonl(work / f"{split}.txt", examples) for split, examples in merged.items()}


def heldout(work: Path) -> Dict[str, Tuple[List[str], List[dict]]]:
    """Per language, the held-out test texts and their gold results (after :func:`prepare_data`)."""
    out = {}
    for lang in ("ch", "en"):
        ids = json.loads((work / f"{lang}_ext" / "sample_index.json").read_text())["test_ids"]
        if ids != json.loads((work / f"{lang}_cls" / "sample_index.json").read_text())["test_ids"]:
            raise RuntimeError("the ext and cls exports were split differently")
        records = [[json.loads(line) for line in open(work / "doccano" / f"synthetic_{lang}_{kind}.jsonl",
                                                       encoding="utf-8")] for kind in ("ext", "cls")]
        texts = [records[0][i]["text"] for i in ids]
        gold = [synthetic.gold_results(records[0][i], records[1][i], lang) for i in ids]
        out[lang] = (texts, gold)
    return out


def heldout_scores(model_dir: Path, work: Path, mode: str) -> Dict[str, Dict[str, float]]:
    """Span F1 of the extractor on the held-out texts, per language and overall."""
    from paddle_ernie_m.uie import InformationExtractor
    from paddle_ernie_m.uie.metrics import extraction_scores

    scores, all_pred, all_gold = {}, [], []
    for lang, (texts, gold) in heldout(work).items():
        extractor = InformationExtractor(model_dir, schema=synthetic.SCHEMAS[lang], schema_lang=lang, mode=mode)
        predicted = extractor(texts)
        scores[lang] = extraction_scores(predicted, gold)
        all_pred += predicted
        all_gold += gold
    scores["all"] = extraction_scores(all_pred, all_gold)
    return scores


def build_tokenizer(work: Path, train_file: Path) -> Path:
    """A SentencePiece tokenizer trained on the training texts and prompts."""
    from paddle_ernie_m.uie.doccano import read_examples

    examples = read_examples(train_file)
    lines = sorted({e["content"] for e in examples} | {e["prompt"] for e in examples})
    corpus = work / "tokenizer_corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    directory = work / "tokenizer"
    maker = _load("make_tiny_tokenizer")  # a module instance of our own: its options can be changed safely
    # keep every character: at the fixture's 98% coverage the rarer place-name characters would become [UNK]
    maker.TRAINER_OPTIONS = {**maker.TRAINER_OPTIONS, "character_coverage": 1.0}
    maker.make_tiny_tokenizer(directory, corpus, force=True)
    return directory


def init_model(work: Path, tokenizer_dir: Path) -> Path:
    """A randomly initialised UIE-M checkpoint with the tokenizer (the starting point of fine-tuning)."""
    import paddle

    from paddle_ernie_m import ErnieMConfig, ErnieMForInformationExtraction, ErnieMTokenizer

    tokenizer = ErnieMTokenizer.from_pretrained(tokenizer_dir)
    paddle.seed(SEED)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, attention_mask_mode="paddlenlp", **MODEL)
    directory = work / "init"
    with atomic_directory(directory, WRITER, force=True) as tmp:
        ErnieMForInformationExtraction(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return directory


def publish(model: Path, out: Path, force: bool) -> None:
    """Copy the :data:`ASSET_FILES` of ``model`` into ``out`` together. An existing ``out`` (the committed asset has
    no marker) is replaced only with ``force``, and only when it holds nothing but those files."""
    if os.path.lexists(out):
        if not force:
            raise FileExistsError(f"{out} exists (use --force)")
        if out.is_symlink() or not out.is_dir():
            raise UnsafeOutputError(f"--out must be a directory, not a file or a link: {out}")
        foreign = [p.name for p in sorted(out.iterdir()) if p.name not in ASSET_FILES or not p.is_file()
                   or p.is_symlink()]
        if foreign:
            raise UnsafeOutputError(f"--force replaces only the files of the demo model, and {out} also holds "
                                    f"{foreign[0]}; nothing was changed: remove it yourself or choose another --out")
    with atomic_files(out) as tmp:
        for name in ASSET_FILES:
            shutil.copy2(model / name, tmp / name)


MODEL_CARD = """# uie-m-demo: a toy UIE-M (not a real model)

A {params:,}-parameter UIE-M (ERNIE-M for universal information extraction: hidden {hidden_size},
{num_hidden_layers} layers, {num_attention_heads} heads, a {vocab_size}-token vocabulary) trained from random
initialisation on a small synthetic data set of template sentences, for demos and tests of paddle-ernie-m. It
knows only this data set's schemas and will not generalise to real text.

Schemas (``schema_lang`` ``ch`` / ``en``):

    ch: {schema_ch}
    en: {schema_en}

Held-out span F1 (test split, {n_test} texts, InformationExtractor): exact mode {f1_exact:.4f}, fast mode
{f1_fast:.4f}; per language (exact): ch {f1_ch:.4f}, en {f1_en:.4f}.

Rebuild (deterministic data, tokenizer, initialisation and training with one math thread; about {minutes}
minutes on 2 shared CPU cores):

    OMP_NUM_THREADS=1 python examples/uie/build_demo_model.py --workdir runs/uie-demo --force

Files: PaddleNLP's layout (``config.json``, ``model_state.pdparams``, ``vocab.txt``, ``sentencepiece.bpe.model``,
``tokenizer_config.json``, ``special_tokens_map.json``); PaddleNLP's Taskflow also reads it as ``task_path``.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "uie-demo", help="scratch directory")
    parser.add_argument("--out", type=Path, default=ASSET, help=f"where the model goes (default {ASSET})")
    parser.add_argument("--force", action="store_true", help="replace --out and the workdir's training run")
    args = parser.parse_args(argv)
    import time

    started = time.time()
    if os.path.lexists(args.out) and not args.force:
        print(f"error: {args.out} exists (use --force)", file=sys.stderr)
        return 1
    work = prepare_output_dir(args.workdir, WRITER)
    data = prepare_data(work)
    tokenizer_dir = build_tokenizer(work, data["train"])
    init = init_model(work, tokenizer_dir)
    run_dir = work / "run"
    finetune = _load("finetune")
    summary = finetune.main(["--model", str(init), "--train_file", str(data["train"]), "--eval_file",
                             str(data["dev"]), "--output_dir", str(run_dir), *TRAINING,
                             *(["--overwrite_output_dir"] if args.force else [])])
    best = Path(summary["best_model"])
    exact = heldout_scores(best, work, "exact")
    fast = heldout_scores(best, work, "fast")
    print(json.dumps({"exact": exact, "fast": fast}, ensure_ascii=False, indent=1))
    with atomic_directory(work / "model", WRITER, force=True) as staging:
        write_model(staging, best, work, exact, fast, started)
    publish(work / "model", args.out, args.force)
    print(f"wrote {args.out} (held-out F1 exact {exact['all']['f1']:.4f}, fast {fast['all']['f1']:.4f})")
    return 0


def write_model(staging: Path, best: Path, work: Path, exact: dict, fast: dict, started: float) -> None:
    """The :data:`ASSET_FILES` into ``staging``: ``best/``'s checkpoint and tokenizer, the model card, the scores."""
    import time

    from converters.formats import load_paddle_state
    from paddle_ernie_m import ErnieMConfig

    config = ErnieMConfig.from_pretrained(best)
    params = sum(v.size for v in load_paddle_state(best).values())
    for name in ASSET_FILES[:6]:
        shutil.copy2(best / name, staging / name)
    n_test = sum(len(texts) for texts, _ in heldout(work).values())
    (staging / "README.md").write_text(MODEL_CARD.format(
        params=params, vocab_size=config.vocab_size, schema_ch=json.dumps(synthetic.SCHEMAS["ch"], ensure_ascii=False),
        schema_en=json.dumps(synthetic.SCHEMAS["en"]), n_test=n_test, f1_exact=exact["all"]["f1"],
        f1_fast=fast["all"]["f1"], f1_ch=exact["ch"]["f1"], f1_en=exact["en"]["f1"],
        minutes=max(1, round((time.time() - started) / 60)), **MODEL), encoding="utf-8")
    (staging / "schemas.json").write_text(json.dumps(synthetic.SCHEMAS, ensure_ascii=False, indent=1) + "\n",
                                          encoding="utf-8")
    (staging / "heldout_scores.json").write_text(json.dumps({"exact": exact, "fast": fast}, indent=1,
                                                            ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
