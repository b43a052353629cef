"""Hostile and broken input: whatever a user's files or uploads contain, the answer is a specific error.

Property tests (hypothesis) throw random JSON shapes, wrong types, huge strings, odd Unicode and raw
bytes at the loaders, and truncated, mutated and exotic images at the image checks. The property is the
same everywhere: a result, or an error of the documented type whose message names the file and the
problem; never another exception, and never a hang (hypothesis' deadline bounds each example).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.custom import custom_instance
from realunify_arena.benchmark.images import MAX_PIXELS, ImageError, open_checked
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS
from realunify_arena.benchmark.validation import Problem, check_image_file
from realunify_arena.benchmark.writer import write_official
from realunify_arena.json_layout import COLUMNS

# Each example is bounded: a hang or a pathological slowdown fails the example instead of stalling CI.
BOUNDED = settings(max_examples=120, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])
ODD_TEXT = st.text(st.characters(codec="utf-8", categories=None), max_size=40) | st.sampled_from([
    "", " ", "\u0000", "\u202eevil", "e\u0301", "🐯" * 3, "\ufeffBOM", "a\nb\r\nc", "\U0010ffff", "ﷺ", "<script>"])
JSON_LEAF = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | ODD_TEXT
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(ODD_TEXT, inner, max_size=4), max_leaves=12)


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly well-formed values, sometimes any JSON value: reaches deep validation branches too."""
    return st.one_of(valid, valid, JSON_VALUE)


QUESTION = st.fixed_dictionaries({"question": maybe(ODD_TEXT), "answer": maybe(st.sampled_from(["yes", "no"]))})
UEG_ENTRY = st.fixed_dictionaries(
    {"index": maybe(st.integers(-5, 10**12)), "task_type": maybe(st.sampled_from(UEG_TASKS + GEU_TASKS)),
     "prompt": maybe(ODD_TEXT), "question_list": maybe(st.lists(maybe(QUESTION), max_size=3))},
    optional={"new_prompt": maybe(ODD_TEXT), "extra_field": JSON_VALUE})
GEU_ENTRY = st.fixed_dictionaries(
    {"index": maybe(st.integers(-5, 10**12)), "task_type": maybe(st.sampled_from(GEU_TASKS + UEG_TASKS)),
     "input_image": maybe(st.sampled_from(["./image/a.png", "../outside.png", "/etc/passwd", "image/missing.png"])),
     "question": maybe(ODD_TEXT), "option": maybe(st.lists(maybe(ODD_TEXT), min_size=3, max_size=5)),
     "answer": maybe(st.sampled_from(["A", "B", "C", "D", "E", "a"]))},
    optional={"evaluation_prompt": maybe(ODD_TEXT), "edit_prompt": maybe(ODD_TEXT)})


def png_bytes(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims the given size but carries one byte of pixel data (a decompression-bomb probe)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def assert_problems_are_specific(dataset, files: set[str]) -> None:
    for problem in dataset.problems:
        assert isinstance(problem, Problem)
        assert problem.file in files, problem
        assert problem.message.strip(), problem
        assert str(problem).startswith(problem.file)


class TestOfficialLoader:
    @BOUNDED
    @given(data=JSON_VALUE)
    @example(data={"": {}})  # drawn once (verify27a): an object of objects is read as pandas' columns, and said so
    @example(data={"model": "m", "results": [{}]})  # a runner's run object, the entries one level down (hunt28b)
    @example(data=None)
    def test_any_json_document_loads_or_is_reported(self, tmp_path_factory, data):
        root = tmp_path_factory.mktemp("any")
        (root / "UEG_direct.json").write_text(json.dumps(data), encoding="utf-8")
        dataset = load(root)
        assert_problems_are_specific(dataset, {"UEG_direct.json"})
        if not isinstance(data, list):
            # each value named as JSON names it (RFC 8259's kinds), not by Python's type
            kind = {type(None): "null", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
                    dict: "an object"}[type(data)]
            expected = f"expected a JSON list of entries, got {kind}"
            if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
                # pandas' DataFrame.to_json() default layout (an object of columns, each of row -> value) is named
                expected = f"{COLUMNS}; {expected}"
            lists = [(k, v) for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
            if len(lists) == 1 and lists[0][1] and all(isinstance(x, dict) for x in lists[0][1]):
                # the entries one level down, under one key: that is said, with what the official scripts read
                expected = (f"a JSON object whose {lists[0][0]!r} holds a list of {len(lists[0][1])} objects; "
                            "expected the file to be that list itself, as the official scripts read it")
            assert [p.message for p in dataset.problems] == [expected]
        elif data:
            assert dataset.instances or dataset.problems

    @BOUNDED
    @given(raw=st.binary(max_size=300) | st.text(max_size=100).map(lambda s: s.encode("utf-16")))
    @example(raw=b"\x1f\x8b")  # drawn once (verify28a): gzip's signature, and bytes that are no UTF-8
    def test_arbitrary_bytes_are_reported_as_not_json(self, tmp_path_factory, raw):
        root = tmp_path_factory.mktemp("bytes")
        (root / "GEU_step.json").write_bytes(raw)
        dataset = load(root)
        assert_problems_are_specific(dataset, {"GEU_step.json"})
        try:  # UTF-8, or UTF-16/32 as Windows PowerShell writes: told apart as json.loads tells them apart
            parsed = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            assert dataset.problems and not dataset.instances
            said = ("not UTF-", "invalid JSON at line", "is empty")
            if isinstance(e, UnicodeDecodeError):  # bytes that start with a format's own signature are named by it
                said += tuple(kind for magic, kind in ((b"PAR1", "a Parquet file"), (b"\x1f\x8b", "a gzip-compressed"),
                                                       (b"PK\x03\x04", "a ZIP archive"),
                                                       (b"SQLite format 3\x00", "a SQLite database"))
                              if raw.startswith(magic))
            joined = " JSON lists one after another, the second starting at line "  # "[][]": two lists joined
            assert any(p.message.startswith(said) or joined in p.message for p in dataset.problems), dataset.problems
        else:
            assert isinstance(parsed, list) or dataset.problems

    @BOUNDED
    @given(entries=st.lists(UEG_ENTRY, min_size=1, max_size=4))
    def test_ueg_entries_each_become_an_instance_or_a_named_problem(self, tmp_path_factory, entries):
        root = tmp_path_factory.mktemp("ueg")
        (root / "UEG_direct.json").write_text(json.dumps(entries), encoding="utf-8")
        dataset = load(root)
        assert_problems_are_specific(dataset, {"UEG_direct.json"})
        assert len(dataset.instances) <= len(entries)
        if not dataset.problems:  # nothing reported means nothing dropped
            assert len(dataset.instances) == len(entries)
        if not dataset.instances:
            assert dataset.problems
        for inst in dataset.instances:  # what loads is valid: it survives the official writer and loads again
            assert CATEGORIES[inst.task_type].track == "UEG" and inst.prompt.strip() and inst.question_list
        again = tmp_path_factory.mktemp("again")
        write_official(dataset.instances, again)
        reloaded = load(again) if dataset.instances else None
        if reloaded is not None:
            assert [i.uid for i in reloaded.instances] == [i.uid for i in dataset.instances]
            assert not reloaded.problems

    @BOUNDED
    @given(entries=st.lists(GEU_ENTRY, min_size=1, max_size=4))
    def test_geu_entries_never_escape_the_folder_or_crash(self, tmp_path_factory, entries):
        root = tmp_path_factory.mktemp("geu")
        (root / "image").mkdir()
        Image.new("RGB", (8, 8), "red").save(root / "image" / "a.png")
        (root.parent / "outside.png").write_bytes(png_bytes(Image.new("RGB", (4, 4))))
        (root / "GEU_direct.json").write_text(json.dumps(entries), encoding="utf-8")
        dataset = load(root)
        assert_problems_are_specific(dataset, {"GEU_direct.json"})
        for inst in dataset.instances:
            assert inst.image_path.is_relative_to(root.resolve())
            assert len(inst.option) == 4 and inst.answer in "ABCD"
            assert inst.open_image().size == (8, 8)

    def test_deeply_nested_json_is_a_problem_not_a_recursion_error(self, tmp_path):
        (tmp_path / "UEG_direct.json").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
        dataset = load(tmp_path)
        assert not dataset.instances
        assert [p.file for p in dataset.problems] == ["UEG_direct.json"]
        assert "nested too deeply" in dataset.problems[0].message

    def test_huge_strings_load_in_full(self, tmp_path):
        prompt = "a tiger " * 500_000  # 4 MB in one field
        entry = {"index": 1, "task_type": "world_knowledge", "prompt": prompt,
                 "question_list": [{"question": "q" * 100_000, "answer": "yes"}]}
        (tmp_path / "UEG_direct.json").write_text(json.dumps([entry]), encoding="utf-8")
        dataset = load(tmp_path)
        assert not dataset.problems and dataset.instances[0].prompt == prompt

    def test_lone_surrogates_are_reported_not_loaded(self, tmp_path):
        """``"\\ud800"`` is valid JSON but not encodable text: every later UTF-8 write of it would fail."""
        good = {"index": 2, "task_type": "world_knowledge", "prompt": "tiger \U0001f42f",
                "question_list": [{"question": "Is it a tiger?", "answer": "yes"}]}
        bad = {**good, "index": 1, "prompt": "tiger \ud800"}
        (tmp_path / "UEG_direct.json").write_text(json.dumps([bad, good]), encoding="utf-8")
        dataset = load(tmp_path)
        assert [i.index for i in dataset.instances] == [2]
        assert [str(p) for p in dataset.problems] == [
            "UEG_direct.json, index 1 (world_knowledge): contains a string that is not valid Unicode"
            " (a lone surrogate escape such as \\ud800)"]
        write_official(dataset.instances, tmp_path / "out")
        assert load(tmp_path / "out").instances[0].prompt == good["prompt"]


class TestParquetLoader:
    @BOUNDED
    @given(raw=st.binary(max_size=400))
    def test_arbitrary_bytes_as_parquet_are_reported(self, tmp_path_factory, raw):
        path = tmp_path_factory.mktemp("pq") / "mental_tracking.parquet"
        path.write_bytes(raw)
        dataset = load(path)
        assert not dataset.instances
        assert [p.file for p in dataset.problems] == [path.name]
        assert dataset.problems[0].message.startswith("unreadable parquet file")

    @pytest.mark.parametrize("column, value, message", [
        ("index", "seven", "field 'index': expected an integer, got a string"),
        ("option", "A, B, C, D", "field 'option': expected a list of 4 option strings, got a string"),
        ("answer", "Z", "field 'answer': expected a letter among the options (A-D), got 'Z'"),
        ("image", None, "field 'image': missing; expected the image as bytes"),
    ])
    def test_wrong_field_types_name_the_field(self, tmp_path, column, value, message):
        row = {"index": 1, "task_type": "mental_tracking", "question": "q?", "option": ["a", "b", "c", "d"],
               "answer": "A", "image": {"bytes": png_bytes(Image.new("RGB", (4, 4)))}}
        row[column] = value
        path = tmp_path / "mt.parquet"
        pq.write_table(pa.Table.from_pylist([row]), path)
        dataset = load(path)
        assert not dataset.instances
        assert any(message in str(p) for p in dataset.problems), dataset.problems

    def test_truncated_parquet_is_reported(self, tmp_path):
        good = tmp_path / "good.parquet"
        pq.write_table(pa.Table.from_pylist([{"index": 1, "question": "q"}]), good)
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        dataset = load(bad)
        assert [p.message.split(":")[0] for p in dataset.problems] == ["unreadable parquet file"]


SAMPLE = Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8))
ENCODED = {fmt: png_bytes(SAMPLE, fmt) for fmt in ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")}


def check_image(source) -> Image.Image | None:
    """``open_checked``'s contract: an RGB image, or ImageError naming the source; anything else fails."""
    try:
        img = open_checked(source)
    except ImageError as e:
        name = str(source) if isinstance(source, (str, Path)) else "<image bytes>"
        assert str(e).startswith(name + ": ") and len(str(e)) > len(name) + 2
        return None
    assert img.mode == "RGB" and img.width > 0 and img.height > 0
    return img


class TestImages:
    @BOUNDED
    @given(fmt=st.sampled_from(sorted(ENCODED)), cut=st.floats(0.0, 0.999))
    def test_truncated_images_are_refused_cleanly(self, fmt, cut):
        data = ENCODED[fmt]
        check_image(data[: int(len(data) * cut)])

    @BOUNDED
    @given(fmt=st.sampled_from(sorted(ENCODED)), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                                min_size=1, max_size=8))
    def test_corrupted_images_decode_or_are_refused(self, fmt, flips):
        data = bytearray(ENCODED[fmt])
        for position, value in flips:
            data[position % len(data)] = value
        check_image(bytes(data))

    @BOUNDED
    @given(raw=st.binary(max_size=200))
    def test_random_bytes_are_refused_cleanly(self, raw):
        check_image(raw)

    @pytest.mark.parametrize("content, message", [
        (b"", "not an image file Pillow can read"),
        (b"<html><body>not a picture</body></html>", "not an image file Pillow can read"),
        (b"PK\x03\x04" + b"\x00" * 40, "not an image file Pillow can read"),
        (png_header_only(0, 10), "a PNG file cut short or damaged before its picture"),  # no picture of 0 columns
        (png_header_only(9_000, 8_000), f"9000x8000 = 72000000 pixels is over the limit of {MAX_PIXELS}"),
        (png_header_only(10_000, 10_000), "over the pixel limit"),
        (png_header_only(100_000, 100_000), "over the pixel limit"),
        (png_header_only(2**31 - 1, 2**31 - 1), "over the pixel limit"),
    ])
    def test_non_images_and_impossible_sizes_name_the_problem(self, tmp_path, content, message):
        path = tmp_path / "upload.png"  # an image extension does not make an image
        path.write_bytes(content)
        with pytest.raises(ImageError) as info:
            open_checked(path)
        assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
        problem = check_image_file(path, file="GEU_direct.json", label="index 1")
        assert problem is not None and problem.field == "input_image"

    @pytest.mark.parametrize("fmt, cut", [("PNG", 40), ("GIF", 10), ("JPEG", 4)])
    def test_an_image_cut_short_before_its_picture_is_named_by_its_format(self, tmp_path, fmt, cut):
        """A download cut short: the file starts as its format says (PNG's 8-byte signature, IHDR to byte 33;
        GIF's 6-byte header, its screen descriptor to byte 13; JPEG's SOI marker FF D8 then FF) and ends before
        its header does. Before: "not an image file Pillow can read (formats read here: ..., PNG, ...)", which
        sends one to convert a file that is already a PNG."""
        path = tmp_path / f"cut.{fmt.lower()}"
        path.write_bytes(ENCODED[fmt][:cut])
        with pytest.raises(ImageError) as info:
            open_checked(path)
        assert str(info.value) == (f"{path}: a {fmt} file cut short or damaged before its picture (its header cannot"
                                   " be read); save or download it again")

    def test_pixel_data_shorter_than_the_header_claims(self, tmp_path):
        """The load-time check reads headers only; the full decode at use time names the problem."""
        path = tmp_path / "short.png"
        path.write_bytes(png_header_only(4_000, 4_000))
        with pytest.raises(ImageError, match=r"short\.png: unreadable image"):
            open_checked(path)

    def test_missing_file_and_directory(self, tmp_path):
        with pytest.raises(ImageError, match="file not found"):
            open_checked(tmp_path / "nope.png")
        with pytest.raises(ImageError, match="a folder, not a file; expected an image file"):  # not "not found"
            open_checked(tmp_path)

    def test_over_a_given_pixel_limit_is_refused_before_decoding(self):
        with pytest.raises(ImageError, match="32x24 = 768 pixels is over the limit of 500"):
            open_checked(ENCODED["PNG"], max_pixels=500)

    def test_sixteen_bit_greyscale_is_scaled_not_clipped(self):
        ramp = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
        img = check_image(png_bytes(Image.fromarray(ramp)))
        assert [img.getpixel((x, 0))[0] for x in range(4)] == [0, 63, 127, 255]

    def test_cmyk_palette_and_transparency_become_rgb(self):
        cmyk = check_image(png_bytes(Image.new("CMYK", (5, 3), (0, 255, 255, 0)), "JPEG"))
        assert cmyk.size == (5, 3) and cmyk.getpixel((2, 1))[0] > 200 > cmyk.getpixel((2, 1))[1]
        palette = Image.new("P", (4, 4), 1)
        palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        palette.info["transparency"] = 1
        assert check_image(png_bytes(palette, transparency=1)).getpixel((0, 0)) == (255, 255, 255)
        rgba = Image.new("RGBA", (2, 2), (0, 0, 255, 0))
        assert check_image(png_bytes(rgba)).getpixel((1, 1)) == (255, 255, 255)

    @pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
    def test_animations_give_their_first_frame(self, fmt):
        frames = [Image.new("RGB", (6, 4), colour) for colour in ("red", "lime", "blue")]
        data = png_bytes(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, loop=0)
        first = check_image(data)
        assert first.size == (6, 4)
        red, green, blue = first.getpixel((3, 2))
        assert red > 200 and green < 60 and blue < 60

    def test_a_bad_image_in_an_official_folder_is_a_problem_of_that_entry(self, tmp_path):
        images = {"ok.png": png_bytes(SAMPLE), "text.png": b"just text", "cut.png": ENCODED["PNG"][:60],
                  "huge.png": png_header_only(20_000, 20_000)}
        (tmp_path / "image").mkdir()
        entries = []
        for i, (name, data) in enumerate(images.items()):
            (tmp_path / "image" / name).write_bytes(data)
            entries.append({"index": i, "task_type": "mental_tracking", "input_image": f"./image/{name}",
                            "question": "q?", "option": ["a", "b", "c", "d"], "answer": "A"})
        (tmp_path / "GEU_direct.json").write_text(json.dumps(entries), encoding="utf-8")
        dataset = load(tmp_path)
        assert [i.input_image for i in dataset.instances] == ["./image/ok.png"]
        assert sorted(p.entry for p in dataset.problems) == ["index 1 (mental_tracking)", "index 2 (mental_tracking)",
                                                             "index 3 (mental_tracking)"]
        assert {p.field for p in dataset.problems} == {"input_image"}
        assert any(f"over the pixel limit of {MAX_PIXELS}" in p.message for p in dataset.problems)


class TestExploreOwnInstance:
    """The Explore tab's "your own instance" form: what a browser sends goes through ``custom_instance``,
    which refuses with a ValueError the tab shows as its message."""

    @BOUNDED
    @given(prompt=ODD_TEXT, track=st.sampled_from(["UEG", "GEU"]), options=st.lists(ODD_TEXT, max_size=6))
    def test_any_text_gives_an_instance_or_a_message(self, prompt, track, options):
        image = Image.new("RGB", (8, 8)) if track == "GEU" else None
        try:
            inst = custom_instance(track, "all", prompt, image, prompt, "\n".join(options), "")
        except ValueError as e:
            assert str(e).startswith("Your own")
            return
        assert inst.track == track
        if track == "UEG":
            assert inst.prompt == prompt.strip() and inst.prompt
        else:
            assert len(inst.option) == 4 and inst.open_image().size == (8, 8)

    @pytest.mark.parametrize("invisible", ["\u200b\u200d\u2060\ufeff", " \u202e\u200b ", "\u0000\u00ad"])
    def test_text_with_no_visible_character_is_refused_like_empty_text(self, invisible):
        """Zero-width, direction and control characters show nothing: a prompt of only those is an empty
        prompt to the person who typed it, and must be refused before any model runs on it."""
        with pytest.raises(ValueError, match="needs a text-to-image prompt"):
            custom_instance("UEG", "all", invisible, None, "", "", "")
        image = Image.new("RGB", (8, 8))
        with pytest.raises(ValueError, match="exactly 4 options"):
            custom_instance("GEU", "all", "", image, invisible, "a\nb\nc\nd", "")
        with pytest.raises(ValueError, match="got 3"):  # an invisible line is no option
            custom_instance("GEU", "all", "", image, "Where?", f"a\nb\n{invisible}\nd", "")

    def test_the_same_text_with_surrounding_spaces_is_the_same_instance(self):
        """The instance is stored stripped, so its id must come from the stripped text: otherwise a repeat
        with a trailing space is another instance with the same prompt and does not reuse its runs."""
        assert custom_instance("UEG", "all", "  cat on a mat \n", None, "", "", "").uid == \
            custom_instance("UEG", "all", "cat on a mat", None, "", "", "").uid
        image = Image.new("RGB", (8, 8))
        assert custom_instance("GEU", "all", "", image, " Where? ", "a\nb\nc\nd", "").uid == \
            custom_instance("GEU", "all", "", image, "Where?", "a\nb\nc\nd", "").uid

    def test_an_over_long_prompt_is_refused(self):
        with pytest.raises(ValueError, match="characters"):
            custom_instance("UEG", "all", "draw a tiger " * 100_000, None, "", "", "")

    def test_text_that_is_not_unicode_is_refused_with_a_message(self):
        with pytest.raises(ValueError):
            custom_instance("UEG", "all", "a tiger \ud800", None, "", "", "")

    def test_an_upload_over_the_pixel_limit_is_refused_with_a_message(self):
        with pytest.raises(ValueError, match="over the limit"):
            custom_instance("GEU", "all", "", Image.new("1", (8_001, 8_000)), "q?", "a\nb\nc\nd", "")

    @pytest.mark.parametrize("content, message", [
        (png_header_only(8_001, 8_000), "bomb.png: 8001x8000 = 64008000 pixels is over the limit"),
        (png_bytes(Image.new("RGB", (64, 64), "red"))[:60], "bomb.png: unreadable image"),
        (b"<html>not an image</html>", "bomb.png: not an image file"),
    ])
    def test_an_uploaded_file_is_read_through_open_checked(self, tmp_path, content, message):
        """What the browser sends: the upload's file path (the server's folders are not named back)."""
        upload = tmp_path / "bomb.png"
        upload.write_bytes(content)
        with pytest.raises(ValueError, match="Your own GEU image cannot be used") as info:
            custom_instance("GEU", "all", "", str(upload), "q?", "a\nb\nc\nd", "")
        assert message in str(info.value) and str(tmp_path) not in str(info.value)

    def test_an_uploaded_file_becomes_the_instance_image_upright(self, tmp_path):
        upload = tmp_path / "scene.png"
        upload.write_bytes(png_bytes(Image.new("LA", (30, 20), (90, 128))))
        inst = custom_instance("GEU", "attentional_focusing", "", upload, "Where?", "a\nb\nc\nd", "C")
        assert (inst.task_type, inst.answer) == ("attentional_focusing", "C")
        assert inst.open_image().mode == "RGB" and inst.open_image().size == (30, 20)
        photo = tmp_path / "phone.jpg"  # stored landscape, with EXIF orientation 6: shown rotated 90 degrees
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.new("RGB", (30, 20), "red").save(photo, exif=exif)
        inst = custom_instance("GEU", "all", "", str(photo), "Where?", "a\nb\nc\nd", "")
        assert inst.open_image().size == (20, 30)
