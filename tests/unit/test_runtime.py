"""ModelPool with the tiny models: lazy loading, LRU eviction against a memory budget, per-device locks."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import Adapter, ModelUnavailable, build_adapter
from realunify_arena.adapters.tiny import resolve
from realunify_arena.cards import load_cards
from realunify_arena.runs import needs_device
from realunify_arena.runtime import ModelPool, estimate_bytes

CARDS = load_cards()


@pytest.fixture(scope="module")
def sizes() -> dict[str, int]:
    """Each tiny model's real footprint, measured once (budgets below are built from these)."""
    measured = {}
    for name in ("tiny-janus", "tiny-emu3", "tiny-pair"):
        adapter = build_adapter(CARDS[name])
        measured[name] = adapter.memory_bytes()
        adapter.close()
    return measured


class CountingLoader:
    """The real loader, counting loads per card and keeping each adapter for inspection."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.adapters: dict[str, list] = {}

    def __call__(self, card, device):
        self.loads.append(card.name)
        adapter = build_adapter(card, device)
        self.adapters.setdefault(card.name, []).append(adapter)
        return adapter


def test_loads_lazily_once_and_never_evicts_on_cpu_without_a_budget():
    loader = CountingLoader()
    pool = ModelPool(CARDS, device="cpu", loader=loader)
    assert pool.resident() == [] and loader.loads == []
    for name in ("tiny-janus", "tiny-emu3", "tiny-pair", "tiny-janus"):
        with pool.use(name) as adapter:
            assert adapter.name == name
    assert loader.loads == ["tiny-janus", "tiny-emu3", "tiny-pair"]
    assert pool.resident() == ["tiny-emu3", "tiny-pair", "tiny-janus"]  # least recently used first
    pool.close()


def test_least_recently_used_model_is_moved_out_when_the_budget_is_exceeded(sizes):
    loader = CountingLoader()
    budget = sizes["tiny-janus"] + sizes["tiny-pair"] + 1000  # janus + pair fit, all three do not
    assert budget < sum(sizes.values())
    pool = ModelPool(CARDS, device="cpu", budget_bytes=budget, loader=loader)
    for name in ("tiny-janus", "tiny-emu3", "tiny-janus"):  # emu3 is now the least recently used
        with pool.use(name):
            pass
    with pool.use("tiny-pair"):
        pass
    assert pool.resident() == ["tiny-janus", "tiny-pair"]
    assert loader.adapters["tiny-emu3"][0].loaded == {}  # its weights were released
    with pool.use("tiny-emu3"):  # known size now: room is made before loading, janus goes (LRU)
        assert pool.resident() == ["tiny-pair", "tiny-emu3"]
    assert loader.loads == ["tiny-janus", "tiny-emu3", "tiny-pair", "tiny-emu3"]
    pool.close()


def test_room_is_made_before_a_first_load_from_the_cards_memory_hint(sizes):
    budget = sizes["tiny-janus"] + 1000
    hinted = dataclasses.replace(CARDS["tiny-emu3"], params={**CARDS["tiny-emu3"].params, "memory_gb": budget / 2**30})
    resident_at_load: dict[str, list[str]] = {}

    def loader(card, device):
        resident_at_load[card.name] = pool.resident()
        return build_adapter(card, device)

    pool = ModelPool({**CARDS, "tiny-emu3": hinted}, device="cpu", budget_bytes=budget, loader=loader)
    with pool.use("tiny-janus"):
        pass
    with pool.use("tiny-emu3"):
        pass
    assert resident_at_load == {"tiny-janus": [], "tiny-emu3": []}  # janus left before emu3 was loaded
    assert estimate_bytes(CARDS["tiny-janus"]) == 0  # no hint, weights not resolved yet: unknown
    pool.close()


def test_first_load_estimate_reads_the_weight_files_of_a_local_folder():
    # the weights as the card loads them: from_pretrained(dtype=bfloat16) casts the float32 files' tensors to 2 bytes
    # an element (counted by the safetensors library)
    import torch
    from safetensors.torch import load_file

    folder = Path(resolve(CARDS["tiny-pair"]).checkpoints["understand"])
    card = dataclasses.replace(CARDS["qwen2.5-vl-7b"], checkpoints={"understand": str(folder)})
    assert card.dtype == "bfloat16"
    loaded = sum(t.numel() * 2 if t.is_floating_point() else t.numel() * t.element_size()
                 for f in folder.glob("*.safetensors") for t in load_file(f).values())
    assert {t.dtype for f in folder.glob("*.safetensors") for t in load_file(f).values()} >= {torch.float32}
    assert estimate_bytes(card) == loaded > 0


def test_a_model_in_use_is_never_moved_out(sizes):
    pool = ModelPool(CARDS, device="cpu", budget_bytes=max(sizes.values()) + 1000)
    with pool.use("tiny-janus") as janus:
        with pool.use("tiny-emu3"):  # over budget, but janus is busy
            assert set(pool.resident()) == {"tiny-janus", "tiny-emu3"}
        image = janus.generate("a red cube", CARDS["tiny-janus"].defaults)  # still usable
        assert image.size == (32, 32)
    with pool.use("tiny-pair"):
        assert pool.resident() == ["tiny-pair"]
    pool.close()


def test_work_on_one_device_never_interleaves():
    pool = ModelPool(CARDS, device="cpu")
    spans: list[tuple[str, float, float]] = []

    def work(name: str) -> None:
        with pool.use(name) as adapter:
            start = time.perf_counter()
            adapter.generate("a red cube", CARDS[name].defaults)
            time.sleep(0.05)  # widen the window an interleaving would need
            spans.append((name, start, time.perf_counter()))

    threads = [threading.Thread(target=work, args=(name,)) for name in ("tiny-janus", "tiny-emu3", "tiny-janus",
                                                                        "tiny-pair")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(spans) == 4
    spans.sort(key=lambda s: s[1])
    for (_, _, end), (_, start, _) in zip(spans, spans[1:]):
        assert end <= start
    pool.close()


def test_remote_cards_take_no_lock_and_never_wait_for_the_device():
    pool = ModelPool(CARDS, device="cpu", loader=lambda card, device: build_adapter(card, device)
                     if not card.remote else Adapter(card=card, capabilities=card.capabilities))
    assert pool.lock_for("tiny-janus") is pool.lock_for("tiny-pair")
    assert needs_device(pool, "tiny-janus") and not needs_device(pool, "gpt-4.1")
    assert not needs_device(pool, "gemini-2.5-pro") and needs_device(pool, "no-such-card")
    entered = threading.Event()
    # the device is busy and a request to gpt-4.1 is in flight (both held by this thread): a hung endpoint
    # must not hold a second request to it, nor wait for the device
    with pool.lock_for("tiny-janus"), pool.use("gpt-4.1"):

        def remote() -> None:
            with pool.use("gpt-4.1"), pool.use("gemini-2.5-pro"):
                entered.set()

        other = threading.Thread(target=remote)
        other.start()
        assert entered.wait(10), "a remote card waited for the device lock"
        other.join()
    assert set(pool.resident()) == {"gpt-4.1", "gemini-2.5-pro"}


def test_out_of_memory_while_loading_moves_idle_models_out_and_retries_once():
    failures = ["tiny-pair"]  # the first load of tiny-pair reports OOM, as a full GPU would

    def loader(card, device):
        if card.name in failures:
            failures.remove(card.name)
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return build_adapter(card, device)

    pool = ModelPool(CARDS, device="cpu", budget_bytes=10**12, loader=loader)
    with pool.use("tiny-janus"):
        pass
    with pool.use("tiny-pair") as pair:
        assert pair.name == "tiny-pair"
    assert pool.resident() == ["tiny-pair"]
    pool.close()


def test_unknown_card_and_run_wrapper():
    pool = ModelPool(CARDS, device="cpu")
    with pytest.raises(ModelUnavailable, match="no model card named 'nope'.*tiny-janus"):
        with pool.use("nope"):
            pass
    # off ZeroGPU, run() is a plain call that holds the model for the work
    assert pool.run("tiny-janus", lambda adapter: (adapter.name, pool.resident())) == ("tiny-janus", ["tiny-janus"])
    pool.close()


# -- torch threads and prefetch (issue 18) ------------------------------------------------------------


class BigAdapter:
    """Stands in for a large model: only its reported footprint matters to the thread policy."""

    name = "big"

    def memory_bytes(self) -> int:
        return 2**30

    def watch_for_stop(self) -> None:  # the pool arms Stop on every adapter it loads
        pass

    def close(self) -> None:
        pass


def _threads_in_use(pool, name: str, on_new_thread: bool = False) -> int:
    """torch's intra-op threads as seen by the thread running ``name`` (torch keeps one setting per thread)."""
    seen = []

    def work():
        with pool.use(name):
            seen.append(torch.get_num_threads())

    if on_new_thread:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    else:
        work()
    return seen[0]


def test_torch_threads_follow_the_model_size_on_the_thread_that_runs_it(monkeypatch):
    from realunify_arena.runtime import TINY_MODEL_BYTES, physical_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    previous = torch.get_num_threads()
    try:
        cards = {**CARDS, "big": dataclasses.replace(CARDS["tiny-janus"], name="big")}

        def loader(card, device):
            return BigAdapter() if card.name == "big" else build_adapter(card, device)

        pool = ModelPool(cards, device="cpu", loader=loader)
        assert BigAdapter().memory_bytes() >= TINY_MODEL_BYTES
        torch.set_num_threads(2)
        assert _threads_in_use(pool, "tiny-janus") == 1  # a tiny model: one thread
        assert _threads_in_use(pool, "tiny-janus", on_new_thread=True) == 1  # a run's own thread too
        assert _threads_in_use(pool, "big") == physical_cores()
        fixed = ModelPool(cards, device="cpu", loader=loader, torch_threads=3)
        assert _threads_in_use(fixed, "tiny-janus") == 3 and _threads_in_use(fixed, "big") == 3
        with pytest.raises(ValueError, match="torch_threads must be at least 1"):
            ModelPool(cards, torch_threads=0)
    finally:
        torch.set_num_threads(previous)


def test_physical_cores_is_within_what_this_process_may_use():
    import os

    from realunify_arena.runtime import physical_cores

    cores = physical_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0)) <= (os.cpu_count() or 1)


def test_a_setting_of_omp_num_threads_is_left_alone(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert _threads_in_use(ModelPool(CARDS, device="cpu"), "tiny-janus") == 2
    finally:
        torch.set_num_threads(previous)


class SlowLoader(CountingLoader):
    """The real loader, slowed down, recording how many loads ever overlapped."""

    def __init__(self, delay: float = 0.3) -> None:
        super().__init__()
        self.delay, self.active, self.most_at_once = delay, 0, 0
        self._lock = threading.Lock()

    def __call__(self, card, device):
        with self._lock:
            self.active += 1
            self.most_at_once = max(self.most_at_once, self.active)
        try:
            time.sleep(self.delay)
            return super().__call__(card, device)
        finally:
            with self._lock:
                self.active -= 1


def test_a_prefetch_loads_in_the_background_and_a_use_meanwhile_takes_its_adapter():
    loader = SlowLoader()
    pool = ModelPool(CARDS, device="cpu", loader=loader)
    thread = pool.prefetch("tiny-pair")
    assert thread is not None and pool.prefetch("tiny-pair") is None  # one load per card
    time.sleep(0.05)
    with pool.use("tiny-pair") as adapter:  # waits for the prefetch instead of loading a second copy
        assert adapter is loader.adapters["tiny-pair"][0]
    thread.join()
    assert loader.loads == ["tiny-pair"]
    assert pool.prefetch("tiny-pair") is None  # already resident
    pool.close()


def test_a_prefetch_after_a_model_waits_for_that_load_and_loads_never_overlap():
    loader = SlowLoader()
    pool = ModelPool(CARDS, device="cpu", loader=loader)
    thread = pool.prefetch("tiny-pair", after="tiny-janus")
    time.sleep(0.5)
    assert loader.loads == []  # still waiting for the run's own model
    with pool.use("tiny-janus"):
        pass
    thread.join(timeout=120)
    assert loader.loads == ["tiny-janus", "tiny-pair"] and pool.resident() == ["tiny-janus", "tiny-pair"]
    other = pool.prefetch("tiny-emu3")  # no ordering: it may start while the next load does
    with pool.use("tiny-emu3"):
        pass
    other.join(timeout=120)
    assert loader.most_at_once == 1 and loader.loads.count("tiny-emu3") == 1
    pool.close()


def test_a_use_takes_over_a_prefetch_that_has_not_started():
    loader = CountingLoader()
    pool = ModelPool(CARDS, device="cpu", loader=loader)
    thread = pool.prefetch("tiny-pair", after="tiny-janus")  # tiny-janus is never used: the stored-run case
    with pool.use("tiny-pair"):
        pass
    thread.join(timeout=10)
    assert not thread.is_alive() and loader.loads == ["tiny-pair"]
    pool.close()


def test_prefetch_skips_what_it_cannot_load_safely_beside_a_run():
    pool = ModelPool({**CARDS, "half": dataclasses.replace(CARDS["tiny-pair"], name="half", dtype="bfloat16")},
                     device="cpu", loader=CountingLoader())
    assert pool.prefetch("half") is None  # building it would switch torch's default dtype under a running model
    assert pool.prefetch("no-such-card") is None
    assert pool.prefetch("tiny-pair") is not None
