"""``eval``: run a model over a dataset, judge every run, store everything; resumable and shardable."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext

from realunify_arena.commands._options import (
    INTERRUPTED,
    PROBLEMS,
    USAGE,
    CommandError,
    add_allow_large,
    add_db,
    add_models_dir,
    allow_large_of,
    card_named,
    check_seed,
    existing_path,
    model_cards,
    problems_written,
    store_at,
    warn,
)
from realunify_arena.library_bars import library_bars_off
from realunify_arena.systems import MODE_CHOICES


EXAMPLE = "python -m realunify_arena eval --model tiny-janus --judge tiny-pair --track UEG --limit 1"


def register(sub) -> None:
    p = sub.add_parser("eval", help="run and judge a model on RealUnify; results go into the store",
                       description="Runs already stored are skipped, so rerunning the same command resumes. "
                                   "Under `accelerate launch` each process takes its share of the instances.")
    p.add_argument("--model", required=True, help="model card name (see models/)")
    p.add_argument("--data", default="bundled", help='"bundled", an official folder, or parquet file(s)')
    p.add_argument("--track", choices=("UEG", "GEU", "all"), default="all")
    p.add_argument("--mode", choices=tuple(MODE_CHOICES), default="both")
    p.add_argument("--judge", default=None,
                   help="model card that answers the UEG polling questions (default: qwen2.5-vl-7b; "
                        "the paper used gemini-2.5-pro)")
    p.add_argument("--judge-attempts", type=int, default=None, metavar="N",
                   help="asks per polling question before an unparseable reply is a judge error (default 3)")
    p.add_argument("--limit", type=int, help="at most N instances per category")
    p.add_argument("--seed", type=int, help="generation seed (default: the card's)")
    add_db(p, "the store runs and judgments go into (created if missing)")
    add_models_dir(p)
    add_allow_large(p, "evaluate (and judge with) a card too large for this machine anyway")
    p.add_argument("--retry-errors", action="store_true",
                   help="run again the stored runs whose model failed (otherwise they count as wrong)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.adapters.base import ModelUnavailable
    from realunify_arena.benchmark import load
    from realunify_arena.availability import availability
    from realunify_arena.dataset_names import DatasetConflict, dataset_name_problem
    from realunify_arena.shown import brief
    from realunify_arena.evaluation import Shard, evaluate, select, task_counts
    from realunify_arena.judge import ATTEMPTS, DEFAULT_JUDGE, HUMAN, asks_judge, build_judge, judge_card_problem
    from realunify_arena.limits import check_options
    from realunify_arena.runtime import ModelPool, default_device

    judge_chosen = args.judge is not None
    args.judge = args.judge or DEFAULT_JUDGE
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit {args.limit}: expected a positive number of instances per category")
    if args.judge_attempts is not None and args.judge_attempts < 1:
        raise CommandError(f"--judge-attempts {args.judge_attempts}: expected at least 1")
    existing_path(args.data, "--data", keyword="bundled")  # a usage error before any card or model loads
    check_seed(args.seed)  # the one seed range (limits.SEED_MAX), as generate-instances checks it
    if args.judge == HUMAN:
        raise CommandError("--judge human: human judgments are entered in the app; give a model card here")
    cards = model_cards(args.models_dir)
    card_named(cards, args.model, "--model")

    def judge_card() -> None:
        """Refuse a judge card that is missing or cannot read images: a chosen one at once, the default one
        only when a judgment by it will be made (GEU-only work needs no judge card in --models-dir)."""
        if not judge_chosen and args.judge not in cards:
            raise CommandError(f"the default judge {args.judge!r} is no model card in "
                               f"{args.models_dir or 'the project models/'}; give --judge CARD (one that "
                               f"understands images; known: {', '.join(sorted(cards))}) or use --track GEU (no "
                               "judge model needed)", USAGE)
        card_named(cards, args.judge, "--judge")
        problem = judge_card_problem(args.judge, cards)  # the one wording app.py's --judge is refused in too
        if problem:
            raise CommandError(f"--judge {problem}")

    if judge_chosen:
        judge_card()
    allow_large = allow_large_of(args)

    def model_ready() -> None:
        """Refuse a model that cannot run here before it loads: no minutes of hub retries first."""
        ready, why = availability(cards[args.model], **allow_large)
        if not ready:
            raise CommandError(f"--model {args.model} cannot run here: {why}. `python -m realunify_arena models` "
                               "lists the cards that can", PROBLEMS)

    def judge_ready() -> bool:
        """Refuse the default judge that cannot run here, warn of a chosen one, before anything loads (no minutes
        of hub retries first); called only when a judgment by it will be made (a rerun whose UEG judgments are
        all stored needs no judge). False: the chosen judge cannot run here, so the runs are stored unjudged
        (``evaluate``'s ``before_judging``), as the warning says."""
        judge_card()
        ready, why = availability(cards[args.judge], **allow_large)
        if not ready and not judge_chosen:
            raise CommandError(f"the default judge {args.judge} cannot run here: {why}. Give --judge CARD (one "
                               "that understands images and runs here: `python -m realunify_arena models` lists "
                               f"them), make {args.judge}'s weights available (download them where the hub can be "
                               "reached), or use --track GEU (no judge model needed)", PROBLEMS)
        if not ready:
            warn("eval", f"judge {args.judge} cannot run here ({why}); runs will be stored and judged "
                         "when the same command is rerun where it can")
        return ready

    new_store = not args.db.exists()
    if new_store:  # every run is to do: refused before the store is created (not again before the runs)
        model_ready()
    dataset = load(args.data)
    problem = dataset_name_problem(dataset.name)
    if problem:  # stored with every run and shown: a line break in the folder's name would be too
        raise CommandError(f"--data {brief(args.data)}: dataset name (the folder's or file's name) {problem}: rename "
                           "it", USAGE)
    if dataset.problems:  # one bad entry (or track) never stops the rest: the bad entries are skipped
        print(f"eval: warning: {args.data}: {len(dataset.problems)} problem(s); these entries are skipped "
              "(see `validate`):", file=sys.stderr)
        for problem in dataset.problems:
            print(f"  {problem}", file=sys.stderr)
    if not select(dataset, args.track):
        raise CommandError(f"--data {args.data}: no usable {'' if args.track == 'all' else args.track + ' '}"
                           "instances to evaluate", USAGE)  # eval does not start: --data names nothing it can use

    try:
        shard = Shard.from_env()
    except ValueError as e:
        raise CommandError(f"launcher environment: {e}") from e
    device = None  # the pool's default, resolved (importing torch, seconds) only when a local model loads
    if shard.size > 1 and default_device() == "cuda":  # one process per GPU; more processes than GPUs share them
        import torch

        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"
    card = cards[args.model]
    options = card.options(**({} if args.seed is None else {"seed": args.seed}))
    try:
        check_options(card, options)
    except ValueError as e:  # the card's own settings, not this command line: fix the card
        raise CommandError(f"{card.path or '--model ' + args.model}: its settings cannot run: {e}", PROBLEMS) from e
    instances = select(dataset, args.track, args.limit)
    judge_here = True
    if new_store and any(map(asks_judge, instances)):
        judge_here = judge_ready()  # every UEG run is to do and judged: checked before the store is created
    modes = MODE_CHOICES[args.mode]
    plan = ", ".join(f"{k} {v}" for k, v in task_counts(instances).items()) or "none"
    print(f"eval {args.model} on {dataset.name}: {len(instances)} instances ({plan}) x {'+'.join(modes)}, "
          f"judge {args.judge}, settings {options.to_dict()}"
          + (f"; rank {shard.rank} of {shard.size}" if shard.size > 1 else ""), file=sys.stderr)

    pool = ModelPool(cards, device=device)
    # --no-progress: the libraries' own loading bars too (transformers, diffusers, huggingface_hub); importing
    # them takes seconds, so not for a run whose model and judge are all behind APIs (they load no weights here)
    runs_here = any(name in cards and (cards[name].family == "pair" or not cards[name].remote)
                    for name in (args.model, args.judge))
    with library_bars_off() if args.no_progress and runs_here else nullcontext():
        try:
            if new_store:  # every run is to do, so the model loads before the store is
                pool.preload([args.model])  # created, and a model that cannot run here leaves none behind
            with store_at(args.db, create=True) as store:
                try:
                    summary = evaluate(dataset, args.model, build_judge(args.judge, pool), store, pool, modes=modes,
                                       track=args.track, limit=args.limit, options=options, shard=shard,
                                       progress=not args.no_progress, judge_attempts=args.judge_attempts or ATTEMPTS,
                                       retry_errors=args.retry_errors,
                                       before_runs=None if new_store else model_ready,
                                       before_judging=judge_ready if not new_store else
                                       None if judge_here else lambda: False)
                except KeyboardInterrupt:
                    raise CommandError(f"interrupted; everything finished so far is in {store.path}: rerun the same "
                                       "command to resume", INTERRUPTED) from None
                except DatasetConflict as e:  # as import-results words and exits on the same rule
                    raise CommandError(problems_written(e.problems), PROBLEMS) from e
        except ModelUnavailable as e:
            raise CommandError(str(e), PROBLEMS) from e
        finally:
            pool.close()
    prefix = f"[rank {shard.rank}] " if shard.size > 1 else ""
    for line in summary.lines():
        print(prefix + line)
    return 0
