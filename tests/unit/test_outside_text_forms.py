"""Forms of ids and names from outside files that session 31's readers had not met (a fresh attack, session 32).

1. A ``vote_id`` written as text of more digits than Python reads as a number (CPython's
   ``sys.get_int_max_str_digits()``, 4300 by default: the guard against CVE-2020-10735) in a CSV, a JSON Lines
   string or a FastChat battle's string reached ``int()`` and ended ``leaderboard --votes`` with a traceback; now
   refused as the same digits written as a JSON integer are (file, line, field, how many digits).
2. A result folder's name decomposed (NFD: "Cafe" and U+0301, as macOS writes file names) and the same name typed
   here (NFC: U+00E9) gave two datasets that every table and note shows alike, and the arena pairs no runs across
   them; canonically equivalent texts are one text (The Unicode Standard, conformance clause C6), so the dataset
   named after a folder is its name in NFC (UAX #15), for ``import-results`` and for every loaded source; so is
   the app's public name of a source folder, and a link's ``source`` finds it in either form.
3. By the same rule two votes whose ``battle_id`` differ only in normalization are one battle voted twice: they
   were both rated; now the second is refused as a repeat, as an id written twice alike is.
4. pandas' ``to_csv(sep="\\t", decimal=",")`` writes an integer ``vote_id`` column holding a gap as "1,0", as it
   does with ``sep=";"`` (read since session 31): refused in a tab-separated file; now read as 1. A comma before
   exactly three digits ("1,000") is refused there as ambiguous (1000 where the decimal mark is a point).
5. Excel and LibreOffice keep 15 significant digits of a number (Microsoft, "Excel specifications and limits") and
   save the rest of a long id as zeros: two ids became one, and the repeat was said to be "the same export joined
   twice?"; now the message says the spreadsheet rounded them and to export the column as text.
6. By rule 2's reason, ``--judge-name "G\u00e9mini"`` and ``--judge-name "Ge\u0301mini"`` (a terminal completing a
   Mac's file name) stored two judges, and ``report`` printed two tables headed "judged by Gémini"; ``report`` and
   ``export``'s ``--dataset``, ``--judge`` and ``--judges`` found nothing for a name written in the other form.
7. A FastChat battle naming "gpt-4" with a Cyrillic "р" (U+0440) was rated and shown as a second "gpt-4", with no
   note (only white space, normalization and joiners were looked for); now a name that mixes scripts below UTS
   #39's Moderately Restrictive level is written in the Markdown table as Python's ``ascii`` writes it, and named
   in a note. Expected sets from UTS #39 section 5.1's own table of examples.
8. The names this project stores from outside (a dataset named after a folder, ``--judge-name``) are refused by the
   same rule: "bundled" with a Cyrillic "е" was stored and headed a second "bundled" table in ``report``.
9. ``--judge-name "Gemini, 2.5"`` is taken (a comma is text), but ``report --judges A,B`` split it in two: such a
   judge could never be compared. ``--judges`` is now one CSV row (RFC 4180: a field holding a comma in double
   quotes), the refusal of the bare form says so, and the heading writes the names the same way (bare, "Gemini,
   2.5, qwen" read as three judges). The app's ``--data`` (and ``REALUNIFY_DATA``) split the same way: a folder
   "RealUnify, v2" could not be served; its list is read by the same rule (``settings.comma_items``).
10. A checkpoint's shard names come from outside too: an index naming ``model-00001-of-99999999999.safetensors``
    made the load list every number up to the count to find the shards left out (a hang, memory growing without
    bound); now only the first one left out is looked for.
11. Note 31 left "a month name written first in other languages (Dez 3)" unguarded in CSVs. LibreOffice Calc 7.4,
    importing a CSV in German, French, Spanish, Italian, Portuguese and Dutch (locales 1031, 1036, 1034, 1040,
    2070, 1043), was run on these names (session 32): each name below it turned into a date or a truth value,
    while "Llama 3", "Qwen 2", "Phi 4" and "Gemini 2.5" stayed text in every one. Those results are the expected
    values here.

Expected values are written by hand here, from the rule each case cites.
"""

from __future__ import annotations

import json
import sqlite3
import sys

import pandas as pd
import pytest

from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.vote_files import VotesFileError, read_votes

VOTE = {"track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct", "system_b": "m2:direct", "choice": "A"}
BATTLE = {"model_a": "x", "model_b": "y", "winner": "model_a"}
BOARD = ("UEG", "model_vs_model")


# 1. a vote id of more digits than Python reads


@pytest.mark.parametrize("form", ["csv", "jsonl", "fastchat", "csv float"])
def test_a_vote_id_of_more_digits_than_python_reads_is_refused_not_a_traceback(tmp_path, capsys, form):
    digits = sys.get_int_max_str_digits() + 700  # CPython documents 4300 as the default
    assert digits == 5000
    vote_id = "9" * digits + (".0" if form == "csv float" else "")
    path = tmp_path / ("votes.csv" if form.startswith("csv") else "votes.jsonl" if form == "jsonl" else "b.json")
    if form.startswith("csv"):
        path.write_text("track,kind,system_a,system_b,choice,vote_id\n"
                        f"UEG,model_vs_model,m1:direct,m2:direct,A,{vote_id}\n")
        where = "line 2"
    elif form == "jsonl":
        path.write_text(json.dumps(VOTE | {"vote_id": vote_id}) + "\n")
        where = "line 1"
    else:
        path.write_text(json.dumps([BATTLE | {"vote_id": vote_id}]))
        where = "entry 1 (index 0)"
    with pytest.raises(VotesFileError) as refused:
        read_votes(path, BOARD)
    said = str(refused.value)
    assert said.startswith(f"{path} {where}: field 'vote_id' is '999"), said
    assert "an integer of 5000 digits, over the 4300 digits Python reads as a number" in said, said
    # the command says it in one line, exit 2, as every bad votes file
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {path} {where}: field 'vote_id'") and err.count("\n") == 1, err


def test_a_vote_id_of_4300_digits_is_still_read_as_its_number(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("track,kind,system_a,system_b,choice,vote_id\n"
                    f"UEG,model_vs_model,m1:direct,m2:direct,A,{'7' * 4300}\n")
    assert [v["vote_id"] for v in read_votes(path)] == [int("7" * 4300)]


# 2. a folder's name in either normalization form


NFC, NFD = "Caf\u00e9", "Cafe\u0301"  # UnicodeData.txt: U+00E9 decomposes canonically to U+0065 U+0301


def test_runs_from_folders_named_alike_in_nfc_and_nfd_are_one_dataset(tmp_path, capsys):
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    for model, name in (("m1", NFD), ("m2", NFC)):  # a Mac's copy and a folder named here
        (tmp_path / model).mkdir()
        folder = _folder(tmp_path / model / name, instances, lambda k, j, q: q.answer)
        assert main(["import-results", str(folder), "--model", model, "--db", str(db)]) == 0
    assert NFC.encode() == b"Caf\xc3\xa9"
    capsys.readouterr()
    with sqlite3.connect(db) as connection:  # the store as SQLite holds it
        stored = set(connection.execute("SELECT DISTINCT model, dataset FROM runs"))
    assert stored == {("m1", NFC), ("m2", NFC)}


def test_a_source_folder_is_named_in_nfc_whatever_form_its_name_is_in(tmp_path):
    import shutil

    from realunify_arena.benchmark.loaders import BUNDLED_DIR

    for name in (NFD, NFC):
        shutil.copytree(BUNDLED_DIR, tmp_path / name, ignore=shutil.ignore_patterns("image"))
        assert load(tmp_path / name).name == NFC
        shutil.rmtree(tmp_path / name)
    assert load(tmp_path / "x", name=NFD).name == NFD  # a name given (a store's own) is kept as it is


def test_battle_ids_differing_only_in_normalization_are_one_battle(tmp_path):
    path = tmp_path / "votes.jsonl"
    path.write_text(json.dumps(VOTE | {"battle_id": NFC}) + "\n" + json.dumps(VOTE | {"battle_id": NFD}) + "\n")
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    assert str(refused.value).startswith(f"{path} line 2: battle_id 'Cafe\u0301' again (first at line 1, written there "
                                         "as 'Caf\\xe9', the same text in another Unicode normalization form); ")
    path.write_text(json.dumps(VOTE | {"battle_id": NFC}) + "\n" + json.dumps(VOTE | {"battle_id": "Cafe"}) + "\n")
    assert len(read_votes(path)) == 2  # another id: another battle


# 4. a decimal comma in a tab-separated file


def test_pandas_decimal_comma_vote_ids_in_a_tab_separated_file_are_read_as_whole_numbers(tmp_path):
    frame = pd.DataFrame([VOTE | {"vote_id": 1}, VOTE | {"vote_id": None}, VOTE | {"vote_id": 12}])
    path = tmp_path / "votes.tsv"
    frame.to_csv(path, sep="\t", decimal=",", index=False)
    assert path.read_text().splitlines()[1].endswith("\t1,0")  # what pandas wrote
    assert [v["vote_id"] for v in read_votes(path)] == [1, 0, 12]
    pd.DataFrame([VOTE | {"vote_id": 1.0}, VOTE | {"vote_id": 1.5}]).to_csv(path, sep="\t", decimal=",", index=False)
    with pytest.raises(VotesFileError, match=r"line 3: field 'vote_id' is '1,5'; expected a whole number"):
        read_votes(path)


def test_a_comma_before_three_digits_in_a_tab_separated_file_is_refused_as_ambiguous(tmp_path):
    path = tmp_path / "votes.tsv"
    path.write_text("track\tkind\tsystem_a\tsystem_b\tchoice\tvote_id\n"
                    "UEG\tmodel_vs_model\tm1:direct\tm2:direct\tA\t1,000\n")
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    assert str(refused.value) == (f"{path} line 2: field 'vote_id' is '1,000': in a tab-separated file its comma may "
                                  "group thousands (1000) or mark decimals (1); write the id with no separator, as "
                                  "`export votes` does")
    path.write_text(path.read_text().replace("\t", ";"))  # where ";" separates cells the comma marks decimals
    assert [v["vote_id"] for v in read_votes(path)] == [1]


# 5. long ids a spreadsheet kept to 15 digits


@pytest.mark.parametrize("field, first, second", [
    ("vote_id", "12345678901234567", "12345678901234589"),  # 17 digits: both kept as 123456789012345 and 2 zeros
    ("battle_id", "123456789012345678901", "123456789012345000001"),
])
def test_ids_a_spreadsheet_rounded_into_one_are_said_to_be_rounded(tmp_path, field, first, second):
    def excel(digits: str) -> str:  # 15 significant digits kept, the rest written as zeros (by hand, not the code)
        return digits[:15] + "0" * (len(digits) - 15)

    assert excel(first) == excel(second)
    path = tmp_path / "votes.csv"
    path.write_text(f"track,kind,system_a,system_b,choice,{field}\n"
                    f"UEG,model_vs_model,m1:direct,m2:direct,A,{excel(first)}\n"
                    f"UEG,model_vs_model,m1:direct,m2:direct,B,{excel(second)}\n")
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    said = str(refused.value)
    shown = excel(second) if field == "battle_id" else int(excel(second))
    assert said.startswith(f"{path} line 3: {field} {shown!r} again (first at line 2); "), said
    assert said.endswith("its digits past the 15th are zeros, as a spreadsheet writes back a long number it kept to "
                         "15 significant digits, so two ids may have become one: export the column again as text "
                         "(format it as Text before saving, or read the file with dtype=str), else remove the "
                         "repeated record"), said


@pytest.mark.parametrize("repeated", ["12345678901234567", "000123456789012345", "123456789012340"])
def test_other_repeats_keep_the_joined_export_advice(tmp_path, repeated):
    # a digit past the 15th that is no zero, 15 significant digits after leading zeros, 15 digits: kept whole
    path = tmp_path / "votes.csv"
    path.write_text("track,kind,system_a,system_b,choice,battle_id\n"
                    + f"UEG,model_vs_model,m1:direct,m2:direct,A,{repeated}\n" * 2)
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    assert str(refused.value).endswith("remove the repeated record (the same export joined twice?)")


# 6. a judge's and a dataset's name on the command line in either form


def test_a_judge_name_in_either_form_is_one_judge_and_the_report_finds_it_either_way(tmp_path, capsys):
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    first = _folder(tmp_path / "first", instances, lambda k, j, q: q.answer)
    second = _folder(tmp_path / "second", instances, lambda k, j, q: "yes")
    gemini_nfc, gemini_nfd = "G\u00e9mini", "Ge\u0301mini"
    assert main(["import-results", str(first), "--model", "m1", "--data", "bundled", "--judge-name", gemini_nfc,
                 "--db", str(db)]) == 0
    assert main(["import-results", str(second), "--model", "m1", "--data", "bundled", "--judge-name", gemini_nfd,
                 "--db", str(db), "--replace"]) == 0
    with sqlite3.connect(db) as connection:
        judges = {judge for (judge,) in connection.execute("SELECT DISTINCT judge FROM judgments")}
    assert judges == {gemini_nfc}
    capsys.readouterr()
    out = tmp_path / "reports"
    assert main(["report", "--db", str(db), "--judge", gemini_nfd, "--dataset", "bundled", "--out", str(out)]) == 0
    headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("#")]
    assert headings == [f"### bundled, UEG judged by {gemini_nfc}"], headings


def test_a_dataset_named_on_the_command_line_in_the_other_form_is_found(tmp_path, capsys):
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    (tmp_path / "m").mkdir()
    folder = _folder(tmp_path / "m" / NFC, instances, lambda k, j, q: q.answer)
    assert main(["import-results", str(folder), "--model", "m1", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--dataset", NFD, "--out", str(tmp_path / "r")]) == 0
    assert f"### {NFC}, UEG judged by judge_answer" in capsys.readouterr().out
    assert main(["export", "runs", "--db", str(db), "--dataset", NFD, "--out", str(tmp_path / "e")]) == 0
    assert [f.name for f in (tmp_path / "e").rglob("*.json")] == ["UEG_direct.json"]


# 7. names that mix scripts (UTS #39)


# UTS #39 section 5.1, "Resolved script set" examples: the string and its resolved set (None: ALL)
UTS39_TABLE = [
    ("Circle", {"Latn"}),
    ("\u0421ir\u0441l\u0435", set()),  # Cyrillic С, с, е among Latin i, r, l
    ("\u0421\u0456\u0440\u0441\u04cf\u0435", {"Cyrl"}),  # all Cyrillic
    ("Circ1e", {"Latn"}),
    ("C\U0001d5c2\U0001d5cb\U0001d5bc\U0001d5c5\U0001d5be", {"Latn"}),  # C and mathematical sans-serif letters
    ("\U0001d5a2\U0001d5c2\U0001d5cb\U0001d5bc\U0001d5c5\U0001d5be", None),  # all mathematical: ALL
    ("\u3006\u5207", {"Hani", "Hanb", "Jpan", "Kore"}),
    ("\u306d\u30ac", {"Jpan"}),
]


@pytest.mark.parametrize("text, resolved", UTS39_TABLE)
def test_the_resolved_script_set_is_uts39s(text, resolved):
    from realunify_arena.shown import _resolved_scripts, mixed_script

    found = _resolved_scripts(text)
    assert (found if found is None else found & {"Latn", "Cyrl", "Hani", "Hanb", "Jpan", "Kore"}) == resolved
    assert mixed_script(text) == (resolved == set())


@pytest.mark.parametrize("name, mixed", [
    ("g\u0440t-4", True),  # Cyrillic er among Latin letters
    ("GPT-4\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", True),  # Latin and Greek: below Moderately Restrictive
    ("GPT-4 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", False),  # each word one script: two languages
    ("RealUnify_\u0434\u0430\u043d\u043d\u044b\u0435", False),  # a Latin word and a Cyrillic word
    ("RealUnify_\u0434\u0430\u043d\u043d\u044b\u0435.bundl\u0435d", True),  # a Cyrillic "е" inside a Latin word
    ("Qwen \u901a\u4e49\u5343\u95ee", False),  # Latin and Han: Highly Restrictive
    ("\ud55c\uad6d\uc5b4 \ubaa8\ub378 7B", False),  # Hangul and Latin: Highly Restrictive
    ("Jais \u0639\u0631\u0628\u064a", False),  # Latin and one other script but Cyrillic or Greek
    ("ab\u3042\ud55c", True),  # Latin, Hiragana and Hangul: no combination UTS #39 allows
    ("Caf\u00e9", False),
])
def test_latin_mixed_with_cyrillic_or_greek_is_found_and_cjk_names_are_not(name, mixed):
    from realunify_arena.shown import mixed_script

    assert mixed_script(name) is mixed


def test_a_fastchat_name_passing_for_another_is_shown_apart_and_named(tmp_path, capsys):
    spoof, cjk = "g\u0440t-4", "Qwen \u901a\u4e49\u5343\u95ee"
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps([{"model_a": "gpt-4", "model_b": "claude", "winner": "model_a"},
                                {"model_a": spoof, "model_b": "claude", "winner": "model_a"},
                                {"model_a": cjk, "model_b": "claude", "winner": "model_b"}]))
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model", "--rounds", "0",
                 "--min-votes", "1"]) == 0
    out, err = capsys.readouterr()
    cells = {line.split(" | ")[1] for line in out.splitlines() if line.startswith("| ") and " | " in line}
    assert {"gpt-4", "'g\\\\u0440t-4'", cjk, "claude"} <= cells, cells  # the spoof as ascii writes it, escaped
    assert f"note: {path}: 'g\\u0440t-4' mixes a Cyrillic or Greek letter with Latin ones" in err, err
    assert ascii(cjk) not in err


@pytest.mark.parametrize("option", ["folder", "--judge-name"])
def test_a_stored_name_passing_for_another_is_refused_before_anything_is_written(tmp_path, capsys, option):
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:1]
    spoof = "bundl\u0435d" if option == "folder" else "G\u0435mini"  # a Cyrillic ie (U+0435) for the Latin e
    (tmp_path / "r").mkdir()
    folder = _folder(tmp_path / "r" / (spoof if option == "folder" else "gem"), instances, lambda k, j, q: q.answer)
    db = tmp_path / "s.db"
    args = ["import-results", str(folder), "--model", "m1", "--db", str(db)]
    assert main(args + (["--judge-name", spoof] if option == "--judge-name" else [])) == 1
    err = capsys.readouterr().err
    noun = "dataset" if option == "folder" else "judge"
    said = (f"{ascii(spoof)} mixes a Cyrillic or Greek letter with Latin ones (or scripts no language writes "
            f"together: UTS #39), so it would be shown as another {noun}'s name")
    assert said in err, err
    assert not db.exists()
    # as the refusal advises: --data names the dataset; a judge name of Latin and Han is taken
    taken = ["--judge-name", "Gemini \u901a\u4e49"] if option == "--judge-name" else ["--data", "bundled"]
    assert main(args + taken) == 0


# 9. a judge name holding a comma in report --judges


def test_a_judge_name_holding_a_comma_can_be_compared_quoted_as_in_a_csv_row(tmp_path, capsys):
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    for judge, reply in (("Gemini, 2.5", lambda k, j, q: q.answer), ("qwen", lambda k, j, q: "yes")):
        folder = _folder(tmp_path / judge.replace(",", ""), instances, reply)
        assert main(["import-results", str(folder), "--model", "m1", "--data", "bundled", "--judge-name", judge,
                     "--db", str(db)]) == 0
    capsys.readouterr()
    out = tmp_path / "reports"
    assert main(["report", "--db", str(db), "--judges", '"Gemini, 2.5", qwen', "--out", str(out)]) == 0
    heading = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("### Judges"))
    assert heading == '### Judges on bundled: "Gemini, 2.5", qwen', heading
    assert main(["report", "--db", str(db), "--judges", "Gemini, 2.5,qwen", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: error: --judges Gemini, 2.5,qwen: judge(s) ['Gemini', '2.5'] judged no UEG runs")
    assert err.rstrip().endswith("a name holding a comma is written in double quotes, as in a CSV row (--judges "
                                 "'\"Gemini, 2.5\",qwen')"), err


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_data_folder_holding_a_comma_is_one_source_when_quoted(tmp_path, monkeypatch, given):
    import shutil

    from realunify_arena.benchmark.loaders import BUNDLED_DIR
    from realunify_arena.settings import Settings

    folder = tmp_path / "RealUnify, v2"
    shutil.copytree(BUNDLED_DIR, folder)
    raw = f'bundled, "{folder}"'
    if given == "flag":
        settings = Settings.from_cli(["--data", raw])
    else:
        monkeypatch.setenv("REALUNIFY_DATA", raw)
        settings = Settings.from_cli([])
    assert settings.data == ("bundled", str(folder))
    assert load(settings.data[1]).name == "RealUnify, v2" and len(load(settings.data[1]).instances) == 120


def test_the_apps_public_source_name_is_the_dataset_name_and_a_link_finds_it_in_either_form(tmp_path):
    import shutil

    from realunify_arena.arena import Arena
    from realunify_arena.benchmark.loaders import BUNDLED_DIR
    from realunify_arena.cards import load_cards
    from realunify_arena.context import AppContext
    from realunify_arena.runtime import ModelPool
    from realunify_arena.settings import Settings
    from realunify_arena.store import Store as RealStore

    folder = tmp_path / NFD  # a Mac's copy
    shutil.copytree(BUNDLED_DIR, folder)
    store = RealStore.open(tmp_path / "arena.db")
    ctx = AppContext(Settings(data=(str(folder),), judge="human", db=tmp_path / "arena.db"), store,
                     ModelPool(load_cards()), Arena(store))
    assert ctx.source_names() == [NFC]
    assert ctx.configured_source(NFC) == ctx.configured_source(NFD) == str(folder)
    assert ctx.dataset(NFD).name == NFC and len(ctx.dataset(NFC).instances) == 120


# 10. a shard count from a file's name


def test_a_huge_shard_count_in_a_file_name_names_the_first_shard_left_out(tmp_path):
    from realunify_arena.adapters.checkpoint_files import _index_problem

    shard = "model-00001-of-99999999999.safetensors"
    (tmp_path / shard).write_bytes(b"")  # its content is read only after the index's names are checked
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a.weight": shard}}))
    shards, problem = _index_problem(index)
    assert shards == []
    assert problem == (f"{index}: field 'weight_map' names no tensor of model-00000000002-of-99999999999.safetensors "
                       f"(and {tmp_path} lacks it); expected every shard of the numbered set its shard names count "
                       "(their tensors would be left at random values)")
    # a whole set named: no problem from the names (two shards of two)
    for i in (1, 2):
        (tmp_path / f"m-{i}-of-2.bin").write_bytes(b"")
    index.write_text(json.dumps({"weight_map": {"a": "m-1-of-2.bin", "b": "m-2-of-2.bin"}}))
    assert _index_problem(index) == ([tmp_path / "m-1-of-2.bin", tmp_path / "m-2-of-2.bin"], None)


# 11. names a spreadsheet in another language reads as a date or a truth value


# (name, the LibreOffice locale that converted it, what it showed): observed with LibreOffice Calc 7.4
CONVERTED = [("Dez 3", 1031, "12/01/2003"), ("Dez. 3", 1031, "12/01/2003"), ("Mai 3", 1031, "05/01/2003"),
             ("Dez 2026", 1031, "12/01/2026"), ("Okt 12", 1031, "10/01/2012"), ("M\u00e4rz 3", 1031, "03/01/2003"),
             ("WAHR", 1031, "TRUE"), ("FALSCH", 1031, "FALSE"), ("d\u00e9c. 3", 1036, "12/01/2003"),
             ("VRAI", 1036, "TRUE"), ("dic 3", 1034, "12/01/2003"), ("gen 3", 1040, "01/01/2003"),
             ("set 3", 1040, "09/01/2003"), ("mag 3", 1040, "05/01/2003"), ("ott 3", 1040, "10/01/2003"),
             ("VERO", 1040, "TRUE"), ("FALSO", 1040, "FALSE"), ("fev 3", 2070, "02/01/2003"),
             ("out 3", 2070, "10/01/2003"), ("maio 3", 2070, "05/01/2003"), ("VERDADEIRO", 2070, "TRUE"),
             ("mrt 3", 1043, "03/01/2003"), ("mei 3", 1043, "05/01/2003"), ("maart 3", 1043, "03/01/2003"),
             ("okt 3", 1043, "10/01/2003"), ("WAAR", 1043, "TRUE"), ("ONWAAR", 1043, "FALSE")]


@pytest.mark.parametrize("name, locale, shown", CONVERTED)
def test_a_name_a_spreadsheet_in_another_language_converts_is_text_in_a_csv(name, locale, shown):
    from realunify_arena.spreadsheet import spreadsheet_safe

    assert spreadsheet_safe(name) == "'" + name


@pytest.mark.parametrize("name", ["Llama 3", "Qwen 2", "Phi 4", "Gemini 2.5", "Janus Pro", "Mars 7B"])
def test_names_every_one_of_those_spreadsheets_kept_as_text_stay_as_written(name):
    from realunify_arena.spreadsheet import spreadsheet_safe

    assert spreadsheet_safe(name) == name


def test_a_judge_stored_decomposed_by_an_earlier_version_is_found_in_either_form(tmp_path, capsys):
    """A store written before names were put in NFC holds a judge as it was typed ('Ge'+U+0301 'mini'): --judge
    in that form or in NFC names it, as import-results now stores either form as one judge. Before, --judge was
    put in NFC and compared with the stored text, so no form found it ("judged no UEG runs; stored judges:
    G\u00e9mini", headed alike)."""
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    folder = _folder(tmp_path / "first", instances, lambda k, j, q: q.answer)
    gemini_nfc, gemini_nfd = "G\u00e9mini", "Ge\u0301mini"
    assert main(["import-results", str(folder), "--model", "m1", "--data", "bundled", "--judge-name", gemini_nfc,
                 "--db", str(db)]) == 0
    with sqlite3.connect(db) as connection:  # as an earlier version stored it
        connection.execute("UPDATE judgments SET judge = ?", (gemini_nfd,))
    for asked in (gemini_nfd, gemini_nfc):
        capsys.readouterr()
        out = tmp_path / "reports"
        assert main(["report", "--db", str(db), "--judge", asked, "--dataset", "bundled", "--out", str(out)]) == 0
        headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("#")]
        assert headings == [f"### bundled, UEG judged by {gemini_nfd}"], headings
        assert main(["export", "runs", "--db", str(db), "--judge", asked, "--out", str(tmp_path / asked)]) == 0
    assert main(["import-results", str(folder), "--model", "m1", "--data", "bundled", "--judge-name", "other",
                 "--db", str(db), "--replace"]) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--judges", f"{gemini_nfc},other", "--out", str(tmp_path / "j")]) == 0
    assert gemini_nfd in capsys.readouterr().out


def test_a_dataset_stored_decomposed_by_an_earlier_version_is_found_in_either_form(tmp_path, capsys):
    """A store written before folder names were put in NFC holds a dataset named as macOS wrote the folder
    ('Cafe'+U+0301): report and export --dataset in that form or in NFC name it. Before, --dataset was put in NFC
    and compared with the stored text, so no form found it ("holds no runs of dataset 'Caf\u00e9'")."""
    from tests.unit.test_import_second_judge import _folder

    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    (tmp_path / "m").mkdir()
    folder = _folder(tmp_path / "m" / NFC, instances, lambda k, j, q: q.answer)
    assert main(["import-results", str(folder), "--model", "m1", "--db", str(db)]) == 0
    with sqlite3.connect(db) as connection:  # as an earlier version stored it
        for table in ("runs", "judgments"):
            if "dataset" in {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}:
                connection.execute(f"UPDATE {table} SET dataset = ?", (NFD,))
        connection.execute("UPDATE meta SET key = ? WHERE key = ?", (f"dataset_source:{NFD}", f"dataset_source:{NFC}"))
    for asked in (NFD, NFC):
        capsys.readouterr()
        assert main(["report", "--db", str(db), "--dataset", asked, "--out", str(tmp_path / "r")]) == 0
        assert f"### {NFD}, UEG judged by judge_answer" in capsys.readouterr().out
        out = tmp_path / f"e{len(asked)}"
        assert main(["export", "runs", "--db", str(db), "--dataset", asked, "--out", str(out)]) == 0
        assert [f.name for f in out.rglob("*.json")] == ["UEG_direct.json"]
