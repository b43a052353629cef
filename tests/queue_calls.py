"""Calling a launched app's page events directly, as the page's queue does (``gradio_client`` refuses a private
event): by ``fn_index``, in one browser session, from one address."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
from gradio_sessions import page_config

# a tiny card whose default run would denoise for hours: only Stop (or the time limit) ends it
SLOW_CARD = """family: tiny
description: >-
  Tiny random-weight pair (paper row: none) that denoises for a million steps; for the Stop test.
capabilities: [understand, generate, edit]
dtype: float32
defaults: {width: 32, height: 32, steps: 1000000, guidance: 3.0, max_new_tokens: 8}
params: {base: pair, seed: 0, limits: {steps: 1000000}}
"""


def queue_call(url: str, fn_index: int, data: list, session: str | None = None, ip: str | None = None) -> dict:
    """Call event ``fn_index`` as the page's queue does, in browser session ``session`` from address ``ip``
    (``x-forwarded-for``; default: new ones); returns the completed message."""
    with Page(url, session, ip) as page:
        return page.wait(page.join(fn_index, data))


class Page:
    """One browser session's queue: events joined one after another (``join``), their messages read from the
    session's one stream, as a page does (a second stream of the same session ends the first)."""

    def __init__(self, url: str, session: str | None = None, ip: str | None = None) -> None:
        self.session = session or uuid.uuid4().hex[:12]
        self.http = httpx.Client(base_url=url, timeout=300, headers={"x-forwarded-for": ip} if ip else {})
        self.completed: dict[str, dict] = {}
        self.generating: dict[str, threading.Event] = {}
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    def join(self, fn_index: int, data: list) -> str:
        """Queue event ``fn_index`` with ``data``; returns its event id. The body is written by Python's ``json``,
        which writes NaN and the infinities as ``NaN`` and ``Infinity`` (a script can send them; Gradio's server
        reads them), where httpx's own encoder refuses them."""
        body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": self.session, "event_data": None})
        joined = self.http.post("/gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
        assert joined.status_code == 200, joined.text
        event = joined.json()["event_id"]
        with self._changed:
            self.generating.setdefault(event, threading.Event())
            if self._reader is None:  # the stream ends once the session has no event left: open it again
                self._reader = threading.Thread(target=self._read, daemon=True)
                self._reader.start()
        return event

    def wait(self, event: str, timeout_s: float = 300) -> dict:
        """The completed message of ``event``."""
        with self._changed:
            assert self._changed.wait_for(lambda: event in self.completed, timeout_s), f"{event} never completed"
            return self.completed[event]

    def _read(self) -> None:
        try:
            with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session}) as stream:
                for line in stream.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[len("data:"):])
                    event = message.get("event_id")
                    with self._changed:
                        if message.get("msg") == "process_generating":
                            self.generating.setdefault(event, threading.Event()).set()
                        if message.get("msg") in ("process_completed", "unexpected_error"):
                            self.completed[event] = message
                            self._changed.notify_all()
                        if message.get("msg") == "close_stream" or set(self.generating) <= set(self.completed):
                            self._reader = None
                            return
        finally:
            with self._changed:
                if self._reader is threading.current_thread():
                    self._reader = None


def predict_call(url: str, fn_index: int, data: list, session: str) -> httpx.Response:
    """Call a ``queue=False`` event ``fn_index`` (such as a Stop button's) in browser session ``session``."""
    with httpx.Client(base_url=url, timeout=60) as http:
        return http.post("/gradio_api/run/predict", json={"data": data, "fn_index": fn_index,
                                                          "session_hash": session, "event_data": None})


def fn_index(url: str, name: str) -> int:
    """The page's event whose handler is ``name`` (a private one: ``gradio_client`` will not call it)."""
    found = [i for i, d in enumerate(page_config(url)["dependencies"]) if d.get("api_name") == name]
    assert len(found) == 1, found
    return found[0]


def column_indices(url: str) -> list[int]:
    """Explore's two run columns' events (direct, then stepwise)."""
    columns = [i for i, d in enumerate(page_config(url)["dependencies"])
               if str(d.get("api_name")).startswith("run_column")]
    assert len(columns) == 2
    return columns


def drawn_index(url: str) -> int:
    """Explore's step after Run that draws what Run decided (the instance and its image, or the refusal): called
    with ``[None]`` in a Run's session (``predict_call``), its first value is the instance's place, where a
    refused Run says why (Run's own reply carries no ``gr.State``)."""
    config = page_config(url)
    index = fn_index(url, "resolve") + 1
    inputs = config["dependencies"][index]["inputs"]
    types = {c["id"]: c["type"] for c in config["components"]}
    assert len(inputs) == 1 and types[inputs[0]] == "state", config["dependencies"][index]
    return index
