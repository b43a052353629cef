"""An imported run's status line claims no timings: a published result file records none.

The failing case (hunt27b, a stored-mode battle in Chromium): after the vote each side of an imported run read
"generated image: 0.00 s", "done in 0.00 s", times its result file never held. The line now names each step
without a time and says the run was imported, its file recording no timings; our own runs keep their times.
"""

from __future__ import annotations

import json

from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.writer import official_entry
from realunify_arena.importing import import_results
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui.render import status_line


def test_an_imported_stepwise_run_names_its_steps_without_times(tmp_path):
    bundled = load("bundled")
    inst = next(i for i in bundled.instances if i.track == "UEG")
    folder = tmp_path / "published"
    folder.mkdir()
    Image.new("RGB", (16, 16), "orange").save(folder / "0.png")
    entry = {**official_entry(inst, "step"), "response": "a red cube", "generated_image": str(folder / "0.png")}
    (folder / "UEG_step.json").write_text(json.dumps([entry]), encoding="utf-8")
    store = Store.open(tmp_path / "arena.db")
    try:
        assert import_results(store, folder, "runner-x", modes=["stepwise"], data=bundled).new == 1
        trace = store.load_trace(store.runs(model="runner-x")[0]["id"])
    finally:
        store.close()
    line = status_line(trace, len(trace.steps), title="B: runner-x:stepwise")
    assert line.splitlines() == ["**B: runner-x:stepwise**", "- refined prompt", "- generated image",
                                 "- imported from a result file, which records no timings"]


def test_our_own_run_keeps_its_times():
    trace = Trace("UEG_0_world_knowledge", "tiny-janus", "stepwise", {"seed": 0},
                  [Step(StepRole.REFINED_PROMPT, "refine: a cube", text="a cube", seconds=0.25),
                   Step(StepRole.GENERATED_IMAGE, "a cube", seconds=1.5)])
    assert status_line(trace, 2, title="A").splitlines() == [
        "**A**", "- refined prompt: 0.25 s", "- generated image: 1.50 s", "- done in 1.75 s"]
