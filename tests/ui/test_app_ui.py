"""The three tabs in a real browser: columns fill step by step, a battle takes a vote, the board moves."""

from __future__ import annotations

import inspect
import json
import re
import struct
import zlib

from conftest import MODELS, vote_in_arena
from PIL import Image
from playwright.sync_api import expect

ANY_TEXT = re.compile(r"\S")


def _open(page, app, tab: str = "explore"):
    """Open the app on ``tab`` through the URL's query parameter."""
    page.goto(app["url"] + f"?tab={tab}")
    expect(page.locator(f"#tab-{tab}")).to_be_visible()


def test_explore_ueg_fills_both_columns_including_the_refined_prompt(page, app):
    _open(page, app)
    page.locator("#ex-run").click()
    expect(page.locator("#ex-stepwise-refined textarea")).to_have_value(ANY_TEXT)
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-image img")).to_have_count(1)
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in")
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text("Instance score")
    expect(page.locator("#ex-direct-refined")).to_be_hidden()  # direct has no intermediate step
    expect(page.locator("#ex-stepwise-status")).to_contain_text("refined prompt")
    uid = page.locator("#ex-instance-text").inner_text().split()[0]
    stored = {(r["instance_uid"], r["mode"]) for r in app["store"].runs()}
    assert {(uid, "direct"), (uid, "stepwise")} <= stored


def test_explore_geu_shows_the_edited_image_then_the_answer(page, app):
    _open(page, app)
    page.locator("#ex-track").get_by_label("GEU", exact=True).check()
    page.locator("#ex-run").click()
    expect(page.locator("#ex-stepwise-edited img")).to_have_count(1)
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-answer textarea")).to_have_value(ANY_TEXT)
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text("Parsed letter")
    expect(page.locator("#ex-input-image img")).to_have_count(1)


def test_a_battle_hides_the_systems_until_the_vote(page, app):
    _open(page, app, "arena")
    arena = page.locator("#tab-arena")
    arena.locator("#ar-track").get_by_label("UEG", exact=True).check()
    vote = page.locator("#ar-vote-A")
    expect(vote).to_be_disabled()
    page.locator("#ar-new").click()
    expect(vote).to_be_enabled()
    for side in ("a", "b"):
        expect(page.locator(f"#ar-{side}-status")).to_contain_text("done")
        expect(page.locator(f"#ar-{side}-image img")).to_have_count(1)
    assert not any(name in arena.inner_text() for name in MODELS)
    votes_before = len(app["store"].votes())
    vote.click()
    expect(page.locator("#ar-reveal")).to_contain_text("A was ")
    expect(vote).to_be_disabled()
    expect(page.locator("#ar-next")).to_be_visible()
    assert len(app["store"].votes()) == votes_before + 1
    revealed = page.locator("#ar-reveal").inner_text()
    assert any(name in revealed for name in MODELS)
    # the judge model scores both sides after the reveal, as a model event: admitted at once, it waits for
    # the accelerator in ctx.device_slot when its card is local (battles.judging_needs_device)
    expect(page.locator("#ar-reveal")).not_to_contain_text("judging")
    for side in ("A", "B"):
        expect(page.locator("#ar-reveal")).to_contain_text(
            re.compile(rf"{side} was \S+ \((judge score [\d.]+|undecided: the judge's replies were unparseable)\)"))
    judging = [f for f in app["demo"].fns.values() if f.name == "judged"]
    assert judging and all(f.concurrency_limit is None and inspect.iscoroutinefunction(f.fn)
                           and f.fn.__wrapped__.__name__ == "judged" for f in judging)


def test_the_leaderboard_counts_a_new_vote(page, app):
    _open(page, app, "leaderboard")
    page.locator("#lb-kind").get_by_label("two models, same mode", exact=True).check()
    summary = page.locator("#lb-summary")
    before = len(app["store"].votes(track="UEG", kind="model_vs_model"))
    expect(summary).to_contain_text(f"{before} vote")

    vote_in_arena(page, app, "UEG", "two models, same mode", "B")
    expect(page.locator("#ar-reveal")).to_contain_text("B was ")
    winner = re.search(r"B was (\S+)", page.locator("#ar-reveal").inner_text()).group(1)

    page.get_by_role("tab", name="Leaderboard").click()
    expect(summary).to_contain_text(f"{before + 1} vote")
    expect(page.locator("#lb-board")).to_contain_text(winner)


def test_a_link_opens_an_instance_with_a_model_and_failures_show_in_place(page, app):
    uid = app["uids"]["GEU"]
    page.goto(f"{app['url']}?tab=explore&instance={uid}&model=tiny-janus&seed=7")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{uid}"))
    expect(page.locator("#ex-model input")).to_have_value("tiny-janus")
    expect(page.locator("#ex-seed input")).to_have_value("7")
    expect(page.locator("#ex-track").get_by_label("GEU", exact=True)).to_be_checked()
    page.locator("#ex-run").click()
    expect(page.locator("#ex-direct-status")).to_contain_text("tiny-janus · seed 7")
    expect(page.locator("#ex-direct-status")).to_contain_text("done in")
    # tiny-janus cannot edit images: its stepwise column says so, and the rest of the page still works
    expect(page.locator("#ex-stepwise-status")).to_contain_text("not supported")
    expect(page.locator("#ex-direct-verdict")).to_contain_text("Parsed letter")


def test_rerun_keeps_earlier_runs_and_a_person_can_judge_and_download(page, app):
    _open(page, app)
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):  # a click while a run is in progress is ignored
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text("Instance score")
    page.locator("#ex-seed input").fill("3")
    page.locator("#ex-run").click()
    expect(page.locator("#ex-direct-status")).to_contain_text("seed 3")
    expect(page.locator("#ex-direct-verdict")).to_contain_text("Instance score")
    page.get_by_role("button", name="Earlier runs of this column").first.click()
    expect(page.locator("#ex-direct-gallery img").nth(1)).to_be_attached()  # both runs kept side by side

    run_id = json.loads(_download(page, "direct"))["run_id"]
    trace = app["store"].load_trace(run_id)
    assert trace.settings["seed"] == 3 and trace.mode == "direct"

    page.get_by_role("button", name="Judge it yourself").first.click()
    boxes = page.locator("#ex-direct-judge-box input[type=checkbox]")
    boxes.first.check()
    page.locator("#ex-direct-judge-save").click()
    expect(page.locator("#ex-direct-human-verdict")).to_contain_text(f"run #{run_id}")
    (judgment,) = app["store"].human_judgments(run_id)  # this visitor's own, kept per voter
    verdicts = [q["verdict"] for q in judgment["details"]["questions"]]
    assert verdicts == ["yes"] + ["no"] * (boxes.count() - 1)


def _download(page, mode: str) -> str:
    page.get_by_role("button", name="Details: prompts, raw replies, settings, timings").first.click()
    with page.expect_download() as download:
        page.locator(f"#ex-{mode}-download").click()
    return open(download.value.path(), encoding="utf-8").read()


def test_your_own_prompt_runs_and_is_stored_as_a_custom_instance(page, app):
    _open(page, app)
    page.get_by_role("button", name="Your own instance (choose 'your own' above)").click()
    page.get_by_label("UEG: text-to-image prompt").fill("Three green apples on a wooden table")
    page.locator("#ex-instance input").click()
    page.get_by_role("option", name="your own (below)").click(timeout=10_000)
    page.locator("#ex-run").click()
    expect(page.locator("#ex-instance-text")).to_contain_text("Three green apples on a wooden table")
    expect(page.locator("#ex-direct-image img")).to_have_count(1)
    expect(page.locator("#ex-direct-verdict")).to_contain_text("no polling questions")
    assert any(r["dataset"] == "custom" for r in app["store"].runs())


def test_your_own_image_is_checked_before_anything_runs_then_used(page, app, tmp_path):
    over_limit = tmp_path / "huge.png"  # a header claiming 8001 x 8000 pixels: refused before decoding
    over_limit.write_bytes(_png_header(8_001, 8_000))
    enormous = tmp_path / "enormous.png"  # 200 MP: over Pillow's own bomb limit too
    enormous.write_bytes(_png_header(20_000, 10_000))
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("shopping list: apples, pears")
    scene = tmp_path / "scene.png"
    Image.new("RGB", (48, 32), "orange").save(scene)
    custom_runs = len([r for r in app["store"].runs() if r["dataset"] == "custom"])

    _open(page, app)
    page.locator("#ex-track").get_by_label("GEU", exact=True).check()
    page.get_by_role("button", name="Your own instance (choose 'your own' above)").click()
    page.get_by_label("GEU: question").fill("What colour is the picture?")
    page.get_by_label("GEU: 4 options, one per line").fill("orange\nblue\ngreen\nred")
    page.locator("#ex-instance input").click()
    page.get_by_role("option", name="your own (below)").click(timeout=10_000)
    # ours refuses the first; Pillow itself, inside Gradio, refuses the next two before our code runs
    for upload, message in [(over_limit, "huge.png: 8001x8000 = 64008000 pixels is over the limit"),
                            (enormous, "enormous.png: over the pixel limit"),
                            (not_an_image, "notes.png: not an image file Pillow can read")]:
        page.locator("#ex-custom-image input[type=file]").set_input_files(str(upload))
        page.locator("#ex-run").click()
        expect(page.get_by_text(message)).to_be_visible()
        page.locator("#ex-custom-image").get_by_role("button", name="Remove Image").click()
    assert len([r for r in app["store"].runs() if r["dataset"] == "custom"]) == custom_runs

    page.locator("#ex-custom-image input[type=file]").set_input_files(str(scene))
    page.locator("#ex-run").click()
    expect(page.locator("#ex-instance-text")).to_contain_text("What colour is the picture?")
    expect(page.locator("#ex-input-image img")).to_have_count(1)
    expect(page.locator("#ex-direct-verdict")).to_contain_text("Parsed letter")
    stored = [r for r in app["store"].runs() if r["dataset"] == "custom"]
    assert len(stored) > custom_runs


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but carries a single byte of pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
