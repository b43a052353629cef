"""Every model the paper reports runs every protocol the paper reports for it, and ``models`` says which.

OmniGen2 (a Table 2 row with all four protocols) had a card of vLLM-Omni's DiT pipeline alone, ``[generate,
edit]``: no GEU direct, no UEG or GEU stepwise. Its card now adds OmniGen2's own understanding, its
Qwen2.5-VL-3B MLLM asked as OmniGen2's chat pipeline asks it; the DiT card is its part ``omnigen2-dit``.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from realunify_arena import cli
from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.pair import chat_messages
from realunify_arena.adapters.tiny import ensure_built
from realunify_arena.benchmark import load
from realunify_arena.benchmark.schema import GEUInstance, UEGInstance
from realunify_arena.cards import MODELS_DIR, CardError, load_cards
from realunify_arena.protocols import run
from realunify_arena.trace import Status
from tests.real_format import QWEN_CHAT_TEMPLATE
from tests.unit.paper_table import PAPER_ROWS
from tests.unit.test_cards import _closed_port
from tests.unit.test_vllm_omni_dialects import OMNIGEN2, OMNIGEN2_NEGATIVE, _stand_in

SHIPPED = load_cards()
ALL = {("UEG", "direct"), ("UEG", "stepwise"), ("GEU", "direct"), ("GEU", "stepwise")}
TABLE2_CARDS = {"Nano Banana": "nano-banana", "Janus-Pro": "janus-pro-7b", "OmniGen2": "omnigen2",
                "BLIP3-o": "blip3o", "BAGEL": "bagel"}


def _reported(row: dict) -> set[tuple[str, str]]:
    """The protocols a Table 2 row has numbers for: a track's mode is reported when its categories are."""
    found = set()
    for mode, (scores, *_) in row.items():
        found |= {("UEG", mode)} if all(s is not None for s in scores[:6]) else set()
        found |= {("GEU", mode)} if all(s is not None for s in scores[6:]) else set()
    return found


# REALUNIFY.md, beyond Table 2: the specialists (UEG or GEU direct), the oracle pair (UEG stepwise 72.7, the
# reverse GEU stepwise 31.8) and the other unified models (direct on both tracks at least)
PAPER = {TABLE2_CARDS[name]: _reported(row) for name, row in PAPER_ROWS.items()} | {
    "gpt-image-1": {("UEG", "direct")}, "qwen-image": {("UEG", "direct")}, "flux-kontext": {("UEG", "direct")},
    "gemini-2.5-pro": {("GEU", "direct")}, "gpt-4.1": {("GEU", "direct")}, "qwen2.5-vl-7b": {("GEU", "direct")},
    "oracle-und-gen": {("UEG", "stepwise"), ("GEU", "stepwise")},
    **{name: {("UEG", "direct"), ("GEU", "direct")} for name in
       ("mio", "illume-plus", "show-o2", "unipic2", "uniworld-v1", "ovis-u1", "onecat")},
}
# what each protocol needs, from the protocol descriptions (REALUNIFY.md "Protocols")
NEEDS = {("UEG", "direct"): {"generate"}, ("UEG", "stepwise"): {"understand", "generate"},
         ("GEU", "direct"): {"understand"}, ("GEU", "stepwise"): {"edit", "understand"}}


def test_the_table_reads_as_the_paper_prints_it():
    assert PAPER["omnigen2"] == PAPER["bagel"] == ALL
    assert PAPER["janus-pro-7b"] == PAPER["blip3o"] == {("UEG", "direct"), ("UEG", "stepwise"), ("GEU", "direct")}
    assert PAPER["nano-banana"] == {("UEG", "direct"), ("GEU", "direct")}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_every_paper_model_can_run_every_protocol_the_paper_reports_for_it(name):
    capabilities = {c.value for c in SHIPPED[name].capabilities}
    missing = sorted(p for p in PAPER[name] if not NEEDS[p] <= capabilities)
    assert not missing, f"{name} ({sorted(capabilities)}) cannot run {missing}"


def _shown(protocols: set[tuple[str, str]]) -> tuple[str, str]:
    def track(name: str) -> str:
        return "/".join(mode if (name, mode) in protocols else "-" for mode in ("direct", "stepwise"))
    return f"UEG {track('UEG')}", f"GEU {track('GEU')}"


def test_models_says_which_protocols_each_card_runs(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cli.main(["models"])
    rows = {line.split()[0]: " ".join(line.split()) for line in capsys.readouterr().out.splitlines()}
    assert set(rows) == set(SHIPPED)
    for name, card in SHIPPED.items():
        capabilities = {c.value for c in card.capabilities}
        ueg, geu = _shown({p for p, needs in NEEDS.items() if needs <= capabilities})
        assert f" {ueg} {geu} " in rows[name], rows[name]
    assert " UEG direct/stepwise GEU direct/stepwise " in rows["omnigen2"]
    assert " UEG direct/stepwise GEU direct/- " in rows["janus-pro-7b"]
    assert " UEG direct/- GEU -/- " in rows["gpt-image-1"] and " UEG -/- GEU direct/- " in rows["gpt-4.1"]


# --- OmniGen2's understanding, as its chat pipeline asks it -------------------------------------------------

def omnigen2_prompt(prompt: str, images: int) -> str:
    """VectorSpaceLab/OmniGen2 pipeline_omnigen2_chat.py ``_apply_chat_template``, restated."""
    labels = "".join(f"<img{i}>: <|vision_start|><|image_pad|><|vision_end|>" for i in range(1, images + 1))
    return ("<|im_start|>system\nYou are a helpful assistant that generates high-quality images based on user "
            f"instructions.<|im_end|>\n<|im_start|>user\n{labels}{prompt}<|im_end|>\n<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def vlm_folder(tmp_path_factory) -> Path:
    """The tiny Qwen2.5-VL, given Qwen2.5-VL-3B-Instruct's own chat template."""
    folder = tmp_path_factory.mktemp("omnigen2") / "vlm"
    shutil.copytree(ensure_built(SHIPPED["tiny-pair"]) / "vlm", folder)
    (folder / "chat_template.jinja").write_text(QWEN_CHAT_TEMPLATE)  # the checkpoint's own, OmniGen2 keeps it
    return folder


def _omnigen2_cards(tmp_path: Path, vlm: Path, url: str, **params) -> dict:
    """The shipped omnigen2 and omnigen2-dit cards: the VLM from ``vlm``, the DiT served at ``url``."""
    raw = yaml.safe_load((MODELS_DIR / "omnigen2.yaml").read_text())
    raw["checkpoints"]["understand"], raw["dtype"] = str(vlm), "float32"
    raw["params"].update(params)
    (tmp_path / "omnigen2.yaml").write_text(yaml.safe_dump(raw))
    dit = yaml.safe_load((MODELS_DIR / "omnigen2-dit.yaml").read_text()) | {"endpoint": f"{url}/v1"}
    (tmp_path / "omnigen2-dit.yaml").write_text(yaml.safe_dump(dit))
    return load_cards(tmp_path)


@pytest.mark.parametrize("images", [0, 1, 2])
def test_the_prompt_is_omnigen2s_own(vlm_folder, images):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(vlm_folder)
    card = SHIPPED["omnigen2"]
    pictures = [Image.new("RGB", (56, 56), (40 * i, 0, 0)) for i in range(images)]
    messages = chat_messages(pictures, "what color is the cube ?", card.params["system_prompt"],
                             card.params["image_label"])
    rendered = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == omnigen2_prompt("what color is the cube ?", images)


def test_omnigen2_answers_as_its_chat_pipeline_would_and_runs_all_four_protocols(tmp_path, vlm_folder):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with _stand_in("diffusion", "OmniGen2/OmniGen2") as server:
        card = _omnigen2_cards(tmp_path, vlm_folder, server.url)["omnigen2"]
        adapter = build_adapter(card)
        options = dataclasses.replace(card.defaults, width=32, height=32, max_new_tokens=6)
        image = Image.new("RGB", (56, 56), (200, 30, 30))
        answer, refined = adapter.understand([image], "what color ?", options), adapter.understand([], "a cube", options)
        instances = load("bundled").instances
        ueg = next(i for i in instances if isinstance(i, UEGInstance))
        geu = next(i for i in instances if isinstance(i, GEUInstance))
        traces = {(i.track, mode): run(i, adapter, mode, options) for i in (ueg, geu) for mode in ("direct", "stepwise")}
        adapter.close()
    # the reference: OmniGen2's prompt string through the processor, greedy decoding (generate_text)
    processor = AutoProcessor.from_pretrained(vlm_folder)
    vlm = AutoModelForImageTextToText.from_pretrained(vlm_folder).eval()
    for text, images, got in (("what color ?", [image], answer), ("a cube", [], refined)):
        inputs = processor(text=[omnigen2_prompt(text, len(images))], images=images or None, return_tensors="pt")
        with torch.inference_mode():
            ids = vlm.generate(**inputs, do_sample=False, max_new_tokens=6)
        assert got == processor.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert {key: trace.status for key, trace in traces.items()} == {key: Status.OK for key in ALL}
    generations = [body for path, body in server.requests if path == "/v1/images/generations"]
    edits = [body for path, body in server.requests if path == "/v1/chat/completions"]
    assert len(generations) == 2 and len(edits) == 1  # UEG direct + stepwise; GEU stepwise's edit
    for body in generations + edits:
        assert {k: body[k] for k in OMNIGEN2} == OMNIGEN2 and body["negative_prompt"] == OMNIGEN2_NEGATIVE


@pytest.mark.parametrize("key", ["system_prompt", "image_label"])
@pytest.mark.parametrize("value", [["<img1>"], "  ", 3])
def test_a_prompt_setting_that_is_not_text_is_refused_naming_the_file_and_field(tmp_path, vlm_folder, key, value):
    cards = _omnigen2_cards(tmp_path, vlm_folder, f"http://127.0.0.1:{_closed_port()}", **{key: value})
    with pytest.raises(CardError, match=rf"omnigen2.yaml: field 'params.{key}': expected a non-empty string"):
        build_adapter(cards["omnigen2"])


def test_a_combined_card_names_its_own_missing_weights_beside_a_missing_part(tmp_path, monkeypatch):
    """Before: omnigen2 with its DiT server down said only "edit via omnigen2-dit: ... not answering"; whoever
    started the server then learnt on the next try that the VLM's weights were missing too."""
    from realunify_arena.availability import availability

    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the hub reads it once, at import
    url = f"http://127.0.0.1:{_closed_port()}"
    card = _omnigen2_cards(tmp_path, Path("realunify-test/no-such-vlm"), url)["omnigen2"]
    ok, reason = availability(card)
    assert not ok
    assert reason.startswith(f"edit via omnigen2-dit: endpoint {url}/v1 is not answering")
    assert reason.endswith("; understand: weights realunify-test/no-such-vlm are not in the local cache and "
                           "HF_HUB_OFFLINE is set")
