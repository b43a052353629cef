"""Any OpenAI-compatible endpoint: OpenAI itself (GPT-4.1, GPT-Image-1), vLLM-Omni, a model worker from
``workers/``, or ``serve-openai``.

This is how models whose code needs another library stack (BAGEL, OmniGen2, Ovis-U1 ...) join the app:
they run in their own process and this adapter talks to them. Understanding is always a chat completion
with the images as ``image_url`` data URLs. Generation and editing speak one of two dialects, chosen per
capability by the card's ``params.dialect`` (one string for all, or a map capability -> dialect):

``images`` (default)
    OpenAI's images API: ``POST /v1/images/generations`` (JSON) and ``POST /v1/images/edits``
    (multipart), answered with ``data[0].b64_json``. vLLM-Omni serves the generations endpoint for
    diffusion models with the extension fields ``negative_prompt``, ``num_inference_steps``,
    ``guidance_scale``, ``true_cfg_scale`` and ``seed`` (its docs, ``docs/serving/image_generation_api.md``).
``chat``
    vLLM-Omni's diffusion chat API: ``POST /v1/chat/completions`` with the input image as an
    ``image_url`` data URL in the user message, the generation fields (``height``, ``width``,
    ``num_inference_steps``, ``seed``, guidance fields) in the request body, at the top level and (card
    param ``nested_extra_body``) again in a nested ``extra_body`` object, which older releases read
    alone (newer ones refuse a field given twice: then the top level alone), and the output image as a
    data URL in ``message.content`` (a list of ``image_url`` parts, or the URL itself). Omni models such
    as BAGEL choose text or image output with ``modalities`` (``params.modalities: true``). Sources:
    vLLM-Omni ``docs/serving/chat_completions_api.md``, ``examples/online_serving/image_to_image`` and
    ``examples/online_serving/bagel``.

An edit sends no size in either dialect: the output keeps the input image's size (the official BAGEL and
OmniGen2 edits derive it from the input; so do vLLM-Omni's pipelines) or, on OpenAI's images API, its
aspect (``size`` defaults to ``auto`` there; GPT-Image-1 makes 1024x1024, 1536x1024 or 1024x1536).

Other card params (all optional; the per-capability ones take one value or a map capability -> value):
``send_options`` (per capability: send seed, guidance and steps; OpenAI's own API rejects them; off for a
capability whose official settings differ from the card's defaults, so the server's own apply), ``option_names`` (the server's names for the card's options, e.g. ``{guidance:
cfg_text_scale}``; defaults ``seed``, ``guidance_scale``, ``num_inference_steps``), ``extra_body`` (fixed
fields per capability, for official settings the options do not carry, e.g. BAGEL's ``cfg_img_scale``),
``prompt_template`` (per capability, ``{prompt}`` is replaced by the text and ``{images}`` by
``image_placeholder`` once per attached image, so a text-only question, UEG stepwise's refine, carries no
image token), ``image_placeholder`` (a string, default empty), ``nested_extra_body`` (chat
dialect: also send the generation fields in a nested ``extra_body`` object, which vLLM-Omni read alone up
to early 2026; dropped for the adapter's life once a server refuses the fields given twice, as releases
since mid 2026 do, and the request sent again),
``served_as`` (names the server may report in a chat reply's ``model`` field for the card's checkpoint,
besides the checkpoint itself and OpenAI's dated snapshot of it: vLLM's first ``--served-model-name`` when the
card asks for another alias; see ``served_model_problem``),
``token_limit_field`` (the chat field that carries ``max_new_tokens``: ``max_completion_tokens``, OpenAI's name and
the default, or ``max_tokens``, the only one vLLM-Omni's multi-stage chat path reads: serving_chat.py
``_OPENAI_SAMPLING_FIELDS``; plain vLLM and the workers read either), ``timeout_s`` (one deadline in
seconds for a whole request, retries included; default 300), ``max_retries`` (retries within that deadline of a
request that cannot have been applied: a connection never made, HTTP 408/409/429/503; default 2; ``_retryable``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from PIL import Image

from realunify_arena.adapters.base import (Adapter, Capability, CutReply, GenerationOptions, ModelUnavailable,
                                           Reply)
from realunify_arena.adapters.wire import (error_line, generated_image, image_from_base64, may_retry, never_sent,
                                           png_bytes, png_data_url, server_wait, shielded, unreadable_reply,
                                           within_deadline, without_key)
from realunify_arena.benchmark.images import ImageError
from realunify_arena.cards import CardError, ModelCard
from realunify_arena.http_deadline import ReplyTooLarge, deadline_client_args
from realunify_arena.redaction import shortened
from realunify_arena.tls import certificate_problem

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_RETRIES = 2
R = TypeVar("R")
DIALECTS = ("images", "chat")
TOKEN_LIMIT_FIELDS = ("max_completion_tokens", "max_tokens")
# A chat choice's ``finish_reason`` is read as an allow-list (``finish_kind``), compared in lower case (proxies pass a
# provider's own upper-case names on: Gemini's ``STOP``/``MAX_TOKENS``). Names after which the text is the model's
# whole answer: OpenAI's chat completion object ``stop`` (a natural stop point or a stop sequence), ``tool_calls``
# and the deprecated ``function_call`` (never asked for: the text is still all the model said); TGI / Hugging Face
# Inference Endpoints' ``eos_token`` and ``stop_sequence`` (router ``FinishReason``); Together AI's ``eos``;
# Anthropic's ``end_turn`` and ``tool_use`` (``stop_reason``, passed on by proxies; its ``stop_sequence`` is TGI's
# name too). vLLM, SGLang, llama.cpp's server, Ollama and LM Studio answer with OpenAI's names. None (no reason
# given, as some servers omit it) is read as a whole answer too.
WHOLE_REASONS = frozenset({"stop", "tool_calls", "function_call", "eos_token", "stop_sequence", "eos", "end_turn",
                           "tool_use"})
# Names for a reply cut at a token limit, read as OpenAI's ``length`` (a ``CutReply``): Mistral's ``model_length``
# (the model's context length was reached), Anthropic's and Gemini's ``max_tokens``/``MAX_TOKENS``, Anthropic's
# ``model_context_window_exceeded``.
CUT_REASONS = frozenset({"length", "model_length", "max_tokens", "model_context_window_exceeded"})
# Known names for an answer stopped before the model finished it, with why (an error, as is any name in none of
# the three lists): OpenAI's ``content_filter`` (content omitted by its filters); vLLM's ``abort`` (the request
# aborted on the server, also SGLang's), ``error`` (the engine failed mid-answer, also Mistral's and OpenRouter's)
# and ``repetition`` (the engine stopped a repetitive token pattern: ``vllm.v1.engine.FINISH_REASON_STRINGS``);
# DeepSeek's ``insufficient_system_resource`` ("the request is interrupted due to insufficient resource of the
# inference system"); Anthropic's ``refusal`` (the model declined) and ``pause_turn`` (the turn was paused, to be
# continued by another request).
UNFINISHED_REASONS = {"content_filter": "the endpoint's content filter withheld part of the answer",
                      "abort": "the endpoint aborted the answer", "error": "the endpoint failed mid-answer",
                      "repetition": "the endpoint stopped the answer as repetitive",
                      "insufficient_system_resource": "the endpoint ran out of resources mid-answer",
                      "refusal": "the model refused mid-answer", "pause_turn": "the endpoint paused the answer"}
OPTION_NAMES = {"seed": "seed", "guidance": "guidance_scale", "steps": "num_inference_steps"}
_IMAGE_CAPABILITIES = (Capability.GENERATE, Capability.EDIT)
# vLLM-Omni's refusal of a request that gives a diffusion field both at the top level and in a nested
# extra_body (diffusion_request_utils.normalize_diffusion_request_args, since PR #5171)
GIVEN_TWICE = "Diffusion request parameters were provided more than once"


class FieldsGivenTwice(RuntimeError):
    """The server refused a field sent both at the top level and in the nested ``extra_body`` (HTTP 400)."""
# OpenAI answers a request for an alias with its pinned snapshot (``gpt-4.1`` -> ``gpt-4.1-2025-04-14``, the
# snapshot names of https://platform.openai.com/docs/models)
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}")
# the text vLLM-Omni answers when an image run made no image (serving_chat.py _create_diffusion_chat_completion:
# the message's content; _create_image_choice: a text part), with HTTP 200
NO_IMAGE_NOTICE = "Image generation completed but no images were produced."
_OUTPUT_MODALITY = {Capability.UNDERSTAND: "text", Capability.GENERATE: "image", Capability.EDIT: "image"}


def make_client(card: ModelCard):
    """The ``openai.OpenAI`` client for ``card``: base URL, key from ``card.api_key_env``, time limit
    ``params.timeout_s`` (seconds, default 300) and no retries of its own: each of its retries would get
    the whole time limit again, so the adapter retries itself within one deadline (``within_deadline``),
    which its HTTP client keeps as a total (``http_deadline``), however slowly bytes arrive.
    Raises ModelUnavailable when the key variable is named but unset."""
    import openai

    key = "unused"  # the client insists on a key; local servers ignore it
    if card.api_key_env:
        key = os.environ.get(card.api_key_env, "")
        if not key:
            raise ModelUnavailable(f"{card.name}: API key variable {card.api_key_env} is unset")
    return openai.OpenAI(base_url=card.endpoint, api_key=key,
                         timeout=float(card.params.get("timeout_s", DEFAULT_TIMEOUT_S)), max_retries=0,
                         http_client=openai.DefaultHttpxClient(**deadline_client_args()))


def _per_capability(card: ModelCard, key: str, default: Any) -> dict[Capability, Any]:
    """``params.<key>``: one value for every capability, or a map capability -> value."""
    value = card.params.get(key, default)
    if not isinstance(value, dict):
        return {cap: value for cap in Capability}
    unknown = set(value) - {c.value for c in Capability}
    if unknown:
        raise CardError(f"{card.path}: field 'params.{key}': unknown capabilities {sorted(unknown)}; "
                        f"expected some of {sorted(c.value for c in Capability)}")
    return {cap: value.get(cap.value, default if not isinstance(default, dict) else {}) for cap in Capability}


def card_dialects(card: ModelCard) -> dict[Capability, str]:
    """The dialect of each image capability (``images`` or ``chat``); raises CardError for anything else."""
    dialects = _per_capability(card, "dialect", "images")
    for cap in _IMAGE_CAPABILITIES:
        if dialects[cap] not in DIALECTS:
            raise CardError(f"{card.path}: field 'params.dialect': expected one of {list(DIALECTS)} "
                            f"(or a map capability -> dialect), got {dialects[cap]!r} for {cap.value}")
    return dialects


def card_image_placeholder(card: ModelCard) -> str:
    """``params.image_placeholder``: the text a template's ``{images}`` repeats once per attached image
    (default empty); raises CardError naming the card file for anything but a string."""
    value = card.params.get("image_placeholder", "")
    if not isinstance(value, str):
        raise CardError(f"{card.path}: field 'params.image_placeholder': expected a string (the text put in a "
                        f"prompt_template's {{images}} once per image), got {value!r}")
    return value


def card_token_limit_field(card: ModelCard) -> str:
    """The chat field that carries ``max_new_tokens`` (``params.token_limit_field``, default
    ``max_completion_tokens``); raises CardError naming the card file for anything but ``TOKEN_LIMIT_FIELDS``."""
    field = card.params.get("token_limit_field", TOKEN_LIMIT_FIELDS[0])
    if field not in TOKEN_LIMIT_FIELDS:
        raise CardError(f"{card.path}: field 'params.token_limit_field': expected one of {list(TOKEN_LIMIT_FIELDS)}, "
                        f"got {field!r}")
    return field


class OpenAICompatAdapter(Adapter):
    def __init__(self, card: ModelCard) -> None:
        super().__init__(card=card, capabilities=card.capabilities)
        self.dialects = card_dialects(card)
        self.token_limit_field = card_token_limit_field(card)
        self.extra_body = _per_capability(card, "extra_body", {})
        self.templates = _per_capability(card, "prompt_template", "{prompt}")
        self.image_placeholder = card_image_placeholder(card)
        self.send_options = _per_capability(card, "send_options", False)
        self.option_names = {**OPTION_NAMES, **(card.params.get("option_names") or {})}
        self.client = make_client(card)
        self.timeout_s = float(card.params.get("timeout_s", DEFAULT_TIMEOUT_S))
        self.retries = int(card.params.get("max_retries", DEFAULT_RETRIES))
        self.nested_extra_body = bool(card.params.get("nested_extra_body"))  # False once a server refuses it

    def _request(self, send: Callable[[float], R]) -> R:
        """``send(seconds_left)`` (a client call given ``timeout=seconds_left``) within the card's one deadline."""
        import openai

        where = f"{self.card.name} at {self.card.endpoint}"
        reply = shielded(lambda: within_deadline(send, timeout_s=self.timeout_s, retries=self.retries, where=where,
                                                 is_timeout=lambda e: isinstance(e, openai.APITimeoutError),
                                                 is_retryable=_retryable, retry_after=server_wait),
                         lambda exc: _translated(self.card, exc))
        return _checked(self.card, where, reply)

    def _model(self, capability: Capability) -> str:
        return self.card.checkpoints[capability.value]

    def _prompt(self, capability: Capability, text: str, images: int = 0) -> str:
        """The card's template for ``capability`` with one ``image_placeholder`` per attached image (``images``
        of them) and ``text`` filled in (last, so a prompt that itself says "{images}" stays as written)."""
        template = self.templates[capability].replace("{images}", self.image_placeholder * images)
        return template.replace("{prompt}", text)

    def _options(self, capability: Capability, options: GenerationOptions, fields: tuple[str, ...]) -> dict[str, Any]:
        """The card's options under the server's names (only with ``send_options``), unset ones left out."""
        if not self.send_options[capability]:
            return {}
        values = {field: getattr(options, field) for field in fields if field in self.option_names}
        return {self.option_names[k]: v for k, v in values.items() if v is not None}

    def _body(self, capability: Capability, options: GenerationOptions) -> dict[str, Any]:
        """Fields beyond the OpenAI schema for ``capability``, sent through the client's ``extra_body``."""
        fields = ("max_new_tokens", "temperature") if capability is Capability.UNDERSTAND else ("seed", "guidance",
                                                                                                "steps")
        body = self._options(capability, options, fields)
        body.update(self.extra_body[capability] or {})
        chat = capability is Capability.UNDERSTAND or self.dialects[capability] == "chat"
        if self.card.params.get("modalities") and chat:  # a chat field: the images API has no such field
            body["modalities"] = [_OUTPUT_MODALITY[capability]]
        return body

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        self.require(Capability.UNDERSTAND)
        content = [{"type": "text", "text": self._prompt(Capability.UNDERSTAND, text, len(images))}]
        content += [{"type": "image_url", "image_url": {"url": png_data_url(im)}} for im in images]
        reply = self._request(lambda left: self.client.chat.completions.create(
            model=self._model(Capability.UNDERSTAND), messages=[{"role": "user", "content": content}],
            **{self.token_limit_field: options.max_new_tokens}, temperature=options.temperature, seed=options.seed,
            extra_body=self._body(Capability.UNDERSTAND, options) or None, timeout=left))
        return _reply_text(self.card, reply)

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        self.require(Capability.GENERATE)
        if self.dialects[Capability.GENERATE] == "chat":
            return self._chat_image(Capability.GENERATE, text, None, options)
        reply = self._request(lambda left: self.client.images.generate(
            model=self._model(Capability.GENERATE), prompt=self._prompt(Capability.GENERATE, text), n=1,
            **self._images_options(Capability.GENERATE, options), timeout=left))
        return self._b64_image(reply)

    def edit(self, image: Image.Image, text: str, options: GenerationOptions) -> Image.Image:
        self.require(Capability.EDIT)
        if self.dialects[Capability.EDIT] == "chat":
            return self._chat_image(Capability.EDIT, text, image, options)
        reply = self._request(lambda left: self.client.images.edit(
            model=self._model(Capability.EDIT), prompt=self._prompt(Capability.EDIT, text), n=1,
            image=("image.png", png_bytes(image), "image/png"), **self._images_options(Capability.EDIT, options),
            timeout=left))
        return self._b64_image(reply)

    def _images_options(self, capability: Capability, options: GenerationOptions) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        # an edit sends no size, as in the chat dialect: the server sizes it from the input (OpenAI's edits
        # default to size "auto", which follows the input's aspect); the card's square default would squash
        # a landscape or portrait GEU image before the question is answered on it
        if capability is Capability.GENERATE and options.width and options.height:
            kwargs["size"] = f"{options.width}x{options.height}"
        body = self._body(capability, options)
        if body:
            kwargs["extra_body"] = body
        return kwargs

    def _chat_image(self, capability: Capability, text: str, image: Image.Image | None,
                    options: GenerationOptions) -> Image.Image:
        content = [{"type": "text", "text": self._prompt(capability, text, int(image is not None))}]
        if image is not None:
            content.append({"type": "image_url", "image_url": {"url": png_data_url(image)}})
        body = self._body(capability, options)
        if capability is Capability.GENERATE and options.width and options.height:
            body.update(width=options.width, height=options.height)  # an edit keeps the input's size
        # The SDK's extra_body flattens these fields to the top level, which vLLM-Omni reads since early 2026
        # (PR #2042); its diffusion chat path up to then (serving_chat.py _create_diffusion_chat_completion)
        # read only a nested JSON "extra_body" and ran every edit with its defaults (50 steps, guidance 7.5,
        # no seed). So vLLM-Omni cards send both, until a server refuses a field given twice: releases since
        # PR #5171 (diffusion_request_utils.normalize_diffusion_request_args) answer HTTP 400 "Diffusion
        # request parameters were provided more than once"; then the request is sent again with the top-level
        # copy alone, and so is every later one of this adapter's.
        nested = {k: v for k, v in body.items() if k != "modalities"}

        def sent(twice: bool) -> Any:
            fields = {**body, "extra_body": nested} if twice else body
            return self._request(lambda left: self.client.chat.completions.create(
                model=self._model(capability), messages=[{"role": "user", "content": content}], extra_body=fields,
                timeout=left))

        twice = self.nested_extra_body and bool(nested)
        try:
            reply = sent(twice)
        except FieldsGivenTwice:
            if not twice:
                raise
            self.nested_extra_body = False
            reply = sent(False)
        self._check_served(capability, reply)
        return _reply_image(self.card, reply)

    def _check_served(self, capability: Capability, reply) -> None:
        """Refuse an image made through the chat dialect by another model than the card asked for
        (``served_model_problem``). Only there: vLLM-Omni's diffusion chat path is the one that never checks the
        request's model; text replies come from servers that refuse an unknown model themselves (vLLM, OpenAI:
        HTTP 404), and some name their model otherwise in the reply (an Azure deployment answers with the model
        behind it), so checking them would refuse good answers."""
        problem = served_model_problem(self.card, self._model(capability), getattr(reply, "model", None))
        if problem:
            raise RuntimeError(problem)

    def _b64_image(self, reply) -> Image.Image:
        """``data[0].b64_json`` of an images API reply; raises RuntimeError naming the card and endpoint,
        and an image sent as a URL (``response_format`` ``url``), which is not downloaded."""
        if not reply.data or not reply.data[0].b64_json:
            url = reply.data[0].url if reply.data else None
            came = (f"an image URL instead ({error_line(url, self.card.api_key_env, 80)!r}), which is not "
                    f"downloaded" if url else f"got {_shown(self.card, reply)}")
            raise RuntimeError(f"{self.card.name} at {self.card.endpoint}: the endpoint returned no base64 image "
                               f"(b64_json); {came}")
        return _decoded(self.card, reply.data[0].b64_json)


def served_model_problem(card: ModelCard, asked: str, served: Any) -> str | None:
    """Why a chat reply whose ``model`` field is ``served`` cannot count as card ``card``'s checkpoint
    ``asked``, or None when it can: the same name, OpenAI's dated snapshot of it (``gpt-4.1-2025-04-14``), a
    name in the card's ``params.served_as``, or no name at all (an images reply carries none).

    vLLM-Omni's diffusion chat path never checks the request's model: it generates with whatever model it
    loaded and answers with that model's first served name (vllm_omni/entrypoints/openai/serving_chat.py
    ``_create_diffusion_chat_completion``, ``model=self._diffusion_model_name``, set from
    ``served_model_names[0]`` in api_server.py; its images route only logs "Model mismatch"). So a card
    naming a checkpoint the server does not serve got that model's images, stored under the card's name."""
    if not isinstance(served, str) or not served or served == asked:
        return None
    if served.startswith(f"{asked}-") and _SNAPSHOT.fullmatch(served[len(asked):]):
        return None
    aliases = card.params.get("served_as") or []
    if served in ([aliases] if isinstance(aliases, str) else aliases):
        return None
    return (f"{card.name}: asked {card.endpoint} for {asked!r}, but the reply was made by {served!r}: the server"
            f" serves another model than the card names; point the card's endpoint at a server of {asked!r},"
            f" or, if {served!r} is that model under another served name, list it in params.served_as"
            f"{f' of {card.path}' if card.path else ''}")


def _parts(reply) -> Iterator[str | dict[str, Any]]:
    """Every choice's ``message.content`` as strings and dicts: the content string, or each item of a list of
    content parts (a dict, an SDK object as its dict, or a string); any other item (a number, null: JSON the
    API does not define) is left out, and ``_instead`` names it when nothing usable is found."""
    for choice in reply.choices or []:
        yield from _choice_parts(choice)


def _choice_parts(choice) -> Iterator[str | dict[str, Any]]:
    """One choice's ``message.content`` as ``_parts`` gives it."""
    content = choice.message.content if choice.message is not None else None
    for part in content if isinstance(content, list) else [content]:
        if isinstance(part, (str, dict)):
            yield part
        elif hasattr(part, "model_dump"):
            yield part.model_dump(warnings=False)


def _choice_text(choice) -> str:
    """The text of one choice: its content string, or its text parts joined by newlines (one message), stripped;
    vLLM-Omni's ``NO_IMAGE_NOTICE`` (an image stage's, never the model's) counts as no text."""
    texts = [p if isinstance(p, str) else p.get("text", "") for p in _choice_parts(choice)
             if isinstance(p, str) or p.get("type") == "text"]
    text = "\n".join(t for t in texts if isinstance(t, str) and t).strip()
    return "" if text == NO_IMAGE_NOTICE else text


# Where a server with a reasoning parser puts the thoughts it splits from the answer: vLLM's and SGLang's
# ``message.reasoning_content`` (vLLM renamed it ``message.reasoning``, vllm/entrypoints/openai/protocol.py
# ``ChatMessage``); the answer alone is ``message.content``, null when the reply was cut before the thoughts ended.
_REASONING_FIELDS = ("reasoning_content", "reasoning")


def _choice_reasoning(choice, fields: tuple[str, ...] = _REASONING_FIELDS) -> str | None:
    """One choice's thoughts as its server gave them apart from the answer (the first of ``fields`` holding text),
    stripped; None when it gave none."""
    message = _as_dict(choice.message) if choice.message is not None else {}
    return next((v.strip() for v in (message.get(k) for k in fields) if isinstance(v, str) and v.strip()), None)


def _reasoned(reply: Reply, reasoning: str | None) -> Reply:
    """``reply`` carrying ``reasoning`` (``Reply.reasoning``)."""
    reply.reasoning = reasoning
    return reply


def _checked(card: ModelCard, where: str, reply: R) -> R:
    """``reply`` if it is a JSON object that is not an error; an endpoint or a proxy may answer HTTP 200
    with a page of HTML, with JSON that is no object (``[...]``, ``null``, a number), or with
    ``{"error": {...}}``, which the client passes on as a string, as that plain value, or as a reply whose
    fields are all missing.

    Raises:
        RuntimeError: the message names the card and endpoint and quotes the start of what was sent.
    """
    if isinstance(reply, (str, bytes)):
        raise RuntimeError(f"{where}: the reply is not JSON: {error_line(str(reply), card.api_key_env, 100)}")
    # Google's error object in a one-element list, as Gemini's OpenAI-compatible endpoint wraps it (``_message``):
    # the client builds the reply type from the list's object
    wrapped = _error_of(reply[0]) if isinstance(reply, list) and len(reply) == 1 else None
    if not hasattr(reply, "model_dump") and wrapped is None:
        # JSON that is no object ([...], null, 42, true): the client returns it as is
        raise RuntimeError(f"{where}: the reply is not a JSON object (the API answers with one): got "
                           f"{error_line(json.dumps(reply, default=repr), card.api_key_env, 100)}")
    error = wrapped if wrapped is not None else _error_of(reply)
    if error is not None:
        message = error.get("message", error) if isinstance(error, dict) else error
        raise RuntimeError(f"{where}: the endpoint answered HTTP 200 with an error: "
                           f"{error_line(str(message), card.api_key_env)}")
    _check_shape(card, where, reply)
    return reply


def _check_shape(card: ModelCard, where: str, reply) -> None:
    """Refuse a reply whose answer fields are of another kind than the API's: a chat completion's ``choices``
    and an images reply's ``data`` are lists of objects, each image's ``b64_json`` a base64 string (OpenAI's
    API reference). The client builds the reply without checking, so a ``choices`` given as a map or a list of
    strings failed later with a parser's bare exception ("KeyError: 0", "'str' object has no attribute
    'message'"). Absent or null fields are left to the readers, which say what is missing.

    Raises:
        RuntimeError: naming the card, the endpoint and the field, quoting the start of what came."""
    declared = getattr(type(reply), "model_fields", {})  # a reply type's own fields, not a server's extra ones
    for field in ("choices", "data"):
        items = getattr(reply, field, None) if field in declared else None
        if items is not None and not (isinstance(items, list) and all(hasattr(i, "model_dump") for i in items)):
            raise RuntimeError(f"{where}: the reply's '{field}' is not a list of objects, as the API answers; got "
                               f"{_shown(card, reply)}")
    for item in (getattr(reply, "data", None) if "data" in declared else None) or []:
        data = getattr(item, "b64_json", None)
        if data is not None and not isinstance(data, str):
            raise RuntimeError(f"{where}: the reply's 'b64_json' is not a base64 string: "
                               f"{error_line(repr(data), card.api_key_env, 60)}")


def _error_of(value) -> object:
    """The ``error`` field of a reply object (a field the reply type does not declare: ``model_extra``) or of a
    plain dict; None when it has none."""
    if isinstance(value, dict):
        return value.get("error")
    return (getattr(value, "model_extra", None) or {}).get("error")


def _reply_text(card: ModelCard, reply) -> str:
    """The answer's text: that of the first choice holding text (``_choice_text``), in the reply's order.
    vLLM-Omni answers a multi-stage model with one choice per output stage, in stage order, each indexed from 0
    (serving_chat.py ``chat_completion_full_generator``), so a text stage's answer may come with an image stage's
    choice (an image, or ``NO_IMAGE_NOTICE``); choices are never joined: a second text choice is another answer
    (``n``, which this adapter never asks above 1), not the rest of this one.

    That choice's ``finish_reason`` (OpenAI's chat completion object: ``stop``, a natural stop point or a stop
    sequence; ``length``, the maximum number of tokens given in the request was reached; ``content_filter``,
    content was omitted by the provider's content filters; ``tool_calls``/``function_call``, which this adapter
    never asks for) is carried: ``length`` (or another server's name for it, ``CUT_REASONS``) makes the text a
    ``CutReply`` (``serve-openai`` in front of this card then answers ``length`` too); a name known to mean a
    finished answer (``WHOLE_REASONS``), or none, a plain ``str``; any other (``finish_kind``) an error (below).
    Thoughts a reasoning parser gave apart (``_REASONING_FIELDS``) come as the reply's ``reasoning``, never as its
    text; a choice with thoughts and no text cut at the limit is ``CutReply("")`` with its ``reasoning``: the model was
    cut while still thinking (``reasoning.cut_while_reasoning``), which the judge and the protocols treat as they
    treat a reply cut inside its ``<think>`` block.

    Raises RuntimeError naming the card and endpoint when the reply has no choice or no text (an empty answer
    is the endpoint failing, not the model answering, and must not be scored as one), quoting what came instead
    (``_instead``): a refusal, an image, or vLLM-Omni's notice of an image run that made no image
    (``NO_IMAGE_NOTICE``), which is the server's text, never the model's; and when the text's choice ended for a
    reason not known to mean a finished or cut answer (what is left may not be the model's whole answer either):
    the message says why for a name in ``UNFINISHED_REASONS`` and quotes the reason."""
    where = f"{card.name} at {card.endpoint}"
    if not reply.choices:
        raise RuntimeError(f"{where}: the endpoint answered no choices; got {_shown(card, reply)}")
    answered = next(((c, t) for c, t in ((c, _choice_text(c)) for c in reply.choices) if t), None)
    if answered is None:
        thought = next((c for c in reply.choices if _choice_reasoning(c) and finish_kind(c.finish_reason) == "cut"),
                       None)
        if thought is not None:  # cut at its token limit while thinking: no answer yet (``cut_while_reasoning``)
            return _reasoned(CutReply(""), _choice_reasoning(thought))
        reasons = sorted({str(c.finish_reason) for c in reply.choices})
        thoughts = next((f" its reasoning apart (message.{k}) and no answer after it;" for c in reply.choices
                         for k in _REASONING_FIELDS if _choice_reasoning(c, (k,))), "")
        raise RuntimeError(f"{where}: the endpoint answered no text (finish reason: {', '.join(reasons)});"
                           f"{thoughts} the reply holds {_instead(card, reply)}")
    choice, text = answered
    kind = finish_kind(choice.finish_reason)
    if kind == "whole":
        return _reasoned(Reply(text), _choice_reasoning(choice)) if _choice_reasoning(choice) else text
    if kind == "cut":
        return _reasoned(CutReply(text), _choice_reasoning(choice))
    why = UNFINISHED_REASONS.get(kind, "the endpoint gave a finish reason that does not say the model finished "
                                       "its answer")
    reason = error_line(str(choice.finish_reason), card.api_key_env, 60)
    raise RuntimeError(f"{where}: {why} (finish reason: {reason}), so the text is not the model's whole reply; got "
                       f"{error_line(repr(text), card.api_key_env, 100)}")


def finish_kind(reason) -> str:
    """What a chat choice's ``finish_reason`` says of its text: ``"whole"`` (``WHOLE_REASONS``, or None: the model
    finished its answer), ``"cut"`` (``CUT_REASONS``: cut at a token limit), a key of ``UNFINISHED_REASONS`` (a
    known name for an answer stopped early), or ``"unknown"`` (any other name, or a value that is no string: not
    known to mean a finished answer). Names are compared in lower case; never raises."""
    if reason is None:
        return "whole"
    name = reason.lower() if isinstance(reason, str) else None
    if name in WHOLE_REASONS:
        return "whole"
    if name in CUT_REASONS:
        return "cut"
    return name if name in UNFINISHED_REASONS else "unknown"


def _reply_image(card: ModelCard, reply) -> Image.Image:
    """The first image data URL in the reply (vLLM-Omni puts it in ``message.content``: a list of
    ``image_url`` parts, serving_chat.py ``_create_diffusion_chat_completion`` and ``_create_image_choice``).

    Raises:
        RuntimeError: no such image; the message names the card and endpoint and says what came instead
            (``_instead``): text (a refusal, or vLLM-Omni's ``NO_IMAGE_NOTICE``), an image URL that is not
            inline, or an image elsewhere in the message (e.g. ``message.images``), which is not read.
    """
    for part in _parts(reply):
        url = part.get("image_url") if isinstance(part, dict) else part  # the URL's object, or the URL itself
        if isinstance(url, dict):
            url = url.get("url", "")
        if isinstance(url, str) and url.startswith("data:image/"):
            return _decoded(card, url)
    raise RuntimeError(f"{card.name} at {card.endpoint}: the endpoint answered without an image (expected a "
                       f"data:image/... URL in choices[].message.content); the reply holds {_instead(card, reply)}")


def _instead(card: ModelCard, reply) -> str:
    """What a chat reply holds in place of the text or image asked for, for an error message: each choice's
    refusal, text, images (inline, by URL, or in a part or field this adapter does not read, named by
    where they are), else the start of the reply (``_shown``). Quoted text is one short line, key taken out."""
    found: list[str] = []
    for i, choice in enumerate(reply.choices or []):
        message = _as_dict(choice.message)
        content = message.get("content")
        if message.get("refusal"):
            found.append(f"a refusal: {error_line(str(message['refusal']), card.api_key_env, 160)!r}")
        parts = content if isinstance(content, list) else [] if content is None else [content]
        for j, part in enumerate(parts):
            at = f"choices[{i}].message.content" + (f"[{j}]" if isinstance(content, list) else "")
            if isinstance(part, str) or isinstance(part, dict) or hasattr(part, "model_dump"):
                found.append(_part_shown(card, part if isinstance(part, str) else _as_dict(part), at))
            else:
                found.append(f"{error_line(repr(part), card.api_key_env, 60)} at {at}, which is not a content part")
        for key, value in message.items():
            if key not in ("content", "refusal", "role") and value not in (None, [], {}, "") and \
                    _holds_image(value):
                found.append(f"an image in choices[{i}].message.{key}, which is not read (vLLM-Omni answers "
                             f"with image_url parts in message.content)")
    said = "; ".join(dict.fromkeys(f for f in found if f))
    return shortened(said, 400) if said else f"nothing else: {_shown(card, reply)}"


def _part_shown(card: ModelCard, part: Any, at: str) -> str:
    """One content part (a string, or a part's dict) as ``_instead`` names it."""
    if isinstance(part, str):
        if part.startswith("data:image/"):
            return f"an image at {at}"
        return f"text at {at}: {error_line(part, card.api_key_env, 160)!r}" if part.strip() else ""
    kind = part.get("type")
    if kind == "text":
        text = str(part.get("text") or "")
        return f"text at {at}: {error_line(text, card.api_key_env, 160)!r}" if text.strip() else ""
    url = part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if kind == "image_url" and isinstance(url, str) and not url.startswith("data:"):
        return (f"an image_url at {at} that is not inline ({error_line(url, card.api_key_env, 80)!r}): only "
                f"data:image/... URLs are read, nothing is downloaded")
    if kind == "image_url" and isinstance(url, str) and url.startswith("data:image/"):
        return f"an image at {at}"
    if _holds_image(part):
        return f"an image in a content part of type {kind!r} at {at}, which is not read (expected type 'image_url')"
    return f"a content part of type {kind!r} at {at}"


def _holds_image(value: Any) -> bool:
    """Whether ``value`` (a message field or part, any JSON) holds an inline image: a ``data:image/`` URL or a
    long base64 PNG/JPEG/WebP/GIF (``iVBOR``, ``/9j/``, ``UklGR``, ``R0lGOD``)."""
    if isinstance(value, str):
        return value.startswith("data:image/") or (len(value) > 64 and value.startswith(
            ("iVBOR", "/9j/", "UklGR", "R0lGOD")))
    if isinstance(value, dict):
        return any(_holds_image(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_image(v) for v in value)
    return False


def _as_dict(value: Any) -> dict[str, Any]:
    """A message or content part as a dict: an SDK model (its extra fields included), a dict, or an object."""
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump(warnings=False)
    return dict(vars(value)) if hasattr(value, "__dict__") else {}


def _decoded(card: ModelCard, data: str) -> Image.Image:
    """The endpoint's base64 image (or data URL) through the checked opener, at least ``MIN_IMAGE_SIDE`` px
    a side (``generated_image``); raises ImageError naming the card."""
    image = shielded(lambda: image_from_base64(data), lambda exc: ImageError(f"{card.name}: the endpoint's image: {exc}"))
    return generated_image(card.name, image)


def _shown(card: ModelCard, reply) -> str:
    """The start of a reply, quoted in an error so the operator sees what the endpoint sent instead (a key
    quoted back taken out)."""
    data = reply.model_dump(exclude_none=True, warnings=False) if hasattr(reply, "model_dump") else reply
    return shortened(without_key(repr(data), card.api_key_env), 301)


def _retryable(exc: Exception) -> bool:
    """A passing failure that cannot have been applied, so another attempt never runs (or bills) the same work
    twice: a connection never made, or an HTTP error ``wire.may_retry`` allows (408/409/429/503, or the server's
    ``x-should-retry``); not a 500/502/504, a connection dropped after the request went out, or a certificate
    that failed its check (it fails again). The openai client itself retries every 5xx and every dropped
    connection; RFC 9110 section 9.2.2 asks no automatic retry of a POST that may have been applied."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return may_retry(exc.status_code, exc.response.headers)
    return (isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError)
            and never_sent(exc) and certificate_problem(exc) is None)


def _translated(card: ModelCard, exc: Exception) -> BaseException:
    """The client's exception as a message that names the card and endpoint (never the key); the caller
    raises it ``detached``. A timeout arrives as ``within_deadline``'s ``TimeoutError`` and passes unchanged."""
    import openai

    where = f"{card.name} at {card.endpoint}"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__  # the transport's error, e.g. RemoteProtocolError, TooManyRedirects
        detail = error_line(f"{type(cause).__name__}: {cause}" if cause else str(exc), card.api_key_env, 150)
        problem = certificate_problem(exc)  # "<name> at <endpoint> is not answering" reads whole without the address
        return ModelUnavailable(f"{where}: {problem}" if problem else f"{where} is not answering ({detail})")
    if isinstance(exc, openai.APIStatusError):
        message = _message(exc)
        kind = FieldsGivenTwice if exc.status_code == 400 and GIVEN_TWICE in message else RuntimeError
        return kind(f"{where}: HTTP {exc.status_code}: {error_line(message, card.api_key_env)}")
    if isinstance(exc, ReplyTooLarge):
        return RuntimeError(f"{where}: {exc}")
    if isinstance(exc, (ValueError, openai.APIError)):  # reading a 200 reply: not JSON, not UTF-8, not the API's shape
        error = exc if isinstance(exc, ValueError) else ValueError(str(exc))
        return RuntimeError(f"{where}: {unreadable_reply(error, card.api_key_env)}")
    return exc


def _message(exc) -> str:
    """The error text of an OpenAI-shaped body (``{"error": {"message"}}``, also wrapped in a one-element list, as
    Gemini's OpenAI-compatible endpoint answers), of a FastAPI one, which vLLM-Omni's image endpoints answer with
    (``{"detail": "..."}`` or ``{"detail": [{"loc", "msg"}]}``), or the text of an HTML or plain page (a proxy's
    502; ``error_line`` shortens it)."""
    if isinstance(exc.body, str) and exc.body.strip():  # a proxy's HTML or plain-text error page
        return exc.body
    body = exc.body
    if isinstance(body, list) and len(body) == 1:  # Google's error object as its OpenAI-compatible endpoint wraps it
        body = body[0]
    body = body if isinstance(body, dict) else {}
    if "detail" in body and "error" not in body:
        detail = body["detail"]
        if isinstance(detail, list):
            return "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg', d)}" if isinstance(d, dict)
                             else str(d) for d in detail)
        return str(detail)
    error = body.get("error", body)
    return error.get("message", str(exc)) if isinstance(error, dict) else str(exc)


def load(card: ModelCard, device: str) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(card)
