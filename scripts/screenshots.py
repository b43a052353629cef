"""Take the README screenshots of the three tabs, with the UI tests' app and browser setup.

    python scripts/screenshots.py [--out assets/screenshots]

Tiny random-weight models draw noise; the screenshots show the layout, not model quality.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, as the benches import it
sys.path.insert(0, str(ROOT / "tests"))  # what the UI tests' conftest imports beside it (unlimited.py)
sys.path.insert(0, str(ROOT / "tests" / "ui"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

VOTES = ("A", "B", "tie", "B", "A", "both_bad")
TASKS = ["code_to_image", "mathematical_reasoning", "mental_tracking", "cognitive_navigation"]


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    from conftest import chromium, launch_app  # the UI tests' setup, so screenshots match what is tested; imported
    from playwright.sync_api import expect     # after the arguments so a usage error or --help is instant

    expect.set_options(timeout=120_000)
    with tempfile.TemporaryDirectory() as tmp:
        demo, url, store = launch_app(Path(tmp), task_types=TASKS)
        try:
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                _explore(page, url, args.out / "explore.png")
                _batch_evaluation(Path(tmp), store)  # so the benchmark table has rows
                for choice in VOTES:  # a few votes, so the leaderboard has something to show
                    _battle(page, url, choice)
                page.screenshot(path=str(args.out / "arena.png"), full_page=True)
                page.get_by_role("tab", name="Leaderboard").click()
                expect(page.locator("#lb-board")).to_contain_text("tiny-")
                expect(page.locator("#lb-benchmark")).to_contain_text("n tiny-pair")
                # every section of the tab drawn: before, the shot caught the paired section and the judges'
                # text still loading (a spinner, greyed text)
                page.wait_for_function("() => !document.querySelector('#tab-leaderboard .pending')")
                page.screenshot(path=str(args.out / "leaderboard.png"), full_page=True)
        finally:
            demo.close()
            store.close()
    for name in ("explore", "arena", "leaderboard"):
        print(args.out / f"{name}.png")
    return 0


def _explore(page, url: str, path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}?tab=explore&instance=UEG_0_code_to_image&model=tiny-pair")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile("^UEG_0_code_to_image"))
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-verdict")).to_contain_text("Instance score")
    page.screenshot(path=str(path), full_page=True)


def _batch_evaluation(root: Path, store) -> None:
    """``eval``'s own function over one instance per category for two tiny models (pinned batch runs: the
    only ones the leaderboard's benchmark table counts)."""
    from realunify_arena.benchmark import load
    from realunify_arena.cards import load_cards
    from realunify_arena.evaluation import evaluate
    from realunify_arena.judge import build_judge
    from realunify_arena.runtime import ModelPool

    pool = ModelPool(load_cards())
    try:
        for model in ("tiny-pair", "tiny-janus"):
            evaluate(load(root / "data"), model, build_judge("tiny-pair", pool), store, pool, limit=1,
                     progress=False)
    finally:
        pool.close()


def _battle(page, url: str, choice: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}?tab=arena")
    page.locator("#ar-track").get_by_label("UEG", exact=True).check()
    page.locator("#ar-new").click()
    button = page.locator(f"#ar-vote-{choice}")
    expect(button).to_be_enabled()
    button.click()
    expect(page.locator("#ar-reveal")).to_contain_text(re.compile("A was"))
    expect(page.locator("#ar-reveal")).not_to_contain_text("judging")  # the reveal as it ends, with the scores


if __name__ == "__main__":
    sys.exit(main())
