"""A PNG or GIF whose header takes far longer to read than its size says is refused before Pillow opens it: Pillow
reads each PNG chunk and each GIF block in Python, keeping every private PNG chunk, and joins a GIF's comments one
copy at a time, so its cost grows with the square of their count. Measured before (upload27): 48 MB of 4 million
empty PNG chunks, 12 s and 485 MB; 48 MB of empty IDAT chunks, 10 s; a 1 MB GIF of 200,000 one-byte comments, 4.3 s;
a 10 MB GIF comment of 40,000 sub-blocks, over a minute.

The files are made here from Pillow's own small PNG and GIF, with chunks (ISO/IEC 15948, 5.3: length, type, data,
CRC-32) or extension blocks (GIF89a, 23-24: 0x21, a label, sub-blocks, an empty one) spliced in; the expected
counts are those of the construction.

A JPEG 2000 of many tiles (hunt28a) costs in the same way, in memory: OpenJPEG sets up each tile as it reads the
header, ~11.5 KB apiece whatever it holds, so a 2.3 MB file of a flat 1 MP picture in 65,280 tiles of 4x4 took 785 MB
and 1.7 s to open (one tile: 45 MB), twice the decode budget of its 1 MP header. Its files are written here by
Pillow's own encoder in tiles of a chosen size; the expected count is ceil(width / side) x ceil(height / side).

So does one in tiny code-blocks (hunt28a): ~400 bytes apiece, so a 42 KB file of a flat 19 MP picture in 4x4
code-blocks took 1.75 GB and 3.9 s to open. Its files are Pillow's own in 64x64 code-blocks whose coding style (COD
and COC marker segments, ISO/IEC 15444-1 A.6.1-A.6.2) is rewritten or added here; the expected counts are
worked out by hand in each test from the subband sizes (B.5).

So does a TIFF of many strips or tiles (hostile29): Pillow lists each as it opens the file and decodes each in
Python's loop, so an 8 MB file of a flat 2000x2000 picture in 1,000,000 tiles of 2x2 took 9.8 s and 362 MB to open.
Its files are written here field by field (TIFF 6.0 sections 2, 3 and 15), every tile or strip pointing at the
same bytes; the expected count is the construction's.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from realunify_arena.benchmark.custom import custom_instance
from realunify_arena.benchmark.images import (
    MAX_GIF_BLOCKS, MAX_GIF_COMMENT, MAX_PNG_CHUNKS, ImageError, OverLimit, j2k_codeblocks, open_checked,
    tiff_blocks,
)

PNG_PICTURE_AT = 33  # the 8-byte signature and the 25-byte IHDR chunk of any PNG


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 99, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def gif(extensions: bytes = b"") -> bytes:
    """Pillow's 16x16 GIF with ``extensions`` before its picture (after the header, screen descriptor and colour
    table)."""
    buffer = io.BytesIO()
    Image.new("P", (16, 16), 3).save(buffer, format="GIF")
    data = buffer.getvalue()
    flags = data[10]
    picture = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    return data[:picture] + extensions + data[picture:]


def comment(text: bytes) -> bytes:
    """A comment extension holding ``text`` in sub-blocks of up to 255 bytes."""
    return b"\x21\xfe" + b"".join(bytes([len(text[i:i + 255])]) + text[i:i + 255] for i in range(0, len(text), 255)) \
        + b"\x00"


def upload_refusal(path, data: bytes) -> str:
    """The message refusing ``data``, saved at ``path``, as one's own uploaded image (it names the file as
    uploaded)."""
    path.write_bytes(data)
    with pytest.raises(ValueError) as own:
        custom_instance("GEU", "mental_tracking", None, str(path), "Which colour?", "a\nb\nc\nd", "A")
    return str(own.value)



def assert_refused_both_ways(path, data: bytes, says: str) -> None:
    """``data`` is refused by ``open_checked`` saying ``says``, and as an own-instance upload named ``path`` with
    the page's words before the file's name."""
    with pytest.raises(OverLimit) as refused:
        open_checked(data)
    assert says in str(refused.value)
    assert upload_refusal(path, data).startswith(f"Your own GEU image cannot be used: {path.name}: {says[:16]}")

def test_a_png_of_many_chunks_is_refused_before_it_opens(tmp_path):
    data = png()
    flooded = data[:PNG_PICTURE_AT] + chunk(b"prIv", b"") * MAX_PNG_CHUNKS + data[PNG_PICTURE_AT:]
    assert len(flooded) < 2_000_000  # a small file
    assert_refused_both_ways(tmp_path / "chunks.png", flooded,
                             f"a PNG of more than {MAX_PNG_CHUNKS:,} chunks is over the limit")


def test_a_png_whose_picture_is_split_into_many_chunks_is_refused():
    """Empty IDAT chunks after the picture's first: each is a pass of Pillow's decode loop in Python."""
    data = png()
    first_idat = data.index(b"IDAT") - 4
    split = data[:first_idat] + chunk(b"IDAT", b"") * MAX_PNG_CHUNKS + data[first_idat:]
    with pytest.raises(OverLimit, match="more than 100,000 chunks"):
        open_checked(split)


def test_pngs_up_to_the_limit_are_read():
    data = png()
    assert open_checked(data).getpixel((3, 3)) == (9, 99, 200)
    ordinary_chunks = data.count(b"IHDR") + data.count(b"IDAT") + data.count(b"IEND")
    at_limit = data[:PNG_PICTURE_AT] + chunk(b"prIv", b"") * (MAX_PNG_CHUNKS - ordinary_chunks) + data[PNG_PICTURE_AT:]
    assert open_checked(at_limit).getpixel((3, 3)) == (9, 99, 200)
    frames = [Image.new("RGB", (8, 8), (i, 0, 0)) for i in range(200)]  # an animation: its frames' chunks count too
    animated = io.BytesIO()
    frames[0].save(animated, format="PNG", save_all=True, append_images=frames[1:])
    assert open_checked(animated.getvalue()).getpixel((1, 1)) == (0, 0, 0)


GRAPHIC_CONTROL = b"\x21\xf9\x04\x00\x00\x00\x00\x00"  # a graphic control extension: 2 blocks (GIF89a, 23)


def test_a_gif_of_many_comments_is_refused_before_it_opens(tmp_path):
    flooded = gif(comment(b"x") * (MAX_GIF_COMMENT // 2 + 1))  # each a byte and the line Pillow puts between two
    assert len(flooded) < 200_000
    assert_refused_both_ways(tmp_path / "comments.gif", flooded,
                             f"a GIF of more than {MAX_GIF_COMMENT:,} bytes of comments before its first picture")


def test_a_gif_of_many_blocks_is_refused_before_it_opens():
    flooded = gif(GRAPHIC_CONTROL * (MAX_GIF_BLOCKS // 2 + 1))
    with pytest.raises(OverLimit) as refused:
        open_checked(flooded)
    assert f"a GIF of more than {MAX_GIF_BLOCKS:,} blocks before its first picture" in str(refused.value)


@pytest.mark.parametrize("label, over", [(b"\xfe", "bytes of comments"), (b"\xff", "blocks"), (b"\x01", "blocks")],
                         ids=["comment", "application", "plain-text"])
def test_a_gif_of_many_empty_extensions_is_refused(label, over):
    with pytest.raises(OverLimit, match=f"more than [0-9,]+ {over}"):
        open_checked(gif((b"\x21" + label + b"\x00") * (MAX_GIF_BLOCKS + 1)))


def test_a_gif_with_a_large_xmp_packet_is_read():
    """XMP in a GIF (XMP specification part 3, 1.1.2): an application extension 'XMP DataXMP' holding the packet
    raw, then a 258-byte magic trailer (1, 255, 254, ..., 0, 0) that brings a reader taking each byte for a
    sub-block's length to the end. Photoshop's packet grows with the document ancestors it lists; one of 1.4 MB
    (20,000 ids as Photoshop writes them) was refused as more than 10,000 blocks, though Pillow reads it in ms."""
    ancestors = "".join(f"<rdf:li>xmp.did:{k:08x}-1a2b-4c3d-8e9f-{k * 7919:012x}</rdf:li>\n   " for k in range(20_000))
    packet = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
              ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n  <rdf:Description rdf:about=""'
              ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">\n   <photoshop:DocumentAncestors><rdf:Bag>\n   '
              f'{ancestors}</rdf:Bag></photoshop:DocumentAncestors>\n  </rdf:Description>\n </rdf:RDF>\n'
              '</x:xmpmeta>\n<?xpacket end="w"?>').encode()
    trailer = bytes([1, *range(255, -1, -1), 0])
    data = b"GIF89a" + gif(b"\x21\xff\x0bXMP DataXMP" + packet + trailer)[6:]  # as a file with extensions is named
    assert len(packet) > 1_000_000
    assert open_checked(data).size == (16, 16)


def test_a_gif_comment_over_the_limit_is_refused():
    """One comment of sub-blocks of 255 bytes, well under the block limit: Pillow joins them one copy at a time."""
    over = gif(comment(b"c" * MAX_GIF_COMMENT))  # its bytes and the one Pillow puts before a later comment
    with pytest.raises(OverLimit) as refused:
        open_checked(over)
    assert f"more than {MAX_GIF_COMMENT:,} bytes of comments" in str(refused.value)


def test_gifs_up_to_the_limits_are_read():
    assert open_checked(gif()).size == (16, 16)
    ordinary = io.BytesIO()  # an animation with a loop count and a comment, as Pillow writes one
    frames = [Image.new("P", (8, 8), i) for i in range(50)]
    frames[0].save(ordinary, format="GIF", save_all=True, append_images=frames[1:], loop=0, comment=b"made here")
    assert open_checked(ordinary.getvalue()).size == (8, 8)
    assert open_checked(gif(comment(b"c" * (MAX_GIF_COMMENT - 1)))).size == (16, 16)
    assert open_checked(gif(comment(b"x") * (MAX_GIF_COMMENT // 2))).size == (16, 16)
    assert open_checked(gif(GRAPHIC_CONTROL * (MAX_GIF_BLOCKS // 2))).size == (16, 16)


def j2k(size: tuple[int, int], side: int, codestream: bool) -> bytes:
    """A flat picture of ``size`` in JPEG 2000 tiles of ``side`` x ``side``: a JP2 file, or a bare codestream."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="JPEG2000", tile_size=(side, side),
                                               no_jp2=codestream, irreversible=False)
    return buffer.getvalue()


@pytest.mark.parametrize("codestream", [False, True], ids=["jp2", "j2k"])
def test_a_jpeg_2000_of_many_tiles_is_refused_before_it_opens(tmp_path, codestream):
    assert 64 * 65 == 4160 > 4096  # 256 / 4 tiles across, 260 / 4 down: over the limit of 4,096
    data = j2k((256, 260), 4, codestream)
    assert_refused_both_ways(tmp_path / ("tiles.j2k" if codestream else "tiles.jp2"), data,
                             "a JPEG 2000 of more than 4,096 tiles is over the limit")


@pytest.mark.parametrize("codestream", [False, True], ids=["jp2", "j2k"])
def test_a_jpeg_2000_at_the_tile_limit_and_an_untiled_one_still_open(codestream):
    for size, side in (((256, 256), 4), ((250, 256), 4), ((1024, 1024), 1024)):  # 4,096, 63 x 64 = 4,032, 1 tile
        with open_checked(j2k(size, side, codestream)) as opened:
            assert opened.size == size and opened.getpixel((size[0] - 1, size[1] - 1)) == (200, 30, 30)


@pytest.mark.parametrize("length", [2**63, 2**64 - 1, 2**40], ids=["2^63", "2^64-1", "1 TiB"])
def test_a_jp2_box_longer_than_any_file_is_named_not_a_traceback(tmp_path, length):
    """A JP2 whose header box (``jp2h``) says, in its 8-byte XLBox (ISO/IEC 15444-1 I.4), a length no file has:
    seeking past it raised OverflowError ("Python int too large to convert to C ssize_t") out of ``open_checked``
    for bytes, and Pillow's own box reader did the same ("cannot fit 'int' into an index-sized integer"); a path
    was "unreadable image (cannot fit 'int' into an offset-sized integer)". Each is a damaged file, named as one."""
    data = j2k((16, 16), 16, codestream=False)
    at = data.index(b"jp2h") - 4  # the box's 4-byte length before its type
    (old,) = struct.unpack(">I", data[at:at + 4])
    broken = data[:at] + struct.pack(">I4sQ", 1, b"jp2h", length) + data[at + 8:]
    assert old < len(data) < length  # the construction: only the header box's length is changed
    path = tmp_path / "long_box.jp2"
    path.write_bytes(broken)
    for source in (broken, path):
        with pytest.raises(ImageError) as refused:
            open_checked(source)
        said = str(refused.value)
        assert "runs past the end of the file" in said and "jp2h" in said, said
    assert upload_refusal(path, broken).startswith(f"Your own GEU image cannot be used: {path.name}: ")


def segment(data: bytes, marker: int) -> int:
    """Where the first ``marker`` segment of the codestream in ``data`` starts, walking the main header's segments
    from SIZ (each a 2-byte marker, then a length counting itself; A.1.4)."""
    at = data.index(b"\xff\x4f\xff\x51") + 2  # SOC, SIZ
    while struct.unpack_from(">H", data, at)[0] != marker:
        at += 2 + struct.unpack_from(">H", data, at + 2)[0]
    return at


def cod(data: bytes) -> int:
    return segment(data, 0xFF52)


def in_code_blocks(data: bytes, exponent: int) -> bytes:
    """``data`` with its main COD saying code-blocks of 2**exponent x 2**exponent (xcb, ycb: the exponent less 2,
    after Scod, 4 bytes of SGcod and the decomposition levels)."""
    at = cod(data) + 4 + 1 + 4 + 1
    return data[:at] + bytes([exponent - 2, exponent - 2]) + data[at + 2:]


def j2k_plain(side: int = 1024, codestream: bool = True) -> bytes:
    """A flat picture of ``side`` x ``side`` in Pillow's JPEG 2000: 5 decomposition levels, 64x64 code-blocks."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(buffer, format="JPEG2000", no_jp2=codestream)
    data = buffer.getvalue()
    assert data[cod(data) + 9:cod(data) + 12] == bytes([5, 4, 4])  # 5 levels, 64x64 code-blocks
    return data


# 3 components of 1024 x 1024 samples in 4x4 code-blocks: the subbands fill the component and all are multiples of
# 4 each way (the lowest 32x32), so 3 x 1024 x 1024 / 16 exactly
TINY_BLOCKS = 3 * 1024 * 1024 // 16


@pytest.mark.parametrize("codestream", [False, True], ids=["jp2", "j2k"])
def test_a_jpeg_2000_in_tiny_code_blocks_is_refused_before_it_opens(tmp_path, codestream):
    assert TINY_BLOCKS == 196_608 > 131_072
    data = in_code_blocks(j2k_plain(codestream=codestream), 2)
    assert_refused_both_ways(tmp_path / ("blocks.j2k" if codestream else "blocks.jp2"), data,
                             f"a JPEG 2000 in code-blocks as small as 4x4 samples makes about {TINY_BLOCKS:,} of "
                             "them, over the limit of 131,072")


def test_tiny_code_blocks_set_in_a_tile_part_header_are_refused(tmp_path):
    """A COD in the tile-part header (A.6.1 allows it there; OpenJPEG reads it there too) overrides the main
    header's 64x64: the tile-part grows by the segment, so its Psot (A.4.2) does too."""
    data = j2k_plain()
    tiny = in_code_blocks(data, 2)
    added = tiny[cod(tiny):cod(tiny) + 2 + struct.unpack_from(">H", tiny, cod(tiny) + 2)[0]]
    sot = segment(data, 0xFF90)
    (psot,) = struct.unpack_from(">I", data, sot + 6)
    data = data[:sot + 6] + struct.pack(">I", psot + len(added)) + data[sot + 10:sot + 12] + added + data[sot + 12:]
    assert_refused_both_ways(tmp_path / "tile_part.j2k", data,
                             f"a JPEG 2000 in code-blocks as small as 4x4 samples makes about {TINY_BLOCKS:,}")


def coc(data: bytes, component: int) -> bytes:
    """A COC (A.6.2) for ``component`` (1 byte: fewer than 257 components) saying 4x4 code-blocks: Scoc 0, then
    the COD's SPcod with xcb = ycb = 0."""
    at = cod(data) + 4 + 1 + 4
    body = bytes([component, 0, data[at], 0, 0]) + data[at + 3:at + 5]
    return struct.pack(">HH", 0xFF53, 2 + len(body)) + body


def with_cocs(data: bytes, components) -> bytes:
    at = cod(data) + 2 + struct.unpack_from(">H", data, cod(data) + 2)[0]  # just after the COD
    return data[:at] + b"".join(coc(data, c) for c in components) + data[at:]


def test_tiny_code_blocks_given_component_by_component_are_counted_for_each():
    """A COC names one component: 4x4 there, the COD's 64x64 in the other two. 64x64 in 1024x1024 over 5 levels
    (subbands of 32 at the lowest two levels, then 64, 128, 256, 512 a side): 1 + 3 + 3 + 3*4 + 3*16 + 3*64 = 259."""
    data = j2k_plain()
    assert j2k_codeblocks(io.BytesIO(with_cocs(data, [0])))[0] == 1024 * 1024 // 16 + 2 * 259 == 66_054
    with pytest.raises(OverLimit) as refused:
        open_checked(with_cocs(data, [0, 1, 2]))
    assert f"makes about {TINY_BLOCKS:,} of them, over the limit of 131,072" in str(refused.value)


def test_precincts_that_make_code_blocks_tiny_are_refused():
    """Precincts of 4x4 (PPx = PPy = 2; Scod bit 0 and one byte a resolution level after SPcod) hold code-blocks
    of at most 2x2 above the lowest level (B.7: half a precinct) and 4x4 there. 512x512 over 5 levels: the lowest
    subband is 16x16, 16 blocks; the rest (512**2 - 16**2 samples) in blocks of 4 samples: 3 x (16 + 65,472)."""
    data = j2k_plain(512)
    at = cod(data)
    length = struct.unpack_from(">H", data, at + 2)[0]
    data = (data[:at + 2] + struct.pack(">HB", length + 6, data[at + 4] | 1) + data[at + 5:at + 2 + length]
            + bytes([0x22] * 6) + data[at + 2 + length:])
    with pytest.raises(OverLimit) as refused:
        open_checked(data)
    assert "as small as 2x2 samples makes about 196,464 of them" in str(refused.value)


def test_a_jpeg_2000_in_small_but_ordinary_code_blocks_opens():
    """Encoders write 64x64 or 32x32; Pillow's encoder in 8x8 at 512x512 (the lowest subband 16x16), 3 x 512**2 / 64
    = 12,288 blocks, opens."""
    buffer = io.BytesIO()
    Image.new("RGB", (512, 512), (20, 90, 160)).save(buffer, format="JPEG2000", codeblock_size=(8, 8))
    assert j2k_codeblocks(buffer)[0] == 12_288
    with open_checked(buffer.getvalue()) as opened:
        assert opened.size == (512, 512) and opened.getpixel((511, 511)) == (20, 90, 160)


def tiff(width: int, height: int, side: int | None, order: str = "<") -> tuple[bytes, int]:
    """An uncompressed RGB TIFF of a flat picture in tiles of ``side`` x ``side`` (TileWidth, TileLength,
    TileOffsets, TileByteCounts), or with ``side`` None in strips of one row (RowsPerStrip 1, StripOffsets,
    StripByteCounts), every one pointing at the same bytes; ``order`` "<" little-endian ("II"), ">" big ("MM").
    Returns the file and its count of tiles or strips."""
    block = bytes([200, 30, 30]) * ((side * side) if side else width)
    count = -(-width // side) * -(-height // side) if side else height
    data_at, offsets_at = 8, 8 + len(block)
    counts_at = offsets_at + 4 * count
    bits_at = counts_at + 4 * count
    ifd_at = bits_at + 6
    fields = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
              (277, 3, 1, 3), (284, 3, 1, 1)]
    fields += ([(322, 3, 1, side), (323, 3, 1, side), (324, 4, count, offsets_at), (325, 4, count, counts_at)] if side
               else [(273, 4, count, offsets_at), (278, 4, 1, 1), (279, 4, count, counts_at)])
    out = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", ifd_at) + block
    out += struct.pack(f"{order}{count}I", *[data_at] * count) + struct.pack(f"{order}{count}I", *[len(block)] * count)
    out += struct.pack(order + "3H", 8, 8, 8) + struct.pack(order + "H", len(fields))
    for tag, kind, n, value in sorted(fields):
        packed = struct.pack(order + "HH", value, 0) if kind == 3 and n == 1 else struct.pack(order + "I", value)
        out += struct.pack(order + "HHI", tag, kind, n) + packed
    return out + struct.pack(order + "I", 0), count


@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
def test_a_tiff_of_many_tiny_tiles_is_refused_before_it_opens(tmp_path, order):
    data, count = tiff(600, 600, 2, order)
    assert count == 300 * 300 == 90_000 > 65_536
    assert_refused_both_ways(tmp_path / "tiles.tif", data,
                             "a TIFF of 90,000 strips or tiles is over the limit of 65,536")


def test_a_tiff_of_many_one_row_strips_is_refused_before_it_opens(tmp_path):
    data, count = tiff(4, 70_000, None)
    assert count == 70_000
    assert_refused_both_ways(tmp_path / "strips.tif", data,
                             "a TIFF of 70,000 strips or tiles is over the limit of 65,536")


def test_tiffs_in_ordinary_strips_and_tiles_open():
    for width, height, side in ((2048, 2048, 16), (64, 65_536, 16), (300, 2000, None)):
        data, count = tiff(width, height, side)
        assert tiff_blocks(io.BytesIO(data)) == count <= 65_536
        with open_checked(data) as opened:
            assert opened.size == (width, height) and opened.getpixel((width - 1, height - 1)) == (200, 30, 30)
