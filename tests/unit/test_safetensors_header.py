"""A ``.safetensors`` file whose header is JSON but not what the format allows (an unknown dtype, a shape its
offsets do not hold, overlapping or gapped byte ranges, bytes after the last tensor) is refused before
``from_pretrained`` reads it, naming the file and the tensor.

Before: the header check looked only at the file's length and that its header parsed as JSON; everything else
reached the user after the load had begun, as the library's "Error while deserializing header: invalid shape, data
type, or offset for tensor" (a raw SafetensorError, naming neither file nor tensor). The oracle for "bad" is the
safetensors library itself: every edited file here is one ``safe_open`` refuses, and every kept one it opens."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from realunify_arena.adapters.safetensors_header import safetensors_problem

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _parts(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def _write(path: Path, header: dict, body: bytes) -> Path:
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def _opens(path: Path) -> bool:
    try:
        with safe_open(str(path), framework="pt"):
            return True
    except SafetensorError:
        return False


@pytest.fixture
def small(tmp_path) -> Path:
    """a: F32 [2, 3] at bytes [0, 24]; b: F32 [4] at [24, 40] (as save_file lays them out)."""
    path = tmp_path / "model.safetensors"
    save_file({"a": torch.zeros(2, 3), "b": torch.ones(4)}, path)
    assert _parts(path)[0]["b"] == {"dtype": "F32", "shape": [4], "data_offsets": [24, 40]}
    return path


def _edited(path: Path, edit) -> Path:
    header, body = _parts(path)
    body = edit(header, body) or body
    return _write(path, header, body)


_EDITS = {  # name -> (edit of (header, body), words the refusal must hold beside the file)
    "unknown-dtype": (lambda h, b: h["a"].update(dtype="F99"), ["tensor a: dtype \"F99\"", "safetensors dtype"]),
    "shape-over-offsets": (lambda h, b: h["a"].update(shape=[2, 4]),
                           ["tensor a: shape [2, 4] of F32 takes 32 bytes, but its data_offsets [0, 24] hold 24"]),
    "negative-shape": (lambda h, b: h["b"].update(shape=[-4]), ["tensor b: shape [-4]", "whole numbers"]),
    "no-offsets": (lambda h, b: h["b"].update(data_offsets=None), ["tensor b: data_offsets null"]),
    "overlap": (lambda h, b: h["b"].update(data_offsets=[16, 32]),
                ["tensor b: data_offsets [16, 32] overlap the tensor before it; expected it to start at 24"]),
    "hole": (lambda h, b: (h["b"].update(data_offsets=[28, 44]), b + b"0000")[1],
             ["tensor b: data_offsets [28, 44] leave bytes 24 to 28 unused"]),
    "trailing-bytes": (lambda h, b: b + b"12345678", ["8 bytes after its last tensor"]),
    "metadata-not-strings": (lambda h, b: h.update(__metadata__={"format": 3}), ["'__metadata__'"]),
}


@pytest.mark.parametrize("name", _EDITS)
def test_a_header_the_library_refuses_is_named_with_the_file_and_the_tensor(small, name):
    edit, words = _EDITS[name]
    path = _edited(small, edit)
    assert not _opens(path)  # the library's own verdict
    said = safetensors_problem(path)
    assert said is not None and said.startswith(f"{path}: ") and "\n" not in said
    for word in words:
        assert word in said


def _raw_header(path: Path, text: bytes, body: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


@pytest.mark.parametrize("name, text, words", [
    ("deep", b"[" * 200_000 + b"]" * 200_000, ["header is JSON nested too deeply"]),  # past the parser's limit
    # valid JSON, but Python refuses ints of 4,300+ digits (sys.get_int_max_str_digits; a ValueError): named as
    # such, with its place, not called "not valid JSON" (verify24b)
    ("long-int", b'{"a": {"dtype": "F32", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 4]}}',
     ["an integer of 5000 digits at 'a.shape[0]'", "over the 4300 digits Python reads"]),
    ("bad-json", b'{"a": {"dtype": "F32",', ["header is not valid JSON"]),
    ("twice", b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
              b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', ['tensor "a" twice']),
])
def test_a_header_the_parser_cannot_hold_is_one_line_not_a_traceback(tmp_path, name, text, words):
    """Before (verify24): a header nested 200,000 deep raised RecursionError, a 5,000-digit shape ValueError, both as
    tracebacks; a tensor named twice was called a gap in the offsets."""
    path = _raw_header(tmp_path / f"{name}.safetensors", text, bytes(8))
    assert not _opens(path)
    said = safetensors_problem(path)
    assert said is not None and said.startswith(f"{path}: ") and "\n" not in said, said
    for word in words:
        assert word in said, said


def test_a_header_longer_than_the_library_reads_is_refused_unread(tmp_path):
    """The library reads at most 100,000,000 header bytes; before, a file claiming a 3 GB header (sparse, present
    on disk) was read into memory whole. The file here is sparse: no byte of its claimed header is written."""
    path = tmp_path / "huge.safetensors"
    claimed = 100_000_008
    with path.open("wb") as f:
        f.write(struct.pack("<Q", claimed))
        f.truncate(8 + claimed)
    assert not _opens(path)
    said = safetensors_problem(path)
    assert said is not None and said.startswith(f"{path}: ") and str(claimed) in said and "100000000" in said, said


def test_headers_the_library_opens_pass(small):
    assert safetensors_problem(small) is None
    # keys out of offset order, an unknown field in an entry, an empty tensor, a scalar: all opened by the library
    header, body = _parts(small)
    header = {"b": header["b"], "a": {**header["a"], "note": 1}, "empty": {"dtype": "BF16", "shape": [0, 5],
              "data_offsets": [40, 40]}, "s": {"dtype": "I64", "shape": [], "data_offsets": [40, 48]},
              "__metadata__": {"format": "pt"}}
    path = _write(small, header, body + bytes(8))
    assert _opens(path)
    assert safetensors_problem(path) is None


def test_a_janus_checkpoint_with_such_a_header_is_refused_before_any_weight_is_loaded(real_format_build, tmp_path,
                                                                                    loads, refused_card):
    built = real_format_build("build_janus_pro", tmp_path / "built" / "Janus-Pro-1B")
    folder = Path(shutil.copytree(built, tmp_path / "Janus-Pro-1B"))
    key = "model.language_model.layers.0.mlp.up_proj.weight"
    path = _edited(folder / "model.safetensors", lambda h, b: h[key].update(shape=[h[key]["shape"][0] * 2,
                                                                                  h[key]["shape"][1]]))
    assert not _opens(path)
    said = refused_card("janus-pro-1b", folder)
    assert loads == []
    assert said.startswith(f"janus-pro-1b: {path}: tensor {key}: shape ")
