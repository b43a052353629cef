"""Who is calling: the voter id a handler's request and login give (wiring for ``Arena.voter_id``)."""

from __future__ import annotations

import gradio as gr

from realunify_arena.context import AppContext


def visitor(ctx: AppContext, request: gr.Request, profile: gr.OAuthProfile | None) -> str:
    """The caller's voter id (``Arena.voter_id``): ``hf:<username>`` when logged in, else salted hashes of
    the address (as the trusted proxies give it) and the session. The rate limits count it by ``rate_key``."""
    return ctx.arena.voter_id(profile.username if profile else None, request.session_hash, request.headers,
                              peer=request.client.host if request.client else None)
