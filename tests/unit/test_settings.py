"""Every app setting comes from a flag, else a REALUNIFY_* variable, else the default; bad values are named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("argv, env, message", [
    ([], {"REALUNIFY_PORT": "http"}, "REALUNIFY_PORT: expected an integer, got 'http'"),
    (["--port", "70000"], {}, "--port: expected an integer from 1 to 65535, got 70000"),
    ([], {"REALUNIFY_ARENA_MODE": "cached"}, "REALUNIFY_ARENA_MODE: expected one of live, stored, got 'cached'"),
    (["--data", " , "], {}, "--data: expected at least one data source"),
    ([], {"REALUNIFY_GPU_CONCURRENCY": "0"}, "REALUNIFY_GPU_CONCURRENCY: expected an integer from 1"),
])
def test_a_bad_value_names_its_source_and_what_was_expected(argv, env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_cli(argv, env)


def test_app_py_reports_a_bad_setting_and_exits_2(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("app_entry", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    monkeypatch.setenv("REALUNIFY_PORT", "seventy")
    assert app.main([]) == 2
    assert "REALUNIFY_PORT: expected an integer, got 'seventy'" in capsys.readouterr().err
