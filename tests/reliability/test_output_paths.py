"""An output path is written where, and as, ``open(path, "w")`` wrote it before outputs went through a
temporary file (``durable``): a new file follows the umask (``mkstemp`` made 0o600), a rewritten one keeps its
mode, a symbolic link stays and the file it names is replaced, and a pipe or /dev/stdout-like path is written
to, not replaced by a regular file (before: a FIFO became a file no reader ever saw, bash's ``>(...)`` and
``/proc/self/fd/1`` failed with ``.../63.xxxx.partial: No such file or directory``).

Each command runs as ``python -m realunify_arena`` in its own process, on real files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from realunify_arena.store import Store

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], cwd: Path, umask: int = 0o022) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realunify_arena", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          preexec_fn=lambda: os.umask(umask))


def _db(tmp_path: Path) -> str:
    db = tmp_path / "arena.db"
    Store.open(db).close()
    return str(db)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_output_follows_the_umask_and_a_rewritten_one_keeps_its_mode(tmp_path):
    db = _db(tmp_path)
    for umask, wanted in ((0o022, 0o644), (0o002, 0o664)):
        out = tmp_path / f"board-{umask:o}.md"
        assert run_cli(["leaderboard", "--db", db, "--out", str(out)], tmp_path, umask).returncode == 0
        assert _mode(out) == wanted
    kept = tmp_path / "kept.md"
    kept.write_text("old\n")
    kept.chmod(0o640)
    assert run_cli(["leaderboard", "--db", db, "--out", str(kept)], tmp_path).returncode == 0
    assert _mode(kept) == 0o640 and "old" not in kept.read_text()


def test_space_card_leaves_readme_readable_by_all(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("---\ntitle: old\n---\n\n# Body\n", encoding="utf-8")
    readme.chmod(0o644)
    space = tmp_path / "space.yaml"
    space.write_text("title: New\nsdk: gradio\n", encoding="utf-8")
    done = run_cli(["space-card", "--space", str(space), "--readme", str(readme)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert _mode(readme) == 0o644 and "title: New" in readme.read_text()


def test_an_output_through_a_symbolic_link_replaces_the_file_it_names_and_keeps_the_link(tmp_path):
    db = _db(tmp_path)
    elsewhere = tmp_path / "shared" / "board.md"
    elsewhere.parent.mkdir()
    elsewhere.write_text("old\n")
    link = tmp_path / "board.md"
    link.symlink_to(elsewhere)
    assert run_cli(["leaderboard", "--db", db, "--out", str(link)], tmp_path).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(elsewhere)
    assert elsewhere.read_text() and "old" not in elsewhere.read_text()
    assert not list(tmp_path.rglob("*.partial"))


def test_an_output_to_a_named_pipe_reaches_its_reader(tmp_path):
    db = _db(tmp_path)
    fifo = tmp_path / "board.fifo"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = run_cli(["leaderboard", "--db", db, "--out", str(fifo)], tmp_path)
    reader.join(10)  # a command that replaced the pipe leaves the reader waiting: a daemon thread
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the pipe was replaced by a regular file"
    assert read and b"UEG" in read[0]


def test_an_output_to_standard_output_by_its_proc_path_is_written_there(tmp_path):
    db = _db(tmp_path)
    done = run_cli(["leaderboard", "--db", db, "--out", "/proc/self/fd/1"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "UEG" in done.stdout
