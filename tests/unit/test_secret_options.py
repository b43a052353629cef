"""A secret typed as a command-line option is never echoed back, and ``--help`` says where secrets go.

No command takes a key, token or salt as an option: they come from environment variables (a command line is
visible to every user of the machine in ``ps`` and is kept in shell history). Before, an operator who tried
``serve-openai --api-key VALUE`` or ``app.py --hf-token VALUE`` got argparse's "unrecognized arguments" error
quoting VALUE on standard error (a terminal log, a CI log) whenever VALUE was not in a key shape the redaction
knows (``sk-...``): a hex key, a short password. The real parsers (``cli.main``, ``Settings.from_cli``).
"""

from __future__ import annotations

import pytest

from realunify_arena.cli import main
from realunify_arena.redaction import redact
from realunify_arena.settings import Settings

VALUES = ["a3f9c0d4be1d2778", "hunter2hunter2", "pa55", "Zq8Lw3PnXv5TrKb2Hy7M"]
OPTIONS = ["--api-key", "--token", "--hf-token", "--openai_api_key", "--voter-salt", "--password", "--secret"]


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("value", VALUES)
def test_the_cli_never_echoes_a_secret_option(capsys, option, value):
    for argv in (["serve-openai", "--model", "tiny-pair", option, value],
                 ["export", "votes", f"{option}={value}"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        err = capsys.readouterr().err
        assert f"unrecognized arguments: {option}" in err and value not in err, err


@pytest.mark.parametrize("value", VALUES)
def test_app_py_never_echoes_a_secret_option(capsys, value):
    for argv in (["--api-key", value], [f"--hf-token={value}", "--port", "7860"]):
        with pytest.raises(SystemExit):
            Settings.from_cli(argv, env={})
        err = capsys.readouterr().err
        assert err.startswith("app.py: error: unrecognized arguments: --") and value not in err, err


def test_an_option_that_only_mentions_a_secret_word_keeps_its_value():
    for text in ("--max-new-tokens 512", "--key-file /srv/keys/a.pem", "--tokenizer-config cfg.py",
                 "--monkey 5"):
        assert redact(text) == text


def test_every_help_says_secrets_come_from_the_environment(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    with pytest.raises(SystemExit):
        Settings.from_cli(["--help"], env={})
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("Secrets come from environment variables only") == 2
