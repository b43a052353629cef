"""Whether a checkpoint's weights fit the module its ``config.json`` builds: a diffusers pipeline component's,
read from the safetensors headers alone (or a torch ``.bin`` file's pickle, its tensors made on the meta device:
no weight is read), and a whole transformers model's, from the library's own load report; the one home of the
messages refusing them.

A component whose configuration disagrees with its weights fails in the library's words or not at all:
diffusers says "Cannot load  because decoder.conv_in.weight expected shape ...", naming neither the component
nor the file; ``T5Model`` named for a ``T5EncoderModel`` folder loads with its decoder left at random values;
a ``config.json`` whose ``model_type`` is another architecture's loads as whatever its fields happen to build.
Here the class ``model_index.json`` names is built from the component's configuration on the meta device
(``accelerate.init_empty_weights``: shapes only, no memory), its checkpoint keys are renamed the way the
library renames them on load (transformers' ``get_model_conversion_mapping`` and ``rename_source_key``,
diffusers' ``_fix_state_dict_keys_on_load``), and each parameter's shape is compared with the header's.
Weights the library ties or shares, and keys its class declares ignorable (``_keys_to_ignore_on_load_missing``),
are not required.

A whole model (``JanusForConditionalGeneration.from_pretrained``) whose weights lack some the config builds (a
truncated shard set, a smaller variant's weights, weights saved from another class) loads in transformers with
only a logged "LOAD REPORT", those weights at random values; one whose weights hold more than it builds (a
config.json of fewer layers than the weights) loads the smaller model, the rest dropped with the same logged
report; one of another shape raises "You set
`ignore_mismatched_sizes` to `False`, thus raising an error. For details look at the above report!", naming
neither the weight nor the folder. ``load_report_problem`` reads the report ``from_pretrained`` returns, and
``model_fit_problem`` gives its message before anything is loaded, from the same meta-device comparison (a broken
7B checkpoint is refused in a fraction of a second, not after minutes and ~15 GB; bench/model_fit.py).
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from pathlib import Path
from types import SimpleNamespace

from realunify_arena.adapters.checkpoint_config import library_refusal
from realunify_arena.adapters.checkpoint_settings import settings_problem

__all__ = ["component_fit_problem", "load_report_problem", "model_fit_problem"]

_SHOWN = 3  # missing weight names quoted in a message
log = logging.getLogger(__name__)


def component_fit_problem(index: Path, name: str, library: str, class_name: str, weights: Path,
                          shards: list[Path]) -> str | None:
    """Why the weights of the component ``name`` do not fit the ``library`` ``class_name`` its config builds.

    Args:
        index: the pipeline's ``model_index.json`` (it names the component's class).
        name: the component, i.e. its sub-folder (``vae``, ``text_encoder_2``).
        library, class_name: the component's ``[library, class]`` in ``model_index.json``.
        weights: the weight entry file from_pretrained reads (one safetensors or torch ``.bin`` file, or a
            sharded index of them).
        shards: the files holding the weights (``[weights]``, or the shards the index names).

    Returns:
        ``"{sub}: weight {key} has shape [..] in {file} but {config} builds [..] ..."``,
        ``"{sub}: {n} weights of the {class} {config} builds are in no weight file ({weights}) ..."``,
        ``"{sub}: weight {key} is stored as I8 in {file} but {config} builds a floating-point weight there ..."``
        (the library would cast the integers or booleans to floats without a word),
        ``"{sub}: {n} weights in {weights} have no place in the {class} that {config} builds ..."`` (the library
        would drop them with a logged warning and run a smaller module; a class's
        ``_keys_to_ignore_on_load_unexpected`` are left out, as the library leaves them), or
        ``"{config}: field 'model_type' is 't5'; expected 'clip_text_model' ..."``; None when they fit, or when
        the class is not a diffusers or transformers model, or cannot be built on the meta device, or its config
        declares quantized weights (``quantization_config``: shapes packed by the quantizer), or the check
        itself fails (it leans on library internals, e.g. transformers' ``rename_source_key``, that a library
        update may change): the library then reports its own error on load, as without this check.
    """
    try:
        return _fit_problem(index, name, library, class_name, weights, shards)
    except Exception as exc:  # noqa: BLE001 - never refuse a checkpoint because the check broke
        log.debug("%s/%s: weight-fit check skipped (%s: %s)", index.parent, name, type(exc).__name__, exc)
        return None


def _fit_problem(index: Path, name: str, library: str, class_name: str, weights: Path,
                 shards: list[Path]) -> str | None:
    """``component_fit_problem`` without its guard."""
    sub = index.parent / name
    config = sub / "config.json"
    loaded = f"{index.name} loads {name} as {library} {class_name}"
    cls = getattr(importlib.import_module(library), class_name, None)
    model, problem = _meta_model(cls, library, sub, config, loaded)
    if problem:
        return problem
    type_problem = _model_type_problem(cls, config, loaded) if library == "transformers" and model is not None \
        else None
    if model is None:
        # a config.json of another model_type that the class cannot even be built from fails in transformers' words
        # at the first forward pass (qwen2 under Qwen2_5_VLForConditionalGeneration: a bare ZeroDivisionError)
        return _unbuilt_type_problem(cls, library, config, loaded)
    found = _stored_shapes(shards)
    renamed, converted = (_transformers_keys(model, found) if library == "transformers"
                          else _diffusers_keys(model, found, sharded=len(shards) > 1 or weights not in shards))
    expected = model.state_dict(keep_vars=True)
    builder = f"{name}/{config.name}"
    for key, shape, built, file in _mismatched(renamed, converted, expected)[:1]:
        fault = (f"{_shape_text(sub, key, shape, file.name, builder, built)} ({loaded}); "
                 "expected weights saved with this config.json")
        return f"{type_problem}; and {fault}" if type_problem else fault
    for key, dtype, file in _not_floating(renamed, converted, expected)[:1]:
        fault = (f"{_dtype_text(sub, key, dtype, file.name, builder)} ({loaded}); expected "
                 "floating-point weights (F32, F16 or BF16), or a quantization_config naming how they are packed")
        return f"{type_problem}; and {fault}" if type_problem else fault
    missing = _missing_keys(model, expected, set(renamed) | converted)
    if missing:
        fault = (f"{_missing_text(sub, missing, len(expected), class_name, builder, weights.name)} ({loaded}); "
                 "expected the class and config.json the weights were saved with")
        return f"{type_problem}; and {fault}" if type_problem else fault
    unexpected = (_unexpected_keys(model, renamed, expected) if library == "transformers"
                  else _diffusers_unexpected(cls, renamed, expected))
    if unexpected:
        fault = (f"{sub}: {len(unexpected)} weights in {weights.name} have no place in the {class_name} that "
                 f"{builder} builds: {_shown(unexpected)} ({loaded}); {library} would drop them and run a smaller "
                 "module than the one saved; expected the config.json the weights were saved with")
        return f"{type_problem}; and {fault}" if type_problem else fault
    return _fields_problem(cls, config, loaded) if type_problem else None


def model_fit_problem(checkpoint: str, folder: Path, cls, weights: Path, shards: list[Path]) -> str | None:
    """Why ``cls.from_pretrained(checkpoint)`` would not load whole, read before it loads anything: the refusal
    ``load_report_problem`` would give after the load (a real 7B checkpoint: minutes and ~15 GB first), from the
    weight files' headers (safetensors) or pickles (torch ``.bin``, tensors made on the meta device) and the model
    ``config.json`` builds on the meta device.

    Args:
        checkpoint: the folder or hub id as the caller names it (the message names it so, as the post-load one does).
        folder: the local folder holding it (a cached hub snapshot).
        cls: the transformers class loaded (``JanusForConditionalGeneration``), or an auto class
            (``AutoModelForImageTextToText``: the class it picks for the folder's configuration is built).
        weights: the weight entry file ``from_pretrained`` reads (``model.safetensors``, a sharded index,
            ``pytorch_model.bin``).
        shards: the files holding the weights (``[weights]``, or the shards the index names).

    Returns:
        ``load_report_problem``'s message for the report transformers would give (the weights no checkpoint key
        fills, less tied and ignorable ones, as ``PreTrainedModel.tie_weights(missing_keys=...)`` and
        ``_adjust_missing_and_unexpected_keys`` drop them; each weight of another shape; the stored weights the
        model has no place for, less the ignorable ones); else ``"{checkpoint}: weight {key} is stored as I8 in
        {file} but config.json builds a floating-point weight there ..."`` (integers or booleans, which no load
        report mentions: transformers casts them to floats); or None when the weights fit. A weight a
        ``WeightConverter`` builds from several stored tensors (a fused MoE layer's experts, saved one per expert)
        counts as stored when one of them is; whether all of them are there, at one shape, is
        ``fused_weights.fused_problem``'s message (the load would report a weight of another shape, or fail). None too
        (the load and its own report then decide) when the model cannot be built on the meta device, its weights
        are quantized (``quantization_config``), its configuration is refused (``check_checkpoint`` names that),
        or the check itself fails: it never refuses a checkpoint the post-load report would accept.
    """
    try:
        return _model_problem(checkpoint, folder, cls, weights, shards)
    except Exception as exc:  # noqa: BLE001 - never refuse a checkpoint because the check broke
        log.debug("%s: weight-fit check skipped (%s: %s)", checkpoint, type(exc).__name__, exc)
        return None


def _model_problem(checkpoint: str, folder: Path, cls, weights: Path, shards: list[Path]) -> str | None:
    """``model_fit_problem`` without its guard."""
    from transformers import AutoConfig, PreTrainedModel

    if not (isinstance(cls, type) and issubclass(cls, PreTrainedModel)):  # an auto class, as from_pretrained picks
        from transformers.models.auto.auto_factory import _get_model_class

        cls = _get_model_class(AutoConfig.from_pretrained(folder), cls._model_mapping)
    model, problem = _meta_model(cls, "transformers", folder, folder / "config.json", "")
    if problem or model is None:
        return None
    # a weight a WeightConverter fuses from several stored tensors (a MoE layer's experts) counts as stored when
    # one of them is; its shape, and whether all of them are there, are checked by fused_problem below
    found = _stored_shapes(shards)
    renamed, converted = _transformers_keys(model, found)
    expected = model.state_dict(keep_vars=True)
    report = {"mismatched_keys": [entry[:3] for entry in _mismatched(renamed, converted, expected)],
              "missing_keys": _missing_keys(model, expected, set(renamed)),
              "unexpected_keys": _unexpected_keys(model, renamed, expected)}
    problem = load_report_problem(checkpoint, type(model).__name__, report, len(expected), weights.name)
    if not problem and converted:
        from realunify_arena.adapters.fused_weights import fused_problem

        problem = fused_problem(checkpoint, model, found, type(model).__name__)
    for key, dtype, file in ([] if problem else _not_floating(renamed, converted, expected)[:1]):
        problem = (f"{_dtype_text(checkpoint, key, dtype, file.name, 'config.json')} "
                   f"({type(model).__name__}); expected floating-point weights (F32, F16 or BF16), or a "
                   "quantization_config naming how they are packed")
    return problem


def _meta_model(cls, library: str, sub: Path, config: Path, loaded: str):
    """(the module ``config`` builds, on the meta device; problem): (None, None) when ``cls`` is no model class
    of ``library`` or cannot be built on the meta device, or the config declares its weights quantized (a
    ``quantization_config``: bitsandbytes 4-bit stores a Linear's [out, in] weight packed as [out*in/2, 1], which
    the library's quantizer unpacks; the unquantized module built here would call it the wrong shape); a problem
    when its configuration class refuses it."""
    if "quantization_config" in json.loads(config.read_text(encoding="utf-8")):
        return None, None
    from accelerate import init_empty_weights

    if library == "transformers":
        from transformers import PreTrainedModel

        if not (isinstance(cls, type) and issubclass(cls, PreTrainedModel)) or cls.config_class is None:
            return None, None
        try:
            settings = cls.config_class.from_pretrained(sub)
        except Exception as exc:  # noqa: BLE001 - the configuration class's own validation
            return None, library_refusal(config, exc, f"the configuration of {cls.__name__} ({loaded})")
        # a config.json of another model_type is judged by the type rules below (_unbuilt_type_problem), whose
        # refusal names the cause; its settings read under this class say less
        problem = None if _model_type_problem(cls, config, loaded) else settings_problem(config, settings)
        if problem:
            return None, f"{problem} ({loaded})"
    else:
        from diffusers.models.modeling_utils import LegacyModelMixin, ModelMixin

        if not (isinstance(cls, type) and issubclass(cls, ModelMixin)):
            return None, None
        settings = None  # read below: diffusers' load_config refuses nothing from_pretrained would not
    try:
        if settings is None:
            from diffusers.models.model_loading_utils import _fetch_remapped_cls_from_config

            settings = cls.load_config(sub)
            # a legacy class (Transformer2DModel) loads as the class its config maps to (PixArtTransformer2DModel),
            # as LegacyModelMixin.from_pretrained does
            if issubclass(cls, LegacyModelMixin):
                cls = _fetch_remapped_cls_from_config(settings, cls)
        with init_empty_weights(include_buffers=True):
            return (cls(settings) if library == "transformers" else cls.from_config(settings)), None
    except Exception:  # noqa: BLE001 - a module that cannot be built on meta: from_pretrained reports it
        return None, None


def _stored_shapes(shards: list[Path]) -> dict[str, tuple[tuple[int, ...], Path, str]]:
    """checkpoint key -> (shape, file, dtype), from each safetensors header, or each torch ``.bin`` file's pickle read
    with ``weights_only=True`` (tensors, containers and numbers only: no code a file names is run, as the
    libraries load it) onto the meta device (no tensor's data is read: a 800 MB file takes 0.01 s). The dtype is
    the header's name (``F32``, ``BF16``, ``I8``) or torch's (``float32``, ``int8``)."""
    from safetensors import safe_open

    found: dict[str, tuple[tuple[int, ...], Path, str]] = {}
    for shard in shards:
        if shard.name.endswith(".safetensors"):
            with safe_open(str(shard), framework="pt") as f:
                for key in f.keys():
                    stored = f.get_slice(key)
                    found[key] = (tuple(stored.get_shape()), shard, stored.get_dtype())
            continue
        import torch

        state = torch.load(shard, map_location="meta", weights_only=True)
        found.update({key: (tuple(tensor.shape), shard, str(tensor.dtype).removeprefix("torch."))
                      for key, tensor in state.items() if isinstance(tensor, torch.Tensor)})
    return found


def _not_floating(renamed: dict, converted: set[str], expected: dict) -> list[tuple[str, str, Path]]:
    """(model key, stored dtype, file) of each stored weight the module holds as floating-point numbers but the
    file stores as integers or booleans (``I8``, ``U8``, ``BOOL``, ``int64``, or complex numbers): transformers and
    diffusers cast them to the module's dtype on load, without a word, and the model runs on those whole numbers. A
    quantized checkpoint, whose packed integers a quantizer reads, never reaches here (``_meta_model``)."""
    return [(key, dtype, file) for key, (_, file, dtype) in renamed.items()
            if key in expected and key not in converted and expected[key].is_floating_point()
            and not dtype.upper().startswith(("F", "BF"))]


def _dtype_text(folder: Path | str, key: str, dtype: str, file: str, builder: str) -> str:
    return (f"{folder}: weight {key} is stored as {dtype} in {file} but {builder} builds a floating-point weight "
            "there; it would be loaded with those whole numbers as its values")


def _shown(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")


def _shape_text(folder: Path | str, key: str, shape, file: str, builder: str, built) -> str:
    return f"{folder}: weight {key} has shape {list(shape)} in {file} but {builder} builds {list(built)}"


def _missing_text(folder: Path | str, missing: list[str], total: int, class_name: str, builder: str,
                  weights: str) -> str:
    return (f"{folder}: {len(missing)} of the {total} weights of the {class_name} that {builder} builds are in no "
            f"weight file ({weights}): {_shown(missing)}; they would be left at random values")


def load_report_problem(checkpoint: str, class_name: str, report: dict, total: int, weights: str) -> str | None:
    """Why a transformers model did not load whole from ``checkpoint``, read from its load report.

    Args:
        checkpoint: the folder (or hub id) ``from_pretrained`` read.
        class_name: the class it built (``JanusForConditionalGeneration``).
        report: the dict ``from_pretrained(..., output_loading_info=True, ignore_mismatched_sizes=True)`` returns
            beside the model (transformers 5): ``missing_keys`` (less tied weights and the class's
            ``_keys_to_ignore_on_load_missing``), ``mismatched_keys`` ((key, checkpoint shape, model shape)),
            ``unexpected_keys`` (stored weights the model has no place for, less the class's
            ``_keys_to_ignore_on_load_unexpected``).
        total: the number of weights the model has (its ``state_dict``'s length).
        weights: the weight entry file read (``model.safetensors``, ``model.safetensors.index.json``), or words
            naming its weight files where none is known.

    Returns:
        ``"{checkpoint}: weight {key} has shape [..] in {weights} but config.json builds [..] ({class}); expected
        ..."``, ``"{checkpoint}: {n} of the {total} weights of the {class} that config.json builds are in no
        weight file ({weights}): {first three}, ...; they would be left at random values; expected ..."``,
        ``"{checkpoint}: {n} weights in {weights} have no place in the {class} that config.json builds: {first
        three}, ...; ..."`` (a config.json of fewer layers than the weights, or of another model: transformers
        only logs them as UNEXPECTED, "not ok if you expect identical arch", and runs the smaller model), or None
        when every weight was loaded and used.
    """
    mismatched = sorted(report.get("mismatched_keys") or ())
    if mismatched:
        key, stored, built = mismatched[0]
        more = f" (and {len(mismatched) - 1} more weights)" if len(mismatched) > 1 else ""
        return (f"{_shape_text(checkpoint, key, stored, weights, 'config.json', built)} ({class_name}){more}; "
                "expected weights saved with this config.json")
    missing = sorted(report.get("missing_keys") or ())
    if missing:
        return (f"{_missing_text(checkpoint, missing, total, class_name, 'config.json', weights)}; expected all "
                "the weights saved with this config.json (of this model and size, every shard)")
    unexpected = sorted(report.get("unexpected_keys") or ())
    if unexpected:
        return (f"{checkpoint}: {len(unexpected)} weights in {weights} have no place in the {class_name} that "
                f"config.json builds: {_shown(unexpected)}; transformers would drop them and run a model other than "
                "the one saved; expected the config.json the weights were saved with (of this model and size)")
    return None


def _transformers_keys(model, found: dict) -> tuple[dict, set[str]]:
    """(model key -> (shape, file), model keys a WeightConverter builds from several checkpoint tensors), the
    checkpoint keys renamed as transformers' ``convert_and_load_state_dict_in_model`` renames them."""
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

    mapping = get_model_conversion_mapping(model)
    renamings = [entry for entry in mapping if isinstance(entry, WeightRenaming)]
    converters = [entry for entry in mapping if isinstance(entry, WeightConverter)]
    meta = model.state_dict()
    prefix = model.base_model_prefix
    renamed: dict = {}
    converted: set[str] = set()
    for key, value in found.items():
        target, pattern = rename_source_key(key, renamings, converters, prefix, meta)
        if target not in meta and key in meta:
            target, pattern = rename_source_key(key, [], [], base_model_prefix=prefix, meta_state_dict=meta)
        renamed[target] = value
        if pattern is not None:
            converted.add(target)
    return renamed, converted


def _diffusers_keys(model, found: dict, *, sharded: bool) -> tuple[dict, set[str]]:
    """The checkpoint keys renamed as diffusers renames them on load (old attention block names, for a
    checkpoint of one file only, as ``ModelMixin.from_pretrained`` does)."""
    renamed = dict(found)
    if not sharded:
        renamed = model._fix_state_dict_keys_on_load(renamed)
    return renamed, set()


def _mismatched(renamed: dict, converted: set[str], expected: dict) -> list[tuple[str, tuple, tuple, Path]]:
    """(model key, stored shape, built shape, file) of each stored weight whose shape is not the one the module
    builds, in the checkpoint's order (weights a ``WeightConverter`` builds from several tensors are not compared)."""
    return [(key, shape, tuple(expected[key].shape), file) for key, (shape, file, _) in renamed.items()
            if key in expected and key not in converted and tuple(expected[key].shape) != shape]


def _missing_keys(model, expected: dict, covered: set[str]) -> list[str]:
    """The module's weights no checkpoint key fills, less those tied to a stored weight (transformers'
    ``all_tied_weights_keys``: ``tie_weights(missing_keys=...)`` ties a group of weights to whichever of them is
    stored, either way round, and leaves them all missing when none is), the same tensor under another name, and
    those the class declares ignorable (transformers' ``_adjust_missing_and_unexpected_keys``)."""
    filled = {id(expected[key]) for key in covered if key in expected}
    missing = {key for key, tensor in expected.items() if key not in covered and id(tensor) not in filled}
    tied = getattr(model, "all_tied_weights_keys", None) or {}
    for source in set(tied.values()):
        group = {source} | {target for target, first in tied.items() if first == source}
        if not group <= missing:
            missing -= group
    return _library_kept(model, missing=missing)


def _unexpected_keys(model, renamed: dict, expected: dict) -> list[str]:
    """The stored weights (named as the model names them) that the module has no place for, less those the class
    declares ignorable (``_keys_to_ignore_on_load_unexpected``, and transformers' old ``rotary_emb.inv_freq`` and
    ``position_ids`` buffers: ``_adjust_missing_and_unexpected_keys``), as transformers' load report lists them."""
    return _library_kept(model, unexpected={key for key in renamed if key not in expected})


def _diffusers_unexpected(cls, renamed: dict, expected: dict) -> list[str]:
    """The stored weights a diffusers module has no place for, less those matching one of its class's
    ``_keys_to_ignore_on_load_unexpected`` patterns (``re.search``), as ``ModelMixin._load_pretrained_model``
    drops them; it only logs the rest ("Some weights of the model checkpoint ... were not used"), sorted."""
    import re

    patterns = getattr(cls, "_keys_to_ignore_on_load_unexpected", None) or ()
    return sorted(key for key in renamed
                  if key not in expected and not any(re.search(pattern, key) for pattern in patterns))


def _library_kept(model, *, missing: set[str] = frozenset(), unexpected: set[str] = frozenset()) -> list[str]:
    """``missing`` (or ``unexpected``) less the keys transformers' ``_adjust_missing_and_unexpected_keys`` drops
    for ``model``'s class, sorted (a module without that method: all of them)."""
    adjust = getattr(model, "_adjust_missing_and_unexpected_keys", None)
    if (missing or unexpected) and adjust is not None:
        info = SimpleNamespace(missing_keys=set(missing), unexpected_keys=set(unexpected))
        adjust(info)
        missing, unexpected = info.missing_keys, info.unexpected_keys
    return sorted(missing or unexpected)


def _declared_type(config: Path) -> object:
    content = json.loads(config.read_text(encoding="utf-8"))
    return content.get("model_type") if isinstance(content, dict) else None


def _model_type_problem(cls, config: Path, loaded: str) -> str | None:
    """``config.json``'s ``model_type`` against the one ``cls``'s configuration class has (or a composite config
    holding it under the class's ``base_config_key``, which transformers reads)."""
    declared, wanted = _declared_type(config), getattr(cls.config_class, "model_type", "")
    if not wanted or declared in (None, wanted):
        return None
    content = json.loads(config.read_text(encoding="utf-8"))
    nested = content.get(cls.config_class.base_config_key) if cls.config_class.base_config_key else None
    if isinstance(nested, dict) and nested.get("model_type") in (None, wanted):
        return None
    return f"{config}: field 'model_type' is {declared!r}; expected {wanted!r} ({loaded})"


def _unbuilt_type_problem(cls, library: str, config: Path, loaded: str) -> str | None:
    """``_model_type_problem`` for a transformers model class that could not be built from ``config`` on the meta
    device (its weights cannot be compared): a ``model_type`` other than the class's is then refused outright,
    where a build that succeeds is left to the weights and ``_fields_problem``. None for a model of the class's
    type (or quantized, or of no transformers model class), whose load reports its own error."""
    from transformers import PreTrainedModel

    if library != "transformers" or not (isinstance(cls, type) and issubclass(cls, PreTrainedModel)) \
            or cls.config_class is None or "quantization_config" in json.loads(config.read_text(encoding="utf-8")):
        return None
    problem = _model_type_problem(cls, config, loaded)
    return f"{problem}; transformers cannot build the class from it" if problem else None


def _fields_problem(cls, config: Path, loaded: str) -> str | None:
    """A ``model_type`` other than the class's whose weights fit is accepted when the file is a configuration of
    the type it names (an ``mt5`` config.json for ``T5EncoderModel``: the same layout); a file whose fields are
    another architecture's (``t5`` over a CLIP text config) is refused."""
    from transformers import CONFIG_MAPPING, PretrainedConfig

    declared, wanted = _declared_type(config), cls.config_class.model_type
    if declared not in CONFIG_MAPPING:
        return (f"{config}: field 'model_type' is {declared!r}, which transformers lacks; expected {wanted!r} "
                f"({loaded})")
    content = json.loads(config.read_text(encoding="utf-8"))
    general = set(PretrainedConfig().to_dict()) | {"torch_dtype", "use_cache", "tie_word_embeddings", "tokenizer_class"}
    ours, theirs = _fields(cls.config_class), _fields(CONFIG_MAPPING[declared])
    foreign = sorted(field for field in content if field in ours and field not in theirs and field not in general
                     and not field.endswith("_token_id"))
    if foreign:
        return (f"{config}: field 'model_type' is {declared!r}; expected {wanted!r} ({loaded}; its fields "
                f"{', '.join(foreign[:_SHOWN])} are no {declared!r} configuration's)")
    return None


def _fields(config_class) -> set[str]:
    """The fields a transformers configuration class takes (its ``__init__`` parameters)."""
    return set(inspect.signature(config_class.__init__).parameters) - {"self", "kwargs"}
