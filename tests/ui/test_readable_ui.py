"""Readable pages in a real browser: the empty leaderboard says what to do, a code-to-image program keeps its
lines in Explore and the Arena, links carry instance/model/seed, "Judge it yourself" appears only where there
is something to judge, and the benchmark table (batch runs only) reads on a 390 px phone screen.

Its own app (one code-to-image and one mental-tracking instance), so every UEG battle shows the program and
the leaderboard starts empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import desktop_page, launch_app
from playwright.sync_api import expect

from realunify_arena.benchmark import load
from realunify_arena.judge import ANSWER_PARSER, mcq_judgment
from realunify_arena.trace import Step, StepRole, Trace


@pytest.fixture(scope="module")
def readable(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("readable-app")
    demo, url, store = launch_app(root, task_types=["code_to_image", "mental_tracking"])
    data = load(root / "data")
    yield {"url": url, "store": store, "data": data, "source": str(root / "data"),
           "ueg": next(i for i in data.instances if i.track == "UEG"),
           "geu": next(i for i in data.instances if i.track == "GEU")}
    demo.close()
    store.close()


@pytest.fixture
def page(browser, readable):
    with desktop_page(browser) as page:
        yield page


def _program(instance) -> str:
    return instance.prompt.split("\n\n", 1)[1].rstrip("\n")  # the generator writes instruction, blank line, program


def test_an_empty_leaderboard_says_what_to_do_instead_of_an_empty_plot(page, readable):
    page.goto(readable["url"] + "?tab=leaderboard")
    expect(page.locator("#lb-summary")).to_contain_text("no votes yet — play a battle")
    expect(page.locator("#lb-plot")).to_be_hidden()
    expect(page.locator("#lb-benchmark")).to_contain_text("No batch evaluation yet")
    expect(page.locator("#lb-benchmark")).to_contain_text("python -m realunify_arena eval")


def test_a_code_to_image_program_keeps_its_lines_and_a_link_reopens_the_run(page, readable):
    inst = readable["ueg"]
    page.goto(f"{readable['url']}?tab=explore&instance={inst.uid}&model=tiny-janus&seed=4")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{inst.uid}: "))
    page.locator("#ex-run").click()
    code = page.locator("#ex-instance-text pre code")
    expect(code).to_have_count(1)
    assert code.inner_text().rstrip("\n") == _program(inst)  # every line break and indent as written
    assert "\n" in _program(inst)
    link = page.locator("#ex-link textarea, #ex-link input").first
    expect(link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?tab=explore&"))
    query = link.input_value().split("?", 1)[1]
    assert {"instance=" + inst.uid, "model=tiny-janus", "seed=4"} <= set(query.split("&"))

    page.goto(link.input_value())  # the copied link opens the same instance, model and seed
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{inst.uid}"))
    expect(page.locator("#ex-model input")).to_have_value("tiny-janus")
    expect(page.locator("#ex-seed input")).to_have_value("4")


def test_a_battle_shows_the_program_then_links_each_side_after_the_vote(page, readable):
    inst = readable["ueg"]
    page.goto(readable["url"] + "?tab=arena")
    page.locator("#ar-track").get_by_label("UEG", exact=True).check()
    page.locator("#ar-new").click()
    code = page.locator("#ar-instance pre code")
    expect(code).to_have_count(1)
    assert code.inner_text().rstrip("\n") == _program(inst)
    link = page.locator("#ar-link textarea, #ar-link input").first
    expect(link).to_have_value(re.compile(f"instance={inst.uid}"))
    assert "model=" not in link.input_value()  # nothing names a system before the vote
    page.locator("#ar-vote-A").click()
    expect(page.locator("#ar-reveal")).to_contain_text("A was")
    hrefs = [a.get_attribute("href") for a in page.locator("#ar-reveal a").all()]
    assert len(hrefs) == 2 and all(f"instance={inst.uid}" in h and "model=tiny-" in h and "seed=" in h
                                   for h in hrefs)


def test_judge_it_yourself_appears_only_where_there_is_something_to_judge(page, readable):
    ueg, geu = readable["ueg"], readable["geu"]
    page.goto(f"{readable['url']}?tab=explore&instance={ueg.uid}&model=tiny-pair&judge=human&seed=1")
    expect(page.locator("#ex-judge input")).to_have_value("human")
    page.locator("#ex-run").click()
    verdict = page.locator("#ex-direct-verdict")
    # "Not judged by human." read as if no human had judged yet: the judge chosen is the visitor
    expect(verdict).to_contain_text("No judge model ran: the judge chosen is human, you. Judge it yourself below.")
    expect(verdict).not_to_contain_text("Not judged by")
    page.get_by_role("button", name="Judge it yourself").first.click()
    page.locator("#ex-direct-judge-box input[type=checkbox]").first.check()
    page.locator("#ex-direct-judge-save").click()
    expect(page.locator("#ex-direct-human-verdict")).to_contain_text("Saved as your judgment")
    expect(verdict).to_contain_text("Instance score")  # the verdict follows the saved judgment
    expect(verdict).not_to_contain_text("Judge it yourself")

    page.goto(f"{readable['url']}?tab=explore&instance={geu.uid}&model=tiny-pair&judge=human")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{geu.uid}"))
    page.locator("#ex-run").click()
    expect(page.locator("#ex-direct-verdict")).to_contain_text("Parsed letter")
    expect(page.get_by_role("button", name="Judge it yourself")).to_have_count(0)
    assert "Judge it yourself" not in page.locator("#tab-explore").inner_text()


def test_the_benchmark_table_counts_batch_runs_and_reads_on_a_phone(browser, readable):
    store, data, geu = readable["store"], readable["data"], readable["geu"]
    wrong = next(letter for letter in "ABCD" if letter != geu.answer)
    for model, letter, pin in (("tiny-pair", geu.answer, True), ("tiny-emu3", wrong, False)):
        trace = Trace(geu.uid, model, "direct", {"seed": 0}, steps=[Step(StepRole.ANSWER, geu.mcq_text, text=letter)])
        run_id = store.save_trace(trace, data.name, pin=pin)  # pinned: as eval stores it; not: one-off
        store.save_judgment(run_id, ANSWER_PARSER, mcq_judgment(geu, letter).to_dict())
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(readable["url"] + "?tab=leaderboard")
        table = page.locator("#lb-benchmark table").first
        expect(table).to_contain_text("n tiny-pair")
        assert "tiny-emu3" not in page.locator("#lb-benchmark").inner_text()
        expect(page.locator("#lb-benchmark")).to_contain_text("made in Explore")
        lines_per_header = page.evaluate("""() => [...document.querySelectorAll('#lb-benchmark th')].map(th => {
            const range = document.createRange(); range.selectNodeContents(th);
            return [th.innerText, new Set([...range.getClientRects()].map(r => Math.round(r.top))).size];
        })""")
        assert lines_per_header and all(lines == 1 for _, lines in lines_per_header), lines_per_header
        page.screenshot(path=str(readable["store"].path.parent / "phone-leaderboard.png"), full_page=True)
    finally:
        context.close()


def test_an_explore_run_the_disk_did_not_confirm_says_so_in_its_column_and_running_again_saves_it(
        page, readable, monkeypatch):
    """The WAL sync after a run's save fails (EIO): the column says, in place, that this run was not saved
    and to run it again, without the server's path (before: Gradio's bare "Error" toast); Run again stores
    it and judges it."""
    from failing_sync import FailingSync

    from realunify_arena import walsync
    sync = FailingSync(walsync._sync_file)
    monkeypatch.setattr(walsync, "_sync_file", sync)
    ueg = readable["ueg"]
    page.goto(f"{readable['url']}?tab=explore&instance={ueg.uid}&model=tiny-pair&judge=human&seed=31")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{ueg.uid}"))
    status = page.locator("#ex-direct-status, #ex-stepwise-status")
    sync.fail_next(1)  # the run limit's count is synced first (Arena.admit_runs), then a column's save fails
    page.locator("#ex-run").click()
    not_saved = status.filter(has_text="This run was not saved")
    expect(not_saved.first).to_contain_text("run it again")
    assert str(readable["store"].path) not in " ".join(status.all_inner_texts())
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text("Judge it yourself below.")
    expect(not_saved).to_have_count(0)
    stored = readable["store"].query("select mode from runs where instance_uid = ? and model = 'tiny-pair'"
                                     " and json_extract(trace, '$.settings.seed') = 31", (ueg.uid,))
    assert sorted(r["mode"] for r in stored) == ["direct", "stepwise"]


def test_a_vote_or_judgment_the_disk_did_not_confirm_says_so_and_clicking_again_saves_it(page, readable, monkeypatch):
    """The next WAL sync fails (EIO, as after a write-back error): the toast says the write was not saved and
    to try again, without the server's path; the same click again is saved, once."""
    from failing_sync import FailingSync

    from realunify_arena import walsync
    sync = FailingSync(walsync._sync_file)
    monkeypatch.setattr(walsync, "_sync_file", sync)
    toasts = page.locator("[data-testid='toast-text']")

    def fails_then_saves(button, what: str) -> None:
        sync.fail_next()
        button.click()
        expect(toasts.filter(has_text=f"{what} was not saved")).to_contain_text("please try again")
        assert str(readable["store"].path) not in toasts.all_inner_texts()[-1]
        button.click()

    page.goto(readable["url"] + "?tab=arena")
    page.locator("#ar-track").get_by_label("UEG", exact=True).check()
    page.locator("#ar-new").click()
    expect(page.locator("#ar-vote-B")).to_be_enabled()
    votes = readable["store"].counts()["votes"]
    fails_then_saves(page.locator("#ar-vote-B"), "Your vote")
    expect(page.locator("#ar-reveal")).to_contain_text("B was")
    assert readable["store"].counts()["votes"] == votes + 1

    ueg = readable["ueg"]
    page.goto(f"{readable['url']}?tab=explore&instance={ueg.uid}&model=tiny-pair&judge=human&seed=2")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{ueg.uid}"))
    page.locator("#ex-run").click()
    expect(page.locator("#ex-direct-verdict")).to_contain_text("Judge it yourself below.")
    page.get_by_role("button", name="Judge it yourself").first.click()
    page.locator("#ex-direct-judge-box input[type=checkbox]").first.check()
    fails_then_saves(page.locator("#ex-direct-judge-save"), "Your judgment")
    expect(page.locator("#ex-direct-human-verdict")).to_contain_text("Saved as your judgment")
