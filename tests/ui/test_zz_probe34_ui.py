import json
import re
from urllib.parse import parse_qs, urlsplit

from conftest import vote_in_arena
from playwright.sync_api import expect

SETTINGS = "Generation settings (empty: the card's default)"


def _q(url):
    return parse_qs(urlsplit(url).query)


def _choose_model(page, name):
    page.locator("#ex-model input").click()
    page.get_by_role("option", name=re.compile(rf"^{name}")).first.click(timeout=10_000)
    expect(page.locator("#ex-model input")).to_have_value(name)


def _run(page):
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in")
    return page.locator("#ex-link textarea, #ex-link input").first.input_value()


def _last_runs(app, n=2):
    runs = app["store"].runs()
    return [(r["id"], r["model"], r["mode"], json.loads(r["settings_key"])) for r in runs[-n:]]


def _test_p1_link_other_model_run_and_reproduce(page, app):
    page.goto(app["url"] + "?tab=explore&model=tiny-janus&guidance=7&seed=3&track=UEG")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.get_by_text(SETTINGS).click()
    expect(page.locator("#ex-guidance input")).to_have_value("7")
    print("P1 url", page.url)
    link = _run(page)
    print("P1 link", link)
    print("P1 runs", _last_runs(app))
    print("P1 status", page.locator("#ex-direct-status").inner_text())
    page.goto(link)
    expect(page.locator("#ex-run")).to_be_enabled()
    print("P1 reopened url", page.url)
    link2 = _run(page)
    print("P1 link2", link2)
    print("P1 status2", page.locator("#ex-direct-status").inner_text(), page.locator("#ex-stepwise-status").inner_text())


def _test_p2_model_change_after_link(page, app):
    page.goto(app["url"] + "?tab=explore&model=tiny-pair&steps=5&guidance=2.5&max_new_tokens=16&seed=4")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.get_by_text(SETTINGS).click()
    expect(page.locator("#ex-steps input")).to_have_value("5")
    _choose_model(page, "tiny-janus")
    expect(page.locator("#ex-guidance input")).to_have_value("5")
    print("P2 fields", page.locator("#ex-guidance input").input_value(), page.locator("#ex-max-new-tokens input").input_value(),
          page.locator("#ex-steps").is_visible())
    print("P2 url", page.url)
    link = _run(page)
    print("P2 link", link)
    print("P2 runs", _last_runs(app))
    _choose_model(page, "tiny-pair")
    expect(page.locator("#ex-steps input")).to_have_value("2")
    page.wait_for_timeout(3000)
    print("P2 back url", page.url, page.locator("#ex-guidance input").input_value())


def _test_p3_odd_values(page, app):
    for q in ("steps=00005&guidance=%2B2.5", "steps=%205&guidance=2.5%20", "guidance=100&max_new_tokens=257&steps=51", "steps=0&max_new_tokens=0", "guidance=1e309&steps=50&max_new_tokens=256",
              "steps=5&steps=7&guidance=1e-400", "model=nope&steps=5"):
        page.goto(app["url"] + "?tab=explore&" + q)
        expect(page.locator("#ex-run")).to_be_enabled()
        page.wait_for_timeout(1500)
        page.get_by_text(SETTINGS).click()
        vals = [page.locator(f"#ex-{n} input").input_value() for n in ("steps", "guidance", "max-new-tokens")]
        toasts = page.get_by_text(re.compile("The link")).all_inner_texts()
        print("P3", q, "->", vals, page.url.split("?")[1], toasts)


def test_p4_arena_links(page, app):
    from conftest import start_battle
    start_battle(page, app["url"], "UEG", "two models, same mode")
    html = page.content()
    print("P4 before vote explore links:", "tab=explore" in page.locator("#ar-reveal").inner_html(), html.count("tab=explore"))
    page.locator("#ar-vote-A").click()
    expect(page.locator("#ar-reveal")).to_contain_text("You voted")
    links = [a.get_attribute("href") for a in page.locator("#ar-reveal a").all()]
    print("P4 after", links)
    print("P4 runs", _last_runs(app))
