"""``backup OUT.db``: a consistent copy of the store, safe to take while the app is writing to it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from realunify_arena import durable
from realunify_arena.commands._options import USAGE, CommandError, add_db, out_file, store_at
from realunify_arena.shown import counted
from realunify_arena.store import Store


EXAMPLE = "python -m realunify_arena backup backups/arena.db"


def register(sub) -> None:
    p = sub.add_parser("backup", help="snapshot the store (and copy its images) while the app runs")
    p.add_argument("out", type=Path, help="the copy to write; images go to images/ beside it")
    add_db(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.out.resolve() == args.db.resolve():
        raise CommandError(f"{args.out} is the live database; choose another path", USAGE)
    refuse_foreign_out(args.out)  # a folder, or a file that is no store: named so, nothing written
    out_file(args.out, "backup OUT", replaces_databases=True)  # never a database's own side file
    with store_at(args.db, for_reading=True) as store:
        store.backup(args.out)  # the database first: images it names already exist, never the reverse
        copied = copy_images(store.images_dir, args.out.parent / "images")
    counts = Store.file_counts(args.out)
    # table names are plural nouns ("runs", "votes"): each count in the number it takes ("1 vote")
    print(f"{args.out}: " + ", ".join(counted(n, t.removesuffix("s")) for t, n in counts.items())
          + f"; {counted(copied, 'new image')}")
    return 0


def refuse_foreign_out(out: Path) -> None:
    """Refuse (``USAGE``) a backup ``out`` that is there and is not a store: a folder, another program's file
    (``backup /etc/hosts`` replaced it with an SQLite file) or another program's SQLite database. An earlier
    backup, or an empty file, is replaced as before."""
    if not out.exists() or (out.is_file() and out.stat().st_size == 0):
        return
    why = "a folder" if out.is_dir() else None
    if why is None:
        try:
            Store.file_counts(out)  # reads only; fails on what is not a store of ours
        except sqlite3.Error as e:
            why = f"another program's file ({e})"
        except OSError as e:
            why = f"cannot be read ({e.strerror or e})"
    if why:
        raise CommandError(f"backup OUT {out}: {why}, not a backup of a store; nothing was written (choose a new"
                           " path, or an earlier backup to replace)", USAGE)


def copy_images(source: Path, target: Path) -> int:
    """Copy the image files ``target`` lacks (they are content-addressed: same name, same bytes), each durably
    and via a temporary file (``durable.write_file``): one cut short (a full disk, a crash) is never left under
    its name, where every later backup would find it and skip it.

    Raises:
        OSError: an image could not be read, written or synced; the images copied before it are kept.
    """
    if not source.is_dir() or source.resolve() == target.resolve():
        return 0
    copied = 0
    for path in source.glob("*/*.png"):
        dest = target / path.relative_to(source)
        if not dest.exists():
            with open(path, "rb") as src:  # an unreadable source raises as it is, naming it
                durable.write_file(dest, lambda f, src=src: shutil.copyfileobj(src, f))
            copied += 1
    return copied
