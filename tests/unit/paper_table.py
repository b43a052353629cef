"""Table 2 of the RealUnify paper (arXiv 2509.24897): per-category % (100 instances each) and the printed
averages, direct and stepwise. None is the paper's "-" (the model cannot run that protocol)."""

from __future__ import annotations

# model -> mode -> (10 category scores in the paper's column order, UEG, GEU, Total as printed)
PAPER_ROWS: dict[str, dict[str, tuple[list[int | None], str, str, str]]] = {
    "Nano Banana": {
        "direct": ([89, 86, 34, 65, 48, 56, 34, 27, 36, 30], "63.0", "31.8", "50.5"),
    },
    "Janus-Pro": {
        "direct": ([25, 77, 16, 13, 16, 3, 21, 23, 28, 29], "25.0", "25.3", "25.1"),
        "stepwise": ([26, 71, 7, 17, 20, 10, None, None, None, None], "25.2", "-", "-"),
    },
    "OmniGen2": {
        "direct": ([36, 61, 21, 29, 16, 19, 30, 21, 51, 28], "30.3", "32.5", "31.2"),
        "stepwise": ([55, 60, 26, 28, 20, 6, 42, 24, 38, 19], "32.5", "30.8", "31.8"),
    },
    "BLIP3-o": {
        "direct": ([57, 71, 21, 19, 28, 2, 36, 25, 57, 32], "33.0", "37.5", "34.8"),
        "stepwise": ([62, 74, 24, 25, 22, 9, None, None, None, None], "36.0", "-", "-"),
    },
    "BAGEL": {
        "direct": ([46, 70, 23, 29, 21, 7, 37, 31, 50, 39], "32.7", "39.3", "35.3"),
        "stepwise": ([74, 80, 26, 37, 29, 40, 38, 25, 52, 28], "47.7", "35.8", "42.9"),
    },
}
