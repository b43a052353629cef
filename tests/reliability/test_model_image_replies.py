"""A local model's image that cannot be used is that run's error, like any other failed step.

Measured before: a model (a local adapter) that returned a 0x0 image made ``/run_instance`` fail with Gradio's
bare "upstream Gradio app has raised an exception" and a ``ValueError: cannot write empty image`` traceback
logged (the store's PNG encoder met it); one returning 20000x20000 pixels was stored as an "ok" run, far over
the 64 MP limit every uploaded, dataset and remote image is held to; a 16-bit greyscale image was stored in
mode ``I;16``. The app is the real ``build_demo`` over a real store and ``ModelPool``; the adapters return
such images on purpose.
"""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_sessions import launched_client
from PIL import Image

from realunify_arena.adapters.base import Adapter, Capability
from realunify_arena.cards import ModelCard
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings

pytestmark = pytest.mark.slow

UEG_UID = "UEG_1_world_knowledge"
GEU_UID = "GEU_1_mental_reconstruction"
LIMIT = 64_000_000  # the documented pixel limit (README / RELIABILITY.md), written here, not imported
# what each card's model returns as its image; mode "1" keeps the over-limit image at 1 byte a pixel (64 MB)
REPLIES = {
    "empty": lambda: Image.new("RGB", (0, 0)),
    "over-limit": lambda: Image.new("1", (8_001, 8_000)),
    "grey16": lambda: Image.new("I;16", (6, 4), 32_768),
}


class Replies(Adapter):
    """Answers "A" and returns ``REPLIES[card name]()`` as every image it makes."""

    def understand(self, images, text, options) -> str:
        return "A"

    def generate(self, text, options) -> Image.Image:
        return REPLIES[self.card.name]()

    def edit(self, image, text, options) -> Image.Image:
        return REPLIES[self.card.name]()

    def memory_bytes(self) -> int:
        return 10**6


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    cards = {name: ModelCard(name=name, family="tiny", description=f"{name} (reliability test)",
                             capabilities=frozenset(Capability), params={"base": "pair"}) for name in REPLIES}
    settings = Settings(data=("bundled",), models=tuple(cards), judge="human",
                        db=tmp_path_factory.mktemp("replies") / "arena.db", arena_mode="live")
    pool = ModelPool(cards, device="cpu", loader=lambda card, device: Replies(card=card,
                                                                              capabilities=card.capabilities))
    with launched_client(settings, pool) as app:
        yield app


def run(client: Client, model: str, uid: str, mode: str) -> dict:
    return client.predict("bundled", uid, model, mode, 0, "", api_name="/run_instance")


@pytest.mark.parametrize("uid, mode, role", [(UEG_UID, "direct", "generated_image"),
                                             (UEG_UID, "stepwise", "generated_image"),
                                             (GEU_UID, "stepwise", "edited_image")])
@pytest.mark.parametrize("model, why", [("empty", "zero size"),
                                        ("over-limit", f"8001x8000 = 64008000 pixels is over the limit of {LIMIT}")])
def test_an_unusable_image_from_a_model_is_that_run_s_error(app, model, why, uid, mode, role):
    client, store = app
    stored = len(store.runs(model=model))
    reply = run(client, model, uid, mode)
    assert reply["status"] == "error", reply["status"]
    assert role in reply["error"] and why in reply["error"], reply["error"]
    assert len(store.runs(model=model)) == stored, "a failed run was stored"
    assert run(client, model, GEU_UID, "direct")["status"] == "ok"  # the model's answers still work


def test_a_model_s_16_bit_image_is_stored_as_8_bit_rgb(app):
    client, store = app
    reply = run(client, "grey16", UEG_UID, "direct")
    assert reply["status"] == "ok", reply["error"]
    image = store.get_image(store.load_trace(reply["run_id"]).steps[-1].image_sha)
    assert image.mode == "RGB" and image.size == (6, 4)
    assert set(image.getdata()) == {(32_768 * 255 // 65_535,) * 3}  # 127: value x 255 / 65535, as for uploads
