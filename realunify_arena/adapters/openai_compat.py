"""Any OpenAI-compatible endpoint: OpenAI itself (GPT-4.1, GPT-Image-1), vLLM / vLLM-Omni, or ``serve-openai``.

This is how models whose code needs another library stack (BAGEL, OmniGen2 ...) join the app: they run
in their own process and this adapter talks to them. Understanding is a chat completion with the images
as data URLs; generation and editing use the images API and expect base64 PNGs back. With
``params.send_options: true`` the seed, guidance and steps travel too (OpenAI's own API rejects them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image

from realunify_arena.adapters.base import Adapter, Capability, GenerationOptions, ModelUnavailable
from realunify_arena.adapters.wire import image_from_base64, png_bytes, png_data_url, without_key
from realunify_arena.cards import ModelCard

DEFAULT_TIMEOUT_S = 300.0


class OpenAICompatAdapter(Adapter):
    def __init__(self, card: ModelCard) -> None:
        import openai

        super().__init__(card=card, capabilities=card.capabilities)
        key = "unused"  # the client insists on a key; local servers ignore it
        if card.api_key_env:
            key = os.environ.get(card.api_key_env, "")
            if not key:
                raise ModelUnavailable(f"{card.name}: API key variable {card.api_key_env} is unset")
        self.client = openai.OpenAI(base_url=card.endpoint, api_key=key,
                                    timeout=float(card.params.get("timeout_s", DEFAULT_TIMEOUT_S)),
                                    max_retries=int(card.params.get("max_retries", 2)))

    def _model(self, capability: Capability) -> str:
        return self.card.checkpoints[capability.value]

    def _image_options(self, options: GenerationOptions) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if options.width and options.height:
            kwargs["size"] = f"{options.width}x{options.height}"
        if self.card.params.get("send_options"):
            extra = {"seed": options.seed, "guidance_scale": options.guidance, "num_inference_steps": options.steps}
            kwargs["extra_body"] = {k: v for k, v in extra.items() if v is not None}
        return kwargs

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        content = [{"type": "image_url", "image_url": {"url": png_data_url(im)}} for im in images]
        content.append({"type": "text", "text": text})
        with _errors(self.card):
            reply = self.client.chat.completions.create(
                model=self._model(Capability.UNDERSTAND), messages=[{"role": "user", "content": content}],
                max_completion_tokens=options.max_new_tokens, temperature=options.temperature, seed=options.seed)
        return (reply.choices[0].message.content or "").strip()

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        with _errors(self.card):
            reply = self.client.images.generate(model=self._model(Capability.GENERATE), prompt=text, n=1,
                                                **self._image_options(options))
        return self._image(reply)

    def edit(self, image: Image.Image, text: str, options: GenerationOptions) -> Image.Image:
        with _errors(self.card):
            reply = self.client.images.edit(model=self._model(Capability.EDIT), prompt=text, n=1,
                                            image=("image.png", png_bytes(image), "image/png"),
                                            **self._image_options(options))
        return self._image(reply)

    def _image(self, reply) -> Image.Image:
        if not reply.data or not reply.data[0].b64_json:
            raise RuntimeError(f"{self.card.name}: the endpoint returned no base64 image (b64_json)")
        return image_from_base64(reply.data[0].b64_json)


@contextmanager
def _errors(card: ModelCard) -> Iterator[None]:
    """Turn the client's exceptions into messages that name the card and endpoint (never the key)."""
    import openai

    where = f"{card.name} at {card.endpoint}"
    try:
        yield
    except openai.APITimeoutError as exc:  # before APIConnectionError, its base class
        raise TimeoutError(f"{where}: no answer within {card.params.get('timeout_s', DEFAULT_TIMEOUT_S)} s") from exc
    except openai.APIConnectionError as exc:
        raise ModelUnavailable(f"{where}: endpoint not answering ({exc})") from exc
    except openai.APIStatusError as exc:
        raise RuntimeError(f"{where}: HTTP {exc.status_code}: {without_key(_message(exc), card.api_key_env)}") from exc


def _message(exc) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return error.get("message", str(exc)) if isinstance(error, dict) else str(exc)


def load(card: ModelCard, device: str) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(card)
