"""`leaderboard --votes` reads a JSON Lines votes file (UTF-8) one line at a time.

Before, a JSON Lines file (``export votes``' format, or FastChat battles one a line) was read whole: its text and
every parsed battle with its conversations were in memory at once, and a file over the 256 MiB data-file limit
was refused by its size, while the same battles as a JSON array were streamed (test_vote_file_stream.py). Now
each line is parsed on its own and only the fields the ratings read are kept; the limit holds for each line.
Lines end at ``\\n``, ``\\r\\n`` and ``\\r`` only (text_files.json_lines), wherever a read chunk ends.

Expected values: the same battles written as a JSON array (read by the array stream), line numbers and byte
offsets counted by hand.
"""

from __future__ import annotations

import codecs
import json
import tracemalloc

import pytest

from realunify_arena.cli import main
from realunify_arena.vote_files import VotesFileError, read_votes
from tests.unit.test_vote_file_stream import BOARD, ENV, FLAGS, MIB, PROSE


def battle(k: int, content: str = PROSE) -> dict:
    """A FastChat battle as ``clean_battle_data.py`` writes it, its conversations holding U+2028 (a line
    separator JSON keeps unescaped with ensure_ascii=False, and no JSON Lines line end)."""
    models = ["vicuna-13b", "koala-13b", "alpaca-13b", "llama-13b"]
    a, b = k % 4, (k % 4 + 1 + k // 4 % 3) % 4
    said = [{"role": "user", "content": content + "\u2028" + content}, {"role": "assistant", "content": content}]
    return {"question_id": f"{k:032x}", "model_a": models[a], "model_b": models[b],
            "winner": ("model_a", "model_b", "tie", "tie (bothbad)")[k % 7 % 4], "judge": f"arena_user_{k}",
            "conversation_a": said, "conversation_b": said, "turn": 1, "anony": k % 10 != 3,
            "language": "English", "tstamp": 1682000000.5 + k, "dedup_tag": {"high_freq": False, "sampled": k % 13 != 5}}


def rated(capsys, path) -> tuple[dict, str]:
    assert main(["leaderboard", "--votes", str(path), "--format", "json", "--rounds", "0", "--min-votes", "0",
                 *FLAGS]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    (board,) = json.loads(out.out)
    return board, out.err


def refused(capsys, path) -> str:
    assert main(["leaderboard", "--votes", str(path), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def lines(rows: list[dict], end: str = "\n") -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + end for r in rows)


@pytest.mark.parametrize("end, bom", [("\n", False), ("\r\n", True), ("\r", False)], ids=["lf", "crlf-bom", "cr"])
def test_json_lines_over_the_data_file_limit_are_rated_as_the_same_battles_as_an_array(tmp_path, capsys,
                                                                                      monkeypatch, end, bom):
    monkeypatch.setenv(ENV, "1")
    rows = [battle(k, PROSE * 6) for k in range(700)]
    big = tmp_path / "battles.jsonl"
    big.write_bytes((codecs.BOM_UTF8 if bom else b"") + lines(rows, end).encode("utf-8"))
    assert big.stat().st_size > MIB  # refused by its size before
    array = tmp_path / "clean_battle.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    streamed, streamed_err = rated(capsys, big)
    as_array, array_err = rated(capsys, array)
    assert streamed == as_array
    assert streamed["votes"] == sum(k % 10 != 3 and k % 13 != 5 for k in range(700))
    assert streamed_err.replace(str(big), "F") == array_err.replace(str(array), "F")


def _peak(read, *args) -> tuple[object, int]:
    """What ``read(*args)`` returns, and the most memory Python held while it ran (tracemalloc), bytes."""
    tracemalloc.start()
    try:
        return read(*args), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_follows_one_line_not_the_file(tmp_path):
    rows = [battle(k, PROSE * 40) for k in range(300)]
    path = tmp_path / "battles.jsonl"
    path.write_text(lines(rows), encoding="utf-8")
    votes, peak = _peak(read_votes, path, BOARD)
    assert len(votes) == sum(k % 10 != 3 and k % 13 != 5 for k in range(300))
    assert peak < path.stat().st_size / 4, peak  # read whole, the text alone is the file's size


def _big(rows_before: int = 700) -> str:
    return lines([battle(k, PROSE * 6) for k in range(rows_before)])


@pytest.mark.parametrize("tail, said", [
    ("oops\n", "line 701: not JSON (Expecting value); expected one vote object per line"),
    ('\n\r\n{"model_a": "a"}\r\n', "line 703: field 'model_b' is missing or empty"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "anony": true, "anony": false}\n',
     "line 701: key 'anony' appears twice; keep one"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
     "line 701: JSON nested too deeply to read; expected one vote object per line"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "c": "' + "y" * (MIB + 10) + '"}\n{}\n',
     "line 701: a line over the 1 MiB one is read up to"),
], ids=["syntax", "bad-battle-after-blank-lines", "repeated-key", "deep", "huge-line"])
def test_a_bad_line_over_the_limit_is_one_line_naming_the_line(tmp_path, capsys, monkeypatch, tail, said):
    monkeypatch.setenv(ENV, "1")
    path = tmp_path / "battles.jsonl"
    path.write_text(_big() + tail, encoding="utf-8", newline="")
    assert path.stat().st_size > MIB
    err = refused(capsys, path)
    assert err.startswith(f"leaderboard: error: {path} line") and said in err, err


def test_a_bad_byte_is_named_at_its_byte_after_the_byte_order_mark(tmp_path, capsys, monkeypatch):
    """As ``bytes.decode('utf-8-sig')`` counts it (from after the mark), and before a syntax error on an
    earlier line (the whole file was decoded before any line was parsed)."""
    text = _big(20).encode("utf-8")
    for limit in ("1", ""):  # over the limit and within it
        monkeypatch.setenv(ENV, limit)
        body = (_big(700).encode("utf-8") if limit else text) + b"oops\n" + text + b'{"a": "\xff"}\n'
        path = tmp_path / "battles.jsonl"
        path.write_bytes(codecs.BOM_UTF8 + body)
        at = body.index(b"\xff")
        err = refused(capsys, path)
        if limit:  # streamed: the syntax error comes first (the rest of a file over the limit is not read)
            assert "line 701: not JSON" in err, err
        else:
            assert f"{path}: not UTF-8 text (invalid start byte at byte {at}); expected " in err, err


def test_a_file_of_one_pretty_printed_battle_is_still_told_so(tmp_path, capsys):
    path = tmp_path / "battle.jsonl"
    path.write_text(json.dumps({"model_a": "a", "model_b": "b", "winner": "tie"}, indent=2) + "\n")
    assert "one JSON object over several lines, not one a line" in refused(capsys, path)
    path.write_text(json.dumps({"model_a": {"0": "a"}, "model_b": {"0": "b"}, "winner": {"0": "tie"}}) + "\n")
    assert "pandas' DataFrame.to_json() default layout" in refused(capsys, path)


def _columns(n: int) -> dict:
    """``pd.DataFrame(battles).to_json()``'s default layout, by hand: an object of columns, row index -> value."""
    rows = [battle(k) for k in range(n)]
    return {name: {str(i): row[name] for i, row in enumerate(rows)} for name in ("model_a", "model_b", "winner")}


@pytest.mark.parametrize("whole, said", [
    (lambda: {"battles": [battle(k, PROSE * 6) for k in range(700)]}, "one JSON object over several lines, not one "
                                                                      "a line; expected a JSON array of battle"),
    (lambda: _columns(16000), "one JSON object of columns (pandas' DataFrame.to_json() default layout); write it with "
                             "to_json(orient='records')"),
], ids=["object", "columns"])
def test_a_pretty_printed_object_over_the_limit_is_told_so_too(tmp_path, capsys, monkeypatch, whole, said):
    """Within the data-file limit the file is parsed whole to say what it is; before, over it, only its first
    line was named ("line 1: not JSON"), the explanation missing where a file is likeliest to be a dump."""
    monkeypatch.setenv(ENV, "1")
    path = tmp_path / "battles.jsonl"
    path.write_text(json.dumps(whole(), indent=2) + "\n", encoding="utf-8")
    assert path.stat().st_size > MIB
    err = refused(capsys, path)
    assert err.startswith(f"leaderboard: error: {path}: {said}"), err
    # a second object after the first: two objects, not one a line (the first, over the limit, has no lines named)
    path.write_text(json.dumps(whole(), indent=2) + "\n{}\n", encoding="utf-8")
    assert refused(capsys, path).startswith(f"leaderboard: error: {path}: 2 JSON objects one after another, not one "
                                            "a line: the first is not on a line of its own (as json.dump(vote, f, "
                                            "indent=...) writes one)")
    # not one object: the first line's fault stands (a cut file, an array)
    for text in (json.dumps(whole(), indent=2)[:-2], "{\n" + json.dumps([whole()], indent=2)):
        path.write_text(text, encoding="utf-8")
        assert f"{path} line 1: not JSON" in refused(capsys, path)


def test_utf16_json_lines_are_still_read_whole_within_the_limit(tmp_path, capsys, monkeypatch):
    rows = [battle(k) for k in range(50)]
    path = tmp_path / "battles.jsonl"
    path.write_bytes(lines(rows, "\r\n").encode("utf-16"))
    array = tmp_path / "clean_battle.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    assert rated(capsys, path)[0] == rated(capsys, array)[0]
    monkeypatch.setenv(ENV, "1")
    path.write_bytes(_big().encode("utf-16"))
    assert "over the 1 MiB a data file is read up to" in refused(capsys, path)


def test_only_the_fields_the_ratings_read_are_kept_and_a_vote_is_still_checked(tmp_path):
    path = tmp_path / "votes.jsonl"
    path.write_text(lines([battle(1), {**battle(2), "winner": "model_c"}]))
    with pytest.raises(VotesFileError, match=r"line 2: field 'winner' is 'model_c'"):
        read_votes(path, BOARD)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_line_ends_and_characters_cut_by_a_chunk_end_are_read_as_the_whole_text_splits_them(tmp_path, monkeypatch,
                                                                                           chunk):
    from realunify_arena import text_files

    rows = [battle(k, "é\u2028☃") for k in range(12)]
    text = "".join(json.dumps(r, ensure_ascii=False) + ("\r\n", "\r", "\n", "\r\n\r\n")[k % 4] for k, r in enumerate(rows))
    path = tmp_path / "battles.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8") + b'{"model_a": "a", "model_b": "b", "winner": "x"}')
    monkeypatch.setattr(text_files, "_CHUNK", chunk)
    # by hand: 12 battles, every fourth followed by a blank line (3 of them), so the last line is number 16
    with pytest.raises(VotesFileError, match=rf"^{path} line 16: field 'winner' is 'x'"):
        read_votes(path, BOARD)
    path.write_bytes(text.encode("utf-8"))
    array = tmp_path / "clean_battle.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    assert read_votes(path, BOARD) == read_votes(array, BOARD)


def _export_rows(n: int) -> list[dict]:
    """``export votes`` rows (its CSV columns), flag reasons holding a quoted line break, a comma and U+2028."""
    systems = ["m-one:direct", "m-two:direct", "m-three:direct", "m-four:direct"]
    return [{"vote_id": i + 1, "created_at": "2026-12-06T08:00:00", "battle_id": f"b{i}", "kind": "model_vs_model",
             "track": "UEG", "dataset": "bundled", "instance_uid": "UEG_1_world_knowledge",
             "system_a": systems[i % 4], "system_b": systems[(i % 4 + 1 + i // 4 % 3) % 4],
             "choice": ("A", "B", "tie", "both_bad")[i % 7 % 4], "winner": "", "voter_hash": f"v{i}" * 40,
             "flagged": f"named m-one,\r\nin its\u2028output {i}" if i % 11 == 4 else ""} for i in range(n)]


@pytest.mark.parametrize("chunk", [3, None])
def test_an_export_csv_over_the_limit_is_rated_as_its_json_lines_copy(tmp_path, capsys, monkeypatch, chunk):
    import csv

    from realunify_arena import text_files
    from realunify_arena.commands.export import VOTE_FIELDS

    rows = _export_rows(6000 if chunk is None else 60)
    path = tmp_path / "votes.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=VOTE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    copy = tmp_path / "votes.jsonl"
    copy.write_text(lines(rows), encoding="utf-8")
    if chunk is None:
        monkeypatch.setenv(ENV, "1")
        assert path.stat().st_size > MIB  # refused by its size before
    else:
        monkeypatch.setattr(text_files, "_CHUNK", chunk)  # every "\r\n" and character cut somewhere
    votes = read_votes(path)
    assert votes == read_votes(copy)
    assert len(votes) == sum(i % 11 != 4 for i in range(len(rows)))
    # a bad row further on is named by its line: the header, then a row a line, and flagged ones two lines
    with open(path, "a", encoding="utf-8", newline="") as file:
        file.write("0,,,model_vs_model,XYZ,,,m-one:direct,m-two:direct,A,,,\r\n")  # VOTE_FIELDS order
    where = 2 + len(rows) + sum(i % 11 == 4 for i in range(len(rows)))
    with pytest.raises(VotesFileError, match=rf"^{path} line {where}: track 'XYZ' is not one of"):
        read_votes(path)


def _pretty(votes: list[dict]) -> str:
    """What a runner writes calling ``json.dump(vote, f, indent=2)`` then ``f.write("\\n")`` for each vote."""
    return "".join(json.dumps(v, indent=2) + "\n" for v in votes)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_votes_pretty_printed_one_after_another_are_told_so_once(tmp_path, capsys, encoding):
    """Before, one message named line 1 ("not JSON (Expecting property name enclosed in double quotes)"), which
    does not say that the file is votes each written with ``indent``; the result-file reader says so. Lines
    counted by hand: a battle of 3 keys with indent=2 is 5 lines ("{", three keys, "}")."""
    votes = [{"model_a": "a", "model_b": "b", "winner": "tie"}, {"model_a": "b", "model_b": "a", "winner": "model_a"}]
    path = tmp_path / "battles.jsonl"
    path.write_text(_pretty(votes), encoding=encoding)
    err = refused(capsys, path)
    assert err.startswith(f"leaderboard: error: {path}: 2 JSON objects one after another, not one a line: the first "
                          "spans lines 1-5 (as json.dump(vote, f, indent=...) writes one); expected a JSON array of "
                          "battle objects ([{...}, {...}]) or one vote object per line (JSON Lines)"), err


def test_votes_pretty_printed_over_the_limit_are_told_so_too(tmp_path, capsys, monkeypatch):
    """Over the data-file limit the file is streamed (``json_stream.top_objects``): the same message, the objects
    counted and the first one's lines found in the file's start. 5,000 battles with indent=2 are over 1 MiB; the
    first one's last line is counted in the text json.dumps wrote (its closing brace alone on its line)."""
    monkeypatch.setenv(ENV, "1")
    votes = [battle(k, "short") for k in range(5000)]
    text = _pretty(votes)
    path = tmp_path / "battles.jsonl"
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size > MIB
    first = text[:text.index("\n}\n") + 2].count("\n") + 1  # the line of the first closing brace alone on its line
    err = refused(capsys, path)
    assert err.startswith(f"leaderboard: error: {path}: 5000 JSON objects one after another, not one a line: the "
                          f"first spans lines 1-{first} (as json.dump(vote, f, indent=...) writes one)"), err
