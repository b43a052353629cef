"""An output path a command cannot write (a folder where a file goes, a file where a folder goes) is one
``COMMAND: error: PATH: why`` line and exit 1, through ``cli.main`` as a user runs it, never a traceback;
a backup that cannot be put in place leaves no ``.partial`` file behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realunify_arena.cli import main
from realunify_arena.settings import Settings, SettingsError
from realunify_arena.store import Store


@pytest.fixture
def paths(tmp_path):
    db = tmp_path / "arena.db"
    Store.open(db).close()
    results = tmp_path / "results"
    results.mkdir()
    (results / "GEU_direct.json").write_text(json.dumps([{
        "index": 1, "task_type": "mental_tracking", "input_image": "./a.png", "question": "q?",
        "option": ["a", "b", "c", "d"], "answer": "B", "response": "B"}]))
    folder = tmp_path / "a-folder"
    folder.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return {"db": str(db), "results": str(results), "folder": str(folder), "file": str(a_file)}


@pytest.mark.parametrize("argv, culprit", [
    (["export", "votes", "--db", "{db}", "--out", "{folder}"], "{folder}"),
    (["leaderboard", "--db", "{db}", "--out", "{folder}"], "{folder}"),
    (["score-official", "{results}", "--csv", "{folder}"], "{folder}"),
    (["score-official", "{results}", "--json", "{folder}"], "{folder}"),
    (["generate-instances", "--out", "{file}", "--per-category", "1", "--categories", "world_knowledge"],
     "{file}"),
    (["backup", "--db", "{db}", "{folder}"], "{folder}"),
])
def test_an_output_path_that_cannot_be_written_is_one_error_line(paths, capsys, argv, culprit):
    argv = [a.format(**paths) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{argv[0]}: error: ") and len(err.strip().splitlines()) == 1, err
    assert f"{culprit.format(**paths)}: " in err and "Traceback" not in err
    assert not list(Path(paths["folder"]).parent.glob("*.partial"))


@pytest.mark.parametrize("extra", [[], ["--paired"]])
def test_a_plot_file_of_a_format_matplotlib_cannot_write_is_a_usage_error(paths, capsys, tmp_path, extra):
    """Before: ``report --plot bars.xyz`` computed the tables, then matplotlib's ValueError was a traceback."""
    assert main(["report", "--db", paths["db"], "--plot", str(tmp_path / "bars.xyz"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: error: --plot ") and "'xyz'" in err and "png" in err and "Traceback" not in err


def test_allow_large_models_reads_yes_and_no_like_the_app_and_refuses_anything_else(tmp_path, capsys, monkeypatch):
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "tiny-janus.yaml").write_text((Path(__file__).parents[2] / "models" / "tiny-janus.yaml").read_text())
    monkeypatch.delenv("REALUNIFY_ALLOW_LARGE_MODELS", raising=False)
    for value in ("--allow-large-models", "--allow-large-models=no", "--allow-large-models=YES"):
        assert main(["models", "--models-dir", str(cards), value]) == 0, value
        assert "tiny-janus" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["models", "--models-dir", str(cards), "--allow-large-models=maybe"])
    assert exit_.value.code == 2
    assert "--allow-large-models" in capsys.readouterr().err
    for value in ("perhaps", ""):  # refused as app.py refuses it (Settings.from_cli), by the same rule
        monkeypatch.setenv("REALUNIFY_ALLOW_LARGE_MODELS", value)
        assert main(["models", "--models-dir", str(cards)]) == 2
        err = capsys.readouterr().err
        assert f"REALUNIFY_ALLOW_LARGE_MODELS: expected one of 1, true, yes, on, 0, false, no, off, got {value!r}" in err
        with pytest.raises(SettingsError) as app_refusal:
            Settings.from_cli([], env={"REALUNIFY_ALLOW_LARGE_MODELS": value})
        assert str(app_refusal.value) in err


def test_eval_blames_the_seed_flag_or_the_card_whichever_holds_the_bad_setting(tmp_path, capsys):
    cards = tmp_path / "cards"
    cards.mkdir()
    text = (Path(__file__).parents[2] / "models" / "tiny-janus.yaml").read_text()
    (cards / "tiny-janus.yaml").write_text(text)
    (cards / "wide.yaml").write_text(text.replace("width: 32", "width: 100000"))
    base = ["eval", "--models-dir", str(cards), "--judge", "tiny-janus", "--data", "bundled", "--track", "GEU",
            "--limit", "1", "--db", str(tmp_path / "e.db")]
    assert main(base + ["--model", "tiny-janus", "--seed", "-1"]) == 2  # the command line's value: usage
    err = capsys.readouterr().err
    assert f"--seed -1: outside the allowed range 0 to {2**32 - 1}" in err
    assert main(base + ["--model", "wide"]) == 1  # the card's own default: fix the card, not the command
    err = capsys.readouterr().err
    assert str(cards / "wide.yaml") in err and "width = 100000" in err and "Traceback" not in err


def test_a_write_the_disk_did_not_confirm_is_one_error_line_and_the_command_can_be_run_again(tmp_path, capsys,
                                                                                             monkeypatch):
    from failing_sync import FailingSync

    from realunify_arena import walsync
    from realunify_arena.trace import Trace
    source, target = tmp_path / "node.db", tmp_path / "arena.db"
    node = Store.open(source)
    node.save_trace(Trace("UEG_3_world_knowledge", "m1", "direct", {"seed": 0}), "bundled")
    node.close()
    sync = FailingSync(walsync._sync_file)
    monkeypatch.setattr(walsync, "_sync_file", sync)
    sync.fail_next(after=1)  # opening the target commits (and syncs) once, the source (read only) not; then the run
    assert main(["merge", str(source), "--db", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("merge: error: ") and "could not sync the write-ahead log" in err and "try again" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert main(["merge", str(source), "--db", str(target)]) == 0  # again: the run is there, once
    assert Store.file_counts(target)["runs"] == 1


def test_a_contact_sheet_of_categories_with_no_geu_task_is_one_error_line_and_writes_nothing(tmp_path, capsys):
    """Before: the set was written, then contact_sheet([]) raised ValueError, a traceback."""
    out = tmp_path / "set"
    assert main(["generate-instances", "--out", str(out), "--per-category", "1", "--categories", "world_knowledge",
                 "--contact-sheet", str(tmp_path / "sheet.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("generate-instances: error: --contact-sheet ") and len(err.strip().splitlines()) == 1, err
    assert "mental_tracking" in err and not out.exists() and not (tmp_path / "sheet.png").exists()


VOTE = '"track": "UEG", "kind": "model_vs_model", "system_a": "a:direct", "system_b": "b:direct"'


@pytest.mark.parametrize("line, message", [
    ('{' + VOTE + ', "winner": ["model_a"]}', "line 1: choice ['model_a'] is not one of"),
    ('{' + VOTE + ', "choice": {"A": 1}}', "line 1: choice {'A': 1} is not one of"),
    ('{' + VOTE + ', "choice": "A", "vote_id": Infinity}', "line 1: vote_id inf is not a whole number"),
])
def test_a_hand_edited_votes_file_with_a_wrong_json_type_is_one_error_line(tmp_path, capsys, line, message):
    """Before: a list or object as the choice/winner, or an infinite vote_id, was a Python traceback."""
    path = tmp_path / "votes.jsonl"
    path.write_text(line + "\n")
    assert main(["leaderboard", "--votes", str(path), "--rounds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {path} ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_votes_csv_with_an_overlong_field_is_one_error_line_naming_the_line(tmp_path, capsys):
    """Before: the csv module's field-size limit surfaced as a traceback (_csv.Error)."""
    path = tmp_path / "votes.csv"
    path.write_text("track,kind,system_a,system_b,choice\nUEG,model_vs_model,a,b,A\n"
                    f"UEG,model_vs_model,a,{'b' * 200_000},A\n")
    assert main(["leaderboard", "--votes", str(path), "--rounds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {path} line 3: not CSV") and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("name, content", [
    ("votes.csv", "track,kind,system_a,system_b,choice\r\nUEG,model_vs_model,a:direct,b:direct,A\r\n"),
    ("votes.jsonl", '{' + VOTE + ', "choice": "A"}\n'),
])
def test_a_votes_file_saved_with_a_byte_order_mark_is_read(tmp_path, capsys, name, content):
    """A spreadsheet or Windows editor saves UTF-8 with a BOM (and CRLF); before, the BOM hid the 'track'
    column and a good file was refused."""
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode())
    assert main(["leaderboard", "--votes", str(path), "--rounds", "0", "--min-votes", "0", "--format", "json",
                 "--track", "UEG", "--kind", "model_vs_model"]) == 0
    out = capsys.readouterr().out
    assert "a:direct" in out and "b:direct" in out


def test_ctrl_c_while_the_command_line_is_read_is_exit_130_without_a_traceback(capsys, monkeypatch):
    """Before: a Ctrl-C in the first half second (building the parser imports every command module) escaped
    cli.main as a KeyboardInterrupt traceback, and the process died of SIGINT instead of exiting 130."""
    from realunify_arena import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["leaderboard", "--rounds", "0"]) == 130
    assert capsys.readouterr().err == "leaderboard: interrupted\n"


@pytest.mark.parametrize("categories", ["", " , ", ","])
def test_categories_naming_no_task_type_is_a_usage_error_and_an_existing_set_is_kept(tmp_path, capsys, categories):
    """Before: --categories '' (or only commas) generated an empty set; with --overwrite it replaced, i.e.
    deleted, the set already in --out, then failed with 'not a RealUnify source'."""
    out = tmp_path / "set"
    assert main(["generate-instances", "--out", str(out), "--per-category", "1",
                 "--categories", "world_knowledge"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["generate-instances", "--out", str(out), "--categories", categories, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("generate-instances: error: --categories ") and "names no task type" in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_report_with_a_judge_that_judged_nothing_is_a_usage_error(tmp_path, capsys):
    """Before: --judge naming no stored judge (a typo) printed and wrote a table of blanks and exited 0."""
    db = tmp_path / "arena.db"
    Store.open(db).close()
    out = tmp_path / "reports"
    assert main(["report", "--db", str(db), "--judge", "gtp-4.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: error: --judge gtp-4.1: judged no UEG runs") and "stored judges: none" in err, err
    assert not out.exists()


def test_export_official_with_a_judge_that_judged_nothing_is_a_usage_error(tmp_path, capsys):
    """Before: --judge naming no stored judge wrote the result files without any judge_answer and exited 0."""
    db = tmp_path / "arena.db"
    Store.open(db).close()
    out = tmp_path / "out"
    assert main(["export", "--format", "official", "--db", str(db), "--judge", "gtp-4.1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("export: error: --judge gtp-4.1: judged no UEG runs") and "stored judges: none" in err, err
    assert not out.exists()


def test_export_official_with_only_runs_the_model_cannot_do_says_there_is_nothing_to_write(tmp_path, capsys):
    """Before: a store holding only not_supported runs (tiny-janus on GEU stepwise) exported nothing, printed
    nothing and exited 0, as if files had been written; with no runs at all it is one error line, exit 1."""
    from realunify_arena.trace import Status, Trace

    db = tmp_path / "arena.db"
    store = Store.open(db)
    store.save_trace(Trace("GEU_0_mental_tracking", "m", "stepwise", {"seed": 0}, [], Status.NOT_SUPPORTED),
                     "bundled")
    store.close()
    out = tmp_path / "out"
    assert main(["export", "--format", "official", "--db", str(db), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("export: error: ") and "not_supported" in err and len(err.strip().splitlines()) == 1, err
    assert not list(out.rglob("*.json")) if out.exists() else True
