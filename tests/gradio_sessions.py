"""Closing ``gradio_client`` sessions without paying a second each.

``Client.close()`` stops its heartbeat thread and waits up to 1 s for it (``join(timeout=1)``); that thread
sits in a read of the server's heartbeat stream, which speaks only every 15 s, so every close waits the
whole second. A test that opens many sessions one after another closes them here, all at once, at the end
(each session stays open until then, as a visitor's tabs would)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from gradio_client import Client


def close_all(clients: Iterable[Client]) -> None:
    """``close()`` every client, at once: about one second in all, however many there are."""
    threads = [threading.Thread(target=c.close, daemon=True) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)


def close_soon(client: Client) -> None:
    """``client.close()`` in a daemon thread: its heartbeat is told to stop as ``close`` does, without the caller
    waiting out the second's join (for a session that must end where it is, not with the others later)."""
    threading.Thread(target=client.close, daemon=True).start()


@contextmanager
def sessions() -> Iterator[list[Client]]:
    """A list to append the block's clients to; all of them are closed together when the block ends."""
    opened: list[Client] = []
    try:
        yield opened
    finally:
        close_all(opened)


def page_config(url: str) -> dict:
    """The launched app's page config (``/config``: what ``Client(url).config`` holds), read without opening a
    session (a ``Client`` would cost its second to close)."""
    import httpx

    reply = httpx.get(url.rstrip("/") + "/config", timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


@contextmanager
def launched_client(settings, pool) -> Iterator[tuple[Client, object]]:
    """The real app (``build_demo`` over a real ``Store`` at ``settings.db`` and ``pool``) on loopback, and one
    ``gradio_client`` session to it: yields ``(client, store)``; all three closed on exit."""
    from realunify_arena.store import Store
    from realunify_arena.ui import build_demo, launch_options

    store = Store.open(settings.db)
    demo = build_demo(settings, store, pool)
    try:
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
        client = Client(url, verbose=False, download_files=False)
        try:
            yield client, store
        finally:
            client.close()
    finally:
        demo.close()
        store.close()
