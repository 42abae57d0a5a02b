"""The conversion part of ``ernie-m demo``: Paddle -> transformers -> Paddle on a small checkpoint (converted by
:mod:`converters`, compared by :mod:`.verify`), and the converted directory in transformers 5 with its bundled
code, as tables."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from converters.convert import convert_checkpoint
from converters.formats import PathLike, load_paddle_state

#: The interpreter of the transformers 5 environment (``make tf5``): this variable, else ./.venv-tf5/bin/python.
TF5_PYTHON_VARIABLE = "ERNIE_M_TF5_PYTHON"
TF5_SCRIPT = Path(__file__).with_name("run_in_transformers5.py")


def roundtrip_table(paddle_dir: PathLike, workdir: PathLike) -> str:
    """Convert ``paddle_dir`` to transformers, load and verify it there, convert it back, check the bits.

    Writes ``<workdir>/<name>-transformers`` and ``<workdir>/<name>-back`` (replacing earlier ones) and returns
    a short table. Raises ``RuntimeError`` if the outputs differ or the round trip is not bit-identical.
    """
    from .verify import verify_dirs

    paddle_dir, workdir = Path(paddle_dir), Path(workdir)
    hf_dir, back_dir = workdir / f"{paddle_dir.name}-transformers", workdir / f"{paddle_dir.name}-back"
    there = convert_checkpoint(paddle_dir, hf_dir, "paddle2torch", force=True, progress=False)
    report = verify_dirs(paddle_dir, hf_dir)
    back = convert_checkpoint(hf_dir, back_dir, "torch2paddle", force=True, progress=False)
    original, returned = load_paddle_state(paddle_dir), load_paddle_state(back_dir)
    same = sum(name in returned and original[name].dtype == returned[name].dtype
               and original[name].tobytes() == returned[name].tobytes() for name in original)

    hidden = [d for name, _, d in report.rows if name.startswith("hidden_states")]
    outputs = [(name, d) for name, _, d in report.rows if not name.startswith("hidden_states")]
    rows = [
        ("1. Paddle -> transformers", f"{there.tensors} tensors, {there.bytes / 1e6:.1f} MB -> {hf_dir.name}/"
                                      f"{there.files[0]} in {there.seconds:.2f} s"),
        ("2. transformers loads it", f"{there.head}.from_pretrained: "
                                     + ("no missing or unexpected keys" if not report.problems
                                        else "; ".join(report.problems))),
        ("3. same outputs?", f"max |Paddle - torch| {max(d for _, d in outputs):.1e} on {outputs[0][0]}, "
                             f"{max(hidden):.1e} over {len(hidden)} hidden states "
                             f"({'OK' if report.ok else 'FAILED'}, tolerance {report.atol:g})"),
        ("4. transformers -> Paddle", f"{back.tensors} tensors -> {back_dir.name}/{back.files[0]}"),
        ("5. bit-identical?", f"{'yes' if same == len(original) == len(returned) else 'NO'}: "
                              f"{same}/{len(original)} tensors equal bit for bit"),
    ]
    width = max(len(step) for step, _ in rows)
    table = "\n".join(f"{step:<{width}}  {result}" for step, result in rows)
    if not report.ok or same != len(original) or len(returned) != len(original):
        raise RuntimeError(f"the conversion round trip failed:\n{table}")
    return table


def transformers5_python() -> Path:
    return Path(os.environ.get(TF5_PYTHON_VARIABLE) or Path(".venv-tf5") / "bin" / "python")


def transformers5_table(paddle_dir: PathLike, hf_dir: PathLike, input_ids: Sequence[Sequence[int]],
                        python: Optional[PathLike] = None, timeout: float = 600) -> str:
    """Run the sequence classifier ``hf_dir`` (converted from ``paddle_dir``) in the transformers 5 environment with
    its bundled code, on ``input_ids`` alone, and compare its logits with paddle_ernie_m's on ``paddle_dir``.

    Returns a short table, or how to build the environment when it is missing (``python``, default
    :func:`transformers5_python`). Raises ``RuntimeError`` if the run fails, takes over ``timeout`` seconds or the
    logits differ.
    """
    import numpy as np
    import paddle

    from .modeling import ErnieMForSequenceClassification

    python = Path(python) if python else transformers5_python()
    if not python.is_file():
        return (f"skipped: no transformers 5 environment ({python} not found). `make tf5` builds one "
                f"(torch and transformers 5, nothing of this project); then run `make demo` again.")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    with tempfile.TemporaryDirectory(prefix="ernie-m-transformers-modules-") as modules:  # its copy of the code
        env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=modules)
        try:
            done = subprocess.run([str(python), str(TF5_SCRIPT), str(Path(hf_dir).resolve()),
                                   "AutoModelForSequenceClassification",
                                   json.dumps([list(map(int, row)) for row in input_ids])],
                                  env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"transformers 5 did not finish running {hf_dir} within {timeout} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"transformers 5 could not run {hf_dir}:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    model = ErnieMForSequenceClassification.from_pretrained(paddle_dir)
    with paddle.no_grad():
        expected = model(paddle.to_tensor(np.asarray(input_ids, dtype="int64"))).numpy()
    diff = float(np.abs(np.asarray(result["logits"], dtype=np.float32) - expected).max())
    ok = diff <= 1e-4
    rows = [
        ("1. environment", f"{python}: transformers {result['transformers']}, torch {result['torch']} "
                           "(no ErnieM of its own)"),
        ("2. loads the bundled code", "AutoModelForSequenceClassification.from_pretrained(trust_remote_code=True) -> "
                                      + ".".join(result["class"].split(".")[-2:])),
        ("3. same outputs?", f"max |Paddle - transformers 5| {diff:.1e} on the logits of input_ids alone "
                             f"(mask: {model.config.attention_mask_mode}) ({'OK' if ok else 'FAILED'}, tolerance 1e-4)"),
    ]
    width = max(len(step) for step, _ in rows)
    table = "\n".join(f"{step:<{width}}  {text}" for step, text in rows)
    if not ok:
        raise RuntimeError(f"the converted model differs in transformers 5:\n{table}")
    return table
