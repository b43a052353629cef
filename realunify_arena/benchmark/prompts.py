"""The paper's prompt templates, verbatim (see RealUnify, arXiv 2509.24897).

Official files carry the filled strings (``new_prompt``, ``evaluation_prompt``, ``edit_prompt``); those are
used as given. These builders fill the templates for instances that do not carry them.
"""

from __future__ import annotations

import re

JUDGE_TEMPLATE = (
    "Please answer the following question based on the image:\n"
    "Question: {question}\n"
    "\n"
    "You should only reply yes or no, and do not provide any other extra content."
)

REFINE_TEMPLATE = (
    "Here is the prompt for image generation: {prompt}\n"
    "\n"
    "Please refine it into a simple, direct, and unambiguous form to ensure the generated image fully aligns "
    "with the given description and conditions. Respond only with the refined prompt, without adding anything else."
)

MCQ_TEMPLATE = (
    "Select the best answer to the following multiple-option question based on the image. "
    "Respond with only the letter (A, B, C, or D) of the correct option.\n"
    "Question: {question}\n"
    "Option:\n"
    "A. {A}\n"
    "B. {B}\n"
    "C. {C}\n"
    "D. {D}\n"
    "The best answer is:"
)

EDIT_TEMPLATES = {
    "mental_reconstruction": (
        "Please restore the image that has been shuffled by patches, without adding extra content or altering "
        "the original image."
    ),
    "mental_tracking": (
        "Here is the question: {question}\n"
        "Please apply the corresponding transformations and modifications to the contents of the image "
        "according to the question."
    ),
    "attentional_focusing": (
        "Here is the question: {question}\nPlease highlight the regions of the image that are relevant to the question."
    ),
    "cognitive_navigation": (
        "Here is the question: {question}\nPlease mark the path(s) in the image that are relevant to the question."
    ),
}


def judge_prompt(question: str) -> str:
    return JUDGE_TEMPLATE.format(question=question)


def refine_prompt(prompt: str) -> str:
    return REFINE_TEMPLATE.format(prompt=prompt)


def recover_prompt(new_prompt: str) -> str | None:
    """The prompt inside a filled refine template (``new_prompt`` of ``UEG_step.json``), or None.

    The template's words before and after the prompt are removed, so a prompt with blank lines of its own
    (every code-to-image prompt) comes back whole; cutting at the first blank line, as some third-party runners
    do, would truncate it. The white space where the prompt joins the template is not fixed (the template's
    line breaks are reconstructed, REALUNIFY.md): a space, one line break or a blank line, CRLF or not, all
    match, as does white space between the template's own words; the prompt comes back without white space
    at its two ends. A text that does not start and end with the template's words gives None.
    """
    match = _REFINE_FILLED.fullmatch(new_prompt)
    return match.group(1) if match and match.group(1) else None


def _words_pattern(text: str) -> str:
    """A regex for ``text`` whose white space runs match any white space run."""
    return r"\s+".join(re.escape(word) for word in text.split())


_REFINE_PREFIX, _REFINE_SUFFIX = REFINE_TEMPLATE.split("{prompt}")
_REFINE_FILLED = re.compile(rf"\s*{_words_pattern(_REFINE_PREFIX)}\s*(.*?)\s*{_words_pattern(_REFINE_SUFFIX)}\s*",
                            re.DOTALL)


def mcq_prompt(question: str, options: list[str]) -> str:
    if len(options) != 4:
        raise ValueError(f"an MCQ needs 4 options, got {len(options)}")
    return MCQ_TEMPLATE.format(question=question, **dict(zip("ABCD", options)))


def edit_prompt(task_type: str, question: str) -> str:
    try:
        template = EDIT_TEMPLATES[task_type]
    except KeyError:
        raise ValueError(f"no edit prompt for task_type {task_type!r}; GEU task types: {sorted(EDIT_TEMPLATES)}") from None
    return template.format(question=question)
