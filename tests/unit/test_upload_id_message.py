"""An ``upload_id`` refused by ``upload_progress.bad_upload_id`` is told what is wrong with it.

The 400 said "it must be 1 to 64 letters, digits, '-' or '_' ..., not 7 characters" for "abc.def": seven characters
are allowed, so the one fault (the '.') went unnamed, and an id too long read "not 65 characters that long".
"""

from __future__ import annotations

import pytest

from realunify_arena.upload_progress import MAX_ID_CHARS, bad_upload_id


@pytest.mark.parametrize(("upload_id", "named"), [
    ("abc.def", "'.' (character 4)"), ("a b", "' ' (character 2)"), ("x" * 13 + "/", "'/' (character 14)"),
    ("é", "'é' (character 1)"),
])
def test_a_character_not_allowed_is_named_with_its_place(upload_id, named):
    assert named in bad_upload_id(upload_id)


@pytest.mark.parametrize("length", [0, MAX_ID_CHARS + 1, 16_000])
def test_a_length_out_of_range_is_said_as_the_length(length):
    message = bad_upload_id("a" * length)
    assert f"it has {length} characters" in message and f"1 to {MAX_ID_CHARS}" in message


@pytest.mark.parametrize("upload_id", ["a", "k3j9x0q2m7z1p", "A-b_9", "0" * MAX_ID_CHARS])
def test_the_page_s_form_passes(upload_id):
    assert bad_upload_id(upload_id) is None
