"""What a checkpoint's ``config.json``, ``generation_config.json`` and ``tokenizer.json`` declare, checked
against each other and against what the family's model class needs, before anything is loaded.

transformers fills a missing nested configuration (Janus ``vq_config``) with the class's full-size default
and only fails once the weights do not fit it (a report of hundreds of lines, or minutes spent building a
7B default ``text_config``); a special token whose id lies outside the model's embedding fails in the first
forward pass as an index error; an ``image_token_id`` other than the processor's image token fails as
"image features and image tokens do not match". Each is one line here, naming the file and the field.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from realunify_arena.redaction import shortened
from realunify_arena.shown import error_line, json_kind

__all__ = ["config_sizes_problem", "config_values_problem", "declared_ids", "dtype_problem",
           "generation_config_problem", "json_object", "library_refusal", "null_build_problem", "one_of",
           "pipeline_null_problem", "sub_config_problem", "token_ids_problem", "tokenizer_ids", "vocabulary_ids"]


def json_object(path: Path) -> dict:
    """``path``'s JSON object, for the names and values a message quotes from the file; {} where the file is absent,
    unreadable, no JSON or no object (whether it parses is checked, and said, elsewhere)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def one_of(values: Collection[str]) -> str:
    """``'a' or 'b'``; past three values, ``one of N model types, e.g. 'a', 'b', 'c'``."""
    shown = sorted(values)
    if len(shown) <= 3:
        return " or ".join(map(repr, shown))
    return f"one of {len(shown)} model types, e.g. {', '.join(map(repr, shown[:3]))}"


def sub_config_problem(config: Path, content: dict, sub_configs: Mapping[str, Collection[str]]) -> str | None:
    """Why ``content`` (``config.json`` at ``config``) lacks a nested configuration the model class needs.

    Args:
        sub_configs: field -> the ``model_type`` values that field's configuration may have (Janus:
            ``{"vq_config": {"janus_vqgan"}, ...}``); a nested ``model_type`` left out is accepted (the class
            then uses its own).

    Returns:
        ``"{config}: field '{field}': missing; expected ..."``, ``"... field '{field}.model_type' is 'x';
        expected 'y'"``, or None.
    """
    for field, types in sub_configs.items():
        value = content.get(field)
        if value is None:
            return (f"{config}: field '{field}': missing; expected the {one_of(types)} configuration (a JSON "
                    "object; without it transformers builds its full-size default)")
        if not isinstance(value, dict):
            return (f"{config}: field '{field}': {json_kind(value)}; expected the {one_of(types)} "
                    "configuration (a JSON object)")
        kind = value.get("model_type")
        if kind is not None and kind not in types:
            return f"{config}: field '{field}.model_type' is {kind!r}; expected {one_of(types)}"
    return None


def _vocab_size(config: Path, content: dict) -> tuple[int | None, str]:
    """The model's vocabulary size (its embedding rows) and where it was read."""
    text = content.get("text_config")
    if isinstance(text, dict) and isinstance(text.get("vocab_size"), int):
        return text["vocab_size"], f"{config.name} text_config.vocab_size"
    size = content.get("vocab_size")
    return (size, f"{config.name} vocab_size") if isinstance(size, int) else (None, "")


def tokenizer_ids(tokenizer: dict, tokenizer_config: dict | None = None) -> dict[str, int]:
    """token -> id of a parsed ``tokenizer.json`` (``vocabulary_ids``), with the tokens the parsed
    ``tokenizer_config.json`` declares added as transformers adds them at load (``declared_ids``)."""
    return declared_ids(vocabulary_ids(tokenizer), tokenizer_config)


def vocabulary_ids(tokenizer: dict) -> dict[str, int]:
    """token -> id of a parsed ``tokenizer.json``: its model's vocabulary (a BPE/WordPiece map, or a Unigram list of
    [piece, score]) and its added tokens."""
    model = tokenizer.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    ids: dict[str, int] = {}
    if isinstance(vocab, dict):
        ids.update({k: v for k, v in vocab.items() if isinstance(v, int)})
    elif isinstance(vocab, list):
        ids.update({entry[0]: i for i, entry in enumerate(vocab) if isinstance(entry, list) and entry})
    for added in tokenizer.get("added_tokens") or ():
        if isinstance(added, dict) and isinstance(added.get("content"), str) and isinstance(added.get("id"), int):
            ids[added["content"]] = added["id"]
    return ids


def declared_ids(ids: dict[str, int], tokenizer_config: dict | None) -> dict[str, int]:
    """``ids`` (``vocabulary_ids`` of tokenizer.json, left unchanged) with each token the parsed
    ``tokenizer_config.json``'s ``added_tokens_decoder`` declares that tokenizer.json lacks, where transformers adds
    it at load at the id declared. transformers (5.x) adds such tokens in the order of their ids, each at the
    tokenizer's size so far (``add_tokens``), whatever id the file declares: a Qwen tokenizer.json of the 151643 base
    tokens with ``<|endoftext|>`` ... ``<|video_pad|>`` declared at 151643 ... 151656 loads them at those ids; a
    token declared elsewhere lands at a new id and is left out."""
    declared = tokenizer_config.get("added_tokens_decoder") if isinstance(tokenizer_config, dict) else None
    if not isinstance(declared, dict):
        return ids
    added: dict[str, int] = {}
    size = len(set(ids.values()))
    entries = sorted((int(key), value.get("content")) for key, value in declared.items()
                     if isinstance(key, str) and key.isdigit() and isinstance(value, dict))
    for declared_id, content in entries:
        if isinstance(content, str) and content not in ids and content not in added:
            if declared_id == size:
                added[content] = declared_id
            size += 1
    return {**ids, **added} if added else ids


def _id_fields(folder: Path, config: dict, generation: dict | None) -> Iterator[tuple[Path, str, object]]:
    """(file, dotted field, value) of every ``*_token_id`` field of config.json (and its text_config) and of
    generation_config.json (and its generation_kwargs)."""
    places = [(folder / "config.json", "", config)]
    if isinstance(config.get("text_config"), dict):
        places.append((folder / "config.json", "text_config.", config["text_config"]))
    if generation is not None:
        places.append((folder / "generation_config.json", "", generation))
        if isinstance(generation.get("generation_kwargs"), dict):
            places.append((folder / "generation_config.json", "generation_kwargs.", generation["generation_kwargs"]))
    for path, prefix, content in places:
        for key, value in content.items():
            if key.endswith("_token_id") and value is not None:
                yield path, prefix + key, value


def token_ids_problem(folder: Path, config: dict, generation: dict | None, vocabulary: dict[str, int] | None,
                      special_tokens: Mapping[str, str], tokenizer_config: dict | None = None) -> str | None:
    """Why the token ids a checkpoint declares cannot be used together.

    Args:
        folder: the checkpoint folder (for the file names in the message).
        config, generation, tokenizer_config: the parsed ``config.json``, ``generation_config.json`` and
            ``tokenizer_config.json`` (None: the folder has none; the last adds the tokens its
            ``added_tokens_decoder`` declares, ``declared_ids``).
        vocabulary: token -> id of ``tokenizer.json`` (``vocabulary_ids``; None: the folder has none).
        special_tokens: field of ``tokenizer_config.json`` -> its token (``{"boi_token": "<begin_of_image>"}``).

    Checked: each special token is in the tokenizer's vocabulary at an id below the model's ``vocab_size``;
    every ``*_token_id`` field (a whole number or a list of them) is 0 or more and below ``vocab_size`` and
    the tokenizer's size; ``image_token_id`` / ``boi_token_id`` / ``eoi_token_id`` name the same token as the
    tokenizer's ``image_token`` / ``boi_token`` / ``eoi_token``.

    Returns:
        ``"{file}: field '{field}' ...; expected ..."`` for the first problem, or None.
    """
    vocab_size, where = _vocab_size(folder / "config.json", config)
    ids = declared_ids(vocabulary, tokenizer_config) if vocabulary is not None else None
    tokenizer_file, tokenizer_config = folder / "tokenizer.json", folder / "tokenizer_config.json"
    named: dict[str, int] = {}
    for name, token in special_tokens.items():
        if ids is None:
            break
        if token not in ids:
            return (f"{tokenizer_config}: field '{name}' is {token!r}, which {tokenizer_file} lacks; expected a "
                    "token of the tokenizer's vocabulary")
        named[name] = ids[token]
        if vocab_size is not None and ids[token] >= vocab_size:
            return (f"{tokenizer_file}: token {token!r} (field '{name}' of tokenizer_config.json) has id "
                    f"{ids[token]}; expected an id below the model's vocab_size {vocab_size} ({where})")
    size = max(ids.values(), default=-1) + 1 if ids else None
    for path, field, value in _id_fields(folder, config, generation):
        for token_id in value if isinstance(value, list) else [value]:
            if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
                return f"{path}: field '{field}' is {value!r}; expected a token id (a whole number, 0 or more)"
            if vocab_size is not None and token_id >= vocab_size:
                return (f"{path}: field '{field}' is {token_id}; expected an id below the model's vocab_size "
                        f"{vocab_size} ({where})")
            if size is not None and token_id >= size:
                return (f"{path}: field '{field}' is {token_id}; expected an id of the tokenizer "
                        f"({tokenizer_file} has ids 0 to {size - 1})")
        name = field.rpartition(".")[2].removesuffix("_id")
        if name in named and value != named[name]:
            return (f"{path}: field '{field}' is {value!r}; expected {named[name]}, the id of the tokenizer's "
                    f"{name} {special_tokens[name]!r} (tokenizer_config.json)")
    return None


def dtype_problem(config: Path, content: dict) -> str | None:
    """Why a ``dtype`` / ``torch_dtype`` field of ``config.json`` (``content``, parsed), at the top level or in a
    nested configuration at any depth (``text_config``, Qwen2.5-Omni's ``thinker_config.text_config``, an
    encoder-decoder's ``encoder``), names no torch dtype: transformers builds each nested configuration with
    ``getattr(torch, dtype)`` (``PreTrainedConfig.__init__``) and reports ``module 'torch' has no attribute
    'bf16'``, naming neither file nor field.

    Returns:
        ``"{config}: field 'thinker_config.text_config.dtype' is 'bf16'; expected a torch dtype name ('bfloat16',
        'float16' or 'float32')"`` for the first such field, or None.
    """
    import torch

    for prefix, fields in _sub_configs(content):
        for key in ("dtype", "torch_dtype"):
            value = fields.get(key)
            named = isinstance(value, str) and isinstance(getattr(torch, value, None), torch.dtype)
            if value is not None and not named:
                return (f"{config}: field '{prefix}{key}' is {value!r}; expected a torch dtype name ('bfloat16', "
                        "'float16' or 'float32')")
    return None


def _sub_configs(content: dict, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted prefix, fields) of ``content`` and of every configuration nested in it, at any depth
    (``_is_sub_config``)."""
    yield prefix, content
    for key, value in content.items():
        if _is_sub_config(key, value):
            yield from _sub_configs(value, f"{prefix}{key}.")


def _is_sub_config(key: str, value: object) -> bool:
    """Whether a configuration's field ``key`` holds a nested model configuration (``text_config``, ``vq_config``,
    an encoder-decoder's ``encoder`` with its ``model_type``), not data that merely is a JSON object: Emu3's
    ``vocabulary_map`` (token -> id, where a BPE vocabulary has a token ``dtype``), ``id2label``, ``rope_scaling``,
    or a ``quantization_config``."""
    return isinstance(value, dict) and key != "quantization_config" and (
        key.endswith("_config") or isinstance(value.get("model_type"), str))


def generation_config_problem(path: Path, content: dict) -> str | None:
    """Why transformers' ``GenerationConfig`` refuses ``generation_config.json`` (``content``, parsed), or why a
    field it passes on unread is unusable: ``generation_kwargs`` must be a JSON object (Janus reads its
    ``boi_token_id`` there; a string fails only at generation, as a bare ``ValueError``), and ``guidance_scale``,
    when not null, must be a finite number 0 or more: GenerationConfig keeps a string, ``true``, ``-2`` or
    ``Infinity`` as it is, and a card without a guidance runs Janus and Emu3 at this one
    (``local.checkpoint_guidance``), where a string would be skipped unsaid and an infinite one make every logit
    infinite."""
    import math

    from transformers import GenerationConfig

    extra = content.get("generation_kwargs")
    if extra is not None and not isinstance(extra, dict):
        return (f"{path}: field 'generation_kwargs' is {json_kind(extra)}; expected a JSON object "
                "(e.g. {\"boi_token_id\": 100016})")
    guidance = content.get("guidance_scale")
    if guidance is not None and not (isinstance(guidance, (int, float)) and not isinstance(guidance, bool)
                                     and math.isfinite(guidance) and guidance >= 0):
        said = json_kind(guidance) if not isinstance(guidance, (int, float)) or isinstance(guidance, bool) \
            else repr(guidance)
        return (f"{path}: field 'guidance_scale' is {said}; expected a finite number, 0 or more (the classifier-free "
                "guidance scale; 0 or 1 turns it off), or null")
    try:
        GenerationConfig.from_dict(dict(content))
    except Exception as exc:  # noqa: BLE001 - the class's own validation: ValueError, TypeError
        return library_refusal(path, exc, "the generation configuration as the checkpoint ships it")
    return None


def library_refusal(path: Path, error: BaseException, expected: str) -> str:
    """``"{path}: {error's message}; expected {expected}"``: a library's refusal of the file ``path`` as one
    line, its message's white space runs joined and its secrets masked (``redaction.shortened``) before it is
    cut to 300 characters, so a key a field's value holds and the message quotes is masked whole, never cut
    in two (the halves would match neither its value nor its shape)."""
    said = shortened(error_line(error), 300, "...")
    return f"{path}: {said}; expected {expected}"


_NUMBERS = (int, float, bool)


def _number_kinds(annotation: object) -> set[type] | None:
    """The number types an ``__init__`` annotation takes when it takes nothing else but None (``float``,
    ``int | None``, ``Optional[float]``); None for any other annotation (``str``, ``Literal[...]``,
    ``tuple[int]``, ``Any``, none at all), which is left unchecked."""
    import types
    import typing

    members = (typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType)
               else (annotation,))
    numbers = {m for m in members if m in _NUMBERS}
    if not numbers or any(m not in _NUMBERS and m is not type(None) for m in members):
        return None
    return numbers


def config_values_problem(path: Path, content: dict, cls: type) -> str | None:
    """Why a value of a diffusers configuration file (``scheduler_config.json``, a model component's
    ``config.json``; ``content``, parsed) cannot be the number ``cls.__init__`` takes for that field.

    diffusers passes the file's values to ``__init__`` as they are (``ConfigMixin.extract_init_dict``,
    diffusers/configuration_utils.py: ``init_dict[key] = config_dict.pop(key)``), so ``shift_terminal: "0.02"``
    loads and then fails at the first run in diffusers' words ("unsupported operand type(s) for -: 'int' and
    'str'"); ``max_shift: null`` loads and the pipeline's ``calculate_shift`` fails with "unsupported operand
    type(s) for -: 'NoneType' and 'float'". Checked: no field whose annotation takes only numbers (``float``,
    ``int``, ``bool``, optionally ``None``) holds a JSON string or object, nor null where its default is a number
    (not a boolean: null then reads as false) and either the annotation takes no None or the class is a scheduler
    (the pipelines compute with a scheduler's values: ``max_shift``). Left alone, as the classes' code takes more
    than their annotations say: a boolean where a number is taken or the reverse (Python reads one as the other;
    UniPC annotates ``shift_terminal: bool | None``), a list (``AutoencoderKL`` reads ``sample_size: int`` as a list
    too), null where the default is None or a boolean, null where a model's annotation takes None (its
    ``__init__`` reads None its own way: google/ddpm-cat-256's ``UNet2DModel`` ``attention_head_dim: null``, one
    head per channel block), unless the class then cannot be built (``UNet2DConditionModel``
    ``norm_num_groups: null``: its blocks take the group count); and other annotations (strings, ``Literal``,
    tuples).

    Returns:
        ``"{path}: field 'shift_terminal' is a string, "0.02"; expected a number (Cls takes float | None there)"``,
        or None.
    """
    import inspect
    import typing

    init = getattr(cls.__init__, "__wrapped__", cls.__init__)  # register_to_config wraps it
    try:
        hints = typing.get_type_hints(init)
        params = inspect.signature(init).parameters
    except Exception:  # noqa: BLE001 - annotations that cannot be resolved: nothing to check against
        return None
    scheduler = any(base.__name__ == "SchedulerMixin" for base in cls.__mro__)
    for field, value in content.items():
        numbers = _number_kinds(hints.get(field)) if field in params and not field.startswith("_") else None
        if numbers is None:
            continue
        wanted = "true or false" if numbers == {bool} else "a whole number" if numbers == {int} else "a number"
        takes = f"{cls.__name__} takes {_annotation_text(hints[field])} there"
        if isinstance(value, (str, dict)):
            shown = shortened(json.dumps(value, ensure_ascii=False), 60, "...")
            return f"{path}: field '{field}' is {json_kind(value)}, {shown}; expected {wanted} ({takes})"
        default = params[field].default
        said_none = type(None) in typing.get_args(hints[field])
        if value is None and isinstance(default, (int, float)) and not isinstance(default, bool) and (
                scheduler or not said_none or not _builds_from(cls, content)):
            return (f"{path}: field '{field}' is null; expected {wanted} ({takes}, and computes with it: its "
                    f"default is {default!r})")
    return None


_COMPUTING_CALLS = {"len", "range", "int", "float", "torch.tensor"}


@functools.cache
def _computed_fields(pipeline: type, component: str) -> dict[str, str]:
    """field -> the source line of the first place ``pipeline``'s own code (its class's methods, parsed with
    ``ast``: docstrings and comments are no code) computes with ``self.{component}.config.{field}`` unconditionally:
    an operand of arithmetic or of ``<``/``>`` (``==`` takes None), or the argument of ``len``, ``range``, ``int``,
    ``float`` or ``torch.tensor``; not where the expression evaluates it only on a condition (a later operand of
    ``and``/``or``: SD's ``height or self.unet.config.sample_size * ...``; a branch of ``x if c else y``), though
    inside an ``if`` statement it counts (FLUX decodes in the ``else`` of ``output_type == "latent"``). A field the
    code anywhere tests for None (``is None``, ``is not None``, ``if``/``and``/``or``/``not`` of it,
    ``getattr``/``hasattr``) is left out."""
    import ast
    import inspect
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(pipeline))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return {}
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def config_of(node) -> bool:  # self.{component}.config
        return (isinstance(node, ast.Attribute) and node.attr == "config" and isinstance(node.value, ast.Attribute)
                and node.value.attr == component and isinstance(node.value.value, ast.Name)
                and node.value.value.id == "self")

    def conditional(node) -> bool:
        child, parent = node, parents.get(node)
        while parent is not None and not isinstance(parent, ast.stmt):
            if isinstance(parent, ast.BoolOp) and child is not parent.values[0]:
                return True
            if isinstance(parent, ast.IfExp) and child is not parent.test:
                return True
            child, parent = parent, parents.get(parent)
        return False

    computed: dict[str, str] = {}
    tested: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and len(node.args) >= 2 and config_of(node.args[0]) and isinstance(node.args[1], ast.Constant):
            tested.add(str(node.args[1].value))
        if not (isinstance(node, ast.Attribute) and config_of(node.value)):
            continue
        field, parent = node.attr, parents.get(node)
        if isinstance(parent, ast.Compare) and any(isinstance(c, ast.Constant) and c.value is None
                                                   for c in (parent.left, *parent.comparators)):
            tested.add(field)
        elif isinstance(parent, (ast.BoolOp, ast.If, ast.While)) or (isinstance(parent, ast.IfExp)
                                                                     and node is parent.test) \
                or (isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)):
            tested.add(field)
        elif (isinstance(parent, ast.BinOp) or (isinstance(parent, ast.Compare) and any(
                isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in parent.ops)) or (
                isinstance(parent, ast.Call) and node in parent.args
                and ast.unparse(parent.func) in _COMPUTING_CALLS)) and not conditional(node):
            computed.setdefault(field, source.splitlines()[node.lineno - 1].strip())
    return {field: line for field, line in computed.items() if field not in tested}


def pipeline_null_problem(path: Path, content: dict, pipeline: type | None, component: str, cls: type) -> str | None:
    """Why a field of the component ``component``'s configuration file (``content``, parsed, at ``path``; its class
    ``cls``) is null where the pipeline class ``pipeline`` computes with it (``_computed_fields``): a class default
    of None lets the file's null load (``config_values_problem`` leaves such nulls alone), and the first run fails
    in Python's words naming neither file nor field: AutoencoderKL's ``shift_factor: null`` under FLUX (``latents =
    (latents / self.vae.config.scaling_factor) + self.vae.config.shift_factor``: "unsupported operand type(s) for
    -: 'Tensor' and 'NoneType'"). A field the file leaves out whose class default is None is the same null
    (``_left_out_nulls``). A pipeline that reads the field another way, only on a condition, or tests it for None
    (SDXL's ``latents_mean``) is left alone.

    Returns:
        ``"{path}: field 'shift_factor' is null; expected a number (FluxPipeline computes with vae.config.shift_factor:
        latents = (latents / self.vae.config.scaling_factor) + self.vae.config.shift_factor)"``, or None.
    """
    import inspect
    import typing

    computed = _computed_fields(pipeline, component) if pipeline is not None else {}
    fields = [field for field, value in content.items() if value is None and field in computed]
    fields += [field for field in _left_out_nulls(content, cls) if field in computed]
    if not fields:
        return None
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    try:
        hints = typing.get_type_hints(init)
        params = inspect.signature(init).parameters
    except Exception:  # noqa: BLE001 - annotations that cannot be resolved: said without them
        hints, params = {}, {}
    field = fields[0]
    numbers = _number_kinds(hints.get(field)) if field in params else None
    wanted = "a value" if not numbers else "a whole number" if numbers == {int} else "a number"
    return (f"{path}: {_null_said(content, field, cls)}; expected {wanted} ({pipeline.__name__} computes with "
            f"{component}.config.{field}: {shortened(computed[field], 120, '...')})")


def _left_out_nulls(content: dict, cls: type) -> list[str]:
    """The fields ``cls.__init__`` takes with a default of None that the configuration ``content`` leaves out: the
    class then holds None there, as where the file writes null (a file written by hand, or by a diffusers release
    before the field existed)."""
    import inspect

    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return []
    return [name for name, param in params.items() if name != "self" and not name.startswith("_")
            and param.kind is param.POSITIONAL_OR_KEYWORD and param.default is None and name not in content]


def _null_said(content: dict, field: str, cls: type) -> str:
    """``field 'x' is null``, or, for a field the file leaves out, ``field 'x': missing (Cls's default is null)``."""
    if field in content:
        return f"field '{field}' is null"
    return f"field '{field}': missing ({cls.__name__}'s default is null)"


@functools.cache
def _module_source(cls: type) -> str:
    """The source of the module that defines ``cls``; empty where it cannot be read."""
    import inspect

    try:
        return inspect.getsource(inspect.getmodule(cls))
    except (OSError, TypeError):
        return ""


def null_build_problem(path: Path, content: dict, cls: type) -> str | None:
    """Why the diffusers model class ``cls`` cannot be built from its configuration file (``content``, parsed, at
    ``path``) with a field of it null: its ``__init__`` computes with the value where the class default is None too,
    and ``from_pretrained`` fails in Python's words naming neither file nor field (OmniGen's transformer
    ``rope_scaling: null``: ``rope_scaling["short_factor"]``, "'NoneType' object is not subscriptable"). Built on
    the meta device only where the file holds a null that the class's module subscripts or computes with somewhere
    (``rope_scaling[``, ``out_channels *``: a cheap filter, so FLUX's ``out_channels: null`` costs no build); the
    field named is the null one the failing lines of ``__init__``'s traceback name. A field the file leaves out whose
    class default is None counts as null (``_left_out_nulls``: OmniGen's ``rope_scaling`` left out fails the same).

    Returns:
        ``"{path}: field 'rope_scaling' is null; expected a value (OmniGenTransformer2DModel cannot be built without
        one: 'NoneType' object is not subscriptable)"``, or None.
    """
    import re
    import traceback

    from accelerate import init_empty_weights

    source = _module_source(cls)
    nulls = [field for field in [*(f for f, v in content.items() if v is None), *_left_out_nulls(content, cls)]
             if not field.startswith("_") and re.search(rf"\b{re.escape(field)}\s*(?:\[|\*\*|//|[-+*/%](?!=))", source)]
    if not nulls:  # no null the class's module subscripts or computes with: no build (a 12B model's takes ~1 s)
        return None
    try:
        with init_empty_weights(include_buffers=True):
            cls.from_config(content)
    except Exception as exc:  # noqa: BLE001 - whatever the class's __init__ raises on the configuration
        lines = [frame.line or "" for frame in traceback.extract_tb(exc.__traceback__)]
        for field in nulls:
            if any(re.search(rf"\b{re.escape(field)}\b", line) for line in lines):
                said = shortened(error_line(exc), 160, "...")
                return (f"{path}: {_null_said(content, field, cls)}; expected a value ({cls.__name__} cannot be built "
                        f"without one: {said})")
    return None


def _builds_from(cls: type, content: dict) -> bool:
    """Whether the diffusers model class ``cls`` builds from the configuration ``content`` on the meta device
    (no memory for weights: a 12B transformer in about a second)."""
    from accelerate import init_empty_weights

    try:
        with init_empty_weights(include_buffers=True):
            cls.from_config(content)
    except Exception:  # noqa: BLE001 - whatever the class's __init__ raises on the configuration
        return False
    return True


def _annotation_text(annotation: object) -> str:
    """``float | None`` for an annotation."""
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "").replace("NoneType", "None")


def _settings(content: dict, cls: type) -> dict:
    """The values ``cls.__init__`` gets from ``content``: the file's, else the signature's defaults."""
    import inspect

    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):
        return dict(content)
    return {name: content.get(name, param.default) for name, param in params.items() if name != "self"}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def config_sizes_problem(path: Path, content: dict, cls: type) -> str | None:
    """Why two sizes of a diffusers component's ``config.json`` (``content``, parsed; the class ``cls``'s
    defaults fill what it leaves out) that the model or its pipeline use together do not fit; the weights do not
    show it (the layers hold no weight of that size), and diffusers fails at the first run in torch's words:

    - ``axes_dims_rope`` (FLUX, Qwen-Image, HiDream, Chroma transformers) must add up to ``attention_head_dim``:
      each axis's rotary frequencies are concatenated over a head (``FluxPosEmbed``, ``QwenEmbedRope``: "The size of
      tensor a (8) must match the size of tensor b (7)");
    - a VAE's ``latents_mean`` / ``latents_std`` hold one value per latent channel (``z_dim``, else
      ``latent_channels``): the pipelines view them as ``(1, z_dim, 1, 1, 1)`` (pipeline_qwenimage.py) or
      ``(1, latent_channels, 1, 1)`` (pipeline_stable_diffusion_xl.py): "shape '[1, 16, 1, 1, 1]' is invalid for
      input of size 8";
    - OmniGen's ``rope_scaling`` ``short_factor`` / ``long_factor`` hold one factor per rotary frequency of a head
      (``OmniGenSuScaledRotaryEmbedding``: ``ext_factors * base ** (arange(0, dim, 2) / dim)``, Phi-3's 48 of a
      head of 96).

    A class whose own defaults break a rule is not checked by it.

    Returns:
        ``"{path}: field 'axes_dims_rope' is [4, 6, 4] (adding up to 14); expected sizes adding up to
        attention_head_dim 16"``, ``"{path}: field 'latents_mean' has 8 values; expected 16, one per latent channel
        (z_dim 16)"``, or None.
    """
    if _sizes_problem(path, _settings({}, cls)):
        return None  # the class's own defaults break the rule (HiDream: axes (32, 32), head 128; Cosmos' VAE: 256
        # latents_mean values over 16 channels): it uses these sizes another way
    return _sizes_problem(path, _settings(content, cls), content)


def _sizes_problem(path: Path, settings: dict, written: Collection[str] = ()) -> str | None:
    """``config_sizes_problem`` over the values ``__init__`` gets (``settings``); a field outside ``written`` (the
    fields the file holds) is said to be missing, its value the class default."""

    def said(field: str, what: str) -> str:  # "field 'f' is [..]" / "field 'f': missing (the class default is [..])"
        return f"field '{field}' {what}" if field in written else f"field '{field}': missing (the class default {what})"
    axes, head = settings.get("axes_dims_rope"), settings.get("attention_head_dim")
    if isinstance(axes, (list, tuple)) and all(_whole(a) for a in axes) and _whole(head) and sum(axes) != head:
        return (f"{path}: {said('axes_dims_rope', f'is {list(axes)}')} (adding up to {sum(axes)}); expected sizes "
                f"adding up to attention_head_dim {head} (each axis's rotary frequencies are concatenated over a head)")
    rope, hidden, heads = settings.get("rope_scaling"), settings.get("hidden_size"), settings.get("num_attention_heads")
    if isinstance(rope, dict) and _whole(hidden) and _whole(heads) and heads > 0:
        frequencies = (hidden // heads + 1) // 2
        for key in ("short_factor", "long_factor"):
            factors = rope.get(key)
            if isinstance(factors, list) and len(factors) != frequencies:
                return (f"{path}: field 'rope_scaling.{key}' has {len(factors)} values; expected {frequencies}, one "
                        f"per rotary frequency of a head of {hidden // heads} (hidden_size {hidden} / "
                        f"num_attention_heads {heads})")
    channels = next(((key, settings[key]) for key in ("z_dim", "latent_channels") if _whole(settings.get(key))), None)
    for field in ("latents_mean", "latents_std"):
        values = settings.get(field)
        if channels and isinstance(values, (list, tuple)) and len(values) != channels[1]:
            return (f"{path}: {said(field, f'has {len(values)} values')}; expected {channels[1]}, one per latent "
                    f"channel ({channels[0]} {channels[1]})")
    return None
