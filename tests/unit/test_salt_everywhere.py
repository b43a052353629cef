"""One rule for ``$REALUNIFY_VOTER_SALT`` wherever a salt is taken: ``app.py``, ``Arena`` and ``export votes``.

The salt keys the hashes that stand for voters (``voter_hash`` in an export, ``anon:<ip hash>`` in the store).
There are only 2^32 IPv4 addresses, so a short salt lets anyone holding an export hash every address and
recover who voted; ``app.py`` refuses one under 16 characters. Before, ``python -m realunify_arena export votes``
took any non-empty salt (``REALUNIFY_VOTER_SALT=x`` exported hashes keyed with ``x``), and ``Arena`` (the page's
votes, the benchmarks) used it too. Real store file, the real command line (``cli.main``).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from PIL import Image

from realunify_arena.arena import Arena, voter_id
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace

SHORT = ["Q", "pepper", "arena-salt-2026"]  # 1, 6 and 15 characters: under the app's 16
GOOD = "0123456789abcdef"  # 16 characters: the shortest the app takes


def _store_with_a_vote(path) -> Store:
    store = Store.open(path)
    arena = Arena(store, max_votes=100)
    uid = "UEG_7_world_knowledge"
    battle = arena.new_battle("sess", "hf:carol", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    for side, model in (("A", "m1"), ("B", "m2")):
        trace = Trace(uid, model, "direct", {"seed": 1},
                      steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (2, 2), 9))])
        arena.deliver(battle, "sess", side, store.save_trace(trace, "bundled"))
    arena.vote(battle, "sess", "hf:carol", "B")
    return store


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.delenv("REALUNIFY_VOTER_SALT", raising=False)
    path = tmp_path / "arena.db"
    _store_with_a_vote(path).close()
    return path


@pytest.mark.parametrize("salt", SHORT)
def test_export_votes_refuses_a_short_salt_without_quoting_it(db, tmp_path, monkeypatch, capsys, salt):
    monkeypatch.setenv("REALUNIFY_VOTER_SALT", salt)
    out = tmp_path / "votes.jsonl"
    assert main(["export", "votes", "--db", str(db), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and captured.out == "", captured.err
    head = f"export: error: REALUNIFY_VOTER_SALT: {len(salt)} character(s); expected a random secret of at least 16"
    assert lines[0].startswith(head)
    assert salt not in lines[0].removeprefix(head)
    assert not out.exists()


def test_an_empty_store_is_no_way_around_the_rule(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REALUNIFY_VOTER_SALT", "pepper")
    Store.open(tmp_path / "empty.db").close()
    assert main(["export", "votes", "--db", str(tmp_path / "empty.db")]) == 2
    assert "REALUNIFY_VOTER_SALT: 6 character(s)" in capsys.readouterr().err


@pytest.mark.parametrize("salt", SHORT)
def test_the_arena_refuses_to_hash_voters_with_a_short_salt(db, monkeypatch, salt):
    monkeypatch.setenv("REALUNIFY_VOTER_SALT", salt)
    store = Store.open(db)
    try:
        with pytest.raises(ValueError, match="REALUNIFY_VOTER_SALT: .* expected a random secret") as caught:
            Arena(store)
        assert salt not in str(caught.value).split(": ", 1)[1]
    finally:
        store.close()
    with pytest.raises(ValueError, match="REALUNIFY_VOTER_SALT"):
        voter_id(None, "session", {}, peer="203.0.113.7")


def test_a_long_enough_salt_keys_the_exported_hash(db, monkeypatch, capsys):
    monkeypatch.setenv("REALUNIFY_VOTER_SALT", GOOD)
    assert main(["export", "votes", "--db", str(db)]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    # HMAC-SHA256 of "voter|<voter id>" under the salt, first 16 hex digits (the export's documented pseudonym)
    expected = hmac.new(GOOD.encode(), b"voter|hf:carol", hashlib.sha256).hexdigest()[:16]
    assert line["voter_hash"] == expected and line["choice"] == "B"
