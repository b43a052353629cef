"""``generate-instances``: write a fresh, seeded instance set in the official four-file layout."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from realunify_arena import durable
from realunify_arena.benchmark.schema import GEU_TASKS, TRACKS
from realunify_arena.commands._options import PROBLEMS, CommandError, check_seed, out_file, out_folder


EXAMPLE = "python -m realunify_arena generate-instances --out my-instances --per-category 2 --seed 1"


def register(sub) -> None:
    p = sub.add_parser("generate-instances",
                       help="generate our own instances (computed answers) in the official four-file layout")
    p.add_argument("--out", required=True, type=Path, help="folder to write the four JSON files and image/ into")
    p.add_argument("--per-category", type=int, default=12,
                   help="instances per category, 1 to 1000 (default 12; the paper has 100). The hand-written "
                        "categories (world_knowledge, commonsense_reasoning, logical_reasoning, "
                        "scientific_reasoning) have 12 each")
    p.add_argument("--seed", type=int, default=0,
                   help="run seed; the same seed gives byte-identical files, another seed other instances: "
                        "procedural categories draw new ones, hand-written categories pick which of their 12 "
                        "and in what order (at 12 a category: the same 12, in another order), and the order "
                        "of their polling questions; seed 0 keeps their file order (the bundled set)")
    p.add_argument("--categories", default="all",
                   help="comma-separated task types (e.g. mental_tracking,code_to_image); default all ten")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the four JSON files and image/ if the folder already holds a set")
    p.add_argument("--contact-sheet", type=Path, help="also write a PNG contact sheet of a few GEU instances")
    p.set_defaults(func=run)


def _write_whole(generated, out: Path, write_set) -> None:
    """Write the set into a hidden folder in ``out``, then swap it for the set there: a set cut short
    (a full disk) leaves the previous one as it was (before, ``--overwrite`` deleted it first) and no half set
    that a rerun would refuse to overwrite. The swap moves the previous set (all of it, also the files the new
    set has none of) into a second hidden folder named after the first; a run killed during it leaves both, and
    the next run finishes that swap first (``_finish_interrupted_swaps``).

    Raises:
        OSError: the set could not be written (naming the file) or put in place.
    """
    out.mkdir(parents=True, exist_ok=True)  # a file where the folder goes: FileExistsError naming it
    durable.sync_folder(out.parent)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=_STAGING, suffix=_PARTIAL))
    try:
        try:
            write_set(generated, staging)
        except OSError as e:  # named by where it was going, not by the hidden folder
            if e.filename is None or not Path(e.filename).is_relative_to(staging):
                raise
            raise OSError(e.errno, e.strerror, str(out / Path(e.filename).relative_to(staging))) from None
        durable.write_text(staging / _NAMES, "".join(f"{p.name}\n" for p in sorted(staging.iterdir())))
        durable.sync_folder(staging)
        previous = _replaced(staging)
        previous.mkdir()  # from here on, a killed run's swap is finished by the next run
        durable.sync_folder(out)
        _swap_in(staging, out, previous)
        shutil.rmtree(previous)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_STAGING, _REPLACED, _PARTIAL = ".generating-", ".replaced-", ".partial"  # the hidden folders' names
_NAMES = ".names"  # in the staging folder, written before the swap: the new set's files and folders, one a line


def _replaced(staging: Path) -> Path:
    """Where the swap out of ``staging`` puts the set it replaces: the same random part, another prefix."""
    return staging.with_name(_REPLACED + staging.name[len(_STAGING):])


def _swap_in(staging: Path, out: Path, previous: Path) -> None:
    """Move the previous set's files and folders that the new set has none of from ``out`` into ``previous``,
    then each file and folder of the new set (``staging``'s ``_NAMES``) into ``out``, first moving what ``out``
    holds of that name into ``previous``. Items already moved are no longer where they were, so a swap a killed
    run began finishes here."""
    from realunify_arena.benchmark.loaders import OFFICIAL_FILES

    names = (staging / _NAMES).read_text(encoding="utf-8").splitlines()  # written before ``previous`` was made
    for name in [*OFFICIAL_FILES, "image"]:
        if name not in names and os.path.lexists(out / name):
            os.replace(out / name, previous / name)
    for name in names:
        item, target = staging / name, out / name
        if not os.path.lexists(item):  # moved in before the kill
            continue
        if os.path.lexists(target):
            os.replace(target, previous / name)
        os.replace(item, target)
    durable.sync_folder(out)


def _finish_interrupted_swaps(out: Path) -> None:
    """Tidy what a run killed in ``_write_whole`` left in ``out``. A staging folder with its replaced folder
    beside it holds a whole new set that was being swapped in: the rest of it goes in (the previous set was
    being replaced on purpose), then both folders go. A staging folder alone was cut short while it was written:
    it goes, and whatever ``out`` held stays. A replaced folder alone was being deleted after its swap: it goes.

    Raises:
        OSError: a file could not be moved or a folder removed (naming it).
    """
    if not out.is_dir():
        return
    for staging in sorted(out.glob(f"{_STAGING}*{_PARTIAL}")):
        if _replaced(staging).is_dir():
            _swap_in(staging, out, _replaced(staging))
        shutil.rmtree(staging)
    for previous in sorted(out.glob(f"{_REPLACED}*{_PARTIAL}")):
        shutil.rmtree(previous)


def run(args) -> int:
    from realunify_arena.benchmark import load
    from realunify_arena.benchmark.generators import MAX_PER_CATEGORY, GeneratorError, generate_set, write_set
    from realunify_arena.benchmark.generators.contact_sheet import contact_sheet
    from realunify_arena.benchmark.loaders import OFFICIAL_FILES
    from realunify_arena.benchmark.schema import GEUInstance

    check_seed(args.seed)
    if not 1 <= args.per_category <= MAX_PER_CATEGORY:  # a huge set would run for hours and fill the disk
        raise CommandError(f"--per-category {args.per_category}: must be at least 1 and at most "
                           f"{MAX_PER_CATEGORY} (the paper has 100 a category)")
    out: Path = out_folder(args.out)
    if args.contact_sheet:
        out_file(args.contact_sheet, "--contact-sheet")
    task_types = None if args.categories == "all" else [t.strip() for t in args.categories.split(",") if t.strip()]
    if task_types == []:  # refused before anything is written: an empty set would replace an existing one
        raise CommandError(f"--categories {args.categories!r}: names no task type; expected comma-separated task "
                           "types, or all")
    try:
        generated = generate_set(args.per_category, args.seed, task_types)
    except GeneratorError as e:
        raise CommandError(str(e)) from e
    if args.contact_sheet and task_types is not None and not any(t in GEU_TASKS for t in task_types):
        # refused before anything is written: contact_sheet() of no GEU instance was a ValueError traceback
        raise CommandError(f"--contact-sheet draws GEU instances, and --categories {args.categories} names no GEU "
                           f"task (one of {', '.join(GEU_TASKS)})")
    _finish_interrupted_swaps(out)
    existing = [out / f for f in OFFICIAL_FILES if (out / f).exists()] + [p for p in [out / "image"] if p.exists()]
    if existing and not args.overwrite:
        raise CommandError(f"{out} already holds an instance set ({', '.join(p.name for p in existing)}); "
                           "pass --overwrite to replace it")
    _write_whole(generated, out, write_set)

    dataset = load(out)  # read back through the same loader users get, as a check
    counts = dataset.counts()
    for track in TRACKS:
        print(f"{track}: " + (", ".join(f"{abbr} {n}" for abbr, n in counts[track].items()) or "none"))
    print(f"wrote {len(dataset)} instances to {out} (seed {args.seed})")
    if args.contact_sheet:
        geu = [i for i in dataset.instances if isinstance(i, GEUInstance)]
        sheet = contact_sheet(geu)
        durable.write_file(args.contact_sheet, lambda f: sheet.save(f, format="PNG", optimize=True))
        print(f"contact sheet: {args.contact_sheet}")
    if dataset.problems:
        for problem in dataset.problems:
            print(f"  {problem}", file=sys.stderr)
        raise CommandError(f"{out}: {len(dataset.problems)} problem(s) above in the generated set", PROBLEMS)
    return 0
