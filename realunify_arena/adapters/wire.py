"""On the wire: PNG bytes and base64 for the HTTP families and the OpenAI-compatible server, error
text with the API key taken out, exceptions that leave an adapter without the client's own (``detached``),
a floor on a generated image's size (``generated_image``), and one deadline per remote request
(``within_deadline``).

The deadline is a true total (``http_deadline``): a remote family's HTTP client is built with
``http_deadline.deadline_client_args``, and ``within_deadline`` holds a ``total_deadline`` around the request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import json
import os
import re
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from PIL import Image

from realunify_arena import stopping
from realunify_arena.benchmark.images import ImageError, open_checked, png_bytes
from realunify_arena.http_deadline import total_deadline
from realunify_arena.redaction import redact, shortened

T = TypeVar("T")
MIN_IMAGE_SIDE = 16  # pixels; see ``generated_image``


def png_base64(image: Image.Image) -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")


def png_data_url(image: Image.Image) -> str:
    return f"data:image/png;base64,{png_base64(image)}"


def image_from_base64(data: str) -> Image.Image:
    """Decode base64 (optionally a ``data:`` URL) through the checked opener; raises ImageError, also for
    text that is not base64 (a truncated one whose length no longer fits)."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"<image bytes>: not valid base64 ({exc}; {len(data)} characters)") from None
    return open_checked(raw)


def generated_image(name: str, image: Image.Image) -> Image.Image:
    """``image`` if each side is at least ``MIN_IMAGE_SIDE`` (16) pixels: a remote model's picture for the
    model called ``name``.

    16 px is the smallest output of the pipelines these endpoints serve: a latent-diffusion model decodes
    8x-downsampled latents in 2x2 patches (SD3, FLUX, Qwen-Image, OmniGen2), so its least step is 16 px, and
    the APIs' own smallest sizes are far above it (OpenAI images: 256x256; Gemini image models: 1024 px).
    An image under one 16-px patch of a judge's vision encoder also shows the judge nothing, so a 1x1 or
    8x8 reply is an endpoint failing (a placeholder, an error in pixels), never a generation to score.

    Raises:
        ImageError: a side is under the floor; the message names ``name``, the size and the floor.
    """
    width, height = image.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageError(f"{name}: the endpoint's image is {width}x{height} pixels, under the {MIN_IMAGE_SIDE} px "
                         f"a side a generated image must have; refused as a failed run")
    return image


def detached(error: BaseException) -> BaseException:
    """``error`` made safe to leave an adapter: no ``__cause__`` or ``__context__`` (the client's exceptions
    hold the request's headers, key included, and the reply's body, which may quote it; a traceback prints
    them), its text arguments and notes ``redact``-ed. Raise the result outside any ``except`` block
    (``shielded`` does), or Python sets ``__context__`` again."""
    error.__cause__ = error.__context__ = None
    error.__suppress_context__ = False
    error.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in error.args)
    if getattr(error, "__notes__", None):
        error.__notes__ = [redact(str(note)) for note in error.__notes__]
    return error


def shielded(call: Callable[[], T], translate: Callable[[Exception], BaseException]) -> T:
    """``call()``; an exception it raises is turned into ``translate(exc)`` (a message naming the model, or
    ``exc`` itself) and raised ``detached``, with no chain back to what the client raised."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - every error leaves through translate and detached
        error = detached(translate(exc))
    raise error


def without_key(text: str, key_env: str | None) -> str:
    """An endpoint, or a proxy in front of it, may quote the key back; error text is shown to users."""
    key = os.environ.get(key_env or "", "")
    return text.replace(key, "***") if key else text


def error_line(text: str, key_env: str | None, limit: int = 300) -> str:
    """An endpoint's error text as one short line for a message: the key taken out first (so a cut never
    leaves part of it), HTML tags and control characters dropped, whitespace collapsed, at most ``limit``
    characters (``…`` marks a cut)."""
    text = re.sub(r"<[^>]*>", " ", without_key(text, key_env))
    return shortened(" ".join("".join(c if c.isprintable() else " " for c in text).split()), limit)


def unreadable_reply(exc: ValueError, key_env: str | None) -> str:
    """What an HTTP client's ``ValueError`` while reading a 200 reply means, for a message: the body is not
    JSON or not UTF-8 (``json.JSONDecodeError``, ``UnicodeDecodeError``), or is JSON of another shape (a
    validation error, which quotes the values: ``error_line`` takes the key out)."""
    kind = "is not valid JSON" if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) else \
        "does not have the API's shape"
    return f"the reply {kind} ({type(exc).__name__}: {error_line(str(exc), key_env)})"


def retry_after_s(headers) -> float | None:
    """The wait an HTTP reply's headers ask for before a retry, in seconds (>= 0): OpenAI's ``retry-after-ms``,
    else ``Retry-After`` as seconds or as an HTTP date; None when neither is there or readable."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


# The statuses that say a request was refused before anything was done with it: 408 (the server gave up
# waiting for the request), 409 (it conflicts with the server's state), 429 (rate limited), 503 (the server
# cannot take requests now: overloaded, starting, in maintenance; RFC 9110 section 15.6.4). A generation is a POST,
# not idempotent, and RFC 9110 section 9.2.2 says a client SHOULD NOT retry one automatically unless it knows the
# request was never applied: a 500 is the model's own failure after the work began (vLLM-Omni answers 500 for any
# exception of its pipeline or chat path: api_server.py ``generate_images``, ``create_chat_completion``), which
# the same seed and settings repeat, and a 502 or 504 comes from a proxy whose upstream may still be generating;
# retrying those ran (and, on a paid API, billed) the same generation up to three times.
UNAPPLIED_STATUSES = (408, 409, 429, 503)


def may_retry(status: int, headers, statuses: Collection[int] = UNAPPLIED_STATUSES) -> bool:
    """Whether an HTTP error reply with ``status`` and ``headers`` (a mapping, or None) may be sent again: the
    server's own word when it gives one (``x-should-retry: true`` / ``false``, which the openai client obeys: its
    ``_base_client._should_retry``), else only a status in ``statuses`` (default ``UNAPPLIED_STATUSES``; a
    family whose client retries others passes its own, as ``gemini`` does google-genai's)."""
    said = headers.get("x-should-retry") if headers is not None else None
    if said in ("true", "false"):
        return said == "true"
    return status in statuses


def never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` (or the transport error behind it) is a connection that was never made (``httpx.ConnectError``:
    refused, no route, a name that does not resolve), so the request cannot have reached the server. A connection
    that dropped after the request went out (``RemoteProtocolError``, ``ReadError``) may have been applied: not it."""
    import httpx

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, httpx.ConnectError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


# google.rpc.RetryInfo's retryDelay as Google's APIs write it in JSON: a protobuf Duration, seconds with up to nine
# fractional digits and an "s" ("37s", "1.500s"; google/protobuf/duration.proto, "JSON Mapping")
_DURATION = re.compile(r"(\d+(?:\.\d{1,9})?)s")


def retry_info_s(body: Any) -> float | None:
    """The ``retryDelay`` in seconds of a ``google.rpc.RetryInfo`` among the ``details`` of Google's error object
    (``{"error": {"details": [...]}}``, or that object in a one-element list, as Google's OpenAI-compatible
    endpoint wraps it, or the inner error object itself, which the openai client hands on as ``exc.body`` when the
    body is an object: ``OpenAI._make_status_error``, ``body.get("error", body)``), which is how the Gemini API
    gives a 429's wait (google/rpc/error_details.proto; it sends no ``Retry-After``); None when ``body`` (any
    parsed JSON) holds none that reads."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = _DURATION.fullmatch(str(detail.get("retryDelay", "")).strip())
            if delay:
                return float(delay.group(1))
    return None


def server_wait(exc: Exception) -> float | None:
    """The wait in seconds an HTTP error asks for before a retry: ``retry_after_s`` of the reply's headers
    (``exc.response``: the openai and google-genai errors), else ``retry_info_s`` of its parsed body (the openai
    client's ``exc.body``, google-genai's ``exc.details``); None for any other error or when neither says."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    waited = retry_after_s(headers) if headers is not None else None
    if waited is not None:
        return waited
    body = getattr(exc, "body", None)
    return retry_info_s(body if body is not None else getattr(exc, "details", None))


def within_deadline(attempt: Callable[[float], T], *, timeout_s: float, retries: int, where: str,
                    is_timeout: Callable[[Exception], bool], is_retryable: Callable[[Exception], bool],
                    retry_after: Callable[[Exception], float | None] = lambda exc: None) -> T:
    """``attempt(seconds_left)`` until it returns, all attempts within one deadline of ``timeout_s`` seconds.

    A remote call gets one deadline for the whole request, retries included: each attempt is given only
    the time left (the client's per-request timeout), a failure ``is_retryable`` says is passing and never
    applied (a connection never made, HTTP 408/409/429/503: ``may_retry``, ``never_sent``) is tried again up to ``retries`` more times after a short
    back-off (0.5 s, doubling, at most 4 s), or after the wait the server asked for (``retry_after(exc)``
    seconds, from its ``Retry-After``) when longer, while time is left; a failure whose wait would end past
    the deadline is raised at once, and anything else is raised as it is.

    Inside a run (the thread's active ``stopping.RunControl``: the app's Explore and Arena runs, a
    ``serve-openai`` request) the request stops as a local model's loop does: when the run is stopped (Stop,
    ``serve-openai``'s client disconnecting, the app shutting down) its sockets are shut at once, and the
    deadline is at most the run's time left (``--run-time-limit``); either way ``RunStopped`` says why, and the
    endpoint sees its connection closed. Before, the request went on to the card's own deadline (300 s by
    default) after its visitor had pressed Stop or closed the connection.

    Raises:
        TimeoutError: the deadline passed; the message names ``where``, the measured seconds, the
            attempts made and the deadline, e.g. ``"x at http://h/v1: no answer after 10.0 s (1 attempt;
            deadline 10 s)"``.
        stopping.RunStopped: the run was stopped, or reached its time limit, before the answer came.
    """
    start = time.monotonic()
    tries = 0
    control = stopping.current()
    run_left = control.seconds_left() if control is not None else None
    limit = timeout_s if run_left is None else max(0.0, min(timeout_s, run_left))
    with total_deadline(limit) as deadline, (control.on_stop(deadline.expire) if control is not None
                                             else contextlib.nullcontext()):
        while True:
            _stopped(control)
            left = limit - (time.monotonic() - start)
            if left <= 0:
                break
            tries += 1
            try:
                return attempt(left)
            except Exception as exc:
                _stopped(control, late=limit < timeout_s and (deadline.expired or is_timeout(exc)))
                if deadline.expired or is_timeout(exc):  # a socket shut at the deadline fails in any way
                    raise _late(where, start, tries, timeout_s) from exc
                delay = max(min(0.5 * 2 ** (tries - 1), 4.0), retry_after(exc) or 0.0)
                if tries > retries or not is_retryable(exc) or time.monotonic() - start + delay >= limit:
                    raise
                time.sleep(delay)
    _stopped(control, late=limit < timeout_s)
    raise _late(where, start, tries, timeout_s)


def _stopped(control: stopping.RunControl | None, *, late: bool = False) -> None:
    """Raise ``RunStopped`` when ``control``'s run was stopped or, ``late``, its time left bounded the deadline
    that passed; nothing for None."""
    if control is None:
        return
    control.check()
    if late:
        raise stopping.RunStopped(control.late_message())


def _late(where: str, start: float, tries: int, timeout_s: float) -> TimeoutError:
    elapsed = time.monotonic() - start
    return TimeoutError(redact(f"{where}: no answer after {elapsed:.1f} s ({tries} attempt{'s' if tries != 1 else ''}; "
                               f"deadline {timeout_s:g} s)"))
