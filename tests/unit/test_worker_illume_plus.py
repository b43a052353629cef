"""The ILLUME+ worker's set-up of the demo module it drives (workers/illume_plus.py).

The worker calls the handlers of ILLUME_plus@51de69d ``ILLUME/app.py``, which read module globals that the
demo's ``__main__`` sets: ``eval_model`` (with ``device``, ``mllm_device``, ``vq_device`` and
``diffusion_device`` given to it there: ILLUME's own ``__init__`` sets only ``device``) and ``streamer`` (a
``TextIteratorStreamer``). ``DEMO`` below is a stand-in of that module, written from app.py: the handlers keep
app.py's control flow where it matters here (the chat streams through the global ``streamer`` from a
generation thread; both handlers catch every exception and answer ``server_error_msg`` instead; the
image handler moves its codes to ``eval_model.vq_device``), with the model calls replaced by records. The
worker's ``Backend.load`` and HTTP handling are the real ones.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import io
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

WORKERS_DIR = Path(__file__).resolve().parents[2] / "workers"
BANNER = "**NETWORK ERROR OR SERVER ISSUE. PLEASE REGENERATE OR REFRESH THIS PAGE.**"  # app.py server_error_msg

DEMO = '''
from threading import Thread
from transformers import TextIteratorStreamer

eval_model = None
args = None
streamer = None
server_error_msg = "**NETWORK ERROR OR SERVER ISSUE. PLEASE REGENERATE OR REFRESH THIS PAGE.**"
server_oom_msg = "**OUT OF GPU MEMORY DETECTED. PLEASE DECREASE THE MAX OUTPUT TOKENS OR IMAGE RESOLUTION AND REGENERATE.**"


class Part:
    def __init__(self):
        self.devices = []

    def to(self, device):
        self.devices.append(device)
        return self


class MLLM(Part):
    def generate(self, streamer=None, prompt="", max_new_tokens=0):
        if streamer is not None:  # the reply goes out through the streamer only, as transformers' generate
            streamer.on_finalized_text(f"answer to <{prompt}>", stream_end=True)


class ILLUME:  # generation_eval/models/illume.py: __init__ sets device to the local rank and nothing else
    def __init__(self, **cfg):
        self.cfg, self.device, self.tokenizer = cfg, 0, object()
        self.mllm_model, self.vq_model, self.diffusion_decoder_pipe = MLLM(), Part(), Part()


def build_eval_model(cfg):
    return ILLUME(**cfg)


class State:
    def __init__(self):
        self.messages, self.roles, self.mode, self.skip_next = [], ("USER", "ASSISTANT"), None, False

    def append_message(self, role, message):
        self.messages.append([role, message])

    def get_prompt(self):
        first = self.messages[0][1]
        return first[0] if isinstance(first, tuple) else first

    def get_images(self):
        first = self.messages[0][1]
        return [first[1]] if isinstance(first, tuple) else []


def load_demo_refresh_model_list():
    return State()


def add_text(state, text, image, mode):
    if image is not None:
        text = (f"<image>\\n{text}", image, "Default")
    state.append_message(state.roles[0], text)
    state.append_message(state.roles[1], None)
    state.mode = mode
    return (state,)


def stream_response(model, inputs, streamer, prompt, gen_kwargs):  # app.py, as is
    thread = Thread(target=model.generate, kwargs=dict(streamer=streamer, **inputs, **gen_kwargs))
    thread.start()
    generated_text = prompt
    for new_text in streamer:
        generated_text += new_text
        yield generated_text


def http_chat_bot(state, temperature, top_k, top_p, max_new_tokens):
    global eval_model, args, streamer
    prompt = state.get_prompt()
    device = eval_model.device  # input_ids.to(eval_model.device)
    if max_new_tokens < 1:
        state.messages[-1][-1] = "Exceeds max token length. Please start a new conversation, thanks."
        yield (state,)
        return
    state.messages[-1][-1] = "\\u258c"
    yield (state,)
    try:
        for generated_text in stream_response(eval_model.mllm_model, dict(prompt=prompt), streamer, prompt,
                                              dict(max_new_tokens=max_new_tokens)):
            state.messages[-1][-1] = generated_text[len(prompt):].strip()
            yield (state,)
    except Exception:
        state.messages[-1][-1] = server_error_msg
        yield (state,)


def http_gen_edit_bot(state, temperature, top_k, top_p, max_output_tokens, llm_cfg_scale, resolution_wh,
                      use_diffusion, diffusion_cfg_scale, diffusion_num_inference_steps):
    global eval_model, args
    device = eval_model.device
    state.messages[-1][-1] = "\\u258c"
    yield (state,)
    try:
        codes_at = eval_model.vq_device  # torch.as_tensor(semantic_code_list).to(eval_model.vq_device)
        images = state.get_images()
        from PIL import Image
        image = images[0].transpose(Image.FLIP_LEFT_RIGHT) if images else Image.new("RGB", (32, 32), (200, 0, 0))
        state.messages[-1][-1] = ("<image>", [image], [])
        yield (state,)
    except Exception as e:
        state.messages[-1][-1] = f"{server_error_msg}\\n```\\n{type(e).__name__}: {e}\\n```"
        yield (state,)
'''


@pytest.fixture()
def illume(monkeypatch):
    """(the worker module, a Worker on the real ``Backend.load``, the demo module) with the stand-in demo
    importable as ``app``, as it is from an ILLUME checkout."""
    demo = types.ModuleType("app")
    exec(compile(DEMO, "app.py", "exec"), demo.__dict__)
    monkeypatch.setitem(sys.modules, "app", demo)
    spec = importlib.util.spec_from_file_location("worker_illume_plus", WORKERS_DIR / "illume_plus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = argparse.Namespace(config="c.py", tokenizer_config="t.py", tokenizer_checkpoint=None,
                              diffusion_decoder_path="sdxl", torch_dtype="fp32", device="cpu")
    worker = module.Worker(module.NAME, module.Backend.load(args), module.DEFAULTS)
    return module, worker, demo


def _handle(module, worker, path, body):
    return sys.modules[module.Worker.__module__].handle(worker, "POST", path, body)


def _data_url(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_the_demo_module_is_set_up_as_its_main_does(illume):
    import torch
    _, _, demo = illume
    model = demo.eval_model
    cpu = torch.device("cpu")
    for part in (model.mllm_model, model.vq_model, model.diffusion_decoder_pipe):
        assert part.devices == [cpu]
    assert (model.device, model.mllm_device, model.vq_device, model.diffusion_device) == (cpu,) * 4
    # app.py __main__: TextIteratorStreamer(eval_model.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=15)
    assert isinstance(demo.streamer, demo.TextIteratorStreamer)
    assert demo.streamer.tokenizer is model.tokenizer and demo.streamer.skip_prompt is True
    assert demo.streamer.timeout == 15 and demo.streamer.decode_kwargs == {"skip_special_tokens": True}
    assert model.cfg["torch_dtype"] == "fp32"  # app.py's --torch_dtype default


def test_understanding_answers_the_models_reply_not_the_demos_error_banner(illume):
    module, worker, _ = illume
    image = Image.new("RGB", (20, 16), (0, 90, 200))
    status, body = _handle(module, worker, "/v1/chat/completions", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What color?"}, {"type": "image_url", "image_url": {"url": _data_url(image)}}]}]})
    assert status == 200, body
    assert body["choices"][0]["message"]["content"] == "answer to <<image>\nWhat color?>"


def test_generation_and_editing_return_the_decoded_image(illume):
    module, worker, _ = illume
    status, body = _handle(module, worker, "/v1/images/generations", {"prompt": "a red square"})
    assert status == 200, body
    image = Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"])))
    assert image.size == (32, 32) and image.convert("RGB").getpixel((0, 0)) == (200, 0, 0)
    source = Image.new("RGB", (20, 16), (0, 90, 200))
    source.putpixel((0, 0), (255, 255, 0))
    status, body = _handle(module, worker, "/v1/chat/completions", {"modalities": ["image"], "messages": [
        {"role": "user", "content": [{"type": "text", "text": "flip it"},
                                     {"type": "image_url", "image_url": {"url": _data_url(source)}}]}]})
    assert status == 200, body
    url = body["choices"][0]["message"]["content"][0]["image_url"]["url"]
    edited = Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))).convert("RGB")
    assert edited.tobytes() == source.transpose(Image.FLIP_LEFT_RIGHT).tobytes()


def test_a_notice_from_the_chat_handler_is_a_failed_request_not_an_answer(illume):
    module, worker, demo = illume
    # the handler's too-long notice (app.py, max_new_tokens < 1 once the prompt is counted); the HTTP layer
    # itself refuses a request's 0 before the model (test_workers), so the notice is met through the backend
    settings = {name: s.value for name, s in module.DEFAULTS["understand"].items()} | {"max_new_tokens": 0}
    with pytest.raises(RuntimeError, match="Exceeds max token length"):
        worker.call("understand", [], "hi", **settings)
    demo.streamer = None  # what every chat met before the worker made the streamer
    status, body = _handle(module, worker, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 500 and BANNER in body["error"]["message"]
