"""Who is calling: the voter id a handler's request and login give (wiring for ``Arena.voter_id``)."""

from __future__ import annotations

import gradio as gr
from starlette.datastructures import Headers

from realunify_arena.arena import client_address
from realunify_arena.context import AppContext


def visitor(ctx: AppContext, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
    """The caller's voter id (``Arena.voter_id``): ``hf:<username>`` when logged in, else salted hashes of
    the address (as the trusted proxies give it) and the session. The rate limits count it by ``rate_key``."""
    return ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers,
                              peer=request.client.host if request.client else None)


def address(ctx: AppContext, scope: dict) -> str:
    """The address an HTTP request (its ASGI ``scope``) comes from, as the rate limits count visitors
    (``arena.client_address`` with the arena's trusted proxy hops): for what the app holds per visitor."""
    peer = scope.get("client")
    return client_address(Headers(scope=scope), peer[0] if peer else None, ctx.arena.trusted_proxies,
                          ctx.arena.proxy_header)
