"""The README's own `eval --model janus-pro-1b ...` on a machine that cannot run that card: refused at once
with the reason, before any store is created, instead of minutes of hub retries ending in transformers'
multi-line error. A card too large for this machine is refused the same way, and the refusal's remedy
(`--allow-large-models`) is an option of the command that printed it (eval, serve-openai, models)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from realunify_arena.cli import build_parser, main
from tests.stand_in import JSONHandler, serving

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there, so a connection is refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_eval_refuses_a_model_whose_weights_are_not_here_and_the_hub_is_unreachable_at_once(tmp_path):
    db = tmp_path / "arena.db"
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
           "HF_HOME": str(tmp_path / "empty-hf-home"), "PYTHONPATH": str(ROOT)}
    # exactly the README's command (plus a temp --db); the old code retried the hub for minutes
    done = subprocess.run([sys.executable, "-m", "realunify_arena", "eval", "--model", "janus-pro-1b", "--data",
                           "bundled", "--track", "all", "--mode", "both", "--judge", "qwen2.5-vl-7b", "--limit", "1",
                           "--db", str(db), "--no-progress"], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 1, done.stderr
    [line] = [x for x in done.stderr.splitlines() if "error" in x]
    assert line.startswith("eval: error: --model janus-pro-1b cannot run here: weights "
                           "deepseek-community/Janus-Pro-1B are not in the local cache and the hub")
    assert "Retrying" not in done.stderr and "Traceback" not in done.stderr
    assert not db.exists()  # refused before the store was created


def _big_card(tmp_path: Path) -> Path:
    """A models dir with one pair card whose weights (a local folder) say 100000 GB, and tiny-pair as judge."""
    cards = tmp_path / "models"
    cards.mkdir()
    (tmp_path / "weights").mkdir()
    (cards / "big.yaml").write_text(f"family: pair\ncapabilities: [understand]\ncheckpoint: {tmp_path / 'weights'}\n"
                                    "description: a big model\nparams: {memory_gb: 100000}\n", encoding="utf-8")
    (cards / "tiny-pair.yaml").write_text((ROOT / "models" / "tiny-pair.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    return cards


def test_eval_refuses_a_card_too_large_for_this_machine_and_its_remedy_is_its_own_option(tmp_path, capsys,
                                                                                         monkeypatch):
    monkeypatch.delenv("REALUNIFY_ALLOW_LARGE_MODELS", raising=False)
    cards, db = _big_card(tmp_path), tmp_path / "arena.db"
    args = ["eval", "--model", "big", "--judge", "tiny-pair", "--track", "GEU", "--limit", "1", "--db", str(db),
            "--models-dir", str(cards), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("eval: error: --model big cannot run here: too large for this machine: about 107374")
    assert "--allow-large-models" in err and not db.exists()
    # the option the message names exists here and lets the card past the check (the empty folder then fails
    # the pre-load file check, naming config.json)
    assert main([*args, "--allow-large-models"]) == 1
    err = capsys.readouterr().err
    assert "too large" not in err and "config.json" in err


@pytest.mark.parametrize("command", ["eval", "serve-openai", "models"])
def test_every_command_that_says_allow_large_models_accepts_it(command):
    required = {"eval": ["--model", "x"], "serve-openai": ["--model", "x"], "models": []}[command]
    args = build_parser().parse_args([command, *required, "--allow-large-models", "no"])
    assert args.allow_large_models is False


class _ChatStandIn(JSONHandler):
    """An OpenAI-compatible chat endpoint that answers every question 'A' (GET /models: the probe)."""

    def do_GET(self) -> None:
        self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "A"}}]})


def test_eval_rerun_with_every_run_stored_resumes_while_the_models_endpoint_is_down(tmp_path, capsys):
    """'rerun the same command to resume' holds when nothing is left for the model to do: a rerun whose runs
    are all stored needs no model (e.g. its vLLM server stopped to free the GPU for the judge), so the
    up-front availability refusal must not stop it; a run still to do is refused as before."""
    cards, db = tmp_path / "models", tmp_path / "arena.db"
    cards.mkdir()
    args = ["eval", "--model", "remote", "--judge", "remote", "--track", "GEU", "--mode", "direct", "--limit", "1", "--db", str(db),
            "--models-dir", str(cards), "--no-progress"]
    with serving(_ChatStandIn) as server:
        (cards / "remote.yaml").write_text(f"family: openai\ncapabilities: [understand]\nendpoint: {server.url}/v1\n"
                                           "checkpoint: m\ndescription: a served model\n", encoding="utf-8")
        assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "0 already stored" in out
    # the server is gone; every run is stored: the rerun finishes (0 computed), as before the up-front check
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "runs: 0 computed" in out and "already stored" in out and "0 already stored" not in out
    # one more instance per category is work for the model: refused, naming the endpoint
    assert main([a if a != "1" else "2" for a in args]) == 1
    assert "--model remote cannot run here: endpoint" in capsys.readouterr().err
