"""The files of a tokenizer directory besides the vocabulary: ``tokenizer_config.json``, ``special_tokens_map.json``
and ``added_tokens.json``, read from any ecosystem's directory and written so that paddle_ernie_m, PaddleNLP and
transformers (4.x natively, 5.x through the bundled code) all load them.

``added_tokens.json`` is PaddleNLP's and transformers 4's slow-tokenizer file: ``{token: id}`` of the tokens added
after the vocabulary, whose ids follow each other.

``tokenizer_config.json`` records ``compat``, the tokenization the directory's model was trained with (see
``ernie_m_tokenizer/tokenization_ernie_m_engine.py``). Imports the standard library, the engine's constants and
:mod:`.safe_json`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ernie_m_tokenizer.tokenization_ernie_m_engine import (
    COMPAT_MODES,
    ADDED_TOKENS_FILE,
    DEFAULT_COMPAT,
    MODEL_INPUT_NAMES,
    MODEL_MAX_LENGTH,
    NO_LIMIT,
    SPECIAL_TOKENS,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILE,
    check_compat,
)

from . import safe_json
from .files import write_atomic
from .remote_code import TOKENIZER_AUTO_MAP

#: ``tokenizer_config.json`` keys that name files or classes, never settings to pass on to a tokenizer.
_NOT_SETTINGS = frozenset({"tokenizer_class", "init_class", "init_args", "init_inputs", "auto_map", "vocab_file",
                           "sentencepiece_model_file", "sentencepiece_model_ckpt", "special_tokens_map_file",
                           "tokenizer_file", "name_or_path", "added_tokens_decoder", "compat", "do_lower_case",
                           "model_max_length", "encoding", *SPECIAL_TOKENS})


def refuse_overwrite(directory: Path, names: Iterable[str], force: bool) -> None:
    """``FileExistsError`` naming the files of ``names`` that exist in ``directory``, unless ``force``."""
    if force:
        return
    existing = [name for name in names if (directory / name).exists()]
    if existing:
        raise FileExistsError(f"{directory}: {', '.join(existing)} already exist (pass force=True to overwrite)")


def _json_bytes(data: Dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ------------------------------------------------------------------------------------ tokenizer_config.json
def write_tokenizer_config(
    directory: Union[str, os.PathLike],
    compat: str = DEFAULT_COMPAT,
    do_lower_case: bool = False,
    model_max_length: int = MODEL_MAX_LENGTH,
    force: bool = False,
    model_input_names: Sequence[str] = MODEL_INPUT_NAMES,
    bundled_code: bool = False,
    special_tokens: Optional[Dict[str, str]] = None,
    extra: Optional[Dict[str, Any]] = None,
) -> Tuple[Path, Path]:
    """Write ``tokenizer_config.json`` and ``special_tokens_map.json`` into an existing directory.

    The config names ``ErnieMTokenizer`` (so PaddleNLP's and transformers 4's ``from_pretrained`` and
    ``AutoTokenizer`` load it natively), records ``compat`` (the tokenization the directory's model was trained
    with) and ``model_input_names`` (``["input_ids"]``: no attention mask by default, in all three tokenizers).
    ``bundled_code``: the directory carries ``converters.remote_code``'s files, so ``auto_map`` points
    ``AutoTokenizer`` at its ``tokenization_ernie_m.py`` (for ``trust_remote_code=True``, the only way on
    transformers 5); a directory without them must not name them.
    """
    check_compat(compat)
    model_input_names = _check_model_input_names(model_input_names, "model_input_names")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"directory not found: {directory}")
    refuse_overwrite(directory, (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE), force)
    tokens = {**SPECIAL_TOKENS, **(special_tokens or {})}
    config = {
        **{k: v for k, v in (extra or {}).items() if k not in _NOT_SETTINGS and k != "model_input_names"},
        "tokenizer_class": "ErnieMTokenizer",
        **({"auto_map": TOKENIZER_AUTO_MAP} if bundled_code else {}),
        "compat": compat,
        "do_lower_case": bool(do_lower_case),
        "model_max_length": int(model_max_length),
        "model_input_names": model_input_names,
        **tokens,
    }
    special_map = dict(tokens)
    if (extra or {}).get("additional_special_tokens"):
        special_map["additional_special_tokens"] = list(extra["additional_special_tokens"])
    return (
        write_atomic(directory / TOKENIZER_CONFIG_FILE, _json_bytes(config)),
        write_atomic(directory / SPECIAL_TOKENS_MAP_FILE, _json_bytes(special_map)),
    )


# ------------------------------------------------------------------------------------------ added_tokens.json
def write_added_tokens(directory: Union[str, os.PathLike], added: Dict[str, int], force: bool = False
                       ) -> Optional[Path]:
    """Write ``added_tokens.json`` (``{token: id}``) when there are added tokens; None otherwise (and a stale file
    from an earlier save is removed, as it would name tokens this tokenizer does not have)."""
    directory = Path(directory)
    path = directory / ADDED_TOKENS_FILE
    if not added:
        if force and path.is_file():
            path.unlink()
        return None
    refuse_overwrite(directory, (ADDED_TOKENS_FILE,), force)
    ordered = dict(sorted(added.items(), key=lambda item: item[1]))
    return write_atomic(path, _json_bytes(ordered))


def read_added_tokens(directory: Union[str, os.PathLike]) -> Dict[str, int]:
    """``{token: id}`` of ``added_tokens.json``, by id (empty when there is none); ``ValueError`` naming the file when
    it is not an object of non-empty strings to distinct non-negative integers."""
    path = Path(directory) / ADDED_TOKENS_FILE
    if not path.is_file():
        return {}
    data = _read_json(path)
    if not all(isinstance(t, str) and t and isinstance(i, int) and not isinstance(i, bool) and i >= 0
               for t, i in data.items()) or len(set(data.values())) != len(data):
        raise ValueError(f"{path}: expected an object of tokens to distinct non-negative integer ids")
    return dict(sorted(data.items(), key=lambda item: item[1]))


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        data = safe_json.loads(path.read_text(encoding="utf-8"), str(path))
    except safe_json.JSONLimitError:
        raise
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _check_model_input_names(names: Any, where: str) -> List[str]:
    """``names`` as a list: distinct strings, ``input_ids`` first; else ``ValueError`` naming ``where``."""
    if (not isinstance(names, (list, tuple)) or not names or names[0] != "input_ids"
            or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names)):
        raise ValueError(f"{where} must be a list of distinct input names starting with 'input_ids', got {names!r}")
    return list(names)


def read_tokenizer_config(directory: Union[str, os.PathLike]) -> Dict[str, Any]:
    """``compat``, ``do_lower_case``, ``model_max_length`` and ``special_tokens`` (role -> token) of a tokenizer
    directory (any ecosystem's files; defaults where absent; ``tokenizer_config.json`` wins over
    ``special_tokens_map.json``). Raises ``ValueError`` naming the file and key of a value this tokenizer cannot
    honour."""
    directory = Path(directory)
    settings: Dict[str, Any] = {"compat": DEFAULT_COMPAT, "do_lower_case": False, "model_max_length": MODEL_MAX_LENGTH,
                                "special_tokens": dict(SPECIAL_TOKENS)}
    for name in (SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE):
        path = directory / name
        if not path.is_file():
            continue
        data = _read_json(path)
        for role in SPECIAL_TOKENS:
            value = data.get(role)
            if isinstance(value, dict):  # a serialized AddedToken (transformers' and PaddleNLP's)
                value = value.get("content")
            if value is None:
                continue
            if not isinstance(value, str) or not value or value != value.strip():
                raise ValueError(f"{path}: {role} must be a non-empty string without surrounding whitespace, "
                                 f"got {value!r}")
            settings["special_tokens"][role] = value
        if name != TOKENIZER_CONFIG_FILE:
            continue
        cls = data.get("tokenizer_class", data.get("init_class"))
        if cls is not None and cls != "ErnieMTokenizer":
            raise ValueError(f"{path}: tokenizer_class is {cls!r}, not 'ErnieMTokenizer'")
        if "compat" in data:
            if data["compat"] not in COMPAT_MODES:
                raise ValueError(f"{path}: compat is {data['compat']!r}; known: {', '.join(COMPAT_MODES)}")
            settings["compat"] = data["compat"]
        if "do_lower_case" in data:
            if not isinstance(data["do_lower_case"], bool):
                raise ValueError(f"{path}: do_lower_case must be true or false")
            settings["do_lower_case"] = data["do_lower_case"]
        limit = data.get("model_max_length")
        if limit is not None:
            if isinstance(limit, float) and limit.is_integer():
                limit = int(limit)
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 4:
                raise ValueError(f"{path}: model_max_length must be an integer >= 4, got {limit!r}")
            if limit < NO_LIMIT:
                settings["model_max_length"] = limit
        if "model_input_names" in data:
            _check_model_input_names(data["model_input_names"], f"{path}: model_input_names")
        encoding = data.get("encoding", "utf8")
        if not isinstance(encoding, str) or encoding.replace("-", "").lower() != "utf8":
            raise ValueError(f"{path}: encoding {data['encoding']!r} is not supported (vocab.txt is read as UTF-8)")
    return settings


def read_tokenizer_extras(directory: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The settings of ``tokenizer_config.json`` besides those :func:`read_tokenizer_config` reads and the names of
    files and classes (``padding_side``, ``model_input_names``, ``additional_special_tokens``, and whatever keyword
    PaddleNLP kept there), for a tokenizer that passes them on; empty when there is no config."""
    path = Path(directory) / TOKENIZER_CONFIG_FILE
    if not path.is_file():
        return {}
    return {k: v for k, v in _read_json(path).items() if k not in _NOT_SETTINGS}


# ------------------------------------------------------------------------------------------ added tokens
def read_tokens_after_vocab(directory: Union[str, os.PathLike], vocab_size: int) -> List[str]:
    """The tokens a transformers tokenizer directory adds after its ``vocab_size`` vocabulary entries
    (``added_tokens.json`` and ``tokenizer_config.json``'s ``added_tokens_decoder``), in id order. ``ValueError``
    naming the file when their ids do not follow the vocabulary without a gap."""
    directory = Path(directory)
    added: Dict[int, str] = {}
    for name in (ADDED_TOKENS_FILE, TOKENIZER_CONFIG_FILE):
        path = directory / name
        if not path.is_file():
            continue
        data = _read_json(path)
        if name == ADDED_TOKENS_FILE:
            entries = data.items() if isinstance(data, dict) else ()
        else:
            decoder = data.get("added_tokens_decoder", {}) if isinstance(data, dict) else {}
            entries = [(token.get("content") if isinstance(token, dict) else token, index)
                       for index, token in decoder.items()]
        for token, index in entries:
            try:
                index = int(index)
            except (TypeError, ValueError):
                raise ValueError(f"{path}: added token {token!r} has no integer id ({index!r})") from None
            if index >= vocab_size:
                added[index] = str(token)
    expected = list(range(vocab_size, vocab_size + len(added)))
    if sorted(added) != expected:
        raise ValueError(f"{directory}: the added tokens' ids {sorted(added)} do not follow the {vocab_size} "
                         f"vocabulary entries of {VOCAB_FILE} without a gap")
    return [added[i] for i in expected]
