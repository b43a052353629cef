"""Vote throughput, latency and durability under concurrent writers, against a plain-sqlite3 reference.

A battle is the arena's four writes: issue, deliver A, deliver B, vote. N writers run battles for T
seconds against one SQLite file (a fresh one per row): threads sharing one ``Store`` (as Gradio's
workers do), or processes with a ``Store`` each (app workers, accelerate ranks), each process running
some threads. Each battle has its own voter and session, as an arena's visitors each vote at a person's
pace, so the rate-limit look-ups (a voter's recent battles and votes) stay as small as in use, and the app's
limits stay on (``--voter-per writer``: one voter per writer with the limits lifted, whose look-ups then
count thousands of earlier votes, in both designs). Every row runs twice in the same invocation: the project (``Arena`` over ``Store``,
group-committed), and a reference that does the same statements the plain-``sqlite3`` way, one synced
commit per step (a connection per writer, WAL, ``synchronous=FULL``, SQLite's busy handler). Afterwards
a fresh connection checks that every acknowledged vote is stored with its choice.

Printed per row: battles/s, p50/p99 of one write's latency (call to acknowledgement, ms), the p99 of a
whole battle, WAL syncs per battle (the project's ``fdatasync`` calls, counted in every writer process; the
reference syncs inside each COMMIT, 4 per battle, which Python cannot count), the writing processes' CPU a
battle, that CPU over the row's seconds ("cores": below the machine's cores, the row is bound by waiting, not by
CPU) and their context switches a battle (``getrusage``), errors, missing, and the ratio project / reference.
Goal (issue 18): at 32 threads >= 4x the reference, p99 < 50 ms, 0 missing; processes no slower than the same
number of writers as threads.

    python bench/votes.py                      # 1, 4, 32 threads; 4 processes x 1 and x 8 threads

Each row alternates project and reference in ``--rounds`` slices of ``--seconds``, so a busy machine
loads both alike.
    python bench/votes.py --seconds 3 --json votes.json

How the ratios move with the disk: the reference pays four syncs per battle while holding the write lock,
the project a fraction of one outside it, so the ratio grows with what a sync costs. The bench first prints
this disk's ``fdatasync`` latency (a virtual disk with a write cache: tens of microseconds; an SSD that
honours flushes: hundreds; a spinning disk: milliseconds). ``--flush-latency-us N`` emulates a slower disk
for both designs alike: it re-runs itself with an ``LD_PRELOAD`` shim (built with the system C compiler)
that waits N microseconds (a little more: the kernel's timer slack) after every ``fsync``/``fdatasync``
returns, in SQLite's and Python's calls and in every writer process; the probe line prints the latency in effect.
    python bench/votes.py --flush-latency-us 500     # a disk whose flush takes about 0.5 ms more
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource  # POSIX: CPU and context switches of the writers (the store needs fcntl, POSIX too)
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout, no install needed

from realunify_arena import walsync  # noqa: E402 - standard library only

# numpy, PIL and the arena and store (sqlite_utils brings pandas and numpy) are imported by the functions that use
# them, so ``--help`` and a usage error answer at once instead of after seconds of imports.

UID = "UEG_1_world_knowledge"
SYSTEMS = ("bench-a:direct", "bench-b:direct")
CHOICES = ("A", "B", "tie", "both_bad")
DESIGNS = ("project", "reference")


@dataclass
class Tally:
    acked: list[tuple[str, str]] = field(default_factory=list)  # (battle id, choice) acknowledged
    latencies: list[float] = field(default_factory=list)  # seconds from issue to acknowledged vote
    steps: list[float] = field(default_factory=list)  # seconds from each write's call to its acknowledgement
    errors: int = 0
    first_error: str = ""
    syncs: int = 0  # WAL fdatasync calls the project's stores made meanwhile (walsync)
    cpu: float = 0.0  # CPU seconds (user + system) of the writing process(es) meanwhile (getrusage)
    switches: int = 0  # their context switches meanwhile, voluntary and involuntary (getrusage)

    def merge(self, other: Tally) -> None:
        self.syncs += other.syncs
        self.cpu += other.cpu
        self.switches += other.switches
        self.acked += other.acked
        self.latencies += other.latencies
        self.steps += other.steps
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error


_SYNCS = [0]  # fdatasync calls of walsync in this process (each writer process counts its own)
_sync_file = walsync._sync_file


def _counted_sync(fd: int) -> None:
    _sync_file(fd)
    _SYNCS[0] += 1  # only the thread holding walsync's sync lock gets here: no race


walsync._sync_file = _counted_sync  # a spawned writer process imports this module, so it counts too


class PlainArena:
    """The reference: the arena's statements through plain ``sqlite3``, one synced commit per step.

    One connection per thread (``sqlite3`` objects are not shared), ``BEGIN IMMEDIATE`` ... ``COMMIT``
    per step, SQLite's own busy handler (``timeout=30``) between writers."""

    def __init__(self, db: str):
        from realunify_arena.arena import _session_key
        from realunify_arena.store import now

        self.db = db
        self.local = threading.local()
        self._key, self._now = _session_key, now  # the project's session hash and timestamps, as it stores them

    def conn(self) -> sqlite3.Connection:
        if not hasattr(self.local, "conn"):
            conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=wal")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self.local.conn = conn
        return self.local.conn

    def _step(self, work):
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
            return result
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def new_battle(self, session, voter, uid, dataset, system_a, system_b, kind) -> str:
        battle_id = secrets.token_urlsafe(24)

        def work(c):
            c.execute("select count(*) from battles where voter = ? and created_at > ?", (voter, "")).fetchone()
            c.execute("insert into battles (id, session_key, voter, dataset, instance_uid, track, kind, system_a,"
                      " system_b, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (battle_id, self._key(session), voter, dataset, uid, uid.split("_")[0], kind, system_a,
                       system_b, self._now()))
        self._step(work)
        return battle_id

    def deliver(self, battle_id, session, side, run_id) -> None:
        column = side.lower()

        def work(c):
            battle = c.execute("select session_key from battles where id = ?", (battle_id,)).fetchone()
            assert battle is not None and battle[0] == self._key(session)
            assert c.execute("select 1 from votes where battle_id = ?", (battle_id,)).fetchone() is None
            assert c.execute("select instance_uid, model, mode from runs where id = ?", (run_id,)).fetchone()
            c.execute(f"update battles set run_{column} = ?, delivered_{column}_at = ? where id = ?",
                      (run_id, self._now(), battle_id))
        self._step(work)

    def vote(self, battle_id, session, voter, choice) -> None:
        def work(c):
            battle = c.execute("select session_key, delivered_a_at, delivered_b_at from battles where id = ?",
                               (battle_id,)).fetchone()
            assert battle[0] == self._key(session) and battle[1] and battle[2]
            assert c.execute("select 1 from votes where battle_id = ?", (battle_id,)).fetchone() is None
            c.execute("select count(*) from votes where voter = ? and created_at > ?", (voter, "")).fetchone()
            c.execute("insert into votes (battle_id, voter, choice, created_at) values (?, ?, ?, ?)",
                      (battle_id, voter, choice, self._now()))
        self._step(work)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Target:
    """One row's database, its two stored runs, and which design writes to it."""

    db: str
    run_ids: dict[str, int]
    design: str
    voter_per: str = "battle"  # "battle": each battle its own voter, as in use; "writer": one voter per writer

    @classmethod
    def prepare(cls, db: Path, design: str, voter_per: str = "battle") -> Target:
        from PIL import Image

        from realunify_arena.store import Store
        from realunify_arena.systems import System
        from realunify_arena.trace import Step, StepRole, Trace

        store = Store.open(db)
        run_ids = {}
        for system in SYSTEMS:
            parsed = System.parse(system)
            trace = Trace(UID, parsed.model, parsed.mode, {"seed": 0},
                          steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (8, 8)))])
            run_ids[system] = store.save_trace(trace, "bench")
        store.close()
        return cls(str(db), run_ids, design, voter_per)

    def open(self):
        from realunify_arena.arena import Arena
        from realunify_arena.store import Store

        if self.design == "reference":
            return PlainArena(self.db)
        if self.voter_per == "battle":  # the app's own limits: a voter per battle never reaches them
            return Arena(Store.open(self.db))
        return Arena(Store.open(self.db), max_votes=10**9, max_battles=10**9)  # writes, not the rate limits


def close(arena) -> None:
    if not isinstance(arena, PlainArena):
        arena.store.close()


def cast(arena, writer: str, run_ids: dict[str, int], deadline: float, voter_per: str = "battle") -> Tally:
    tally = Tally()
    n = 0
    while time.perf_counter() < deadline:
        session, choice = f"{writer}-{n}", CHOICES[n % len(CHOICES)]
        voter = f"hf:{writer}-{n}" if voter_per == "battle" else f"hf:{writer}"
        try:
            t0 = time.perf_counter()
            battle = arena.new_battle(session, voter, UID, "bench", *SYSTEMS, "model_vs_model")
            t1 = time.perf_counter()
            arena.deliver(battle, session, "A", run_ids[SYSTEMS[0]])
            t2 = time.perf_counter()
            arena.deliver(battle, session, "B", run_ids[SYSTEMS[1]])
            t3 = time.perf_counter()
            arena.vote(battle, session, voter, choice)
            t4 = time.perf_counter()
            tally.steps += [t1 - t0, t2 - t1, t3 - t2, t4 - t3]
            tally.latencies.append(t4 - t0)
            tally.acked.append((battle, choice))
        except Exception as e:  # noqa: BLE001 - counted and reported; the bench must finish
            tally.errors += 1
            tally.first_error = tally.first_error or f"{type(e).__name__}: {e}"
        n += 1
    return tally


def _threads(arena, name: str, threads: int, target: Target, start_barrier, seconds: float) -> Tally:
    tallies = [Tally() for _ in range(threads)]
    deadline = [0.0]
    barrier = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        barrier.wait()
        tallies[i] = cast(arena, f"{name}-{i}", target.run_ids, deadline[0], target.voter_per)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    start_barrier()
    deadline[0] = time.perf_counter() + seconds
    syncs, before = _SYNCS[0], resource.getrusage(resource.RUSAGE_SELF)
    barrier.wait()
    for t in workers:
        t.join()
    after = resource.getrusage(resource.RUSAGE_SELF)  # the whole process: its other threads only wait meanwhile
    total = Tally(syncs=_SYNCS[0] - syncs,
                  cpu=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                  switches=after.ru_nvcsw + after.ru_nivcsw - before.ru_nvcsw - before.ru_nivcsw)
    for tally in tallies:
        total.merge(tally)
    return total


def run_threads(target: Target, threads: int, seconds: float) -> tuple[Tally, float]:
    arena = target.open()
    start = [0.0]

    def begin():
        start[0] = time.perf_counter()

    tally = _threads(arena, f"t{threads}", threads, target, begin, seconds)
    elapsed = time.perf_counter() - start[0]
    close(arena)
    return tally, elapsed


def _process_writer(target: Target, name: str, threads: int, seconds: float, barrier, results) -> None:
    arena = target.open()
    results.put(_threads(arena, name, threads, target, barrier.wait, seconds))
    close(arena)


def run_processes(target: Target, processes: int, threads: int, seconds: float) -> tuple[Tally, float]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [ctx.Process(target=_process_writer,
                         args=(target, f"p{processes}x{threads}-{i}", threads, seconds, barrier, results))
             for i in range(processes)]
    for p in procs:
        p.start()
    barrier.wait()  # every process has imported and opened its store
    start = time.perf_counter()
    total = Tally()
    for _ in procs:
        total.merge(results.get())
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return total, elapsed


def missing(db: str, acked: list[tuple[str, str]]) -> int:
    """Acknowledged votes that a fresh connection cannot find with the acknowledged choice."""
    conn = sqlite3.connect(db)
    stored = set(conn.execute("select battle_id, choice from votes"))
    conn.close()
    return sum(vote not in stored for vote in acked)


def statements_per_battle(tmp: Path) -> dict[str, int]:
    """SQL statements one battle runs on the write connection(s), counted by SQLite's trace hook."""
    counts = {}
    for design in DESIGNS:
        target = Target.prepare(tmp / f"count-{design}.db", design)
        arena = target.open()
        seen: list[str] = []
        conn = arena.conn() if isinstance(arena, PlainArena) else arena.store._conn
        conn.set_trace_callback(seen.append)
        session = "count-session"
        battle = arena.new_battle(session, "hf:count", UID, "bench", *SYSTEMS, "model_vs_model")
        arena.deliver(battle, session, "A", target.run_ids[SYSTEMS[0]])
        arena.deliver(battle, session, "B", target.run_ids[SYSTEMS[1]])
        arena.vote(battle, session, "hf:count", "A")
        conn.set_trace_callback(None)
        counts[design] = len(seen)
        close(arena)
    return counts


@dataclass
class Row:
    label: str
    writers: int
    design: str
    battles: int
    seconds: float
    rate: float
    p50_ms: float  # one write (issue, deliver or vote), call to acknowledgement
    p99_ms: float
    battle_p50_ms: float  # a whole battle, issue to acknowledged vote
    battle_p99_ms: float
    syncs_per_battle: float  # the project's WAL syncs; nan for the reference (4: one per COMMIT, in SQLite)
    cpu_us_per_battle: float  # CPU (user + system) of the writing process(es) a battle, microseconds
    cores_busy: float  # that CPU over the row's seconds: 2.0 is both cores of a 2-core machine
    switches_per_battle: float  # context switches of the writing process(es) a battle
    errors: int
    missing: int
    first_error: str


def measure(tmp: Path, i: int, label: str, design: str, processes: int, threads: int, seconds: float,
            rounds: range, voter_per: str = "battle"):
    """A generator: yields None after each round, then the row."""
    import numpy as np

    target = Target.prepare(tmp / f"bench-{i}-{design}.db", design, voter_per)  # a fresh file per row
    tally, elapsed = Tally(), 0.0
    for _ in rounds:  # the caller alternates designs round by round, so both see the same machine load
        if processes:
            part, took = run_processes(target, processes, threads, seconds)
        else:
            part, took = run_threads(target, threads, seconds)
        tally.merge(part)
        elapsed += took
        yield None
    missing_votes = missing(target.db, tally.acked)
    p50, p99 = (np.percentile(tally.steps, [50, 99]) * 1000 if tally.steps else (np.nan, np.nan))
    b50, b99 = (np.percentile(tally.latencies, [50, 99]) * 1000 if tally.latencies else (np.nan, np.nan))
    yield Row(label, (processes or 1) * threads, design, len(tally.acked), round(elapsed, 3),
              len(tally.acked) / elapsed, float(p50), float(p99), float(b50), float(b99),
              tally.syncs / len(tally.acked) if tally.acked and design == "project" else float("nan"),
              tally.cpu / len(tally.acked) * 1e6 if tally.acked else float("nan"),
              tally.cpu / elapsed if elapsed else float("nan"),
              tally.switches / len(tally.acked) if tally.acked else float("nan"), tally.errors,
              missing_votes, tally.first_error)


_FLUSH_ENV, _SHIM_DIR_ENV = "VOTES_BENCH_FLUSH_US", "VOTES_BENCH_SHIM_DIR"
_FLUSH_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
static long added_ns = -1;
static void wait_added(void) {
    if (added_ns < 0) { const char *us = getenv("%s"); added_ns = us ? atol(us) * 1000L : 0; }
    if (added_ns > 0) { struct timespec t = {added_ns / 1000000000L, added_ns %% 1000000000L}; nanosleep(&t, NULL); }
}
int fsync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fsync");
                    int rc = real(fd); wait_added(); return rc; }
int fdatasync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
                        int rc = real(fd); wait_added(); return rc; }
""" % _FLUSH_ENV


def emulate_flush_latency(us: int) -> None:
    """Re-run this bench with every ``fsync``/``fdatasync`` taking ``us`` microseconds longer (an
    ``LD_PRELOAD`` shim, inherited by the writer processes); returns only inside the re-run."""
    if os.environ.get(_FLUSH_ENV) == str(us):
        return
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("--flush-latency-us builds an LD_PRELOAD shim and needs a C compiler (cc or gcc) on PATH")
    build = Path(tempfile.mkdtemp(prefix="votes-bench-flush-"))
    try:  # the re-run removes the folder when it ends; until it has started, it is this process's to remove
        (build / "flush.c").write_text(_FLUSH_SHIM)
        built = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(build / "flush.so"), str(build / "flush.c"),
                                "-ldl"])
        if built.returncode != 0:
            sys.exit(f"--flush-latency-us: {cc} could not build the LD_PRELOAD shim (exit status {built.returncode})")
        preload = " ".join(filter(None, [str(build / "flush.so"), os.environ.get("LD_PRELOAD", "")]))
        env = dict(os.environ, LD_PRELOAD=preload, **{_FLUSH_ENV: str(us), _SHIM_DIR_ENV: str(build)})
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    except BaseException:  # a failed build or exec (execve itself never returns)
        shutil.rmtree(build, ignore_errors=True)
        raise


def flush_latency_us(folder: Path, n: int = 200) -> float:
    """Median seconds x 1e6 of writing one 4 KiB page and ``fdatasync``ing it, in ``folder``."""
    path = folder / "flush-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    times = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1e6


def main() -> None:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="seconds per row and design, split into the rounds (default 6)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4, 32],
                        help="writer threads in one process, one row each (default 1 4 32)")
    parser.add_argument("--processes", type=int, default=4, help="writer processes (default 4; 0: none)")
    parser.add_argument("--process-threads", type=int, nargs="+", default=[1, 8],
                        help="threads per writer process, one row each (default 1 8)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate project and reference this many times per row (default 3)")
    parser.add_argument("--voter-per", choices=("battle", "writer"), default="battle",
                        help="battle (default): each battle has its own voter, as an arena's visitors vote at a"
                             " person's pace, and the app's rate limits stay on (never reached); writer: one"
                             " voter per writer casting thousands of votes, limits lifted, so each rate-limit"
                             " look-up counts every earlier vote of that writer in both designs")
    parser.add_argument("--json", type=Path, help="also write every row to this JSON file")
    parser.add_argument("--flush-latency-us", type=int, default=0, metavar="N",
                        help="emulate a slower disk: every fsync/fdatasync of both designs takes N microseconds"
                             " longer (needs a C compiler; default 0: the disk as it is)")
    args = parser.parse_args()
    if args.flush_latency_us < 0:
        parser.error("--flush-latency-us: expected microseconds >= 0")
    if args.flush_latency_us:
        emulate_flush_latency(args.flush_latency_us)
    try:
        run(args)
    finally:
        if os.environ.get(_SHIM_DIR_ENV):
            shutil.rmtree(os.environ[_SHIM_DIR_ENV], ignore_errors=True)


def run(args: argparse.Namespace) -> None:

    configs = [(f"threads {n}", 0, n) for n in args.threads]
    if args.processes:
        configs += [(f"procs {args.processes}x{k}", args.processes, k) for k in args.process_threads]
    # A processes row runs interleaved with the threads row of as many writers (round by round), so the
    # processes / threads ratio compares the two under the same machine load.
    groups: list[list[tuple[str, int, int]]] = []
    for config in configs:
        label, processes, threads = config
        twin = [g for g in groups if processes and g[0][1] == 0 and g[0][2] == processes * threads]
        (twin[0].append(config) if twin else groups.append([config]))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        added = f" ({args.flush_latency_us} us of it added by --flush-latency-us)" if args.flush_latency_us else ""
        print(f"fdatasync of one 4 KiB page in {tmp}: median {flush_latency_us(Path(tmp)):.0f} us{added}")
        statements = statements_per_battle(Path(tmp))
        print(f"SQL statements per battle (issue + deliver A + deliver B + vote, one writer):"
              f" project {statements['project']}, reference {statements['reference']}")
        print("p50/p99: one write (issue, deliver, vote) from call to acknowledgement; battle p99: issue to"
              " acknowledged vote; cpu us/b, cores, cs/b: the writing process(es)' CPU a battle, that CPU over the"
              " row's seconds, context switches a battle (getrusage); ratio: battles/s against the reference of the"
              " same row")
        print(f"{'row':<14}{'writers':>8}{'design':>10}{'battles':>9}{'battles/s':>11}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'battle p99':>11}{'syncs/b':>8}{'cpu us/b':>9}{'cores':>6}{'cs/b':>6}{'errors':>8}"
              f"{'missing':>9}{'ratio':>8}")
        for group in groups:
            runs = {(label, design): measure(Path(tmp), configs.index((label, processes, threads)), label,
                                             design, processes, threads, args.seconds / args.rounds,
                                             range(args.rounds), args.voter_per)
                    for label, processes, threads in group for design in DESIGNS}
            for _ in range(args.rounds):  # project, reference, project, ...: the same load for all
                for run in runs.values():
                    next(run)
            done = {key: next(run) for key, run in runs.items()}
            for (label, design), row in done.items():
                reference = done[(label, "reference")]
                ratio = row.rate / reference.rate if reference.rate else float("nan")
                print(f"{label:<14}{row.writers:>8}{design:>10}{row.battles:>9}{row.rate:>11.1f}"
                      f"{row.p50_ms:>9.2f}{row.p99_ms:>9.2f}{row.battle_p99_ms:>11.1f}{row.syncs_per_battle:>8.2f}"
                      f"{row.cpu_us_per_battle:>9.0f}{row.cores_busy:>6.2f}{row.switches_per_battle:>6.1f}"
                      f"{row.errors:>8}{row.missing:>9}"
                      f"{ratio if design == 'project' else 1.0:>8.2f}")
                if row.first_error:
                    print(f"    first error: {row.first_error[:200]}")
                rows.append(row)
    by = {(r.label, r.design): r for r in rows}
    for label, processes, threads in configs:
        if processes and (f"threads {processes * threads}", "project") in by:
            same = by[(f"threads {processes * threads}", "project")]
            print(f"{label} vs threads {processes * threads} (project, interleaved in the same rounds): "
                  f"{by[(label, 'project')].rate / same.rate:.2f}x the battles/s"
                  f" (goal >= 0.9; write p99 {by[(label, 'project')].p99_ms:.1f} ms, goal < 50)")
    if args.json:
        args.json.write_text(json.dumps({"statements_per_battle": statements,
                                         "rows": [asdict(r) for r in rows]}, indent=1))


if __name__ == "__main__":
    main()
