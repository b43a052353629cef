"""A guessable ``$REALUNIFY_VOTER_SALT`` stops ``app.py`` with one line that does not quote it.

The salt keys the hashes that stand for anonymous voters' addresses (``arena.voter_id``) and their
``voter_hash`` in ``export votes``. There are only 2^32 IPv4 addresses: with a salt such as ``Q`` or
``pepper`` anyone holding an export can hash every address and recover who voted. Before, any non-empty salt
was used, and one under 8 characters was not even masked in logs (the redaction's shortest secret). The real
process for each weak salt: exit status 2, one line naming the variable and the length wanted, the salt not
in it, no database made.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("salt", ["Q", "pepper", "arena-salt-2026"])  # 1, 6 and 15 characters
def test_a_short_voter_salt_is_refused_without_quoting_it(tmp_path, salt):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "data" / "arena.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "REALUNIFY_VOTER_SALT": salt}
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human",
                           "--db", str(db), "--port", str(port)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"app.py: REALUNIFY_VOTER_SALT: {len(salt)} character(s); expected")
    assert salt not in lines[0].removeprefix(f"app.py: REALUNIFY_VOTER_SALT: {len(salt)} character(s)")
    assert not db.exists()


def test_a_long_random_salt_and_no_salt_are_taken():
    sys.path.insert(0, str(ROOT))
    from realunify_arena.arena import salt_problem

    assert salt_problem({"REALUNIFY_VOTER_SALT": "0123456789abcdef"}) is None  # 16 characters
    assert salt_problem({}) is None and salt_problem({"REALUNIFY_VOTER_SALT": ""}) is None
