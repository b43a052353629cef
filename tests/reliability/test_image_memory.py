"""Memory stays bounded while images decode: a small file that decodes to a huge 16-bit image, alone and
several at once.

The reported case: an 8000x8000 16-bit greyscale PNG is about 136 KB on disk and inside the 64 MP limit,
and it raised peak memory by 1.2 GB through a float64 path; four at once reached 5.3 GB. Each
measurement runs ``open_checked`` in a fresh Python process and reads that process's peak resident memory
(``VmHWM`` in ``/proc/self/status``, Linux) before and after, so Pillow's own (C) allocations count too.

The bound comes from the image size: a decode may hold its decoded source (2 bytes a pixel for 16 bits)
and one 8-bit RGB copy (Pillow keeps RGB at 4 bytes a pixel), 6 bytes a pixel in all; concurrent decodes
wait on ``MAX_CONCURRENT_DECODES``, so N at once hold at most that many decodes plus one finished result
on its way out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark.images import MAX_CONCURRENT_DECODES, MAX_PIXELS

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")]

ROOT = Path(__file__).resolve().parents[2]
BYTES_PER_PIXEL = 2 + 4  # decoded 16-bit source + 8-bit RGB copy
SLACK = 32 * 2**20  # interpreter and allocator noise
LEVEL = 16384  # -> 16384 * 255 // 65535 = 63 in every channel

def _threads_script(work: str, key: str) -> str:
    """A script (argv: an image path, a number of threads) that runs ``work`` (the source of a function ``work()``
    appending to ``results``) in that many threads at once and prints the process's peak memory rise over a
    baseline taken after the image code is loaded, and the results under ``key``, as JSON."""
    return r"""
import io, json, sys, threading
from PIL import Image
from realunify_arena.benchmark.images import check_header, open_checked

path, copies = sys.argv[1], int(sys.argv[2])
for mode in ("I;16", "RGB"):  # plugins and code paths loaded before the baseline
    tiny = io.BytesIO()
    Image.new(mode, (8, 8), 1).save(tiny, format="PNG")
    open_checked(tiny.getvalue())

def peak():  # this process's peak resident memory (ru_maxrss would start at the parent's peak: fork keeps it)
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) * 1024

before = peak()
results = []
""" + work + r"""
threads = [threading.Thread(target=work) for _ in range(copies)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"rise": peak() - before, "%s": results}))
""" % key


MEASURE = _threads_script(r"""
def work():
    image = open_checked(path)
    results.append((image.size, image.getpixel((0, 0)), image.getpixel((image.width - 1, image.height - 1))))
    del image
""", "pixels")


def measure(path: Path, copies: int, script: str = MEASURE) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script, str(path), str(copies)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def sixteen_bit_png(path: Path, side: int) -> Path:
    Image.new("I;16", (side, side), LEVEL).save(path)
    return path


@pytest.fixture(scope="module")
def at_the_limit(tmp_path_factory) -> Path:
    side = 8000
    assert side * side <= MAX_PIXELS  # the reported image is allowed in: its decode must be cheap
    return sixteen_bit_png(tmp_path_factory.mktemp("memory") / "flat16.png", side)


def test_one_64_megapixel_16_bit_png_decodes_within_6_bytes_a_pixel(at_the_limit):
    assert at_the_limit.stat().st_size < 400_000  # a small file...
    result = measure(at_the_limit, 1)
    pixels = 8000 * 8000
    bound = BYTES_PER_PIXEL * pixels + SLACK  # ...that may cost 416 MB, not the 1.2 GB it did
    print(f"peak rise {result['rise'] / 2**20:.0f} MB for one 64 MP 16-bit PNG (bound {bound / 2**20:.0f} MB)")
    assert result["pixels"] == [[[8000, 8000], [63, 63, 63], [63, 63, 63]]]
    assert result["rise"] < bound


def test_concurrent_decodes_wait_for_each_other(tmp_path):
    side, copies = 4000, 6
    path = sixteen_bit_png(tmp_path / "flat16.png", side)
    result = measure(path, copies)
    per_decode = BYTES_PER_PIXEL * side * side
    bound = MAX_CONCURRENT_DECODES * per_decode + 4 * side * side + SLACK
    print(f"peak rise {result['rise'] / 2**20:.0f} MB for {copies} concurrent 16 MP 16-bit PNGs "
          f"(bound {bound / 2**20:.0f} MB; unlimited would be about {copies * 5 * side * side / 2**20:.0f} MB)")
    assert len(result["pixels"]) == copies and all(p[1] == [63, 63, 63] for p in result["pixels"])
    assert result["rise"] < bound


HEADER_MEASURE = _threads_script(r"""
def work():  # what an upload meets: the header check before Gradio opens it, then Run's decode
    check_header(path)
    results.append(open_checked(path).size)
""", "sizes")


def png_with_chunk(path: Path, chunk_type: bytes, payload: bytes) -> Path:
    """A sound 40x20 RGB PNG with one extra chunk of ``payload`` before its pixels (PNG specification 5.3:
    length, type, data, CRC over type and data)."""
    import io as _io
    import zlib

    buffer = _io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 90)).save(buffer, format="PNG")
    data = buffer.getvalue()
    chunk = (len(payload).to_bytes(4, "big") + chunk_type + payload
             + (zlib.crc32(chunk_type + payload) & 0xFFFFFFFF).to_bytes(4, "big"))
    path.write_bytes(data[:33] + chunk + data[33:])  # after the 8-byte signature and the 25-byte IHDR chunk
    return path


@pytest.mark.parametrize("chunk_type, payload", [(b"tEXt", b"Comment\0" + b"A" * (48 * 2**20)),
                                                 (b"prVt", b"\0" * (48 * 2**20))],
                         ids=["text chunk", "private chunk"])
def test_concurrent_header_reads_of_a_large_upload_wait_for_each_other(tmp_path, chunk_type, payload):
    """A 40x20 picture carrying 48 MB in a text or private chunk (inside the 64 MiB upload limit): Pillow reads
    every such chunk whole while it opens the file, before any pixel, so each header read held about three times
    the file (measured: +151 MB for 52 MB), and header reads had no limit on how many run at once: 8 uploads at
    once rose by 1 GB. They now take the decode slots too, so 8 at once hold at most ``MAX_CONCURRENT_DECODES``
    of one's rise (measured here, alone, in the same way)."""
    from realunify_arena.benchmark.images import MAX_UPLOAD_BYTES

    path = png_with_chunk(tmp_path / "chunky.png", chunk_type, payload)
    assert path.stat().st_size < MAX_UPLOAD_BYTES
    alone = measure(path, 1, HEADER_MEASURE)
    copies = 8
    together = measure(path, copies, HEADER_MEASURE)
    bound = MAX_CONCURRENT_DECODES * alone["rise"] + SLACK
    print(f"{chunk_type.decode()}: one {alone['rise'] / 2**20:.0f} MB, {copies} at once "
          f"{together['rise'] / 2**20:.0f} MB (bound {bound / 2**20:.0f} MB)")
    assert together["sizes"] == [[40, 20]] * copies
    assert together["rise"] < bound
