"""What a checkpoint's configuration and processor must agree on at run time, checked once both are read and
before the weights load.

``from_pretrained`` reads ``config.json`` and the processor's files separately and compares nothing between
them; a disagreement fails only in the first run, in the model's own words and naming no file, and every
run after it fails the same way (each stored as a model error). The rules come from transformers' own code
(5.x):

- ``get_placeholder_mask`` (Janus, Qwen2-VL, Qwen2.5-VL and most vision-language models) finds the image
  positions as ``input_ids == config.image_token_id`` (``video_token_id`` for video), where the processor
  wrote its ``image_token``; a config lacking the field gets the class default (Janus 100581, Qwen2.5-VL
  151655) and another id fails as "Image features and image tokens do not match, tokens: 0".
- Emu3 reads the image token's id from ``config.vocabulary_map["<image>"]`` and maps image codes to BPE ids
  through the same map, so each entry must name the tokenizer's id of that token.
- Janus's processor writes ``num_image_tokens`` placeholders per image (``processing_janus.py``) where the
  vision tower yields ``(image_size // patch_size) ** 2`` features, and image generation samples
  ``vision_config.num_image_tokens`` codes that the VQ decoder reads as a ``num_patches`` square
  (``JanusConfig.__post_init__``: ``num_patches = image_size // patch_size``); the image processor must
  resize to the tower's ``image_size`` (its position table has one row per patch).
- Qwen2.5-VL's processor writes ``patches // merge_size ** 2`` placeholders per image, which the vision
  tower's ``spatial_merge_size`` must match, cutting patches of the tower's ``patch_size`` and
  ``temporal_patch_size``.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["agreement_problem"]


def agreement_problem(checkpoint: str, config, processor) -> str | None:
    """Why ``config`` (``AutoConfig.from_pretrained(checkpoint)``, class defaults filled in) and ``processor``
    (``AutoProcessor.from_pretrained(checkpoint)``) would fail together at run time.

    Returns:
        ``"{checkpoint}/config.json: field '{field}' is {value}; expected {value}, ..."`` (or naming
        ``processor_config.json`` / ``preprocessor_config.json``) for the first disagreement, or None.
    """
    folder = Path(checkpoint)
    config_file = folder / "config.json"
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return None
    checks = [_emu3_problem] if getattr(config, "model_type", None) == "emu3" else [_token_problem]
    checks += [_janus_problem, _qwen_vl_problem]
    for check in checks:
        problem = check(folder, config_file, config, processor, tokenizer)
        if problem:
            return problem
    return None


def _token_id(tokenizer, token: object) -> int | None:
    """The tokenizer's id of ``token``; None where it is not a token of its vocabulary."""
    if not isinstance(token, str):
        return None
    vocab = tokenizer.get_vocab()
    return vocab.get(token)


def _field_said(config_file: Path, config, field: str) -> str:
    """How ``config.json`` gives ``field``: its value, or that it lacks it and the class default applies."""
    value = getattr(config, field, None)
    try:
        saved = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    if isinstance(saved, dict) and field not in saved:
        return f"is missing ({type(config).__name__}'s default {value!r} applies)"
    return f"is {value!r}"


def _token_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """``config.image_token_id`` / ``video_token_id`` against the id of the processor's image / video token."""
    for field, attribute in (("image_token_id", "image_token"), ("video_token_id", "video_token")):
        configured = getattr(config, field, None)
        token = getattr(processor, attribute, None)
        if not isinstance(configured, int) or not isinstance(token, str):
            continue
        wanted = _token_id(tokenizer, token)
        if wanted is None:
            return (f"{folder}: the processor's {attribute} {token!r} is not in the tokenizer's vocabulary; expected "
                    f"the token config.json's {field} ({configured}) names")
        if wanted != configured:
            return (f"{config_file}: field '{field}' {_field_said(config_file, config, field)}; expected {wanted}, the tokenizer's "
                    f"id of the processor's {attribute} {token!r} (else every run fails: image features and image "
                    "tokens do not match)")
    return None


def _emu3_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """Each ``vocabulary_map`` entry at the tokenizer's id of its token, ``<image>`` among them."""
    mapping = getattr(config, "vocabulary_map", None)
    if not isinstance(mapping, dict):
        return (f"{config_file}: field 'vocabulary_map': missing; expected the map token -> id of the tokenizer "
                "(Emu3 finds its image token and image codes through it)")
    token = getattr(processor, "image_token", None)
    if isinstance(token, str) and token not in mapping:
        return (f"{config_file}: field 'vocabulary_map' lacks the processor's image_token {token!r}; expected it at "
                f"{_token_id(tokenizer, token)}, its id in the tokenizer")
    vocab = tokenizer.get_vocab()
    for name, token_id in mapping.items():
        if name in vocab and vocab[name] != token_id:
            return (f"{config_file}: field 'vocabulary_map' gives {name!r} the id {token_id!r}; expected "
                    f"{vocab[name]}, its id in the tokenizer")
    return None


def _janus_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    if getattr(config, "model_type", None) != "janus":
        return None
    vision = config.vision_config
    side = vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]
    patch = vision.patch_size if isinstance(vision.patch_size, int) else vision.patch_size[0]
    features = (side // patch) ** 2
    said = f"(vision_config image_size {side} // patch_size {patch}, squared)"
    placeholders = getattr(processor, "num_image_tokens", None)
    if placeholders != features:
        return (f"{folder / 'processor_config.json'}: field 'num_image_tokens' is {placeholders!r}; expected "
                f"{features}, the vision tower's features per image {said}")
    if vision.num_image_tokens != features:
        return (f"{config_file}: field 'vision_config.num_image_tokens' is {vision.num_image_tokens!r}; expected "
                f"{features}, the image tokens the VQ decoder reads {said}")
    size = getattr(getattr(processor, "image_processor", None), "size", None)
    sides = {v for k, v in dict(size or {}).items() if k in ("height", "width", "shortest_edge", "longest_edge")}
    if sides and sides != {side}:
        return (f"{folder / 'preprocessor_config.json'}: field 'size' is {dict(size)!r}; expected {side} a side, "
                f"the vision tower's image_size ({config_file})")
    return None


def _qwen_vl_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    vision = getattr(config, "vision_config", None)
    image_processor = getattr(processor, "image_processor", None)
    if getattr(config, "model_type", None) not in ("qwen2_vl", "qwen2_5_vl") or vision is None:
        return None
    for ours, theirs in (("merge_size", "spatial_merge_size"), ("patch_size", "patch_size"),
                         ("temporal_patch_size", "temporal_patch_size")):
        value, wanted = getattr(image_processor, ours, None), getattr(vision, theirs, None)
        if value is not None and wanted is not None and value != wanted:
            return (f"{folder / 'preprocessor_config.json'}: field '{ours}' is {value!r}; expected {wanted}, the "
                    f"vision tower's {theirs} ({config_file} vision_config)")
    return None
