"""Your own instances: a prompt, or an image with a question, typed into Explore or sent to the API.

Built and checked here, before anything runs: text length and encoding, the image like any image file
(``open_checked``: the pixel limit before decoding), four options, an expected answer that is a letter or
absent. Every refusal is a ``ValueError`` whose message starts with "Your own" and says what to change.

Where they live: a one-off instance is not part of any benchmark. Its runs are stored under the reserved
dataset name ``CUSTOM_DATASET`` (so a run has an id, can be judged by hand, downloaded and reused: the
instance's index is a content hash, so asking again finds the run), and ``is_benchmark_dataset`` keeps
them out of the benchmark table and the official export, whose files need the instance itself. A GEU
instance asked without an expected answer is read (its letter parsed) but never scored.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from realunify_arena.benchmark.images import ImageError, check_header, open_checked, png_bytes
from realunify_arena.benchmark.schema import CATEGORIES, LETTERS, TRACKS, GEUInstance, UEGInstance
from realunify_arena.benchmark.validation import repeated
from realunify_arena.shown import brief

CUSTOM_DATASET = "custom"  # the dataset name one-off instances' runs are stored under
# ``Instance.extra`` key of a visitor's own instance: the category they chose, or None (they chose "all"; its
# task_type is then only the track's first, whose step prompt a stepwise run needs, not a category they picked)
OWN_CATEGORY = "own_category"
MAX_TEXT_CHARS = 4000  # per field; the longest bundled prompt or question is about 320


def is_benchmark_dataset(dataset: str) -> bool:
    """False for the runs of one-off instances: they enter no table and no official export."""
    return dataset != CUSTOM_DATASET


def custom_instance(track: str, category: str, prompt: str | None, image: str | Path | Image.Image | None,
                    question: str | None, options_text: str | None, answer: str | None):
    """An instance from the user's own input; its index is a content hash, so a repeat reuses its runs.

    Args:
        track: "UEG" (uses ``prompt``) or "GEU" (uses ``image``, ``question``, ``options_text``, ``answer``).
        category: a task type of that track, else the track's first one.
        image: a file path (what the UI and the API send: read header first), a ``RefusedUpload`` (a GEU
            instance is refused with its reason) or a PIL image.
        options_text: exactly four options, one per line (blank lines ignored).
        answer: the expected letter A-D, or empty: the run is then not scored.

    Raises:
        ValueError: a message starting "Your own" naming the field and what was expected.
    """
    if track not in TRACKS:
        raise ValueError(f"Your own instance: track {brief(track)}: expected UEG or GEU.")
    known = CATEGORIES.get(category)
    chosen = category if known is not None and known.track == track else None
    task_type = chosen or next(t for t, c in CATEGORIES.items() if c.track == track)
    extra = {OWN_CATEGORY: chosen}
    if track == "UEG":
        prompt = _checked_text("UEG prompt", prompt)
        if _shows_nothing(prompt):
            raise ValueError("Your own UEG instance needs a text-to-image prompt.")
        prompt = prompt.strip()  # stored stripped, so its id comes from the stripped text too
        return UEGInstance(index=_content_index(prompt.encode()), task_type=task_type, prompt=prompt,
                           question_list=[], extra=extra)
    if isinstance(image, RefusedUpload):
        raise ValueError(image.reason)
    question = _checked_text("GEU question", question)
    options = [line.strip() for line in _checked_text("GEU options", options_text).splitlines()
               if not _shows_nothing(line)]
    if image is None or _shows_nothing(question) or len(options) != 4:
        raise ValueError("Your own GEU instance needs an image, a question and exactly 4 options "
                         f"(one per line; got {len(options)}).")
    twice = repeated(options)
    if twice:
        raise ValueError(f"Your own GEU instance's options {LETTERS[twice[0]]} and {LETTERS[twice[1]]} are the same "
                         "text, so the expected letter would be ambiguous; give 4 different options.")
    if answer and answer not in LETTERS:
        raise ValueError(f"Your own GEU instance's expected answer must be one of {', '.join(LETTERS)} "
                         "or empty.")
    question = question.strip()
    data = png_bytes(checked_image(image))
    # The expected answer is part of what was asked: the same question with another (or no) answer is
    # another instance, whose stored judgment must not be the first one's.
    content = b"\n".join([data, question.encode(), "\n".join(options).encode(), (answer or "").encode()])
    return GEUInstance(index=_content_index(content),
                       task_type=task_type, question=question, option=options, answer=answer or "",
                       image_bytes=data, extra=extra)


def is_own(instance) -> bool:
    """Whether ``instance`` is a visitor's own (made by ``custom_instance``), not a data source's."""
    return OWN_CATEGORY in instance.extra


def category_label(instance) -> str:
    """How an instance's category is shown: "World Knowledge (WK)" for a data source's instance; for a
    visitor's own (``custom_instance``) "own prompt" (UEG) or "own question" (GEU), followed by the category
    they chose, e.g. "own question · Mental Tracking (MT)", or by nothing when they chose none: never a
    category they did not pick."""
    named = f"{instance.category_name} ({instance.category})"
    if not is_own(instance):
        return named
    own = "own question" if instance.track == "GEU" else "own prompt"
    return f"{own} · {named}" if instance.extra[OWN_CATEGORY] else own


def checked_image(image: str | Path | Image.Image, shown_name: str | None = None) -> Image.Image:
    """The user's image through ``open_checked`` (RGB, upright, on white; the pixel limit before decoding), and a
    clear message for a file that is not an image or is cut short (naming the file by ``shown_name``, the
    name it had on the user's machine, or else by its own name, never by a server path).

    Raises:
        ValueError: "Your own GEU image cannot be used: <file>: <why>".
    """
    try:  # upright, on white, 8-bit RGB: the one path every image takes (a phone photo's rotation kept)
        return open_checked(image)
    except ImageError as e:
        raise ValueError(_own_refusal(e, image, shown_name)) from None


def _own_refusal(error: ImageError, image: str | Path | Image.Image, shown_name: str | None) -> str:
    """"Your own GEU image cannot be used: <file>: <why>", the file named as on the uploader's machine."""
    message = str(error)
    if isinstance(image, (str, Path)):
        message = message.replace(str(image), shown_name or Path(image).name)
    return f"Your own GEU image cannot be used: {message}"


class RefusedUpload(str):
    """The path of an uploaded image file ``checked_image`` refused, with its message (``reason``: "Your own GEU
    image cannot be used: <file>: <why>", the file named as on the uploader's machine). An upload handler
    whose own decoding failed passes it on in place of the path (``refused_upload``), and ``custom_instance``
    refuses a GEU instance with its reason; an instance that uses no upload is not refused for it."""

    reason: str

    def __new__(cls, path: str, reason: str):
        upload = super().__new__(cls, path)
        upload.reason = reason
        return upload


def refused_upload(path: str, shown_name: str | None = None) -> RefusedUpload | None:
    """``path`` as a ``RefusedUpload`` if ``checked_image`` refuses the file (its message naming the file
    ``shown_name``, else its own name), or None if the file opens (a caller's failure was something else)."""
    try:
        checked_image(path, shown_name=shown_name)
    except ValueError as e:
        return RefusedUpload(path, str(e))
    return None


def refused_unopened(path: str, shown_name: str | None = None) -> RefusedUpload | None:
    """``path`` as a ``RefusedUpload`` if its header alone is refused (``images.check_header``: a format not read
    here, the pixel limit, the decode budget), else None; nothing is decoded. For an upload before Gradio's own
    preprocessing opens it with every Pillow plugin (some decode the whole picture while opening: an ICO)."""
    try:
        check_header(path)
    except ImageError as e:
        return RefusedUpload(path, _own_refusal(e, path, shown_name))
    return None


def upload_refusal(image: str | Path | Image.Image | None) -> str | None:
    """Why Run would refuse ``image`` as your own GEU image, in the words it would (``custom_instance``: a
    ``RefusedUpload``'s reason, else ``checked_image``'s message), or None for no image or one it takes: what
    the page says as soon as the file is uploaded, not first at Run."""
    if image is None:
        return None
    if isinstance(image, RefusedUpload):
        return image.reason
    try:
        checked_image(image)
    except ValueError as e:
        return str(e)
    return None


def refused_inline() -> RefusedUpload:
    """An image sent inline (a ``data:`` URL, which the page never sends: it uploads files) in place of an upload,
    refused: Gradio's preprocessing would decode it with every Pillow plugin before any check of the app's."""
    return RefusedUpload("inline image", "Your own GEU image cannot be used: an image sent inline (a data: URL) "
                                         "is not read; upload it as a file (/gradio_api/upload)")


# what a file value naming no upload is refused with, here and by Gradio's own check (``ui.calls``): never the path
NOT_UPLOADED = ("names a file on the server that was not uploaded here, which is not read; upload the file "
                "(/gradio_api/upload) and send the path that returns")
# what a file value naming an http(s) URL with Gradio's file marker is refused with (``ui.calls``): Gradio would fetch
# it for the visitor (``processing_utils.async_ssrf_protected_download``); the page never sends one (it uploads)
NOT_FETCHED = ("names a URL, which is not fetched: this server reads only files uploaded here; upload the file "
               "(/gradio_api/upload) and send the path that returns")


def uploaded_in(path: str, folders: Iterable[str | os.PathLike]) -> bool:
    """Whether ``path`` names a file in one of ``folders`` as the operating system will open it: both resolved
    with ``os.path.realpath`` (every symbolic link and ``..`` followed). A check on the path as written
    (``os.path.abspath`` drops ``dir/..`` as text) took ``<upload folder>/link/../secret.png``, where ``link`` is a
    symbolic link to a folder outside, for a file inside (verify25b). A path that cannot be resolved (a NUL byte)
    is in none."""
    try:
        real = os.path.realpath(path)
        return any(os.path.commonpath([real, os.path.realpath(folder)]) == os.path.realpath(folder)
                   for folder in folders)
    except (OSError, ValueError):
        return False


def refused_unuploaded() -> RefusedUpload:
    """A file path sent in place of an upload (``{"path": "/etc/passwd"}``, a server file outside Gradio's upload
    folder), refused before anything opens it: read, a server image was shown back and run, and another file's
    refusal said whether it exists. The same message for every such path, so it tells nothing about it."""
    return RefusedUpload("not uploaded", f"Your own GEU image cannot be used: the image {NOT_UPLOADED}")


def _checked_text(label: str, text: str | None) -> str:
    """``text`` if it is short enough and valid Unicode (a browser can send lone surrogates, which
    every later UTF-8 write would fail on)."""
    text = text or ""
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"Your own {label} is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,} "
                         "characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"Your own {label} is not valid Unicode text: character {e.start + 1} is a lone "
                         "surrogate.") from None
    return text


def _shows_nothing(text: str) -> bool:
    """True for text a reader sees as empty: only whitespace, control and format characters (zero-width
    spaces and joiners, direction marks, a BOM, a soft hyphen), which ``str.strip`` keeps."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def _content_index(data: bytes) -> int:
    return int(hashlib.sha256(data).hexdigest()[:12], 16)
