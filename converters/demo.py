"""The converters' part of ``ernie-m demo``: Paddle -> transformers -> Paddle on a small checkpoint, as a table."""
from __future__ import annotations

from pathlib import Path

from .convert import convert_checkpoint
from .formats import PathLike, load_paddle_state


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
