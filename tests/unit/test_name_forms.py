"""Self-names the pre-vote filter missed (``identity.NameFilter`` on the real cards): a name joined to the next word
in CamelCase ("JanusPro", "DeepSeekVL", "GeminiPro"), and the field's models and makers as they name themselves in
Chinese (Qwen's usual self-introduction is "我是通义千问，由阿里云开发"; DeepSeek's company is 深度求索, BAGEL's
maker 字节跳动, Hunyuan 腾讯混元). Each reached the voter before the vote, and the battle was not flagged.

Expected, from the texts themselves: the name written in the text is gone from what the voter sees, and the battle
is flagged (``found``); ordinary words, in any case, are left alone.
"""

from __future__ import annotations

import pytest

from realunify_arena.cards import load_cards
from realunify_arena.identity import REDACTED, NameFilter


@pytest.fixture(scope="module")
def names() -> NameFilter:
    return NameFilter.from_cards(load_cards().values())


@pytest.mark.parametrize("text, name", [
    ("I am JanusPro, answer B", "Janus"),
    ("As DeepSeekVL I pick C", "DeepSeek"),
    ("GeminiPro says A", "Gemini"),
    ("The QwenChat model answers D", "Qwen"),
    ("我是通义千问，由阿里云开发。答案是B", "通义千问"),
    ("我是通义千问，由阿里云开发。答案是B", "阿里云"),
    ("我是深度求索公司开发的模型，答案是A", "深度求索"),
    ("我是字节跳动的豆包，选C", "字节跳动"),
    ("我是腾讯混元大模型：D", "混元"),
])
def test_a_self_name_joined_or_in_chinese_is_redacted_and_found(names, text, name):
    shown = names.redact(text)
    assert name not in shown and REDACTED in shown, shown
    assert names.found(text)


@pytest.mark.parametrize("text", [
    "EMULATE THE DRAWING: C", "Emulate the drawing: C", "A gptx token", "The bagels are on the left: A",
    "MIOSIS is a word too: B", "答案是B，图中有三只猫",
    "盘子里有两个豆包和一本书：C",  # a bun (豆包, also an assistant's name) and a book: ordinary words
])
def test_ordinary_words_in_any_case_are_left_alone(names, text):
    assert names.redact(text) == text and names.found(text) == []


@pytest.mark.parametrize("text, expected", [
    ("I am JanusPro, answer B", f"I am {REDACTED}, answer B"),
    ("As DeepSeekVL I pick C", f"As {REDACTED} I pick C"),
    ("GeminiProVision says A", f"{REDACTED} says A"),
    ("The QwenChat model answers D", f"The {REDACTED} model answers D"),
])
def test_a_name_joined_in_camel_case_is_redacted_with_the_word_it_is_joined_to(names, text, expected):
    """Before: "JanusPro" was shown as "[model]Pro" (its rest, "Pro", still named Janus-Pro to the voter). Expected
    by hand: the whole joined word is the name."""
    assert names.redact(text) == expected
