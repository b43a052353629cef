"""``import-results``: official-format result folders into a store, checked against what the source store
reports (Table 2 from ``report``, image content hashes), hand-computed scores, the problems each kind of bad
input must name, and a database that a failed import leaves byte-for-byte as it was."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.writer import official_entry
from realunify_arena.cli import main
from realunify_arena.importing import import_results
from realunify_arena.judge import ANSWER_PARSER, mcq_judgment, polling_judgment
from realunify_arena.store import ImportConflict, Store
from realunify_arena.trace import Status, Step, StepRole, Trace

JUDGE = "judge-x"
SETTINGS = {"seed": 7, "guidance_scale": 5.0}


@pytest.fixture(scope="module")
def bundled():
    return load("bundled")


def _image(i: int, size=(24, 16)) -> Image.Image:
    """A small image whose pixels differ per ``i`` (so each run's image has its own content hash)."""
    img = Image.new("RGB", size, ((37 * i) % 256, (91 * i) % 256, (53 * i + 17) % 256))
    img.putpixel((i % size[0], 0), (255 - (i % 256), 0, 0))
    return img


def _replies(instance, k: int) -> list[list[str]]:
    """Judge replies for one UEG run: all right (k % 3 == 0), one wrong (1), or one unparseable (2)."""
    out = []
    for j, q in enumerate(instance.question_list):
        reply = q.answer.capitalize() + "."
        if j == 0 and k % 3 == 1:
            reply = "no" if q.answer == "yes" else "yes"
        if j == 0 and k % 3 == 2:
            reply = "I cannot tell"
        out.append([reply])
    return out


def _geu_reply(instance, k: int) -> str:
    letters = "ABCD"
    wrong = letters[(letters.index(instance.answer) + 1) % 4]
    return [f"The answer is {instance.answer}.", wrong, f"{instance.answer}", "unsure"][k % 4]


def source_store(db: Path, bundled) -> Store:
    """What `eval` would have stored for model "origin" on two instances per category, both modes: images,
    refined prompts, edited images and answers, the judge's replies, one failed run, judgments made the way
    eval makes them."""
    store = Store.open(db)
    k = 0
    for task in dict.fromkeys(i.task_type for i in bundled.instances):
        for inst in bundled.select(task_type=task)[:2]:
            for mode in ("direct", "stepwise"):
                k += 1
                trace = Trace(inst.uid, "origin", mode, SETTINGS)
                if inst.track == "UEG":
                    prompt = inst.prompt
                    if mode == "stepwise":
                        prompt = f"refined: {inst.prompt[:40]}"
                        trace.steps.append(Step(StepRole.REFINED_PROMPT, inst.refine_text, text=prompt))
                    trace.steps.append(Step(StepRole.GENERATED_IMAGE, prompt, image=_image(k)))
                else:
                    if mode == "stepwise":
                        trace.steps.append(Step(StepRole.EDITED_IMAGE, inst.edit_text, image=_image(k, (20, 20))))
                    trace.steps.append(Step(StepRole.ANSWER, inst.mcq_text, text=_geu_reply(inst, k)))
                if k == 5:  # a failed run: counts wrong, in "run err"
                    trace.steps, trace.status, trace.error = [], Status.ERROR, "RuntimeError: out of memory"
                run_id = store.save_trace(trace, "bundled", pin=True)
                if trace.status is not Status.OK:
                    continue
                if inst.track == "UEG":
                    judgment = polling_judgment(inst.question_list, _replies(inst, k), JUDGE)
                    store.save_judgment(run_id, JUDGE, judgment.to_dict())
                else:
                    store.save_judgment(run_id, ANSWER_PARSER, mcq_judgment(inst, trace.final.text).to_dict())
    return store


def table(db: Path, out: Path, capsys, *, rename: tuple[str, str] | None = None) -> str:
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    return text.replace(*rename) if rename else text


def dump(db: Path) -> dict:
    """Every row of every table: what a failed import must leave unchanged."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        return {t: sorted(map(repr, conn.execute(f"select * from {t}"))) for t in tables}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, bundled):
    root = tmp_path_factory.mktemp("roundtrip")
    store = source_store(root / "src" / "arena.db", bundled)
    store.close()
    assert main(["export", "--format", "official", "--out", str(root / "out"), "--db", str(root / "src" / "arena.db"),
                 "--judge", JUDGE]) == 0
    return root


def test_exported_runs_import_under_another_name_with_the_same_table_and_images(exported, tmp_path, capsys):
    src, dst = exported / "src" / "arena.db", tmp_path / "dst" / "arena.db"
    folder = exported / "out" / "bundled" / "origin"
    assert main(["import-results", str(folder), "--model", "published", "--data", "bundled",
                 "--judge-name", JUDGE, "--db", str(dst)]) == 0
    assert "40 runs imported, 0 unchanged, 0 replaced" in capsys.readouterr().out

    expected = table(src, tmp_path / "r1", capsys, rename=("origin", "published"))
    assert "| published |" in expected and JUDGE in expected and "Imported" not in expected
    # the same table, marked as imported (before, nothing told an imported row from one run here)
    assert table(dst, tmp_path / "r2", capsys) == (expected.rstrip("\n") + "\n\nImported from published result "
                                                   "files, not run here: `published`.\n\n")
    a = json.loads((tmp_path / "r1" / "report.json").read_text())
    b = json.loads((tmp_path / "r2" / "report.json").read_text())
    for x, y in zip(a[0]["systems"], b[0]["systems"], strict=True):
        assert x["imported"] is False and y["imported"] is True
        assert {**x, "model": "published", "imported": True} == y  # the counts behind the figures too

    source, imported = Store.open(src), Store.open(dst)
    try:
        def images(store, model):
            out = {}
            for run in store.runs(model=model):
                trace = store.load_trace(run["id"])
                out[(run["instance_uid"], run["mode"])] = (run["status"], [(s.role, s.text, s.image_sha) for s in trace.steps])
            return out

        before, after = images(source, "origin"), images(imported, "published")
        assert after == before  # same steps, texts and image content hashes, run by run
        assert sum(sha is not None for _, steps in after.values() for *_, sha in steps) == 24 - 1 + 8  # UEG images (one run failed), GEU edits
        for sha in {sha for _, steps in after.values() for *_, sha in steps if sha}:
            assert imported.image_path(sha).read_bytes() == source.image_path(sha).read_bytes()
        runs = imported.runs(model="published")
        assert all(r["pinned_at"] for r in runs) and len(imported.runs(pinned=True)) == 40
        origin = imported.run_origin(runs[0]["id"])
        assert origin["folder"] == str(folder.resolve()) and origin["model"] == "published"
        assert origin["file"] in {"UEG_direct.json", "UEG_step.json", "GEU_direct.json", "GEU_step.json"}
        assert origin["entry"].startswith("index ") and origin["imported_at"]
    finally:
        source.close()
        imported.close()


def test_reimport_changes_nothing_and_a_changed_entry_needs_replace(exported, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(exported / "out" / "bundled" / "origin", folder)
    db = tmp_path / "arena.db"
    args = ["import-results", str(folder), "--model", "published", "--data", "bundled", "--judge-name", JUDGE,
            "--db", str(db)]
    assert main(args) == 0
    state = dump(db)
    capsys.readouterr()
    assert main(args) == 0
    assert "0 runs imported, 40 unchanged, 0 replaced" in capsys.readouterr().out
    assert dump(db) == state

    # The same files, images now found from the current directory by relative paths: still unchanged.
    geu_direct = folder / "GEU_direct.json"
    entries = json.loads(geu_direct.read_text())
    target = next(e for e in entries if e.get("status") == "ok")
    old_reply = target["response"]
    target["response"] = "D" if old_reply.strip()[-1:] != "D" else "A"
    geu_direct.write_text(json.dumps(entries))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "nothing was written" in err
    assert f"GEU_direct.json, index {target['index']} ({target['task_type']}): changed since it was imported" in err
    assert "--replace" in err and err.count("changed since") == 1
    assert dump(db) == state

    assert main([*args, "--replace"]) == 0
    assert "0 runs imported, 39 unchanged, 1 replaced" in capsys.readouterr().out
    store = Store.open(db)
    try:
        uid = f"GEU_{target['index']}_{target['task_type']}"
        (run,) = [r for r in store.runs(model="published", mode="direct") if r["instance_uid"] == uid]
        assert store.load_trace(run["id"]).final.text == target["response"]
        judgment = store.find_judgment(run["id"], ANSWER_PARSER)
        assert judgment["details"]["reply"] == target["response"]
        inst = load("bundled").get(uid)
        assert judgment["score"] == int(target["response"] == inst.answer)  # a bare letter: right iff it is the key
        (archived,) = store.replaced_runs(run["id"])
        assert archived["trace"]["steps"][-1]["text"] == old_reply
        assert archived["judgments"][0]["judge"] == ANSWER_PARSER
        assert run["id"] in {r["id"] for r in store.runs(pinned=True)}
    finally:
        store.close()
    capsys.readouterr()
    assert main([*args, "--replace"]) == 0  # and now the changed file is what is stored
    assert "0 runs imported, 40 unchanged, 0 replaced" in capsys.readouterr().out


# -- a third-party folder ----------------------------------------------------------------------------


def third_party(folder: Path, bundled, cwd: Path) -> dict:
    """A runner's own layout: extra fields, `response` as a list, images by absolute path and by a path
    relative to ``cwd`` (not to the file). Returns the expected score per (uid, mode), worked out by hand."""
    folder.mkdir(parents=True)
    (cwd / "outputs").mkdir(parents=True, exist_ok=True)
    expected = {}
    ueg = [i for i in bundled.instances if i.track == "UEG"][:3]
    geu = [i for i in bundled.instances if i.track == "GEU"][:3]
    direct, step = [], []
    for n, inst in enumerate(ueg):
        absolute = folder / "gen" / f"{n}.png"
        absolute.parent.mkdir(exist_ok=True)
        _image(n).save(absolute)
        relative = Path("outputs") / f"step_{n}.jpg"
        _image(n + 10).save(cwd / relative)
        answers = [q.answer for q in inst.question_list]
        if n == 1:  # a judge saying the opposite on the first question: the instance is wrong
            answers[0] = "no" if answers[0] == "yes" else "yes"
        entry = official_entry(inst, "direct")
        entry["question_list"] = [{**q, "judge_answer": f"{a.capitalize()}, it does.", "judge_model": "gpt-x"}
                                  for q, a in zip(entry["question_list"], answers)]
        direct.append({**entry, "generated_image": str(absolute), "elapsed_s": 3.2, "runner": {"v": 2}})
        expected[(inst.uid, "direct")] = int(n != 1)
        step.append({**official_entry(inst, "step"), "response": [f"A picture: {inst.prompt[:30]}", "second try"],
                     "generated_image": str(relative), "extra_note": None})
        expected[(inst.uid, "stepwise")] = None  # an image, no judge replies: not judged
    geu_direct = []
    for n, inst in enumerate(geu):
        wrong = "ABCD"[("ABCD".index(inst.answer) + 1) % 4]
        reply = [f"The best answer is {inst.answer if n != 2 else wrong}", "ignored"]
        geu_direct.append({**official_entry(inst, "direct"), "response": reply, "tokens": 12})
        expected[(inst.uid, "direct")] = int(n != 2)
    for name, entries in (("UEG_direct", direct), ("UEG_step", step), ("GEU_direct", geu_direct)):
        (folder / f"{name}.json").write_text(json.dumps(entries, indent=1), encoding="utf-8")
    return expected


def test_merged_imported_runs_keep_their_origin_and_reimport_changes_nothing(exported, tmp_path, capsys):
    """An imported run records where it came from; a node's store merged into another keeps that record,
    so importing the same folder into the merged store again changes nothing (it is not "changed since
    it was imported", which would ask for --replace on all 40 runs)."""
    folder = exported / "out" / "bundled" / "origin"
    node, merged = tmp_path / "node" / "arena.db", tmp_path / "all" / "arena.db"
    args = ["import-results", str(folder), "--model", "published", "--data", "bundled", "--judge-name", JUDGE]
    assert main([*args, "--db", str(node)]) == 0
    assert main(["merge", str(node), "--db", str(merged)]) == 0
    capsys.readouterr()
    assert main([*args, "--db", str(merged)]) == 0
    assert "0 runs imported, 40 unchanged, 0 replaced" in capsys.readouterr().out
    source, target = Store.open(node), Store.open(merged)
    try:
        def origins(store):
            return {(r["instance_uid"], r["mode"]): store.run_origin(r["id"]) for r in store.runs()}
        assert origins(target) == origins(source) and None not in origins(target).values()
    finally:
        source.close()
        target.close()


def test_a_third_party_folder_imports_with_hand_computed_scores(tmp_path, bundled, monkeypatch, capsys):
    cwd = tmp_path / "work"
    cwd.mkdir()
    expected = third_party(tmp_path / "results" / "runner-x", bundled, cwd)
    monkeypatch.chdir(cwd)
    db = tmp_path / "arena.db"
    assert main(["import-results", str(tmp_path / "results" / "runner-x"), "--model", "runner-x",
                 "--data", "bundled", "--db", str(db)]) == 0
    store = Store.open(db)
    try:
        runs = store.runs(model="runner-x")
        assert len(runs) == len(expected) == 9
        for run in runs:
            key = (run["instance_uid"], run["mode"])
            trace = store.load_trace(run["id"])
            assert run["status"] == "ok" and run["pinned_at"]
            name = ANSWER_PARSER if run["track"] == "GEU" else "judge_answer"
            judgment = store.find_judgment(run["id"], name)
            assert (judgment["score"] if judgment else None) == expected[key], key
            if key[1] == "stepwise":  # the list's first element is the refined prompt, the image made from it
                assert [s.role for s in trace.steps] == [StepRole.REFINED_PROMPT, StepRole.GENERATED_IMAGE]
                assert trace.steps[0].text.startswith("A picture: ") and trace.steps[1].prompt == trace.steps[0].text
            if run["track"] == "GEU":
                assert trace.final.text.startswith("The best answer is")  # the first element of the list
        # the relative path was found from the current directory: the stored image is that file's pixels
        step_run = next(r for r in runs if r["mode"] == "stepwise")
        n = [i.uid for i in bundled.instances].index(step_run["instance_uid"])
        stored = store.get_image(store.load_trace(step_run["id"]).final.image_sha)
        assert stored.tobytes() == Image.open(cwd / "outputs" / f"step_{n}.jpg").convert("RGB").tobytes()
    finally:
        store.close()

    # The same folder scored directly by score-official gives the imported store's figures.
    capsys.readouterr()
    assert main(["score-official", str(tmp_path / "results" / "runner-x"), "--model", "runner-x"]) == 0
    official = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| runner-x")]
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "r")]) == 0
    ours = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| runner-x")]
    assert ours == official and official


def test_without_data_the_entries_own_fields_are_the_instances(tmp_path, bundled, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "results" / "runner-x"
    expected = third_party(folder, bundled, tmp_path)
    store = Store.open(tmp_path / "arena.db")
    try:
        from realunify_arena.importing import import_results

        summary = import_results(store, folder, "runner-x")
        assert (summary.dataset, summary.new) == ("runner-x", 9)
        scores = {}
        for run in store.runs():
            name = ANSWER_PARSER if run["track"] == "GEU" else "judge_answer"
            judgment = store.find_judgment(run["id"], name)
            scores[(run["instance_uid"], run["mode"])] = judgment["score"] if judgment else None
        assert scores == expected
        assert store.meta("dataset_source:runner-x") == str(folder)  # export can reload these instances
    finally:
        store.close()


# -- bad input ---------------------------------------------------------------------------------------


def _folder(root: Path, bundled) -> Path:
    """Two good UEG direct entries and two good GEU direct entries, images beside the file."""
    root.mkdir(parents=True)
    ueg = [official_entry(i, "direct") for i in bundled.instances if i.track == "UEG"][:2]
    for n, e in enumerate(ueg):
        _image(n).save(root / f"u{n}.png")
        e["generated_image"] = f"u{n}.png"
    geu = [{**official_entry(i, "direct"), "response": "A"} for i in bundled.instances if i.track == "GEU"][:2]
    (root / "UEG_direct.json").write_text(json.dumps(ueg), encoding="utf-8")
    (root / "GEU_direct.json").write_text(json.dumps(geu), encoding="utf-8")
    return root


def _edit(folder: Path, name: str, change) -> None:
    entries = json.loads((folder / name).read_text())
    change(entries)
    (folder / name).write_text(json.dumps(entries), encoding="utf-8")


BAD = {
    # An image not found or unreadable and a missing `response` are failed runs, as score-official counts them
    # (tests/unit/test_result_files_shared.py, tests/unit/test_import_image_notes.py), not problems.
    "missing instance field": ("UEG_direct.json", lambda f, e: e[0].pop("task_type"),
                               ["UEG_direct.json, index 0, field 'task_type': missing"]),
    "not in the dataset": ("GEU_direct.json", lambda f, e: e[0].update(index=9999),
                           [("GEU_direct.json, index 9999 (mental_reconstruction), field 'index': no instance "
                            "GEU_9999_mental_reconstruction in dataset 'bundled'")]),
    "mismatched instance": ("UEG_direct.json", lambda f, e: e[1].update(prompt="a different prompt"),
                            [("UEG_direct.json, index 1 (world_knowledge), field 'prompt': disagrees with instance "
                             "UEG_1_world_knowledge")]),
    "duplicate entry": ("GEU_direct.json", lambda f, e: e.append(dict(e[0])),
                        ["GEU_direct.json, index 0 (mental_reconstruction), field 'index': duplicate entry"]),
    "wrong type": ("GEU_direct.json", lambda f, e: e[0].update(response={"text": "A"}),
                   ["GEU_direct.json, index 0 (mental_reconstruction), field 'response': expected a string"]),
    "bad judge reply": ("UEG_direct.json",
                        lambda f, e: e[0]["question_list"][0].update(judge_answer=["yes"]),
                        [("UEG_direct.json, index 0 (world_knowledge), field 'question_list[0].judge_answer': "
                         "expected the judge's reply as a string")]),
    "bad status": ("GEU_direct.json", lambda f, e: e[0].update(status="done"),
                   ["GEU_direct.json, index 0 (mental_reconstruction), field 'status': expected ok"]),
    # Before: a list or object as the status was a traceback (unhashable in the set of statuses).
    "status not a string": ("UEG_direct.json", lambda f, e: e[0].update(status=["ok"]),
                            [("UEG_direct.json, index 0 (world_knowledge), field 'status': expected ok, "
                              "not_supported or error, got ['ok']")]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_named_and_nothing_stored_changes(case, tmp_path, bundled, capsys):
    db = tmp_path / "arena.db"
    good = _folder(tmp_path / "good", bundled)
    assert main(["import-results", str(good), "--model", "earlier", "--data", "bundled", "--db", str(db)]) == 0
    state = dump(db)
    images = sorted(p.name for p in (tmp_path / "images").rglob("*.png"))

    folder = _folder(tmp_path / "bad", bundled)
    name, change, lines = BAD[case]
    _edit(folder, name, lambda entries: change(folder, entries))
    for model in ("earlier", "later"):  # over runs already stored, and as a new model
        capsys.readouterr()
        assert main(["import-results", str(folder), "--model", model, "--data", "bundled", "--db", str(db)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("import-results: error: ") and "nothing was written" in err
        for line in lines:
            assert line in err, err
        assert "Traceback" not in err
        assert dump(db) == state
    assert sorted(p.name for p in (tmp_path / "images").rglob("*.png")) == images


def test_unreadable_json_and_wrong_paths_are_problems_not_tracebacks(tmp_path, bundled, capsys):
    db = tmp_path / "arena.db"
    folder = _folder(tmp_path / "f", bundled)
    (folder / "GEU_direct.json").write_text('[{"index": 0,', encoding="utf-8")
    cases = [
        ([str(folder)], "GEU_direct.json: invalid JSON at line 1"),
        ([str(folder / "u0.png")], "not a result file"),
        ([str(tmp_path)], "import each model's folder with its own --model"),
        ([str(folder / "UEG_direct.json"), "--mode", "stepwise"], "holds direct runs, but --mode asks for stepwise"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert main(["import-results", *extra, "--model", "m", "--db", str(db)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    capsys.readouterr()  # a path naming nothing is a usage error (exit 2), as for every input path
    assert main(["import-results", str(tmp_path / "missing"), "--model", "m", "--db", str(db)]) == 2
    assert "PATH " + str(tmp_path / "missing") + ": no such file or folder" in capsys.readouterr().err
    assert main(["import-results", str(folder), "--model", "m", "--data", str(tmp_path / "nowhere"),
                 "--db", str(db)]) == 2
    assert "--data" in capsys.readouterr().err


def test_a_failed_run_is_stored_as_failed_and_counts_wrong(tmp_path, bundled):
    folder = _folder(tmp_path / "f", bundled)
    _edit(folder, "UEG_direct.json", lambda e: e[0].update(generated_image=""))
    _edit(folder, "GEU_direct.json", lambda e: e[0].update(status="error", error="CUDA out of memory", response=""))
    store = Store.open(tmp_path / "arena.db")
    try:
        from realunify_arena.importing import import_results

        summary = import_results(store, folder, "m", data=load("bundled"))
        assert summary.statuses == {"ok": 2, "error": 2}
        failed = {r["instance_uid"]: r for r in store.runs(status="error")}
        assert set(failed) == {"UEG_0_world_knowledge", "GEU_0_mental_reconstruction"}
        assert store.load_trace(failed["GEU_0_mental_reconstruction"]["id"]).error == "CUDA out of memory"
        assert all(store.find_judgment(r["id"], ANSWER_PARSER) is None for r in failed.values())
    finally:
        store.close()


def test_save_imported_is_one_transaction(tmp_path):
    """A conflict on the second item leaves the first unwritten too."""
    store = Store.open(tmp_path / "arena.db")
    try:
        def item(uid, digest):
            trace = Trace(uid, "m", "direct", {"imported": True}, [Step(StepRole.ANSWER, "p", text="A")])
            return {"trace": trace, "judgments": {}, "origin": {"folder": "f", "file": "GEU_direct.json",
                                                                "entry": uid, "model": "m", "imported_at": "t",
                                                                "digest": digest}}

        assert store.save_imported("d", [item("GEU_1_mental_tracking", "x")]) == {"new": 1, "unchanged": 0,
                                                                                    "replaced": 0, "judged": 0,
                                                                                    "rejudged": 0}
        before = dump(tmp_path / "arena.db")
        with pytest.raises(ImportConflict, match="--replace"):
            store.save_imported("d", [item("GEU_2_mental_tracking", "y"), item("GEU_1_mental_tracking", "z")])
        assert dump(tmp_path / "arena.db") == before
    finally:
        store.close()


def test_names_that_would_mix_with_other_runs_are_refused(tmp_path, bundled):
    """An imported model cannot share its name with runs made here, and judge replies cannot pose as the
    human or answer-parser judgments."""
    from realunify_arena.importing import ImportFailed, import_results

    folder = _folder(tmp_path / "f", bundled)
    store = Store.open(tmp_path / "arena.db")
    try:
        inst = bundled.select("GEU")[0]
        store.save_trace(Trace(inst.uid, "tiny-pair", "direct", SETTINGS, [Step(StepRole.ANSWER, "p", text="A")]),
                         "bundled", pin=True)
        before = dump(tmp_path / "arena.db")
        with pytest.raises(ImportFailed, match="'tiny-pair' already has runs made here"):
            import_results(store, folder, "tiny-pair", data=bundled)
        for judge in ("human", ANSWER_PARSER, " "):
            with pytest.raises(ImportFailed, match="judge name"):
                import_results(store, folder, "other", data=bundled, judge_name=judge)
        for model in ("", " padded ", "\t"):
            with pytest.raises(ImportFailed, match="model name"):
                import_results(store, folder, model, data=bundled)
        assert dump(tmp_path / "arena.db") == before
        assert import_results(store, folder, "tiny-pair-published", data=bundled).new == 4
    finally:
        store.close()


@pytest.mark.parametrize("make", ["folder", "symlink loop"])
def test_a_result_file_name_that_is_not_a_readable_file_is_named(tmp_path, capsys, make):
    """Before: a folder (or a symlink loop) named UEG_direct.json was skipped, and the folder was said to hold
    'no result file itself, but 1 folder(s) under it do (.)', telling the user to import the folder itself."""
    folder = tmp_path / "results"
    folder.mkdir()
    if make == "folder":
        (folder / "UEG_direct.json").mkdir()
    else:
        (folder / "UEG_direct.json").symlink_to(folder / "UEG_direct.json")
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "UEG_direct.json" in err and "cannot be read" in err and "folder(s) under it" not in err, err
    assert "Traceback" not in err


def test_two_models_whose_folder_names_coincide_are_not_exported_over_each_other(exported, tmp_path, capsys):
    """Before: models 'a:direct' and 'a_direct' were both exported to <out>/<dataset>/a_direct, the second's
    files overwriting the first's (direct results of one model beside step results of the other). 'a:direct' is
    no model name any more; a store written before that rule may still hold one."""
    db = tmp_path / "two.db"
    for model in ("a-direct", "a_direct"):
        assert main(["import-results", str(exported / "out" / "bundled" / "origin"), "--model", model, "--data",
                     "bundled", "--db", str(db)]) == 0
    with sqlite3.connect(db) as conn:  # as an import before the model name rule stored it
        conn.execute("update runs set model = 'a:direct' where model = 'a-direct'")
    conn.close()
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("export: error: ") and "'a:direct'" in err and "'a_direct'" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_two_models_folders_of_the_same_name_must_answer_the_same_instances(tmp_path, bundled, capsys):
    """Without --data the runs go under a dataset named after the folder, and the store remembers where the
    first folder of that name was: the app, report and export read the instances there. Before, a second
    model's folder of the same name whose entries hold other instances (other prompts, other indices) was
    stored under the same dataset and uids: a battle showed its image under the first folder's prompt."""
    db = tmp_path / "arena.db"
    a = _folder(tmp_path / "alpha" / "results", bundled)
    same = _folder(tmp_path / "beta" / "results", bundled)  # the same instances: one benchmark, two models
    other = _folder(tmp_path / "gamma" / "results", bundled)
    _edit(other, "UEG_direct.json", lambda es: es[0].update(prompt="A prompt no other folder has"))
    _edit(other, "GEU_direct.json", lambda es: es[1].update(index=9999))
    assert main(["import-results", str(a), "--model", "alpha", "--db", str(db)]) == 0
    assert main(["import-results", str(same), "--model", "beta", "--db", str(db)]) == 0
    capsys.readouterr()
    before = dump(db)

    assert main(["import-results", str(other), "--model", "gamma", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    head, *lines = err.strip().splitlines()
    assert head == "import-results: error: 2 problem(s); nothing was written:", err
    ueg, geu = (i for i in bundled.instances if i.track == "UEG"), (i for i in bundled.instances if i.track == "GEU")
    first_ueg, second_geu = next(ueg), [next(geu), next(geu)][1]
    prompt, index = sorted(lines, key=lambda line: "GEU" in line)
    assert prompt.startswith(f"  UEG_direct.json, index {first_ueg.index} ({first_ueg.task_type}), field 'prompt': "
                             f"disagrees with instance {first_ueg.uid} of dataset 'results'"), err
    assert index.startswith(f"  GEU_direct.json, index 9999 ({second_geu.task_type}), field 'index': instance "
                            f"GEU_9999_{second_geu.task_type} is not in dataset 'results'"), err
    assert str(a.resolve()) in prompt and "Traceback" not in err
    assert dump(db) == before  # nothing stored
    store = Store.open(db)
    assert store.dataset_source("results") == str(a.resolve())
    assert {r["model"] for r in store.runs()} == {"alpha", "beta"}
    store.close()


def test_folders_imported_without_data_are_told_they_will_not_meet_in_a_battle(tmp_path, bundled, capsys):
    """Two models' folders ('ma', 'mb') answering the same instances, imported without --data, are stored
    under two datasets and never battle (hunt25: nothing said so). The second import notes the other dataset
    and how many of its instances it shares; imports with --data bundled share one dataset and note nothing."""
    db = tmp_path / "arena.db"
    ma, mb = _folder(tmp_path / "ma", bundled), _folder(tmp_path / "mb", bundled)
    assert main(["import-results", str(ma), "--model", "model-a", "--db", str(db)]) == 0
    assert "these runs are stored under" not in capsys.readouterr().out
    assert main(["import-results", str(mb), "--model", "model-b", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("note: these runs"))
    assert "dataset 'mb'" in note and "'ma' (4)" in note and "same --data" in note, out  # 2 UEG + 2 GEU entries
    together = tmp_path / "together.db"
    for folder, model in ((ma, "model-a"), (mb, "model-b")):
        assert main(["import-results", str(folder), "--model", model, "--data", "bundled", "--db", str(together)]) == 0
    assert "note:" not in capsys.readouterr().out


def test_geu_entries_whose_input_images_are_not_here_are_noted(tmp_path, bundled, capsys):
    """A runner's folder often holds its replies, not the GEU input images. Imported without --data, the runs
    were stored silently, yet the app loads a GEU instance only with its image: those runs never showed in
    Explore or a battle. The import now says so; with the images in place, or with --data, nothing is noted."""
    folder = _folder(tmp_path / "runner", bundled)  # two GEU entries, their input images not copied
    geu = [i for i in bundled.instances if i.track == "GEU"][:2]
    assert main(["import-results", str(folder), "--model", "runner", "--db", str(tmp_path / "a.db")]) == 0
    note = next(line for line in capsys.readouterr().out.splitlines() if "input image not found" in line)
    assert note.startswith("note: 2 GEU instances name an input image not found under ") and "--data" in note, note
    first = min(geu, key=lambda i: (i.task_type, i.index))  # named first: task type, then index
    assert f"{first.task_type} index {first.index}" in note, note
    assert main(["import-results", str(folder), "--model", "runner", "--data", "bundled",
                 "--db", str(tmp_path / "b.db")]) == 0
    assert "input image not found" not in capsys.readouterr().out
    for inst in geu:  # the images where the entries name them
        target = folder / inst.input_image
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inst.image_path, target)
    assert main(["import-results", str(folder), "--model", "runner", "--db", str(tmp_path / "c.db")]) == 0
    assert "input image not found" not in capsys.readouterr().out


def test_imported_models_are_marked_in_the_leaderboards_table_and_board_rows(tmp_path, bundled):
    """Before, the Leaderboard's Table 2, report's table and files, and the ratings board showed an imported
    model exactly as a model run here."""
    from types import SimpleNamespace

    from realunify_arena import ratings
    from realunify_arena.ui.leaderboard_tab import benchmark_markdown

    store = Store.open(tmp_path / "arena.db")
    import_results(store, _folder(tmp_path / "pub" / "alpha", bundled), "alpha", data=bundled)
    uid = next(i.uid for i in bundled.instances if i.track == "GEU")
    store.save_trace(Trace(uid, "here", "direct", {"seed": 1}, [Step(StepRole.ANSWER, "p", text="A")]), "bundled",
                     pin=True)
    text = benchmark_markdown(SimpleNamespace(store=store))
    assert "| alpha |" in text and "| here |" in text
    assert "Imported from published result files, not run here: `alpha`." in text and "`here`" not in text
    rows = [{"system": "alpha:direct"}, {"system": "here:direct"}]
    assert [r["imported"] for r in ratings.mark_imported(rows, store.imported_models())] == [True, False]
    assert store.imported_models("elsewhere") == set()
    store.close()


# -- export of imported runs -------------------------------------------------------------------------


def test_runs_imported_from_a_runner_folder_without_input_images_export_and_score_back(tmp_path, capsys):
    """A third-party runner's folder holds its replies (here as .jsonl) and generated images, not the GEU input
    images. Imported without --data, its runs must export again: before, export reloaded the folder with the
    dataset loader, which drops every GEU instance whose input image is absent (and reads no .jsonl), and failed
    with "no instance 'GEU_1_mental_tracking' in dataset ...". Expected values by the official rule (first
    capital A-D after removing "Answer" etc.; UEG all polling questions right), computed by hand."""
    folder = tmp_path / "runner-y"
    folder.mkdir()
    _image(1).save(folder / "1.png")
    option = ["one", "two", "three", "four"]
    geu = [{"index": 1, "task_type": "mental_tracking", "input_image": "./image/mt/a/images/1.png",
            "question": "How many?", "option": option, "answer": "B", "response": "Answer: (B)"},  # B: right
           {"index": 2, "task_type": "mental_tracking", "input_image": "./image/mt/a/images/2.png",
            "question": "How many now?", "option": option, "answer": "C", "response": "c"}]  # no capital: wrong
    (folder / "GEU_direct.jsonl").write_text("".join(json.dumps(e) + "\n" for e in geu), encoding="utf-8")
    ueg = [{"index": 1, "task_type": "world_knowledge", "prompt": "a tiger", "generated_image": "1.png",
            "question_list": [{"question": "Is there a tiger?", "answer": "yes", "judge_answer": "Yes."}]}]
    (folder / "UEG_direct.json").write_text(json.dumps(ueg), encoding="utf-8")
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "runner-y", "--db", str(db)]) == 0
    out = tmp_path / "out"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(db),
                 "--judge", "judge_answer"]) == 0, capsys.readouterr().err
    exported = out / "runner-y" / "runner-y"
    entries = json.loads((exported / "GEU_direct.json").read_text(encoding="utf-8"))
    assert [(e["index"], e["input_image"], e["answer"], e["response"]) for e in entries] == [
        (1, "./image/mt/a/images/1.png", "B", "Answer: (B)"), (2, "./image/mt/a/images/2.png", "C", "c")]
    capsys.readouterr()
    assert main(["score-official", str(exported), "--model", "runner-y"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| runner-y")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "100.0/-" and cells[9] == "50.0/-"  # WK 1 of 1; MT 1 of 2
