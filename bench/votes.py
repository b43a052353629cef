"""Vote throughput and durability under concurrent writers.

N writers (threads sharing one Store, as Gradio's workers do, or processes with a Store each, as
a second app replica or a CLI beside the app would) run full battles (issue, deliver A and B, vote)
for T seconds against one SQLite file (a fresh one per row). Afterwards a fresh connection checks
that every acknowledged vote is there. The reference is one thread writer measured in the same run;
the other rows print their ratio to it.

    python bench/votes.py --seconds 5 --writers 1 8 32
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from realunify_arena.arena import Arena
from realunify_arena.store import Store
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace

UID = "UEG_1_world_knowledge"
SYSTEMS = ("bench-a:direct", "bench-b:direct")
CHOICES = ("A", "B", "tie", "both_bad")


@dataclass
class Tally:
    acked: list[tuple[str, str]] = field(default_factory=list)  # (battle id, choice) acknowledged
    latencies: list[float] = field(default_factory=list)  # seconds spent in arena.vote
    errors: int = 0

    def merge(self, other: Tally) -> None:
        self.acked += other.acked
        self.latencies += other.latencies
        self.errors += other.errors


@dataclass(frozen=True)
class Target:
    """One row's database, its two stored runs, and the store's disk-sync level."""

    db: str
    run_ids: dict[str, int]
    synchronous: str

    @classmethod
    def prepare(cls, db: Path, synchronous: str) -> Target:
        store = Store.open(db, synchronous=synchronous)
        run_ids = {}
        for system in SYSTEMS:
            parsed = System.parse(system)
            trace = Trace(UID, parsed.model, parsed.mode, {"seed": 0},
                          steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (8, 8)))])
            run_ids[system] = store.save_trace(trace, "bench")
        store.close()
        return cls(str(db), run_ids, synchronous)

    def open(self) -> tuple[Store, Arena]:
        store = Store.open(self.db, synchronous=self.synchronous)
        return store, Arena(store, max_votes=10**9)  # the bench measures the store, not the rate limit


def cast(arena: Arena, writer: str, run_ids: dict[str, int], deadline: float) -> Tally:
    tally = Tally()
    n = 0
    while time.perf_counter() < deadline:
        session, voter, choice = f"{writer}-{n}", f"hf:{writer}", CHOICES[n % len(CHOICES)]
        try:
            battle = arena.new_battle(session, voter, UID, "bench", *SYSTEMS, "model_vs_model")
            arena.deliver(battle, session, "A", run_ids[SYSTEMS[0]])
            arena.deliver(battle, session, "B", run_ids[SYSTEMS[1]])
            start = time.perf_counter()
            arena.vote(battle, session, voter, choice)
            tally.latencies.append(time.perf_counter() - start)
            tally.acked.append((battle, choice))
        except Exception:  # noqa: BLE001 - counted and reported; the bench must finish
            tally.errors += 1
        n += 1
    return tally


def run_threads(target: Target, writers: int, seconds: float) -> tuple[Tally, float]:
    store, arena = target.open()
    tallies = [Tally() for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)
    deadline = [0.0]

    def work(i: int) -> None:
        barrier.wait()
        tallies[i] = cast(arena, f"t{writers}-{i}", target.run_ids, deadline[0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    store.close()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total, elapsed


def _process_writer(target: Target, name: str, seconds: float, barrier, results) -> None:
    store, arena = target.open()
    barrier.wait()
    results.put(cast(arena, name, target.run_ids, time.perf_counter() + seconds))
    store.close()


def run_processes(target: Target, writers: int, seconds: float) -> tuple[Tally, float]:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=_process_writer, args=(target, f"p{writers}-{i}", seconds, barrier, results))
             for i in range(writers)]
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
    store = Store.open(db)
    stored = {(r["battle_id"], r["choice"]) for r in store.query("select battle_id, choice from votes")}
    store.close()
    return sum(vote not in stored for vote in acked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each row (default 5)")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--modes", nargs="+", choices=("threads", "processes"),
                        default=["threads", "processes"])
    parser.add_argument("--synchronous", choices=("full", "normal"), default="full",
                        help="the store's disk-sync level (default full, as the app runs)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        runners = {"threads": run_threads, "processes": run_processes}
        reference = 1.0
        print(f"{'mode':<10}{'writers':>8}{'votes':>8}{'votes/s':>10}{'ratio':>8}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'errors':>8}{'missing':>9}")
        rows = [("threads", 1)] + [(m, n) for m in args.modes for n in args.writers]
        for i, (mode, writers) in enumerate(rows):
            target = Target.prepare(Path(tmp) / f"bench-{i}.db", args.synchronous)  # fresh file per row
            tally, elapsed = runners[mode](target, writers, args.seconds)
            rate = len(tally.acked) / elapsed
            reference = rate if i == 0 else reference
            p50, p99 = (np.percentile(tally.latencies, [50, 99]) * 1000 if tally.latencies
                        else (float("nan"), float("nan")))
            label = "reference" if i == 0 else mode
            print(f"{label:<10}{writers:>8}{len(tally.acked):>8}{rate:>10.1f}{rate / reference:>8.2f}"
                  f"{p50:>9.2f}{p99:>9.2f}{tally.errors:>8}{missing(target.db, tally.acked):>9}")


if __name__ == "__main__":
    main()
