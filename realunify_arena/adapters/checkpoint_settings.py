"""What a transformers configuration, as its class has read ``config.json``, must hold for the model to be built and
run: settings the configuration class takes unchecked and the model reads only when it is built or first run.

transformers 5.x's configuration classes accept any string where the model later looks a name up: a misspelt
``hidden_act: "siluu"`` loads and fails as a bare ``KeyError: 'siluu'`` when the model is built
(``ACT2FN[config.hidden_act]``); ``rope_scaling: {"rope_type": "yarnn"}`` only logs "Missing validation function"
and fails as ``KeyError: 'yarnn'`` (``ROPE_INIT_FUNCTIONS[self.rope_type]``); ``attn_implementation: "sdpaa"`` fails
at ``from_pretrained``. A multimodal RoPE whose ``mrope_section`` does not split the rotary frequencies fails at
the first forward pass in torch's words. Each is one line here, naming the file, the field as the file writes it
(the hub's flat ``rope_scaling`` or a nested ``text_config``), the value and what transformers takes.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from realunify_arena.adapters.checkpoint_config import json_object
from realunify_arena.redaction import shortened

__all__ = ["settings_problem"]


def settings_problem(path: Path, config) -> str | None:
    """Why the transformers configuration ``config`` (a ``PreTrainedConfig``, read from ``path``) cannot build or run
    its model: each of its nested configurations (``text_config``, ``vision_config``, Qwen2.5-Omni's
    ``thinker_config.text_config``) checked by ``names_problem`` and ``rope_sections_problem``.

    Returns:
        ``"{path}: field 'text_config.hidden_act' is "siluu"; expected "silu" (the nearest), or one of the 24
        activations of transformers.activations.ACT2FN (...)"`` and the like, or None.
    """
    content = json_object(path)  # the parsed file (checked to parse before), for the names of its fields
    for prefix, node in _nodes(config):
        problem = names_problem(path, content, prefix, node) or rope_sections_problem(path, content, prefix, node)
        if problem:
            return problem
    return None


def _nodes(config, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted prefix, configuration) of ``config`` and each configuration nested in it."""
    from transformers import PreTrainedConfig

    yield prefix, config
    for key, value in vars(config).items():
        if isinstance(value, PreTrainedConfig):
            yield from _nodes(value, f"{prefix}{key}.")


def _file_field(content: dict, prefix: str, keys: tuple[str, ...]) -> str:
    """The dotted field that holds one of ``keys`` (each itself dotted: ``rope_scaling.type``) as the file writes
    it: under ``prefix`` (``text_config.``), else at the top level (the hub's flat layout of Qwen2-VL, whose class
    moves the text fields into ``text_config``); ``prefix + keys[0]`` where the file holds none of them."""
    for start in dict.fromkeys((prefix, "")):
        for key in keys:
            place: object = content
            for part in (start + key).split("."):
                place = place.get(part) if isinstance(place, dict) else None
            if place is not None:
                return start + key
    return prefix + keys[0]


def _shown(values) -> str:
    """``"a", "b" or "c"``, as JSON writes them."""
    shown = [json.dumps(v) for v in sorted(values)]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


# A field the model looks up in ACT2FN, named the way transformers' configurations name them: hidden_act,
# activation_function, hidden_activation, dense_act_fn, stem_act_func, pooler_act, feat_extract_activation
_ACTIVATION = re.compile(r"(?:^|_)(?:act|activation)(?:_fn|_func|_function)?$")


@functools.cache
def _defaults(cls: type):
    """The configuration class's own default instance, or None where it cannot be built without arguments."""
    try:
        return cls()
    except Exception:  # noqa: BLE001 - a class that needs arguments, or whose defaults its validation refuses
        return None


def _attention_names() -> list[str]:
    """The ``attn_implementation`` values transformers dispatches (``PreTrainedModel.get_correct_attn_implementation``:
    ``"eager"`` and the keys of ``ALL_ATTENTION_FUNCTIONS``)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    return ["eager", *ALL_ATTENTION_FUNCTIONS.valid_keys()]


def _rope_types(node) -> set[str]:
    """The ``rope_type`` values the models of ``node``'s class build a rotary embedding from: ``"default"`` (the
    model's own ``compute_default_rope_parameters``), the class's ``default_rope_type`` (``"axial"``), the keys of
    ``modeling_rope_utils.ROPE_INIT_FUNCTIONS``, those the class validates (``_validate_{type}_rope_parameters``),
    and the one its own defaults hold."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    cls = type(node)
    types = {"default", getattr(cls, "default_rope_type", "default"), *ROPE_INIT_FUNCTIONS}
    types |= {m.group(1) for name in dir(cls) if (m := re.fullmatch(r"_validate_(\w+)_rope_parameters", name))}
    for _, parameters in _rope_parameter_sets(getattr(_defaults(cls), "rope_parameters", None)):
        if isinstance(parameters.get("rope_type"), str):
            types.add(parameters["rope_type"])
    return types


def _rope_parameter_sets(rope) -> list[tuple[str, dict]]:
    """(layer type or "", parameters) of a ``rope_parameters`` value: one set, or one per layer type (Gemma 3's
    ``{"full_attention": {...}, "sliding_attention": {...}}``)."""
    if not isinstance(rope, dict) or not rope:
        return []
    if all(isinstance(v, dict) or v is None for v in rope.values()):
        return [(layer, value) for layer, value in rope.items() if isinstance(value, dict)]
    return [("", rope)]


def names_problem(path: Path, content: dict, prefix: str, node) -> str | None:
    """Why a name the model looks up is not one transformers has: an activation field (``hidden_act``,
    ``activation_function``, ... whose class default is a key of ``transformers.activations.ACT2FN``) that is no key
    of it; a ``rope_parameters`` ``rope_type`` (the file's ``rope_scaling.type`` or ``rope_type``) none of
    ``_rope_types``; an ``attn_implementation`` none of ``_attention_names`` (a hub kernel ``org/repo`` is left to
    transformers). ``prefix`` is the nested configuration's place (``text_config.``), ``content`` the parsed file.

    Returns:
        ``"{path}: field 'hidden_act' is "siluu"; expected "silu" (the nearest), or one of the 24 activations of
        transformers.activations.ACT2FN (...)"``, or None.
    """
    from transformers.activations import ACT2FN

    defaults = _defaults(type(node))
    for key, value in vars(node).items():
        if key.startswith("_") or not _ACTIVATION.search(key) or not isinstance(value, str) or value in ACT2FN:
            continue
        default = getattr(defaults, key, None)
        if isinstance(default, str) and default not in ACT2FN:
            continue  # the class reads this field another way (its own default is no activation name)
        near = _near(value, ACT2FN)
        names = sorted(ACT2FN)
        field = _file_field(content, prefix, (key,))
        derived = None if _written(content, field) == value else _derived_from(content, prefix, value)
        if derived is not None:  # T5's feed_forward_proj "gated-gelux": the class made dense_act_fn "gelux" of it
            field, written = derived
            close = difflib.get_close_matches(value, list(ACT2FN), n=1, cutoff=0.75)
            near = f"{json.dumps(written[:-len(value)] + close[0])} (the nearest), or " if close else ""
            return (f"{path}: field '{field}' is {_value(written)}, naming the activation {_value(value)}; expected "
                    f"{near}a value naming one of the {len(names)} activations of transformers.activations.ACT2FN "
                    f"({', '.join(map(json.dumps, names[:12]))}, ...)")
        return (f"{path}: field '{field}' is {_value(value)}; expected "
                f"{near}one of the {len(names)} activations of transformers.activations.ACT2FN "
                f"({', '.join(map(json.dumps, names[:12]))}, ...)")
    for layer, parameters in _rope_parameter_sets(getattr(node, "rope_parameters", None)):
        kind = parameters.get("rope_type", parameters.get("type"))
        if isinstance(kind, str) and kind not in _rope_types(node):
            place = f"{layer}." if layer else ""
            field = _file_field(content, prefix, tuple(f"{where}.{place}{name}" for where in (
                "rope_scaling", "rope_parameters") for name in ("rope_type", "type")))
            return (f"{path}: field '{field}' is {_value(kind)}; expected {_near(kind, _rope_types(node))}"
                    f"{_shown(_rope_types(node))} (transformers' rotary embeddings: "
                    "modeling_rope_utils.ROPE_INIT_FUNCTIONS and the model's own default)")
    attention = getattr(node, "_attn_implementation", None)
    if isinstance(attention, str) and "/" not in attention:
        name = attention if attention == "paged|eager" else attention.removeprefix("paged|")
        if name not in _attention_names():
            field = _file_field(content, prefix, ("attn_implementation", "_attn_implementation"))
            return (f"{path}: field '{field}' is {_value(attention)}; expected {_near(name, _attention_names())}"
                    f"{_shown(_attention_names())} (or a hub kernel, org/repo)")
    return None


def _written(content: dict, field: str) -> object:
    """The value the parsed file ``content`` writes at the dotted ``field``; None where it writes none."""
    place: object = content
    for part in field.split("."):
        place = place.get(part) if isinstance(place, dict) else None
    return place


def _derived_from(content: dict, prefix: str, value: str) -> tuple[str, str] | None:
    """(dotted field, its text) of the file's string field under ``prefix`` (else at the top level) whose text
    ends with ``value`` (whole, or after a ``-`` or ``_``): where the configuration class made an activation
    field the file does not write of another one (T5's ``feed_forward_proj: "gated-gelu"`` -> ``dense_act_fn:
    "gelu"``); None where there is none."""
    for start in dict.fromkeys((prefix, "")):
        place: object = content
        for part in start.rstrip(".").split(".") if start else ():
            place = place.get(part) if isinstance(place, dict) else None
        if not isinstance(place, dict):
            continue
        for key, text in place.items():
            if isinstance(text, str) and re.search(rf"(?:^|[-_]){re.escape(value)}$", text):
                return start + key, text
    return None


def _value(value: str) -> str:
    """The file's value as JSON writes it, cut to 60 characters and its secrets masked (``redaction.shortened``)."""
    return shortened(json.dumps(value, ensure_ascii=False), 60, "...")


def _near(value: str, names) -> str:
    """``"silu" (the nearest), or `` where one name is close to the misspelt ``value``; else nothing."""
    close = difflib.get_close_matches(value, list(names), n=1, cutoff=0.75)
    return f"{json.dumps(close[0])} (the nearest), or " if close else ""


# The rotary embeddings that split their frequencies by ``mrope_section`` (``recomposition_frequencies``:
# ``freq.split(self.mrope_section, dim=-1)``, HunYuan-VL ``freq.split([s * 2 ...])`` over the frequencies doubled),
# by the ``model_type`` of the configuration they are built from, as transformers 5.24's
# models/*/modeling_*.py define them (all of those that read ``mrope_section``, less the ones that interleave it by
# slicing, Qwen3-VL and Qwen3.5's ``length = mrope_section[dim] * 3``, and NeoMME, which only names it in a comment).
_MROPE_SPLIT = {
    "qwen2_vl_text": ("qwen2_vl", "Qwen2VLRotaryEmbedding"),
    "qwen2_5_vl_text": ("qwen2_5_vl", "Qwen2_5_VLRotaryEmbedding"),
    "qwen2_5_omni_text": ("qwen2_5_omni", "Qwen2_5OmniRotaryEmbedding"),
    "qwen2_5_omni_talker": ("qwen2_5_omni", "Qwen2_5OmniRotaryEmbedding"),
    "glm4v_text": ("glm4v", "Glm4vTextRotaryEmbedding"),  # also GLM-4.6V's (glm46v) text_config
    "glm4v_moe_text": ("glm4v_moe", "Glm4vMoeTextRotaryEmbedding"),
    "glm_image_text": ("glm_image", "GlmImageTextRotaryEmbedding"),
    "glm_ocr_text": ("glm_ocr", "GlmOcrTextRotaryEmbedding"),
    "paddleocr_vl_text": ("paddleocr_vl", "PaddleOCRRotaryEmbedding"),
    "ernie4_5_vl_moe_text": ("ernie4_5_vl_moe", "Ernie4_5_VLMoeTextRotaryEmbedding"),
    "hunyuan_vl_text": ("hunyuan_vl", "HunYuanVLRotaryEmbedding"),
}


def _rotary(node):
    """The rotary embedding ``node``'s model builds (``_MROPE_SPLIT``), or None where it cannot be built from it
    (Ernie 4.5-VL pre-rotates its frequencies by the sections, and fails on sections that do not fit)."""
    family, name = _MROPE_SPLIT[node.model_type]
    try:
        cls = getattr(importlib.import_module(f"transformers.models.{family}.modeling_{family}"), name)
        return cls(config=node)
    except Exception:  # noqa: BLE001 - whatever the rotary embedding's own code raises on this configuration
        return None


def rope_sections_problem(path: Path, content: dict, prefix: str, node) -> str | None:
    """Why the ``mrope_section`` a multimodal RoPE of ``_MROPE_SPLIT`` splits its rotary frequencies by (the file's
    ``rope_scaling`` / ``rope_parameters`` field, else the rotary embedding's own default, as the model reads it) does
    not add up to the number of frequencies, ``inv_freq``'s length as the model's rotary embedding computes it (half
    ``int(head * partial_rotary_factor)``, ``head``: ``head_dim``, else ``hidden_size // num_attention_heads``;
    Qwen2-VL's default RoPE reads no factor, GLM-4.1V's does: its 0.5 over heads of 128 with sections [8, 12, 12]),
    or every forward pass fails with torch's "split_with_sizes expects split_sizes to sum exactly to ...".

    Returns:
        ``"{path}: field 'rope_scaling.mrope_section' is [2, 3, 4] (adding up to 9); expected sections adding up
        to 8, half the head size 16 (hidden_size 32 / num_attention_heads 2)"``, or None.
    """
    if getattr(node, "model_type", None) not in _MROPE_SPLIT:
        return None
    rope = getattr(node, "rope_parameters", None)
    rope = rope if isinstance(rope, dict) else {}
    field = _file_field(content, prefix, ("rope_scaling.mrope_section", "rope_parameters.mrope_section"))
    sections = rope.get("mrope_section")
    if sections is not None and not (isinstance(sections, list) and sections and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sections)):
        return f"{path}: field '{field}' is {sections!r}; expected a list of whole numbers above 0"
    heads, hidden = getattr(node, "num_attention_heads", None), getattr(node, "hidden_size", None)
    head_dim = getattr(node, "head_dim", None)
    if not head_dim and not (isinstance(heads, int) and heads > 0 and isinstance(hidden, int)):
        return None
    size = head_dim or hidden // heads
    how = f"head_dim {size}" if head_dim else f"hidden_size {hidden} / num_attention_heads {heads}"
    rotary = _rotary(node)
    inv_freq = getattr(rotary, "inv_freq", None)
    frequencies = int(inv_freq.shape[-1]) if inv_freq is not None else size // 2
    if sections is None:
        sections = getattr(rotary, "mrope_section", None)
        if not isinstance(sections, list) or sum(sections) == frequencies:
            return None
        said = f"missing, so {type(rotary).__name__} splits by its default {sections}"
    else:
        said = f"{sections}"
    defaulted = said != f"{sections}"
    if sum(sections) == frequencies:
        return None
    factor = rope.get("partial_rotary_factor")
    if (size + 1) // 2 == frequencies:  # inv_freq = base ** -(arange(0, dim, 2) / dim): ceil(dim / 2) of them
        why = f"half the head size {size} ({how})"
    elif isinstance(factor, (int, float)) and (int(size * factor) + 1) // 2 == frequencies:
        why = f"half the rotary size {int(size * factor)} ({size} * partial_rotary_factor {factor} of a head of {how})"
    else:
        why = f"the rotary frequencies {type(rotary).__name__} makes ({how})"
    return (f"{path}: field '{field}' is {said} (adding up to {sum(sections)}); expected sections adding up to "
            f"{frequencies}, {why}{_rotary_fix(content, prefix, node, size, factor, sum(sections), defaulted)}")


def _rotary_fix(content: dict, prefix: str, node, size: int, factor: object, total: int, defaulted: bool) -> str:
    """What the file can add instead for the model's own rotary embedding (``_rotary``, built again with it) to make
    ``total`` frequencies, the sum of its sections: ``partial_rotary_factor`` where the model reads none (GLM-4.1V's
    and GLM-Image's class defaults carry none, their hub files 0.5: a rotary part of 64 of a head of 128, the 32
    frequencies [8, 12, 12] splits), or, where the sections are the rotary embedding's own default (``defaulted``:
    the file writes none, so the head was not sized for sections of its own), ``head_dim`` where a factor is read
    and no ``head_dim`` given (GLM-4.5V's default heads of 4096 / 96 = 42, its hub file's 128). Nothing where
    neither makes it (Qwen2-VL's rotary embedding reads no factor)."""
    import copy

    if factor is None and 0 < 2 * total < size:
        key, value = "partial_rotary_factor", 2 * total / size
        said = f"a rotary part of {2 * total} of the head's {size} dimensions"
    elif defaulted and isinstance(factor, (int, float)) and 0 < factor <= 1 and not getattr(node, "head_dim", None):
        key, value = "head_dim", round(2 * total / factor)
        said = f"with partial_rotary_factor {factor:g}"
    else:
        return ""
    changed = copy.deepcopy(node)
    if key == "head_dim":
        changed.head_dim = value
    else:
        changed.rope_parameters = {**(changed.rope_parameters or {}), key: value}
    inv_freq = getattr(_rotary(changed), "inv_freq", None)
    if inv_freq is None or int(inv_freq.shape[-1]) != total:
        return ""
    return (f", or add '{_file_field(content, prefix, (key,))}': {value:g} ({said}: the {total} frequencies the "
            "sections split)")
