"""What Explore's form does, through the same non-UI functions an API caller or the CLI can use: a run's
settings from form fields (``form_settings.form_options``) and an upload its own decoding refused
(``benchmark.custom.refused_upload`` / ``RefusedUpload``, refused by ``custom_instance``)."""

from __future__ import annotations

import pytest
from PIL import Image

from realunify_arena.benchmark.custom import RefusedUpload, custom_instance, refused_upload
from realunify_arena.cards import load_cards
from realunify_arena.form_settings import form_options, settings_used

CARDS = load_cards()
OPTIONS = "red\ngreen\nblue\nyellow"


def test_form_fields_keep_the_card_defaults_where_empty_zero_or_unused():
    card = CARDS["tiny-janus"]  # understands and generates; declares guidance 5.0, no steps
    assert settings_used(card) == {"steps": False, "guidance": True, "max_new_tokens": True}
    options = form_options(CARDS, "tiny-janus", "", 40, "", 0)
    assert (options.seed, options.steps, options.guidance, options.max_new_tokens) == (0, None, 5.0, 8)
    options = form_options(CARDS, "tiny-janus", "7", None, "2.5", "3")
    assert (options.seed, options.guidance, options.max_new_tokens) == (7, 2.5, 3)


def test_form_fields_are_refused_with_one_plain_sentence():
    with pytest.raises(ValueError, match=r"^Choose a model card; 'nope' is not offered here\.$"):
        form_options(CARDS, "nope", 0, None, None, None)
    with pytest.raises(ValueError, match=r"guidance .* must not be negative.*\.$"):
        form_options(CARDS, "tiny-janus", 0, None, -1, None)


def test_an_upload_that_is_no_image_refuses_your_own_geu_instance_by_its_own_name(tmp_path):
    bad = tmp_path / "upload-3f2a.png"
    bad.write_bytes(b"not an image at all")
    refused = refused_upload(str(bad), shown_name="holiday.png")
    assert isinstance(refused, RefusedUpload) and refused == str(bad)
    assert refused.reason.startswith("Your own GEU image cannot be used: holiday.png")
    with pytest.raises(ValueError) as info:
        custom_instance("GEU", "", None, refused, "Which colour?", OPTIONS, "A")
    assert str(info.value) == refused.reason
    # a UEG instance uses no image: the refused upload beside it refuses nothing
    assert custom_instance("UEG", "", "a red cube", refused, None, None, None).prompt == "a red cube"


def test_an_upload_that_opens_is_not_a_refusal(tmp_path):
    good = tmp_path / "ok.png"
    Image.new("RGB", (32, 32), "red").save(good)
    assert refused_upload(str(good), shown_name="ok.png") is None
