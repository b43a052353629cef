"""Batch evaluation: run a model over a dataset in the chosen modes, judge every run, keep it all in the store.

Resumable by construction: a run is looked up in the store by (dataset, instance, model, mode, settings)
before it is computed, and a judgment by (run, judge), and each is committed as soon as it exists, so
an interrupted evaluation loses only the item in flight. Under ``accelerate launch`` (or torchrun, or
any launcher that sets ``RANK``/``WORLD_SIZE``) each process takes every WORLD_SIZE-th instance from its
rank on and writes into the same SQLite store, whose writes take the database lock up front.

Generation and judging are two passes so the model under test and the judge model are not both needed
on the device at once. Nodes that cannot share one SQLite file write one store each and ``merge`` them.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from realunify_arena import durable, protocols, runs
from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.arena import copied_battle_problem
from realunify_arena.benchmark.loaders import Dataset
from realunify_arena.benchmark.schema import CATEGORIES, AnyInstance
from realunify_arena.dataset_names import DatasetConflict, check_dataset, remember_source, store_conflicts
from realunify_arena.judge import ATTEMPTS, HUMAN, Judge, asks_judge, judge_name
from realunify_arena.redaction import redact_all
from realunify_arena.shown import brief
from realunify_arena.store import StoreError, timestamp_problem
from realunify_arena.systems import MODES, Mode
from realunify_arena.trace import Status


@dataclass(frozen=True)
class Shard:
    """This process's share of the work: items ``rank, rank + size, ...``."""

    rank: int = 0
    size: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or not 0 <= self.rank < self.size:
            raise ValueError(f"shard rank {self.rank} of {self.size}: expected 0 <= rank < size")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Shard:
        """RANK and WORLD_SIZE as set by ``accelerate launch``/torchrun; one whole shard without them."""
        env = os.environ if env is None else env
        try:
            return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)))
        except ValueError:
            raise ValueError(f"RANK={env.get('RANK')!r} WORLD_SIZE={env.get('WORLD_SIZE')!r}: expected integers") from None

    def take(self, items: Sequence) -> list:
        return list(items[self.rank::self.size])


@dataclass
class Summary:
    """What one process did; ``stored`` counts work found already done."""

    ran: Counter = field(default_factory=Counter)  # run status -> runs computed now
    stored_runs: int = 0
    judged: int = 0
    stored_judgments: int = 0
    judge_errors: int = 0  # runs whose judgment has at least one unanswered polling question
    cut_answers: int = 0  # GEU runs computed now whose answer was cut while reasoning (``protocols.cut_answer_note``)
    judge_unready: str = ""  # the judge that could not run here, its judging left to a rerun ("": it judged)

    def lines(self) -> list[str]:
        ran = ", ".join(f"{n} {status}" for status, n in sorted(self.ran.items())) or "none"
        cut = (f"; {self.cut_answers} GEU answer(s) cut at max_new_tokens while the model was still reasoning (each letter "
               "comes from unfinished thoughts, or there is none where its server gave the thoughts apart: raise "
               "max_new_tokens in the model's card)"
               if self.cut_answers else "")
        return [f"runs: {sum(self.ran.values())} computed ({ran}), {self.stored_runs} already stored{cut}",
                f"judgments: none made: judge {self.judge_unready} cannot run here; rerun the same command where "
                "it can to judge the stored runs" if self.judge_unready else
                f"judgments: {self.judged} made ({self.judge_errors} with judge errors), "
                f"{self.stored_judgments} already stored"]


def select(dataset: Dataset, track: str = "all", limit: int | None = None) -> list[AnyInstance]:
    """The instances to evaluate, in dataset order; ``limit`` caps each category, so a slice keeps every column."""
    if track not in ("all", "UEG", "GEU"):
        raise ValueError(f"track {track!r}: expected UEG, GEU or all")
    taken: Counter = Counter()
    chosen = []
    for instance in dataset.select(track):
        if limit is None or taken[instance.task_type] < limit:
            taken[instance.task_type] += 1
            chosen.append(instance)
    return chosen


def evaluate(dataset: Dataset, model: str, judge: Judge, store, pool, *, modes: Iterable[Mode] = MODES,
             track: str = "all", limit: int | None = None, options: GenerationOptions | None = None,
             shard: Shard = Shard(), progress: bool = True, judge_attempts: int = ATTEMPTS,
             retry_errors: bool = False, before_runs: Callable[[], None] | None = None,
             before_judging: Callable[[], None] | None = None) -> Summary:
    """Run, store and judge this shard's part of the evaluation; returns what was done.

    A stored run whose model failed (status error) counts as wrong and is kept, unless ``retry_errors``
    replaces it with a new attempt (for failures that were the machine's, such as running out of memory).
    ``before_runs`` is called once before the model loads, only when some run is still to do (a rerun whose
    runs are all stored needs no model): the caller's chance to refuse a model that cannot run here; what
    it raises propagates. ``before_judging`` is called once, before that and before anything is run or
    forgotten, only when the judge model will be asked: some UEG run is still to do, or a stored successful
    UEG run has no judgment by ``judge`` yet (GEU answers are parsed, never sent to the judge; a rerun whose
    judgments are all stored needs no judge): the caller's chance to refuse a judge that cannot run here, or,
    returning False, to leave the judging to a rerun (the runs are made and stored, nothing is judged, and
    ``Summary.judge_unready`` names the judge).

    Raises:
        dataset_names.DatasetConflict: the store keeps runs of another place's instances under
            ``dataset.name`` and the chosen instances are not those (``dataset_names.conflicts``); nothing
            was stored.
    """
    options = options or pool.cards[model].defaults
    modes = list(modes)
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    # Instances, not (instance, mode) pairs, are dealt out: with two modes and two ranks, dealing pairs would
    # give one rank every direct run and the other every (slower) stepwise run.
    chosen = select(dataset, track, limit)
    check_dataset(store, dataset, chosen)  # every rank checks every instance: all refuse, before any write
    work = [(instance, mode) for instance in shard.take(chosen) for mode in modes]
    remember_source(store, dataset)
    summary = Summary()
    stored, todo, to_retry = _plan(work, dataset.name, model, store, options, retry_errors)
    judge_here = True
    if before_judging is not None and _judge_needed(stored, todo, judge, store):
        judge_here = before_judging() is not False
    run_ids = _run_pass(stored, todo, to_retry, dataset.name, model, store, pool, options, shard, progress,
                        summary, before_runs)
    if judge_here:
        _judge_pass(run_ids, judge, judge_attempts, store, shard, progress, summary)
    else:
        summary.judge_unready = judge.name
    return summary


def _plan(work, dataset: str, model: str, store, options: GenerationOptions, retry_errors: bool
          ) -> tuple[list[tuple[int, AnyInstance]], list[tuple[AnyInstance, str]], dict[int, int]]:
    """(stored, todo, to_retry) for ``work``'s (instance, mode) pairs, changing nothing: ``stored`` holds
    (run id, instance) of the runs kept, ``todo`` the pairs to run, ``to_retry`` maps the index in ``todo`` of
    a pair whose stored run failed (``retry_errors``) to that run's id, forgotten only when the runs start."""
    settings = options.to_dict()
    stored, todo, to_retry = [], [], {}
    for instance, mode in work:
        run_id = store.find_run(dataset, instance.uid, model, mode, settings)
        if run_id is not None and retry_errors and store.run(run_id)["status"] == Status.ERROR.value:
            to_retry[len(todo)] = run_id
            run_id = None
        if run_id is None:
            todo.append((instance, mode))
        else:
            stored.append((run_id, instance))
    return stored, todo, to_retry


def _judge_needed(stored: list[tuple[int, AnyInstance]], todo: list[tuple[AnyInstance, str]], judge: Judge,
                  store) -> bool:
    """Whether the judge model will be asked: a UEG run to do, or a stored successful UEG run not yet judged."""
    if any(asks_judge(instance) for instance, _ in todo):
        return True
    return any(asks_judge(instance) for _, instance in _to_judge(stored, judge, store)[0])


def _to_judge(run_ids: list[tuple[int, AnyInstance]], judge: Judge, store
              ) -> tuple[list[tuple[int, AnyInstance]], int]:
    """(to judge, judged): of ``run_ids``' successful runs, those with no judgment by ``judge_name`` yet (run id,
    instance), and how many have one. A failed run is neither (it counts as wrong, unjudged)."""
    todo, judged = [], 0
    for run_id, instance in run_ids:
        if store.run(run_id)["status"] != Status.OK.value:
            continue
        if store.find_judgment(run_id, judge_name(instance, judge.name)) is None:
            todo.append((run_id, instance))
        else:
            judged += 1
    return todo, judged


def _run_pass(stored: list[tuple[int, AnyInstance]], todo: list[tuple[AnyInstance, str]], to_retry: dict[int, int],
              dataset: str, model: str, store, pool, options: GenerationOptions, shard: Shard, progress: bool,
              summary: Summary, before_runs: Callable[[], None] | None) -> list[tuple[int, AnyInstance]]:
    if todo and before_runs is not None:  # before a failed run is forgotten: a refusal loses nothing
        before_runs()
    done = list(stored)
    for at, run_id in sorted(to_retry.items(), reverse=True):  # a failed run a battle shows is kept, not rerun
        if not store.forget_failed_run(run_id, Status.ERROR.value):
            done.append((run_id, todo.pop(at)[0]))
    summary.stored_runs = len(done)
    if todo:
        with protocols.loaded(pool, model) as adapter, _bar(todo, f"{model} runs", shard, progress) as bar:
            for instance, mode in bar:
                update = runs.run_to_end(store, pool, dataset, instance, model, mode, options, adapter=adapter,
                                         keep_errors=True)
                done.append((update.run_id, instance))
                summary.ran[update.trace.status.value] += 1
                summary.cut_answers += any(n.startswith(protocols.CUT_ANSWER) for n in update.trace.notes)
    store.pin(run_id for run_id, _ in done)  # eval's runs (made or found) are what stored battles may show
    return done


def _judge_pass(run_ids: list[tuple[int, AnyInstance]], judge: Judge, attempts: int, store, shard: Shard,
                progress: bool, summary: Summary) -> None:
    todo, judged = _to_judge(run_ids, judge, store)
    summary.stored_judgments += judged
    with _bar(todo, f"judged by {judge.name}", shard, progress) as bar:
        for run_id, instance in bar:
            judgment = runs.judge_stored_run(store, run_id, instance, judge, attempts=attempts)
            summary.judged += 1
            summary.judge_errors += judgment["errors"] > 0


def _bar(items: list, label: str, shard: Shard, enabled: bool):
    from tqdm.auto import tqdm

    prefix = f"[rank {shard.rank}/{shard.size}] " if shard.size > 1 else ""
    return tqdm(items, desc=prefix + label, position=shard.rank, disable=not enabled or not items,
                unit="item", dynamic_ncols=True, leave=True)


class MergeCounts(NamedTuple):
    """What ``merge`` did with one source store."""

    runs: int  # runs new to the target
    judgments: int  # judgments new to the target (each voter's human judgment counts as one)
    differing: int  # source runs whose output differs from the target's under the same key: the target's kept
    replaced: int  # target runs that had failed, replaced by the source's successful run of the same key
    failed_kept_out: int  # source runs that failed where the target holds a successful run of the key
    judgments_differing: int = 0  # source judgments of a run whose judge judged it otherwise in the target: the target's kept
    battles: int = 0  # arena battles new to the target (shown or voted; ``Store.merge_battle``)
    votes: int = 0  # votes new to the target: on those battles, or on a battle the target held without a vote
    votes_differing: int = 0  # battles the target holds with another vote (or another battle under the id): target's kept
    sides_unlinked: int = 0  # new battle sides whose shown run the target holds otherwise: copied without a run
    battles_refused: int = 0  # source battles that break the arena's rules (``arena.copied_battle_problem``): not copied
    judgments_refused: int = 0  # source human judgments the app would not have stored (``_human_judgment_problem``)
    first_refused: str = ""  # why the first refused battle or judgment was refused (names it and the field)
    run_starts: int = 0  # run starts new to the target (``Store.merge_run_starts``: the run limit's count)
    archived: int = 0  # replaced runs' archived rows new to the target (``Store.merge_replaced``)


def merge(source, target) -> MergeCounts:
    """Copy into ``target`` the runs (with their image files), judgments, arena battles and votes it lacks;
    returns ``MergeCounts``.

    For evaluations whose nodes cannot share one SQLite file (WAL needs local disk): each node writes
    its own store, then the stores are merged. Merging twice adds nothing. A run pinned in the source (an
    ``eval`` or imported run, which the Leaderboard table and stored battles show) is pinned in the target
    too, and an imported run keeps the record of where it came from (so importing the same files again
    changes nothing). Human judgments are copied per voter (``Store.save_human_judgment``), each voter's
    own, so the target's verdict (``Store.human_verdicts``) counts every person of both stores once (a person
    who judged from a session in each store: their latest judgment); a voter id in both keeps the target's. Where two nodes ran the same key (dataset, instance, model, mode, settings):
    a successful run replaces a failed one (``Store.replace_failed_run``: same id, the failed one archived
    with its judgments) and a failed run never replaces a successful one; where both succeeded with
    different outputs (text or image), the stored run is kept and the source's judgments of its own output
    are not copied: they judged an output the kept run does not hold. A judge keeps one judgment per run: where
    it judged the same run otherwise in both stores (two files of one judge's replies imported under one name),
    the target's is kept and the source's counted (``judgments_differing``). Battles and votes are copied by
    battle id (``Store.merge_battle``), each vote with the voter and time it was cast, so the rate limits count
    it as they did where it was cast: a battle held in both is not copied again, a vote on a battle the target
    holds unvoted is added, and where the target holds another vote on the battle its own is kept, one vote per
    battle, and the source's counted (``votes_differing``). A battle side whose run the target holds otherwise
    (another output under the key, or a failed run where the target's succeeded) is copied without its run
    (``sides_unlinked``): the vote still counts for its systems, and no judge's score of an output its voter
    never saw is set against it (``ratings.judge_agreement``). A battle that breaks a rule the arena keeps for
    its own (``arena.copied_battle_problem``: an unknown choice, a vote on a side never shown, a run of another
    system, a time not as the arena writes it) is not copied, with its vote, and counted (``battles_refused``,
    the first one's reason in ``first_refused``): a vote the arena would have refused never counts. So is a human
    judgment the app would not have stored (no voter, an unknown kind or score, a time not as the store writes
    it, which would stay a person's latest for good): ``judgments_refused``. The per-visitor run limit's starts
    (``Store.merge_run_starts``: ``run_starts``) and the archive of replaced runs (``Store.merge_replaced``, of the
    runs copied or held alike: ``archived``) are copied too, each row as many times as the most either store holds
    it.

    Raises:
        dataset_names.DatasetConflict: ``source``'s runs answer, under a dataset name, other instances than
            ``target`` keeps under it (``dataset_names.store_conflicts``); nothing was copied.
    """
    problems = store_conflicts(source, target)
    if problems:
        raise DatasetConflict(problems)
    counts = {**dict.fromkeys(MergeCounts._fields, 0), "first_refused": ""}
    target_ids = {}
    for row in source.runs():
        trace = source.load_trace(row["id"])
        existing = target.find_run(row["dataset"], trace.instance_uid, trace.model, trace.mode, trace.settings)
        stored = target.load_trace(existing) if existing is not None else None
        if stored is None or (stored.status is Status.ERROR and trace.status is Status.OK):
            for step in trace.steps:
                if step.image_sha:
                    _copy_file(source, step.image_sha, target.image_path(step.image_sha))
        if stored is not None and stored.status is Status.ERROR and trace.status is Status.OK:
            target.replace_failed_run(existing, trace, pin=row["pinned_at"] is not None)
            counts["replaced"] += 1
        elif stored is not None and stored.status is Status.OK and trace.status is Status.ERROR:
            counts["failed_kept_out"] += 1
            continue
        elif stored is not None and stored.output() != trace.output():
            counts["differing"] += 1
            continue
        counts["runs"] += stored is None
        target_ids[row["id"]] = target.save_trace(trace, row["dataset"], pin=row["pinned_at"] is not None)
        origin = source.run_origin(row["id"])
        if origin is not None:
            target.keep_origin(target_ids[row["id"]], origin)
    for j in source.judgments():
        run_id = target_ids.get(j["run_id"])
        if j["judge"] == HUMAN or run_id is None:
            continue  # human judgments: per voter, below
        # a judge's replies stored before they were redacted (an endpoint that echoed its key) leave it here
        judgment = {**{k: j[k] for k in ("kind", "score", "errors")}, "details": redact_all(j["details"])}
        held = target.find_judgment(run_id, j["judge"])
        if held is None:
            target.save_judgment(run_id, j["judge"], judgment)
            counts["judgments"] += 1
        elif (held["kind"], held["score"], held["details"], held["errors"]) != (
                judgment["kind"], judgment["score"], judgment["details"], judgment["errors"]):
            counts["judgments_differing"] += 1
    for source_id, run_id in target_ids.items():
        voters = {h["voter"] for h in target.human_judgments(run_id)}
        for h in source.human_judgments(source_id):
            problem = _human_judgment_problem(h)
            if problem:
                counts["judgments_refused"] += 1
                counts["first_refused"] = counts["first_refused"] or f"human judgment of run {source_id}: {problem}"
            elif h["voter"] not in voters:
                target.save_human_judgment(run_id, h["voter"], {k: h[k] for k in ("kind", "score", "details")},
                                           created_at=h["created_at"])
                counts["judgments"] += 1
    for name in {row["dataset"] for row in source.runs()}:
        location = source.dataset_source(name)
        if location is not None:
            target.remember_dataset_source(name, location)
    archived = {}
    for row in source.replaced_rows():  # a run's archive goes with the run, where the target holds it alike
        if row["run_id"] in target_ids:
            archived.setdefault(target_ids[row["run_id"]], []).append(row)
    counts["archived"] = sum(target.merge_replaced(run_id, rows) for run_id, rows in archived.items())
    counts["run_starts"] = target.merge_run_starts(source.run_start_rows())
    _merge_battles(source, target, target_ids, counts)
    return MergeCounts(**counts)


def _human_judgment_problem(row: dict) -> str | None:
    """Why a source's human judgment (``Store.human_judgments`` row) is none the app stores
    (``Store.save_human_judgment``: a voter, a ``Judgment`` kind and score, a time in ``store.now()``'s form, which
    decides a person's latest), or None."""
    if not isinstance(row["voter"], str) or not row["voter"]:
        return f"voter {brief(row['voter'])}: expected a non-empty text"
    if row["kind"] not in ("polling", "mcq"):
        return f"kind {brief(row['kind'])}: expected polling or mcq"
    if row["score"] not in (0, 1, None) or isinstance(row["score"], bool):
        return f"score {brief(row['score'])}: expected 1, 0 or none"
    return timestamp_problem(row["created_at"], "created_at")


def _merge_battles(source, target, target_ids: dict[int, int], counts: dict[str, int]) -> None:
    """Copy ``source``'s arena battles and votes into ``target`` (``Store.merge_battle``), each side's run by its
    id in ``target`` (``target_ids``: source run id -> target run id); adds to ``counts``. A battle that breaks the
    arena's rules (``arena.copied_battle_problem``) is not copied."""
    for battle in source.battles_with_votes():
        row = {k: v for k, v in battle.items() if not k.startswith("vote_")}
        vote = None if battle["vote_choice"] is None else {
            "voter": battle["vote_voter"], "choice": battle["vote_choice"], "created_at": battle["vote_created_at"]}
        problem = copied_battle_problem(row, vote, source)
        if problem:
            counts["battles_refused"] += 1
            counts["first_refused"] = counts["first_refused"] or problem
            continue
        unlinked = 0
        for c in "ab":
            shown = row[f"run_{c}"]
            row[f"run_{c}"] = target_ids.get(shown) if shown is not None else None
            unlinked += shown is not None and row[f"run_{c}"] is None
        done = target.merge_battle(row, vote)
        counts["battles"] += done == "new"
        counts["votes"] += done == "vote" or (done == "new" and vote is not None)
        counts["votes_differing"] += done in ("vote_differs", "battle_differs")
        counts["sides_unlinked"] += unlinked if done == "new" else 0


def _copy_file(source, sha: str, target: Path) -> None:
    """Copy store ``source``'s image ``sha`` to ``target`` byte-for-byte (the name is the hash of these bytes),
    durably and via a temporary file so readers never see half (``durable.write_file``): the copy's name is on disk
    before the run's row is committed.

    Raises:
        OSError: the source image cannot be read (``Store.open_image``: missing, naming ``source``'s database, or
            unreadable).
        StoreError: the copy could not be written or synced; nothing of the run is stored yet.
    """
    try:
        if durable.exists(target):  # synced into its folder: another writer may have just renamed it there
            return
    except OSError as e:
        raise StoreError(f"{target}: the image could not be synced ({e.strerror or e}); nothing of the run"
                         " was stored: try again") from None
    with source.open_image(sha) as src:  # a missing one raises, naming the source store
        try:
            durable.write_file(target, lambda f: shutil.copyfileobj(src, f))
        except OSError as e:  # copied before the run's row: nothing of the run is stored yet
            raise StoreError(f"{target}: the image could not be copied ({e.strerror or e}); nothing of the run"
                             " was stored: try again (on a full disk, once space is freed)") from None


def task_counts(instances: Iterable[AnyInstance]) -> dict[str, int]:
    """Instances per category abbreviation, in the paper's order (for the command's plan line)."""
    counts = Counter(i.task_type for i in instances)
    return {c.abbreviation: counts[t] for t, c in CATEGORIES.items() if counts[t]}
