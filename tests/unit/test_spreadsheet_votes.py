"""A votes CSV saved again by a spreadsheet is read as the export it came from (``vote_files._csv``).

Excel and LibreOffice in a locale whose decimal mark is a comma (German, French, ...) save a CSV with semicolons
between the cells; Excel saves the rectangle of cells ever used, so unused columns come back as empty header cells
and blank rows as lines of separators only; pandas writes an integer column holding a gap as floats ("12.0").
Before, such files were refused: "no column 'track'", "column '' appears twice", "field 'track' is missing or
empty", "field 'vote_id' is '1.0'". And a ``battle_id`` of 0 (another arena's ids counted from 0) was taken as no
id, so a repeat of that battle was counted twice. The exports come from a real store (SQLite) through ``export
votes``; the expected votes are the choices voted here, in order, with vote ids 1, 2, ... as the store gives them.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from realunify_arena.vote_files import VotesFileError, read_votes
from tests.unit.test_joined_without_mark import _exported

CHOICES = ["A", "B", "tie", "both_bad", "A"]


def _rows(tmp_path, capsys) -> list[list[str]]:
    """The cells of a real ``export votes --format csv`` of one battle per ``CHOICES`` entry, header first."""
    data = _exported(tmp_path, "store", "csv", CHOICES)
    capsys.readouterr()
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _saved(path, rows, delimiter=",", encoding="utf-8", tail="") -> None:
    """``rows`` written as a spreadsheet saves them: CRLF line ends, ``delimiter`` between cells."""
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes((text.getvalue() + tail).encode(encoding))


def _read_as_voted(path) -> None:
    votes = read_votes(path)
    assert [vote["choice"] for vote in votes] == CHOICES
    assert [vote["vote_id"] for vote in votes] == list(range(1, len(CHOICES) + 1))


@pytest.mark.parametrize("delimiter, encoding", [(";", "utf-8-sig"), (";", "cp1252"), ("\t", "utf-8")])
def test_a_semicolon_or_tab_separated_export_is_read_as_exported(tmp_path, capsys, delimiter, encoding):
    """Excel's "CSV UTF-8" (a byte-order mark), its plain "CSV" (the ANSI code page), and "Text (Tab delimited)"."""
    rows = _rows(tmp_path, capsys)
    path = tmp_path / "saved.csv"
    _saved(path, rows, delimiter, encoding)
    _read_as_voted(path)


def test_an_unquoted_semicolon_in_a_semicolon_separated_file_is_named_as_such(tmp_path, capsys):
    rows = _rows(tmp_path, capsys)
    path = tmp_path / "saved.csv"
    _saved(path, rows, ";")
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    text[2] = text[2].replace(";;", ";bad;worse;", 1)  # line 3's empty flagged cell: a reason with a bare semicolon
    path.write_text("".join(text), encoding="utf-8", newline="")
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    said = str(refused.value)
    assert said.startswith(f"{path} line 3: ") and "a semicolon not in quotes" in said and '"a;b"' in said, said


def test_a_spreadsheets_unused_columns_and_blank_rows_are_no_votes(tmp_path, capsys):
    """Excel's used range: empty header cells past the last column, and rows of separators only at the end."""
    rows = _rows(tmp_path, capsys)
    width = len(rows[0]) + 3
    padded = [row + [""] * (width - len(row)) for row in rows] + [[""] * width] * 3
    path = tmp_path / "saved.csv"
    _saved(path, padded, tail="\r\n")
    _read_as_voted(path)

    # a blank row between votes is no vote either, and a cell holding text under an unnamed column is not read
    padded.insert(3, [""] * width)
    padded[1][-1] = "a note"
    _saved(path, padded)
    _read_as_voted(path)


def test_a_vote_id_pandas_wrote_as_a_float_is_that_vote_id(tmp_path, capsys):
    """pandas reads an integer column holding a gap as floats and writes them back as "12.0"."""
    rows = _rows(tmp_path, capsys)
    column = rows[0].index("vote_id")
    for row in rows[1:]:
        row[column] = f"{row[column]}.0"
    path = tmp_path / "pandas.csv"
    _saved(path, rows)
    _read_as_voted(path)

    # still the vote its digits name: without battle ids, "1.0" and "1" are one battle, refused as repeated
    for row in rows[1:]:
        row[rows[0].index("battle_id")] = ""
    rows[2][column] = "1"
    _saved(path, rows)
    with pytest.raises(VotesFileError, match=r"line 3: vote_id 1 again \(first at line 2\)"):
        read_votes(path)
    rows[2][column] = "1.5"
    _saved(path, rows)
    with pytest.raises(VotesFileError, match=r"line 3: field 'vote_id' is '1\.5'; expected a whole number"):
        read_votes(path)


def test_a_battle_id_of_0_is_an_id_whose_repeat_is_refused(tmp_path):
    """Another arena counting its battles from 0: battle 0 voted twice would be rated twice."""
    vote = {"track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct", "system_b": "m2:direct",
            "choice": "A"}
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(dict(vote, battle_id=k)) + "\n" for k in (0, 1, 0)), encoding="utf-8")
    with pytest.raises(VotesFileError, match=r"line 3: battle_id 0 again \(first at line 1\)"):
        read_votes(path)
    path.write_text("".join(json.dumps(dict(vote, battle_id=k)) + "\n" for k in (0, 1, 2)), encoding="utf-8")
    assert len(read_votes(path)) == 3


def test_excels_sep_line_names_the_separator(tmp_path, capsys):
    """Excel writes (and reads) a first line "sep=;" naming the separator; the header is line 2."""
    rows = _rows(tmp_path, capsys)
    path = tmp_path / "saved.csv"
    _saved(path, [["sep="]] + rows, ";")  # csv writes the cell "sep=" then the line end: the line "sep="
    path.write_bytes(path.read_bytes().replace(b"sep=\r\n", b"sep=;\r\n", 1))
    _read_as_voted(path)

    _saved(path, [["sep=;"]] + [rows[0] + ["choice"]] + rows[1:], ";")
    path.write_bytes(path.read_bytes().replace(b'"sep=;"', b"sep=;", 1))
    with pytest.raises(VotesFileError, match=r"line 2: column 'choice' appears twice"):
        read_votes(path)


def test_a_header_with_spaces_after_its_commas_is_named_as_such(tmp_path):
    path = tmp_path / "by_hand.csv"
    path.write_text("track, kind, system_a, system_b, choice\nUEG, model_vs_model, m1:direct, m2:direct, A\n")
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    assert str(refused.value) == (f"{path} line 1: column ' kind' has white space around its name, so there is no "
                                  "column 'kind'; expected the names alone (remove the spaces after the separators)")
