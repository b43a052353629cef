"""What holding the served files to their bound costs per write: the old walk (``served_files.sweep`` over
``served_files.served_files()``, an ``lstat`` of every served file) against the index the app now uses
(``served_files.make_room``, ``ServedIndex``), both measured in the same run on the same files.

For each ``--files`` count: that many 100-byte files in Gradio's layout (a folder per file, named by a hash),
recorded among a real ``gr.Blocks``' files as Gradio's ``move_files_to_cache`` records them, plus 100 in an own
folder (``OWN_FOLDERS``), all under a temp folder of the bench's own (removed at the end). ``MAX_SERVED_BYTES``
is set to what they hold, so that each write is the app's steady state: one new file recorded (a run's picture),
then one sweep, which removes the oldest file. ``--writes`` such writes are timed per way, the old way first,
then the index (after one call that builds it: its first full look); the median of each and their ratio are
printed. The index also looks at every file again once every ``REFRESH_S`` (60 s): that full look costs about
one old walk a minute, whatever the write rate; it is not in the medians (the runs are shorter than a minute).

    python bench/served_index.py [--files 10000,100000] [--writes 40]

About 2.5 min for both counts on a shared 2-core machine (the old walk's 40 writes at 100,000 files and making the
files are most of it). On 2026-12-07 (2 shared cores, other work running): 10,000 files 58.0 ms old walk against
0.30 ms index (191x); 100,000 files 517 ms against 0.31 ms (1677x).
"""

from __future__ import annotations

import argparse
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


def measure(files: int, writes: int, base: Path) -> tuple[float, float]:
    """Median seconds per write: (old walk, index), over ``files`` served files."""
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
    served_files.MAX_SERVED_BYTES = 100 * files
    timings: dict[str, list[float]] = {"old": [], "index": []}
    for way in ("old", "index"):
        if way == "index":
            served_files.make_room(0)  # the index's first full look, not timed (the next is REFRESH_S away)
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
    assert left == files, f"{left} files left, not {files}: the two ways did not each remove one per write"
    shutil.rmtree(root)
    return statistics.median(timings["old"]), statistics.median(timings["index"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="10000,100000", help="served file counts, comma-separated")
    parser.add_argument("--writes", type=int, default=40, help="timed writes per way and count")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="served-index-bench-"))
    try:
        print(f"{'files':>8} {'old walk ms':>12} {'index ms':>10} {'ratio':>8}")
        for files in (int(n) for n in args.files.split(",")):
            old, new = measure(files, args.writes, base)
            print(f"{files:>8} {old * 1e3:>12.2f} {new * 1e3:>10.3f} {old / new:>7.0f}x", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
