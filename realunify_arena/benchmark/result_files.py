"""Finding and reading official-format result files: the one reader ``score-official`` and ``import-results``
share.

A result file is named after its official file (``UEG_direct``, ``UEG_step``, ``GEU_direct``, ``GEU_step``)
and is either (in UTF-8, or UTF-16/32 as Windows PowerShell writes) a JSON list of entries (``.json``, as the official scripts and ``export --format official``
write it) or one JSON object a line (``.jsonl``, as many third-party runners write it; blank lines are
skipped; a UTF-8 one is read a line at a time, ``read_entries``). Problems name the file and the entry: its index
when it has one, else ``line N`` of a .jsonl file or ``position N`` of a list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from realunify_arena.benchmark.loaders import read_json_list
from realunify_arena.benchmark.schema import AnyInstance, Track
from realunify_arena.benchmark.validation import Problem, describe, parse_json_int, parse_result_entries
from realunify_arena.json_layout import joined_said, list_line_said, pandas_columns, whole_layout
from realunify_arena.text_files import (data_file_limit, decoded_line, json_lines, line_body, line_bom_fault, not_text,
                                        read_json_text, utf8_file, utf8_lines)
from realunify_arena.unique_keys import RepeatedKeyError, loads_json

SUFFIXES = (".json", ".jsonl")
STEMS: dict[str, tuple[Track, str]] = {  # file name without its suffix -> (track, "direct" | "step")
    "UEG_direct": ("UEG", "direct"),
    "UEG_step": ("UEG", "step"),
    "GEU_direct": ("GEU", "direct"),
    "GEU_step": ("GEU", "step"),
}
NAMES_SHOWN = "UEG_direct/UEG_step/GEU_direct/GEU_step .json or .jsonl"


def result_kind(path: Path) -> tuple[Track, str] | None:
    """(track, "direct" | "step") of a result file's name, or None when the name is no result file's."""
    return STEMS.get(path.stem) if path.suffix in SUFFIXES else None


def result_files_in(folder: Path, problems: list[Problem] | None = None) -> list[Path]:
    """The result files directly in ``folder``, sorted. Both a ``.json`` and a ``.jsonl`` of one name would
    count the same runs twice: that is a problem (appended to ``problems``) and neither is returned."""
    try:
        found = sorted(f for f in folder.iterdir() if result_kind(f) is not None)
    except OSError:
        return []
    stems = [f.stem for f in found]
    twice = {stem for stem in stems if stems.count(stem) > 1}
    if twice and problems is not None:
        for stem in sorted(twice):
            problems.append(Problem(str(folder), None, None, f"holds both {stem}.json and {stem}.jsonl; they would "
                                                             "count the same runs twice: keep one"))
    return [f for f in found if f.stem not in twice]


COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".7z")  # a compressed file's last suffix


# a result file's name at a name's start, then no more of a word (GEU_direct.old.json, "GEU_direct (1).json")
_NAMED = re.compile(r"(?:UEG|GEU)_(?:direct|step)(?![A-Za-z0-9_])", re.IGNORECASE)


def _inner_suffix(name: str) -> str | None:
    """The layout read (".json" or ".jsonl") that a name holds right after its first part, under more suffixes
    (``GEU_direct.json.bak`` -> ".json", ``GEU_direct.jsonl~`` -> ".jsonl"); None for none (``GEU_direct.csv``)."""
    parts = name.split(".")
    inner = "." + parts[1].rstrip("~").lower() if len(parts) > 1 else ""
    return inner if inner in SUFFIXES else None


def naming_hint(path: Path) -> str:
    """What to rename, where ``path`` (a file, or a folder's own files) holds JSON files that no result file's
    name matches: "" when there are none. The name says which track and protocol a file holds, and is matched
    exactly: ``ueg_direct.json`` is refused, as is the ``<model>.json`` the official ``eval_generation.py``
    writes its scored UEG entries to."""
    try:
        files = [path] if path.is_file() else sorted(f for f in path.iterdir() if f.is_file())
    except OSError:
        return ""
    unnamed = [f for f in files if f.suffix.lower() in SUFFIXES and result_kind(f) is None]
    stems = {stem.lower(): stem for stem in STEMS}
    # a result file's name in another format (a runner's .csv or .xlsx, a .json.gz): the layouts read are named
    other = [f for f in files if f.suffix.lower() not in SUFFIXES and f.name.split(".")[0].lower() in stems]
    if not unnamed and other:
        more = f" (and {len(other) - 1} more file(s) so named)" if len(other) > 1 else ""
        stem = stems[other[0].name.split(".")[0].lower()]
        inner = _inner_suffix(other[0].name)
        if inner is not None and other[0].suffix.lower() in COMPRESSED:
            return f"; {other[0].name}{more} is not read, being compressed: decompress it to {stem}{inner}"
        if inner is not None:  # GEU_direct.json.bak, .jsonl.orig, .json~: a copy kept aside, of a layout read
            return (f"; {other[0].name}{more} is not read: only a name ending in .json or .jsonl is (a copy kept "
                    f"aside?); if it holds the entries to read, rename it {stem}{inner}")
        return (f"; {other[0].name}{more} is not read: a result file is .json (a JSON list of entries) or .jsonl (one "
                f"entry object a line), as the official scripts read them; write it as {stem}.jsonl")
    if not unnamed:
        return ""
    first = unnamed[0]
    named = _NAMED.match(first.name)  # GEU_direct.old.json, "GEU_direct (1).json", geu_direct.json
    same = stems.get(named.group(0).lower()) if named else None
    rename = (f"{same}{first.suffix.lower()} (the name is matched exactly)" if same else
              f"UEG_direct{first.suffix.lower()} or UEG_step{first.suffix.lower()} (the official eval_generation.py "
              "writes <model>.json) or GEU_direct/GEU_step for GEU entries")
    more = f" (and {len(unnamed) - 1} more file(s) so named)" if len(unnamed) > 1 else ""
    return f"; {first.name}{more} is not read, its name being no result file's: rename it {rename}"


def result_folders_under(path: Path) -> list[Path]:
    """Every folder at or under ``path`` that holds a result file, sorted."""
    return sorted({f.parent for f in path.rglob("*") if result_kind(f) is not None and f.is_file()})


def read_entries(file: Path, problems: list[Problem]) -> tuple[list, list[str]]:
    """The raw entries of one result file and where each is ("position N" / "line N"); a file that cannot be
    read is one problem (and no entries). A UTF-8 ``.jsonl`` file is read a line at a time (``_lines``):
    memory follows its entries and its longest line, not three copies of the file beside them; the data-file
    limit holds for the whole file all the same (every entry is kept). A ``.jsonl`` file whose first line is
    no JSON but whose whole is one JSON object or list (written with ``indent``), or several objects not one a
    line, or whose one line is pandas' ``DataFrame.to_json()`` object of columns, is one problem saying so
    (``_not_one_a_line``), not one a line or one a field."""
    if file.suffix == ".json":
        entries = read_json_list(file, problems)
        return entries, [f"position {i}" for i in range(len(entries))]
    entries, places, bad, first_bad = [], [], [], None
    try:
        for number, line in _lines(file):
            if line.strip():
                _line_entry(file, number, line, entries, places, bad)
                first_bad = bool(bad) if first_bad is None else first_bad
    except UnicodeDecodeError as e:  # the whole file is no text: nothing of it is read
        problems.append(Problem(file.name, None, None, not_text(e, file)))
        return [], []
    except OSError as e:
        problems.append(Problem(file.name, None, None, f"cannot be read: {e.strerror or e}"))
        return [], []
    said = _not_one_a_line(file) if first_bad or (len(entries) == 1 and not bad and pandas_columns(entries[0])) \
        else None
    if said:  # what parsed of it was a fragment (the last entry of a list, alone on its line), or columns
        problems.append(Problem(file.name, None, None, said))
        return [], []
    problems.extend(bad)
    return entries, places


def _lines(file: Path) -> Iterator[tuple[int, str]]:
    """The lines of a ``.jsonl`` file, numbered from 1, without their ends, as ``json_lines`` splits its text
    (``read_json_text``): a UTF-8 file read a line at a time (``text_files.utf8_lines``, the data-file limit
    for the whole file), UTF-16 or UTF-32 whole.

    Raises:
        OSError: the file cannot be read, or is over the data-file limit (``FileTooLarge``).
        UnicodeDecodeError: bytes that are no text, at the byte decoding the whole file names.
    """
    if not utf8_file(file):
        yield from enumerate(json_lines(read_json_text(file)), start=1)
        return
    with utf8_lines(file, data_file_limit(), whole_limit=True) as lines:
        for number, raw, offset in lines:
            yield number, line_body(decoded_line(raw, offset))


def _line_entry(file: Path, number: int, line: str, entries: list, places: list[str], bad: list[Problem]) -> None:
    """Parse line ``number`` of ``file``: its entry and place appended to ``entries`` and ``places``, or its
    problem to ``bad``."""
    bom = line_bom_fault(line, first=number == 1)
    if bom is not None:  # json's "Unexpected UTF-8 BOM (decode using utf-8-sig)" says neither why nor what to do
        bad.append(Problem(file.name, f"line {number}", None, bom))
        return
    try:
        value = loads_json(line, parse_int=parse_json_int)
    except RepeatedKeyError as e:  # else the last value would be kept silently
        bad.append(Problem(file.name, f"line {number}", None, str(e)))
        return
    except json.JSONDecodeError as e:
        said = joined_said(line, e) or f"invalid JSON at column {e.colno}: {e.msg}"  # joined: not json's "Extra data"
        bad.append(Problem(file.name, f"line {number}", None, f"{said} (a .jsonl file holds one JSON object a line)"))
        return
    except RecursionError:
        bad.append(Problem(file.name, f"line {number}", None, "JSON nested too deeply to read (past Python's "
                                                               "recursion limit); expected one entry object"))
        return
    except ValueError as e:
        bad.append(Problem(file.name, f"line {number}", None, f"cannot be read: {e}"))
        return
    if not isinstance(value, dict):
        said = list_line_said(value) if number > 1 else None
        bad.append(Problem(file.name, f"line {number}", None, said or f"expected one JSON object a line, got "
                                                                       f"{describe(value)}"))
        return
    entries.append(value)
    places.append(f"line {number}")


def _not_one_a_line(file: Path) -> str | None:
    """What to say of a ``.jsonl`` file that is a JSON layout other than one entry object a line
    (``json_layout.whole_layout``: one object over several lines, pandas' ``DataFrame.to_json()`` object of
    columns, a JSON list, as the official scripts write their result lists, or several objects one after another
    that are not one a line, as a runner appending ``json.dump(entry, f, indent=2)`` for each entry writes them):
    None when it is none of these (each line's problem stands). The file is within the data-file limit (it was
    read)."""
    try:
        found = whole_layout(read_json_text(file), "entry", parse_int=parse_json_int)
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    if found is None:
        return None
    kind, said = found
    if kind == "list":
        return (f"{said}, not one entry object a line; a list of entries is read from a .json file: rename it "
                f"{file.stem}.json")
    expected = "expected one entry object a line" + (" (json.dumps(entry), no indent)" if kind == "sequence" else "")
    return f"{said}; {expected}"


def parse_result_file(file: Path, problems: list[Problem], *,
                      scoring_only: bool = False) -> list[tuple[dict, AnyInstance, str]]:
    """Each good entry of one result file: (raw entry, its record, its label "index 12 (world_knowledge)"),
    in file order (``validation.parse_result_entries``: a string ``index`` such as ``"12"`` is 12); the
    problems of the others are appended to ``problems``. ``scoring_only``: the instance fields no scorer
    reads may be absent (``validation.parse_entry``), ``index`` among them: such an entry's record has index
    None and its label is its place ("position 3", "line 4")."""
    track, kind = STEMS[file.stem]
    entries, places = read_entries(file, problems)
    return parse_result_entries(entries, track=track, file=file.name, step=kind == "step", problems=problems,
                                places=places, scoring_only=scoring_only)
