"""One broken model card never stops the app or the CLI: it is listed as a problem, the other cards work.

A temporary models folder holds the shipped tiny cards next to one card broken in each way a careless
operator or a hostile pull request can break one (bad YAML, unknown family, a YAML list, UTF-16, Latin-1,
billion laughs, a card too large, nesting too deep, a pair naming a broken card). The real ``python -m
realunify_arena models`` and ``python app.py`` run on it as processes.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
GOOD = ("tiny-pair", "tiny-janus")


def _laughs(levels: int = 9) -> str:
    """The billion-laughs document: nine aliases of nine aliases ... (10^9 strings if expanded)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\nfamily: janus\ndescription: *l{levels - 1}\ncapabilities: *l{levels - 1}\n"


# file stem -> (bytes of the card, what its problem line must say)
BROKEN = {
    "bad-yaml": (b"family: [janus\ndescription: d\n", "not valid YAML"),
    "unknown-family": (b"family: dalle\ndescription: d\ncapabilities: [generate]\ncheckpoint: x\n",
                       "field 'family': expected one of"),
    "a-list": (b"- family: janus\n- description: d\n", "expected a YAML map of card fields, got a list"),
    "utf16": ("family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: x\n".encode("utf-16"),
              "UTF-16 text; save the card as UTF-8"),
    "latin1": ("family: janus\ndescription: café\ncapabilities: [understand]\ncheckpoint: x\n".encode("latin-1"),
               "not UTF-8 text"),
    "laughs": (_laughs().encode(), "field 'description': expected a non-empty string"),
    "huge": (b"family: janus\ndescription: '" + b"x" * 200_000 + b"'\n", "a card is a short YAML file"),
    "deep": (b"[" * 20_000, "not valid YAML"),
    "pair-of-broken": (b"family: pair\ndescription: d\ncapabilities: [generate]\n"
                       b"checkpoints: {generate: 'card:unknown-family'}\n", "must name a card"),
}


@pytest.fixture
def models_dir(tmp_path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(ROOT / "models" / f"{name}.yaml", folder)
    for stem, (data, _) in BROKEN.items():
        (folder / f"{stem}.yaml").write_bytes(data)
    return folder


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def test_models_lists_the_good_cards_and_every_broken_one(models_dir):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "realunify_arena", "models", "--models-dir", str(models_dir)],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    assert done.returncode == 1, done.stderr  # 1: problems found (the listing itself completed)
    assert "Traceback" not in done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines()}
    assert listed == set(GOOD)
    problems = [line for line in done.stderr.splitlines() if line.startswith("broken card left out: ")]
    assert len(problems) == len(BROKEN), done.stderr
    for stem, (_, message) in BROKEN.items():
        [line] = [p for p in problems if f"{models_dir / stem}.yaml: " in p]
        assert message in line, line
        assert len(line) < 1000, f"{stem}: the problem line is not bounded ({len(line)} characters)"
    assert seconds < 60, f"models took {seconds:.0f} s on the broken cards"


def test_app_starts_serves_the_good_cards_and_shows_the_broken_ones(models_dir, seeded_db, start_app):
    # a broken card that is offered by --models is left out too; it does not stop the start
    app = start_app(seeded_db, "--models-dir", str(models_dir), "--models", "tiny-pair,tiny-janus,bad-yaml")
    config = httpx.get(app.url + "config", timeout=30).json()
    markdown = [c["props"].get("value", "") for c in config["components"]
                if c.get("props", {}).get("elem_id") == "card-problems"]
    assert len(markdown) == 1, "no notice of broken cards on the page"
    notice = html.unescape(markdown[0])  # the characters the page shows (each mark escaped as plain text)
    assert str(models_dir) not in notice  # a visitor is shown the card's file name, not the server's folders
    assert f"{len(BROKEN)} model card(s) could not be read" in notice
    for stem, (_, message) in BROKEN.items():
        assert f"{stem}.yaml" in notice and message.split(";")[0] in notice, stem
    offered = [c["props"]["choices"] for c in config["components"]
               if c.get("type") == "dropdown" and any("tiny-pair" in str(x) for x in c["props"].get("choices", []))]
    assert offered, "the good cards are not offered"
    assert all("bad-yaml" not in str(choices) for choices in offered)
    log = app.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert log.count("app.py: warning: broken card left out: ") == len(BROKEN)


def test_app_refuses_an_unknown_model_name_with_a_message(models_dir, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--db", str(tmp_path / "a.db"), "--models-dir",
                           str(models_dir), "--models", "tiny-pair,no-such-card"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 2
    assert "app.py: --models names unknown card(s) ['no-such-card']" in done.stderr  # the flag gave it
    assert "Traceback" not in done.stderr


def test_app_refuses_models_that_name_only_broken_cards_instead_of_offering_every_card(models_dir, tmp_path):
    """``--models unknown-family`` (a broken card, left out) left no card named, and an empty list offers every
    card: the app started serving tiny-janus and tiny-pair, which were not asked for. One line, exit 2."""
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--db", str(tmp_path / "a.db"), "--models-dir",
                           str(models_dir), "--models", "unknown-family", "--port", "1"],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=40)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("app.py: --models names only broken card(s) ['unknown-family']"), last
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("where, said", [("missing", "no such folder"), ("file", "not a folder")])
@pytest.mark.parametrize("via", ["flag", "env"])
def test_app_refuses_a_models_folder_that_is_not_one_instead_of_serving_no_model(tmp_path, where, said, via):
    """A mistyped ``--models-dir`` (or ``REALUNIFY_MODELS_DIR``) started an app that offered no model at all
    and said nothing (with ``--models``: "unknown card(s)", blaming the cards). One line naming the setting
    and the path, exit 2, nothing served."""
    folder = tmp_path / "modles"
    if where == "file":
        folder.write_text("family: tiny\n", encoding="utf-8")
    import socket

    with socket.socket() as probe:  # a free port, so an app that does start serves there (and is stopped)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, str(ROOT / "app.py"), "--db", str(tmp_path / "a.db"), "--port", str(port)]
    env = _env()
    if via == "flag":
        args += ["--models-dir", str(folder)]
    else:
        env["REALUNIFY_MODELS_DIR"] = str(folder)
    try:
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=40)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"app.py started serving: {exc.stdout!r} {exc.stderr!r}") from None
    setting = "--models-dir" if via == "flag" else "REALUNIFY_MODELS_DIR"
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith(f"app.py: {setting} '/"), line
    assert line.endswith(f"modles': {said}; expected the folder that holds the model cards (*.yaml)"), line
    assert not (tmp_path / "a.db").exists()


def _run_at_once(*commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Each of ``commands`` run as ``subprocess.run(..., cwd=ROOT, env=_env(), capture_output=True, text=True,
    timeout=120)`` would run it, all started at once; their results in order (``TimeoutExpired`` past 120 s)."""
    started = [subprocess.Popen(args, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for args in commands]
    done = []
    try:
        for args, process in zip(commands, started):
            out, err = process.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


def test_a_yaml_error_is_one_line_naming_the_file_line_and_column(tmp_path):
    """PyYAML's error text spans four lines ("  in "<unicode string>", line 2, column 14" ...): a card or
    space.yaml with an unclosed ``[`` gave a message whose lines after the first look like other messages
    and name no file. Each is one line: the file, where the parser stopped (1-based, counted here by hand:
    the list opens at line 2, column 14 and the file ends at line 3, column 1), and what it read."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ROOT / "models" / "tiny-pair.yaml", models)
    card = models / "unclosed.yaml"
    card.write_text("family: tiny\ndescription: [1, 2\n", encoding="utf-8")
    # libyaml (where installed) and pure-Python PyYAML word the problem differently; the places are the same
    where = r"line 3, column 1: [^\n]*expected ',' or '\]'[^\n]* \(while parsing a flow sequence at line 2, column 14\)"
    space = tmp_path / "space.yaml"
    space.write_text("title: x\nsdk: gradio\ntags: [a, b\n", encoding="utf-8")
    # the three commands at once: each is mostly its start (the interpreter's imports), which need not take turns
    listing, chosen, card_done = _run_at_once(
        [sys.executable, "-m", "realunify_arena", "models", "--models-dir", str(models)],
        [sys.executable, "-m", "realunify_arena", "eval", "--model", "unclosed", "--models-dir", str(models),
         "--judge", "tiny-pair", "--limit", "1"],
        [sys.executable, "-m", "realunify_arena", "space-card", "--space", str(space), "--readme",
         str(tmp_path / "README.md")])
    assert re.fullmatch(f"broken card left out: {re.escape(str(card))}: not valid YAML: {where}\n", listing.stderr), \
        listing.stderr
    assert chosen.returncode == 1
    assert re.fullmatch(f"eval: error: {re.escape(str(card))}: not valid YAML: {where}", chosen.stderr.splitlines()[-1]), \
        chosen.stderr
    assert all(not line.startswith(" ") for line in chosen.stderr.splitlines()), chosen.stderr
    assert card_done.returncode == 1
    where = r"line 4, column 1: [^\n]*expected ',' or '\]'[^\n]* \(while parsing a flow sequence at line 3, column 7\)"
    assert re.fullmatch(f"space-card: error: {re.escape(str(space))}: not valid YAML: {where}\n", card_done.stderr), \
        card_done.stderr
