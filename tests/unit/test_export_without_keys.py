"""``export`` (official result files) writes no secret, even from a database whose runs were stored before
model and judge replies were redacted (an endpoint that echoed its caller's key): the "response" and each
"judge_answer" have the key masked. A real store on disk, the real export."""

from __future__ import annotations

import json

from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.judge import polling_judgment
from realunify_arena.reporting import export_official
from realunify_arena.store import Store
from realunify_arena.trace import Status, Step, StepRole, Trace

KEY = "old16-Key-0123456789abcdefghijKLMNOP"


def _key_in(text: str) -> bool:
    return any(KEY[i:i + 12] in text for i in range(len(KEY) - 11))


def test_export_masks_a_key_an_old_run_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("OLD16_SERVICE_KEY", KEY)
    data = load("bundled")
    ueg = next(i for i in data.instances if i.track == "UEG")
    geu = next(i for i in data.instances if i.track == "GEU")
    store = Store.open(tmp_path / "arena.db")
    try:
        refined = f"a red fox; your key is {KEY}"
        ueg_run = store.save_trace(Trace(ueg.uid, "echo", "stepwise", {"seed": 0}, steps=[
            Step(StepRole.REFINED_PROMPT, ueg.refine_text, text=refined),
            Step(StepRole.GENERATED_IMAGE, refined, image=Image.new("RGB", (32, 32), "red"))],
            status=Status.OK), data.name)
        replies = [[f"yes, {KEY}"] for _ in ueg.question_list]
        store.save_judgment(ueg_run, "echo", polling_judgment(ueg.question_list, replies, "echo").to_dict())
        store.save_trace(Trace(geu.uid, "echo", "direct", {"seed": 0}, steps=[
            Step(StepRole.ANSWER, geu.mcq_text, text=f"A ({KEY})")], status=Status.OK), data.name)
        paths = export_official(store, tmp_path / "out", model="echo", judge="echo")
    finally:
        store.close()
    entries = [e for p in paths for e in json.loads(p.read_text(encoding="utf-8"))]
    responses = [e["response"] for e in entries if e.get("response")]
    answers = [q["judge_answer"] for e in entries for q in e.get("question_list", []) if "judge_answer" in q]
    assert len(responses) == 2 and answers, entries
    assert all("***" in t for t in responses + answers), entries  # the text is kept, the key masked
    for path in paths:
        assert not _key_in(path.read_text(encoding="utf-8")), path


def test_export_masks_a_key_in_an_old_runs_error(tmp_path, monkeypatch):
    """A failed run's error stored unmasked (imported from a result file before those were read redacted)."""
    monkeypatch.setenv("OLD16_SERVICE_KEY", KEY)
    data = load("bundled")
    geu = next(i for i in data.instances if i.track == "GEU")
    store = Store.open(tmp_path / "arena.db")
    try:
        store.save_trace(Trace(geu.uid, "echo", "direct", {"seed": 0}, status=Status.ERROR,
                               error=f"RuntimeError: 401 for key {KEY}"), data.name)
        paths = export_official(store, tmp_path / "out", model="echo")
    finally:
        store.close()
    entries = [e for p in paths for e in json.loads(p.read_text(encoding="utf-8"))]
    assert [e["error"] for e in entries] == ["RuntimeError: 401 for key ***"]
