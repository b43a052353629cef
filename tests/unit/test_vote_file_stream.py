"""`leaderboard --votes` streams a JSON array (FastChat's ``clean_battle_*.json``) one battle at a time.

Before, the array was parsed whole: a file's conversations (most of its bytes) were all in memory at once,
several times the file's size (500k battles: 2.2 GB), and an array over the 256 MiB data-file limit was
refused. Now ijson (its C backend where installed) parses one battle at a time and only the fields the ratings
read are kept: memory follows the largest battle, and the limit applies to each battle instead of the file.
What a file over the limit is told when it is malformed is checked here; one within it is read whole again on
any problem, so its message is the one it always was (tests/unit/test_vote_files.py).

Expected values come from the same battles read through the JSON Lines reader (which parses each line with
``json.loads``), from counts made by hand, and from a depth scan written here.
"""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from realunify_arena import json_stream
from realunify_arena.cli import main
from realunify_arena.vote_files import read_votes

BOARD = ("UEG", "model_vs_model")
FLAGS = ["--track", "UEG", "--kind", "model_vs_model"]
ENV = "REALUNIFY_MAX_DATA_FILE_MB"
MIB = 2**20
PROSE = "the generated image shows two red cubes left of a blue sphere so the answer is B"


def battle(k: int, content: str = PROSE) -> dict:
    """A FastChat battle as ``clean_battle_data.py`` writes it (model_a, model_b, winner, conversations ...)."""
    models = ["vicuna-13b", "koala-13b", "alpaca-13b", "llama-13b"]
    a, b = k % 4, (k % 4 + 1 + k // 4 % 3) % 4  # every pair, both ways
    return {"question_id": f"{k:032x}", "model_a": models[a], "model_b": models[b],
            "winner": ("model_a", "model_b", "tie", "tie (bothbad)")[k % 7 % 4], "judge": f"arena_user_{k}",
            "conversation_a": [{"role": "user", "content": content}, {"role": "assistant", "content": content}],
            "conversation_b": [{"role": "user", "content": content}, {"role": "assistant", "content": content}],
            "turn": 1, "anony": k % 10 != 3, "language": "English", "tstamp": 1682000000.5 + k,
            "dedup_tag": {"high_freq": False, "sampled": k % 13 != 5}}


def slim(rows: list[dict]) -> str:
    """The same battles as JSON Lines without their conversations: a file the whole-file reader takes."""
    return "".join(json.dumps({k: v for k, v in r.items() if not k.startswith("conversation")}) + "\n" for r in rows)


def rated(capsys, path) -> tuple[dict, str]:
    assert main(["leaderboard", "--votes", str(path), "--format", "json", "--rounds", "0", "--min-votes", "0",
                 *FLAGS]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    (board,) = json.loads(out.out)
    return board, out.err


def test_an_array_over_the_data_file_limit_is_rated_as_its_json_lines_copy(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ENV, "1")
    rows = [battle(k, PROSE * 8) for k in range(400)]
    big = tmp_path / "clean_battle.json"
    big.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    assert big.stat().st_size > MIB  # over the 1 MiB limit: refused by its size before
    copy = tmp_path / "battles.jsonl"
    copy.write_text(slim(rows), encoding="utf-8")
    streamed, streamed_err = rated(capsys, big)
    whole, whole_err = rated(capsys, copy)
    anony_false, unsampled = sum(k % 10 == 3 for k in range(400)), sum(k % 10 != 3 and k % 13 == 5 for k in range(400))
    assert streamed["votes"] == whole["votes"] == 400 - anony_false - unsampled
    assert streamed["rows"] == whole["rows"]
    # the note on what FastChat's rules left out is the same, naming each file
    assert streamed_err.replace(str(big), "F") == whole_err.replace(str(copy), "F")
    assert f"{anony_false} not anonymous" in streamed_err and f"{unsampled} a redundant copy" in streamed_err


def test_memory_follows_one_battle_not_the_file(tmp_path):
    rows = [battle(k, PROSE * 40) for k in range(300)]  # ~6 kB of conversation each
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        votes = read_votes(path, BOARD)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(votes) == sum(k % 10 != 3 and k % 13 != 5 for k in range(300))
    assert peak < size / 4, (peak, size)  # read whole, the text alone is the file's size


def test_numbers_are_ints_and_floats_never_decimal(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"vote_id": 7, "winner": 2.5, "track": 1.5e3, "kind": [0.1, {"x": -3}]}]', encoding="utf-8")
    (item,) = json_stream.array_items(path, "utf-8", MIB, frozenset({"vote_id", "winner", "track", "kind"}))
    assert item == json.loads(path.read_text())[0]
    assert [type(item[k]) for k in ("vote_id", "winner", "track")] == [int, float, float]
    assert type(item["kind"][0]) is float and type(item["kind"][1]) is dict  # plain dicts, as json.loads gives


def test_the_c_backend_is_used_where_installed_and_the_python_one_reads_the_same(tmp_path, capsys, monkeypatch):
    import ijson

    try:
        ijson.get_backend("yajl2_c")
        assert json_stream._backend().backend_name == "yajl2_c"
    except ImportError:
        assert json_stream._backend().backend_name == "python"
    rows = [battle(k) for k in range(60)]
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    first, _ = rated(capsys, path)
    monkeypatch.setattr(json_stream, "_backend", lambda: ijson.get_backend("python"))
    again, _ = rated(capsys, path)
    assert first == again
    # a file stopped part way (nested too deeply) says so in one line: no "Exception ignored" from its generators
    monkeypatch.setenv(ENV, "1")
    path.write_text(json.dumps(rows * 40)[:-1] + ", " + "[" * 3000 + "]" * 3000 + "]", encoding="utf-8")
    assert path.stat().st_size > MIB
    assert main(["leaderboard", "--votes", str(path), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JSON nested deeper than 512 levels" in err, err


def _filler(n: int = 700) -> str:
    """Battles enough for a file over 1 MiB, as the inside of an array."""
    return json.dumps([battle(k, PROSE * 6) for k in range(n)])[1:-1]


@pytest.mark.parametrize("text, said", [
    ('[{F}, {{"model_a": "a", "model_b": "b", "winner": "tie", "vote_id": 1' + "0" * 5000 + '}}]',
     "an integer of over 4300 digits, more than Python reads as a number"),
    ("[{F}, oops]", "after entry 700 (index 699, the last read whole): not JSON ("),
    ('[{F}, {{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": NaN}}]', "not JSON"),
    ('[{{"model_a": "a"}}, {F}]', "entry 1 (index 0): field 'model_b' is missing or empty"),
    ('[{{"model_a": "a"}}, {F}, oops]', "after entry 701 (index 700, the last read whole): not JSON"),
    ('[{F}, {{"model_a": "a", "model_b": "b", "winner": "tie", "dedup_tag": {{"sampled": 1, "sampled": 0}}}}]',
     ": key 'sampled' appears twice in '[700].dedup_tag'; keep one"),
    ('[{F}, ' + "[" * 100_000 + "]" * 100_000 + "]", "JSON nested deeper than 512 levels; expected a JSON array"),
    ('[{{"model_a": "a", "model_b": "b", "winner": "tie", "c": "' + "y" * (MIB + 10) + '"}}]',
     "before its first entry was read whole: an element over the 1 MiB one is read up to"),
], ids=["long-integer", "syntax", "nan", "bad-entry", "bad-entry-then-syntax", "repeated-key", "deep", "huge-entry"])
def test_a_malformed_array_over_the_limit_is_one_line_naming_the_place(tmp_path, capsys, monkeypatch, text, said):
    monkeypatch.setenv(ENV, "1")
    path = tmp_path / "clean_battle.json"
    path.write_text(text.format(F=_filler()), encoding="utf-8")
    assert path.stat().st_size > MIB
    assert main(["leaderboard", "--votes", str(path), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {path}") and said in err and err.count("\n") == 1, err


def test_an_integer_past_64_bits_is_read_as_json_reads_it(tmp_path, capsys, monkeypatch):
    """yajl, ijson's C parser, holds an integer in 64 bits: a vote id of 31 digits (``json.loads``: an int)
    ended the stream as "integer overflow"; such a file is read again by ijson's pure-Python parser."""
    monkeypatch.setenv(ENV, "1")
    rows = [battle(k, PROSE * 6) for k in range(700)]
    rows[-1] = {**rows[-1], "vote_id": 10**30}
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    assert path.stat().st_size > MIB
    votes = read_votes(path, BOARD)
    assert len(votes) == sum(k % 10 != 3 and k % 13 != 5 for k in range(700)) and votes[-1]["vote_id"] == 10**30


def test_utf16_over_the_limit_is_read_and_a_bad_byte_is_named_where_it_is(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(ENV, "1")
    rows = [battle(k, PROSE * 6) for k in range(700)]
    text = json.dumps(rows)
    path = tmp_path / "clean_battle.json"
    path.write_bytes(text.encode("utf-16"))  # what PowerShell's `>` writes
    copy = tmp_path / "battles.jsonl"
    copy.write_text(slim(rows), encoding="utf-8")
    assert rated(capsys, path)[0] == rated(capsys, copy)[0]
    broken = text.encode("utf-16-le")
    at = len(broken) - 4  # a lone low surrogate in place of the last battle's closing brace
    path.write_bytes(broken[:at] + b"\x00\xdc" + broken[at + 2:])
    assert main(["leaderboard", "--votes", str(path), *FLAGS]) == 2
    assert f"{path}: not UTF-16-LE text (illegal encoding at byte {at})" in capsys.readouterr().err


def _depth(text: str) -> int:
    """The deepest nesting of a JSON text, brackets in strings skipped (a scan written here, char by char)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def test_the_exact_depth_scan_tells_brackets_in_strings_from_nesting(tmp_path):
    """Strings full of brackets, quotes and backslashes, cut by chunk ends anywhere: the scan that follows the
    depth (read again when brackets are many) refuses exactly the files nested past 512 levels."""
    rng = random.Random(7)
    alphabet = ['[', ']', '{', '}', '"', '\\', 'a', ' ', '\n', 'é']
    path = tmp_path / "a.json"
    for depth in (3, 300, 510, 511, 512, 600):
        text_of = lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) + "\\" * rng.randint(0, 3)
        nested: object = {"model_a": text_of()}
        for _ in range(depth):
            nested = [nested] if rng.random() < 0.5 else {text_of(): nested}
        items = [{"model_a": text_of() * rng.randint(50, 400)} for _ in range(30)] + [nested]
        text = json.dumps(items, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        if _depth(text) <= json_stream.MAX_DEPTH:
            assert len(list(json_stream.array_items(path, "utf-8", 2**30, frozenset({"model_a"})))) == 31
        else:
            with pytest.raises(json_stream.StreamError, match="nested deeper than 512"):
                list(json_stream.array_items(path, "utf-8", 2**30, frozenset({"model_a"})))


def _names_read(path, monkeypatch) -> tuple[list[str], list[str]]:
    """The model_b names ``array_items`` reads from ``path``, and the ijson backends it asked for."""
    import ijson

    asked, get_backend = [], ijson.get_backend
    monkeypatch.setattr(ijson, "get_backend", lambda name: asked.append(name) or get_backend(name))
    items = json_stream.array_items(path, "utf-8", 10**9, frozenset({"model_a", "model_b", "winner"}))
    return [item["model_b"] for item in items], asked


def test_surrogate_escapes_read_as_json_reads_them_wherever_a_chunk_ends(tmp_path, monkeypatch):
    """Escaped emoji (json.dumps' default ensure_ascii writes each as a pair, \\ud83d\\ude00), lone halves and
    escaped backslashes placed across every offset of a chunk's end: the names read equal json.loads' (the
    reference), and a file of whole pairs only is read by the C backend. Before (verify25): a pair cut at a
    chunk's end sent the whole file to the Python backend, and the check ran a lookbehind at every byte (a
    FastChat file read twice as slowly as before streaming)."""
    rng = random.Random(5)
    pieces = ["\\ud83d\\ude00", "\\ud800", "\\udc00", "\\u00e9", "\\\\", "\\\\ud83d", "a", "\\\\\\ud83d\\ude00"]
    for pad in range(json_stream._CHUNK - 30, json_stream._CHUNK + 4):
        name = "".join(rng.choice(pieces) for _ in range(4))
        text = json.dumps([{"model_a": "p" * pad, "model_b": "m", "winner": "tie"}])[:-1] \
            + f', {{"model_a": "a", "model_b": "{name}", "winner": "tie"}}]'
        path = tmp_path / "v.json"
        path.write_text(text, encoding="utf-8")
        assert _names_read(path, monkeypatch)[0] == [row["model_b"] for row in json.loads(text)], (pad, name)
    emoji = [{"model_a": "p" * pad, "model_b": "x\U0001F600" * 9, "winner": "tie"}
             for pad in range(json_stream._CHUNK - 30, json_stream._CHUNK + 4)]
    path = tmp_path / "emoji.json"
    path.write_text(json.dumps(emoji), encoding="utf-8")  # ensure_ascii: every emoji an escaped pair
    names, asked = _names_read(path, monkeypatch)
    assert names == [row["model_b"] for row in emoji] and "python" not in asked, asked
