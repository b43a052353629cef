"""``served_app``: the demo launched as ``app.py`` launches it (``launch_options()``), one per test module."""

from __future__ import annotations

import logging

import httpx
import pytest
from unlimited import NOT_LIMITED

from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options


class ErrorLog(logging.Handler):
    """The ERROR records the server logs (uvicorn's "Exception in ASGI application" with its traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def served_app(request, tmp_path_factory):
    """The app launched with ``launch_options(**LAUNCH_OPTIONS)`` (a test module's own, else none):
    ``{"http": httpx.Client on the app, "url", "uploads": Gradio's upload folder, "errors": ERROR records,
    "errors_since": (count before) -> the ERROR messages logged since, once the server is past them}``."""
    root = tmp_path_factory.mktemp("served-app")
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning"]), root / "data")
    settings = Settings(data=(str(root / "data"),), models=("tiny-pair",), judge="human", db=root / "arena.db",
                        **NOT_LIMITED)  # a module's tests share it: no limit tested here
    store = Store.open(settings.db)
    uploads = root / "uploads"
    errors = ErrorLog()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_TEMP_DIR", str(uploads))  # read when the server app is made, at launch
        demo = build_demo(settings, store, ModelPool(load_cards()))
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                                 **launch_options(**getattr(request.module, "LAUNCH_OPTIONS", {})))
    # After the launch: uvicorn's logging config (dictConfig, applied as the server is made) drops every
    # handler already on "uvicorn.error", so one added before it heard nothing.
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "gradio", "")]
    for logger in loggers:
        logger.addHandler(errors)
    with httpx.Client(base_url=url, timeout=120) as http:

        def errors_since(before: int) -> list[str]:
            """The ERROR messages logged since ``len(errors) == before``. uvicorn logs a request's traceback
            in the server's thread just after the 500 is sent, so the caller may read the answer first; a
            second request answered means the server's event loop has since moved on, past that log call."""
            http.get("gradio_api/queue/status")
            return [record.getMessage() for record in errors.records[before:]]

        yield {"http": http, "url": url, "uploads": uploads, "errors": errors.records, "errors_since": errors_since}
    for logger in loggers:
        logger.removeHandler(errors)
    demo.close()
    store.close()
