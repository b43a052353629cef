"""A reasoning model's thoughts before its answer, as served without a reasoning parser (or, cut while thinking,
with one: ``Reply.reasoning``): one home for the rule
that the judge (its yes/no, a GEU reply's strict letter) and the UEG stepwise protocol (the refined prompt sent on to
generation) both apply."""

from __future__ import annotations

import re

from realunify_arena.adapters.base import CutReply

# Reasoning blocks that reasoning models put before their answer, as served without a reasoning parser (the tags
# of vLLM's and SGLang's reasoning parsers): <think> (and <thinking>, <reasoning>, <reason>), ByteDance Seed-OSS's
# <seed:think>, Mistral's [THINK]...[/THINK], Kimi's ◁think▷...◁/think▷, the begin/end-of-thought markers, and
# gpt-oss's analysis channel (<|channel|>analysis<|message|>...<|end|>). Matched case-insensitively; an XML-like
# tag may carry spaces before its ">".
_XML_THINK = r"think|thinking|reasoning|reason|seed:think"
_REASONING_BLOCK = re.compile(
    rf"^\s*(?:<({_XML_THINK})\s*>.*?</\1\s*>|◁think▷.*?◁/think▷|\[THINK\].*?\[/THINK\]"
    r"|<\|begin_of_thought\|>.*?<\|end_of_thought\|>"
    r"|(?:<\|start\|>assistant)?<\|channel\|>analysis<\|message\|>.*?<\|end\|>)", re.DOTALL | re.IGNORECASE)
_UNCLOSED_REASONING = re.compile(rf"^\s*(?:<(?:{_XML_THINK})\s*>|◁think▷|\[THINK\]|<\|begin_of_thought\|>"
                                 r"|(?:<\|start\|>assistant)?<\|channel\|>analysis<\|message\|>)", re.IGNORECASE)
# A closing tag whose opening one was in the prompt; gpt-oss's final-channel header ends its reasoning too.
_REASONING_CLOSE = re.compile(rf"</(?:{_XML_THINK})\s*>|◁/think▷|\[/THINK\]|<\|end_of_thought\|>"
                              r"|(?:<\|start\|>assistant)?<\|channel\|>final<\|message\|>", re.IGNORECASE)


def strip_reasoning(reply: str | None) -> str:
    """The reply without its leading reasoning block(s); "" when the reasoning never ends.

    Handles ``<think>...</think>`` (possibly empty, as Qwen3 writes it with thinking off), ``<thinking>``,
    ``<reasoning>``, ``<reason>``, ``<seed:think>`` (Seed-OSS), ``[THINK]...[/THINK]`` (Mistral's Magistral),
    ``◁think▷...◁/think▷``, ``<|begin_of_thought|>...<|end_of_thought|>``, gpt-oss's
    ``<|channel|>analysis<|message|>...<|end|>`` (its ``<|channel|>final<|message|>`` header ends the
    reasoning), and a bare closing tag whose opening tag was in the prompt (chat templates that open the
    block for the model): everything up to the last closing tag is reasoning. An opened block that is never
    closed (a reply cut short while thinking) leaves nothing: no verdict, no refined prompt. The tag forms are
    those of vLLM's and SGLang's reasoning parsers (``vllm/reasoning/*_reasoning_parser.py``), which split the
    same text into ``reasoning_content`` and ``content``.
    """
    text = _after_closed_blocks(reply)
    if _UNCLOSED_REASONING.match(text):
        return ""
    closes = list(_REASONING_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    return text


def cut_while_reasoning(reply: str | None) -> bool:
    """Whether the reply opens a reasoning block it never closes (after any closed ones): a reply cut at its
    token limit while the model was still thinking, so ``strip_reasoning`` leaves nothing of it. So is a
    ``CutReply`` of no text whose thoughts its server gave apart (``Reply.reasoning``: vLLM with a reasoning parser
    answers ``content`` null and ``reasoning_content`` when the limit comes before the thoughts end)."""
    if isinstance(reply, CutReply) and reply.reasoning and not reply.strip():
        return True
    return bool(_UNCLOSED_REASONING.match(_after_closed_blocks(reply)))


def cut_before_answer(reply: str | None) -> bool:
    """Whether the reply was cut before its answer: ``cut_while_reasoning``, or a ``CutReply`` (stopped at its
    token limit: OpenAI's ``finish_reason`` "length") that reasoned (a closed block, or a closing tag whose
    opening one was in the prompt) with nothing after its reasoning, its block closed just before the limit.
    Either way ``strip_reasoning`` leaves no answer, and the model had not given one. A reply with no reasoning
    at all is never said to be cut before its answer, however empty: a model that does not reason answered with
    what it wrote (before, a small model's empty reply cut at its limit failed every UEG stepwise run)."""
    if cut_while_reasoning(reply):
        return True
    if not isinstance(reply, CutReply) or strip_reasoning(reply).strip():
        return False
    return _after_closed_blocks(reply) != reply or bool(_REASONING_CLOSE.search(reply))


def _after_closed_blocks(reply: str | None) -> str:
    text = reply or ""
    while True:
        match = _REASONING_BLOCK.match(text)
        if not match:
            return text
        text = text[match.end():]
