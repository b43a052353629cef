"""``merge`` checks each source's instances against --db once where --db has not changed in between: the first
source by ``evaluation.merge`` itself (the command's own pre-check of it repeated the same reads), a later one
before anything is merged and again against --db with the sources before it merged."""

from __future__ import annotations

from collections import Counter

from realunify_arena import dataset_names, evaluation
from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace


def _store(path, model: str) -> None:
    data = load("bundled")
    inst = data.select("GEU")[0]
    store = Store.open(path)
    try:
        store.save_trace(Trace(inst.uid, model, "direct", {"seed": 0},
                               steps=[Step(StepRole.ANSWER, inst.mcq_text, text="A")]), data.name, pin=True)
    finally:
        store.close()


def test_each_source_is_checked_once_against_the_same_target(tmp_path, monkeypatch, capsys):
    target, first, second = tmp_path / "arena.db", tmp_path / "a.db", tmp_path / "b.db"
    for path, model in ((target, "m0"), (first, "m1"), (second, "m2")):
        _store(path, model)
    real = dataset_names.store_conflicts
    checked = Counter()

    def counted(source, target_store):  # the real check, its source counted
        checked[source.path.name] += 1
        return real(source, target_store)

    monkeypatch.setattr(dataset_names, "store_conflicts", counted)
    monkeypatch.setattr(evaluation, "store_conflicts", counted)
    assert main(["merge", str(first), str(second), "--db", str(target)]) == 0, capsys.readouterr().err
    assert checked == {"a.db": 1, "b.db": 2}  # b.db: before anything, then against --db holding a.db's runs
    store = Store.open(target)
    try:
        assert sorted(r["model"] for r in store.runs()) == ["m0", "m1", "m2"]
    finally:
        store.close()
