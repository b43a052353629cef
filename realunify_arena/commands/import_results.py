"""``import-results PATH --model NAME``: official-format result files into the store, pinned for the arena."""

from __future__ import annotations

from realunify_arena.commands._options import (PROBLEMS, USAGE, CommandError, add_db, check_model_name,
                                               check_not_secret, existing_path, problems_written, store_at)
from realunify_arena.systems import MODE_CHOICES, MODEL_NAME_RULE


EXAMPLE = "python -m realunify_arena import-results results/bagel --model bagel --data /path/to/RealUnify"


def register(sub) -> None:
    p = sub.add_parser(
        "import-results", help="store published official-format result files as runs (pinned for the arena)",
        description="PATH is a folder with any of UEG_direct/UEG_step/GEU_direct/GEU_step .json result files "
                    "(what `export --format official` and third-party runners write), or one such file. Each "
                    "entry becomes one stored run of --model (UEG generated_image, and the refined prompt "
                    "`response` stepwise; GEU `response`, and `edit_image` stepwise), with the judge's replies "
                    "(`judge_answer`) as judgments. Files may be .json lists or .jsonl (one JSON object a "
                    "line). Image paths may be absolute, relative to the file, or relative to the current "
                    "directory; an absolute path that names no file here (C:\\results\\images\\1.png) is "
                    "looked for by its tail in the file's folder; a name differing only in Unicode normalization "
                    "(NFC/NFD) is the same file. Entries are read under score-official's rule: a run without "
                    "its reply or a usable image is stored as failed, and judge replies count (and are stored) "
                    "even when the image they judged is not here or cannot be read; the summary names those "
                    "entries. Entries whose own `model` field names another model than --model are refused. "
                    "Any problem stops the import and nothing is written; "
                    "importing the same folder again changes nothing.")
    p.add_argument("path", metavar="PATH", help="result folder or file (.json or .jsonl)")
    p.add_argument("--model", required=True,
                   help=f"the name the runs are stored (and battle) under: {MODEL_NAME_RULE}")
    p.add_argument("--mode", choices=tuple(MODE_CHOICES), default="both",
                   help="which files to read: *_direct, *_step, or both (default)")
    p.add_argument("--data", default=None,
                   help='the instances the entries answer: "bundled", an official folder, or parquet file(s); '
                        "matched by (task_type, index). Default: the entries' own instance fields, under a "
                        "dataset named after the folder")
    p.add_argument("--judge-name", default=None,
                   help="the judge the `judge_answer` replies are stored under (default: judge_answer)")
    p.add_argument("--replace", action="store_true",
                   help="re-import entries that changed since they were imported (the old run is archived)")
    add_db(p, help="the store the runs go to (created if missing)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.benchmark import load
    from realunify_arena.importing import DEFAULT_JUDGE_NAME, ImportFailed, read_results, store_results

    check_model_name(args.model)
    if args.judge_name is not None:
        check_not_secret(args.judge_name, "--judge-name")
    existing_path(args.path, "PATH")
    data = None
    if args.data is not None:
        existing_path(args.data, "--data", keyword="bundled")
        data = load(args.data)
        if not data.instances:
            shown = "".join(f"\n  {p}" for p in data.problems[:20])
            raise CommandError(f"--data {args.data}: no usable instances{shown}", USAGE)
    try:  # the files are read and checked first: a refused import creates no store
        read = read_results(args.path, args.model, modes=MODE_CHOICES[args.mode], data=data,
                            judge_name=args.judge_name or DEFAULT_JUDGE_NAME, decode=not args.db.exists())
        with store_at(args.db, create=True) as store:
            summary = store_results(store, read, replace=args.replace)
    except ImportFailed as e:
        raise CommandError(problems_written(e.problems), PROBLEMS) from e
    for line in summary.lines():
        print(line)
    return 0
