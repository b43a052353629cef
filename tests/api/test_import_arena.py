"""A CPU-only arena over published results: two models' official-format result folders (written here, as a
third-party runner would) are imported, the app is launched in stored arena mode, and a client draws a
battle between the two imported models and votes on it. A run that was stored but not pinned (an ad-hoc
Explore run) is never drawn."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from gradio_client import Client
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.benchmark.writer import official_entry
from realunify_arena.cards import load_cards
from realunify_arena.importing import import_results
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui import build_demo, launch_options
from realunify_arena.ui.arena_tab import reveal_markdown
from realunify_arena.ui.render import plain

pytestmark = pytest.mark.slow


def published(folder: Path, dataset, colour: tuple[int, int, int], *, with_geu: bool) -> None:
    """A result folder: UEG direct images (absolute paths, extra fields), GEU direct replies as lists."""
    folder.mkdir(parents=True)
    ueg, geu = [], []
    for n, inst in enumerate(dataset.select("UEG")):
        image = folder / "images" / f"{n}.png"
        image.parent.mkdir(exist_ok=True)
        Image.new("RGB", (32, 32), colour).save(image)
        ueg.append({**official_entry(inst, "direct"), "generated_image": str(image), "latency": 1.5})
    for inst in dataset.select("GEU"):
        geu.append({**official_entry(inst, "direct"), "response": [inst.answer, "unused"]})
    (folder / "UEG_direct.json").write_text(json.dumps(ueg), encoding="utf-8")
    if with_geu:
        (folder / "GEU_direct.json").write_text(json.dumps(geu), encoding="utf-8")


def test_stored_arena_battles_two_imported_models_and_takes_a_vote(tmp_path):
    write_set(generate_set(1, seed=5, task_types=["mathematical_reasoning", "mental_tracking"]), tmp_path / "data")
    source = str(tmp_path / "data")
    dataset = load(source)
    ueg, geu = dataset.select("UEG")[0], dataset.select("GEU")[0]
    store = Store.open(tmp_path / "arena.db")
    published(tmp_path / "pub" / "alpha", dataset, (200, 30, 30), with_geu=True)
    published(tmp_path / "pub" / "beta", dataset, (30, 30, 200), with_geu=False)
    for model in ("alpha", "beta"):
        summary = import_results(store, tmp_path / "pub" / model, model, data=dataset)
        assert summary.new == (2 if model == "alpha" else 1)
    # An unpinned GEU run of a third model: with it, GEU would have two systems to battle.
    store.save_trace(Trace(geu.uid, "gamma", "direct", {"seed": 1}, [Step(StepRole.ANSWER, "p", text="A")]),
                     dataset.name)
    imported = {r["id"]: r for r in store.runs(pinned=True)}
    assert {r["model"] for r in imported.values()} == {"alpha", "beta"}

    settings = Settings(data=(source,), db=tmp_path / "arena.db", arena_mode="stored")
    pool = ModelPool(load_cards())
    demo = build_demo(settings, store, pool)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False)
    try:
        battle = client.predict(source, "UEG", "model_vs_model", api_name="/new_battle")
        assert battle["ready"] and battle["instance_uid"] == ueg.uid
        # before the vote each side carries only its final image, re-encoded under a battle-only name: its
        # pixels are one imported model's published image
        shown = {_pixels(base64.b64decode(battle["sides"][side]["image"]["png_base64"])) for side in ("A", "B")}
        stored = {_pixels(store.get_image(store.load_trace(i).final.image_sha))
                  for i, r in imported.items() if r["track"] == "UEG"}
        assert shown == stored and len(shown) == 2
        assert "alpha" not in json.dumps(battle) and "beta" not in json.dumps(battle)  # anonymous until the vote

        revealed = client.predict(battle["battle_id"], "A", api_name="/vote")
        assert {revealed["system_a"], revealed["system_b"]} == {"alpha:direct", "beta:direct"}
        # marked as imported where shown (before: nothing told them from runs made here), without the
        # importing machine's folder
        for side in ("A", "B"):
            origin = revealed["sides"][side]["imported"]
            assert origin["file"] == "UEG_direct.json" and origin["entry"] == f"index {ueg.index} ({ueg.task_type})"
            assert origin["imported_at"] and str(tmp_path) not in json.dumps(revealed["sides"][side])
            # no time its result file never held (verify27b: the reveal said "seconds": 0.0, as the page's
            # status line did before hunt27b): none for the run and none for each step
            assert revealed["sides"][side]["seconds"] is None
            assert [step["seconds"] for step in revealed["sides"][side]["steps"]] == [None]
        text = reveal_markdown(revealed)
        assert text.count(plain("; imported from published results: UEG_direct.json, index")) == 2, text
        (vote,) = store.votes()
        assert vote["choice"] == "A" and {vote["run_a"], vote["run_b"]} <= set(imported)
        assert all(store.run_origin(vote[f"run_{s}"])["model"] in ("alpha", "beta") for s in "ab")
        board = client.predict("UEG", "model_vs_model", api_name="/leaderboard")
        assert {row["system"] for row in board} == {"alpha:direct", "beta:direct"}
        assert all(row["imported"] is True for row in board)

        with pytest.raises(Exception, match="stored runs"):  # gamma's GEU run is not pinned: no GEU battle
            client.predict(source, "GEU", "model_vs_model", api_name="/new_battle")
        assert pool.resident() == []  # no model was loaded for any of it
    finally:
        demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()
        store.close()


def _pixels(image) -> bytes:
    """The decoded RGB pixels of PNG bytes or a PIL image (what a voter sees, whatever the file's bytes)."""
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    return image.convert("RGB").tobytes()
