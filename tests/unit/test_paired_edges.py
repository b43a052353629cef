"""Edge cases a researcher hits with the paired analysis and the judge comparison, each checked against an
outside reference computed here (matplotlib's own text rules, Cohen's κ by its definition), never against
the code under test. Real SQLite stores.
"""

from __future__ import annotations

import pytest

from realunify_arena.cli import main
from realunify_arena.store import Store
from tests.unit.test_paired import RIGHT, WRONG, _poll

WK = "world_knowledge"


def _both_modes(store: Store, dataset: str) -> None:
    """Model m on three WK instances in both modes, judged by judge-x: 2 helped, 1 both right."""
    from PIL import Image

    from realunify_arena.trace import Step, StepRole, Trace

    for i, (direct, stepwise) in enumerate([(WRONG, RIGHT), (WRONG, RIGHT), (RIGHT, RIGHT)]):
        for mode, replies in (("direct", direct), ("stepwise", stepwise)):
            trace = Trace(f"UEG_{i}_{WK}", "m", mode, {"seed": 3},
                          [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "red"))])
            _poll(store, store.save_trace(trace, dataset), "judge-x", replies)


# A dataset is named after its folder or file, and a folder's name may hold "$": matplotlib reads the text
# between two "$" as mathtext, which either fails to parse (a broken TeX command) or draws math instead of
# the name. Both plots draw names as written (matplotlib's ``parse_math=False``).
@pytest.mark.parametrize("dataset", [r"pay $\frac$ now", r"results_$\sqrt$_v2"])
def test_plots_draw_a_dataset_named_with_dollar_signs(tmp_path, capsys, dataset):
    """Before: ``report --paired --plot`` and ``report --plot`` ended in matplotlib's ParseSyntaxException (a
    traceback, no file), and the Leaderboard's paired section, which draws the same forest plot, failed."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = Store.open(tmp_path / "arena.db")
    _both_modes(store, dataset)
    store.close()
    reference = plt.figure()
    reference.suptitle(dataset)  # the outside reference: matplotlib cannot draw this name as mathtext
    with pytest.raises(ValueError):
        reference.savefig(io.BytesIO(), format="png")
    plt.close(reference)
    db = str(tmp_path / "arena.db")
    assert main(["report", "--paired", "--db", db, "--out", str(tmp_path / "out"),
                 "--plot", str(tmp_path / "forest.png")]) == 0
    assert (tmp_path / "forest.png").stat().st_size > 0
    assert main(["report", "--db", db, "--out", str(tmp_path / "out"), "--plot", str(tmp_path / "bars.png")]) == 0
    assert (tmp_path / "bars.png").stat().st_size > 0
    from realunify_arena import paired

    store = Store.open(db)
    (analysis,) = paired.analyses_from_store(store, pinned=None, rounds=50)
    store.close()
    figure = paired.forest_plot([analysis])  # what the Leaderboard shows
    assert dataset in figure.axes[0].get_title()
