"""Group commit under ``kill -9``: writer processes, each with several threads sharing one ``Store``
(as app workers and accelerate ranks would), cast battles into one database and print each vote only
after ``Arena.vote`` returned. Both processes are killed with SIGKILL mid-stream, several times; after
each kill a fresh connection must find every printed (acknowledged) vote with its choice, and the
database must pass ``PRAGMA integrity_check``. No writer may see "database is locked".
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CYCLES = 3
PROCESSES = 2
THREADS = 6
ACKS_BEFORE_KILL = 150  # per cycle, over all processes

WRITER = r'''
import sys, threading
from realunify_arena.arena import Arena
from realunify_arena.store import Store
from realunify_arena.trace import Trace

db, name, threads, checkpoint_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if checkpoint_bytes:  # the store's own RESTART/TRUNCATE checkpoints every few commits, so kills land in them too
    import realunify_arena.store as store_module
    store_module.CHECKPOINT_BYTES, store_module.CHECKPOINT_WAIT_BYTES = checkpoint_bytes, 8 * checkpoint_bytes
store = Store.open(db)
arena = Arena(store, max_votes=10**9)
uid = "UEG_1_world_knowledge"
runs = {s: store.save_trace(Trace(uid, s.split(":")[0], "direct", {"seed": 0}), "kill", pin=True)
        for s in ("ka:direct", "kb:direct")}
out = threading.Lock()

def work(i):
    n = 0
    while True:
        session, voter, choice = f"{name}-{i}-{n}", f"hf:{name}-{i}", "AB"[n % 2]
        try:
            battle = arena.new_battle(session, voter, uid, "kill", "ka:direct", "kb:direct", "model_vs_model")
            arena.deliver(battle, session, "A", runs["ka:direct"])
            arena.deliver(battle, session, "B", runs["kb:direct"])
            arena.vote(battle, session, voter, choice)
        except Exception as e:
            with out:
                print(f"ERROR {type(e).__name__}: {e}", flush=True)
            continue
        with out:
            print(f"ACK {battle} {choice}", flush=True)
        n += 1

for i in range(threads):
    threading.Thread(target=work, args=(i,), daemon=True).start()
with out:  # not inside an ACK line another thread is printing
    print("READY", flush=True)
threading.Event().wait()
'''


@pytest.mark.parametrize("checkpoint_bytes", [0, 32 * 1024], ids=["default checkpoints", "checkpoints every 32 KB"])
def test_acknowledged_votes_survive_kill_9_of_group_committing_processes(tmp_path, checkpoint_bytes):
    """``checkpoint_bytes``: 0 keeps the store's sizes (4 MB: a checkpoint now and then, the WAL ends near 4 MB);
    32 KB makes the writers RESTART and TRUNCATE the WAL every few battles, so kills also fall inside and right
    after them."""
    db = tmp_path / "arena.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    acked: set[tuple[str, str]] = set()
    errors: list[str] = []
    lock = threading.Lock()

    def read(proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            with lock:
                if kind == "ACK":
                    battle, choice = rest.split()
                    acked.add((battle, choice))
                elif kind == "ERROR":
                    errors.append(rest)

    for cycle in range(CYCLES):
        before = len(acked)
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"c{cycle}p{i}", str(THREADS),
                                   str(checkpoint_bytes)],
                                  stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
                 for i in range(PROCESSES)]
        readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in procs]
        for t in readers:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < before + ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.02)
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait(timeout=30)
        for t in readers:
            t.join(timeout=10)
        assert len(acked) >= before + ACKS_BEFORE_KILL, "the writers did not get going"

        wal_bytes = Path(f"{db}-wal").stat().st_size
        conn = sqlite3.connect(db)
        stored = set(conn.execute("select battle_id, choice from votes"))
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        conn.close()
        lost = acked - stored
        assert lost == set(), f"cycle {cycle}: {len(lost)} acknowledged votes lost"
        if checkpoint_bytes:  # they ran: at the store's own sizes the WAL ends near 4 MB
            assert wal_bytes < 40 * checkpoint_bytes, f"cycle {cycle}: a {wal_bytes}-byte WAL was never checkpointed"
    assert not [e for e in errors if "locked" in e or "busy" in e], errors[:3]
    assert errors == [], errors[:3]
    print(f"{CYCLES} kill -9 cycles, {PROCESSES} processes x {THREADS} threads: {len(acked)} acknowledged,"
          f" 0 lost")
