"""A secret typed as a command-line option is never echoed back, and ``--help`` says where secrets go.

No command takes a key, token or salt as an option: they come from environment variables (a command line is
visible to every user of the machine in ``ps`` and is kept in shell history). Before, an operator who tried
``serve-openai --api-key VALUE`` or ``app.py --hf-token VALUE`` got argparse's "unrecognized arguments" error
quoting VALUE on standard error (a terminal log, a CI log) whenever VALUE was not in a key shape the redaction
knows (``sk-...``): a hex key, a short password. The real parsers (``cli.main``, ``Settings.from_cli``).

The same kind in a card: its ``serve`` field (the command that starts its endpoint, shown in the availability
reason on the page and by ``models``) loaded with ``vllm serve M --api-key <key>`` written out, and the key was
shown. Now a card whose ``serve`` writes out a secret option's value is a broken card (the field named, the
value not shown); ``--api-key "$VLLM_API_KEY"`` is taken and shown as written.
"""

from __future__ import annotations

import pytest

from realunify_arena.cards import CardError, load_card
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


REMOTE = "family: openai\ndescription: d\ncapabilities: [understand]\nendpoint: http://127.0.0.1:9/v1\ncheckpoint: m\n"


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("form", ["vllm serve m --api-key {} --port 9", "vllm serve m --api-key='{}'",
                                  "python workers/x.py --hf-token \"{}\""])
def test_a_card_that_writes_out_a_key_in_its_serve_command_is_refused(card_folder, value, form):
    with pytest.raises(CardError) as caught:
        load_card(card_folder("served", f"{REMOTE}serve: {form.format(value)}\n") / "served.yaml")
    message = str(caught.value)
    assert "field 'serve': --" in message and "environment variable" in message and value not in message


@pytest.mark.parametrize("serve", ["vllm serve m --api-key \"$VLLM_API_KEY\" --port 9",
                                   "vllm serve m --api-key=${KEY} --max-new-tokens 512",
                                   "python workers/illume_plus.py --tokenizer-config c.py --port 8107"])
def test_a_serve_command_that_takes_its_key_from_a_variable_is_taken_and_shown_whole(card_folder, serve):
    card = load_card(card_folder("served", f"{REMOTE}serve: {serve}\n") / "served.yaml")
    assert card.serve == serve and redact(serve) == serve
