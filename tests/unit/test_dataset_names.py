"""One dataset name, one set of instances, for every writer of runs (``realunify_arena.dataset_names``).

Runs are stored under a dataset *name*, and the store remembers the first place instances of that name came
from (the app, ``report`` and ``export`` read them there). ``import-results`` refused another folder of the
same name holding other instances; ``eval --data``, ``merge`` and the app's data sources did not: they stored
runs of other instances under the same uids, so battles and reports mixed them. Real SQLite stores, real
official folders (copies of the bundled instances, images included), the real CLI and ``AppContext``."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from realunify_arena.arena import Arena
from realunify_arena.benchmark import load
from realunify_arena.benchmark.loaders import BUNDLED_DIR
from realunify_arena.benchmark.writer import official_entry
from realunify_arena.cards import load_cards
from realunify_arena.cli import main
from realunify_arena.context import AppContext
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace


@pytest.fixture(scope="module")
def bundled():
    return load("bundled")


def dump(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        return {t: sorted(map(repr, conn.execute(f"select * from {t}"))) for t in tables}


def _results(root: Path, bundled, per_track: int = 2) -> Path:
    """A result folder named ``results``: GEU answers to the first ``per_track`` GEU instances (no images
    needed), so importing it makes the store remember ``results`` at this folder."""
    root.mkdir(parents=True)
    geu = [{**official_entry(i, "direct"), "response": "A"} for i in bundled.instances if i.track == "GEU"]
    (root / "GEU_direct.json").write_text(json.dumps(geu[:per_track]), encoding="utf-8")
    return root


def _instances_copy(root: Path, change=None) -> Path:
    """The bundled instances (official layout, images) copied to ``root``; ``change(entries)`` edits the
    GEU files' entries (direct and step copies alike)."""
    shutil.copytree(BUNDLED_DIR, root)
    for name in ("GEU_direct.json", "GEU_step.json") if change is not None else ():
        path = root / name
        entries = json.loads(path.read_text(encoding="utf-8"))
        change(entries)
        path.write_text(json.dumps(entries), encoding="utf-8")
    return root


def _geu(bundled, n: int):
    return [i for i in bundled.instances if i.track == "GEU"][n]


def _reword(entries: list[dict], uid_index: int, task_type: str) -> None:
    for e in entries:
        if e["index"] == uid_index and e["task_type"] == task_type:
            e["question"] = "A question no other folder asks?"


def test_eval_into_a_store_holding_the_name_from_elsewhere_is_refused_and_writes_nothing(tmp_path, bundled, capsys):
    """Before: `eval --data /y/results` stored runs of /y's instances under dataset 'results', whose runs
    answer /x/results' instances; now the same rule and message as import-results, exit 1, nothing written
    (and no model loaded)."""
    db = tmp_path / "arena.db"
    x = _results(tmp_path / "x" / "results", bundled, per_track=len(bundled.select("GEU")))
    assert main(["import-results", str(x), "--model", "published", "--db", str(db)]) == 0
    first = _geu(bundled, 0)
    y = _instances_copy(tmp_path / "y" / "results", lambda es: _reword(es, first.index, first.task_type))
    capsys.readouterr()
    before = dump(db)

    code = main(["eval", "--model", "tiny-pair", "--judge", "tiny-pair", "--data", str(y), "--track", "GEU",
                 "--mode", "direct", "--limit", "1", "--db", str(db), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    lines = [line for line in err.splitlines() if line.startswith("  ") or "error" in line]
    assert "eval: error: 1 problem(s); nothing was written:" in err, err
    problem = next(line for line in lines if first.uid in line)
    assert problem.startswith(f"  {y.resolve()}, instance {first.uid}, field 'question': disagrees with instance "
                              f"{first.uid} of dataset 'results'"), err
    assert str(x.resolve()) in problem and "Traceback" not in err
    assert dump(db) == before


def test_eval_of_instances_the_remembered_place_lacks_is_refused(tmp_path, bundled, capsys):
    db = tmp_path / "arena.db"
    x = _results(tmp_path / "x" / "results", bundled, per_track=1)  # only the first GEU instance
    assert main(["import-results", str(x), "--model", "published", "--db", str(db)]) == 0
    y = _instances_copy(tmp_path / "y" / "results")
    capsys.readouterr()
    before = dump(db)
    assert main(["eval", "--model", "tiny-pair", "--judge", "tiny-pair", "--data", str(y), "--track", "GEU",
                 "--mode", "direct", "--limit", "1", "--db", str(db), "--no-progress"]) == 1
    err = capsys.readouterr().err
    categories = {i.task_type for i in bundled.select("GEU")}
    missing = [i for i in bundled.select("GEU") if i.uid != _geu(bundled, 0).uid]
    chosen = {}
    for i in bundled.select("GEU"):
        chosen.setdefault(i.task_type, i)
    refused = [i for i in chosen.values() if i.uid != _geu(bundled, 0).uid]
    assert f"eval: error: {len(refused)} problem(s); nothing was written:" in err, err
    for inst in refused:
        assert (f"  {y.resolve()}, instance {inst.uid}, field 'index': instance {inst.uid} is not in dataset "
                f"'results'") in err, err
    assert len(categories) == len(chosen) and missing
    assert dump(db) == before


def test_merge_of_a_store_whose_runs_answer_other_instances_under_the_name_is_refused(tmp_path, bundled, capsys):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    x = _results(tmp_path / "x" / "results", bundled)
    z = _results(tmp_path / "z" / "results", bundled)
    first = _geu(bundled, 0)
    entries = json.loads((z / "GEU_direct.json").read_text())
    entries[0]["question"] = "A question no other folder asks?"
    (z / "GEU_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    assert main(["import-results", str(x), "--model", "m1", "--db", str(a)]) == 0
    assert main(["import-results", str(z), "--model", "m2", "--db", str(b)]) == 0
    capsys.readouterr()
    before = dump(a)
    assert main(["merge", str(b), "--db", str(a)]) == 1
    err = capsys.readouterr().err
    assert "merge: error: 1 problem(s); nothing was written:" in err, err
    assert (f"instance {first.uid}, field 'question': disagrees with instance {first.uid} of dataset 'results'"
            in err and str(x.resolve()) in err and str(z.resolve()) in err), err
    assert dump(a) == before
    same = tmp_path / "c.db"
    assert main(["import-results", str(_results(tmp_path / "w" / "results", bundled)), "--model", "m3",
                 "--db", str(same)]) == 0
    assert main(["merge", str(same), "--db", str(a)]) == 0  # the same instances from another place: merged
    store = Store.open(a)
    assert {r["model"] for r in store.runs()} == {"m1", "m3"}
    store.close()


def _context(store, data) -> AppContext:
    return AppContext(Settings(data=tuple(map(str, data)), models=("tiny-pair",), db=store.path), store,
                      ModelPool(load_cards()), Arena(store), rng=random.Random(7))


def test_the_apps_sources_of_one_name_serve_one_set_of_instances(tmp_path, bundled):
    """Two configured sources named 'results' (or one that differs from the place the store keeps 'results'
    at): before, each served its own instances and runs of both were stored under dataset 'results'; now
    the later source's differing instances are left out and named among its problems (Explore shows them)."""
    first = _geu(bundled, 0)
    x = _instances_copy(tmp_path / "x" / "results")
    y = _instances_copy(tmp_path / "y" / "results", lambda es: _reword(es, first.index, first.task_type))
    store = Store.open(tmp_path / "arena.db")
    try:
        ctx = _context(store, [x, y])
        assert len(ctx.dataset(str(x))) == len(bundled)
        served = ctx.dataset(str(y))
        assert first.uid not in {i.uid for i in served.instances} and len(served) == len(bundled) - 1
        (problem,) = [p for p in served.problems if p.entry == f"instance {first.uid}"]
        assert problem.field == "question" and str(x.resolve()) in problem.message
        with pytest.raises(KeyError):
            served.get(first.uid)

        noted = ctx.dataset_for_runs(str(x))  # a run of x is about to be stored: the store notes x with it
        assert store.dataset_source("results") is None  # no write of its own (a failed sync fails the run)
        inst = noted.instances[0]
        store.save_trace(Trace(inst.uid, "tiny-pair", "direct", {"seed": 0}, steps=[
            Step(StepRole.ANSWER, "q", text="A")]), noted.name)
        assert store.dataset_source("results") == str(x.resolve())
        alone = _context(store, [y])  # a later app serving only y: the store's 'results' is x's
        served = alone.dataset(str(y))
        assert first.uid not in {i.uid for i in served.instances}
        assert any(p.field == "question" and str(x.resolve()) in p.message for p in served.problems)
    finally:
        store.close()


def test_a_remembered_place_that_cannot_be_read_now_is_named_not_called_other_instances(tmp_path, bundled, capsys):
    """x/results (all GEU instances) is remembered; then its file is damaged. Importing y/results, the same
    answers, cannot be checked: before, every entry was refused as 'not in dataset' (the instances of x
    read as none), blaming y; now the message says x cannot be read and why. Nothing is written either way."""
    db = tmp_path / "arena.db"
    everything = len(bundled.select("GEU"))
    x = _results(tmp_path / "x" / "results", bundled, per_track=everything)
    y = _results(tmp_path / "y" / "results", bundled, per_track=1)
    assert main(["import-results", str(x), "--model", "published", "--db", str(db)]) == 0
    (x / "GEU_direct.json").write_text("[{broken", encoding="utf-8")
    capsys.readouterr()
    before = dump(db)
    assert main(["import-results", str(y), "--model", "other", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    uid = _geu(bundled, 0).uid
    assert f"instance {uid} cannot be checked against dataset 'results'" in err, err
    assert f"{x.resolve()}, which cannot all be read now" in err and "GEU_direct.json: invalid JSON" in err, err
    assert "is not in dataset" not in err and "Traceback" not in err
    assert dump(db) == before

    (x / "GEU_direct.json").unlink()  # the place is there, and holds nothing a loader reads
    assert main(["import-results", str(y), "--model", "other", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "cannot all be read now" in err and "not a RealUnify source" in err, err
    assert dump(db) == before
