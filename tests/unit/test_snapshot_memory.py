"""The snapshot pushed to the dataset repo is compared with the last one without reading either into memory.

``persistence.snapshot`` skips a push when the new copy of the database has the same SHA-256 as the last one.
Before, each file was read whole to hash it (``read_bytes``): every few minutes the app held two copies of its
database in memory, and a store of a few GB ran a Space out of memory. Here a 1 GiB sparse file (no disk used)
is hashed in a process allowed 512 MiB of data; the expected digest is computed by streaming in the test.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import resource, sys
from pathlib import Path
from realunify_arena.persistence import _sha256
resource.setrlimit(resource.RLIMIT_DATA, (512 * 2**20, 512 * 2**20))
print(_sha256(Path(sys.argv[1])))
"""


def test_a_snapshot_larger_than_memory_allows_is_hashed(tmp_path):
    path = tmp_path / "arena.snapshot.db"
    with open(path, "wb") as f:
        os.truncate(f.fileno(), 2**30)
    expected = hashlib.sha256()
    zeros = bytes(2**20)
    for _ in range(1024):
        expected.update(zeros)
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == expected.hexdigest()
