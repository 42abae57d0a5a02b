"""The convert / verify command lines: success output, and for every error one clear line, exit code 1 and no
DST left behind (nor any temporary directory)."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from converters import remote_code
from paddle_ernie_m.cli import main
from converters.files import OUTPUT_MARKER

from .convert_helpers import hf_checkpoint, paddlenlp_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paddle_src(tmp_path_factory):
    return paddlenlp_checkpoint(tmp_path_factory.mktemp("paddle") / "src", "ErnieMForSequenceClassification")


@pytest.fixture(scope="module")
def torch_src(tmp_path_factory):
    return hf_checkpoint(tmp_path_factory.mktemp("torch") / "src", "ErnieMForSequenceClassification", safe=False)


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "src"))


def _fails(capsys, tmp_path, argv, message, dst_name="dst"):
    """Run ``ernie-m ARGV``; assert exit 1, ``message`` on one stderr line, and nothing left in tmp_path/out."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    rc = main([a.replace("DST", str(out / dst_name)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and err.startswith("ernie-m convert: error: "), err
    assert message in err, err
    assert sorted(os.listdir(out)) == ([dst_name] if (out / dst_name).exists() and dst_name == "existing" else [])
    return err


def test_paddle2torch_prints_a_summary_and_exits_0(capsys, tmp_path, paddle_src):
    rc = main(["convert", "paddle2torch", str(paddle_src), str(tmp_path / "dst")])
    out = capsys.readouterr().out
    assert rc == 0
    for word in ("architecture  ErnieMForSequenceClassification", "tensors       56", "parameters", "bytes", "time"):
        assert word in out
    assert sorted(os.listdir(tmp_path / "dst")) == sorted(
        [OUTPUT_MARKER, "model.safetensors", "config.json", "vocab.txt", "sentencepiece.bpe.model",
         "tokenizer_config.json", "special_tokens_map.json", *remote_code.FILES])


def test_missing_src(capsys, tmp_path):
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(tmp_path / "nope"), "DST"], "nope: no such directory")


def test_src_that_is_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    _fails(capsys, tmp_path, ["convert", "torch2paddle", str(tmp_path / "file"), "DST"], "file: not a directory")


def test_src_without_weights(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    (src / "model_state.pdparams").unlink()
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"], "no weights found (looked for")


def test_src_without_config(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    (src / "config.json").unlink()
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"], "no config.json or model_config.json")


@pytest.mark.parametrize("direction", ["paddle2torch", "torch2paddle"])
def test_truncated_weights(capsys, tmp_path, paddle_src, torch_src, direction):
    src = _copy(paddle_src if direction == "paddle2torch" else torch_src, tmp_path)
    weights = src / ("model_state.pdparams" if direction == "paddle2torch" else "pytorch_model.bin")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    _fails(capsys, tmp_path, ["convert", direction, str(src), "DST"], f"{weights}: truncated or corrupted")


def test_truncated_safetensors(capsys, tmp_path, torch_src):
    src = tmp_path / "src"
    hf_checkpoint(src, "ErnieMModel", safe=True)
    weights = src / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    _fails(capsys, tmp_path, ["convert", "torch2paddle", str(src), "DST"], f"{weights}: truncated: tensor")


def test_corrupted_safetensors_header(capsys, tmp_path):
    src = tmp_path / "src"
    hf_checkpoint(src, "ErnieMModel", safe=True)
    data = bytearray((src / "model.safetensors").read_bytes())
    data[8:20] = b"#" * 12
    (src / "model.safetensors").write_bytes(bytes(data))
    _fails(capsys, tmp_path, ["convert", "torch2paddle", str(src), "DST"], "corrupted safetensors header")


def test_corrupted_pdparams(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    (src / "model_state.pdparams").write_bytes(os.urandom(4096))
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"],
           "model_state.pdparams: truncated or corrupted")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pdparams_is_refused_and_never_runs(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    marker = tmp_path / "pwned"
    with open(src / "model_state.pdparams", "wb") as f:
        pickle.dump({"ernie_m.embeddings.word_embeddings.weight": _Payload(marker)}, f)
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"], "refused global 'posix.system'")
    assert not marker.exists()


def test_malicious_torch_bin_is_refused_and_never_runs(capsys, tmp_path, torch_src):
    import torch

    src = _copy(torch_src, tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"classifier.weight": _Payload(marker)}, src / "pytorch_model.bin")
    err = _fails(capsys, tmp_path, ["convert", "torch2paddle", str(src), "DST"], "pytorch_model.bin: ")
    assert "refused global 'posix.system'" in err
    assert not marker.exists()


def test_config_and_weights_disagree(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    config = json.loads((src / "config.json").read_text())
    config["hidden_size"] = 96
    (src / "config.json").write_text(json.dumps(config))
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"],
           "tensor 'ernie_m.embeddings.word_embeddings.weight' has shape [1502, 48], expected [1502, 96]")


def test_unsupported_architecture_in_config(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    config = json.loads((src / "config.json").read_text())
    config["architectures"] = ["ErnieMForMaskedLM"]
    (src / "config.json").write_text(json.dumps(config))
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"], "names 'ErnieMForMaskedLM'; supported:")


def test_unsupported_arch_option(capsys, tmp_path, paddle_src):
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(paddle_src), "DST", "--arch", "BertModel"],
           "unsupported architecture 'BertModel'")


def test_arch_option_is_used_when_the_config_names_none(capsys, tmp_path, paddle_src):
    src = _copy(paddle_src, tmp_path)
    config = json.loads((src / "config.json").read_text())
    del config["architectures"]
    (src / "config.json").write_text(json.dumps(config))
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(src), "DST"], "pass --arch")
    assert main(["convert", "paddle2torch", str(src), str(tmp_path / "ok"),
                 "--arch", "ErnieMForSequenceClassification"]) == 0
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["architectures"] == \
        ["ErnieMForSequenceClassification"]


def test_wrong_direction_says_which_to_use(capsys, tmp_path, torch_src):
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(torch_src), "DST"], "use torch2paddle")


def test_existing_dst_needs_force_which_replaces_only_an_earlier_conversion(capsys, tmp_path, paddle_src):
    existing = tmp_path / "out" / "existing"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("mine")
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(paddle_src), "DST"], "already exists (use --force",
           dst_name="existing")
    _fails(capsys, tmp_path, ["convert", "paddle2torch", str(paddle_src), "DST", "--force"],
           "replaces only a directory it wrote", dst_name="existing")
    assert os.listdir(existing) == ["keep.txt"]
    (existing / "keep.txt").unlink()  # an empty directory may be replaced
    assert main(["convert", "paddle2torch", str(paddle_src), str(existing), "--force"]) == 0
    assert main(["convert", "paddle2torch", str(paddle_src), str(existing), "--force", "--torch-format", "bin"]) == 0
    assert "model.safetensors" not in os.listdir(existing) and (existing / "pytorch_model.bin").is_file()
    assert os.listdir(tmp_path / "out") == ["existing"]


def test_verify_option_prints_the_comparison(capsys, tmp_path, paddle_src):
    assert main(["convert", "paddle2torch", str(paddle_src), str(tmp_path / "dst"), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "logits" in out and "hidden_states[3] layer 3" in out and "OK: max abs diff" in out


def test_failed_verification_leaves_no_dst(capsys, tmp_path, paddle_src, monkeypatch):
    from converters import mapping

    # sabotage the table: the (square) query projection is no longer transposed
    rows = tuple(mapping.Row(r.paddle, r.hf, mapping.COPY, r.shape, r.heads, r.hf_heads)
                 if r.paddle.endswith("q_proj.weight") else r for r in mapping.TENSORS)
    monkeypatch.setattr(mapping, "TENSORS", rows)
    err = _fails(capsys, tmp_path, ["convert", "paddle2torch", str(paddle_src), "DST", "--verify"],
                 "verification failed (max abs diff")
    assert "not written" in err


def test_verify_command_exit_code_follows_the_tolerance(capsys, tmp_path, paddle_src):
    assert main(["convert", "paddle2torch", str(paddle_src), str(tmp_path / "same")]) == 0
    other = hf_checkpoint(tmp_path / "other", "ErnieMForSequenceClassification", seed=1)
    capsys.readouterr()
    assert main(["verify", str(paddle_src), str(tmp_path / "same")]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["verify", str(paddle_src), str(other)]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[sys.executable, "-m", "converters"],
                                     [str(Path(sys.executable).parent / "ernie-m"), "convert"]])
def test_entry_points_run_the_same_conversion(tmp_path, paddle_src, command):
    result = subprocess.run([*command, "paddle2torch", str(paddle_src), str(tmp_path / "dst")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "paddle2torch:" in result.stdout and (tmp_path / "dst" / "model.safetensors").is_file()
    result = subprocess.run([*command, "paddle2torch", str(paddle_src), str(tmp_path / "dst")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "already exists" in result.stderr


def test_progress_bar_counts_tensors_when_asked(capsys, tmp_path, paddle_src):
    from converters.convert import convert_checkpoint

    convert_checkpoint(paddle_src, tmp_path / "dst", "paddle2torch", progress=True)
    err = capsys.readouterr().err
    assert "converting:" in err and "/56 " in err  # a bar over the 56 tensors (cleared when done)


def test_pdparams_and_safetensors_convert_without_importing_paddle_or_torch(tmp_path, paddle_src):
    script = (
        "import sys\n"
        "from converters.convert import convert_checkpoint\n"
        f"convert_checkpoint({str(paddle_src)!r}, {str(tmp_path / 'hf')!r}, 'paddle2torch')\n"
        f"convert_checkpoint({str(tmp_path / 'hf')!r}, {str(tmp_path / 'pd')!r}, 'torch2paddle')\n"
        "print(sorted({'paddle', 'torch', 'transformers', 'paddlenlp'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "pd" / "model_state.pdparams").is_file()
