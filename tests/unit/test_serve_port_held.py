"""``serve-openai --preload`` holds its port while the model loads.

Before: the port was checked free, then the model loaded (minutes for a real card), then the server bound it.
Another program taking the port meanwhile made the command fail after the whole load with "Address already in
use" (exit 1, no option named). Now the server listens before the preload; the check at the moment the preload
runs binds the port as any server would (``SO_REUSEADDR``, as uvicorn) and must be refused."""

from __future__ import annotations

import errno
import socket

import pytest

from realunify_arena import cli
from realunify_arena.runtime import ModelPool


class _Loaded(Exception):
    """Raised from the preload once the port was probed, to end the command before it serves."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_port_is_held_while_the_model_preloads(monkeypatch):
    port = _free_port()
    probed: list[int] = []

    def preload(self, names):
        with socket.socket() as other:  # another server starting on the port meanwhile
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                other.bind(("127.0.0.1", port))
                other.listen()
            except OSError as e:
                probed.append(e.errno)
            else:
                probed.append(0)
        raise _Loaded

    monkeypatch.setattr(ModelPool, "preload", preload)
    with pytest.raises(_Loaded):
        cli.main(["serve-openai", "--model", "tiny-pair", "--port", str(port), "--preload", "--device", "cpu"])
    assert probed == [errno.EADDRINUSE]  # 0: the port was free while the model loaded
    with socket.socket() as again:  # and let go once the command ended
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
