"""A JPEG whose decode takes far longer than its size says is refused before it decodes: each scan of a progressive
JPEG is a pass over the whole picture, so a small file repeating one scan decoded for as long as it liked (a 172 KB
16 MP upload of 1,010 scans took 9 s of CPU, holding one of the two decode slots; a 64 MiB upload holds 2 million
such scans). The second issue of libjpeg-turbo's "Two Issues with the JPEG Standard" (2019), which its ``djpeg
-maxscans`` and TurboJPEG's scan limit guard against.

The files are made here: Pillow's progressive JPEG, its last scan (SOS segment and entropy-coded data, up to EOI)
repeated; the expected scan count is the SOS markers (0xFF 0xDA) of a file that holds no other JPEG, counted
as bytes.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from realunify_arena.benchmark.custom import custom_instance
from realunify_arena.benchmark.images import MAX_JPEG_MARKERS, MAX_JPEG_SCANS, MAX_JPEG_SKIPPED, ImageError, OverLimit, open_checked

SOS, EOI = b"\xff\xda", b"\xff\xd9"


def progressive(extra_scans: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (120, 60, 30)).save(buffer, format="JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    end = data.rindex(EOI)
    last = data[data.rindex(SOS):end]
    return data[:end] + last * extra_scans + data[end:]


def test_a_jpeg_repeating_a_scan_is_refused_before_it_decodes(tmp_path):
    data = progressive(1000)
    scans = data.count(SOS)
    assert scans > MAX_JPEG_SCANS and len(data) < 100_000  # a small file
    with pytest.raises(ImageError) as refused:
        open_checked(data)
    assert f"more than {MAX_JPEG_SCANS} scans" in str(refused.value)
    path = tmp_path / "slow.jpg"
    path.write_bytes(data)
    with pytest.raises(ValueError) as own:  # the upload path: the message names the file as uploaded
        custom_instance("GEU", "mental_tracking", None, str(path), "Which colour?", "a\nb\nc\nd", "A")
    assert str(own.value).startswith("Your own GEU image cannot be used: slow.jpg: a JPEG of")


def test_ordinary_jpegs_and_the_limit_itself_are_read():
    plain = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 9, 9)).save(plain, format="JPEG")
    assert open_checked(plain.getvalue()).size == (64, 64)
    ordinary = progressive(0)
    assert 1 < ordinary.count(SOS) < MAX_JPEG_SCANS
    assert open_checked(ordinary).size == (256, 256)
    at_limit = progressive(MAX_JPEG_SCANS - ordinary.count(SOS))
    assert at_limit.count(SOS) == MAX_JPEG_SCANS
    assert open_checked(at_limit).size == (256, 256)
    with pytest.raises(ImageError):
        open_checked(progressive(MAX_JPEG_SCANS - ordinary.count(SOS) + 1))


def test_a_scan_inside_an_exif_thumbnail_is_not_counted():
    """An APP1 segment holding a progressive thumbnail (its own SOS markers): only the picture's own scans count."""
    thumbnail = progressive(MAX_JPEG_SCANS)
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 9, 9)).save(picture, format="JPEG")
    app1 = b"Exif\0\0" + thumbnail
    data = picture.getvalue()
    data = data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]
    assert open_checked(data).size == (64, 64)


@pytest.mark.parametrize("junk", [b"\x00", b"junk", b"\xff\x00"], ids=["zero", "text", "stuffed-ff"])
def test_bytes_between_segments_do_not_hide_the_scans(junk):
    """libjpeg skips bytes that are no marker between two segments (jdmarker.c ``next_marker``: "Corrupt JPEG data:
    extraneous bytes before marker", a warning) and goes on to read every scan; so does Pillow's header parser. A
    walk that stopped at the first such byte counted 0 scans of a file of 210 (verify26c)."""
    data = progressive(200)
    first = data.index(SOS)
    hidden = data[:first] + junk + data[first:]
    Image.open(io.BytesIO(hidden)).load()  # a JPEG libjpeg reads whole, all its scans
    with pytest.raises(OverLimit) as refused:
        open_checked(hidden)
    assert f"more than {MAX_JPEG_SCANS} scans" in str(refused.value)


COMMENT = b"\xff\xfe\x00\x02"  # an empty COM segment: 4 bytes, one marker


@pytest.mark.parametrize("where", ["before the first scan", "after the first scan"])
def test_a_jpeg_of_more_markers_than_any_real_file_is_refused_unwalked(where, tmp_path):
    """Each marker is Python work (Pillow's parser before the first scan, the scan count after it), ~0.3-0.6 us: a
    64 MiB upload of empty comments held a decode slot for 5-10 s where libjpeg reads it in 0.1 s (verify26c). A
    file of more comments than the limit is refused, from a path as from bytes; one of 50 fewer (a baseline file
    from Pillow has about 10 markers of its own: SOI, APP0, DQT, SOF0, DHT, SOS, EOI) is read."""
    plain = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 99, 199)).save(plain, format="JPEG")
    data = plain.getvalue()
    at = data.index(b"\xff\xdb") if where == "before the first scan" else data.rindex(EOI)
    flooded = data[:at] + COMMENT * (MAX_JPEG_MARKERS + 1) + data[at:]
    Image.open(io.BytesIO(flooded)).load()  # libjpeg reads it
    path = tmp_path / "comments.jpg"
    path.write_bytes(flooded)
    for source in (flooded, path):
        with pytest.raises(OverLimit) as refused:
            open_checked(source)
        assert f"more than {MAX_JPEG_MARKERS:,} markers" in str(refused.value)
    below = data[:at] + COMMENT * (MAX_JPEG_MARKERS - 50) + data[at:]
    assert open_checked(below).size == (16, 16)


def test_a_file_object_is_checked_from_its_start_as_pillow_reads_it():
    """``Image.open`` reads a file object from its start whatever its position; so does the scan check (one that
    read from the position let a 210-scan file through)."""
    source = io.BytesIO(progressive(200))
    source.seek(5)
    with pytest.raises(OverLimit):
        open_checked(source)


def test_fill_bytes_before_a_marker_are_skipped_in_one_pass():
    """0xFF fill bytes may come before a marker (ITU-T T.81 B.1.1.2); libjpeg skips them. Half a megabyte of them
    before the first scan of a 210-scan file: the scans are still counted (a pattern that backtracked over the run
    from each of its bytes took 11 s for 40,000 of them, quadratic: this file would run for an hour; verify26c)."""
    data = progressive(200)
    first = data.index(SOS)
    filled = data[:first] + b"\xff" * 2**19 + data[first:]
    Image.open(io.BytesIO(filled)).load()  # libjpeg reads it
    with pytest.raises(OverLimit) as refused:
        open_checked(filled)
    assert f"more than {MAX_JPEG_SCANS} scans" in str(refused.value)


@pytest.mark.parametrize("fill", [b"\xff", b"\x00"])
def test_more_fill_or_junk_between_segments_than_any_encoder_writes_is_refused(fill):
    """Pillow's header parser skips bytes between segments one at a time in Python (8 MiB of 0xFF: 1.8 s of its
    open, holding a decode slot; verify26c). One byte over ``MAX_JPEG_SKIPPED`` is refused, the limit itself is read
    (the file is sound: libjpeg reads it)."""
    plain = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 99, 199)).save(plain, format="JPEG")
    data = plain.getvalue()
    at = data.index(b"\xff\xdb")
    over = data[:at] + fill * (MAX_JPEG_SKIPPED + 1) + data[at:]
    Image.open(io.BytesIO(over)).load()
    with pytest.raises(OverLimit) as refused:
        open_checked(over)
    assert f"more than {MAX_JPEG_SKIPPED:,} bytes between its segments" in str(refused.value)
    assert open_checked(data[:at] + fill * MAX_JPEG_SKIPPED + data[at:]).size == (16, 16)
