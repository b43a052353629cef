"""Where models live: loaded on first use, kept while they fit, least recently used moved out first.

One lock per device serialises work on that device, so two requests never interleave on one model.
Remote cards take no lock at all: their endpoints do their own scheduling, and a slow or hung endpoint
must not hold anyone else's request (``runs.needs_device`` says which cards take the device). On ZeroGPU,
GPU work runs inside ``spaces.GPU`` and models should be preloaded at start-up; elsewhere ``spaces`` is
never imported.

Nothing heavy is imported here: torch comes in when the pool first needs a device or a model, so an app
that builds its page with a pool is up before any model library has loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from realunify_arena.adapters import LOADING, Adapter, ModelUnavailable, build_adapter
from realunify_arena.cards import ModelCard, transformers_problem
from realunify_arena.redaction import error_text, shortened

log = logging.getLogger(__name__)
R = TypeVar("R")


def on_zero_gpu() -> bool:
    """True inside a Hugging Face ZeroGPU Space: ``SPACES_ZERO_GPU`` read as ``spaces`` itself reads it
    (``spaces/config.py``: one of ``1``, ``t``, ``true``, any case)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in {"1", "t", "true"}


def zero_gpu(duration: int) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """``@spaces.GPU(duration=...)`` on ZeroGPU, the function unchanged elsewhere, without importing ``spaces``
    off ZeroGPU. Apply it where the function is defined (at import), as ZeroGPU requires.

    Args:
        duration: the most seconds one call may hold the GPU (ZeroGPU's ``duration``).
    """
    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        if not on_zero_gpu():
            return fn
        import spaces

        return spaces.GPU(fn, duration=duration)

    return decorate


# the stage ``ModelPool.use`` reports while another run holds the device; every other stage it reports is a load
WAITING_FOR_DEVICE = "waiting for the run ahead of yours to finish on the device"
TINY_MODEL_BYTES = 64 * 2**20  # below this a model's CPU ops are too small to gain from more than one thread


def physical_cores() -> int:
    """CPU cores this process may use: physical cores (not hyper-threads), capped by its CPU affinity and
    by a cgroup v2 CPU quota (``/sys/fs/cgroup/cpu.max``, as containers and Spaces set it); at least 1."""
    try:
        import psutil  # accelerate's dependency

        cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        cores = os.cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores, len(os.sched_getaffinity(0)))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def torch_threads_for(model_bytes: int, override: int | None = None) -> int:
    """Intra-op CPU threads for running a model of ``model_bytes``: ``override`` when given, 1 for a tiny
    model (below ``TINY_MODEL_BYTES``: splitting its small ops costs more than it gains, and on a busy host
    a thread waiting for a core stalls every op), else ``physical_cores()``."""
    if override is not None:
        return override
    return 1 if model_bytes < TINY_MODEL_BYTES else physical_cores()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def estimate_bytes(card: ModelCard) -> int:
    """A first-load guess of a card's footprint, before its real size is measured:
    ``availability.estimate_bytes`` (``params.memory_gb``, local or cached weight files, a size in the
    checkpoint's name), 0 if unknown."""
    from realunify_arena.availability import estimate_bytes as weight_bytes

    return weight_bytes(card) or 0


def load_refusal(card: ModelCard, error: BaseException) -> ModelUnavailable:
    """``"{card}: could not be loaded from {where}: {ErrorType}: {message}"``, one line (white space runs joined,
    secrets masked, cut to 400 characters): how a loader's own exception reaches a user. ``where`` is a remote
    card's endpoint, else its checkpoints (folders or hub ids)."""
    said = shortened(" ".join(error_text(error).split()), 400, "...")
    where = card.endpoint or ", ".join(dict.fromkeys(str(c) for c in card.checkpoints.values())) or "its card"
    return ModelUnavailable(f"{card.name}: could not be loaded from {where}: {said}")


class ModelPool:
    """Lazily loaded adapters with LRU eviction against a memory budget.

    ``budget_bytes`` caps the summed ``memory_bytes()`` of resident local models. Without it, a CUDA
    pool evicts until the device reports enough free memory, and a CPU pool never evicts. An evicted
    adapter is closed (its weights freed, not parked in host memory) and reloaded on its next use.

    ``torch_threads`` fixes torch's intra-op CPU threads for every model; by default each use of a local
    model sets them by ``torch_threads_for`` its size, unless ``OMP_NUM_THREADS`` was set (then torch's
    own choice stands). Torch keeps that setting per thread, so it is set on the thread that runs the model.
    ``device`` (default: ``cuda`` when available, else ``cpu``) is resolved when first needed.
    """

    def __init__(self, cards: dict[str, ModelCard], device: str | None = None, budget_bytes: int | None = None,
                 loader: Callable[[ModelCard, str], Adapter] = build_adapter, *,
                 torch_threads: int | None = None) -> None:
        if torch_threads is not None and torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {torch_threads}")
        self.cards = cards
        self._device = device
        self.budget_bytes = budget_bytes
        self.torch_threads = torch_threads
        self._loader = loader
        self._resident: OrderedDict[str, Adapter] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # measured footprint, to make room before a reload
        self._in_use: Counter[str] = Counter()
        self._loading: dict[str, _Prefetch] = {}  # prefetches waiting or under way
        self._attempts: Counter[str] = Counter()  # loads tried per card, for prefetches waiting on one
        self._state = threading.Lock()  # guards the five above and _locks
        self._changed = threading.Condition(self._state)  # notified when a load ends or a prefetch is dropped
        self._load_lock = LOADING  # one local load at a time in the process: loading sets process-wide torch state
        self._locks: dict[str, threading.RLock] = {}
        problem = transformers_problem()
        if problem:
            log.warning("local model families will not load: %s", problem)

    @property
    def device(self) -> str:
        """Where local models are placed; resolving the default imports torch, so only on first need."""
        if self._device is None:
            self._device = default_device()
        return self._device

    def _device_for(self, card: ModelCard) -> str:
        """The device ``card``'s adapter is given: ``device`` for a card that runs here; a remote card's adapter
        ignores it, so the default is not resolved for one (resolving imports torch: seconds, at the first run
        of a remote model in a process that loads nothing else)."""
        if card.remote and card.family != "pair":
            return self._device or "cpu"
        return self.device

    @property
    def chosen_device(self) -> str | None:
        """The device given to the pool, or None while the default (CUDA if present, else CPU) is not
        resolved yet: for callers that can decide later, without importing torch now."""
        return self._device

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
                    report(WAITING_FOR_DEVICE)
                lock.acquire()
            held = _held(lock)
        with held:
            adapter = self._acquire(card, report)
            try:
                if not card.remote:
                    self._set_threads(name)
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

    def prefetch(self, name: str, *, after: str | None = None) -> threading.Thread | None:
        """Load local card ``name`` on a background thread, so it is resident when first used: the judge
        loads while the model it judges runs. With ``after``, the load starts once that card is loaded (or
        its load failed), so the run's own model is never kept waiting. A ``use`` of ``name`` meanwhile
        waits for a load under way, and takes over one that has not started.

        Only ``float32`` cards are loaded alongside a run: transformers sets torch's process-wide default
        dtype while it builds a model, which a run on another thread would see. Loads never overlap each
        other (one load lock per pool).

        Returns the loading thread, or None when nothing is started: the card is unknown, remote, not
        ``float32``, already loaded or loading, on ZeroGPU (models are preloaded there), or it would not
        fit without moving another model out. A failed load is only logged; the next ``use`` reports it.
        """
        card = self.cards.get(name)
        if card is None or card.remote or card.dtype != "float32" or on_zero_gpu() or transformers_problem():
            return None
        with self._state:
            if name in self._resident or name in self._loading:
                return None
            known = self._sizes.get(name)
        estimate = estimate_bytes(card) if known is None else known
        if not self._fits(estimate):
            return None
        with self._changed:
            if name in self._resident or name in self._loading:
                return None
            self._loading[name] = pending = _Prefetch()
            attempts = self._attempts[after]

        def load() -> None:
            with self._changed:
                while after is not None and after not in self._resident and self._attempts[after] == attempts \
                        and not pending.cancelled:
                    self._changed.wait()
                if pending.cancelled:
                    return
                pending.started = True
            try:
                self._set_threads(name, known if known is not None else estimate)
                with self._load_lock:
                    adapter = self._loader(card, self._device_for(card))
                with self._changed:
                    self._resident[name] = adapter
                    self._sizes[name] = adapter.memory_bytes()
                log.info("prefetched %s (%.1f MB)", name, self._sizes[name] / 1e6)
            except Exception as e:  # noqa: BLE001 - reported by the use that needs it
                log.warning("prefetching %s failed (it loads again when used): %s: %s", name, type(e).__name__, e)
            finally:
                with self._changed:
                    del self._loading[name]
                    self._changed.notify_all()
                pending.done.set()

        thread = threading.Thread(target=load, daemon=True, name=f"realunify-prefetch-{name}")
        thread.start()
        return thread

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

    def _set_threads(self, name: str, size: int | None = None) -> None:
        """Size torch's threads on this thread for card ``name`` (its measured size, else ``size``)."""
        if self.torch_threads is None and "OMP_NUM_THREADS" in os.environ:
            return
        with self._state:
            size = self._sizes.get(name, size or 0)
        want = torch_threads_for(size, self.torch_threads)
        import torch  # the model needs it now

        if torch.get_num_threads() != want:  # this thread's setting (torch keeps one per thread)
            torch.set_num_threads(want)

    def _acquire(self, card: ModelCard, report: Callable[[str], None] | None = None) -> Adapter:
        with self._changed:
            pending = self._loading.get(card.name)
            if pending is not None and not pending.started:  # a prefetch still waiting: load it here instead
                pending.cancelled = True
                del self._loading[card.name]
                self._changed.notify_all()
                pending = None
        if pending is not None:
            pending.done.wait()  # a prefetch loading this card: take its adapter rather than load a second copy
        with self._state:
            adapter = self._resident.get(card.name)
            if adapter is not None:
                self._resident.move_to_end(card.name)
                self._in_use[card.name] += 1
                return adapter
        if report is not None:
            report(loading_stage(card, self._device_for(card)))
        if not card.remote:
            problem = transformers_problem()
            if problem:
                raise ModelUnavailable(f"{card.name}: {problem}")
            need = self._sizes.get(card.name) or estimate_bytes(card)
            self._make_room(need)
            self._set_threads(card.name, need)  # loading runs torch ops too
        try:
            # local loads one at a time (a prefetch never competes with a run's load); a remote card's
            # load (a client) never waits behind a local one
            with nullcontext() if card.remote else self._load_lock:
                adapter = self._load(card)
        finally:
            with self._changed:
                self._attempts[card.name] += 1
                self._changed.notify_all()
        adapter.watch_for_stop()
        with self._changed:
            raced = self._resident.get(card.name)  # a remote card, loaded by two requests at once (no lock)
            if raced is not None:
                self._in_use[card.name] += 1
                adapter.close()
                return raced
            self._resident[card.name] = adapter
            self._in_use[card.name] += 1
            self._sizes[card.name] = adapter.memory_bytes()
            self._changed.notify_all()
        log.info("loaded %s (%.1f MB)", card.name, self._sizes[card.name] / 1e6)
        if not card.remote:  # a remote card holds nothing here (and its pool may never resolve a device)
            self._make_room(0)  # the real size is known only now
        return adapter

    def _load(self, card: ModelCard) -> Adapter:
        """The card's adapter; any failure but running out of memory (retried once after moving idle models out,
        then raised as it is) is ``ModelUnavailable`` naming the card and its checkpoint folders (``load_refusal``),
        never a library's own exception (a traceback at the command line)."""
        try:
            try:
                return self._loader(card, self._device_for(card))
            except Exception as exc:
                if type(exc).__name__ != "OutOfMemoryError":
                    raise
            log.warning("out of memory loading %s: moving every idle model out and retrying once", card.name)
            self._make_room(None)
            return self._loader(card, self._device_for(card))
        except ModelUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - from_pretrained raises RuntimeError, UnpicklingError, OSError, ...
            if type(exc).__name__ == "OutOfMemoryError":  # after the retry: said as it is ("CUDA out of memory")
                raise
            raise load_refusal(card, exc) from exc

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
               and cached_folder(c, variant=card.params.get("variant"))[0] is None]
    if not missing:
        return f"loading {card.name} onto {device}"
    size = estimate_bytes(card)
    about = f" (about {size / 1e9:.1f} GB)" if size else ""
    return f"downloading {', '.join(missing)} from the hub{about}, then loading {card.name} onto {device}"


@dataclass
class _Prefetch:
    started: bool = False  # the load has begun (a use waits for it) or not (a use takes it over)
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def _gpu_call(pool: ModelPool, name: str, work: Callable[[Adapter], R], duration: int) -> R:
    with pool.use(name) as adapter:
        return work(adapter)


def _wrap_for_zero_gpu() -> None:
    """Decorate the GPU entry point once at import, as ZeroGPU requires; off ZeroGPU ``spaces`` is not imported."""
    global _gpu_call
    if not on_zero_gpu():
        return
    import spaces

    _gpu_call = spaces.GPU(_gpu_call, duration=lambda pool, name, work, duration: duration)


_wrap_for_zero_gpu()
