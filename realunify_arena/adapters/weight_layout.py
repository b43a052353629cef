"""Which weight files ``from_pretrained`` reads from a checkpoint folder or a hub repository's file list, by the names
transformers and diffusers give them. Light (no torch): shared by the checks before a load (``checkpoint_files``) and
by the size and completeness of a local or cached checkpoint (``availability``), which must count what the library
reads and nothing else.

The names (transformers ``SAFE_WEIGHTS_NAME`` ``model.safetensors``, ``WEIGHTS_NAME`` ``pytorch_model.bin`` and
their ``.index.json``; diffusers ``diffusion_pytorch_model.safetensors`` / ``.bin``; both libraries' ``_add_variant``
and ``save_pretrained``): one file or a sharded index, safetensors preferred to torch ``.bin``, a variant (``fp16``)
put before the extension (``model.fp16.safetensors``, ``model.safetensors.index.fp16.json``, shards
``model.fp16-00001-of-00002.safetensors``). A transformers model is read from its folder's top; a diffusers pipeline
(``model_index.json``) reads each component from its sub-folder and nothing from the top, where repositories may
keep other copies: FLUX.1 Kontext [dev] ships ``flux1-kontext-dev.safetensors`` (BFL's single-file checkpoint, 24
GB) beside the diffusers folders. Files beside a model that no from_pretrained reads (a Trainer checkpoint's
``optimizer.pt`` and ``training_args.bin``, a ``pytorch_model.bin`` copy of ``model.safetensors``, another variant's
weights, an ``original/`` folder) are not weights of it either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

__all__ = ["LAYOUTS", "chosen", "files_read", "names_read", "pipeline_components", "variant_message", "variant_problem",
           "weight_entries"]

# (pattern with {stem}/{bin}, kind) in diffusers' order of preference (ModelMixin.from_pretrained: the index
# ``_fetch_index_file`` finds, else the single file); a variant never ends in a shard's number
# (``model.fp16-00001-of-00002.safetensors`` is a shard of the fp16 index, not a variant "fp16-00001-of-00002")
_VARIANT = r"(?P<v>(?![^.]*-\d+-of-\d+\.)[^.]+)"
LAYOUTS = (
    (r"{stem}\.safetensors\.index(?:\." + _VARIANT + r")?\.json", "index"),
    (r"{stem}(?:\." + _VARIANT + r")?\.safetensors", "safetensors"),
    (r"{bin}\.bin\.index(?:\." + _VARIANT + r")?\.json", "index"),
    (r"{bin}(?:\." + _VARIANT + r")?\.bin", "bin"),
)
# transformers' order (modeling_utils ``_get_resolved_checkpoint_files``: model.safetensors, then its index, then
# pytorch_model.bin, then its index): a folder holding both a single file and a sharded index loads the single file
_TRANSFORMERS_LAYOUTS = (LAYOUTS[1], LAYOUTS[0], LAYOUTS[3], LAYOUTS[2])
_MODEL_STEMS = ("model",)  # a transformers model, or a transformers component of a pipeline
_COMPONENT_STEMS = ("diffusion_pytorch_model", "model")  # a diffusers component (or one of another library)


def _entries(names: Iterable[str], stem: str) -> dict[str | None, list[tuple[str, str]]]:
    """variant (None: none) -> the weight entry files among ``names`` (file names of one folder), as (name, kind), in
    the libraries' order of preference. ``stem``: ``model`` (transformers' names and order; torch files are
    ``pytorch_model.bin``) or ``diffusion_pytorch_model`` (diffusers')."""
    names = sorted(names)
    found: dict[str | None, list[tuple[str, str]]] = {}
    for pattern, kind in _TRANSFORMERS_LAYOUTS if stem == "model" else LAYOUTS:
        regex = re.compile(pattern.format(stem=re.escape(stem),
                                          bin=re.escape("pytorch_model" if stem == "model" else stem)))
        for name in names:
            match = regex.fullmatch(name)
            if match:
                found.setdefault(match["v"], []).append((name, kind))
    return found


def weight_entries(folder: Path, stem: str) -> dict[str | None, list[tuple[Path, str]]]:
    """``_entries`` of the files of ``folder``, as paths."""
    found = _entries((p.name for p in folder.iterdir() if p.is_file()), stem)
    return {variant: [(folder / name, kind) for name, kind in entries] for variant, entries in found.items()}


def chosen(found: dict, variant: str | None, fallback: bool) -> list:
    """The weight entry files from_pretrained(variant=variant) reads, of those ``weight_entries`` found; ``fallback``:
    unvarianted ones where the variant is missing (a diffusers pipeline loads such a component without it)."""
    return found.get(variant) or (found.get(None) if fallback and variant else None) or []


def variant_message(folder: Path, stem: str, variant: str | None, found: dict, fallback: bool) -> str | None:
    """Why ``from_pretrained(folder, variant=variant)`` finds none of the weights ``found`` (``weight_entries`` of
    ``folder``) though it holds weights of another variant: transformers refuses a folder holding only
    ``model.fp16.safetensors`` without ``variant="fp16"`` (an ``OSError`` naming the variant), and one without
    ``model.fp16.*`` with it. None where ``chosen`` finds weights, or there are none (``fallback``: as ``chosen``).

    Returns:
        ``"{folder}: weights only as variant 'fp16' (model.fp16.safetensors); set the card's params.variant: fp16
        (from_pretrained(variant='fp16') loads them)"``, or ``"{folder}: no weights of variant 'fp16' (expected
        ...); it has model.safetensors: remove the card's params.variant"``, or None.
    """
    if chosen(found, variant, fallback) or not found:
        return None
    others = sorted(v for v in found if v is not None)
    if variant is None:
        files = ", ".join(Path(p).name for p, _ in found[others[0]])
        return (f"{folder}: weights only as variant {' or '.join(map(repr, others))} ({files}); set the card's "
                f"params.variant: {others[0]} (from_pretrained(variant='{others[0]}') loads them)")
    has = ", ".join(Path(p).name for files in found.values() for p, _ in files)
    kept = "remove the card's params.variant" if None in found else f"set params.variant: {others[0]}"
    return (f"{folder}: no weights of variant '{variant}' (expected {stem}.{variant}.safetensors or its "
            f"sharded index, or a .{variant}.bin); it has {has}: {kept}")


def variant_problem(folder: Path, variant: str | None) -> str | None:
    """``variant_message`` of the weights ``files_read`` looks for in ``folder``: a transformers model's at its top,
    or each component's a pipeline's ``model_index.json`` names (where diffusers falls back to unvarianted weights,
    unless no component holds a file of the variant: ``_diffusers_variant_file``).
    None where each finds its variant's weights, or none of any (what it lacks is ``check_checkpoint``'s to say)."""
    index = folder / "model_index.json"
    parts = ([(folder / name, stems, True) for name, stems in _pipeline_components(index)] if index.is_file()
             else [(folder, _MODEL_STEMS, False)])
    pipeline_lacks_variant = variant is not None and index.is_file() and not any(
        sub.is_dir() and any(_diffusers_variant_file(p.name, variant) for p in sub.iterdir()) for sub, _, _ in parts)
    for sub, stems, fallback in parts:
        if not sub.is_dir():
            continue
        stem, found = next(((stem, f) for stem in stems if (f := weight_entries(sub, stem))), (stems[0], {}))
        problem = variant_message(sub, stem, variant, found, fallback and not pipeline_lacks_variant)
        if problem:
            return problem
    return None


def _diffusers_variant_file(name: str, variant: str) -> bool:
    """diffusers' test that a component's file is of ``variant`` (``pipeline_loading_utils._identify_model_variants``:
    the part after the name's first dot starts with it). A pipeline none of whose components holds such a file is
    refused by ``DiffusionPipeline.from_pretrained(variant=...)`` ("You are trying to load the model files of the
    `variant=fp16`, but no such modeling files are available."): the fall back to unvarianted weights is per
    component only where another component has the variant."""
    parts = name.split(".")
    return len(parts) > 1 and parts[1].startswith(variant)


def _shard_pattern(entry: str, variant: str | None) -> re.Pattern:
    """The numbered shards a sharded index ``entry`` (``model.safetensors.index.fp16.json``) of ``variant`` stands
    for, by name: ``model.fp16-00001-of-00002.safetensors`` (as save_pretrained names them) or
    ``model-00001-of-00002.fp16.safetensors`` (older copies)."""
    stem, extension = re.fullmatch(r"(.+)\.(safetensors|bin)\.index(?:\.[^.]+)?\.json", entry).groups()
    if variant is None:
        return re.compile(rf"{re.escape(stem)}-\d+-of-\d+\.{extension}")
    v = re.escape(variant)
    return re.compile(rf"{re.escape(stem)}(?:\.{v}-\d+-of-\d+|-\d+-of-\d+\.{v})\.{extension}")


def _pipeline_components(index: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(sub-folder, stems) of each component a ``model_index.json`` names as ``[library, class]``; none where it
    cannot be read (nor one nested too deeply for Python's JSON reader: a RecursionError)."""
    try:
        content = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return
    for name, spec in content.items() if isinstance(content, dict) else ():
        if not name.startswith("_") and isinstance(spec, list) and len(spec) == 2 and all(isinstance(v, str)
                                                                                            for v in spec):
            yield name, _MODEL_STEMS if spec[0] == "transformers" else _COMPONENT_STEMS


def files_read(folder: Path, variant: str | None) -> tuple[list[Path], str]:
    """(the weight files ``from_pretrained(folder, variant=variant)`` reads, why they are incomplete or ""): a
    transformers model's entry file or the shards its index names; for a pipeline folder, that of each component
    ``model_index.json`` names (a diffusers component without the variant: its unvarianted weights, as diffusers
    falls back). A folder holding none of these layouts gives ``([], "")``: what it lacks is ``check_checkpoint``'s
    to say.

    Returns:
        ``([...], "")``, or the files found so far and ``"{n} of {m} weight files named by {index} are missing"`` /
        ``"{index} cannot be read"`` for the first sharded index that is not whole (an interrupted download).
    """
    index = folder / "model_index.json"
    parts = ([(folder / name, stems, True) for name, stems in _pipeline_components(index)] if index.is_file()
             else [(folder, _MODEL_STEMS, False)])
    files: list[Path] = []
    for sub, stems, fallback in parts:
        if not sub.is_dir():
            continue
        entries = next((e for stem in stems if (e := chosen(weight_entries(sub, stem), variant, fallback))), [])
        if not entries:
            continue
        path, kind = entries[0]
        if kind != "index":
            files.append(path)
            continue
        try:
            shards = sorted({str(f) for f in json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return files, f"{path.name} cannot be read"
        missing = [s for s in shards if not (sub / s).is_file()]
        if missing:
            return files, f"{len(missing)} of {len(shards)} weight files named by {path.name} are missing"
        files += [sub / s for s in shards]
    return files, ""


def pipeline_components(index: Path) -> dict[str, tuple[str, ...]]:
    """Sub-folder -> weight file stems of each component a pipeline's ``model_index.json`` (at ``index``) names as
    ``[library, class]``; empty where it names none or cannot be read."""
    return dict(_pipeline_components(index))


def names_read(names: Collection[str], variant: str | None,
               components: dict[str, tuple[str, ...]] | None = None) -> set[str]:
    """The files of a repository's list (paths from its top, ``/``-separated, as the hub lists them) that
    ``from_pretrained(variant=variant)`` reads, by their names alone: ``files_read``'s rule, where a sharded index
    (whose content the list does not hold) stands for every numbered shard of its name and variant beside it, and a
    pipeline's components are those ``components`` names (``pipeline_components`` of its ``model_index.json``, where
    that file is at hand), else its sub-folders holding weights. Empty where none of the names is such a layout."""
    pipeline = "model_index.json" in names
    folders: dict[str, list[str]] = {}
    for name in names:
        folder, _, base = name.rpartition("/")
        named = components is None or folder in components
        if (bool(folder) and "/" not in folder and named) if pipeline else not folder:
            folders.setdefault(folder, []).append(base)
    read: set[str] = set()
    for folder, bases in folders.items():
        stems = (components or {}).get(folder, _COMPONENT_STEMS) if pipeline else _MODEL_STEMS
        for stem in stems:
            found = _entries(bases, stem)
            entries = chosen(found, variant, pipeline)
            if entries:
                break
        else:
            continue
        entry, kind = entries[0]
        if kind == "index":
            pattern = _shard_pattern(entry, variant if found.get(variant) else None)
            picked = [b for b in bases if pattern.fullmatch(b)]
        else:
            picked = [entry]
        read |= {f"{folder}/{b}" if folder else b for b in picked}
    return read
