"""A run's notes (``Trace.notes``, f520aea: shown in its status line on the page) are text of the stored trace like
its replies and its error: read back with secrets masked (``Store.load_trace``), and given to a visitor (Explore's
``/run_instance`` result, ``runs.for_visitors``) without secrets, the server's folders or endpoint addresses, as the
page's status line (``render.failure_text``) already gave them. The failing case (verify27b): a stored note holding
a key and a server folder came back whole from ``load_trace`` and in the API's ``trace.notes``, while the page
showed it masked. Today's only note (``protocols.cut_answer_note``) names a card and a token count, so this guards
the store's rule for every text of a trace rather than a leak seen in use. A real store on disk."""

from __future__ import annotations

from realunify_arena.benchmark import load
from realunify_arena.runs import for_visitors
from realunify_arena.store import Store
from realunify_arena.trace import Status, Step, StepRole, Trace
from realunify_arena.ui.render import status_line

KEY = "note27-Key-0123456789abcdefghijKLMNOP"
FOLDER = "/srv/private-models-folder"


def test_a_runs_notes_are_masked_when_read_and_when_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTE27_SERVICE_KEY", KEY)
    geu = next(i for i in load("bundled").instances if i.track == "GEU")
    note = f"answer cut while reasoning: raise defaults.max_new_tokens in {FOLDER}/echo.yaml (key {KEY})"
    store = Store.open(tmp_path / "arena.db")
    try:
        run_id = store.save_trace(Trace(geu.uid, "echo", "direct", {"seed": 0}, steps=[
            Step(StepRole.ANSWER, geu.mcq_text, text="<think> A because")], status=Status.OK, notes=[note]), "bundled")
        trace = store.load_trace(run_id)
    finally:
        store.close()
    assert len(trace.notes) == 1 and KEY not in trace.notes[0] and "***" in trace.notes[0], trace.notes
    shown = for_visitors({"trace": trace.to_dict()})["trace"]["notes"]
    page = status_line(trace, 1, title="A")
    for text in (shown[0], page):
        assert KEY not in text and FOLDER not in text, text
        assert "answer cut while reasoning" in text, text


def test_a_stored_notes_value_that_is_one_text_is_one_note_not_one_per_character():
    # a trace merged in from another store (a replica's snapshot) may hold "notes" as one text; each character
    # of it becoming a note would fill the status line with one-letter lines
    base = Trace("GEU_1_x", "echo", "direct", {"seed": 0}).to_dict()
    assert Trace.from_dict(base | {"notes": "cut while reasoning"}).notes == ["cut while reasoning"]
    assert Trace.from_dict(base | {"notes": ["a", 7]}).notes == ["a", "7"]
    assert Trace.from_dict(base | {"notes": None}).notes == []
    assert Trace.from_dict(base).notes == []
