"""A Space that keeps its votes in a dataset repo (``REALUNIFY_DATASET_REPO`` + ``HF_TOKEN``) starts only when
the Hub can be read and written; otherwise ``app.py`` says so in one line and exits 2, before any vote is taken.

No network: the Hub is ``$HF_ENDPOINT``, either the discard port (nothing listens, every connection is refused)
or a loopback stand-in of its repo API (``stand_in.HubHandler``). The client is the real ``huggingface_hub``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from app_start import served_output
from stand_in import HubHandler, serving

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_spaceSecretThatMustNeverShow01234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_space(tmp_path: Path, endpoint: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    """``app.py`` as a Space runs it: settings from the environment, ``GRADIO_SERVER_NAME``/``PORT`` set;
    ``token`` None: no ``HF_TOKEN`` secret (and no login in a fresh ``HF_HOME``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0",
           "HF_TOKEN": token, "REALUNIFY_DATASET_REPO": "me/votes", "REALUNIFY_DB": str(tmp_path / "data" / "arena.db"),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(free_port())}
    for name in ("REALUNIFY_PUSH_MINUTES", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH") + ("HF_TOKEN",) * (token is None):
        env.pop(name, None)
    if token is None:
        env["HF_HOME"] = str(tmp_path / "hf-home")
    try:  # before: with a read-only token the app started and served, so it never exited by itself
        return subprocess.run([sys.executable, str(ROOT / "app.py")], capture_output=True, text=True, timeout=90,
                              env=env, cwd=tmp_path)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"app.py started instead of refusing: {e.stdout!r}")


def refused_in_one_line(done: subprocess.CompletedProcess, says: str) -> str:
    # the restore's own progress bar ("Fetching 0 files") is a boot log line, not part of the refusal
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Fetching ")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("app.py: ") and says in lines[0], done.stderr
    assert TOKEN not in done.stderr + done.stdout and "Running on" not in done.stdout
    return lines[0]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """The refusal tests' ``start_space`` runs, all started at once (each its own folder, port and Hub; the
    second core starts one): name -> (the run's future, its folder, its Hub stand-in or None). A test reads its
    own (``future.result()``: its ``CompletedProcess``, or the failure ``start_space`` raised)."""
    with contextlib.ExitStack() as stack:
        read_only = stack.enter_context(serving(HubHandler, seen=[], writable=False))
        tokenless_hub = stack.enter_context(serving(HubHandler, seen=[], writable=True))
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(3))
        runs = {"unreachable": ("http://127.0.0.1:9", None, {}),
                "read_only": (read_only.url, read_only, {}),
                "no_token": (tokenless_hub.url, tokenless_hub, {"token": None})}
        started = {}
        for name, (endpoint, hub, kwargs) in runs.items():
            folder = tmp_path_factory.mktemp(name)
            started[name] = (pool.submit(start_space, folder, endpoint, **kwargs), folder, hub)
        yield started


def test_a_hub_that_cannot_be_reached_stops_the_space_with_one_line(refusals):
    """Before: the client's ``httpx2.ConnectError`` (not an ``OSError``) was a traceback, exit status 1."""
    running, tmp_path, _ = refusals["unreachable"]
    done = running.result()
    line = refused_in_one_line(done, "REALUNIFY_DATASET_REPO=me/votes: restoring the store from this dataset"
                                     " repo failed (")
    assert "Connection refused" in line
    assert not (tmp_path / "data" / "arena.db").exists()


def test_a_read_only_token_stops_the_space_before_any_vote_is_taken(refusals):
    """Before: the Space ran; each push was refused in the background, and its votes were lost at restart."""
    running, tmp_path, hub = refusals["read_only"]
    done = running.result()
    line = refused_in_one_line(done, "REALUNIFY_DATASET_REPO=me/votes: the dataset repo could not be created"
                                     " or written (403")
    assert "it needs write access" in line
    assert ("GET", "/api/datasets/me/votes/auth-check/write") in hub.seen
    assert not (tmp_path / "data" / "arena.db").exists()


def test_a_space_without_an_hf_token_secret_stops_with_one_line_naming_it(refusals):
    """Before: with no token the Space started against a Hub that let it (and on the real Hub a private repo
    read as missing, then the write check's 401 named no setting)."""
    running, tmp_path, hub = refusals["no_token"]
    done = running.result()
    refused_in_one_line(done, "REALUNIFY_DATASET_REPO=me/votes is set but no Hugging Face token was found: expected"
                              " an HF_TOKEN secret")
    assert hub.seen == [] and not (tmp_path / "data").exists()


def start_log(tmp_path: Path, endpoint: str, **env: str) -> str:
    """``app.py`` as a Space runs it, keeping its votes in dataset ``me/votes`` on ``endpoint``, with ``env``
    added: served (``/gradio_api/info`` answers), then stopped; its output."""
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_TOKEN": TOKEN,
            "REALUNIFY_DATASET_REPO": "me/votes", "REALUNIFY_DB": str(tmp_path / "data" / "arena.db"),
            "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(free_port()), "REALUNIFY_MODELS": "tiny-pair",
            **env}
    for name in ("REALUNIFY_PUSH_MINUTES", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "REALUNIFY_VOTER_SALT"):
        if name not in env:
            full.pop(name, None)
    tmp_path.mkdir()
    return served_output(full, tmp_path, tmp_path / "app.log")


def test_a_space_keeping_votes_without_a_voter_salt_warns_at_start_that_voters_change_at_each_restart(tmp_path):
    """Before: nothing said it. The salt generated when ``REALUNIFY_VOTER_SALT`` is unset is kept only in the
    live database (snapshots leave it out), so each restored Space counted every visitor as a new voter."""
    with serving(HubHandler, seen=[], writable=True) as hub, concurrent.futures.ThreadPoolExecutor(2) as both:
        # the two apps start at once (the second core starts one; each has its own folder and port)
        unsalted = both.submit(start_log, tmp_path / "unsalted", hub.url)
        salted = both.submit(start_log, tmp_path / "salted", hub.url, REALUNIFY_VOTER_SALT="q" * 8 + "Zr5tLw2mXv9c")
        log, salted = unsalted.result(), salted.result()
    warnings = [line for line in log.splitlines() if "REALUNIFY_VOTER_SALT is not" in line]
    assert len(warnings) == 1 and warnings[0].startswith("app.py: warning: REALUNIFY_DATASET_REPO is set but"), log
    assert "set REALUNIFY_VOTER_SALT as a Space secret" in warnings[0] and TOKEN not in log
    assert "REALUNIFY_VOTER_SALT is not" not in salted, salted
