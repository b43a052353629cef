"""The first minutes from the command line: the benchmark table from batch runs only with the items behind each
cell, eval refusing an unusable default judge before anything loads, an empty vote export said so, no
per-item transformers warning, and the bench scripts runnable from a checkout."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from realunify_arena import reporting
from realunify_arena.benchmark import load
from realunify_arena.benchmark.custom import CUSTOM_DATASET
from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.cli import main
from realunify_arena.judge import ANSWER_PARSER, mcq_judgment
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui.leaderboard_tab import benchmark_markdown

ROOT = Path(__file__).resolve().parents[2]


def _answer(store: Store, dataset: str, inst: GEUInstance, model: str, mode: str, letter: str, *,
            pin: bool) -> int:
    trace = Trace(inst.uid, model, mode, {"seed": 0}, steps=[Step(StepRole.ANSWER, inst.mcq_text, text=letter)])
    run_id = store.save_trace(trace, dataset, pin=pin)
    store.save_judgment(run_id, ANSWER_PARSER, mcq_judgment(inst, letter).to_dict())
    return run_id


@pytest.fixture
def mixed_store(tmp_path):
    """Batch (pinned) runs of model "batch", a one-off Explore run of model "explorer", one custom run."""
    store = Store.open(tmp_path / "arena.db")
    bundled = load("bundled")
    tracking = [i for i in bundled.instances if i.task_type == "mental_tracking"][:3]
    focusing = [i for i in bundled.instances if i.task_type == "attentional_focusing"][:2]
    wrong = {i.uid: next(letter for letter in "ABCD" if letter != i.answer) for i in tracking + focusing}
    # direct: 2 of 3 MT right, 1 of 2 AF right; stepwise: only the first MT instance, right
    for k, inst in enumerate(tracking):
        _answer(store, bundled.name, inst, "batch", "direct", inst.answer if k < 2 else wrong[inst.uid], pin=True)
    _answer(store, bundled.name, tracking[0], "batch", "stepwise", tracking[0].answer, pin=True)
    for k, inst in enumerate(focusing):
        _answer(store, bundled.name, inst, "batch", "direct", inst.answer if k == 0 else wrong[inst.uid], pin=True)
    _answer(store, bundled.name, tracking[0], "explorer", "direct", tracking[0].answer, pin=False)
    custom = GEUInstance(index=99, task_type="mental_tracking", question="q", option=list("wxyz"), answer="",
                         image_bytes=b"")
    _answer(store, CUSTOM_DATASET, custom, "batch", "direct", "A", pin=False)
    yield store
    store.close()


def test_the_benchmark_table_counts_batch_runs_only_with_the_items_behind_each_cell(mixed_store):
    [report] = reporting.reports_from_store(mixed_store, pinned=True)
    assert {s.model for s in report.scores} == {"batch"}  # no one-off Explore run, no custom run
    lines = reporting.markdown(report, items=True).splitlines()
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in next(r for r in lines if r.startswith("| batch ")).strip("|").split("|"))))
    items = dict(zip(header, (c.strip() for c in next(r for r in lines if r.startswith("| n batch ")).strip("|").split("|"))))
    assert row["MT"] == "66.7/100.0" and row["AF"] == "50.0/-"  # 2 of 3, 1 of 1; 1 of 2, none
    assert items["MT"] == "3/1" and items["AF"] == "2/0" and items["MR-II"] == "0/0"
    assert items["GEU"] == "5/1" and items["GEU strict"] == "5/1"
    # without pinned=True (the CLI's report) the one-off run is a row of its own
    assert {s.model for r in reporting.reports_from_store(mixed_store) for s in r.scores} == {"batch", "explorer"}

    page = benchmark_markdown(SimpleNamespace(store=mixed_store))
    assert "| n batch |" in page and "explorer" not in page
    assert "1 run made in Explore or for Arena battles is not in this table" in page
    assert 'white-space: nowrap' in page  # scrolls sideways instead of breaking headers inside words


def test_the_benchmark_table_without_batch_runs_says_how_to_fill_it(tmp_path):
    store = Store.open(tmp_path / "empty.db")
    try:
        assert "No batch evaluation yet" in benchmark_markdown(SimpleNamespace(store=store))
        assert "python -m realunify_arena eval" in benchmark_markdown(SimpleNamespace(store=store))
    finally:
        store.close()


def test_eval_without_judge_stops_before_loading_anything_when_the_default_judge_cannot_run(tmp_path):
    db = tmp_path / "arena.db"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf-home"),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "realunify_arena", "eval", "--model", "tiny-pair", "--limit", "1",
                           "--db", str(db), "--no-progress"], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    assert "the default judge qwen2.5-vl-7b cannot run here" in done.stderr
    assert "HF_HUB_OFFLINE" in done.stderr and "--judge" in done.stderr  # the reason, and what to do
    assert not db.exists()  # refused before the store was opened or any model loaded


def test_exporting_an_empty_store_says_there_are_no_votes(tmp_path, capsys):
    Store.open(tmp_path / "arena.db").close()
    assert main(["export", "votes", "--db", str(tmp_path / "arena.db")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no votes in" in captured.err and "nothing to export" in captured.err
    out = tmp_path / "votes.csv"
    assert main(["export", "votes", "--db", str(tmp_path / "arena.db"), "--track", "GEU", "--format", "csv",
                 "--out", str(out)]) == 0
    assert "no votes of track GEU" in capsys.readouterr().err
    assert out.read_text().startswith("vote_id,")  # the header only


def test_janus_text_decoding_logs_no_length_warning_and_decodes_the_same_tokens():
    import torch
    import transformers

    from realunify_arena.adapters import build_adapter
    from realunify_arena.cards import load_cards

    card = load_cards()["tiny-janus"]
    adapter = build_adapter(card)
    try:
        options = card.options(max_new_tokens=5)
        inputs = adapter.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (32, 32), "red")},
                                          {"type": "text", "text": "what colour?"}]}],
            add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
            processor_kwargs={"generation_mode": "text"}).to(adapter.device, adapter.dtype)
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append
        logger = transformers.utils.logging.get_logger("transformers")
        logger.addHandler(handler)
        try:
            ours = [adapter.generate_text_ids(inputs, options) for _ in range(2)]
        finally:
            logger.removeHandler(handler)
        assert not [r for r in records if "max_length" in r.getMessage()]
        with torch.inference_mode():  # transformers' own call with max_new_tokens: the same tokens
            reference = adapter.model.generate(**inputs, generation_mode="text", **adapter.sampling(options))
        assert torch.equal(ours[0], reference) and torch.equal(ours[1], reference)
        assert reference.shape[1] - inputs["input_ids"].shape[1] <= 5
    finally:
        adapter.close()


def test_bench_scripts_import_the_checkout_they_are_in(tmp_path):
    """Run as `python bench/X.py` after only `pip install -r requirements.txt`: a stand-in package first on
    PYTHONPATH (what an uninstalled checkout would otherwise import, or fail to) must lose to the checkout."""
    shadow = tmp_path / "shadow" / "realunify_arena"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('the checkout was not on sys.path')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    probe = ("import runpy, sys; sys.argv = [sys.argv[1]]; g = runpy.run_path(sys.argv[0], run_name='bench');"
             "import realunify_arena; print(realunify_arena.__file__)")
    # every script in its own fresh interpreter, all started at once: the second core imports too
    started = {script: subprocess.Popen([sys.executable, "-c", probe.replace("sys.argv[0]", repr(str(script))),
                                         str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=env, cwd=tmp_path)
               for script in sorted((ROOT / "bench").glob("*.py"))}
    try:
        finished = {script: process.communicate(timeout=300) for script, process in started.items()}
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    for script, (out, err) in finished.items():
        assert started[script].returncode == 0, f"{script.name}: {err[-2000:]}"
        assert Path(out.strip()).resolve().parent == ROOT / "realunify_arena", script.name
