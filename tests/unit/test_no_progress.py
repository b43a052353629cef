"""``eval --no-progress`` shows no progress bar at all: not its own, and not the ones transformers and
diffusers draw while loading a real (tiny) checkpoint with ``from_pretrained`` ("Loading weights",
"Loading pipeline components..."); the libraries' switches are as before afterwards."""

from __future__ import annotations

import diffusers.utils.logging as diffusers_logging
import huggingface_hub.utils as hub_utils
import transformers.utils.logging as transformers_logging

from realunify_arena.cli import main
from realunify_arena.library_bars import library_bars_off

TQDM_BAR = "|"  # tqdm draws "<desc>:  50%|█████     | 2/4 [...]"


def _switches() -> tuple[bool, bool, bool]:
    return (transformers_logging.is_progress_bar_enabled(), diffusers_logging.is_progress_bar_enabled(),
            not hub_utils.are_progress_bars_disabled())


def test_eval_no_progress_hides_the_libraries_loading_bars_and_restores_them(tmp_path, capfd):
    """Before: stderr held "Loading pipeline components...: 100%|..." and "Loading weights: 100%|..."."""
    before = _switches()
    assert before == (True, True, True)
    assert main(["eval", "--model", "tiny-pair", "--track", "GEU", "--limit", "1", "--mode", "direct",
                 "--judge", "tiny-pair", "--judge-attempts", "1", "--db", str(tmp_path / "e.db"),
                 "--no-progress"]) == 0
    err = capfd.readouterr().err
    assert "Loading" not in err and "it/s" not in err and TQDM_BAR not in err, err
    assert _switches() == before


def test_bars_switched_off_before_stay_off():
    transformers_logging.disable_progress_bar()  # which also switches huggingface_hub's off
    try:
        before = _switches()
        assert before[:2] == (False, True)
        with library_bars_off():
            assert _switches() == (False, False, False)
        assert _switches() == before
    finally:
        transformers_logging.enable_progress_bar()
