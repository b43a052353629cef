"""Links to the app's page: the query string that says what a tab shows, and what a link's query asks a tab to show.

The page writes the first into its address bar (``ui.app.PAGE_URL_JS``), so that a reload or a copied address opens
what the visitor saw; its load event reads the second (``ui.app``'s ``open_from_url``). Each tab's link:

- Explore: ``?tab=explore&data=NAME&instance=UID&model=CARD&seed=N&judge=NAME``, or, with no instance (Run
  draws one), ``&track=GEU&category=TASK_TYPE``, and the generation settings that differ from the model card's
  defaults, ``&steps=N&guidance=X&max_new_tokens=N`` (``explore_query``, ``read_explore``, ``changed_settings``);
- Arena: ``?tab=arena&data=NAME&track=GEU&battles=KIND``, the battles a "New battle" draws, never a battle or
  its systems (``arena_query``, ``read_arena``);
- Leaderboard: ``?tab=leaderboard&track=GEU&battles=KIND``, the board shown (``leaderboard_query``,
  ``read_board``).

A value a link's tab does not offer is left out and said, in one plain-text sentence (each reader's ``problems``;
the page shows them as warnings, escaped), as is a key of ``LINK_KEYS`` in other letters' case (``key_problems``). A key given twice counts by its first value (``link_params``), as the
browser's ``URLSearchParams.get`` reads it: the page opens a link's tab in the browser that way
(``ui.app.TAB_FROM_LINK_JS``), and a server reading the last value filled in the tabs of another.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from realunify_arena.arena import KINDS
from realunify_arena.battles import ANY  # the Arena's "any track" and "any kind of battle"
from realunify_arena.benchmark.schema import CATEGORIES, TRACKS, AnyInstance
from realunify_arena.form_settings import FORM_SETTINGS, settings_used
from realunify_arena.limits import SEED_MAX
from realunify_arena.shown import brief, canonical

TABS = ("explore", "arena", "leaderboard")  # the page's tabs, in order: a link with no known tab opens the first
# every key the page's links use (``source``: an older link's ``data``); the page's address leaves any other as it is
LINK_KEYS = ("tab", "data", "source", "track", "category", "instance", "model", "seed", "judge", "battles",
             *FORM_SETTINGS)


def link_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A query's (key, value) pairs (``starlette``'s ``QueryParams.multi_items()``, ``urllib.parse.parse_qsl``)
    as one value per key: its first, as ``URLSearchParams.get`` (WHATWG URL Standard) reads it in the browser."""
    params: dict[str, str] = {}
    for key, value in pairs:
        params.setdefault(key, value)
    return params


def link_tab(params: dict[str, str]) -> str:
    """The tab a link opens (one of ``TABS``): its ``tab``, or the first tab when that is absent or unknown."""
    tab = params.get("tab")
    return tab if tab in TABS else TABS[0]


def tab_problems(params: dict[str, str]) -> list[str]:
    """What the page says of a link's ``tab`` that names none of ``TABS`` (it opens the first tab)."""
    tab = params.get("tab")
    if tab is None or tab in TABS:
        return []
    return [f"The link's tab {brief(tab)} is not one of {', '.join(TABS)}; the page opens {TABS[0]}."]


def key_problems(params: dict[str, str]) -> list[str]:
    """What the page says of a link's key that is one of ``LINK_KEYS`` but for its letters' case (``?Tab=arena``,
    ``?TRACK=GEU``): a query's names are case-sensitive (WHATWG URL Standard, ``URLSearchParams.get``), so the page
    reads it as no key of its own, leaves it out and keeps it in the address, as any key it does not use."""
    own = {key.casefold(): key for key in LINK_KEYS}
    return [f"The link's key {brief(key)} is read only as {own[key.casefold()]!r} (a link's keys are case-sensitive); "
            "the page leaves it out." for key in params if key not in LINK_KEYS and key.casefold() in own]


def _query(params: dict[str, object]) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v is not None})


def explore_query(source: str | None, instance_uid: str | None, *, model: str | None = None, seed: int | None = None,
                  judge: str | None = None, track: str | None = None, category: str | None = None,
                  settings: dict[str, int | float] | None = None) -> str:
    """The query string of an Explore link (``?tab=explore&data=…&instance=…&model=…&seed=…``), which
    ``read_explore`` reads; parameters left None are left out (no ``data``: the app's first source, so a link
    does not show the server's path to it). ``track`` ("UEG"/"GEU") and ``category`` (a task type) say where Run
    draws a random instance: a link to a named instance leaves them out (it implies both). ``settings``: the
    generation settings (``form_settings.FORM_SETTINGS`` names) the link sets (``changed_settings``), after the
    rest."""
    written = {name: _number_text(value) for name, value in (settings or {}).items() if name in FORM_SETTINGS}
    return _query({"tab": "explore", "data": source, "track": track, "category": category, "instance": instance_uid,
                   "model": model, "seed": seed, "judge": judge, **written})


def changed_settings(values: dict[str, object], defaults: dict[str, int | float | None]) -> dict[str, int | float]:
    """The generation settings a link to a form names: each of ``values`` (a form's fields by
    ``FORM_SETTINGS`` name: a number, or None/"" for empty) that the model card uses (a name in ``defaults``,
    its default there) and that differs from its default; an empty field, or 0 steps or max new tokens, is the
    card's default (``form_settings.form_options``). Steps and max new tokens as integers, guidance a float."""
    changed: dict[str, int | float] = {}
    for name, default in defaults.items():
        value = values.get(name)
        if name not in FORM_SETTINGS or value in (None, ""):
            continue
        number = float(value) if name == "guidance" else int(value)
        if (number != 0 or name == "guidance") and number != default:
            changed[name] = number
    return changed


def card_settings(card, values: dict[str, object]) -> dict[str, int | float]:
    """``changed_settings`` of ``values`` (a form's fields or a run's settings, by ``FORM_SETTINGS`` name) for the
    model card ``card`` (a ``cards.ModelCard``; None: none): those it uses that differ from its defaults; none
    where a value is not a finite number (text, infinity or NaN: a stored run's settings are read back as stored,
    e.g. a merged store's, and ``json`` reads ``Infinity`` and ``1e999`` as infinity), or an integer past a float's
    range, or a boolean (JSON's ``true``, which ``int()`` reads as 1)."""
    if card is None or not isinstance(values, dict):
        return {}
    if any(isinstance(values.get(name), bool) for name in FORM_SETTINGS):
        return {}
    used = settings_used(card)
    try:
        changed = changed_settings({name: values.get(name) for name in FORM_SETTINGS},
                                   {name: getattr(card.defaults, name) for name in FORM_SETTINGS if used[name]})
        # int() of infinity, and isfinite of an integer past a float's range, raise OverflowError
        return changed if all(math.isfinite(value) for value in changed.values()) else {}
    except (TypeError, ValueError, OverflowError):
        return {}


def stored_card_settings(card, settings_key: str) -> dict[str, int | float]:
    """``card_settings`` of a stored run's settings (``store.settings_key``'s JSON text, as ``Store.run`` returns
    it): none where the text is no JSON ``json`` reads (a store edited or written by another program)."""
    try:
        values = json.loads(settings_key)
    except (TypeError, ValueError):  # json.JSONDecodeError is a ValueError, as is an integer of over 4300 digits
        return {}
    return card_settings(card, values)


def _number_text(value: int | float) -> str:
    """A setting as a link writes it: an integer's digits ("7.0" as "7"), else the float's shortest repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def leaderboard_query(track: str, kind: str) -> str:
    """The query string of a link to the Leaderboard's board of ``track`` ("UEG"/"GEU") and battle ``kind``
    (``arena.KINDS``), which ``read_board`` reads: ``?tab=leaderboard&track=GEU&battles=…``, each left out while it
    is the board's default (UEG, the first kind), so the default board's link is ``?tab=leaderboard``."""
    return _query({"tab": "leaderboard", "track": None if track == TRACKS[0] else track,
                   "battles": None if kind == KINDS[0] else kind})


def arena_query(source: str | None, track: str, kind: str) -> str:
    """The query string of a link to the Arena with its choices: the data ``source`` (a public name; None for the
    app's first), ``track`` ("any", "UEG", "GEU") and battle ``kind`` ("any" or one of ``arena.KINDS``), each left
    out at its default (the first source, "any"), so the default Arena's link is ``?tab=arena``. Only what the
    next battle is drawn from: never a battle's id or its systems, which the vote reveals."""
    return _query({"tab": "arena", "data": source, "track": None if track == ANY else track,
                   "battles": None if kind == ANY else kind})


@dataclass(frozen=True)
class Choices:
    """What a link asks one tab's menus to hold (None: the link says nothing, the menu keeps its value) and the
    sentences naming what it asked that the tab does not offer (left out)."""

    source: str | None = None
    track: str | None = None
    kind: str | None = None
    problems: tuple[str, ...] = ()


def read_board(params: dict[str, str]) -> Choices:
    """The Leaderboard's board a link names (``leaderboard_query``): its ``track`` and ``battles``, read only from
    a Leaderboard link (``tab=leaderboard``: Explore's and the Arena's links name a track of their own)."""
    if params.get("tab") != "leaderboard":
        return Choices()
    track, problems = _offered(params, "track", TRACKS, "the board shown is the one chosen below")
    kind, more = _offered(params, "battles", KINDS, "the board shown is the one chosen below")
    return Choices(track=track, kind=kind, problems=(*problems, *more))


def read_arena(params: dict[str, str], sources: Sequence[str]) -> Choices:
    """The Arena's choices a link names (``arena_query``): its ``data`` (one of ``sources``, the public names, in
    either normalization form: ``shown.canonical``), ``track`` and ``battles``, read only from an Arena link."""
    if params.get("tab") != "arena":
        return Choices()
    named = params.get("data")
    source = next((s for s in sources if named and canonical(named) == canonical(s)), None)
    problems = [] if source or not named else [
        f"The link names data source {brief(named)}, which this app does not serve; a new battle uses the data "
        "source chosen below."]
    track, more = _offered(params, "track", (ANY, *TRACKS), "a new battle uses the track chosen below")
    kind, most = _offered(params, "battles", (ANY, *KINDS), "a new battle uses the battles chosen below")
    return Choices(source=source, track=track, kind=kind, problems=(*problems, *more, *most))


def _offered(params: dict[str, str], name: str, offered: Sequence[str], otherwise: str) -> tuple[str | None, list[str]]:
    value = params.get(name)
    if not value:
        return None, []
    if value not in offered:
        return None, [f"The link's {name} {brief(value)} is not one of {', '.join(offered)}; {otherwise}."]
    return value, []


@dataclass(frozen=True)
class ExploreChoices:
    """What an Explore link asks the form to hold (None: the link says nothing of it, or names what the app does
    not offer, and the field keeps its value): ``source`` a public name; ``instance`` the named instance, which
    implies its track and category; else ``track`` and ``category`` (a task type or "all") where Run draws one;
    ``model``, ``judge``, ``seed``; ``settings``, the generation settings it sets (``FORM_SETTINGS`` name ->
    int, or float for guidance), each checked against the model card's limits; and ``problems``, the sentences
    naming each value left out."""

    source: str | None = None
    instance: AnyInstance | None = None
    track: str | None = None
    category: str | None = None
    model: str | None = None
    judge: str | None = None
    seed: int | None = None
    problems: tuple[str, ...] = ()
    settings: tuple[tuple[str, int | float], ...] = ()


def read_explore(params: dict[str, str], *, sources: Sequence[str], find_source, find_instance,
                 models: Iterable[str], judges: Iterable[str], check_setting=None) -> ExploreChoices:
    """What an Explore link (``explore_query``) asks for. ``data`` (or, in older links, ``source``) names a data
    source that ``find_source(name)`` turns into a public name (``AppContext.configured_source`` then
    ``source_label``; raises ``KeyError`` for one not served); ``find_instance(source, uid)`` is the instance
    ``uid`` of that source (``KeyError`` if none), the first of ``sources`` when the link names none; ``models``
    and ``judges`` are what the form's menus offer. Read from a link that opens Explore only (``link_tab``):
    the other tabs' links name a track and a data source of their own. ``seed``: ASCII digits, 0 to
    ``limits.SEED_MAX``. ``steps`` and ``max_new_tokens``: ASCII digits (1 to 10 of them); ``guidance``: a plain
    decimal number (digits, an optional fraction and exponent, at most 24 characters, finite); each then passed to
    ``check_setting(model, name, value)`` (``model``: the link's, None for the form's), which returns None where
    the model card takes the value and otherwise the plain-text sentences saying why not (its limit; a setting the
    card does not use, whose field the form hides) and what Run uses instead. No ``check_setting``: the settings
    are left out. A link whose ``model`` this app does not offer has its settings said and left out, unchecked:
    they are that card's, not the form's model's."""
    if link_tab(params) != "explore":
        return ExploreChoices()
    problems: list[str] = []
    named = params.get("data") or params.get("source")
    source = None
    if named:
        try:
            source = find_source(named)
        except KeyError:
            problems.append(f"The link names data source {brief(named)}, which this app does not serve; Run uses "
                            "the data source chosen below.")
    instance = track = category = None
    uid = params.get("instance")
    if uid:
        try:
            instance = find_instance(source or sources[0], uid)
        except KeyError:
            problems.append(f"The link names instance {brief(uid)}, which is not in {brief(source or sources[0])}.")
    if instance is None:
        track, category = _drawn_from(params.get("track"), params.get("category"), problems)
    model = params.get("model")
    unoffered = None  # the model the link names that this app does not offer: its settings are that card's
    if model and model not in set(models):  # e.g. an arena side whose runs were imported: nothing here runs it
        problems.append(f"The link names model {brief(model)}, which this app does not offer (its runs may have "
                        "been imported, or the card is not in --models); Run uses the model chosen below.")
        unoffered, model = model, None
    judge = params.get("judge")
    if judge and judge not in set(judges):
        problems.append(f"The link names judge {brief(judge)}, which this app does not offer; Run uses the judge "
                        "chosen below.")
        judge = None
    seed = _seed(params.get("seed", ""), problems)
    settings = _settings(params, model or None, check_setting, problems,
                         unoffered) if check_setting is not None else ()
    return ExploreChoices(source, instance, track, category, model or None, judge or None, seed, tuple(problems),
                          settings)


_WHOLE_SETTING = re.compile(r"[0-9]{1,10}")  # a whole number a link writes: the seed and the integer settings
_DECIMAL = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")  # as float() reads one, no sign


def _settings(params: dict[str, str], model: str | None, check_setting, problems: list[str],
              unoffered: str | None = None) -> tuple[tuple[str, int | float], ...]:
    """The link's generation settings its model card takes (``read_explore``), the others said in ``problems``;
    ``unoffered``: the model the link names that the app does not offer, whose settings are all said."""
    taken: list[tuple[str, int | float]] = []
    for name in FORM_SETTINGS:
        text = params.get(name, "")
        if not text:
            continue
        if unoffered is not None:
            problems.append(f"The link's {name} {brief(text)} is not taken: it is set for model {brief(unoffered)}, "
                            f"which this app does not offer. Run uses the {name} below.")
            continue
        if name == "guidance":
            number = float(text) if len(text) <= 24 and _DECIMAL.fullmatch(text) else None
            if number is not None and not math.isfinite(number):
                number = None
            expected = ("a number as a link writes one: 0 or more, finite, in digits with an optional point and "
                        "exponent, no sign, at most 24 characters (e.g. 2.5)")
        else:
            number = int(text) if _WHOLE_SETTING.fullmatch(text) else None
            expected = "a whole number as a link writes one: 1 to 10 ASCII digits, no sign (e.g. 5)"
        if number is None:
            problems.append(f"The link's {name} {brief(text)} is not {expected}; Run uses the {name} below.")
            continue
        refused = check_setting(model, name, number)
        if refused:
            problems.append(f"The link's {name} {brief(text)} is not taken: {refused}")  # it says what Run uses
            continue
        taken.append((name, number))
    return tuple(taken)


def _seed(seed: str, problems: list[str]) -> int | None:
    # ASCII digits only ("--5", "²" and 5000 digits passed isdigit(), then int() raised), and a seed Run takes:
    # a 20-digit one reached the page as a number over 64 bits, and every field of the form showed "Error"
    if _WHOLE_SETTING.fullmatch(seed) and int(seed) <= SEED_MAX:
        return int(seed)
    if seed:
        problems.append(f"The link's seed {brief(seed)} is not a whole number from 0 to {SEED_MAX}; Run uses the "
                        "seed below.")
    return None


def _drawn_from(track: str | None, category: str | None, problems: list[str]) -> tuple[str | None, str | None]:
    """(track, category) for a link's ``track`` and ``category`` (a task type of that track, or "all"): an unknown
    track keeps the form's, and a category alone names its track; an unknown category is "all" when a track is
    known, else kept as the form's (None) and said, but for "all" (either track offers it)."""
    if not track and not category:
        return None, None
    if track and track not in TRACKS:
        problems.append(f"The link's track {brief(track)} is not one of {', '.join(TRACKS)}; Run uses the track "
                        "chosen below.")
        track = None
    if track is None:  # a category alone names its track
        track = CATEGORIES[category].track if category in CATEGORIES else None
    if track is None:
        if category and category != "all":  # "all" is offered on either track: the form keeps its own
            problems.append(f"The link's category {brief(category)} is not one this app offers; Run uses the "
                            "category chosen below.")
        return None, None
    offered = {task for task, c in CATEGORIES.items() if c.track == track}
    if category and category != "all" and category not in offered:
        problems.append(f"The link's category {brief(category)} is not one of track {track}'s; Run draws from "
                        "all of them.")
    return track, category if category in offered else "all"
