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
import os
import random
import stat
import tempfile
from pathlib import Path

import gradio as gr
from gradio.processing_utils import move_files_to_cache
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
