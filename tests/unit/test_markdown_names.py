"""Names from outside in the Markdown tables: a dataset named after a published folder, a judge named on the command
line. ``import-results`` without ``--data`` names the dataset after the folder it reads, whose name the folder's
publisher chose; the Leaderboard tab renders the benchmark, paired and judge sections as Markdown (Gradio's
``gr.Markdown``), and ``report`` prints the same Markdown. A folder named ``<img src="http:&#47;&#47;host/x.png">``
(``&#47;`` spells the "/" a folder name cannot hold) put a remote image on the app's page, which the visitor's
browser fetched (measured in Chromium before the fix: the request went out), and ``[sign in](https:evil.example)``
a link.

Expected values come from an independent CommonMark renderer (``markdown-it-py``, raw HTML on, tables on, as the
page renders raw HTML): no element is made of a name, and the text shown is the name as written.
"""

from __future__ import annotations

import html
import json
import re
from types import SimpleNamespace

import pytest
from markdown_it import MarkdownIt
from PIL import Image

from realunify_arena.cli import main
from realunify_arena.store import Store

FOLDER = '<img src="http:&#47;&#47;127.0.0.1:9&#47;x.png"> [sign in](https:evil.example) **b** `c` _d_ |e| ~~f~~'
JUDGE = '<img src="http://127.0.0.1:9/j.png"> [j](https://evil.example) __k__'
MODEL = "m_1"
RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def published(root):
    """A published result folder of both tracks, both modes (UEG judged), named ``FOLDER``."""
    folder = root / FOLDER
    (folder / "image").mkdir(parents=True)
    Image.new("RGB", (16, 16), "white").save(folder / "image" / "x.png")
    ueg, geu = [], []
    for index in range(4):
        answers = ["Yes", "No"] if index % 2 else ["No", "No"]
        ueg.append({"index": index, "task_type": "world_knowledge", "prompt": f"a tiger number {index}",
                    "generated_image": "image/x.png",
                    "question_list": [{"question": "Is there a tiger?", "answer": "yes", "judge_answer": answers[0]},
                                      {"question": "Is there a lion?", "answer": "no", "judge_answer": answers[1]}]})
        geu.append({"index": index, "task_type": "mental_tracking", "input_image": "./image/x.png",
                    "question": f"Which digit, {index}?", "option": ["1", "2", "3", "4"], "answer": "B",
                    "response": "B" if index % 2 else "C"})
    step = [dict(e, response=e["prompt"], question_list=[dict(q, judge_answer="Yes" if q["answer"] == "yes" else "No")
                                                           for q in e["question_list"]]) for e in ueg]
    for name, entries in (("UEG_direct", ueg), ("UEG_step", step), ("GEU_direct", geu)):
        (folder / f"{name}.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


@pytest.fixture
def store_path(tmp_path, capsys):
    db = tmp_path / "arena.db"
    folder = published(tmp_path / "published")
    assert main(["import-results", str(folder), "--model", MODEL, "--db", str(db), "--judge-name", JUDGE]) == 0
    capsys.readouterr()
    return db


def shown(markdown: str, within: str = "h3|td|strong|em") -> list[tuple[str, list[str]]]:
    """(the text, as a browser shows it: tags dropped, entities and escapes resolved; the elements inside it) of
    each heading, table cell and emphasis (where a name is written)."""
    rendered = RENDER.render(markdown)
    inner = re.findall(rf"<({within})(?: [^>]*)?>(.*?)</\1>", rendered, re.S)
    return [(html.unescape(re.sub(r"<[^>]+>", "", t)), re.findall(r"<[^>]+>", t)) for _, t in inner]


def element_free(parts: list[tuple[str, list[str]]], text: str) -> bool:
    """``text`` is shown as the whole of a heading, cell or emphasis, and no element was made inside it."""
    return any(shown == text and not tags for shown, tags in parts)


def test_report_prints_a_published_folder_s_name_and_a_judge_s_name_as_text(store_path, capsys, tmp_path):
    assert main(["report", "--db", str(store_path), "--out", str(tmp_path / "out")]) == 0
    parts = shown(capsys.readouterr().out)
    assert element_free(parts, f"{FOLDER}, UEG judged by {JUDGE}")
    assert element_free(parts, MODEL)


def test_the_leaderboard_tab_s_benchmark_section_shows_the_names_as_text(store_path):
    from realunify_arena.ui.leaderboard_tab import benchmark_markdown

    store = Store.open(store_path)
    try:
        parts = shown(benchmark_markdown(SimpleNamespace(store=store)))
    finally:
        store.close()
    assert element_free(parts, f"{FOLDER}, UEG judged by {JUDGE}")
    assert not [tags for _, tags in parts if tags]


def test_the_paired_tables_show_the_names_as_text(store_path, capsys, tmp_path):
    assert main(["report", "--paired", "--db", str(store_path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    parts = shown(out[out.index("### Paired"):], within="h3")
    assert element_free(parts, f"Paired: {MODEL} on {FOLDER}, UEG judged by {JUDGE}")


def test_the_discordant_list_shows_the_names_as_text(store_path):
    from realunify_arena import paired

    store = Store.open(store_path)
    try:
        (analysis,) = paired.analyses_from_store(store, pinned=True)
        key = paired.category_key(analysis.paired, "world_knowledge")
        listed = paired.discordant_markdown(store, key, paired.HELPED, pinned=True)
        gone = paired.discordant_markdown(store, json.dumps([FOLDER, JUDGE, "_gone_", "UEG"]), paired.HELPED)
    finally:
        store.close()
    assert element_free(shown(listed), f"{MODEL}, WK: 2 instances right only stepwise")
    assert element_free(shown(gone), f"_gone_ has no paired runs on {FOLDER} any more.")


def test_the_judge_agreement_section_shows_the_names_as_text(store_path, capsys, tmp_path):
    other = "[other](https://evil.example)"
    store = Store.open(store_path)
    try:
        for judgment in store.judgments(JUDGE):  # a second judge agreeing on every run
            kept = {k: judgment[k] for k in ("kind", "score", "details", "errors")}
            store.save_judgment(judgment["run_id"], other, kept)
    finally:
        store.close()
    assert main(["report", "--judges", f"{JUDGE},{other}", "--db", str(store_path), "--out", str(tmp_path)]) == 0
    parts = shown(capsys.readouterr().out)
    assert element_free(parts, f"Judges on {FOLDER}: {JUDGE}, {other}")
    assert element_free(parts, JUDGE) and element_free(parts, other) and element_free(parts, MODEL)


def test_the_notes_under_the_paired_tables_show_the_names_as_text(store_path, tmp_path, capsys):
    from realunify_arena import paired
    from realunify_arena.ui.leaderboard_tab import paired_texts

    folder = tmp_path / "published" / FOLDER
    assert main(["import-results", str(folder), "--model", "solo", "--mode", "direct", "--db", str(store_path),
                 "--judge-name", JUDGE]) == 0
    store = Store.open(store_path)
    try:
        analyses = paired.analyses_from_store(store, pinned=True)
        note = paired.one_mode_note(paired.one_mode_systems(store, pinned=True))
    finally:
        store.close()
    _, tables = paired_texts(analyses, note)  # what the Leaderboard tab shows
    parts = shown(tables, within="p")
    assert element_free(parts, f"Not paired, stored in one mode only: solo on {FOLDER} (direct only)")
    # a stepwise run the table's judge never judged: the note under the table names that judge
    for entry in (entries := json.loads((folder / "UEG_step.json").read_text(encoding="utf-8"))):
        for question in entry["question_list"]:
            del question["judge_answer"]
    (folder / "UEG_step.json").write_text(json.dumps(entries), encoding="utf-8")
    fresh = tmp_path / "fresh.db"
    assert main(["import-results", str(folder), "--model", MODEL, "--db", str(fresh), "--judge-name", JUDGE]) == 0
    capsys.readouterr()
    assert main(["report", "--paired", "--db", str(fresh), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    (said,) = [text for text, tags in shown(out[out.index("### Paired"):], within="p") if "never judged" in text]
    assert f"4 instances have a stepwise run {JUDGE} never judged" in said and f"judge those runs with {JUDGE}" in said
    assert [tags for text, tags in shown(out[out.index("### Paired"):], within="p") if "never judged" in text] == [[]]


# GFM's extended autolinks (GitHub Flavored Markdown 0.29-gfm, 6.9 "Autolinks (extension)"), which Gradio's Markdown
# (marked, gfm) and GitHub make links of with no markup: a www autolink, a URL autolink, an email autolink. CommonMark
# (the renderer above) has none, so the Markdown source is checked against the spec's own triggers.
GFM_AUTOLINKS = (re.compile(r"(?:^|[\s*_~(])www\.", re.I), re.compile(r"(?:^|[\s*_~(])(?:https?|ftp)://", re.I),
                 re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9_-]+\.[A-Za-z0-9._-]*[A-Za-z0-9]"))


def test_a_bare_web_or_mail_address_in_a_name_is_no_link(tmp_path, capsys):
    folder, judge = "see www.evil.example or mail a@evil.example", "j https://evil.example/x"
    published_folder = tmp_path / "published" / folder
    published_folder.parent.mkdir()
    published(tmp_path / "made").rename(published_folder)
    db = tmp_path / "arena.db"
    imported = ["import-results", str(published_folder), "--model", MODEL, "--db", str(db), "--judge-name", judge]
    assert main(imported) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    heading = out.splitlines()[0]
    assert element_free(shown(out), f"{folder}, UEG judged by {judge}")
    assert [p.pattern for p in GFM_AUTOLINKS if p.search(heading)] == [], heading


def test_a_name_ending_in_a_hash_keeps_it_in_a_heading(tmp_path, capsys):
    """A judge named "judge #" closes the report's heading: CommonMark (0.31, 4.2 "ATX headings") reads a last run of
    "#" after a space as the heading's optional closing sequence, so the heading showed "judge", not "judge #"; a
    folder named "# notes #" also. Expected from the renderer: the heading shows both names as written."""
    folder, judge = "# notes #", "judge #"
    published_folder = tmp_path / "published" / folder
    published_folder.parent.mkdir()
    published(tmp_path / "made").rename(published_folder)
    db = tmp_path / "arena.db"
    assert main(["import-results", str(published_folder), "--model", MODEL, "--db", str(db),
                 "--judge-name", judge]) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    assert element_free(shown(capsys.readouterr().out, within="h3"), f"{folder}, UEG judged by {judge}")
