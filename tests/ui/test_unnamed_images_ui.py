"""What a screen reader finds of the page's pictures. Seen in Chromium's accessibility tree: every menu's arrow, each
image box's label pictogram, an empty image box's pictogram and the icons inside named buttons were images with no
name (Gradio draws its icons as bare SVGs), so a screen reader said "image" after each menu of Explore's form, with
nothing to tell it what the image was.

Expected, from WAI-ARIA 1.2 (role img: "Authors MUST provide an accessible name") and WCAG 2.2, 1.1.1 (pure
decoration is implemented so that assistive technology can ignore it): no image in the tree is without a name; the
pictures that mean something (a generated image, the page's logos) keep theirs.
"""

from __future__ import annotations

import re

import pytest
from conftest import TABS, open_tab, run_in_explore

UNNAMED_IMAGE = re.compile(r"^\s*- img\s*$", re.MULTILINE)  # Playwright's ARIA snapshot of an image with no name


def _settled_snapshot(locator, tries: int = 40) -> str:
    """``locator``'s ARIA snapshot once it shows no unnamed image, or after ``tries`` looks 0.25 s apart (the
    page's script names what Gradio drew a frame later); the last snapshot either way."""
    for _ in range(tries):
        snapshot = locator.aria_snapshot()
        if not UNNAMED_IMAGE.search(snapshot):
            break
        locator.page.wait_for_timeout(250)
    return snapshot


@pytest.mark.parametrize("tab", TABS)
def test_no_image_without_a_name_on_each_tab(page, app, tab):
    open_tab(page, app["url"], tab)
    snapshot = _settled_snapshot(page.locator("body"))
    assert not UNNAMED_IMAGE.findall(snapshot), snapshot
    assert 'img "logo"' in snapshot  # a named picture stays in the tree


def test_the_generated_images_keep_their_name_after_a_run(page, app):
    run_in_explore(page, app["url"])
    snapshot = _settled_snapshot(page.locator("[role=tabpanel]:visible"))
    assert not UNNAMED_IMAGE.findall(snapshot), snapshot
    assert len(re.findall(r'img "Generated image"', snapshot)) == 2, snapshot
