"""``accelerate launch`` with two CPU processes: the instances are split between the ranks, every run is
computed exactly once, and both shards land in the one SQLite store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from realunify_arena.evaluation import Shard
from realunify_arena.store import Store

pytestmark = pytest.mark.slow
ACCELERATE = Path(sys.executable).with_name("accelerate")  # installed with the package (requirements.txt)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shard_from_launcher_environment():
    assert Shard.from_env({}) == Shard(0, 1)
    shard = Shard.from_env({"RANK": "1", "WORLD_SIZE": "3", "LOCAL_RANK": "1"})
    assert shard.take(list(range(8))) == [1, 4, 7]
    assert sorted(sum((Shard(r, 3).take(list(range(8))) for r in range(3)), [])) == list(range(8))
    with pytest.raises(ValueError, match="rank 2 of 2"):
        Shard(2, 2)
    with pytest.raises(ValueError, match="expected integers"):
        Shard.from_env({"RANK": "x"})


def test_two_processes_share_the_work_and_the_store(tmp_path):
    db = tmp_path / "arena.db"
    # --multi_gpu makes accelerate start one process per rank through torchrun; without GPUs they run on CPU.
    cmd = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
           "-m", "realunify_arena", "eval", "--model", "tiny-pair", "--judge", "tiny-pair", "--data", "bundled",
           "--limit", "1", "--judge-attempts", "1", "--mode", "both", "--db", str(db), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[rank 0] runs: 10 computed" in done.stdout and "[rank 1] runs: 10 computed" in done.stdout, done.stdout

    store = Store.open(db)
    runs = store.runs()
    keys = Counter((r["instance_uid"], r["mode"]) for r in runs)
    assert len(keys) == 20 and set(keys.values()) == {1}  # every (instance, mode) once: nothing done twice
    judged = {j["run_id"] for j in store.judgments()}
    assert all(r["id"] in judged for r in runs if r["status"] == "ok")
    store.close()


def test_nodes_with_their_own_stores_merge_into_one(tmp_path, monkeypatch, capsys):
    """Two "nodes" (rank 0 and 1 of 2), each with its own store, merged: every run once, images and judgments kept."""
    from realunify_arena.cli import main

    nodes = [tmp_path / f"node{rank}" / "arena.db" for rank in range(2)]
    for rank, db in enumerate(nodes):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        assert main(["eval", "--model", "tiny-pair", "--judge", "tiny-pair", "--data", "bundled", "--limit", "1",
                     "--track", "GEU", "--mode", "both", "--db", str(db), "--no-progress"]) == 0
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    merged = tmp_path / "all" / "arena.db"
    assert main(["merge", *map(str, nodes), "--db", str(merged)]) == 0
    assert main(["merge", *map(str, nodes), "--db", str(merged)]) == 0  # again: nothing new
    out = capsys.readouterr().out
    assert f"{nodes[0]}: 4 new runs, 4 new judgments" in out and f"{nodes[1]}: 0 new runs, 0 new judgments" in out

    store = Store.open(merged)
    runs = store.runs()
    assert Counter((r["instance_uid"], r["mode"]) for r in runs) == Counter(
        {(uid, mode): 1 for uid in {r["instance_uid"] for r in runs} for mode in ("direct", "stepwise")})
    assert len(runs) == 8 and len(store.judgments()) == 8
    edited = [s for r in store.runs(mode="stepwise") for s in store.load_trace(r["id"]).steps if s.image_sha]
    assert len(edited) == 4 and all(store.get_image(s.image_sha).size for s in edited)
    store.close()
