"""The launched app's peak memory for one large upload run in Explore as your own GEU instance.

Launches ``app.py`` (tiny models, a fresh database) as a process, drives the page in headless Debian chromium
(Playwright, never ``playwright install``): first a small upload, run to the end in both columns (models
loaded, caches warm), then the app process's peak resident memory (``VmHWM`` of ``/proc/<pid>/status``); then
the large upload (``--side`` x ``--side``, ``--format``), run to the end in both columns (or refused), and the
peak again. The rise is what that one upload cost the server at its worst moment.

    python bench/upload_memory.py [--side 8000] [--format JPEG] [--mode RGB]

Needs Linux (``/proc``) and ``chromium`` (``$CHROMIUM_PATH``, default /usr/bin/chromium). ~2-4 min on 2 cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import AppProcess  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
COLUMNS = ("#ex-direct-status", "#ex-stepwise-status")


def peak(pid: int) -> int:
    """Peak resident bytes of process ``pid`` so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


def photo(path: Path, side: int, fmt: str, mode: str) -> Path:
    """A ``side`` x ``side`` picture with gradients and noise (compresses like a photo, not like a flat fill)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    across, down = np.meshgrid(ramp, ramp)
    noise = rng.integers(0, 24, (side, side), dtype=np.uint8)
    bands = [(across * 0.8).astype(np.uint8) + noise, (down * 0.8).astype(np.uint8) + noise,
             ((across + down) * 0.4).astype(np.uint8) + noise]
    image = Image.merge("RGB", [Image.fromarray(b) for b in bands])
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return path


def run_own(page, url: str, image: Path) -> str:
    """Run ``image`` as your own GEU instance; the instance text once both columns have finished or it was
    refused."""
    from playwright.sync_api import expect

    page.goto(url + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.locator("#ex-track").get_by_label("GEU", exact=True).check()
    page.get_by_role("button", name="Your own instance (choose 'your own' above)").click()
    page.locator("#ex-instance input").click()
    page.get_by_role("option", name="your own (below)").click(timeout=10_000)
    page.get_by_label("GEU: question").fill("Which colour is in the top left corner?")
    page.get_by_label("GEU: 4 options, one per line").fill("black\nwhite\nred\nblue")
    page.locator("#ex-custom-image input[type=file]").set_input_files(str(image))
    page.wait_for_timeout(1000)
    page.locator("#ex-run").click()
    for column in COLUMNS:  # finished, refused or failed
        page.wait_for_function("s => /done in|Not run|failed/.test(document.querySelector(s)?.innerText || '')",
                               arg=column, timeout=600_000)
    return page.locator("#ex-instance-text").inner_text()


def main() -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=8000, help="the large upload's side (default 8000: 64 MP)")
    parser.add_argument("--format", default="JPEG", help="its format (default JPEG)")
    parser.add_argument("--mode", default="RGB", help="its mode (default RGB)")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        small = photo(folder / "small.png", 64, "PNG", "RGB")
        large = photo(folder / f"large.{args.format.lower()}", args.side, args.format, args.mode)
        print(f"upload: {args.format} {args.mode} {args.side}x{args.side} ({args.side ** 2 / 1e6:.0f} MP), "
              f"{large.stat().st_size / 2**20:.1f} MB", flush=True)
        with AppProcess(folder / "arena.db", folder / "app.log") as app, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            run_own(page, app.url, small)
            before = peak(app.proc.pid)
            start = time.perf_counter()
            said = run_own(page, app.url, large)
            seconds = time.perf_counter() - start
            after = peak(app.proc.pid)
            browser.close()
        refused = "Not run" in said
        print(f"app peak before {before / 2**20:,.0f} MB, after {after / 2**20:,.0f} MB, "
              f"rise {(after - before) / 2**20:,.0f} MB ({(after - before) / args.side ** 2:.1f} bytes a pixel); "
              f"{'refused: ' + said.strip().splitlines()[0] if refused else 'ran'} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
