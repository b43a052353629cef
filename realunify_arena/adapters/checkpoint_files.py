"""A checkpoint folder's files checked before transformers or diffusers reads them.

The libraries report a broken or missing file in their own words, which often name neither the file
nor the field: a truncated ``model.safetensors`` is "Error while deserializing header: invalid header
length", a half-written ``config.json`` is a bare ``JSONDecodeError``, a missing ``config.json`` makes
transformers build a full-size default model (minutes, gigabytes) before anything fails. This module
reads only the small files and each safetensors header (never the weights), and says which file is
wrong and what was expected, in one line.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from realunify_arena.adapters.base import ModelUnavailable

__all__ = ["check_checkpoint"]

MAX_JSON_BYTES = 64 * 2**20  # tokenizer.json is 5-10 MB; anything far larger is not a config
_CONFIGS = ("config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json",
            "preprocessor_config.json", "processor_config.json", "chat_template.json", "tokenizer.json",
            "model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json",
            "scheduler_config.json", "model_index.json")


def check_checkpoint(checkpoint: str, kind: str) -> None:
    """Refuse a local (or already cached) checkpoint whose files cannot be what ``kind`` needs.

    Args:
        checkpoint: a folder path, or a hub id (its cached snapshot is checked when there is one; an
            uncached hub id is left to the library, which downloads it).
        kind: ``"transformers"`` (``config.json``, weights, a tokenizer and a processor) or ``"diffusers"``
            (``model_index.json`` and each component sub-folder it names).

    Raises:
        ModelUnavailable: ``"{file}: {what is wrong}; expected {what}"`` for the first bad file, or the
            folder named by a path does not exist.
    """
    folder = _folder(checkpoint)
    if folder is None:
        return
    problem = _diffusers_problem(folder) if kind == "diffusers" else _model_problem(folder, processor=True)
    if problem:
        raise ModelUnavailable(problem)


def _folder(checkpoint: str) -> Path | None:
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelUnavailable(f"checkpoint {checkpoint}: a file, expected a checkpoint folder (or a hub id)")
    if checkpoint.startswith(("/", ".", "~")) or checkpoint.count("/") > 1 or "\\" in checkpoint:
        raise ModelUnavailable(f"checkpoint folder {checkpoint} does not exist")
    from realunify_arena.availability import cached_folder

    return cached_folder(checkpoint)[0]  # None: not cached, the library downloads it


def _json(path: Path) -> tuple[object, str | None]:
    """(content, problem) of one JSON file."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            return None, f"{path}: {size} bytes; expected a JSON file of at most {MAX_JSON_BYTES} bytes"
        return json.loads(path.read_bytes().decode("utf-8")), None
    except OSError as exc:
        return None, f"{path}: cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return None, f"{path}: not UTF-8 (byte {exc.start}); expected a JSON file (an interrupted download?)"
    except json.JSONDecodeError as exc:
        return None, (f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); "
                      "expected the file as the checkpoint ships it (an interrupted download?)")


def _jsons_problem(folder: Path) -> str | None:
    for name in _CONFIGS:
        path = folder / name
        if path.is_file():
            content, problem = _json(path)
            if problem:
                return problem
            if not isinstance(content, dict):
                return f"{path}: a JSON {type(content).__name__}; expected a JSON object"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """Whether the header of one safetensors file is readable and its tensors fit in the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return (f"{path}: {size} bytes; expected a safetensors file (an 8-byte header length, then a"
                        " header); download it again")
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                return (f"{path}: truncated or not safetensors ({size} bytes, the header alone claims {length}); "
                        "download it again")
            header = json.loads(f.read(length).decode("utf-8"))
    except OSError as exc:
        return f"{path}: cannot be read: {exc.strerror or exc}"
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"{path}: its header is not valid JSON; expected a safetensors file (download it again)"
    if not isinstance(header, dict):
        return f"{path}: its header is not a JSON object; expected a safetensors file"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"
            and isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2 and isinstance(entry["data_offsets"][1], int)]
    need = 8 + length + max(ends, default=0)
    if need > size:
        return f"{path}: truncated ({size} bytes, its tensors need {need}); download it again"
    return None


def _weights_problem(folder: Path, stem: str) -> str | None:
    """Weights as ``{stem}.safetensors``, a sharded index of them, or a torch ``.bin``."""
    index = folder / f"{stem}.safetensors.index.json"
    if index.is_file():
        content, _ = _json(index)
        weight_map = content.get("weight_map") if isinstance(content, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            return f"{index}: field 'weight_map': expected a map tensor name -> shard file"
        files = sorted({str(f) for f in weight_map.values()})
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            return f"{index}: field 'weight_map' names {', '.join(missing)}, which {folder} lacks"
        shards = [folder / f for f in files]
    else:
        shards = sorted(folder.glob("*.safetensors"))
        if not shards:
            bins = [folder / f"{stem}.bin", folder / f"{stem}.bin.index.json"]
            if stem == "model":
                bins.insert(0, folder / "pytorch_model.bin")
            if any(b.is_file() for b in bins) or list(folder.glob("pytorch_model-*.bin")):
                return None
            return f"{folder}: no weights; expected {stem}.safetensors (or its sharded index)"
    for shard in shards:
        problem = _safetensors_problem(shard)
        if problem:
            return problem
    return None


def _model_problem(folder: Path, *, processor: bool, stem: str = "model") -> str | None:
    problem = _jsons_problem(folder)
    if problem:
        return problem
    config = folder / "config.json"
    if not config.is_file():
        return f"{config}: missing; expected the model's configuration (config.json)"
    content, _ = _json(config)
    if stem == "model" and not isinstance(content.get("model_type"), str):
        return f"{config}: field 'model_type': missing; expected the architecture name (e.g. 'janus')"
    if processor:
        if not any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer_config.json")):
            return f"{folder}: no tokenizer; expected tokenizer.json or tokenizer_config.json"
        if not any((folder / n).is_file() for n in ("preprocessor_config.json", "processor_config.json")):
            return f"{folder}: no image processor; expected preprocessor_config.json or processor_config.json"
    return _weights_problem(folder, stem)


def _diffusers_problem(folder: Path) -> str | None:
    index = folder / "model_index.json"
    if not index.is_file():
        return f"{index}: missing; expected a diffusers pipeline folder (model_index.json)"
    content, problem = _json(index)
    if problem:
        return problem
    if not isinstance(content, dict):
        return f"{index}: a JSON {type(content).__name__}; expected a JSON object"
    for name, spec in content.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or None in spec:
            continue
        sub = folder / name
        if not sub.is_dir():
            return f"{index}: field '{name}' names the sub-folder {sub}, which does not exist"
        problem = _jsons_problem(sub)
        if problem:
            return problem
        if (sub / "config.json").is_file():  # a model (not a scheduler, tokenizer or processor)
            library = spec[0]
            problem = _model_problem(sub, processor=False,
                                     stem="diffusion_pytorch_model" if library == "diffusers" else "model")
            if problem:
                return problem
    return None
