"""eval asks for a judge model only when a judgment by it will be made: a rerun whose UEG judgments are all
stored (an offline rerun to finish or report stored runs) needs no judge, GEU answers are parsed, and a
refusal before the runs forgets no stored failed run (``--retry-errors``)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.loaders import BUNDLED_DIR
from realunify_arena.cards import load_cards
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.trace import Status, Step, StepRole, Trace


@contextmanager
def opened(db):
    store = Store.open(db)
    try:
        yield store
    finally:
        store.close()

DEFAULT_JUDGE = "qwen2.5-vl-7b"  # the card `eval --help` names as the default judge


def _offline(monkeypatch, tmp_path) -> None:
    """No hub and an empty cache: the default judge's weights cannot be had (and a 7B card is too large
    for a CPU host anyway)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("REALUNIFY_ALLOW_LARGE_MODELS", raising=False)


def _store_ueg_runs(db, *, judged: int) -> int:
    """One stored successful direct run of tiny-pair per UEG category (what `--track UEG --limit 1` picks),
    the first ``judged`` of them judged by the default judge; returns the number of runs."""
    data = load("bundled")
    firsts = {}
    for inst in data.select("UEG"):
        firsts.setdefault(inst.task_type, inst)
    settings = load_cards()["tiny-pair"].defaults.to_dict()
    with opened(db) as store:
        for k, inst in enumerate(firsts.values()):
            trace = Trace(inst.uid, "tiny-pair", "direct", settings,
                          steps=[Step(StepRole.GENERATED_IMAGE, inst.prompt, image=Image.new("RGB", (8, 8), "red"))])
            run_id = store.save_trace(trace, data.name, pin=True)
            if k < judged:
                store.save_judgment(run_id, DEFAULT_JUDGE, {"kind": "polling", "score": 1.0, "details": [],
                                                            "errors": 0})
    return len(firsts)


ARGS = ["eval", "--model", "tiny-pair", "--track", "UEG", "--mode", "direct", "--limit", "1", "--no-progress"]


def test_a_rerun_whose_judgments_are_all_stored_finishes_without_the_default_judge(tmp_path, monkeypatch, capsys):
    _offline(monkeypatch, tmp_path)
    db = tmp_path / "arena.db"
    n = _store_ueg_runs(db, judged=99)
    assert main([*ARGS, "--db", str(db)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"runs: 0 computed (none), {n} already stored" in out
    assert f"judgments: 0 made (0 with judge errors), {n} already stored" in out


def test_a_rerun_with_one_judgment_to_make_still_refuses_the_default_judge_before_anything(tmp_path, monkeypatch,
                                                                                            capsys):
    _offline(monkeypatch, tmp_path)
    db = tmp_path / "arena.db"
    n = _store_ueg_runs(db, judged=1)
    assert main([*ARGS, "--db", str(db)]) == 1
    assert f"the default judge {DEFAULT_JUDGE} cannot run here" in capsys.readouterr().err
    with opened(db) as store:
        assert store.query("select count(*) as n from runs")[0]["n"] == n
        assert store.query("select count(*) as n from judgments")[0]["n"] == 1


def test_a_geu_only_data_set_needs_no_judge_model_even_with_track_all(tmp_path, monkeypatch, capsys):
    """A new store (every run to do) and --track all, but --data holds GEU instances only: no judge model is
    asked, so the default judge's absence refuses nothing (the old check looked at --track alone)."""
    _offline(monkeypatch, tmp_path)
    data = tmp_path / "geu-only"
    shutil.copytree(BUNDLED_DIR, data)
    for ueg in data.glob("UEG_*.json"):
        ueg.unlink()
    db = tmp_path / "arena.db"
    assert main([*ARGS, "--track", "all", "--data", str(data), "--db", str(db)]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert DEFAULT_JUDGE + " cannot run here" not in captured.err
    with opened(db) as store:
        runs = store.query("select count(*) as n from runs")[0]["n"]
        assert runs > 0 and store.query("select count(*) as n from judgments")[0]["n"] == runs


def test_a_refused_model_forgets_no_failed_run_it_was_asked_to_retry(tmp_path, monkeypatch, capsys):
    """--retry-errors with a model that cannot run here: refused before the runs, the stored failed run kept
    (it used to be deleted first, then the refusal left nothing in its place)."""
    cards = tmp_path / "models"
    cards.mkdir()
    (cards / "gone.yaml").write_text("family: openai\ncapabilities: [understand]\nendpoint: http://127.0.0.1:9/v1\n"
                                     "checkpoint: m\ndescription: a stopped server\n", encoding="utf-8")
    data = load("bundled")
    inst = data.select("GEU")[0]
    settings = load_cards(cards)["gone"].defaults.to_dict()
    db = tmp_path / "arena.db"
    with opened(db) as store:
        store.save_trace(Trace(inst.uid, "gone", "direct", settings, status=Status.ERROR, error="out of memory"),
                         data.name, pin=True)
    args = ["eval", "--model", "gone", "--judge", "gone", "--track", "GEU", "--mode", "direct", "--limit", "1",
            "--retry-errors", "--models-dir", str(cards), "--db", str(db), "--no-progress"]
    assert main(args) == 1
    assert "--model gone cannot run here" in capsys.readouterr().err
    with opened(db) as store:
        [row] = store.query("select id, status from runs")
        assert store.load_trace(row["id"]).error == "out of memory"
    assert row["status"] == "error"


def _cards_without_the_default_judge(tmp_path):
    """A --models-dir holding tiny-pair's card only: no card of the default judge."""
    cards = tmp_path / "models"
    cards.mkdir()
    shutil.copy(load_cards()["tiny-pair"].path, cards / "tiny-pair.yaml")
    return cards


def test_geu_work_needs_no_card_of_the_default_judge_in_models_dir(tmp_path, monkeypatch, capsys):
    """Before: 'eval: error: --judge 'qwen2.5-vl-7b': no such model card' (exit 2) for --track GEU, whose
    answers are parsed, not judged; the refusal itself told the user to use --track GEU."""
    _offline(monkeypatch, tmp_path)
    cards, db = _cards_without_the_default_judge(tmp_path), tmp_path / "arena.db"
    args = ["eval", "--model", "tiny-pair", "--track", "GEU", "--mode", "direct", "--limit", "1", "--no-progress",
            "--models-dir", str(cards), "--db", str(db)]
    assert main(args) == 0, capsys.readouterr().err
    with opened(db) as store:
        runs = store.query("select count(*) as n from runs")[0]["n"]
        assert runs == len({i.task_type for i in load("bundled").select("GEU")})


def test_ueg_work_without_a_card_of_the_default_judge_is_refused_before_anything(tmp_path, monkeypatch, capsys):
    _offline(monkeypatch, tmp_path)
    cards, db = _cards_without_the_default_judge(tmp_path), tmp_path / "arena.db"
    assert main([*ARGS, "--models-dir", str(cards), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"default judge '{DEFAULT_JUDGE}' is no model card in {cards}" in err and "--judge CARD" in err
    assert not db.exists()


def test_a_chosen_judge_that_cannot_run_here_leaves_the_runs_stored_and_unjudged_as_its_warning_says(
        tmp_path, monkeypatch, capsys):
    """Found by a newcomer running the README's `eval ... --judge qwen2.5-vl-7b --limit 1` offline: eval warned
    "judge qwen2.5-vl-7b cannot run here (...); runs will be stored and judged when the same command is rerun
    where it can", ran the model, then tried to load that judge anyway (minutes of hub retries online) and
    stopped with "could not be loaded ... OSError" (exit 1). Expected (the README: only the *default* judge stops
    eval at once; the warning's own promise): the runs are stored, no judgment is made, exit 0, and the summary
    says the judging is left to a rerun."""
    _offline(monkeypatch, tmp_path)
    db = tmp_path / "arena.db"
    assert main([*ARGS, "--judge", DEFAULT_JUDGE, "--db", str(db)]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    assert f"judge {DEFAULT_JUDGE} cannot run here" in captured.err
    assert "could not be loaded" not in captured.err
    ueg_categories = 6  # the paper's UEG track: WK, CR, MR-I, LR, SR, C2I; --limit 1 picks one each
    with opened(db) as store:
        assert store.query("select count(*) as n from runs")[0]["n"] == ueg_categories
        assert store.query("select count(*) as n from judgments")[0]["n"] == 0
    assert f"judgments: none made: judge {DEFAULT_JUDGE} cannot run here" in captured.out, captured.out
    # the rerun where it still cannot run: nothing to run, the judging still left, still exit 0
    assert main([*ARGS, "--judge", DEFAULT_JUDGE, "--db", str(db)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"runs: 0 computed (none), {ueg_categories} already stored" in out
    assert f"judgments: none made: judge {DEFAULT_JUDGE} cannot run here" in out, out
