"""Loaders and validation: every malformed-input case named in the foundation issue, on folders the tests write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.loaders import BUNDLED_DIR
from realunify_arena.benchmark.prompts import edit_prompt, mcq_prompt, refine_prompt

OPTIONS = ["red", "green", "blue", "yellow"]


def ueg(index=1, task_type="world_knowledge", **over):
    entry = {"index": index, "task_type": task_type, "prompt": "The largest living cat",
             "question_list": [{"question": "Is there a tiger?", "answer": "yes"},
                               {"question": "Is there a lion?", "answer": "no"}]}
    entry.update(over)
    return entry


def geu(index=1, task_type="mental_tracking", image="./image/mental_tracking/digits/images/1.png", **over):
    entry = {"index": index, "task_type": task_type, "input_image": image, "question": "Which colour?",
             "option": list(OPTIONS), "answer": "B"}
    entry.update(over)
    return entry


def write_folder(root: Path, files: dict[str, object], images: dict[str, Image.Image | bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    for rel, img in (images or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(img, bytes):
            path.write_bytes(img)
        else:
            img.save(path)
    return root


DEFAULT_IMAGE = {"image/mental_tracking/digits/images/1.png": Image.new("RGB", (32, 24), "white")}


def messages(dataset) -> list[str]:
    return [str(p) for p in dataset.problems]


def test_official_layout_merges_direct_and_step(tmp_path):
    step_ueg = ueg(new_prompt="custom refine text")
    step_geu = geu(edit_prompt="custom edit text")
    root = write_folder(tmp_path / "d", {"UEG_direct.json": [ueg()], "UEG_step.json": [step_ueg],
                                          "GEU_direct.json": [geu()], "GEU_step.json": [step_geu]}, DEFAULT_IMAGE)
    ds = load(root)
    assert ds.problems == []
    assert [i.uid for i in ds.instances] == ["UEG_1_world_knowledge", "GEU_1_mental_tracking"]
    u, g = ds.instances
    assert u.refine_text == "custom refine text"  # official strings are used as given
    assert g.edit_text == "custom edit text"
    assert g.mcq_text == mcq_prompt("Which colour?", OPTIONS)  # built from the template when absent
    assert (u.track, u.category, g.track, g.category) == ("UEG", "WK", "GEU", "MT")
    assert g.subtask == "digits"
    assert g.open_image().size == (32, 24)


def test_any_subset_of_files_and_templates_fill_missing_prompts(tmp_path):
    root = write_folder(tmp_path / "d", {"UEG_step.json": [ueg(index=5, prompt="draw 2+2 apples")]})
    ds = load(root)
    assert ds.problems == [] and len(ds) == 1
    assert ds.instances[0].refine_text == refine_prompt("draw 2+2 apples")
    assert "draw 2+2 apples" in ds.instances[0].refine_text


def test_unknown_fields_are_kept(tmp_path):
    root = write_folder(tmp_path / "d", {"UEG_direct.json": [ueg(generator={"name": "x", "seed": 3})]})
    assert load(root).instances[0].extra == {"generator": {"name": "x", "seed": 3}}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"UEG_direct.json": "[{not json"}, "UEG_direct.json: invalid JSON at line 1"),
        ({"UEG_direct.json": {"index": 1}}, "UEG_direct.json: expected a JSON list of entries, got an object"),
        ({"UEG_direct.json": [{"index": 1, "task_type": "world_knowledge", "question_list": []}]},
         "UEG_direct.json, index 1 (world_knowledge), field 'prompt': missing; expected a string"),
        ({"UEG_direct.json": [ueg(index="7")]}, "position 0, field 'index': expected an integer, got a string"),
        ({"UEG_direct.json": [ueg(index=True)]}, "field 'index': expected an integer, got a boolean"),
        ({"UEG_direct.json": [ueg(prompt=42)]}, "field 'prompt': expected a string, got an integer"),
        ({"UEG_direct.json": [ueg(task_type="cooking")]}, "field 'task_type': unknown task_type 'cooking'"),
        ({"UEG_direct.json": [ueg(task_type="mental_tracking")]},
         "field 'task_type': 'mental_tracking' is a GEU task, but this is a UEG file"),
        ({"UEG_direct.json": [ueg(question_list=[])]}, "field 'question_list': is empty"),
        ({"UEG_direct.json": [ueg(question_list=[{"question": "Tiger?", "answer": "maybe"}])]},
         "field 'question_list[0].answer': expected 'yes' or 'no', got 'maybe'"),
        ({"UEG_direct.json": [ueg(), ueg()]}, "index 1 (world_knowledge), field 'index': duplicate uid UEG_1_world_knowledge"),
        ({"GEU_direct.json": [geu(answer="E")]}, "field 'answer': expected a letter among the options (A-D), got 'E'"),
        ({"GEU_direct.json": [geu(answer="b")]}, "field 'answer': expected a letter among the options (A-D), got 'b'"),
        ({"GEU_direct.json": [geu(option=OPTIONS[:3])]}, "field 'option': expected exactly 4 options, got 3"),
        ({"GEU_direct.json": [geu(option=OPTIONS + ["pink"])]}, "field 'option': expected exactly 4 options, got 5"),
        ({"GEU_direct.json": [geu(image="./image/mental_tracking/digits/images/missing.png")]},
         "field 'input_image': image file not found"),
        ({"GEU_direct.json": [geu()], "GEU_step.json": [geu(answer="C")]},
         "GEU_step.json, index 1 (mental_tracking), field 'answer': disagrees with GEU_direct.json"),
        ({"UEG_direct.json": [ueg()], "UEG_step.json": [ueg(prompt="something else")]},
         "UEG_step.json, index 1 (world_knowledge), field 'prompt': disagrees with UEG_direct.json"),
        ({"GEU_direct.json": [geu(image="../../etc/passwd")]}, "field 'input_image': path leaves the dataset folder"),
    ],
)
def test_each_problem_names_file_entry_and_field(tmp_path, files, expected):
    root = write_folder(tmp_path / "d", files, DEFAULT_IMAGE)
    ds = load(root)
    assert any(expected in m for m in messages(ds)), messages(ds)


def test_unreadable_and_oversized_images(tmp_path):
    big = Image.new("L", (9000, 8000))  # 72 MP, over the 64 MP limit
    files = {"GEU_direct.json": [geu(index=1, image="./image/mental_tracking/a/images/trunc.png"),
                                 geu(index=2, image="./image/mental_tracking/a/images/text.png"),
                                 geu(index=3, image="./image/mental_tracking/a/images/big.png"),
                                 geu(index=4)]}
    png = DEFAULT_IMAGE["image/mental_tracking/digits/images/1.png"]
    import io

    buf = io.BytesIO()
    png.save(buf, format="PNG")
    root = write_folder(tmp_path / "d", files, {
        "image/mental_tracking/a/images/trunc.png": buf.getvalue()[:40],
        "image/mental_tracking/a/images/text.png": b"this is not an image",
        "image/mental_tracking/a/images/big.png": big,
        **DEFAULT_IMAGE,
    })
    ds = load(root)
    text = "\n".join(messages(ds))
    assert "index 1 (mental_tracking), field 'input_image': unreadable image trunc.png" in text
    assert "index 2 (mental_tracking), field 'input_image': unreadable image text.png" in text
    # in open_checked's words (one header check, images.check_header), with the limit
    assert ("index 3 (mental_tracking), field 'input_image': image big.png: 9000x8000 = 72000000 pixels is over the"
            " limit of 64000000") in text
    assert [i.index for i in ds.instances] == [4]  # the good entry still loads


def test_bad_entries_never_hide_good_ones(tmp_path):
    root = write_folder(tmp_path / "d", {"UEG_direct.json": [ueg(index=1), "junk", ueg(index=3, prompt=None), ueg(index=4)]})
    ds = load(root)
    assert [i.index for i in ds.instances] == [1, 4]
    assert len(ds.problems) == 2
    assert "position 1: expected an object, got a string" in messages(ds)[0]


def test_parquet_copy(tmp_path):
    import io

    buf = io.BytesIO()
    Image.new("RGB", (20, 10), "red").save(buf, format="PNG")
    rows = [dict(geu(index=i, task_type="attentional_focusing", image=""), image={"bytes": buf.getvalue()})
            for i in range(3)]
    rows[2]["image"] = None
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "attentional_focusing.parquet")
    ds = load(tmp_path / "attentional_focusing.parquet")
    assert [i.uid for i in ds.instances] == ["GEU_0_attentional_focusing", "GEU_1_attentional_focusing"]
    assert ds.instances[0].open_image().size == (20, 10)
    assert "index 2 (attentional_focusing), field 'image': missing" in messages(ds)[0]
    assert ds.instances[0].edit_text == edit_prompt("attentional_focusing", "Which colour?")


def test_not_a_source(tmp_path):
    assert "no such file or folder" in messages(load(tmp_path / "nope"))[0]
    (tmp_path / "empty").mkdir()
    assert "not a RealUnify source" in messages(load(tmp_path / "empty"))[0]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realunify_arena", *args], capture_output=True, text=True, timeout=120)


def test_validate_command_reports_counts_and_problems(tmp_path):
    good = write_folder(tmp_path / "good", {"UEG_direct.json": [ueg(1), ueg(2, task_type="code_to_image")],
                                             "GEU_direct.json": [geu()]}, DEFAULT_IMAGE)
    result = run_cli("validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "UEG: 2 instances (WK 1, C2I 1)" in result.stdout
    assert "GEU: 1 instances (MT 1)" in result.stdout

    bad = write_folder(tmp_path / "bad", {"UEG_direct.json": [ueg(1), ueg(2, question_list=[{"question": "x", "answer": 1}])],
                                           "GEU_direct.json": "{oops"})
    result = run_cli("validate", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "UEG_direct.json, index 2 (world_knowledge), field 'question_list[0].answer': expected 'yes' or 'no'" in result.stderr
    assert "GEU_direct.json: invalid JSON" in result.stderr
    assert "UEG: 1 instances (WK 1)" in result.stdout


def test_bundled_set_is_valid_and_covers_every_category():
    if not (BUNDLED_DIR / "UEG_direct.json").exists():
        pytest.fail("the bundled set in assets/instances is missing")
    ds = load("bundled")
    assert ds.problems == []
    counts = ds.counts()
    assert all(n >= 10 for track in counts.values() for n in track.values())
    assert sum(len(c) for c in counts.values()) == 10
