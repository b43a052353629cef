"""Turning raw JSON entries into records, collecting every problem instead of stopping at the first.

Each problem names the file, the entry (its ``index`` when it has a usable one, else its position) and the
field, with what was expected, so a user can fix their file without reading a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from realunify_arena.benchmark import prompts
from realunify_arena.benchmark import images
from realunify_arena.benchmark.images import MAX_PIXELS
from realunify_arena.shown import brief, json_kind
from realunify_arena.text_files import NO_SUCH_FILE, path_fault
from realunify_arena.json_layout import wrapped_list, wrapped_said
from realunify_arena.benchmark.schema import (
    CATEGORIES,
    LETTERS,
    GEUInstance,
    PollingQuestion,
    Track,
    UEGInstance,
)

UEG_FIELDS = {"index", "task_type", "prompt", "question_list", "new_prompt"}
GEU_FIELDS = {"index", "task_type", "input_image", "question", "option", "answer", "evaluation_prompt", "edit_prompt"}
# What this project's own instance files add to the official fields (``benchmark.generators``: how an instance
# was made, a GEU instance's reference image): instance fields too, never a run's.
OWN_INSTANCE_FIELDS = {"generator", "reference_image"}
POLLING_FIELDS = {"question", "answer"}  # one polling question's fields in an instance file


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str | None  # "index 7" or "position 3"; None for a whole-file problem
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.entry:
            where += f", {self.entry}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class OversizedInteger(str):
    """A JSON integer too long for Python to convert (over ``sys.get_int_max_str_digits()`` digits), kept
    as its digits so the entry holding it is reported like any other bad field instead of failing the file."""


def parse_json_int(digits: str) -> int | OversizedInteger:
    """``json.loads(..., parse_int=parse_json_int)``: an int, or the digits of one Python refuses to convert."""
    try:
        return int(digits)
    except ValueError:
        return OversizedInteger(digits)


class EntryErrors(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def entry_index(value: object) -> int | None:
    """An entry's ``index`` as an integer, or None when it is none. The official scripts use the index only
    as a key, and runners write it as they like: an integer, its digits as a string (``"12"``, surrounding
    spaces ignored) or an integral JSON number (``12.0``) all give 12; a boolean, a fraction, other text or an
    integer too long to read give None."""
    if isinstance(value, bool) or isinstance(value, OversizedInteger):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
        return int(value)
    return None


def entry_label(raw: object, position: int, place: str | None = None, result_entry: bool = False) -> str:
    """"index 12 (world_knowledge)" when the entry has a usable index (an integer; with ``result_entry``, what
    ``entry_index`` reads), else ``place`` (e.g. "line 4" of a .jsonl file), else "position N" (0-based)."""
    index = None
    if isinstance(raw, dict):
        index = entry_index(raw.get("index")) if result_entry else raw.get("index")
        index = index if type(index) is int else None
    if index is not None:
        label = f"index {index}"
        if isinstance(raw.get("task_type"), str):
            label += f" ({raw['task_type']})"
        return label
    return place or f"position {position}"


def describe(value: object) -> str:
    if isinstance(value, OversizedInteger):
        return f"an integer of {len(value.lstrip('-'))} digits (over the {sys.get_int_max_str_digits()}-digit limit)"
    return json_kind(value)


def parse_result_entries(raw_entries: list, *, track: Track, file: str, step: bool, problems: list[Problem],
                         places: list[str] | None = None,
                         scoring_only: bool = False) -> list[tuple[object, UEGInstance | GEUInstance, str]]:
    """Each entry of one result file with its record (``parse_entry``) and its label (``entry_label``: "index 12
    (world_knowledge)", or its place when it has no index), in file order. An entry that does not parse, or
    that repeats an instance (task type and index) already in the file, which would be counted twice, is left
    out and its problems appended to ``problems``; an entry without an index (``scoring_only``) repeats none.
    ``places``: where each entry is in the file ("line 4" of a .jsonl file), one per entry; default
    "position N". ``scoring_only``: as ``parse_entry``."""
    parsed, first_seen = [], {}
    for position, raw in enumerate(raw_entries):
        place = places[position] if places else f"position {position}"
        try:
            record = parse_entry(raw, track=track, file=file, position=position, step=step, place=place,
                                 result_entry=True, scoring_only=scoring_only)
        except EntryErrors as e:
            problems.extend(e.problems)
            continue
        label = entry_label(raw, position, place, result_entry=True)
        if record.index is None:  # scored by its task type alone, as the official scorers score every entry
            parsed.append((raw, record, label))
            continue
        key = (record.task_type, record.index)
        if key in first_seen:
            problems.append(Problem(file, f"index {record.index} ({record.task_type})", "index", "duplicate entry:"
                                    f" this instance is also at {first_seen[key]} of the file"))
            continue
        first_seen[key] = place
        parsed.append((raw, record, label))
    return parsed


def _nested_instance(raw: dict) -> tuple[str, str] | None:
    """``(field, message)`` for an entry without ``task_type`` that holds its instance one level down: under an
    object-valued key (lmms-eval's samples files: ``{"doc_id", "doc": {...}, "resps", ...}``), or as a list of
    entries under one key (``{"model": ..., "results": [...]}`` on one line of a ``.jsonl``). No official scorer
    reads such an entry (``item["task_type"]``); None when the entry is not nested so."""
    if "task_type" in raw:
        return None
    for key, value in raw.items():
        if isinstance(value, dict) and "task_type" in value:
            return "task_type", (f"missing; found as {key}.task_type: the entry nests its instance under {key!r} (as "
                                 "lmms-eval's samples files do), which no official scorer reads; expected task_type "
                                 "and the other fields at the entry's top level")
    wrapped = wrapped_list(raw)
    if wrapped is not None and "task_type" in raw[wrapped[0]][0]:
        return "task_type", (f"missing; the entry is {wrapped_said(*wrapped)} (the entries, one level down); "
                             "expected one entry object a line")
    return None


def parse_entry(raw: object, *, track: Track, file: str, position: int, step: bool = False,
                place: str | None = None, result_entry: bool = False,
                scoring_only: bool = False) -> UEGInstance | GEUInstance:
    """Build one record or raise EntryErrors listing everything wrong with the entry.

    ``step``: the entry comes from a step file, which may leave out what the direct file carries: a UEG
    ``prompt`` is then recovered from ``new_prompt`` (``prompts.recover_prompt``; None when that fails),
    and a GEU ``question``, ``option`` or ``answer`` may be None. The loader fills those from the direct
    file and reports what is still missing. GEU options that are JSON numbers are taken as their text; with
    ``result_entry`` (an entry of a result file, whose ``index`` the official scripts use only as a key) an
    ``index`` is read by ``entry_index`` (``"12"`` and ``12.0`` are 12), else it must be a JSON integer; an
    instance entry (not ``result_entry``) whose options repeat (``repeated``: the same text up to case and
    spacing, which makes the expected letter ambiguous) or whose polling questions repeat is refused, while a
    result entry's reply is still scored by its letter, as the official scorer scores it. ``place``: the entry's label when it
    has no usable index (default "position N"). ``scoring_only`` (a result entry whose own fields are never
    stored as an instance: ``score-official``, ``import-results`` with a dataset): the fields no official
    scorer reads may be absent or null, and are then None: UEG ``prompt`` (and ``new_prompt``), GEU ``input_image``, ``question`` and ``option``,
    and UEG ``question_list`` where the entry carries the official per-item ``score`` (the scored file
    ``eval_generation.py``'s ``evaluate_accuracy`` reads holds ``task_type`` and ``score`` only)
    (``eval_generation.py`` reads ``generated_image``, ``question_list`` and ``task_type``;
    ``eval_understanding.py`` ``response``, ``task_type`` and ``answer``). What scoring needs is still
    required (``task_type``, the polling questions; GEU ``answer`` as without it), and a field present with a
    wrong type or value is still a problem. ``index`` too is read by neither official scorer (each counts an
    entry by its ``task_type``), so with ``scoring_only`` it may be absent or null: the record's ``index`` is
    then None and the entry is named by ``place``; a reader that matches entries to instances by
    (task_type, index), as ``import-results`` does, must refuse such an entry itself.
    """
    label = entry_label(raw, position, place, result_entry)
    problems: list[Problem] = []

    def bad(field: str | None, message: str) -> None:
        problems.append(Problem(file, label, field, message))

    if not isinstance(raw, dict):
        bad(None, f"expected an object, got {describe(raw)}")
        raise EntryErrors(problems)
    if not _is_unicode_text(raw):
        bad(None, "contains a string that is not valid Unicode (a lone surrogate escape such as \\ud800)")
        raise EntryErrors(problems)

    nested = _nested_instance(raw)
    if nested is not None:  # one problem for the entry, not one per field it holds one level down
        bad(*nested)
        raise EntryErrors(problems)

    def req(field: str, kind: type, what: str, optional: bool = False):
        if field not in raw or (optional and raw[field] is None):
            if not optional:
                bad(field, f"missing; expected {what}")
            return None
        value = raw[field]
        if not isinstance(value, kind) or isinstance(value, (bool, OversizedInteger)):
            bad(field, f"expected {what}, got {describe(value)}")
            return None
        return value

    def opt_str(field: str) -> str | None:
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            bad(field, f"expected a string, got {describe(value)}")
            return None
        return value

    if scoring_only and raw.get("index") is None:
        index = None  # no official scorer reads it: the entry is named by its place in the file
    elif result_entry and "index" in raw and not isinstance(raw["index"], (int, OversizedInteger)):
        index = entry_index(raw["index"])
        if index is None:
            shown = f" {brief(raw['index'])}" if isinstance(raw["index"], (str, float)) else ""
            bad("index", f"expected an integer, got {describe(raw['index'])}{shown} (an integer's digits as a "
                         "string, such as \"12\", are read as that integer)")
    else:
        index = req("index", int, "an integer")
    task_type = req("task_type", str, "a string")
    if task_type is not None:
        if task_type not in CATEGORIES:
            bad("task_type", f"unknown task_type {task_type!r}; expected one of {sorted(CATEGORIES)}")
        elif CATEGORIES[task_type].track != track:
            bad("task_type", f"{task_type!r} is a {CATEGORIES[task_type].track} task, but this is a {track} file")

    if track == "UEG":
        known = UEG_FIELDS
        new_prompt = opt_str("new_prompt")
        prompt = req("prompt", str, "a string", optional=scoring_only or (step and new_prompt is not None))
        if prompt is None and step and new_prompt is not None and "prompt" not in {p.field for p in problems}:
            prompt = prompts.recover_prompt(new_prompt)
        if prompt is not None and not prompt.strip():
            bad("prompt", "is empty")
        if scoring_only and raw.get("question_list") is None and "score" in raw:
            questions = None  # the official summary (``evaluate_accuracy``) reads only ``score`` and ``task_type``
        else:
            questions = _polling_questions(raw, bad)
        twice = repeated([q.question for q in questions or []])
        if twice and not result_entry and len(questions) == len(raw["question_list"]):  # positions as written
            i, j = twice
            verdict = ("with opposite expected answers: no image can pass both"
                       if questions[i].answer != questions[j].answer else "twice")
            bad(f"question_list[{j}].question", f"repeats question_list[{i}] ({brief(questions[j].question)}) "
                                                f"{verdict}; expected each polling question once")
        if problems:
            raise EntryErrors(problems)
        return UEGInstance(index=index, task_type=task_type, prompt=prompt, question_list=questions,
                           new_prompt=new_prompt, extra=_extra(raw, known))

    known = GEU_FIELDS
    input_image = req("input_image", str, "a relative image path", optional=scoring_only)
    question = req("question", str, "a string", optional=step or scoring_only)
    options = req("option", list, "a list of 4 option strings", optional=step or scoring_only)
    if options is not None:
        if len(options) != 4:
            bad("option", f"expected exactly 4 options, got {len(options)}")
            options = None
        elif not all(isinstance(o, (str, int, float)) and not isinstance(o, (bool, OversizedInteger))
                     for o in options):
            bad("option", "expected every option to be a string (or a number, taken as its text)")
            options = None
        else:
            options = [o if isinstance(o, str) else str(o) for o in options]
            twice = repeated(options)
            if twice and not result_entry:
                i, j = twice
                bad("option", f"options {LETTERS[i]} and {LETTERS[j]} are the same text ({brief(options[j])}): "
                              "the expected letter is ambiguous; expected 4 different options")
                options = None
    answer = req("answer", str, "a letter A-D", optional=step)
    if answer is not None and answer not in LETTERS[: len(options or LETTERS)]:
        bad("answer", f"expected a letter among the options (A-D), got {answer!r}")
    evaluation_prompt = opt_str("evaluation_prompt")
    edit_prompt = opt_str("edit_prompt")
    if problems:
        raise EntryErrors(problems)
    return GEUInstance(index=index, task_type=task_type, question=question, option=options, answer=answer,
                       input_image=input_image, evaluation_prompt=evaluation_prompt, edit_prompt=edit_prompt,
                       extra=_extra(raw, known))


def repeated(texts: list[str]) -> tuple[int, int] | None:
    """The positions (first, second) of the first text that repeats an earlier one, comparing them up to case
    and runs of whitespace ("Red  car" repeats "red car"), or None when all differ."""
    seen: dict[str, int] = {}
    for position, text in enumerate(texts):
        key = " ".join(text.split()).casefold()
        if key in seen:
            return seen[key], position
        seen[key] = position
    return None


def _is_unicode_text(raw: dict) -> bool:
    """JSON may escape lone surrogates; such text cannot be written as UTF-8 again (exports would fail)."""
    try:
        json.dumps(raw, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _polling_questions(raw: dict, bad) -> list[PollingQuestion]:
    if "question_list" not in raw:
        bad("question_list", "missing; expected a list of {question, answer} objects")
        return []
    items = raw["question_list"]
    if not isinstance(items, list):
        bad("question_list", f"expected a list of {{question, answer}} objects, got {describe(items)}")
        return []
    if not items:
        bad("question_list", "is empty; expected at least one polling question")
        return []
    questions = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            bad(f"question_list[{i}]", f"expected an object, got {describe(item)}")
            continue
        q, a = item.get("question"), item.get("answer")
        if not isinstance(q, str) or not q.strip():
            bad(f"question_list[{i}].question", f"expected a non-empty string, got {describe(q)}")
            continue
        if a not in ("yes", "no"):
            bad(f"question_list[{i}].answer", f"expected 'yes' or 'no', got {a!r}")
            continue
        questions.append(PollingQuestion(q, a))
    return questions


def _extra(raw: dict, known: set[str]) -> dict:
    return {k: v for k, v in raw.items() if k not in known}


def check_image_file(path: Path, *, file: str, label: str, max_pixels: int = MAX_PIXELS) -> Problem | None:
    """A cheap check (header and integrity, no full decode) run for every GEU image at load time: what
    ``images.check_header`` refuses with ``verify`` (a path naming no readable image file, ``text_files.
    path_fault``; a format not read here; the pixel limit and the memory budget of one decode, as
    ``images.open_checked`` holds them; a corrupt or cut-off file), as a ``Problem`` of field ``input_image``."""
    def problem(message: str) -> Problem:
        return Problem(file, label, "input_image", message)

    fault = path_fault(path)
    if fault == NO_SUCH_FILE:
        return problem(f"image file not found: {path}")
    if fault is not None:
        return problem(f"image {path}: {fault}; expected a readable image file")
    try:
        images.check_header(path, max_pixels=max_pixels, name=path.name, verify=True)
    except images.OverLimit as e:
        return problem(f"image {e}")
    except images.ImageError as e:
        why = str(e).removeprefix(f"{path.name}: ")
        if why.startswith("unreadable image (") and why.endswith(")"):
            why = why[len("unreadable image ("):-1]
        return problem(f"unreadable image {path.name}: {why}")
    except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"; say which
        return problem(f"unreadable image {path.name}: {e}")
    return None
