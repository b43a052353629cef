"""The data-file size limit can be raised for one run, and it bounds a parquet file by what it decompresses to.

Before, the 256 MiB limit on a JSON, JSON Lines or CSV data file was fixed: a reader with the memory for a
larger results file had to split it. And a parquet file (the lmms-lab GEU copy) had no bound at all: its
columns are decompressed whole and then copied into Python objects, and a few kilobytes of file can hold
gigabytes of one repeated value. Now ``REALUNIFY_MAX_DATA_FILE_MB`` sets the limit (MiB) for every data file,
and a parquet file is refused from its footer's uncompressed sizes before a column is read.

The expected sizes are worked out here from what is written (a blob's length times its rows), never read back
from the project.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from realunify_arena.cli import main
from realunify_arena.text_files import read_json_text

ENV = "REALUNIFY_MAX_DATA_FILE_MB"
MIB = 2**20


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return buf.getvalue()


def _geu_parquet(path, rows: int, padding: int) -> int:
    """A GEU parquet file as lmms-lab ships it (one task, the image as bytes) with a ``note`` column of
    ``padding`` zero bytes per row, which compresses to almost nothing; returns the padding's total size."""
    table = pa.Table.from_pylist([
        {"index": i, "task_type": "attentional_focusing", "question": "Which colour?",
         "option": ["red", "green", "blue", "yellow"], "answer": "A", "image": {"bytes": _png()},
         "note": b"\0" * padding} for i in range(rows)])
    pq.write_table(table, path)
    return rows * padding


def test_the_variable_raises_and_lowers_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "votes.jsonl"
    path.write_bytes(b'{"a": 1}\n' * (MIB // 9 + 1))  # just over 1 MiB
    monkeypatch.setenv(ENV, "1")
    with pytest.raises(OSError) as caught:
        read_json_text(path)
    assert "over the 1 MiB a data file is read up to" in caught.value.strerror
    assert ENV in caught.value.strerror  # the message says how to raise it
    monkeypatch.setenv(ENV, "2")
    assert len(read_json_text(path)) == path.stat().st_size


def test_the_largest_limit_reads_a_small_file_with_memory_for_its_size(tmp_path, monkeypatch, capsys):
    """Before, a file was read with ``read(limit + 1)``, which allocates the limit before reading: 256 MiB for
    each file at the default, and with the variable at a size the machine cannot allocate (1048576, the largest
    it takes: 1 TiB) every data file, however small, was a ``MemoryError`` traceback."""
    import tracemalloc

    from realunify_arena.text_files import read_regular

    folder = tmp_path / "results"
    folder.mkdir()
    path = folder / "GEU_direct.json"
    path.write_text("[]", encoding="utf-8")
    tracemalloc.start()
    try:
        assert read_regular(path, MIB * 256, refuse_over=True) == b"[]"
        assert read_regular(path, 2) == b"[]" and read_regular(path, 1) == b"[]"  # a caller sees it is over 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MIB, peak
    monkeypatch.setenv(ENV, "1048576")
    assert main(["score-official", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert f"{folder}: no entry carries results" in err, err  # the file was read: an empty list


@pytest.mark.parametrize("value", ["abc", "0", "1.5", "-3", "1e3", "２", "99999999"])
def test_a_malformed_limit_is_named_with_what_is_expected(tmp_path, monkeypatch, capsys, value):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "GEU_direct.json").write_text("[]", encoding="utf-8")
    monkeypatch.setenv(ENV, value)
    assert main(["score-official", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"GEU_direct.json: cannot be read: {ENV}={value!r}: expected a whole number of MiB from 1 to" in err, err


def test_a_parquet_file_that_decompresses_past_the_limit_is_refused_unread(tmp_path, monkeypatch, capsys):
    path = tmp_path / "attentional_focusing.parquet"
    padding = _geu_parquet(path, rows=24, padding=128 * 1024)  # 3 MiB of zeros in the note column
    assert path.stat().st_size < MIB // 4  # the file itself is far under the limit
    monkeypatch.setenv(ENV, "2")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next(x for x in err.splitlines() if "attentional_focusing.parquet" in x)
    # rows are decoded 16 at a time: the first 16 hold 16 * 128 KiB = 2 MiB of padding alone, over the limit
    size = int(line.split(" MiB (")[1].split(" bytes)")[0])
    assert 16 * 128 * 1024 < size < padding, line
    assert "decoded in its first 16 rows, over the 2 MiB a data file is read up to" in line and ENV in line


def test_a_single_value_past_the_limit_is_refused_from_the_footer(tmp_path, monkeypatch, capsys):
    path = tmp_path / "attentional_focusing.parquet"
    padding = _geu_parquet(path, rows=1, padding=3 * MIB)  # one value: its page's uncompressed size is 3 MiB
    monkeypatch.setenv(ENV, "2")
    assert main(["validate", str(path)]) == 1
    line = next(x for x in capsys.readouterr().err.splitlines() if "attentional_focusing.parquet" in x)
    size = float(line.split("cannot be read: ")[1].split(" MiB")[0])
    assert padding / MIB <= size < padding / MIB + 0.1, line
    assert "uncompressed, over the 2 MiB" in line


def test_a_parquet_file_under_a_raised_limit_is_read(tmp_path, monkeypatch, capsys):
    path = tmp_path / "attentional_focusing.parquet"
    _geu_parquet(path, rows=24, padding=128 * 1024)
    monkeypatch.setenv(ENV, "8")
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert "GEU: 24 instances (AF 24)" in capsys.readouterr().out


def test_the_default_limit_still_reads_an_ordinary_parquet_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ENV, raising=False)
    path = tmp_path / "attentional_focusing.parquet"
    _geu_parquet(path, rows=3, padding=16)
    assert main(["validate", str(path)]) == 0
    assert "GEU: 3 instances (AF 3)" in capsys.readouterr().out
