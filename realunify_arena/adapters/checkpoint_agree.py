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
- Emu3 reads the image token's id from ``config.vocabulary_map["<image>"]``, the id that ends each row of image
  codes from its ``<|extra_200|>`` entry, and maps VQ code ``k`` to the BPE id of ``<|visual token{k:06d}|>``
  through the same map (``Emu3ImageVocabularyMapping``), so each of these must be there, one visual token per
  code of ``vq_config.codebook_size``, and each entry must name the tokenizer's id of that token.
- Janus's processor writes ``num_image_tokens`` placeholders per image (``processing_janus.py``) where the
  vision tower yields ``(image_size // patch_size) ** 2`` features, and image generation samples
  ``vision_config.num_image_tokens`` codes that the VQ decoder reads as a ``num_patches`` square
  (``JanusConfig.__post_init__``: ``num_patches = image_size // patch_size``); the image processor must
  resize to the tower's ``image_size`` (its position table has one row per patch).
- Generation stops at ``generation_config.eos_token_id`` (an id or a list), which must hold the id of the
  tokenizer's ``eos_token`` (the token the chat template ends a turn with), else a reply runs on to
  ``max_new_tokens``. Janus's image generation builds classifier-free guidance's unconditional prompt from
  ``generation_config``'s ``bos_token_id``, ``generation_kwargs.boi_token_id`` (kept) and ``pad_token_id`` (the
  rest), which must be the ids of the tokenizer's ``bos_token``, ``boi_token`` and ``pad_token``
  (``JanusForConditionalGeneration.generate``), else guidance silently pulls against another prompt.
- The chat template writes turn and image markers (Janus's ``<|User|>``, Qwen's ``<|im_start|>`` and
  ``<|vision_start|>``) that the tokenizer must hold as single tokens: the tokenizer reads a marker it lacks as
  plain text, a few byte tokens, and every prompt then runs in a format the model was never trained on, with
  no error at all.
- The image processor normalises each of the image's channels with one ``image_mean`` and ``image_std`` value
  (three for RGB, the vision tower's ``num_channels`` / ``in_chans``; two fail every run as "The size of tensor a
  (3) must match the size of tensor b (2)"), and compares its sizes and pixel counts as numbers (a string
  ``min_pixels`` fails as "'<' not supported between instances of 'int' and 'str'").
- Qwen2.5-VL's processor writes ``patches // merge_size ** 2`` placeholders per image, which the vision
  tower's ``spatial_merge_size`` must match, cutting patches of the tower's ``patch_size`` and
  ``temporal_patch_size``.

Each refusal names the file and key the value came from, as transformers reads them (5.x): the processor's own
fields (``num_image_tokens``) from ``processor_config.json``; the image processor's from that file's
``image_processor`` entry, else from ``preprocessor_config.json`` (``ImageProcessingMixin.get_image_processor_dict``:
"nested config if found -> image processor config"); the processor's ``image_token`` from the tokenizer's
``tokenizer_config.json`` and its id from ``tokenizer.json``. A key a file lacks is said to be missing, with the
class default that applies.
"""

from __future__ import annotations

import re
from pathlib import Path

from realunify_arena.adapters.checkpoint_config import declared_ids, json_object
from realunify_arena.adapters.checkpoint_files import chat_templates, tokenizer_vocabulary

__all__ = ["agreement_problem"]


def agreement_problem(checkpoint: str, config, processor) -> str | None:
    """Why ``config`` (``AutoConfig.from_pretrained(checkpoint)``, class defaults filled in) and ``processor``
    (``AutoProcessor.from_pretrained(checkpoint)``) would fail together at run time.

    Returns:
        ``"{checkpoint}/{file}: field '{key}' is {value}; expected {value}, ..."`` for the first disagreement
        (``file``/``key`` where transformers read the value: ``config.json`` ``vision_config.patch_size``,
        ``processor_config.json`` ``image_processor.merge_size``, ``preprocessor_config.json`` ``merge_size``;
        ``"... is missing ({Class}'s default {value} applies)"`` where the file lacks the key), or None.
    """
    folder = Path(checkpoint)
    config_file = folder / "config.json"
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return None
    checks = [_emu3_problem] if getattr(config, "model_type", None) == "emu3" else [_token_problem]
    checks += [_image_processor_values_problem, _janus_problem, _qwen_vl_problem, _generation_problem,
               _template_tokens_problem]
    for check in checks:
        problem = check(folder, config_file, config, processor, tokenizer)
        if problem:
            return problem
    return None


def _token_id(tokenizer, token: object) -> int | None:
    """The tokenizer's id of ``token`` (added tokens included); None where it is not a token of its vocabulary.

    A fast tokenizer answers from its ``tokenizers`` backend (``Tokenizer.token_to_id``, one look-up); only a slow
    one builds ``get_vocab()``, which for a fast one would build the whole map each call (about 0.36 s for a
    Qwen-size vocabulary, and a load's checks look up several tokens)."""
    if not isinstance(token, str):
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and callable(getattr(backend, "token_to_id", None)):
        return backend.token_to_id(token)
    return tokenizer.get_vocab().get(token)


def _said(path: Path, saved: dict, key: str, value: object, owner: object) -> str:
    """``"{path}: field '{key}' is {saved value}"`` for a dotted ``key`` of ``saved`` (``path``'s content), or
    ``"... is missing ({owner}'s default {value} applies)"`` where ``path`` lacks it and ``value`` is the
    class default the object took."""
    node: object = saved
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return f"{path}: field '{key}' is missing ({type(owner).__name__}'s default {value!r} applies)"
        node = node[part]
    return f"{path}: field '{key}' is {node!r}"


def _field_said(config_file: Path, config, field: str) -> str:
    """How ``config.json`` gives ``field`` (dotted for a sub-config: ``vision_config.patch_size``): its value, or
    that it lacks it and the class default applies."""
    owner, value = config, config
    for part in field.split("."):
        owner, value = value, getattr(value, part, None)
    return _said(config_file, json_object(config_file), field, value, owner)


def _image_processor_said(folder: Path, image_processor, key: str) -> str:
    """Where transformers read the image processor's ``key`` and its value there: ``processor_config.json``'s
    ``image_processor`` entry where that file has one, else ``preprocessor_config.json``
    (``ImageProcessingMixin.get_image_processor_dict``)."""
    nested = json_object(folder / "processor_config.json").get("image_processor")
    if isinstance(nested, dict):
        return _said(folder / "processor_config.json", {"image_processor": nested}, f"image_processor.{key}",
                     getattr(image_processor, key, None), image_processor)
    return _said(folder / "preprocessor_config.json", json_object(folder / "preprocessor_config.json"), key,
                 getattr(image_processor, key, None), image_processor)


def _token_said(folder: Path, processor, attribute: str, token: str) -> str:
    """Where the processor's ``attribute`` (``image_token``) ``token`` came from: the tokenizer's
    ``tokenizer_config.json`` (a top-level key, or in ``extra_special_tokens``), else the processor's default."""
    path = folder / "tokenizer_config.json"
    saved = json_object(path)
    if saved.get(attribute) == token:
        return f"{path}: field '{attribute}' is {token!r}"
    extra = saved.get("extra_special_tokens")
    if isinstance(extra, dict) and extra.get(attribute) == token:
        return f"{path}: field 'extra_special_tokens.{attribute}' is {token!r}"
    return f"the processor's {attribute} {token!r} ({type(processor).__name__}'s default)"


def _vocabulary_file(folder: Path) -> str:
    """The tokenizer file that gives token ids: ``tokenizer.json`` where the folder has one."""
    path = folder / "tokenizer.json"
    return str(path) if path.is_file() else f"the tokenizer's vocabulary in {folder}"


def _token_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """``config.image_token_id`` / ``video_token_id`` against the id of the processor's image / video token."""
    for field, attribute in (("image_token_id", "image_token"), ("video_token_id", "video_token")):
        configured = getattr(config, field, None)
        token = getattr(processor, attribute, None)
        if not isinstance(configured, int) or not isinstance(token, str):
            continue
        wanted = _token_id(tokenizer, token)
        if wanted is None:
            return (f"{_token_said(folder, processor, attribute, token)}, which is not in the tokenizer's vocabulary "
                    f"({_vocabulary_file(folder)}); expected the token config.json's {field} ({configured}) names")
        if wanted != configured:
            return (f"{_field_said(config_file, config, field)}; expected {wanted}, the id "
                    f"{_vocabulary_file(folder)} gives the processor's {attribute} {token!r} (else every run fails: "
                    "image features and image tokens do not match)")
    return None


# Emu3ImageVocabularyMapping (transformers' modeling_emu3.py): ``eol_token_id`` is ``vocabulary_map["<|extra_200|>"]``,
# put after each row of image codes when Emu3 reads an image (``convert_img2bpe``); VQ code ``k`` is the BPE id of
# ``<|visual token{k:06d}|>`` (``img2bpe``: the code is read from the name's digits), a code with no entry reading
# as id 0 (the mapping tensor's fill).
EMU3_ROW_END = "<|extra_200|>"


def _emu3_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """Each ``vocabulary_map`` entry at the tokenizer's id of its token; ``<image>``, the row end
    (``<|extra_200|>``, which the tokenizer must give too) and one visual token per VQ code
    (``vq_config.codebook_size``) among them."""
    mapping = getattr(config, "vocabulary_map", None)
    if not isinstance(mapping, dict):
        return (f"{config_file}: field 'vocabulary_map' is {'missing' if mapping is None else repr(mapping)[:60]}; "
                "expected the map token -> id of the tokenizer (Emu3 finds its image token and image codes through it)")
    vocab = tokenizer.get_vocab()
    where = _vocabulary_file(folder)
    token = getattr(processor, "image_token", None)
    for needed, role in ((token, "the processor's image_token "), (EMU3_ROW_END, "")):
        if isinstance(needed, str) and needed not in mapping:
            at = (f"at {vocab[needed]}, its id in {where}" if needed in vocab
                  else f"in {where} too, which lacks it")
            what = "" if role else ", the token Emu3 ends each row of image codes with"
            return f"{config_file}: field 'vocabulary_map' lacks {role}{needed!r}{what}; expected it {at}"
    if EMU3_ROW_END not in vocab:  # image generation ends each row with the tokenizer's id of it (adapters/emu3.py)
        return (f"{where}: lacks {EMU3_ROW_END!r}, the token Emu3 ends each row of image codes with; expected it at "
                f"{mapping[EMU3_ROW_END]!r}, its id in {config_file}'s field 'vocabulary_map'")
    codes = getattr(getattr(config, "vq_config", None), "codebook_size", None)
    if isinstance(codes, int):
        missing = [code for code in range(codes) if f"<|visual token{code:06d}|>" not in mapping]
        if missing:
            return (f"{config_file}: field 'vocabulary_map' lacks {len(missing)} of the {codes} visual tokens, the first "
                    f"'<|visual token{missing[0]:06d}|>'; expected one per code of the VQ codebook "
                    f"({_field_said(config_file, config, 'vq_config.codebook_size')}), each at its id in {where}")
    for name, token_id in mapping.items():
        if name in vocab and vocab[name] != token_id:
            return (f"{config_file}: field 'vocabulary_map' gives {name!r} the id {token_id!r}; expected "
                    f"{vocab[name]}, its id in {where}")
    return None


# The image processors' numeric settings (Qwen2-VL's pixel bounds and patches, Janus's min_size, Emu3's factor).
_NUMBERS = ("min_pixels", "max_pixels", "patch_size", "merge_size", "temporal_patch_size", "min_size",
            "spatial_factor", "rescale_factor")


def _image_processor_values_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """``image_mean`` / ``image_std`` one number per channel of the vision tower, and each of ``_NUMBERS`` and of
    the ``size`` entries the image processor's saved configuration gives a number (not a string or true/false); a
    dict of numbers stands for one (Pixtral's, Fuyu's and Kosmos-2.5's ``patch_size: {height, width}``)."""
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is None:
        return None
    vision = getattr(config, "vision_config", None)
    channels = next((value for value in (getattr(vision, key, None) for key in ("num_channels", "in_chans",
                                                                               "in_channels"))
                     if isinstance(value, int) and not isinstance(value, bool)), 3)
    for key in ("image_mean", "image_std"):
        value = getattr(image_processor, key, None)
        if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
            continue  # one number: every channel alike
        numbers = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if not numbers or len(value) != channels:
            return (f"{_image_processor_said(folder, image_processor, key)}; expected {channels} numbers, one per "
                    f"channel of the image the vision tower reads")
    nested = json_object(folder / "processor_config.json").get("image_processor")
    path, prefix = ((folder / "processor_config.json", "image_processor.") if isinstance(nested, dict)
                    else (folder / "preprocessor_config.json", ""))
    saved = nested if isinstance(nested, dict) else json_object(path)  # where transformers read it (_image_processor_said)
    fields = []
    for key in ("size", *_NUMBERS):  # each a number or a dict of numbers (size; Pixtral's, Fuyu's patch_size)
        value = saved.get(key)
        if isinstance(value, dict):
            fields += [(f"{key}.{entry}", number) for entry, number in value.items()]
        elif key != "size":  # a size given otherwise (one number, a list) is left to the run, as before
            fields.append((key, value))
    for key, value in fields:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{path}: field '{prefix}{key}' is {value!r}; expected a number"
    return None


def _janus_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    if getattr(config, "model_type", None) != "janus":
        return None
    vision = config.vision_config
    side = vision.image_size if isinstance(vision.image_size, int) else vision.image_size[0]
    patch = vision.patch_size if isinstance(vision.patch_size, int) else vision.patch_size[0]
    features = (side // patch) ** 2
    said = f"({config_file} vision_config: image_size {side} // patch_size {patch}, squared)"
    placeholders = getattr(processor, "num_image_tokens", None)
    if placeholders != features:
        where = folder / "processor_config.json"  # ProcessorMixin.get_processor_dict: the processor's own fields
        return (f"{_said(where, json_object(where), 'num_image_tokens', placeholders, processor)}; expected "
                f"{features}, the vision tower's features per image {said}")
    if vision.num_image_tokens != features:
        return (f"{_field_said(config_file, config, 'vision_config.num_image_tokens')}; expected "
                f"{features}, the image tokens the VQ decoder reads {said}")
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None)
    sides = {v for k, v in dict(size or {}).items() if k in ("height", "width", "shortest_edge", "longest_edge")}
    if sides and sides != {side}:
        return (f"{_image_processor_said(folder, image_processor, 'size')}; expected {side} a side, the vision "
                f"tower's image_size ({_field_said(config_file, config, 'vision_config.image_size')})")
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
            return (f"{_image_processor_said(folder, image_processor, ours)}; expected {wanted}, the vision "
                    f"tower's {theirs} ({_field_said(config_file, config, f'vision_config.{theirs}')})")
    return None


def _generation_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """``generation_config.json``'s ``eos_token_id`` (and, for Janus, ``bos_token_id``, ``pad_token_id`` and
    ``generation_kwargs.boi_token_id``) against the tokenizer's ids of its ``eos_token`` (``bos_token``, ...); a key
    the file lacks, or a token the tokenizer does not name, is not compared."""
    path = folder / "generation_config.json"
    saved = json_object(path)
    checks = [("eos_token_id", "eos_token")]
    if getattr(config, "model_type", None) == "janus":
        checks += [("bos_token_id", "bos_token"), ("pad_token_id", "pad_token"),
                   ("generation_kwargs.boi_token_id", "boi_token")]
    for key, attribute in checks:
        node: object = saved
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        token = getattr(tokenizer, attribute, None)
        wanted = _token_id(tokenizer, token)
        if node is None or wanted is None:
            continue
        given = node if isinstance(node, list) else [node]
        if wanted not in given:
            expected = f"{wanted}" if not isinstance(node, list) else f"{wanted} among them"
            why = ("else a reply runs on past the end of its turn" if attribute == "eos_token" else
                   "else classifier-free guidance's unconditional prompt is not the one Janus was trained with")
            return (f"{path}: field '{key}' is {node!r}; expected {expected}, the id {_vocabulary_file(folder)} gives "
                    f"the tokenizer's {attribute} {token!r} ({why})")
    return None


# A special token as chat templates write them: ``<|...|>`` (Qwen's ``<|im_start|>``, Janus's ``<|User|>``, Emu3's
# ``<|image start|>``), or with the fullwidth bars of DeepSeek's tokens (``<｜end▁of▁sentence｜>``).
_TEMPLATE_TOKEN = re.compile("<[|\uff5c][^<>|\uff5c\n]{1,64}[|\uff5c]>")
# A conversation that reaches every branch the adapters use: a user turn with an image and text, the
# assistant's reply (the end-of-turn marker), a second user turn, and the generation prompt.
_CONVERSATION = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
                 {"role": "assistant", "content": [{"type": "text", "text": "A cube."}]},
                 {"role": "user", "content": [{"type": "text", "text": "Draw it."}]}]


def _template_tokens_problem(folder: Path, config_file: Path, config, processor, tokenizer) -> str | None:
    """Each special token (``_TEMPLATE_TOKEN``) the processor's chat template writes for ``_CONVERSATION`` is read
    as one token of ``tokenizer.json`` (a token may hold more: a tiny word-level tokenizer's ``<|User|>:``). A
    template that cannot render the conversation, or a tokenizer without offsets, is left to the run."""
    template = getattr(processor, "chat_template", None)
    if not isinstance(template, str) or not getattr(tokenizer, "is_fast", False):
        return None
    try:
        rendered = processor.apply_chat_template(_CONVERSATION, add_generation_prompt=True, tokenize=False)
        read = tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=True)
    except Exception:  # noqa: BLE001 - the template's own error (a TemplateError, a KeyError) comes at the run
        return None
    if not isinstance(rendered, str):
        return None
    where = next((name for name, text in chat_templates(folder) if text == template), "the processor's chat template")
    saved = tokenizer_vocabulary(folder)  # the checks before the load parsed it; not parsed again while unchanged
    held = declared_ids(saved, json_object(folder / "tokenizer_config.json")) if saved else None
    seen = set()
    for match in _TEMPLATE_TOKEN.finditer(rendered):
        token = match.group()
        if token in seen:
            continue
        seen.add(token)
        covering = [i for i, (a, b) in enumerate(read["offset_mapping"]) if a < match.end() and b > match.start()]
        pieces = tokenizer.convert_ids_to_tokens([read["input_ids"][i] for i in covering])
        if len(covering) != 1:
            why = f"every prompt carries it as {len(covering)} tokens of plain text"
        elif held is not None and pieces[0] not in held:  # added at load from tokenizer_config.json, at a new id
            why = (f"transformers adds it at load as a new token, id {read['input_ids'][covering[0]]}, whose "
                   "embedding the model never learnt")
        else:
            continue
        return (f"{where}: the chat template writes {token!r}, which the tokenizer ({_vocabulary_file(folder)}) "
                f"lacks; expected it as one token of the tokenizer, the marker the model was trained on (else {why})")
    return None
