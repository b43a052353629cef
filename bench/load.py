"""Load: many simulated users browse instances, run stored-run battles and vote against the real app.

The app runs as a subprocess (``python app.py``, arena mode ``stored``, a fresh database seeded with a
stored run of every bundled instance for four systems) on a loopback port. Each user is its own
``gradio_client.Client`` (its own session) calling from its own address (``X-Forwarded-For``), so the
per-voter rate limit applies per user as it would on a Space. A user's round is: list the instances of
a track, start a battle, vote, every fifth round read the leaderboard, then think for ``--think``
seconds (kept above the rate limit's 2 s per vote, so no vote is refused for speed).

The reference is one user alone for a few seconds in the same run; the table prints each endpoint's
p50 under load as a ratio to it. Afterwards a fresh connection counts the stored votes: every
acknowledged vote must be there, and nothing else. Exit status 1 if any request failed or a vote is
missing.

    python bench/load.py                          # 50 users for 60 s
    python bench/load.py --users 5 --seconds 8 --think 1    # the short run CI uses
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a checkout right after `pip install -r requirements.txt`
SYSTEMS = ("tiny-pair:direct", "tiny-pair:stepwise", "tiny-janus:direct", "tiny-janus:stepwise")
ENDPOINTS = ("/instances", "/new_battle", "/vote", "/leaderboard")
# httpx, numpy, PIL, gradio_client and the project are imported by the functions that use them, so ``--help`` and
# a usage error answer at once instead of after seconds of imports.


def seed_stored_runs(db: Path, systems: tuple[str, ...] = SYSTEMS, source: str = "bundled") -> int:
    """Store a finished run of every instance of ``source`` for every system; returns how many."""
    from PIL import Image

    from realunify_arena.benchmark import load
    from realunify_arena.benchmark.schema import GEUInstance
    from realunify_arena.store import Store
    from realunify_arena.systems import System
    from realunify_arena.trace import Step, StepRole, Trace

    dataset = load(source)
    store = Store.open(db)
    rng = random.Random(0)
    count = 0
    for inst in dataset.instances:
        for system in systems:
            parsed = System.parse(system)
            pixels = Image.new("RGB", (16, 16), tuple(rng.randrange(256) for _ in range(3)))
            if isinstance(inst, GEUInstance):
                steps = [Step(StepRole.ANSWER, inst.mcq_text, text=rng.choice("ABCD"))]
            else:
                steps = [Step(StepRole.GENERATED_IMAGE, inst.prompt, image=pixels)]
            # pinned, as `eval` and `import-results` store them: stored battles draw only pinned runs
            store.save_trace(Trace(inst.uid, parsed.model, parsed.mode, {"seed": 0}, steps=steps), dataset.name,
                             pin=True)
            count += 1
    store.close()
    return count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """``python app.py`` on a loopback port, over a given database, with its output in a log file."""

    def __init__(self, db: Path, log: Path, *extra_args: str, env: dict[str, str] | None = None,
                 trusted_proxies: int = 1):
        # Simulated users are told apart by their X-Forwarded-For, as visitors behind one proxy are.
        self.db, self.log, self.extra_args = db, log, ("--trusted-proxies", str(trusted_proxies), *extra_args)
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 180.0) -> str:
        """Launch and wait until the API answers; returns the app's URL."""
        import httpx

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        args = [sys.executable, str(ROOT / "app.py"), "--db", str(self.db), "--host", "127.0.0.1",
                "--port", str(port), "--arena-mode", "stored", "--models", "tiny-pair,tiny-janus",
                *self.extra_args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}; see {self.log}")
            try:
                if httpx.get(self.url + "gradio_api/info", timeout=2).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"app.py did not answer within {timeout:g} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no final commit, as in a crash or an OOM kill."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> AppProcess:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    acked_votes: list[int] = field(default_factory=list)  # vote ids the app acknowledged
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, endpoint: str, client, *args):
        start = time.perf_counter()
        try:
            result = client.predict(*args, api_name=endpoint)
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown, the run goes on
            with self.lock:
                self.errors[endpoint].append(f"{type(e).__name__}: {e}")
            return None
        with self.lock:
            self.latencies[endpoint].append(time.perf_counter() - start)
        return result


def user(client, tally: Tally, deadline: float, think: float, rng: random.Random) -> None:
    """One person's rounds until the deadline (a round started before it is finished)."""
    rounds = 0
    while time.monotonic() < deadline:
        track = rng.choice(("UEG", "GEU"))
        tally.timed("/instances", client, "bundled", track, "all")
        battle = tally.timed("/new_battle", client, "bundled", track, "any")
        if battle is not None:
            if not battle.get("ready"):
                with tally.lock:
                    tally.errors["/new_battle"].append(f"battle not ready: {battle}")
            else:
                vote = tally.timed("/vote", client, battle["battle_id"], rng.choice(("A", "B", "tie", "both_bad")))
                if vote is not None:
                    with tally.lock:
                        tally.acked_votes.append(vote["vote_id"])
        if rounds % 5 == 0:
            tally.timed("/leaderboard", client, track, "model_vs_model")
        rounds += 1
        time.sleep(think * rng.uniform(1.0, 1.2))


def drive(url: str, users: int, seconds: float, think: float, first_ip: int = 1) -> tuple[Tally, float]:
    """``users`` concurrent users for ``seconds``; clients are connected before the clock starts."""
    from gradio_client import Client

    addresses = [f"10.{n // 250}.{n % 250}.1" for n in range(first_ip, first_ip + users)]
    clients = [Client(url, verbose=False, headers={"x-forwarded-for": ip}, download_files=False) for ip in addresses]
    tally = Tally()
    deadline = time.monotonic() + seconds
    start = time.perf_counter()
    threads = [threading.Thread(target=user, args=(c, tally, deadline, think, random.Random(i)))
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    for c in clients:
        c.close()
    return tally, elapsed


def stored_votes(db: Path) -> set[int]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("select id from votes")}
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("pragma integrity_check").fetchone()[0]
    finally:
        conn.close()


def percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    import numpy as np

    p50, p99 = np.percentile(values, [50, 99]) * 1000
    return float(p50), float(p99)


def report(reference: Tally, loaded: Tally, elapsed: float, users: int, acked: set[int], stored: set[int],
           check: str) -> dict:
    """Print the table and return the figures (``--json`` writes them)."""
    requests = sum(len(v) for v in loaded.latencies.values())
    failures = [e for tally in (reference, loaded) for v in tally.errors.values() for e in v]
    rows = {}
    print(f"{'endpoint':<14}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'alone p50':>11}{'ratio':>7}{'errors':>8}")
    for endpoint in ENDPOINTS:
        p50, p99 = percentiles(loaded.latencies[endpoint])
        alone, _ = percentiles(reference.latencies[endpoint])
        ratio = p50 / alone if alone > 0 else float("nan")
        rows[endpoint] = {"requests": len(loaded.latencies[endpoint]), "p50_ms": round(p50, 1),
                          "p99_ms": round(p99, 1), "alone_p50_ms": round(alone, 1), "ratio": round(ratio, 2),
                          "errors": len(loaded.errors[endpoint])}
        print(f"{endpoint:<14}{rows[endpoint]['requests']:>9}{p50:>9.1f}{p99:>9.1f}{alone:>11.1f}{ratio:>7.2f}"
              f"{rows[endpoint]['errors']:>8}")
    figures = {"users": users, "seconds": round(elapsed, 1), "requests": requests,
               "requests_per_s": round(requests / elapsed, 1), "errors": len(failures),
               "votes_acknowledged": len(acked), "votes_stored": len(stored),
               "votes_missing": len(acked - stored), "votes_unacknowledged": len(stored - acked),
               "integrity": check, "endpoints": rows, "error_samples": failures[:5],
               "machine": f"{os.cpu_count()} CPUs, {sys.platform}"}
    print(f"{users} users, {elapsed:.1f} s: {requests} requests ({figures['requests_per_s']}/s), "
          f"{len(failures)} errors; votes acknowledged {len(acked)}, stored {len(stored)}, "
          f"missing {figures['votes_missing']}; integrity_check {check}")
    for sample in figures["error_samples"]:
        print("  error:", sample)
    return figures


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=2.5,
                        help="seconds a user waits between rounds (default 2.5; the rate limit allows 30 votes/min)")
    parser.add_argument("--reference-seconds", type=float, default=5.0, help="one user alone first (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", type=Path, help="keep the database and app log in this folder")
    parser.add_argument("app_args", nargs="*", help="extra app.py flags after --, e.g. -- --queue-size 64")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "arena.db"
        runs = seed_stored_runs(db)
        print(f"seeded {runs} stored runs; starting app.py")
        with AppProcess(db, folder / "app.log", *args.app_args) as app:
            reference, _ = drive(app.url, 1, args.reference_seconds, think=max(0.2, args.reference_seconds / 25),
                                 first_ip=0)
            loaded, elapsed = drive(app.url, args.users, args.seconds, args.think)
        acked = set(reference.acked_votes) | set(loaded.acked_votes)
        figures = report(reference, loaded, elapsed, args.users, acked, stored_votes(db), integrity(db))
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    ok = (figures["errors"] == 0 and figures["votes_missing"] == 0 and figures["votes_unacknowledged"] == 0
          and figures["integrity"] == "ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
