"""A secret pasted into the wrong setting or field is masked whole in the refusal that quotes it, even when the
quoted value is long enough to be shortened (the cut keeps a long value's start and end)."""

from __future__ import annotations

import pytest

import app
from realunify_arena.shown import brief

# 160 characters: past brief's 60, like an OpenAI project key (~164) or a long custom token
KEY = "sk-proj-" + "Q7x" * 50 + "Zend"
CUSTOM = "zz" + "Abc9" * 30 + "Tail"


def _leaks(text: str, secret: str) -> bool:
    """Whether ``text`` holds any 12 characters in a row of ``secret``."""
    return any(secret[i:i + 12] in text for i in range(len(secret) - 11))


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", CUSTOM)


@pytest.mark.parametrize("value", [KEY, CUSTOM, f"/tmp/{CUSTOM}", ["x", CUSTOM], {"k": KEY}])
def test_brief_masks_a_secret_before_cutting(value):
    shown = brief(value)
    assert "***" in shown and not _leaks(shown, KEY) and not _leaks(shown, CUSTOM), shown


@pytest.mark.parametrize("middle", [10, 20_000, 1_000_000])
def test_brief_masks_secrets_at_both_ends_of_a_long_value(middle):
    """Of a long value only its ends are redacted (a 1 MB refusal took ~40 ms whole): a key at either end,
    or cut by the window's edge, still shows no part of itself."""
    for value in (KEY + "x" * middle + CUSTOM, "x" * 4070 + KEY + "y" * middle + KEY + "z" * 4070):
        shown = brief(value)
        assert not _leaks(shown, KEY) and not _leaks(shown, CUSTOM), shown
    assert brief(KEY + "x" * middle + CUSTOM).count("***") == 2


def test_brief_still_shortens_ordinary_text():
    assert brief("hello" * 30) == "'hellohellohellohellohellohe...llohellohellohellohellohello'"


@pytest.mark.parametrize("argv", [["--min-votes", KEY], ["--port", CUSTOM], ["--models-dir", f"/tmp/{CUSTOM}"],
                                  ["--vote-limit", CUSTOM]])
def test_app_refuses_a_secret_in_a_setting_without_quoting_any_of_it(argv, tmp_path, capsys):
    assert app.main([*argv, "--db", str(tmp_path / "arena.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("app.py: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not _leaks(err, KEY) and not _leaks(err, CUSTOM), err
