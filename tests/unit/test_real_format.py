"""The real cards (models/*.yaml) pointed at real-format checkpoints (tests/real_format.py: each real
checkpoint's processor, chat template, special-token ids and generation config; random weights, 1-2 layers):
every protocol and the judge run, sampling is set up as the model authors sample, and the config variants
seen in public copies load.

Weights load as float32 (the cards say bfloat16, for GPUs: bf16 convolutions on CPU are ~30x slower), and
torch runs one thread here: on the shared 2-core box two spinning threads per process cost 10-20x."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import GenerationConfig
from transformers.generation.logits_process import (ClassifierFreeGuidanceLogitsProcessor,
                                                    PrefixConstrainedLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper,
                                                    UnbatchedClassifierFreeGuidanceLogitsProcessor)

from realunify_arena.adapters import build_adapter
from realunify_arena.benchmark import load
from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.cards import load_cards
from realunify_arena.judge import AdapterJudge, judge_trace
from realunify_arena.protocols import run
from realunify_arena.runtime import ModelPool
from realunify_arena.trace import Status


CARDS = load_cards()
JANUS, JANUS_VARIANT, EMU3, QWEN = "janus-pro-1b", "janus-pro-1b-from-model-config", "emu3", "qwen2.5-vl-7b"
EMU3_SIDE = 64  # an 8x8 token grid: the real processor's arithmetic at a size CPUs generate in seconds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory, one_torch_thread, real_format_build) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real_format")
    return {
        "janus": real_format_build("build_janus_pro", root / "janus-pro-1b"),
        "janus-variant": real_format_build("build_janus_pro", root / "janus-pro-1b-fmc", generation_kwargs=False,
                                           seed=1),
        "emu3-chat": real_format_build("build_emu3", root / "emu3-chat", seed=0),
        "emu3-gen": real_format_build("build_emu3", root / "emu3-gen", seed=1),
        "qwen": real_format_build("build_qwen2_5_vl", root / "qwen2.5-vl"),
    }


def point(name: str, checkpoints: dict[str, Path], *, new_name: str | None = None, **params):
    """The real card, its checkpoints replaced by local folders (and float32 for CPU)."""
    card = CARDS[name]
    return dataclasses.replace(card, name=new_name or card.name, dtype="float32",
                               checkpoints={cap: str(checkpoints[cap]) for cap in card.checkpoints},
                               params={**card.params, **params})


@pytest.fixture(scope="module")
def cards(folders):
    both = lambda folder: {"understand": folder, "generate": folder}  # noqa: E731
    return {
        JANUS: point(JANUS, both(folders["janus"])),
        JANUS_VARIANT: point(JANUS, both(folders["janus-variant"]), new_name=JANUS_VARIANT),
        EMU3: point(EMU3, {"understand": folders["emu3-chat"], "generate": folders["emu3-gen"]}),
        QWEN: point(QWEN, {"understand": folders["qwen"]}),
    }


@pytest.fixture(scope="module")
def pool(cards):
    p = ModelPool(cards, device="cpu")
    yield p
    p.close()


def options(card):
    if card.family == "emu3":
        return card.options(width=EMU3_SIDE, height=EMU3_SIDE)
    return card.defaults


class Spy:
    """Records what a bound method returned (or was called with) while still calling it."""

    def __init__(self, obj, name: str, *, keep: str = "result"):
        self.calls: list = []
        original = getattr(obj, name)

        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            self.calls.append(result if keep == "result" else kwargs)
            return result

        setattr(obj, name, wrapper)
        self._undo = lambda: delattr(obj, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._undo()


# ---- the formats themselves -----------------------------------------------------------------------------

def test_real_processors_put_the_real_tokens_where_the_real_checkpoints_do(pool):
    with pool.use(JANUS) as janus:
        processor = janus.processor
        prompt = processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": "a cat"}]}],
                                               add_generation_prompt=True)
        assert prompt == "<|User|>: a cat\n\n<|Assistant|>:"  # the conversion script's template
        ids = processor(text=prompt, generation_mode="image", return_tensors="pt").input_ids[0].tolist()
        assert ids[0] == 100000 and ids[-1] == 100016  # BOS ... <begin_of_image>
        assert {100588, 100589} <= set(ids)  # <|User|>, <|Assistant|> as single special tokens
        with_image = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "a cat"}]}],
            add_generation_prompt=True)
        assert with_image == "<|User|>: <image_placeholder>\na cat\n\n<|Assistant|>:"
        text = processor(text=with_image, images=[Image.new("RGB", (50, 30))], return_tensors="pt").input_ids[0]
        assert int((text == 100581).sum()) == 576 and 100016 in text.tolist() and 100593 in text.tolist()
    with pool.use(EMU3) as emu3:
        _, emu3_processor = emu3._pick(next(iter(emu3.card.capabilities)))
        tok = emu3_processor.tokenizer
        assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (151849, 151850, 151643)
        assert [tok.convert_tokens_to_ids(t) for t in ("<image>", "<|image token|>", "<|image start|>",
                                                       "<|image end|>", "<|extra_200|>", "<|extra_201|>",
                                                       "<|visual token000000|>")] == [
            151646, 151851, 151852, 151853, 151846, 151847, 151854]
    with pool.use(QWEN) as qwen:
        processor = qwen.loaded["processor"]
        inputs = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (56, 56))},
                                          {"type": "text", "text": "hi"}]}],
            add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
        ids = inputs["input_ids"][0].tolist()
        assert ids[0] == 151644 and ids.count(151655) == 4  # 56x56 px = 4x4 patches = 2x2 merged tokens
        assert processor.decode(ids).startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
        assert qwen.loaded["vlm"].generation_config.top_k == 1  # the checkpoint's own settings loaded


# ---- every protocol, through the real cards, judged ------------------------------------------------------

@pytest.fixture(scope="module")
def instances():
    dataset = load("bundled")
    ueg = next(i for i in dataset.instances if not isinstance(i, GEUInstance))
    geu = next(i for i in dataset.instances if isinstance(i, GEUInstance) and len(set(i.open_image().size)) == 2)
    return ueg, geu


@pytest.mark.parametrize("name", [JANUS, JANUS_VARIANT, EMU3, QWEN])
def test_every_protocol_runs_through_the_real_card_and_the_judge_scores_it(pool, cards, instances, name):
    card, (ueg, geu) = cards[name], instances
    opts = dataclasses.replace(options(card), max_new_tokens=24)
    with pool.use(name) as adapter:
        traces = {(inst.uid, mode): run(inst, adapter, mode, opts) for inst in (ueg, geu)
                  for mode in ("direct", "stepwise")}
    # the paper's protocols: UEG direct generates; stepwise understands, then generates; GEU direct
    # understands; stepwise edits, then understands. A missing capability is the paper's "-".
    needs = {(ueg.uid, "direct"): {"generate"}, (ueg.uid, "stepwise"): {"understand", "generate"},
             (geu.uid, "direct"): {"understand"}, (geu.uid, "stepwise"): {"edit", "understand"}}
    declared = {c.value for c in card.capabilities}
    for (uid, mode), trace in traces.items():
        capable = needs[uid, mode] <= declared
        assert trace.status is (Status.OK if capable else Status.NOT_SUPPORTED), (uid, mode, trace.error)
        if uid == ueg.uid and capable:
            side = EMU3_SIDE if card.family == "emu3" else 384
            assert trace.final.image.size == (side, side)
            judgment = judge_trace(trace, ueg, AdapterJudge(pool, QWEN), lambda step: step.image)
            assert judgment.kind == "polling" and judgment.score in (0, 1, None)
            asked = judgment.details["questions"]
            assert len(asked) == len(ueg.question_list)
            for item in asked:  # an unparseable reply is asked again, up to three times
                assert 1 <= len(item["replies"]) <= 3
                assert item["verdict"] is not None or len(item["replies"]) == 3
        if uid == geu.uid and capable:
            assert isinstance(trace.final.text, str)


# ---- sampling as the authors sample ----------------------------------------------------------------------

def _image_processors(adapter, model, run_it):
    with Spy(model, "_get_logits_processor") as spy:
        run_it()
    (processors,) = spy.calls
    return list(processors)


@pytest.mark.parametrize("fast", [False, True], ids=["transformers", "janus_fast"])
def test_janus_image_tokens_are_drawn_from_the_full_codebook_at_guidance_5(cards, fast):
    adapter = build_adapter(dataclasses.replace(cards[JANUS], params={**cards[JANUS].params, "fast": fast}))
    try:
        assert (adapter.fast is not None) is fast
        processors = _image_processors(adapter, adapter.model,
                                       lambda: adapter.generate("a red cube", cards[JANUS].defaults))
    finally:
        adapter.close()
    # DeepSeek's reference: softmax(logits / 1) over all 16384 codes after CFG with weight 5; nothing else
    assert [type(p) for p in processors] == [ClassifierFreeGuidanceLogitsProcessor]
    assert processors[0].guidance_scale == 5.0


def test_emu3_samples_image_tokens_with_top_k_2048_and_a_negative_prompt_under_the_image_header(cards):
    card = cards[EMU3]
    adapter = build_adapter(dataclasses.replace(card, params={**card.params, "positive_prompt": " best quality."}))
    try:
        model, processor = adapter._pick(next(c for c in card.capabilities if c.value == "generate"))
        with Spy(model, "generate", keep="kwargs") as calls:
            processors = _image_processors(adapter, model, lambda: adapter.generate("a red cube", options(card)))
    finally:
        adapter.close()
    kinds = [type(p) for p in processors]
    assert UnbatchedClassifierFreeGuidanceLogitsProcessor in kinds and PrefixConstrainedLogitsProcessor in kinds
    top_k = [p for p in processors if isinstance(p, TopKLogitsWarper)]
    assert [p.top_k for p in top_k] == [2048]  # BAAI's image_generation.py: GenerationConfig(top_k=2048)
    assert not any(isinstance(p, TopPLogitsWarper | TemperatureLogitsWarper) for p in processors)
    cfg = next(p for p in processors if isinstance(p, UnbatchedClassifierFreeGuidanceLogitsProcessor))
    assert cfg.guidance_scale == 3.0
    (kwargs,) = calls.calls
    tok = processor.tokenizer
    header = [151852, *tok.encode(f"{EMU3_SIDE // 8}*{EMU3_SIDE // 8}"), 151851]  # <|image start|>8*8<|image token|>
    positive, negative = kwargs["input_ids"][0].tolist(), kwargs["negative_prompt_ids"][0].tolist()
    assert positive[-len(header):] == header and negative[-len(header):] == header  # both, as BAAI's reference
    assert tok.decode(positive[:-len(header)], skip_special_tokens=True) == "a red cube best quality."
    assert tok.decode(negative[:-len(header)], skip_special_tokens=True) == card.params["negative_prompt"]


def test_judge_retries_sample_despite_a_generation_config_of_top_k_1(pool, cards):
    image = Image.new("RGB", (64, 64), (30, 120, 200))
    judge = AdapterJudge(pool, QWEN)
    retries = [judge.ask(image, "Is the image blue?", attempt) for attempt in (1, 2, 3)]
    assert len(set(retries)) == 3, retries
    # the control: the checkpoint's config (top_k=1, top_p=0.001) with only a temperature decodes greedily
    with pool.use(QWEN) as qwen:
        processor, vlm = qwen.loaded["processor"], qwen.loaded["vlm"]
        inputs = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "Blue?"}]}],
            add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
        greedy = set()
        for seed in (1, 2, 3):
            torch.manual_seed(seed)
            greedy.add(tuple(vlm.generate(**inputs, do_sample=True, temperature=0.7, max_new_tokens=8)[0].tolist()))
    assert len(greedy) == 1


# ---- config variants ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fast", [False, True], ids=["transformers", "janus_fast"])
def test_janus_without_generation_kwargs_takes_the_processors_begin_of_image_id(folders, cards, fast):
    saved = GenerationConfig.from_pretrained(folders["janus-variant"])
    assert getattr(saved, "generation_kwargs", None) is None  # the variant really lost it on loading
    card = cards[JANUS_VARIANT]
    adapter = build_adapter(dataclasses.replace(card, params={**card.params, "fast": fast}))
    try:
        assert adapter.model.generation_config.generation_kwargs == {"boi_token_id": 100016}
        image = adapter.generate("a red cube", card.defaults)
    finally:
        adapter.close()
    assert image.size == (384, 384)
