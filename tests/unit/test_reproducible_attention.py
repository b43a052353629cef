"""A seed repeats its output on CUDA only if attention repeats its numbers: cuDNN's attention kernels do not
(measured on an H200: ``bench/janus_determinism.py``, ``bench/results/determinism.json``), and PyTorch leaves
that backend out of its deterministic mode. These tests check, on CPU, that every in-process model call and
every fast Janus step offers attention no cuDNN backend, eagerly and in the compiled graph. The GPU test
``tests/gpu/test_janus_fast_gpu.py`` checks that the logits then repeat bit for bit."""

from __future__ import annotations

import threading

import pytest
import torch
from PIL import Image
from transformers import JanusForConditionalGeneration

from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.janus_fast import JanusFastGenerator
from realunify_arena.adapters.tiny import ensure_built
from realunify_arena.cards import load_cards


def record_cudnn_offered(modules) -> list[bool]:
    """Hooks on every attention module: whether cuDNN attention is enabled when each one runs."""
    seen: list[bool] = []
    for module in modules:
        for sub in module.modules():
            if type(sub).__name__.endswith("Attention"):
                sub.register_forward_pre_hook(lambda *_: seen.append(torch.backends.cuda.cudnn_sdp_enabled()))
    return seen


@pytest.fixture
def janus():  # each test its own: hooks left by one would split the graph another traces
    return JanusForConditionalGeneration.from_pretrained(ensure_built(load_cards()["tiny-janus"])).eval()


def prompt(model) -> torch.Tensor:
    generation = model.generation_config
    return torch.tensor([[generation.bos_token_id, 5, 6, 7, generation.generation_kwargs["boi_token_id"]]])


def test_fast_janus_steps_never_offer_cudnn_attention(janus):
    seen = record_cudnn_offered([janus])
    torch.backends.cuda.enable_cudnn_sdp(True)  # as by default (the flags are process-wide): else this passes vacuously
    fast = JanusFastGenerator(janus, compile=False)

    fast.generate_images(prompt(janus), do_sample=True, guidance_scale=5.0)
    images = len(seen)
    fast.generate_text(prompt(janus), do_sample=False, max_new_tokens=4)

    steps = janus.model.vision_model.config.num_image_tokens
    assert images >= steps * janus.config.text_config.num_hidden_layers  # prefill + every step, every layer
    assert len(seen) > images
    assert not any(seen)


def test_the_compiled_step_graph_carries_the_attention_choice(janus):
    """What dynamo traces is what a CUDA graph replays: the graph itself must set the backends, so that a
    graph compiled elsewhere (inductor's on-disk cache) cannot bring cuDNN attention back."""
    graphs = []

    def capture(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    fast = JanusFastGenerator(janus, compile=True, compile_options={"mode": None, "backend": capture})
    fast.generate_images(prompt(janus), do_sample=True, guidance_scale=5.0)
    torch._dynamo.reset()

    assert graphs, "the image step was not compiled"
    nodes = list(graphs[0].graph.nodes)

    def called(name):
        return [i for i, node in enumerate(nodes) if getattr(node.target, "__name__", None) == name]

    attention, enters = called("scaled_dot_product_attention"), called("_sdpa_kernel")
    assert attention and enters
    first = nodes[enters[0]]
    backends = {arg.args[0] for arg in first.args[0]}
    assert backends == {"FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"}
    assert enters[0] < attention[0] and len(attention) == janus.config.text_config.num_hidden_layers
    later = [i for i in enters if i > attention[0]]  # the exit restores the caller's backends after the last layer
    assert later and later[-1] > attention[-1]


@pytest.mark.parametrize("name", ["tiny-janus", "tiny-emu3", "tiny-pair"])
def test_every_local_family_call_runs_without_cudnn_attention(name):
    card = load_cards()[name]
    adapter = build_adapter(card)
    try:
        seen = record_cudnn_offered(adapter._modules())
        torch.backends.cuda.enable_cudnn_sdp(True)  # as by default: else this passes vacuously
        options = card.defaults
        image = Image.new("RGB", (32, 32), (200, 30, 30))
        calls = {"understand": lambda: adapter.understand([image], "What colour is it?", options),
                 "generate": lambda: adapter.generate("a red cube", options),
                 "edit": lambda: adapter.edit(image, "make it blue", options)}
        for capability in sorted(c.value for c in card.capabilities):
            before = len(seen)
            calls[capability]()
            assert len(seen) > before, f"{name}.{capability}: no attention module ran"
        assert not any(seen)
    finally:
        adapter.close()


def test_a_call_ending_on_another_thread_does_not_bring_cudnn_attention_back():
    """PyTorch's backend switches are process-wide. Thread A's call starts, then B's; A's ends while B's runs:
    whatever A's end does must not turn cuDNN attention back on under B (a context that restores the
    caller's choice on exit did: B's later layers ran with it on)."""
    card = load_cards()["tiny-janus"]
    first, second = build_adapter(card), build_adapter(card)
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    seen_by_b: list[bool] = []

    def hold_a(*_):
        if not a_inside.is_set():
            a_inside.set()
            assert b_inside.wait(60)

    def hold_b(*_):
        if not b_inside.is_set():
            b_inside.set()
            assert a_done.wait(60)
        seen_by_b.append(torch.backends.cuda.cudnn_sdp_enabled())

    for adapter, hook in ((first, hold_a), (second, hold_b)):
        for module in adapter._modules():
            for sub in module.modules():
                if type(sub).__name__.endswith("Attention"):
                    sub.register_forward_pre_hook(hook)
    image, options = Image.new("RGB", (32, 32), (200, 30, 30)), card.defaults
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)  # as by default: else this passes vacuously
        a = threading.Thread(target=first.understand, args=([image], "What colour?", options))
        b = threading.Thread(target=second.understand, args=([image], "What colour?", options))
        a.start()
        assert a_inside.wait(60)
        b.start()
        assert b_inside.wait(60)
        a.join(60)
        a_done.set()
        b.join(60)
        assert not a.is_alive() and not b.is_alive()
        assert len(seen_by_b) > 1 and not any(seen_by_b)
    finally:
        a_done.set()
        first.close()
        second.close()
