"""Snapshots, push and restore-on-boot. The Hub is replaced by a folder (there is no network in tests);
the CommitScheduler, the store and the snapshot files are real."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import astuple
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from failing_sync import files_may_not_grow_past
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError, RepositoryNotFoundError
from PIL import Image

from realunify_arena.arena import SALT_ENV, SALT_META_KEY, Arena
from realunify_arena.persistence import EVERY_ENV, REPO_ENV, SNAPSHOT, open_store, repo_settings, restore, snapshot
from realunify_arena.settings import SettingsError
from realunify_arena.store import Store, StoreError
from realunify_arena.systems import System
from realunify_arena.trace import Status, Step, StepRole, Trace


class FolderHub(HfApi):
    """Keeps each dataset repo as a folder and counts the commits made to it. Its newest commit id (``repo_info``'s
    ``sha``) is kept beside the folder, so two stand-ins on one root are two replicas talking to one Hub; a commit
    whose ``parent_commit`` is not the newest is refused as the Hub refuses it (an HTTP error, nothing written)."""

    def __init__(self, root: Path):
        super().__init__(token="hf_folderHubStandInToken")  # never sent: every Hub call is answered here
        self.root = root
        self.commits: list[list[str]] = []

    def _head_file(self, repo_id) -> Path:
        return self.root / f"{repo_id}.head"

    def _head(self, repo_id) -> str:
        head = self._head_file(repo_id)
        return head.read_text() if head.exists() else "0" * 40  # a repo made by hand: its first commit

    def create_repo(self, repo_id, **kwargs):
        if not (self.root / repo_id).is_dir():
            (self.root / repo_id).mkdir(parents=True)
            self._head_file(repo_id).write_text(hashlib.sha1(f"{repo_id} created".encode()).hexdigest())
        return SimpleNamespace(repo_id=repo_id)

    def repo_exists(self, repo_id, **kwargs):
        return (self.root / repo_id).is_dir()

    def repo_info(self, repo_id, **kwargs):
        if not self.repo_exists(repo_id):
            raise RepositoryNotFoundError(f"404: {repo_id}", response=httpx2.Response(404, request=_REQUEST))
        return SimpleNamespace(id=repo_id, sha=self._head(repo_id))

    def auth_check(self, repo_id, **kwargs):
        pass  # the folder's owner may write

    def create_commit(self, repo_id, operations, parent_commit=None, **kwargs):
        if parent_commit is not None and parent_commit != self._head(repo_id):  # the Hub's answer, as it words it
            raise HfHubHTTPError("412 Precondition Failed: A commit has happened since. Please refresh and try again.",
                                 response=httpx2.Response(412, request=_REQUEST))
        self.commits.append(sorted(op.path_in_repo for op in operations))
        for op in operations:
            target = self.root / repo_id / op.path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            with op.as_file() as f:
                target.write_bytes(f.read())
        head = hashlib.sha1(f"{self._head(repo_id)} {self.commits[-1]}".encode()).hexdigest()
        self._head_file(repo_id).write_text(head)
        return SimpleNamespace(oid=head)

    def snapshot_download(self, repo_id, local_dir, allow_patterns=None, **kwargs):
        shutil.copytree(self.root / repo_id, local_dir, dirs_exist_ok=True)
        return str(local_dir)

    def file_exists(self, repo_id, filename, **kwargs):
        return (self.root / repo_id / filename).is_file()

    def get_paths_info(self, repo_id, paths, **kwargs):
        return [SimpleNamespace(path=path) for path in paths if self.file_exists(repo_id, path)]

    def hf_hub_download(self, repo_id, filename, local_dir, **kwargs):
        if not self.file_exists(repo_id, filename):
            raise RemoteEntryNotFoundError(f"404: {filename}", response=httpx2.Response(404, request=_REQUEST))
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.root / repo_id / filename, target)
        return str(target)


_REQUEST = httpx2.Request("GET", "https://huggingface.co/api/datasets")  # what the stand-in's errors answer


@pytest.fixture(autouse=True)
def no_salt_env(monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)


def cast_vote(store: Store, n: int) -> None:
    arena = Arena(store, max_votes=10_000)
    uid = f"UEG_{n}_world_knowledge"
    battle = arena.new_battle(f"s{n}", "hf:alice", uid, "bundled", "m1:direct", "m2:direct",
                              "model_vs_model")
    for side, system in (("A", "m1:direct"), ("B", "m2:direct")):
        model, mode = astuple(System.parse(system))
        trace = Trace(uid, model, mode, {"seed": n},
                      steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (3, 3), n % 256))])
        arena.deliver(battle, f"s{n}", side, store.save_trace(trace, "bundled"))
    arena.vote(battle, f"s{n}", "hf:alice", "A")


def test_without_a_configured_repo_nothing_is_pushed(tmp_path):
    hub = FolderHub(tmp_path / "hub")
    store, scheduler = open_store(tmp_path / "data" / "arena.db", env={}, api=hub)
    cast_vote(store, 1)
    assert scheduler is None
    assert hub.commits == [] and not (tmp_path / "hub").exists()
    assert not (tmp_path / "data" / SNAPSHOT).exists()
    store.close()


@contextlib.contextmanager
def votes_streaming_in(store: Store, first: int):
    """Votes keep being cast on another thread while the block runs (a live app being backed up)."""
    stop = threading.Event()

    def writer() -> None:
        n = first
        while not stop.is_set():
            cast_vote(store, n)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_snapshot_is_consistent_while_votes_are_written_and_has_no_salt(tmp_path):
    store = Store.open(tmp_path / "arena.db")
    Arena(store)  # generates and stores the voter salt
    snapshots = []
    with votes_streaming_in(store, first=0):
        for i in range(5):
            out = tmp_path / f"snap{i}.sqlite"
            snapshot(store, out)
            snapshots.append(out)
    counts = []
    for out in snapshots:
        conn = sqlite3.connect(out)
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("pragma foreign_key_check").fetchall() == []
        assert conn.execute("select count(*) from meta where key = ?", (SALT_META_KEY,)).fetchone()[0] == 0
        counts.append(conn.execute("select count(*) from votes").fetchone()[0])
        conn.close()
    assert counts == sorted(counts)
    assert store.meta(SALT_META_KEY) is not None  # the live database keeps it
    store.close()


def test_unchanged_database_is_not_snapshotted_again(tmp_path):
    store = Store.open(tmp_path / "arena.db")
    cast_vote(store, 1)
    out = tmp_path / SNAPSHOT
    assert snapshot(store, out) is True
    assert snapshot(store, out) is False
    cast_vote(store, 2)
    assert snapshot(store, out) is True
    store.close()


def test_votes_survive_a_restart_through_the_dataset_repo(tmp_path):
    hub = FolderHub(tmp_path / "hub")
    env = {REPO_ENV: "me/arena-votes", EVERY_ENV: "60"}
    store, scheduler = open_store(tmp_path / "space1" / "arena.db", env=env, api=hub)
    scheduler.trigger().result()  # the push at start-up (an empty store)
    cast_vote(store, 1)
    cast_vote(store, 2)
    scheduler.trigger().result()
    scheduler.stop()
    pushed = hub.commits[-1]
    assert SNAPSHOT in pushed and all(p == SNAPSHOT or p.startswith("images/") for p in pushed)
    assert not any(p.startswith("arena.db") for commit in hub.commits for p in commit)  # never the live file
    assert scheduler.trigger().result() is None  # stopped: nothing more is pushed
    expected = [(v["battle_id"], v["choice"]) for v in store.votes()]
    store.close()

    # A fresh Space: empty disk, same repo.
    commits_before = len(hub.commits)
    restored, scheduler2 = open_store(tmp_path / "space2" / "arena.db", env=env, api=hub)
    scheduler2.trigger().result()
    scheduler2.stop()
    pushed_back = [p for commit in hub.commits[commits_before:] for p in commit]
    assert not any(p.startswith("images/") for p in pushed_back)  # what came from the repo stays there
    assert [(v["battle_id"], v["choice"]) for v in restored.votes()] == expected
    run = restored.load_trace(restored.votes()[0]["run_a"])
    assert restored.get_image(run.steps[0].image_sha).size == (3, 3)  # images came back too
    restored.close()


def test_existing_local_database_is_not_overwritten_by_the_repo(tmp_path):
    hub = FolderHub(tmp_path / "hub")
    (tmp_path / "hub" / "me" / "repo").mkdir(parents=True)
    store = Store.open(tmp_path / "arena.db")
    cast_vote(store, 1)
    store.close()
    assert restore(tmp_path / "arena.db", "me/repo", hub) is False
    assert len(Store.open(tmp_path / "arena.db").votes()) == 1


def repo_with_votes(tmp_path) -> tuple[FolderHub, Path, list[tuple[str, str]]]:
    """A folder hub whose dataset repo me/repo holds a snapshot of 24 votes: the hub, the repo's folder and the
    votes' sorted (battle_id, choice)."""
    hub = FolderHub(tmp_path / "hub")
    repo = tmp_path / "hub" / "me" / "repo"
    repo.mkdir(parents=True)
    old = Store.open(tmp_path / "old" / "arena.db")
    for n in range(1, 25):
        cast_vote(old, n)
    snapshot(old, repo / SNAPSHOT)
    expected = sorted((v["battle_id"], v["choice"]) for v in old.votes())
    old.close()
    return hub, repo, expected


def test_a_restore_cut_short_leaves_no_database_so_the_next_boot_restores_again(tmp_path):
    """The disk fills while the snapshot is copied into place (``RLIMIT_FSIZE``: a real short write). Before,
    the half-copied file stayed as ``arena.db``, and the next boot took it for persistent storage ("an
    existing database wins") instead of restoring the repo's votes."""
    hub, repo, expected = repo_with_votes(tmp_path)
    size = (repo / SNAPSHOT).stat().st_size
    db = tmp_path / "space" / "arena.db"

    with contextlib.ExitStack() as full:
        class FillsUpAfterTheDownload(FolderHub):
            def snapshot_download(self, *args, **kwargs):
                folder = super().snapshot_download(*args, **kwargs)
                full.enter_context(files_may_not_grow_past(size // 2))
                return folder

        with pytest.raises(OSError):
            restore(db, "me/repo", FillsUpAfterTheDownload(tmp_path / "hub"))
    assert not db.exists(), "a half-copied database was left to win the next boot"
    assert not list(db.parent.glob("*.partial"))

    assert restore(db, "me/repo", hub) is True  # the next boot, with room
    restored = Store.open(db)
    assert sorted((v["battle_id"], v["choice"]) for v in restored.votes()) == expected
    restored.close()


def test_missing_repo_starts_empty_but_other_failures_stop_the_boot(tmp_path):
    hub = FolderHub(tmp_path / "hub")
    assert restore(tmp_path / "a" / "arena.db", "me/new", hub) is False

    class BrokenHub(FolderHub):
        def snapshot_download(self, *args, **kwargs):
            raise OSError("connection reset")

    broken = BrokenHub(tmp_path / "hub")
    (tmp_path / "hub" / "me" / "kept").mkdir(parents=True)
    with pytest.raises(OSError, match="connection reset"):
        open_store(tmp_path / "b" / "arena.db", env={REPO_ENV: "me/kept"}, api=broken)
    assert broken.commits == []  # nothing pushed over the kept votes


@pytest.mark.parametrize("env, expected", [
    ({REPO_ENV: "me/repo", EVERY_ENV: "0"}, f"{EVERY_ENV}: expected a number of minutes above 0 and at most"),
    ({REPO_ENV: "me/repo", EVERY_ENV: "five"}, f"{EVERY_ENV}: expected a number of minutes"),
    # inf passed "> 0": the scheduler's thread then died on sleep(inf) and nothing was ever pushed
    ({REPO_ENV: "me/repo", EVERY_ENV: "inf"}, f"{EVERY_ENV}: expected a number of minutes"),
    ({REPO_ENV: "me/repo", EVERY_ENV: "nan"}, f"{EVERY_ENV}: expected a number of minutes"),
    ({REPO_ENV: "not a repo!!"}, f"{REPO_ENV}: expected a dataset repo id like user/name, got 'not a repo!!'"),
    ({REPO_ENV: "votes"}, f"{REPO_ENV}: expected a dataset repo id like user/name, got 'votes'"),
    ({REPO_ENV: "me/votes/extra"}, f"{REPO_ENV}: expected a dataset repo id like user/name"),
    # an interval without a repo was ignored: the Space ran believing its votes were kept, and lost them at restart
    ({EVERY_ENV: "10"}, f"{EVERY_ENV} is set but {REPO_ENV} is not"),
    ({REPO_ENV: "  ", EVERY_ENV: "10"}, f"{EVERY_ENV} is set but {REPO_ENV} is not"),
])
def test_a_bad_space_setting_is_named_with_what_was_expected_and_touches_nothing(tmp_path, env, expected):
    hub = FolderHub(tmp_path / "hub")
    (tmp_path / "hub" / "me" / "repo").mkdir(parents=True)
    with pytest.raises(SettingsError) as caught:
        open_store(tmp_path / "data" / "arena.db", env=env, api=hub)
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message
    assert not (tmp_path / "data").exists() and hub.commits == []


# The Hub's naming rule (https://huggingface.co/docs/hub/repositories: letters, digits, '-', '_', '.'; '-' and '.'
# neither start nor end a part, '--' and '..' are forbidden, at most 96 characters), written out by hand here
@pytest.mark.parametrize("repo_id", ["me/votes_", "me/_votes", "_team/votes", "team_/arena_votes_v2"])
def test_a_dataset_repo_id_the_hub_accepts_is_accepted(repo_id):
    assert repo_settings({REPO_ENV: repo_id}) == (repo_id, 5.0)


@pytest.mark.parametrize("repo_id", ["me/naïve", "mé/votes", "me/votes-", "me/.votes", "me/vo..tes", "me/" + "a" * 97])
def test_a_dataset_repo_id_the_hub_refuses_is_refused_at_start(repo_id):
    with pytest.raises(SettingsError, match=f"^{REPO_ENV}: expected a dataset repo id like user/name"):
        repo_settings({REPO_ENV: repo_id})


UNREACHABLE_HUB = "http://127.0.0.1:9"  # the discard port: nothing listens, every connection is refused


@pytest.fixture
def hub_at(monkeypatch):
    """``hub_at(url)``: an ``HfApi`` that talks to ``url`` (a loopback stand-in) as it talks to the Hub, as
    ``$HF_ENDPOINT`` would set it at import; tests/conftest.py's ``HF_HUB_OFFLINE=1`` is lifted for it."""
    import huggingface_hub.constants

    def api(url: str, token: str) -> HfApi:
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
        return HfApi(endpoint=url, token=token)

    return api


READ_TOKEN = "hf_readTokenThatMustNotShow0123"


def _refused_boot(tmp_path, api, repo: str) -> str:
    """``open_store`` with ``$REALUNIFY_DATASET_REPO=repo`` must refuse (``OSError``) in one line without the
    token, creating no store; returns the message."""
    with pytest.raises(OSError) as caught:
        open_store(tmp_path / "arena.db", env={REPO_ENV: repo}, api=api)
    message = str(caught.value)
    assert "\n" not in message and "hf_read" not in message
    assert not (tmp_path / "arena.db").exists()
    return message


def test_a_repo_that_cannot_be_read_is_named_by_its_setting(tmp_path, hub_at):
    """Before: the real client's refused connection (``httpx2.ConnectError``, not an ``OSError``) escaped as a
    traceback; the old test's stand-in raised an ``OSError``, which the real client never does."""
    message = _refused_boot(tmp_path, hub_at(UNREACHABLE_HUB, READ_TOKEN), "me/kept")
    assert message.startswith(f"{REPO_ENV}=me/kept: restoring the store from this dataset repo failed (")
    assert "Connection refused" in message


def test_a_token_that_can_only_read_stops_the_boot_before_any_vote_is_taken(tmp_path, hub_at):
    """Before: ``create_repo(exist_ok=True)`` let a read-only token through when the repo existed, the app ran,
    and every push failed in the background ("403 Forbidden" in the log): the votes died at the next restart."""
    from stand_in import HubHandler, serving

    with serving(HubHandler, seen=[], writable=False) as hub:
        message = _refused_boot(tmp_path, hub_at(hub.url, READ_TOKEN), "me/votes")
    assert message.startswith(f"{REPO_ENV}=me/votes: the dataset repo could not be created or written (403")
    assert "it needs write access" in message
    assert not [path for method, path in hub.seen if path.endswith("/preupload/main")]


def test_a_push_that_fails_at_exit_is_one_logged_line_not_a_traceback(tmp_path, caplog, hub_at):
    """The push ``atexit`` runs as the Space stops (``CommitScheduler._push_to_hub``): before, the Hub's refusal
    was re-raised, which Python prints as "Exception ignored in atexit callback" and a traceback."""
    from stand_in import HubHandler, serving

    with serving(HubHandler, seen=[], writable=True) as hub:
        api = hub_at(hub.url, "hf_writeTokenThatMustNotShow012")
        store, scheduler = open_store(tmp_path / "arena.db", env={REPO_ENV: "me/votes", EVERY_ENV: "10080"},
                                      api=api)
        try:
            deadline = time.monotonic() + 30  # the first push, at start, is refused the same way
            while getattr(scheduler, "last_future", None) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(Exception):
                scheduler.last_future.result(timeout=30)
            cast_vote(store, 1)
            caplog.clear()
            with caplog.at_level("ERROR", logger="realunify_arena.persistence"):
                assert scheduler._push_to_hub() is None  # noqa: SLF001 - what atexit calls
        finally:
            scheduler.stop()
            store.close()
    ours = [r.getMessage() for r in caplog.records if r.name == "realunify_arena.persistence"]
    assert len(ours) == 1 and ours[0].startswith(f"{REPO_ENV}=me/votes: the votes since the last push are only in")
    assert "403" in ours[0] and "\n" not in ours[0] and "hf_write" not in ours[0]


# -- export and backup commands --------------------------------------------------------------------

def test_export_votes_jsonl_and_csv_one_line_per_vote_without_raw_identities(tmp_path, capsys):
    import csv
    import json

    from realunify_arena.cli import main

    db = tmp_path / "arena.db"
    store = Store.open(db)
    for n in range(3):
        cast_vote(store, n)
    voters = {v["voter"] for v in store.votes()}
    store.close()

    assert main(["export", "votes", "--db", str(db)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert {(line["system_a"], line["system_b"], line["choice"], line["winner"]) for line in lines} == {
        ("m1:direct", "m2:direct", "A", "model_a")}
    assert {line["instance_uid"] for line in lines} == {f"UEG_{n}_world_knowledge" for n in range(3)}
    assert len({line["voter_hash"] for line in lines}) == 1
    assert all(line["created_at"] and line["voter_hash"] not in voters for line in lines)
    assert "alice" not in json.dumps(lines)

    out = tmp_path / "votes.csv"
    assert main(["export", "votes", "--format", "csv", "--out", str(out), "--db", str(db)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["battle_id"] for r in rows] == [line["battle_id"] for line in lines]
    assert rows[0]["voter_hash"] == lines[0]["voter_hash"]

    assert main(["export", "votes", "--track", "GEU", "--db", str(db)]) == 0
    assert capsys.readouterr().out == ""


def test_export_of_a_missing_database_creates_nothing(tmp_path, capsys):
    from realunify_arena.cli import main

    assert main(["export", "votes", "--db", str(tmp_path / "missing.db")]) == 2  # usage: --db names nothing
    assert capsys.readouterr().err.startswith(f"export: error: no database at {tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()


def test_backup_command_while_votes_are_written(tmp_path, capsys):
    from realunify_arena.cli import main

    db = tmp_path / "live" / "arena.db"
    store = Store.open(db)
    cast_vote(store, 0)
    with votes_streaming_in(store, first=1):
        assert main(["backup", str(tmp_path / "bak" / "copy.db"), "--db", str(db)]) == 0
    store.close()
    assert re.search(r"\b\d+ votes?\b", capsys.readouterr().out)  # "1 vote" when only the first was copied
    copy = Store.open(tmp_path / "bak" / "copy.db")
    votes = copy.votes()
    assert votes and copy.db.execute("pragma integrity_check").fetchone()[0] == "ok"
    for vote in votes:  # every image the copy names came with it
        for run_id in (vote["run_a"], vote["run_b"]):
            sha = copy.load_trace(run_id).steps[0].image_sha
            assert copy.get_image(sha).size == (3, 3)
    copy.close()
    assert main(["backup", str(db), "--db", str(db)]) == 2  # refuses to overwrite the live file


def test_export_runs_writes_the_official_layout(tmp_path, capsys):
    import json

    from realunify_arena.benchmark import load
    from realunify_arena.cli import main

    bundled = load("bundled")
    inst = next(i for i in bundled.instances if i.track == "UEG")
    db = tmp_path / "arena.db"
    store = Store.open(db)
    trace = Trace(inst.uid, "tiny-pair", "direct", {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, inst.prompt, image=Image.new("RGB", (5, 5)))])
    store.save_trace(trace, bundled.name)
    store.close()
    assert main(["export", "runs", "--format", "official", "--out", str(tmp_path / "out"), "--db", str(db)]) == 0
    rows = json.loads((tmp_path / "out" / "bundled" / "tiny-pair" / "UEG_direct.json").read_text())
    assert [(r["index"], r["task_type"]) for r in rows] == [(inst.index, inst.task_type)]
    image = tmp_path / "out" / "bundled" / "tiny-pair" / rows[0]["generated_image"]
    assert Image.open(image).size == (5, 5)


def test_export_command_forms(tmp_path, capsys):
    """``export --format official`` (the issue's form) means runs; mismatched pairs are refused with a reason."""
    from realunify_arena.cli import main
    from realunify_arena.store import Store

    db = tmp_path / "arena.db"
    Store.open(db).close()
    assert main(["export", "--format", "official", "--out", str(tmp_path / "out"), "--db", str(db)]) == 1
    assert "no stored runs" in capsys.readouterr().err  # reached the runs export, which found nothing
    assert main(["export", "votes", "--format", "official", "--db", str(db)]) == 2
    assert "votes take jsonl, csv or json" in capsys.readouterr().err
    assert main(["export", "--db", str(db)]) == 2
    assert main(["export", "--format", "csv", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("vote_id,created_at")


def test_a_full_disk_at_push_time_is_one_logged_line_and_the_next_push_catches_up(tmp_path, caplog):
    """The data folder fills up (``RLIMIT_FSIZE``: a real short write) while the snapshot is taken. Before, the
    snapshot's SQLite error (not an OSError) escaped the push, at exit as "Exception ignored in atexit
    callback" and a traceback; a snapshot that failed after its copy left a database-sized ``.new`` file."""
    hub = FolderHub(tmp_path / "hub")
    store, scheduler = open_store(tmp_path / "data" / "arena.db", env={REPO_ENV: "me/repo", EVERY_ENV: "10080"},
                                  api=hub)
    try:
        deadline = time.monotonic() + 30
        while not hub.commits and time.monotonic() < deadline:  # the first push, at start
            time.sleep(0.05)
        for n in range(1, 25):
            cast_vote(store, n)
        size = store.path.stat().st_size
        with caplog.at_level("ERROR", logger="realunify_arena.persistence"):
            with files_may_not_grow_past(size // 4):
                assert scheduler._push_to_hub() is None  # noqa: SLF001 - what atexit calls
        ours = [r.getMessage() for r in caplog.records if r.name == "realunify_arena.persistence"]
        assert len(ours) == 1 and ours[0].startswith(f"{REPO_ENV}=me/repo: the votes since the last push are only in")
        assert "\n" not in ours[0]
        assert sorted(p.name for p in store.path.parent.iterdir() if "snapshot" in p.name) == [SNAPSHOT]

        scheduler._push_to_hub()  # noqa: SLF001 - room again: the next push carries every vote
        pushed = sqlite3.connect(tmp_path / "hub" / "me" / "repo" / SNAPSHOT)
        assert pushed.execute("select count(*) from votes").fetchone()[0] == 24
        pushed.close()
    finally:
        scheduler.stop()
        store.close()


@pytest.mark.parametrize("api", ["none given", "token off"])
def test_a_repo_set_without_a_token_stops_the_boot_naming_hf_token(tmp_path, monkeypatch, api):
    """Before: with no token a private repo read as missing (the boot went on empty, the restore skipped) and
    the Hub's 401 at the write check named neither HF_TOKEN nor that it was unset."""
    import huggingface_hub.constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-login" / "tokens"))
    with pytest.raises(SettingsError) as refused:
        open_store(tmp_path / "data" / "arena.db", env={REPO_ENV: "me/votes"},
                   api=None if api == "none given" else HfApi(token=False))
    message = str(refused.value)
    assert message.startswith(f"{REPO_ENV}=me/votes is set but no Hugging Face token was found: expected an"
                              " HF_TOKEN secret"), message
    assert "\n" not in message and not (tmp_path / "data").exists()


def test_a_bad_repo_and_a_bad_interval_are_both_named_at_once():
    """Before: only the repo id was named; fixing it and restarting the Space then stopped on the interval."""
    with pytest.raises(SettingsError) as caught:
        repo_settings({REPO_ENV: "votes", EVERY_ENV: "0"})
    assert str(caught.value) == (f"{REPO_ENV}: expected a dataset repo id like user/name, got 'votes' (each part:"
                                 f" letters, digits, '-', '_' or '.'); {EVERY_ENV}: expected a number of minutes"
                                 " above 0 and at most 10080, got '0'")


@pytest.mark.parametrize("damage", ["truncated", "not sqlite", "bad page"])
def test_a_damaged_snapshot_in_the_repo_is_named_and_never_put_in_place(tmp_path, damage):
    """A snapshot in the dataset repo that is no sound database (an upload cut short, a file replaced by hand).
    Before: it was copied into place as ``arena.db`` and the boot then blamed that local file ("damaged or
    truncated ... restore it from ... the dataset repo's snapshot, or move it away"): moving it away only restored
    the same damaged file again, and the repo, the file to fix, was not named."""
    hub, repo, _ = repo_with_votes(tmp_path)
    data = (repo / SNAPSHOT).read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "not sqlite":
        data = b"<html>504 Gateway Time-out</html>"
    else:  # one page of the file overwritten: the header is sound, the b-tree is not
        page = int.from_bytes(data[16:18], "big")
        data = data[: 2 * page] + b"\xff" * page + data[3 * page:]
    (repo / SNAPSHOT).write_bytes(data)
    db = tmp_path / "space" / "arena.db"
    for _ in range(2):  # the next boot is refused the same way: nothing was left to win it
        with pytest.raises(OSError) as caught:
            open_store(db, env={REPO_ENV: "me/repo"}, api=hub)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"{REPO_ENV}=me/repo: ")
        assert f"{SNAPSHOT} in the dataset repo" in message and "earlier commit" in message
        assert "network" not in message  # it was read fine: the file itself is what to fix
        assert not db.exists()


def _wal_left_behind(folder: Path) -> None:
    """A store at ``folder/arena.db`` whose process died with 10 votes in its write-ahead log, after which the
    database file alone was moved away (as the advice "move it away" reads): ``arena.db-wal`` stays."""
    script = ("import os, sys; sys.path[:0] = sys.argv[2:]\n"
              "from test_persistence import cast_vote\nfrom realunify_arena.store import Store\n"
              "s = Store.open(sys.argv[1])\n[cast_vote(s, n) for n in range(100, 110)]\nos._exit(0)\n")
    here = Path(__file__).parent
    subprocess.run([sys.executable, "-c", script, str(folder / "arena.db"), str(here), str(here.parent)],
                   check=True, cwd=here.parent.parent)
    assert (folder / "arena.db-wal").stat().st_size > 0
    (folder / "arena.db").rename(folder / "moved-away.db")


def test_a_restore_beside_a_write_ahead_log_left_from_another_database_is_refused(tmp_path):
    """Before: the repo's snapshot was copied in beside the other database's ``arena.db-wal``, and SQLite replayed
    that log into it: the store showed the 10 votes of the log and none of the repo's 24, and the next push would
    have replaced the repo's snapshot with them."""
    hub, _, expected = repo_with_votes(tmp_path)
    space = tmp_path / "space"
    _wal_left_behind(space)
    wal = (space / "arena.db-wal").read_bytes()
    with pytest.raises(OSError) as caught:
        open_store(space / "arena.db", env={REPO_ENV: "me/repo"}, api=hub)
    message = str(caught.value)
    assert "\n" not in message and "arena.db-wal" in message and "moved-away" not in message
    assert not (space / "arena.db").exists()
    assert (space / "arena.db-wal").read_bytes() == wal  # the log (the moved database's last votes) is kept

    (space / "arena.db-wal").rename(space / "moved-away.db-wal")  # as the message advises
    store, scheduler = open_store(space / "arena.db", env={REPO_ENV: "me/repo"}, api=hub)
    scheduler.stop()
    assert sorted((v["battle_id"], v["choice"]) for v in store.votes()) == expected
    store.close()
    moved = Store.open(space / "moved-away.db")  # its log went with it: none of its votes were lost
    assert len(moved.votes()) == 10
    moved.close()


def test_a_new_store_beside_a_write_ahead_log_left_from_another_database_is_refused(tmp_path):
    """Before: ``Store.open`` made an empty database and SQLite discarded the log beside it, the only copy of the
    moved database's last 10 votes."""
    _wal_left_behind(tmp_path)
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "arena.db")
    assert "arena.db-wal" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "arena.db").exists()
    (tmp_path / "arena.db-wal").rename(tmp_path / "moved-away.db-wal")
    moved = Store.open(tmp_path / "moved-away.db")
    assert len(moved.votes()) == 10
    moved.close()


@pytest.mark.parametrize("name", [SNAPSHOT, SNAPSHOT + ".new"])
def test_a_database_at_the_snapshots_own_place_is_refused_before_anything_is_written(tmp_path, name):
    """``REALUNIFY_DB=data/snapshot.sqlite``. Before: every push wrote its salt-free snapshot over the live
    database file (and its temporary copy, ``snapshot.sqlite.new``, over a database of that name): 8 votes
    acknowledged, 6 in the database after a restart."""
    hub = FolderHub(tmp_path / "hub")
    with pytest.raises(SettingsError) as caught:
        open_store(tmp_path / "data" / name, env={REPO_ENV: "me/repo"}, api=hub)
    message = str(caught.value)
    assert "\n" not in message and name in message and REPO_ENV in message
    assert not (tmp_path / "data").exists() and hub.commits == []


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_new_store_through_a_link_beside_whose_file_a_write_ahead_log_was_left_is_refused(tmp_path):
    """``--db app/arena.db``, a symbolic link to ``volume/arena.db``, moved away without its log: SQLite creates the
    file the link names and finds the log beside it, not beside the link. Before: only ``app/arena.db-wal`` was
    looked for, and the new store's SQLite discarded the log it found: the moved database's last 10 votes were
    gone."""
    volume = tmp_path / "volume"
    _wal_left_behind(volume)
    wal = (volume / "arena.db-wal").read_bytes()
    link = tmp_path / "app" / "arena.db"
    link.parent.mkdir()
    link.symlink_to(volume / "arena.db")
    with pytest.raises(StoreError) as caught:
        Store.open(link)
    assert str(volume / "arena.db-wal") in str(caught.value) and "\n" not in str(caught.value)
    assert not (volume / "arena.db").exists() and (volume / "arena.db-wal").read_bytes() == wal
    (volume / "arena.db-wal").rename(volume / "moved-away.db-wal")  # as the message advises
    store = Store.open(link)
    assert store.votes() == []
    store.close()
    moved = Store.open(volume / "moved-away.db")  # its log went with it: none of its votes were lost
    assert len(moved.votes()) == 10
    moved.close()


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
@pytest.mark.parametrize("name", [SNAPSHOT, SNAPSHOT + ".new"])
def test_a_database_linked_to_the_snapshots_own_place_is_refused_before_anything_is_written(tmp_path, name):
    """``REALUNIFY_DB=data/arena.db``, a symbolic link to ``snapshot.sqlite`` beside it (a database of that name
    renamed by a link, as the refusal above advises): the store, SQLite and each push (``durable.replace`` keeps
    a link and replaces the file it names) all write the file the link names. Before: only the link's name was
    compared, and every push replaced the live database with its snapshot."""
    hub = FolderHub(tmp_path / "hub")
    data = tmp_path / "data"
    data.mkdir()
    (data / "arena.db").symlink_to(name)
    with pytest.raises(SettingsError) as caught:
        open_store(data / "arena.db", env={REPO_ENV: "me/repo"}, api=hub)
    message = str(caught.value)
    assert "\n" not in message and name in message and REPO_ENV in message
    assert sorted(os.listdir(data)) == ["arena.db"] and hub.commits == []


# -- two replicas pushing to one repo (a rebuilt Space overlapping the old container) ---------------------------

REPLICA_ENV = {REPO_ENV: "me/arena-votes", EVERY_ENV: "10080"}  # a week: pushes only at start and when asked


def replica(tmp_path, name: str, hub_class=None) -> tuple[Store, object]:
    """A Space replica: its own disk (``tmp_path/name``) and its own Hub client on the shared hub folder; its
    push at start has run."""
    store, scheduler = open_store(tmp_path / name / "arena.db", env=REPLICA_ENV,
                                  api=(hub_class or FolderHub)(tmp_path / "hub"))
    scheduler.trigger().result()
    return store, scheduler


def acknowledged(*stores: Store) -> list[tuple[str, str, str, str]]:
    """Each store's votes as (battle id, voter, choice, created_at), every store's together, sorted."""
    return sorted({(v["battle_id"], v["voter"], v["choice"], v["created_at"]) for s in stores for v in s.votes()})


def push_round(*schedulers) -> list[int]:
    """How many commits each replica made in one round of pushes (in the order given)."""
    before = [len(scheduler.api.commits) for scheduler in schedulers]
    for scheduler in schedulers:
        scheduler.trigger().result()
    return [len(scheduler.api.commits) - n for scheduler, n in zip(schedulers, before)]


def restored_after(tmp_path, *replicas) -> Store:
    """Stop ``replicas`` (store, scheduler pairs), then a replica restored from the repo (its scheduler stopped)."""
    for store, scheduler in replicas:
        scheduler.stop()
        store.close()
    restarted, scheduler = replica(tmp_path, "restarted")
    scheduler.stop()
    return restarted


def after_restart(tmp_path, *replicas) -> list[tuple[str, str, str, str]]:
    """Stop ``replicas`` (store, scheduler pairs), then the votes a replica restored from the repo holds."""
    restarted = restored_after(tmp_path, *replicas)
    votes = acknowledged(restarted)
    restarted.close()
    return votes


def test_two_replicas_overlapping_keep_every_acknowledged_vote(tmp_path, caplog):
    """Note 26's known fault: the old container (3 votes pushed) and a rebuilt one overlap; the old one takes 3
    votes and pushes at exit, then the new one takes 3 and pushes. Before, the new one's snapshot replaced the
    old one's: 6 of 9 acknowledged votes after the next restart, with no message."""
    old, old_scheduler = replica(tmp_path, "old")
    for n in range(1, 4):
        cast_vote(old, n)
    old_scheduler.trigger().result()
    new, new_scheduler = replica(tmp_path, "new")  # the rebuild restores the 3 votes
    for n in range(4, 7):
        cast_vote(old, n)
    old_scheduler.trigger().result()  # the old container's push at exit
    old_scheduler.stop()
    for n in range(7, 10):
        cast_vote(new, n)
    expected = acknowledged(old, new)
    assert len(expected) == 9
    with caplog.at_level("INFO", logger="realunify_arena.persistence"):
        new_scheduler.trigger().result()
    new_scheduler.stop()
    old.close()
    new.close()

    restarted, scheduler = replica(tmp_path, "restarted")
    scheduler.stop()
    assert len(acknowledged(restarted)) == 9 and acknowledged(restarted) == expected
    for vote in restarted.votes():  # each vote's two outputs came with it
        for run_id in (vote["run_a"], vote["run_b"]):
            assert restarted.get_image(restarted.load_trace(run_id).steps[0].image_sha).size == (3, 3)
    tally = restarted.query("select sum(n) as n from vote_tally")[0]["n"]
    assert tally == 9  # the leaderboard's counts (kept by triggers) agree with the votes
    restarted.close()
    pushed = sqlite3.connect(tmp_path / "hub" / "me" / "arena-votes" / SNAPSHOT)
    assert pushed.execute("select count(*) from meta where key = ?", (SALT_META_KEY,)).fetchone()[0] == 0
    pushed.close()
    merged = [r.getMessage() for r in caplog.records if "merged the repo's snapshot" in r.getMessage()]
    assert len(merged) == 1 and ": 3 votes, 3 battles, 6 runs" in merged[0] and "\n" not in merged[0]


def test_a_push_that_loses_the_race_to_another_replica_merges_again_and_retries(tmp_path):
    """The other replica pushes between this one's merge and its commit: the commit names its parent, the Hub
    refuses it, and the push merges the newer snapshot before trying again (without ``parent_commit`` the later
    commit would have replaced the other replica's snapshot)."""
    other, other_scheduler = replica(tmp_path, "other")
    racing = []

    class RacedHub(FolderHub):
        def create_commit(self, *args, **kwargs):
            if racing:  # the other replica's push lands first
                racing.pop()()
            return super().create_commit(*args, **kwargs)

    this, this_scheduler = replica(tmp_path, "this", RacedHub)
    cast_vote(other, 1)
    cast_vote(this, 2)
    racing.append(lambda: other_scheduler.trigger().result())
    this_scheduler.trigger().result()
    expected = acknowledged(other, this)
    assert len(expected) == 2 and after_restart(tmp_path, (other, other_scheduler), (this, this_scheduler)) == expected


def store_with_battle(path: Path, n: int) -> tuple[Store, str]:
    """A store holding one battle (run ``n`` on each side, both shown) that has no vote yet; its id."""
    store = Store.open(path)
    return store, shown_battle(store, n)


def shown_battle(store: Store, n: int) -> str:
    """A new battle in ``store`` (run ``n`` on each side, both shown) that has no vote yet: its id."""
    arena = Arena(store, max_votes=10_000)
    uid = f"UEG_{n}_world_knowledge"
    battle = arena.new_battle(f"s{n}", "hf:alice", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    for side, system in (("A", "m1:direct"), ("B", "m2:direct")):
        model, mode = astuple(System.parse(system))
        trace = Trace(uid, model, mode, {"seed": n},
                      steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (3, 3), n % 256))])
        arena.deliver(battle, f"s{n}", side, store.save_trace(trace, "bundled"))
    return battle


def copy_of(store: Store, path: Path) -> Store:
    """Another replica restored from ``store``'s snapshot."""
    snapshot(store, path.parent / "from.sqlite")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path.parent / "from.sqlite", path)
    copy = Store.open(path)
    shutil.copytree(store.images_dir, copy.images_dir, dirs_exist_ok=True)
    return copy


def test_merging_votes_twice_adds_nothing_and_keeps_when_each_was_cast(tmp_path):
    from realunify_arena.evaluation import merge

    source = Store.open(tmp_path / "source" / "arena.db")
    for n in range(3):
        cast_vote(source, n)
    target = Store.open(tmp_path / "target" / "arena.db")
    cast_vote(target, 5)  # cast after the source's three
    expected = sorted(acknowledged(source) + acknowledged(target))
    first = merge(source, target)
    assert (first.battles, first.votes, first.votes_differing, first.sides_unlinked) == (3, 3, 0, 0)
    assert acknowledged(target) == expected  # voter, choice and time as cast
    again = merge(source, target)
    assert (again.runs, again.judgments, again.battles, again.votes, again.votes_differing) == (0, 0, 0, 0, 0)
    assert acknowledged(target) == expected
    assert target.query("select sum(n) as n from vote_tally")[0]["n"] == 4
    # the vote rate limit counts a merged vote when it was cast: after the source's last vote, only the target's own
    assert target.count_votes_since("hf:alice", max(v["created_at"] for v in source.votes())) == 1
    source.close()
    target.close()


def test_a_battle_voted_otherwise_in_each_store_keeps_the_targets_vote_and_is_counted(tmp_path, capsys):
    """One battle shown before the snapshot was taken, then voted on each replica (A on one, B on the other):
    the target's vote is kept, one vote per battle, and the other is reported, not written over it. A battle the
    target holds unvoted gets the source's vote."""
    from realunify_arena.cli import main
    from realunify_arena.evaluation import merge

    source, voted_otherwise = store_with_battle(tmp_path / "source" / "arena.db", 1)
    _, voted_there_only = store_with_battle(tmp_path / "source" / "arena.db", 2)
    target = copy_of(source, tmp_path / "target" / "arena.db")
    Arena(source, max_votes=10_000).vote(voted_otherwise, "s1", "hf:alice", "A")
    Arena(source, max_votes=10_000).vote(voted_there_only, "s2", "hf:alice", "tie")
    Arena(target, max_votes=10_000).vote(voted_otherwise, "s1", "hf:alice", "B")
    done = merge(source, target)
    assert (done.battles, done.votes, done.votes_differing) == (0, 1, 1)
    assert {v["battle_id"]: v["choice"] for v in target.votes()} == {voted_otherwise: "B", voted_there_only: "tie"}
    assert target.query("select sum(n) as n from vote_tally")[0]["n"] == 2
    target.close()
    source.close()

    # the merge command copies votes with the same function, and says so
    assert main(["merge", str(tmp_path / "source" / "arena.db"), "--db", str(tmp_path / "target" / "arena.db")]) == 0
    out = capsys.readouterr().out
    assert "1 battle(s) hold another vote in --db (one vote per battle): --db's is kept" in out
    assert "new votes" not in out  # the vote on the other battle came in with the first merge


# What a snapshot's battle is made to break, and the rule of the arena's own vote path it breaks (``Arena.vote``,
# ``Arena.deliver``): each is one battle of instance UEG_<n>_world_knowledge, voted "A" by hf:alice.
BROKEN_BATTLES = {
    2: ("update votes set choice = 'A wins' where battle_id = ?", "vote choice 'A wins'"),  # not one of CHOICES
    3: ("update battles set run_b = null, delivered_b_at = null where id = ?", "side B was never shown"),
    4: ("update votes set created_at = '9999-12-31T00:00:00.000000+00:00' where battle_id = ?", "vote created_at"),
    5: ("update votes set created_at = '2026-12-06 10:00:00' where battle_id = ?", "vote created_at"),  # sorts first
    6: ("update battles set run_a = run_b where id = ?", "side A of this battle is m1:direct"),  # m2's run
    7: ("update battles set kind = 'best_of_three' where id = ?", "kind 'best_of_three'"),
}


def break_battles(store: Store, numbers=tuple(BROKEN_BATTLES)) -> list[str]:
    """``BROKEN_BATTLES`` (those of ``numbers``) written into ``store``'s file by another connection, as a
    snapshot could hold them; their battle ids."""
    conn = sqlite3.connect(store.path)
    ids = []
    for n in numbers:
        ids.append(conn.execute("select id from battles where instance_uid = ?", (f"UEG_{n}_world_knowledge",)
                                ).fetchone()[0])
        conn.execute(BROKEN_BATTLES[n][0], (ids[-1],))
    conn.commit()
    conn.close()
    return ids


def test_a_snapshot_s_votes_that_the_arena_would_refuse_are_not_merged(tmp_path, caplog):
    """A snapshot in the repo whose battles break the arena's vote rules (a choice that is none of A, B, tie,
    both_bad; a vote on a side never shown; a vote time far ahead or not as the arena writes it, which the rate
    limit compares as text; a side showing another system's run; an unknown kind). Before, the merge before a
    push copied every one: 7 votes counted where the arena would have taken 1, the leaderboard raised
    ``ValueError: vote choice(s) ['A wins']`` for every visitor, and hf:alice stayed over the vote limit until
    the year 9999. Now only the sound battle comes in, and the log line says how many were left out and why."""
    from realunify_arena import ratings

    old, old_scheduler = replica(tmp_path, "old")
    new, new_scheduler = replica(tmp_path, "new")
    for n in range(1, 8):
        cast_vote(old, n)
    break_battles(old)
    old_scheduler.trigger().result()
    old_scheduler.stop()
    with caplog.at_level("INFO", logger="realunify_arena.persistence"):
        new_scheduler.trigger().result()
    new_scheduler.stop()
    assert [v["instance_uid"] for v in new.votes()] == ["UEG_1_world_knowledge"]
    assert new.query("select count(*) as n from battles")[0]["n"] == 1
    assert new.query("select choice, n from vote_tally") == [{"choice": "A", "n": 1}]
    board = ratings.leaderboard(new, "UEG", "model_vs_model", min_votes=1, rounds=0)
    assert [(r["system"], r["votes"]) for r in board] == [("m1:direct", 1), ("m2:direct", 1)]
    assert new.count_votes_since("hf:alice", "9000-01-01T00:00:00.000000+00:00") == 0
    merged = [r.getMessage() for r in caplog.records if "merged the repo's snapshot" in r.getMessage()]
    assert len(merged) == 1 and ": 1 votes, 1 battles" in merged[0] and "\n" not in merged[0]
    assert "6 battles and 0 human judgments not copied, breaking the arena's rules" in merged[0]
    old.close()
    new.close()


def test_merge_command_leaves_out_each_battle_the_arena_would_refuse_and_names_why(tmp_path, capsys):
    """The merge command copies battles with the same function: each broken battle of ``BROKEN_BATTLES`` alone
    in a source is left out, and the command's line names the rule it breaks."""
    from realunify_arena.cli import main

    for n, (_, why) in BROKEN_BATTLES.items():
        source = Store.open(tmp_path / f"source{n}" / "arena.db")
        for m in (1, n):
            cast_vote(source, m)
        [battle_id] = break_battles(source, [n])
        source.close()
        target = tmp_path / f"target{n}" / "arena.db"
        assert main(["merge", str(source.path), "--db", str(target)]) == 0
        out = capsys.readouterr().out
        assert "1 new battles, 1 new votes" in out
        assert f"1 battle(s) (with their votes) not copied: they break a rule the arena keeps for its own (the first:" \
               f" battle {battle_id}: " in out and why in out, (n, out)
        assert main(["leaderboard", "--db", str(target)]) == 0


def test_merge_leaves_out_human_judgments_the_app_would_not_store_and_merges_the_rest(tmp_path, capsys):
    """A source's human judgment with no voter made ``merge`` stop with a ``ValueError`` traceback after copying
    the runs and before any battle or vote (the replica push then logged the snapshot as not merged); one timed
    9999-12-31 would stay its person's latest judgment whatever they judge later. Both are left out, named, and
    the rest is merged."""
    from realunify_arena.cli import main

    source = Store.open(tmp_path / "source" / "arena.db")
    for n in range(1, 4):
        cast_vote(source, n)
    run_id = source.runs()[0]["id"]
    for voter, score in (("hf:carol", 1), ("hf:dave", 1), ("hf:bob", 0)):
        source.save_human_judgment(run_id, voter, {"kind": "polling", "score": score, "details": {}})
    source.close()
    conn = sqlite3.connect(tmp_path / "source" / "arena.db")
    conn.execute("update human_judgments set voter = '' where voter = 'hf:dave'")
    conn.execute("update human_judgments set created_at = '9999-12-31T00:00:00.000000+00:00' where voter = 'hf:bob'")
    conn.commit()
    conn.close()
    target = tmp_path / "target" / "arena.db"
    assert main(["merge", str(tmp_path / "source" / "arena.db"), "--db", str(target)]) == 0
    out = capsys.readouterr().out
    assert "3 new battles, 3 new votes" in out
    assert ("2 human judgment(s) not copied: they break a rule the arena keeps for its own (the first: human judgment"
            f" of run {run_id}: ") in out
    merged = Store.open(target)
    assert [h["voter"] for run in merged.runs() for h in merged.human_judgments(run["id"])] == ["hf:carol"]
    merged.close()


def test_two_replicas_holding_the_same_votes_stop_pushing_until_one_takes_a_vote(tmp_path):
    """Two replicas at once (a rebuild overlapping the old container): once each holds the other's votes, a push
    that finds nothing new uploads nothing. Before, each push merged the other's snapshot, then uploaded its own
    whole database again though neither had taken a vote: a commit of the full snapshot per replica per interval,
    for as long as both ran."""
    first, first_scheduler = replica(tmp_path, "first")
    second, second_scheduler = replica(tmp_path, "second")
    cast_vote(first, 1)
    cast_vote(second, 2)

    def pushes() -> list[int]:
        return push_round(first_scheduler, second_scheduler)

    # first pushes its vote; second merges it and pushes both; first merges second's: it holds what the repo holds
    assert pushes() == [1, 1]
    assert pushes() == [0, 0] and pushes() == [0, 0]
    cast_vote(second, 3)
    assert pushes() == [0, 1]  # first merges it, and the repo holds all first holds
    assert pushes() == [0, 0]
    expected = acknowledged(first, second)
    assert len(expected) == 3 and acknowledged(first) == acknowledged(second) == expected
    assert after_restart(tmp_path, (first, first_scheduler), (second, second_scheduler)) == expected


def failed_then_replaced(store: Store, n: int) -> int:
    """Run ``n`` of m1:direct stored as failed, then replaced by a successful run of its key
    (``Store.replace_failed_run``, as ``merge`` replaces it): its id; the failed one is in ``replaced_runs``."""
    uid = f"UEG_{n}_world_knowledge"
    run_id = store.save_trace(Trace(uid, "m1", "direct", {"seed": n}, status=Status.ERROR, error="out of memory"),
                              "bundled")
    done = Trace(uid, "m1", "direct", {"seed": n}, steps=[Step(StepRole.GENERATED_IMAGE, "p",
                                                               image=Image.new("L", (3, 3), n % 256))])
    done.steps[0].image_sha = store.put_image(done.steps[0].image)
    assert store.replace_failed_run(run_id, done)
    return run_id


def run_of(store: Store, n: int) -> int:
    """The id of ``failed_then_replaced``'s run ``n`` in ``store``."""
    return store.find_run("bundled", f"UEG_{n}_world_knowledge", "m1", "direct", {"seed": n})


def test_merge_copies_run_starts_and_replaced_runs_and_merging_again_adds_nothing(tmp_path, capsys):
    """Note 27's known fault: ``merge`` (and so the push's merge of another replica's snapshot) copied neither
    ``run_starts`` (the per-visitor run limit's count) nor ``replaced_runs`` (a failed run a successful one replaced,
    kept with its judgments): restored from the other replica's push, a visitor who had used up the run limit could
    start as many runs again, and the archived run was gone. Expected by hand: the visitor's 2 starts (one time) and
    the target's own 1 are 3; a failed run archived once in either store is one archived row."""
    from realunify_arena.cli import main
    from realunify_arena.evaluation import merge

    source = Store.open(tmp_path / "source" / "arena.db")
    target = Store.open(tmp_path / "target" / "arena.db")
    source.insert_run_starts("anon:visitor", 2)  # two runs started by one request: one time, two rows
    source.insert_run_starts("anon:other", 1)
    target.insert_run_starts("anon:visitor", 1)
    failed_then_replaced(source, 1)
    archived = source.replaced_runs(run_of(source, 1))
    assert [row["status"] for row in archived] == ["error"]
    # key 2 failed in both; the source replaced it, and the merge replaces the target's (archiving the target's own)
    target.save_trace(Trace("UEG_2_world_knowledge", "m1", "direct", {"seed": 2}, status=Status.ERROR,
                            error="out of memory"), "bundled")
    failed_then_replaced(source, 2)
    for _ in range(2):  # merging again adds nothing
        merge(source, target)
        assert target.count_run_starts_since("anon:visitor", "") == 3
        assert target.count_run_starts_since("anon:other", "") == 1
        assert target.replaced_runs(run_of(target, 1)) == archived
        assert [row["status"] for row in target.replaced_runs(run_of(target, 2))] == ["error"]
    source.close()
    target.close()
    # the merge command copies them with the same function, and says so
    assert main(["merge", str(source.path), "--db", str(tmp_path / "fresh" / "arena.db")]) == 0
    out = capsys.readouterr().out
    assert "3 run start(s) new to --db" in out and "2 replaced run record(s) new to --db" in out


def test_run_starts_and_replaced_runs_survive_a_restart_from_the_other_replica_s_push(tmp_path):
    """The same fault through two replicas: the first counts a visitor's 3 run starts and archives a replaced run
    and pushes; the second merges that snapshot before pushing its own over it. Restored from the second's push,
    the starts and the archived run were gone."""
    first, first_scheduler = replica(tmp_path, "first")
    second, second_scheduler = replica(tmp_path, "second")
    first.insert_run_starts("anon:visitor", 3)
    failed_then_replaced(first, 1)
    first_scheduler.trigger().result()
    cast_vote(second, 2)
    second_scheduler.trigger().result()
    restarted = restored_after(tmp_path, (first, first_scheduler), (second, second_scheduler))
    assert restarted.count_run_starts_since("anon:visitor", "") == 3
    assert [row["status"] for row in restarted.replaced_runs(run_of(restarted, 1))] == ["error"]
    restarted.close()


def differing_run(store: Store, shade: int) -> int:
    """Run 1 of m1:direct, pinned, whose image is all ``shade``: one key, another output per shade."""
    trace = Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": 1},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (3, 3), shade))])
    return store.save_trace(trace, "bundled", pin=True)


@pytest.mark.parametrize("conflict", ["vote", "run"])
def test_replicas_holding_a_battle_or_run_otherwise_stop_pushing_and_warn_once(tmp_path, caplog, conflict):
    """Note 27's known fault: a battle voted A on one replica and B on the other (or one run key run to other
    outputs on each) kept both replicas pushing their whole database every interval for as long as both ran: each
    keeps its own (one vote per battle), so each found the repo's snapshot lacking it. A row the repo holds
    otherwise is nothing new: the first push goes up, the other replica keeps its own and pushes nothing, and the
    conflict is warned about once. A new row (a vote, a run start) still goes up."""
    first, first_scheduler = replica(tmp_path, "first")
    second, second_scheduler = replica(tmp_path, "second")
    if conflict == "vote":
        battle = shown_battle(first, 1)
        first_scheduler.trigger().result()
        second_scheduler.trigger().result()  # the second merges the shown battle
        Arena(first, max_votes=10_000).vote(battle, "s1", "hf:alice", "A")
        Arena(second, max_votes=10_000).vote(battle, "s1", "hf:alice", "B")
    else:
        differing_run(first, 10)
        differing_run(second, 20)
    with caplog.at_level("INFO", logger="realunify_arena.persistence"):
        before = len(second_scheduler.api.commits)
        push_round(first_scheduler, second_scheduler)
        assert all(SNAPSHOT not in commit for commit in second_scheduler.api.commits[before:])  # at most its image
        assert push_round(first_scheduler, second_scheduler) == [0, 0]
        assert push_round(first_scheduler, second_scheduler) == [0, 0]
        cast_vote(first, 5)
        second.insert_run_starts("anon:visitor", 1)  # the second's news: only a run start
        assert push_round(first_scheduler, second_scheduler) == [1, 1]
        assert push_round(first_scheduler, second_scheduler) == [0, 0]
    kept = "1 battles voted otherwise" if conflict == "vote" else "1 runs with other outputs"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and kept + " here" in r.getMessage()]
    # once by each replica: the second at its first merge, the first when the second's snapshot (its own kept) came
    assert sorted(m.split(" into ")[1].split(" before ")[0] for m in warned) == [
        str(tmp_path / name / "arena.db") for name in ("first", "second")], warned
    restarted = restored_after(tmp_path, (first, first_scheduler), (second, second_scheduler))
    assert restarted.count_run_starts_since("anon:visitor", "") == 1
    assert len(acknowledged(restarted)) == 2 - (conflict == "run")
    # the last snapshot pushed is the second's (its run start), holding its own of the conflicting row
    if conflict == "vote":
        assert {v["battle_id"]: v["choice"] for v in restarted.votes()}[battle] == "B"
    else:
        run = restarted.load_trace(restarted.find_run("bundled", "UEG_1_world_knowledge", "m1", "direct", {"seed": 1}))
        assert restarted.get_image(run.steps[0].image_sha).getpixel((0, 0)) == 20
    restarted.close()


def test_a_restored_replica_s_first_push_uploads_nothing_until_it_takes_a_vote(tmp_path):
    """Note 27's known fault: a replica restored from the repo re-uploaded the unchanged snapshot at its first push
    (its fresh snapshot's bytes differ from the restored file's though its rows are the same)."""
    first, first_scheduler = replica(tmp_path, "first")
    cast_vote(first, 1)
    first_scheduler.trigger().result()
    first_scheduler.stop()
    first.close()
    restarted, scheduler = replica(tmp_path, "restarted")  # its push at start has run
    assert scheduler.api.commits == []
    cast_vote(restarted, 2)
    assert push_round(scheduler) == [1]
    scheduler.stop()
    restarted.close()


def test_rows_missing_counts_what_merge_would_add_not_what_the_other_holds_otherwise(tmp_path):
    """``rows_missing`` is the push's test of "nothing new": it must count what ``merge`` would add, by merge's own
    rules, and nothing the other snapshot holds otherwise (each store keeps its own). Before, every row compared by
    value: a judge's or voter's other judgment of a run, or another time of one run key, made a snapshot 'missing'
    rows at every push. Expected counts by hand from merge's rules; checked against a real merge."""
    from realunify_arena.evaluation import merge
    from realunify_arena.store import rows_missing

    base = Store.open(tmp_path / "base" / "arena.db")
    run_id = differing_run(base, 10)
    ours = copy_of(base, tmp_path / "ours" / "arena.db")
    theirs = copy_of(base, tmp_path / "theirs" / "arena.db")
    judged = {"kind": "polling", "score": 1, "details": {}, "errors": 0}
    ours.save_judgment(run_id, "judge-x", judged)
    theirs.save_judgment(run_id, "judge-x", {**judged, "score": 0})  # judged otherwise: theirs is kept
    ours.save_human_judgment(run_id, "hf:bob", judged)
    theirs.save_human_judgment(run_id, "hf:bob", {**judged, "score": 0})  # one person's other judgment: theirs kept
    for store in (ours, theirs):  # one key run again elsewhere with the same output, in another time
        store.save_trace(Trace("UEG_2_world_knowledge", "m1", "direct", {"seed": 2}, steps=[
            Step(StepRole.ANSWER, "p", text="B", seconds=0.5 if store is ours else 2.0)]), "bundled")
    assert _missing(ours, theirs, rows_missing) == {}
    ours.insert_run_starts("anon:visitor", 2)
    ours.save_judgment(run_id, "judge-y", judged)  # a judge theirs lacks
    ours.save_human_judgment(run_id, "hf:carol", judged)  # a person theirs lacks
    expected = {"judgments": 1, "human judgments": 1, "run starts": 2}
    assert _missing(ours, theirs, rows_missing) == expected
    theirs.insert_run_starts("anon:visitor", 1)  # theirs' own start, at another time
    done = merge(ours, theirs)
    assert (done.judgments, done.run_starts, done.judgments_differing, done.differing) == (2, 2, 1, 0)
    assert _missing(ours, theirs, rows_missing) == {}  # merged: nothing of ours is new to theirs
    for store in (base, ours, theirs):
        store.close()


def _missing(ours: Store, theirs: Store, rows_missing) -> dict[str, int]:
    """``rows_missing`` of fresh snapshots of ``ours`` against ``theirs``."""
    for store in (ours, theirs):
        snapshot(store, store.path.parent / SNAPSHOT)
    return rows_missing(ours.path.parent / SNAPSHOT, theirs.path.parent / SNAPSHOT)


def test_a_stored_battle_copied_between_its_two_deliveries_gets_the_second_side_shown_when_merged(tmp_path):
    """A stored battle names both runs up front (``Arena.new_battle``'s ``runs``) and shows them one after the
    other: a replica's push taken between the two deliveries gave the other replica the battle with side B's run
    named and not shown. Merging the voted battle later added the vote but never filled side B's delivery (it filled
    only a side with no run named): the store held a vote on a side 'never shown', ``rows_missing`` found the
    battle new at every comparison, and a merge of that store anywhere refused the battle, its vote lost. Expected
    by hand: the battle as it was voted, both sides shown with their runs."""
    from realunify_arena.evaluation import merge
    from realunify_arena.store import rows_missing

    ours = Store.open(tmp_path / "ours" / "arena.db")
    uid = "UEG_1_world_knowledge"
    runs = {side: pinned_run_of(ours, uid, system) for side, system in (("A", "m1:direct"), ("B", "m2:direct"))}
    arena = Arena(ours, max_votes=10_000)
    battle = arena.new_battle("s1", "hf:alice", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model", runs=runs)
    arena.deliver(battle, "s1", "A", runs["A"])
    theirs = copy_of(ours, tmp_path / "theirs" / "arena.db")  # the push landed between the two deliveries
    arena.deliver(battle, "s1", "B", runs["B"])
    arena.vote(battle, "s1", "hf:alice", "A")
    merge(ours, theirs)
    shown = ("run_a", "run_b", "delivered_a_at", "delivered_b_at", "voted")
    assert {c: theirs.battle(battle)[c] for c in shown} == {c: ours.battle(battle)[c] for c in shown}
    assert _missing(ours, theirs, rows_missing) == {}
    third = Store.open(tmp_path / "third" / "arena.db")
    done = merge(theirs, third)
    assert (done.battles, done.votes, done.battles_refused) == (1, 1, 0)
    assert acknowledged(third) == acknowledged(ours)
    for store in (ours, theirs, third):
        store.close()


def pinned_run_of(store: Store, uid: str, system: str) -> int:
    """A pinned run of ``system`` on ``uid`` in ``store`` (an image): its id."""
    model, mode = astuple(System.parse(system))
    trace = Trace(uid, model, mode, {"seed": 1}, steps=[Step(StepRole.GENERATED_IMAGE, "p",
                                                             image=Image.new("L", (3, 3), 1))])
    return store.save_trace(trace, "bundled", pin=True)


def test_rows_missing_compares_runs_as_merge_sees_them_with_secrets_masked(tmp_path):
    """``merge`` compares two runs of one key as ``load_trace`` returns them, each text with secrets and key shapes
    masked; ``rows_missing`` compared the stored text. A reply that echoed another key on each replica is one
    output to the merge (its judgments are copied) but two to ``rows_missing``: it said nothing was new, so the
    judgment was never pushed and was lost at the next restart. Expected by hand: 1 judgment; checked against a
    real merge."""
    from realunify_arena.evaluation import merge
    from realunify_arena.store import rows_missing

    ours = Store.open(tmp_path / "ours" / "arena.db")
    theirs = Store.open(tmp_path / "theirs" / "arena.db")
    run_id = {store: store.save_trace(Trace("GEU_1_mental_tracking", "m1", "direct", {"seed": 1}, steps=[
        Step(StepRole.ANSWER, "p", text=f"B, as {key} says")]), "bundled")
        for store, key in ((ours, "sk-proj-" + "a1" * 16), (theirs, "sk-proj-" + "b2" * 16))}
    ours.save_judgment(run_id[ours], "judge-x", {"kind": "mcq", "score": 1, "details": {}, "errors": 0})
    assert _missing(ours, theirs, rows_missing) == {"judgments": 1}
    assert (merge(ours, theirs).judgments, merge(ours, theirs).judgments) == (1, 0)
    assert _missing(ours, theirs, rows_missing) == {}
    for store in (ours, theirs):
        store.close()


def test_rows_missing_counts_a_dataset_source_only_where_merge_copies_it(tmp_path):
    """``merge`` notes where a dataset came from for the datasets the source holds runs of; ``rows_missing`` counted
    every source noted (``eval`` notes it before any run: a rank dealt no instance holds the note and no run), so
    a store whose only news was such a note was found to hold something new at every comparison, which no merge
    ever added. Expected by hand: the source of the dataset with a run counts, the other not; checked against a
    real merge."""
    from realunify_arena.evaluation import merge
    from realunify_arena.store import rows_missing

    ours = Store.open(tmp_path / "ours" / "arena.db")
    theirs = Store.open(tmp_path / "theirs" / "arena.db")
    ours.remember_dataset_source("dealt-nothing", "/data/official")
    assert _missing(ours, theirs, rows_missing) == {}
    ours.remember_dataset_source("bundled", "bundled")
    ours.save_trace(Trace("GEU_1_mental_tracking", "m1", "direct", {"seed": 1}, steps=[
        Step(StepRole.ANSWER, "p", text="B")]), "bundled")
    assert _missing(ours, theirs, rows_missing) == {"runs": 1, "dataset sources": 1}
    merge(ours, theirs)
    assert (theirs.dataset_source("bundled"), theirs.dataset_source("dealt-nothing")) == ("bundled", None)
    assert _missing(ours, theirs, rows_missing) == {}
    for store in (ours, theirs):
        store.close()
