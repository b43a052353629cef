"""Model cards: one YAML file per runnable system in ``models/``, read into ``ModelCard``.

Adding a model that a family already supports is adding a card, with no code. A card that cannot run
here (no weights, no key, no endpoint, a missing package) is still listed, with the reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from realunify_arena.adapters import FAMILIES
from realunify_arena.adapters.base import Capability, GenerationOptions

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
CARD_REF = "card:"  # a pair's checkpoint may name another card instead of weights
MIN_TRANSFORMERS = (5, 23)  # Janus image generation is broken in 5.17 (static-cache bug)

_FIELDS = {"name", "family", "description", "capabilities", "checkpoint", "checkpoints", "endpoint", "api_key_env",
           "dtype", "defaults", "params", "serve"}
_DTYPES = {"bfloat16", "float16", "float32"}


class CardError(ValueError):
    """A card file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
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
    def remote(self) -> bool:
        """Runs behind an API: no local memory, no device lock."""
        if self.family == "pair":
            return all(cap in self.parts for cap in self.checkpoints)
        return FAMILIES[self.family].remote

    def options(self, **overrides: Any) -> GenerationOptions:
        """The card's defaults with the given fields replaced."""
        return dataclasses.replace(self.defaults, **overrides)


def _fail(path: Path, key: str, message: str) -> CardError:
    return CardError(f"{path}: field '{key}': {message}")


def _string(path: Path, raw: dict, key: str, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, f"expected a non-empty string, got {value!r}")
    return value


def _capabilities(path: Path, raw: dict, family: str) -> frozenset[Capability]:
    value = raw.get("capabilities")
    allowed = sorted(c.value for c in FAMILIES[family].capabilities)
    if not isinstance(value, list) or not value:
        raise _fail(path, "capabilities", f"expected a non-empty list from {allowed}, got {value!r}")
    for item in value:
        if item not in allowed:
            raise _fail(path, "capabilities", f"family '{family}' offers {allowed}, got {item!r}")
    return frozenset(Capability(v) for v in value)


def _checkpoints(path: Path, raw: dict, capabilities: frozenset[Capability], family: str) -> dict[str, str]:
    if "checkpoint" in raw and "checkpoints" in raw:
        raise _fail(path, "checkpoint", "give either 'checkpoint' (one for all capabilities) or 'checkpoints'")
    if "checkpoint" in raw:
        single = _string(path, raw, "checkpoint", required=True)
        return {c.value: single for c in capabilities}
    value = raw.get("checkpoints", {})
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        raise _fail(path, "checkpoints", f"expected a map capability -> checkpoint, got {value!r}")
    names = {c.value for c in capabilities}
    extra = set(value) - names
    if extra:
        raise _fail(path, "checkpoints", f"{sorted(extra)} not among the declared capabilities {sorted(names)}")
    missing = names - set(value)
    if missing and family != "tiny":
        raise _fail(path, "checkpoints", f"no checkpoint for declared capabilities {sorted(missing)}")
    return dict(value)


def _defaults(path: Path, raw: dict) -> GenerationOptions:
    value = raw.get("defaults", {}) or {}
    types = {f.name: f.type for f in dataclasses.fields(GenerationOptions)}
    if not isinstance(value, dict):
        raise _fail(path, "defaults", f"expected a map of generation options, got {value!r}")
    for key, v in value.items():
        if key not in types:
            raise _fail(path, f"defaults.{key}", f"unknown option; expected one of {sorted(types)}")
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise _fail(path, f"defaults.{key}", f"expected a number, got {v!r}")
    return GenerationOptions(**value)


def load_card(path: Path) -> ModelCard:
    """One card, without resolving card:NAME references (``load_cards`` does that)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CardError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise CardError(f"{path}: expected a YAML map of card fields, got {type(raw).__name__}")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise _fail(path, sorted(unknown)[0], f"unknown field; expected some of {sorted(_FIELDS)}")
    name = raw.get("name", path.stem)
    if name != path.stem:
        raise _fail(path, "name", f"must match the file name '{path.stem}', got {name!r}")
    family = _string(path, raw, "family", required=True)
    if family not in FAMILIES:
        raise _fail(path, "family", f"expected one of {sorted(FAMILIES)}, got {family!r}")
    capabilities = _capabilities(path, raw, family)
    dtype = raw.get("dtype", "bfloat16")
    if dtype not in _DTYPES:
        raise _fail(path, "dtype", f"expected one of {sorted(_DTYPES)}, got {dtype!r}")
    params = raw.get("params", {}) or {}
    if not isinstance(params, dict):
        raise _fail(path, "params", f"expected a map, got {params!r}")
    card = ModelCard(
        name=name, family=family, description=_string(path, raw, "description", required=True),
        capabilities=capabilities, checkpoints=_checkpoints(path, raw, capabilities, family),
        endpoint=_string(path, raw, "endpoint"), api_key_env=_string(path, raw, "api_key_env"), dtype=dtype,
        serve=_string(path, raw, "serve"),
        defaults=_defaults(path, raw), params=params, path=path)
    if family == "openai" and not card.endpoint:
        raise _fail(path, "endpoint", "an openai card needs the endpoint's base URL (ending in /v1)")
    if family == "tiny":
        from realunify_arena.adapters.tiny import TINY_BASES  # light: builders import torch lazily

        base = params.get("base")
        if base not in TINY_BASES:
            raise _fail(path, "params.base", f"expected one of {sorted(TINY_BASES)}, got {base!r}")
        if card.checkpoints:
            raise _fail(path, "checkpoints", "a tiny card builds its own weights; remove 'checkpoint(s)'")
        offered = FAMILIES[base].capabilities
        if not capabilities <= offered:
            raise _fail(path, "capabilities", f"a tiny {base} offers {sorted(c.value for c in offered)}")
    return card


def load_cards(models_dir: Path | str = MODELS_DIR, problems: list[CardError] | None = None) -> dict[str, ModelCard]:
    """Every ``*.yaml`` card in ``models_dir``, by name, with card:NAME references resolved.

    A malformed card raises CardError, unless ``problems`` is given: then it is recorded there and left
    out (with any pair that names it), so one bad file cannot take the app or the CLI down.
    """
    cards: dict[str, ModelCard] = {}
    for path in sorted(Path(models_dir).glob("*.yaml")):
        try:
            cards[path.stem] = load_card(path)
        except CardError as exc:
            _collect(exc, problems)
    resolved = {}
    for name, card in cards.items():
        try:
            resolved[name] = dataclasses.replace(card, parts=_parts(card, cards, models_dir))
        except CardError as exc:
            _collect(exc, problems)
    return resolved


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
            raise _fail(card.path, f"checkpoints.{cap}", "only pair cards may name other cards")
        target = cards.get(checkpoint.removeprefix(CARD_REF))
        if target is None or Capability(cap) not in target.capabilities:
            raise _fail(card.path, f"checkpoints.{cap}",
                        f"{checkpoint!r} must name a card in {models_dir} that declares '{cap}'")
        parts[cap] = target
    return parts


def transformers_problem() -> str | None:
    """Why the installed transformers cannot run the local families, or None if it can."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("transformers")
    except PackageNotFoundError:
        return "transformers is not installed (pip install -r requirements.txt)"
    numbers = tuple(int(p) for p in installed.split(".")[:2] if p.isdigit())
    if numbers < MIN_TRANSFORMERS:
        want = ".".join(map(str, MIN_TRANSFORMERS))
        return (f"transformers {installed} is installed; Janus/Emu3 image generation needs >= {want} "
                f"(5.17 breaks Janus generation): pip install 'transformers>={want}'")
    return None


def availability(card: ModelCard, **kwargs) -> tuple[bool, str]:
    """Whether ``card`` can run here and why not: ``realunify_arena.availability.availability``."""
    # imported here: that module builds on this one
    from realunify_arena.availability import availability as check

    return check(card, **kwargs)
