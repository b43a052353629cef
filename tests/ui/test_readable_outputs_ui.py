"""What a first-time visitor reads in the outputs: an empty answer says so before the vote as it does after it,
and the judge's table breaks its headers and marks between words, never inside one.

Its own app in stored mode over one generated GEU and one UEG instance: battles show runs stored here, so a
side's answer is exactly the text the test stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import MODELS, desktop_page, start_battle
from playwright.sync_api import expect

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui import build_demo, launch_options

SHOWN_EMPTY = "(empty output)"  # what Explore's answer box already showed for an empty answer


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("readable-outputs")
    write_set(generate_set(1, seed=5, task_types=["mental_tracking", "world_knowledge"]), root / "data")
    data = load(root / "data")
    geu = next(i for i in data.instances if i.track == "GEU")
    store = Store.open(root / "arena.db")
    for model, answer in zip(MODELS, ("", " \n ")):  # nothing, and only white space: both look blank
        trace = Trace(geu.uid, model, "direct", {"seed": 0}, steps=[Step(StepRole.ANSWER, geu.mcq_text, text=answer)])
        store.save_trace(trace, data.name, pin=True)
    settings = Settings(data=(str(root / "data"),), models=MODELS, judge="tiny-pair", db=root / "arena.db",
                        arena_mode="stored", min_votes=1)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield {"url": url, "data": data}
    demo.close()
    store.close()


@pytest.fixture
def page(browser, stored):
    with desktop_page(browser) as page:
        yield page


def test_an_empty_answer_says_so_before_the_vote(page, stored):
    """Before: a battle side whose answer was empty (or white space) showed a blank box, as a side still
    waiting does, while Explore and the reveal showed "(empty output)" for the same run."""
    start_battle(page, stored["url"], "GEU", "two models, same mode")
    for side in ("a", "b"):
        expect(page.locator(f"#ar-{side}-answer textarea")).to_have_value(SHOWN_EMPTY)


WORDS_SPLIT_ACROSS_LINES = """(root) => {
    const split = [];
    for (const cell of root.querySelectorAll('th, td')) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node; (node = walker.nextNode());) {
            for (const word of node.textContent.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, word.index);
                range.setEnd(node, word.index + word[0].length);
                const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                if (tops.size > 1) split.push(word[0]);
            }
        }
    }
    return split;
}"""


def test_the_judge_table_breaks_lines_between_words_only(page, stored):
    """Before: in a 1400 px window the verdict table's narrow columns broke inside words ("expect|ed",
    "verdi|ct", "unparsea|ble"), Gradio's Markdown allowing a break anywhere."""
    ueg = next(i for i in stored["data"].instances if i.track == "UEG")
    page.goto(f"{stored['url']}?tab=explore&instance={ueg.uid}&model=tiny-janus&judge=tiny-pair&seed=1")
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        table = page.locator(f"#ex-{mode}-verdict table")
        expect(table).to_contain_text("polling question")
        assert table.locator("tbody tr").count() == len(ueg.question_list)
        assert table.evaluate(WORDS_SPLIT_ACROSS_LINES) == []


def test_the_paired_section_says_explore_runs_are_not_paired_instead_of_an_empty_plot(page, stored):
    """Before: right after running a model in both modes in Explore, the Leaderboard's "Does stepwise help?"
    showed an empty plot box titled "No model stored in both modes yet"; the section pairs batch runs only."""
    ueg = next(i for i in stored["data"].instances if i.track == "UEG")
    page.goto(f"{stored['url']}?tab=explore&instance={ueg.uid}&model=tiny-janus&judge=tiny-pair&seed=2")
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text("Instance score")
    page.goto(stored["url"] + "?tab=leaderboard")
    expect(page.locator("#lb-paired-empty")).to_contain_text("Runs made in Explore or for Arena battles are not paired here")
    expect(page.locator("#lb-paired-empty")).to_contain_text("--mode both")
    expect(page.locator("#lb-paired-plot")).to_be_hidden()
