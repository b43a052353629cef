"""Every app setting comes from a flag, else a REALUNIFY_* variable, else the default; bad values are named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import gradio as gr
import pytest

from realunify_arena import persistence
from realunify_arena.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_configuration():
    s = Settings.from_cli([], {})
    assert s == Settings()
    assert s.data == ("bundled",) and s.db == Path("data/arena.db") and s.arena_mode == "live"


def test_a_flag_wins_over_its_variable_and_lists_split_on_commas():
    env = {"REALUNIFY_MODELS": "a,b", "REALUNIFY_PORT": "9000", "REALUNIFY_DATA": "bundled, /x/RealUnify ",
           "REALUNIFY_ARENA_MODE": "stored", "REALUNIFY_DB": "~/votes.db"}
    s = Settings.from_cli(["--models", "tiny-pair", "--min-votes", "0"], env)
    assert s.models == ("tiny-pair",)
    assert s.port == 9000 and s.min_votes == 0 and s.arena_mode == "stored"
    assert s.data == ("bundled", "/x/RealUnify")
    assert s.db == Path("~/votes.db").expanduser()


def test_a_list_written_over_several_lines_splits_at_each_line_break():
    # a variable written over lines (docker-compose "|", a .env value in quotes) was split on commas before
    # the CSV reading; the csv module then raised "new-line character seen in unquoted field" as a traceback
    env = {"REALUNIFY_MODELS": "tiny-a,\n  tiny-b\n", "REALUNIFY_DATA": "bundled\r\n/x/RealUnify"}
    s = Settings.from_cli([], env)
    assert s.models == ("tiny-a", "tiny-b") and s.data == ("bundled", "/x/RealUnify")
    assert Settings.from_cli(["--data", '"/x/Real\nUnify", bundled'], {}).data == ("/x/Real\nUnify", "bundled")


def test_the_models_folder_is_a_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("cards", "x", "y"):
        (tmp_path / name).mkdir()
    assert Settings.from_cli([], {}).models_dir is None  # None: the project's models/
    assert Settings.from_cli([], {"REALUNIFY_MODELS_DIR": "~/cards"}).models_dir == tmp_path / "cards"
    chosen = Settings.from_cli(["--models-dir", str(tmp_path / "x")], {"REALUNIFY_MODELS_DIR": str(tmp_path / "y")})
    assert chosen.models_dir == tmp_path / "x"
    with pytest.raises(SettingsError, match=r"^REALUNIFY_MODELS_DIR '/no/such/cards': no such folder"):
        Settings.from_cli([], {"REALUNIFY_MODELS_DIR": "/no/such/cards"})


def test_the_vote_rate_limit_is_configurable():
    s = Settings.from_cli(["--vote-window", "3600"], {"REALUNIFY_VOTE_LIMIT": "5", "REALUNIFY_VOTE_WINDOW": "9"})
    assert (s.vote_limit, s.vote_window) == (5, 3600)
    # the app's arena enforces it: tests/api/test_vote_refusals.py runs the app at 5 votes per hour


def test_trusted_proxies_default_to_none_and_come_from_the_flag_or_the_environment(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert Settings.from_cli([], {}).trusted_proxies is None
    assert Settings.from_cli([], {}).proxy_hops == 0  # the socket peer, not a client-written header
    assert Settings.from_cli([], {"REALUNIFY_TRUSTED_PROXIES": "1"}).trusted_proxies == 1
    assert Settings.from_cli(["--trusted-proxies", "2"], {"REALUNIFY_TRUSTED_PROXIES": "1"}).trusted_proxies == 2


def test_on_a_space_visitors_behind_its_proxy_are_told_apart_unless_told_otherwise(monkeypatch, tmp_path):
    """A Space is reached only through Hugging Face's proxy, which appends the visitor's address to
    X-Forwarded-For (README, "Voter addresses on a Space"). Before, the app trusted no hop there unless
    REALUNIFY_TRUSTED_PROXIES=1 was set: every visitor was the proxy's 10.x address, one voter with one vote
    limit for the whole Space. Now one hop is trusted on a Space; a value given still wins."""
    from realunify_arena.arena import Arena
    from realunify_arena.store import Store

    monkeypatch.setenv("SPACE_ID", "user/arena")
    store = Store.open(tmp_path / "arena.db")
    try:
        def voters(settings):
            arena = Arena.from_settings(store, settings)
            return {arena.voter_id(None, "same-session", {"x-forwarded-for": ip}, peer="10.16.2.7")
                    for ip in ("198.51.100.23", "203.0.113.9")}

        assert Settings.from_cli([], {}).proxy_hops == 1
        assert len(voters(Settings.from_cli([], {}))) == 2  # two visitors, two voters
        assert Settings.from_cli(["--trusted-proxies", "0"], {}).proxy_hops == 0  # the owner's choice stands
        assert len(voters(Settings.from_cli(["--trusted-proxies", "0"], {}))) == 1  # both the proxy's address
    finally:
        store.close()
def test_torch_threads_are_sized_by_the_pool_unless_set(monkeypatch, tmp_path):
    assert Settings.from_cli([], {}).torch_threads is None  # the pool sizes them per model
    assert Settings.from_cli([], {"REALUNIFY_TORCH_THREADS": "2"}).torch_threads == 2
    with pytest.raises(SettingsError, match="--torch-threads: expected an integer from 1"):
        Settings.from_cli(["--torch-threads", "0"], {})
    spec = importlib.util.spec_from_file_location("app_main", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    pools = []
    monkeypatch.setattr("realunify_arena.ui.build_demo", lambda settings, store, pool: pools.append(pool))
    app.build_app(Settings(models=("tiny-janus",), torch_threads=3, db=tmp_path / "a.db"), store=None)
    assert pools[0].torch_threads == 3  # the app's pool gets the setting


@pytest.mark.parametrize("argv, env, message", [
    ([], {"REALUNIFY_PORT": "http"}, "REALUNIFY_PORT: expected an integer from 1 to 65535, got 'http'"),
    (["--port", "70000"], {}, "--port: expected an integer from 1 to 65535, got 70000"),
    ([], {"REALUNIFY_ARENA_MODE": "cached"}, "REALUNIFY_ARENA_MODE: expected one of live, stored, got 'cached'"),
    (["--data", " , "], {}, "--data: expected at least one data source"),
    ([], {"REALUNIFY_GPU_CONCURRENCY": "0"}, "REALUNIFY_GPU_CONCURRENCY: expected an integer from 1"),
    ([], {"REALUNIFY_VOTE_LIMIT": "-3"}, "REALUNIFY_VOTE_LIMIT: expected an integer from 1"),
    (["--vote-window", "1.5"], {}, "--vote-window: expected an integer from 1 to 604800, got '1.5'"),
    ([], {"REALUNIFY_TRUSTED_PROXIES": "-1"}, "REALUNIFY_TRUSTED_PROXIES: expected an integer from 0 to 16"),
])
def test_a_bad_value_names_its_source_and_what_was_expected(argv, env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_cli(argv, env)


def load_app_py():
    spec = importlib.util.spec_from_file_location("app_entry", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    return app


def test_app_py_reports_a_bad_setting_and_exits_2(monkeypatch, capsys):
    app = load_app_py()
    monkeypatch.setenv("REALUNIFY_PORT", "seventy")
    assert app.main([]) == 2
    assert "REALUNIFY_PORT: expected an integer from 1 to 65535, got 'seventy'" in capsys.readouterr().err


@pytest.fixture
def launches(monkeypatch) -> list:
    """The demos app.py launches; launching is skipped (these tests are about what happens before)."""
    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda demo, **kwargs: launched.append(demo))
    return launched


def test_app_py_opens_its_store_through_persistence_without_a_repo_nothing_is_pushed(monkeypatch, tmp_path,
                                                                                     launches):
    monkeypatch.delenv(persistence.REPO_ENV, raising=False)
    opened = []

    def spy(*args, **kwargs):
        opened.append(real_open_store(*args, **kwargs))
        return opened[-1]

    real_open_store = persistence.open_store
    monkeypatch.setattr(persistence, "open_store", spy)
    db = tmp_path / "arena.db"
    assert load_app_py().main(["--db", str(db), "--models", "tiny-pair"]) == 0
    [(store, scheduler)] = opened
    assert store.path == db and db.exists() and scheduler is None
    assert len(launches) == 1


@pytest.mark.parametrize("env, expected", [
    ({persistence.REPO_ENV: "someone/arena-votes"}, "REALUNIFY_DATASET_REPO=someone/arena-votes: "),
])
def test_app_py_with_a_dataset_repo_restores_first_and_refuses_to_start_if_it_cannot(monkeypatch, tmp_path,
                                                                                       capsys, launches, env,
                                                                                       expected):
    """Offline (as every test is), reading the repo fails: the app must not start empty and later push
    that over the votes kept in the repo. A token is set, as a Space with a dataset repo has one: without it
    the app stops before reading (``persistence.open_store``'s own refusal), and this reading was untested."""
    token = "hf_" + "x7" * 17
    monkeypatch.setenv("HF_TOKEN", token)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "arena.db"
    assert load_app_py().main(["--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"app.py: cannot open the store {db}" in err and expected in err and token not in err
    assert not db.exists() and launches == []


@pytest.mark.parametrize("env, expected", [
    ({persistence.REPO_ENV: "someone/arena-votes", persistence.EVERY_ENV: "0"},
     "app.py: REALUNIFY_PUSH_MINUTES: expected a number of minutes above 0"),
    ({persistence.REPO_ENV: "someone/arena-votes", persistence.EVERY_ENV: "ten"},
     "app.py: REALUNIFY_PUSH_MINUTES: expected a number of minutes above 0"),
    ({persistence.REPO_ENV: "my votes"}, "app.py: REALUNIFY_DATASET_REPO: expected a dataset repo id like user/name"),
])
def test_app_py_names_a_bad_space_setting_in_one_line_without_the_token(monkeypatch, tmp_path, capsys, launches,
                                                                        env, expected):
    token = "hf_" + "x7" * 17
    monkeypatch.setenv("HF_TOKEN", token)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "arena.db"
    assert load_app_py().main(["--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1 and token not in err
    assert not db.exists() and launches == []


@pytest.mark.parametrize("variable", [persistence.REPO_ENV, "REALUNIFY_PORT", "REALUNIFY_JOURNAL_MODE",
                                      "REALUNIFY_MODELS"])
def test_app_py_never_echoes_a_secret_pasted_into_the_wrong_variable(monkeypatch, tmp_path, capsys, launches,
                                                                      variable):
    """The HF_TOKEN secret's value set by mistake as another setting: the refusal names the setting, not the
    token (the CLI's error lines are cleaned the same way, by ``redaction.redact``)."""
    token = "hf_" + "Q9" * 17
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv(variable, token)
    db = tmp_path / "arena.db"
    assert load_app_py().main(["--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("app.py: ") and variable in err and err.count("\n") == 1
    assert token not in err and "***" in err and launches == []


def test_app_py_refuses_a_bad_janus_fast_switch_at_start_not_at_the_first_janus_run(monkeypatch, tmp_path, capsys,
                                                                                     launches):
    """``REALUNIFY_JANUS_FAST=maybe`` was read only when a Janus model loaded: the app started, and the first
    visitor's Janus run failed with it."""
    monkeypatch.setenv("REALUNIFY_JANUS_FAST", "maybe")
    assert load_app_py().main(["--db", str(tmp_path / "arena.db")]) == 2
    err = capsys.readouterr().err
    assert err == "app.py: REALUNIFY_JANUS_FAST: expected one of 1, true, yes, on, 0, false, no, off, got 'maybe'\n"
    assert launches == []


def test_a_data_source_that_is_not_there_is_named_at_start_up(tmp_path, capsys, launches):
    """Sources load on first use, so ``--data bundled,/mistyped/path`` started silently: the typo showed only
    once that source was chosen in the page."""
    missing, present = tmp_path / "RealUnfy", tmp_path / "RealUnify"
    present.mkdir()
    argv = ["--db", str(tmp_path / "arena.db"), "--models", "tiny-pair", "--data", f"bundled,{missing},{present}"]
    assert load_app_py().main(argv) == 0
    err = capsys.readouterr().err
    assert f"data source {missing}: no such file or folder" in err
    assert str(present) not in err and "data source bundled" not in err
    assert len(launches) == 1


# --- every numeric variable's error has one form; every message names where the value came from -------------

# (variable, its range as the app documents it in --help): written out here, not read from the settings
NUMERIC = {"REALUNIFY_PORT": (1, 65535), "REALUNIFY_MIN_VOTES": (0, 10**6), "REALUNIFY_GPU_CONCURRENCY": (1, 10**6),
           "REALUNIFY_TORCH_THREADS": (1, 4096), "REALUNIFY_QUEUE_SIZE": (1, 10**6),
           "REALUNIFY_VOTE_LIMIT": (1, 10**6), "REALUNIFY_VOTE_WINDOW": (1, 7 * 24 * 3600),
           "REALUNIFY_BATTLE_LIMIT": (1, 10**6), "REALUNIFY_BATTLE_WINDOW": (1, 7 * 24 * 3600),
           "REALUNIFY_RUN_LIMIT": (1, 10**6), "REALUNIFY_RUN_WINDOW": (1, 7 * 24 * 3600),
           "REALUNIFY_TRUSTED_PROXIES": (0, 16), "REALUNIFY_RUN_TIME_LIMIT": (0, 7 * 24 * 3600)}


@pytest.mark.parametrize("variable", sorted(NUMERIC))
@pytest.mark.parametrize("raw, shown", [("many", "'many'"), ("-5", "-5"), ("99999999", "99999999")])
def test_every_numeric_variable_error_is_variable_expected_range_got_value(variable, raw, shown):
    low, high = NUMERIC[variable]
    if low <= int(raw) <= high if raw.lstrip("-").isdigit() else False:
        return
    with pytest.raises(SettingsError) as failed:
        Settings.from_cli([], {variable: raw})
    assert str(failed.value) == f"{variable}: expected an integer from {low} to {high}, got {shown}"


def test_the_leaderboard_reads_realunify_min_votes_in_the_apps_words(monkeypatch, capsys):
    """Before: "REALUNIFY_MIN_VOTES='many': expected a whole number of votes, 0 or more" (the app said
    "REALUNIFY_MIN_VOTES: expected an integer from 0 to 1000000, got 'many'" for the same value)."""
    from realunify_arena.cli import main

    for raw, shown in (("many", "'many'"), ("-1", "-1"), ("2000000", "2000000")):
        monkeypatch.setenv("REALUNIFY_MIN_VOTES", raw)
        assert main(["leaderboard", "--db", "/nonexistent/x.db"]) == 2
        expected = f"REALUNIFY_MIN_VOTES: expected an integer from 0 to 1000000, got {shown}"
        assert f"leaderboard: error: {expected}\n" in capsys.readouterr().err
    monkeypatch.delenv("REALUNIFY_MIN_VOTES")
    assert main(["leaderboard", "--db", "/nonexistent/x.db", "--min-votes", "-1"]) == 2
    assert "leaderboard: error: --min-votes: expected an integer from 0 to 1000000, got -1\n" in capsys.readouterr().err


def _not_sqlite(path: Path) -> Path:
    path.write_bytes(b"not a database at all, just text" * 40)
    return path


@pytest.mark.parametrize("command", [["report"], ["leaderboard"], ["export", "votes", "--out", "x.jsonl"]])
def test_a_command_names_realunify_db_when_the_path_came_from_it(monkeypatch, tmp_path, capsys, command):
    """Before: "no database at ... (pass --db or set REALUNIFY_DB)" and "point --db at the right file" when no
    --db was given at all: the path came from the variable."""
    from realunify_arena.cli import main

    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "missing.db"
    monkeypatch.setenv("REALUNIFY_DB", str(missing))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"no database at {missing} (from REALUNIFY_DB)" in err and "--db" not in err.replace("--votes", "")

    monkeypatch.setenv("REALUNIFY_DB", str(_not_sqlite(tmp_path / "text.db")))
    assert main(command) != 0
    err = capsys.readouterr().err
    assert "not an SQLite database" in err and "point REALUNIFY_DB at" in err and "--db" not in err

    other = tmp_path / "other.db"  # the flag wins: now the flag is named
    assert main([*command, "--db", str(other)]) == 2
    assert f"no database at {other} (from --db)" in capsys.readouterr().err


def test_app_py_names_realunify_db_or_db_whichever_gave_the_path(monkeypatch, tmp_path, capsys, launches):
    bad = _not_sqlite(tmp_path / "text.db")
    monkeypatch.setenv("REALUNIFY_DB", str(bad))
    assert load_app_py().main([]) == 2
    err = capsys.readouterr().err
    assert "not an SQLite database" in err and "point REALUNIFY_DB at the right file" in err and "--db" not in err
    assert load_app_py().main(["--db", str(bad)]) == 2
    assert "point --db at the right file" in capsys.readouterr().err
    assert launches == []


@pytest.mark.parametrize("argv, env, named", [([], {"REALUNIFY_MODELS": "no-such-card"}, "REALUNIFY_MODELS"),
                                              (["--models", "no-such-card"], {}, "--models")])
def test_app_py_names_the_source_of_unknown_models(monkeypatch, tmp_path, capsys, launches, argv, env, named):
    """Before: "--models (or REALUNIFY_MODELS) names unknown card(s)" whichever was used."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_app_py().main([*argv, "--db", str(tmp_path / "arena.db")]) == 2
    err = capsys.readouterr().err
    assert f"app.py: {named} names unknown card(s) ['no-such-card']" in err
    assert ("REALUNIFY_MODELS" not in err) if named == "--models" else ("--models" not in err)


@pytest.mark.parametrize("argv, env, expected", [
    (["--judge", "no-such-card"], {}, "app.py: --judge 'no-such-card': no such model card"),
    ([], {"REALUNIFY_JUDGE": "no-such-card"}, "app.py: REALUNIFY_JUDGE 'no-such-card': no such model card"),
    # qwen-image's card only generates images (capabilities: [generate]): it cannot answer polling questions
    (["--judge", "qwen-image"], {}, "app.py: --judge 'qwen-image': the card cannot understand images"),
])
def test_app_py_refuses_a_judge_that_cannot_judge(monkeypatch, tmp_path, capsys, launches, argv, env, expected):
    """Before: the app started and offered the unknown judge, whose every judgment then failed on the page;
    `eval --judge` already refused both."""
    monkeypatch.delenv("REALUNIFY_JUDGE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_app_py().main([*argv, "--db", str(tmp_path / "arena.db")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert launches == []


@pytest.mark.parametrize("judge", ["human", "auto", "tiny-pair"])
def test_app_py_accepts_human_auto_and_a_card_that_understands(monkeypatch, tmp_path, launches, judge):
    monkeypatch.delenv("REALUNIFY_JUDGE", raising=False)
    assert load_app_py().main(["--judge", judge, "--models", "tiny-pair", "--db", str(tmp_path / "arena.db")]) == 0
    assert len(launches) == 1
