"""Where models live: loaded on first use, kept while they fit, least recently used moved out first.

One lock per device serialises work on that device, so two requests never interleave on one model.
Remote cards take no lock at all: their endpoints do their own scheduling, and a slow or hung endpoint
must not hold anyone else's request (``runs.needs_device`` says which cards take the device). On ZeroGPU, GPU work runs
inside ``spaces.GPU`` and models should be preloaded at start-up; elsewhere that wrapper is a no-op.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TypeVar

from realunify_arena.adapters import Adapter, ModelUnavailable, build_adapter
from realunify_arena.cards import ModelCard, transformers_problem

log = logging.getLogger(__name__)
R = TypeVar("R")


def on_zero_gpu() -> bool:
    """True inside a Hugging Face ZeroGPU Space (the variable ``spaces`` itself checks)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in {"1", "true"}


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def estimate_bytes(card: ModelCard) -> int:
    """A first-load guess of a card's footprint, before its real size is measured:
    ``availability.estimate_bytes`` (``params.memory_gb``, local or cached weight files, a size in the
    checkpoint's name), 0 if unknown."""
    from realunify_arena.availability import estimate_bytes as weight_bytes

    return weight_bytes(card) or 0


class ModelPool:
    """Lazily loaded adapters with LRU eviction against a memory budget.

    ``budget_bytes`` caps the summed ``memory_bytes()`` of resident local models. Without it, a CUDA
    pool evicts until the device reports enough free memory, and a CPU pool never evicts. An evicted
    adapter is closed (its weights freed, not parked in host memory) and reloaded on its next use.
    """

    def __init__(self, cards: dict[str, ModelCard], device: str | None = None, budget_bytes: int | None = None,
                 loader: Callable[[ModelCard, str], Adapter] = build_adapter) -> None:
        self.cards = cards
        self.device = device or default_device()
        self.budget_bytes = budget_bytes
        self._loader = loader
        self._resident: OrderedDict[str, Adapter] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # measured footprint, to make room before a reload
        self._in_use: Counter[str] = Counter()
        self._state = threading.Lock()  # guards the three above and _locks
        self._locks: dict[str, threading.RLock] = {}
        problem = transformers_problem()
        if problem:
            log.warning("local model families will not load: %s", problem)

    def resident(self) -> list[str]:
        """Loaded card names, least recently used first."""
        with self._state:
            return list(self._resident)

    def lock_for(self, name: str) -> AbstractContextManager:
        """The device's re-entrant lock for a local card; for a remote card, no lock (a null context)."""
        if not self._card(name).remote:
            with self._state:
                return self._locks.setdefault(f"device:{self.device}", threading.RLock())
        return nullcontext()

    @contextmanager
    def use(self, name: str, report: Callable[[str], None] | None = None) -> Iterator[Adapter]:
        """The loaded adapter for card ``name``, held under its device lock for the block (a remote card:
        no lock, any number of requests at once). ``report`` is told each stage that may take a while:
        waiting for the device, downloading, loading."""
        card = self._card(name)
        lock = self.lock_for(name)
        if card.remote:
            held = nullcontext()
        else:
            if not lock.acquire(blocking=False):
                if report is not None:
                    report("waiting for the run ahead of yours to finish on the device")
                lock.acquire()
            held = _held(lock)
        with held:
            adapter = self._acquire(card, report)
            try:
                yield adapter
            finally:
                with self._state:
                    self._in_use[name] -= 1

    def stage(self, name: str) -> str | None:
        """What using ``name`` first involves (``loading_stage``), or None when it is loaded already."""
        with self._state:
            if name in self._resident:
                return None
        return loading_stage(self._card(name), self.device)

    def run(self, name: str, work: Callable[[Adapter], R], duration: int = 60) -> R:
        """``work(adapter)`` as GPU work: inside ``spaces.GPU`` on ZeroGPU, a plain call elsewhere."""
        return _gpu_call(self, name, work, duration)

    def preload(self, names: list[str]) -> None:
        """Load now rather than on first use (ZeroGPU wants models placed at start-up)."""
        for name in names:
            with self.use(name):
                pass

    def close(self) -> None:
        with self._state:
            adapters = list(self._resident.values())
            self._resident.clear()
        for adapter in adapters:
            adapter.close()

    def _card(self, name: str) -> ModelCard:
        try:
            return self.cards[name]
        except KeyError:
            raise ModelUnavailable(f"no model card named {name!r}; known: {', '.join(sorted(self.cards))}") from None

    def _acquire(self, card: ModelCard, report: Callable[[str], None] | None = None) -> Adapter:
        with self._state:
            adapter = self._resident.get(card.name)
            if adapter is not None:
                self._resident.move_to_end(card.name)
                self._in_use[card.name] += 1
                return adapter
        if report is not None:
            report(loading_stage(card, self.device))
        if not card.remote:
            problem = transformers_problem()
            if problem:
                raise ModelUnavailable(f"{card.name}: {problem}")
            self._make_room(self._sizes.get(card.name) or estimate_bytes(card))
        adapter = self._load(card)
        adapter.watch_for_stop()
        with self._state:
            raced = self._resident.get(card.name)  # a remote card, loaded by two requests at once (no lock)
            if raced is not None:
                self._in_use[card.name] += 1
                adapter.close()
                return raced
            self._resident[card.name] = adapter
            self._in_use[card.name] += 1
            self._sizes[card.name] = adapter.memory_bytes()
        log.info("loaded %s (%.1f MB)", card.name, self._sizes[card.name] / 1e6)
        self._make_room(0)  # the real size is known only now
        return adapter

    def _load(self, card: ModelCard) -> Adapter:
        try:
            return self._loader(card, self.device)
        except Exception as exc:
            if type(exc).__name__ != "OutOfMemoryError":
                raise
        log.warning("out of memory loading %s: moving every idle model out and retrying once", card.name)
        self._make_room(None)
        return self._loader(card, self.device)

    def _fits(self, need: int | None) -> bool:
        if need is None:
            return False
        if self.budget_bytes is not None:
            with self._state:
                used = sum(self._sizes[n] for n in self._resident)
            return used + need <= self.budget_bytes
        if self.device.startswith("cuda"):
            import torch

            free, _ = torch.cuda.mem_get_info(torch.device(self.device))
            return free >= need
        return True

    def _make_room(self, need: int | None) -> None:
        """Move idle local models out, least recently used first, until ``need`` bytes fit (None: all)."""
        while not self._fits(need):
            with self._state:
                victim = next((n for n in self._resident if not self._in_use[n] and self._sizes[n] > 0), None)
                if victim is None:
                    return  # everything left is busy or remote: load anyway and let the device decide
                adapter = self._resident.pop(victim)
            log.info("moved %s out (%.1f MB) to make room", victim, self._sizes[victim] / 1e6)
            adapter.close()


@contextmanager
def _held(lock: threading.RLock) -> Iterator[None]:
    try:
        yield
    finally:
        lock.release()


def loading_stage(card: ModelCard, device: str) -> str:
    """What loading ``card`` involves, for a progress line: a download (with its size when known), then
    placing the weights on ``device``; or connecting to its endpoint."""
    from realunify_arena.availability import cached_folder

    if card.remote:
        return f"connecting to {card.name}'s endpoint"
    if card.family == "tiny":
        return f"building {card.name} (random weights) and loading it onto {device}"
    missing = [c for c in dict.fromkeys(card.checkpoints.values()) if not c.startswith("card:")
               and cached_folder(c)[0] is None]
    if not missing:
        return f"loading {card.name} onto {device}"
    size = estimate_bytes(card)
    about = f" (about {size / 1e9:.1f} GB)" if size else ""
    return f"downloading {', '.join(missing)} from the hub{about}, then loading {card.name} onto {device}"


def _gpu_call(pool: ModelPool, name: str, work: Callable[[Adapter], R], duration: int) -> R:
    with pool.use(name) as adapter:
        return work(adapter)


def _wrap_for_zero_gpu() -> None:
    """Decorate the GPU entry point once at import, as ZeroGPU requires; off ZeroGPU ``spaces.GPU`` returns it as is."""
    global _gpu_call
    try:
        import spaces
    except ImportError:
        return
    _gpu_call = spaces.GPU(_gpu_call, duration=lambda pool, name, work, duration: duration)


_wrap_for_zero_gpu()
