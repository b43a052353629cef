"""The UniWorld-V1 worker's loading through the repository's CLI module (workers/uniworld_v1.py).

PKU-YuanGroup/UniWorld-V1@8403e86 ``univa/serve/cli.py`` ``load_main_model_and_processor(model_path, device)``
loads the task head from ``os.path.join(args.model_path, 'task_head_final.pt')``, where ``args`` is the module
global that only the file's ``if __name__ == '__main__'`` block sets. ``CLI`` below is a stand-in of that
module with the loaders' bodies reduced to what they read (the same global and file, the same arguments);
the worker's ``Backend.load`` is the real one.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import pytest

WORKERS_DIR = Path(__file__).resolve().parents[2] / "workers"

CLI = '''
import os
from types import SimpleNamespace

def load_main_model_and_processor(model_path, device, min_pixels=448*448, max_pixels=448*448):
    with open(os.path.join(args.model_path, 'task_head_final.pt'), 'rb') as head:  # cli.py line 47
        task_head = head.read()
    model = SimpleNamespace(denoise_tower=SimpleNamespace(denoiser="denoiser"), model_path=model_path)
    return model, task_head, "processor"

def load_pipe(denoiser, flux_path, device):
    return "pipe", ["t5 tokenizer"], ["t5"]

def load_siglip_and_processor(siglip_path, device):
    return "siglip processor", "siglip"
'''


@pytest.fixture()
def uniworld(monkeypatch):
    cli = types.ModuleType("univa.serve.cli")
    exec(compile(CLI, "cli.py", "exec"), cli.__dict__)
    serve = types.ModuleType("univa.serve")
    serve.cli = cli
    univa = types.ModuleType("univa")
    univa.serve = serve
    for name, module in (("univa", univa), ("univa.serve", serve), ("univa.serve.cli", cli)):
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("worker_uniworld_v1", WORKERS_DIR / "uniworld_v1.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    return worker, cli


def _checkpoint(folder: Path) -> Path:
    folder.mkdir()
    (folder / "task_head_final.pt").write_bytes(b"head")
    return folder


def test_the_worker_loads_through_the_cli_module_with_the_checkpoint_folder(tmp_path, uniworld):
    module, cli = uniworld
    folder = _checkpoint(tmp_path / "UniWorld-V1")
    args = argparse.Namespace(checkpoint=str(folder), flux_path="flux", siglip_path="siglip", device="cpu")
    backend = module.Backend.load(args)
    assert backend.model.model_path == str(folder) and backend.pipe == "pipe"
    assert cli.args.model_path == str(folder)  # what cli.py's __main__ would have set


def test_a_hub_id_is_fetched_to_a_folder_first(tmp_path, uniworld, monkeypatch):
    import huggingface_hub
    module, _ = uniworld
    folder = _checkpoint(tmp_path / "snapshot")
    asked = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id: asked.append(repo_id) or str(folder))
    assert module.local_folder("LanguageBind/UniWorld-V1") == str(folder) and asked == ["LanguageBind/UniWorld-V1"]
    assert module.local_folder(str(folder)) == str(folder) and len(asked) == 1  # a folder is used as it is
