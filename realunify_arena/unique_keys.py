"""Refusing a key written twice in one map of a YAML or JSON input file (a card, space.yaml, RealUnify and
result files, vote files): the parsers keep the last value silently, so a setting meant would be dropped. And
an integer too long to read (``LongIntegerError``), which the parsers report as Python's own ``ValueError``
naming neither the file nor the field."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import yaml

from realunify_arena.shown import brief, clipped

_MERGE = "tag:yaml.org,2002:merge"  # YAML's "<<: *base": a merged key overridden here is no repeat


class RepeatedKeyError(ValueError):
    """A map holds one key twice. The message reads ``"key 'guidance' appears twice in 'defaults' (lines 7
    and 9); keep one"`` (YAML: 1-based lines; JSON: no lines, the place as ``'[3].question_list[0]'``; no
    place for the top map); ``.key`` is the key."""

    def __init__(self, message: str, key: Any) -> None:
        super().__init__(message)
        self.key = key


def _key_name(key: Any) -> str:
    """A key as a part of a place in a message: ``defaults``, ``l[0].x``."""
    return clipped(str(key), 60)


def repeated_name(names: list[str]) -> str | None:
    """The first name that appears twice in ``names`` (a CSV header's columns, say), else None."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads(..., object_pairs_hook=unique_pairs)``: the object's dict.

    Raises:
        RepeatedKeyError: a key appears twice in the object (``json.loads`` lets it through as a
            ``ValueError``; ``json.JSONDecodeError`` is not raised for it). Its message names no place:
            ``loads_json`` names one.
    """
    obj = dict(pairs)
    if len(obj) == len(pairs):  # no key twice: the common case, checked at dict-building speed
        return obj
    key = repeated_name([key for key, _ in pairs])
    raise RepeatedKeyError(f"key {brief(key)} appears twice in one object; keep one", key)


class LongIntegerError(ValueError):
    """An integer written with more digits than Python reads as a number (``sys.get_int_max_str_digits()``,
    4300 by default, Python's guard against CVE-2020-10735): ``json.loads`` and YAML's loader fail on it with
    a ``ValueError`` naming neither file nor field. The message reads ``"'[0].tstamp': an integer of 5000
    digits, over the 4300 digits Python reads as a number"`` (the place as ``RepeatedKeyError`` names one;
    none at the top); ``.digits`` is how many digits it has, ``.where`` its place ("" when not known)."""

    def __init__(self, digits: int, where: str = "") -> None:
        place = f"'{where}': " if where else ""
        super().__init__(f"{place}an integer of {digits} digits, over the {sys.get_int_max_str_digits()} digits "
                         "Python reads as a number")
        self.digits, self.where = digits, where


class _LongDigits(str):
    """An integer's digits that Python could not read as a number, kept to find their place."""


def _marked_int(digits: str) -> int | _LongDigits:
    try:
        return int(digits)
    except ValueError:
        return _LongDigits(digits)


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _first_long(value: Any) -> tuple[str, _LongDigits] | None:
    """The place of the first ``_LongDigits`` in ``value`` (in document order, as ``_first_repeat`` writes one)
    and the digits there."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _LongDigits):
            return where, node
        if isinstance(node, dict):
            children = [(item, f"{where}.{_key_name(k)}" if where else _key_name(k)) for k, item in node.items()]
        elif isinstance(node, list):
            children = [(item, f"{where}[{i}]") for i, item in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None


class _Noted(dict):
    """An object's dict remembering the first key written twice in it (``repeated``), for finding its place."""

    repeated: tuple[str] | None = None


def _noting_pairs(pairs: list[tuple[str, Any]]) -> _Noted:
    noted = _Noted(pairs)
    key = repeated_name([key for key, _ in pairs])
    noted.repeated = (key,) if key is not None else None
    return noted


def _first_repeat(value: Any, place: str = "") -> tuple[str, str] | None:
    """(key, place) of the first object, in document order, holding a key twice; place as in YAML's message
    (``place`` is ``value``'s own)."""
    stack: list[tuple[Any, str]] = [(value, place)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _Noted):
            if node.repeated is not None:
                return node.repeated[0], where
            children = [(item, f"{where}.{_key_name(k)}" if where else _key_name(k)) for k, item in node.items()]
        elif isinstance(node, list):
            children = [(item, f"{where}[{i}]") for i, item in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))  # the first child is checked first
    return None


def noting_map() -> type[dict]:
    """A map type for a parser that builds each JSON object key by key (ijson's ``items(map_type=...)``): a key
    set twice in one object is noted there instead of its last value kept silently, and counted in the
    returned class's ``repeats`` (0 until then: a caller checks that, then finds the place with ``repeat_in``).
    A fresh class each call, so two readers count apart."""

    class NotingMap(_Noted):
        repeats = 0

        def __setitem__(self, key: str, value: Any) -> None:
            if key in self and self.repeated is None:
                self.repeated = (key,)
                NotingMap.repeats += 1
            dict.__setitem__(self, key, value)

    return NotingMap


def repeat_in(value: Any, place: str = "") -> RepeatedKeyError | None:
    """The error for the first object in ``value`` (built with ``noting_map``'s class), in document order,
    that holds a key twice, its place named from ``place`` (``value``'s own: ``"[3]"`` gives ``"key 'winner'
    appears twice in '[3].dedup_tag'; keep one"``, as ``loads_json`` names it in a whole file), or None."""
    found = _first_repeat(value, place)
    if found is None:
        return None
    key, where = found
    return RepeatedKeyError(f"key {brief(key)} appears twice" + (f" in '{where}'" if where else "") + "; keep one",
                            key)


def loads_json(text: str, **kwargs: Any) -> Any:
    """``json.loads(text, **kwargs)`` refusing a repeated key in any object.

    Without a ``parse_int`` of the caller's, an integer too long for Python to read is refused by place (found
    by a second parse only then: the first is json's own, at its speed).

    Raises:
        json.JSONDecodeError: not JSON. RepeatedKeyError: a key appears twice in one object; the message
            names the object's place (``"key 'answer' appears twice in '[3].question_list[0]'; keep one"``;
            no place for the top object). LongIntegerError: an integer of more digits than Python reads
            (over 4300 by default), its place named. RecursionError: nested too deeply for the parser.
    """
    try:
        return json.loads(text, object_pairs_hook=unique_pairs, **kwargs)
    except RepeatedKeyError as exc:
        found = _first_repeat(json.loads(text, object_pairs_hook=_noting_pairs, **kwargs))
        key, where = found if found is not None else (exc.key, "")
        place = f" in '{where}'" if where else ""
        raise RepeatedKeyError(f"key {brief(key)} appears twice{place}; keep one", key) from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # Python's int() refusing too many digits ("Exceeds the limit ..."): found again by place
        if "parse_int" in kwargs:
            raise
        found = _first_long(json.loads(text, object_pairs_hook=dict, **kwargs, parse_int=_marked_int))
        if found is None:
            raise
        where, digits = found
        raise LongIntegerError(_digit_count(digits), where) from None


class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """``yaml.load(text, Loader=UniqueKeyLoader)``: ``yaml.safe_load`` (libyaml's parser where installed) that
    raises ``RepeatedKeyError`` when one mapping of the document names a key twice. Keys are compared as
    constructed (``1`` and ``01`` are one key, ``1`` and ``"1"`` two); keys merged in with ``<<`` may be
    overridden."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._check_repeats(node)
        return super().construct_document(node)

    def _check_repeats(self, root: yaml.Node) -> None:
        stack: list[tuple[yaml.Node, str]] = [(root, "")]
        visited: set[int] = set()
        while stack:
            node, where = stack.pop()
            if id(node) in visited:  # an alias: checked where its anchor is
                continue
            visited.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                stack.extend(reversed([(item, f"{where}[{i}]") for i, item in enumerate(node.value)]))
            elif isinstance(node, yaml.MappingNode):
                lines: dict[Any, int] = {}
                children: list[tuple[yaml.Node, str]] = []
                for key_node, value_node in node.value:
                    merge = isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE
                    key = (_MERGE,) if merge else self._key(key_node)  # "<<" twice: the last merge won silently
                    if key is not None:
                        line = key_node.start_mark.line + 1
                        if key[0] in lines:
                            place = f" in '{where}'" if where else ""
                            lines_of = (f"both on line {line}" if lines[key[0]] == line else
                                        f"lines {lines[key[0]]} and {line}")
                            shown, hint = ("'<<'", "; merge several maps as '<<: [*a, *b]'") if merge else (
                                brief(key[0]), "; keep one")
                            raise RepeatedKeyError(f"key {shown} appears twice{place} ({lines_of}){hint}", key[0])
                        lines[key[0]] = line
                    name = _key_name(key[0]) if key is not None and not merge else "?"
                    children.append((value_node, f"{where}.{name}" if where else name))
                stack.extend(reversed(children))  # document order: a map is named where its anchor is written

    def construct_yaml_int(self, node: yaml.Node) -> int:
        """An integer, or a ``ConstructorError`` at its line for one of more digits than Python reads (YAML's
        loader otherwise raises Python's ``ValueError``, naming no line)."""
        value = None
        try:
            value = super().construct_yaml_int(node)
            str(value)  # a hexadecimal, octal or binary one reads, but may have too many digits to show
            return value
        except ValueError:
            digits = (_digit_count(str(node.value)) if value is None
                      else int(abs(value).bit_length() * math.log10(2)) + 1)  # its decimal digits, from its size
            raise yaml.constructor.ConstructorError(None, None, str(LongIntegerError(digits)),
                                                    node.start_mark) from None

    def _key(self, node: yaml.Node) -> tuple[Any] | None:
        """(the key as constructed,), or None for a merge key or one this check cannot compare (left to the
        constructor, which refuses an unhashable key itself)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == _MERGE:
            return None
        try:
            key = self.construct_object(node)
            hash(key)
        except (yaml.YAMLError, TypeError, ValueError):
            return None
        return (key,)


UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", UniqueKeyLoader.construct_yaml_int)


def load_yaml(text: str) -> Any:
    """The one YAML document in ``text`` (safe types only), refusing a key repeated in one mapping.

    Raises:
        yaml.YAMLError: not YAML. RepeatedKeyError: a key appears twice in one mapping (lines named).
    """
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a safe loader
