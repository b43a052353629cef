"""A run stored before model replies were redacted (an endpoint that echoed its caller's key into a refined
prompt, an answer or an error) is read back with the key masked: what the page shows of a stored run, what a
reused run returns and what ``merge`` copies into another store. Real SQLite files on disk."""

from __future__ import annotations

import json

from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.evaluation import merge
from realunify_arena.judge import polling_judgment
from realunify_arena.store import Store
from realunify_arena.trace import Status, Step, StepRole, Trace

KEY = "older16-Key-0123456789abcdefghijKLMNOP"


def _key_in(data: str | bytes) -> bool:
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return any(KEY[i:i + 12] in text for i in range(len(KEY) - 11))


def _old_store(path, data) -> Store:
    """Runs as m16's predecessors stored them: the key verbatim in the texts."""
    ueg = next(i for i in data.instances if i.track == "UEG")
    geu = next(i for i in data.instances if i.track == "GEU")
    store = Store.open(path)
    refined = f"a red fox; your key is {KEY}"
    run_id = store.save_trace(Trace(ueg.uid, "echo", "stepwise", {"seed": 0}, steps=[
        Step(StepRole.REFINED_PROMPT, ueg.refine_text, text=refined),
        Step(StepRole.GENERATED_IMAGE, refined, image=Image.new("RGB", (32, 32), "red"))], status=Status.OK),
        data.name)
    replies = [[f"yes, {KEY}"] for _ in ueg.question_list]
    store.save_judgment(run_id, "echo", polling_judgment(ueg.question_list, replies, "echo").to_dict())
    store.save_trace(Trace(geu.uid, "echo", "direct", {"seed": 0}, steps=[
        Step(StepRole.ANSWER, geu.mcq_text, text=f"A ({KEY})")], status=Status.OK), data.name)
    store.save_trace(Trace(geu.uid, "echo", "stepwise", {"seed": 0}, status=Status.ERROR,
                           error=f"RuntimeError: 401 for key {KEY}"), data.name)
    return store


def test_a_stored_runs_texts_are_read_back_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OLDER16_SERVICE_KEY", KEY)
    store = _old_store(tmp_path / "arena.db", load("bundled"))
    try:
        traces = [store.load_trace(r["id"]) for r in store.runs()]
    finally:
        store.close()
    texts = [s.text for t in traces for s in t.steps if s.text] + [t.error for t in traces if t.error]
    assert sorted(texts) == sorted(["a red fox; your key is ***", "A (***)", "RuntimeError: 401 for key ***"])
    image_step = next(s for t in traces for s in t.steps if s.role is StepRole.GENERATED_IMAGE)
    assert image_step.prompt == "a red fox; your key is ***"  # the generation prompt shown beside the image
    assert not any(_key_in(json.dumps(t.to_dict())) for t in traces)


def test_merge_copies_no_key_from_an_old_store(tmp_path, monkeypatch):
    monkeypatch.setenv("OLDER16_SERVICE_KEY", KEY)
    source = _old_store(tmp_path / "old" / "arena.db", load("bundled"))
    (tmp_path / "new").mkdir()
    target = Store.open(tmp_path / "new" / "arena.db")
    try:
        merge(source, target)
        assert len(target.runs()) == 3
    finally:
        source.close()
        target.close()
    for part in (tmp_path / "new").iterdir():
        if part.is_file():
            assert not _key_in(part.read_bytes()), part.name
