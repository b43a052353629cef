"""``score-official PATH``: score official-format result files directly and print the same table."""

from __future__ import annotations

import sys
from pathlib import Path

from realunify_arena.commands._options import (PROBLEMS, USAGE, CommandError, check_model_name, existing_path,
                                               out_file)
from realunify_arena.systems import MODEL_NAME_RULE
from realunify_arena.shown import counted


EXAMPLE = "python -m realunify_arena score-official results/bagel"


def register(sub) -> None:
    p = sub.add_parser("score-official", help="score official result files (GEU `response`, UEG `judge_answer`)",
                       description="PATH is a folder with any of UEG_direct/UEG_step/GEU_direct/GEU_step .json "
                                   "(a JSON list) or .jsonl (one JSON object a line), one of those files, or a "
                                   "folder holding such folders (the --out folder "
                                   "of `export --format official`: every model found is scored, one table per "
                                   "dataset folder). GEU entries are scored from `response` with the official "
                                   "letter extraction; UEG entries from the `judge_answer` fields of their polling "
                                   "questions (one without it was never asked: the entry is 0 when an asked one "
                                   "fails, else a judge error), or the per-item `score` the official scorer writes. Failed runs "
                                   "(no `response`; `generated_image` empty, or missing, naming no file or an "
                                   "unreadable one, and not judged) count as wrong, in \"run err\"; judge replies count even "
                                   "when the image they judged is not here or unreadable (it is not opened). Fields "
                                   "no scorer reads (`output_image`, `edited_image`) are named in a note. `index` "
                                   "may be an integer or its digits as a string. "
                                   "import-results reads the files under the same rule.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--model", help="name shown in the table (default: the folder's name made a model name, "
                        f"{MODEL_NAME_RULE}, other characters replaced by '_'; one folder only)")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.official_results import no_results
    from realunify_arena.reporting import (FolderNameError, OfficialFilesError, markdown, score_official_folders,
                                           write_csv, write_json)

    if args.model is not None:
        check_model_name(args.model)
    existing_path(args.path, "PATH")
    for flag, out in (("--csv", args.csv), ("--json", args.json)):
        if out:
            out_file(out, flag)
    try:
        reports = score_official_folders(args.path, model=args.model)
    except FolderNameError as e:  # the command line can fix it: --model
        raise CommandError(str(e.problems[0]), USAGE) from None
    except OfficialFilesError as e:
        for problem in e.problems:
            print(f"  {problem}", file=sys.stderr)
        raise CommandError(f"{args.path}: {len(e.problems)} problem(s) above", PROBLEMS) from e
    scored = [report for report in reports if report.scores]
    if not scored:
        raise CommandError(no_results(args.path, [file for report in reports for file in report.skipped]),
                           PROBLEMS)
    reports = scored
    print("\n".join(markdown(report) for report in reports))
    for report in reports:
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
        for score in report.scores:
            if score.unscored:  # a table over the judged entries only must say so
                entries = counted(score.unscored, "entry")
                print(f"note: {report.dataset}: {score.system}: {entries} with an image but no `judge_answer` on "
                      "its polling questions and no `score`: not judged, so left out of the percentages",
                      file=sys.stderr)
    if args.csv:
        write_csv(reports, Path(args.csv))
    if args.json:
        write_json(reports, Path(args.json))
    return 0
