"""Tiny random-weight Janus, Emu3 and pair models, built offline and run through the real adapters.

Each tiny model is built from config classes with a hand-made word-level tokenizer, saved once with
``save_pretrained`` into a cache folder, and loaded back by the same adapter class and
``from_pretrained`` path a real checkpoint takes. Only the weights are random; the code path is not.
The vocabularies include ``yes``, ``no`` and ``A``-``D`` so random replies are sometimes parseable.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from realunify_arena.adapters.base import Adapter
from realunify_arena.cards import ModelCard
from realunify_arena.families import TINY_LAYOUTS

WORDS = ["yes", "no", "A", "B", "C", "D", "a", "the", "red", "blue", "green", "cube", "cat", "image", "what",
         "color", "is", "of", "?", ".", ","]

# Janus: 20 px input, 5 px patches -> a 4x4 grid of 16 tokens; four VQ levels decode it to 32x32 px.
JANUS_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}<|User|>: "
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<image_placeholder>\n"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}\n\n"
    "{%- else -%}<|Assistant|>: {{ message['content'][0]['text'] }}<eos>\n\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|Assistant|>:{%- endif -%}"
)

QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}<|im_start|>{{ message['role'] }}\n"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}<|im_end|>\n{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)


def cache_root() -> Path:
    """Where built tiny models live: ``$REALUNIFY_CACHE`` or ``~/.cache/realunify-arena/tiny``."""
    configured = os.environ.get("REALUNIFY_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "realunify-arena" / "tiny"


def _tokenizer(words: list[str], special: dict[str, str], **kwargs):
    """A word-level tokenizer over ``words``; every ``<...>`` entry is matched anywhere in the text."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", extra_special_tokens=special, **kwargs)
    tok.add_tokens([w for w in vocab if w.startswith("<") and len(w) > 1], special_tokens=True)
    return tok


def _build_janus(folder: Path) -> None:
    from transformers import JanusConfig, JanusForConditionalGeneration, JanusImageProcessorPil, JanusProcessor

    special = ["<pad>", "<bos>", "<eos>", "<unk>", "<image_placeholder>", "<begin_of_image>", "<end_of_image>",
               "<|User|>:", "<|Assistant|>:"]
    tok = _tokenizer(special + WORDS, {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
                                       "eoi_token": "<end_of_image>"},
                     bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    vocab = tok.get_vocab()
    images = JanusImageProcessorPil(size={"height": 20, "width": 20}, min_size=4, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3)
    JanusProcessor(image_processor=images, tokenizer=tok, num_image_tokens=16,
                   chat_template=JANUS_CHAT_TEMPLATE).save_pretrained(folder)
    config = JanusConfig(
        text_config={"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 37,
                     "max_position_embeddings": 512, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2},
        vision_config={"image_size": 20, "patch_size": 5, "num_image_tokens": 16, "hidden_size": 32,
                       "projection_dim": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "mlp_ratio": 2},
        # image generation feeds the aligner's output to the LLM: both projections must equal its hidden size
        vq_config={"embed_dim": 12, "num_embeddings": 12, "latent_channels": 12, "base_channels": 32,
                   "channel_multiplier": [1, 1, 1, 1], "projection_dim": 32, "image_token_embed_dim": 32},
        image_token_id=vocab["<image_placeholder>"])
    model = JanusForConditionalGeneration(config).eval()
    model.generation_config.generation_kwargs = {"boi_token_id": vocab["<begin_of_image>"]}
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.generation_config.bos_token_id = vocab["<bos>"]
    model.generation_config.eos_token_id = vocab["<eos>"]
    model.generation_config._from_model_config = False  # otherwise loading drops generation_kwargs
    model.save_pretrained(folder)


def _build_emu3(folder: Path) -> None:
    from transformers import Emu3Config, Emu3ForConditionalGeneration, Emu3ImageProcessor, Emu3Processor

    codebook = 16
    special = ["<pad>", "<bos>", "<eos>", "<unk>", "<image>", "<|image start|>", "<|image end|>", "<|image token|>",
               "<|extra_201|>", "<|extra_200|>"]
    digits = [str(d) for d in range(10)]
    visual = [f"<|visual token{i:06d}|>" for i in range(codebook)]  # the model parses this name pattern
    tok = _tokenizer(special + WORDS + ["*", "USER:", "ASSISTANT:"] + digits + visual,
                     {"image_token": "<image>", "boi_token": "<|image start|>", "eoi_token": "<|image end|>",
                      "image_wrapper_token": "<|image token|>", "eof_token": "<|extra_201|>"},
                     bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", padding_side="left")
    vocab = tok.get_vocab()
    # the processor writes the grid as "H*W": digits and "*" must come out as separate tokens
    from tokenizers import pre_tokenizers
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits(individual_digits=True),
         pre_tokenizers.Punctuation()])
    images = Emu3ImageProcessor(min_pixels=16 * 16, max_pixels=16 * 16, spatial_factor=8)
    Emu3Processor(image_processor=images, tokenizer=tok).save_pretrained(folder)
    config = Emu3Config(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=37, max_position_embeddings=512,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2),
        # the processor assumes a downsampling of 8 = 2 ** (4 multipliers - 1)
        vq_config=dict(codebook_size=codebook, embed_dim=4, latent_channels=4, temporal_downsample_factor=1,
                       base_channels=32, channel_multiplier=[1, 1, 1, 1], num_res_blocks=1, hidden_size=32,
                       attn_resolutions=[]),
        vocabulary_map=vocab)
    model = Emu3ForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = vocab["<pad>"]
    model.generation_config.bos_token_id = vocab["<bos>"]
    model.generation_config.eos_token_id = vocab["<eos>"]
    model.save_pretrained(folder)


def _build_pair_vlm(folder: Path) -> None:
    """A Qwen2.5-VL (the paper's understanding specialist) with a 64-word vocabulary."""
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil,
                              Qwen2VLProcessor, Qwen2VLVideoProcessor)

    special = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
               "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
    tok = _tokenizer(special + WORDS + ["system", "user", "assistant"],
                     {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                      "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"},
                     pad_token="<|endoftext|>", eos_token="<|im_end|>")
    vocab = tok.get_vocab()
    Qwen2VLProcessor(image_processor=Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56),
                     tokenizer=tok, video_processor=Qwen2VLVideoProcessor(),
                     chat_template=QWEN_CHAT_TEMPLATE).save_pretrained(folder)
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "vocab_size": 64, "rope_theta": 1e6,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                     "pad_token_id": vocab["<|endoftext|>"], "bos_token_id": vocab["<|endoftext|>"],
                     "eos_token_id": vocab["<|im_end|>"]},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"],
        vision_token_id=vocab["<|vision_pad|>"], image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"])
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = vocab["<|endoftext|>"]
    model.generation_config.eos_token_id = vocab["<|im_end|>"]
    model.save_pretrained(folder)


def _build_pair_pipeline(folder: Path) -> None:
    """An OmniGen pipeline (text-to-image and editing in one diffusers pipeline)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, OmniGenPipeline, OmniGenTransformer2DModel
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|diffusion|>", "<|end|>", "<img>", "</img>",
             "<|image_1|>"] + WORDS
    vocab = {w: i for i, w in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # the OmniGen processor drops a leading <s> (id 1) from every prompt
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  pad_token="</s>")
    transformer = OmniGenTransformer2DModel(
        hidden_size=16, num_attention_heads=4, num_key_value_heads=4, intermediate_size=32, num_layers=1,
        in_channels=4, time_step_dim=4, rope_scaling={"long_factor": [1, 2], "short_factor": [1, 2]})
    # four down blocks: editing encodes the input image, which needs the full downsampling path
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4, 4, 4, 4),
                        layers_per_block=1, latent_channels=4, norm_num_groups=1,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    scheduler = FlowMatchEulerDiscreteScheduler(invert_sigmas=True, num_train_timesteps=1)
    OmniGenPipeline(transformer=transformer, vae=vae, tokenizer=tok, scheduler=scheduler).save_pretrained(folder)


def _build_pair(folder: Path) -> None:
    _build_pair_vlm(folder / "vlm")
    _build_pair_pipeline(folder / "pipeline")


# base family -> the builder writing its random-weight model into a folder (its layout: families.TINY_LAYOUTS)
TINY_BUILDERS: dict[str, Callable[[Path], None]] = {"janus": _build_janus, "emu3": _build_emu3, "pair": _build_pair}
assert set(TINY_BUILDERS) == set(TINY_LAYOUTS), "every tiny base needs a builder and a layout"


_BUILDING = threading.Lock()
BUILD_VERSION = 1  # part of the folder name: bump it whenever a builder changes, so stale caches are not reused


def ensure_built(card: ModelCard) -> Path:
    """Build the card's tiny model once; parallel processes race safely (build in a temp dir, then rename)."""
    import torch

    base, seed = card.params["base"], int(card.params.get("seed", 0))
    folder = cache_root() / f"{card.name}-{seed}-v{BUILD_VERSION}"
    with _BUILDING:  # the seed is torch's global RNG: two builds in one process must not interleave draws
        if folder.is_dir():
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                TINY_BUILDERS[base](building)
            building.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
            building.rename(folder)
        except OSError:
            if not folder.is_dir():  # not a lost race with another process: a real failure
                raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return folder


def resolve(card: ModelCard) -> ModelCard:
    """The card as its base family sees it: checkpoints point at the built folder."""
    folder = ensure_built(card)
    layout = TINY_LAYOUTS[card.params["base"]]
    checkpoints = {cap.value: str(folder / layout[cap.value]) for cap in card.capabilities}
    return dataclasses.replace(card, family=card.params["base"], checkpoints=checkpoints)


def load(card: ModelCard, device: str) -> Adapter:
    from realunify_arena.adapters import build_adapter

    return build_adapter(resolve(card), device)
