"""``ernie-m extract`` (information extraction with a UIE-M checkpoint) and ``ernie-m uie-doccano`` (doccano
exports to UIE training examples)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

from converters.files import UnsafeOutputError, atomic_open, check_outside, json_lines

from ..engines.export_cache import CACHE_ENV, DEFAULT_CACHE
from .decoding import MAX_CHILD_PROMPTS
from .doccano import TASK_TYPES
from .extractor import MODES
from .runner import BACKEND_PRECISIONS, BACKENDS
from .schema import SCHEMA_LANGS, build_schema

#: Texts handed to the extractor at a time when reading a file (bounds memory on large inputs).
CHUNK = 64


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract entities, relations, events and opinions with a UIE-M checkpoint",
        description="Universal information extraction with a UIE-M checkpoint in either layout (PaddleNLP's, e.g. "
                    "Taskflow's uie-m-base directory or a fine-tuned best/, or transformers'), with the results of "
                    "PaddleNLP's Taskflow. Prints one JSON line per text: {\"text\": ..., \"result\": {label: "
                    "[{text, start, end, probability, relations}]}} (objects read with --input keep their other "
                    "keys). Every backend reads both layouts.",
    )
    parser.add_argument("--model", required=True, type=Path, help="UIE-M checkpoint directory")
    parser.add_argument("--schema", required=True,
                        help='JSON schema, e.g. \'["人物", {"公司": ["创始人"]}, "情感倾向[正向,负向]"]\', or a JSON file')
    parser.add_argument("--schema-lang", choices=SCHEMA_LANGS, default="ch",
                        help="language of the child prompts: '<span>的<label>' (ch, default) or '<label> of <span>' (en)")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to extract from")
    parser.add_argument("--input", type=Path,
                        help="JSON lines file: one text a line, as a JSON string or an object with a 'text' key")
    parser.add_argument("--output", type=Path, help="write the JSON lines here instead of standard output")
    parser.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    parser.add_argument("--mode", choices=MODES, default="exact",
                        help="exact: Taskflow's padding semantics and results (default); fast: no padding "
                             "(results can differ)")
    parser.add_argument("--backend", choices=BACKENDS, default="inference",
                        help="inference: Paddle Inference, exported once into the export cache (default); "
                             "onnxruntime: ONNX Runtime, exported the same way (faster on CPUs, int8 faster again on "
                             "large models: docs/benchmarks.md; needs the [onnx] extra); dygraph: Paddle dygraph; "
                             "torch: PyTorch with the bundled transformers code (same results; Paddle need not be "
                             "installed)")
    parser.add_argument("--precision", choices=sorted({p for ps in BACKEND_PRECISIONS.values() for p in ps}),
                        default=None, help="fp32, or int8 with --backend onnxruntime (int8 weights; spans close to "
                                           "fp32's, see docs/benchmarks.md) (default: fp32)")
    parser.add_argument("--device", default=None,
                        help="inference, onnxruntime: cpu, gpu or gpu:N; torch: cpu, cuda or cuda:N (default: the "
                             "GPU if there is one; int8: the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores for inference "
                                                                  "and onnxruntime, the framework's default "
                                                                  "otherwise)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"export cache of the inference and onnxruntime backends (default: ${CACHE_ENV}, "
                             f"else {DEFAULT_CACHE})")
    parser.add_argument("--max-seq-len", type=int, default=512, help="tokens per model input (default 512)")
    parser.add_argument("--batch-size", type=int, default=16, help="model inputs per run (default 16)")
    parser.add_argument("--position-prob", type=float, default=0.5, help="span threshold (default 0.5)")
    parser.add_argument("--split-sentence", action="store_true", help="split texts into sentences first")
    parser.add_argument("--max-child-prompts", type=int, default=MAX_CHILD_PROMPTS, metavar="N",
                        help="ask a child label about at most N spans of its parent per text (default "
                             f"{MAX_CHILD_PROMPTS}; 0: all of them, as Taskflow); a warning says when it cuts")
    parser.set_defaults(func=run)

    convert = subparsers.add_parser(
        "uie-doccano",
        help="convert a doccano export into UIE training examples (train/dev/test)",
        description="Convert a doccano JSONL export (entities, relations, entity sentiment with 'label##option', "
                    "or text classification) into UIE examples with PaddleNLP's positive and negative prompts, "
                    "split into train.txt / dev.txt / test.txt (and sample_index.json) with a seed.",
    )
    convert.add_argument("doccano_file", type=Path, help="the doccano export (JSON lines)")
    convert.add_argument("save_dir", type=Path, help="directory for train.txt, dev.txt, test.txt")
    convert.add_argument("--task-type", choices=TASK_TYPES, default="ext",
                         help="ext: entities/relations/entity sentiment; cls: text classification (default ext)")
    convert.add_argument("--splits", type=float, nargs="*", default=[0.8, 0.1, 0.1],
                         help="train, dev and test ratios (default 0.8 0.1 0.1); none: everything to train.txt")
    convert.add_argument("--negative-ratio", type=int, default=5,
                         help="negative prompts per positive in train.txt (default 5; dev/test get all)")
    convert.add_argument("--schema-lang", choices=SCHEMA_LANGS, default="ch", help="prompt language (default ch)")
    convert.add_argument("--prompt-prefix", default="情感倾向", help="classification prompt prefix (default 情感倾向)")
    convert.add_argument("--options", nargs="+", default=["正向", "负向"],
                         help="classification options (default 正向 负向)")
    convert.add_argument("--separator", default="##", help="entity label / sentiment separator (default ##)")
    convert.add_argument("--no-shuffle", action="store_true", help="keep the file order")
    convert.add_argument("--seed", type=int, default=1000, help="seed of the split, shuffles and sampling")
    convert.add_argument("--force", action="store_true", help="overwrite existing output files")
    convert.set_defaults(func=run_doccano)


# ----------------------------------------------------------------------------------------------- extract
def parse_schema(value: str) -> Any:
    """The ``--schema`` value: inline JSON, or the path of a JSON file. A value that is neither JSON nor an
    existing file is reported as a missing file unless it looks like JSON (starts with ``[``, ``{`` or ``"``)."""
    source = "--schema"
    if os.path.isdir(value):  # os.path, not Path: an inline schema may be too long for a file name
        raise ValueError(f"--schema {value} is a directory, not a JSON file")
    if os.path.isfile(value):
        source = f"schema file {value}"
        try:
            value = Path(value).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    elif not value.lstrip().startswith(("[", "{", '"')):
        try:
            return json.loads(value)  # a bare JSON number or literal: refused by build_schema with its reason
        except json.JSONDecodeError:
            raise FileNotFoundError(f"--schema: schema file not found: {value} (inline schemas are JSON, e.g. "
                                    f"'[\"人物\"]')") from None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); write "
                         f"e.g. '[\"人物\", {{\"公司\": [\"创始人\"]}}]'") from None


def read_inputs(path: Path) -> Iterator[Tuple[Dict[str, Any], str]]:
    """``(record, text)`` for each non-blank line of a JSON lines file."""
    for number, item in json_lines(path, "input file"):
        record = {"text": item} if isinstance(item, str) else item
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(f"{path}:{number}: expected a JSON string or an object with a string 'text'")
        yield record, record["text"]


def _chunks(items: Iterator[Tuple[Dict[str, Any], str]], size: int) -> Iterator[List[Tuple[Dict[str, Any], str]]]:
    chunk: List[Tuple[Dict[str, Any], str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run(args: argparse.Namespace) -> int:
    if bool(args.texts) == bool(args.input):
        raise ValueError("give texts as arguments or --input FILE, not both (and not neither)")
    if args.max_child_prompts < 0:
        raise ValueError(f"--max-child-prompts must be 0 (no limit) or positive, got {args.max_child_prompts}")
    if args.output is not None:
        check_outside(args.output, (args.model, args.input, args.schema if os.path.isfile(args.schema) else None))
        if args.output.is_dir():
            raise UnsafeOutputError(f"--output is a directory, not a file: {args.output}")
        if os.path.lexists(args.output) and not args.force:
            raise FileExistsError(f"{args.output} exists (use --force to overwrite)")
        if os.path.lexists(args.output) and not _is_extract_output(args.output):
            raise UnsafeOutputError(f"--force replaces only an earlier output of extract (JSON lines with a "
                                    f"\"result\") or an empty file, and this one is not; nothing was changed: "
                                    f"remove it yourself or choose another --output: {args.output}")
    schema = parse_schema(args.schema)
    build_schema(schema)  # a malformed schema fails before the model loads
    from .extractor import InformationExtractor

    inputs = read_inputs(args.input) if args.input else (({"text": t}, t) for t in args.texts)

    def write(out) -> None:  # the model loads once the output is open: an unwritable --output fails first
        extractor = InformationExtractor(args.model, schema=schema, schema_lang=args.schema_lang, mode=args.mode,
                                         backend=args.backend, max_seq_len=args.max_seq_len,
                                         batch_size=args.batch_size, position_prob=args.position_prob,
                                         split_sentence=args.split_sentence,
                                         max_child_prompts=args.max_child_prompts or None, device=args.device,
                                         threads=args.threads, cache_dir=args.cache_dir,
                                         precision=args.precision)
        for chunk in _chunks(inputs, CHUNK):
            for (record, _), result in zip(chunk, extractor([text for _, text in chunk])):
                out.write(json.dumps({**record, "result": result}, ensure_ascii=False) + "\n")

    if args.output is None:
        write(sys.stdout)
        return 0
    with atomic_open(args.output) as out:  # creates missing parents, and removes them again on failure
        write(out)
    return 0


def _is_extract_output(path: Path) -> bool:
    """Whether ``path`` is a regular file that is empty or whose first line is a result record of extract."""
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        first = f.readline()
    if not first:
        return True
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and isinstance(record.get("result"), (dict, list))


# ----------------------------------------------------------------------------------------------- doccano
def run_doccano(args: argparse.Namespace) -> int:
    from .doccano import PromptStyle, convert_doccano_file

    style = PromptStyle(schema_lang=args.schema_lang, prompt_prefix=args.prompt_prefix, options=tuple(args.options),
                        separator=args.separator)
    written = convert_doccano_file(args.doccano_file, args.save_dir, args.task_type, args.splits,
                                   args.negative_ratio, style, shuffle=not args.no_shuffle, seed=args.seed,
                                   force=args.force)
    for name, path in written.items():
        count = "" if path.suffix == ".json" else f" ({sum(1 for _ in open(path, encoding='utf-8'))} examples)"
        print(f"{name}: {path}{count}")
    return 0
