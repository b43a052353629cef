"""The model libraries' own progress bars (transformers' "Loading weights", diffusers' "Loading pipeline
components...", huggingface_hub's downloads) switched off for a block: ``eval --no-progress`` promises no
progress bars, and these write to standard error whatever the command asks."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

# (module, is it on?, switch off, switch on): each library's own global switch
_SWITCHES = (
    ("transformers.utils.logging", "is_progress_bar_enabled", "disable_progress_bar", "enable_progress_bar"),
    ("diffusers.utils.logging", "is_progress_bar_enabled", "disable_progress_bar", "enable_progress_bar"),
    ("huggingface_hub.utils", None, "disable_progress_bars", "enable_progress_bars"),
)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module.partition(".")[0]) is not None
    except ValueError:  # a module in sys.modules without a spec
        return True


@contextmanager
def library_bars_off() -> Iterator[None]:
    """No progress bar of transformers, diffusers or huggingface_hub in this block (those installed; each is
    imported here); afterwards each is switched back on only if it was on before. Not thread-local: the
    switches are the libraries' process-wide ones."""
    modules = [(importlib.import_module(name), is_on, off, on) for name, is_on, off, on in _SWITCHES
               if _installed(name)]
    # every state read before any is switched: transformers' switch also flips huggingface_hub's
    was_on = [getattr(m, is_on)() if is_on else not m.are_progress_bars_disabled() for m, is_on, _, _ in modules]
    restore = []
    for (module, _, off, on), enabled in zip(modules, was_on):
        if enabled:
            getattr(module, off)()
            restore.append(getattr(module, on))
    try:
        yield
    finally:
        for switch_on in reversed(restore):
            switch_on()
