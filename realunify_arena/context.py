"""What the app's services share: settings, store, model pool, arena, the data sources and the offered models.

Built once by ``ui.build_demo`` (tests pass tiny models and a temp store) and handed to every tab and to the
services they call (``runs``, ``battles``); nothing here imports Gradio.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from realunify_arena.adapters.base import Capability, GenerationOptions, ModelSource
from realunify_arena.arena import Arena
from realunify_arena.availability import availability_of
from realunify_arena.benchmark import Dataset, load
from realunify_arena.benchmark.custom import CUSTOM_DATASET
from realunify_arena.benchmark.schema import AnyInstance
from realunify_arena.cards import ModelCard
from realunify_arena.dataset_names import conflicts, dataset_claims, other_source_conflicts
from realunify_arena.identity import NameFilter
from realunify_arena.judge import DEFAULT_JUDGE, HUMAN, PAPER_JUDGE
from realunify_arena.limits import check_options
from realunify_arena.protocols import required_capabilities
from realunify_arena.redaction import visitor_text
from realunify_arena.runs import needs_device
from realunify_arena.settings import AUTO_JUDGE, Settings
from realunify_arena.shown import brief, canonical, visible
from realunify_arena.stopping import RunRegistry
from realunify_arena.store import Store, StoreError
from realunify_arena.systems import MODES, System

log = logging.getLogger(__name__)
OWN_HELD = 64  # your own instances held for the sessions that ran them
# ... and at most this many bytes of their images (PNG) in all, the newest always kept: a 64 MP photo is
# ~70 MB as PNG (measured, decode24), so 64 large uploads held ~4.5 GB for as long as the app ran
OWN_HELD_BYTES = 512 * 2**20
# ... of which one visitor (``hold``'s ``who``) holds at most an eighth, its own oldest going first: with the bounds
# for all alone, one visitor's 64 quick own prompts, or 8 large uploads, pushed every other visitor's own instance
# out, and their Run, still waiting for the accelerator, then said "no longer held; press Run again" (hunt28a)
OWN_SHARES = 8


class QueueFull(RuntimeError):
    """More local model runs are waiting than ``settings.queue_size`` allows, or than one visitor may have
    waiting (``VISITOR_WAITING``)."""


# local model runs one visitor (one address, ``AppContext.device_slot``'s ``who``) may have waiting for the
# accelerator at once: two Explore Runs' columns (two tabs), or one Run and a battle. Without it one script's
# /run_instance calls (30 a minute under the run limit) took every place of the queue and every other visitor's
# run was refused "... already waiting for the accelerator" for as long as the script kept them full (hunt28a)
VISITOR_WAITING = 4


@dataclass
class AppContext:
    settings: Settings
    store: Store
    pool: ModelSource  # runtime.ModelPool: ``use(name)`` lends a loaded adapter
    arena: Arena
    rng: random.Random = field(default_factory=random.Random)
    runs: RunRegistry = field(default_factory=RunRegistry)  # runs in flight per browser session (Stop)
    _datasets: dict[str, Dataset] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _own: OrderedDict = field(default_factory=OrderedDict)  # uid -> your own instance, newest last
    _own_by: dict[str, str | None] = field(default_factory=dict)  # uid -> who holds it (``hold``)
    _device_slots: asyncio.Semaphore | None = None  # made on the event loop's first use
    _waiting: int = 0
    _waiting_by: dict[str, int] = field(default_factory=dict)  # who -> runs waiting (``device_slot``), none at 0

    def __post_init__(self) -> None:
        if self.runs.release is None:  # a run counted against the run limit that never started is given back
            self.runs.release = self._release_runs

    def _release_runs(self, counts: list[int]) -> None:
        """``Arena.release_runs``, from a run's close (a ``finally``, or a full queue's refusal): a give-back
        the store could not confirm is logged, never raised there (the count then stays, as before)."""
        try:
            self.arena.release_runs(counts)
        except StoreError as e:
            log.warning("a run that never started still counts against its visitor's run limit: %s", e)

    def withdraw_battle(self, battle_id: str, session_id: str) -> None:
        """``Arena.withdraw_battle``, from a battle's refusal (a full queue) or a stop before it ran: a take-back
        the store could not confirm is logged, never raised there (the battle then stays, unvotable as before)."""
        try:
            self.arena.withdraw_battle(battle_id, session_id)
        except StoreError as e:
            log.warning("a battle that never ran still counts against its visitor's battle limit: %s", e)

    @property
    def waiting_runs(self) -> int:
        """How many local model runs wait now for an accelerator slot (``device_slot``): 0 up to
        ``settings.queue_size``; a run holding a slot, a remote model's run and a refused one are not counted.
        Read from any thread (a plain int, changed only on the app's event loop)."""
        return self._waiting

    # -- data -------------------------------------------------------------------------------------

    @property
    def sources(self) -> list[str]:
        """The configured sources (``settings.data``) as configured: server paths, never shown to a visitor."""
        return list(self.settings.data)

    @cached_property
    def _public(self) -> dict[str, str]:
        """Public name -> configured source, in ``settings.data`` order: "bundled" (always that name), or the
        folder or file name (in NFC: ``shown.canonical``); a name taken by an earlier source (or "bundled") gets
        the first free `` (2)``, `` (3)``, … after it."""
        taken = {"bundled"} if "bundled" in self.sources else set()
        named: dict[str, str] = {}
        for source in self.sources:
            if source == "bundled":
                named[source] = source
                continue
            # "." or "/": no name of its own; in NFC as the dataset is named (``loaders.named_after``)
            label = canonical(Path(source).name or Path(source).resolve().name or "data")
            name, n = label, 1
            while name in taken:
                n += 1
                name = f"{label} ({n})"
            taken.add(name)
            named[name] = source
        return named

    def source_names(self) -> list[str]:
        """The public names of the configured sources, in their order: what the page, links and API use."""
        return list(self._public)

    def source_choices(self) -> list[tuple[str, str]]:
        """The data source menu: (label, public name); a full path would leak the server's layout (the page's
        config publishes every choice's value). The label is the name as it is (``shown.visible``): a folder
        named with a right-to-left override (U+202E) showed reversed in the menu."""
        return [(visible(name), name) for name in self._public]

    def configured_source(self, source: object) -> str:
        """The configured source a visitor's or script's ``source`` names: a public name (``source_names``),
        or, for a script that passes what it configured, the configured string itself. The one place a
        public name is turned back into a server path.

        Raises:
            KeyError: ``source`` names no configured source (the message lists the public names only).
        """
        if isinstance(source, str):
            if canonical(source) in self._public:  # a link's name in either normalization form (``shown.canonical``)
                return self._public[canonical(source)]
            if source in self.settings.data:
                return source
        raise KeyError(f"data source {brief(source)} is not configured; choose one of: {self._offered_sources()}")

    def source_label(self, source: str) -> str:
        """The public name of ``source`` (a public name or a configured source); an unknown one's last part."""
        try:
            configured = self.configured_source(source)
        except KeyError:
            return Path(str(source)).name or str(source)
        return next(name for name, s in self._public.items() if s == configured)

    def public_text(self, text: str) -> str:
        """``text`` as a visitor may read it: each configured source's path (as configured or as a ``Path``
        writes it) replaced by its public name, then ``redaction.visitor_text`` (secrets, endpoints, paths)."""
        for name, source in sorted(self._public.items(), key=lambda item: -len(item[1])):
            # as written without a trailing "/" ("/srv/data/x.png" is "data/x.png", not "datax.png"); a bare name
            # ("data", "data/", "./", "/") says nothing of the server's folders and is kept (its "." or "/" is
            # also every sentence's and every ratio's)
            written = [w for w in dict.fromkeys((source.rstrip("/\\"), str(Path(source))))
                       if w.strip("/\\") and ("/" in w or "\\" in w)]
            if written:  # only a whole name: "/srv/a" is no part of "/srv/ab/x.png", nor "data/x" of "metadata/x"
                pattern = "|".join(re.escape(w) for w in sorted(written, key=len, reverse=True))
                text = re.sub(rf"(?<![^\\/\s'\"<>,;:|*?`(\[=])(?:{pattern})(?=$|[\\/\s'\"<>,;:|*?`)\]]|\.(?!\w))",
                              lambda _: name, text)
        return visitor_text(text) or ""

    def _offered_sources(self) -> str:
        """The data source menu's public names, for a message: never the server's paths."""
        return ", ".join(self._public)

    def dataset(self, source: str) -> Dataset:
        """A configured source (its public name, or as configured: ``configured_source``), loaded on first use
        (a bad one still returns: its problems say why).

        Runs are stored under the dataset's name, so one name answers one set of instances
        (``dataset_names``): an instance that is not the one the store keeps under that name from another
        place, or that an earlier configured source of the same name states otherwise, is left out and
        named among the dataset's problems (Explore shows them; nothing runs or battles under it); every
        instance is, where the name itself is none to store runs under (``dataset_names.name_problem``)."""
        source = self.configured_source(source)
        with self._lock:
            if source not in self._datasets:
                self._datasets[source] = self._checked(load(source), source)
            return self._datasets[source]

    def _checked(self, dataset: Dataset, source: str) -> Dataset:
        problems = conflicts(self.store, dataset.name, dataset.root, dataset_claims(dataset))
        for earlier in self.sources[:self.sources.index(source)]:
            other = self._datasets.get(earlier)
            if other is None:  # loaded (and checked) once, as ``dataset`` would: called under ``_lock``
                other = self._datasets[earlier] = self._checked(load(earlier), earlier)
            if other.name == dataset.name and other.root != dataset.root:
                problems += other_source_conflicts(other, dataset)
        if not problems:
            return dataset
        refused = {p.entry for p in problems}  # None: the whole source (its name is none to store runs under)
        kept = [] if None in refused else [i for i in dataset.instances if f"instance {i.uid}" not in refused]
        return Dataset(dataset.name, kept, dataset.problems + problems, dataset.root)

    def dataset_for_runs(self, source: str) -> Dataset:
        """``dataset``, for a run to be stored under its name: the store notes where its instances are with
        that run (``Store.note_source_with_runs``, in the run's own transaction), as ``eval`` notes it
        (``dataset_names.remember_source``) before its runs."""
        dataset = self.dataset(source)
        if dataset.root is not None:  # noted with the next run stored (no write, no sync of its own)
            self.store.note_source_with_runs(dataset.name, str(dataset.root.resolve()))
        return dataset

    def hold(self, dataset: str, instance: AnyInstance, who: str | None = None) -> tuple[str, str]:
        """A small reference to ``instance`` for a session's ``gr.State``: (dataset name, uid), never the
        instance (your own GEU image would be kept per session, in every session). Your own instances are
        in no source, so the last ``OWN_HELD`` of them stay here, within ``OWN_HELD_BYTES`` of images (newest
        kept; ``instance`` says when one has gone). ``who`` (the visitor's ``store.rate_key``; None: no one's
        in particular) holds at most 1/``OWN_SHARES`` of either bound: past it, its own oldest go first, so one
        visitor cannot push out the others' (its newest is kept whatever its size)."""
        if dataset == CUSTOM_DATASET:
            with self._lock:
                self._own[instance.uid] = instance
                self._own.move_to_end(instance.uid)
                self._own_by[instance.uid] = who
                if who is not None:
                    self._drop_oldest([uid for uid in self._own if self._own_by.get(uid) == who],
                                      OWN_HELD // OWN_SHARES, OWN_HELD_BYTES // OWN_SHARES)
                self._drop_oldest(list(self._own), OWN_HELD, OWN_HELD_BYTES)
        return dataset, instance.uid

    def _drop_oldest(self, uids: list[str], most: int, most_bytes: int) -> None:
        """Drop the oldest of ``uids`` (held own instances, oldest first) until at most ``most`` of them and
        ``most_bytes`` of their images are left, or one (the newest). Called with ``_lock`` held."""
        held = sum(_image_bytes(self._own[uid]) for uid in uids)
        while len(uids) > 1 and (len(uids) > most or held > most_bytes):
            uid = uids.pop(0)
            held -= _image_bytes(self._own.pop(uid))
            self._own_by.pop(uid, None)

    def instance(self, reference: tuple[str, str]) -> AnyInstance:
        """The instance ``hold`` returned ``reference`` for; raises ``KeyError`` with a message when it is
        no longer there."""
        dataset, uid = reference
        if dataset == CUSTOM_DATASET:
            with self._lock:
                if uid not in self._own:
                    raise KeyError("Your own instance is no longer held on the server; press Run again.")
                return self._own[uid]
        return self.dataset_named(dataset).get(uid)

    def dataset_named(self, name: str) -> Dataset:
        """The configured source whose dataset is called ``name`` (what runs and battles record);
        raises ``KeyError`` when no configured source loads a dataset of that name."""
        for source in self.sources:
            dataset = self.dataset(source)
            if dataset.name == name:
                return dataset
        raise KeyError(f"dataset {brief(name)} is not among the configured data sources: {self._offered_sources()}")

    # -- models -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def model_slot(self, model: str, abandon: Callable[[], bool] | None = None,
                         who: str | None = None, admitted: Callable[[], None] | None = None) -> AsyncIterator[bool]:
        """Held around one model run of a handler that Gradio admits at once (``concurrency_limit=None``;
        ``ui.streaming.on_model_slot`` wraps it): a run of a local card waits here, on the event loop and
        without a thread, until fewer than ``settings.gpu_concurrency`` local runs are going; a run of a
        remote card passes at once, so a slow or hung endpoint never holds the accelerator's queue.

        Args:
            abandon: asked first and then every ``SLOT_POLL_S`` seconds while waiting (the run's Stop was
                pressed, or its Run was refused): once it says True the wait ends without a slot; a run abandoned
                before it waits neither waits nor is refused by a full queue. None: wait until a slot is free.
            who: the visitor the run is for (``store.rate_key`` of its voter id: one address, or one account),
                who may have at most ``VISITOR_WAITING`` runs waiting; None: counted in the queue only.
            admitted: called once the run has its place (the queue let it in, or it needs no slot), before it
                waits: a run takes what it reads from a bounded store there (your own instance, ``instance``),
                so its run does not depend on that store after a wait. Not called for a run refused or
                abandoned before it waits; an error it raises ends the call there, the run without a place.

        Yields:
            True when the block holds a slot (or needs none); False when the wait was abandoned.

        Raises:
            QueueFull: ``settings.queue_size`` local runs are already waiting, or ``VISITOR_WAITING`` of ``who``'s.
        """
        async with self.device_slot(needs_device(self.pool, model), abandon, who, admitted) as held:
            yield held

    def check_queue(self, model: str, who: str | None = None) -> None:
        """Raise ``QueueFull`` (the message ``model_slot`` would raise) when a run of ``model`` for ``who``
        would be refused a place in the accelerator's queue now; pass when it would get a place or needs none
        (a remote card). For a handler that should keep from changing anything for a run refused (Explore's
        Run of your own instance, which ``hold`` would otherwise make push out older ones): runs of other
        handlers may take the places in between, so the slot itself still checks."""
        if needs_device(self.pool, model):
            self._refuse_a_place(who)

    def _refuse_a_place(self, who: str | None) -> None:
        if self._device_slots is None or not self._device_slots.locked():
            return  # a slot is free: the run waits for no one
        if self._waiting >= self.settings.queue_size:
            raise QueueFull(f"{self._waiting} model runs are already waiting for the accelerator; try again later")
        if who is not None and self._waiting_by.get(who, 0) >= VISITOR_WAITING:
            raise QueueFull(f"you already have {VISITOR_WAITING} model runs waiting for the accelerator (the most "
                            "one visitor may have waiting); wait for one to start, then try again")

    @asynccontextmanager
    async def device_slot(self, needed: bool, abandon: Callable[[], bool] | None = None,
                          who: str | None = None, admitted: Callable[[], None] | None = None) -> AsyncIterator[bool]:
        """``model_slot`` for work whose models are known only inside the handler (an arena battle loaded
        by its id; ``battles.play_needs_device`` decides): with ``needed`` False it passes at once, else it
        waits for one of the ``settings.gpu_concurrency`` slots, in arrival order. ``abandon``, ``who``,
        ``admitted``, the value yielded and ``QueueFull`` as ``model_slot``."""
        if not needed:
            if admitted is not None:
                admitted()
            yield True
            return
        if abandon is not None and abandon():  # it will not run its model: no place in the queue to take
            yield False
            return
        if self._device_slots is None:
            self._device_slots = asyncio.Semaphore(self.settings.gpu_concurrency)
        self._refuse_a_place(who)
        if admitted is not None:  # before the counts: an error here leaves no place taken
            admitted()
        self._waiting += 1
        if who is not None:
            self._waiting_by[who] = self._waiting_by.get(who, 0) + 1
        try:
            held = await _acquire(self._device_slots, abandon)
        finally:
            self._waiting -= 1
            if who is not None:
                left = self._waiting_by.pop(who) - 1
                if left:
                    self._waiting_by[who] = left
        try:
            yield held
        finally:
            if held:
                self._device_slots.release()

    @cached_property
    def cards(self) -> dict[str, ModelCard]:
        """The offered cards: ``settings.models`` in that order, or every card the pool knows."""
        known = self.pool.cards
        missing = [m for m in self.settings.models if m not in known]
        if missing:
            raise KeyError(f"{self.settings.where('models')} names unknown card(s) {missing}; known: {sorted(known)}")
        return {m: known[m] for m in (self.settings.models or sorted(known))}

    @cached_property
    def names(self) -> NameFilter:
        """The names that would give a system away: of every card the pool knows, and common aliases."""
        return NameFilter.from_cards(self.pool.cards.values())

    @cached_property
    def availability(self) -> dict[str, tuple[bool, str]]:
        """(runnable, reason) of every offered card and every judge card, checked once on this pool's device
        (``availability.availability``)."""
        judges = {n: c for n, c in self.pool.cards.items() if Capability.UNDERSTAND in c.capabilities}
        return availability_of({**judges, **self.cards}.values(), device=getattr(self.pool, "chosen_device", None),
                               allow_large=self.settings.allow_large_models,
                               allowed_by=self.settings.where("allow_large_models"))

    def runnable(self, name: str) -> bool:
        return self.availability.get(name, (False, ""))[0]

    def why_not(self, name: str) -> str | None:
        """Why card ``name`` (a model or judge) cannot run here, or None when it can or is not a checked
        card (``human``, a name the run refuses elsewhere). ``runs.stream_run`` / ``judge_run`` take it as
        ``why_not``: a run or judgment that is not stored is refused with this reason, before any loading."""
        runnable, reason = self.availability.get(name, (True, ""))
        return None if runnable else f"{name} cannot run here: {reason}"

    def model_choices(self) -> list[tuple[str, str]]:
        """Runnable cards first, real models before tiny random-weight ones (the first one is the default);
        the others say why they cannot run."""
        ranked = sorted(self.cards, key=lambda n: (not self.runnable(n), self.cards[n].family == "tiny"))
        return [(_label(name, *self.availability[name]), name) for name in ranked]

    @cached_property
    def judge(self) -> str:
        """The judge the app uses: ``settings.judge``, or for "auto" the paper's judge (``PAPER_JUDGE``) when it
        can run (its key is set), else the default local VLM judge when its weights are cached, else any
        runnable local VLM card with cached weights (never a tiny random-weight one), else ``human``."""
        if self.settings.judge != AUTO_JUDGE:
            return self.settings.judge
        if self.runnable(PAPER_JUDGE):
            return PAPER_JUDGE
        local = [n for n, c in self.pool.cards.items() if Capability.UNDERSTAND in c.capabilities
                 and not c.remote and c.family != "tiny" and self.runnable(n)
                 and "downloaded from the hub" not in self.availability[n][1]]
        return DEFAULT_JUDGE if DEFAULT_JUDGE in local else (local[0] if local else HUMAN)

    def judge_choices(self) -> list[tuple[str, str]]:
        """``human``, the app's judge, then every card that understands images, ranked as the model menu is:
        runnable ones first, real models before tiny random-weight ones; those that cannot run here say why."""
        judges = sorted((n for n, c in self.pool.cards.items() if Capability.UNDERSTAND in c.capabilities),
                        key=lambda n: (not self.runnable(n), self.pool.cards[n].family == "tiny"))
        names = list(dict.fromkeys([HUMAN, self.judge, *judges]))
        return [(name if name == HUMAN or name not in self.availability else _label(name, *self.availability[name]),
                 name) for name in names]

    def check_judge(self, judge: object) -> None:
        """Raises ``ValueError`` naming the offered judges for one ``judge_choices`` does not offer (an
        unknown name, a card that cannot read images, a list from an API client), before anything runs."""
        offered = [name for _, name in self.judge_choices()]
        if judge not in offered:
            raise ValueError(f"judge {brief(judge)}: expected {HUMAN} or one of {', '.join(offered[1:])}")

    def options(self, model: str, **overrides) -> GenerationOptions:
        """The card's defaults with the user's overrides (those left empty keep the default); raises
        ``KeyError`` naming the offered cards for a model not offered here and ``ValueError`` naming the
        limit a setting breaks (``limits.check_options``)."""
        if model not in self.cards:
            raise KeyError(f"model {brief(model)}: expected one of {', '.join(self.cards)}")
        card = self.cards[model]
        return check_options(card, card.options(**{k: v for k, v in overrides.items() if v is not None}))

    def systems_for(self, instance: AnyInstance) -> list[System]:
        """Every runnable (model, mode) able to run this instance's protocol: the live arena's candidates."""
        return [System(name, mode) for name, card in self.cards.items() if self.runnable(name)
                for mode in MODES if set(required_capabilities(instance, mode)) <= card.capabilities]



def _label(name: str, runnable: bool, reason: str) -> str:
    """A menu entry of the page: the name, and why it cannot run as a visitor may see it (no endpoint address
    or server folder: ``redaction.visitor_text``)."""
    return name if runnable else f"{name} (unavailable: {visitor_text(reason)})"


SLOT_POLL_S = 0.1  # how often a run waiting for the accelerator asks whether it was stopped


async def _acquire(slots: asyncio.Semaphore, abandon: Callable[[], bool] | None) -> bool:
    """Acquire ``slots``, keeping the waiter's place in line (one acquire, polled); False, with nothing
    acquired, once ``abandon()`` says so. A caller cancelled while waiting acquires nothing either."""
    if abandon is None:
        await slots.acquire()
        return True
    waiter = asyncio.ensure_future(slots.acquire())
    try:
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=SLOT_POLL_S)
            if not waiter.done() and abandon():
                waiter.cancel()  # a slot granted meanwhile is handed on by the semaphore itself
                await asyncio.wait({waiter})
    except BaseException:  # the caller was cancelled while waiting
        if waiter.done() and not waiter.cancelled():
            slots.release()
        else:
            waiter.cancel()
        raise
    return not waiter.cancelled()


def _image_bytes(instance: AnyInstance) -> int:
    """Bytes of the image ``instance`` holds in memory (0 for a UEG instance or an image on disk)."""
    return len(getattr(instance, "image_bytes", None) or b"")
