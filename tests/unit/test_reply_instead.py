"""A 200 reply without what was asked (an image from the ``chat`` dialect, text from understanding, base64
from the images API) is a failed run whose one-line message names the card, the endpoint and what came
instead, against a loopback stand-in speaking HTTP (nothing in the adapter replaced).

The shapes come from vLLM-Omni and OpenAI, not from the adapter:
- vLLM-Omni puts a generated image in ``choices[0].message.content`` as a list of parts ``{"type":
  "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` (vllm-project/vllm-omni
  ``vllm_omni/entrypoints/openai/serving_chat.py``, ``_create_diffusion_chat_completion`` and
  ``_create_image_choice``; its test ``test_image_bytes_order_and_metrics``). A run that made no image answers
  HTTP 200 with the text "Image generation completed but no images were produced." as the content string
  (diffusion path; its test ``test_empty_image_response``) or as a ``text`` part (multi-stage path, BAGEL).
- OpenAI's chat message carries a model's refusal in ``message.refusal`` with ``content`` null
  (openai-python ``ChatCompletionMessage.refusal``); OpenRouter-style servers put images in ``message.images``;
  vLLM-Omni's *request* side takes ``{"image": "<base64>"}`` parts (``_extract_diffusion_prompt_and_images``),
  a shape a server may echo back; an ``image_url`` may be an ``http(s)`` URL (OpenAI's ``response_format:
  "url"``), which the adapter never downloads.
- vLLM's error bodies: flat ``{"object": "error", "message", "type", "param", "code"}`` (vllm-omni at
  be81443c, ``api_server.py``: ``JSONResponse(content=generator.model_dump(), status_code=generator.code)``)
  and nested ``{"error": {"message", "type", "param", "code"}}`` (later releases, ``errors.py``
  ``_error_response_to_json_response``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.cards import MODELS_DIR, load_card
from tests.stand_in import JSONHandler, png_b64, serving

KEY = "sk-instead-0123456789abcdefXYZ"
KEY_ENV = "INSTEAD_TEST_KEY"
NOTICE = "Image generation completed but no images were produced."


def _chat(**message) -> dict:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "ByteDance-Seed/BAGEL-7B-MoT",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}]}


class Answering(JSONHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.server.answer
        if isinstance(body, str):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.reply(status, body)


@pytest.fixture()
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Answering, answer=(200, _chat(content="fine"))) as running:
        yield running


def _bagel(tmp_path: Path, server):
    """The shipped BAGEL card (chat dialect for all three capabilities) pointed at the stand-in."""
    card = yaml.safe_load((MODELS_DIR / "bagel.yaml").read_text())
    card["endpoint"] = f"{server.url}/v1"
    card["api_key_env"] = KEY_ENV
    card["params"].update(max_retries=0, timeout_s=5)
    path = tmp_path / "bagel.yaml"
    path.write_text(yaml.safe_dump(card))
    return build_adapter(load_card(path))


def _failure(call) -> str:
    with pytest.raises(RuntimeError) as failed:
        call()
    text = str(failed.value)
    assert "\n" not in text and KEY not in text and len(text) < 700, text
    assert failed.value.__cause__ is None and failed.value.__context__ is None
    return text


DATA_URL = "data:image/png;base64," + png_b64(Image.new("RGB", (32, 32), (9, 99, 199)))


@pytest.mark.parametrize("message, expected", [
    ({"content": f"I'm sorry, I can't draw that. {KEY}"}, "text at choices[0].message.content: \"I'm sorry, I "
                                                           "can't draw that. ***\""),
    ({"content": None, "refusal": "I can't help with that."}, "a refusal: \"I can't help with that.\""),
    ({"content": NOTICE}, f"text at choices[0].message.content: '{NOTICE}'"),
    ({"content": [{"type": "text", "text": NOTICE}]}, f"text at choices[0].message.content[0]: '{NOTICE}'"),
    ({"content": "", "images": [{"type": "image_url", "image_url": {"url": DATA_URL}}]},
     "an image in choices[0].message.images, which is not read"),
    ({"content": [{"type": "image", "image": png_b64(Image.new("RGB", (32, 32), (9, 99, 199)))}]},
     "an image in a content part of type 'image' at choices[0].message.content[0], which is not read"),
    ({"content": [{"type": "image_url", "image_url": {"url": "https://cdn.example/out.png"}}]},
     "an image_url at choices[0].message.content[0] that is not inline ('https://cdn.example/out.png')"),
])
def test_a_chat_reply_without_an_inline_image_says_what_came_instead(tmp_path, server, message, expected):
    """Before: "bagel: the endpoint answered without an image ...; got {<the reply's repr, cut at 301
    characters>}": no endpoint, and where the reply carried a refusal, an image URL or an image elsewhere
    the cut repr (base64 noise for the image cases) never said which."""
    server.answer = (200, _chat(**message))
    adapter = _bagel(tmp_path, server)
    for call in (lambda: adapter.generate("a cat", adapter.card.defaults),
                 lambda: adapter.edit(Image.new("RGB", (32, 32)), "make it blue", adapter.card.defaults)):
        text = _failure(call)
        assert text.startswith(f"bagel at {server.url}/v1: the endpoint answered without an image"), text
        assert expected in text, text


@pytest.mark.parametrize("message, expected", [
    ({"content": None, "refusal": "I can't help with that."}, "a refusal: \"I can't help with that.\""),
    ({"content": NOTICE}, f"text at choices[0].message.content: '{NOTICE}'"),
    ({"content": [{"type": "text", "text": NOTICE}]}, f"text at choices[0].message.content[0]: '{NOTICE}'"),
    ({"content": [{"type": "image_url", "image_url": {"url": DATA_URL}}]}, "an image at choices[0].message.content[0]"),
])
def test_an_understanding_reply_without_the_model_s_text_is_a_failed_run_saying_what_came(tmp_path, server, message,
                                                                                          expected):
    """Before: a refusal or an image read as "no text" with nothing more, and vLLM-Omni's own notice of an image
    run (a server's text, not the model's) was returned as the model's answer and scored."""
    server.answer = (200, _chat(**message))
    adapter = _bagel(tmp_path, server)
    text = _failure(lambda: adapter.understand([], "What colour is the sky?", adapter.card.defaults))
    assert text.startswith(f"bagel at {server.url}/v1: the endpoint answered no text"), text
    assert expected in text, text


def test_a_model_s_own_text_refusal_is_its_answer(tmp_path, server):
    """A refusal written as the answer's text is what the model answered (scored, e.g. as wrong), not a failure."""
    server.answer = (200, _chat(content="I'm sorry, I can't answer that."))
    adapter = _bagel(tmp_path, server)
    assert adapter.understand([], "q", adapter.card.defaults) == "I'm sorry, I can't answer that."


def test_an_images_api_reply_with_a_url_instead_of_base64_says_so(tmp_path, server):
    """Before: "...: the endpoint returned no base64 image (b64_json); got {...}" without the endpoint; an
    OpenAI-style ``url`` reply (``response_format: "url"``) is named as such: it is never downloaded."""
    server.answer = (200, {"created": 0, "data": [{"url": "https://cdn.example/out.png", "b64_json": None}]})
    path = tmp_path / "omni-images.yaml"
    path.write_text(json.dumps({"family": "openai", "description": "images stand-in (test only)",
                                "capabilities": ["generate"], "endpoint": f"{server.url}/v1", "api_key_env": KEY_ENV,
                                "checkpoint": "m", "params": {"timeout_s": 5, "max_retries": 0}}))
    adapter = build_adapter(load_card(path))
    text = _failure(lambda: adapter.generate("a cat", adapter.card.defaults))
    assert text.startswith(f"omni-images at {server.url}/v1: the endpoint returned no base64 image (b64_json)"), text
    assert "an image URL instead ('https://cdn.example/out.png')" in text, text


# signed URLs as storage services write them (the parameter names and their order are the services' own, the values
# made up): an Azure Storage shared access signature ("Create a service SAS": ``sv``, ``sp``, ``sig``), a CloudFront
# signed URL with a canned policy (``Expires``, ``Signature``, ``Key-Pair-Id``), an S3 URL signed with AWS Signature
# Version 2 as boto3 presigns one (``AWSAccessKeyId``, ``Signature``, ``Expires``); each with the credential values
# that must not be shown and the URL with them masked by hand
SIGNED_URLS = {
    "azure sas": ("https://acct.blob.core.windows.net/c/out.png?sv=2024-08-04&sp=r&sig=Q2xvdWRTaWduYXR1cmVWYWx1ZTA5"
                  "ODc2%3D",
                  ["Q2xvdWRTaWduYXR1cmVWYWx1ZTA5ODc2"],
                  "https://acct.blob.core.windows.net/c/out.png?sv=2024-08-04&sp=r&sig=***"),
    "cloudfront": ("https://d111111abcdef8.cloudfront.net/o.png?Expires=1765065600&Signature=Nf3kQ9zX~Lm2Pq7Rt5Vw8Yb1"
                   "&Key-Pair-Id=K2JCJMDEHXQW5F",
                   ["Nf3kQ9zX~Lm2Pq7Rt5Vw8Yb1"],
                   "https://d111111abcdef8.cloudfront.net/o.png?Expires=1765065600&Signature=***"
                   "&Key-Pair-Id=K2JCJMDEHXQW5F"),
    "s3 sigv2": ("https://b.s3.amazonaws.com/o.png?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=dGhpc2lzYXNpZ25hdH"
                 "VyZQ%3D%3D&Expires=1765065600",
                 ["AKIAIOSFODNN7EXAMPLE", "dGhpc2lzYXNpZ25hdHVyZQ"],
                 "https://b.s3.amazonaws.com/o.png?AWSAccessKeyId=***&Signature=***&Expires=1765065600"),
}


@pytest.mark.parametrize("url, credentials, masked", SIGNED_URLS.values(), ids=SIGNED_URLS.keys())
def test_a_signed_image_url_is_shown_without_its_signature(tmp_path, server, url, credentials, masked):
    """An image URL that came instead of an image is named by its host and path, cut at 80 characters; a signed
    URL's signature and credential are masked before the cut (``redaction._CREDENTIAL_QUERY``). Before: the first 80
    characters were shown as they came, with up to 12 characters of the signature or the whole access key ID."""
    shown = masked if len(masked) <= 80 else masked[:79] + "…"  # ``error_line``'s cut, on the masked URL
    path = tmp_path / "omni-images.yaml"
    path.write_text(json.dumps({"family": "openai", "description": "images stand-in (test only)",
                                "capabilities": ["generate"], "endpoint": f"{server.url}/v1", "api_key_env": KEY_ENV,
                                "checkpoint": "m", "params": {"timeout_s": 5, "max_retries": 0}}))
    images = build_adapter(load_card(path))
    server.answer = (200, {"created": 0, "data": [{"url": url, "b64_json": None}]})
    texts = [_failure(lambda: images.generate("a cat", images.card.defaults))]
    assert f"an image URL instead ({shown!r})" in texts[0], texts[0]
    server.answer = (200, _chat(content=[{"type": "image_url", "image_url": {"url": url}}]))
    bagel = _bagel(tmp_path, server)
    texts.append(_failure(lambda: bagel.generate("a cat", bagel.card.defaults)))
    assert f"that is not inline ({shown!r})" in texts[1], texts[1]
    for text in texts:
        assert not [c[i:i + 6] for c in credentials for i in range(len(c) - 5) if c[i:i + 6] in text], text


@pytest.mark.parametrize("status, body, expected", [
    (400, {"object": "error", "message": "Diffusion request parameters were not valid", "type": "BadRequestError",
           "param": None, "code": 400}, "HTTP 400: Diffusion request parameters were not valid"),
    (404, {"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "param": None,
                     "code": 404}}, "HTTP 404: The model `x` does not exist."),
    (502, "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>",
     "HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx"),
])
def test_vllm_error_bodies_and_a_proxy_page_name_the_card_endpoint_and_message(tmp_path, server, status, body,
                                                                               expected):
    """Held before this file: both of vLLM's error shapes and an HTML 502 give the server's own message."""
    server.answer = (status, body)
    adapter = _bagel(tmp_path, server)
    for call in (lambda: adapter.generate("a cat", adapter.card.defaults),
                 lambda: adapter.understand([], "q", adapter.card.defaults)):
        assert _failure(call) == f"bagel at {server.url}/v1: {expected}"


@pytest.mark.parametrize("content, expected", [
    ([7], "7 at choices[0].message.content[0], which is not a content part"),
    ([None], "None at choices[0].message.content[0], which is not a content part"),
    (["no picture, only words"], "text at choices[0].message.content[0]: 'no picture, only words'"),
])
def test_content_list_items_that_are_not_part_objects_give_a_message_not_a_crash(tmp_path, server, content, expected):
    """Before: "AttributeError: 'int' / 'NoneType' / 'str' object has no attribute 'model_dump'" for any item of
    a content list that was not a dict (a list of plain strings, the form vLLM-Omni's own request parser also
    takes, ``_extract_diffusion_prompt_and_images``; or JSON the API does not define)."""
    server.answer = (200, _chat(content=content))
    adapter = _bagel(tmp_path, server)
    text = _failure(lambda: adapter.generate("a cat", adapter.card.defaults))
    assert text.startswith(f"bagel at {server.url}/v1: the endpoint answered without an image"), text
    assert expected in text, text


def test_a_content_list_of_plain_strings_is_read_as_the_answer(tmp_path, server):
    """Before: "AttributeError: 'str' object has no attribute 'model_dump'"."""
    server.answer = (200, _chat(content=["The sky", "is blue."]))
    adapter = _bagel(tmp_path, server)
    assert adapter.understand([], "q", adapter.card.defaults) == "The sky\nis blue."
