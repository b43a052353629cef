"""The sweep of sessions no heartbeat holds (``ui.sessions.release_unwatched``) runs only in an app whose
middleware counts heartbeats (``HeartbeatWatch``).

The fault: whether to sweep was a class-wide flag that the first ``HeartbeatWatch`` built anywhere in the
process set. An app launched without the middleware in the same process (tests launch many; a plain
``demo.launch()`` beside ``app.py``'s) counts no heartbeat, so every session of it, an open page's too, looked
like a script's and was dropped after its events. Two small real apps on loopback, each with
``release_sessions``: the one with the middleware drops a script's session at once (keep 0, no grace), the one
without keeps it.
"""

from __future__ import annotations

import gradio as gr
import httpx
import pytest
from starlette.middleware import Middleware

from realunify_arena.ui import sessions

pytestmark = pytest.mark.slow


def _launched(middleware: list) -> tuple[gr.Blocks, str]:
    with gr.Blocks() as demo:
        text = gr.Textbox()
        text.submit(lambda value: value, text, text, api_name="echo")
        sessions.release_sessions(demo)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            app_kwargs={"middleware": middleware})
    return demo, url


def _call(url: str) -> None:
    """One script's call (``/gradio_api/call/echo``): a new session with no heartbeat stream."""
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("/gradio_api/call/echo", json={"data": ["hello"]})
        assert event.status_code == 200, event.text
        assert "hello" in http.get(f"/gradio_api/call/echo/{event.json()['event_id']}").text


@pytest.fixture
def apps(monkeypatch):
    monkeypatch.setattr(sessions, "MAX_UNWATCHED", 0)  # keep no unwatched session ...
    monkeypatch.setattr(sessions, "UNWATCHED_GRACE_S", -1.0)  # ... not even one just used
    watched, watched_url = _launched([Middleware(sessions.HeartbeatWatch)])
    plain, plain_url = _launched([])
    yield (watched, watched_url), (plain, plain_url)
    watched.close()
    plain.close()


def test_only_the_app_with_the_heartbeat_middleware_sweeps(apps):
    (watched, watched_url), (plain, plain_url) = apps
    _call(watched_url)  # first, so the process has built a HeartbeatWatch before the plain app's event
    assert not watched.state_holder.time_last_used, "the watched app kept a script's session"
    _call(plain_url)
    assert len(plain.state_holder.time_last_used) == 1, (
        "the app without HeartbeatWatch swept its sessions: it counts no heartbeat, so a page's would go too")
