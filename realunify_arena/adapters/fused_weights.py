"""Weights transformers fuses on load from several stored tensors (a mixture-of-experts layer's experts, saved one
per expert and stacked into one ``experts.gate_up_proj``), checked from the stored shapes before anything is loaded.

transformers' ``WeightConverter`` stacks whatever expert tensors it finds: with one expert's tensors missing, the
fused weight comes out one expert short and the load report calls it a weight of another shape, after the whole
load ([3, 16, 16] against [4, 16, 16], naming no expert); with one tensor missing or of another shape, the load
ends in "We encountered some issues during automatic conversion of the weights", naming nothing. Here the same
converters run on meta tensors (shapes only, no data: ``convert_and_load_state_dict_in_model``'s grouping, with
``loading_info=None`` so a failing operation raises), and each problem names the stored tensors.
"""

from __future__ import annotations

import re
from collections import Counter
from copy import deepcopy
from pathlib import Path

__all__ = ["fused_problem"]


def fused_problem(checkpoint: str, model, found: dict, class_name: str) -> str | None:
    """Why the weights ``model`` fuses from several stored tensors would not load whole.

    Args:
        checkpoint: the folder or hub id, as the message names it.
        model: the transformers model built on the meta device from ``config.json``.
        found: checkpoint key -> (shape, file, dtype), from the weight files' headers.
        class_name: the model's class, for the message.

    Returns:
        ``"{checkpoint}: weight {fused} is fused on load from {n} stored tensors in {file} into shape [..] but
        config.json builds [..] ({class}); they lack {names}, ...; expected ..."`` (or "(they cannot be fused)"
        in place of the shapes), ``"{checkpoint}: weight {key} has shape [..] in {file} but the other tensors
        transformers fuses with it into {fused} have [..] ..."``; None when every fused weight comes out at the
        shape the model builds, or it has none.
    """
    import torch
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, dot_natural_key, rename_source_key

    mapping = get_model_conversion_mapping(model)
    renamings = [entry for entry in mapping if isinstance(entry, WeightRenaming)]
    converters = [entry for entry in mapping if isinstance(entry, WeightConverter)]
    by_pattern = {pattern: converter for converter in converters for pattern in converter.source_patterns}
    meta, prefix = model.state_dict(), model.base_model_prefix
    fused: dict[str, object] = {}
    sources: dict[str, list[tuple[str, str]]] = {}  # fused weight -> (stored key, source pattern)
    for key in sorted(found, key=dot_natural_key):
        target, pattern = rename_source_key(key, renamings, converters, prefix, meta)
        if pattern is None or target not in meta:
            continue
        converter = fused.setdefault(target, deepcopy(by_pattern[pattern]))
        converter.add_tensor(target, key, pattern, torch.empty(found[key][0], device="meta"))
        sources.setdefault(target, []).append((key, pattern))
    for target, converter in fused.items():
        listed = sources[target]
        built = tuple(meta[target].shape)
        try:
            shapes = {name: tuple(t.shape) for name, t in converter.convert(target, model=model,
                                                                          config=model.config).items()}
        except Exception:  # noqa: BLE001 - the operation's own refusal: tensors that cannot be stacked
            shapes = None
        made = shapes.get(target) if shapes is not None else None
        if shapes is not None and (made is None or made == built):
            continue
        lacking = _lacking(listed, converter, built)
        if made is None and not lacking:
            return _odd_shape(checkpoint, target, listed, found) or (
                f"{checkpoint}: the {len(listed)} stored tensors transformers fuses into {target} ({listed[0][0]}, ...) "
                f"cannot be fused ({class_name}); expected the tensors saved with this config.json")
        said = f"they lack {_names(lacking)}; " if lacking else ""
        into = f"into shape {list(made)} but config.json builds {list(built)}" if made else "(they cannot be fused)"
        return (f"{checkpoint}: weight {target} is fused on load from {len(listed)} stored tensors in "
                f"{Path(found[listed[0][0]][1]).name} {into} ({class_name}); {said}expected every expert's tensors "
                "saved with this config.json")
    return None


def _odd_shape(checkpoint: str, target: str, listed: list[tuple[str, str]], found: dict) -> str | None:
    """The first stored tensor whose shape differs from the most common one among those of its source pattern."""
    for pattern in dict.fromkeys(p for _, p in listed):
        keys = [key for key, p in listed if p == pattern]
        usual, _ = Counter(found[key][0] for key in keys).most_common(1)[0]
        for key in keys:
            if found[key][0] != usual:
                return (f"{checkpoint}: weight {key} has shape {list(found[key][0])} in {Path(found[key][1]).name} but "
                        f"the other tensors transformers fuses with it into {target} have {list(usual)}; expected "
                        "the tensors saved with this config.json")
    return None


def _lacking(listed: list[tuple[str, str]], converter, built: tuple) -> list[str]:
    """The stored keys a numbered source pattern (``mlp.experts.*.up_proj.weight``) leaves out of 0..n-1, n the
    number of experts the fused weight holds (its first dimension, as ``MergeModulelist(dim=0)`` stacks them)."""
    from transformers.core_model_loading import MergeModulelist

    stacks = any(isinstance(op, MergeModulelist) and op.dim == 0 for op in converter.operations)
    lacking = []
    for pattern in dict.fromkeys(p for _, p in listed):
        if "*." not in pattern:
            continue
        number = re.compile(re.escape(pattern).replace(r"\*\.", r"(\d+)\."))
        seen: dict[int, str] = {}
        for key, p in listed:
            match = number.search(key) if p == pattern else None
            if match:
                seen[int(match[1])] = key[:match.start(1)] + "{}" + key[match.end(1):]
        if not seen:
            continue
        count = built[0] if stacks and built else max(seen) + 1
        template = next(iter(seen.values()))
        lacking += [template.format(i) for i in range(count) if i not in seen]
    return sorted(lacking)


def _names(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
