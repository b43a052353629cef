"""A battle side's image fills its box on a phone. Gradio draws an image no larger than its file (``object-fit:
scale-down``), and a side's image is the stored output as it is: a tiny model's 32x32 picture was a 32 px speck in
the middle of a 320 px box (seen in Chromium at 390 px wide), where Explore shows the same output scaled up.

Expected, from the screen: a line of pixels three quarters down the side's image box crosses the picture (a tiny
model's output is noise: many colours) rather than the box's empty background (one colour).
"""

from __future__ import annotations

import io

from conftest import start_battle
from playwright.sync_api import expect
from PIL import Image


def test_a_tiny_side_s_image_fills_its_box_on_a_phone(browser, app):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        start_battle(page, app["url"], "UEG", "two models, same mode")
        for side in ("a", "b"):
            image = page.locator(f"#ar-{side}-image img")
            image.scroll_into_view_if_needed()
            expect(image).to_have_js_property("complete", True)
            box = image.bounding_box()
            assert box["width"] >= 300, box  # the box itself: the page's column, less its margins
            shot = Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")
            row = int(shot.height * 0.75)
            colours = {shot.getpixel((x, row)) for x in range(shot.width)}
            assert len(colours) > 10, (side, len(colours))
    finally:
        context.close()
