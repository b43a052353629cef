"""A command's output file replaces the previous one only once written whole.

Before, each command opened its output for writing, truncating the previous file, and wrote into it: cut short
by a full disk it exited 1, but left a truncated file where a good one had been (an earlier export, board,
score table or README). Now every output goes through ``durable.open_text``/``write_text``: a temporary file
beside it, renamed into place once written and synced.

Each command runs as ``python -m realunify_arena`` in a process that may not grow any file past 64 bytes
(``RLIMIT_FSIZE``), a real short write. The test keeps the store open meanwhile, so its ``-shm`` file exists
and the command's read of the store needs no room.
"""

from __future__ import annotations

import concurrent.futures
import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from realunify_arena.arena import Arena
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64
PREVIOUS = "the previous, complete output\n" * 20  # longer than LIMIT: a rewrite in place would be cut


def run_cli(args: list[str], cwd: Path, limit: int = LIMIT) -> subprocess.CompletedProcess:
    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run([sys.executable, "-m", "realunify_arena", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, preexec_fn=full_disk)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A store with votes (held open for the module), an official results folder, and a README."""
    tmp = tmp_path_factory.mktemp("outputs")
    store = Store.open(tmp / "arena.db")
    arena = Arena(store, max_votes=10**6)
    for n in range(12):
        session, uid = f"s{n}", "UEG_1_world_knowledge"
        battle = arena.new_battle(session, f"hf:v{n}", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model")
        for side, model in (("A", "m1"), ("B", "m2")):
            trace = Trace(uid, model, "direct", {"seed": n}, steps=[Step(StepRole.GENERATED_IMAGE, "p")])
            arena.deliver(battle, session, side, store.save_trace(trace, "bundled"))
        arena.vote(battle, session, f"hf:v{n}", ("A", "B", "tie")[n % 3])
    results = tmp / "results"
    results.mkdir()
    (results / "GEU_direct.json").write_text(json.dumps([{
        "index": i, "task_type": "mental_tracking", "input_image": "./a.png", "question": "q?",
        "option": ["a", "b", "c", "d"], "answer": "B", "response": "AB"[i % 2]} for i in range(1, 30)]))
    shutil.copy(ROOT / "README.md", tmp / "README.md")
    (tmp / "README.md").write_text((tmp / "README.md").read_text().replace("sdk_version", "sdk_versio"))
    yield tmp
    store.close()


COMMANDS = {
    "export votes (JSONL)": ["export", "votes", "--db", "{db}", "--out", "{out}"],
    "export votes (CSV)": ["export", "votes", "--format", "csv", "--db", "{db}", "--out", "{out}"],
    "leaderboard": ["leaderboard", "--db", "{db}", "--out", "{out}"],
    "score-official --csv": ["score-official", "{results}", "--csv", "{out}"],
    "score-official --json": ["score-official", "{results}", "--json", "{out}"],
    "space-card": ["space-card", "--space", str(ROOT / "space.yaml"), "--readme", "{out}"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_an_output_the_full_disk_cuts_short_leaves_the_previous_one_whole(setup, name, tmp_path):
    out = tmp_path / "output"
    if name == "space-card":
        shutil.copy(setup / "README.md", out)  # its front matter differs from space.yaml: it is rewritten
    else:
        out.write_text(PREVIOUS)
    previous = out.read_bytes()
    args = [a.format(db=setup / "arena.db", out=out, results=setup / "results") for a in COMMANDS[name]]

    done = run_cli(args, tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert str(out) in done.stderr, done.stderr  # the error names the file it could not write
    assert out.read_bytes() == previous, "the previous output was cut"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output"], "a partial file was left beside it"

    done = run_cli(args, tmp_path, limit=2**40)  # with room: written whole
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() != previous and len(out.read_bytes()) > LIMIT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output"]


@pytest.mark.parametrize("overwrite", [True, False])
def test_an_instance_set_the_full_disk_cuts_short_leaves_the_previous_one_or_none(tmp_path, overwrite):
    """Before: ``--overwrite`` deleted the previous set, then wrote the new one in place: cut short, neither was
    left (an empty ``image/`` tree); into an empty folder, a half set stayed that a rerun refused to overwrite."""
    out = tmp_path / "set"
    args = ["generate-instances", "--out", str(out), "--per-category", "2", "--categories",
            "mental_tracking,world_knowledge"]
    if overwrite:
        assert run_cli(args, tmp_path, limit=2**40).returncode == 0
        args.append("--overwrite")
    previous = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} if overwrite else {}

    done = run_cli(args, tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"{out}/" in done.stderr and ".partial" not in done.stderr, done.stderr  # named where it was going
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == previous
    assert not [p for p in out.iterdir() if p.name not in {"GEU_direct.json", "GEU_step.json", "UEG_direct.json",
                                                           "UEG_step.json", "image"}], "a partial folder was left"

    done = run_cli(args, tmp_path, limit=2**40)  # with room: written whole
    assert done.returncode == 0, done.stderr
    assert len(list((out / "image").rglob("*.png"))) == 2 and len(list(out.glob("*.json"))) == 4


KILLED_AT = """
import os, signal, sys
from realunify_arena.cli import main

point, calls = sys.argv[1], [0]
real_mkdir, real_replace = os.mkdir, os.replace

def mkdir(path, *args, **kwargs):
    if point == "replaced" and os.path.basename(path).startswith(".replaced-"):  # the set is written; the
        os.kill(os.getpid(), signal.SIGKILL)  # swap has not begun
    real_mkdir(path, *args, **kwargs)

def replace(src, dst):  # the swap's n-th move (each item: what out holds of its name out, the new one in)
    into, out_of = (os.path.basename(os.path.dirname(p)) for p in (dst, src))
    calls[0] += into.startswith(".replaced-") or (out_of.startswith(".generating-") and not into.startswith("."))
    if calls[0] == int(point if point.isdigit() else 0):
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)

os.mkdir, os.replace = mkdir, replace
sys.exit(main(sys.argv[2:]))
"""


def _files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


SWAP_ARGS = ["generate-instances", "--per-category", "1", "--categories", "mental_tracking,world_knowledge"]
UEG_ARGS = ["generate-instances", "--per-category", "1", "--categories", "world_knowledge", "--seed", "2"]


@pytest.fixture(scope="module")
def instance_sets(tmp_path_factory) -> dict[str, Path]:
    """The instance sets the swap tests start from and compare with, each made the ordinary way once for the
    module (all at once: a process each) and only read: ``old`` and ``new`` (``SWAP_ARGS``, seeds 1 and 2),
    ``ueg`` (``UEG_ARGS``) and ``full`` (``SWAP_ARGS``' default seed). A test writes into its own copy
    (``shutil.copytree``: every file and folder, hidden ones included). Before, each of the 9 cases made its
    own with 2-3 runs of the command (the same bytes: the sets are seeded)."""
    root = tmp_path_factory.mktemp("instance_sets")
    made = {"old": [*SWAP_ARGS, "--seed", "1"], "new": [*SWAP_ARGS, "--seed", "2"], "ueg": UEG_ARGS,
            "full": SWAP_ARGS}
    with concurrent.futures.ThreadPoolExecutor(len(made)) as pool:
        done = {name: pool.submit(run_cli, [*args, "--out", str(root / name)], root, 2**40)
                for name, args in made.items()}
        for name, future in done.items():
            assert future.result().returncode == 0, (name, future.result().stderr)
    return {name: root / name for name in made}


@pytest.mark.parametrize("point", ["replaced", "1", "6", "10"])
def test_a_generate_instances_run_killed_mid_swap_is_finished_by_the_next_run(tmp_path, instance_sets, point):
    """A run killed while it swapped the new set in (kill -9 between two moves) left hidden ``.partial`` folders in
    ``--out`` for good, and a set of some old and some new files; killed before the swap, the new set's folder
    stayed. Now the next run finishes a swap that had begun (the new set is whole: it was written before), drops a
    set the swap had not begun with, and leaves no hidden folder."""
    args = SWAP_ARGS
    old, new, out = instance_sets["old"], instance_sets["new"], tmp_path / "set"
    shutil.copytree(old, out)  # the set made with seed 1, the ordinary way
    assert _files(old) != _files(new) and _files(out) == _files(old)

    killed = subprocess.run([sys.executable, "-c", KILLED_AT, point, *args, "--out", str(out), "--seed", "2",
                             "--overwrite"], capture_output=True, text=True, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [p for p in out.iterdir() if p.name.endswith(".partial")], "the kill came too late to leave anything"

    rerun = run_cli([*args, "--out", str(out), "--seed", "3"], tmp_path, limit=2**40)  # no --overwrite: refused
    assert rerun.returncode != 0 and "already holds an instance set" in rerun.stderr, rerun.stderr
    assert not [p.name for p in out.iterdir() if p.name.endswith(".partial")], "hidden folders were left"
    assert _files(out) == _files(new if point != "replaced" else old)


@pytest.mark.parametrize("point", [None, "1", "3", "5", "6"])
def test_an_overwriting_set_with_fewer_files_leaves_none_of_the_previous_set(tmp_path, instance_sets, point):
    """A UEG-only set written with ``--overwrite`` over a full set swapped in only the files it has: the previous
    set's GEU files and ``image/`` stayed, so the folder loaded as a mix of both sets. Killed or not, the folder
    ends holding exactly what the new set's run writes into an empty folder."""
    ueg = UEG_ARGS
    new, out = instance_sets["ueg"], tmp_path / "set"
    shutil.copytree(instance_sets["full"], out)  # the full set, made the ordinary way
    assert (out / "image").is_dir() and not (new / "image").exists()

    if point is None:
        assert run_cli([*ueg, "--out", str(out), "--overwrite"], tmp_path, limit=2**40).returncode == 0
    else:
        killed = subprocess.run([sys.executable, "-c", KILLED_AT, point, *ueg, "--out", str(out), "--overwrite"],
                                capture_output=True, text=True, cwd=tmp_path)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        rerun = run_cli([*ueg, "--out", str(out)], tmp_path, limit=2**40)  # finishes the swap, then refuses
        assert "already holds an instance set" in rerun.stderr, rerun.stderr
    assert sorted(p.name for p in out.iterdir()) == ["UEG_direct.json", "UEG_step.json"]
    assert _files(out) == _files(new)
