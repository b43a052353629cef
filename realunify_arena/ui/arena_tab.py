"""Arena tab: one instance, two anonymous systems, a vote, then the reveal (layout and wiring).

What a battle does is ``realunify_arena.battles``: the browser's ``gr.State`` holds only the battle id, and
each event reloads the battle from the store by id. No component shows a system before the vote. Outputs
are generated live, both sides a step at a time and shown together once both have ended (``battles.play``),
or, in ``stored`` arena mode, drawn from runs already in the store (a CPU-only Space). The vote buttons unlock only when both sides are delivered; ``arena.vote``
checks that again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
import gradio as gr

from realunify_arena.arena import KIND_LABELS, BattleError, VoteRefused
from realunify_arena.battles import (
    ANY,
    SIDES,
    Battle,
    anonymous_side,
    battle_names,
    judge_battle,
    judging_needs_device,
    load_battle,
    play,
    play_needs_device,
    play_to_end,
    start_battle,
    vote_and_reveal,
)
from realunify_arena.benchmark.images import preview
from realunify_arena.benchmark.schema import TRACKS, GEUInstance
from realunify_arena.context import AppContext
from realunify_arena.judge import HUMAN, stored_images
from realunify_arena import page_links
from realunify_arena.page_links import explore_query
from realunify_arena.runs import RunUpdate
from realunify_arena.shown import said
from realunify_arena.stopping import STOPPED_BY_USER, RunControl
from realunify_arena.store import StoreError, split_uid
from realunify_arena.trace import Status
from realunify_arena.ui.calls import Refusal, show_drawn
from realunify_arena.ui.render import (
    ABSOLUTE_LINK_JS,
    LIVE_STATUS,
    SHOW_QUERY_JS,
    TraceView,
    failure_text,
    filled_in,
    instance_markdown,
    plain,
    status_line,
    unsaved,
)
from realunify_arena.ui.streaming import in_device_slot, on_device_slot, paced, relay
from realunify_arena.ui.visitor import visitor

VOTES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both are bad"}
REFUSALS = (BattleError, KeyError, LookupError)  # shown as the message, never as a traceback
STORED_NOTE = (" Battles here show published runs (batch evaluations, imported results), which Explore also "
               "serves, so outputs can be matched to their model: votes count per person within a rate limit, "
               "and votes on battles whose answer named a model are left out of the ratings.")


def reveal_markdown(reveal: dict, links: dict[str, str] | None = None) -> str:
    """Who was who, with each side's judge score (``battles.vote_and_reveal``/``judge_battle``'s record);
    "judging…" where the judge model still has to run. ``links``: side -> an Explore query (``?tab=…``)
    opening this instance with that side's model and seed."""
    lines = [f"**You voted: {VOTES[reveal['choice']]}** · {KIND_LABELS[reveal['kind']]}"]
    for side in SIDES:
        info = reveal["sides"][side]
        judgment, score = info["judgment"], failure_text(info["judge_problem"]) or "not judged"
        if judgment is not None:
            score = side_score(judgment)
        link = (links or {}).get(side)
        origin = info.get("imported")
        if origin:
            score += plain(f"; imported from published results: {origin['file']}, {origin['entry']}")
        lines.append(f"- **{side}** was **{plain(info['system'])}** ({score})"
                     + (f" · [open in Explore]({link})" if link else ""))
    return "\n".join(lines)


def side_score(judgment: dict) -> str:
    """A side's score as the reveal says it: a UEG run's judge score, or a GEU run's answer score, which no
    judge model gives (``judge.mcq_judgment``: the parsed letter checked against the expected one; an import's
    per-item score has no letter)."""
    if judgment["kind"] != "mcq":
        return ("undecided: the judge's replies were unparseable" if judgment["score"] is None
                else f"judge score {judgment['score']}")
    details = judgment["details"]
    if "letter" not in details:
        return f"answer score {judgment['score']}: the published per-item score"
    return (f"answer score {judgment['score']}: letter {plain(details['letter'] or 'none')}, "
            f"expected {plain(details['answer'])}")


def _message(error: Exception, ctx: AppContext | None = None) -> str:
    """The refusal's text for a toast (escaped: it may quote what the visitor sent); with ``ctx``, a data
    source's path in it is said by the source's public name (``AppContext.public_text``)."""
    text = getattr(error, "message", None) or said(error)
    return plain(ctx.public_text(text) if ctx is not None else text, markdown=False)


def _source_of(ctx: AppContext, dataset: str) -> str | None:
    """The public name of the source of ``dataset`` for a link's ``data``: "" for the first (left out of the
    link); None when no configured source holds it."""
    source = next((name for name in ctx.source_names() if ctx.dataset(name).name == dataset), None)
    return "" if source == ctx.source_names()[0] else source


def side_links(ctx: AppContext, reveal: dict) -> dict[str, str]:
    """Side -> the Explore query of this battle's instance with that side's model, the seed of its run and its
    generation settings that differ from the card's defaults (``page_links.card_settings``)."""
    links = {}
    for side in SIDES:
        run_id = reveal["sides"][side]["run_id"]
        run = ctx.store.run(run_id) if run_id is not None else None
        source = _source_of(ctx, run["dataset"]) if run is not None else None
        if source is not None:
            settings = page_links.stored_card_settings(ctx.cards.get(run["model"]), run["settings_key"])
            links[side] = explore_query(source or None, run["instance_uid"], model=run["model"],
                                        seed=run["seed"], settings=settings)
    return links


def shows_tiny(ctx: AppContext) -> bool:
    """Whether a battle can show a tiny random-weight card's output now: stored battles show pinned runs only (their
    models need not be offered; ``Store.pinned_models`` as it is at this call), live ones run the offered cards,
    which on a stored-mode Space still include the tiny ones."""
    shown = ctx.store.pinned_models() if ctx.settings.arena_mode == "stored" else set(ctx.cards)
    return any(name in ctx.pool.cards and ctx.pool.cards[name].family == "tiny" for name in shown)


TINY_NOTE = "Some systems here are tiny random-weight test models: their outputs are noise."


def build(ctx: AppContext, demo: gr.Blocks) -> ArenaLink:
    """The Arena tab's components and events; ``demo``: the page, whose load says ``TINY_NOTE`` where it applies.
    Returns what a link to the Arena fills in."""
    gr.Markdown("Two anonymous systems answer the same instance. Vote once both are done; the names are "
                "revealed after your vote." + (STORED_NOTE if ctx.settings.arena_mode == "stored" else ""))
    with gr.Row():
        # the choices and New battle start disabled, as Explore's form and Run: the page's load event fills in a
        # link's choices (``updates_from_url``) and enables them, so a battle never starts from the defaults in
        # place of the link's, and a choice made before the load answered (a slow network) is never overwritten
        source = gr.Dropdown(ctx.source_choices(), value=ctx.source_names()[0], label="Data source",
                             elem_id="ar-source", interactive=False)  # public names: published in the config
        track = gr.Radio([ANY, "UEG", "GEU"], value=ANY, label="Track", elem_id="ar-track", interactive=False)
        kind = gr.Radio([("any", ANY), *[(label, k) for k, label in KIND_LABELS.items()]], value=ANY,
                        label="Battle", elem_id="ar-kind", interactive=False)
        new = gr.Button("New battle", variant="primary", elem_id="ar-new", interactive=False)
        stop = gr.Button("Stop", variant="stop", elem_id="ar-stop")
    # said as each page loads: runs pinned (or unpinned) while the app runs change what a battle can show
    tiny = shows_tiny(ctx)
    note = gr.Markdown(TINY_NOTE if tiny else "", visible=tiny, elem_id="ar-tiny-note")
    demo.load(lambda: gr.update(value=TINY_NOTE, visible=True) if shows_tiny(ctx) else gr.update(visible=False),
              None, note, api_visibility="private", queue=False, show_progress="hidden")
    instance_md = gr.Markdown(elem_id="ar-instance", latex_delimiters=[])  # instance text as written
    link = gr.Textbox(label="Link to this instance (opens it in Explore)", interactive=False, buttons=["copy"],
                      placeholder="Start a new battle to get the link of its instance",
                      elem_id="ar-link")
    input_image = gr.Image(label="Input image", alt_text="Input image", type="pil", interactive=False, visible=False,
                           height=280)
    views = {}
    with gr.Row(equal_height=False):
        for side in SIDES:
            with gr.Column():
                gr.Markdown(f"## {side}")  # under the page's h1, as Explore's columns
                views[side] = TraceView.create(f"ar-{side.lower()}")
    with gr.Row():
        buttons = {choice: gr.Button(label, interactive=False, elem_id=f"ar-vote-{choice}")
                   for choice, label in VOTES.items()}
    reveal = gr.Markdown(elem_id="ar-reveal", elem_classes=[LIVE_STATUS])  # announced: the vote is taken
    next_battle = gr.Button("Next battle", visible=False, elem_id="ar-next")
    state = gr.State(None)  # the battle id only; the battle itself lives in the store
    # the id of the battle a click started, for that click's own generate event. Not ``state``: an event
    # reads a gr.State on the server when it begins, so a generate event that began after a second click's
    # start read the second battle, and two close clicks played the newer battle twice (never the first,
    # which was stopped but never closed). The page sends a component's value as the event is triggered:
    # right after its own start has returned.
    started_id = gr.Textbox(visible=False, elem_id="ar-started")
    # what a new battle or a vote shows, drawn by a step of its own: one refused (a rate limit, a vote before
    # the outputs) raises, and Gradio marked every visible output of the refusing event with a red "Error"
    # badge that says no reason and stays over the battle still on screen; a State shows none
    drawn = gr.State(None)
    view_outputs = [*views["A"].outputs, *views["B"].outputs]
    locked = [gr.update(interactive=False)] * len(buttons)

    def lay_out(track_value, battle_id):
        """Before the first battle, each side's output box as the chosen track fills it (GEU: "Answer"; "any"
        keeps UEG's "Generated image", the page's first layout); a battle's outputs stay as they are."""
        if battle_id is not None:
            return [gr.skip()] * len(view_outputs)
        shown = track_value if track_value in TRACKS else "UEG"
        return [value for side in SIDES for value in (gr.skip(), *views[side].blank(shown, "direct")[1:])]

    track.change(lay_out, [track, state], view_outputs, api_visibility="private", queue=False)

    def start(source_value, track_value, kind_value, request: gr.Request, profile: gr.OAuthProfile | None):
        try:
            battle = start_battle(ctx, source_value, track_value, kind_value, request.session_hash,
                                  visitor(ctx, request, profile))
        except REFUSALS as e:
            raise Refusal(_message(e, ctx)) from None
        except StoreError as e:
            raise Refusal(unsaved(e, "The new battle")) from None
        # the page's earlier battle can no longer be voted on (the page now holds this one): it stops and
        # shows nothing more, and one never generated (New battle pressed twice at once) is not left busy
        ctx.runs.stop(request.session_hash, SUPERSEDED, keys=(BATTLE_RUN,))
        # registered now, so a Stop while the battle still waits for the accelerator finds it
        ctx.runs.begin(request.session_hash, 1, keys=(BATTLE_RUN,), request_id=battle.battle_id)
        inst = battle.instance
        shown = preview(inst.open_image()) if isinstance(inst, GEUInstance) else None
        blanks = [v for side in SIDES for v in views[side].blank(inst.track, battle.shown_mode, "waiting…")]
        return [battle.battle_id, battle.battle_id, [instance_markdown(inst, with_questions=False),
                gr.update(value=shown, visible=shown is not None), *blanks, *locked, "", gr.update(visible=False)]]

    def generate(battle_id: str, request: gr.Request):
        if not battle_id:
            return
        session = request.session_hash
        control = ctx.runs.open(session, battle_id, ctx.settings.time_limit_s, BATTLE_RUN)
        if control is None:  # not this page's battle, or its outputs asked for again: each is produced once
            raise Refusal(ALREADY_GENERATED)
        try:
            if control.stopped:  # stopped while it waited for the accelerator: it never ran, so it is taken back
                ctx.withdraw_battle(battle_id, session)
                if control.reason != SUPERSEDED:
                    yield [*_side_status(f"stopped ({_USER_STOP})"), *locked, STOPPED_NOTE]
                return
            try:
                battle = load_battle(ctx, battle_id, session)
            except REFUSALS as e:
                raise Refusal(_message(e)) from None
            try:
                yield from paced(frames(battle, session, control))
            except StoreError as e:  # a side's delivery: this battle cannot take a vote
                raise Refusal(unsaved(e, "This battle", "please start a new battle")) from None
        finally:
            ctx.runs.close(session, battle_id, control, BATTLE_RUN)

    def _side_status(text: str) -> list:
        """Every output of both columns skipped but the statuses, which say ``text``."""
        return [value for side in SIDES  # a view's status is its first output
                for value in (f"**{side}**: {text}", *[gr.skip()] * (len(views[side].outputs) - 1))]

    def frames(battle: Battle, session_id: str, control: RunControl):
        track = battle.instance.track
        latest = {side: views[side].blank(track, battle.shown_mode, f"**{side}**: working…") for side in SIDES}
        ended = set()
        names = battle_names(ctx, battle)
        yield [*latest["A"], *latest["B"], *locked, gr.skip()]  # at once: a side's first step may take long
        for side, update in relay(play(ctx, battle, session_id, control), control):
            if control.stopped and control.reason == SUPERSEDED:
                return  # the page shows a newer battle
            if not update.done:  # nothing of a step is shown before the vote, and a frame per step would say
                continue  # which side took more steps (the stepwise one): both say "working…" until both end
            shown = anonymous_side(ctx, update, names)
            stopped = control.stopped and update.trace.error == control.reason
            status = f"**{side}**: stopped ({_USER_STOP})" if stopped and control.reason == STOPPED_BY_USER \
                else _progress(side, update, shown)
            latest[side] = views[side].show_anonymous(shown, track, status)
            ended.add(side)  # shown with the other side's end, in the one frame below
        if control.stopped and control.reason == SUPERSEDED:
            return
        if control.stopped and control.reason == STOPPED_BY_USER and not battle.ready:
            for side in set(SIDES) - ended:  # still loading when relaying gave up: say so, keep the rest
                latest[side] = [f"**{side}**: stopped ({_USER_STOP})", *latest[side][1:]]
            note = STOPPED_NOTE
        else:
            note = "" if battle.ready else "A side failed, so this battle cannot be voted on. Start a new battle."
        yield [*latest["A"], *latest["B"], *[gr.update(interactive=battle.ready)] * len(buttons), note]

    def voter(choice: str):
        def cast(battle_id: str | None, request: gr.Request, profile: gr.OAuthProfile | None):
            if battle_id is None:
                raise Refusal("Start a battle first.")
            try:
                revealed = vote_and_reveal(ctx, battle_id, request.session_hash, visitor(ctx, request, profile),
                                           choice)
            except REFUSALS as e:
                raise Refusal(_message(e)) from None
            except StoreError as e:
                raise Refusal(unsaved(e, "Your vote")) from None
            return [reveal_markdown(revealed, side_links(ctx, revealed)), *locked, gr.update(visible=True),
                    *revealed_views(revealed)]  # through ``drawn``

        return cast

    def revealed_views(revealed: dict) -> list:
        """After the vote each column shows its whole run: every step, with timings, under its system."""
        track, _ = split_uid(revealed["instance_uid"])
        images = stored_images(ctx.store)
        values = []
        for side in SIDES:
            info = revealed["sides"][side]
            if info["run_id"] is None:
                values += [gr.skip()] * len(views[side].outputs)
                continue
            trace = ctx.store.load_trace(info["run_id"])
            status = status_line(trace, len(trace.steps), title=f"{side}: {info['system']}")
            values += views[side].show(trace, track, images, status)
        return values

    def judged(battle_id: str | None, request: gr.Request):
        try:
            revealed = judge_battle(ctx, battle_id, request.session_hash)
            return reveal_markdown(revealed, side_links(ctx, revealed))
        except REFUSALS:  # no battle, or a new one started meanwhile: nothing to update
            return gr.skip()

    votes = [button.click(voter(choice), state, drawn, api_visibility="private", concurrency_limit=None)
             .success(show_drawn, drawn, [reveal, *buttons.values(), next_battle, *view_outputs],
                      api_visibility="private", queue=False)
             for choice, button in buttons.items()]
    judging = [vote.success(on_device_slot(ctx, judged, _needs_device(ctx, judging_needs_device)), state, reveal,
                            api_visibility="private", concurrency_limit=None)
               for vote in votes] if ctx.judge != HUMAN else []
    # a new battle drops the last one's judging still queued, which would overwrite the new reveal
    started = gr.on([new.click, next_battle.click], start, [source, track, kind], [state, started_id, drawn],
                    api_visibility="private", concurrency_limit=None, cancels=judging).success(
        show_drawn, drawn, [instance_md, input_image, *view_outputs, *buttons.values(), reveal,
                            next_battle], api_visibility="private", queue=False)

    def instance_link(battle_id: str | None, request: gr.Request):
        try:
            battle = load_battle(ctx, battle_id, request.session_hash)
        except REFUSALS:
            return ""
        source = _source_of(ctx, battle.dataset)
        return explore_query(source or None, battle.instance.uid) if source is not None else ""

    started.success(instance_link, state, link, api_visibility="private", queue=False).then(
        None, link, link, js=ABSOLUTE_LINK_JS, api_visibility="private", queue=False)
    # admitted at once: a battle whose sides to run are all local cards waits in ctx.device_slot; one with
    # a remote side (or of stored runs) does not, its local side taking the device lock on a thread of its
    # own (battles.play), so a hung endpoint holds no one's local run
    started.success(on_device_slot(ctx, generate, _needs_device(ctx, play_needs_device),
                                   abandon=lambda battle_id, *_: ctx.runs.stopped(battle_id),
                                   refused=lambda battle_id, request, *_: _never_ran(ctx, battle_id, request)),
                    started_id, [*view_outputs, *buttons.values(), reveal], api_visibility="private",
                    concurrency_limit=None, trigger_mode="multiple")  # New battle while one runs: "once"
    # dropped the new battle's event (it was never generated, and the page stayed busy)

    def stop_battle(request: gr.Request):
        # the battle's own stream says "stopped" (a reply of this event could arrive before the battle's
        # last frame and be overwritten by it): a running side at its next step, one still loading after
        # STOP_GRACE_S, a battle still waiting for the accelerator at once. A side already shown keeps
        # its "done", a side that failed its failure. An Explore run of the same browser session goes on.
        ctx.runs.stop(request.session_hash, keys=(BATTLE_RUN,))

    stop.click(stop_battle, None, None, api_visibility="private", concurrency_limit=None, queue=False)
    _register_api(ctx)
    # the page's URL names the choices a new battle is drawn from (never a battle or its systems): a reload or a
    # copied address opens the Arena with them
    shown_query = gr.Textbox(visible="hidden", interactive=False, elem_id="ar-shown-query")
    first = ctx.source_names()[0]

    def arena_query(source_value, track_value, kind_value) -> str:
        return page_links.arena_query(None if source_value == first else source_value, track_value, kind_value)

    gr.on([source.change, track.change, kind.change], arena_query, [source, track, kind], shown_query,
          api_visibility="private", queue=False).then(None, shown_query, None, js=SHOW_QUERY_JS,
                                                      api_visibility="private", queue=False)
    return ArenaLink([source, track, kind, new], shown_query, arena_query)


@dataclass
class ArenaLink:
    """What a link to the Arena fills in (``url_outputs``: its data source, track and battle kind, then New
    battle, each disabled until the page's load event answered) and the query naming them (``query``, of
    ``url_outputs``' first three values) that ``shown_query`` hands to the address bar."""

    url_outputs: list
    shown_query: gr.Textbox
    query: Callable[[str, str, str], str]


def updates_from_url(ctx: AppContext, params: dict[str, str]) -> list:
    """Updates of ``ArenaLink.url_outputs`` for a link's choices (``page_links.read_arena``), each enabling its
    field; a value the Arena does not offer is said (``gr.Warning``) and left out."""
    link = page_links.read_arena(params, ctx.source_names())
    for problem in link.problems:
        gr.Warning(plain(problem, markdown=False))
    return [*filled_in((link.source, link.track, link.kind)), gr.update(interactive=True)]


BATTLE_RUN = "battle"  # the run-registry key of a battle (ctx.runs): the Arena's Stop stops only these
ALREADY_GENERATED = ("this battle's outputs were already asked for (or it is not this page's battle): each"
                     " battle is produced once; start a new battle")
STOPPED_NOTE = "Stopped: this battle cannot be voted on. Start a new battle."
_USER_STOP = "you pressed Stop"
SUPERSEDED = "stopped: a new battle was started on this page"


def _never_ran(ctx: AppContext, battle_id: str | None, request: gr.Request | None) -> None:
    """A battle's event refused before it ran (a full queue, or cancelled while it waited): its run-registry
    entry is closed and the battle, if it is this session's, taken back (``AppContext.withdraw_battle``: no
    limit count, no vote)."""
    ctx.runs.close(None, battle_id, None, BATTLE_RUN)
    session = getattr(request, "session_hash", None)
    if battle_id and session:
        ctx.withdraw_battle(battle_id, session)


def _needs_device(ctx: AppContext, decides):
    """``decides(ctx, battle)`` (``battles.play_needs_device`` or ``judging_needs_device``) for a handler's
    (battle id, request); a battle this session cannot load runs nothing (its handler refuses it)."""
    def needs(battle_id: str | None, request: gr.Request) -> bool:
        try:
            return battle_id is not None and decides(ctx, load_battle(ctx, battle_id, request.session_hash))
        except REFUSALS:
            return False
    return needs


def _progress(side: str, update: RunUpdate, shown: dict) -> str:
    """A side's end as said before the vote: no step names or timings, which would hint at the mode or the
    model; a failure only as ``anonymous_side`` words it. Steps before the end are not shown (``frames``)."""
    if update.trace.status is not Status.OK:
        return f"**{side}**: failed: {failure_text(shown['error'])}"
    return f"**{side}**: done"


def _register_api(ctx: AppContext) -> None:
    async def new_battle(source: str = "", track: str = ANY, kind: str = ANY, request: gr.Request = None,
                         profile: gr.OAuthProfile | None = None) -> dict:
        """Start a battle and produce both outputs; returns the battle id and the anonymous outputs."""
        try:
            battle = await anyio.to_thread.run_sync(lambda: start_battle(
                ctx, source or ctx.source_names()[0], track, kind, request.session_hash,
                visitor(ctx, request, profile)))
        except REFUSALS as e:
            raise Refusal(_message(e, ctx)) from None
        except StoreError as e:
            raise Refusal(unsaved(e, "The new battle")) from None
        try:
            # refused there (a full queue, or the call cancelled while waiting), the battle never ran: it is
            # taken back, so it neither counts against the battle limit nor takes a vote
            return await in_device_slot(ctx, play_needs_device(ctx, battle), play_to_end, ctx, battle,
                                        request.session_hash, RunControl(ctx.settings.time_limit_s),
                                        refused=lambda: ctx.withdraw_battle(battle.battle_id, request.session_hash),
                                        request=request)
        except StoreError as e:  # a side's delivery: this battle cannot take a vote
            raise Refusal(unsaved(e, "This battle", "please start a new battle")) from None

    def vote(battle_id: str, choice: str, request: gr.Request = None,
             profile: gr.OAuthProfile | None = None) -> dict:
        """Vote A, B, tie or both_bad on a battle this session received; returns the revealed systems
        with each side's judgment (GEU at once; a UEG judgment the judge model has yet to make says so)."""
        try:
            return vote_and_reveal(ctx, battle_id, request.session_hash, visitor(ctx, request, profile), choice)
        except VoteRefused as e:
            raise Refusal(plain(e.message, markdown=False)) from None
        except StoreError as e:
            raise Refusal(unsaved(e, "Your vote")) from None

    gr.api(new_battle, api_name="new_battle", concurrency_limit=None)  # a local side waits in ctx.device_slot
    gr.api(vote, api_name="vote", concurrency_limit=None)
