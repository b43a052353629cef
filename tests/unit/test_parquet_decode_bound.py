"""A parquet file is held to the data-file limit by what it decodes to before it is decoded, even in one row.

The footer's uncompressed sizes count a run-length or dictionary encoded column as stored: a value repeated
is stored once. The rows were then decoded 16 at a time and refused once over the limit, but one row can be
a list of millions of numbers or of one repeated text: a 2 KB file whose single row was a list of 50 million
zeros (400 MB) was decoded whole before the refusal, and the same file at 8 billion zeros runs any machine out
of memory. The bound is measured here by Arrow's own memory pool (its peak allocation) in a process of its own
that runs the ``validate`` command, so nothing of the project's accounting is trusted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MIB = 2**20
LIMIT_MB = 4

PEAK = """
import json, sys
import pyarrow as pa
from realunify_arena.cli import main
code = main(["validate", sys.argv[1]])
print(json.dumps({"code": code, "peak": pa.default_memory_pool().max_memory()}))
"""


def _row(**extra) -> dict:
    return {"index": [0], "task_type": ["attentional_focusing"], "question": ["Which colour?"],
            "option": [["red", "green", "blue", "yellow"]], "answer": ["A"], "image": [b"\x89PNG"], **extra}


def _list_of_zeros(path) -> int:
    count = 8 * MIB  # 64 MiB of int64 in one row
    values = pa.array([0] * count, pa.int64())
    pq.write_table(pa.table(_row(note=pa.ListArray.from_arrays(pa.array([0, count], pa.int32()), values))), path)
    return count * 8


def _list_of_one_text(path) -> int:
    count, text = 64 * 1024, "x" * 1024  # 64 MiB of one 1 KiB text repeated in one row
    pq.write_table(pa.table(_row(note=pa.array([[text] * count], pa.list_(pa.string())))), path)
    return count * len(text)


def _rows_of_one_text(path) -> int:
    rows, text = 16, "y" * (3 * MIB)  # 16 rows of one 3 MiB text: each under the limit, 48 MiB together
    table = pa.table({"index": list(range(rows)), "task_type": ["attentional_focusing"] * rows,
                      "question": ["Which colour?"] * rows, "option": [["a", "b", "c", "d"]] * rows,
                      "answer": ["A"] * rows, "image": [b"\x89PNG"] * rows, "note": [text] * rows})
    pq.write_table(table, path, compression="zstd")
    return rows * len(text)


@pytest.mark.slow
@pytest.mark.parametrize("build", [_list_of_zeros, _list_of_one_text, _rows_of_one_text])
def test_a_small_file_that_decodes_past_the_limit_is_refused_before_it_is_decoded(tmp_path, build):
    path = tmp_path / "attentional_focusing.parquet"
    decoded = build(path)
    assert path.stat().st_size < MIB and decoded > 8 * LIMIT_MB * MIB  # the premise: small file, big decode
    env = {"REALUNIFY_MAX_DATA_FILE_MB": str(LIMIT_MB), "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, env=env,
                          check=False)
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 1
    assert f"over the {LIMIT_MB} MiB a data file is read up to" in done.stderr, done.stderr
    # Arrow's peak stays within a few times the limit (a stored page under the limit is held compressed,
    # decompressed and as its dictionary while read), whatever the rows decode to: each file here decodes to
    # more than 8 times the limit
    assert result["peak"] < 4 * LIMIT_MB * MIB, (result, done.stderr)
