"""A JSON file whose bytes are no text in the encoding its start implies is described the same way by every
reader of such files (benchmark lists, result files, vote files): the encoding, then why and at which byte,
once (the old loaders repeated the codec's own "'utf-8' codec can't decode byte 0xff in position 3")."""

from __future__ import annotations

from pathlib import Path

import pytest

from realunify_arena.benchmark.loaders import read_json_list
from realunify_arena.benchmark.result_files import read_entries
from realunify_arena.vote_files import VotesFileError, read_votes

# in both, byte 3 (0-based) is 0xff, which starts no UTF-8 character
BAD = b'[{"\xff": 1}]'
BAD_LINE = b'{"a\xff": 1}\n'
SAID = "not UTF-8 text (invalid start byte at byte 3)"


@pytest.mark.parametrize("name", ["UEG_direct.json", "UEG_direct.jsonl"])
def test_benchmark_and_result_files_say_encoding_reason_and_byte(tmp_path: Path, name):
    path = tmp_path / name
    path.write_bytes(BAD if name.endswith(".json") else BAD_LINE)
    problems = []
    (read_entries if name.endswith(".jsonl") else read_json_list)(path, problems)
    assert [p.message for p in problems] == [SAID]


def test_vote_files_say_it_the_same_way(tmp_path: Path):
    path = tmp_path / "votes.jsonl"
    path.write_bytes(BAD_LINE)
    with pytest.raises(VotesFileError) as info:
        read_votes(path)
    assert str(info.value).startswith(f"{path}: {SAID}; expected ")
