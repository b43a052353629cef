"""Arena tab: one instance, two anonymous systems, a vote, then the reveal (layout and wiring).

What a battle does is ``realunify_arena.battles``: the browser's ``gr.State`` holds only the battle id, and
each event reloads the battle from the store by id. No component shows a system before the vote. Outputs
are generated live, both sides a step at a time, or, in ``stored`` arena mode, drawn from runs already in
the store (a CPU-only Space). The vote buttons unlock only when both sides are delivered; ``arena.vote``
checks that again.
"""

from __future__ import annotations

import gradio as gr

from realunify_arena.arena import KIND_LABELS, BattleError, VoteRefused
from realunify_arena.battles import (
    ANY, SIDES, Battle, judge_battle, load_battle, play, play_to_end, start_battle, vote_and_reveal,
)
from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.context import AppContext
from realunify_arena.judge import HUMAN, stored_images
from realunify_arena.runs import RunUpdate
from realunify_arena.trace import Status
from realunify_arena.ui.render import TraceView, instance_markdown
from realunify_arena.ui.streaming import paced, relay

VOTES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both are bad"}
REFUSALS = (BattleError, KeyError, LookupError)  # shown as the message, never as a traceback


def reveal_markdown(reveal: dict) -> str:
    """Who was who, with each side's judge score (``battles.vote_and_reveal``/``judge_battle``'s record);
    "judging…" where the judge model still has to run."""
    lines = [f"**You voted: {VOTES[reveal['choice']]}** · {KIND_LABELS[reveal['kind']]}"]
    for side in SIDES:
        info = reveal["sides"][side]
        judgment, score = info["judgment"], info["judge_problem"] or "not judged"
        if judgment is not None:
            score = ("undecided: the judge's replies were unparseable" if judgment["score"] is None
                     else f"judge score {judgment['score']}")
        lines.append(f"- **{side}** was **{info['system']}** ({score})")
    return "\n".join(lines)


def _message(error: Exception) -> str:
    return getattr(error, "message", None) or (error.args[0] if error.args else str(error))


def _voter(ctx: AppContext, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
    return ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers)


def build(ctx: AppContext) -> None:
    gr.Markdown("Two anonymous systems answer the same instance. Vote once both are done; the names are "
                "revealed after your vote.")
    with gr.Row():
        source = gr.Dropdown(ctx.source_choices(), value=ctx.sources[0], label="Data source", elem_id="ar-source")
        track = gr.Radio([ANY, "UEG", "GEU"], value=ANY, label="Track", elem_id="ar-track")
        kind = gr.Radio([("any", ANY), *[(label, k) for k, label in KIND_LABELS.items()]], value=ANY,
                        label="Battle", elem_id="ar-kind")
        new = gr.Button("New battle", variant="primary", elem_id="ar-new")
        stop = gr.Button("Stop", variant="stop", elem_id="ar-stop")
    if any(card.family == "tiny" for card in ctx.cards.values()):
        gr.Markdown("Some systems here are tiny random-weight test models: their outputs are noise.",
                    elem_id="ar-tiny-note")
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
    state = gr.State(None)  # the battle id only; the battle itself lives in the store
    view_outputs = [*views["A"].outputs, *views["B"].outputs]
    locked = [gr.update(interactive=False)] * len(buttons)

    def start(source_value, track_value, kind_value, request: gr.Request, profile: gr.OAuthProfile | None):
        try:
            battle = start_battle(ctx, source_value, track_value, kind_value, request.session_hash,
                                  _voter(ctx, request, profile))
        except REFUSALS as e:
            raise gr.Error(_message(e)) from None
        inst = battle.instance
        shown = inst.open_image() if isinstance(inst, GEUInstance) else None
        blanks = [v for side in SIDES for v in views[side].blank(inst.track, battle.shown_mode, "waiting…")]
        return [battle.battle_id, instance_markdown(inst, with_questions=False),
                gr.update(value=shown, visible=shown is not None), *blanks, *locked, "", gr.update(visible=False)]

    def generate(battle_id: str | None, request: gr.Request):
        if battle_id is None:
            return
        try:
            battle = load_battle(ctx, battle_id, request.session_hash)
        except REFUSALS as e:
            raise gr.Error(_message(e)) from None
        session = request.session_hash
        request_id = ctx.runs.begin(session, 1, keys=("battle",))
        control = ctx.runs.open(session, request_id, ctx.settings.time_limit_s)
        try:
            yield from paced(frames(battle, session, control))
        finally:
            ctx.runs.close(session, request_id, control, "battle")

    def frames(battle: Battle, session_id: str, control):
        images = stored_images(ctx.store)
        mode = battle.shown_mode
        latest = {side: views[side].blank(battle.instance.track, mode, f"**{side}**: working…") for side in SIDES}
        for side, update in relay(play(ctx, battle, session_id, control)):
            latest[side] = views[side].show(update.trace, battle.instance.track, images, _progress(side, update),
                                            final_only=mode == "direct")
            yield [*latest["A"], *latest["B"], *locked, gr.skip()]
        note = "" if battle.ready else "A side failed, so this battle cannot be voted on. Start a new battle."
        yield [*latest["A"], *latest["B"], *[gr.update(interactive=battle.ready)] * len(buttons), note]

    def voter(choice: str):
        def cast(battle_id: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
            if battle_id is None:
                raise gr.Error("Start a battle first.")
            try:
                revealed = vote_and_reveal(ctx, battle_id, request.session_hash, _voter(ctx, request, profile),
                                           choice)
            except REFUSALS as e:
                raise gr.Error(_message(e)) from None
            return [reveal_markdown(revealed), *locked, gr.update(visible=True)]

        return cast

    def judged(battle_id: str | None, request: gr.Request):
        try:
            return reveal_markdown(judge_battle(ctx, battle_id, request.session_hash))
        except REFUSALS:  # no battle, or a new one started meanwhile: nothing to update
            return gr.skip()

    votes = [button.click(voter(choice), state, [reveal, *buttons.values(), next_battle],
                          api_visibility="private", concurrency_limit=None)
             for choice, button in buttons.items()]
    judging = [vote.success(judged, state, reveal, api_visibility="private", **ctx.gpu_events)
               for vote in votes] if ctx.judge != HUMAN else []
    # a new battle drops the last one's judging still queued, which would overwrite the new reveal
    started = gr.on([new.click, next_battle.click], start, [source, track, kind],
                    [state, instance_md, input_image, *view_outputs, *buttons.values(), reveal, next_battle],
                    api_visibility="private", concurrency_limit=None, cancels=judging)
    generating = started.success(generate, state, [*view_outputs, *buttons.values(), reveal],
                                 api_visibility="private", **_battle_concurrency(ctx))

    def stop_battle(request: gr.Request):
        stopped = ctx.runs.stop(request.session_hash)  # both sides end at their next step
        return "Stopped: this battle cannot be voted on. Start a new battle." if stopped else gr.skip()

    stop.click(stop_battle, None, reveal, cancels=[generating], api_visibility="private",
               concurrency_limit=None, queue=False)
    _register_api(ctx)


def _battle_concurrency(ctx: AppContext) -> dict:
    """Live battles run models, so they share the ``gpu`` group; stored battles only read the store
    and must not wait behind someone else's generation."""
    return {"concurrency_limit": None} if ctx.settings.arena_mode == "stored" else ctx.gpu_events


def _progress(side: str, update: RunUpdate) -> str:
    """Neutral progress: no step names or timings, which would hint at the mode or the model."""
    if update.trace.status is not Status.OK:
        return f"**{side}**: failed: {update.trace.error}"
    return f"**{side}**: done" if update.done else f"**{side}**: working…"


def _register_api(ctx: AppContext) -> None:
    def new_battle(source: str = "", track: str = ANY, kind: str = ANY, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> dict:
        """Start a battle and produce both outputs; returns the battle id and the anonymous outputs."""
        try:
            battle = start_battle(ctx, source or ctx.sources[0], track, kind, request.session_hash,
                                  _voter(ctx, request, profile))
        except REFUSALS as e:
            raise gr.Error(_message(e)) from None
        return play_to_end(ctx, battle, request.session_hash)

    def vote(battle_id: str, choice: str, request: gr.Request = None,
             profile: gr.OAuthProfile | None = None) -> dict:
        """Vote A, B, tie or both_bad on a battle this session received; returns the revealed systems
        with each side's judgment (GEU at once; a UEG judgment the judge model has yet to make says so)."""
        try:
            return vote_and_reveal(ctx, battle_id, request.session_hash, _voter(ctx, request, profile), choice)
        except VoteRefused as e:
            raise gr.Error(e.message) from None

    gr.api(new_battle, api_name="new_battle", **_battle_concurrency(ctx))
    gr.api(vote, api_name="vote", concurrency_limit=None)
