"""The README's CPU Space deploy puts only a consistent database and its images on the Space.

Before, its step 3 was ``hf upload USER/SPACE data data --repo-type space``: the whole folder of the live store,
so ``arena.db.lock`` and ``arena.db.sync`` (the store's own lock files), ``arena.db-wal``/``-shm`` and
``reports/`` went up too, and an ``arena.db`` copied while the app ran (or after it stopped abruptly) could lack
the rows still in its ``-wal``. The README's lines are run as they are shown: the ``backup`` command for real,
the ``hf upload`` line parsed by huggingface_hub's own command line (so every option is one it takes) and its
patterns applied to the folder with huggingface_hub's own ``filter_repo_objects``, as ``upload_folder`` does."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

import app
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace

ROOT = Path(__file__).resolve().parents[2]


def _space_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Deploy to a Hugging Face Space", 1)[1].split("\n## ", 1)[0]


def _hf_upload_params(line: str) -> dict:
    """``line`` (``hf upload ...``) parsed as the installed ``hf`` parses it: its parameters by name."""
    from huggingface_hub.cli.hf import app as hf

    words = shlex.split(line)
    assert words[:2] == ["hf", "upload"], line
    ctx = hf.make_context("hf", ["upload"])
    command = hf.get_command(ctx, "upload")
    command = command.materialize() if hasattr(command, "materialize") else command  # hf loads commands lazily
    return command.make_context("upload", words[2:], parent=ctx).params


def _live_store(db: Path) -> Store:
    """A store as the local app leaves it while it runs: a pinned run (its image in images/), rows in the -wal,
    the lock files beside it, a report folder and a temporary file a crash left."""
    store = Store.open(db)
    trace = Trace("UEG_0_world_knowledge", "alpha", "direct", {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (16, 16), "red"))])
    store.save_trace(trace, "bundled", pin=True)
    (db.parent / "reports").mkdir()
    (db.parent / "reports" / "report.csv").write_text("model\n", encoding="utf-8")
    (db.parent / "arena.db.1a2b3c4d.partial").write_bytes(b"cut short")
    return store


def test_the_readme_and_the_app_show_the_same_deploy_lines():
    shown = [line.strip() for line in _space_section().splitlines()]
    for line in app.SPACE_UPLOAD:
        assert line in shown, f"the README's Space section does not show `{line}`"
    assert not [line for line in shown if line.startswith("hf upload") and line not in app.SPACE_UPLOAD]


def test_the_readme_s_deploy_uploads_only_a_consistent_database_and_its_images(tmp_path):
    backup, upload = app.SPACE_UPLOAD
    store = _live_store(tmp_path / "data" / "arena.db")
    try:
        beside = {p.name for p in (tmp_path / "data").iterdir()}
        assert {"arena.db-wal", "arena.db-shm", "arena.db.lock", "arena.db.sync", "reports"} <= beside, beside
        words = shlex.split(backup)
        assert words[:3] == ["python", "-m", "realunify_arena"]
        done = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        images = sorted(p.relative_to(store.images_dir).as_posix() for p in store.images_dir.rglob("*.png"))
    finally:
        store.close()
    assert images

    from huggingface_hub.utils import filter_repo_objects

    params = _hf_upload_params(upload)
    assert params["repo_type"] == "space" and params["path_in_repo"] == "data"
    folder = tmp_path / params["local_path"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    sent = list(filter_repo_objects(files, allow_patterns=list(params["include"]) or None,
                                    ignore_patterns=list(params["exclude"]) or None))
    assert sorted(sent) == ["arena.db", *(f"images/{name}" for name in images)]

    alone = tmp_path / "space" / "data" / "arena.db"  # the uploaded file, as the Space finds it: nothing beside it
    alone.parent.mkdir(parents=True)
    shutil.copyfile(folder / "arena.db", alone)
    space_store = Store.open(alone)
    try:  # the run committed while the app ran (still in the live store's -wal) is in the uploaded file
        assert [r["model"] for r in space_store.runs()] == ["alpha"] and space_store.pinned_models() == {"alpha"}
    finally:
        space_store.close()


def test_the_old_command_would_have_sent_the_lock_files(tmp_path):
    """The check above is able to see the fault: the old line's folder is the live data/ folder, whose lock,
    sync, WAL and report files it sends."""
    store = _live_store(tmp_path / "data" / "arena.db")
    store.close()
    from huggingface_hub.utils import filter_repo_objects

    params = _hf_upload_params("hf upload USER/SPACE data data --repo-type space")
    folder = tmp_path / params["local_path"]
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    sent = set(filter_repo_objects(files, allow_patterns=list(params["include"]) or None,
                                   ignore_patterns=list(params["exclude"]) or None))
    assert {"arena.db.lock", "arena.db.sync", "reports/report.csv"} <= sent
