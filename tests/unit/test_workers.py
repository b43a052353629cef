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
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from PIL import Image
from stand_in import serve_in_thread

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
SOURCE = Image.new("RGB", (20, 16), (10, 200, 30))  # at the 16 px floor a remote image must reach


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
    assert "usage" not in body, body  # nothing counted: no usage (optional in OpenAI's reference), never a false 0
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


# Settings that count something (steps, tokens, beams, pixels): 0 or fewer has no meaning, and a diffusion loop
# of 0 steps decodes its starting noise as if it were the picture.
COUNTS = {"num_inference_steps", "max_new_tokens", "num_beams", "width", "height", "image_size", "anchor_pixels"}


def _request(capability: str, **fields) -> tuple[str, dict]:
    """(path, body) of a request for ``capability`` carrying ``fields``, as the ``openai`` family sends it."""
    if capability == "generate":
        return "/v1/images/generations", {"prompt": "x", **fields}
    content = [{"type": "text", "text": "q"}, {"type": "image_url", "image_url": {"url": _data_url(SOURCE)}}]
    body = {"messages": [{"role": "user", "content": content}], **fields}
    return "/v1/chat/completions", {**body, "modalities": ["image"]} if capability == "edit" else body


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_a_setting_that_is_not_finite_or_counts_nothing_is_refused_by_name(card_name):
    """JSON has no NaN or Infinity (RFC 8259 section 6), but Python's reader takes both: before, guidance NaN or
    Infinity reached the model, whose picture (NaN latents) came back as HTTP 200; so did 0 or -3 steps, tokens,
    beams or pixels. Each is a 400 naming the field, and nothing reaches the model."""
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    tried = 0
    for capability, defaults in module.DEFAULTS.items():
        for name, setting in defaults.items():
            kind = type(setting.value)
            bad = ([float("nan"), float("inf"), float("-inf")] if kind is float else
                   [0, -3] if kind is int and name in COUNTS else [])
            for value in bad:
                path, body = _request(capability, **{name: value})
                status, reply = _http(module).handle(worker, "POST", path, body)
                assert status == 400 and f"'{name}'" in reply["error"]["message"], (capability, name, value, reply)
                tried += 1
    assert tried and stand_in.calls == []


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_a_refused_size_is_named_as_sent(card_name):
    """``size`` is OpenAI's field; the worker reads it as ``width`` and ``height``. Before, "0x0" was refused as
    "'width' ..." (a field the request never sent), or reached the model where it takes a width."""
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    status, reply = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "x", "size": "0x0"})
    assert status == 400 and reply["error"]["message"].startswith("'size' "), reply
    assert stand_in.calls == []


def _numpy_takes_seed(seed: int) -> bool:
    """Whether numpy's legacy seeding (``np.random.seed``, which workers call beside ``torch.manual_seed``) takes
    ``seed``: the reference for the seed range, asked of numpy itself."""
    import numpy as np
    try:
        np.random.RandomState().seed(seed)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_n_other_than_one_and_a_seed_numpy_refuses_are_a_400_naming_the_field(card_name):
    """OpenAI refuses ``n`` 0 and ``n`` true; a worker serves one image or reply, so only n=1 (or none) is taken.
    Before, 0 and true were served as n=1, and a seed numpy cannot take (-1, 2**32, 2**80) reached the model and
    came back as a 500 "model failed". Each is a 400 naming the field, and nothing reaches the model."""
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    for capability in module.DEFAULTS:
        for n in (0, True, 2, "1", 1.0):
            status, reply = _http(module).handle(worker, "POST", *_request(capability, n=n))
            assert status == 400 and reply["error"]["message"].startswith("'n'"), (capability, n, reply)
        status, reply = _http(module).handle(worker, "POST", *_request(capability, stream="false"))
        assert status == 400 and reply["error"]["message"].startswith("'stream'"), reply
    assert stand_in.calls == []
    seeded = [capability for capability, defaults in module.DEFAULTS.items() if "seed" in defaults]
    for capability in seeded:
        for seed in (-1, 2**32, 2**80):
            assert not _numpy_takes_seed(seed)
            status, reply = _http(module).handle(worker, "POST", *_request(capability, seed=seed))
            assert status == 400 and reply["error"]["message"].startswith("'seed'"), (capability, seed, reply)
    assert stand_in.calls == []
    for capability in seeded:  # the range's ends are served
        for seed in (0, 2**32 - 1):
            assert _numpy_takes_seed(seed)
            status, reply = _http(module).handle(worker, "POST", *_request(capability, seed=seed, n=1))
            assert status == 200, (capability, seed, reply)
    assert len(stand_in.calls) == 2 * len(seeded)


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_the_card_drives_the_worker_over_http(tmp_path, card_name):
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    server = _http(module).make_server(worker)
    serve_in_thread(server)
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


@pytest.mark.parametrize("headers, body, message", [
    ("Content-Length: abc\r\n", b"{}", "Content-Length"),  # before: no reply, a traceback in the log
    ("Content-Length: -1\r\n", b"{}", "Content-Length"),  # before: read to EOF, the client waited forever
    ("Content-Length: 400002\r\n", b"[" * 200001 + b"]" * 200001, "not valid JSON"),  # before: RecursionError
])
def test_malformed_http_requests_get_an_openai_shaped_400(headers, body, message):
    import socket

    module = _module("blip3o")
    worker, stand_in = _worker(module)
    server = _http(module).make_server(worker)
    serve_in_thread(server)
    try:
        with socket.create_connection(server.server_address, timeout=10) as conn:
            conn.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
            conn.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        head, _, payload = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 400"), reply[:200]
        assert message in json.loads(payload)["error"]["message"]
        assert stand_in.calls == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_body_shorter_than_its_content_length_does_not_hold_a_worker_thread(monkeypatch):
    """A client that declares 100 bytes and sends 11 is dropped after the read timeout (before: never)."""
    import socket

    module = _module("blip3o")
    http = _http(module)
    monkeypatch.setattr(http._Handler, "timeout", 1.0)
    worker, stand_in = _worker(module)
    server = http.make_server(worker)
    serve_in_thread(server)
    try:
        with socket.create_connection(server.server_address, timeout=20) as conn:
            conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\": 1}")
            started = time.monotonic()
            while conn.recv(65536):  # the worker closes the connection once its read times out
                pass
        assert time.monotonic() - started < 10
        assert stand_in.calls == []
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


# --- Show-o2: the worker's own steps, with the repository's functions and model replaced by stand-ins of
# their signatures (showlab/Show-o@45a5a2d show-o2: models/misc.py, models/omni_attention.py, utils.py,
# datasets/utils.py, transport/transport.py, models/modeling_showo2_qwen2_5.py, models/wan21_vae.py).
# Token ids of the stand-in tokenizer are character codes, so the embedded prompt reads back as text.
BOS, BOI, EOI, EOS, PAD, IMG_PAD = 1, 2, 3, 4, 5, 6
TIME_MARK, IMAGE_MARK = -2.0, -1.0
# the 7B demo config (configs/showo2_7b_demo_432x432.yaml) after the +1 time-embedding token
SHOWO2_SHAPES = {"num_t2i_image_tokens": 730, "num_mmu_image_tokens": 730, "max_seq_len": 1024, "max_text_len": 290,
                 "image_latent_dim": 16, "patch_size": 2, "latent_width": 27, "latent_height": 27, "pad_id": PAD,
                 "bos_id": BOS, "eos_id": EOS, "boi_id": BOI, "eoi_id": EOI, "img_pad_id": IMG_PAD,
                 "resolution": 432, "add_time_embeds": True}
SHOWO2_ODE = {"sampling_method": "euler", "atol": 1e-6, "rtol": 1e-3, "reverse": False}


class _Ids(dict):
    @property
    def input_ids(self):
        return self["input_ids"]


class ShowO2Tokenizer:
    eos_token_id = EOS

    def __call__(self, text, add_special_tokens=True):
        return _Ids(input_ids=[ord(c) for c in text])

    def batch_decode(self, sequences, skip_special_tokens=False):
        return ["".join(chr(int(i)) for i in seq if not (skip_special_tokens and int(i) < 32 and chr(int(i)) != "\n"))
                for seq in sequences]


class ShowO2Official:
    """Stand-ins with the repository functions' signatures; each records its call."""

    def __init__(self):
        self.calls = {}

    def prepare_gen_input(self, prompts, text_tokenizer, num_image_tokens, bos_id, eos_id, boi_id, eoi_id, pad_id,
                          img_pad_id, max_text_len, device):
        import torch
        self.calls["prepare_gen_input"] = dict(prompts=prompts, num_image_tokens=num_image_tokens,
                                               ids=(bos_id, eos_id, boi_id, eoi_id, pad_id, img_pad_id),
                                               max_text_len=max_text_len)
        length = max_text_len + num_image_tokens + 4
        return (torch.full((len(prompts), length), 11), torch.full((len(prompts), length), 12),
                torch.tensor([[[9, num_image_tokens]]] * len(prompts)), torch.tensor([[[2, num_image_tokens]]] * len(prompts)))

    def omni_attn_mask_naive(self, B, LEN, modalities, device, inverted=True):
        import torch
        self.calls["omni_attn_mask_naive"] = dict(B=B, LEN=LEN, modalities=modalities.tolist(), inverted=inverted)
        return torch.zeros((B, 1, LEN, LEN), dtype=torch.long)

    def causal_attn_mask_naive(self, B, LEN, device, inverted=True):
        import torch
        self.calls["causal_attn_mask_naive"] = dict(B=B, LEN=LEN, inverted=inverted)
        return torch.zeros((B, 1, LEN, LEN), dtype=torch.long)

    def image_transform(self, image, resolution=256, normalize=True, mean=(0.5,) * 3, std=(0.5,) * 3,
                        y0_centercrop=False):
        import torch
        self.calls["image_transform"] = dict(image=image, resolution=resolution)
        return torch.zeros((3, resolution, resolution))

    def denorm(self, images):  # utils.denorm: [-1, 1] -> uint8, channels last
        import torch
        images = torch.clamp((images + 1.0) / 2.0, min=0.0, max=1.0).to(torch.float32) * 255.0
        return images.permute(0, 2, 3, 1).cpu().numpy().astype("uint8")

    def set_seed(self, seed):
        import torch
        self.calls["set_seed"] = seed
        torch.manual_seed(seed)


class ShowO2Sampler:
    def __init__(self):
        self.ode, self.model_kwargs, self.z = None, None, None

    def sample_ode(self, *, sampling_method="dopri5", num_steps=50, atol=1e-6, rtol=1e-3, reverse=False,
                   do_shift=False, time_shifting_factor=None):
        self.ode = dict(sampling_method=sampling_method, num_steps=num_steps, atol=atol, rtol=rtol, reverse=reverse,
                        time_shifting_factor=time_shifting_factor)

        def sample(x, model, **model_kwargs):
            import torch
            self.z, self.model_kwargs = x.clone(), model_kwargs
            model(x, torch.ones(x.shape[0]), **model_kwargs)
            return [x, torch.tanh(x.float())]  # the last entry is the sample
        return sample


class ShowO2VAE:
    def __init__(self):
        self.sampled = None

    def sample(self, videos, deterministic=False, return_features=False):
        import torch
        self.sampled = tuple(videos.shape)
        return torch.zeros((videos.shape[0], 16, 1, videos.shape[-2] // 8, videos.shape[-1] // 8))

    def batch_decode(self, zs):  # B x 16 x 1 x h x w latents -> B x 3 x 1 x 8h x 8w in [-1, 1]
        return zs[:, :3].float().repeat_interleave(8, dim=-1).repeat_interleave(8, dim=-2).clamp(-1, 1)


class ShowO2Model:
    """The Showo2Qwen2_5 attributes the scripts use; embeddings are 1-wide and carry the token id."""

    def __init__(self, reply="red"):
        import types

        import torch
        self.reply, self.generated, self.t2i = reply, None, None
        embed = lambda ids: ids.float()[..., None]  # noqa: E731
        self.showo = types.SimpleNamespace(model=types.SimpleNamespace(embed_tokens=embed))
        self.image_position_ids = torch.arange(729)[None]
        self.position_embedding = lambda ids: torch.zeros((*ids.shape, 1))
        self.image_embedder_und = lambda latents: torch.full((latents.shape[0], 729, 1), IMAGE_MARK)
        self.image_embedder_gen = lambda latents: torch.full((latents.shape[0], 729, 1), IMAGE_MARK)
        self.und_trans = lambda x: {"last_hidden_state": x}
        self.fusion_proj = lambda x: x[..., :1]
        self.time_embed = lambda t, dtype: torch.full((1, 1, 1), TIME_MARK, dtype=dtype)

    def mmu_generate(self, input_embeds=None, attention_mask=None, max_new_tokens=100, temperature=1.0, top_k=None,
                     eos_token=None):
        import torch
        self.generated = dict(sequence=input_embeds[0, :, 0].tolist(), mask=tuple(attention_mask.shape),
                              max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, eos_token=eos_token)
        return [torch.tensor(ord(c)) for c in self.reply] + [torch.tensor(EOS)]

    def t2i_generate(self, image_latents=None, t=None, text_tokens=None, attention_mask=None, modality_positions=None,
                     first_frame_as_cond=False, only_denoise_last_image=False, max_seq_len=None, guidance_scale=0.0,
                     **kwargs):
        self.t2i = dict(batch=image_latents.shape[0], text=text_tokens[:, 0].tolist(), guidance_scale=guidance_scale,
                        max_seq_len=max_seq_len, mask=tuple(attention_mask.shape), kwargs=kwargs)
        return image_latents


def _show_o2(safety=None):
    import torch
    module = _module("show_o2")
    parts = dict(model=ShowO2Model(), vae=ShowO2VAE(), sampler=ShowO2Sampler(), official=ShowO2Official())
    backend = module.Backend(parts["model"], parts["vae"], ShowO2Tokenizer(), {"bos_id": BOS, "boi_id": BOI,
                             "eoi_id": EOI}, parts["sampler"], SHOWO2_SHAPES, SHOWO2_ODE, parts["official"],
                             torch.device("cpu"), torch.bfloat16, safety)
    return module, module.Worker(module.NAME, backend, module.DEFAULTS), parts


def _chars(text):
    return [float(ord(c)) for c in text]


def test_show_o2_generation_runs_inference_t2i_steps_with_the_official_settings():
    import torch
    module, worker, parts = _show_o2()
    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "a red cube"})
    assert status == 200, body
    official, sampler, model = parts["official"], parts["sampler"], parts["model"]
    # README's demo command: guidance_scale=7.5 num_inference_steps=50; config: time shift 3.0, euler
    assert sampler.ode == {"sampling_method": "euler", "num_steps": 50, "atol": 1e-6, "rtol": 1e-3,
                           "reverse": False, "time_shifting_factor": 3.0}
    assert official.calls["set_seed"] == 42
    assert official.calls["prepare_gen_input"] == {"prompts": ["a red cube"], "num_image_tokens": 730,
                                                   "ids": (BOS, EOS, BOI, EOI, PAD, IMG_PAD), "max_text_len": 290}
    # classifier-free guidance: the same noise for the prompt and the empty prompt, in one batch
    torch.manual_seed(42)
    noise = torch.randn((1, 16, 54, 54)).to(torch.bfloat16)
    assert torch.equal(sampler.z, torch.cat([noise, noise]))
    assert model.t2i["batch"] == 2 and model.t2i["text"] == [11, 12] and model.t2i["guidance_scale"] == 7.5
    assert model.t2i["max_seq_len"] == 1024 and model.t2i["kwargs"] == {"output_hidden_states": True}
    assert official.calls["omni_attn_mask_naive"]["B"] == 2 and official.calls["omni_attn_mask_naive"]["LEN"] == 1024
    # the conditional half, decoded and denormalised: 54 x 54 latents -> 432 x 432 pixels
    image = _png(body["data"][0]["b64_json"])
    expected = torch.tanh(noise.float())[:, :3].repeat_interleave(8, -1).repeat_interleave(8, -2)
    expected = (torch.clamp((expected + 1) / 2, 0, 1) * 255).permute(0, 2, 3, 1).numpy().astype("uint8")[0]
    assert image.size == (432, 432) and image.tobytes() == Image.fromarray(expected).tobytes()

    # request overrides arrive; guidance 0 runs the prompt alone, as inference_t2i.py's else branch
    _http(module).handle(worker, "POST", "/v1/images/generations", {
        "prompt": "x", "num_inference_steps": 20, "guidance_scale": 0, "time_shifting_factor": 1.0, "seed": 7})
    assert sampler.ode["num_steps"] == 20 and sampler.ode["time_shifting_factor"] == 1.0
    assert official.calls["set_seed"] == 7 and model.t2i["batch"] == 1 and model.t2i["guidance_scale"] == 0.0
    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "x", "size": "1024x1024"})
    assert status == 400 and "'size' is not a setting" in body["error"]["message"]  # the config fixes 432x432


def test_show_o2_understanding_builds_inference_mmu_prompt():
    module, worker, parts = _show_o2()
    official, model, vae = parts["official"], parts["model"], parts["vae"]
    question = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what color?"}, {"type": "image_url", "image_url": {"url": _data_url(SOURCE)}}]}]}
    status, body = _http(module).handle(worker, "POST", "/v1/chat/completions", question)
    assert status == 200 and body["choices"][0]["message"]["content"] == "red"
    # inference_mmu.py: image_transform at the config's resolution, then the VAE on a one-frame video
    assert official.calls["image_transform"]["resolution"] == 432
    assert official.calls["image_transform"]["image"].tobytes() == SOURCE.tobytes()
    assert vae.sampled == (1, 3, 1, 432, 432)
    head = [float(BOS)] + _chars("system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    tail = [float(EOI)] + _chars("what color?\n<|im_start|>assistant\n")
    expected = head + [float(BOI), TIME_MARK] + [IMAGE_MARK] * 729 + tail
    assert model.generated["sequence"] == expected
    assert model.generated["top_k"] == 1 and model.generated["temperature"] == 1.0  # greedy, as the script
    assert model.generated["max_new_tokens"] == 300 and model.generated["eos_token"] == EOS
    mask = official.calls["omni_attn_mask_naive"]
    assert mask["modalities"] == [[[len(head) + 2, 730]]] and mask["LEN"] == len(expected) and mask["inverted"]

    _http(module).handle(worker, "POST", "/v1/chat/completions", {
        "messages": [{"role": "user", "content": "Rewrite: a cat"}], "max_completion_tokens": 9})
    assert model.generated["sequence"] == head + _chars("Rewrite: a cat\n<|im_start|>assistant\n")
    assert model.generated["max_new_tokens"] == 9 and official.calls["causal_attn_mask_naive"]["LEN"] == len(
        model.generated["sequence"])

    two = {"messages": [{"role": "user", "content": [{"type": "text", "text": "same?"}] + [
        {"type": "image_url", "image_url": {"url": _data_url(SOURCE)}}] * 2}]}
    status, body = _http(module).handle(worker, "POST", "/v1/chat/completions", two)
    assert status == 400 and "one image at a time" in body["error"]["message"]


def test_show_o2_safety_checker_blacks_out_a_flagged_image():
    import numpy as np

    class Processor:  # transformers.AutoFeatureExtractor
        def __call__(self, images=None, return_tensors=None):
            self.images = images
            return {"pixel_values": "clip pixels"}

    class Checker:  # diffusers StableDiffusionSafetyChecker.forward(clip_input, images)
        def __call__(self, clip_input, images):
            assert clip_input == "clip pixels"
            return [np.zeros(images[0].shape)], [True]

    module, worker, _ = _show_o2(safety=(Processor(), Checker()))
    status, body = _http(module).handle(worker, "POST", "/v1/images/generations", {"prompt": "a red cube"})
    image = _png(body["data"][0]["b64_json"])
    assert status == 200 and image.size == (432, 432) and image.getextrema() == ((0, 0),) * 3


@pytest.mark.parametrize("card_name", sorted(WORKERS))
def test_the_card_defaults_reach_the_worker_as_its_official_settings(tmp_path, card_name):
    """The card's ``defaults`` are sent (``send_options``): they must be the worker's official values, or the
    card would silently replace them."""
    module = _module(WORKERS[card_name][0])
    worker, stand_in = _worker(module)
    server = _http(module).make_server(worker)
    serve_in_thread(server)
    try:
        raw = yaml.safe_load((MODELS_DIR / f"{card_name}.yaml").read_text())
        raw["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
        (tmp_path / f"{card_name}.yaml").write_text(yaml.safe_dump(raw))
        adapter = build_adapter(load_card(tmp_path / f"{card_name}.yaml"))
        adapter.generate("a red cube", adapter.card.defaults)
        assert stand_in.calls[-1][2] == {k: s.value for k, s in module.DEFAULTS["generate"].items()}
        adapter.understand([SOURCE], "what color?", adapter.card.defaults)
        assert stand_in.calls[-1][2] == {k: s.value for k, s in module.DEFAULTS["understand"].items()}
    finally:
        server.shutdown()
        server.server_close()
