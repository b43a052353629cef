"""What ``serve-openai`` does with the OpenAI request fields beyond the ones every model here takes.

OpenAI's API reference (chat completions, images create and edit) defines fields that change what is answered.
Each is either done here, exactly as the reference says (``stop``, ``output_format``, ``output_compression``),
or refused with a 400 naming it (``UNSUPPORTED``): a client asking for tool calls, log probabilities, a
transparent background or an inpainting mask must learn it got none, not read a plain answer as if it had.
A value that asks for what the server does anyway (``logprobs: false``, ``tools: []``, ``background:
"opaque"``) is taken. Fields that change nothing a client sees are taken and ignored (``_Body``'s docstring in
``serving`` lists them).

Prompt length: ``MAX_PROMPT_CHARS`` characters of text per request, the one bound on what a served model is
given; the app's own text fields are held to ``benchmark.custom.MAX_TEXT_CHARS`` each, and its longest prompt (a
question with its options inside the protocol's instruction and a card's template) stays well within it.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from realunify_arena.benchmark.custom import MAX_TEXT_CHARS
from realunify_arena.benchmark.images import png_bytes

# OpenAI's own bound on an image prompt (gpt-image-1: 32,000 characters), which is 8 of the app's text fields
# (``MAX_TEXT_CHARS``, 4,000 characters each). A chat's text, all its messages together, is held to the same:
# no model card here reads more (tiny-pair's 512 positions, Janus-Pro's 4,096 tokens), and a 300 KB prompt held
# a CPU model for minutes after its client had gone.
MAX_PROMPT_CHARS = 8 * MAX_TEXT_CHARS

# field -> the values that ask for nothing this server does not do anyway, per endpoint. Any other value is
# refused: "'<field>' is not supported by this server". Sources: OpenAI's API reference for each field.
_CHAT = {
    "logprobs": (None, False),  # log probabilities of the output tokens
    "top_logprobs": (None, 0),
    "tools": (None, []),  # tool (function) calls
    "tool_choice": (None, "none", "auto"),  # with no tools, "auto" and "none" both mean a plain answer
    "functions": (None, []),  # the deprecated form of tools
    "function_call": (None, "none", "auto"),
    "logit_bias": (None, {}),
    "frequency_penalty": (None, 0),
    "presence_penalty": (None, 0),
    "modalities": (None, ["text"]),  # audio output
    "audio": (None,),
    "reasoning_effort": (None,),  # reasoning models only (OpenAI refuses it for others too)
    "verbosity": (None,),
    "web_search_options": (None,),
}
_IMAGES = {
    "background": (None, "auto", "opaque"),  # the models here paint every pixel: no transparent background
    "style": (None,),  # dall-e-3's vivid / natural
    "input_fidelity": (None, "low"),  # edits: gpt-image-1's "high" keeps faces and logos closer
}
UNSUPPORTED = {"chat": _CHAT, "generations": _IMAGES, "edits": _IMAGES}
# The JSON type OpenAI's API reference gives each refused field, checked before its value: a value of another type
# is answered as OpenAI answers it ("Invalid type for 'logprobs': expected a boolean ...", code invalid_type), not
# as a wish this server cannot grant. (JSON bodies only: the edit form's fields are all text.)
_BOOLEAN, _INTEGER, _NUMBER, _STRING, _ARRAY, _OBJECT = "boolean", "integer", "number", "string", "array", "object"
REFUSED_TYPES = {
    "logprobs": (_BOOLEAN,), "top_logprobs": (_INTEGER,), "tools": (_ARRAY,), "tool_choice": (_STRING, _OBJECT),
    "functions": (_ARRAY,), "function_call": (_STRING, _OBJECT), "logit_bias": (_OBJECT,),
    "frequency_penalty": (_NUMBER,), "presence_penalty": (_NUMBER,), "modalities": (_ARRAY,), "audio": (_OBJECT,),
    "reasoning_effort": (_STRING,), "verbosity": (_STRING,), "web_search_options": (_OBJECT,),
    "background": (_STRING,), "style": (_STRING,), "input_fidelity": (_STRING,),
}
_IS = {_BOOLEAN: lambda v: isinstance(v, bool), _INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
       _NUMBER: lambda v: isinstance(v, int | float) and not isinstance(v, bool), _STRING: lambda v: isinstance(v, str),
       _ARRAY: lambda v: isinstance(v, list), _OBJECT: lambda v: isinstance(v, dict)}
_ARTICLE = {_INTEGER: "an", _ARRAY: "an", _OBJECT: "an"}

OUTPUT_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}  # OpenAI's names -> Pillow's
# Nucleus sampling (chat ``top_p``): the served models sample from the whole distribution (top_p 1). With greedy
# decoding (temperature 0, the cards' default) top_p changes nothing, so any value is taken: benchmark runners send
# one with temperature 0 (``serving.create_app``'s check refuses it only when the request samples).
SAMPLING_ONLY = "top_p"
# The documented values of fields taken and ignored (OpenAI's API reference): another value, or another JSON type,
# is refused with a 400 naming the field, as OpenAI refuses it, rather than taken unread.
IMAGE_QUALITIES = ("auto", "low", "medium", "high", "standard", "hd")  # gpt-image-1 low..high, dall-e-3 hd/standard
MODERATIONS = ("auto", "low")  # images: gpt-image-1's content moderation level
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")  # chat: the processing tier
MAX_PARTIAL_IMAGES = 3  # images: "partial_images ... between 0 and 3" (streamed previews; none are sent here)
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512  # "Set of 16 key-value pairs ... Keys are
# strings with a maximum length of 64 characters. Values are strings with a maximum length of 512 characters."
MAX_STOP_SEQUENCES = 4  # OpenAI's reference: "Up to 4 sequences where the API will stop generating"


def unsupported_field(fields: dict[str, Any], endpoint: str) -> str | None:
    """The first field of ``fields`` (a request body, as sent) that ``endpoint`` (a key of ``UNSUPPORTED``)
    cannot honour, or None. A number is compared by value (``0`` and ``0.0`` alike, never ``False``)."""
    for name, accepted in UNSUPPORTED[endpoint].items():
        value = fields.get(name)
        if not any(_same(value, ok) for ok in accepted):
            return name
    return None


def mistyped_field(fields: dict[str, Any], endpoint: str) -> tuple[str, str] | None:
    """(the first refused field of ``fields``, a parsed JSON body, whose value is neither null nor of the JSON type
    OpenAI's reference gives it; that type in OpenAI's words: ``"a boolean"``, ``"a string or an object"``), or
    None."""
    for name in UNSUPPORTED[endpoint]:
        value, kinds = fields.get(name), REFUSED_TYPES[name]
        if value is not None and not any(_IS[kind](value) for kind in kinds):
            return name, " or ".join(f"{_ARTICLE.get(kind, 'a')} {kind}" for kind in kinds)
    return None


def _same(value: Any, accepted: Any) -> bool:
    if isinstance(value, bool) or isinstance(accepted, bool) or value is None or accepted is None:
        return value is accepted
    if isinstance(value, int | float) and isinstance(accepted, int | float):
        return value == accepted
    return type(value) is type(accepted) and value == accepted


def cut_at_stop(text: str, stops: list[str]) -> str | None:
    """``text`` up to (not including) the earliest of ``stops`` (empty ones skipped), or None when none occurs:
    OpenAI's ``stop`` ("sequences where the API will stop generating further tokens; the returned text will not
    contain the stop sequence")."""
    found = [i for i in (text.find(stop) for stop in stops if stop) if i >= 0]
    return text[:min(found)] if found else None


def encoded_image(image: Image.Image, output_format: str = "png", compression: int | None = None) -> str:
    """``image`` as base64 in ``output_format`` (a key of ``OUTPUT_FORMATS``); ``compression`` 0-100 (OpenAI's
    ``output_compression``, default 100) is the JPEG or WebP quality, unused for PNG (lossless).

    Raises:
        KeyError: ``output_format`` is not one of ``OUTPUT_FORMATS``.
    """
    kind = OUTPUT_FORMATS[output_format]
    if kind == "PNG":
        return base64.b64encode(png_bytes(image)).decode("ascii")
    buffer = io.BytesIO()
    (image if image.mode == "RGB" else image.convert("RGB")).save(
        buffer, format=kind, quality=100 if compression is None else compression)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
