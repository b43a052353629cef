"""A checkpoint folder's files checked before transformers or diffusers reads them.

The libraries report a broken or missing file in their own words, which often name neither the file
nor the field: a truncated ``model.safetensors`` is "Error while deserializing header: invalid header
length", a half-written ``config.json`` is a bare ``JSONDecodeError``, a missing ``config.json`` makes
transformers build a full-size default model (minutes, gigabytes) before anything fails. This module
reads only the small files and each safetensors header (never the weights), and says which file is
wrong and what was expected, in one line.
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from pathlib import Path

from realunify_arena.adapters.base import ModelUnavailable
from realunify_arena.adapters.checkpoint_fit import component_fit_problem, model_fit_problem
from realunify_arena.adapters.checkpoint_scheduler import (passed_arguments, scheduler_settings_problem,
                                                           timestep_call)
from realunify_arena.adapters.safetensors_header import safetensors_problem
from realunify_arena.adapters.torch_bin import torch_bin_problem
from realunify_arena.adapters.weight_layout import chosen, variant_message, weight_entries
from realunify_arena.adapters.checkpoint_config import (config_sizes_problem, config_values_problem, dtype_problem,
                                                        generation_config_problem, library_refusal,
                                                        null_build_problem, one_of, pipeline_null_problem,
                                                        sub_config_problem, token_ids_problem, vocabulary_ids)
from realunify_arena.adapters.checkpoint_settings import settings_problem
from realunify_arena.redaction import shortened
from realunify_arena.shown import json_kind

__all__ = ["chat_templates", "check_checkpoint", "model_weights_problem", "tokenizer_vocabulary", "weights_entry"]

MAX_JSON_BYTES = 64 * 2**20  # tokenizer.json is 5-10 MB; anything far larger is not a config
log = logging.getLogger(__name__)
_CONFIGS = ("config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json",
            "preprocessor_config.json", "processor_config.json", "chat_template.json", "tokenizer.json",
            "model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json",
            "scheduler_config.json", "model_index.json")


# A tokenizer is tokenizer.json, or tokenizer_config.json with the vocabulary a slow tokenizer reads
_VOCABULARIES = ("tokenizer.model", "vocab.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")
_TOKENIZER_EXPECTED = ("tokenizer.json (or tokenizer_config.json with its vocabulary: "
                       + ", ".join(_VOCABULARIES) + " or a .tiktoken file)")


def check_checkpoint(checkpoint: str, kind: str, variant: str | None = None, *,
                     model_types: Collection[str] | None = None, chat_template: bool = False,
                     special_tokens: Collection[str] = (),
                     sub_configs: Mapping[str, Collection[str]] | None = None) -> None:
    """Refuse a local (or already cached) checkpoint whose files cannot be what ``kind`` needs.

    Args:
        checkpoint: a folder path, or a hub id (its cached snapshot is checked when there is one; an
            uncached hub id is left to the library, which downloads it).
        kind: ``"transformers"`` (``config.json``, weights, a tokenizer and a processor) or ``"diffusers"``
            (``model_index.json`` and each component sub-folder it names; a diffusers or transformers model
            component's weights, safetensors or torch ``.bin``, must fit the class ``model_index.json`` names,
            built from its ``config.json``: ``checkpoint_fit.component_fit_problem``).
        variant: the weights' variant the library is asked for (``from_pretrained(variant=...)``, the card's
            ``params.variant``, e.g. ``"fp16"``); None: unvarianted weights.
        model_types: the ``config.json`` ``model_type`` values the loading class accepts (``{"janus"}``);
            None: any. Another type would make transformers build the class's full-size default model.
        chat_template: the caller renders prompts with the processor's chat template, so the folder must
            ship one (``chat_template.jinja``, ``chat_template.json``, or a ``chat_template`` field of
            ``processor_config.json`` or ``tokenizer_config.json``).
        special_tokens: the named tokens the family's processor reads from its tokenizer (Janus:
            ``image_token``, ``boi_token``, ``eoi_token``), each a field of ``tokenizer_config.json`` (or of
            its ``extra_special_tokens``, or of ``special_tokens_map.json``), each in the tokenizer's
            vocabulary at an id below the model's ``vocab_size`` (``checkpoint_config.token_ids_problem``, which
            also checks every ``*_token_id`` of ``config.json`` and ``generation_config.json``).
        sub_configs: the nested configurations of ``config.json`` the model class needs, field -> the
            ``model_type`` values it may have (Janus: ``{"vq_config": {"janus_vqgan"}, ...}``); a missing one
            would be replaced by the class's full-size default.

    Raises:
        ModelUnavailable: ``"{file}: {what is wrong}; expected {what}"`` for the first bad file, or the
            folder named by a path does not exist; weights present only as another variant name the
            ``params.variant`` to set.
    """
    folder = _folder(checkpoint, variant)
    if folder is None:
        return
    problem = (_diffusers_problem(folder, variant) if kind == "diffusers"
               else _model_problem(folder, variant, processor=True, model_types=model_types,
                                   chat_template=chat_template, special_tokens=special_tokens,
                                   sub_configs=sub_configs or {}))
    if problem:
        raise ModelUnavailable(problem)


def _folder(checkpoint: str, variant: str | None) -> Path | None:
    from realunify_arena.availability import (cache_folder_problem, cached_folder, cached_snapshot, hub_offline,
                                              probe_hub)

    path = Path(checkpoint).expanduser()
    if path.is_dir():
        problem = cache_folder_problem(path)
        if problem:
            raise ModelUnavailable(problem)
        return path
    if path.exists():
        raise ModelUnavailable(f"checkpoint {checkpoint}: a file, expected a checkpoint folder (or a hub id)")
    if checkpoint.startswith(("/", ".", "~")) or checkpoint.count("/") > 1 or "\\" in checkpoint:
        raise ModelUnavailable(f"checkpoint folder {checkpoint} does not exist")
    folder, _ = cached_folder(checkpoint, variant=variant)
    if folder is not None:
        return folder
    # only partly cached: the library fetches the missing files when it can reach the hub; when it cannot,
    # the snapshot's files are all there is (a link into a blob never downloaded is named)
    snapshot = cached_snapshot(checkpoint)
    if snapshot is not None and (hub_offline() or not probe_hub().reachable):
        return snapshot
    return None  # not cached, or the library completes the download


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


# (tokenizer.json's resolved path, inode, size, mtime) -> (problem, vocabulary_ids): a Qwen-size tokenizer.json (12 MB,
# 151,643 entries and as many merges) takes 0.2-0.35 s to parse on this project's 2-core machine (77 MiB at the peak)
# and its ids keep 20 MiB; the checks before a load (that it parses, the token ids) and the chat-template check after
# the processor loaded (checkpoint_agree, right after) read one parse of it
_PARSED: OrderedDict[tuple, tuple[str | None, dict[str, int] | None]] = OrderedDict()
_PARSED_KEPT = 1  # a model's checks, its processor and its agreement check come one after another
_PARSED_LOCK = threading.Lock()


def _vocabulary(path: Path) -> tuple[str | None, dict[str, int] | None]:
    """(problem, token -> id) of the ``tokenizer.json`` at ``path`` (``_json``'s problem, or that it holds no JSON
    object; ``checkpoint_config.vocabulary_ids`` of it), parsed once while the file stays the same (its resolved
    path, inode, size and modification time), the last ``_PARSED_KEPT`` files kept."""
    try:
        info = path.stat()
        key = (str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns)
    except OSError:
        return _json(path)[1] or f"{path}: cannot be read", None
    with _PARSED_LOCK:
        if key in _PARSED:
            _PARSED.move_to_end(key)
            return _PARSED[key]
    content, problem = _json(path)
    if problem is None and not isinstance(content, dict):
        problem = f"{path}: {json_kind(content)}; expected a JSON object"
    read = (problem, None) if problem else (None, vocabulary_ids(content))
    del content
    with _PARSED_LOCK:
        _PARSED[key] = read
        while len(_PARSED) > _PARSED_KEPT:
            _PARSED.popitem(last=False)
    return read


def tokenizer_vocabulary(folder: Path) -> dict[str, int] | None:
    """token -> id of ``folder``'s ``tokenizer.json`` (``_vocabulary``: the parse the checks before the load made,
    where the file is unchanged); None where the folder has none or it is no JSON object."""
    path = folder / "tokenizer.json"
    return _vocabulary(path)[1] if path.is_file() else None


def _links_problem(folder: Path) -> str | None:
    """A link whose target is gone: a hub cache snapshot whose blob was never (fully) downloaded."""
    for path in sorted(folder.iterdir()):
        if path.is_symlink() and not path.exists():
            return (f"{path}: a link to {os.readlink(path)}, which is missing (an interrupted download?); "
                    "download it again")
    return None


# A Git LFS pointer file: what a clone without git-lfs (or with GIT_LFS_SKIP_SMUDGE=1) leaves in place of each file
# the repository tracks with LFS (the hub tracks weights, tokenizer.json, *.model, large files). Its form, from the
# Git LFS specification (github.com/git-lfs/git-lfs, docs/spec.md): at most 1024 bytes of UTF-8 "key value" lines,
# the first "version https://git-lfs.github.com/spec/v1", then "oid sha256:<hex>" and "size <bytes>".
_LFS_POINTER_MAX = 1024
_LFS_VERSION = b"version https://git-lfs.github.com/spec/"


def _pointers_problem(folder: Path) -> str | None:
    """A file of ``folder`` that is a Git LFS pointer, not the file it points to: the libraries read it as the file
    and fail in their own words naming no file ("header too large", "Error while initializing BPE: expected value at
    line 1 column 1"), or take it as it is (a ``chat_template.jinja`` pointer renders every prompt as the pointer's
    three lines)."""
    for path in sorted(folder.iterdir()):
        try:
            if not path.is_file() or path.stat().st_size > _LFS_POINTER_MAX:
                continue
            with path.open("rb") as f:
                head = f.read(_LFS_POINTER_MAX)
        except OSError:
            continue  # an unreadable file is named by the check that reads it
        if head.startswith(_LFS_VERSION):
            size = re.search(rb"^size (\d+)$", head, re.M)
            of = f" ({int(size.group(1))} bytes)" if size else ""
            return (f"{path}: a Git LFS pointer ({len(head)} bytes), not the file it points to{of}; expected the file "
                    "itself (fetch it with git lfs pull in the clone, or download the checkpoint from the hub)")
    return None


def _jsons_problem(folder: Path) -> str | None:
    problem = _links_problem(folder) or _pointers_problem(folder)
    if problem:
        return problem
    for name in _CONFIGS:
        path = folder / name
        if path.is_file() and name == "tokenizer.json":
            problem = _vocabulary(path)[0]
            if problem:
                return problem
        elif path.is_file():
            content, problem = _json(path)
            if problem:
                return problem
            if not isinstance(content, dict):
                return f"{path}: {json_kind(content)}; expected a JSON object"
    return None


def _index_problem(index: Path) -> tuple[list[Path], str | None]:
    """(shard files, problem) of one sharded-checkpoint index."""
    content, problem = _json(index)
    if problem:
        return [], problem
    weight_map = content.get("weight_map") if isinstance(content, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        return [], f"{index}: field 'weight_map': expected a map tensor name -> shard file"
    files = sorted({str(f) for f in weight_map.values()})
    missing = [f for f in files if not (index.parent / f).is_file()]
    if missing:
        return [], f"{index}: field 'weight_map' names {', '.join(missing)}, which {index.parent} lacks"
    unnamed = _unnamed_shard(files)
    if unnamed:
        held = "" if (index.parent / unnamed).is_file() else f" (and {index.parent} lacks it)"
        return [], (f"{index}: field 'weight_map' names no tensor of {unnamed}{held}; expected every shard of "
                    "the numbered set its shard names count (their tensors would be left at random values)")
    return [index.parent / f for f in files], None


_SHARD = re.compile(r"(?P<stem>.+)-(?P<i>\d+)-of-(?P<n>\d+)(?P<ext>\.[^/]+)")


def _unnamed_shard(files: list[str]) -> str | None:
    """The first shard of a numbered set (``model-00002-of-00004.safetensors``, as save_pretrained names them) that
    ``files`` (the shards an index names) leave out, or None. The count is part of a file's name from outside: only
    the smallest number from 1 not named is looked for, so "-of-99999999999" costs what the names do (every
    number up to it was listed: the load hung, its memory growing)."""
    sets: dict[tuple[str, str, str], set[int]] = {}
    for name in files:
        match = _SHARD.fullmatch(name)
        if match:
            sets.setdefault((match["stem"], match["n"], match["ext"]), set()).add(int(match["i"]))
    for (stem, n, ext), named in sorted(sets.items()):
        first = next(i for i in itertools.count(1) if i not in named)  # at most len(named) + 1 tries
        if first <= int(n):
            return f"{stem}-{first:0{len(n)}d}-of-{n}{ext}"
    return None


def _weights_problem(folder: Path, stem: str, variant: str | None, *, fallback: bool = False) -> str | None:
    """Weights in any layout from_pretrained(variant=variant) reads: ``{stem}.safetensors``, a sharded index of
    them, a torch ``.bin`` (``pytorch_model.bin`` for transformers) or its index, with the variant's name
    inserted (``model.fp16.safetensors``, ``diffusion_pytorch_model.fp16.bin``,
    ``model.safetensors.index.fp16.json``). ``fallback``: the variant may be missing where unvarianted
    weights exist (a diffusers pipeline loads such a component without it)."""
    found = weight_entries(folder, stem)
    entries = chosen(found, variant, fallback)
    if not entries:
        problem = variant_message(folder, stem, variant, found, fallback)
        if problem:
            return problem
        return (f"{folder}: no weights; expected {stem}.safetensors (or its sharded index), "
                f"{'pytorch_model' if stem == 'model' else stem}.bin, or a variant of them ({stem}.fp16.safetensors)")
    path, kind = entries[0]
    shards = [path] if kind in ("safetensors", "bin") else []
    if kind == "index":
        shards, problem = _index_problem(path)
        if problem:
            return problem
    for shard in shards:
        problem = safetensors_problem(shard) if shard.name.endswith(".safetensors") else torch_bin_problem(shard)
        if problem:
            return problem
    return None


def _weights_read(folder: Path, stem: str, variant: str | None, *,
                  fallback: bool = True) -> tuple[Path, list[Path]] | None:
    """(entry file, the safetensors or torch ``.bin`` files holding its weights) from_pretrained reads from a
    folder (a diffusers component's: ``fallback``; already checked by ``_weights_problem``); None where there are
    none, or a sharded index names no readable shard set."""
    entries = chosen(weight_entries(folder, stem), variant, fallback)
    if not entries:
        return None
    path, kind = entries[0]
    shards = _index_problem(path)[0] if kind == "index" else [path]
    return (path, shards) if shards else None


def _local_folder(checkpoint: str, variant: str | None) -> Path | None:
    """The folder ``checkpoint`` names, or its hub snapshot in the local cache, complete in ``variant``; None (never an
    error, never the network) otherwise."""
    from realunify_arena.availability import cached_folder

    return cached_folder(checkpoint, variant=variant)[0]


def weights_entry(checkpoint: str, variant: str | None) -> str:
    """The name of the weight entry file ``from_pretrained(checkpoint, variant=variant)`` reads from a checkpoint
    folder or cached hub snapshot (``model.safetensors``, ``model.safetensors.index.json``, ``pytorch_model.bin``);
    for a hub id not cached, or a folder without one, words naming its weight files."""
    folder = _local_folder(checkpoint, variant)
    entries = chosen(weight_entries(folder, "model"), variant, False) if folder is not None else []
    return entries[0][0].name if entries else "its weight files"


def model_weights_problem(checkpoint: str, cls, variant: str | None) -> str | None:
    """Why ``cls.from_pretrained(checkpoint, variant=variant)`` (a whole transformers model) would load with weights
    missing or of another shape, read from the weight files' headers before anything is loaded
    (``checkpoint_fit.model_fit_problem``: the message ``load_report_problem`` would give after the load).

    Returns:
        ``"{checkpoint}: {n} of the {total} weights of the {class} that config.json builds are in no weight file
        ({file}): ..."`` or ``"{checkpoint}: weight {key} has shape [..] in {file} but config.json builds [..]
        ..."``; None when they fit, or for a hub id not in the local cache, a folder without weights (which
        ``check_checkpoint`` refuses), or whenever the check cannot tell (the load's own report then decides).
    """
    try:
        folder = _local_folder(checkpoint, variant)
        weights = _weights_read(folder, "model", variant, fallback=False) if folder is not None else None
    except Exception as exc:  # noqa: BLE001 - an unreadable folder: the library reports it on load
        log.debug("%s: weight-fit check skipped (%s: %s)", checkpoint, type(exc).__name__, exc)
        return None
    return model_fit_problem(checkpoint, folder, cls, *weights) if weights else None


def _model_problem(folder: Path, variant: str | None, *, processor: bool, stem: str = "model",
                   fallback: bool = False, model_types: Collection[str] | None = None,
                   chat_template: bool = False, special_tokens: Collection[str] = (),
                   sub_configs: Mapping[str, Collection[str]] | None = None) -> str | None:
    problem = _jsons_problem(folder)
    if problem:
        return problem
    config = folder / "config.json"
    if not config.is_file():
        return f"{config}: missing; expected the model's configuration (config.json)"
    content, _ = _json(config)
    model_type = content.get("model_type")
    if stem == "model" and not isinstance(model_type, str):
        return f"{config}: field 'model_type': missing; expected the architecture name (e.g. 'janus')"
    if model_types is not None and model_type not in model_types:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        unknown = "" if model_type in CONFIG_MAPPING_NAMES else _newer_library("transformers", config, content)
        return f"{config}: field 'model_type' is {model_type!r}{unknown}; expected {one_of(model_types)}"
    problem = dtype_problem(config, content)
    if problem:
        return problem
    if processor:
        problem = _config_class_problem(config) or _generation_problem(folder)
        if problem:
            return problem
    problem = sub_config_problem(config, content, sub_configs or {})
    if problem:
        return problem
    if processor:
        problem = (_processor_problem(folder, chat_template) or _special_tokens_problem(folder, special_tokens)
                   or _token_ids_problem(folder, content, special_tokens))
        if problem:
            return problem
    return _weights_problem(folder, stem, variant, fallback=fallback)


def _generation_problem(folder: Path) -> str | None:
    path = folder / "generation_config.json"
    return generation_config_problem(path, _json(path)[0]) if path.is_file() else None


def _config_class_problem(config: Path) -> str | None:
    """Whether transformers' configuration class accepts ``config`` (field types, nested configurations):
    it reads only that file, and its refusal (``StrictDataclassFieldValidationError`` over several lines,
    naming neither the file) becomes one line naming it; then what the class leaves unchecked and the model
    needs (``checkpoint_settings.settings_problem``: names it looks up, multimodal RoPE sections)."""
    from transformers import AutoConfig

    try:
        settings = AutoConfig.from_pretrained(config.parent)
    except Exception as exc:  # noqa: BLE001 - the class's own validation: TypeError, ValueError, its own kinds
        return library_refusal(config, exc, "the configuration as the checkpoint ships it")
    return settings_problem(config, settings)


def _tokenizer_problem(folder: Path, tokenizer_class: str | None = None) -> str | None:
    """A tokenizer AutoTokenizer (or ``tokenizer_class``, a diffusers component's class) can read from ``folder``:
    ``tokenizer.json``, or ``tokenizer_config.json`` with the vocabulary files its class reads."""
    if (folder / "tokenizer.json").is_file():
        return None
    if (folder / "tokenizer_config.json").is_file() and (
            any((folder / n).is_file() for n in _VOCABULARIES) or any(folder.glob("*.tiktoken"))):
        return _converter_problem(folder) or _vocabulary_files_problem(
            folder, tokenizer_class or _field(folder / "tokenizer_config.json", "tokenizer_class"))
    return f"{folder}: no tokenizer; expected {_TOKENIZER_EXPECTED}"


_MODEL_VOCABULARIES = ("tokenizer.model", "spiece.model", "sentencepiece.bpe.model")
_TIKTOKEN_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2} \d+\r?\n")  # "<base64 of the token's bytes> <rank>"


def _converter_problem(folder: Path) -> str | None:
    """A vocabulary transformers cannot read here. With no ``tokenizer.json`` (and no ``vocab.json``/``vocab.txt``),
    transformers 5 builds the tokenizer from a SentencePiece model (``tokenizer.model``, ``spiece.model``: its
    SentencePieceExtractor, which needs the sentencepiece and protobuf packages) or, failing that, reads it as a
    tiktoken file (``<base64> <rank>`` lines: the tiktoken package). This project installs none of them, and without
    them a SentencePiece model is refused as "`tiktoken` is required to read a `tiktoken` file", naming neither the
    file nor what it needs (checked with transformers 5.24: a Llama tokenizer.model loads once both are installed)."""
    for path in [folder / name for name in _MODEL_VOCABULARIES] + sorted(folder.glob("*.tiktoken")):
        if any((folder / name).is_file() for name in ("vocab.json", "vocab.txt")):
            return None
        try:
            with path.open("rb") as f:
                tiktoken = bool(_TIKTOKEN_LINE.match(f.read(256)))
        except OSError:
            continue
        kind, needed = ("a tiktoken file", {"tiktoken": "tiktoken"}) if tiktoken else (
            "a SentencePiece model", {"sentencepiece": "sentencepiece", "protobuf": "google.protobuf"})
        missing = [package for package, module in needed.items() if not _importable(module)]
        if missing:
            return (f"{path}: {kind} and no tokenizer.json beside it; transformers reads it only with the "
                    f"{' and '.join(needed)} package{'s' * (len(needed) > 1)}, and {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not installed here (pip install {' '.join(missing)}, or "
                    "add the checkpoint's tokenizer.json)")
        return None
    return None


def _importable(module: str) -> bool:
    """Whether ``module`` (dotted) can be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # its parent package is missing
        return False


def _vocabulary_files_problem(folder: Path, tokenizer_class: object) -> str | None:
    """Without ``tokenizer.json``, the class reads its vocabulary from the files its ``vocab_files_names`` names: a
    BPE (CLIP, GPT-2, Qwen2) ``vocab.json`` and ``merges.txt`` both; with one of them missing transformers says only
    "`vocab` and `merges` must be both be from memory or both filenames", naming neither."""
    import importlib

    if not isinstance(tokenizer_class, str) or not _library_has("transformers", tokenizer_class):
        return None
    names = getattr(getattr(importlib.import_module("transformers"), tokenizer_class), "vocab_files_names", None)
    needed = [names[key] for key in ("vocab_file", "merges_file") if isinstance(names, dict)
              and isinstance(names.get(key), str)]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing and len(missing) < len(needed):  # all missing: another vocabulary file of _VOCABULARIES is there
        return (f"{folder / missing[0]}: missing; expected it beside {', '.join(n for n in needed if n not in missing)}"
                f" ({tokenizer_class} reads {' and '.join(needed)} where there is no tokenizer.json)")
    return None


def _field(path: Path, name: str) -> object:
    """``name`` of the JSON object in ``path`` (already checked to parse), or None."""
    if not path.is_file():
        return None
    content, _ = _json(path)
    return content.get(name) if isinstance(content, dict) else None


def _special_token(folder: Path, name: str) -> object:
    """The token the tokenizer reads as ``name``: a string, or an AddedToken's ``{"content": ...}``; None."""
    config = folder / "tokenizer_config.json"
    extra = _field(config, "extra_special_tokens")
    return (_field(config, name) or (isinstance(extra, dict) and extra.get(name))
            or _field(folder / "special_tokens_map.json", name) or None)


def _token_ids_problem(folder: Path, config: dict, names: Collection[str]) -> str | None:
    tokens = {}
    for name in names:
        token = _special_token(folder, name)
        token = token.get("content") if isinstance(token, dict) else token
        if isinstance(token, str):
            tokens[name] = token
    generation = folder / "generation_config.json"
    tokenizer, tokenizer_config = folder / "tokenizer.json", folder / "tokenizer_config.json"
    return token_ids_problem(folder, config, _json(generation)[0] if generation.is_file() else None,
                             _vocabulary(tokenizer)[1] if tokenizer.is_file() else None, tokens,
                             _json(tokenizer_config)[0] if tokenizer_config.is_file() else None)


def _special_tokens_problem(folder: Path, names: Collection[str]) -> str | None:
    config = folder / "tokenizer_config.json"
    for name in names:
        if not _special_token(folder, name):
            return (f"{config}: field '{name}': missing; expected the token the processor reads as its {name} "
                    f"(a field of tokenizer_config.json or of its extra_special_tokens)")
    return None


def _processor_problem(folder: Path, chat_template: bool) -> str | None:
    """A tokenizer, an image processor and (``chat_template``) a chat template, where AutoProcessor reads them."""
    problem = _tokenizer_problem(folder)
    if problem:
        return problem
    if not ((folder / "preprocessor_config.json").is_file()
            or isinstance(_field(folder / "processor_config.json", "image_processor"), dict)):
        return (f"{folder}: no image processor; expected preprocessor_config.json, or an 'image_processor' field"
                " in processor_config.json")
    problem = _templates_problem(folder)
    if problem:
        return problem
    if chat_template and not ((folder / "chat_template.jinja").is_file()
                              or (folder / "additional_chat_templates").is_dir()
                              or _field(folder / "chat_template.json", "chat_template")
                              or _field(folder / "processor_config.json", "chat_template")
                              or _field(folder / "tokenizer_config.json", "chat_template")):
        return (f"{folder}: no chat template; expected chat_template.jinja, chat_template.json, or a"
                " 'chat_template' field in tokenizer_config.json")
    return None


def chat_templates(folder: Path) -> list[tuple[str, str]]:
    """(where, template) of every chat template transformers may read from ``folder``: ``chat_template.jinja``,
    ``additional_chat_templates/*.jinja``, and the ``chat_template`` field of ``chat_template.json``,
    ``processor_config.json`` and ``tokenizer_config.json`` (a string, or a list of ``{name, template}``)."""
    found = []
    for path in [folder / "chat_template.jinja", *sorted((folder / "additional_chat_templates").glob("*.jinja"))]:
        if path.is_file():
            try:
                found.append((str(path), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                found.append((str(path), exc))
    for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
        value = _field(folder / name, "chat_template")
        if isinstance(value, str):
            found.append((f"{folder / name} field 'chat_template'", value))
        elif isinstance(value, list):
            found += [(f"{folder / name} field 'chat_template' ({entry.get('name')!r})", entry.get("template"))
                      for entry in value if isinstance(entry, dict)]
    return found


def _templates_problem(folder: Path) -> str | None:
    """The first chat template that transformers' own Jinja environment (sandboxed, ``trim_blocks``,
    ``lstrip_blocks``, loop controls: ``chat_template_utils._compile_jinja_template``) cannot compile: every
    prompt rendered with it would fail with a bare ``TemplateSyntaxError`` naming no file."""
    import jinja2
    from transformers.utils.chat_template_utils import _compile_jinja_template

    for where, template in chat_templates(folder):
        if isinstance(template, OSError):
            return f"{where}: cannot be read: {template.strerror or template}"
        if isinstance(template, UnicodeDecodeError):
            return f"{where}: not UTF-8 (byte {template.start}); expected a Jinja chat template"
        if not isinstance(template, str):
            return f"{where}: {json_kind(template)}; expected a Jinja chat template (a string)"
        try:
            _compile_jinja_template(template)
        except jinja2.TemplateSyntaxError as exc:
            return (f"{where}: line {exc.lineno} of the chat template: {exc.message}; expected a Jinja template "
                    "transformers can compile")
    return None


def _diffusers_problem(folder: Path, variant: str | None) -> str | None:
    problem = _links_problem(folder) or _pointers_problem(folder)
    if problem:
        return problem
    index = folder / "model_index.json"
    if not index.is_file():
        return f"{index}: missing; expected a diffusers pipeline folder (model_index.json)"
    content, problem = _json(index)
    if problem:
        return problem
    if not isinstance(content, dict):
        return f"{index}: {json_kind(content)}; expected a JSON object"
    pipeline = content.get("_class_name")
    if not (isinstance(pipeline, str) and _library_has("diffusers", pipeline)):
        said = "missing" if pipeline is None else f"is {pipeline!r}{_newer_library('diffusers', index, content)}"
        return (f"{index}: field '_class_name' {said}; expected the name of a diffusers pipeline class "
                "(e.g. 'OmniGenPipeline')")
    problem = _components_problem(index, content)
    if problem:
        return problem
    import diffusers

    owner = getattr(diffusers, pipeline)
    taken = {name for names in owner._get_signature_keys(owner) for name in names}
    for name, spec in content.items():
        # [null, null]: an optional component left out; a bool or number: a pipeline setting (register_to_config); a
        # component the pipeline's __init__ does not take (one a newer diffusers added): diffusers leaves it unread
        # (DiffusionPipeline.from_pretrained keeps only __init__'s own names, extract_init_dict), its folder too
        if name.startswith("_") or name not in taken or not isinstance(spec, list) or None in spec:
            continue
        sub = folder / name
        if not sub.is_dir():
            return f"{index}: field '{name}' names the sub-folder {sub}, which does not exist"
        problem = _jsons_problem(sub) or _component_problem(index, name, spec, variant, pipeline)
        if problem:
            return problem
    # after each component's own files and weights, whose refusals name more (a T5Model's decoder left random)
    return _component_classes_problem(index, content)


def _components_problem(index: Path, content: dict) -> str | None:
    """Each component of ``model_index.json`` a ``[library, class]`` pair of strings, or ``[null, null]`` for one
    the pipeline class lists as optional; each component its ``__init__`` takes without a default named.

    A field that names no component (an ``__init__`` parameter with a default outside ``_optional_components``,
    e.g. StableDiffusionPipeline's ``requires_safety_checker: true``) is a setting the pipeline saved with
    ``register_to_config``, and is left as it is unless it is a list (then read as a component)."""
    import importlib
    import inspect

    pipeline = getattr(importlib.import_module("diffusers"), content["_class_name"])
    optional = set(getattr(pipeline, "_optional_components", ()) or ())
    needed = {name: param for name, param in inspect.signature(pipeline.__init__).parameters.items()
              if name != "self" and param.kind is param.POSITIONAL_OR_KEYWORD and param.default is param.empty
              and name not in optional}
    components = set(needed) | optional
    for name, spec in content.items():
        if name.startswith("_") or (name not in components and not isinstance(spec, list)):
            continue
        left_out = spec == [None, None]
        if not left_out and not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(v, str) for v in spec)):
            return (f"{index}: field '{name}' is {shortened(json.dumps(spec), 100, '...')}; expected [library, class name] "
                    "(two strings, e.g. "
                    "[\"diffusers\", \"AutoencoderKL\"]), or [null, null] for a component the pipeline may lack")
        if left_out and name in needed:
            return (f"{index}: field '{name}' is [null, null]; expected the {_annotation(needed[name])}component "
                    f"{pipeline.__name__} needs, as [library, class name]")
    missing = [name for name in needed if name not in content]
    if missing:
        return (f"{index}: no field '{missing[0]}'; expected the {_annotation(needed[missing[0]])}component "
                f"{pipeline.__name__} needs, as [library, class name]")
    return None


def _component_base(cls: type) -> type | None:
    """The kind of component ``cls`` is (a diffusers scheduler or model, a transformers model, tokenizer or
    processor), or None for anything else (an ``Enum`` of schedulers, ``Any``)."""
    from diffusers import ModelMixin, SchedulerMixin
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, ProcessorMixin
    from transformers.image_processing_utils import ImageProcessingMixin

    return next((base for base in (SchedulerMixin, ModelMixin, PreTrainedModel, PreTrainedTokenizerBase,
                                   ProcessorMixin, ImageProcessingMixin) if issubclass(cls, base)), None)


def _component_classes_problem(index: Path, content: dict) -> str | None:
    """Each component's class the one ``pipeline.__init__`` is annotated with (diffusers' own reading of the
    annotations, ``DiffusionPipeline._get_signature_types``; a subclass, a generic base of it such as transformers'
    ``TokenizersBackend`` / ``PreTrainedTokenizerFast``, or the same tokenizer in its slow or fast form). diffusers
    loads another class with only a logged "Expected types for ..." and the pipeline then fails in its own words: a
    DDIMScheduler in a FLUX or Qwen-Image folder at every run ("does not support custom sigmas schedules"), a
    CLIPTokenizer over a Qwen2 vocabulary at load ("'NoneType' object cannot be interpreted as an integer"). Only
    annotations that are component classes are compared (Stable Diffusion's scheduler is an Enum of the schedulers
    it takes: left alone). Two kinds of other class diffusers does run are passed:

    - a legacy model class diffusers remaps from the component's ``config.json`` (``_CLASS_REMAPPING_DICT``:
      PixArt's and DiT's ``Transformer2DModel``, loaded as PixArtTransformer2DModel / DiTTransformer2DModel);
    - a scheduler whose ``set_timesteps`` takes each of ``timesteps``, ``sigmas`` and ``mu`` the pipeline's
      ``__call__`` passes (``_steps_alike``; where the call cannot be read in full, also each of ``sigmas`` and
      ``mu`` the annotated one's takes):
      FlowMatchLCMScheduler in Qwen-Image, UniPCMultistepScheduler in Wan and HiDream-I1 (whose pipelines annotate
      FlowMatchEulerDiscreteScheduler but ship or branch on UniPC), EulerDiscreteScheduler in OmniGen (which passes
      ``sigmas`` and no ``mu``); whether it then runs that call is the scheduler check's dry run."""
    import importlib

    pipeline = getattr(importlib.import_module("diffusers"), content["_class_name"])
    expected_types = pipeline._get_signature_types()
    for name, spec in content.items():
        if name.startswith("_") or not isinstance(spec, list) or None in spec or spec[0] not in ("diffusers",
                                                                                                   "transformers"):
            continue
        cls = getattr(importlib.import_module(spec[0]), _loaded_name(spec[0], spec[1]), None)
        expected = [t for t in expected_types.get(name, ()) if isinstance(t, type)]
        if not isinstance(cls, type) or not expected or len(expected) != len(expected_types[name]) \
                or any(_component_base(t) is None for t in expected):
            continue
        cls = _remapped(cls, index.parent / name)
        plain = {t.__name__.removesuffix("Fast") for t in expected}
        generic = any(issubclass(t, cls) for t in expected)  # a base every such class builds on: TokenizersBackend
        if not (issubclass(cls, tuple(expected)) or generic or cls.__name__.removesuffix("Fast") in plain
                or any(_steps_alike(cls, t, pipeline, name) for t in expected)):
            wanted = " or ".join(repr(t.__name__) for t in expected)
            return (f"{index}: field '{name}' names {spec[0]} {spec[1]}; expected {wanted}, the class "
                    f"{pipeline.__name__} takes as {name} (diffusers loads another with only a logged warning, and "
                    "the pipeline then fails at load or at every run)")
    return None


def _remapped(cls: type, sub: Path) -> type:
    """The class diffusers loads for ``cls`` from the component folder ``sub``: ``ModelMixin.from_pretrained``
    swaps a legacy class for the one its ``config.json``'s ``norm_type`` maps to (``_CLASS_REMAPPING_DICT``,
    diffusers' ``_fetch_remapped_cls_from_config``); else ``cls``."""
    from diffusers.models.model_loading_utils import _CLASS_REMAPPING_DICT

    remaps = _CLASS_REMAPPING_DICT.get(cls.__name__)
    if not remaps:
        return cls
    import diffusers

    config, _ = _json(sub / "config.json")  # read and checked by _jsons_problem before
    target = remaps.get(config.get("norm_type")) if isinstance(config, dict) else None
    remapped = getattr(diffusers, target, None) if isinstance(target, str) else None
    return remapped if isinstance(remapped, type) else cls


def _steps_alike(cls: type, expected: type, pipeline: type, component: str) -> bool:
    """Whether the scheduler ``cls`` takes every one of ``timesteps``, ``sigmas`` and ``mu`` that ``pipeline`` passes
    its ``component``'s ``set_timesteps``: exactly those where ``timestep_call`` reads the call (OmniGen passes
    ``sigmas`` and no ``mu``, FLUX both, CogView4 all three); where it cannot, each of ``sigmas`` and ``mu`` the
    scheduler ``expected`` (the annotated class) takes, and each schedule ``passed_arguments`` still finds passed
    (GLM-Image's ``timesteps``)."""
    from diffusers import SchedulerMixin

    if not (issubclass(cls, SchedulerMixin) and issubclass(expected, SchedulerMixin)):
        return False
    taken = inspect.signature(cls.set_timesteps).parameters
    needed = set(passed_arguments(pipeline, component) or ())
    if timestep_call(pipeline, component) is None:
        needed |= {key for key in ("sigmas", "mu") if key in inspect.signature(expected.set_timesteps).parameters}
    return all(key in taken for key in needed)


def _annotation(param) -> str:
    """``'AutoencoderKL' `` for a parameter annotated with a class, else nothing."""
    kind = param.annotation
    return f"{kind.__name__!r} " if isinstance(kind, type) else ""


def _library_has(library: str, name: str) -> bool:
    """Whether ``library`` (diffusers or transformers, imported lazily by both) exports the class ``name``."""
    import importlib

    try:
        return isinstance(getattr(importlib.import_module(library), name, None), type)
    except Exception:  # noqa: BLE001 - a lazily imported module that fails to import: not usable either
        return False


def _newer_library(library: str, path: Path, content: object) -> str:
    """``" (model_index.json was written by diffusers 0.50.0, newer than this diffusers 0.42.1, which may not know
    it)"`` where the file ``path``'s ``content`` records (``_diffusers_version`` of ``model_index.json``,
    ``transformers_version`` of ``config.json``) a release of ``library`` (diffusers or transformers) newer than the
    one installed: a class or model type it names may be one that release added. Else ""."""
    from importlib.metadata import version

    from packaging.version import InvalidVersion, Version

    written = content.get("_diffusers_version" if library == "diffusers" else "transformers_version") \
        if isinstance(content, dict) else None
    try:
        newer = isinstance(written, str) and Version(written) > Version(version(library))
    except (InvalidVersion, ValueError):
        return ""
    return (f" ({path.name} was written by {library} {written}, newer than this {library} {version(library)}, which "
            "may not know it)") if newer else ""


def _loaded_name(library: str, name: str) -> str:
    """The class name diffusers loads for a ``model_index.json`` component ``[library, name]``: for a transformers
    class this transformers no longer exports, the one diffusers puts in its place (diffusers'
    ``_maybe_remap_transformers_class``, utils/deprecation_utils.py: ``CLIPFeatureExtractor``, which Stable Diffusion
    1.x folders name, loads as ``CLIPImageProcessor`` since transformers 5); else ``name``."""
    if library != "transformers" or _library_has(library, name):
        return name
    from diffusers.utils import _maybe_remap_transformers_class

    return _maybe_remap_transformers_class(name) or name


def _component_problem(index: Path, name: str, spec: list, variant: str | None, pipeline: str) -> str | None:
    """The files the component ``name`` (``[library, class]`` in ``model_index.json``, whose pipeline class is
    ``pipeline``) is loaded from."""
    library, cls = str(spec[0]), str(spec[1])
    sub = index.parent / name
    named = f"({index} names it as {library} {cls})"
    cls = _loaded_name(library, cls)
    if library in ("diffusers", "transformers") and not _library_has(library, cls):
        source = index if library == "diffusers" else sub / "config.json"
        newer = _newer_library(library, source, _json(source)[0] if source.is_file() else None)
        return (f"{index}: field '{name}' names {library} {spec[1]}, which {library} lacks{newer}; expected a "
                f"{library} class")
    if cls.endswith("Scheduler"):
        config = sub / "scheduler_config.json"
        if not config.is_file():
            return f"{config}: missing; expected the scheduler's configuration {named}"
        return _scheduler_problem(config, library, cls, named, pipeline, name)
    if "Tokenizer" in cls:
        problem = _tokenizer_problem(sub, cls)
        return f"{problem} {named}" if problem else None
    if cls.endswith(("Processor", "FeatureExtractor")):  # a transformers 5 processor: processor_config.json
        if any((sub / n).is_file() for n in ("preprocessor_config.json", "processor_config.json")):
            return None
        return f"{sub}: no preprocessor_config.json or processor_config.json; expected the processor's {named}"
    if not (sub / "config.json").is_file():
        return f"{sub / 'config.json'}: missing; expected the model's configuration {named}"
    stem = "diffusion_pytorch_model" if library == "diffusers" else "model"
    problem = _model_problem(sub, variant, processor=False, fallback=True, stem=stem)
    if not problem and library == "diffusers":
        problem = _values_problem(sub / "config.json", library, cls, named, pipeline, name)
    weights = None if problem or library not in ("diffusers", "transformers") else _weights_read(
        sub, stem, variant)
    return problem or (component_fit_problem(index, name, library, cls, *weights) if weights else None)


def _read_component(config: Path, library: str, cls: str) -> tuple[dict, type] | None:
    """A component's parsed configuration file (read and checked by ``_jsons_problem`` before) and its class, or
    None where either is not there."""
    import importlib

    content, _ = _json(config)
    component = getattr(importlib.import_module(library), cls, None)
    return (content, component) if isinstance(content, dict) and isinstance(component, type) else None


def _values_problem(config: Path, library: str, cls: str, named: str, pipeline: str, name: str) -> str | None:
    """``checkpoint_config.config_values_problem``, ``config_sizes_problem``, ``null_build_problem`` and
    ``pipeline_null_problem`` (the pipeline class ``pipeline``, the component ``name``) of a diffusers model
    component's ``config.json``."""
    import importlib

    read = _read_component(config, library, cls)
    owner = getattr(importlib.import_module("diffusers"), pipeline, None)
    problem = read and (config_values_problem(config, *read) or config_sizes_problem(config, *read)
                        or null_build_problem(config, *read)
                        or pipeline_null_problem(config, read[0], owner, name, read[1]))
    return f"{problem} {named}" if problem else None


def _scheduler_problem(config: Path, library: str, cls: str, named: str, pipeline: str, name: str) -> str | None:
    """A diffusers scheduler's ``scheduler_config.json``: its values of the types the class takes
    (``config_values_problem``), and the class built from it, as ``from_pretrained`` builds it (``cls.from_config``:
    a scheduler holds no weights, so this costs a few milliseconds). A scheduler refuses some configurations in its
    ``__init__``, in its own words naming no file: UniPCMultistepScheduler on a flow-matching config
    ("`shift_terminal` is only supported when `use_flow_sigmas=True`",
    diffusers/schedulers/scheduling_unipc_multistep.py). A refusal one string value causes, at ``__init__`` or when the
    scheduler runs, and a ``Literal`` field's value it never refuses, are named by field first
    (``checkpoint_scheduler.scheduler_settings_problem``), run the way the pipeline class ``pipeline`` calls its
    component ``name``'s ``set_timesteps``."""
    import importlib

    read = _read_component(config, library, cls) if library == "diffusers" else None
    if read is None:
        return None
    owner = getattr(importlib.import_module("diffusers"), pipeline, None)
    problem = config_values_problem(config, *read) or pipeline_null_problem(config, read[0], owner, name, read[1])
    if problem:
        return f"{problem} {named}"
    content, scheduler = read
    if not hasattr(scheduler, "from_config"):
        return None
    problem = scheduler_settings_problem(config, content, scheduler, owner, name)
    if problem:
        return f"{problem} {named}"
    try:
        scheduler.from_config(content)
    except Exception as exc:  # noqa: BLE001 - the scheduler's own refusal: ValueError, NotImplementedError, ...
        return library_refusal(config, exc, f"a configuration {cls} takes {named}")
    return None
