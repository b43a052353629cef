"""Your own instances held on the server are bounded by the bytes of their images, not only by their count.

Before: the last 64 were held whatever their size ("a few MB at most"), but a 64 MP photo uploaded as your
own GEU image is ~70 MB as the PNG the instance keeps (measured: an 8000x8000 JPEG of a noisy gradient,
68 MB), so 64 distinct large uploads pinned ~4.5 GB for as long as the app ran. Here three instances of
known image sizes against a byte bound set in the test: the oldest goes once the sum is over it, the newest
stays even when it alone is over it.
"""

from __future__ import annotations

import pytest
from PIL import Image

from realunify_arena import context
from realunify_arena.arena import Arena
from realunify_arena.benchmark.custom import CUSTOM_DATASET, custom_instance
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store


@pytest.fixture
def ctx(tmp_path):
    store = Store.open(tmp_path / "arena.db")
    yield context.AppContext(Settings(data=("bundled",), db=tmp_path / "arena.db"), store,
                             ModelPool(load_cards()), Arena(store))
    store.close()


def own(seed: int):
    image = Image.effect_noise((128, 128), 64 + seed).convert("RGB")  # noise: tens of KB as PNG
    return custom_instance("GEU", "all", "", image, f"question {seed}?", "a\nb\nc\nd", "")


def test_the_oldest_own_instance_goes_once_their_images_are_over_the_byte_bound(ctx, monkeypatch):
    first, second, third = own(1), own(2), own(3)
    sizes = [len(i.image_bytes) for i in (first, second, third)]
    assert min(sizes) > 10_000
    monkeypatch.setattr(context, "OWN_HELD_BYTES", sizes[1] + sizes[2], raising=False)  # room for the last two, not three
    references = [ctx.hold(CUSTOM_DATASET, inst) for inst in (first, second, third)]
    with pytest.raises(KeyError, match="no longer held on the server; press Run again"):
        ctx.instance(references[0])
    assert [ctx.instance(r) for r in references[1:]] == [second, third]


def test_the_newest_own_instance_is_held_even_when_its_image_alone_is_over_the_bound(ctx, monkeypatch):
    monkeypatch.setattr(context, "OWN_HELD_BYTES", 1000, raising=False)
    first, second = own(1), own(2)
    references = [ctx.hold(CUSTOM_DATASET, inst) for inst in (first, second)]
    assert ctx.instance(references[1]) == second
    with pytest.raises(KeyError):
        ctx.instance(references[0])
