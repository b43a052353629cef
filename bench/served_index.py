"""What holding the served files to their bound costs per write: the old walk (``served_files.sweep`` over
``served_files.served_files()``, an ``lstat`` of every served file) against the index the app now uses
(``served_files.make_room``, ``ServedIndex``), both measured in the same run on the same files.

For each ``--files`` count: that many 100-byte files in Gradio's layout (a folder per file, named by a hash),
recorded among a real ``gr.Blocks``' files as Gradio's ``move_files_to_cache`` records them, plus 100 in an own
folder (``OWN_FOLDERS``), all under a temp folder of the bench's own (removed at the end). Each write records
one new file (a run's picture), then sweeps, in two settings: ``MAX_SERVED_BYTES`` set to what the files hold
(the app's steady state: each sweep removes the oldest file, a removal both ways pay alike), and set far above
(nothing removed: the bookkeeping alone). ``--writes`` such writes are timed per way, the old way first, then
the index (after one untimed full look); the median of each and their ratio are printed. The index also looks
at every file again once every ``REFRESH_S`` (60 s): that full look costs about one old walk a minute, whatever
the write rate; it is not in the medians (the index's timed writes take well under a minute).

    python bench/served_index.py [--files 10000,100000] [--writes 25]

About 3-7 min for both counts on a shared 2-core machine (the old walks at 100,000 files and making the files are
most of it). On 2026-12-07, 2 cores shared with other work (load 3-6), one run (median ms per write, old walk
against index): 10,000 files, removing 1: 48.7 against 0.196 (249x); removing none: 166 against 0.074; 100,000
files, removing 1: 978 against 0.370 (2646x); removing none: 1206 against 0.045. The removal itself (an unlink and
a rmdir in a folder of 100,000 hash folders) varies with the disk's load: an earlier run's index median at
100,000 files, removing 1, was 7.8 ms (80x against 619 ms).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cache_file(cache: Path, n: int) -> str:
    folder = cache / hashlib.sha256(str(n).encode()).hexdigest()
    folder.mkdir()
    path = folder / "image.webp"
    path.write_bytes(b"p" * 100)
    return str(path)


def measure(files: int, writes: int, base: Path, at_bound: bool = True) -> tuple[float, float]:
    """Median seconds per write: (old walk, index), over ``files`` served files; ``at_bound``: each write's sweep
    removes the oldest file (else the bound is far above them all and nothing is removed: the bookkeeping
    alone)."""
    import gradio as gr

    from realunify_arena import served_files

    root = Path(tempfile.mkdtemp(dir=base))
    cache, own = root / "gradio", root / "realunify-traces"
    cache.mkdir()
    own.mkdir()
    tempfile.tempdir = str(root)
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    with gr.Blocks() as page:
        shown = gr.Image()
    served_files.serve_from(page)
    made = 0
    for made in range(files - 100):
        shown.temp_files.add(_cache_file(cache, made))
    for i in range(100):
        (own / f"run-{i}.json").write_bytes(b"d" * 100)
    served_files.MAX_SERVED_BYTES = 100 * files if at_bound else 2**40
    timings: dict[str, list[float]] = {"old": [], "index": []}
    for way in ("old", "index"):
        if way == "index":  # the index's full look, not timed (the next is REFRESH_S away)
            refresh_s, served_files.REFRESH_S = served_files.REFRESH_S, 0.0
            served_files.make_room(0)
            served_files.REFRESH_S = refresh_s
        for _ in range(writes):
            made += 1
            shown.temp_files.add(_cache_file(cache, made))  # a new picture recorded
            start = time.perf_counter()
            if way == "old":
                served_files.sweep(served_files.served_files(), served_files.MAX_SERVED_BYTES)
            else:
                served_files.make_room(0)
            timings[way].append(time.perf_counter() - start)
    left = sum(1 for _ in cache.iterdir()) + sum(1 for _ in own.iterdir())
    expected = files if at_bound else files + 2 * writes
    assert left == expected, f"{left} files left, not {expected}: the two ways did not each remove one per write"
    shutil.rmtree(root)
    return statistics.median(timings["old"]), statistics.median(timings["index"])


def main() -> None:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked, as the other benches

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="10000,100000", help="served file counts, comma-separated")
    parser.add_argument("--writes", type=int, default=25, help="timed writes per way, count and bound")
    args = parser.parse_args()
    counts = [n.strip() for n in args.files.split(",")]
    if not all(n.isdigit() and int(n) > 0 for n in counts) or args.writes < 1:
        parser.error(f"--files {args.files!r} / --writes {args.writes}: expected positive whole numbers"
                     " (--files comma-separated)")
    base = Path(tempfile.mkdtemp(prefix="served-index-bench-"))
    try:
        print(f"{'files':>8} {'sweep':>14} {'old walk ms':>12} {'index ms':>10} {'ratio':>8}")
        for files in map(int, counts):
            for at_bound in (True, False):
                old, new = measure(files, args.writes, base, at_bound)
                sweep = "removes 1" if at_bound else "removes none"
                print(f"{files:>8} {sweep:>14} {old * 1e3:>12.2f} {new * 1e3:>10.3f} {old / new:>7.0f}x", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
