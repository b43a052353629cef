"""``Recorder``: what a diffusers pipeline was called with, for tests that check the arguments an adapter sends."""

from __future__ import annotations

import inspect


class Recorder:
    """Wraps a pipeline's ``__call__`` (its signature kept visible to the adapter, which reads it) and records
    each call's keyword arguments in ``calls``; the pipeline still runs. As a context manager it unwraps on exit
    (else set ``pipeline.__class__ = recorder.original_class``)."""

    def __init__(self, pipeline):
        self.pipeline, self.calls, self.original_class = pipeline, [], type(pipeline)
        original = type(pipeline).__call__

        def call(this, *args, **kwargs):
            self.calls.append(kwargs)
            return original(this, *args, **kwargs)

        call.__signature__ = inspect.signature(original)
        pipeline.__class__ = type(f"Recorded{type(pipeline).__name__}", (type(pipeline),), {"__call__": call})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pipeline.__class__ = self.original_class
