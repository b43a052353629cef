"""Google Gemini through google-genai: gemini-2.5-pro understands, gemini-2.5-flash-image ("Nano Banana")
generates and edits.

No output-token cap is sent: 2.5 Pro thinks before answering and the cap counts thinking tokens, so a
short cap returns an empty answer. ``endpoint`` overrides the API base URL (a proxy or a local stand-in); without
it google-genai reads ``$GOOGLE_GEMINI_BASE_URL``, refused when it carries a password (``url_credentials``).
Card params: ``timeout_s`` (one deadline in seconds for a whole request, retries included; default 300) and
``attempts`` (tries of a request within that deadline, retrying a dropped connection or HTTP
408/429/5xx, after the wait the server asks for: ``Retry-After``, or the ``google.rpc.RetryInfo`` of its 429's
body, ``wire.server_wait``; default 3).
"""

from __future__ import annotations

import json
import os

from PIL import Image

from realunify_arena.adapters.base import Adapter, Capability, CutReply, GenerationOptions, ModelUnavailable
from realunify_arena.adapters.wire import (error_line, generated_image, may_retry, png_bytes, server_wait, shielded,
                                           unreadable_reply, within_deadline)
from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.cards import ModelCard
from realunify_arena.http_deadline import ReplyTooLarge, deadline_client_args
from realunify_arena.redaction import shortened
from realunify_arena.tls import certificate_problem
from realunify_arena.url_credentials import variable_problem

DEFAULT_TIMEOUT_S = 300.0
GEMINI_URL_VARIABLE = "GOOGLE_GEMINI_BASE_URL"  # google-genai's base URL when the card names no endpoint
GENAI_RETRY_STATUSES = (408, 429, 500, 502, 503, 504)  # google-genai's own (_api_client._RETRY_HTTP_STATUS_CODES)
# Gemini's finish reasons (google-genai ``types.FinishReason``; the Gemini API reference's ``FinishReason``) after
# which the text is the model's whole answer: ``STOP``, "natural stop point of the model or provided stop
# sequence", or none given. ``MAX_TOKENS`` leaves a ``CutReply``; every other (``SAFETY``, ``RECITATION``,
# ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, ``LANGUAGE``, ``OTHER`` ...) stopped the answer early: an error.
WHOLE_ANSWER_REASONS = (None, "STOP", "FINISH_REASON_UNSPECIFIED")


class ErrorInAnswer(RuntimeError):
    """An HTTP 200 reply whose body is the API's error object (``{"error": {...}}``) instead of an answer."""


class GeminiAdapter(Adapter):
    def __init__(self, card: ModelCard) -> None:
        from google import genai
        from google.genai import types

        super().__init__(card=card, capabilities=card.capabilities)
        key = os.environ.get(card.api_key_env or "", "")
        if not key:
            raise ModelUnavailable(f"{card.name}: API key variable {card.api_key_env} is unset")
        problem = variable_problem(GEMINI_URL_VARIABLE) if card.endpoint is None else None
        if problem:  # without an endpoint, google-genai takes its base URL from this variable
            raise ModelUnavailable(f"{card.name}: {problem}")
        self.timeout_s = float(card.params.get("timeout_s", DEFAULT_TIMEOUT_S))
        self.attempts = max(1, int(card.params.get("attempts", 3)))
        # The client makes one attempt; ``_call`` retries within one deadline (its own retries would each
        # get the whole time limit again), which its HTTP client keeps as a total however slowly bytes arrive.
        client_args = deadline_client_args()
        client_args["event_hooks"]["response"].append(_error_in_answer)
        http = types.HttpOptions(base_url=card.endpoint, timeout=int(self.timeout_s * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1), client_args=client_args)
        self.client = genai.Client(api_key=key, http_options=http)
        self.types = types

    def _call(self, capability: Capability, parts: list, config) -> object:
        def attempt(left: float) -> object:
            timed = config.model_copy(update={"http_options": self.types.HttpOptions(
                timeout=max(1, int(left * 1000)), retry_options=self.types.HttpRetryOptions(attempts=1))})
            return self.client.models.generate_content(model=self.card.checkpoints[capability.value],
                                                       contents=parts, config=timed)

        return shielded(lambda: within_deadline(attempt, timeout_s=self.timeout_s, retries=self.attempts - 1,
                                                where=self.card.name, is_timeout=lambda e: "Timeout" in type(e).__name__,
                                                is_retryable=_retryable, retry_after=server_wait),
                        lambda exc: _translated(self.card, exc))

    def _image_part(self, image: Image.Image):
        return self.types.Part.from_bytes(data=png_bytes(image), mime_type="image/png")

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        self.require(Capability.UNDERSTAND)
        parts = [self._image_part(im) for im in images] + [self.types.Part.from_text(text=text)]
        config = self.types.GenerateContentConfig(temperature=options.temperature, seed=options.seed)
        reply = self._call(Capability.UNDERSTAND, parts, config)
        text = (reply.text or "").strip()
        if not text:  # an empty answer is the request failing (blocked, cut off), not the model answering
            raise RuntimeError(f"{self.card.name}: the reply holds no text ({_why_empty(reply)})")
        reason = _finish_reason(reply)
        if reason == "MAX_TOKENS":  # the model's own output cap (none is sent): the answer is cut there
            return CutReply(text)
        if reason not in WHOLE_ANSWER_REASONS:
            raise RuntimeError(f"{self.card.name}: the reply stopped before the model finished (finish reason: "
                               f"{reason}), so the text is not its whole answer; got {shortened(repr(text), 100)}")
        return text

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        self.require(Capability.GENERATE)
        return self._picture(Capability.GENERATE, [self.types.Part.from_text(text=text)], options)

    def edit(self, image: Image.Image, text: str, options: GenerationOptions) -> Image.Image:
        self.require(Capability.EDIT)
        return self._picture(Capability.EDIT, [self._image_part(image), self.types.Part.from_text(text=text)], options)

    def _picture(self, capability: Capability, parts: list, options: GenerationOptions) -> Image.Image:
        config = self.types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"], seed=options.seed)
        reply = self._call(capability, parts, config)
        for candidate in reply.candidates or []:
            for part in (candidate.content.parts if candidate.content else None) or []:
                # a thinking image model's interim images come marked ``thought`` before the final one (Gemini
                # API, "Nano Banana": thinking process); only an unmarked part is the answer
                if part.inline_data and part.inline_data.data and not part.thought:
                    data = part.inline_data.data
                    image = shielded(lambda: open_checked(data),
                                     lambda exc: ImageError(f"{self.card.name}: the reply's image: {exc}"))
                    return generated_image(self.card.name, image)
        raise RuntimeError(f"{self.card.name}: the reply holds no image ({_why_empty(reply)}; "
                           f"text: {shortened(repr(reply.text or ''), 200)})")


def _finish_reason(reply) -> str | None:
    """The first candidate's finish reason as its name (``types.FinishReason``: ``STOP``, ``MAX_TOKENS``,
    ``SAFETY`` ...), None when the reply gives none."""
    reason = reply.candidates[0].finish_reason if reply.candidates else None
    return None if reason is None else str(getattr(reason, "value", reason))


def _why_empty(reply) -> str:
    """Why a reply may hold nothing: its first candidate's finish reason, or the prompt's block reason."""
    if reply.candidates:
        return f"finish reason: {reply.candidates[0].finish_reason}"
    feedback = getattr(reply, "prompt_feedback", None)
    blocked = getattr(feedback, "block_reason", None)
    return f"no candidates; prompt blocked: {blocked}" if blocked else "no candidates"


def _error_in_answer(response) -> None:
    """httpx response hook: refuse an HTTP 200 whose body is the API's error object (a proxy in front of the API,
    or the API failing mid-answer), which google-genai reads as a reply of no candidates and so loses the
    message. The body is read here (through ``http_deadline``'s size cap, which runs first); any other body,
    JSON or not, is left to the client.

    Raises:
        ErrorInAnswer: the error's status and message (not yet shortened or redacted: ``_translated`` does), or,
            without them, the error object's JSON, redacted before it is cut (a key across the cut would no longer
            match).
    """
    if response.status_code >= 300:
        return
    if b'"error"' not in response.read():  # the key, unescaped: most answers (images) are not parsed twice
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        return
    error = body.get("error") if isinstance(body, dict) and "candidates" not in body else None
    if error is not None:
        said = error if not isinstance(error, dict) else \
            ": ".join(str(error[k]) for k in ("status", "message") if error.get(k) not in (None, ""))
        said = said or shortened(json.dumps(error), 200)
        raise ErrorInAnswer(f"the endpoint answered HTTP 200 with an error: {said}")


def _retryable(exc: Exception) -> bool:
    """A passing failure worth another attempt, as google-genai itself retries a request
    (``google.genai._api_client._RETRY_HTTP_STATUS_CODES``: HTTP 408/429/500/502/503/504, which Google's Gemini API
    troubleshooting guide also says to retry after a short while) or a connection that failed or dropped; the
    server's ``x-should-retry`` (``wire.may_retry``) overrides the status. Unlike a self-hosted generator's 500
    (``openai_compat._retryable``, RFC 9110 section 9.2.2), Gemini's 500 is the service's passing fault, not
    the model's deterministic one. A certificate that failed its check fails again."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return may_retry(exc.code, headers, GENAI_RETRY_STATUSES)
    return (any(kind in type(exc).__name__ for kind in ("ConnectError", "RemoteProtocolError", "ReadError"))
            and certificate_problem(exc) is None)


def _translated(card: ModelCard, exc: Exception) -> BaseException:
    """The client's exception as a message naming the card and the HTTP status (a key quoted back by the
    server taken out); the caller raises it ``detached``. A timeout arrives as ``within_deadline``'s
    ``TimeoutError`` (measured seconds) and passes unchanged, as does anything not from the client."""
    from google.genai import errors

    where = f"{card.name}: endpoint {card.endpoint or 'Gemini API'}"
    if isinstance(exc, TimeoutError):
        return exc
    if isinstance(exc, errors.APIError):
        status = f"{exc.code} {exc.status}" if exc.status else str(exc.code)
        return RuntimeError(f"{card.name}: HTTP {status}: {error_line(str(exc.message), card.api_key_env)}")
    if isinstance(exc, ReplyTooLarge):
        return RuntimeError(f"{where}: {exc}")
    if isinstance(exc, ErrorInAnswer):
        return RuntimeError(f"{where}: {error_line(str(exc), card.api_key_env)}")
    if isinstance(exc, ValueError):  # the client reading a 200 reply: not JSON, not UTF-8, not Gemini's shape
        return RuntimeError(f"{where}: {unreadable_reply(exc, card.api_key_env)}")
    if "ConnectError" in type(exc).__name__:
        problem = certificate_problem(exc)
        return ModelUnavailable(f"{where}: {problem}" if problem else f"{where} is not answering")
    if any(c.__name__ == "HTTPError" for c in type(exc).__mro__):  # httpx's (or httpx2's) transport errors
        return ModelUnavailable(f"{where}: the connection failed ({type(exc).__name__}: "
                                f"{error_line(str(exc), card.api_key_env, 100)})")
    return exc


def load(card: ModelCard, device: str) -> GeminiAdapter:
    return GeminiAdapter(card)
