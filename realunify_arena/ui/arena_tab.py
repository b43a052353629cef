"""Arena: one instance, two anonymous systems, a vote, then the reveal.

The systems behind A and B live only on the server (the arena's battle row and this session's
``gr.State``); no component shows them before the vote. Outputs are generated live, both sides a step
at a time, or, in ``stored`` arena mode, drawn from runs already in the store (a CPU-only Space).
The vote buttons unlock only when both sides are delivered; ``arena.vote`` checks that again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from realunify_arena.arena import KINDS, BattleError, VoteRefused, draw_pair, split_system
from realunify_arena.benchmark import Dataset
from realunify_arena.benchmark.schema import AnyInstance, GEUInstance
from realunify_arena.judge import HUMAN, stored_images
from realunify_arena.protocols import MODES
from realunify_arena.trace import Status
from realunify_arena.ui.context import AppContext
from realunify_arena.ui.render import TraceView, instance_markdown
from realunify_arena.ui.runs import RunUpdate, interleave, judge_run, paced, relay, stream_run

SIDES = ("A", "B")
ANY = "any"
VOTES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both are bad"}
KIND_LABELS = {"model_vs_model": "two models, same mode", "direct_vs_stepwise": "one model: direct vs stepwise"}


@dataclass
class Battle:
    """Server-side only: never returned to the browser except ``battle_id``."""

    battle_id: str
    dataset: str
    instance: AnyInstance
    kind: str
    systems: dict[str, str]  # side -> "model:mode"
    runs: dict[str, int | None] = field(default_factory=dict)  # side -> run id: known up front in stored mode,
    # set on delivery when live
    errors: dict[str, str] = field(default_factory=dict)


def pick_battle(ctx: AppContext, source: str, track: str, kind: str, session_id: str, voter: str) -> Battle:
    """An instance and two systems able to run it; from stored runs in ``stored`` mode."""
    dataset = ctx.dataset(source)
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
            battle_id = ctx.arena.new_battle(session_id, voter, inst.uid, dataset.name, a, b, battle_kind)
            return Battle(battle_id, dataset.name, inst, battle_kind, {"A": a, "B": b},
                          runs={"A": systems[a], "B": systems[b]})
    where = "stored runs" if ctx.settings.arena_mode == "stored" else "available models"
    raise BattleError(f"no {track or ''} instance in {dataset.name!r} has two {where} for a "
                      f"{' or '.join(kinds)} battle".replace("  ", " "))


def _draw(systems: dict[str, int | None], kind: str, rng) -> tuple[str, str]:
    """``draw_pair``, with model-vs-model battles kept within one mode (direct or stepwise)."""
    if kind != "model_vs_model":
        return draw_pair(sorted(systems), kind, rng)
    for mode in rng.sample(list(MODES), len(MODES)):
        same_mode = sorted(s for s in systems if split_system(s)[1] == mode)
        if len(same_mode) >= 2:
            return draw_pair(same_mode, kind, rng)
    raise BattleError("no two models share a mode for this instance")


def _stored_candidates(ctx: AppContext, dataset: Dataset, track: str | None) -> list[tuple[AnyInstance, dict]]:
    """Instances with their stored finished runs pinned for the arena (``eval``'s and imported ones, never an
    ad-hoc Explore run), as {system: run id} (the latest run per system)."""
    by_instance: dict[str, dict[str, int]] = {}
    for row in ctx.store.runs(dataset=dataset.name, track=track, status=Status.OK.value, pinned=True):
        by_instance.setdefault(row["instance_uid"], {})[f"{row['model']}:{row['mode']}"] = row["id"]
    found = []
    for uid, systems in by_instance.items():
        try:
            inst = dataset.get(uid)
        except KeyError:
            continue
        found.append((inst, systems))
    ctx.rng.shuffle(found)
    return found


def play(ctx: AppContext, battle: Battle, session_id: str):
    """Yield (side, update) as both sides progress; deliver each side once it is stored."""
    streams = {}
    for side in SIDES:
        if battle.runs.get(side) is not None:
            run_id = battle.runs[side]
            streams[side] = iter([RunUpdate(ctx.store.load_trace(run_id), run_id, reused=True, done=True)])
        else:
            model, mode = split_system(battle.systems[side])
            streams[side] = stream_run(ctx.store, ctx.pool, battle.dataset, battle.instance, model, mode,
                                       ctx.options(model))
    for side, update in interleave(streams):
        if update.done:
            if update.run_id is not None and update.trace.status is Status.OK:
                ctx.arena.deliver(battle.battle_id, session_id, side, update.run_id)
                battle.runs[side] = update.run_id
            else:
                battle.errors[side] = _anonymous(update.trace.error or "no output", battle)
        yield side, update


def _anonymous(text: str, battle: Battle) -> str:
    for system in battle.systems.values():
        text = text.replace(split_system(system)[0], "the model")
    return text


def reveal_markdown(ctx: AppContext, battle: Battle, revealed: dict, *, ask_model: bool) -> str:
    """Who was who, with each side's judge score; ``ask_model`` False shows "judging…" where the judge
    model still has to run (the vote answers at once; the judging follows in the ``gpu`` group)."""
    lines = [f"**You voted: {VOTES[revealed['choice']]}** · {KIND_LABELS[revealed['kind']]}"]
    for side in SIDES:
        system = revealed[f"system_{side.lower()}"]
        run_id = battle.runs.get(side)
        score = "not judged"
        if run_id is not None:
            judgment, problem = judge_run(ctx.store, ctx.pool, run_id, ctx.store.load_trace(run_id),
                                          battle.instance, ctx.settings.judge, ask_model=ask_model)
            if judgment is not None:
                score = ("undecided: the judge's replies were unparseable" if judgment["score"] is None
                         else f"judge score {judgment['score']}")
            elif problem:
                score = problem
        lines.append(f"- **{side}** was **{system}** ({score})")
    return "\n".join(lines)


def build(ctx: AppContext) -> None:
    gr.Markdown("Two anonymous systems answer the same instance. Vote once both are done; the names are "
                "revealed after your vote.")
    with gr.Row():
        source = gr.Dropdown(ctx.source_choices(), value=ctx.sources[0], label="Data source", elem_id="ar-source")
        track = gr.Radio([ANY, "UEG", "GEU"], value=ANY, label="Track", elem_id="ar-track")
        kind = gr.Radio([("any", ANY), *[(label, k) for k, label in KIND_LABELS.items()]], value=ANY,
                        label="Battle", elem_id="ar-kind")
        new = gr.Button("New battle", variant="primary", elem_id="ar-new")
    instance_md = gr.Markdown(elem_id="ar-instance")
    input_image = gr.Image(label="Input image", type="pil", interactive=False, visible=False, height=280)
    views = {}
    with gr.Row(equal_height=False):
        for side in SIDES:
            with gr.Column():
                gr.Markdown(f"### {side}")
                views[side] = TraceView.create(f"ar-{side.lower()}")
    with gr.Row():
        buttons = {choice: gr.Button(label, interactive=False, elem_id=f"ar-vote-{choice}")
                   for choice, label in VOTES.items()}
    reveal = gr.Markdown(elem_id="ar-reveal")
    next_battle = gr.Button("Next battle", visible=False, elem_id="ar-next")
    state = gr.State(None)  # Battle; server-side only
    revealed_state = gr.State(None)  # what the vote revealed, for the judging that follows
    view_outputs = [*views["A"].outputs, *views["B"].outputs]
    locked = [gr.update(interactive=False)] * len(buttons)

    def start(source_value, track_value, kind_value, request: gr.Request, profile: gr.OAuthProfile | None):
        voter = ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers)
        try:
            battle = pick_battle(ctx, source_value, track_value, kind_value, request.session_hash, voter)
        except (BattleError, KeyError, LookupError) as e:
            raise gr.Error(getattr(e, "message", None) or str(e)) from None
        inst = battle.instance
        shown = inst.open_image() if isinstance(inst, GEUInstance) else None
        blanks = [v for side in SIDES for v in views[side].blank(inst.track, _shown_mode(battle), "waiting…")]
        return [battle, instance_markdown(inst, with_questions=False),
                gr.update(value=shown, visible=shown is not None), *blanks, *locked, "", gr.update(visible=False)]

    def generate(battle: Battle | None, request: gr.Request):
        if battle is not None:
            yield from paced(frames(battle, request.session_hash))

    def frames(battle: Battle, session_id: str):
        images = stored_images(ctx.store)
        mode = _shown_mode(battle)
        latest = {side: views[side].blank(battle.instance.track, mode, f"**{side}**: working…") for side in SIDES}
        for side, update in relay(play(ctx, battle, session_id)):
            trace = update.trace
            if trace.error:
                trace.error = _anonymous(trace.error, battle)
            latest[side] = views[side].show(trace, battle.instance.track, images, _progress(side, update),
                                            final_only=mode == "direct")
            yield [*latest["A"], *latest["B"], *locked, gr.skip(), gr.skip()]
        ready = all(battle.runs.get(s) is not None for s in SIDES)
        note = "" if ready else "A side failed, so this battle cannot be voted on. Start a new battle."
        yield [*latest["A"], *latest["B"], *[gr.update(interactive=ready)] * len(buttons), battle, note]

    def voter(choice: str):
        def cast(battle: Battle | None, request: gr.Request, profile: gr.OAuthProfile | None):
            if battle is None:
                raise gr.Error("Start a battle first.")
            who = ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers)
            try:
                revealed = ctx.arena.vote(battle.battle_id, request.session_hash, who, choice)
            except VoteRefused as e:
                raise gr.Error(e.message) from None
            return [reveal_markdown(ctx, battle, revealed, ask_model=False), revealed, *locked,
                    gr.update(visible=True)]

        return cast

    def judged(battle: Battle | None, revealed: dict | None):
        if battle is None or revealed is None or revealed["battle_id"] != battle.battle_id:
            return gr.skip()
        return reveal_markdown(ctx, battle, revealed, ask_model=True)

    votes = [button.click(voter(choice), state, [reveal, revealed_state, *buttons.values(), next_battle],
                          api_visibility="private", concurrency_limit=None)
             for choice, button in buttons.items()]
    judging = [vote.success(judged, [state, revealed_state], reveal, api_visibility="private", **ctx.gpu_events)
               for vote in votes] if ctx.settings.judge != HUMAN else []
    # a new battle drops the last one's judging still queued, which would overwrite the new reveal
    started = gr.on([new.click, next_battle.click], start, [source, track, kind],
                    [state, instance_md, input_image, *view_outputs, *buttons.values(), reveal, next_battle],
                    api_visibility="private", concurrency_limit=None, cancels=judging)
    started.success(generate, state, [*view_outputs, *buttons.values(), state, reveal],
                    api_visibility="private", **_battle_concurrency(ctx))
    _register_api(ctx)


def _battle_concurrency(ctx: AppContext) -> dict:
    """Live battles run models, so they share the ``gpu`` group; stored battles only read the store
    and must not wait behind someone else's generation."""
    return {"concurrency_limit": None} if ctx.settings.arena_mode == "stored" else ctx.gpu_events


def _shown_mode(battle: Battle) -> str:
    """Which layout both sides get. A direct-vs-stepwise battle shows final outputs only: the stepwise
    side's intermediate step would give it away."""
    return "direct" if battle.kind == "direct_vs_stepwise" else split_system(battle.systems["A"])[1]


def _progress(side: str, update: RunUpdate) -> str:
    """Neutral progress: no step names or timings, which would hint at the mode or the model."""
    if update.trace.status is not Status.OK:
        return f"**{side}**: failed: {update.trace.error}"
    return f"**{side}**: done" if update.done else f"**{side}**: working…"


def _register_api(ctx: AppContext) -> None:
    def new_battle(source: str = "", track: str = ANY, kind: str = ANY, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> dict:
        """Start a battle and produce both outputs; returns the battle id and the anonymous outputs."""
        voter = ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers)
        try:
            battle = pick_battle(ctx, source or ctx.sources[0], track, kind, request.session_hash, voter)
        except (BattleError, KeyError, LookupError) as e:
            raise gr.Error(getattr(e, "message", None) or str(e)) from None
        final: dict[str, RunUpdate] = {}
        for side, update in play(ctx, battle, request.session_hash):
            final[side] = update
        inst = battle.instance
        return {
            "battle_id": battle.battle_id, "dataset": battle.dataset, "instance_uid": inst.uid,
            "track": inst.track, "text": inst.question if isinstance(inst, GEUInstance) else inst.prompt,
            "ready": all(battle.runs.get(s) is not None for s in SIDES),
            "sides": {side: {"status": final[side].trace.status.value, "error": battle.errors.get(side),
                             "steps": [{"role": s.role.value, "text": s.text, "image_sha": s.image_sha,
                                        "seconds": round(s.seconds, 3)} for s in final[side].trace.steps]}
                      for side in SIDES},
        }

    def vote(battle_id: str, choice: str, request: gr.Request = None,
             profile: gr.OAuthProfile | None = None) -> dict:
        """Vote A, B, tie or both_bad on a battle this session received; returns the revealed systems."""
        who = ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers)
        try:
            return ctx.arena.vote(battle_id, request.session_hash, who, choice)
        except VoteRefused as e:
            raise gr.Error(e.message) from None

    gr.api(new_battle, api_name="new_battle", **_battle_concurrency(ctx))
    gr.api(vote, api_name="vote", concurrency_limit=None)
