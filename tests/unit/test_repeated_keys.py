"""A key written twice in one map of an input file (a model card, space.yaml, RealUnify and result files, vote
files) is refused in one line naming the file and the key (and, in YAML, both lines), not silently read as its
last value. Run through the real entry points: ``python -m realunify_arena`` and ``app.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.benchmark.writer import write_official
from realunify_arena.cards import CardError, load_card, load_cards

ROOT = Path(__file__).resolve().parents[2]

# The tiny Janus card with "guidance" written twice in its defaults: on lines 8 and 10 (counted by hand).
DUPLICATE_CARD = """family: tiny
description: a card whose defaults name guidance twice
capabilities: [understand, generate]
dtype: float32
defaults:
  width: 32
  height: 32
  guidance: 5
  max_new_tokens: 8
  guidance: 1
params: {base: janus, seed: 0}
"""


def cli(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture
def cards(card_folder):
    return card_folder("dup", DUPLICATE_CARD)


def test_a_card_naming_a_default_twice_is_refused_with_both_lines(cards):
    with pytest.raises(CardError) as caught:
        load_card(cards / "dup.yaml")
    assert str(caught.value) == (f"{cards / 'dup.yaml'}: key 'guidance' appears twice in 'defaults' (lines 8 and 10);"
                                 " keep one")


def test_a_card_naming_a_field_twice_at_the_top_is_refused(tmp_path):
    card = tmp_path / "twice.yaml"
    card.write_text((ROOT / "models" / "tiny-pair.yaml").read_text(encoding="utf-8") + "dtype: bfloat16\n",
                    encoding="utf-8")
    first = 1 + next(i for i, line in enumerate(card.read_text().splitlines()) if line.startswith("dtype:"))
    last = len(card.read_text().splitlines())
    with pytest.raises(CardError, match=rf"key 'dtype' appears twice \(lines {first} and {last}\); keep one"):
        load_card(card)


def test_a_card_with_a_repeated_key_is_left_out_like_other_broken_cards(cards):
    problems: list[CardError] = []
    loaded = load_cards(cards, problems=problems)
    assert sorted(loaded) == ["tiny-pair"]
    assert [p.path.name for p in problems] == ["dup.yaml"]


def test_a_merged_key_may_be_overridden_and_every_shipped_card_still_loads(tmp_path):
    card = tmp_path / "merged.yaml"  # YAML's "<<" merge: overriding a merged key is no repeat
    card.write_text("family: tiny\ndescription: x\ncapabilities: [understand, generate]\ndtype: float32\n"
                    "base: &base {width: 32, height: 32, guidance: 5.0}\n"
                    "defaults:\n  <<: *base\n  guidance: 1.0\nparams: {base: janus, seed: 0}\n", encoding="utf-8")
    with pytest.raises(CardError, match="field 'base': unknown field"):  # refused for its extra field only
        load_card(card)
    assert len(load_cards(ROOT / "models")) == len(list((ROOT / "models").glob("*.yaml")))


def test_the_models_command_names_the_repeated_key(cards):
    result = cli("-m", "realunify_arena", "models", "--models-dir", str(cards))
    assert result.returncode == 1
    assert "key 'guidance' appears twice in 'defaults' (lines 8 and 10); keep one" in result.stderr
    assert "Traceback" not in result.stderr


def test_app_refuses_models_naming_only_a_card_with_a_repeated_key_and_creates_nothing(cards, tmp_path):
    db = tmp_path / "new" / "arena.db"
    result = cli("app.py", "--models", "dup", "--models-dir", str(cards), "--db", str(db))
    assert result.returncode == 2
    assert "dup.yaml: key 'guidance' appears twice in 'defaults' (lines 8 and 10); keep one" in result.stderr
    assert not db.parent.exists()


def test_space_card_refuses_a_space_yaml_naming_a_setting_twice(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("title: RealUnify Arena\nsdk: gradio\napp_file: app.py\ntitle: Other\n", encoding="utf-8")
    readme = tmp_path / "README.md"
    result = cli("-m", "realunify_arena", "space-card", "--space", str(space), "--readme", str(readme))
    assert result.returncode == 1
    assert one_line(result.stderr) == (f"space-card: error: {space}: key 'title' appears twice (lines 1 and 4); "
                                       "keep one")
    assert not readme.exists()


def result_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    inst = [GEUInstance(index=i, task_type="mental_tracking", question="q", option=["a", "b", "c", "d"],
                        answer="B", input_image="./image/x.png") for i in range(2)]
    write_official(inst, folder, extra_fields={(inst[0].uid, "direct"): {"response": "B"},
                                               (inst[1].uid, "direct"): {"response": "C"}})
    file = folder / "GEU_direct.json"
    text = file.read_text(encoding="utf-8")
    assert text.count('"response": "B"') == 1
    file.write_text(text.replace('"response": "B"', '"response": "A", "response": "B"'), encoding="utf-8")
    return folder


def test_score_official_refuses_a_result_entry_naming_a_field_twice(tmp_path):
    """Read last-wins, index 0 would score as right ("B"); its first reply says "A"."""
    result = cli("-m", "realunify_arena", "score-official", str(result_folder(tmp_path)), "--model", "m")
    assert result.returncode == 1
    assert "GEU_direct.json: key 'response' appears twice in '[0]'; keep one" in result.stderr
    assert "| m |" not in result.stdout and "Traceback" not in result.stderr


def test_import_results_refuses_it_and_writes_no_store(tmp_path):
    db = tmp_path / "store" / "a.db"
    result = cli("-m", "realunify_arena", "import-results", str(result_folder(tmp_path)), "--model", "m",
                 "--db", str(db))
    assert result.returncode == 1
    assert "GEU_direct.json: key 'response' appears twice in '[0]'; keep one" in result.stderr
    assert not db.exists()


def test_a_jsonl_result_line_naming_a_field_twice_names_its_line(tmp_path):
    folder = result_folder(tmp_path)
    entries = json.loads((folder / "GEU_direct.json").read_text(encoding="utf-8").replace('"response": "A", ', ""))
    (folder / "GEU_direct.json").unlink()
    lines = [json.dumps(e) for e in entries]
    lines[1] = lines[1].replace('"response": "C"', '"response": "C", "response": "B"')
    (folder / "GEU_direct.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("-m", "realunify_arena", "score-official", str(folder), "--model", "m")
    assert result.returncode == 1
    assert "GEU_direct.jsonl, line 2" in result.stderr
    assert "GEU_direct.jsonl, line 2: key 'response' appears twice; keep one" in result.stderr


def test_a_realunify_data_file_naming_a_field_twice_is_a_problem_of_that_file(tmp_path):
    from realunify_arena.benchmark import load

    folder = result_folder(tmp_path)  # the official files are read by the same reader as result files
    text = (folder / "GEU_direct.json").read_text(encoding="utf-8")
    (folder / "GEU_direct.json").write_text(text.replace('"answer": "B"', '"answer": "C", "answer": "B"', 1),
                                            encoding="utf-8")
    problems = [str(p) for p in load(str(folder)).problems]
    assert any("GEU_direct.json" in p and "key 'answer' appears twice in '[0]'; keep one" in p
               for p in problems), problems


def test_a_votes_file_naming_a_field_twice_is_refused(tmp_path):
    votes = tmp_path / "votes.jsonl"
    votes.write_text('{"track": "UEG", "kind": "direct", "system_a": "a", "system_b": "b", "winner": "model_a",'
                     ' "winner": "model_b"}\n', encoding="utf-8")
    out = tmp_path / "board" / "b.md"
    result = cli("-m", "realunify_arena", "leaderboard", "--votes", str(votes), "--out", str(out))
    assert result.returncode == 2
    assert one_line(result.stderr) == (f"leaderboard: error: {votes} line 1: key 'winner' appears twice; keep "
                                       "one")
    assert not out.parent.exists()


def test_a_votes_csv_naming_a_column_twice_is_refused(tmp_path):
    votes = tmp_path / "votes.csv"  # csv.DictReader kept the last "winner" column: model_b, not model_a
    votes.write_text("track,kind,system_a,system_b,winner,winner\nUEG,direct,a,b,model_a,model_b\n",
                     encoding="utf-8")
    result = cli("-m", "realunify_arena", "leaderboard", "--votes", str(votes))
    assert result.returncode == 2
    assert one_line(result.stderr) == f"leaderboard: error: {votes} line 1: column 'winner' appears twice; keep one"


def test_json_written_by_the_project_still_reads(tmp_path):
    """What ``json.dumps`` writes never repeats a key: the project's own exports and bundled files read."""
    from realunify_arena.benchmark import load

    assert len(load("bundled")) > 0 and not load("bundled").problems
    folder = result_folder(tmp_path)
    text = (folder / "GEU_direct.json").read_text(encoding="utf-8").replace('"response": "A", ', "")
    (folder / "GEU_direct.json").write_text(text, encoding="utf-8")
    result = cli("-m", "realunify_arena", "score-official", str(folder), "--model", "m")
    assert result.returncode == 0, result.stderr


def test_a_json_object_naming_a_key_twice_is_named_by_its_place(tmp_path):
    """In a file of many entries "in one object" left the entry to be searched for by hand: the message names
    the object's place, as the YAML one does (the place here is counted by hand: the second entry's second
    question)."""
    from realunify_arena.unique_keys import RepeatedKeyError, loads_json

    text = ('[{"index": 1, "question_list": [{"answer": "yes"}]},\n'
            ' {"index": 2, "question_list": [{"answer": "no"}, {"answer": "yes", "answer": "no"}]}]')
    with pytest.raises(RepeatedKeyError) as caught:
        loads_json(text)
    assert str(caught.value) == "key 'answer' appears twice in '[1].question_list[1]'; keep one"
    assert caught.value.key == "answer"


def test_score_official_names_the_entry_holding_a_repeated_key(tmp_path):
    folder = result_folder(tmp_path)
    file = folder / "GEU_direct.json"
    text = file.read_text(encoding="utf-8").replace('"response": "A", ', "")
    file.write_text(text.replace('"response": "C"', '"response": "C", "response": "B"'), encoding="utf-8")
    result = cli("-m", "realunify_arena", "score-official", str(folder), "--model", "m")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "GEU_direct.json: key 'response' appears twice in '[1]'; keep one" in result.stderr


def test_a_map_written_once_under_an_anchor_is_named_where_it_is_written(tmp_path):
    """The repeat is in the map written at 'base' (line 2); 'other' only names it by its alias."""
    card = tmp_path / "anchored.yaml"
    card.write_text("family: tiny\ndefaults: &base {guidance: 5, guidance: 1}\nparams: {base: janus}\n"
                    "description: *base\n", encoding="utf-8")
    with pytest.raises(CardError) as caught:
        load_card(card)
    assert str(caught.value) == f"{card}: key 'guidance' appears twice in 'defaults' (both on line 2); keep one"


def test_a_merge_key_written_twice_is_refused(tmp_path):
    """YAML reads two '<<' in one map as the last merge only: x would silently be 2 here, not 1."""
    card = tmp_path / "merged.yaml"
    card.write_text("family: tiny\nx: &a {guidance: 1}\ny: &b {guidance: 2}\ndefaults:\n  <<: *a\n  <<: *b\n",
                    encoding="utf-8")
    with pytest.raises(CardError) as caught:
        load_card(card)
    assert str(caught.value) == (f"{card}: key '<<' appears twice in 'defaults' (lines 5 and 6); merge several "
                                 "maps as '<<: [*a, *b]'")
