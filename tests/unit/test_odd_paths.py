"""A path that names no readable image file says what it names instead, wherever a path is read: a result
file's ``generated_image`` / ``edit_image`` (``score-official``, ``import-results``), a dataset's GEU
``input_image`` (``validation.check_image_file``), an image opened for a run (``images.open_checked``) and a
``--votes`` file. Before, each of these said "not found (looked relative to ... and to the current
directory)" or "file not found", which is untrue of a folder, ``/dev/null``, a named pipe, a link looping to
itself (ELOOP), a link to nothing, a name too long (ENAMETOOLONG) or holding a NUL byte, a path through a file
(ENOTDIR), a file without read permission (EACCES), and of an absolute path, which is never looked up relative
to the current directory. A named pipe is never opened for reading (that blocks until a writer comes: POSIX
``open``), so none of these checks can hang.

The kinds expected come from POSIX (``stat``'s ``S_ISDIR``/``S_ISCHR``/``S_ISFIFO``, the errno values of
``open``/``stat``), made real under ``tmp_path``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.images import ImageError, check_header, open_checked
from realunify_arena.benchmark.validation import check_image_file
from realunify_arena.cli import main
from realunify_arena.official_results import read_result_files
from realunify_arena.text_files import path_fault

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
UEG_QUESTIONS = [{"question": "Is there a tiger?", "answer": "yes"}]


def _odd(folder: Path) -> dict[str, tuple[str, str]]:
    """Odd paths made real in ``folder``: name -> (the path as a result file writes it, words that must be
    said of it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "imgs").mkdir()
    os.mkfifo(folder / "pipe.png")
    os.symlink("loop.png", folder / "loop.png")
    os.symlink("gone.png", folder / "dangling.png")
    Image.new("RGB", (4, 4)).save(folder / "x.png")
    return {
        "dot": (".", "a folder"),
        "folder": ("imgs", "a folder"),
        "device": ("/dev/null", "a character device"),
        "pipe": ("pipe.png", "a named pipe"),
        "loop": ("loop.png", "a loop of symbolic links"),
        "dangling": ("dangling.png", "a symbolic link to 'gone.png', which names nothing"),
        "nul": ("a\x00b.png", "NUL byte"),
        "too long": ("n" * 300 + ".png", "a name too long"),
        "through a file": ("x.png/y.png", "x.png is a file, not a folder"),
    }


def test_path_fault_names_each_kind(tmp_path):
    odd = _odd(tmp_path)
    for name, (written, said) in odd.items():
        fault = path_fault(tmp_path / written if not written.startswith("/") else written)
        assert fault is not None and said in fault, (name, fault)
    assert path_fault(tmp_path / "x.png") is None
    assert path_fault(tmp_path / "nothing.png") == "no such file"


@pytest.mark.skipif(ROOT, reason="root reads a file whatever its permission bits")
def test_a_file_without_read_permission_is_said_to_be_one(tmp_path):
    locked = tmp_path / "locked.png"
    Image.new("RGB", (4, 4)).save(locked)
    locked.chmod(0)
    try:
        assert "no permission to read" in path_fault(locked)
        with pytest.raises(ImageError, match="no permission to read"):
            open_checked(locked)
    finally:
        locked.chmod(0o600)


def _result_errors(folder: Path, entries: list[dict]) -> dict[int, str]:
    path = folder / "UEG_direct.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    problems: list = []
    read = read_result_files([path], problems)
    assert not problems, problems
    return {e.record.index: e.error for e in read.entries}


def test_score_official_says_what_an_odd_generated_image_path_names(tmp_path):
    """Each entry is a failed run (no judge replies, no image to judge), named with what its path names."""
    folder = tmp_path / "results"
    odd = _odd(folder)
    entries = [{"index": i, "task_type": "world_knowledge", "prompt": "p", "question_list": UEG_QUESTIONS,
                "generated_image": written} for i, (written, _) in enumerate(odd.values())]
    errors = _result_errors(folder, entries)
    for i, (name, (written, said)) in enumerate(odd.items()):
        error = errors[i]
        assert said in error and "expected a readable image file" in error, (name, error)
        assert "looked relative" not in error and "not found" not in error, (name, error)


def test_an_absolute_path_is_not_said_to_be_looked_up_relative_to_the_current_directory(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    entries = [{"index": 1, "task_type": "world_knowledge", "prompt": "p", "question_list": UEG_QUESTIONS,
                "generated_image": "/nonexistent/x.png"},
               {"index": 2, "task_type": "world_knowledge", "prompt": "p", "question_list": UEG_QUESTIONS,
                "generated_image": "gone.png"}]
    errors = _result_errors(folder, entries)
    assert "/nonexistent/x.png not found: no such file" in errors[1], errors[1]
    assert "current directory" in errors[1] and "looked relative" not in errors[1], errors[1]
    assert f"under {folder}" in errors[1] and "x.png" in errors[1], errors[1]  # its tails are tried there
    # a relative path is looked up relative to both, and says so, as before
    assert f"gone.png not found (looked relative to {folder} and to the current directory)" in errors[2]


def test_a_stepwise_geu_edit_image_naming_a_folder_is_noted_as_one(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "edits").mkdir()
    path = folder / "GEU_step.json"
    path.write_text(json.dumps([{"index": 1, "task_type": "mental_tracking", "input_image": "./i.png",
                                 "question": "q?", "option": ["a", "b", "c", "d"], "answer": "A",
                                 "response": "A", "edit_image": "edits"}]), encoding="utf-8")
    problems: list = []
    (entry,) = read_result_files([path], problems).entries
    assert entry.error is None and "edit_image edits: a folder, not a file" in entry.note, entry.note


def test_open_checked_and_check_header_say_what_a_path_names(tmp_path):
    for name, (written, said) in _odd(tmp_path).items():
        path = Path(written) if written.startswith("/") else tmp_path / written
        for check in (open_checked, check_header):
            with pytest.raises(ImageError) as refused:
                check(path)
            assert str(refused.value).startswith(f"{path}: ") and said in str(refused.value), (name, refused.value)
            assert "file not found" not in str(refused.value), (name, refused.value)


def test_a_dataset_input_image_path_says_what_it_names(tmp_path):
    for name, (written, said) in _odd(tmp_path).items():
        path = Path(written) if written.startswith("/") else tmp_path / written
        problem = check_image_file(path, file="GEU_direct.json", label="index 1")
        assert problem is not None and problem.field == "input_image", name
        assert said in problem.message and "not found" not in problem.message, (name, problem.message)


def test_an_official_folder_whose_input_image_is_a_folder_or_a_pipe_loads_the_rest(tmp_path):
    image = tmp_path / "image" / "mental_tracking" / "s" / "images"
    image.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(image / "ok.png")
    (image / "dir.png").mkdir()
    os.mkfifo(image / "pipe.png")
    entries = [{"index": i, "task_type": "mental_tracking", "input_image": f"./image/mental_tracking/s/images/{n}",
                "question": "q?", "option": ["a", "b", "c", "d"], "answer": "A"}
               for i, n in enumerate(["ok.png", "dir.png", "pipe.png"])]
    (tmp_path / "GEU_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    dataset = load(tmp_path)
    assert [i.index for i in dataset.instances] == [0]
    messages = sorted(p.message for p in dataset.problems)
    assert "dir.png: a folder, not a file" in messages[0] and "pipe.png: a named pipe, not a file" in messages[1]


@pytest.mark.parametrize("kind", ["loop", "dangling", "pipe", "device"])
def test_a_votes_path_says_what_it_names(tmp_path, capsys, kind):
    odd = _odd(tmp_path)
    written, said = odd[kind]
    path = written if written.startswith("/") else str(tmp_path / written)
    assert main(["leaderboard", "--votes", path]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"leaderboard: error: --votes {path}: ") and said in line, line


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims the given size but carries one byte of pixel data (PNG specification, 11.2)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("content, said", [
    (b"just text", "not an image file Pillow can read"),
    (_png_header(9_000, 8_000), "9000x8000 = 72000000 pixels is over the limit of 64000000"),
    (_png_header(20_000, 20_000), "over the pixel limit of 64000000"),
])
def test_the_load_time_check_says_what_the_header_check_says(tmp_path, content, said):
    """``check_image_file`` reads the header through ``images.check_header`` (one home for the header check), so
    a dataset image is refused at load time in the words ``open_checked`` uses for it at run time. Before, it
    opened the header itself: "image big.png is 9000x8000 = 72000000 pixels, over the limit of ...", and a
    decompression bomb was "over the pixel limit" in one and "over the pixel limit of 64000000" in the other."""
    path = tmp_path / "big.png"
    path.write_bytes(content)
    with pytest.raises(ImageError) as refused:
        check_header(path)
    reason = str(refused.value).removeprefix(f"{path}: ")
    assert said in reason, reason
    problem = check_image_file(path, file="GEU_direct.json", label="index 1")
    assert problem is not None and f"big.png: {reason}" in problem.message, (problem.message, reason)


def test_the_load_time_check_still_verifies_the_file_s_structure(tmp_path):
    """A PNG whose header is sound but whose first chunk after it is cut off: the header check alone passes, the
    integrity check (Pillow's ``Image.verify``) refuses it, as before."""
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(good)
    data = good.read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(data[:len(data) - 20])
    check_header(cut)  # the header is whole
    problem = check_image_file(cut, file="GEU_direct.json", label="index 1")
    assert problem is not None and problem.message.startswith("unreadable image cut.png: "), problem
    assert check_image_file(good, file="GEU_direct.json", label="index 1") is None


@pytest.mark.parametrize("command", ["score-official", "validate"])
@pytest.mark.parametrize("kind", ["loop", "dangling"])
def test_a_path_argument_that_is_a_broken_link_says_so(tmp_path, capsys, command, kind):
    """Before: "PATH <path>: no such file or folder" for a link there on disk (``ls`` lists it)."""
    written, said = _odd(tmp_path)[kind]
    path = str(tmp_path / written)
    assert main([command, path]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"{command}: error: PATH {path}: {said}", line
