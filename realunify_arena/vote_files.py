"""Votes read from a file: ``export votes`` output (JSON Lines, CSV or a JSON array) or FastChat battles.

FastChat's battle files (``clean_battle_<date>.json``, written by its ``clean_battle_data.py`` and read by its
``elo_analysis.py``) are one JSON array of battle objects ``{model_a, model_b, winner, anony, language,
tstamp, ...}`` with ``winner`` one of ``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``; the same objects one
per line (JSON Lines) are read too. A battle names no track or kind, so the caller says which board such
battles rate. As in FastChat's rating, a battle with ``anony`` false (the voter saw the models' names) is
left out, as a vote whose ``flagged`` field is set is left out of the tab's ratings; so is a battle whose
``dedup_tag`` says it was not ``sampled`` (a redundant copy of a prompt asked too often, which FastChat's
published leaderboard leaves out).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import itertools
import json
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from realunify_arena.arena import KINDS, WINNER, pair_problem
from realunify_arena.benchmark.schema import TRACKS
from realunify_arena.shown import brief, canonical, json_kind, one_line_fault, unshown_character
from realunify_arena.json_layout import (joined_after_array_said, joined_said, list_line_said, pandas_columns,
                                         streamed_layout, whole_layout, wrapped_list, wrapped_said)
from realunify_arena.json_stream import StreamError, array_items, kept
from realunify_arena.sizes import size_text
from realunify_arena.text_files import (MAX_DATA_FILE_ENV, LongLine, data_file_limit, decoded_line, json_lines,
                                        line_body, line_bom_fault, not_text, open_regular, path_fault, read_json_text,
                                        utf8_lines)
from realunify_arena.unique_keys import LongIntegerError, RepeatedKeyError, loads_json, repeated_name

EXPECTED = ("the JSON Lines or CSV that `export votes` writes, or FastChat battles (a JSON array, or one battle "
            "object a line, with model_a, model_b and winner)")


class VotesFileError(ValueError):
    """A votes file that cannot be read; the message names the file, the line or entry, and the field."""


def read_votes(path: Path, board: tuple[str, str] | None = None, left_out: Counter | None = None) -> list[dict]:
    """Votes from ``path``: dicts with track, kind, system_a, system_b, choice (``arena.WINNER``'s keys) and
    vote_id (0 where the file gives none), in file order.

    The format is told apart by the first character: ``[`` a JSON array (FastChat's battle file), ``{`` JSON Lines,
    anything else CSV. A JSON array is streamed (``json_stream.array_items``: one battle at a time, only the fields
    read here kept), so it may be over the data-file limit, which holds for each battle instead; one that cannot be
    streamed (not JSON, ...) is read whole when within the limit, so json names the line and column, and else
    refused naming the entries read before the problem. UTF-8 JSON Lines and CSV are read one line at a time
    (``_streamed_lines``, ``_streamed_csv``: lines end as ``text_files.json_lines`` ends them; of a JSON line only
    the fields read here are kept), the limit holding for each line; a problem is named as when the file was read
    whole (a byte that is no UTF-8 before a line that is no JSON, within the limit). An ``export votes`` vote needs
    track, kind, system_a, system_b and choice (or FastChat's ``winner``; where both are given they must agree). A
    FastChat battle (a record with model_a and model_b) needs winner; its track and kind are its own fields where
    it has them, else ``board`` (track, kind); its model names are rated as written (``outside_name_problem`` says which are refused), an export's
    system names must be systems (``systems.system_problem``). Left out: votes with ``flagged`` set, battles with
    ``anony`` false or ``dedup_tag.sampled`` false, a system or model against itself. A record naming neither side
    (no model_a, model_b, system_a or system_b: a line of FastChat's conversation log is named as one), a CSV of
    FastChat battles (model_a and model_b columns: FastChat writes JSON), an export's vote whose two systems cannot
    meet in its kind of battle (``arena.pair_problem``: the arena records none, ``merge`` copies none), a
    ``battle_id`` given twice
    (else, without battle ids, a ``vote_id``: one battle would count twice), a ``battle_id`` that is no id
    (``battle_id_problem``) or a ``vote_id`` that is no whole number (``_vote_id``), files joined with ``cat`` (a
    CSV's header line again, or run on from a row missing its line break, and a row of more cells than the header
    has columns: ``_row_fault``; two JSON objects on one line, or two arrays one after another:
    ``json_layout.joined_said``), or a file nested too deeply to parse, is refused. Raises ``VotesFileError`` naming
    the file, the line (or array entry, counted from 1, with its 0-based index) and the field of the first bad
    record, or asking for ``board`` when a battle names no track or kind and none was given. ``left_out``, if
    given, counts the records left out by (board, why): the (track, kind) each would have been rated on (its own,
    or ``board`` for a battle naming neither; None where neither says) and ``LEFT_OUT``'s value, for a caller to
    say on each board what was left out of it.
    """
    fault = path_fault(path)
    if fault is not None:
        raise VotesFileError(f"{path}: {fault}; expected a votes file")
    encoding, start, array = _opening(path)
    bom = line_bom_fault(start, first=True)
    if bom is not None:  # else read as a CSV with no column 'track'
        raise VotesFileError(f"{path} line 1: {bom}")
    if array:  # a JSON array (FastChat's battles): read one battle at a time
        try:
            votes, why = _rated(path, ((f"entry {i + 1} (index {i})", record) for i, record in
                                       enumerate(array_items(path, encoding, data_file_limit(), _FIELDS))), board)
        except StreamError as e:
            if path.stat().st_size > data_file_limit():
                raise VotesFileError(_stream_problem(path, e)) from None
            # within the data-file limit the file is read whole, as before arrays were streamed: json's message
            # names the line and column, and json reads what ijson's parser does not (NaN, a lone surrogate)
        else:
            if left_out is not None:
                left_out.update(why)
            return votes
    if encoding in ("utf-8", "utf-8-sig") and start not in ("", "["):  # JSON Lines or CSV: a line at a time
        limit = data_file_limit()
        votes, why = _rated(path, _streamed_lines(path, limit) if start == "{" else _streamed_csv(path, limit), board)
        if left_out is not None:
            left_out.update(why)
        return votes
    try:
        text = read_json_text(path)  # a byte order mark is no data; UTF-16 as Windows PowerShell writes is read
    except UnicodeDecodeError as e:
        raise VotesFileError(f"{path}: {not_text(e, path)}; expected {EXPECTED}") from None
    start = text.lstrip()[:1]
    if not start:  # nothing but blank lines: no votes (not a CSV without its header)
        return []
    records = (_array(path, text) if start == "[" else _lines(path, text) if start == "{" else
               list(_csv(path, io.StringIO(text, newline=""))))
    del text  # what the votes need is parsed: the file's text goes before the votes are built
    votes, why = _rated(path, _each(records), board)
    if left_out is not None:
        left_out.update(why)
    return votes


# what of a record the ratings read (``_vote``, ``_once``): a streamed battle keeps these fields only (its
# conversations, most of its bytes, go as soon as it is parsed)
_FIELDS = frozenset({"flagged", "anony", "dedup_tag", "track", "kind", "model_a", "model_b", "system_a", "system_b",
                     "choice", "winner", "vote_id", "battle_id", "type"})  # type: to name a FastChat log line
_ARRAY = "a JSON array of battle objects, as FastChat's clean_battle file"


def _opening(path: Path) -> tuple[str | None, str, bool]:
    """The encoding (``json.detect_encoding``'s name) of ``path``, its first character after any white space
    (``str.lstrip``, as the whole-file reader tells the formats apart; "" for none), and whether it is a ``[``
    after JSON's white space only (as json.loads, ijson's C parser: an array to stream). Bytes that are no text
    before the first character give (None, "", False): the whole-file reader says what they are.

    Raises:
        OSError: the file cannot be read or is not a regular file.
    """
    with open_regular(path) as file:
        data = file.read(4)
        encoding = json.detect_encoding(data)
        decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)()
        while True:
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError:
                return None, "", False
            if text.lstrip() or not data:
                return encoding, text.lstrip()[:1], text.lstrip(" \t\n\r")[:1] == "["
            data = file.read(64 * 1024)


# what ijson says of text after the array's end: its C parser (yajl), its pure-Python one
_AFTER_END = re.compile(r"trailing garbage|Additional data")


def _stream_problem(path: Path, error: StreamError) -> str:
    """The message for a streamed JSON array that could not be read on (a file over the data-file limit)."""
    if error.kind == "text":  # bytes that are no text: as the whole-file reader says it
        return f"{path}: {error.reason}; expected {EXPECTED}"
    expected = f"; expected {_ARRAY}" if error.kind == "json" else ""
    if error.kind == "json" and error.read is not None and _AFTER_END.search(error.reason):
        return f"{path} {joined_after_array_said(error.read)}{expected}"
    if error.read is None:  # the reason names the place
        return f"{path}: {error.reason}{expected}"
    after = (f"after entry {error.read} (index {error.read - 1}, the last read whole)" if error.read else
             "before its first entry was read whole")
    return f"{path} {after}: {error.reason}{expected}"


def _each(records: list[tuple[str, object]]) -> Iterator[tuple[str, object]]:
    """The records of ``records``, each dropped from the list once given (a FastChat battle's conversations are
    most of it)."""
    for i, pair in enumerate(records):
        records[i] = None
        yield pair


def _rated(path: Path, records: Iterator[tuple[str, object]], board: tuple[str, str] | None
           ) -> tuple[list[dict], Counter]:
    """The votes of ``records`` ((place, record) pairs, in file order), and how many were left out by (board, why)
    (``_board_of``).
    After a bad record the rest are still read (not rated): a streamed file that breaks further on is refused
    for that, as a file parsed whole is.

    Raises:
        VotesFileError: the first bad record (``_vote``, ``_once``).
    """
    votes, seen, left_out, problem = [], {}, Counter(), None
    for where, record in records:
        if problem is not None:
            continue
        try:
            vote = _vote(f"{path} {where}", record, board)
            if isinstance(vote, str):  # left out, and why
                left_out[_board_of(record, board), vote] += 1
                continue
            _once(f"{path} {where}", where, record, vote, seen)
        except VotesFileError as e:
            problem = e
            continue
        votes.append(vote)
    if problem is not None:
        raise problem
    return votes, left_out


def _board_of(record: dict, board: tuple[str, str] | None) -> tuple[str, str] | None:
    """The (track, kind) board a left-out ``record`` would have been rated on: its own ``track`` and ``kind`` where
    they name one, else ``board`` where it names neither (a FastChat battle: ``--track`` and ``--kind``), else
    None (no board: its rule left it out before its track or kind was read)."""
    track, kind = record.get("track"), record.get("kind")
    if track in TRACKS and kind in KINDS:
        return track, kind
    return board if track in (None, "") and kind in (None, "") else None


def _once(at: str, where: str, record: dict, vote: dict, seen: dict) -> None:
    """Refuse a vote of a battle an earlier record of the file already voted: the store takes one vote per battle
    and `export votes` writes each once, so a repeat is a file joined or edited by hand, and counting it twice
    would rate one battle twice. The battle is its ``battle_id`` (unique across stores: exports of two arenas
    joined, whose vote ids both start at 1, are distinct votes; ``battle_id_problem`` says which are refused; a
    whole number and its digits are one battle, and so are two ids that differ only in Unicode normalization), else,
    in a file without battle ids, its ``vote_id``. ``seen`` maps (field, value in NFC) to the first record's place
    and value as written. A repeated long number ending in zeros is said to be what a spreadsheet leaves
    (``_rounded_digits``)."""
    battle_id = record.get("battle_id")
    if battle_id not in (None, ""):
        problem = battle_id_problem(battle_id)
        if problem is not None:
            raise VotesFileError(f"{at}: field 'battle_id' is {problem}")
    name, value = ("battle_id", battle_id) if battle_id not in (None, "") else ("vote_id", vote["vote_id"])
    if name == "vote_id" and value == 0:  # neither given (a hand-made file, a FastChat battle); battle_id 0 is an id
        return
    # canonically equivalent ids are one id (The Unicode Standard, conformance clause C6): "caf\u00e9" and "cafe\u0301"
    first, written = seen.setdefault((name, canonical(str(value))), (where, str(value)))
    if first != where:
        form = (f", written there as {ascii(written)}, the same text in another Unicode normalization form"
                if written != str(value) else "")
        cause = (_ROUNDED_AWAY if _rounded_digits(str(value)) else
                 "remove the repeated record (the same export joined twice?)")
        raise VotesFileError(f"{at}: {name} {brief(value)} again (first at {first}{form}); a battle has one vote and "
                             f"`export votes` writes each once, so it would be counted twice: {cause}")


# Excel and LibreOffice keep 15 significant digits of a number (Microsoft, "Excel specifications and limits": number
# precision 15 digits) and write the rest of a longer whole number as zeros: 12345678901234567 is saved back as
# 12345678901234500. Such an id alone cannot be told from one that ends in zeros; two ids that became one can.
_SPREADSHEET_DIGITS = 15
_ROUNDED_AWAY = ("its digits past the 15th are zeros, as a spreadsheet writes back a long number it kept to 15 "
                 "significant digits, so two ids may have become one: export the column again as text (format it "
                 "as Text before saving, or read the file with dtype=str), else remove the repeated record")


def _rounded_digits(text: str) -> bool:
    """Whether ``text`` (an id as written) is an all-digit number of more than 15 significant digits whose digits
    past the 15th are all zeros (``_SPREADSHEET_DIGITS``)."""
    digits = text.strip().lstrip("0")
    return (digits.isascii() and digits.isdigit() and len(digits) > _SPREADSHEET_DIGITS
            and not digits[_SPREADSHEET_DIGITS:].strip("0"))


# A battle id from a file is only compared (``_once``: one vote per battle), never stored or written: the arena's
# own are 32 characters of [0-9A-Za-z_-] (``arena.new_battle_id``; older stores 32 of ``token_urlsafe(24)``, which
# may start with '-'), another arena's may be a UUID, hex digits, a number or any other plain text. So any text a
# table shows on one line is taken, as model names from outside are (``outside_name_problem``), and a whole number
# (a JSON integer); what no id is (a list, an object, a fraction, true or false, text over ``BATTLE_ID_MAX``
# characters, white space around it, a line break or control character) is refused: two ids that differ in such
# ways would be two battles, and a repeat would be counted twice.
BATTLE_ID_MAX = 256
_ID_EXPECTED = (f"expected the battle's id, one line of 1 to {BATTLE_ID_MAX} characters (`export votes` writes 32 "
                "of A-Z, a-z, 0-9, _ and -) or a whole number")


def battle_id_problem(value: object) -> str | None:
    """Why ``value`` (a vote record's ``battle_id``, not None or empty) is no battle id: ``"<value, shortened>:
    ..."`` saying what is wrong and what is expected (see ``BATTLE_ID_MAX``; a number in scientific notation,
    ``rounded_id``); None when it is one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if not isinstance(value, str):
        return f"{brief(value)}, {json_kind(value)}; {_ID_EXPECTED}"
    fault = one_line_fault(value, BATTLE_ID_MAX, "id") or rounded_id(value)
    return f"{brief(value)}: {fault}; {_ID_EXPECTED}" if fault else None


# A number in scientific notation as spreadsheets and pandas write one ("1.23457E+31", "4.5e+18", "1,2E+15" in
# a decimal-comma locale): Excel and LibreOffice keep 15 significant digits of a number, so an all-digit id
# longer than that (another arena's numeric ids) read into a spreadsheet and saved again comes back so, its other
# digits lost; a float column (pandas) keeps about 17. The sign after the E is always written by both; an id of
# this project (32 of [A-Za-z0-9_-]: no '.', ',' or '+') or a hex id can be no such text with its exponent of 1
# to 3 digits (E+308 at most).
_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]*)?[eE][+-][0-9]{1,3}")


def rounded_id(value: str) -> str | None:
    """What ``value`` (an id from a file: a battle id, a vote id) is when it is a number in scientific notation
    (``_SCIENTIFIC``): a phrase saying a spreadsheet rounded it, so two ids may have become one, and to export
    the column again as text; None for any other text."""
    if not _SCIENTIFIC.fullmatch(value.strip()):
        return None
    return ("a number in scientific notation, as a spreadsheet (or pandas' float column) writes a long number it "
            "rounded to 15-17 significant digits: the id's other digits are lost, so two ids could become one "
            "and their votes look like repeats; export the column again as text (format it as Text before "
            "saving, or read the file with dtype=str)")


_WHOLE_TEXT = re.compile(r"[0-9]+(?:\.0*)?")  # a whole number as text: "12", or "12.0" (pandas' float column)
# below this a float is one whole number (IEEE 754 double: 53-bit significand); 2**53 + 1 is read as 2**53 already
_EXACT_FLOAT = 2**53


_WHOLE_COMMA = re.compile(r"[0-9]+,0*")  # a whole number with a decimal comma: "12,0"
# a comma before exactly three digits, which groups thousands where the decimal mark is a point ("1,000": 1000)
_GROUPED = re.compile(r"[0-9]{1,3},[0-9]{3}")


def _decimal_comma(where: str, row: dict, delimiter: str) -> dict:
    """``row`` of a votes CSV separated by ``delimiter``, with a ``vote_id`` that is a whole number written with a
    decimal comma read as ``_vote_id`` reads the same number written with a point ("12.0"). A spreadsheet or pandas
    in a locale whose decimal mark is a comma writes an integer column holding a gap as "12,0"
    (``to_csv(sep=";", decimal=",")``, or ``sep="\t"``): in a semicolon-separated file the comma is that locale's
    decimal mark; a tab-separated file is written so in either locale, so there a comma before exactly three
    digits ("1,000": 1000 with a point for decimals, 1 with a comma) is refused as ambiguous, naming ``where``. Any
    other row as it is ("1,5" stays, and is refused as no whole number; a comma-separated file's cell too)."""
    value = row.get("vote_id")
    if delimiter not in (";", "\t") or not isinstance(value, str) or not _WHOLE_COMMA.fullmatch(value.strip()):
        return row
    if delimiter == "\t" and _GROUPED.fullmatch(value.strip()):
        raise VotesFileError(f"{where}: field 'vote_id' is {brief(value)}: in a tab-separated file its comma may "
                             "group thousands (1000) or mark decimals (1); write the id with no separator, as "
                             "`export votes` does")
    return row | {"vote_id": value.replace(",", ".")}


def _vote_id(where: str, value: object) -> int:
    """A record's ``vote_id`` (``export votes``: the store's id, from 1) as a number, 0 for none (null, empty or
    absent); a number with no fraction (12.0, as pandas writes an integer column holding a gap: a JSON number, or
    the text "12.0" in a CSV) is that number. Raises ``VotesFileError`` for anything else: a fraction (12.7 was
    read as 12, and a repeat of 12), true or false, a negative number, text other than ASCII digits, digits past
    the 4,300 Python reads as a number (``unique_keys.LongIntegerError``, as of a JSON integer); a float of 2**53
    and more or text in scientific notation (``rounded_id``: digits lost, said so)."""
    if value is None or value == "":
        return 0
    if isinstance(value, str) and _WHOLE_TEXT.fullmatch(value.strip()):  # "12", or pandas' "12.0" in a CSV
        digits = value.strip().split(".")[0]
        try:
            return int(digits)
        except ValueError:  # over sys.get_int_max_str_digits(): said as of a JSON integer of as many digits
            raise VotesFileError(f"{where}: field 'vote_id' is {brief(value)}: {LongIntegerError(len(digits))}; "
                                 "expected a whole number from 1 (the vote's id in the store that exported it), or "
                                 "nothing") from None
    if isinstance(value, float) and value.is_integer() and 0 <= value < _EXACT_FLOAT:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    rounded = rounded_id(value) if isinstance(value, str) else None
    if isinstance(value, float) and value.is_integer() and value >= _EXACT_FLOAT:
        rounded = ("a floating-point number of 2**53 or more, where floats no longer hold every whole number "
                   "(pandas writes an integer column holding a gap as floats): the id's last digits may be lost, so "
                   "distinct votes could look like repeats; write the column as integers")
    if rounded is not None:
        raise VotesFileError(f"{where}: field 'vote_id' is {brief(value)}: {rounded}")
    raise VotesFileError(f"{where}: field 'vote_id' is {brief(value)}; expected a whole number from 1 (the vote's id"
                         " in the store that exported it), or nothing")


def _array(path: Path, text: str) -> list[tuple[str, object]]:
    items = _json(text, lambda e: f"{path} line {e.lineno} column {e.colno}", f"{path}", _ARRAY)
    if not isinstance(items, list):  # e.g. '[1] x' fails above; a top-level object starts with '{'
        raise VotesFileError(f"{path}: expected a JSON array of battle objects, got {json_kind(items)}")
    return [(f"entry {i + 1} (index {i})", item) for i, item in enumerate(items)]


def _lines(path: Path, text: str) -> list[tuple[str, object]]:
    records = []
    for number, line in enumerate(json_lines(text), 1):
        if line.strip():
            where = f"{path} line {number}"
            try:
                record = _json(line, lambda e: where, where, "one vote object per line")
            except VotesFileError:
                if not records:
                    _not_one_a_line(path, text)
                raise
            _wrapped_battles(where, record)
            _list_line(where, record, records)
            records.append((f"line {number}", record))
    if len(records) == 1 and pandas_columns(records[0][1]):
        _not_one_a_line(path, text)
    return records


class _NotUtf8(VotesFileError):
    """Bytes of the file that are no UTF-8 (``_decoded``)."""


@contextlib.contextmanager
def _utf8_lines(path: Path, limit: int) -> Iterator[Iterator[tuple[int, bytes, int]]]:
    """``text_files.utf8_lines`` of ``path``; a line over ``limit`` bytes raises ``VotesFileError``."""
    with utf8_lines(path, limit) as lines:
        try:
            yield lines
        except LongLine as e:
            raise VotesFileError(f"{path} line {e.number}: a line over the {size_text(limit)} one is read up to "
                                 f"(each is parsed whole; {MAX_DATA_FILE_ENV} raises the limit)") from None


def _rest_is_text(path: Path, lines: Iterator[tuple[int, bytes, int]], limit: int) -> None:
    """Within the data-file limit, raise ``_NotUtf8`` for the first bytes of ``lines`` (those not yet read) that
    are no UTF-8: the whole file was decoded before any of it was parsed, so such bytes came before any other
    problem. A file over the limit was refused by its size: its first problem is named, the rest not read."""
    if path.stat().st_size <= limit:
        for _, raw, offset in lines:
            _decoded(path, raw, offset)


def _streamed_lines(path: Path, limit: int) -> Iterator[tuple[str, object]]:
    """The records of the UTF-8 JSON Lines file ``path`` (a byte-order mark skipped) as ``_lines`` gives them, one
    line read and parsed at a time, each cut to ``_FIELDS``: memory follows the longest line. Raises
    ``VotesFileError`` as the whole-file reader does (bytes that are no UTF-8, as ``not_text`` says them at the
    byte ``bytes.decode('utf-8-sig')`` counts; a line that is not JSON; a file of one object, said over the
    data-file limit too: ``_not_one_a_line``), and for a line over ``limit`` bytes. Within the data-file limit, a line that is not JSON is refused only once the rest of
    the file is found to be text, as the whole file was decoded before any line was parsed."""
    count, columns = 0, False
    with _utf8_lines(path, limit) as lines:
        for number, raw, offset in lines:
            line = line_body(_decoded(path, raw, offset))
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                record = _json(line, lambda e: where, where, "one vote object per line")
            except VotesFileError:
                _rest_is_text(path, lines, limit)
                if not count:
                    _not_one_a_line(path)
                raise
            count += 1
            if count == 1:
                columns = pandas_columns(record)
            _wrapped_battles(where, record)  # before its fields are cut to those a vote reads
            _list_line(where, record, count > 1)
            yield f"line {number}", kept(record, _FIELDS)
    if count == 1 and columns:
        _not_one_a_line(path)


def _decoded(path: Path, raw: bytes, offset: int) -> str:
    """``raw`` (a line with its end, ``offset`` bytes into the text) as text (``text_files.decoded_line``), or
    ``_NotUtf8`` naming the byte as decoding the whole file does."""
    try:
        return decoded_line(raw, offset)
    except UnicodeDecodeError as e:
        raise _NotUtf8(f"{path}: {not_text(e, path)}; expected {EXPECTED}") from None


def _streamed_csv(path: Path, limit: int) -> Iterator[tuple[str, object]]:
    """The rows of the UTF-8 CSV file ``path`` as ``_csv`` gives them, read a line at a time (the csv module is
    handed the lines ``io.StringIO(text, newline="")`` gives, so its rows and line numbers are the same), each
    line at most ``limit`` bytes. Refused as ``_streamed_lines`` refuses (a byte that is no UTF-8 first, within
    the data-file limit)."""
    with _utf8_lines(path, limit) as lines:
        try:
            yield from _csv(path, (_decoded(path, raw, offset) for _, raw, offset in lines))
        except _NotUtf8:
            raise
        except VotesFileError:
            _rest_is_text(path, lines, limit)
            raise


def _not_one_a_line(path: Path, text: str | None = None) -> None:
    """Raise ``VotesFileError`` saying what the file is if it is a JSON layout other than one vote object a line
    (``json_layout``: one object written with ``indent``, pandas' ``DataFrame.to_json()`` object of columns, or
    several objects one after another, as ``json.dump(vote, f, indent=2)`` per vote writes them); return if it is
    none (the caller's error about its first line stands). ``text``: the file's text, where it was read whole;
    else a UTF-8 file is read for this: whole within the data-file limit, streamed over it
    (``json_layout.streamed_layout``, the limit holding for each token)."""
    limit = data_file_limit()
    if text is None and path.stat().st_size > limit:
        found = streamed_layout(path, "utf-8", limit, "vote")
    else:
        try:
            found = whole_layout(read_json_text(path) if text is None else text, "vote")
        except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
            return
    if found is None or found[0] == "list":  # a list starts with "[": read as an array, never here
        return
    raise VotesFileError(f"{path}: {found[1]}; expected a JSON array of battle objects ([{{...}}, {{...}}]) or one "
                         "vote object per line (JSON Lines)")


def _json(text: str, at: Callable[[json.JSONDecodeError], str], where: str, expected: str) -> object:
    """``text`` parsed as JSON, or ``VotesFileError``: ``at(error)`` names the place of a syntax error,
    ``where`` that of JSON nested too deeply for the parser (a ``RecursionError``, not a traceback), of a key
    written twice or of an integer too long for Python to read (``LongIntegerError``), and of values one after
    another as files joined with ``cat`` leave them (``json_layout.joined_said``)."""
    bom = line_bom_fault(text)
    if bom is not None:  # json's "Unexpected UTF-8 BOM (decode using utf-8-sig)" says neither why nor what to do
        raise VotesFileError(f"{where}: {bom}")
    try:
        return loads_json(text)
    except (RepeatedKeyError, LongIntegerError) as e:  # else the last value kept silently; Python's ValueError
        raise VotesFileError(f"{where}: {e}") from None
    except json.JSONDecodeError as e:
        joined = joined_said(text, e)  # else "not JSON (Extra data)", which says neither why nor what to do
        if joined is not None:
            raise VotesFileError(f"{where}: {joined}; expected {expected}") from None
        raise VotesFileError(f"{at(e)}: not JSON ({e.msg}); expected {expected}") from None
    except RecursionError:
        raise VotesFileError(f"{where}: JSON nested too deeply to read; expected {expected}") from None


_CSV_NEEDED = ("track", "kind", "system_a", "system_b")  # the columns a votes CSV cannot do without


def _row_fault(names: list[str], row: dict, delimiter: str = ",", header_line: int = 1) -> str | None:
    """What is wrong with a votes CSV ``row`` (``csv.DictReader``'s, under the header's column ``names``) that is
    no vote's cells: a header line again (files joined with ``cat``: ``export votes`` writes one header, and a
    header read as a vote was left out as flagged, its ``flagged`` cell reading "flagged", or refused as "track
    'track' is not one of ..."), a row running on into a header line (joined, the first file not ending with a
    line break), or more cells than the header has columns, the extra ones not empty (``csv.DictReader`` keeps
    them aside, so every cell after an unquoted comma would be read under the wrong column). The phrase says what
    to do; None for a row of one cell per column (fewer: each missing field is named where it is read)."""
    cells = [row[name] or "" for name in names]
    extra = [cell for cell in row.get(None) or () if cell is not None]
    header = cells[0].strip() in {*names, *_FIELDS}  # its first cell a column's name: no vote's first cell is
    if any(extra) and not header and set(_CSV_NEEDED) - {names[0]} <= {cell.strip() for cell in extra}:
        return (f"the row runs on into a header line ({len(extra)} cells past the header's {len(names)} columns, "
                f"the last of them {brief(cells[-1])}): files joined with `cat`, the first not ending with a line "
                "break? Break the line where the header starts, then remove the header line")
    if header and set(_CSV_NEEDED) <= {cell.strip() for cell in cells + extra}:
        if cells == names and not any(extra):
            return (f"the header line again, as on line {header_line}: files joined with `cat`? Remove this line "
                    "(`tail -n +2 SECOND.csv >> FIRST.csv` joins two exports without the second's header)")
        return (f"a header line with other columns than line {header_line}'s ({brief(','.join(cells + extra))}): "
                f"files with different columns joined with `cat`? The rows after it would be read under line "
                f"{header_line}'s columns: join the files matching columns by name (pandas: concat of each read_csv), "
                "or export them again")
    if not any(extra):
        return None
    mark = _DELIMITERS[delimiter]
    return (f"{len(names) + len(extra)} cells where the header (line {header_line}) has {len(names)} columns: a cell "
            f"holding a {mark} not in quotes? Every cell after it would be read under the wrong column; expected one "
            f"cell per column, a {mark} inside a cell quoted (\"a{delimiter}b\")")


_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}  # what spreadsheets separate a CSV's cells with
_SEP_LINE = re.compile(r"sep=([,;\t])\r?\n?")  # Excel's first line naming the separator, before the header


def _delimiter(header: str) -> str:
    """The character separating the cells of a votes CSV whose first line is ``header``: a comma (``export votes``),
    or the semicolon or tab a spreadsheet writes instead (Excel and LibreOffice in a locale whose decimal mark is
    a comma) where only that one splits the header into the columns a vote needs (``_CSV_NEEDED``)."""
    for delimiter in _DELIMITERS:
        names = {name.strip() for row in csv.reader([header], delimiter=delimiter) for name in row}
        if set(_CSV_NEEDED) <= names:
            return delimiter
    return ","


def _csv(path: Path, lines: Iterable[str]) -> Iterator[tuple[str, object]]:
    """The rows of a votes CSV given as ``lines`` (each with its line end) with their places ("line N").
    Rows end where the csv module ends them (lines as ``newline=""`` gives them, as its documentation asks):
    str.splitlines also cut at U+2028, U+2029 and U+0085, which csv writes unquoted (a flag reason quoting a
    model's output). Cells are separated by commas, or by the semicolons (or tabs) a spreadsheet saves in a locale
    whose decimal mark is a comma, where the header names the columns only so or Excel's first line (``sep=;``)
    names the separator (the header is then line 2); in a semicolon- or tab-separated file a ``vote_id`` written
    with a decimal comma ("12,0") is that number (``_decimal_comma``). A row whose every cell is empty (a
    spreadsheet saves its blank rows so) is a blank line; header cells left empty name no column (a spreadsheet
    saves its unused columns so) and may repeat. Raises ``VotesFileError``: a column missing or twice in the
    header, or no CSV."""
    lines = iter(lines)
    first = next(lines, "")
    hint = _SEP_LINE.fullmatch(first)  # Excel's "sep=;" line, naming the separator: no header
    delimiter = hint.group(1) if hint else _delimiter(first)
    reader = csv.DictReader(itertools.chain((first,) if first else (), lines), delimiter=delimiter)
    if hint:
        next(reader.reader)
    try:
        header_line = reader.line_num if reader.fieldnames is not None else 1  # after Excel's sep= line: 2
        missing = [name for name in _CSV_NEEDED
                   if reader.fieldnames is not None and name not in reader.fieldnames]
        columns = set(reader.fieldnames or ())
        # a table of FastChat battles; an export's CSV carries model_a and model_b too, beside system_a and system_b
        if missing and {"model_a", "model_b"} & columns and not {"system_a", "system_b"} & columns:
            raise VotesFileError(f"{path} line {header_line}: a CSV of FastChat battles (columns model_a, model_b) is"
                                 " not read; write them as FastChat does, a JSON array or one battle object a line"
                                 " (pandas: to_json(orient='records', lines=True)); a CSV as `export votes` writes it"
                                 " has the columns track, kind, system_a, system_b and choice")
        spaced = next((name for name in reader.fieldnames or () if missing and name != name.strip() == missing[0]),
                      None)
        if spaced is not None:  # "track, kind": a space after each separator is part of the next column's name
            raise VotesFileError(f"{path} line {header_line}: column {brief(spaced)} has white space around its name, "
                                 f"so there is no column {missing[0]!r}; expected the names alone (remove the "
                                 "spaces after the separators)")
        if missing:  # a file that is none of the formats is not "no votes"
            raise VotesFileError(f"{path} line {header_line}: no column {missing[0]!r}; expected {EXPECTED}")
        twice = repeated_name([name for name in reader.fieldnames or () if name.strip()])
        if twice is not None:  # csv.DictReader would keep the last column's value silently
            raise VotesFileError(f"{path} line {header_line}: column {brief(twice)} appears twice; keep one")
        for row in reader:
            if not any(cell.strip() for cell in (*row.values(), *(row.get(None) or ())) if isinstance(cell, str)):
                continue  # a spreadsheet's blank row (",,,,"): no vote, as a blank line is none
            bom = line_bom_fault(row[reader.fieldnames[0]] or "")
            if bom is not None:  # else "track '\\ufefftrack' is not one of ...": the header of a file joined on
                raise VotesFileError(f"{path} line {reader.line_num}: {bom}")
            fault = _row_fault(reader.fieldnames, row, delimiter, header_line)
            if fault is not None:  # a header again was left out as flagged ("flagged": a reason), or "track 'track'"
                raise VotesFileError(f"{path} line {reader.line_num}: {fault}")
            yield f"line {reader.line_num}", _decimal_comma(f"{path} line {reader.line_num}", row, delimiter)
    except csv.Error as e:  # a field over the csv module's size limit, ...
        raise VotesFileError(f"{path} line {reader.line_num + 1}: not CSV ({e}); expected the CSV that "
                             "`export votes` writes") from None


# Why a record is left out of the ratings (``read_votes``' ``left_out`` counts them by these, per board).
LEFT_OUT = {"flagged": "flagged", "anony": "not anonymous (anony false)",
            "sampled": "a redundant copy FastChat does not rate (dedup_tag.sampled false)",
            "itself": "a model against itself (no information: FastChat's compute_bt gives it no gradient)"}


_SIDES = frozenset({"system_a", "system_b", "model_a", "model_b"})  # a vote names at least one of its sides
# The ``type`` of a line of FastChat's conversation log (``<date>-conv.json``, one JSON object a line, written by its
# gradio servers: ``{tstamp, type, models, states, ip}`` for a vote, ``{tstamp, type: "chat", model, ...}`` for a
# reply); its ``clean_battle_data.py`` turns these logs into battles (model_a, model_b, winner).
_FASTCHAT_LOG_TYPES = frozenset({"leftvote", "rightvote", "tievote", "bothbad_vote", "upvote", "downvote", "flag",
                                 "share", "chat"})


def _sideless(record: dict) -> str:
    """What a record that names neither side of a vote is, and what was expected in its place."""
    kind = record.get("type")
    if isinstance(kind, str) and kind in _FASTCHAT_LOG_TYPES:
        return (f"a line of FastChat's conversation log (type {kind!r}), not a battle: FastChat's "
                "clean_battle_data.py turns those logs into its clean_battle file (a JSON array of battles with "
                "model_a, model_b and winner), which is read here")
    return ("no model_a or model_b (a FastChat battle) and no system_a or system_b (a vote `export votes` writes); "
            f"expected {EXPECTED}")


def _wrapped_battles(where: str, record: object) -> None:
    """Raise ``VotesFileError`` where ``record`` (a line's whole object) names no side of a vote and holds the
    battles one level down (``json_layout.wrapped_list``: ``{"battles": [{...}, ...]}`` written on one line), as
    the layout diagnosis says it of such an object written over several lines."""
    wrapped = wrapped_list(record) if isinstance(record, dict) and not _SIDES & record.keys() else None
    if wrapped is not None:
        raise VotesFileError(f"{where}: {wrapped_said(*wrapped)} (the battles, one level down); expected a JSON "
                             "array of battle objects ([{...}, {...}]) or one vote object per line (JSON Lines)")


def _list_line(where: str, record: object, after: object) -> None:
    """Raise ``VotesFileError`` where ``record`` (a line's whole value, ``after`` true where lines were read
    before it) is a JSON list of objects: a ``.json`` list joined after JSON Lines (``json_layout.list_line_said``)."""
    said = list_line_said(record) if after else None
    if said is not None:
        raise VotesFileError(f"{where}: {said}; expected one vote object per line")


def _vote(where: str, record: object, board: tuple[str, str] | None) -> dict | str:
    """One record as a vote, or why it is left out (a ``LEFT_OUT`` value); raises ``VotesFileError`` (``where``:
    file and line)."""
    if not isinstance(record, dict):
        raise VotesFileError(f"{where}: expected a JSON object, got {json_kind(record)}")
    if not record:
        raise VotesFileError(f"{where}: an empty object; expected a vote (track, kind, system_a, system_b, choice, "
                             "as `export votes` writes it) or a FastChat battle (model_a, model_b, winner)")
    if not _SIDES & record.keys():  # no battle at all: its track or kind is not what is wrong with it
        raise VotesFileError(f"{where}: {_sideless(record)}")
    battle = "system_a" not in record and "system_b" not in record and ("model_a" in record or "model_b" in record)
    if _flagged(where, record.get("flagged")):
        return LEFT_OUT["flagged"]
    if battle:
        anony = record.get("anony", True)
        if not isinstance(anony, bool):
            raise VotesFileError(f"{where}: field 'anony' is {brief(anony)}; expected true or false")
        if not anony:  # FastChat rates anonymous battles only
            return LEFT_OUT["anony"]
        if not _sampled(where, record):  # a redundant copy of a high-frequency prompt: FastChat leaves it out
            return LEFT_OUT["sampled"]
    vote = {}
    for name in ("track", "kind"):
        allowed = TRACKS if name == "track" else KINDS
        value = record.get(name)
        if battle and value in (None, "") and board is not None:
            value = board[0 if name == "track" else 1]
        if battle and value in (None, ""):
            raise VotesFileError(f"{where}: a FastChat battle with no {name!r}; pass --track and --kind to say "
                                 "which board its battles rate")
        if not isinstance(value, str) or not value:
            raise VotesFileError(f"{where}: field {name!r} is missing or empty; a file written by "
                                 "`export votes` has track, kind, system_a, system_b and choice")
        if value not in allowed:
            raise VotesFileError(f"{where}: {name} {brief(value)} is not one of {', '.join(allowed)}")
        vote[name] = value
    for side in ("a", "b"):
        vote[f"system_{side}"] = _system(where, f"model_{side}" if battle else f"system_{side}", record, battle)
    vote["choice"] = _choice(where, record, battle)
    vote["vote_id"] = _vote_id(where, record.get("vote_id"))
    if vote["system_a"] == vote["system_b"]:  # no information: left out, as FastChat's compute_bt ignores it
        return LEFT_OUT["itself"]
    if not battle:  # the arena's systems, in a battle of its kinds: who meets whom is fixed (``arena.pair_problem``)
        mismatch = _pair_mismatch(vote["kind"], vote["system_a"], vote["system_b"])
        if mismatch:
            raise VotesFileError(f"{where}: {mismatch}; the arena records no such battle, and `merge` copies none")
    return vote


# ``flagged`` strings that read as "not flagged" to a person editing the file, but would be taken as a reason
_NOT_A_REASON = frozenset({"false", "no", "0", "null", "none", "n", "f"})


def _flagged(where: str, value: object) -> bool:
    """Whether a record's ``flagged`` (``export votes``: why its battle was flagged, null or empty when not; true
    or false by hand) leaves its vote out. A string reading as false ("false", "0", "no", ...) is refused: the
    exporter never writes one, and taken as a reason it would leave out a vote its editor meant to count; so is a
    value of another type.

    Raises:
        VotesFileError: such a value (``where``: file and line).
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if not isinstance(value, str):
        raise VotesFileError(f"{where}: field 'flagged' is {brief(value)}; expected why the battle was flagged (a "
                             "string), true or false, or nothing")
    if value.strip().lower() in _NOT_A_REASON:
        raise VotesFileError(f"{where}: field 'flagged' is {brief(value)}, a string, which would count as a reason "
                             "and leave the vote out; to count the vote leave the field empty (or JSON false), to "
                             "leave it out write why")
    return bool(value.strip())


def _sampled(where: str, record: dict) -> bool:
    """A battle's ``dedup_tag`` (FastChat's deduplication: ``{"high_freq": bool, "sampled": bool}``; the
    battles of a prompt asked too often are all tagged high_freq and only a sample of them ``sampled``):
    whether the battle is rated. No tag: rated. Raises ``VotesFileError`` for a tag of another shape."""
    tag = record.get("dedup_tag")
    if tag is None:
        return True
    sampled = tag.get("sampled", True) if isinstance(tag, dict) else None
    if not isinstance(sampled, bool):
        raise VotesFileError(f"{where}: field 'dedup_tag' is {brief(tag)}; expected an object whose 'sampled' is "
                             "true or false, as FastChat's deduplication writes it")
    return sampled


def _system(where: str, name: str, record: dict, battle: bool) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise VotesFileError(f"{where}: field {name!r} is missing or empty" + (
            "; a FastChat battle has model_a, model_b and winner" if battle else
            "; a file written by `export votes` has track, kind, system_a, system_b and choice"))
    problem = _name_problem(value, battle)
    if problem:
        raise VotesFileError(f"{where}: {name} {problem}")
    return sys.intern(value)  # a file names a few systems many times: one string each in the votes


# A FastChat battle names models as the arena that wrote it does ("meta-llama/Llama-2-70b", "gpt-4o@2024",
# "Gemini 1.5 Pro", "qwen:7b", "模型"): FastChat's ratings take model_a and model_b as plain strings
# (``pd.factorize`` in ``rating_systems.get_matchups_models``), so they are rated as written, each exact string
# one model: names that differ only in white space, Unicode normalization or zero-width joiners are two
# (``look_alikes`` finds them for a note). A name of this project's own (``<model>:<direct|stepwise>``, as
# ``export`` writes model_a) is such a string too and keeps its meaning;
# ':' alone makes no system ("qwen:7b" is a model). Only what no table
# can show as one line of text is refused: ``OUTSIDE_NAME_MAX`` characters at most, not blank, no control,
# format (bidi overrides, zero-width; a zero-width joiner only where it joins two characters it changes the
# drawing of, as in "👩‍💻" or Persian), surrogate or line/paragraph separator characters (``shown.unshown_character``).
OUTSIDE_NAME_MAX = 256


def outside_name_problem(name: str) -> str | None:
    """Why ``name`` (a FastChat battle's model_a or model_b) cannot be shown as a model name: ``"<name,
    shortened>: ..."`` saying what is wrong and what is expected; None when it can (see ``OUTSIDE_NAME_MAX``)."""
    expected = f"expected a model name of 1 to {OUTSIDE_NAME_MAX} characters on one line"
    if len(name) > OUTSIDE_NAME_MAX:
        return f"{brief(name)} ({len(name)} characters): {expected}"
    if not name.strip():
        return f"{brief(name)}: only white space; {expected}"
    unshown = unshown_character(name)
    return f"{brief(name)}: {unshown}; {expected}, as a table shows it" if unshown else None


@functools.lru_cache(maxsize=4096)  # a file names a few systems, each in thousands of battles
def _name_problem(value: str, battle: bool) -> str | None:
    """What is wrong with ``value`` as a system name (``systems.system_problem``), or for a FastChat battle as a
    model name from outside (``outside_name_problem``); None when nothing is."""
    from realunify_arena.systems import system_problem

    return outside_name_problem(value) if battle else system_problem(value)  # a newline or ':' breaks tables


@functools.lru_cache(maxsize=4096)  # a file names a few pairs of systems, each in thousands of votes
def _pair_mismatch(kind: str, a: str, b: str) -> str | None:
    """``arena.pair_problem`` of two system names (each already a system: ``systems.system_problem``)."""
    from realunify_arena.systems import System

    return pair_problem(kind, System.parse(a), System.parse(b))


def look_alikes(names: Iterable[str]) -> list[list[str]]:
    """The groups (sorted, each of two or more) of ``names`` that differ only in white space (around or between
    words), Unicode normalization (NFC: "é" as one character or as "e" and a combining accent) or zero-width
    joiners (U+200D, U+200C: "👩‍💻" is drawn as "👩💻" where a font lacks the sequence): shown alike, rated as
    different models, as FastChat rates them."""
    groups: dict[str, set[str]] = {}
    for name in names:
        key = unicodedata.normalize("NFC", " ".join(name.split())).replace("\u200d", "").replace("\u200c", "")
        groups.setdefault(key, set()).add(name)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)


_FROM_WINNER = {name: choice for choice, name in WINNER.items()}  # FastChat's winner -> our choice


def _choice(where: str, record: dict, battle: bool) -> str:
    from_winner = _FROM_WINNER
    choice, winner = (None if battle else record.get("choice")), record.get("winner")
    if battle:
        if not isinstance(winner, str) or winner not in from_winner:
            raise VotesFileError(f"{where}: field 'winner' is {brief(winner) if 'winner' in record else 'missing'}; "
                                 f"expected one of {', '.join(WINNER.values())}")
        return from_winner[winner]
    if not choice and isinstance(winner, str):
        choice = from_winner.get(winner)
    if not isinstance(choice, str) or choice not in WINNER:  # a list or object is no choice either
        raise VotesFileError(f"{where}: choice {record.get('choice', record.get('winner'))!r} is not one of "
                             f"{', '.join(WINNER)} (or a FastChat winner: {', '.join(WINNER.values())})")
    if winner not in (None, "") and winner != WINNER[choice]:  # which of the two would be rated?
        raise VotesFileError(f"{where}: choice {choice!r} and winner {brief(winner)} disagree; expected winner "
                             f"{WINNER[choice]!r} beside choice {choice!r}, as `export votes` writes them")
    return choice
