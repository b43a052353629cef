"""An image only 1 to 3 pixels tall (or wide, or both) is understood as the image it is, by every local family.

Transformers' image processors that work on numpy arrays guess where the colour channels are
(``infer_channel_dimension_format``): a PIL RGB image becomes (height, width, 3), and when the height is 1
or 3 the guess is "channels first". Emu3's processor then failed on a 50x1 or 1x1 upload ("mean must have 1
elements if it is an iterable, got 3", shown as the run's error) and fed a 50x3 image to the model turned
into a 3-wide, 50-tall one, silently. The expected orientation comes from the image itself: wider than tall
stays wider than tall.
"""

from __future__ import annotations

import pytest
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.cards import load_cards

CARDS = load_cards()
THIN = [(1, 1), (50, 1), (1, 50), (3, 3), (50, 3), (3, 50), (2, 2)]  # (width, height)


@pytest.fixture(scope="module")
def adapters():
    built = {name: build_adapter(CARDS[name]) for name in ("tiny-emu3", "tiny-janus", "tiny-pair")}
    yield built
    for adapter in built.values():
        adapter.close()


@pytest.mark.parametrize("name", ["tiny-emu3", "tiny-janus", "tiny-pair"])
@pytest.mark.parametrize("size", THIN, ids=[f"{w}x{h}" for w, h in THIN])
def test_a_thin_image_is_understood(adapters, name, size):
    image = Image.new("RGB", size, (200, 30, 30))
    assert isinstance(adapters[name].understand([image], "What colour is it?", CARDS[name].defaults), str)


class _Recording:
    """The adapter's own processor, unchanged, keeping what each call returned."""

    def __init__(self, processor):
        self.processor, self.returned = processor, []

    def __call__(self, *args, **kwargs):
        self.returned.append(self.processor(*args, **kwargs))
        return self.returned[-1]

    def __getattr__(self, name):
        return getattr(self.processor, name)


@pytest.mark.parametrize("size", [(50, 3), (3, 50), (50, 1), (64, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_emu3_sees_a_wide_image_wide_and_a_tall_one_tall(adapters, size):
    adapter = adapters["tiny-emu3"]
    key = next(k for k in adapter.loaded if k.startswith("processor:"))
    recording = adapter.loaded[key] = _Recording(adapter.loaded[key])
    try:
        adapter.understand([Image.new("RGB", size, (10, 200, 10))], "What is it?", CARDS["tiny-emu3"].defaults)
    finally:
        adapter.loaded[key] = recording.processor
    height, width = (int(v) for v in recording.returned[-1]["image_sizes"][0])  # the resized image, in pixels
    assert (width > height) == (size[0] > size[1]) and pixel_values_match(recording.returned[-1], height, width)


def pixel_values_match(inputs, height: int, width: int) -> bool:
    """The pixel tensor is (images, 3 channels, height, width) as ``image_sizes`` says."""
    return tuple(inputs["pixel_values"].shape[1:]) == (3, height, width)
