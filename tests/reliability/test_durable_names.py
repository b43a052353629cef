"""An image, a merged image and a backup are on disk under their names before anything that names them is
acknowledged.

The rule is fsync(2)'s (https://man7.org/linux/man-pages/man2/fsync.2.html): syncing a file does not make its
name durable, "an explicit fsync() on a file descriptor for the directory is also needed"; the same holds for
a rename and for a folder just created. Before, the image was synced but renamed into a folder never synced
(``put_image``), merge's copy was synced not at all, and a backup was renamed unsynced: a power cut after the
run's row was acknowledged could leave a run whose image file does not exist.

Real stores, real files, real syncs: each sync is recorded (which file or folder, from ``/proc/self/fd``)
and then made, in the order the process made them; the WAL sync that acknowledges a commit is recorded the
same way (``walsync._sync_file``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena import durable, walsync
from realunify_arena.evaluation import merge
from realunify_arena.store import Store, StoreError
from realunify_arena.trace import Step, StepRole, Trace

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")


class Syncs:
    """Every sync this process makes, in order, as (kind, path): kind "wal" for the store's WAL sync, else
    "folder" or "file"."""

    def __init__(self, monkeypatch):
        self.events: list[tuple[str, Path]] = []
        self.fail_folders = 0  # how many folder syncs from now on raise EIO
        self.fail_paths: set[Path] = set()  # folders whose syncs raise EIO (until removed)
        real_fsync, real_wal = durable._fsync, walsync._sync_file

        def fsync(fd: int) -> None:
            path = Path(os.readlink(f"/proc/self/fd/{fd}"))
            kind = "folder" if path.is_dir() else "file"
            self.events.append((kind, path))
            if kind == "folder" and path in self.fail_paths:
                raise OSError(errno.EIO, "Input/output error")
            if kind == "folder" and self.fail_folders:
                self.fail_folders -= 1
                raise OSError(errno.EIO, "Input/output error")
            real_fsync(fd)

        def wal(fd: int) -> None:
            self.events.append(("wal", Path(os.readlink(f"/proc/self/fd/{fd}"))))
            real_wal(fd)

        monkeypatch.setattr(durable, "_fsync", fsync)
        monkeypatch.setattr(walsync, "_sync_file", wal)

    def index(self, kind: str, path: Path) -> int:
        found = [i for i, event in enumerate(self.events) if event == (kind, path)]
        assert found, f"no {kind} sync of {path} in {self.events}"
        return found[0]

    def first_wal_after(self, start: int) -> int:
        return next(i for i, (kind, _) in enumerate(self.events) if kind == "wal" and i > start)


def a_trace(seed: int) -> Trace:
    image = Image.new("RGB", (8, 8), (seed % 256, 7, 9))
    return Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": seed},
                 steps=[Step(StepRole.GENERATED_IMAGE, "p", image=image)])


def image_of(store: Store, run_id: int) -> Path:
    return store.image_path(store.load_trace(run_id).steps[0].image_sha)


def rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select count(*) from runs").fetchone()[0]
    finally:
        conn.close()


def test_an_image_and_every_folder_made_for_it_are_synced_before_its_run_is_acknowledged(tmp_path, monkeypatch):
    store = Store.open(tmp_path / "arena.db")
    syncs = Syncs(monkeypatch)
    run_id = store.save_trace(a_trace(1), "bundled")
    image = image_of(store, run_id)
    store.close()
    events = syncs.events
    content = next(i for i, (kind, path) in enumerate(events)
                   if kind == "file" and path.parent == image.parent and path.name.startswith(image.name))
    name = syncs.index("folder", image.parent)  # images/ab/<sha>.png: its name
    made_ab = syncs.index("folder", image.parent.parent)  # images/ab, created for it, named in images/
    made_images = syncs.index("folder", tmp_path)  # images/, created for it, named beside the database
    acknowledged = syncs.first_wal_after(content)
    assert content < name < acknowledged, events
    assert made_images < made_ab < acknowledged, events


def test_a_second_image_in_an_existing_folder_syncs_only_that_folder(tmp_path, monkeypatch):
    store = Store.open(tmp_path / "arena.db")
    first = image_of(store, store.save_trace(a_trace(1), "bundled"))
    syncs = Syncs(monkeypatch)
    second = image_of(store, store.save_trace(a_trace(2), "bundled"))
    store.close()
    folders = [path for kind, path in syncs.events if kind == "folder"]
    # its own folder's name is synced into images/ only if it is new; images/ itself already existed
    expected = [second.parent] if second.parent == first.parent else [tmp_path / "images", second.parent]
    assert folders == expected


def test_an_image_whose_name_could_not_be_synced_stores_no_run_and_saving_again_does(tmp_path, monkeypatch):
    db = tmp_path / "arena.db"
    store = Store.open(db)
    syncs = Syncs(monkeypatch)
    syncs.fail_folders = 99  # every folder sync fails: the image's name may not be on disk
    with pytest.raises(StoreError, match=r"images/.*\.png: the image could not be written \(Input/output error\)"):
        store.save_trace(a_trace(1), "bundled")
    assert rows(db) == 0, "a run was stored whose image name was never synced"
    syncs.fail_folders = 0
    run_id = store.save_trace(a_trace(1), "bundled")
    assert image_of(store, run_id).is_file() and rows(db) == 1
    assert not list((tmp_path / "images").rglob("*.partial"))
    store.close()


def test_after_a_failed_sync_of_new_folders_saving_again_syncs_them_before_the_run_is_acknowledged(
        tmp_path, monkeypatch):
    # the folders made for the image stayed behind; the next save found them and synced none of their names
    store = Store.open(tmp_path / "arena.db")
    syncs = Syncs(monkeypatch)
    syncs.fail_folders = 1  # images/'s name, synced into the database's folder
    with pytest.raises(StoreError):
        store.save_trace(a_trace(1), "bundled")
    syncs.events.clear()
    run_id = store.save_trace(a_trace(1), "bundled")
    image = image_of(store, run_id)
    store.close()
    content = next(i for i, (kind, path) in enumerate(syncs.events) if kind == "file")
    acknowledged = syncs.first_wal_after(content)
    for folder in (tmp_path, tmp_path / "images", image.parent):
        assert syncs.index("folder", folder) < acknowledged, syncs.events


def test_an_image_renamed_but_whose_name_sync_failed_is_synced_when_saved_again(tmp_path, monkeypatch):
    # put_image skipped an image already there: its name, never synced, was acknowledged by the next run
    store = Store.open(tmp_path / "arena.db")
    first = image_of(store, store.save_trace(a_trace(1), "bundled"))
    first.unlink()  # its folder exists: only the image's own name is synced
    syncs = Syncs(monkeypatch)
    syncs.fail_paths = {first.parent}
    with pytest.raises(StoreError, match="Input/output error"):
        store.put_image(Image.new("RGB", (8, 8), (1, 7, 9)))
    assert first.is_file()  # renamed, its name not known to be on disk
    syncs.fail_paths = set()
    syncs.events.clear()
    again = a_trace(1)
    again.settings = {"seed": 2}  # another run with the same image
    run_id = store.save_trace(again, "bundled")
    assert image_of(store, run_id) == first
    store.close()
    assert syncs.index("folder", first.parent) < syncs.first_wal_after(0), syncs.events


def test_merge_syncs_each_copied_image_and_its_name_before_the_run_row(tmp_path, monkeypatch):
    node = Store.open(tmp_path / "node.db")
    node.save_trace(a_trace(3), "bundled")
    node.close()
    (tmp_path / "main").mkdir()
    source, target = Store.open(tmp_path / "node.db", for_reading=True), Store.open(tmp_path / "main" / "arena.db")
    syncs = Syncs(monkeypatch)
    assert merge(source, target) == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0)
    image = image_of(target, target.runs()[0]["id"])
    source.close(), target.close()
    events = syncs.events
    content = next(i for i, (kind, path) in enumerate(events)
                   if kind == "file" and path.parent == image.parent and path.name.startswith(image.name))
    name = syncs.index("folder", image.parent)
    assert content < name < syncs.first_wal_after(content), events
    assert image.read_bytes() == (tmp_path / "images" / image.parent.name / image.name).read_bytes()


def test_a_merge_whose_copied_name_could_not_be_synced_stores_no_run_and_can_be_run_again(tmp_path, monkeypatch):
    node = Store.open(tmp_path / "node.db")
    node.save_trace(a_trace(4), "bundled")
    node.close()
    (tmp_path / "main").mkdir()
    db = tmp_path / "main" / "arena.db"
    source, target = Store.open(tmp_path / "node.db", for_reading=True), Store.open(db)
    syncs = Syncs(monkeypatch)
    syncs.fail_folders = 99
    with pytest.raises(StoreError, match="the image could not be copied"):
        merge(source, target)
    assert rows(db) == 0
    syncs.fail_folders = 0
    assert merge(source, target) == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0) and rows(db) == 1
    source.close(), target.close()


def test_a_backup_is_synced_then_its_name_before_it_is_reported_written(tmp_path, monkeypatch):
    store = Store.open(tmp_path / "arena.db")
    store.save_trace(a_trace(5), "bundled")
    out = tmp_path / "copies" / "nightly.db"
    syncs = Syncs(monkeypatch)
    assert store.backup(out) == out
    store.close()
    events = syncs.events
    content = next(i for i, (kind, path) in enumerate(events)
                   if kind == "file" and path.parent == out.parent and path.name.startswith(out.name + "."))
    made = syncs.index("folder", tmp_path)  # copies/, created for it
    name = syncs.index("folder", out.parent)
    assert made < content < name == len(events) - 1, events
    assert rows(out) == 1


def test_merge_syncs_the_name_of_an_image_the_target_already_has_before_the_run_row(tmp_path, monkeypatch):
    # found there (another writer's rename, its folder not yet synced), it was skipped and its run acknowledged
    node = Store.open(tmp_path / "node.db")
    image = image_of(node, node.save_trace(a_trace(6), "bundled"))
    node.close()
    (tmp_path / "main").mkdir()
    db = tmp_path / "main" / "arena.db"
    source, target = Store.open(tmp_path / "node.db", for_reading=True), Store.open(db)
    copy = target.image_path(image.stem)
    copy.parent.mkdir(parents=True)
    copy.write_bytes(image.read_bytes())
    syncs = Syncs(monkeypatch)
    assert merge(source, target) == (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", 0, 0)
    source.close(), target.close()
    assert syncs.index("folder", copy.parent) < syncs.first_wal_after(0), syncs.events
