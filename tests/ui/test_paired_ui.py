"""The Leaderboard's "does stepwise help?" section in a real browser: the forest plot, a category's
discordant instances with links that open them in Explore, and the judge-agreement tables."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest
from conftest import launch_app
from playwright.sync_api import expect

from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.judge import HumanJudge, judge_trace, stored_images

TASKS = ["world_knowledge", "mental_tracking"]


@pytest.fixture(scope="module")
def evaluated_app(tmp_path_factory):
    """A launched app whose store holds tiny-pair's runs in both modes, judged by two people: stepwise
    right and direct wrong on the world-knowledge instance (person 1); person 2 calls everything right."""
    root = tmp_path_factory.mktemp("paired-ui")
    demo, url, store = launch_app(root, task_types=TASKS)
    assert main(["eval", "--model", "tiny-pair", "--data", str(root / "data"), "--mode", "both", "--judge",
                 "tiny-pair", "--judge-attempts", "1", "--db", str(store.path), "--no-progress"]) == 0
    instances = {i.uid: i for i in load(root / "data").instances}
    for run in store.runs(track="UEG"):
        inst = instances[run["instance_uid"]]
        for name, right in (("human", run["mode"] == "stepwise"), ("human-2", True)):
            answers = {q.question: q.answer if right else ("no" if q.answer == "yes" else "yes")
                       for q in inst.question_list}
            judgment = judge_trace(store.load_trace(run["id"]), inst, HumanJudge(answers), stored_images(store))
            store.save_judgment(run["id"], name, judgment.to_dict())
    (uid,) = [u for u in instances if u.startswith("UEG")]
    yield {"url": url, "uid": uid, "data": str(root / "data")}
    demo.close()
    store.close()


def test_the_leaderboard_shows_the_forest_plot_and_opens_a_discordant_instance(page, evaluated_app):
    app = evaluated_app
    page.goto(app["url"] + "?tab=leaderboard")
    page.locator("#lb-refresh").click()
    expect(page.locator("#lb-paired-plot img")).to_have_count(1)
    page.get_by_role("button", name="Paired tables (2x2 counts, p-values, Holm-adjusted)").click()
    expect(page.locator("#lb-paired-tables")).to_contain_text("Paired: tiny-pair on data, UEG judged by human")
    expect(page.locator("#lb-judges")).to_contain_text("Judges on data: human, human-2")
    expect(page.locator("#lb-judges")).to_contain_text("tiny-pair")

    page.locator("#lb-paired-category input").click()
    page.get_by_role("option", name=re.compile(r"tiny-pair · WK: 1 helped, 0 hurt \[data, judge human\]")).click()
    listing = page.locator("#lb-discordant")
    expect(listing).to_contain_text("1 instance right only stepwise")
    link = listing.get_by_role("link", name=app["uid"])
    href = link.get_attribute("href")
    assert href.startswith("?tab=explore&data=") and f"instance={app['uid']}&model=tiny-pair" in href
    assert parse_qs(href[1:])["data"] == ["data"]  # the source's public name, not the server path it was given

    page.locator("#lb-paired-which").get_by_label("stepwise hurt", exact=True).check()
    expect(listing).to_contain_text("no instance was right only direct")

    page.goto(app["url"] + href)  # the link opens the instance in Explore with the model and seed of its runs
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{app['uid']}"))
    expect(page.locator("#ex-model input")).to_have_value("tiny-pair")


# Words of table cells (headers, categories, judge names) whose text spans more than one line box: a word
# broken inside itself, e.g. "McNem / ar p", which a narrow column does when the table may wrap anywhere.
BROKEN_WORDS = """(root) => {
  const broken = [];
  for (const cell of root.querySelectorAll("th, td")) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


def test_the_paired_and_judge_tables_never_break_a_word_across_lines(page, evaluated_app):
    page.goto(evaluated_app["url"] + "?tab=leaderboard")
    page.locator("#lb-refresh").click()
    page.get_by_role("button", name="Paired tables (2x2 counts, p-values, Holm-adjusted)").click()
    for section in ("#lb-paired-tables", "#lb-judges"):
        expect(page.locator(f"{section} table").first).to_be_visible()
        assert page.locator(section).evaluate(BROKEN_WORDS) == [], section
