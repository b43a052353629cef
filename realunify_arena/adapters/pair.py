"""A pair: any transformers image-text-to-text VLM understands, any diffusers pipeline generates and edits.

The paper's specialists (Qwen2.5-VL, Qwen-Image, FLUX.1 Kontext, OmniGen) are pairs with one side
filled, and its oracle is a pair of two other cards (``checkpoints: {understand: card:gemini-2.5-pro}``).
Pipelines differ in how they take the image to edit; that is read from their call signature.

The VLM's prompt is its own chat template applied to one user turn (the images, then the text). Two card
params let a unified model built on a VLM ask the way its own code does: ``system_prompt`` (a string: a
system turn before the user's) and ``image_label`` (a string put before each image, ``{n}`` replaced by its
1-based number). OmniGen2's chat pipeline, for example, asks its Qwen2.5-VL with the system prompt "You are
a helpful assistant that generates high-quality images based on user instructions." and ``<img1>: `` before
the first image (``pipeline_omnigen2_chat.py`` ``_apply_chat_template``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

from PIL import Image

from realunify_arena.adapters.base import Adapter, Capability, GenerationOptions
from realunify_arena.adapters.local import LocalAdapter, checkpoint_for, reply_text, with_chat_template
from realunify_arena.cards import CARD_REF, CardError, ModelCard
from realunify_arena.families import rounded_down, rounded_down_reason
from realunify_arena.limits import OptionError, size_refusal
from realunify_arena.shown import brief


class PairAdapter(LocalAdapter):
    def __init__(self, card: ModelCard, device: str) -> None:
        from realunify_arena.adapters import build_adapter

        super().__init__(card, device)
        self.system_prompt, self.image_label = (_text_param(card, key) for key in ("system_prompt", "image_label"))
        self.parts: dict[Capability, Adapter] = {}
        built: dict[str, Adapter] = {}
        for capability in card.capabilities:
            checkpoint = checkpoint_for(card, capability)
            if checkpoint.startswith(CARD_REF):
                part = card.parts[capability.value]
                if part.name not in built:
                    built[part.name] = build_adapter(part, device)
                self.parts[capability] = built[part.name]
            elif capability is Capability.UNDERSTAND:
                self._load_vlm(checkpoint)
            else:
                self._load_pipeline(checkpoint)
        for capability in (Capability.GENERATE, Capability.EDIT):
            if capability in card.capabilities and capability not in self.parts:
                self._check_pipeline_settings(self._pipeline(capability), capability)

    def _load_vlm(self, checkpoint: str) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        self.checked(checkpoint, "transformers", model_types=MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES.keys(),
                     chat_template=True)
        self.loaded["processor"] = self.agreed(checkpoint, with_chat_template(AutoProcessor.from_pretrained(checkpoint)))
        self.loaded["vlm"] = self.pretrained(AutoModelForImageTextToText, checkpoint).to(self.device)
        self.loaded["vlm"].eval()

    def _load_pipeline(self, checkpoint: str) -> None:
        from diffusers import DiffusionPipeline

        key = f"pipeline:{checkpoint}"
        if key not in self.loaded:
            self.checked(checkpoint, "diffusers")
            pipeline = DiffusionPipeline.from_pretrained(checkpoint, dtype=self.dtype, variant=self.variant)
            self.loaded[key] = pipeline.to(self.device)
            self.loaded[key].set_progress_bar_config(disable=True)

    def _check_pipeline_settings(self, pipeline, capability: Capability) -> None:
        """Refuse card settings ``pipeline`` would not take, before any run: ``params.guidance_arg`` (a name the
        pipeline does not take was filtered out of every call, so the card's guidance silently never reached it),
        and each ``params.call_kwargs`` (and, for an edit, ``params.edit_call_kwargs``) name the pipeline does not
        take (every run failed with "__call__() got an unexpected keyword argument") or value of another kind
        than the argument's annotation takes (``_taken_kinds``: the text '2.5' reached the pipeline, 1.5 an
        ``int`` argument; a list where it takes ``float | list[float]`` is fine), or without one its default's.

        Raises:
            CardError: naming the card's file, the field, the pipeline class and what it takes."""
        parameters = inspect.signature(pipeline.__call__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        hints = _type_hints(pipeline.__call__)
        pipeline_name = type(pipeline).__name__
        taken = ", ".join(sorted(parameters))
        settings = [("params.guidance_arg", self.card.params["guidance_arg"], None)] \
            if "guidance_arg" in self.card.params else []
        fields = ("call_kwargs", "edit_call_kwargs") if capability is Capability.EDIT else ("call_kwargs",)
        settings += [(f"params.{field}.{name}", name, value) for field in fields
                     for name, value in self.card.params.get(field, {}).items()]
        for field, name, value in settings:
            if name not in parameters:
                raise CardError(f"{self.card.path}: field '{field}': {pipeline_name} takes no argument {name!r}; "
                                f"it takes {taken}")
            default = parameters[name].default
            kinds = _taken_kinds(parameters[name], hints.get(name, parameters[name].annotation))
            if value is not None and kinds is not None and _value_kind(value) not in kinds:
                raise CardError(f"{self.card.path}: field '{field}': {pipeline_name} takes {_kinds_text(kinds)} "
                                f"(default {default!r}), got {brief(value)}")
        extra = self.card.params.get("call_kwargs", {})
        if capability is Capability.EDIT:
            extra = extra | self.card.params.get("edit_call_kwargs", {})
        guidance = self.card.defaults.guidance
        ignored = _ignored_guidance(pipeline, self._guidance_arg(), guidance, extra) if guidance is not None else None
        if ignored:
            raise CardError(f"{self.card.path}: field 'defaults.guidance' ({self.card.defaults.guidance:g}): "
                            f"{pipeline_name} would run without it: {ignored}")

    def _pipeline(self, capability: Capability):
        return self.loaded[f"pipeline:{checkpoint_for(self.card, capability)}"]

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        import torch

        if Capability.UNDERSTAND in self.parts:
            return self.parts[Capability.UNDERSTAND].understand(images, text, options)
        if Capability.UNDERSTAND not in self.capabilities:
            return super().understand(images, text, options)
        processor, vlm = self.loaded["processor"], self.loaded["vlm"]
        messages = chat_messages(images, text, self.system_prompt, self.image_label)
        inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                               return_tensors="pt")
        # floating inputs (pixel_values, image_grid_thw stays integer) in the model's dtype: a bfloat16 or float16
        # checkpoint whose vision tower does not cast them itself (GOT-OCR2, Chameleon) fails on the processor's
        # float32 ("Input type (float) and bias type (c10::BFloat16) should be the same")
        inputs = inputs.to(self.device, self.dtype)
        self.generator(options.seed)
        with torch.inference_mode():
            ids = vlm.generate(**inputs, **self.sampling(options))
        new = ids[0, inputs["input_ids"].shape[1]:]
        text = processor.decode(new, skip_special_tokens=True).strip()
        return reply_text(text, new, options.max_new_tokens, vlm.generation_config.eos_token_id,
                          prompt_tokens=inputs["input_ids"].shape[1])

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        if Capability.GENERATE in self.parts:
            return self.parts[Capability.GENERATE].generate(text, options)
        if Capability.GENERATE not in self.capabilities:
            return super().generate(text, options)
        return self._run(self._pipeline(Capability.GENERATE), text, options, {})

    def edit(self, image: Image.Image, text: str, options: GenerationOptions) -> Image.Image:
        if Capability.EDIT in self.parts:
            return self.parts[Capability.EDIT].edit(image, text, options)
        if Capability.EDIT not in self.capabilities:
            return super().edit(image, text, options)
        pipeline = self._pipeline(Capability.EDIT)
        accepted = inspect.signature(pipeline.__call__).parameters
        if self.card.params.get("edit_size", "input") == "input":
            # The edit keeps the input's shape: no card width/height (a 1280x960 canvas must not be squashed
            # to 1024x1024). Qwen-Image-Edit then sizes the output from the input (about 1 MP, aspect kept);
            # OmniGen needs use_input_image_size_as_output=True (diffusers' OmniGen edit example); FLUX.1
            # Kontext (the pipeline taking _auto_resize) makes 1024x1024 unless told the size: it is told the
            # trained size of the input's aspect, as BFL's reference makes it (``kontext_size``).
            options = dataclasses.replace(options, width=None, height=None)
            extra = {"use_input_image_size_as_output": True} if "use_input_image_size_as_output" in accepted else {}
            if "_auto_resize" in accepted:
                width, height = kontext_size(image)
                options = dataclasses.replace(options, width=width, height=height)
        else:  # edit_size: card -- the card's width and height, as for generation
            extra = {}
        extra |= self.card.params.get("edit_call_kwargs", {})
        if "input_images" in accepted:  # OmniGen: the image is named in the text
            return self._run(pipeline, f"<img><|image_1|></img> {text}", options, extra | {"input_images": [image]})
        return self._run(pipeline, text, options, extra | {"image": image})

    def _run(self, pipeline, prompt: str, options: GenerationOptions, extra: dict) -> Image.Image:
        """Call ``pipeline``: the card's ``call_kwargs`` and the call's ``extra`` first, then every option the
        user (or the card's defaults) set, so an explicit guidance or size always wins."""
        accepted = inspect.signature(pipeline.__call__).parameters
        guidance_arg = self._guidance_arg()
        wanted = {"num_inference_steps": options.steps, guidance_arg: options.guidance,
                  "width": options.width, "height": options.height}
        kwargs = self.card.params.get("call_kwargs", {}) | extra
        ignored = _ignored_guidance(pipeline, guidance_arg, options.guidance, kwargs) \
            if options.guidance is not None else None
        if ignored:
            raise OptionError("guidance", f"guidance {options.guidance:g} is not allowed for {self.name}: "
                                          f"{type(pipeline).__name__} would run without it: {ignored}")
        kwargs |= {k: v for k, v in wanted.items() if v is not None and k in accepted}
        if "max_area" in accepted and options.width and options.height:
            # FLUX.1 Kontext rescales every width x height to max_area (default 1024 x 1024) with only a logged
            # warning: a 512x512 request came back 1024x1024. The asked area keeps the asked size.
            kwargs["max_area"] = options.width * options.height
        self._check_size(pipeline, kwargs.get("width"), kwargs.get("height"))
        self._check_steps(pipeline, kwargs.get("num_inference_steps"))
        return pipeline(prompt=prompt, generator=self.generator(options.seed), **kwargs).images[0]

    def _guidance_arg(self) -> str:
        """The pipeline argument the card's guidance goes to: ``params.guidance_arg`` (Qwen-Image:
        ``true_cfg_scale``), else ``guidance_scale``."""
        return self.card.params.get("guidance_arg", "guidance_scale")

    def _check_size(self, pipeline, width: int | None, height: int | None) -> None:
        """Refuse a size ``pipeline`` would round down with only a logged warning: FLUX.1 Kontext, Qwen-Image
        and OmniGen need sides in multiples of ``vae_scale_factor * 2`` px (16 for their 8x VAEs), as their
        ``check_inputs`` say. ``limits.check_options`` refuses such a size before any run (16 px, the real
        checkpoints' multiple); this guards direct callers and a pipeline with another VAE factor.

        Raises:
            limits.OptionError: naming the card, the asked size and the size the pipeline would make."""
        factor = getattr(pipeline, "vae_scale_factor", None)
        if not isinstance(factor, int) or factor < 1:
            return
        multiple = factor * 2
        made = tuple(None if side is None else rounded_down(side, multiple) for side in (width, height))
        refusal = size_refusal(self.name, (width, height), made, rounded_down_reason(multiple))
        if refusal:
            raise refusal

    def _check_steps(self, pipeline, steps: int | None) -> None:
        """Refuse one step where the pipeline's scheduler stretches its sigmas to a terminal value
        (``shift_terminal``: Qwen-Image's and Qwen-Image-Edit's FlowMatchEulerDiscreteScheduler, 0.02).
        diffusers' ``stretch_shift_to_terminal`` divides by one minus the last sigma, which is 0 when there is
        one step (sigmas ``linspace(1, 1/steps, steps)`` = [1.0]): every pixel came back NaN, a black image,
        with only a numpy RuntimeWarning. ``steps`` None: the pipeline's default (50 for these pipelines).

        Raises:
            limits.OptionError: naming the card, the steps asked and the fewest its scheduler takes (2)."""
        config = getattr(getattr(pipeline, "scheduler", None), "config", None)
        terminal = getattr(config, "shift_terminal", None)
        if steps is not None and steps < 2 and terminal:
            raise OptionError("steps", f"steps (num_inference_steps) = {steps} is not allowed for {self.name}: its "
                                       f"scheduler (shift_terminal {terminal:g}) needs at least 2 steps; with one "
                                       "it makes a blank (NaN) image")

    def _distinct_parts(self) -> list[Adapter]:
        return list({id(part): part for part in self.parts.values()}.values())

    def memory_bytes(self) -> int:
        return super().memory_bytes() + sum(p.memory_bytes() for p in self._distinct_parts())

    def to(self, device: str) -> None:
        super().to(device)
        for part in self._distinct_parts():
            part.to(device)

    def close(self) -> None:
        for part in self._distinct_parts():
            part.close()
        self.parts.clear()
        super().close()


def _ignored_guidance(pipeline, guidance_arg: str, guidance: float, kwargs: dict) -> str | None:
    """Why ``pipeline`` would run without the guidance ``guidance`` (> 0) sent as ``guidance_arg`` with the other
    arguments ``kwargs``, or None. diffusers 0.42's FLUX and Qwen-Image pipelines (``pipeline_flux*.py``,
    ``pipeline_qwenimage*.py``) use ``guidance_scale`` only when their transformer's config has
    ``guidance_embeds: true`` (FLUX drops it silently, Qwen-Image logs a warning); that rule holds only for a
    pipeline whose ``__call__`` reads ``transformer.config.guidance_embeds`` (``_reads_guidance_embeds``: Sana and
    Bria run classifier-free guidance from ``guidance_scale`` whatever the flag). ``true_cfg_scale`` runs only
    with a negative prompt (``do_true_cfg = true_cfg_scale > 1 and has_neg_prompt``; a logged warning), so a
    ``true_cfg_scale`` of at most 1 (no guidance asked) runs as asked without one.

    Returns:
        ``"... guidance_embeds ...; expected ..."`` naming the transformer's config file where the pipeline
        records one (``config._name_or_path``), or ``"... negative prompt; expected params.call_kwargs.negative_prompt
        ..."``."""
    accepted = inspect.signature(pipeline.__call__).parameters
    if guidance_arg not in accepted:
        return None
    config = getattr(getattr(pipeline, "transformer", None), "config", None)
    if guidance_arg == "guidance_scale" and getattr(config, "guidance_embeds", None) is False \
            and _reads_guidance_embeds(type(pipeline)):
        source = getattr(config, "_name_or_path", None)
        where = f"{source}/config.json" if source else "its transformer's config.json"
        alternative = (" and params.call_kwargs.negative_prompt (Qwen-Image's model card: \" \")"
                       if "negative_prompt" in accepted else "")
        instead = (f"; expected params.guidance_arg: true_cfg_scale{alternative}, the classifier-free guidance "
                   "it runs" if "true_cfg_scale" in accepted else "; expected a guidance-distilled checkpoint")
        return (f"it reads guidance_scale only from a guidance-distilled transformer, and {where} has "
                f"guidance_embeds false{instead}")
    if guidance_arg == "true_cfg_scale" and guidance > 1 and "negative_prompt" in accepted \
            and kwargs.get("negative_prompt") is None and kwargs.get("negative_prompt_embeds") is None:
        return ("it runs true_cfg_scale's classifier-free guidance only with a negative prompt; expected "
                "params.call_kwargs.negative_prompt (Qwen-Image's model card: \" \")")
    return None


@functools.lru_cache(maxsize=None)
def _reads_guidance_embeds(pipeline_class: type) -> bool:
    """Whether ``pipeline_class.__call__`` reads ``transformer.config.guidance_embeds`` (its source says so;
    False where the source cannot be read: no refusal on a guess)."""
    try:
        return "transformer.config.guidance_embeds" in inspect.getsource(pipeline_class.__call__)
    except (OSError, TypeError):
        return False


def kontext_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) in px of a FLUX.1 Kontext edit of ``image``: the resolution Kontext was trained at whose
    aspect ratio is nearest the input's (``PREFERRED_KONTEXT_RESOLUTIONS``, 17 sizes of about 1 MP from 672x1568
    to 1568x672), the size diffusers' ``FluxKontextPipeline`` resizes the input to and BFL's reference
    (flux ``sampling.prepare_kontext``) makes the output. diffusers makes the output 1024x1024 when no size is
    passed, whatever the input's shape."""
    from diffusers.pipelines.flux.pipeline_flux_kontext import PREFERRED_KONTEXT_RESOLUTIONS

    aspect = image.width / image.height
    return min(PREFERRED_KONTEXT_RESOLUTIONS, key=lambda size: abs(aspect - size[0] / size[1]))


def chat_messages(images: list[Image.Image], text: str, system_prompt: str | None = None,
                  image_label: str | None = None) -> list[dict]:
    """The chat messages a VLM's chat template turns into its prompt: a system turn holding ``system_prompt``
    (when given), then one user turn with each image (preceded by ``image_label`` with ``{n}`` replaced by
    the image's 1-based number, when given) and then ``text``."""
    content: list[dict] = []
    for number, image in enumerate(images, start=1):
        if image_label:
            content.append({"type": "text", "text": image_label.replace("{n}", str(number))})
        content.append({"type": "image", "image": image})
    content.append({"type": "text", "text": text})
    system = [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}] if system_prompt else []
    return [*system, {"role": "user", "content": content}]


_KIND_WORDS = {"float": "a number", "int": "a whole number", "bool": "true or false", "str": "a string",
               "list": "a list", "dict": "a map"}
_ANNOTATED_KINDS = {bool: {"bool"}, int: {"int"}, float: {"int", "float"}, str: {"str"}, list: {"list"},
                    tuple: {"list"}, dict: {"dict"}}


def _value_kind(value: object) -> str | None:
    """The kind of a card's YAML value: a key of ``_KIND_WORDS`` (a bool is not an int); None for null."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", list),
                        ("dict", dict)):
        if isinstance(value, types):
            return kind
    return None


def _type_hints(function) -> dict[str, object]:
    """``function``'s annotations evaluated (a module written with ``from __future__ import annotations`` keeps
    them as text); {} where one names what its module cannot resolve."""
    import typing

    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - any unresolvable annotation: the texts stay unchecked
        return {}


def _taken_kinds(parameter: inspect.Parameter, annotation: object) -> set[str] | None:
    """The kinds of card value (``_value_kind``) a pipeline argument takes, read from its ``annotation``
    (``_type_hints``, else the parameter's own): each member
    of a union (``float | list[float]``: a number or a list; an int is a number where a float is taken; ``int``: a
    whole number; ``None`` adds nothing). An annotation of any other type (a tensor, an image, a callable, a
    Literal) or a union holding one is not checked (None). Without an annotation, from the default's kind (a
    number, int or float, true/false, a string); None for any other default (None, a list, a tensor)."""
    import types
    import typing

    if annotation is inspect.Parameter.empty or isinstance(annotation, str):  # none, or not evaluated
        default = _value_kind(parameter.default)
        return {"int", "float"} if default in ("int", "float") else None if default in (None, "list", "dict") \
            else {default}
    members = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    kinds: set[str] = set()
    for member in members:
        if member is type(None):
            continue
        taken = _ANNOTATED_KINDS.get(typing.get_origin(member) or member)
        if taken is None:
            return None
        kinds |= taken
    return kinds or None


def _kinds_text(kinds: set[str]) -> str:
    """``kinds`` in words: 'a number', 'a string or a list', ... (a number covers a whole number)."""
    shown = [k for k in _KIND_WORDS if k in kinds and not (k == "int" and "float" in kinds)]
    return " or ".join(_KIND_WORDS[k] for k in shown)


def _text_param(card: ModelCard, key: str) -> str | None:
    """``params[key]``: a non-empty string or absent; anything else is a ``CardError`` naming the file and field."""
    value = card.params.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise CardError(f"{card.path}: field 'params.{key}': expected a non-empty string, got {brief(value)}")
    return value


def load(card: ModelCard, device: str) -> PairAdapter:
    return PairAdapter(card, device)
