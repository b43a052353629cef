"""Model cards: one YAML file per runnable system in ``models/``, read into ``ModelCard``.

Adding a model that a family already supports is adding a card, with no code. A card that cannot run
here (no weights, no key, no endpoint, a missing package) is still listed, with the reason.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from packaging.version import InvalidVersion, Version
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from realunify_arena.families import (
    FAMILIES,
    TINY_LAYOUTS,
    Capability,
    GenerationOptions,
    family_of,
)
from realunify_arena.limits import OptionError, numbers_checked, shipped_guidance, size_problem
from realunify_arena.redaction import literal_secret_options, register_endpoint, register_secret_env
from realunify_arena.shown import brief, json_kind
from realunify_arena.systems import model_name_problem
from realunify_arena.text_files import read_regular
from realunify_arena.unique_keys import RepeatedKeyError, load_yaml
from realunify_arena.url_credentials import userinfo_problem

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
CARD_REF = "card:"  # a pair's checkpoint may name another card instead of weights
MIN_TRANSFORMERS = Version("5.23")  # Janus image generation is broken in 5.17 (static-cache bug)
MAX_CARD_BYTES = 64 * 1024  # a card is a few hundred bytes; anything this big is not one
MAX_SHOWN = 3  # problems named in one card's message


class CardError(ValueError):
    """A card file is malformed; the message names the file and the field. ``path``: that file, once known."""

    path: Path | None = None


@dataclass(frozen=True)
class ModelCard:
    """One runnable system, as its YAML card in ``models/`` describes it (read by ``load_card``)."""

    name: str
    family: str  # a key of families.FAMILIES
    description: str  # names the paper row the card corresponds to
    capabilities: frozenset[Capability]
    checkpoints: dict[str, str] = field(default_factory=dict)  # capability -> hub id, folder, remote model or card:NAME
    endpoint: str | None = None
    api_key_env: str | None = None  # the variable holding the key; the key itself is never stored
    serve: str | None = None  # the command that starts the card's endpoint (shown when it is not answering)
    dtype: str = "bfloat16"
    defaults: GenerationOptions = field(default_factory=GenerationOptions)
    params: dict[str, Any] = field(default_factory=dict)  # family-specific settings
    parts: dict[str, ModelCard] = field(default_factory=dict)  # capability -> card, for card:NAME checkpoints
    path: Path | None = None

    @property
    def file(self) -> str:
        """The card's file as a message names it, for a reader to edit: ``path`` as it was read (``load_card``),
        else ``models/<name>.yaml`` (a card built in code, named as the default models folder would hold it)."""
        return str(self.path) if self.path is not None else f"models/{self.name}.yaml"

    def __post_init__(self) -> None:
        problem = userinfo_problem(self.endpoint, _key_goes_to(self.api_key_env))
        if problem:  # a card built in code (or replaced) too: every HTTP client of a card starts from one
            raise CardError(f"{self.file}: field 'endpoint': {problem}")
        register_secret_env(self.api_key_env)  # its value is masked in every error text and log from now on
        register_endpoint(self.endpoint)  # its address is hidden in what a visitor sees (redaction.visitor_text)

    @property
    def remote(self) -> bool:
        """Runs behind an API: no local memory, no device lock."""
        if self.family == "pair":
            return all(cap in self.parts for cap in self.checkpoints)
        return FAMILIES[self.family].remote

    def options(self, **overrides: Any) -> GenerationOptions:
        """The card's defaults with the given fields replaced (names of ``GenerationOptions`` fields); where neither
        sets a guidance, the one a run uses (``guidance_used``) where it is known: what is stored with a run
        (part of its key) says what it ran with, so two checkpoints shipping other guidance scales are two systems.

        Raises:
            TypeError: an override is not a ``GenerationOptions`` field.
        """
        options = dataclasses.replace(self.defaults, **overrides)
        if options.guidance is None:
            used = self.guidance_used()
            if used is not None:
                options = dataclasses.replace(options, guidance=used)
        return options

    def guidance_used(self) -> float | None:
        """The classifier-free guidance a run of this card that asks none generates with, as its adapter reads it
        (``adapters.local.checkpoint_guidance``): for a family with a ``Family.default_guidance`` (Janus, Emu3), the
        ``guidance_scale`` of the generating checkpoint's ``generation_config.json`` (``limits.shipped_guidance``);
        without that file, that of its ``config.json`` (at its top, else in its ``decoder``, ``generator`` or
        ``text_config``: transformers' ``GenerationConfig.from_model_config``, which from_pretrained builds the model's
        generation config with then); else the family's default. None where it is not known before the model loads:
        another family, a checkpoint neither a local folder nor in the hub's local cache (its run records the value
        once loaded: ``adapters.base.Adapter.run_options``), a file that does not parse (or nests too deeply) or a
        value above the card's limit (the load or the run refuses it, naming the file). Reads no network."""
        default = FAMILIES[self.family].default_guidance
        checkpoint = self.checkpoints.get(Capability.GENERATE.value)
        if default is None or checkpoint is None:
            return None
        found = checkpoint_file(checkpoint, "generation_config.json")
        legacy = found is False  # no generation_config.json: transformers builds one from config.json
        if legacy:
            found = checkpoint_file(checkpoint, "config.json")
        if found is None or found is False:
            return default if found is False else None
        try:
            content = json.loads(found.read_text(encoding="utf-8"))
            value = content.get("guidance_scale") if isinstance(content, dict) else None
            if legacy and value is None and isinstance(content, dict):
                inner = next((content[k] for k in ("decoder", "generator", "text_config") if content.get(k)), None)
                value = inner.get("guidance_scale") if isinstance(inner, dict) else None
            shipped = shipped_guidance(value, self)
        except (OSError, ValueError, RecursionError):  # unreadable, not JSON (the load refuses it), above the limit
            return None
        return default if shipped is None else shipped

def checkpoint_file(checkpoint: str, name: str) -> Path | bool | None:
    """The file ``name`` of ``checkpoint``: in the local folder it names, else in its hub snapshot in the local cache
    (``huggingface_hub.try_to_load_from_cache``, offline); False where that folder, or the cache, says it has none;
    None where it is not known here (not cached, not a hub id)."""
    folder = Path(checkpoint).expanduser()
    if folder.is_dir():
        return folder / name if (folder / name).is_file() else False
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(checkpoint, name)
    except Exception:  # noqa: BLE001 - not a hub id (a card:NAME reference, a missing folder)
        return None
    if isinstance(found, str):
        return Path(found)
    return None if found is None else False


# -- validation: pydantic checks the types, these messages say what was expected ------------------------

_show = brief  # bounded, so a billion-laughs value is shown in a line, not expanded
_OPTION_TYPES = typing.get_type_hints(GenerationOptions)
_EXPECTED = {  # field -> what a valid value is, for pydantic's own type and missing-field errors
    "name": "a non-empty string (the file name without .yaml)",
    "family": f"one of {sorted(FAMILIES)}",
    "description": "a non-empty string",
    "capabilities": f"a non-empty list from {sorted(c.value for c in Capability)}",
    "checkpoint": "a non-empty string",
    "checkpoints": "a map capability -> checkpoint",
    "endpoint": "a non-empty string",
    "api_key_env": "a non-empty string",
    "dtype": "one of ['bfloat16', 'float16', 'float32']",
    "defaults": "a map of generation options",
    "params": "a map",
}
_EXPECTED_ITEM = {  # the same for one item of a list or map field
    "capabilities": f"one of {sorted(c.value for c in Capability)}",
    "checkpoints": "a non-empty string (hub id, folder, remote model name or card:NAME)",
}


_VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*")
_NAME_WITHOUT_WORDS = 20  # a name this long with no '_' between its words is a key (hex, base62), not a name
_RANDOM_PART = 8  # a '_'-separated part this long is checked for the look of random characters
_HEX_PART = 12  # a part this long of hex digits, letters and digits mixed, is a hex key ("a3f9c0d4be1d")


def _random_looking(part: str) -> bool:
    """Whether one ``_``-separated part of a name reads as random characters rather than a word: at least
    ``_RANDOM_PART`` long with letters and digits alternating three or more times (``a3f9c0d4``, ``X7K2P9Q4``;
    a word with a version keeps its digits together: ``GPT4O``, ``QWEN25VL``, ``ECHO16``), or ``_HEX_PART``
    hex digits mixing letters and digits."""
    if len(part) < _RANDOM_PART:
        return False
    digits = [c.isdigit() for c in part]
    if sum(a != b for a, b in zip(digits, digits[1:])) >= 3:
        return True
    return (len(part) >= _HEX_PART and any(digits) and not all(digits)
            and all(c in "0123456789abcdefABCDEF" for c in part))


def looks_like_variable_name(text: str) -> bool:
    """Whether ``text`` (a card's ``api_key_env``) reads as an environment variable's name, as a Space's
    secrets and a shell write them (``OPENAI_API_KEY``, ``HF_TOKEN``, ``my_key``): a POSIX name (letters,
    digits and ``_``, not starting with a digit; POSIX.1-2017 Base Definitions 3.235 "Name") in letters of one
    case, under ``_NAME_WITHOUT_WORDS`` characters unless it has a ``_``, and no ``_``-separated part of random
    characters (``_random_looking``). A key pasted in its place does not: ``sk-...``, ``AIza...`` (a ``-``),
    mixed-case base62, 20+ characters without a word break, or a short or ``_``-joined one-case key
    (``a3f9c0d4be1d2778``, ``sk_live_4ec39hqlyjwdarjt``)."""
    return (bool(_VARIABLE_NAME.fullmatch(text)) and ("_" in text or len(text) < _NAME_WITHOUT_WORDS)
            and not any(_random_looking(part) for part in text.split("_")))


def _key_goes_to(key_env: str | None) -> str:
    """Where a card's secret belongs instead of its endpoint's URL (``url_credentials.userinfo_problem``)."""
    if key_env:
        return f"the environment variable ${key_env} (the card's api_key_env)"
    return "the environment variable named by the card's api_key_env (add that field if the card has none)"


class _FieldError(ValueError):
    """Raised inside a validator: ``field`` is the dotted field the message is about."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _map_or_empty(value: Any) -> Any:
    return {} if value is None else value


_Defaults = create_model(  # GenerationOptions' fields, strictly typed: "5" is not a number
    "_Defaults", __config__=ConfigDict(extra="forbid", strict=True),
    **{f.name: (_OPTION_TYPES[f.name], f.default) for f in dataclasses.fields(GenerationOptions)})


class _CardFile(BaseModel):
    """The YAML card as written; ``load_card`` turns it into a ``ModelCard``."""

    model_config = ConfigDict(extra="forbid", strict=True, str_min_length=1, str_strip_whitespace=False)

    name: str | None = None
    family: str
    description: str
    capabilities: list[str]
    checkpoint: str | None = None
    checkpoints: dict[str, str] | None = None
    endpoint: str | None = None
    api_key_env: str | None = None
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    defaults: dict[str, Any] = {}
    params: dict[str, Any] = {}
    serve: str | None = None  # the command that starts the card's endpoint; a key in it comes from a variable

    _map_or_empty = field_validator("defaults", "params", mode="before")(_map_or_empty)

    @field_validator("name", "description", "checkpoint", "endpoint", "api_key_env", "serve")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            raise _FieldError(info.field_name, f"expected a non-empty string, got {value!r}")
        return value

    @field_validator("endpoint")
    @classmethod
    def _no_userinfo(cls, value: str | None) -> str | None:
        problem = userinfo_problem(value, _key_goes_to(None))  # api_key_env comes after: not validated yet
        if problem:  # never quoted: a card's problem reaches the page, and the password is in it
            raise _FieldError("endpoint", problem)
        return value

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        if value is not None and not looks_like_variable_name(value):
            # never quoted: what is here is most likely the key itself, and a card's problem reaches the page
            raise _FieldError("api_key_env", "expected the name of the environment variable that holds the API "
                                             "key (letters of one case, digits and '_', as OPENAI_API_KEY), not "
                                             "the key itself; the value is not shown")
        return value

    @field_validator("serve")
    @classmethod
    def _no_secret_in_serve(cls, value: str | None) -> str | None:
        options = literal_secret_options(value) if value is not None else []
        if options:  # never quoted: the availability reason shows this command on the page and in ``models``
            raise _FieldError("serve", f"{options[0]} takes its value written out; expected it from an environment "
                                       f"variable ({options[0]} \"$VLLM_API_KEY\"), as a card file is copied and "
                                       "shown; the value is not shown")
        return value

    @field_validator("name")
    @classmethod
    def _name_is_file_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        stem = info.context["stem"]
        if value is not None and value != stem:
            raise _FieldError("name", f"must match the file name '{stem}', got {value!r}")
        return value

    @field_validator("family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value not in FAMILIES:
            raise _FieldError("family", f"expected one of {sorted(FAMILIES)}, got {value!r}")
        return value

    @field_validator("capabilities")
    @classmethod
    def _offered(cls, value: list[str], info: ValidationInfo) -> list[str]:
        family = info.data.get("family")
        allowed = sorted(c.value for c in (FAMILIES[family].capabilities if family else Capability))
        if not value:
            raise _FieldError("capabilities", f"expected a non-empty list from {allowed}, got []")
        for item in value:
            if item not in allowed:
                raise _FieldError("capabilities", f"family '{family}' offers {allowed}, got {item!r}")
        return value

    @field_validator("checkpoints")
    @classmethod
    def _one_per_capability(cls, value: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
        if value is None:
            return None
        if "checkpoint" in info.data and info.data["checkpoint"] is not None:
            raise _FieldError("checkpoint", "give either 'checkpoint' (one for all capabilities) or 'checkpoints'")
        names = set(info.data.get("capabilities") or ())
        extra = set(value) - names
        if extra:
            raise _FieldError("checkpoints", f"{sorted(extra)} not among the declared capabilities {sorted(names)}")
        missing = names - set(value)
        if missing and info.data.get("family") != "tiny":
            raise _FieldError("checkpoints", f"no checkpoint for declared capabilities {sorted(missing)}")
        return value

    @field_validator("defaults")
    @classmethod
    def _options(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            return _Defaults.model_validate(value).model_dump()
        except ValidationError as exc:
            error = exc.errors()[0]
            key = f"defaults.{'.'.join(map(str, error['loc']))}"
            if error["type"] == "extra_forbidden":
                raise _FieldError(key, f"unknown option; expected one of {sorted(_OPTION_TYPES)}") from None
            kind = _OPTION_TYPES[str(error["loc"][0])]
            # seed, steps, width, height, max_new_tokens: "a whole number" (2.5 or "many"), not "a number"
            expected = "a number" if float in (typing.get_args(kind) or (kind,)) else "a whole number"
            raise _FieldError(key, f"expected {expected}, got {_show(error['input'])}"
                                   f"{_yaml_number_hint(error['input'], expected == 'a number')}") from None

    @model_validator(mode="after")
    def _family_rules(self) -> _CardFile:
        if self.family == "openai" and not self.endpoint:
            raise _FieldError("endpoint", "an openai card needs the endpoint's base URL (ending in /v1)")
        if self.family == "tiny":
            base = self.params.get("base")
            if not isinstance(base, str) or base not in TINY_LAYOUTS:
                raise _FieldError("params.base", f"expected one of {sorted(TINY_LAYOUTS)}, got {_show(base)}")
            if self.checkpoint is not None or self.checkpoints:
                raise _FieldError("checkpoints", "a tiny card builds its own weights; remove 'checkpoint(s)'")
            offered = sorted(c.value for c in FAMILIES[base].capabilities)
            if not set(self.capabilities) <= set(offered):
                raise _FieldError("capabilities", f"a tiny {base} offers {offered}")
        elif self.checkpoint is None and self.checkpoints is None and self.capabilities:
            raise _FieldError("checkpoints", f"no checkpoint for declared capabilities {sorted(self.capabilities)}")
        self._only_what_the_family_reads()
        self._a_size_the_family_makes()
        variant = self.params.get("variant")
        if variant is not None and not (isinstance(variant, str) and variant.strip() and "/" not in variant):
            raise _FieldError("params.variant", "expected the weights' variant name from their file names "
                                                f"(e.g. 'fp16' for model.fp16.safetensors), got {_show(variant)}")
        return self

    def _a_size_the_family_makes(self) -> None:
        """A default size an image-token family cannot make is refused: a side that is not whole tokens (Emu3).
        A fixed-grid family's (Janus) default size is its checkpoint's, checked when the adapter loads it."""
        family = family_of(self.family, self.params)
        for name in ("width", "height"):
            value = self.defaults.get(name)
            if family.size_step and value is not None and value % family.size_step:
                raise _FieldError(f"defaults.{name}", f"family '{family.module}' makes whole image tokens of "
                                                      f"{family.size_step} px; expected a multiple of "
                                                      f"{family.size_step}, got {_show(value)}")

    def _only_what_the_family_reads(self) -> None:
        """A setting the family's adapter never reads would silently change nothing: refuse it."""
        family = FAMILIES[self.family]
        known, ignored, who = family.params, family.ignores, f"family '{self.family}'"
        if self.family == "tiny":  # params.base was checked above
            base = FAMILIES[self.params["base"]]
            known, ignored, who = known | (base.params or frozenset()), base.ignores, f"a tiny {self.params['base']}"
        for option in sorted(ignored & {k for k, v in self.defaults.items() if v is not None}):
            raise _FieldError(f"defaults.{option}", f"{who} never reads it (it generates images token by "
                                                    "token, without diffusion steps); remove it")
        if known is not None:
            for key in self.params:
                if key not in known:
                    raise _FieldError(f"params.{key}", f"{who} reads no such setting; expected some of {sorted(known)}")
        rules = _PARAM_VALUES if known is not None else _REMOTE_PARAM_VALUES
        for key, value in self.params.items():
            rule = rules.get(key)
            if rule is not None and not rule[0](value):
                raise _FieldError(f"params.{key}", f"expected {rule[1]}, got {_show(value)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _argument_name(value: Any) -> bool:
    return isinstance(value, str) and value.isidentifier()


# The value each remote family's (openai, gemini) numeric and on/off ``params`` take; the rest are read and
# checked by their adapter. ``timeout_s: soon`` failed each run with "could not convert string to float";
# ``nested_extra_body: 'false'`` was true to ``bool``.
_REMOTE_PARAM_VALUES: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "timeout_s": (lambda v: _number(v) and 0 < v < float("inf"), "a number of seconds above 0"),
    "max_retries": (lambda v: _whole(v) and v >= 0, "a whole number >= 0"),
    "attempts": (lambda v: _whole(v) and v >= 1, "a whole number >= 1"),
    "nested_extra_body": (lambda v: isinstance(v, bool), "true or false"),
    "modalities": (lambda v: isinstance(v, bool), "true or false"),
}

# The value each local family's ``params`` key takes (``Family.params``; limits, variant and base are checked
# where they are read). Without these a slip changed nothing, silently (``guidance_arg`` misspelt dropped the
# guidance; ``fast: 'false'`` is true to ``bool``; ``edit_size: inputs`` made edits at the card's size), or
# failed every run with an unrelated TypeError (``call_kwargs: negative_prompt``).
_PARAM_VALUES: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "memory_gb": (lambda v: _number(v) and v > 0, "a number of GB above 0"),
    "text_top_k": (lambda v: _whole(v) and v >= 0, "a whole number >= 0"),
    "text_top_p": (lambda v: _number(v) and 0 < v <= 1, "a number above 0 and at most 1"),
    "fast": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (_whole, "a whole number"),
    "positive_prompt": (lambda v: isinstance(v, str), "a string"),
    "negative_prompt": (lambda v: isinstance(v, str), "a string"),
    "edit_size": (lambda v: v in ("input", "card"), "'input' or 'card'"),  # keep the input's size, or the card's
    "guidance_arg": (_argument_name, "the name of the pipeline's guidance argument (as true_cfg_scale)"),
    "call_kwargs": (lambda v: isinstance(v, dict) and all(map(_argument_name, v)),
                    "a map of the pipeline's argument names to values (as {negative_prompt: ' '})"),
    "edit_call_kwargs": (lambda v: isinstance(v, dict) and all(map(_argument_name, v)),
                         "a map of the pipeline's argument names to values (as {img_guidance_scale: 1.6})"),
}


def _yaml_number_hint(value: object, real: bool) -> str:
    """What to write instead, for text that is a number in Python but not in YAML: PyYAML follows YAML 1.1,
    whose float needs a dot and a signed exponent (``1.0e+5``; https://yaml.org/type/float.html), so ``1e5`` or
    ``5E-1`` in a card is read as the text '1e5'. ``real``: the field takes fractions (else a whole number)."""
    if not isinstance(value, str):
        return ""
    try:
        number = float(value.strip())
    except ValueError:
        return ""
    if number != number or number in (float("inf"), float("-inf")):
        return ""
    if real:
        forms = dict.fromkeys((_yaml_float(repr(number)), _yaml_float(_shortest_exponent_form(number))))
        return f" (YAML reads {value.strip()} as text, not a number: write {' or '.join(forms)})"
    if number.is_integer():
        return f" (YAML reads {value.strip()} as text, not a number: write {int(number)})"
    return ""


def _shortest_exponent_form(number: float) -> str:
    """``number`` in exponent form with the fewest mantissa digits that still read back as exactly it:
    ``1.25e+03`` (``.1e`` wrote ``1.2e+03``, another number)."""
    for digits in range(1, 17):
        form = f"{number:.{digits}e}"
        if float(form) == number:
            return form
    return f"{number:.17e}"


def _yaml_float(form: str) -> str:
    """A Python float spelling (``1e-05``, ``1e+20``, ``1.5e-07``, ``100000.0``) as YAML 1.1 reads a float: a
    dot in the mantissa (``1.0e-05``); Python's repr leaves it out of a whole mantissa, and PyYAML reads
    ``1e-05`` as text again."""
    mantissa, e, exponent = form.partition("e")
    return f"{mantissa}.0{e}{exponent}" if e and "." not in mantissa else form


def _problem(path: Path, error: dict) -> str:
    """One pydantic error as ``field 'KEY': what was expected, got what``."""
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        return f"field '{cause.field}': {cause}"
    key = ".".join(map(str, error["loc"])) or "?"
    top = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        return f"field '{key}': unknown field; expected some of {sorted(_CardFile.model_fields)}"
    expected = (_EXPECTED_ITEM if len(error["loc"]) > 1 else _EXPECTED).get(top, error["msg"])
    if error["type"] == "missing":
        return f"field '{key}': required; expected {expected}"
    return f"field '{key}': expected {expected}, got {_show(error['input'])}"


def _read(path: Path) -> Any:
    """The card file's YAML document; every way it can fail to be one is a ``CardError``."""
    try:
        data = read_regular(path, MAX_CARD_BYTES)  # not all of a link to /dev/zero; no wait on a named pipe
    except OSError as exc:
        raise CardError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"{path}: over {MAX_CARD_BYTES} bytes; a card is a short YAML file (at most {MAX_CARD_BYTES}"
                        " bytes)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CardError(f"{path}: UTF-16 text; save the card as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError(f"{path}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}); "
                        "save the card as UTF-8") from exc
    try:
        return load_yaml(text)  # a safe loader (libyaml's where installed) refusing a repeated key
    except RepeatedKeyError as exc:
        raise CardError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CardError(f"{path}: not valid YAML: {yaml_problem(exc)}") from exc
    except RecursionError as exc:
        raise CardError(f"{path}: not valid YAML: nested too deeply") from exc


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parser's error as one line for a message: ``"line L, column C: <problem>"`` (1-based, where the
    parser stopped), then ``"(<context> at line L, column C)"`` when it says what it was reading; an error
    without a position as its own words on one line."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or not problem:
        return " ".join(str(exc).split())
    context, where = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    started = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f" ({context}{started})" if context else "")


def load_card(path: Path | str) -> ModelCard:
    """One card, without resolving card:NAME references (``load_cards`` does that).

    Args:
        path: a ``NAME.yaml`` file, UTF-8, holding a YAML map of card fields (see ``models/README`` in the
            project README's "Models" section).

    Raises:
        CardError: the file name is no model name (``systems.MODEL_NAME_RULE``), the file cannot be read,
            is not UTF-8 YAML, is not a map, or a field is wrong; the
            message is ``"{path}: field '{key}': {what was expected}, got {value}"`` (up to three wrong
            fields, separated by ``"; "``).
    """
    path = Path(path)
    problem = model_name_problem(path.stem)
    if problem:  # the card's name is its file name, and becomes a system name and an export folder
        raise CardError(f"{path}: the file name (the card's name) {problem}")
    raw = _read(path)
    if not isinstance(raw, dict):
        raise CardError(f"{path}: expected a YAML map of card fields, got {json_kind(raw)}")
    try:
        parsed = _CardFile.model_validate(raw, context={"stem": path.stem})
    except ValidationError as exc:
        problems: dict[str, str] = {}  # one problem per top-level field, in the card's field order
        for error in exc.errors(include_url=False):
            problems.setdefault(str(error["loc"][0]) if error["loc"] else "", _problem(path, error))
        shown = list(problems.values())[:MAX_SHOWN]
        more = f"; and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise CardError(f"{path}: " + "; ".join(shown) + more) from None
    capabilities = frozenset(Capability(v) for v in parsed.capabilities)
    if parsed.checkpoint is not None:
        checkpoints = {c.value: parsed.checkpoint for c in capabilities}
    else:
        checkpoints = dict(parsed.checkpoints or {})
    card = ModelCard(
        name=parsed.name or path.stem, family=parsed.family, description=parsed.description,
        capabilities=capabilities, checkpoints=checkpoints, endpoint=parsed.endpoint,
        api_key_env=parsed.api_key_env, dtype=parsed.dtype, defaults=GenerationOptions(**parsed.defaults),
        params=parsed.params, serve=parsed.serve, path=path)
    return _defaults_in_range(card)


def _defaults_in_range(card: ModelCard) -> ModelCard:
    """``card``, once its ``defaults`` pass the ranges every request is held to (``limits.numbers_checked``:
    guidance not negative, num_inference_steps 1..limit, ...) and its ``params.limits`` are positive numbers;
    otherwise every request left at the defaults would be refused, naming neither the file nor the field."""
    try:
        numbers_checked(card, card.defaults)
    except OptionError as exc:
        named = ", ".join(f"'defaults.{setting}'" for setting in exc.settings)
        raise CardError(f"{card.path}: field{'s' if len(exc.settings) > 1 else ''} {named}: {exc}") from None
    except ValueError as exc:  # params.limits: the message names the file and the field
        raise CardError(str(exc)) from None
    return card


def load_cards(models_dir: Path | str = MODELS_DIR, problems: list[CardError] | None = None) -> dict[str, ModelCard]:
    """Every ``*.yaml`` card in ``models_dir``, by name, with card:NAME references resolved.

    A malformed card raises CardError, unless ``problems`` is given: then it is recorded there and left
    out (with any pair that names it), so one bad file cannot take the app or the CLI down.

    Args:
        models_dir: the folder of ``*.yaml`` cards (not searched recursively).
        problems: a list to collect broken cards into (each a ``CardError`` with ``.path`` set).

    Returns:
        Card name -> card, sorted by file name.

    Raises:
        CardError: the first malformed card, when ``problems`` is None.
    """
    cards: dict[str, ModelCard] = {}
    for path in sorted(Path(models_dir).glob("*.yaml")):
        try:
            cards[path.stem] = load_card(path)
        except CardError as exc:
            exc.path = path
            _collect(exc, problems)
    resolved = {}
    for name, card in cards.items():
        try:
            resolved[name] = _within_limits(dataclasses.replace(card, parts=_parts(card, cards, models_dir)))
        except CardError as exc:
            exc.path = card.path
            _collect(exc, problems)
    return resolved


def _within_limits(card: ModelCard) -> ModelCard:
    """``card`` if its default ``width``/``height`` is a size its family makes (``limits.size_problem``, which
    needs a pair's parts resolved: the rest of ``limits.check_options`` ran when the card was read,
    ``_defaults_in_range``); else ``CardError`` naming the field. Without this a card whose default is out of
    range would be offered and then refuse every run."""
    problem = size_problem(card, card.defaults.width, card.defaults.height)
    if problem:
        raise CardError(f"{card.path}: field 'defaults.{problem.setting}': {problem}")
    return card


def _collect(exc: CardError, problems: list[CardError] | None) -> None:
    if problems is None:
        raise exc
    problems.append(exc)


def _parts(card: ModelCard, cards: dict[str, ModelCard], models_dir: Path | str) -> dict[str, ModelCard]:
    parts = {}
    for cap, checkpoint in card.checkpoints.items():
        if not checkpoint.startswith(CARD_REF):
            continue
        if card.family != "pair":
            raise CardError(f"{card.path}: field 'checkpoints.{cap}': only pair cards may name other cards")
        target = cards.get(checkpoint.removeprefix(CARD_REF))
        if target is None or Capability(cap) not in target.capabilities:
            raise CardError(f"{card.path}: field 'checkpoints.{cap}': "
                            f"{checkpoint!r} must name a card in {models_dir} that declares '{cap}'")
        parts[cap] = target
    return parts


@functools.cache  # read once per process: the metadata parse costs ~5 ms, and start-up checks every local card
def transformers_problem() -> str | None:
    """Why the installed transformers cannot run the local families, or None if it can."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("transformers")
    except PackageNotFoundError:
        return "transformers is not installed (pip install -r requirements.txt)"
    try:
        too_old = Version(installed).release[:2] < MIN_TRANSFORMERS.release[:2]  # 5.23.0.dev0 counts as 5.23
    except InvalidVersion:
        return f"transformers reports the version {installed!r}, which is not a version number"
    if too_old:
        want = str(MIN_TRANSFORMERS)
        return (f"transformers {installed} is installed; Janus/Emu3 image generation needs >= {want} "
                f"(5.17 breaks Janus generation): pip install 'transformers>={want}'")
    return None
