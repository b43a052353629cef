"""The battle flow: draw an instance and two systems, produce both sides, take the vote, reveal and judge.

The Arena tab, its API endpoints and tests call these functions; ``arena.Arena`` below them keeps the
rules a vote must pass (server-issued ids bound to a session, one vote, both sides shown, rate limit).

A battle's state lives once, in the store's ``battles`` row: the instance, the systems on A and B, the
runs pinned to each side (a battle drawn from stored runs) or delivered, and the vote. A browser holds
only the battle id and every step reloads the battle by id (``load_battle``). Before the vote a side is
shown only through ``anonymous_side``: the final output alone, in the same shape for A and B, names
redacted, images re-encoded under a name of their own; after it, ``reveal`` gives who was who with each
side's steps, timings, settings and judge score.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.arena import KINDS, BattleError, draw_pair
from realunify_arena.benchmark import Dataset
from realunify_arena.benchmark.images import anonymous_png
from realunify_arena.benchmark.schema import TRACKS, AnyInstance, GEUInstance
from realunify_arena.context import AppContext
from realunify_arena.identity import COMMON_WORDS, NameFilter
from realunify_arena.importing import IMPORTED_SETTINGS
from realunify_arena.judge import HUMAN, judge_name
from realunify_arena.redaction import visitor_text
from realunify_arena.runs import (RunUpdate, concurrently, for_visitors, interleave, judge_run, needs_device,
                                  stream_run)
from realunify_arena.shown import brief, said
from realunify_arena.stopping import RunControl
from realunify_arena.systems import MODES, Mode, System
from realunify_arena.trace import Status, StepRole, Trace

SIDES = ("A", "B")
ANY = "any"  # a track or battle kind left to chance
# A live battle side's seed is drawn uniformly from [0, BATTLE_SEEDS): a non-negative 32-bit signed integer,
# which every backend takes (torch generators, Gemini's int32 ``seed``, OpenAI-compatible servers), and far
# too many to run them all in Explore and match a battle's pixels before the vote.
BATTLE_SEEDS = 2**31


@dataclass
class Battle:
    """A battle as the server knows it: never sent to a browser before the vote except ``battle_id``."""

    battle_id: str
    dataset: str
    instance: AnyInstance
    kind: str
    systems: dict[str, System]  # side -> system
    runs: dict[str, int | None]  # side -> run: pinned when drawn from stored runs, else set on delivery
    delivered: dict[str, bool]  # side -> its output was shown (recorded by ``Arena.deliver``)

    @property
    def ready(self) -> bool:
        """Both sides were shown, so the battle takes a vote."""
        return all(self.delivered.values())

    @property
    def shown_mode(self) -> Mode:
        """The layout both sides get before the vote: final outputs only, whatever the kind (an
        intermediate step, or its absence, would tell a stepwise side from a direct one)."""
        return "direct"


def start_battle(ctx: AppContext, source: str, track: str, kind: str, session_id: str, voter: str) -> Battle:
    """Draw an instance and two systems able to run it (from stored runs in ``stored`` arena mode) and
    record the battle. ``track`` and ``kind`` may be ``ANY``.

    Raises:
        BattleError: no instance of the source has two systems for the battle kind; or an unknown
            ``track`` or ``kind``, each named in one message (with an unknown ``source`` too); or the
            visitor's battle limit, or in live mode its run limit (each side is a new model run), is reached.
        KeyError: ``source`` is not configured (and ``track`` and ``kind`` are known).
    """
    # live battles store their runs under the dataset's name: noted where its instances are, as eval does
    problems = []  # every bad part of the request, named in one refusal
    if track not in (ANY, None, *TRACKS):  # a list or object from an API client reached SQLite
        problems.append(f"track {brief(track)}: expected one of {ANY}, {', '.join(TRACKS)}")
    if kind not in (ANY, None, *KINDS):  # a misspelt kind was played as any kind
        problems.append(f"battle kind {brief(kind)}: expected one of {ANY}, {', '.join(KINDS)}")
    try:
        dataset = ctx.dataset(source) if ctx.settings.arena_mode == "stored" else ctx.dataset_for_runs(source)
    except KeyError as e:
        if not problems:
            raise
        problems.insert(0, said(e))
    if problems:
        raise BattleError("; ".join(problems))
    kinds = [kind] if kind in KINDS else ctx.rng.sample(list(KINDS), len(KINDS))
    track = None if track == ANY else track
    if ctx.settings.arena_mode == "stored":
        candidates = _stored_candidates(ctx, dataset, track)
    else:
        instances = dataset.select(track)
        candidates = [(inst, dict.fromkeys(ctx.systems_for(inst)))
                      for inst in ctx.rng.sample(instances, min(len(instances), 50))]
    for inst, systems in candidates:
        for battle_kind in kinds:
            try:
                a, b = _draw(systems, battle_kind, ctx.rng)
            except BattleError:
                continue
            pinned = {"A": systems[a], "B": systems[b]}  # live: no run pinned, both sides run a model now
            battle_id = ctx.arena.new_battle(session_id, voter, inst.uid, dataset.name, str(a), str(b),
                                             battle_kind, runs=pinned,
                                             new_runs=sum(run is None for run in pinned.values()))
            return load_battle(ctx, battle_id, session_id)
    stored = ctx.settings.arena_mode == "stored"
    needs = [_NEEDS[battle_kind][stored] for battle_kind in kinds]
    hint = _elsewhere_hint(ctx, dataset.name) if stored else ""
    raise BattleError(f"no {track or ''} instance in {ctx.source_label(source)!r} has {' or '.join(needs)} for a "
                      f"{' or '.join(kinds)} battle{hint}".replace("  ", " "))


# What an instance needs for a battle of each kind (``arena.KIND_LABELS``), as (live arena, stored arena) words:
# a direct_vs_stepwise battle is one model's two modes, not two models
_NEEDS = {"direct_vs_stepwise": ("one available model in both modes (direct and stepwise)",
                                 "one model's stored runs in both modes (direct and stepwise)"),
          "model_vs_model": ("two available models in one mode", "two models' stored runs in one mode")}


def _elsewhere_hint(ctx: AppContext, served: str) -> str:
    """Where this store's pinned runs are, when some are under datasets other than ``served`` (runs imported
    without ``--data`` are stored under their folder's name, so two models' folders never meet in a battle), and
    the fix: serving a dataset is offered only where it has two systems' runs on one instance; importing each
    model's results under one dataset always."""
    elsewhere = {name: uids for name, uids in ctx.store.pinned_instances().items() if name != served}
    if not elsewhere:
        return ""
    listing = ", ".join(f"{name!r} ({len(uids)} instances)" for name, uids in sorted(elsewhere.items()))
    ready = sorted(set(elsewhere) & ctx.store.battle_ready_datasets())
    serve = (f"serve {' or '.join(map(repr, ready))} (--data: the instances it was stored under), which has two "
             "systems' runs on one instance, or " if ready else "")
    return (f"; this store's pinned runs are under dataset{'s' if len(elsewhere) > 1 else ''} {listing}: a battle "
            f"pairs two systems' runs of one instance of a dataset the app serves, so {serve}import each model's "
            f"results with `import-results --data` naming the instances they answer")


def load_battle(ctx: AppContext, battle_id: str, session_id: str) -> Battle:
    """The battle issued to this session, from the store. Raises ``BattleError`` for an unknown id,
    another session's battle, or one whose dataset is no longer configured."""
    row = ctx.arena.battle(battle_id, session_id)
    try:
        instance = ctx.dataset_named(row["dataset"]).get(row["instance_uid"])
    except KeyError as e:
        raise BattleError(f"this battle's instance is no longer served ({e.args[0]}); start a new battle") from None
    return Battle(battle_id, row["dataset"], instance, row["kind"],
                  {s: System.parse(row[f"system_{s.lower()}"]) for s in SIDES},
                  {s: row[f"run_{s.lower()}"] for s in SIDES},
                  {s: row[f"delivered_{s.lower()}_at"] is not None for s in SIDES})


def _draw(systems: dict[System, int | None], kind: str, rng) -> tuple[System, System]:
    """``draw_pair``, with model-vs-model battles kept within one mode (direct or stepwise)."""
    if kind != "model_vs_model":
        return tuple(map(System.parse, draw_pair(sorted(map(str, systems)), kind, rng)))
    for mode in rng.sample(list(MODES), len(MODES)):
        same_mode = sorted(str(s) for s in systems if s.mode == mode)
        if len(same_mode) >= 2:
            return tuple(map(System.parse, draw_pair(same_mode, kind, rng)))
    raise BattleError("no two models share a mode for this instance")


def _stored_candidates(ctx: AppContext, dataset: Dataset, track: str | None) -> list[tuple[AnyInstance, dict]]:
    """Instances with their stored finished runs pinned for the arena (``eval``'s and imported ones, never an
    ad-hoc Explore run), as {system: run id} (the latest run per system)."""
    by_instance: dict[str, dict[System, int]] = {}
    for row in ctx.store.runs(dataset=dataset.name, track=track, status=Status.OK.value, pinned=True):
        by_instance.setdefault(row["instance_uid"], {})[System(row["model"], row["mode"])] = row["id"]
    found = []
    for uid, systems in by_instance.items():
        try:
            inst = dataset.get(uid)
        except KeyError:
            continue
        found.append((inst, systems))
    ctx.rng.shuffle(found)
    return found


# -- producing both sides ---------------------------------------------------------------------------


def play(ctx: AppContext, battle: Battle, session_id: str,
         control: RunControl | None = None) -> Iterator[tuple[str, RunUpdate]]:
    """Yield (side, update) as both sides progress; each side's end (its ``done`` update) is held until both
    sides have ended, then both are delivered (those stored and ``ok``) and both ends yielded, A then B. A
    side seen to end first, or delivered first (``/vote``'s refusal names an undelivered side), would tell
    the faster system, and in a direct-vs-stepwise battle which side is direct, before the vote (hunt27g).

    A pinned run is shown from the store; otherwise the side's system runs now with the card's settings and
    a fresh seed of its own (``battle_options``), never a stored run, so its output matches nothing Explore or
    ``/run_instance`` returns before the vote (the reveal gives the seed). ``battle`` is updated with what
    was delivered, so ``battle.ready`` says whether it takes a vote; a side whose answer names a system
    flags the battle (``names_shown``). The updates are the server's: show a side before the vote only
    through ``anonymous_side``. ``control`` stops both sides (each side with its own time-limit clock).

    The local sides (and stored ones) progress together on one thread (``runs.interleave``: two runs on
    one accelerator alternate under its re-entrant lock); each remote side runs on a thread of its own
    (``runs.concurrently``), so a local side ends and releases the device lock while an endpoint is still
    answering, or hung until its card's deadline. Delivery happens here, on the caller's thread.
    """
    here, remote = {}, {}
    for side in SIDES:
        run_id = battle.runs.get(side)
        if run_id is not None:
            here[side] = iter([RunUpdate(ctx.store.load_trace(run_id), run_id, reused=True, done=True)])
        else:
            system = battle.systems[side]
            stream = stream_run(ctx.store, ctx.pool, battle.dataset, battle.instance, system.model,
                                system.mode, battle_options(ctx, battle, system), reuse=False,
                                control=control.fork() if control is not None else None)
            (here if needs_device(ctx.pool, system.model) else remote)[side] = stream
    groups = ([interleave(here)] if here else []) + [interleave({side: s}) for side, s in remote.items()]
    names = battle_names(ctx, battle)
    ended: dict[str, RunUpdate] = {}  # each side's end, held until every side has ended
    for side, update in concurrently(groups):
        if update.done:
            ended[side] = update
        else:
            yield side, update
    for side in SIDES:
        update = ended.get(side)
        if update is not None and update.run_id is not None and update.trace.status is Status.OK:
            ctx.arena.deliver(battle.battle_id, session_id, side, update.run_id,
                              flag=names_shown(ctx, update, names))
            battle.runs[side], battle.delivered[side] = update.run_id, True
    for side in SIDES:
        if side in ended:
            yield side, ended[side]


def battle_options(ctx: AppContext, battle: Battle, system: System) -> GenerationOptions:
    """The card's settings with a seed drawn by ``secrets`` from [0, ``BATTLE_SEEDS``) under which nothing
    of this system on this instance is stored yet (an Explore run at that seed would otherwise hold the
    key), so a live side is always a run of its own. Explore keeps its own deterministic seeds."""
    for _ in range(8):  # a stored run at a drawn seed is a 1-in-2**31 event per stored seed
        options = ctx.options(system.model, seed=secrets.randbelow(BATTLE_SEEDS))
        if ctx.store.find_run(battle.dataset, battle.instance.uid, system.model, system.mode,
                              options.to_dict()) is None:
            break
    return options
def play_needs_device(ctx: AppContext, battle: Battle) -> bool:
    """Whether producing ``battle`` (``play``) holds the app's device slot (``AppContext.device_slot``):
    some side is still to run (no pinned or delivered run) and every such side is a local card
    (``runs.needs_device``). A battle drawn from stored runs, or with any remote side still to run, passes
    outside the slot: a slot held for a battle is held until its last side ends, so a remote side hung until
    its card's deadline would hold every other user's local run that long. The trade-off: the local side of
    a mixed battle waits for the device on a thread (the pool's device lock, taken only while it runs),
    outside ``settings.queue_size``'s cap on waiting local runs."""
    to_run = [battle.systems[side].model for side in SIDES if battle.runs.get(side) is None]
    return bool(to_run) and all(needs_device(ctx.pool, model) for model in to_run)


def judging_needs_device(ctx: AppContext, battle: Battle) -> bool:
    """Whether ``judge_battle`` takes the accelerator: a UEG battle judged by a local judge card (GEU
    answers are parsed, never sent to a model; a human judge is not asked here)."""
    judge = ctx.judge
    return (not isinstance(battle.instance, GEUInstance) and judge != HUMAN
            and needs_device(ctx.pool, judge))


def battle_names(ctx: AppContext, battle: Battle) -> NameFilter:
    """``ctx.names`` plus the battle's own models, which need not be cards (runs stored by
    ``import-results`` under a name the maintainer chose)."""
    extra = {s.model for s in battle.systems.values()
             if len(s.model) >= 2 and s.model.lower() not in COMMON_WORDS} - ctx.names.names
    return NameFilter.from_cards([], aliases=ctx.names.names | extra) if extra else ctx.names


def names_shown(ctx: AppContext, update: RunUpdate, names: NameFilter | None = None) -> str | None:
    """What in a side's final text would name a system ("names: Qwen2.5, tiny-janus"), or None. The
    pre-vote view redacts them, and the battle is flagged: its vote is kept but not rated. ``names``
    defaults to ``ctx.names`` (``battle_names`` adds the battle's models)."""
    final = update.trace.final
    found = (names or ctx.names).found(final.text) if final is not None else []
    return f"names: {', '.join(dict.fromkeys(found))}" if found else None


def anonymise(text: str, names: NameFilter) -> str:
    """Failure text with every model, family, checkpoint and maker name, path and URL replaced
    (``NameFilter.redact_failure``)."""
    return names.redact_failure(text)


def anonymous_side(ctx: AppContext, update: RunUpdate, names: NameFilter | None = None) -> dict:
    """The pre-vote view of one side: the one function that builds what a voter sees before the vote, for
    the Arena tab and ``/new_battle`` alike. Every side has the same shape::

        {"text": str | None, "image": {"name": str, "png_base64": str} | None, "error": str | None}

    ``text`` is the final answer with the names that would give a system away redacted
    (``NameFilter.redact``); ``image`` the final image as a PNG of its pixels alone (``anonymous_png``:
    no metadata, bytes unique to this showing, so no hash of them is an id any other endpoint returns)
    under a random name; ``error`` the anonymised failure (``anonymise`` of its ``visitor_text``: a card's
    endpoint host, also named bare or with its port, is hidden, not only a URL); ``names`` defaults to
    ``ctx.names`` (pass ``battle_names``). No intermediate step, timing,
    setting, status, run id or store hash: those come with the reveal (``vote_and_reveal``).
    """
    trace, names = update.trace, names or ctx.names
    final = trace.final if update.done and trace.status is Status.OK else None
    image = None
    if final is not None and final.image_sha:
        png = anonymous_png(ctx.store.get_image(final.image_sha))
        image = {"name": f"{secrets.token_urlsafe(12)}.png", "png_base64": base64.b64encode(png).decode("ascii")}
    answered = final is not None and (final.text or final.role is StepRole.ANSWER)  # "" is still an answer
    return {"text": names.redact(final.text or "") if answered else None,
            "image": image,
            "error": anonymise(visitor_text(trace.error), names) if trace.error else None}


def play_to_end(ctx: AppContext, battle: Battle, session_id: str, control: RunControl | None = None) -> dict:
    """Produce both sides and return the anonymous pre-vote view of the battle: id, dataset, instance uid,
    track, text, ``ready`` and each side's ``anonymous_side``. ``control`` as for ``play``."""
    final: dict[str, RunUpdate] = {}
    for side, update in play(ctx, battle, session_id, control):
        final[side] = update
    inst = battle.instance
    return {"battle_id": battle.battle_id, "dataset": battle.dataset, "instance_uid": inst.uid,
            "track": inst.track, "text": inst.question if isinstance(inst, GEUInstance) else inst.prompt,
            "ready": battle.ready,
            "sides": {side: anonymous_side(ctx, final[side], battle_names(ctx, battle)) for side in SIDES}}


# -- the vote and the reveal ------------------------------------------------------------------------


def vote_and_reveal(ctx: AppContext, battle_id: str, session_id: str, voter: str, choice: str) -> dict:
    """Record the vote (``Arena.vote``: raises ``VoteRefused`` and writes nothing when refused) and return
    the reveal at once: judgments that need no judge model (GEU answers, stored ones) are in it, UEG
    judgments still to be made say ``runs.JUDGING``; ``judge_battle`` makes them."""
    revealed = ctx.arena.vote(battle_id, session_id, voter, choice)
    return _with_judgments(ctx, load_battle(ctx, battle_id, session_id), revealed, ask_model=False)


def reveal(ctx: AppContext, battle_id: str, session_id: str) -> dict:
    """The reveal of a battle this session voted on, as stored (no judge model runs); raises
    ``BattleError`` before the vote."""
    revealed = ctx.arena.reveal(battle_id, session_id)
    return _with_judgments(ctx, load_battle(ctx, battle_id, session_id), revealed, ask_model=False)


def judge_battle(ctx: AppContext, battle_id: str, session_id: str) -> dict:
    """The reveal after the judge model scored both sides (a model event: hold ``ctx.device_slot`` when
    ``judging_needs_device``); raises ``BattleError`` before the vote."""
    revealed = ctx.arena.reveal(battle_id, session_id)
    return _with_judgments(ctx, load_battle(ctx, battle_id, session_id), revealed, ask_model=True)


def _seconds(seconds: float, trace: Trace) -> float | None:
    """A time of ``trace`` as the reveal gives it (seconds, 3 decimals), or None for a run imported from published
    result files (``importing.IMPORTED_SETTINGS``), which record no timings: 0.0 would be a time it never took."""
    return None if trace.settings == IMPORTED_SETTINGS else round(seconds, 3)


def _with_judgments(ctx: AppContext, battle: Battle, revealed: dict, *, ask_model: bool) -> dict:
    """``Arena.vote``/``reveal``'s record (battle_id, vote_id, choice, created_at, system_a, system_b, kind,
    instance_uid) plus ``sides``: per side the system, run id, judge, judgment and judge problem, and what
    the pre-vote view held back: the run's status, error, settings, total seconds and every step (role,
    text, image content hash, seconds; the times None for an imported run, ``_seconds``), and ``imported``: for a run imported from published result files
    (``import-results``) where it came from (file, entry, imported_at; not the importing machine's folder),
    else None."""
    sides = {}
    for side in SIDES:
        run_id = battle.runs.get(side)
        judgment = problem = trace = origin = None
        if run_id is not None:
            trace = ctx.store.load_trace(run_id)
            origin = ctx.store.run_origin(run_id)
            judgment, problem = judge_run(ctx.store, ctx.pool, run_id, trace, battle.instance,
                                          ctx.judge, ask_model=ask_model, why_not=ctx.why_not)
        # no secret, server folder or endpoint address in what the page shows (runs.for_visitors)
        sides[side] = for_visitors({"system": revealed[f"system_{side.lower()}"], "run_id": run_id,
                                    "judge": judge_name(battle.instance, ctx.judge), "judgment": judgment,
                                    "judge_problem": problem,
                                    "status": trace.status.value if trace else None,
                                    "error": trace.error if trace else None,
                                    "settings": trace.settings if trace else None,
                                    "seconds": _seconds(trace.seconds, trace) if trace else None,
                                    "steps": [{"role": s.role.value, "text": s.text, "image_sha": s.image_sha,
                                               "seconds": _seconds(s.seconds, trace)} for s in trace.steps]
                                    if trace else [],
                                    "imported": {"file": visitor_text(origin["file"]), "entry": origin["entry"],
                                                 "imported_at": origin["imported_at"]} if origin else None})
    return {**revealed, "sides": sides}
