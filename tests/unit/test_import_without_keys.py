"""``import-results`` keeps no secret a result file holds (a runner's endpoint that echoed its key into a
reply, a judge's reply or an error): the stored runs, their judgments and the SQLite file have it masked, as
``eval`` masks a reply, and so has what ``export`` writes back. Scores are those of the masked text (the reply
is kept around the key). A real store on disk, the real import and export."""

from __future__ import annotations

import json

from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.writer import official_entry
from realunify_arena.importing import import_results
from realunify_arena.judge import ANSWER_PARSER
from realunify_arena.reporting import export_official
from realunify_arena.store import Store

KEY = "imp16-Key-0123456789abcdefghijKLMNOP"


def _key_in(data: str | bytes) -> bool:
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return any(KEY[i:i + 12] in text for i in range(len(KEY) - 11))


def test_a_key_in_a_result_file_is_stored_and_exported_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("IMP16_SERVICE_KEY", KEY)
    data = load("bundled")
    folder = tmp_path / "results"
    folder.mkdir()
    ueg = [official_entry(i, "stepwise") for i in data.instances if i.track == "UEG"][:2]
    for n, entry in enumerate(ueg):
        Image.new("RGB", (24, 16), (40 * n, 90, 10)).save(folder / f"u{n}.png")
        entry.update(generated_image=f"u{n}.png", response=f"a red fox; your key is {KEY}")
        for q in entry["question_list"]:
            q["judge_answer"] = f"{q['answer'].capitalize()}. (key {KEY})"
    ueg[1].update(status="error", error=f"RuntimeError: 401 for key {KEY}", generated_image="")
    geu = [{**official_entry(i, "direct"), "response": f"{i.answer} ({KEY})"}
           for i in data.instances if i.track == "GEU"][:2]
    (folder / "UEG_step.json").write_text(json.dumps(ueg), encoding="utf-8")
    (folder / "GEU_direct.json").write_text(json.dumps(geu), encoding="utf-8")
    db = tmp_path / "arena.db"
    store = Store.open(db)
    try:
        import_results(store, folder, "imported", data=data)
        runs = store.runs()
        assert len(runs) == 4
        traces = [store.load_trace(r["id"]) for r in runs]
        texts = [s.text for t in traces for s in t.steps if s.text] + [t.error for t in traces if t.error]
        assert len(texts) == 5 and all("***" in t for t in texts), texts  # the text kept, the key masked
        judgments = [store.find_judgment(r["id"], j) for r in runs for j in (ANSWER_PARSER, "judge_answer")]
        judgments = [j for j in judgments if j is not None]
        assert len(judgments) == 3 and all(j["score"] == 1 for j in judgments), judgments  # "A (***)" is A
        assert not any(_key_in(json.dumps(t.to_dict())) for t in traces)
        assert not any(_key_in(json.dumps(j)) for j in judgments)
        paths = export_official(store, tmp_path / "out", model="imported", judge="judge_answer")
    finally:
        store.close()
    for part in db.parent.iterdir():  # the database, its WAL and any side file
        if part.is_file():
            assert not _key_in(part.read_bytes()), part.name
    assert paths and not any(_key_in(p.read_text(encoding="utf-8")) for p in paths)
