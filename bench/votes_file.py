"""Peak memory and time of `leaderboard --votes FILE` reading FastChat battles, against a plain json.load.

A FastChat-shaped ``clean_battle`` file is written (``--battles`` battles among 20 models, as
``clean_battle_data.py`` writes them with ``json.dump(battles, fout, indent=2)``: model_a, model_b, winner,
judge, turn, anony (10% false), language, tstamp, dedup_tag, and both conversations of 1-3 turns of prose),
then read in a fresh Python process each (a process's peak never goes down):

- project: ``vote_files.read_votes`` (what ``leaderboard --votes`` reads: a JSON array streamed one battle
  at a time through ijson, each battle's fields checked, its conversations dropped);
- reference: ``json.load`` of the same file, nothing else (the whole array in memory at once);
- project, JSON Lines: ``read_votes`` of the same battles one a line (read a line at a time);
- results reader, JSON Lines: ``result_files.read_entries`` (what ``import-results`` and ``score-official`` read a
  ``.jsonl`` result file with) of that same file, which keeps every entry whole, as ``json.load`` does: its rise
  is the entries', without the file's text beside them (read whole before: 1.04x json.load's rise, 0.56x
  now, 5,000 battles, 16 MiB, on a 2-core machine).

Each process's peak resident memory (``VmHWM``, Linux; else ``ru_maxrss``) is taken after its imports and
after the read; the rise and the seconds are printed, and the project's over the reference's. Goals: the
project's memory rise <= 0.25x the reference's, for either layout, its time (the array's) <= 1.5x; the results
reader's rise <= 0.75x (it keeps what json.load keeps, less the text).

    python bench/votes_file.py [--battles 50000] [--repeat 1] [--keep FILE]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable right after `pip install -r requirements.txt`

MEASURE = r"""
import json, sys, time
from pathlib import Path

def peak():  # this process's peak resident memory, bytes
    try:
        with open("/proc/self/status") as status:
            return int(status.read().split("VmHWM:")[1].split()[0]) * 1024
    except (OSError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)

mode, path = sys.argv[1], Path(sys.argv[2])
if mode == "project":
    from realunify_arena.vote_files import read_votes
elif mode == "results":
    from realunify_arena.benchmark.result_files import read_entries
before = peak()
started = time.perf_counter()
if mode == "project":
    count = len(read_votes(path, ("UEG", "model_vs_model")))
elif mode == "results":
    problems = []
    count = len(read_entries(path, problems)[0])
    assert not problems, problems[:1]
else:
    with open(path, "rb") as f:
        count = len(json.load(f))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rise": peak() - before, "count": count}))
"""

WORDS = ("the image shows a red cube on the left of two blue spheres and the answer is B because the model "
         "generated picture matches every polling question except the last one which asks about count").split()


def write_battles(path: Path, n: int, seed: int = 0, lines: bool = False) -> None:
    """``n`` FastChat battles, one JSON array written item by item (``indent=2`` as FastChat writes it), or with
    ``lines`` the same battles one a line (JSON Lines)."""
    import random

    rng = random.Random(seed)
    models = [f"model-{i:02d}" for i in range(20)]
    winners = ("model_a", "model_b", "tie", "tie (bothbad)")

    def conversation() -> list[dict]:
        return [{"role": "user" if t % 2 == 0 else "assistant",
                 "content": " ".join(rng.choices(WORDS, k=rng.randint(10, 120)))} for t in range(2 * rng.randint(1, 3))]

    with open(path, "w", encoding="utf-8") as f:
        f.write("" if lines else "[\n")
        for k in range(n):
            a = rng.randrange(20)
            b = (a + rng.randrange(1, 20)) % 20
            battle = {"question_id": f"{k:032x}", "model_a": models[a], "model_b": models[b],
                      "winner": rng.choice(winners), "judge": f"arena_user_{rng.randrange(10**6)}",
                      "conversation_a": conversation(), "conversation_b": conversation(), "turn": 1,
                      "anony": rng.random() >= 0.1, "language": "English", "tstamp": 1.7e9 + k,
                      "dedup_tag": {"high_freq": False, "sampled": True}}
            if lines:
                f.write(json.dumps(battle) + "\n")
            else:
                f.write(("" if k == 0 else ",\n") + json.dumps(battle, indent=2))
        f.write("" if lines else "\n]\n")


def measure(mode: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", MEASURE, mode, str(path)], capture_output=True, text=True, env=env,
                          timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=50_000, help="battles in the generated file (default 50000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each reader; the fastest is kept (default 1)")
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it (reused if present)")
    args = parser.parse_args(argv)
    if args.battles < 1 or args.repeat < 1:
        parser.error("--battles and --repeat take a whole number from 1")

    import ijson

    folder = None
    if args.keep:
        path = args.keep
    else:
        folder = tempfile.TemporaryDirectory(prefix="bench-votes-file-")
        path = Path(folder.name) / "clean_battle.json"
    if not path.is_file():
        write_battles(path, args.battles)
    lines = path.with_name(path.stem + ".jsonl")
    if not lines.is_file():
        write_battles(lines, args.battles, lines=True)
    lines_size = lines.stat().st_size
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f}; ijson {ijson.__version__}, backend"
          f" {ijson.backend}; file: {path.stat().st_size / 2**20:.1f} MiB, {args.battles} battles")
    try:
        rows = {mode: min((measure(mode, path) for _ in range(args.repeat)), key=lambda r: r["seconds"])
                for mode in ("reference", "project")}
        rows["lines"] = min((measure("project", lines) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        results = lines.with_name("GEU_direct.jsonl")  # the name a result file has; the entries are not checked
        if not results.exists():
            os.link(lines, results)
        try:
            rows["results"] = min((measure("results", results) for _ in range(args.repeat)),
                                  key=lambda r: r["seconds"])
        finally:
            if folder is not None or not args.keep:
                results.unlink()
    finally:
        if folder is not None:
            folder.cleanup()
    ref, ours, per_line = rows["reference"], rows["project"], rows["lines"]
    print(f"{'reader':<34} {'seconds':>8} {'peak rise MiB':>14} {'items':>8}")
    print(f"{'reference: json.load':<34} {ref['seconds']:>8.2f} {ref['rise'] / 2**20:>14.1f} {ref['count']:>8}")
    print(f"{'project: vote_files.read_votes':<34} {ours['seconds']:>8.2f} {ours['rise'] / 2**20:>14.1f}"
          f" {ours['count']:>8}")
    print(f"{'project: the same as JSON Lines':<34} {per_line['seconds']:>8.2f} {per_line['rise'] / 2**20:>14.1f}"
          f" {per_line['count']:>8}")
    memory, seconds = ours["rise"] / max(ref["rise"], 1), ours["seconds"] / ref["seconds"]
    print(f"project / reference: memory {memory:.3f}x, time {seconds:.2f}x (the project's items are the rated votes:"
          " anony false left out)")
    lines_memory = per_line["rise"] / max(ref["rise"], 1)
    print(f"JSON Lines / reference: memory {lines_memory:.3f}x ({lines_size / 2**20:.1f} MiB file)")
    whole = rows["results"]
    print(f"{'results reader: read_entries':<34} {whole['seconds']:>8.2f} {whole['rise'] / 2**20:>14.1f}"
          f" {whole['count']:>8}")
    results_memory = whole["rise"] / max(ref["rise"], 1)
    print(f"results reader / reference: memory {results_memory:.3f}x (every entry kept whole)")
    ok = memory <= 0.25 and lines_memory <= 0.25 and seconds <= 1.5 and results_memory <= 0.75
    print("goals " + ("met" if ok else "NOT met") + ": memory <= 0.25x (results reader 0.75x), time <= 1.5x the "
          "reference")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
