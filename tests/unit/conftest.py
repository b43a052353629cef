"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from realunify_arena.arena import SALT_ENV
from realunify_arena.store import Store


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh store whose voter salt is generated (not taken from the environment)."""
    monkeypatch.delenv(SALT_ENV, raising=False)
    s = Store.open(tmp_path / "arena.db")
    yield s
    s.close()


@pytest.fixture
def card_folder(tmp_path):
    """``make(name, text)``: a models folder holding the shipped tiny-pair card and ``NAME.yaml`` with ``text``."""
    def make(name: str, text: str) -> Path:
        folder = tmp_path / "cards"
        folder.mkdir(exist_ok=True)
        shutil.copy(Path(__file__).resolve().parents[2] / "models" / "tiny-pair.yaml", folder)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        return folder
    return make


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The model classes ``from_pretrained`` is called on from here on, on the test's own thread (each call still
    loads). A load on another thread is not the test's: an earlier test's background model load (a judge loaded
    while a model runs) landed in one test's list in a tier run."""
    import threading

    from transformers import PreTrainedModel

    calls: list[str] = []
    original = PreTrainedModel.from_pretrained.__func__
    own = threading.get_ident()

    def recording(cls, *args, **kwargs):
        if threading.get_ident() == own:
            calls.append(cls.__name__)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(recording))
    return calls


@pytest.fixture
def refused_card():
    """``refused(name, folder) -> message``: the one-line ``ModelUnavailable`` that building the shipped card ``name``
    (float32, no parts) with every checkpoint at ``folder`` must raise."""
    import dataclasses

    from realunify_arena.adapters import ModelUnavailable, build_adapter
    from realunify_arena.cards import load_cards

    def refused(name: str, folder: Path) -> str:
        card = load_cards()[name]
        card = dataclasses.replace(card, dtype="float32", parts={},
                                   checkpoints={cap.value: str(folder) for cap in card.capabilities})
        with pytest.raises(ModelUnavailable) as info:
            build_adapter(card)
        assert "\n" not in str(info.value)
        return str(info.value)
    return refused


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """torch on one intra-op thread (of the test thread) for every unit module: tiny matrices on a shared
    machine, where spinning threads cost far more in waiting than they save (10-20x on 2 shared cores;
    test_adapters_tiny + test_edit_shape: 207-265 s with torch's default, 100 s with one). A model pool's own
    threads still size theirs as the product does (``runtime.torch_threads_for``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_format_build(tmp_path_factory):
    """``build(builder, folder, **kwargs) -> folder``: tests/real_format.py's ``builder`` (``"build_janus_pro"``,
    ...) with ``kwargs``, built once per session and hard-linked into each ``folder`` asked for (a new folder,
    under a ``tmp_path_factory`` one). Several modules read the same checkpoints: Janus-Pro's 102400-word
    tokenizer alone took 6 s a build on 2 shared cores. The folders are only read; a test that changes a file
    copies the folder first (``shutil.copytree``), as a module-scoped folder already required."""
    import os
    import sys

    import torch

    from realunify_arena.adapters import LOADING

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import real_format  # tests/real_format.py

    built: dict[tuple, Path] = {}

    def build(builder: str, folder: Path, **kwargs) -> Path:
        key = (builder, tuple(sorted(kwargs.items())))
        if key not in built:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)  # tiny matrices: see one_torch_thread
            # LOADING: a model pool's load still running in another thread (an earlier module's background
            # load) builds on the meta device through process-wide patches (accelerate's init_empty_weights),
            # which made this build's parameters meta too ("Cannot copy out of meta tensor" at save)
            try:
                with LOADING:
                    built[key] = getattr(real_format, builder)(
                        tmp_path_factory.mktemp("real_format") / folder.name, **kwargs)
            finally:
                torch.set_num_threads(threads)
        return Path(shutil.copytree(built[key], folder, copy_function=os.link))

    return build


@pytest.fixture(scope="module")
def janus_and_qwen(tmp_path_factory, real_format_build) -> dict[str, Path]:
    """Card name -> its real-format folder (tests/real_format.py), for Janus-Pro-1B and Qwen2.5-VL-7B-Instruct."""
    root = tmp_path_factory.mktemp("janus_and_qwen")
    return {"janus-pro-1b": real_format_build("build_janus_pro", root / "Janus-Pro-1B"),
            "qwen2.5-vl-7b": real_format_build("build_qwen2_5_vl", root / "Qwen2.5-VL-7B-Instruct")}


@pytest.fixture(scope="module")
def kontext_built(tmp_path_factory, real_format_build) -> Path:
    """The real-format FLUX.1 Kontext [dev] folder (tests/real_format.py), for a test module to read."""
    return real_format_build("build_flux_kontext", tmp_path_factory.mktemp("kontext") / "FLUX.1-Kontext-dev")


@pytest.fixture
def kontext_copy(kontext_built, tmp_path) -> Path:
    """A copy of ``kontext_built`` a test may change."""
    return Path(shutil.copytree(kontext_built, tmp_path / "FLUX.1-Kontext-dev"))


@pytest.fixture(scope="module")
def whole_models(tmp_path_factory, one_torch_thread, real_format_build) -> dict[str, Path]:
    """Whole transformers checkpoint folders for a test module to read: tests/real_format.py's Janus-Pro-1B
    (``janus``), Qwen2.5-VL-7B-Instruct (``qwen``) and -3B (``qwen-3b``: tied output embedding), and tiny-emu3's
    (``emu3``: a 60-word vocabulary; the real-format one's 184622 costs ten seconds)."""
    from realunify_arena.adapters import LOADING
    from realunify_arena.adapters.tiny import TINY_BUILDERS

    root = tmp_path_factory.mktemp("whole_models")
    with LOADING:  # no load of an earlier module's pool meanwhile: see real_format_build
        TINY_BUILDERS["emu3"](root / "emu3")
    return {"janus": real_format_build("build_janus_pro", root / "Janus-Pro-1B"),
            "qwen": real_format_build("build_qwen2_5_vl", root / "Qwen2.5-VL-7B-Instruct"),
            "qwen-3b": real_format_build("build_qwen2_5_vl", root / "Qwen2.5-VL-3B-Instruct", size="3b"),
            "emu3": root / "emu3"}
