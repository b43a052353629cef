"""``report``: the paper's Table 2 for every stored system, as Markdown, CSV and JSON (and optional bars)."""

from __future__ import annotations

import sys
from pathlib import Path

from realunify_arena.commands._options import (PROBLEMS, USAGE, CommandError, add_db, check_judge_judged, out_file,
                                               out_folder, store_at, stored_dataset)
from realunify_arena.shown import canonical


EXAMPLE = "python -m realunify_arena report --paired --plot forest.png"


def register(sub) -> None:
    p = sub.add_parser("report", help="print Table 2 (Markdown) for every stored system; write CSV and JSON")
    add_db(p)
    p.add_argument("--dataset", type=canonical, help="only this dataset (default: one table per dataset)")
    p.add_argument("--judge", type=canonical, help="UEG judge (default: one table per judge that judged UEG runs)")
    p.add_argument("--out", help="folder for report.csv and report.json (default: reports/ beside the db)")
    p.add_argument("--plot", metavar="FILE", help="also draw per-category direct-vs-stepwise bars (PNG, SVG, PDF)")
    p.add_argument("--paired", action="store_true",
                   help="instead: does stepwise help? per model and category the paired 2x2 table, Δ with a "
                        "95%% bootstrap interval, a p-value (McNemar per category, stratified over categories per track) and Holm p; writes paired.csv/.json "
                        "(with --plot: a forest plot of Δ)")
    p.add_argument("--judges", metavar="A,B,...", type=canonical,
                   help="instead (or as well as --paired): agreement between these UEG judges per polling "
                        "question and instance (Cohen's κ) and the scores each gives; writes judges.csv/.json. "
                        'The names are separated by commas, as a CSV row: a name holding a comma is written in '
                        'double quotes (--judges \'"Gemini, 2.5",qwen\')')
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.reporting import markdown, plot, reports_from_store, write_csv, write_json

    db = args.db
    if args.out:  # refused before any work, as a usage error
        out_folder(Path(args.out))
    else:
        out_folder(db.parent / "reports", "the default --out")
    if args.plot:
        _check_plot_format(args.plot)
        out_file(args.plot, "--plot")
    if args.paired or args.judges:
        return run_analyses(args, db)
    with store_at(db, for_reading=True) as store:
        args.dataset = stored_dataset(store, args.dataset)
        args.judge = check_judge_judged(store, args.judge, args.dataset, db)
        reports = reports_from_store(store, dataset=args.dataset, judge=args.judge)
    if not reports:
        raise CommandError(f"{db} holds no runs" + (f" of dataset {args.dataset!r}" if args.dataset else ""),
                           PROBLEMS)
    print("\n".join(markdown(r) for r in reports))
    for note in dict.fromkeys(note for r in reports for note in r.notes):  # GEU rows repeat in each judge's table
        print(f"note: {note}", file=sys.stderr)
    out = Path(args.out) if args.out else db.parent / "reports"
    written = [write_csv(reports, out / "report.csv"), write_json(reports, out / "report.json")]
    if args.plot:
        target = Path(args.plot)
        for i, report in enumerate(reports):
            name = target if len(reports) == 1 else target.with_stem(f"{target.stem}-{i + 1}")
            written.append(plot(report, name))
    print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0


def _check_plot_format(path: str) -> None:
    """Refuse, before any work, a ``--plot`` file whose extension matplotlib cannot write."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix and suffix not in formats:
        raise CommandError(f"--plot {path}: cannot draw a {suffix!r} file; expected one of "
                           f"{', '.join(sorted(formats))}", USAGE)


def run_analyses(args, db: Path) -> int:
    """``report --paired`` and/or ``report --judges A,B,...`` on the store at ``db``."""
    from realunify_arena import agreement, paired

    judges = agreement.judge_names(args.judges) if args.judges else None
    with store_at(db, for_reading=True) as store:
        args.dataset = stored_dataset(store, args.dataset)
        if args.paired:  # a misspelt --judge would give a table of blanks, every UEG instance "undecided"
            args.judge = check_judge_judged(store, args.judge, args.dataset, db)
        analyses = paired.analyses_from_store(store, dataset=args.dataset, judge=args.judge) if args.paired else []
        one_mode = paired.one_mode_systems(store, dataset=args.dataset, judge=args.judge) if args.paired else []
        try:
            comparisons = agreement.compare_judges(store, judges, dataset=args.dataset) if judges is not None else []
        except agreement.JudgeSelectionError as e:
            quoting = ("; a name holding a comma is written in double quotes, as in a CSV row (--judges "
                       "'\"Gemini, 2.5\",qwen')" if any("," in j for j in agreement.polling_judges(store)) else "")
            raise CommandError(f"--judges {args.judges}: {e}{quoting}", USAGE) from None
    out = Path(args.out) if args.out else Path(db).parent / "reports"
    written, missing = [], []
    left = paired.one_mode_list(one_mode)
    if args.paired:
        if analyses:
            print("\n".join(paired.markdown(a) for a in analyses))
            if left:
                print(paired.one_mode_note(one_mode) + "\n")
            written += [paired.write_csv(analyses, out / "paired.csv"), paired.write_json(analyses, out / "paired.json")]
            if args.plot:
                paired.forest_plot(analyses, Path(args.plot))
                written.append(Path(args.plot))
        else:
            missing.append("no model has runs in both modes" + (f" of dataset {args.dataset!r}" if args.dataset else "")
                           + (f" (stored in one mode only: {left})" if left else ""))
    if judges is not None:
        if comparisons:
            print("\n".join(agreement.markdown(c) for c in comparisons))
            written += [agreement.write_csv(comparisons, out / "judges.csv"),
                        agreement.write_json(comparisons, out / "judges.json")]
        else:
            missing.append(f"judges {agreement.judges_text(judges)} never judged the same dataset's runs")
    if written:
        print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    if missing:
        raise CommandError(f"{db}: " + "; ".join(missing), PROBLEMS)
    return 0
