"""Names that give a system away: detecting and redacting them in what a voter sees before the vote.

A chat model often names itself ("As Qwen, my answer is B"), and a failure message names its checkpoint
(a repository id, a cache folder). Before the vote, every text a side shows passes through a
``NameFilter``: the names of every loaded card, its family and its checkpoints (hub ids, their
organisation and repository parts, folder names), plus the common names of the field's models and their
makers (``ALIASES``), are replaced by ``REDACTED``. Large public arenas treat an identity-revealing
battle the same way: they keep the vote but leave it out of the ratings (LMSYS Chatbot Arena's
"anonymity" filter; the arena flags such a battle, see ``battles``).

Matching ignores case and treats spaces, hyphens, underscores, dots and slashes between a name's parts
alike ("Janus-Pro-7B", "janus pro 7b", "models--deepseek-community--Janus-Pro-7B"). In outputs a name
must stand on its own (not inside a longer word: "emulate" is not "Emu", "EMULATE" neither), where a capital
after a small letter starts a word of its own ("JanusPro", "DeepSeekVL": joined CamelCase, redacted as the
whole joined word, since its rest names the model too); in failure text any
occurrence counts ("OpenAIError"). A name counts as it displays: the text is matched after NFKC
normalisation (fullwidth "Ｑｗｅｎ"), without invisible format characters (a zero-width space), with every
Unicode dash read as "-" and Cyrillic and Greek letters that look Latin read as those (``LOOKALIKES``); what
is redacted is the span of the original text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

REDACTED = "[model]"

# Common names of unified and specialist models and of their makers, beyond what the loaded cards name.
ALIASES: tuple[str, ...] = (
    "Janus", "JanusFlow", "Emu", "Emu2", "Emu3", "Qwen", "QwenVL", "Tongyi", "BAGEL", "GPT", "ChatGPT",
    "DALL-E", "DALLE", "OpenAI", "Gemini", "Nano Banana", "Imagen", "Google", "DeepMind", "Claude",
    "Anthropic", "DeepSeek", "Llama", "LLaVA", "Mistral", "FLUX", "Kontext", "Black Forest Labs",
    "Stable Diffusion", "SDXL", "Stability AI", "Midjourney", "OmniGen", "Show-o", "Showo", "BLIP", "BLIP3o",
    "Ovis", "UniPic", "UniWorld", "OneCAT", "ILLUME", "MIO", "Transfusion", "Lumina", "Seedream",
    "Seed-X", "ByteDance", "Alibaba", "Tencent", "Hunyuan", "BAAI", "Salesforce", "Skywork", "Meta AI",
    "Microsoft", "InternVL", "MiniCPM", "GLM", "Zhipu", "Kimi", "Moonshot", "xAI",
    # the same models and makers as they name themselves in Chinese ("我是通义千问", Qwen's usual self-introduction);
    # not those that are also ordinary words (豆包 a bun, 书生 a scholar, 月之暗面 the moon's far side)
    "通义千问", "通义", "阿里巴巴", "阿里云", "深度求索", "字节跳动", "腾讯", "腾讯混元", "智谱", "智谱清言",
    "谷歌", "微软", "百度", "文心一言",
)
# Family names that are ordinary words ("a pair of shoes", "a tiny house") are not names.
COMMON_WORDS = frozenset({"pair", "tiny", "openai_compat", "local", "remote", "model", "chat"})
# Cyrillic and Greek letters that display as Latin ones (after Unicode's confusables list, confusables.txt).
LOOKALIKES = str.maketrans("аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅУοαινκρτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
                           "aeopcyxijsdqwABEKMHOPCTXIJSYoaivkptuxABEZHIKMNOPTYX")
_SEPARATORS = r"[\s\-_./]*"
_VERSION = r"(?:[\-_.]?\d(?:\w|\.\d)*)*"  # "GPT-4o", "Qwen2.5", "Emu3": a version goes with its name


def name_variants(card) -> set[str]:
    """The names one card goes by: its name, its family, and each checkpoint's hub id, organisation,
    repository and folder name (a ``card:NAME`` part names another card)."""
    names = {card.name, card.family}
    for checkpoint in getattr(card, "checkpoints", {}).values():
        ref = checkpoint.removeprefix("card:").rstrip("/")
        names.add(ref)
        names.update(part for part in re.split(r"[/\\]", ref) if part)
    return {n for n in names if n and n.lower() not in COMMON_WORDS and len(n) >= 2}


@dataclass(frozen=True)
class NameFilter:
    """Finds and redacts ``names`` (see the module docstring for how they match)."""

    names: frozenset[str]

    @classmethod
    def from_cards(cls, cards: Iterable, aliases: Iterable[str] = ALIASES) -> NameFilter:
        """Every name of ``cards`` (``cards.ModelCard``s) plus ``aliases``."""
        names = set(aliases)
        for card in cards:
            names |= name_variants(card)
        return cls(frozenset(names))

    @cached_property
    def _pattern(self) -> str:
        # the longest first, so "Janus-Pro-7B" is redacted whole rather than as "Janus" plus "-Pro-7B"
        parts = []
        for name in sorted(self.names, key=lambda n: (-len(n), n)):
            tokens = [re.escape(t) for t in re.split(r"[\s\-_./\\]+", name) if t]
            if tokens:
                parts.append(_SEPARATORS.join(tokens))
        return f"(?:{'|'.join(parts)}){_VERSION}" if parts else r"(?!x)x"

    @cached_property
    def _in_words(self) -> re.Pattern:
        # the end: no letter follows, or a capital follows a small letter or digit (a CamelCase join, "JanusPro"),
        # and then the whole joined word is the name: "JanusPro" was redacted as "[model]Pro", which still named it
        return re.compile(rf"(?<![A-Za-z])(?:{self._pattern})(?-i:(?![A-Za-z])|(?<=[a-z0-9])[A-Z][A-Za-z0-9]*)",
                          re.IGNORECASE)

    @cached_property
    def _anywhere(self) -> re.Pattern:
        return re.compile(rf"(?:{self._pattern})", re.IGNORECASE)

    def found(self, text: str | None) -> list[str]:
        """The names standing as words in ``text``, as written there, in order."""
        return [text[a:b] for a, b in _spans(self._in_words, text or "")]

    def redact(self, text: str | None) -> str | None:
        """``text`` with each name standing as a word replaced by ``REDACTED`` (a model's output)."""
        return None if text is None else _replace(text, _spans(self._in_words, text))

    def redact_failure(self, text: str | None) -> str | None:
        """``text`` with every occurrence of a name, paths and URLs replaced (a failure message, which
        may hold a repository id inside a cache folder or an exception class name)."""
        if text is None:
            return None
        text = re.sub(r"https?://\S+", "<url>", text)
        text = re.sub(r"(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\":,;)]+){2,}[\\/]?", "<path>", text)
        return _replace(text, _spans(self._anywhere, text))


def _spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    """Where ``pattern`` matches ``text`` as it displays (see the module docstring), as spans of ``text``."""
    shown, origin = [], []
    for i, char in enumerate(text):
        if unicodedata.category(char) == "Cf":  # zero-width and other invisible format characters
            continue
        char = "-" if unicodedata.category(char) == "Pd" else unicodedata.normalize("NFKC", char)
        for c in char.translate(LOOKALIKES):
            shown.append(c)
            origin.append(i)
    return [(origin[m.start()], origin[m.end() - 1] + 1) for m in pattern.finditer("".join(shown)) if m.end() > m.start()]


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    return "".join(out) + text[last:]
