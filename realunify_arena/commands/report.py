"""``report``: the paper's Table 2 for every stored system, as Markdown, CSV and JSON (and optional bars)."""

from __future__ import annotations

import sys
from pathlib import Path

from realunify_arena.commands._options import PROBLEMS, CommandError, add_db, store_at


def register(sub) -> None:
    p = sub.add_parser("report", help="print Table 2 (Markdown) for every stored system; write CSV and JSON")
    add_db(p)
    p.add_argument("--dataset", help="only this dataset (default: one table per dataset)")
    p.add_argument("--judge", help="UEG judge (default: one table per judge that judged UEG runs)")
    p.add_argument("--out", help="folder for report.csv and report.json (default: reports/ beside the db)")
    p.add_argument("--plot", metavar="FILE", help="also draw per-category direct-vs-stepwise bars (PNG, SVG, PDF)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.reporting import markdown, plot, reports_from_store, write_csv, write_json

    db = args.db
    with store_at(db) as store:
        reports = reports_from_store(store, dataset=args.dataset, judge=args.judge)
    if not reports:
        raise CommandError(f"{db} holds no runs" + (f" of dataset {args.dataset!r}" if args.dataset else ""),
                           PROBLEMS)
    print("\n".join(markdown(r) for r in reports))
    out = Path(args.out) if args.out else db.parent / "reports"
    written = [write_csv(reports, out / "report.csv"), write_json(reports, out / "report.json")]
    if args.plot:
        target = Path(args.plot)
        for i, report in enumerate(reports):
            name = target if len(reports) == 1 else target.with_stem(f"{target.stem}-{i + 1}")
            written.append(plot(report, name))
    print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0
