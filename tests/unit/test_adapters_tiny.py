"""Every tiny card runs each capability it declares, through the real family adapters and from_pretrained."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from realunify_arena.adapters import Capability, ModelUnavailable, NotSupported, build_adapter
from realunify_arena.adapters.base import CutReply
from realunify_arena.adapters.emu3 import Emu3Adapter
from realunify_arena.adapters.janus import JanusAdapter
from realunify_arena.adapters.janus_fast import guidance_processor
from realunify_arena.adapters.pair import PairAdapter
from realunify_arena.adapters.tiny import ensure_built, resolve
from realunify_arena.cards import load_cards

CARDS = load_cards()
TINY = ["tiny-janus", "tiny-emu3", "tiny-pair"]
FAMILY_CLASS = {"tiny-janus": JanusAdapter, "tiny-emu3": Emu3Adapter, "tiny-pair": PairAdapter}
SOURCE = Image.new("RGB", (48, 32), (200, 30, 30))  # not square, and a size OmniGen keeps (multiples of 16)


@pytest.fixture(scope="module")
def adapters():
    built = {name: build_adapter(CARDS[name]) for name in TINY}
    yield built
    for adapter in built.values():
        adapter.close()


def _call(adapter, capability: Capability, options):
    if capability is Capability.UNDERSTAND:
        return adapter.understand([SOURCE], "what color is the cube ?", options)
    if capability is Capability.GENERATE:
        return adapter.generate("a red cube", options)
    return adapter.edit(SOURCE, "make it blue", options)


CASES = [(name, cap) for name in TINY for cap in sorted(CARDS[name].capabilities, key=lambda c: c.value)]


@pytest.mark.parametrize(("name", "capability"), CASES, ids=[f"{n}-{c.value}" for n, c in CASES])
def test_every_declared_capability_runs_end_to_end(adapters, name, capability):
    card = CARDS[name]
    out = _call(adapters[name], capability, card.defaults)
    if capability is Capability.UNDERSTAND:
        assert isinstance(out, str)
    else:
        assert isinstance(out, Image.Image)
        assert out.mode == "RGB"
        # a generated image has the card's size; an edited one keeps the input's
        assert out.size == (SOURCE.size if capability is Capability.EDIT else (card.defaults.width,
                                                                               card.defaults.height))
        assert len(set(out.getdata())) > 1  # decoded pixels, not a blank placeholder


@pytest.mark.parametrize("name", TINY)
def test_tiny_cards_load_through_the_real_family_class_and_saved_folders(adapters, name):
    assert type(adapters[name]) is FAMILY_CLASS[name]
    resolved = resolve(CARDS[name])
    assert resolved.family == CARDS[name].params["base"]
    for checkpoint in resolved.checkpoints.values():
        folder = Path(checkpoint)
        assert (folder / "model_index.json").is_file() or (folder / "config.json").is_file()
    assert adapters[name].memory_bytes() > 100_000


def test_undeclared_capability_is_not_supported_rather_than_an_error(adapters):
    with pytest.raises(NotSupported):
        adapters["tiny-janus"].edit(SOURCE, "make it blue", CARDS["tiny-janus"].defaults)
    with pytest.raises(NotSupported):
        adapters["tiny-emu3"].edit(SOURCE, "make it blue", CARDS["tiny-emu3"].defaults)


@pytest.mark.parametrize("name", TINY)
def test_same_seed_same_image_other_seed_other_image(adapters, name):
    options = CARDS[name].defaults
    first = adapters[name].generate("a red cube", options)
    again = adapters[name].generate("a red cube", options)
    other = adapters[name].generate("a red cube", dataclasses.replace(options, seed=options.seed + 1))
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


def test_sampled_text_is_reproducible_by_seed(adapters):
    options = dataclasses.replace(CARDS["tiny-pair"].defaults, temperature=1.0, seed=3)
    texts = {adapters["tiny-pair"].understand([SOURCE], "what color ?", options) for _ in range(2)}
    assert len(texts) == 1


@pytest.mark.parametrize(("name", "fast"), [("tiny-janus", False), ("tiny-janus", True), ("tiny-emu3", None),
                                            ("tiny-pair", None)], ids=["janus", "janus_fast", "emu3", "pair"])
def test_a_reply_cut_at_max_new_tokens_is_a_cut_reply_and_one_the_model_ended_is_not(adapters, monkeypatch, name,
                                                                                      fast):
    """``CutReply`` (``serve-openai``'s ``finish_reason: "length"``, OpenAI's reference: the maximum number of
    tokens given in the request was reached) for every family that answers text, not only pair. Whether a reply
    was cut is found without the adapter's word: the same seed with twice the limit samples the same first
    tokens, so a reply that then goes on was cut; a reply the adapter calls ended must stay the same. Before:
    janus and emu3 answered a plain ``str`` for a cut reply."""
    adapter = adapters[name]
    if fast is not None:
        monkeypatch.setitem(adapter.card.params, "fast", fast)
    seen = set()
    for seed in range(40):  # random weights end some sampled replies early and run others on
        options = dataclasses.replace(CARDS[name].defaults, temperature=1.5, seed=seed, max_new_tokens=6)
        short = adapter.understand([SOURCE], "what color ?", options)
        longer = adapter.understand([SOURCE], "what color ?", dataclasses.replace(options, max_new_tokens=12))
        assert longer.startswith(short), (seed, short, longer)
        if longer != short:  # the model went on: the short reply was cut
            assert isinstance(short, CutReply), (seed, short, longer)
            seen.add("cut")
        elif not isinstance(short, CutReply):  # called ended: a higher limit changes nothing
            seen.add("ended")
        if seen == {"cut", "ended"}:
            break
    assert seen == {"cut", "ended"}, seen  # both kinds were asked about


@pytest.mark.parametrize(("name", "size"), [("tiny-pair", (48, 16)), ("tiny-emu3", (48, 48)),
                                            ("tiny-emu3", (16, 24))])  # a 2-token-wide Emu3 grid
def test_requested_size_is_honoured_where_the_model_allows(adapters, name, size):
    options = dataclasses.replace(CARDS[name].defaults, width=size[0], height=size[1])
    assert adapters[name].generate("a red cube", options).size == size


@pytest.mark.parametrize(("name", "size", "made"), [("tiny-janus", (64, 64), "size 32x32"),
                                                    ("tiny-janus", (32, 48), "size 32x32"),
                                                    ("tiny-emu3", (20, 20), "size 16x16")])  # 20 / 8 = 2.5 -> 2
def test_a_size_the_model_cannot_make_is_refused_not_silently_changed(adapters, name, size, made):
    """Janus decodes one fixed token grid (the tiny one 4x4 tokens of 8 px); Emu3 whole 8-px tokens."""
    options = dataclasses.replace(CARDS[name].defaults, width=size[0], height=size[1])
    with pytest.raises(ValueError) as info:
        adapters[name].generate("a red cube", options)
    assert str(info.value).startswith(f"size {size[0]}x{size[1]} is not allowed for {name}: it makes {made} instead")


def test_a_pair_pipeline_refuses_a_size_it_would_round_down(adapters):
    """diffusers' OmniGen (as FLUX and Qwen-Image) rounds each side down to a multiple of vae_scale_factor * 2
    with only a logged warning; the adapter refuses instead, naming the size the pipeline would make."""
    pipeline = adapters["tiny-pair"].loaded["pipeline:" + adapters["tiny-pair"].card.checkpoints["generate"]]
    multiple = pipeline.vae_scale_factor * 2  # the pipeline's own: 2 ** (len(VAE blocks) - 1) * 2
    asked = (3 * multiple + 1, 2 * multiple)
    options = dataclasses.replace(CARDS["tiny-pair"].defaults, width=asked[0], height=asked[1])
    with pytest.raises(ValueError) as info:
        adapters["tiny-pair"].generate("a red cube", options)
    assert str(info.value).startswith(f"size {asked[0]}x{asked[1]} is not allowed for tiny-pair: it makes size "
                                      f"{3 * multiple}x{2 * multiple} instead")


def test_janus_without_a_size_makes_its_grid_and_a_card_claiming_another_is_refused(adapters):
    options = dataclasses.replace(CARDS["tiny-janus"].defaults, width=None, height=None)
    assert adapters["tiny-janus"].generate("a red cube", options).size == (32, 32)
    wrong = dataclasses.replace(CARDS["tiny-janus"], defaults=dataclasses.replace(options, width=64, height=64))
    with pytest.raises(ModelUnavailable, match=r"^tiny-janus: defaults width x height 64x64, but .* generates only "
                                               r"32x32 images"):
        build_adapter(wrong)


def test_understand_without_images_is_text_only_generation(adapters):
    # the stepwise UEG stage 1 (refine the prompt) sends no image
    for name in TINY:
        assert isinstance(adapters[name].understand([], "a red cube", CARDS[name].defaults), str)


def test_concurrent_builds_share_one_folder_and_rebuilds_give_the_same_weights(tmp_path, monkeypatch):
    card = CARDS["tiny-janus"]
    monkeypatch.setenv("REALUNIFY_CACHE", str(tmp_path / "a"))
    folders: list[Path] = []
    threads = [threading.Thread(target=lambda: folders.append(ensure_built(card))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(folders)) == 1 and folders[0].parent == tmp_path / "a"
    assert folders[0].name.startswith("tiny-janus-0-")
    assert [p.name for p in (tmp_path / "a").iterdir()] == [folders[0].name]  # no temp folders left behind
    monkeypatch.setenv("REALUNIFY_CACHE", str(tmp_path / "b"))
    rebuilt = ensure_built(card)
    assert (rebuilt / "model.safetensors").read_bytes() == (folders[0] / "model.safetensors").read_bytes()
    other_seed = ensure_built(dataclasses.replace(card, params={**card.params, "seed": 1}))
    assert (other_seed / "model.safetensors").read_bytes() != (rebuilt / "model.safetensors").read_bytes()


def test_a_pair_of_other_cards_delegates_each_capability(tmp_path, adapters):
    # the oracle's shape (Gemini understands, GPT-Image-1 generates), built from tiny cards
    for name in ("tiny-janus", "tiny-pair"):
        (tmp_path / f"{name}.yaml").write_bytes(CARDS[name].path.read_bytes())
    (tmp_path / "combo.yaml").write_text(
        "family: pair\ndescription: 'test combination (paper row: the oracle shape)'\n"
        "capabilities: [understand, generate]\n"
        "checkpoints: {understand: card:tiny-janus, generate: card:tiny-pair}\n")
    combo_card = load_cards(tmp_path)["combo"]
    combo = build_adapter(combo_card)
    options = CARDS["tiny-pair"].defaults
    assert combo.generate("a red cube", options).tobytes() == adapters["tiny-pair"].generate("a red cube",
                                                                                             options).tobytes()
    janus_options = CARDS["tiny-janus"].defaults
    assert combo.understand([SOURCE], "what ?", janus_options) == adapters["tiny-janus"].understand(
        [SOURCE], "what ?", janus_options)
    assert combo.memory_bytes() == adapters["tiny-janus"].memory_bytes() + adapters["tiny-pair"].memory_bytes()
    with pytest.raises(NotSupported):
        combo.edit(SOURCE, "make it blue", options)
    combo.close()


@pytest.mark.parametrize("fast", [False, True], ids=["transformers", "janus_fast"])
def test_janus_guidance_at_or_below_one_is_guidance_off(adapters, monkeypatch, fast):
    """Janus runs both halves at any scale; <= 1 is guidance off (DeepSeek's rule at 1: the conditional
    logits alone), so 0, 0.5 and 1 give the same image (the tiny model's random weights barely tell the
    halves apart, so the processor itself is checked for the rule)."""
    janus = adapters["tiny-janus"]
    monkeypatch.setitem(janus.card.params, "fast", fast)
    base = CARDS["tiny-janus"].defaults
    images = {g: janus.generate("a red cube", dataclasses.replace(base, guidance=g, seed=3)).tobytes()
              for g in (0.0, 0.5, 1.0, 5.0)}
    assert images[0.0] == images[0.5] == images[1.0]
    cond, uncond = torch.tensor([[1.0, 4.0]]), torch.tensor([[3.0, 0.0]])
    scores = torch.cat([cond, uncond])
    ids = torch.zeros((1, 1), dtype=torch.long)
    assert torch.equal(guidance_processor(0)(ids, scores), cond)  # off: the conditional logits alone
    assert torch.equal(guidance_processor(1)(ids, scores), cond)
    assert torch.equal(guidance_processor(5)(ids, scores), uncond + 5 * (cond - uncond))


def test_a_bfloat16_pair_vlm_gets_its_floating_inputs_in_bfloat16():
    """The VLM of a bfloat16 pair card (a real tiny Qwen2.5-VL, from_pretrained in bfloat16 on CPU) is handed
    pixel_values in bfloat16, as Janus and Emu3 are: vision towers that do not cast them (GOT-OCR2, Chameleon,
    Fuyu) fail on the processor's float32 with a bfloat16 checkpoint. Qwen2.5-VL casts them itself, so its
    ``generate`` is watched (it still runs) rather than expected to fail."""
    card = dataclasses.replace(CARDS["tiny-pair"], dtype="bfloat16")
    adapter = build_adapter(card)
    vlm = adapter.loaded["vlm"]
    assert vlm.dtype == torch.bfloat16
    handed = []
    real_generate = vlm.generate

    def watched(**kwargs):
        handed.append(kwargs)
        return real_generate(**kwargs)

    vlm.generate = watched
    try:
        assert isinstance(adapter.understand([SOURCE], "what color ?", card.defaults), str)
    finally:
        adapter.close()
    assert handed[0]["pixel_values"].dtype == torch.bfloat16
    assert handed[0]["input_ids"].dtype == torch.long and handed[0]["image_grid_thw"].dtype == torch.long


def test_local_loads_at_once_in_one_process_all_load_whole():
    """Loads from several threads at once (two app pools in one process, a pool and a direct
    ``build_adapter``) each get a whole model: transformers and diffusers load through process-wide state,
    and before ``adapters.LOADING`` 11 of 12 such loads failed ("Cannot copy out of meta tensor", "cannot
    import name 'AutoProcessor'")."""
    for name in TINY:
        ensure_built(CARDS[name])  # the builds are not what is raced here
    errors: list[str] = []

    def load(name: str) -> None:
        try:
            adapter = build_adapter(CARDS[name])
            meta = [n for module in adapter.loaded.values() if isinstance(module, torch.nn.Module)
                    for n, p in module.named_parameters() if p.is_meta]
            assert not meta, f"{name}: parameters left on the meta device: {meta[:3]}"
        except Exception as e:  # noqa: BLE001 - collected, asserted below
            errors.append(f"{name}: {type(e).__name__}: {e}"[:200])

    threads = [threading.Thread(target=load, args=(name,)) for name in (*TINY, *TINY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
