"""The fast Janus decoder computes what transformers' ``generate`` computes, on the shared tiny Janus (CPU, float32).

The tiny model's initial weights (std 0.02) make every step pick the same token, which would let a broken
decoder match by accident; the fixture redraws its weight matrices with a larger spread so that tokens vary.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoProcessor, JanusForConditionalGeneration

from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.janus_fast import (FAST_PATH_ENV, JanusFastGenerator, Knobs, Sampling, choose,
                                                 fast_path_wanted, reference_image_logits, reference_text_logits,
                                                 warp)
from realunify_arena.adapters.tiny import ensure_built
from realunify_arena.cards import load_cards

GUIDANCE = 5.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    folder = ensure_built(load_cards()["tiny-janus"])
    model = JanusForConditionalGeneration.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    processor.tokenizer.padding_side = "left"
    spread = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim >= 2:
                parameter.normal_(0.0, 0.35, generator=spread)
    return model, processor


def image_inputs(processor, prompts):
    texts = [processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": p}]}],
                                           add_generation_prompt=True) for p in prompts]
    return processor(text=texts, generation_mode="image", return_tensors="pt", padding=True)


def reference_generate(model, inputs, **kwargs):
    with torch.inference_mode():
        return model.generate(**inputs, **kwargs)


def test_greedy_image_tokens_equal_generate_for_a_left_padded_batch(tiny):
    model, processor = tiny
    inputs = image_inputs(processor, ["a red cube", "the blue cat is green ."])
    assert not inputs["attention_mask"].all()  # the shorter prompt is padded

    expected = reference_generate(model, inputs, generation_mode="image", do_sample=False, guidance_scale=GUIDANCE)
    got = JanusFastGenerator(model).generate_images(**inputs, do_sample=False, guidance_scale=GUIDANCE)

    assert got.shape == (2, 16)
    assert len(expected.unique()) > 4  # the tokens vary, so agreement is not an accident
    assert torch.equal(got, expected)


def test_greedy_text_equals_generate_for_an_image_question(tiny):
    model, processor = tiny
    pixels = (torch.rand(20, 20, 3, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8).numpy()
    inputs = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(pixels)},
                                      {"type": "text", "text": "what color is the cube ?"}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
        processor_kwargs={"generation_mode": "text"})

    expected = reference_generate(model, inputs, generation_mode="text", do_sample=False, max_new_tokens=12)
    got = JanusFastGenerator(model).generate_text(**inputs, do_sample=False, max_new_tokens=12)

    assert got.shape == expected.shape == (1, inputs["input_ids"].shape[1] + 12)
    assert torch.equal(got, expected)


def test_greedy_text_batch_stops_and_pads_after_each_end_of_sequence_as_generate(tiny):
    model, processor = tiny
    inputs = processor(text=["<|User|>: what color is the cube ? <|Assistant|>:", "<|User|>: a cat <|Assistant|>:"],
                       return_tensors="pt", padding=True)
    free = reference_generate(model, inputs, generation_mode="text", do_sample=False, max_new_tokens=40)
    answers = free[:, inputs["input_ids"].shape[1]:]
    # an end-of-sequence token each row reaches at a different step, well before the limit
    firsts = {int(t): [int((row == t).nonzero()[0]) if (row == t).any() else None for row in answers]
              for t in answers.unique()}
    eos = next(t for t, at in firsts.items() if None not in at and len(set(at)) == 2 and max(at) < 30)
    fast = JanusFastGenerator(model, sync_every=4)

    expected = reference_generate(model, inputs, generation_mode="text", do_sample=False, max_new_tokens=40,
                                  eos_token_id=eos)
    got = fast.generate_text(**inputs, do_sample=False, max_new_tokens=40, eos_token_id=eos)

    assert expected.shape[1] < free.shape[1]  # generation stopped early
    assert (expected[:, inputs["input_ids"].shape[1]:] == model.generation_config.pad_token_id).any()  # padded
    assert torch.equal(got, expected)


def test_teacher_forced_logits_of_the_decoding_graph_equal_one_full_forward(tiny):
    model, processor = tiny
    inputs = image_inputs(processor, ["a red cube", "the blue cat is green ."])
    fast = JanusFastGenerator(model)
    codebook = model.config.vq_config.num_embeddings
    forced = torch.randint(0, codebook, (2, 16), generator=torch.Generator().manual_seed(2))

    stepwise = fast.image_logits(**inputs, forced=forced, do_sample=True, guidance_scale=GUIDANCE)
    whole = reference_image_logits(model, inputs["input_ids"], forced, GUIDANCE, inputs["attention_mask"])
    assert stepwise.shape == whole.shape == (4, 16, 12)
    torch.testing.assert_close(stepwise, whole, rtol=1e-4, atol=1e-4)

    text = processor(text=["<|User|>: a red cube <|Assistant|>:", "<|User|>: a <|Assistant|>:"],
                     return_tensors="pt", padding=True)
    forced_text = torch.randint(3, 64, (2, 10), generator=torch.Generator().manual_seed(3))
    stepwise = fast.text_logits(**text, forced=forced_text, do_sample=False)
    whole = reference_text_logits(model, text["input_ids"], forced_text, text["attention_mask"])
    torch.testing.assert_close(stepwise, whole, rtol=1e-4, atol=1e-4)


SETTINGS = [dict(do_sample=False, guidance_scale=3.0),
            dict(do_sample=True, guidance_scale=5.0),  # transformers' default top_k=50 applies
            dict(do_sample=True, guidance_scale=2.0, temperature=0.7, top_k=5),
            dict(do_sample=True, guidance_scale=4.0, temperature=1.3, top_k=0, top_p=0.8),
            dict(do_sample=True, guidance_scale=6.0, top_k=3, top_p=0.5)]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_warp_equals_transformers_logits_processors(tiny, settings):
    from transformers.generation.logits_process import ClassifierFreeGuidanceLogitsProcessor

    model, _ = tiny
    config, _ = model._prepare_generation_config(None, **{**settings, "guidance_scale": None})
    processors = model._get_logits_processor(
        config, logits_processor=[ClassifierFreeGuidanceLogitsProcessor(settings["guidance_scale"])])
    logits = torch.randn(6, 300, generator=torch.Generator().manual_seed(4)) * 3
    prompt = torch.zeros(3, 4, dtype=torch.long)
    sampling = Sampling.from_processors(processors, config.do_sample)

    assert sampling.guidance == settings["guidance_scale"]
    torch.testing.assert_close(warp(logits, sampling.knobs(logits.device), guided=True, **sampling.flags),
                               processors(prompt, logits), rtol=0, atol=1e-6)


def test_exponential_race_draws_from_the_softmax():
    scores = torch.tensor([[2.0, 1.0, 0.0, -1.0, -float("inf")]]).expand(40_000, -1)
    noise = torch.empty(scores.shape).exponential_(generator=torch.Generator().manual_seed(5))

    counts = torch.bincount(choose(scores, noise), minlength=5).float() / scores.shape[0]

    torch.testing.assert_close(counts, scores[0].softmax(-1), rtol=0, atol=0.01)
    assert counts[4] == 0  # filtered-out tokens are never drawn
    assert torch.equal(choose(scores[:1], None), torch.tensor([0]))


def test_a_filtered_out_token_meeting_a_zero_draw_is_never_chosen():
    """Exp(1) draws can be exactly 0.0 (float32 rounding); with ``p / E`` a filtered-out token then scores
    0 / 0 = NaN and argmax picks it. Every row here puts a zero draw on a filtered-out token, some on a
    kept one too (a zero draw on a kept token makes it win, as an infinitely early race finish should)."""
    scores = torch.tensor([[1.0, -float("inf"), 0.5, -float("inf")],
                           [-float("inf"), 3.0, -float("inf"), 2.0],
                           [0.0, -float("inf"), -float("inf"), -float("inf")]])
    noise = torch.tensor([[1.0, 0.0, 2.0, 0.0],
                          [0.0, 1.0, 0.0, 0.0],
                          [0.5, 0.0, 0.0, 0.0]])
    chosen = choose(scores, noise)
    assert torch.isfinite(scores.gather(1, chosen[:, None])).all(), chosen
    assert chosen.tolist() == [0, 3, 0]  # row 0: 1.0 - log 1 > 0.5 - log 2; row 1: the kept token with draw 0


def test_seeded_sampling_repeats_per_seed_and_differs_across_seeds_and_copies(tiny):
    model, processor = tiny
    inputs = image_inputs(processor, ["a red cube", "the blue cat is green ."])
    fast = JanusFastGenerator(model)

    def draw(seed):  # mild guidance, high temperature: the tiny model's distribution is otherwise nearly one-hot
        return fast.generate_images(**inputs, do_sample=True, guidance_scale=2.0, temperature=1.5,
                                    num_return_sequences=3, generator=torch.Generator().manual_seed(seed))

    first = draw(7)
    assert first.shape == (6, 16)  # rows grouped by prompt, as num_return_sequences in generate
    assert torch.equal(draw(7), first)
    assert not torch.equal(draw(8), first)
    assert len({tuple(row.tolist()) for row in first}) == 6  # every copy is its own draw
    torch.manual_seed(9)  # no generator: the device's default one, so torch.manual_seed decides
    global_draw = fast.generate_images(**inputs, do_sample=True, guidance_scale=GUIDANCE)
    torch.manual_seed(9)
    assert torch.equal(fast.generate_images(**inputs, do_sample=True, guidance_scale=GUIDANCE), global_draw)


def test_a_repeated_shape_reuses_the_reset_cache_and_a_new_shape_replaces_it(tiny):
    model, processor = tiny
    fast = JanusFastGenerator(model)
    one = image_inputs(processor, ["a red cube"])
    first = fast.generate_images(**one, do_sample=False, guidance_scale=GUIDANCE)
    cache = fast._caches["image"][1]

    assert torch.equal(fast.generate_images(**one, do_sample=False, guidance_scale=GUIDANCE), first)
    assert fast._caches["image"][1] is cache  # same addresses: a recorded CUDA graph replays
    fast.generate_images(**image_inputs(processor, ["a red cube", "a cat"]), do_sample=False, guidance_scale=GUIDANCE)
    assert fast._caches["image"][1] is not cache


@pytest.mark.parametrize("backend", [
    "eager",  # dynamo's tracing of transformers' modules only: fast
    pytest.param("inductor", marks=pytest.mark.skipif(shutil.which("g++") is None,
                                                      reason="inductor on CPU needs a C++ compiler")),
])
def test_compiled_steps_trace_as_single_graphs_and_decode_the_same(tiny, backend):
    """fullgraph=True fails on any graph break, so on CUDA each step is one graph; inductor also lowers and
    generates code for every operation of the step (the same lowering as on CUDA, C++ instead of Triton)."""
    model, processor = tiny
    eager = JanusFastGenerator(model)
    traced = JanusFastGenerator(model, compile=True, compile_options={"backend": backend, "fullgraph": True,
                                                                      "mode": None})
    inputs = image_inputs(processor, ["a red cube", "the blue cat is green ."])
    text = processor(text=["<|User|>: what color is the cube ? <|Assistant|>:", "<|User|>: a cat <|Assistant|>:"],
                     return_tensors="pt", padding=True)
    for sampling in [dict(do_sample=False), dict(do_sample=True, top_p=0.9, top_k=40, temperature=0.7)]:
        def decode(generator, what):
            seeded = dict(generator=torch.Generator().manual_seed(1), **sampling)
            if what == "image":
                return generator.generate_images(**inputs, guidance_scale=GUIDANCE, **seeded)
            return generator.generate_text(**text, max_new_tokens=12, **seeded)

        for what in ("image", "text"):
            assert torch.equal(decode(traced, what), decode(eager, what)), (what, sampling)


def test_guidance_at_or_below_one_is_off_the_conditional_logits_alone(tiny):
    """Guidance 1 (and below: off) was refused; it decodes from the conditional half alone (DeepSeek's rule
    at scale 1), checked greedily against one full forward pass of transformers' own modules."""
    model, processor = tiny
    fast = JanusFastGenerator(model)
    inputs = image_inputs(processor, ["a red cube"])
    ids = fast.generate_images(**inputs, guidance_scale=1.0, do_sample=False)
    assert torch.equal(fast.generate_images(**inputs, guidance_scale=0.0, do_sample=False), ids)
    whole = reference_image_logits(model, inputs["input_ids"], ids, 1.0, inputs["attention_mask"])
    assert torch.equal(whole[: ids.shape[0]].argmax(-1), ids)  # rows: the conditional half first


def test_settings_it_does_not_implement_are_refused_with_the_way_out(tiny):
    model, processor = tiny
    fast = JanusFastGenerator(model)
    inputs = image_inputs(processor, ["a red cube"])

    with pytest.raises(NotImplementedError, match=f"RepetitionPenaltyLogitsProcessor.*{FAST_PATH_ENV}=0"):
        fast.generate_images(**inputs, do_sample=True, guidance_scale=GUIDANCE, repetition_penalty=1.3)
    with pytest.raises(ValueError, match="needs a guidance_scale"):
        fast.generate_images(**inputs, guidance_scale=None)
    with pytest.raises(TypeError, match="unknown generation arguments: \\['colour'\\]"):
        fast.generate_images(**inputs, guidance_scale=GUIDANCE, colour="red")
    right_padded = processor(text=["<|User|>: a red cube <|Assistant|>:", "<|User|>: a <|Assistant|>:"],
                             return_tensors="pt", padding=True, padding_side="right")
    with pytest.raises(ValueError, match="left padding"):
        fast.generate_text(**right_padded, max_new_tokens=3)
    with pytest.raises(ValueError, match="forced tokens must have shape \\(1, 16\\)"):
        fast.image_logits(**inputs, forced=torch.zeros(1, 3, dtype=torch.long), guidance_scale=GUIDANCE)


def test_missing_image_generation_token_ids_are_named(tiny):
    model, processor = tiny
    inputs = image_inputs(processor, ["a red cube"])
    with pytest.raises(ValueError, match=r"generation_config.generation_kwargs\['boi_token_id'\]"):
        JanusFastGenerator(model).generate_images(**inputs, guidance_scale=GUIDANCE, generation_kwargs={})


@pytest.mark.parametrize(("device", "setting", "env", "wanted"), [
    ("cuda", None, None, True), ("cpu", None, None, False),  # default: on CUDA only
    ("cuda", None, "0", False), ("cpu", None, "1", True),  # the environment overrides the default
    ("cuda", False, "1", False), ("cpu", True, "off", True),  # an explicit (card) setting overrides both
])
def test_fast_path_switch(monkeypatch, device, setting, env, wanted):
    if env is None:
        monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    else:
        monkeypatch.setenv(FAST_PATH_ENV, env)
    assert fast_path_wanted(device, setting) is wanted


def test_fast_path_switch_rejects_an_unreadable_value(monkeypatch):
    monkeypatch.setenv(FAST_PATH_ENV, "maybe")
    with pytest.raises(ValueError, match=f"{FAST_PATH_ENV}: expected one of .*got 'maybe'"):
        fast_path_wanted("cuda")


def test_knobs_are_tensors_so_new_values_reuse_a_compiled_graph():
    knobs = Sampling(do_sample=True, guidance=5.0, temperature=0.5, top_p=0.9).knobs(torch.device("cpu"))
    assert isinstance(knobs, Knobs)
    assert all(t.ndim == 0 and t.dtype == torch.float32 for t in knobs)
    assert Sampling(do_sample=True, top_k=5).flags == {"do_sample": True, "top_k": 5, "top_p": False}


def test_the_janus_adapter_decodes_through_the_fast_path_when_its_card_asks(monkeypatch):
    monkeypatch.delenv(FAST_PATH_ENV, raising=False)
    card = load_cards()["tiny-janus"]
    fast = build_adapter(dataclasses.replace(card, params={**card.params, "fast": True}))
    reference = build_adapter(card)
    try:
        assert fast.fast is not None and reference.fast is None  # CPU: the reference loop unless asked
        options = card.defaults
        image = fast.generate("a red cube", options)
        assert image.size == (options.width, options.height)
        assert fast.generate("a red cube", options).tobytes() == image.tobytes()  # the seed decides
        assert fast.generate("a red cube", dataclasses.replace(options, seed=1)).tobytes() != image.tobytes()
        question = Image.new("RGB", (20, 20), (200, 30, 30))
        assert (fast.understand([question], "what color is the cube ?", options)  # greedy: the same answer
                == reference.understand([question], "what color is the cube ?", options))
        monkeypatch.setenv(FAST_PATH_ENV, "1")  # the environment is read per call, and a card setting wins
        assert reference.fast is not None
        monkeypatch.setenv(FAST_PATH_ENV, "0")
        assert reference.fast is None and fast.fast is not None
    finally:
        fast.close()
        reference.close()


def test_the_bench_materialises_real_buffers_and_reports_every_figure(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "janus_generation", Path(__file__).resolve().parents[2] / "bench" / "janus_generation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    built = bench.random_janus("tiny", "cpu", torch.float32)  # meta device, then materialised
    config, _ = bench.janus_config("tiny")
    fresh = JanusForConditionalGeneration(config)
    for buffer in ("language_model.rotary_emb.inv_freq", "vision_model.embeddings.position_ids"):
        assert torch.equal(built.model.get_buffer(buffer), fresh.model.get_buffer(buffer))

    out = tmp_path / "tiny.json"
    assert bench.main(["--size", "tiny", "--batch", "1", "--batch", "2", "--repeats", "3", "--profile",
                       "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    one, two = report["results"]
    assert (one["batch"], two["batch"], report["image_tokens"]) == (1, 2, 16)
    for row in (one, two):
        assert all(row[k] > 0 for k in ("reference_s", "fast_s", "speedup", "reference_min_s", "fast_min_s"))
        # the reference is timed as often as the fast path, and min <= median of each
        assert len(row["reference_times_s"]) == len(row["fast_times_s"]) == 3
        assert row["reference_min_s"] <= row["reference_s"] and row["fast_min_s"] <= row["fast_s"]
        # on CPU no floor is claimed: no floor and no ratio to one
        assert not [k for k in row if "floor" in k]

    profile = report["profile"]  # where one fast call's time goes (on CPU: operators' own time)
    assert profile["batch"] == 1 and 0 < profile["total_ms"] and profile["launches_per_step"] > 1
    assert sum(profile["by_kind_ms"].values()) == pytest.approx(profile["total_ms"])
    assert profile["by_kind_ms"]["matmul"] > 0  # the language model's projections are recognised
    top = [event["total_ms"] for event in profile["top"]]
    assert top == sorted(top, reverse=True) and top[0] <= profile["total_ms"]


def test_the_bench_floors_count_what_a_step_reads_and_take_the_larger_bound():
    """Hand-computed floors on the tiny model: the weights a step reads are the language model without its
    token-embedding table, plus the image head and the aligner; the floor is max(byte time, FLOP time)."""
    spec = importlib.util.spec_from_file_location(
        "janus_generation", Path(__file__).resolve().parents[2] / "bench" / "janus_generation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = bench.random_janus("tiny", "cpu", torch.float32)
    lm, text = model.model.language_model, model.config.text_config

    def size(module):
        return sum(p.numel() for p in module.parameters()) * 4  # float32

    weights = size(lm) - lm.embed_tokens.weight.numel() * 4 + size(model.model.generation_head) \
        + size(model.model.generation_aligner)
    steps, prompt, batch = model.model.vision_model.config.num_image_tokens, 10, 2
    rows, context = 2 * batch, prompt + (steps - 1) / 2
    head_dim = text.hidden_size // text.num_attention_heads
    kv = 2 * text.num_hidden_layers * rows * text.num_key_value_heads * head_dim * 4 * context
    flops = 2 * rows * weights / 4 + 4 * rows * text.num_hidden_layers * text.hidden_size * context

    for bandwidth, rate in ((1e9, 1e15), (1e15, 1e9)):  # bandwidth-bound, then compute-bound
        floor = bench.floors(model, batch, prompt, bandwidth, rate)
        assert floor["step_weight_bytes"] == weights
        assert floor["floor_weights_s"] == pytest.approx(weights / bandwidth * steps)
        assert floor["floor_bytes_s"] == pytest.approx((weights + kv) / bandwidth * steps)
        assert floor["floor_flops_s"] == pytest.approx(flops / rate * steps)
        assert floor["floor_s"] == pytest.approx(max((weights + kv) / bandwidth, flops / rate) * steps)
    assert bench.relative(2.0, 1.0) == "2.0x faster" and bench.relative(1.0, 2.5) == "2.5x slower"
