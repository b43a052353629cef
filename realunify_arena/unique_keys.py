"""Refusing a key written twice in one map of a YAML or JSON input file (a card, space.yaml, RealUnify and
result files, vote files): the parsers keep the last value silently, so a setting meant would be dropped."""

from __future__ import annotations

import json
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


class _Noted(dict):
    """An object's dict remembering the first key written twice in it (``repeated``), for finding its place."""

    repeated: tuple[str] | None = None


def _noting_pairs(pairs: list[tuple[str, Any]]) -> _Noted:
    noted = _Noted(pairs)
    key = repeated_name([key for key, _ in pairs])
    noted.repeated = (key,) if key is not None else None
    return noted


def _first_repeat(value: Any) -> tuple[str, str] | None:
    """(key, place) of the first object, in document order, holding a key twice; place as in YAML's message."""
    stack: list[tuple[Any, str]] = [(value, "")]
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


def loads_json(text: str, **kwargs: Any) -> Any:
    """``json.loads(text, **kwargs)`` refusing a repeated key in any object.

    Raises:
        json.JSONDecodeError: not JSON. RepeatedKeyError: a key appears twice in one object; the message
            names the object's place (``"key 'answer' appears twice in '[3].question_list[0]'; keep one"``;
            no place for the top object).
    """
    try:
        return json.loads(text, object_pairs_hook=unique_pairs, **kwargs)
    except RepeatedKeyError as exc:
        found = _first_repeat(json.loads(text, object_pairs_hook=_noting_pairs, **kwargs))
        key, where = found if found is not None else (exc.key, "")
        place = f" in '{where}'" if where else ""
        raise RepeatedKeyError(f"key {brief(key)} appears twice{place}; keep one", key) from None


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


def load_yaml(text: str) -> Any:
    """The one YAML document in ``text`` (safe types only), refusing a key repeated in one mapping.

    Raises:
        yaml.YAMLError: not YAML. RepeatedKeyError: a key appears twice in one mapping (lines named).
    """
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a safe loader
