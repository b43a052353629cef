"""The ``openai`` family against a loopback stand-in of vLLM-Omni that accepts exactly the documented
request shapes, answers exactly the documented response shapes, and rejects everything else.

What the stand-in accepts comes from vLLM-Omni's docs and code, not from the adapter:
- ``POST /v1/images/generations`` (``docs/serving/image_generation_api.md``): the OpenAI fields ``prompt``,
  ``model``, ``n``, ``size``, ``response_format`` (``b64_json`` only), ``user`` and the extension fields
  ``negative_prompt``, ``num_inference_steps``, ``guidance_scale``, ``true_cfg_scale``, ``seed``; answers
  ``{"created", "data": [{"b64_json", "url": null, "revised_prompt": null}]}``; errors are FastAPI's
  ``{"detail": ...}``.
- ``POST /v1/chat/completions`` (``docs/serving/chat_completions_api.md``, ``examples/online_serving/
  image_to_image``, ``examples/online_serving/bagel``): messages whose content is a string or a list of
  ``text`` / ``image_url`` parts (data URLs), generation fields at the top level or in a nested
  ``extra_body`` (both documented), ``modalities``; BAGEL's registered fields (``model_extras/bagel.py``
  ``BAGEL_EXTRA_BODY_PARAMS``); the image answered as ``message.content = [{"type": "image_url",
  "image_url": {"url": "data:image/png;base64,..."}}]``.
A BAGEL prompt carries one ``<|image_pad|>`` per attached image and none without one (the docs' img2text
and text2text requests; vLLM refuses a prompt whose placeholders do not match its images).
BAGEL's text comes from vLLM-Omni's multi-stage chat path, whose comprehension stage takes its token limit
from ``max_tokens`` alone (``serving_chat.py`` ``_OPENAI_SAMPLING_FIELDS``, at be81443c and later releases:
``max_completion_tokens`` is not among them), else its stage YAML's default; the stand-in records that limit.
The real server only warns about unknown fields; the stand-in rejects them so that a misspelt option
cannot pass silently.
The model name is treated as the real server treats it (vllm-omni at be81443c): the server knows its served
names (``--served-model-name``, else the model path: ``api_server.py``); the multi-stage (BAGEL) chat path
refuses a request for another name (vLLM's ``_check_model``: 404 "The model `x` does not exist."), the
diffusion chat path never checks it, and the images route only logs "Model mismatch" and uses its own model;
every chat reply's ``model`` is the first served name (``serving_chat.py``: ``self.models.model_name()``,
``self._diffusion_model_name``), whatever the request named.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.adapters.openai_compat import card_dialects
from realunify_arena.cards import MODELS_DIR, CardError, load_card
from tests.stand_in import JSONHandler, png_b64, serving

OPENAI_IMAGE_FIELDS = {"prompt", "model", "n", "size", "response_format", "user"}
OMNI_IMAGE_EXTENSIONS = {"negative_prompt", "num_inference_steps", "guidance_scale", "true_cfg_scale", "seed"}
OPENAI_CHAT_FIELDS = {"model", "messages", "modalities", "max_completion_tokens", "max_tokens", "temperature",
                      "seed", "stream", "n"}
OMNI_CHAT_DIFFUSION_FIELDS = {"height", "width", "size", "num_inference_steps", "guidance_scale", "guidance_scale_2",
                              "true_cfg_scale", "negative_prompt", "seed", "num_outputs_per_prompt", "extra_args"}
BAGEL_EXTRA_BODY_PARAMS = {"cfg_text_scale", "cfg_img_scale", "cfg_interval", "cfg_renorm_type", "cfg_renorm_min",
                           "negative_prompt", "think", "max_think_tokens", "do_sample", "text_temperature",
                           "timestep_shift"}
DEFAULT_SIDE = 48  # the stand-in's own default size when the request gives none
STAGE_MAX_TOKENS = 2048  # the stand-in's stage default token limit, used when the request sets no max_tokens

# BAGEL's official settings, from ByteDance-Seed/Bagel@056b5fd inference.ipynb ("Image Generation",
# "Editing", "Understanding" cells) and app.py defaults
BAGEL_GENERATE = {"cfg_text_scale": 4.0, "cfg_img_scale": 1.0, "cfg_interval": [0.4, 1.0],
                  "cfg_renorm_type": "global", "timestep_shift": 3.0, "num_inference_steps": 50}
BAGEL_EDIT = {"cfg_text_scale": 4.0, "cfg_img_scale": 2.0, "cfg_interval": [0.0, 1.0],
              "cfg_renorm_type": "text_channel", "timestep_shift": 3.0, "num_inference_steps": 50}
# OmniGen2's official settings, from VectorSpaceLab/OmniGen2 inference.py argument defaults
OMNIGEN2 = {"num_inference_steps": 50, "guidance_scale": 5.0, "seed": 0}
OMNIGEN2_NEGATIVE = ("(((deformed))), blurry, over saturation, bad anatomy, disfigured, poorly drawn face, mutation, "
                     "mutated, (extra_limb), (ugly), (poorly drawn hands), fused fingers, messy drawing, broken legs "
                     "censor, censored, censor_bar")
SOURCE = Image.new("RGB", (40, 24), (200, 30, 30))


def _picture(width: int, height: int, *key) -> Image.Image:
    """A deterministic picture whose colour depends on everything that should change the output."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).digest()
    return Image.new("RGB", (width, height), tuple(digest[:3]))


class VLLMOmniStandIn(JSONHandler):
    """``server.kind``: "bagel" (omni: text or image output by ``modalities``) or "diffusion" (image out)."""

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            return self.reply(200, {"object": "list", "data": [{"id": name, "object": "model"}
                                                               for name in self.server.served]})
        self.reply(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        if self.path not in ("/v1/images/generations", "/v1/chat/completions"):
            return self.reply(404, {"detail": "Not Found"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        except ValueError:
            return self.reply(400, {"detail": "There was an error parsing the body"})
        self.server.requests.append((self.path, body))
        if self.path == "/v1/images/generations":
            return self._generations(body)
        self._chat(body)

    def _size(self, body: dict, fallback: tuple[int, int]) -> tuple[int, int]:
        if "size" in body:
            width, _, height = str(body["size"]).partition("x")
            return int(width), int(height)
        return int(body.get("width", fallback[0])), int(body.get("height", fallback[1]))

    def _generations(self, body: dict) -> None:
        unknown = set(body) - OPENAI_IMAGE_FIELDS - OMNI_IMAGE_EXTENSIONS
        if unknown:
            return self.reply(400, {"detail": f"unsupported fields {sorted(unknown)}"})
        if not isinstance(body.get("prompt"), str):
            return self.reply(422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required",
                                                "type": "value_error.missing"}]})
        if body.get("response_format", "b64_json") != "b64_json":
            return self.reply(400, {"detail": "only response_format=b64_json is supported"})
        if body.get("model", self.server.model) != self.server.model:  # api_server.py: a warning, then its own
            self.server.warnings.append(f"Model mismatch: request specifies {body['model']!r}")
        width, height = self._size(body, (DEFAULT_SIDE, DEFAULT_SIDE))
        image = _picture(width, height, body["prompt"], body.get("seed"), body.get("guidance_scale"))
        self.reply(200, {"created": int(time.time()),
                         "data": [{"b64_json": png_b64(image), "url": None, "revised_prompt": None}]})

    def _chat(self, body: dict) -> None:
        allowed = OPENAI_CHAT_FIELDS | OMNI_CHAT_DIFFUSION_FIELDS | {"extra_body"}
        if self.server.kind == "bagel":
            allowed |= BAGEL_EXTRA_BODY_PARAMS
        nested = body.get("extra_body", {})  # the recorded request keeps its nested copy
        body = {k: v for k, v in body.items() if k != "extra_body"}
        if self.server.kind == "diffusion-2025":  # serving_chat.py at be81443c (Dec 2025): the diffusion chat
            # path reads its generation fields only from a nested "extra_body" (the top-level ones are ignored)
            body = {k: v for k, v in body.items() if k in OPENAI_CHAT_FIELDS}
        if self.server.refuses_twice:  # diffusion_request_utils.normalize_diffusion_request_args (PR #5171)
            twice = sorted(set(nested) & (set(body) - OPENAI_CHAT_FIELDS))
            if twice:
                details = "; ".join(f'"{k}": request.{k}, request.extra_body.{k}' for k in twice)
                return self._error(400, f"Diffusion request parameters were provided more than once: {details}.")
        fields = {**nested, **body}
        unknown = set(fields) - allowed
        if unknown:
            return self._error(400, f"The following fields are not accepted: {sorted(unknown)}")
        if self.server.kind == "bagel" and fields.get("model", self.server.model) not in self.server.served:
            return self._error(404, f"The model `{fields['model']}` does not exist.")
        texts, images = [], []
        messages = fields.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "messages must be a non-empty list")
        for message in messages:
            content = message.get("content")
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for part in parts:
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "image_url" and part["image_url"]["url"].startswith("data:image/"):
                    data = part["image_url"]["url"].partition(",")[2]
                    images.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
                else:
                    return self._error(400, f"unsupported content part {part!r}")
        self.server.seen_images.extend(images)
        modalities = fields.get("modalities")
        pads = sum(t.count("<|image_pad|>") for t in texts)
        if self.server.kind == "bagel" and modalities == ["text"] and pads != len(images):
            return self._error(400, f"{pads} image placeholder(s) in the prompt for {len(images)} image(s)")
        if self.server.kind == "bagel":
            if modalities not in (["image"], ["text"]):
                return self._error(400, f"BAGEL needs modalities ['image'] or ['text'], got {modalities!r}")
            if modalities == ["text"]:
                self.server.token_limits.append(fields.get("max_tokens") or STAGE_MAX_TOKENS)
                return self._choice(f"{len(images)} image(s): {' '.join(texts)}")
        elif modalities not in (None, ["image"]):
            return self._error(400, f"this diffusion model outputs images only, got modalities {modalities!r}")
        fallback = images[0].size if images else (DEFAULT_SIDE, DEFAULT_SIDE)
        width, height = self._size(fields, fallback)
        image = _picture(width, height, texts, fields.get("seed"), [im.tobytes().hex()[:64] for im in images])
        url = f"data:image/png;base64,{png_b64(image)}"
        content = [{"type": "image_url", "image_url": {"url": url}}] if self.server.style == "parts" else url
        if self.server.style == "no-image":
            content = "I cannot draw"
        self._choice(content)

    def _choice(self, content) -> None:
        self.reply(200, {"id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
                         "model": self.server.served[0], "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def _error(self, status: int, message: str) -> None:
        self.reply(status, {"error": {"message": message, "type": "BadRequestError", "param": None,
                                      "code": status}})


def _served(tmp_path: Path, name: str, url: str, **changes):
    """The shipped card ``name`` pointed at the stand-in (written as a card file, read back as users would)."""
    import yaml

    raw = yaml.safe_load((MODELS_DIR / f"{name}.yaml").read_text())
    raw["params"] = {**raw["params"], **changes.pop("params", {})}
    raw.update(endpoint=f"{url}/v1", **changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_card(path)


def _stand_in(kind: str, model: str, style: str = "parts", refuses_twice: bool = False, aliases: tuple = ()):
    """The stand-in serving ``model`` (the model path), under the served names ``model`` and ``aliases``."""
    return serving(VLLMOmniStandIn, kind=kind, model=model, served=[model, *aliases], style=style, requests=[],
                   seen_images=[], token_limits=[], refuses_twice=refuses_twice, warnings=[])


@pytest.mark.parametrize("style", ["parts", "url"])
def test_bagel_generates_through_chat_with_its_official_settings(tmp_path, style):
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT", style) as server:
        card = _served(tmp_path, "bagel", server.url)
        image = build_adapter(card).generate("a red cube", card.defaults)
    [(path, body)] = server.requests
    assert path == "/v1/chat/completions" and body["modalities"] == ["image"]
    assert {k: body[k] for k in BAGEL_GENERATE} == BAGEL_GENERATE
    assert (body["width"], body["height"], body["seed"]) == (1024, 1024, 0)
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "<|im_start|>a red cube<|im_end|>"}]}]
    assert image.size == (1024, 1024)
    assert image.getpixel((0, 0)) == _picture(1, 1, ["<|im_start|>a red cube<|im_end|>"], 0, []).getpixel((0, 0))


def test_bagel_edits_with_the_image_as_a_data_url_and_the_edit_settings(tmp_path):
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT") as server:
        card = _served(tmp_path, "bagel", server.url)
        edited = build_adapter(card).edit(SOURCE, "make it blue", dataclasses.replace(card.defaults, seed=7))
    [(path, body)] = server.requests
    assert path == "/v1/chat/completions" and body["modalities"] == ["image"]
    assert {k: body[k] for k in BAGEL_EDIT} == BAGEL_EDIT and body["seed"] == 7
    [seen] = server.seen_images
    assert seen.tobytes() == SOURCE.tobytes()  # the input image travelled losslessly
    assert "width" not in body and "height" not in body
    assert edited.size == SOURCE.size  # no size sent: the server keeps the input's


def test_bagel_understands_with_text_modality(tmp_path):
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT") as server:
        card = _served(tmp_path, "bagel", server.url)
        answer = build_adapter(card).understand([SOURCE], "What color is it?", card.defaults)
    [(_, body)] = server.requests
    assert body["modalities"] == ["text"] and body["max_think_tokens"] == 1000 and body["do_sample"] is False
    assert server.token_limits == [1000]  # BAGEL's 1000 text tokens reach the stage that writes the answer
    assert answer == ("1 image(s): <|im_start|>user\n<|image_pad|>\nWhat color is it?<|im_end|>\n"
                      "<|im_start|>assistant")


def test_bagel_refines_a_text_only_prompt_without_an_image_placeholder(tmp_path):
    """UEG stepwise's first step is a text-only chat with the refine prompt. Before, the card's single
    understand template put "<|image_pad|>" in it with no image attached, so vLLM refused every BAGEL refine
    (placeholders without images): no UEG stepwise score for the paper's headline model. Expected: the
    text2text request of vLLM-Omni's BAGEL docs (examples/online_serving/bagel), written out here."""
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT") as server:
        card = _served(tmp_path, "bagel", server.url)
        refined = build_adapter(card).understand([], "Refine: the largest feline", card.defaults)
    [(_, body)] = server.requests
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "<|im_start|>user\nRefine: the largest feline<|im_end|>\n<|im_start|>assistant\n"}]}]
    assert refined == "0 image(s): <|im_start|>user\nRefine: the largest feline<|im_end|>\n<|im_start|>assistant"

    bad = _served(tmp_path, "bagel", server.url, params={"image_placeholder": ["<|image_pad|>"]})
    with pytest.raises(CardError, match=r"bagel.yaml: field 'params.image_placeholder': expected a string"):
        build_adapter(bad)


def test_omnigen2_generates_through_the_images_api_and_edits_through_chat(tmp_path):
    with _stand_in("diffusion", "OmniGen2/OmniGen2") as server:
        card = _served(tmp_path, "omnigen2-dit", server.url)
        adapter = build_adapter(card)
        small = dataclasses.replace(card.defaults, width=64, height=32)
        generated = adapter.generate("a red cube", small)
        edited = adapter.edit(SOURCE, "make it blue", small)
    (gen_path, gen), (edit_path, edit) = server.requests
    assert gen_path == "/v1/images/generations" and edit_path == "/v1/chat/completions"
    assert {k: gen[k] for k in OMNIGEN2} == OMNIGEN2 and gen["size"] == "64x32"
    assert gen["negative_prompt"] == edit["negative_prompt"] == OMNIGEN2_NEGATIVE
    assert {k: edit[k] for k in OMNIGEN2} == OMNIGEN2 and edit["guidance_scale_2"] == 2.0  # image guidance
    assert "modalities" not in edit and "width" not in edit and "height" not in edit
    assert generated.size == (64, 32) and edited.size == SOURCE.size  # an edit keeps the input's size
    assert server.seen_images[0].tobytes() == SOURCE.tobytes()


def test_omnigen2_edits_keep_their_settings_on_a_server_that_reads_only_the_nested_extra_body(tmp_path):
    """vLLM-Omni's diffusion chat path as released up to late 2025 reads ``request.extra_body`` only; before,
    the fields went to the top level alone, and every edit ran with the server's defaults (50 steps,
    guidance 7.5, no image guidance, no negative prompt, a random seed)."""
    with _stand_in("diffusion-2025", "OmniGen2/OmniGen2") as server:
        card = _served(tmp_path, "omnigen2-dit", server.url)
        adapter = build_adapter(card)
        first = adapter.edit(SOURCE, "make it blue", dataclasses.replace(card.defaults, seed=3))
        again = adapter.edit(SOURCE, "make it blue", dataclasses.replace(card.defaults, seed=3))
        other = adapter.edit(SOURCE, "make it blue", dataclasses.replace(card.defaults, seed=4))
    nested = server.requests[0][1]["extra_body"]
    assert {k: nested[k] for k in ("num_inference_steps", "guidance_scale")} == {"num_inference_steps": 50,
                                                                                 "guidance_scale": 5.0}
    assert nested["seed"] == 3 and nested["guidance_scale_2"] == 2.0 and nested["negative_prompt"] == OMNIGEN2_NEGATIVE
    assert "modalities" not in nested
    assert first.tobytes() == again.tobytes() != other.tobytes()  # the seed reached the server


@pytest.mark.parametrize(("kind", "card", "model"), [("diffusion", "omnigen2-dit", "OmniGen2/OmniGen2"),
                                                     ("bagel", "bagel", "ByteDance-Seed/BAGEL-7B-MoT")])
def test_a_server_that_refuses_fields_given_twice_gets_them_once(tmp_path, kind, card, model):
    """vLLM-Omni since PR #5171 (vllm_omni/entrypoints/openai/diffusion_request_utils.py
    normalize_diffusion_request_args; its tests/.../test_serving_chat_sampling_params.py
    test_duplicate_extras_return_the_same_bad_request_before_dispatch) answers HTTP 400 "Diffusion request
    parameters were provided more than once" when a field comes both at the top level and in the nested
    extra_body, in the diffusion-only and the multi-stage (BAGEL) chat paths alike. Before, the vLLM-Omni
    cards always sent both: every BAGEL image and every OmniGen2 edit failed on a current server. Now the
    request is sent again with the top-level copy alone, and later requests send it alone at once."""
    with _stand_in(kind, model, refuses_twice=True) as server:
        adapter = build_adapter(_served(tmp_path, card, server.url))
        first = adapter.edit(SOURCE, "make it blue", dataclasses.replace(adapter.card.defaults, seed=3))
        other = adapter.edit(SOURCE, "make it blue", dataclasses.replace(adapter.card.defaults, seed=4))
    refused, sent, later = (body for _, body in server.requests)
    assert "extra_body" in refused and "extra_body" not in sent and "extra_body" not in later
    assert (sent["seed"], later["seed"], sent["num_inference_steps"]) == (3, 4, 50)
    expected = BAGEL_EDIT if kind == "bagel" else {**OMNIGEN2, "seed": 3, "guidance_scale_2": 2.0}
    assert {k: sent[k] for k in expected} == expected
    assert first.size == other.size == SOURCE.size and first.tobytes() != other.tobytes()  # the seed arrived


def test_seed_changes_the_picture_and_the_same_seed_repeats_it(tmp_path):
    with _stand_in("diffusion", "OmniGen2/OmniGen2") as server:
        adapter = build_adapter(_served(tmp_path, "omnigen2-dit", server.url))
        options = dataclasses.replace(adapter.card.defaults, width=16, height=16)
        first, again = (adapter.generate("a cube", options).tobytes() for _ in range(2))
        other = adapter.generate("a cube", dataclasses.replace(options, seed=1)).tobytes()
    assert first == again != other


def test_requests_the_server_does_not_document_are_refused_with_its_message(tmp_path):
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT") as server:
        # editing through the images API: vLLM-Omni's BAGEL edits only through chat
        images_edit = build_adapter(_served(tmp_path, "bagel", server.url, params={"dialect": "images"}))
        with pytest.raises(RuntimeError, match=r"HTTP 404: Not Found"):
            images_edit.edit(SOURCE, "make it blue", images_edit.card.defaults)
        # a guidance name BAGEL does not register
        misnamed = build_adapter(_served(tmp_path, "bagel", server.url, params={"option_names": {
            "guidance": "cfg_scale"}}))
        with pytest.raises(RuntimeError, match=r"HTTP 400: .*cfg_scale"):
            misnamed.generate("a cube", misnamed.card.defaults)
        # an omni model asked for an image without saying so
        silent = build_adapter(_served(tmp_path, "bagel", server.url, params={"modalities": False}))
        with pytest.raises(RuntimeError, match=r"HTTP 400: BAGEL needs modalities"):
            silent.generate("a cube", silent.card.defaults)
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT") as server:  # the multi-stage path checks the name
        adapter = build_adapter(_served(tmp_path, "bagel", server.url, checkpoint="Other/Model"))
        with pytest.raises(RuntimeError, match=r"HTTP 404: The model `Other/Model` does not exist"):
            adapter.understand([SOURCE], "What color is it?", adapter.card.defaults)


def test_a_card_naming_a_model_the_server_does_not_serve_is_refused_naming_both(tmp_path):
    """Before: vLLM-Omni's diffusion chat path never checks the request's model, so a card naming Other/Model
    at a server of OmniGen2 got OmniGen2's images, stored as Other/Model's (the reply says so in its
    ``model`` field: serving_chat.py ``_create_diffusion_chat_completion``)."""
    with _stand_in("diffusion", "OmniGen2/OmniGen2") as server:
        adapter = build_adapter(_served(tmp_path, "omnigen2-dit", server.url, checkpoint="Other/Model"))
        with pytest.raises(RuntimeError) as refusal:
            adapter.edit(SOURCE, "blue", adapter.card.defaults)
    message = str(refusal.value)
    assert message.startswith(f"omnigen2-dit: asked {server.url}/v1 for 'Other/Model', but the reply was made by"
                              " 'OmniGen2/OmniGen2'"), message
    assert "params.served_as" in message and str(adapter.card.path) in message


def test_a_served_name_the_card_documents_or_an_openai_snapshot_is_accepted(tmp_path):
    """vLLM answers with its first served name (serving_chat.py ``self.models.model_name()``) when the card
    asks for another alias: accepted when the card lists it in ``params.served_as``. OpenAI answers a request
    for ``gpt-4.1`` as ``gpt-4.1-2025-04-14`` (its dated snapshot names): accepted without one."""
    small = {"width": 32, "height": 32}
    with _stand_in("bagel", "ByteDance-Seed/BAGEL-7B-MoT", aliases=("bagel",)) as server:
        card = _served(tmp_path, "bagel", server.url, checkpoint="bagel",
                       params={"served_as": ["ByteDance-Seed/BAGEL-7B-MoT"]})
        assert build_adapter(card).generate("a cat", dataclasses.replace(card.defaults, **small))
        undocumented = build_adapter(_served(tmp_path, "bagel", server.url, checkpoint="bagel"))
        with pytest.raises(RuntimeError, match="params.served_as"):
            undocumented.generate("a cat", dataclasses.replace(undocumented.card.defaults, **small))
        # a text answer is not checked: servers that answer text refuse an unknown model themselves, and some
        # name the model otherwise in the reply (an Azure deployment answers with the model behind it)
        assert undocumented.understand([SOURCE], "What color is it?", undocumented.card.defaults)
    with _stand_in("bagel", "gpt-4.1-2025-04-14", aliases=("gpt-4.1",)) as server:
        card = _served(tmp_path, "bagel", server.url, checkpoint="gpt-4.1")
        assert build_adapter(card).generate("a cat", dataclasses.replace(card.defaults, **small))


def test_a_chat_reply_without_an_image_is_a_clear_error(tmp_path):
    with _stand_in("diffusion", "OmniGen2/OmniGen2", style="no-image") as server:
        adapter = build_adapter(_served(tmp_path, "omnigen2-dit", server.url))
        with pytest.raises(RuntimeError, match=rf"omnigen2-dit at {server.url}/v1: the endpoint answered without an "
                                               r"image"):
            adapter.edit(SOURCE, "blue", dataclasses.replace(adapter.card.defaults, width=8, height=8))


def test_fastapi_validation_errors_are_readable(tmp_path):
    from realunify_arena.adapters.openai_compat import _message

    class Exc:
        body = {"detail": [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]}

    assert _message(Exc()) == "body.prompt: field required"


def test_unreachable_server_and_bad_dialects_are_clear(tmp_path):
    card = _served(tmp_path, "bagel", "http://127.0.0.1:9", params={"max_retries": 0})
    with pytest.raises(ModelUnavailable, match=" is not answering"):
        build_adapter(card).understand([], "hello", card.defaults)
    bad = _served(tmp_path, "bagel", "http://127.0.0.1:9", params={"dialect": {"edit": "multipart"}})
    with pytest.raises(CardError, match=r"bagel.yaml: field 'params.dialect': .*'multipart' for edit"):
        card_dialects(bad)
    typo = _served(tmp_path, "bagel", "http://127.0.0.1:9", params={"dialect": {"generation": "chat"}})
    with pytest.raises(CardError, match=r"unknown capabilities \['generation'\]"):
        card_dialects(typo)
    limit = _served(tmp_path, "bagel", "http://127.0.0.1:9", params={"token_limit_field": "max_new_tokens"})
    with pytest.raises(CardError, match=r"bagel.yaml: field 'params.token_limit_field': expected one of "
                                        r"\['max_completion_tokens', 'max_tokens'\], got 'max_new_tokens'"):
        build_adapter(limit)


def test_an_image_part_whose_image_url_is_the_url_itself_is_read_and_a_partless_reply_is_a_clear_error():
    """Some servers write ``{"type": "image_url", "image_url": "data:..."}`` (the URL, not an object): read
    it; a reply with no image at all names what came back (before: a bare AttributeError on ``str.get``)."""
    from types import SimpleNamespace

    from realunify_arena.adapters.openai_compat import _reply_image

    picture = Image.new("RGB", (18, 16), (10, 200, 30))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    card = load_card(MODELS_DIR / "bagel.yaml")

    def reply(content):
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content))])

    for content in ([{"type": "image_url", "image_url": url}], [{"type": "image_url", "image_url": {"url": url}}], url):
        got = _reply_image(card, reply(content))
        assert got.size == (18, 16) and got.convert("RGB").getpixel((0, 0)) == (10, 200, 30)
    with pytest.raises(RuntimeError, match="without an image"):
        _reply_image(card, reply([{"type": "image_url", "image_url": 7}, {"type": "text", "text": "no"}]))


class MultiStageStandIn(JSONHandler):
    """vLLM-Omni's multi-stage chat answer (serving_chat.py ``chat_completion_full_generator``): one choice per
    finished output stage, in stage order, each numbered from 0 (``index`` 0 for the text stage and the image
    stage alike); an image stage that made no image answers the text part ``NO_IMAGE_NOTICE``
    (``_create_image_choice``). ``server.choices`` holds the messages' contents."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.reply(200, {"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "omni",
                         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
                                                                                      "content": content}}
                                     for content in self.server.choices],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def _omni_card(tmp_path: Path, url: str):
    path = tmp_path / "omni.yaml"
    path.write_text(json.dumps({"family": "openai", "description": "a multi-stage omni model (test only)",
                                "endpoint": f"{url}/v1", "capabilities": ["understand", "generate"],
                                "checkpoint": "omni", "params": {"dialect": "chat"}}))
    return load_card(path)


NOTICE = [{"type": "text", "text": "Image generation completed but no images were produced."}]
IMAGE = [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png_b64(SOURCE)}"}}]


@pytest.mark.parametrize("choices,answer", [
    (["B"], "B"),
    (["B", NOTICE], "B"),  # a text stage, then an image stage that made no image
    ([NOTICE, [{"type": "text", "text": "B"}, {"type": "text", "text": "because"}]], "B\nbecause"),
    (["B", IMAGE], "B"),
    (["B", "C"], "B"),  # two answers (n ignored): the first, never both run together
    ([IMAGE, "  ", "C"], "C"),
])
def test_the_answer_is_the_first_choice_holding_text_never_several_joined(tmp_path, choices, answer):
    """Before: the text of every choice was joined, so vLLM-Omni's notice from an image stage that made no image
    ended a comprehension answer ("B\\nImage generation completed ..."), and two alternative answers were scored as
    one ("B\\nC"). Parts of one message stay one answer."""
    with serving(MultiStageStandIn, choices=choices) as server:
        adapter = build_adapter(_omni_card(tmp_path, server.url))
        assert adapter.understand([], "Which?", adapter.card.defaults) == answer


def test_an_image_comes_from_its_own_choice_after_a_text_stage(tmp_path):
    with serving(MultiStageStandIn, choices=["I will draw a square.", IMAGE]) as server:
        adapter = build_adapter(_omni_card(tmp_path, server.url))
        assert adapter.generate("a square", adapter.card.defaults).tobytes() == SOURCE.tobytes()
    with serving(MultiStageStandIn, choices=[NOTICE]) as server, pytest.raises(RuntimeError, match="no text"):
        adapter = build_adapter(_omni_card(tmp_path, server.url))
        adapter.understand([], "Which?", adapter.card.defaults)
