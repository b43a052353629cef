"""``merge SOURCE.db ...``: fold other stores' runs, images, judgments, battles and votes into this one (multi-node
evals, two arena replicas)."""

from __future__ import annotations

from pathlib import Path

from realunify_arena.commands._options import (PROBLEMS, USAGE, CommandError, add_db, problems_written,
                                               store_at)
from realunify_arena.systems import MODEL_NAME_RULE


SOURCE = "the merge SOURCE"  # what the refusals of a source file ask to point at the right one


EXAMPLE = "python -m realunify_arena merge node1/arena.db node2/arena.db --db data/arena.db"


def register(sub) -> None:
    p = sub.add_parser("merge", help="copy runs, images, judgments, battles and votes from other stores into --db",
                       description="Model names are copied as they are; a source holding one that is no model "
                                   f"name ({MODEL_NAME_RULE}; an older import's) is refused whole, before anything "
                                   "is written. Human judgments are copied per voter. For a key (instance, model, "
                                   "mode, settings) stored in both, a successful run replaces a failed one; "
                                   "otherwise the stored run is kept. Votes are copied with their battles, "
                                   "as cast; a battle voted otherwise in --db keeps --db's vote. A battle the arena "
                                   "would not have recorded (an unknown choice or kind, a vote on a side never shown, "
                                   "a run of another system, a time not as the arena writes it) is not copied, nor a "
                                   "human judgment the app would not have stored; the first is named.")
    p.add_argument("sources", nargs="+", type=Path, help="stores written by other nodes")
    add_db(p, "the store to merge into (created if missing)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.dataset_names import DatasetConflict, store_conflicts
    from realunify_arena.evaluation import merge
    from realunify_arena.systems import model_name_problem

    for source_path in args.sources:
        if not source_path.is_file():
            raise CommandError(f"no database at {source_path}", USAGE)
        if source_path.resolve() == args.db.resolve():
            raise CommandError(f"{source_path} is the target store itself", USAGE)
        with store_at(source_path, for_reading=True, named_by=SOURCE) as source:  # each source opens before the target is created
            bad = sorted(filter(None, map(model_name_problem, {row["model"] for row in source.runs()})))
        if bad:  # names are copied as they are: one that report and export cannot write stays out
            raise CommandError(f"{source_path}: its runs are stored under model name {bad[0]}; nothing was "
                               "merged", PROBLEMS)
    # Every source is checked against --db before any is merged, so a refusal writes nothing: the first by
    # merge() itself (before it writes; --db is as it is now), each later one here and again by merge(),
    # against --db with the sources before it merged (two sources may answer other instances under one name).
    if args.db.exists():
        with store_at(args.db, for_reading=True) as target:
            for source_path in args.sources[1:]:
                with store_at(source_path, for_reading=True, named_by=SOURCE) as source:
                    problems = store_conflicts(source, target)
                if problems:
                    raise CommandError(problems_written(problems), PROBLEMS)
    with store_at(args.db, create=True) as target:
        for number, source_path in enumerate(args.sources):
            with store_at(source_path, for_reading=True, named_by=SOURCE) as source:
                try:
                    done = merge(source, target)
                except DatasetConflict as e:  # the first source against --db, or a later one against those before
                    before = "" if number == 0 else f"{source_path}: not merged (the stores before it were): "
                    raise CommandError(before + problems_written(e.problems), PROBLEMS) from e
            notes = [f"{done.runs} new runs, {done.judgments} new judgments"]
            if done.battles or done.votes:
                notes.append(f"{done.battles} new battles, {done.votes} new votes")
            notes += [f"{count} {says}" for count, says in (
                (done.replaced, "failed run(s) in --db replaced by this store's successful run of the same key (the "
                                "failed one is archived with its judgments)"),
                (done.failed_kept_out, "failed run(s) not copied: --db holds a successful run of the same key"),
                (done.differing, "run(s) differ from the one stored under the same key (instance, model, mode, "
                                 "settings): the stored one is kept, and this store's judgments of them are not copied"),
                (done.judgments_differing, "judgment(s) differ from the one --db holds for the same run and judge: "
                                           "--db's is kept, this store's is not copied"),
                (done.votes_differing, "battle(s) hold another vote in --db (one vote per battle): --db's is kept, "
                                       "this store's is not copied"),
                (done.sides_unlinked, "battle side(s) showed a run --db holds otherwise: copied without that run "
                                      "(the vote counts for its systems)"),
                (done.run_starts, "run start(s) new to --db (the per-visitor run limit counts them)"),
                (done.archived, "replaced run record(s) new to --db (a run's earlier output, kept with its "
                                "judgments)"),
            ) if count]
            refused = [f"{done.battles_refused} battle(s) (with their votes)"] if done.battles_refused else []
            refused += [f"{done.judgments_refused} human judgment(s)"] if done.judgments_refused else []
            if refused:
                notes.append(f"{' and '.join(refused)} not copied: they break a rule the arena keeps for its own "
                             f"(the first: {done.first_refused})")
            print(f"{source_path}: " + "; ".join(notes))
    return 0
