"""The store on real SQLite files: runs, images, judgments, migrations, concurrency and backups."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import sqlite3
import stat
import threading
import time

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
    # FULL semantics: in WAL mode COMMIT writes the WAL (NORMAL) and walsync syncs it before acknowledging
    assert store.db.execute("pragma synchronous").fetchone()[0] == 1 and store._wal_sync is not None
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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_a_backup_is_exactly_as_readable_as_the_database(store, tmp_path, mode):
    """It was always 0600 (a temporary file's mode): a backup for a colleague or a cron job's reader could not
    be read by them, though the database could."""
    os.chmod(store.path, mode)
    out = store.backup(tmp_path / "copy.db")
    assert stat.S_IMODE(out.stat().st_mode) == mode
    out.chmod(0o666)  # a backup replacing an older one takes the database's mode, not the old file's
    assert stat.S_IMODE(store.backup(out).stat().st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and links")
def test_a_backup_keeps_only_the_databases_permission_bits_and_a_linked_out_stays_a_link(store, tmp_path):
    os.chmod(store.path, 0o2640)  # setgid: not a backup's to carry
    target = tmp_path / "backups" / "latest.db"
    target.parent.mkdir()
    target.write_bytes(b"an older backup")
    link = tmp_path / "latest.db"
    link.symlink_to(target)
    assert store.backup(link) == link
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    raw = sqlite3.connect(target)
    assert raw.execute("pragma integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_an_output_on_a_file_system_without_permissions_is_still_written(tmp_path, monkeypatch):
    """``chmod`` refused as unsupported (FAT, some network mounts) failed every backup and every output that
    replaced a file; the file is now written with the mode it was made with."""
    from realunify_arena import durable

    def refuse(path, mode):
        raise OSError(errno.EPERM, "Operation not permitted", str(path))

    out = tmp_path / "votes.csv"
    out.write_text("old")
    monkeypatch.setattr(durable.os, "chmod", refuse)
    durable.write_text(out, "new")
    assert out.read_text() == "new" and not list(tmp_path.glob("*.partial"))


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


# -- group commit ------------------------------------------------------------------------------


def inserting(key: str):
    """An operation for ``Store.apply`` that stores meta ``key`` = '1' and returns ``key``."""
    def operation(db):
        db.execute("insert into meta (key, value) values (?, '1')", (key,))
        return key
    return operation


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def traced(store: Store) -> list[str]:
    """Every statement the store's write connection runs from now on."""
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    return seen


def test_concurrent_operations_share_commits_and_each_is_committed_when_acknowledged(store):
    statements = traced(store)
    reader = sqlite3.connect(store.path)  # an independent connection: sees only committed rows
    missing_at_ack: list[str] = []
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(20):
            key = f"k{n}-{i}"
            store.apply(lambda db, key=key: db.execute("insert into meta (key, value) values (?, 'v')", (key,)))
            conn = sqlite3.connect(store.path)
            if conn.execute("select 1 from meta where key = ?", (key,)).fetchone() is None:
                missing_at_ack.append(key)
            conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store._conn.set_trace_callback(None)
    assert missing_at_ack == []
    assert reader.execute("select count(*) from meta").fetchone()[0] == 320
    commits = sum(s == "COMMIT" for s in statements)
    assert commits < 320  # some operations shared a commit (on one core every batch could be size 1,
    # but 16 threads each waiting on their sync leave queued work for the next committer)
    reader.close()


def in_one_batch(store: Store, operations: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    """Run ``operations`` (name -> operation) through ``store.apply``, all in one batch: a first operation holds
    its batch open (writing meta 'first') until every one of them is queued behind it. Returns each one's result
    (or the exception it raised) by name, and the statements run after the first batch's COMMIT."""
    started, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def blocker(db):
        started.set()
        release.wait(5)
        db.execute("insert into meta (key, value) values ('first', '1')")

    def run(name, op):
        try:
            results[name] = store.apply(op)
        except Exception as e:  # noqa: BLE001 - the caller asserts on it
            results[name] = e

    first = threading.Thread(target=run, args=("first", blocker))
    first.start()
    started.wait(5)  # the first batch is open (its committer drained the queue once it held the locks)
    queued = [threading.Thread(target=run, args=item) for item in operations.items()]
    for t in queued:
        t.start()
    wait_until(lambda: len(store._queue) == len(operations))
    statements = traced(store)
    release.set()
    for t in [first, *queued]:
        t.join()
    store._conn.set_trace_callback(None)
    return results, statements[statements.index("COMMIT") + 1:]


def test_a_refused_operation_in_a_batch_writes_nothing_and_sinks_nothing(store):
    def refused(db):
        db.execute("insert into meta (key, value) values ('refused', '1')")  # written, then undone
        raise LookupError("refused after writing")

    results, statements = in_one_batch(store, {"a": inserting("a"), "bad": refused, "b": inserting("b")})
    assert results["a"] == "a" and results["b"] == "b" and isinstance(results["bad"], LookupError)
    assert {r["key"] for r in store.query("select key from meta")} == {"first", "a", "b"}
    # the three queued operations in one transaction, a savepoint each
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert statements.count("SAVEPOINT op") == 3 and statements.count("ROLLBACK TO op") == 1
    assert statements.count("RELEASE op") == 3  # each released once run: none is open when the next one starts


def _sqlite_temp_files() -> list[str]:
    """The temporary files SQLite has open in this process (named ``etilqs_*``, unlinked once opened)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if "etilqs_" in target:
                found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists the open files through /proc")
def test_a_batch_keeps_sqlites_statement_journal_in_memory(store):
    """Issue 18: each operation of a batch changes pages the ones before it changed. With every operation's
    savepoint left open until COMMIT, SQLite journals those pages again for each savepoint, and its statement
    journal spills past 64 KiB into a temporary file written page by page (https://www.sqlite.org/tempfiles.html,
    "Statement Journal Files"). Here 30 operations of 5 rows on 5 pages each (about 20 KiB per operation, 600 KiB
    with their savepoints all open) run in one batch; no temporary file may be open during any of them."""
    with store.write() as db:  # 400 rows of 400 bytes: about 9 a page, so every 80th row is on a page of its own
        db.conn.executemany("insert into meta (key, value) values (?, ?)",
                            [(f"fill{i}", "x" * 400) for i in range(400)])
    seen: list[list[str]] = []

    def rewrite(n):
        def operation(db):
            db.execute("update meta set value = ? where key in ('fill0', 'fill80', 'fill160', 'fill240', 'fill320')",
                       (f"{n:02d}" * 200,))  # 400 bytes, as before: no row moves
            seen.append(_sqlite_temp_files())
        return operation

    results, statements = in_one_batch(store, {str(n): rewrite(n) for n in range(30)})
    assert statements.count("SAVEPOINT op") == 30 and statements.count("COMMIT") == 1  # one batch of 30
    assert [results[str(n)] for n in range(30)] == [None] * 30
    assert len(seen) == 30 and all(files == [] for files in seen), [(i, f) for i, f in enumerate(seen) if f][:3]


def test_operations_are_acknowledged_only_if_their_commit_succeeds(store):
    """A COMMIT that fails (here: a deferred foreign key) fails every operation of its batch."""
    def dangling(db):
        db.execute("pragma defer_foreign_keys = on")
        db.execute("insert into votes (battle_id, voter, choice, created_at) values ('none', 'v', 'A', 't')")

    with pytest.raises(sqlite3.IntegrityError):
        store.apply(dangling)
    assert store.query("select * from votes") == []
    store.apply(lambda db: db.execute("insert into meta (key, value) values ('after', '1')"))
    assert store.meta("after") == "1"  # the connection is usable again


def test_writes_after_close_are_each_refused_and_none_waits_forever(tmp_path):
    """BEGIN fails on a closed store and so does the ROLLBACK after it: the failing batch must still
    release the lead, or every later writer (and any writer queued when close() ran) waits forever."""
    store = Store.open(tmp_path / "arena.db")
    store.close()
    for _ in range(3):
        outcome = []

        def write():
            try:
                store.apply(lambda db: db.execute("insert into meta (key, value) values ('k', 'v')"))
            except sqlite3.ProgrammingError as e:
                outcome.append(str(e))

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(5)
        assert not writer.is_alive(), "apply on a closed store hangs"
        assert outcome == ["Cannot operate on a closed database."]


def test_a_lone_write_runs_no_savepoint(store):
    statements = traced(store)
    store.apply(lambda db: db.execute("insert into meta (key, value) values ('a', '1')"))
    with store.write() as db:
        db.execute("insert into meta (key, value) values ('b', '1')")
    store._conn.set_trace_callback(None)
    assert statements == ["BEGIN IMMEDIATE", "insert into meta (key, value) values ('a', '1')", "COMMIT",
                          "BEGIN IMMEDIATE", "insert into meta (key, value) values ('b', '1')", "COMMIT"]


def test_a_battle_runs_at_most_21_statements(store):
    """Issue + deliver A + deliver B + vote: 33 statements before group commit; 21 suffice (issue 18)."""
    from realunify_arena.arena import Arena
    arena = Arena(store, max_votes=100)
    runs = {s: store.save_trace(Trace("UEG_3_world_knowledge", s.split(":")[0], "direct", {"seed": 0}), "b")
            for s in ("m1:direct", "m2:direct")}
    statements = traced(store)
    battle = arena.new_battle("s", "hf:v", "UEG_3_world_knowledge", "b", "m1:direct", "m2:direct",
                              "model_vs_model")
    arena.deliver(battle, "s", "A", runs["m1:direct"])
    arena.deliver(battle, "s", "B", runs["m2:direct"])
    arena.vote(battle, "s", "hf:v", "A")
    store._conn.set_trace_callback(None)
    assert len(statements) <= 21, statements
    assert not any(s.startswith(("SAVEPOINT", "PRAGMA")) for s in statements), statements


def test_reads_see_committed_rows_and_a_write_sees_its_own(store):
    with store.write():
        store.apply(lambda db: db.execute("insert into meta (key, value) values ('inner', '1')"))
        assert store.meta("inner") == "1"  # same thread, inside the transaction: its own row
        seen_elsewhere = []
        t = threading.Thread(target=lambda: seen_elsewhere.append(store.meta("inner")))
        t.start()
        t.join()
        assert seen_elsewhere == [None]  # another thread reads committed data only, without waiting
    assert store.meta("inner") == "1"


# -- arena pins and human judgments -------------------------------------------------------------


def test_pinned_runs_are_what_eval_or_an_explicit_pin_marks(store):
    explore = store.save_trace(ueg_trace(seed=999), "bundled")
    evaluated = store.save_trace(ueg_trace(seed=0), "bundled", pin=True)
    assert [r["id"] for r in store.runs(pinned=True)] == [evaluated]
    assert [r["id"] for r in store.runs(pinned=False)] == [explore]
    assert store.run(evaluated)["pinned_at"] is not None and store.run(explore)["pinned_at"] is None
    assert store.pin([explore, evaluated]) == 1  # only the unpinned one changed
    assert len(store.runs(pinned=True)) == 2
    assert store.pin([explore], pinned=False) == 1
    with pytest.raises(NotFound, match=r"runs \[77\]"):
        store.pin([evaluated, 77], pinned=False)
    assert store.run(evaluated)["pinned_at"] is not None  # a refused pin changes nothing
    # saving the same run again with pin=True pins the stored one
    assert store.save_trace(ueg_trace(seed=999), "bundled", pin=True) == explore
    assert store.run(explore)["pinned_at"] is not None


def test_human_judgments_are_kept_per_voter_and_aggregated_by_majority(store):
    run_id = store.save_trace(ueg_trace(), "bundled")
    yes = {"kind": "polling", "score": 1, "details": {"verdicts": ["yes"]}}
    no = {"kind": "polling", "score": 0, "details": {"verdicts": ["no"]}}
    assert store.human_verdict(run_id) is None
    store.save_human_judgment(run_id, "hf:alice", yes)
    store.save_human_judgment(run_id, "hf:bob", no)
    assert store.human_verdict(run_id)["score"] is None  # 1 to 1: undecided
    store.save_human_judgment(run_id, "anon:ip1:s1", yes)
    verdict = store.human_verdict(run_id)
    assert verdict["score"] == 1 and verdict["details"]["voters"] == 3
    assert (verdict["details"]["yes"], verdict["details"]["no"]) == (2, 1)
    store.save_human_judgment(run_id, "hf:alice", no)  # alice changes her mind: replaces only hers
    assert [(j["voter"], j["score"]) for j in store.human_judgments(run_id)] == [
        ("hf:alice", 0), ("hf:bob", 0), ("anon:ip1:s1", 1)]
    assert store.human_verdict(run_id)["score"] == 0
    assert store.human_verdicts() == {run_id: store.human_verdict(run_id)}


def test_human_judgments_are_rate_limited_per_rate_key_and_a_refusal_writes_nothing(store):
    from realunify_arena.store import RateLimited
    runs = [store.save_trace(ueg_trace(seed=s), "bundled") for s in range(4)]
    judgment = {"kind": "polling", "score": 1, "details": {}}
    for session, run_id in zip(("s1", "s2"), runs):
        store.save_human_judgment(run_id, f"anon:ip1:{session}", judgment, rate_key="anon:ip1",
                                  max_per_window=2)
    with pytest.raises(RateLimited, match="at most 2 judgments per 60 s"):
        store.save_human_judgment(runs[2], "anon:ip1:s3", judgment, rate_key="anon:ip1", max_per_window=2)
    store.save_human_judgment(runs[2], "anon:ip2:s4", judgment, rate_key="anon:ip2", max_per_window=2)
    assert store.human_verdicts().keys() == {runs[0], runs[1], runs[2]}
    with pytest.raises(NotFound):
        store.save_human_judgment(99, "hf:x", judgment)


def test_one_person_judging_a_run_from_several_sessions_counts_once(store):
    """hunt26b: a visitor who reloaded the page (a new session, so a new voter id ``anon:<address>:<session>``)
    could save a judgment of the same run again, and each counted as another voter: one address outvoted two
    other people (3 against 2). A person's judgment of a run is one, keyed as the rate limit keys the person
    (``rate_key``: the address, or the username), the latest kept; other people's stay."""
    run_id = store.save_trace(ueg_trace(seed=1), "bundled")
    yes = {"kind": "polling", "score": 1, "details": {"verdicts": ["yes"]}}
    no = {"kind": "polling", "score": 0, "details": {"verdicts": ["no"]}}
    store.save_human_judgment(run_id, "anon:ip2:s8", yes, rate_key="anon:ip2", max_per_window=30)
    store.save_human_judgment(run_id, "hf:bob", yes, rate_key="hf:bob", max_per_window=30)
    for session in ("s1", "s2", "s3"):  # one address, three page loads
        store.save_human_judgment(run_id, f"anon:ip1:{session}", no, rate_key="anon:ip1", max_per_window=30)
    assert sorted(j["voter"] for j in store.human_judgments(run_id)) == [  # each stored (verify26a)
        "anon:ip1:s1", "anon:ip1:s2", "anon:ip1:s3", "anon:ip2:s8", "hf:bob"]
    verdict = store.human_verdict(run_id)  # 2 people said yes, 1 said no
    assert verdict["score"] == 1 and verdict["details"]["voters"] == 3, verdict
    assert store.human_verdicts() == {run_id: verdict}


def test_a_person_judging_again_from_another_session_deletes_nothing(store):
    """verify26a: saving a judgment deleted the run's judgments by every other session of the same address, so
    in a classroom behind one NAT address each student's saved judgment silently erased the previous students'
    (nothing stored may be lost). Each session's judgment stays stored; the verdict counts the address once."""
    run_id = store.save_trace(ueg_trace(seed=1), "bundled")
    yes = {"kind": "polling", "score": 1, "details": {"verdicts": ["yes"]}}
    no = {"kind": "polling", "score": 0, "details": {"verdicts": ["no"]}}
    for session, judgment in (("s1", yes), ("s2", no), ("s3", yes)):  # three students, one address
        store.save_human_judgment(run_id, f"anon:ip1:{session}", judgment, rate_key="anon:ip1", max_per_window=30)
    assert [(j["voter"], j["score"]) for j in store.human_judgments(run_id)] == [
        ("anon:ip1:s1", 1), ("anon:ip1:s2", 0), ("anon:ip1:s3", 1)]
    verdict = store.human_verdict(run_id)
    assert (verdict["score"], verdict["details"]["voters"]) == (1, 1), verdict


YES = {"kind": "polling", "score": 1, "details": {"verdicts": ["yes"]}}
NO = {"kind": "polling", "score": 0, "details": {"verdicts": ["no"]}}


def _merged_nodes(tmp_path, nodes, *, order=None) -> tuple[Store, dict]:
    """Stores ``{name}.db``, made in ``nodes``' order, each with the same run judged by (voter, judgment) pairs,
    merged by the ``merge`` command (in ``order`` of names) into ``all.db``: (that store open, its one run)."""
    from realunify_arena.cli import main

    for name, judged in nodes:
        node = Store.open(tmp_path / f"{name}.db")
        run_id = node.save_trace(ueg_trace(seed=1), "bundled")
        for voter, judgment in judged:
            node.save_human_judgment(run_id, voter, judgment, rate_key=":".join(voter.split(":")[:2]))
        node.close()
    target = tmp_path / "all.db"
    sources = [str(tmp_path / f"{name}.db") for name in (order or [name for name, _ in nodes])]
    assert main(["merge", *sources, "--db", str(target)]) == 0
    merged = Store.open(target)
    (run,) = merged.runs()
    return merged, run


def test_one_person_counts_once_in_a_merged_store_and_in_an_old_one(tmp_path, capsys):
    """verify26a: the per-person rule was kept only when a judgment was saved, so a person's judgments from two
    sessions counted twice wherever both rows exist: after ``merge`` of two nodes each judged from one address
    (a tie of 2 to 2 where the people are 2 yes, 1 no), and in a store written before the rule (its rows stay).
    The verdict counts one judgment per person (``rate_key``), the latest."""
    merged, run = _merged_nodes(tmp_path, (("a", (("anon:ip1:s1", NO), ("hf:bob", YES))),
                                           ("b", (("anon:ip1:s2", NO), ("anon:ip2:s8", YES)))))
    verdict = merged.human_verdict(run["id"])  # people: ip1 no, bob yes, ip2 yes
    assert (verdict["score"], verdict["details"]["voters"], verdict["details"]["no"]) == (1, 3, 1), verdict
    merged.close()
    # a store written before the rule: one address's three page loads said no, two people yes (rows as stored)
    with sqlite3.connect(tmp_path / "b.db") as db:
        for voter, score in (("anon:ip1:s3", 0), ("anon:ip1:s4", 0), ("hf:cy", 1)):
            db.execute("insert into human_judgments (run_id, voter, kind, score, details, created_at)"
                       " values (1, ?, 'polling', ?, '{}', '2026-01-01T00:00:00')", (voter, score))
    old = Store.open(tmp_path / "b.db")
    verdict = old.human_verdict(1)  # people: ip1 no, ip2 yes, cy yes
    assert (verdict["score"], verdict["details"]["voters"]) == (1, 3), verdict
    assert old.human_verdicts() == {1: verdict}
    old.close()


def old_store_with_human_judgment(tmp_path, score: int) -> None:
    """An arena.db as written before m002: one run judged by a person, as judge 'human', details ``{}``."""
    from sqlite_utils import Database
    old = Database(tmp_path / "arena.db")
    migrations.apply(old, stop_before="m002_arena_pins_and_human_judgments")
    old.execute("insert into runs (dataset, instance_uid, track, task_type, model, mode, settings_key, status,"
                " created_at, trace) values ('b', 'UEG_1_x', 'UEG', 'x', 'm', 'direct', '{}', 'ok', 't', '{}')")
    old.execute("insert into judgments (run_id, judge, kind, score, details, errors, created_at)"
                " values (1, 'human', 'polling', ?, '{}', 0, 't')", (score,))
    old.conn.commit()
    old.close()


def test_an_old_database_is_upgraded_keeping_its_human_judgment_as_a_legacy_voter(tmp_path):
    old_store_with_human_judgment(tmp_path, 1)
    store = Store.open(tmp_path / "arena.db")
    assert [(j["voter"], j["score"]) for j in store.human_judgments(1)] == [("legacy", 1)]
    assert store.runs(pinned=True) == [] and len(store.runs()) == 1  # upgraded runs are not offered
    store.close()


def test_writes_queued_while_another_process_holds_the_database_share_one_commit(store):
    """The committer drains the queue only once it holds ``<db>.lock``: what queued meanwhile joins its batch."""
    import fcntl
    other = os.open(f"{store.path}.lock", os.O_RDWR)  # another open file: flock treats it as another process
    fcntl.flock(other, fcntl.LOCK_EX)
    statements = traced(store)
    threads = [threading.Thread(target=store.apply, args=(
        lambda db, k=k: db.execute("insert into meta (key, value) values (?, '1')", (f"q{k}",)),))
        for k in range(5)]
    for t in threads:
        t.start()
    wait_until(lambda: len(store._queue) == 5)  # the leader waits on the lock; nothing was drained yet
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    for t in threads:
        t.join()
    store._conn.set_trace_callback(None)
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert {r["key"] for r in store.query("select key from meta")} == {f"q{k}" for k in range(5)}


def test_a_voter_without_per_question_answers_still_counts_in_the_human_verdict(tmp_path):
    """An old store's human judgment (voter ``legacy``, details ``{}``: no per-question answers) beside a
    new voter's per-question judgment. Neither voter may be dropped: the questions of one voter alone
    cannot make the run's verdict, so the voters' scores decide (the rule such judgments had): 0 against 1
    is a tie (undecided), and a second passing voter makes it 2 to 1, a pass."""
    old_store_with_human_judgment(tmp_path, 0)
    store = Store.open(tmp_path / "arena.db")
    passed = {"kind": "polling", "score": 1, "details": {"questions": [
        {"question": "Is there a cat?", "expected": "yes", "verdict": "yes", "correct": True},
        {"question": "Is it red?", "expected": "no", "verdict": "no", "correct": True}]}}
    store.save_human_judgment(1, "hf:alice", passed)
    verdict = store.human_verdict(1)
    assert verdict["details"]["voters"] == 2 and (verdict["details"]["yes"], verdict["details"]["no"]) == (1, 1)
    assert verdict["score"] is None  # legacy said 0, alice said 1: a tie, not alice's pass
    assert "scores" in verdict["details"]["rule"]  # the rule stated is the one applied
    store.save_human_judgment(1, "hf:bob", passed)
    assert store.human_verdict(1)["score"] == 1
    store.close()



class _Interrupted(BaseException):
    """Stands for KeyboardInterrupt/SystemExit reaching the thread that syncs a batch (not an ``OSError``)."""


def test_an_interrupted_sync_acknowledges_no_operation_of_its_batch(tmp_path, monkeypatch):
    """A batch's sync ended by a BaseException (Ctrl-C, SystemExit) never confirmed the commit on disk: the
    thread that led the batch gets that exception, every other operation of the batch an error, none its value
    (the old code acknowledged them all); the lead is not lost, and the next write is acknowledged."""
    import fcntl
    from realunify_arena import walsync
    from realunify_arena.store import StoreError, _open_lock_file
    path = tmp_path / "arena.db"
    store = Store.open(path)
    real = walsync._sync_file
    interrupted = []

    def interrupted_sync(fd):
        if not interrupted:
            interrupted.append(fd)
            raise _Interrupted
        real(fd)

    outcomes: dict[str, object] = {}

    def write(name):
        try:
            outcomes[name] = store.apply(inserting(name))
        except BaseException as e:  # noqa: BLE001 - recorded for the assertions
            outcomes[name] = e

    other_process = _open_lock_file(path)  # holds the write lock: both writes gather into one batch
    fcntl.flock(other_process, fcntl.LOCK_EX)
    monkeypatch.setattr(walsync, "_sync_file", interrupted_sync)
    try:
        threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
        for t in threads:
            t.start()
        wait_until(lambda: len(store._queue) == 2)
    finally:
        fcntl.flock(other_process, fcntl.LOCK_UN)
        os.close(other_process)
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a writer of the interrupted batch got no outcome"
    assert interrupted, "the batch was not synced"
    kinds = sorted(type(o).__name__ for o in outcomes.values())
    assert kinds == ["StoreError", "_Interrupted"], outcomes  # neither "a" nor "b": nothing acknowledged
    assert "interrupted" in str(next(o for o in outcomes.values() if isinstance(o, StoreError)))
    done = threading.Thread(target=write, args=("c",))
    done.start()
    done.join(10)
    assert outcomes.get("c") == "c"  # the lead was handed on; a later sync covers it
    store.close()


@pytest.mark.parametrize("batch", [1, 3])
def test_an_operation_that_swallows_the_error_sqlite_ended_the_transaction_with_is_not_acknowledged(tmp_path,
                                                                                                    batch):
    """An operation may catch an SQLite error itself and return; if that error ended the whole transaction
    (``RAISE(ROLLBACK)`` in a trigger here; a full disk or an I/O error alike), the batch's earlier writes are
    gone. Every operation acknowledged must have its row stored: the old code acknowledged them all (a batch's
    ``RELEASE op`` used to notice the transaction was gone; a batch of one never did)."""
    import fcntl
    import sqlite3
    from realunify_arena.store import _open_lock_file
    path = tmp_path / "arena.db"
    store = Store.open(path)
    store.db.execute("create temp trigger boom before insert on meta when new.key = 'boom'"
                     " begin select raise(rollback, 'the transaction is ended'); end")

    def swallowing(db):
        try:
            db.execute("insert into meta (key, value) values ('boom', '1')")
        except sqlite3.IntegrityError:  # taken for "already there"
            pass
        return "swallowing"

    operations = ([inserting("first")] if batch > 1 else []) + [swallowing] + ([inserting("last")] if batch > 1 else [])
    outcomes: dict[int, object] = {}

    def write(i):
        try:
            outcomes[i] = store.apply(operations[i])
        except Exception as e:  # noqa: BLE001 - recorded for the assertions
            outcomes[i] = e

    other_process = _open_lock_file(path)  # holds the write lock: the writes gather into one batch
    fcntl.flock(other_process, fcntl.LOCK_EX)
    threads = []
    try:
        for i in range(len(operations)):
            threads.append(threading.Thread(target=write, args=(i,)))
            threads[-1].start()
            wait_until(lambda: len(store._queue) == len(threads))
    finally:
        fcntl.flock(other_process, fcntl.LOCK_UN)
        os.close(other_process)
    for t in threads:
        t.join(10)
    stored = {r["key"] for r in store.query("select key from meta")}
    for i, outcome in outcomes.items():
        if isinstance(outcome, str) and outcome != "swallowing":
            assert outcome in stored, f"{outcome!r} acknowledged but not stored"
    assert not isinstance(outcomes[operations.index(swallowing)], str), "acknowledged although SQLite rolled it back"
    if batch > 1:
        assert outcomes[2] == "last" and "last" in stored  # the next operation runs in a new transaction
    store.close()


def test_two_polling_questions_worded_alike_keep_their_own_majorities(store):
    """A RealUnify instance may ask the same words twice with different expected answers (e.g. one question
    about each of two images of a panel). The voters' answers were grouped by the question's text, so the two
    questions became one majority over both lists: here 4 "yes" against 2 "no", compared with the first
    question's expected "yes" only. By the official rule (each polling question judged, then all-or-nothing),
    by hand: question 1 expected yes, voters yes/yes/yes -> right; question 2 expected no, voters
    yes/no/no -> majority no, right; so the run scores 1 with two questions."""
    run_id = store.save_trace(ueg_trace(), "bundled")

    def judged(second: str) -> dict:
        items = [{"question": "Is the animal a cat?", "expected": "yes", "verdict": "yes", "correct": True},
                 {"question": "Is the animal a cat?", "expected": "no", "verdict": second,
                  "correct": second == "no"}]
        return {"kind": "polling", "score": int(all(i["correct"] for i in items)), "details": {"questions": items}}

    for voter, second in (("hf:a", "yes"), ("hf:b", "no"), ("hf:c", "no")):
        store.save_human_judgment(run_id, voter, judged(second))
    verdict = store.human_verdict(run_id)
    questions = verdict["details"]["questions"]
    assert [(q["expected"], q["verdict"], q["voters"]) for q in questions] == [("yes", "yes", 3), ("no", "no", 3)]
    assert verdict["score"] == 1 and verdict["errors"] == 0


def test_a_persons_latest_judgment_is_the_latest_made_not_the_latest_merged(tmp_path):
    """verify26a: merging node b, then node a, stores a's judgment after b's although the person made it first
    (and merge stamped each copied judgment with the time of the merge); their latest judgment, the one the
    verdict counts, is the one made last (``created_at``, kept by merge)."""
    # a's judgment made first, merged last
    merged, run = _merged_nodes(tmp_path, (("a", (("anon:ip1:s1", YES),)), ("b", (("anon:ip1:s2", NO), ("hf:cy", NO)))),
                                order=("b", "a"))
    verdict = merged.human_verdict(run["id"])  # ip1's latest: no; cy: no
    assert (verdict["score"], verdict["details"]["voters"], verdict["details"]["no"]) == (0, 2, 2), verdict
    made = {}
    for name in ("a", "b"):
        node = Store.open(tmp_path / f"{name}.db")
        made |= {j["voter"]: j["created_at"] for j in node.human_judgments(1)}
        node.close()
    assert {j["voter"]: j["created_at"] for j in merged.human_judgments(run["id"])} == made
    merged.close()


def test_a_person_judging_again_from_an_earlier_session_counts_that_judgment(store):
    """verify26a: judging again from a session that judged before updates that session's row in place, so the
    row order no longer follows when each judgment was made: sessions s1 (yes), s2 (no), then s1 again (yes)
    counted s2's "no" as the person's latest. The latest made (``created_at``) counts."""
    run_id = store.save_trace(ueg_trace(seed=1), "bundled")
    yes = {"kind": "polling", "score": 1, "details": {"verdicts": ["yes"]}}
    no = {"kind": "polling", "score": 0, "details": {"verdicts": ["no"]}}
    for voter, judgment in (("anon:ip1:s1", yes), ("anon:ip1:s2", no), ("anon:ip1:s1", yes), ("hf:cy", no),
                            ("hf:dee", yes)):
        store.save_human_judgment(run_id, voter, judgment, rate_key=":".join(voter.split(":")[:2]))
    verdict = store.human_verdict(run_id)  # people: ip1 yes (its latest), cy no, dee yes
    assert (verdict["score"], verdict["details"]["voters"], verdict["details"]["yes"]) == (1, 3, 2), verdict
