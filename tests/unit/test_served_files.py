"""The files the page fetches are held to ``served_files.MAX_SERVED_BYTES`` in all (hostile visitor, note 28 section
4): each run wrote its details download to ``<temp>/realunify-traces`` and Gradio copied it and the run's output
picture into its temp folder, and nothing removed either while the app ran, so a visitor's runs (bounded only by
the run limit) and every visitor's together grew the disk without bound.

Real parts: the app's page built by ``build_demo`` (its Gradio temp folder registered as it is built), the real
download and pre-vote image writers, and Gradio's own copying of a file and saving of a picture (``Image`` and
``File`` postprocessing), in this test's own temp folders."""

from __future__ import annotations

import base64
import io
import math
import os
import random
import stat
import tempfile
import time
from pathlib import Path

import gradio as gr
from gradio.processing_utils import move_files_to_cache
from gradio_sessions import close_all
from PIL import Image

from realunify_arena import served_files
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo
from realunify_arena.ui.explore import _write_download
from realunify_arena.ui.render import battle_image_file

BOUND = 300_000


def held(*folders: Path) -> int:
    return sum(f.stat().st_size for folder in folders for f in folder.rglob("*") if f.is_file())


def answered(component, value) -> None:
    """What Gradio does with a value an event returns for ``component``: ``postprocess`` (an Image saves a WebP into
    the page's temp folder, a File copies its file there), then ``move_files_to_cache``, which records each of those
    files among the page's (``temp_file_sets``), as ``Blocks.postprocess_data`` does."""
    move_files_to_cache(component.postprocess(value), component, postprocess=True)


def noise_png(side: int, seed: int) -> bytes:
    """A PNG that does not compress (each pixel random): ~3 x side**2 bytes."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(3 * side * side)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_downloads_battle_images_and_gradios_copies_stay_within_the_bound(tmp_path, monkeypatch):
    temp, cache = tmp_path / "temp", tmp_path / "gradio"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # the app's own folders
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))  # Gradio's, as the page is built
    monkeypatch.setattr(served_files, "MAX_SERVED_BYTES", BOUND)
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning"]), tmp_path / "data")
    settings = Settings(data=(str(tmp_path / "data"),), models=("tiny-pair",), judge="human", db=tmp_path / "a.db")
    store = Store.open(settings.db)
    try:
        demo = build_demo(settings, store, ModelPool(load_cards()))
        assert Path(demo.GRADIO_CACHE) == cache
        with demo:  # components of the page's folder, as the page's own copy files into it
            shown, download = gr.Image(type="pil"), gr.File()
        largest = 0
        for i in range(60):  # 60 runs and battles of ~50 KB each: ~6 MB written, 20 times the bound
            picture = Image.open(io.BytesIO(noise_png(128, i)))
            before = held(temp, cache)
            path = _write_download({"run_id": i, "trace": {"note": "x" * 20_000}}, "direct")
            answered(download, path)  # Gradio's copy of the download
            answered(shown, picture)  # Gradio's WebP of the run's output
            battle = battle_image_file({"name": f"b{i}.png", "png_base64": base64.b64encode(noise_png(96, -i))})
            answered(download, battle)
            largest = max(largest, held(temp, cache) - before)
            assert held(temp, cache) <= BOUND + 2 * largest, (i, held(temp, cache))
        assert held(temp, cache) > BOUND // 2  # the newest files are kept
        assert Path(path).exists() and Path(battle).exists()
        assert not [d for d in cache.rglob("*") if d.is_dir() and not os.listdir(d)]  # no empty hash folders left
        # Gradio's record of the page's files lists no removed file (before, it kept every path ever, for good)
        assert [p for p in set().union(*demo.temp_file_sets) if not os.path.exists(p)] == []
    finally:
        store.close()


def test_sweep_removes_the_oldest_files_first(tmp_path):
    paths = []
    for i in range(5):
        (tmp_path / "sub").mkdir(exist_ok=True)
        f = tmp_path / "sub" / f"{i}.bin" if i % 2 else tmp_path / f"{i}.bin"
        f.write_bytes(b"x" * 100)
        os.utime(f, (1000 + i, 1000 + i))
        paths.append(str(f))
    assert served_files.sweep([*paths, str(tmp_path / "missing"), str(tmp_path / "sub")], 250) == 300
    assert sorted(p.name for p in tmp_path.rglob("*.bin")) == ["3.bin", "4.bin"]


def test_another_apps_files_in_the_shared_gradio_folder_are_never_removed(tmp_path, monkeypatch):
    """Gradio's temp folder is ``<temp>/gradio`` for every Gradio app of the machine unless ``GRADIO_TEMP_DIR``
    says otherwise: only the files Gradio records as this app's page's (``temp_file_sets``) are swept, however
    old another app's are."""
    temp, cache = tmp_path / "temp", tmp_path / "gradio"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.setattr(served_files, "MAX_SERVED_BYTES", 100_000)
    other = cache / ("f" * 64) / "other-app.png"  # another app's copy, older than anything of this app's
    other.parent.mkdir(parents=True)
    other.write_bytes(noise_png(150, 1))  # ~68 KB
    os.utime(other, (1000, 1000))
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning"]), tmp_path / "data")
    settings = Settings(data=(str(tmp_path / "data"),), models=("tiny-pair",), judge="human", db=tmp_path / "a.db")
    store = Store.open(settings.db)
    try:
        demo = build_demo(settings, store, ModelPool(load_cards()))
        with demo:
            shown = gr.Image(type="pil")
        for i in range(10):  # ~50 KB each: this app's files alone pass the bound five times
            answered(shown, Image.open(io.BytesIO(noise_png(128, i))))
            battle_image_file({"name": f"b{i}.png", "png_base64": base64.b64encode(noise_png(64, i))})
    finally:
        store.close()
    assert other.read_bytes() == noise_png(150, 1)
    mine = [f for f in cache.rglob("*") if f.is_file() and f != other]
    assert mine and sum(f.stat().st_size for f in mine) + held(temp) <= 100_000 + 2 * 50_000


def test_a_symlinked_or_foreign_staging_folder_is_refused_and_nothing_behind_it_is_touched(tmp_path, monkeypatch):
    """The system temp folder is shared: another user may create ``<temp>/realunify-traces`` first, as a symlink to
    a folder of the app user's. ``mkdir(exist_ok=True)`` accepted it, the staging clean-up removed files older than
    ``STAGED_SECONDS`` in its target and the sweep walked into it (verify29b). Now the write is refused, naming the
    folder, and the target's files are neither removed nor added to."""
    temp, elsewhere = tmp_path / "temp", tmp_path / "notes"
    temp.mkdir()
    elsewhere.mkdir()
    kept = elsewhere / "notes.txt"
    kept.write_text("an hour old")
    os.utime(kept, (1000, 1000))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    (temp / "realunify-traces").symlink_to(elsewhere, target_is_directory=True)
    try:
        _write_download({"run_id": 1, "trace": {}}, "direct")
    except OSError as e:
        assert "realunify-traces is a symlink" in str(e) and "TMPDIR" in str(e)
    else:
        raise AssertionError("a write through a symlinked staging folder was not refused")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["notes.txt"] and kept.read_text() == "an hour old"
    assert str(kept) not in served_files.served_files()
    assert served_files.sweep(served_files.served_files(), 0) >= 0 and kept.exists()
    # a real folder of the app's own is still written to
    path = battle_image_file({"name": "b.png", "png_base64": base64.b64encode(noise_png(8, 0))})
    assert Path(path).parent == temp / "realunify-battles" and Path(path).exists()
    assert stat.S_IMODE(os.stat(temp / "realunify-battles").st_mode) == 0o700


def _tiny_page(tmp_path, monkeypatch):
    """A real ``gr.Blocks`` launched on loopback, wired as the app wires its page (``serve_from``,
    ``ui.sessions.release_sessions``): ``run`` writes a details download (``served_files.write``, which sweeps)
    and shows a ~49 KB picture and that download. Returns ``(demo, url, temp, cache)``."""
    from realunify_arena.ui import sessions

    temp, cache = tmp_path / "temp", tmp_path / "gradio"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.5")  # a closed page is noticed within half a second
    with gr.Blocks() as demo:
        served_files.serve_from(demo)
        seed, picture, details = gr.Number(precision=0), gr.Image(type="pil", format="png"), gr.File()

        def run(seed):
            path = served_files.write("realunify-traces", f"run-{seed}.json", b"x" * 1000)
            return Image.open(io.BytesIO(noise_png(128, int(seed)))), path

        gr.Button().click(run, seed, [picture, details], api_name="run")

        def stage(seed):
            """A details download whose file another request's sweep (an upload starting) meets before Gradio has
            copied it for the answer."""
            path = served_files.write("realunify-traces", f"staged-{seed}.json", b"s" * 1000)
            served_files.make_room(0)
            return path

        gr.Button().click(stage, seed, details, api_name="stage")
        sessions.release_sessions(demo)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    return demo, url, temp, cache


def test_a_page_still_open_keeps_its_picture_and_a_waiting_upload_is_kept(tmp_path, monkeypatch):
    """Before: a page left open while ``MAX_SERVED_BYTES`` of newer files were written lost its picture (the file
    route answered 403/404), and an upload no event had taken yet (waiting in Gradio's queue, or in the page's form)
    was swept like any old file. Now both are in use: swept last, only past ``MAX_IN_USE_BYTES`` more; the
    picture goes once its page has closed, the upload once ``UPLOAD_HOLD_S`` has passed."""
    import httpx
    from gradio_client import Client

    bound, in_use = 150_000, 150_000
    monkeypatch.setattr(served_files, "MAX_SERVED_BYTES", bound)
    monkeypatch.setattr(served_files, "MAX_IN_USE_BYTES", in_use, raising=False)  # (new)
    demo, url, temp, cache = _tiny_page(tmp_path, monkeypatch)
    http = httpx.Client(base_url=url, timeout=60)
    a = Client(url, verbose=False, download_files=False)
    b = Client(url, verbose=False, download_files=False)
    try:
        a.reset_session()
        session = a.session_hash
        with httpx.stream("GET", a.heartbeat_url.format(session_hash=session), timeout=30) as heartbeat:
            lines = heartbeat.iter_lines()  # kept referenced: a collected iterator closes the stream
            assert next(lines).startswith("data: ALIVE")  # the page is open
            shown, _ = a.predict(0, api_name="/run")
            kept = shown["path"]
            upload = http.post("gradio_api/upload", files={"files": ("u.bin", os.urandom(60_000))})
            assert upload.status_code == 200, upload.text
            (waiting,) = upload.json()
            firsts = []
            for i in range(1, 13):  # another visitor's 12 runs: ~620 KB written, four times the bound
                picture, _ = b.predict(i, api_name="/run")
                firsts.append(picture["path"])
                assert held(temp, cache) <= bound + in_use + 60_000, (i, held(temp, cache))
            # (the open page's picture is served, the upload no event has taken yet is there)
            assert (http.get(f"gradio_api/file={kept}").status_code, Path(waiting).exists()) == (200, True)
            assert not Path(firsts[0]).exists()  # the other visitor's replaced pictures are not in use
            assert Path(firsts[-1]).exists()  # its picture shown now is
            del lines
        deadline = time.monotonic() + 30  # the page closed: Gradio's heartbeat notices, its session goes
        while session in demo.state_holder and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session not in demo.state_holder
        monkeypatch.setattr(served_files, "UPLOAD_HOLD_S", 0.0, raising=False)
        for i in range(13, 17):
            b.predict(i, api_name="/run")
        assert not Path(kept).exists() and not Path(waiting).exists()  # no longer in use: swept, oldest first
        assert held(temp, cache) <= bound + 60_000
    finally:
        http.close()
        close_all([a, b])
        demo.close()


def test_a_components_own_file_is_never_swept(tmp_path, monkeypatch):
    """A component's value as built (``gr.Image(value=...)``) or an example is copied into Gradio's temp folder and
    recorded among the page's files, and Gradio's own clean-up (``delete_cache``) never removes it
    (``keep_in_cache``): every page opened later shows it. Before, the sweep removed it like any old file."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    logo = tmp_path / "logo.png"
    logo.write_bytes(noise_png(64, 5))
    with gr.Blocks() as demo:
        served_files.serve_from(demo)
        shown = gr.Image(value=str(logo))
    own = shown.value["path"]
    assert Path(own).exists() and own in set().union(*demo.temp_file_sets)
    served_files.make_room(served_files.MAX_SERVED_BYTES)  # room for the most: every other file would go
    assert Path(own).read_bytes() == logo.read_bytes()


def test_the_index_sees_files_added_and_removed_behind_its_back(tmp_path, monkeypatch):
    """``ServedIndex`` counts what a walk of the folders finds (an independent sum of the files' sizes) after each
    change made around it: another process's file added to, or removed from, an own folder (twice within one
    tick of the file system's clock too); Gradio recording a file, and removing it with its own clean-up; a
    file removed by someone else (seen at the next full look, ``refresh_s``; until then a sweep that finds it
    gone does not count it as removed)."""
    from gradio.route_utils import delete_files_created_by_app

    temp, cache = tmp_path / "temp", tmp_path / "gradio"
    (temp / "realunify-traces").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    with gr.Blocks() as demo:
        shown = gr.Image(type="pil", format="png")
    index = served_files.ServedIndex(refresh_s=math.inf)  # never a full look unless asked
    now = time.time

    def check() -> None:
        index.update([demo], now())
        assert index.total == held(temp, cache), (index.total, held(temp, cache))
        assert set(index.files) == {str(f) for f in [*temp.rglob("*"), *cache.rglob("*")] if f.is_file()}

    check()
    other = temp / "realunify-traces" / "other.json"
    other.write_bytes(b"o" * 700)  # another process's write
    check()
    for i in range(3):  # in quick succession: the folder's time may not move between them
        (temp / "realunify-traces" / f"quick{i}.json").write_bytes(b"q" * (10 + i))
        check()
    other.unlink()
    check()
    answered(shown, Image.open(io.BytesIO(noise_png(64, 1))))  # Gradio records a file
    check()
    answered(shown, Image.open(io.BytesIO(noise_png(64, 2))))
    check()
    delete_files_created_by_app(demo, None)  # Gradio's own clean-up: the files and its record of them go
    check()
    answered(shown, Image.open(io.BytesIO(noise_png(64, 3))))
    check()
    (gone,) = [f for f in cache.rglob("*.png")]
    size = gone.stat().st_size
    gone.unlink()  # behind the record's back: counted until the next full look
    index.update([demo], now())
    assert index.total == held(temp, cache) + size
    there = held(temp, cache)
    assert index.sweep(0, 0, now()) == there and index.total == 0  # the gone file's bytes are not "removed"
    assert held(temp, cache) == 0
    answered(shown, Image.open(io.BytesIO(noise_png(64, 3))))  # the same picture again: Gradio writes it anew
    check()
    gone = next(cache.rglob("*.png"))
    gone.unlink()
    index.refresh_s = 0  # the full look
    check()
    index.refresh_s = math.inf
    rendered: set[str] = set()  # a record of no block of the page's own (a gr.render's): read by its size
    demo.temp_file_sets.append(rendered)
    extra = cache / "r" / "rendered.txt"
    extra.parent.mkdir()
    extra.write_bytes(b"r" * 321)
    rendered.add(str(extra))
    check()
    rendered.discard(str(extra))
    extra.unlink()
    check()


def test_an_answer_being_made_keeps_its_files_when_files_in_use_fill_the_bound(tmp_path, monkeypatch):
    """Files in use (here uploads no event has taken yet) hold more than ``MAX_SERVED_BYTES``: every other file is
    swept first, and a file an event has just written for its answer is the newest of those. With the in-use rule
    alone, another request's sweep meeting that file before Gradio had copied it removed it, and the event failed
    (Gradio could not copy its answer). Now a file written since an event under way began is in use too."""
    import httpx
    from gradio_client import Client

    monkeypatch.setattr(served_files, "MAX_SERVED_BYTES", 150_000)
    monkeypatch.setattr(served_files, "MAX_IN_USE_BYTES", 1_000_000, raising=False)
    demo, url, temp, cache = _tiny_page(tmp_path, monkeypatch)
    client = Client(url, verbose=False, download_files=False)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(3):  # 192 KB of uploads waiting for their events: in use, over the bound
                assert http.post("gradio_api/upload", files={"files": (f"w{i}.bin", os.urandom(64_000))}).is_success
            answer = client.predict(1, api_name="/stage")
            assert http.get(f"gradio_api/file={answer['path']}").status_code == 200
        assert Path(answer["path"]).read_bytes() == b"s" * 1000
    finally:
        close_all([client])
        demo.close()


def test_events_without_files_leave_nothing_behind_between_writes():
    """Every event's inputs and outputs are noted (``ServedIndex.shown``) and read at the next write or upload.
    Before, each note was queued, so a run of events with no write between them (votes: 10,000 here) grew the
    queue by ~300 bytes an event; now a note that changes nothing shown is not kept, and a session's repeated
    notes keep only the last per component."""
    import gc
    import tracemalloc
    import weakref

    index = served_files.ServedIndex()
    page = weakref.ref(gr.Blocks())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i in range(10_000):
            index.shown(page, f"voter-{i}", [1, 2], ["A", {"battle_id": str(i)}])  # a script's votes
            index.shown(page, "page", [3], [{"path": "/tmp/shown.webp", "meta": {"_type": "gradio.FileData"}}])
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(d.size_diff for d in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, f"{growth} bytes kept for 20,000 notes"


def test_a_file_shown_twice_in_one_event_is_swept_once_past_the_hard_bound(tmp_path, monkeypatch):
    """One file shown by two components of one event is noted twice at the same time: two equal places in the
    sweep's order. Past the hard bound, the second removal of the same file raised KeyError (found in review)."""
    import weakref

    (tmp_path / "realunify-traces").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path, later = (tmp_path / "realunify-traces" / f"run-{i}-direct.json" for i in (1, 2))
    path.write_bytes(b"d" * 100)
    later.write_bytes(b"d" * 50)
    index = served_files.ServedIndex(refresh_s=math.inf)
    index.update([], time.time())
    page = weakref.ref(gr.Blocks())
    value = {"path": str(path), "meta": {"_type": "gradio.FileData"}}
    index.shown(page, "page", [1, 2], [value, value])
    time.sleep(0.01)  # (not a timing check: the later file's note is later)
    index.shown(page, "page", [3], [{"path": str(later)}])
    index.update([], time.time())
    index.under_way[object()] = 0.0  # an event under way since 1970: every file is in use
    assert index.sweep(0, 0, time.time()) == 150 and index.total == 0
    assert not path.exists() and not later.exists()
