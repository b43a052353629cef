"""An output path a command cannot write (a folder where a file goes, a file where a folder goes) is one
``COMMAND: error: OPTION PATH: why`` line and exit 2, through ``cli.main`` as a user runs it, never a traceback;
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


@pytest.mark.parametrize("argv, message", [
    (["export", "votes", "--db", "{db}", "--out", "{folder}"], "--out {folder}: names a folder, not a file"),
    (["leaderboard", "--db", "{db}", "--out", "{folder}"], "--out {folder}: names a folder, not a file"),
    (["score-official", "{results}", "--csv", "{folder}"], "--csv {folder}: names a folder, not a file"),
    (["score-official", "{results}", "--json", "{folder}"], "--json {folder}: names a folder, not a file"),
    (["report", "--db", "{db}", "--plot", "{folder}"], "--plot {folder}: names a folder, not a file"),
    (["export", "votes", "--db", "{db}", "--out", "{file}/v.jsonl"], "--out {file}/v.jsonl: lies under {file}, a"
                                                                      " file, not a folder"),
    (["leaderboard", "--db", "{db}", "--out", "{file}/b.md"], "--out {file}/b.md: lies under {file}, a file, not a"
                                                              " folder"),
    (["score-official", "{results}", "--csv", "{file}/t.csv"], "--csv {file}/t.csv: lies under {file}, a file,"),
    (["score-official", "{results}", "--json", "{file}/a/t.json"], "--json {file}/a/t.json: lies under {file}, a"),
    (["report", "--db", "{db}", "--plot", "{file}/bars.png"], "--plot {file}/bars.png: lies under {file}, a file"),
    (["report", "--db", "{db}", "--paired", "--plot", "{file}/f.png"], "--plot {file}/f.png: lies under {file}"),
    (["backup", "--db", "{db}", "{file}/copy.db"], "backup OUT {file}/copy.db: lies under {file}, a file, not a"),
    (["generate-instances", "--out", "{folder}/set", "--per-category", "1", "--categories", "mental_tracking",
      "--contact-sheet", "{file}/sheet.png"], "--contact-sheet {file}/sheet.png: lies under {file}, a file, not a"),
])  # backup OUT a folder: refused before any write, a usage error (test_blamed_files.py)
def test_an_output_file_that_cannot_be_written_is_a_usage_error_naming_the_option(paths, capsys, argv, message):
    """An output FILE option that names a folder, or whose path runs through a file, is refused before any work,
    like an ``--out`` folder that is a file (exit 2, the option named). Before: the write's bare OS words after
    the work, "a-file: File exists" or "a-folder: Is a directory" (exit 1), naming no option, and
    generate-instances had written its whole set before refusing its --contact-sheet."""
    before = Path(paths["file"]).read_text()
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{argv[0]}: error: {message.format(**paths)}") and err.count("\n") == 1, err
    assert Path(paths["file"]).read_text() == before
    assert not list(Path(paths["folder"]).iterdir()), "something was written before the refusal"
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
    ('{' + VOTE + ', "choice": "A", "vote_id": Infinity}', "line 1: field 'vote_id' is inf; expected a whole number"),
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


def _store_files(db: Path) -> list[str]:
    """The store file and its companions (``.lock``, ``.sync``, ``-wal`` ...) at ``db``."""
    return sorted(p.name for p in db.parent.glob(db.name + "*"))


@pytest.mark.parametrize("what", ["missing-folder", "bad-json"])
def test_import_results_that_refuses_its_input_creates_no_store(tmp_path, capsys, what):
    """Before: the store (with .lock and .sync) was created, then the input refused: 'nothing was written'."""
    source = tmp_path / "nonexistent"
    if what == "bad-json":
        source.mkdir()
        (source / "GEU_direct.json").write_text("[{")
    db = tmp_path / "new.db"
    missing = what == "missing-folder"  # a usage error (exit 2), like every input path naming nothing
    assert main(["import-results", str(source), "--model", "m", "--db", str(db)]) == (2 if missing else 1)
    err = capsys.readouterr().err
    assert err.startswith("import-results: error: ")
    assert (f"PATH {source}: no such file or folder" if missing else "GEU_direct.json: invalid JSON") in err
    assert missing or "nothing was written" in err
    assert _store_files(db) == []


def test_import_results_whose_image_cannot_be_decoded_creates_no_store(tmp_path, capsys):
    """An image that exists (so it hashes) but is no image is found before a new store is created."""
    source = tmp_path / "results"
    source.mkdir()
    (source / "not.png").write_bytes(b"not an image")
    (source / "UEG_direct.json").write_text(json.dumps([{
        "index": 1, "task_type": "mental_reconstruction", "prompt": "a cat", "question_list": [
            {"question": "Is there a cat?", "answer": "yes"}], "generated_image": str(source / "not.png")}]))
    db = tmp_path / "new.db"
    code = main(["import-results", str(source), "--model", "m", "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 1 and "nothing was written" in err, err
    assert _store_files(db) == []


def test_merge_of_a_source_that_is_not_a_store_creates_no_target(tmp_path, capsys):
    good = tmp_path / "node0.db"
    Store.open(good).close()
    bad = tmp_path / "node1.db"
    bad.write_bytes(b"this is not a SQLite file" * 100)
    target = tmp_path / "merged.db"
    assert main(["merge", str(good), str(bad), "--db", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("merge: error: ") and str(bad) in err and "Traceback" not in err
    assert _store_files(target) == []


def test_eval_of_a_model_that_cannot_run_here_creates_no_store(tmp_path, capsys, monkeypatch):
    """Before: the new store was created, then loading the model (no API key) refused the eval."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = tmp_path / "new.db"
    assert main(["eval", "--model", "gpt-4.1", "--track", "GEU", "--limit", "1", "--no-progress",
                 "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "eval: error: --model gpt-4.1 cannot run here: API key variable OPENAI_API_KEY is unset" in err
    assert "Traceback" not in err
    assert _store_files(db) == []


BAD_MODEL_NAMES = ["two\nlines", "a:direct", "../up", "org/model", "bell\x07", "x" * 5000, "x" * 101, "with space",
                   ".hidden", ""]


@pytest.mark.parametrize("name", BAD_MODEL_NAMES, ids=lambda name: repr(name)[:20])
def test_import_results_refuses_a_model_name_that_is_no_card_name(paths, tmp_path, capsys, name):
    """Before: any name was stored; a newline broke report's tables, 5000 characters made export fail with
    'File name too long'. The rule is a model card's: letters, digits, '.', '_', '-', at most 100."""
    db = tmp_path / "new.db"
    assert main(["import-results", paths["results"], "--model", name, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("import-results: error: --model ") and len(err.strip().splitlines()) == 1, err
    assert len(err) < 400 and "letters, digits" in err and "Traceback" not in err
    assert _store_files(db) == []


@pytest.mark.parametrize("name", ["a", "janus-pro-1b", "Qwen2.5-VL_7B", "x" * 100], ids=lambda name: name[:20])
def test_import_results_takes_a_model_name_like_a_card_name_and_only_such(paths, tmp_path, capsys, name):
    db = tmp_path / "ok.db"
    assert main(["import-results", paths["results"], "--model", f"{name}:direct", "--db", str(db)]) == 2
    assert main(["import-results", paths["results"], "--model", name, "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith(f"{name} on ")


def test_score_official_refuses_a_table_name_that_is_no_model_name(paths, capsys):
    assert main(["score-official", paths["results"], "--model", "a\n| b |"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("score-official: error: --model 'a\\n| b |': expected ") and err.count("\n") == 1, err


@pytest.mark.parametrize("argv", [["import-results", "{results}", "--model", "{secret}", "--db", "{db}"],
                                  ["import-results", "{results}", "--model", "m", "--judge-name", "j-{secret}",
                                   "--db", "{db}"],
                                  ["score-official", "{results}", "--model", "{secret}"]])
def test_a_secret_pasted_as_a_name_is_refused_masked_and_nothing_is_stored(paths, tmp_path, capsys, monkeypatch,
                                                                             argv):
    """A model or judge name is stored and shown (the store, exports, the Leaderboard): a token pasted as one
    was imported and printed whole. Now a usage error, one line, the value masked, no store created."""
    secret = "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8P"  # 40 characters, the shape of a service token
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)
    db = tmp_path / "new.db"
    args = [a.format(**paths, secret=secret).replace(paths["db"], str(db)) for a in argv]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "holds the value of a secret" in captured.err, captured.err
    assert secret[:8] not in captured.err + captured.out
    assert _store_files(db) == []


def test_a_card_whose_file_name_is_no_model_name_is_a_broken_card(tmp_path, capsys):
    from realunify_arena.cards import CardError, load_cards

    cards = tmp_path / "cards"
    cards.mkdir()
    for stem in ("good-card", "bad:card", "bad card"):
        (cards / f"{stem}.yaml").write_text(json.dumps({
            "family": "openai", "description": "d", "capabilities": ["understand"], "checkpoint": "gpt-4.1",
            "endpoint": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}))
    problems: list[CardError] = []
    assert list(load_cards(cards, problems=problems)) == ["good-card"]
    assert sorted(p.path.name for p in problems) == ["bad card.yaml", "bad:card.yaml"]
    assert all("the file name (the card's name) 'bad" in str(p) for p in problems)


def test_merge_refuses_a_source_holding_a_model_name_report_and_export_cannot_write(tmp_path, capsys):
    import sqlite3

    from realunify_arena.trace import Step, StepRole, Trace

    source = tmp_path / "old.db"
    store = Store.open(source)
    try:
        store.save_trace(Trace("GEU_1_mental_tracking", "fine", "direct", {},
                               [Step(StepRole.ANSWER, "p", text="A")]), "bundled")
        store.save_trace(Trace("GEU_2_mental_tracking", "fine", "direct", {},
                               [Step(StepRole.ANSWER, "p", text="A")]), "bundled")
    finally:
        store.close()
    with sqlite3.connect(source) as conn:  # as an import before the model name rule stored it
        conn.execute("update runs set model = 'two\nlines' where instance_uid = 'GEU_2_mental_tracking'")
    conn.close()
    target = tmp_path / "merged.db"
    assert main(["merge", str(source), "--db", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"merge: error: {source}: its runs are stored under model name 'two\\nlines'"), err
    assert len(err.strip().splitlines()) == 1 and _store_files(target) == []


@pytest.mark.parametrize("system", ["a\nb:direct", "a:b:direct", "a", "x" * 200 + ":direct"],
                         ids=lambda name: repr(name)[:20])
def test_a_votes_file_naming_no_system_is_one_error_line(tmp_path, capsys, system):
    path = tmp_path / "votes.jsonl"
    path.write_text(json.dumps({"track": "UEG", "kind": "model_vs_model", "system_a": "b:direct",
                                "system_b": system, "choice": "A"}) + "\n")
    assert main(["leaderboard", "--votes", str(path), "--rounds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {path} line 1: system_b ") and "'<model>:<direct|stepwise>'" in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 500, err


@pytest.mark.parametrize("argv, message", [
    (["space-card", "--space", "{missing}"], "--space {missing}: no such file"),
    (["space-card", "--space", "{folder}", "--check"], "--space {folder}: a folder, not a file"),
    (["space-card", "--readme", "{folder}", "--check"], "--readme {folder}: a folder, not a file"),
    (["space-card", "--readme", "{missing}/README.md"], "--readme {missing}/README.md: no folder {missing} to"),
    (["leaderboard", "--votes", "{missing}"], "--votes {missing}: no such file"),
    (["leaderboard", "--votes", "{folder}"], "--votes {folder}: a folder, not a file"),
])
def test_an_input_file_option_naming_no_file_is_a_usage_error_naming_the_option(paths, tmp_path, capsys, argv,
                                                                                message):
    """Before: space-card --space /nonexistent was '[Errno 2] No such file or directory', exit 1."""
    names = {**paths, "missing": str(tmp_path / "nonexistent")}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{argv[0]}: error: {message.format(**names)}"), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("argv, message", [
    (["export", "--format", "official", "--db", "{db}", "--out", "{file}"], "--out {file}: names a file, not a folder"),
    (["export", "runs", "--db", "{db}", "--out", "{file}/sub"], "--out {file}/sub: lies under {file}, a file, not"),
    (["report", "--db", "{db}", "--out", "{file}"], "--out {file}: names a file, not a folder"),
    (["report", "--db", "{db}", "--paired", "--out", "{file}"], "--out {file}: names a file, not a folder"),
    (["generate-instances", "--out", "{file}", "--per-category", "1", "--categories", "world_knowledge"],
     "--out {file}: names a file, not a folder"),
])
def test_an_out_folder_that_is_a_file_is_a_usage_error_naming_the_option(paths, capsys, argv, message):
    """Before: export wrote up to '{file}/bundled/.../images: Not a directory' (exit 1); report and
    generate-instances failed the same way, after the work was done."""
    before = Path(paths["file"]).read_text()
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{argv[0]}: error: {message.format(**paths)}") and err.count("\n") == 1, err
    assert Path(paths["file"]).read_text() == before


def test_report_whose_default_out_folder_is_a_file_says_so(paths, capsys):
    reports = Path(paths["db"]).parent / "reports"
    reports.write_text("x")
    assert main(["report", "--db", paths["db"]]) == 2
    assert capsys.readouterr().err.startswith(f"report: error: the default --out {reports}: names a file, not a")


@pytest.mark.parametrize("seed", ["-5", str(2**32)])
def test_generate_instances_takes_the_seeds_eval_takes(tmp_path, capsys, seed):
    """Before: generate-instances --seed -5 wrote a set, while eval refused seeds outside 0 to 2**32 - 1."""
    out = tmp_path / "set"
    argv = ["generate-instances", "--out", str(out), "--per-category", "1", "--categories", "world_knowledge"]
    assert main([*argv, "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert err == f"generate-instances: error: --seed {seed}: outside the allowed range 0 to {2**32 - 1}\n"
    assert not out.exists()
    assert main([*argv, "--seed", str(2**32 - 1)]) == 0 and out.is_dir()
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


@pytest.mark.parametrize("argv, named", [
    (["import-results", "{missing}", "--model", "m", "--db", "{db}"], "PATH"),
    (["import-results", "{results}", "--model", "m", "--db", "{db}", "--data", "{missing}"], "--data"),
    (["score-official", "{missing}"], "PATH"),
    (["validate", "{missing}"], "PATH"),
    (["eval", "--model", "tiny-pair", "--judge", "tiny-pair", "--data", "{missing}", "--db", "{db}"], "--data"),
])
def test_an_input_path_that_does_not_exist_is_a_usage_error_naming_it(paths, tmp_path, capsys, argv, named):
    """Like the other input options (``_options.existing_file``): exit 2, one line naming the option (or the
    positional PATH) and the path; before, import-results, score-official and validate exited 1."""
    missing = str(tmp_path / "no-such-results")
    argv = [a.format(**paths, missing=missing) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"{argv[0]}: error: {named} {missing}: no such file or folder\n", err
    assert not Path(missing).exists()


@pytest.mark.parametrize("argv, command", [
    (["leaderboard", "--format", "xml"], "leaderboard"),
    (["eval", "--model", "tiny-pair", "--mode", "sideways"], "eval"),
    (["report", "--no-such-option"], "report"),
    (["no-such-command"], "python -m realunify_arena"),
    ([], "python -m realunify_arena"),
])
def test_a_usage_error_argparse_finds_is_one_error_line_and_exit_2(capsys, argv, command):
    """The README promises one ``COMMAND: error: ...`` line for a command that cannot go on; argparse's own
    usage errors (a bad choice, an unknown option) printed its whole usage block first."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"{command}: error: ") and "--help" in err and "usage:" not in err, err


def test_eval_and_app_refuse_a_judge_card_that_cannot_understand_images_in_one_wording(paths, tmp_path, capsys):
    """qwen-image's card only generates images (capabilities: [generate]), so it cannot answer a polling
    question; eval and app.py say so in the same words (``judge.judge_card_problem``)."""
    import app

    why = "'qwen-image': the card cannot understand images, so it cannot answer polling questions"
    assert main(["eval", "--model", "tiny-pair", "--judge", "qwen-image", "--db", paths["db"]]) == 2
    assert capsys.readouterr().err == f"eval: error: --judge {why}\n"
    assert app.main(["--judge", "qwen-image", "--db", str(tmp_path / "app.db")]) == 2
    assert f"app.py: --judge {why}" in capsys.readouterr().err


def test_a_votes_file_that_is_a_device_or_a_pipe_is_said_to_be_one(tmp_path, capsys):
    """``--votes /dev/null`` or a named pipe: the path exists, so "no such file" (as said before) sent the user
    looking for a typo; it is there but is no regular file, which is what the line now says (exit 2, nothing
    read: a pipe is never opened, so the command cannot block on it)."""
    import os

    pipe = tmp_path / "votes.jsonl"
    os.mkfifo(pipe)
    for path, kind in (("/dev/null", "a character device"), (str(pipe), "a named pipe")):  # POSIX S_ISCHR, S_ISFIFO
        assert main(["leaderboard", "--votes", path]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line == f"leaderboard: error: --votes {path}: {kind}, not a file", line


def test_a_store_copied_without_its_images_folder_is_named_by_merge_and_export(tmp_path, capsys):
    """verify27e: ``merge`` of a source copied without its ``images/`` folder said only "<image path>: No such file or
    directory", naming no store (with several sources, not which one to fix); ``export runs`` of such a store did
    the same. Each now names the store's database, the image and the folder to copy; merging again once the folder
    is back adds the rest."""
    import shutil

    from PIL import Image

    from realunify_arena.trace import Step, StepRole, Trace

    source = tmp_path / "node1" / "arena.db"
    store = Store.open(source)
    trace = Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (3, 3), 7))])
    store.save_trace(trace, "bundled", pin=True)
    sha = store.load_trace(store.runs()[0]["id"]).steps[0].image_sha
    store.close()
    shutil.move(tmp_path / "node1" / "images", tmp_path / "kept-images")  # copied without its images
    target = tmp_path / "merged" / "arena.db"
    for argv in (["merge", str(source), "--db", str(target)],
                 ["export", "runs", "--format", "official", "--out", str(tmp_path / "out"), "--db", str(source)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"{argv[0]}: error: {source}: image {sha}, which its runs show, is not in"
                              f" {tmp_path / 'node1' / 'images'}") and "Traceback" not in err, err
    shutil.move(tmp_path / "kept-images", tmp_path / "node1" / "images")
    assert main(["merge", str(source), "--db", str(target)]) == 0
    merged = Store.open(target)
    assert merged.get_image(sha).getpixel((0, 0)) == 7
    merged.close()
