"""Start-up of the app against a bare Gradio Blocks app started the same way, in the same run (issue 18).

Each repeat starts, one after the other, ``python app.py`` (tiny models, a temp database, the bundled
instances) and a bare ``gr.Blocks`` app with one Run button (a script written to a temp folder, launched by
the same interpreter with the same launch call), and times from process start:

- first HTTP 200: ``GET /`` answered 200 (polled every 20 ms);
- interactive: a headless Debian Chromium (Playwright, started before the clock) has loaded the page and
  the Run button (``#ex-run`` / ``#run``) is enabled.

Prints per-repeat figures, the medians and the ratios app / bare (also of the page's own part, first 200 to
interactive). Goal: <= 1.25x on first 200 and interactive. With
``--reference REF`` (a commit, e.g. ``cef94c5``, the code before issue 18) that commit's ``app.py`` is timed
too, from a temporary ``git worktree``, so the before/after figures come from the same run. Also prints
which heavy libraries the app process had imported once it served its page (none of torch, scipy, spaces,
matplotlib).

    python bench/startup.py [--repeat 3] [--reference cef94c5] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a checkout right after `pip install -r requirements.txt`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HEAVY = ("torch", "scipy", "spaces", "transformers", "diffusers", "matplotlib")

# The bare app: the same launch call as app.py (theme and footer included), one button and one output.
BARE_APP = '''
import sys
import gradio as gr

with gr.Blocks(title="bare") as demo:
    gr.Markdown("# Bare Gradio Blocks")
    text = gr.Textbox(label="prompt")
    out = gr.Textbox(label="output")
    gr.Button("Run", elem_id="run").click(lambda t: t, text, out)
demo.queue()
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), theme=gr.themes.Soft(primary_hue="indigo"),
            footer_links=["api", "gradio", "settings"])
'''

# Run inside the app process through sitecustomize: report heavy imports once the page has been served.
PROBE = '''
import atexit, os, sys
def _report():
    path = os.environ.get("REALUNIFY_BENCH_MODULES")
    if path:
        with open(path, "w") as f:
            f.write(" ".join(m for m in HEAVY if m in sys.modules))
atexit.register(_report)
'''.replace("HEAVY", repr(HEAVY))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_start(command: list[str], port: int, button: str, browser, env: dict, cwd: Path) -> tuple[float, float]:
    """(seconds to the first HTTP 200, seconds until the page shows ``button`` enabled) from process start."""
    import httpx  # here, not at the top: ``--help`` answers at once

    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(timeout=2.0) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{command} exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
                try:
                    if client.get(url).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        first_200 = time.perf_counter() - start
        page = browser.new_page()
        page.goto(url)
        page.locator(f"#{button}").wait_for(state="visible", timeout=120_000)
        page.wait_for_function(f"() => {{ const b = document.querySelector('#{button}');"
                               " return b && !b.disabled; }", timeout=120_000)
        interactive = time.perf_counter() - start
        page.close()
        return first_200, interactive
    finally:
        proc.send_signal(signal.SIGINT)  # Gradio closes on Ctrl-C, and the probe's atexit report runs
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference", metavar="REF", help="also time app.py at this commit (a temp git worktree)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="realunify-startup-"))
    (tmp / "bare_app.py").write_text(BARE_APP)
    (tmp / "probe").mkdir()
    (tmp / "probe" / "sitecustomize.py").write_text(PROBE)
    base_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    base_env.pop("SPACES_ZERO_GPU", None)

    def app_command(port: int, db: Path) -> list[str]:
        return [sys.executable, "app.py", "--models", "tiny-janus,tiny-pair", "--judge", "tiny-pair",
                "--db", str(db), "--port", str(port), "--host", "127.0.0.1"]

    subjects: dict[str, tuple[Path, dict]] = {
        "app": (ROOT, {**base_env, "PYTHONPATH": os.pathsep.join([str(tmp / "probe"), str(ROOT)])}),
        "bare": (tmp, base_env),
    }
    worktree = None
    if args.reference:
        worktree = tmp / "reference"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.reference],
                       check=True, capture_output=True)
        subjects["reference"] = (worktree, {**base_env, "PYTHONPATH": str(worktree)})

    times: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
    modules = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
            for i in range(args.repeat + 1):  # the first round warms the OS file cache and is not counted
                for name, (cwd, env) in subjects.items():
                    port = free_port()
                    if name == "bare":
                        command, button = [sys.executable, "bare_app.py", str(port)], "run"
                    else:
                        command, button = app_command(port, tmp / f"{name}-{i}.db"), "ex-run"
                    run_env = dict(env)
                    if name == "app":
                        run_env["REALUNIFY_BENCH_MODULES"] = str(tmp / "modules.txt")
                    figures = time_start(command, port, button, browser, run_env, cwd)
                    if i:
                        times[name].append(figures)
                    print(f"{'warm-up' if not i else f'repeat {i}'}: {name:9s} first 200 {figures[0]:6.2f} s,"
                          f" interactive {figures[1]:6.2f} s", flush=True)
                    if name == "app" and (tmp / "modules.txt").exists():
                        modules = (tmp / "modules.txt").read_text().split()
            browser.close()
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True, check=False)

    print(f"\nmachine: {os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    medians = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
               for name, ts in times.items()}
    # the page's own part (first 200 -> Run enabled): the browser's and the page's events' time, without the
    # import-bound start before it, which a loaded machine stretches most
    pages = {name: statistics.median(t[1] - t[0] for t in ts) for name, ts in times.items()}
    for name, (first, interactive) in medians.items():
        print(f"median {name:9s} first 200 {first:6.2f} s   interactive {interactive:6.2f} s"
              f"   page (first 200 to interactive) {pages[name]:5.2f} s")
    bare = medians["bare"]
    for name in subjects:
        if name != "bare":
            first, interactive = medians[name]
            print(f"ratio {name}/bare: first 200 {first / bare[0]:.2f}x   interactive {interactive / bare[1]:.2f}x"
                  f"   (goal <= 1.25x)   page {pages[name] / pages['bare']:.2f}x")
    if modules is not None:
        print(f"heavy libraries imported by the app process by exit: {modules or 'none'} (of {', '.join(HEAVY)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
