"""What a newcomer meets in Explore, in a real browser: the chosen instance is shown before Run, the earlier runs'
table shows every header and value whole inside its box, the earlier outputs are not blurred by the browser,
and "strict parse" says what it means.

Its own app (one UEG and one GEU instance); the tiny models' outputs are 32x32 noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import desktop_page, launch_app
from playwright.sync_api import expect

from realunify_arena.benchmark import load

# Per header and cell (shown) of the tables under ``root``: [text, how far its text reaches past the cell's right edge and
# past the box around the table (px; > 0: cut off or hidden), the words that break across lines].
_CELLS_JS = """root => {
  return [...root.querySelectorAll('th, td')].filter(cell => cell.offsetParent !== null).map(cell => {
    let box = cell.closest('table').parentElement;  // the nearest box that clips (a scroll box), else the component
    while (box !== root && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
    const edge = Math.min(box.getBoundingClientRect().right, root.getBoundingClientRect().right);
    const range = document.createRange();
    const label = cell.querySelector('span.text') || cell;  // a gr.Dataframe cell: its text, not its menu button
    range.selectNodeContents(label);
    const text = range.getBoundingClientRect();
    const split = [];
    const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const word = document.createRange();
        word.setStart(node, m.index); word.setEnd(node, m.index + m[0].length);
        const lines = new Set([...word.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) split.push(m[0]);
      }
    }
    return [label.textContent.trim(), text.right - cell.getBoundingClientRect().right, text.right - edge, split];
  });
}"""


@pytest.fixture(scope="module")
def explore(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("newcomer-app")
    demo, url, store = launch_app(root, task_types=["mathematical_reasoning", "mental_tracking"])
    data = load(root / "data")
    yield {"url": url, "ueg": next(i for i in data.instances if i.track == "UEG"),
           "geu": next(i for i in data.instances if i.track == "GEU")}
    demo.close()
    store.close()


@pytest.fixture
def page(browser, explore):
    with desktop_page(browser) as page:
        yield page


def _pick(page, track: str, uid: str) -> None:
    """Choose ``uid`` in the Instance menu as a visitor does: the track, then the menu's entry."""
    page.locator("#ex-track").get_by_label(track, exact=True).check()
    expect(page.locator("#ex-instance input")).to_have_value("random")
    page.locator("#ex-instance input").click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(uid)}: ")).click()
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{re.escape(uid)}: "))


def _run(page, seed: int) -> None:
    page.locator("#ex-seed input").fill(str(seed))
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text(f"seed {seed}")
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text(re.compile("done in|not supported"))
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text(re.compile("Instance score|nothing to judge"))


def test_the_chosen_instance_is_shown_before_run(page, explore):
    """Before: choosing an instance showed only its menu label, cut off after 70 characters; the question,
    options and image (GEU) or the prompt (UEG) appeared only once Run had started the models."""
    page.goto(explore["url"] + "?tab=explore")
    geu = explore["geu"]
    _pick(page, "GEU", geu.uid)
    shown = page.locator("#ex-instance-text")
    expect(shown).to_contain_text(" ".join(geu.question.split()))
    for option in geu.option:
        expect(shown).to_contain_text(" ".join(option.split()))
    expect(page.locator("#ex-input-image img")).to_be_visible()
    expect(page.locator("#ex-direct-status")).to_have_text("")  # nothing ran

    ueg = explore["ueg"]
    _pick(page, "UEG", ueg.uid)
    expect(shown).to_contain_text(" ".join(ueg.prompt.split()[:12]))
    expect(page.locator("#ex-input-image")).to_be_hidden()


def _earlier_runs(page, explore) -> None:
    """Two runs of the UEG instance (seeds 0 and 1), then "Earlier runs of this column" opened."""
    page.goto(f"{explore['url']}?tab=explore&instance={explore['ueg'].uid}&model=tiny-pair")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{explore['ueg'].uid}"))
    for seed in (0, 1):
        _run(page, seed)
    page.get_by_role("button", name="Earlier runs of this column").first.click()


def test_earlier_runs_show_every_header_and_value_whole_inside_the_box(page, explore):
    """Before: the table of earlier runs clipped its last header to "from st" (it reached ~32 px past its box),
    and ``wrap=True`` broke headers inside words ("see|d")."""
    _earlier_runs(page, explore)
    table = page.locator("#ex-direct-history")
    expect(table.locator("table").first).to_be_visible()
    expect(table).to_contain_text(explore["ueg"].uid)
    cells = table.evaluate(_CELLS_JS)
    texts = [c[0] for c in cells]
    assert {"run", "instance", "seed", "status", "score", explore["ueg"].uid} <= set(texts), texts
    for text, past_cell, past_box, split in cells:
        assert past_cell <= 0.5, f"{text!r} reaches {past_cell:.1f} px past its cell"
        assert past_box <= 0.5, f"{text!r} reaches {past_box:.1f} px past the table's box"
        assert not split, f"{text!r}: the word(s) {split} break across lines"


def test_earlier_outputs_are_not_enlarged_by_the_browser(page, explore):
    """Before: the earlier outputs were the 32x32 images, stretched by the browser to ~275 px thumbnails: a
    blur (the column's own image box shows them enlarged with sharp pixels, ``render.scaled_up``)."""
    _earlier_runs(page, explore)
    thumbnails = page.locator("#ex-direct-gallery img")
    expect(thumbnails).to_have_count(2)
    for k in range(2):
        expect(thumbnails.nth(k)).to_be_visible()
        natural, shown = thumbnails.nth(k).evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
        assert natural >= shown, f"a {natural} px wide image shown {shown:.0f} px wide: the browser blurs it"


def test_strict_parse_says_what_it_means_beside_the_parsed_letter(page, explore):
    """Before: a GEU verdict read "Parsed letter: none (strict parse: none)" with no word on either rule."""
    page.goto(f"{explore['url']}?tab=explore&instance={explore['geu'].uid}&model=tiny-pair")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{explore['geu'].uid}"))
    _run(page, 0)
    verdict = page.locator("#ex-direct-verdict")
    expect(verdict).to_contain_text("strict parse")
    # the official rule (FrankYang-17/RealUnify eval/eval_understanding.py: the first capital A-D) and the strict one
    expect(verdict).to_contain_text("official RealUnify script")
    expect(verdict).to_contain_text("first capital A, B, C or D")
    expect(verdict).to_contain_text("only when the reply is nothing but that letter")
