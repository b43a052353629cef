"""The openai adapter against a real ``serve-openai`` process serving the tiny pair on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.adapters.wire import png_bytes
from realunify_arena.cards import load_card, load_cards

pytestmark = pytest.mark.slow
CARDS = load_cards()
SOURCE = Image.new("RGB", (40, 30), (200, 30, 30))


@pytest.fixture(scope="module")
def server_url():
    process = subprocess.Popen(
        [sys.executable, "-m", "realunify_arena", "serve-openai", "--model", "tiny-pair", "--port", "0",
         "--device", "cpu", "--preload"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url, seen = None, []
    deadline = time.monotonic() + 120
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("serving tiny-pair at "):
            url = line.split(" at ")[1].split()[0]
    if url is None:
        process.kill()
        pytest.fail("serve-openai did not start:\n" + "".join(seen[-30:]))
    yield url
    process.terminate()
    process.wait(timeout=20)


def _remote_card(tmp_path: Path, url: str, **params):
    path = tmp_path / "tiny-pair-remote.yaml"
    path.write_text(json.dumps({
        "family": "openai", "description": "tiny-pair behind serve-openai (test only)", "endpoint": url,
        "capabilities": ["understand", "generate", "edit"], "checkpoint": "tiny-pair",
        "defaults": dataclasses.asdict(CARDS["tiny-pair"].defaults), "params": {"send_options": True, **params}}))
    return load_card(path)


@pytest.fixture(scope="module")
def local():
    adapter = build_adapter(CARDS["tiny-pair"])
    yield adapter
    adapter.close()


def test_every_capability_round_trips_and_matches_the_local_model(tmp_path, server_url, local):
    remote = build_adapter(_remote_card(tmp_path, server_url))
    options = CARDS["tiny-pair"].defaults
    assert remote.understand([SOURCE], "what color ?", options) == local.understand([SOURCE], "what color ?", options)
    generated = remote.generate("a red cube", options)
    assert generated.size == (options.width, options.height)
    assert generated.tobytes() == local.generate("a red cube", options).tobytes()  # seed, steps, size travelled
    edited = remote.edit(SOURCE, "make it blue", options)
    assert edited.tobytes() == local.edit(SOURCE, "make it blue", options).tobytes()
    other_seed = remote.generate("a red cube", dataclasses.replace(options, seed=options.seed + 1))
    assert other_seed.tobytes() != generated.tobytes()


def test_models_endpoint_lists_the_served_card(server_url):
    [entry] = httpx.get(f"{server_url}/models").json()["data"]
    assert entry["id"] == "tiny-pair"
    assert entry["capabilities"] == ["edit", "generate", "understand"]


def test_bad_requests_get_openai_shaped_errors_that_say_what_is_wrong(tmp_path, server_url):
    wrong_model = httpx.post(f"{server_url}/images/generations", json={"model": "other", "prompt": "a cube"})
    assert wrong_model.status_code == 404
    assert "serves 'tiny-pair'" in wrong_model.json()["error"]["message"]
    remote_url = httpx.post(f"{server_url}/chat/completions", json={"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://example.com/cat.png"}}]}]})
    assert remote_url.status_code == 400 and "data:image" in remote_url.json()["error"]["message"]
    not_an_image = httpx.post(f"{server_url}/images/edits", data={"prompt": "blue"},
                              files={"image": ("x.png", b"not a png", "image/png")})
    assert not_an_image.status_code == 400 and "'image'" in not_an_image.json()["error"]["message"]
    bad_size = httpx.post(f"{server_url}/images/generations", json={"prompt": "a cube", "size": "big"})
    assert bad_size.status_code == 400 and "512x512" in bad_size.json()["error"]["message"]
    good = httpx.post(f"{server_url}/images/edits", data={"prompt": "blue", "size": "32x32"},
                      files={"image": ("x.png", png_bytes(SOURCE), "image/png")})
    assert good.status_code == 200 and good.json()["data"][0]["b64_json"]

    adapter = build_adapter(dataclasses.replace(_remote_card(tmp_path, server_url), checkpoints={
        "understand": "other", "generate": "other", "edit": "other"}))
    with pytest.raises(RuntimeError, match="HTTP 404: model 'other' is not served here"):
        adapter.generate("a red cube", adapter.card.defaults)


def test_timeout_and_unreachable_endpoint_are_clear_errors(tmp_path, server_url):
    slow = build_adapter(_remote_card(tmp_path, server_url, timeout_s=0.001, max_retries=0))
    # 1 ms may pass before the first attempt on a busy machine ("0 attempts"): the message says so either way
    with pytest.raises(TimeoutError, match=r"tiny-pair-remote at .*: no answer after 0\.\d s \([01] attempts?; deadline 0\.001 s\)"):
        slow.generate("a red cube", slow.card.defaults)
    nowhere = build_adapter(_remote_card(tmp_path, "http://127.0.0.1:9/v1", max_retries=0))
    with pytest.raises(ModelUnavailable, match=" is not answering"):
        nowhere.understand([], "hello", nowhere.card.defaults)
