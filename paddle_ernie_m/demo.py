"""`ernie-m demo`: the README's first command. Runs end to end on what ships in the package, no download."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


#: The demo batch: ``[CLS] ... [SEP]`` and a shorter row padded with ``[PAD]`` (id 1).
DEMO_IDS = [[0, 17, 42, 99, 2], [0, 7, 2, 1, 1]]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the embedded demo (no download)",
        description="Build a small seeded ERNIE-M, save it in PaddleNLP's layout, reload it and show that the "
                    "outputs are unchanged; convert it to transformers and back; extract spans and relations "
                    "with the embedded toy UIE-M. Uses only what ships with the package.",
    )
    parser.add_argument("--workdir", type=Path, default=None,
                        help="directory for the demo's files; a second run replaces the first run's (default: a "
                             "temporary directory, removed afterwards)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the random demo model (default: 2024)")
    parser.set_defaults(func=run)


#: The writer named in the marker of the demo's directories (a later demo replaces only those).
WRITER = "ernie-m demo"


def save_and_reload(workdir: Path, seed: int) -> str:
    """Build a seeded tiny classifier, save it as ``<workdir>/tiny-ernie-m`` (replacing an earlier demo's), load
    it back; return a short report."""
    import paddle

    from converters.configuration import ErnieMConfig
    from converters.files import atomic_directory
    from .modeling import ErnieMForSequenceClassification

    paddle.seed(seed)
    config = ErnieMConfig(vocab_size=250, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          id2label={0: "negative", 1: "neutral", 2: "positive"})
    model = ErnieMForSequenceClassification(config)
    model.eval()
    ids = paddle.to_tensor(DEMO_IDS, dtype="int64")
    before = model(ids).numpy()

    directory = workdir / "tiny-ernie-m"
    with atomic_directory(directory, WRITER, force=True) as tmp:
        model.save_pretrained(tmp)
    reloaded = ErnieMForSequenceClassification.from_pretrained(directory)
    after = reloaded(ids).numpy()

    files = ", ".join(sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")))
    lines = [
        f"model: ErnieMForSequenceClassification, {sum(p.size for p in model.parameters()):,} parameters "
        f"(hidden {config.hidden_size}, {config.num_hidden_layers} layers, seed {seed})",
        f"saved to {directory} ({files})",
        "",
        f"{'input':<8}{'label':<10}" + "".join(f"{config.labels[i]:>11}" for i in range(config.num_labels)),
    ]
    for row, logits in enumerate(after):
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        lines.append(f"{'#' + str(row):<8}{config.labels[int(probs.argmax())]:<10}"
                     + "".join(f"{p:>11.4f}" for p in probs))
    lines.append("")
    lines.append(f"max |logits before save - after reload| = {np.abs(before - after).max():.1e}")
    if not np.array_equal(before, after):
        raise RuntimeError("the reloaded model's outputs differ from the saved model's")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="ernie-m-demo-") as tmp:
        from converters.files import prepare_output_dir

        workdir = prepare_output_dir(args.workdir or Path(tmp), WRITER)
        print("== 1. a seeded ERNIE-M: save in PaddleNLP's layout, reload, same outputs ==")
        print(save_and_reload(workdir, args.seed))
        print()
        print("== 2. the same model to transformers and back: convert, load, compare, convert back ==")
        from .convert_demo import roundtrip_table

        print(roundtrip_table(workdir / "tiny-ernie-m", workdir))
        print()
        print("== 3. the converted directory in transformers 5, which has no ErnieM: its bundled code, same outputs ==")
        from .convert_demo import transformers5_table

        print(transformers5_table(workdir / "tiny-ernie-m", workdir / "tiny-ernie-m-transformers", DEMO_IDS))
        print()
        print("== 4. information extraction with the embedded toy UIE-M (schema in, spans and relations out) ==")
        from .uie.demo import demo_extraction

        print(demo_extraction())
    return 0
