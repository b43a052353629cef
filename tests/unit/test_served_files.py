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
import tempfile
from pathlib import Path

import gradio as gr
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
            download.postprocess(path)  # Gradio's copy of the download
            shown.postprocess(picture)  # Gradio's WebP of the run's output
            battle = battle_image_file({"name": f"b{i}.png", "png_base64": base64.b64encode(noise_png(96, -i))})
            download.postprocess(battle)
            largest = max(largest, held(temp, cache) - before)
            assert held(temp, cache) <= BOUND + 2 * largest, (i, held(temp, cache))
        assert held(temp, cache) > BOUND // 2  # the newest files are kept
        assert Path(path).exists() and Path(battle).exists()
        assert not [d for d in cache.rglob("*") if d.is_dir() and not os.listdir(d)]  # no empty hash folders left
    finally:
        store.close()


def test_sweep_removes_the_oldest_files_first(tmp_path):
    for i in range(5):
        (tmp_path / "sub").mkdir(exist_ok=True)
        f = tmp_path / "sub" / f"{i}.bin" if i % 2 else tmp_path / f"{i}.bin"
        f.write_bytes(b"x" * 100)
        os.utime(f, (1000 + i, 1000 + i))
    assert served_files.sweep([tmp_path, tmp_path / "missing"], 250) == 300
    assert sorted(p.name for p in tmp_path.rglob("*.bin")) == ["3.bin", "4.bin"]
