"""A weight file whose safetensors header lies is counted as stored, never from its claims (ckbreak34).

``availability.estimate_bytes`` counts a ``.safetensors`` file in the card's dtype from its header
(``safetensors_header.loaded_bytes``). A header the safetensors library itself refuses (the reference: ``safe_open``
raises) says nothing of what a load would take: its file is counted by its size on disk, with no exception and no
astronomic or negative size flipping the "too large for this machine" decision.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from safetensors import safe_open

from realunify_arena import availability as av
from realunify_arena.cards import load_card

# each a header safetensors' own format rule refuses, with 24 bytes of data after it
LYING = {
    "float shape past float range": {"a": {"dtype": "F32", "shape": [1e308, 1e308], "data_offsets": [0, 4]}},
    "huge shape, small offsets": {"a": {"dtype": "F32", "shape": [10**12, 10**12], "data_offsets": [0, 4]}},
    "negative shape": {"a": {"dtype": "F32", "shape": [-5, 2], "data_offsets": [0, 4]}},
    "fractional shape": {"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 4]}},
    "offsets past the file's end": {"a": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}},
}


def _file(folder: Path, header: dict | bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = folder / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 24)
    return path


def _card(tmp_path: Path, folder: Path):
    path = tmp_path / f"{folder.name}.yaml"
    path.write_text(f"family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: {folder}\n"
                    "dtype: bfloat16\n")
    return load_card(path)


@pytest.mark.parametrize("case", [*LYING, "nested 200000 deep"])
def test_a_header_that_lies_is_counted_as_stored(tmp_path, case):
    # before: OverflowError (float shape), RecursionError (nesting) out of estimate_bytes, or 2e24 / -20 bytes
    header = LYING.get(case) or b"[" * 200_000 + b"]" * 200_000
    path = _file(tmp_path / "m", header)
    with pytest.raises(Exception):  # the reference: the library refuses the file
        with safe_open(str(path), framework="pt"):
            pass
    assert av.estimate_bytes(_card(tmp_path, tmp_path / "m")) == path.stat().st_size



@pytest.mark.parametrize("nested", ["[" * 200_000 + "]" * 200_000, "{\"unet\": " * 200_000 + "1" + "}" * 200_000],
                         ids=["array", "object"])
def test_a_model_index_nested_too_deeply_is_read_as_any_unreadable_one(tmp_path, nested):
    # before: estimate_bytes raised RecursionError and availability said only "availability check failed:
    # RecursionError: maximum recursion depth exceeded ..."; the reference is a model_index.json that is not JSON
    for name, text in (("deep", nested), ("bad", "{bad")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model_index.json").write_text(text)
    deep, bad = (_card(tmp_path, tmp_path / name) for name in ("deep", "bad"))
    assert av.estimate_bytes(deep) == av.estimate_bytes(bad)
    ok, reason = av.availability(deep, device="cpu")
    assert (ok, reason.replace(str(tmp_path / "deep"), "X")) == tuple(
        v.replace(str(tmp_path / "bad"), "X") if isinstance(v, str) else v for v in av.availability(bad, device="cpu"))
