"""The store on real SQLite files: runs, images, judgments, migrations, concurrency and backups."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import threading

import pytest
from PIL import Image

from realunify_arena.store import NotFound, Store, migrations
from realunify_arena.trace import Status, Step, StepRole, Trace


def image(colour: tuple[int, int, int], size: int = 8) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def ueg_trace(model: str = "tiny", mode: str = "stepwise", seed: int = 0, colour=(200, 10, 10)) -> Trace:
    return Trace(
        instance_uid="UEG_3_world_knowledge", model=model, mode=mode,
        settings={"seed": seed, "steps": 2, "guidance": None},
        steps=[
            Step(StepRole.REFINED_PROMPT, prompt="refine this", text="a tiger", seconds=0.5),
            Step(StepRole.GENERATED_IMAGE, prompt="a tiger", image=image(colour), seconds=1.25),
        ],
    )


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "arena.db")
    yield s
    s.close()


def test_open_creates_schema_with_foreign_keys_and_wal(tmp_path):
    store = Store.open(tmp_path / "sub" / "arena.db")
    assert {"runs", "judgments", "battles", "votes", "meta"} <= set(store.db.table_names())
    assert store.db.journal_mode == "wal"
    assert store.db.execute("pragma synchronous").fetchone()[0] == 2  # FULL: commits are synced to disk
    fks = {(fk.column, fk.other_table) for fk in store.db.table("votes").foreign_keys}
    assert ("battle_id", "battles") in fks
    store.close()


def test_unknown_journal_or_sync_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="synchronous 'off'"):
        Store.open(tmp_path / "arena.db", synchronous="off")
    assert not (tmp_path / "arena.db").exists()


def test_reopening_applies_no_migration_twice(tmp_path):
    Store.open(tmp_path / "arena.db").close()
    store = Store.open(tmp_path / "arena.db")
    applied = [m.name for m in migrations.applied(store.db)]
    assert applied == sorted(set(applied)) and "m001_initial" in applied
    assert migrations.pending(store.db) == []
    store.close()


def test_image_is_stored_under_the_sha256_of_its_png_bytes(store):
    img = image((1, 2, 3))
    sha = store.put_image(img)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    assert sha == hashlib.sha256(buffer.getvalue()).hexdigest()
    assert store.image_path(sha) == store.path.parent / "images" / sha[:2] / f"{sha}.png"
    assert store.put_image(image((1, 2, 3))) == sha  # same pixels, same file
    assert store.get_image(sha).getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "0" * 63, None])
def test_image_ids_that_are_not_sha256_are_refused(store, bad):
    with pytest.raises(ValueError, match="sha256"):
        store.image_path(bad)


def test_missing_image_names_the_folder(store):
    with pytest.raises(NotFound, match="images"):
        store.get_image("a" * 64)


def test_trace_round_trip_keeps_steps_and_images(store):
    trace = ueg_trace()
    run_id = store.save_trace(trace, "bundled")
    assert trace.steps[1].image_sha is not None
    loaded = store.load_trace(run_id)
    assert loaded.to_dict() == trace.to_dict()
    assert store.get_image(loaded.steps[1].image_sha).getpixel((0, 0)) == (200, 10, 10)
    row = store.run(run_id)
    assert (row["track"], row["task_type"], row["seed"], row["status"]) == (
        "UEG", "world_knowledge", 0, "ok")
    assert row["seconds"] == pytest.approx(1.75)


def test_saving_the_same_run_again_returns_the_existing_id_and_changes_nothing(store):
    first = store.save_trace(ueg_trace(colour=(0, 0, 255)), "bundled")
    again = ueg_trace(colour=(0, 255, 0))  # same key, different pixels
    assert store.save_trace(again, "bundled") == first
    kept = store.load_trace(first)
    assert store.get_image(kept.steps[1].image_sha).getpixel((0, 0)) == (0, 0, 255)
    assert len(store.runs()) == 1


def test_different_settings_or_dataset_are_different_runs(store):
    a = store.save_trace(ueg_trace(seed=0), "bundled")
    b = store.save_trace(ueg_trace(seed=1), "bundled")
    c = store.save_trace(ueg_trace(seed=0), "official")
    assert len({a, b, c}) == 3
    assert store.find_run("bundled", "UEG_3_world_knowledge", "tiny", "stepwise",
                          {"guidance": None, "steps": 2, "seed": 1}) == b  # key order is irrelevant
    assert store.find_run("bundled", "UEG_3_world_knowledge", "tiny", "direct", {"seed": 1}) is None


def test_runs_filters(store):
    store.save_trace(ueg_trace(model="m1", mode="direct"), "bundled")
    store.save_trace(ueg_trace(model="m2", mode="stepwise"), "bundled")
    geu = Trace("GEU_1_mental_tracking", "m1", "direct", {"seed": 0}, status=Status.NOT_SUPPORTED)
    store.save_trace(geu, "bundled")
    assert [r["model"] for r in store.runs(mode="direct")] == ["m1", "m1"]
    assert [r["instance_uid"] for r in store.runs(track="GEU")] == ["GEU_1_mental_tracking"]
    assert [r["status"] for r in store.runs(status="not_supported")] == ["not_supported"]
    assert store.runs(model="nobody") == []


def test_malformed_instance_uid_is_refused_before_anything_is_written(store):
    bad = Trace("world_knowledge_3", "tiny", "direct", {"seed": 0},
                steps=[Step(StepRole.GENERATED_IMAGE, prompt="p", image=image((9, 9, 9)))])
    with pytest.raises(ValueError, match="instance_uid 'world_knowledge_3'"):
        store.save_trace(bad, "bundled")
    assert store.runs() == []
    assert not store.images_dir.exists() or not any(store.images_dir.rglob("*.png"))


def test_missing_run_is_a_clear_error(store):
    with pytest.raises(NotFound, match="run 41"):
        store.load_trace(41)


def test_judgment_is_replaced_atomically_and_joined_with_its_run(store):
    run_id = store.save_trace(ueg_trace(), "bundled")
    first = {"kind": "polling", "score": 0, "details": {"verdicts": ["yes", "no"]}, "errors": 0}
    second = {"kind": "polling", "score": 1, "details": {"verdicts": ["yes", "yes"]}, "errors": 1}
    jid = store.save_judgment(run_id, "qwen", first)
    assert store.find_judgment(run_id, "qwen") == first
    assert store.save_judgment(run_id, "qwen", second) == jid
    assert store.find_judgment(run_id, "qwen") == second
    store.save_judgment(run_id, "gemini", first)
    rows = store.judgments(judge="qwen")
    assert len(rows) == 1
    assert (rows[0]["model"], rows[0]["mode"], rows[0]["track"], rows[0]["score"]) == (
        "tiny", "stepwise", "UEG", 1)
    assert len(store.judgments()) == 2
    assert store.find_judgment(run_id, "human") is None


def test_judgment_for_a_missing_run_or_without_fields_writes_nothing(store):
    with pytest.raises(NotFound, match="run 7"):
        store.save_judgment(7, "qwen", {"kind": "mcq", "score": 1, "details": {}, "errors": 0})
    run_id = store.save_trace(ueg_trace(), "bundled")
    with pytest.raises(ValueError, match=r"missing \['errors'\]"):
        store.save_judgment(run_id, "qwen", {"kind": "mcq", "score": 1, "details": {}})
    assert store.judgments() == []


def test_failed_write_rolls_back_every_row_of_the_transaction(store):
    with pytest.raises(sqlite3.IntegrityError):
        with store.write() as db:
            db.execute("insert into meta (key, value) values ('a', '1')")
            db.execute("insert into votes (battle_id, voter, choice, created_at)"
                       " values ('no-such-battle', 'v', 'A', 't')")  # foreign key violation
    assert store.query("select * from meta") == []


def test_concurrent_threads_saving_runs_lose_nothing(store):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for seed in range(10):
                store.save_trace(ueg_trace(model=f"m{n}", seed=seed, colour=(n, seed, 0)), "bundled")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.runs()) == 80


def test_backup_is_a_consistent_standalone_database(store, tmp_path):
    run_id = store.save_trace(ueg_trace(), "bundled")
    out = store.backup(tmp_path / "snap" / "copy.db")
    raw = sqlite3.connect(out)  # one self-contained file: no WAL needed to read it
    assert raw.execute("pragma journal_mode").fetchone()[0] == "delete"
    assert raw.execute("pragma integrity_check").fetchone()[0] == "ok"
    raw.close()
    copy = Store.open(out)
    assert copy.load_trace(run_id).to_dict() == store.load_trace(run_id).to_dict()
    copy.close()


def test_meta_value_is_created_once(store):
    assert store.meta("salt") is None
    first = store.meta("salt", lambda: "s1")
    assert store.meta("salt", lambda: "s2") == first == "s1"


def test_nested_writes_join_the_outer_transaction(store):
    with pytest.raises(RuntimeError):
        with store.write():
            store.meta("outer", lambda: "1")  # a write of its own, nested
            raise RuntimeError("abort the outer transaction")
    assert store.meta("outer") is None  # rolled back with the outer one
    with store.write():
        store.meta("outer", lambda: "2")
    assert store.meta("outer") == "2"
