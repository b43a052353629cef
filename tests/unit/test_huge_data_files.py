"""A JSON, JSON Lines or CSV data file too large to read whole is refused by its size, before a byte is read.

Instance files, official result files and vote files are read whole and parsed into Python objects several
times their size. Before, a 2 GB file (a results file written with images inlined, a wrong file picked) was
read in full: the machine ran out of memory, or under a memory limit the command ended in a ``MemoryError``
traceback. Now each reader refuses it in one line naming the file, its size and the limit. The files are sparse
(``os.truncate``): they take no disk, and nothing here reads them.
"""

from __future__ import annotations

import os

import pytest

from realunify_arena.cli import main
from realunify_arena.text_files import read_json_text

TWO_GIB = 2 * 2**30  # 2147483648 bytes, 2048 MiB
SIZE_SAID = "2048 MiB (2147483648 bytes), over the 256 MiB"


def _sparse(path, size: int = TWO_GIB):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        os.truncate(f.fileno(), size)
    return path


def test_the_limit_is_the_file_size_in_bytes(tmp_path):
    from realunify_arena.text_files import FileTooLarge

    path = tmp_path / "votes.jsonl"
    path.write_text('{"a": 1}\n' * 10, encoding="utf-8")  # 90 bytes
    assert read_json_text(path, limit=90) == '{"a": 1}\n' * 10
    with pytest.raises(FileTooLarge) as caught:
        read_json_text(path, limit=89)
    assert (caught.value.size, caught.value.limit) == (90, 89)
    assert str(caught.value).startswith(f"{path}: 90 bytes, over the 89 bytes a data file")


def test_a_two_gib_file_is_refused_with_its_size_and_the_limit(tmp_path):
    path = _sparse(tmp_path / "UEG_direct.json")
    with pytest.raises(OSError) as caught:  # the readers' own except clauses catch it
        read_json_text(path)
    assert caught.value.filename == str(path) and SIZE_SAID in caught.value.strerror
    assert "split it" in caught.value.strerror


@pytest.mark.parametrize("command, name, code", [
    (["score-official"], "UEG_direct.json", 1),  # an official results file
    (["import-results", "--model", "tiny-pair"], "GEU_step.jsonl", 1),  # a JSON Lines results file
    (["validate"], "GEU_direct.json", 1),  # an instances file of the official layout
])
def test_each_command_names_the_file_and_its_size(tmp_path, capsys, command, name, code):
    folder = tmp_path / "results"
    _sparse(folder / name)
    db = ["--db", str(tmp_path / "arena.db")] if command[0] == "import-results" else []
    assert main([*command, str(folder), *db]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{name}: cannot be read: {SIZE_SAID}" in err, err


def test_leaderboard_refuses_a_huge_votes_file(tmp_path, capsys):
    path = _sparse(tmp_path / "votes.jsonl")
    assert main(["leaderboard", "--votes", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"leaderboard: error: {path}: {SIZE_SAID}")
