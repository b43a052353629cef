"""Every control and output image a visitor meets has a name a screen reader can say, as Chromium itself
computes it (its accessibility tree over the DevTools protocol, the names assistive technology is given).

The failing case (hunt27b): the link boxes with a copy button had no name of their own. Gradio puts the copy
button inside the box's ``<label>``, before the field, so the label named the button (which keeps its own
"Copy") and left the field nameless: the Arena's link box was an unnamed text box, Explore's was named by its
placeholder ("Run an instance of a data source to get its link") even while it held the link. The generated,
edited and input images were unnamed buttons (Gradio's image frame around an ``<img alt="">``).
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

# roles a visitor operates or reads as a result; each must have a name that is not only its placeholder
NAMED_ROLES = {"textbox", "combobox", "checkbox", "radio", "spinbutton", "button", "slider", "listbox", "link"}


def unnamed_controls(page) -> list[str]:
    """The page's controls (``NAMED_ROLES``, not hidden from assistive technology) that Chromium names with
    nothing, or with their placeholder only: ``role 'name' (source)`` for each."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    found = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if role not in NAMED_ROLES or node.get("ignored"):
            continue
        name = node.get("name", {})
        sources = [s.get("attribute") or s.get("type") for s in name.get("sources", []) if s.get("value")]
        if not name.get("value", "").strip() or sources == ["placeholder"]:
            found.append(f"{role} {name.get('value', '')!r} ({', '.join(sources) or 'no name'})")
    return found


def test_explore_names_its_link_box_and_its_images_before_and_after_a_run(page, app):
    page.goto(f"{app['url']}?tab=explore&instance={app['uids']['GEU']}&model=tiny-pair&seed=0")
    expect(page.locator("#ex-run")).to_be_enabled()
    link = page.get_by_role("textbox", name="Link to this run (instance, model, seed)", exact=True)
    expect(link).to_have_count(1)
    assert unnamed_controls(page) == []
    page.locator("#ex-run").click()
    expect(page.locator("#ex-stepwise-status")).to_contain_text("done in")
    expect(page.locator("#ex-direct-status")).to_contain_text("done in")
    expect(link).to_have_value(re.compile(f"instance={app['uids']['GEU']}&model=tiny-pair&seed=0"))
    for name in ("Input image", "Edited image (step 1)"):
        expect(page.get_by_role("button", name=name, exact=True).first).to_be_visible()
    assert unnamed_controls(page) == []


def test_the_arena_names_its_link_box_and_each_side_s_image(page, app):
    page.goto(app["url"] + "?tab=arena")
    page.locator("#ar-track").get_by_label("UEG", exact=True).check()
    link = page.get_by_role("textbox", name="Link to this instance (opens it in Explore)", exact=True)
    expect(link).to_have_count(1)
    page.locator("#ar-new").click()
    expect(page.locator("#ar-vote-A")).to_be_enabled()
    expect(link).to_have_value(re.compile(f"instance={app['uids']['UEG']}$"))
    expect(page.get_by_role("button", name="Generated image", exact=True)).to_have_count(2)
    assert unnamed_controls(page) == []
    page.locator("#ar-vote-A").click()
    expect(page.locator("#ar-reveal")).to_contain_text("You voted")
    assert unnamed_controls(page) == []
