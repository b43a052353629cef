"""The model workers in ``workers/``: request handling, image encoding, error replies and isolation.

Each worker's model call is replaced by a stand-in that accepts exactly what the worker's backend method
accepts (``inspect.signature(...).bind`` raises otherwise) and records it; the stand-in is not the subject.
The card of each worker is then driven through the ``openai`` family against the worker's real HTTP server.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import importlib.util
import inspect
import io
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
import yaml
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.cards import MODELS_DIR, load_card

WORKERS_DIR = Path(__file__).resolve().parents[2] / "workers"
# card -> worker module; capabilities as the paper lists them (no edit for BLIP3-o and Show-o2: its "-")
WORKERS = {"ovis-u1": ("ovis_u1", {"understand", "generate", "edit"}),
           "onecat": ("onecat", {"understand", "generate", "edit"}),
           "unipic2": ("unipic2", {"understand", "generate", "edit"}),
           "uniworld-v1": ("uniworld_v1", {"understand", "generate", "edit"}),
           "blip3o": ("blip3o", {"understand", "generate"}),
           "show-o2": ("show_o2", {"understand", "generate"}),
           "mio": ("mio", {"understand", "generate", "edit"}),
           "illume-plus": ("illume_plus", {"understand", "generate", "edit"})}
SOURCE = Image.new("RGB", (20, 12), (10, 200, 30))


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"worker_{name}", WORKERS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StandIn:
    """Records each call after checking it against the real backend method's signature."""

    def __init__(self, backend_class, fail: bool = False) -> None:
        self.backend_class, self.fail, self.calls = backend_class, fail, []

    def _call(self, method, *args, **settings):
        inspect.signature(getattr(self.backend_class, method)).bind(self, *args, **settings)
        self.calls.append((method, args, settings))
        if self.fail:
            raise RuntimeError("CUDA out of memory (stand-in)")

    def understand(self, images, question, **settings):
        self._call("understand", images, question, **settings)
        return f"{len(images)} image(s): {question}"

    def generate(self, prompt, **settings):
        self._call("generate", prompt, **settings)
        return Image.new("RGB", (24, 16), (len(prompt) % 256, 7, 9))

    def edit(self, image, instruction, **settings):
        self._call("edit", image, instruction, **settings)
        return image.transpose(Image.FLIP_LEFT_RIGHT)


def _http(module):
    """The shared stdlib module the worker imported (workers/worker_http.py)."""
    return sys.modules[module.Worker.__module__]


def _worker(module, fail=False):
    stand_in = StandIn(module.Backend, fail)
    return module.Worker(module.NAME, stand_in, module.DEFAULTS), stand_in


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_capabilities_defaults_and_sources(card_name):
    module_name, capabilities = WORKERS[card_name]
    module = _module(module_name)
    assert set(module.DEFAULTS) == capabilities
    card = load_card(MODELS_DIR / f"{card_name}.yaml")
    assert {c.value for c in card.capabilities} == capabilities and card.checkpoints["generate"] == module.NAME
    assert card.endpoint.endswith(f":{module.PORT}/v1") and f"workers/{module_name}.py" in card.serve
    for capability, settings in module.DEFAULTS.items():
        assert hasattr(module.Backend, capability)
        for name, setting in settings.items():
            assert setting.source.strip(), (card_name, capability, name)
            # every setting the worker accepts is a keyword of its backend method
            assert name in inspect.signature(getattr(module.Backend, capability)).parameters


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_each_request_reaches_the_model_with_the_official_defaults_and_overrides(card_name):
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    defaults = {cap: {k: s.value for k, s in settings.items()} for cap, settings in module.DEFAULTS.items()}

    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "a red cube"})
    assert status == 200 and _png(body["data"][0]["b64_json"]).size == (24, 16)  # the stand-in's image, as PNG
    assert stand_in.calls[-1] == ("generate", ("a red cube",), defaults["generate"])
    override = {k: v + 1 for k, v in defaults["generate"].items() if type(v) in (int, float)}
    if override:
        _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "x", **override})
        assert stand_in.calls[-1][2] == {**defaults["generate"], **override}

    question = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what color?"}, {"type": "image_url", "image_url": {"url": _data_url(SOURCE)}}]}],
        "max_completion_tokens": 7, "temperature": 0.0, "seed": 3}
    status, body = _http(module).handle(worker, "POST", "/v1/chat/completions", question)
    assert status == 200 and body["choices"][0]["message"]["content"] == "1 image(s): what color?"
    method, (images, text), settings = stand_in.calls[-1]
    assert method == "understand" and images[0].tobytes() == SOURCE.tobytes()
    if "max_new_tokens" in defaults["understand"]:
        assert settings["max_new_tokens"] == 7

    edit = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "flip it"}, {"type": "image_url", "image_url": {"url": _data_url(SOURCE)}}]}],
        "modalities": ["image"]}
    status, body = _http(module).handle(worker, "POST", "/v1/chat/completions", edit)
    if "edit" in defaults:
        [part] = body["choices"][0]["message"]["content"]
        edited = _png(part["image_url"]["url"].partition(",")[2])
        assert status == 200 and edited.tobytes() == SOURCE.transpose(Image.FLIP_LEFT_RIGHT).tobytes()
        assert stand_in.calls[-1][2] == defaults["edit"]
    else:
        assert status == 400 and "cannot edit" in body["error"]["message"]


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_bad_requests_get_openai_shaped_errors(card_name):
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    bad_url = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "http://example.com/cat.png"}}]}]}
    status, body = _http(module).handle(worker, "POST", "/v1/chat/completions", bad_url)
    assert status == 400 and "messages[0].content[0]" in body["error"]["message"]
    broken = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64,bm90IGEgcG5n"}}]}]}
    status, body = _http(module).handle(worker, "POST", "/v1/chat/completions", broken)
    assert status == 400 and "not a readable image" in body["error"]["message"]
    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "x", "guidance": 3})
    assert status == 400 and "'guidance' is not a setting" in body["error"]["message"]
    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "x", "model": "other"})
    assert status == 404 and body["error"]["code"] == "model_not_found"
    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": ""})
    assert status == 400 and "'prompt'" in body["error"]["message"]
    status, body = _http(module).handle(worker, "POST", "/v1/images/edits", {})
    assert status == 404
    assert stand_in.calls == []  # nothing bad reached the model
    failing, _ = _worker(module, fail=True)
    status, body = _http(module).handle(failing, "POST", "/v1/images/generations", {"prompt": "x"})
    assert status == 500 and "CUDA out of memory" in body["error"]["message"]


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_the_card_drives_the_worker_over_http(tmp_path, card_name):
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    server = _http(module).make_server(worker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        raw = yaml.safe_load((MODELS_DIR / f"{card_name}.yaml").read_text())
        raw["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
        (tmp_path / f"{card_name}.yaml").write_text(yaml.safe_dump(raw))
        adapter = build_adapter(load_card(tmp_path / f"{card_name}.yaml"))
        options = adapter.card.defaults
        assert adapter.understand([SOURCE], "what color?", options) == "1 image(s): what color?"
        assert adapter.generate("a red cube", options).size == (24, 16)
        if "edit" in module.DEFAULTS:
            edited = adapter.edit(SOURCE, "flip it", dataclasses.replace(options, seed=5))
            assert edited.tobytes() == SOURCE.transpose(Image.FLIP_LEFT_RIGHT).tobytes()
            assert stand_in.calls[-1][2] == {k: s.value for k, s in module.DEFAULTS["edit"].items()}
        with urllib.request.urlopen(f"{raw['endpoint']}/models") as reply:
            assert json.load(reply)["data"][0]["capabilities"] == sorted(module.DEFAULTS)
        request = urllib.request.Request(f"{raw['endpoint']}/images/generations", data=b"{not json",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 400 and "not valid JSON" in json.load(caught.value)["error"]["message"]
    finally:
        server.shutdown()
        server.server_close()


def test_workers_import_only_the_standard_library_and_run_on_python_3_9():
    stdlib = set(sys.stdlib_module_names) | {"worker_http", "__future__"}
    for path in sorted(WORKERS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), feature_version=(3, 9))  # the oldest Python the models pin
        for node in tree.body:  # module level: what runs before the model's own environment is known
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in stdlib, f"{path.name} imports {name} at module level"
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] == "realunify_arena" for n in names), path.name


def test_every_worker_serves_under_python_isolated_with_the_package_unimportable():
    script = f"""
import importlib.util, sys
sys.modules['realunify_arena'] = None  # any import of the package now fails
for name in {sorted(m for m, _ in WORKERS.values())!r}:
    spec = importlib.util.spec_from_file_location(name, {str(WORKERS_DIR)!r} + '/' + name + '.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    worker = module.Worker(module.NAME, None, module.DEFAULTS)
    status, body = sys.modules['worker_http'].handle(worker, 'GET', '/v1/models', None)
    assert status == 200 and body['data'][0]['id'] == module.NAME, body
    print(name, 'ok')
"""
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(" ok") == len(WORKERS)


PAPER_UNIFIED = {"nano-banana", "janus-pro-7b", "omnigen2", "blip3o", "bagel", "mio", "illume-plus", "show-o2",
                 "unipic2", "uniworld-v1", "ovis-u1", "onecat"}  # REALUNIFY.md: Table 2 rows + "other unified models"
PAPER_SPECIALISTS = {"gpt-image-1", "qwen-image", "flux-kontext", "gemini-2.5-pro", "gpt-4.1", "qwen2.5-vl-7b"}


def test_models_lists_every_paper_model_with_its_route_and_why_it_cannot_run(capsys, monkeypatch):
    from realunify_arena import cli

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cli.main(["models"])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert PAPER_UNIFIED | PAPER_SPECIALISTS <= set(rows)
    for name in PAPER_UNIFIED | PAPER_SPECIALISTS:
        family = rows[name].split()[1]
        assert family in {"janus", "pair", "openai", "gemini"}, rows[name]
        if " unavailable " in rows[name] and name in WORKERS:  # nothing answers on the worker's port here
            assert f"start it with: python workers/{WORKERS[name][0]}.py" in rows[name]
    assert "start it with: vllm serve ByteDance-Seed/BAGEL-7B-MoT --omni" in rows["bagel"]
    assert "API key variable GEMINI_API_KEY is unset" in rows["nano-banana"]
