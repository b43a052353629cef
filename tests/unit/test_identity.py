"""Names that give a system away (``identity.NameFilter``), on the real cards and hand-written texts."""

from __future__ import annotations

import pytest

from realunify_arena.cards import load_cards
from realunify_arena.identity import REDACTED, NameFilter, name_variants


@pytest.fixture(scope="module")
def names() -> NameFilter:
    return NameFilter.from_cards(load_cards().values())


@pytest.mark.parametrize("text, expected", [
    ("As Qwen, my answer is B.", f"As {REDACTED}, my answer is B."),
    ("I am Janus-Pro-7B and I choose C", f"I am {REDACTED} and I choose C"),
    ("janus pro 7b: C", f"{REDACTED}: C"),  # separators and case do not matter
    ("Built by deepseek-community.", f"Built by {REDACTED}."),  # a checkpoint's organisation
    ("Emu3 thinks D; so does GPT-4o.", f"{REDACTED} thinks D; so does {REDACTED}."),  # versions go too
    ("Gemini 2.5 says A", f"{REDACTED} 2.5 says A"),
    ("BAGEL-7B-MoT: A", f"{REDACTED}: A"),  # a card's checkpoint repository, whole
    ("FLUX.1 Kontext made it", f"{REDACTED} {REDACTED} made it"),
    ("Trained by OpenAI, answer B", f"Trained by {REDACTED}, answer B"),
    ("I think tiny-janus would say A", f"I think {REDACTED} would say A"),  # a loaded card's name
    # spelled with characters that display as the name: fullwidth (NFKC), a zero-width space, Cyrillic letters
    # that look Latin, a Unicode hyphen (U+2011, as chat models write "GPT‑4o")
    ("I am \uff31\uff57\uff45\uff4e: A", f"I am {REDACTED}: A"),
    ("I am Q\u200bwen: A", f"I am {REDACTED}: A"),
    ("I am Qw\u0435n: A", f"I am {REDACTED}: A"),
    ("I am GPT\u20114o: A", f"I am {REDACTED}: A"),
    ("tiny\u2010janus says A", f"{REDACTED} says A"),
])
def test_names_are_redacted_in_outputs(names, text, expected):
    assert names.redact(text) == expected
    assert names.found(text)


@pytest.mark.parametrize("text", [
    "The answer is B.", "Emulate the drawing: C", "A gptx token", "The bagels are on the left: A",
    "Open the AI panel", "a tiny house, then a pair of shoes",  # family names that are ordinary words
])
def test_ordinary_words_are_left_alone(names, text):
    assert names.redact(text) == text and names.found(text) == []


def test_failure_text_loses_names_paths_and_urls_wherever_they_stand(names):
    error = ("OSError: /root/.cache/huggingface/hub/models--black-forest-labs--FLUX.1-Kontext-dev/snapshots"
             " missing; OpenAIError from https://api.openai.com/v1/images; see Qwen/Qwen-Image")
    redacted = names.redact_failure(error)
    for leak in ("black-forest", "FLUX", "Kontext", "OpenAI", "openai.com", "/root", "Qwen"):
        assert leak.lower() not in redacted.lower(), redacted
    assert redacted.startswith("OSError: ")


def test_a_cards_names_come_from_its_name_family_and_checkpoints():
    cards = load_cards()
    assert {"janus-pro-7b", "janus", "deepseek-community/Janus-Pro-7B", "deepseek-community",
            "Janus-Pro-7B"} <= name_variants(cards["janus-pro-7b"])
    assert "pair" not in name_variants(cards["flux-kontext"])  # a family that is an ordinary word
