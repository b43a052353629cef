"""Real-format checkpoint folders for tests: each real checkpoint's processor/tokenizer configuration, chat
template, special-token ids and generation config, with random weights at reduced depth and width.

The facts come from what transformers itself ships, not from this project's code:

- Janus-Pro (deepseek-community/Janus-Pro-1B): ``convert_janus_weights_to_hf.py`` (its CHAT_TEMPLATE,
  ``use_default_system_prompt=True``, the ``image_token``/``boi_token``/``eoi_token`` names, the generation
  config's temperature 1 and guidance 5) and the hub's config files (vocab 102400, bos 100000, eos 100001,
  pad 100015, ``<begin_of_image>`` 100016, ``<image_placeholder>`` 100581, ``<end_of_image>`` 100593,
  ``generation_kwargs.boi_token_id`` 100016, 384 px input, 576 image tokens, a 16384-entry VQ codebook).
- Emu3 (BAAI/Emu3-Chat-hf, BAAI/Emu3-Gen-hf): ``convert_emu3_weights_to_hf.py`` (byte-level BPE,
  bos ``<|extra_203|>``, eos ``<|extra_204|>``, pad ``<|endoftext|>``, ``vocabulary_map`` = the tokenizer's
  vocabulary) and the hub files (vocab 184622, ``<|extra_k|>`` from 151646 with ``<image>`` on the first,
  ``<|image token|>`` 151851, ``<|image start|>`` 151852, ``<|image end|>`` 151853, 32768 visual tokens
  from 151854, 512²-1024² pixel preprocessing, spatial factor 8).
- Qwen2.5-VL (Qwen/Qwen2.5-VL-7B-Instruct): the hub's flat config layout (text fields at top level), its
  chat template, special tokens from 151643, CLIP mean/std with 3136..12845056 pixels, and its
  generation config (``top_k=1, top_p=0.001, temperature=0.1, repetition_penalty=1.05``).
- Qwen2.5-VL-3B-Instruct (OmniGen2's MLLM): the same files, with vocab 151936 and tied embeddings.
- FLUX.1 Kontext, Qwen-Image(-Edit), OmniGen v1: the hub's diffusers folders (model_index.json, component
  sub-folders, tokenizer files, sharded weights), described above each builder; the components are the
  classes diffusers 0.42 names, at one block.

Real ``tokenizer.json`` files (5-10 MB) are not available offline. A byte-level BPE stand-in keeps the real
special tokens at their real ids; every other id decodes to a filler word, so random weights give text.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

# ---- tokenizers ---------------------------------------------------------------------------------------


def byte_level_tokenizer(size: int, specials: dict[int, str], *, bos: str | None = None, eos: str,
                         pad: str, extra: dict[str, str] | None = None, plain: dict[int, str] | None = None,
                         add_bos: bool = False, padding_side: str = "right"):
    """A byte-level BPE over ``size`` ids: ``specials`` (id -> token, matched anywhere in text) and ``plain``
    (id -> vocabulary entry) at their ids, the 256 byte symbols at the lowest ids left free, filler words everywhere
    else. Every id names exactly one token: two tokens on one id would make the saved ``tokenizer.json`` keep
    whichever the tokenizers library's hash map yields first (it differs per process), so a special token could
    come back from ``from_pretrained`` re-added at a new id past the model's embedding table."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    taken = {**(plain or {}), **specials}
    free = iter(i for i in range(size) if i not in taken)
    vocab = {symbol: next(free) for symbol in alphabet}
    vocab.update({f"Ġw{i}": i for i in free})
    vocab.update({token: i for i, token in taken.items()})
    assert len(set(vocab.values())) == len(vocab) == size, "every id in 0..size-1 names exactly one token"
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(specials.values()))
    if add_bos:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])])
    kwargs = {"bos_token": bos} if bos else {}
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=eos, pad_token=pad,
                                   extra_special_tokens=extra or {}, padding_side=padding_side, **kwargs)


def _rewrite_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False))


def edited_copy(sound: Path, under: Path, name: str, change) -> Path:
    """A copy of the checkpoint folder ``sound`` at ``under / sound.name`` (its files hard-linked), whose JSON file
    ``name`` (relative to the folder) is ``change(content)``'s edit of its parsed content, written as a new file
    (the shared build's file is left as it was)."""
    import os
    import shutil

    folder = under / sound.name
    shutil.copytree(sound, folder, copy_function=os.link)
    path = folder / name
    content = json.loads(path.read_text(encoding="utf-8"))
    change(content)
    path.unlink()
    path.write_text(json.dumps(content), encoding="utf-8")
    return folder


# ---- Janus-Pro ----------------------------------------------------------------------------------------

JANUS_BOS, JANUS_EOS, JANUS_PAD = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"
JANUS_IDS = {100000: JANUS_BOS, 100001: JANUS_EOS, 100015: JANUS_PAD, 100016: "<begin_of_image>",
             100581: "<image_placeholder>", 100588: "<|User|>", 100589: "<|Assistant|>", 100593: "<end_of_image>"}
# The chat template transformers' conversion script writes for every Janus(-Pro) checkpoint.
JANUS_CHAT_TEMPLATE = (
    "{%set seps=['\n\n','<\uff5cend\u2581of\u2581sentence\uff5c>']%}"
    "{%set i=0%}"
    "{%for message in messages%}"
    "{%if message['role']|lower=='user'%}"
    "<|User|>: "
    "{%elif message['role']|lower=='assistant'%}"
    "<|Assistant|>:{%if not (loop.last and not add_generation_prompt and message['content'][0]['type']=='text' "
    "and message['content'][0]['text']=='')%} {%endif%}"
    "{%else%}"
    "{{message['role'].capitalize()}}: "
    "{%endif%}"
    "{%for content in message['content']%}"
    "{%if content['type']=='image'%}"
    "{%if not loop.first%}{{'\n'}}{%endif%}"
    "<image_placeholder>"
    "{%if not loop.last%}{{'\n'}}{%endif%}"
    "{%elif content['type']=='text'%}"
    "{%set text=content['text']%}"
    "{%if loop.first%}{%set text=text.lstrip()%}{%endif%}"
    "{%if loop.last%}{%set text=text.rstrip()%}{%endif%}"
    "{%if not loop.first and message['content'][loop.index0-1]['type']=='text'%}"
    "{{' '+text}}"
    "{%else%}"
    "{{text}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if not loop.last or add_generation_prompt%}"
    "{%if message['role']|lower=='user'%}"
    "{{seps[0]}}"
    "{%else%}"
    "{{seps[1]}}"
    "{%endif%}"
    "{%endif%}"
    "{%endfor%}"
    "{%if add_generation_prompt%}<|Assistant|>:{%endif%}"
)


def build_janus_pro(folder: Path, *, generation_kwargs: bool = True, seed: int = 0) -> Path:
    """Janus-Pro-1B's format at 2 LLM layers of width 32. ``generation_kwargs=False`` saves the generation
    config as some public copies carry it (``"_from_model_config": true``), which drops the boi id."""
    from transformers import (JanusConfig, JanusForConditionalGeneration, JanusImageProcessor, JanusProcessor,
                              LlamaConfig)

    torch.manual_seed(seed)
    tok = byte_level_tokenizer(
        102400, JANUS_IDS, bos=JANUS_BOS, eos=JANUS_EOS, pad=JANUS_PAD, add_bos=True, padding_side="left",
        extra={"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>", "eoi_token": "<end_of_image>"})
    images = JanusImageProcessor(size={"height": 384, "width": 384}, min_size=14, image_mean=[0.5] * 3,
                                 image_std=[0.5] * 3, resample=3)
    JanusProcessor(image_processor=images, tokenizer=tok, chat_template=JANUS_CHAT_TEMPLATE,
                   use_default_system_prompt=True, num_image_tokens=576).save_pretrained(folder)
    text = LlamaConfig(vocab_size=102400, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=16384,
                       pad_token_id=100015, bos_token_id=100000, eos_token_id=100001)
    config = JanusConfig(
        text_config=text,
        vision_config={"image_size": 384, "patch_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
                       "num_attention_heads": 4, "mlp_ratio": 2, "projection_dim": 32, "depth": 2,
                       "num_image_tokens": 576},
        vq_config={"embed_dim": 8, "num_embeddings": 16384, "latent_channels": 32, "base_channels": 32,
                   "channel_multiplier": [1, 1, 2, 2, 4], "num_res_blocks": 1, "projection_dim": 32,
                   "image_token_embed_dim": 32},
        image_token_id=100581)
    model = JanusForConditionalGeneration(config).to(torch.bfloat16).eval()
    generation = model.generation_config
    generation.bos_token_id, generation.eos_token_id, generation.pad_token_id = 100000, 100001, 100015
    generation.guidance_scale, generation.temperature = 5, 1
    generation.generation_kwargs = {"boi_token_id": 100016}
    generation._from_model_config = False
    model.save_pretrained(folder)
    if not generation_kwargs:
        _rewrite_json(folder / "generation_config.json", _from_model_config=True)
    return folder


# ---- Emu3 ---------------------------------------------------------------------------------------------

EMU3_VOCAB, EMU3_VISUAL_START, EMU3_CODEBOOK = 184622, 151854, 32768


def _emu3_specials() -> dict[int, str]:
    specials = {151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>"}
    specials |= {151646 + k: f"<|extra_{k}|>" for k in range(1, 205)}
    specials |= {151646: "<image>", 151851: "<|image token|>", 151852: "<|image start|>", 151853: "<|image end|>"}
    return specials


def build_emu3(folder: Path, *, seed: int = 0) -> Path:
    """Emu3-Chat-hf / Emu3-Gen-hf's format (one builder, two seeds) at 2 LLM layers of width 32."""
    from transformers import Emu3Config, Emu3ForConditionalGeneration, Emu3ImageProcessor, Emu3Processor

    torch.manual_seed(seed)
    visual = {EMU3_VISUAL_START + i: f"<|visual token{i:06d}|>" for i in range(EMU3_CODEBOOK)}
    tok = byte_level_tokenizer(
        EMU3_VOCAB, _emu3_specials(), plain=visual, bos="<|extra_203|>", eos="<|extra_204|>", pad="<|endoftext|>",
        extra={"image_token": "<image>", "boi_token": "<|image start|>", "eoi_token": "<|image end|>",
               "image_wrapper_token": "<|image token|>", "eof_token": "<|extra_201|>"})
    images = Emu3ImageProcessor(min_pixels=512 * 512, max_pixels=1024 * 1024, spatial_factor=8,
                                image_mean=[0.5] * 3, image_std=[0.5] * 3)
    Emu3Processor(image_processor=images, tokenizer=tok,
                  chat_template=EMU3_CHAT_TEMPLATE).save_pretrained(folder)
    config = Emu3Config(
        text_config={"vocab_size": EMU3_VOCAB, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 9216,
                     "pad_token_id": 151643, "bos_token_id": 151849, "eos_token_id": 151850},
        vq_config={"codebook_size": EMU3_CODEBOOK, "embed_dim": 4, "latent_channels": 4,
                   "temporal_downsample_factor": 4, "base_channels": 32, "channel_multiplier": [1, 2, 2, 4],
                   "num_res_blocks": 1, "attn_resolutions": [], "hidden_size": 128, "num_attention_heads": 1},
        vocabulary_map=tok.get_vocab())
    model = Emu3ForConditionalGeneration(config).to(torch.bfloat16).eval()
    generation = model.generation_config
    generation.bos_token_id, generation.eos_token_id, generation.pad_token_id = 151849, 151850, 151643
    model.save_pretrained(folder)
    return folder


# The Emu3 -hf processors render "USER: <image>... text ASSISTANT:" (a LLaVA-1.5/Vicuna-style template);
# the project's Emu3 adapter writes BAAI's reference prompt itself (system prompt included, see
# adapters/emu3.py understanding_inputs), so the template only has to be present.
EMU3_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}"
    "{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


# ---- Qwen2.5-VL ---------------------------------------------------------------------------------------

QWEN_IDS = {151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>", 151646: "<|object_ref_start|>",
            151647: "<|object_ref_end|>", 151648: "<|box_start|>", 151649: "<|box_end|>", 151650: "<|quad_start|>",
            151651: "<|quad_end|>", 151652: "<|vision_start|>", 151653: "<|vision_end|>", 151654: "<|vision_pad|>",
            151655: "<|image_pad|>", 151656: "<|video_pad|>"}
# Qwen2.5-VL-Instruct's chat template (chat_template.json on the hub; the default system prompt included).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)
QWEN_GENERATION = {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True, "eos_token_id": [151645, 151643],
                   "repetition_penalty": 1.05, "temperature": 0.1, "top_k": 1, "top_p": 0.001}


# Qwen2.5-VL-3B-Instruct (OmniGen2's MLLM) differs from the 7B in size only, and in two fields kept here:
# a 151936-entry vocabulary and tied input/output embeddings. The chat template is the same file.
QWEN_SIZES = {"7b": {"vocab_size": 152064, "tie_word_embeddings": False},
              "3b": {"vocab_size": 151936, "tie_word_embeddings": True}}


def qwen2_5_vl_model(*, size: str = "7b", seed: int = 0):
    """(Qwen2.5-VL at 2 LLM layers of width 32, its hub-layout flat config.json as a dict)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(seed)
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 1, "max_position_embeddings": 128000, "rope_theta": 1e6,
            "rope_scaling": {"type": "mrope", "rope_type": "default", "mrope_section": [2, 3, 3]},
            "bos_token_id": 151643, "eos_token_id": 151645, **QWEN_SIZES[size]}
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 32, "num_heads": 2, "out_hidden_size": 32,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
              "fullatt_block_indexes": [1], "tokens_per_second": 2}
    ids = {"vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
           "image_token_id": 151655, "video_token_id": 151656}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=text["tie_word_embeddings"],
                              **ids)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16).eval()
    # the hub's layout: text fields at the top level (transformers 4.41-era), vision_config nested
    flat = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
            "torch_dtype": "bfloat16", "hidden_act": "silu", "rms_norm_eps": 1e-6, "use_cache": True,
            **text, **ids, "vision_config": {**vision, "in_chans": 3, "model_type": "qwen2_5_vl"}}
    return model, flat


def qwen2_5_vl_processor():
    """Qwen2.5-VL's processor (image processor, video processor, tokenizer stand-in, chat template)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLVideoProcessor

    tok = byte_level_tokenizer(152064, QWEN_IDS, eos="<|im_end|>", pad="<|endoftext|>",
                               extra={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                                      "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"})
    return Qwen2_5_VLProcessor(image_processor=qwen_image_processor(), tokenizer=tok,
                               video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN_CHAT_TEMPLATE)


def qwen_image_processor():
    from transformers import Qwen2VLImageProcessor

    clip_mean, clip_std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    return Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056, patch_size=14, merge_size=2,
                                 temporal_patch_size=2, image_mean=clip_mean, image_std=clip_std)


def build_qwen2_5_vl(folder: Path, *, seed: int = 0, size: str = "7b") -> Path:
    """Qwen2.5-VL-7B-Instruct's format (``size="3b"``: Qwen2.5-VL-3B-Instruct's) at 2 LLM layers of width 32
    (head dim 16, so the M-RoPE sections [16, 24, 24] of head dim 128 become [2, 3, 3]), with the hub's flat
    config.json and generation config."""
    qwen2_5_vl_processor().save_pretrained(folder)
    model, flat = qwen2_5_vl_model(size=size, seed=seed)
    model.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(flat, indent=2))
    (folder / "generation_config.json").write_text(json.dumps(QWEN_GENERATION, indent=2))
    return folder


# ---- FLUX.1 Kontext [dev] -------------------------------------------------------------------------------

# The hub folder black-forest-labs/FLUX.1-Kontext-dev (diffusers layout, as FLUX.1-dev): model_index.json naming
# FluxKontextPipeline; tokenizer/ the CLIP ViT-L/14 tokenizer as vocab.json + merges.txt (no tokenizer.json;
# model_max_length 77); tokenizer_2/ T5 v1.1's (model_max_length 512); text_encoder/ CLIPTextModel (vocab 49408,
# 77 positions, bos 0, eos 2, pad 1: the old CLIP config); text_encoder_2/ T5EncoderModel (vocab 32128,
# gated-gelu) sharded; transformer/ FluxTransformer2DModel (in_channels 64, patch 1, guidance_embeds, RoPE axes
# [16, 56, 56] of head dim 128, pooled 768, joint 4096) sharded; vae/ AutoencoderKL (four levels: 8x, 16 latent
# channels, scaling 0.3611, shift 0.1159, no quant convs); scheduler/ FlowMatchEulerDiscreteScheduler (dynamic
# shifting, base 0.5 / max 1.15 over 256..4096 tokens, shift 3).
KONTEXT_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
                     "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": True}


def _clip_tokenizer_files(folder: Path) -> None:
    """CLIP's byte-level BPE as the hub ships it (vocab.json, merges.txt, tokenizer_config.json): the 256 byte
    symbols, then each with ``</w>``, filler words, and ``<|startoftext|>`` 49406 / ``<|endoftext|>`` 49407."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    vocab |= {f"{symbol}</w>": len(alphabet) + i for i, symbol in enumerate(alphabet)}
    vocab |= {f"w{i}</w>": i for i in range(len(vocab), 49406)}
    vocab |= {"<|startoftext|>": 49406, "<|endoftext|>": 49407}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
         "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
         "do_lower_case": True}, indent=2))


def build_flux_kontext(folder: Path, *, seed: int = 0) -> Path:
    """FLUX.1-Kontext-dev's folder at one block of width 32 (head dim 16: RoPE axes [4, 6, 6]), with its real
    VAE depth (8x, 16 latent channels, so 16-px sides as the real one) and its transformer and T5 sharded."""
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline,
                           FluxTransformer2DModel)
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, T5TokenizerFast

    torch.manual_seed(seed)
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"\u2581w{i}", -float(i)) for i in range(3, 32000)]
    pieces += [(f"<extra_id_{99 - i}>", 0.0) for i in range(100)]
    t5_tokenizer = T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=77, projection_dim=32,
                                        hidden_act="quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1))
    t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
                                 feed_forward_proj="gated-gelu", is_encoder_decoder=False, use_cache=False))
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 6, 6))
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                        latent_channels=16, norm_num_groups=4, down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.3611, shift_factor=0.1159,
                        use_quant_conv=False, use_post_quant_conv=False, sample_size=1024)
    _clip_tokenizer_files(folder / "tokenizer")
    from transformers import CLIPTokenizer

    pipeline = FluxKontextPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**KONTEXT_SCHEDULER), text_encoder=clip,
                                   tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"), text_encoder_2=t5,
                                   tokenizer_2=t5_tokenizer, transformer=transformer, vae=vae)
    pipeline.save_pretrained(folder)
    for name, part in (("transformer", transformer), ("text_encoder_2", t5)):  # sharded on the hub, with an index
        for path in (folder / name).glob("*.safetensors"):
            path.unlink()
        part.save_pretrained(folder / name, max_shard_size="100KB")
    for name in ("tokenizer.json", "special_tokens_map.json"):  # the hub's CLIP folder: the slow files only
        (folder / "tokenizer" / name).unlink(missing_ok=True)
    _clip_tokenizer_files(folder / "tokenizer")
    return folder


def _reshard(folder: Path, name: str, part, *, max_shard_size: str) -> None:
    """``folder/name`` saved again in shards with an index (``*.safetensors.index.json``), as the hub shards it."""
    for path in (folder / name).glob("*.safetensors"):
        path.unlink()
    part.save_pretrained(folder / name, max_shard_size=max_shard_size)


# ---- Qwen-Image, Qwen-Image-Edit ----------------------------------------------------------------------

# The hub folders Qwen/Qwen-Image and Qwen/Qwen-Image-Edit (diffusers layout): model_index.json naming
# QwenImagePipeline / QwenImageEditPipeline; scheduler/ FlowMatchEulerDiscreteScheduler (dynamic exponential
# shifting, base 0.5 / max 0.9 over 256..8192 tokens, shift_terminal 0.02); text_encoder/ Qwen2.5-VL-7B-Instruct
# (its flat config, legacy key names, sharded); tokenizer/ Qwen2Tokenizer as vocab.json + merges.txt with the
# special tokens from 151643 in tokenizer_config.json; transformer/ QwenImageTransformer2DModel (patch 2,
# in_channels 64, out_channels 16, RoPE axes [16, 56, 56] of head dim 128, joint dim 3584 = the text encoder's
# width) sharded; vae/ AutoencoderKLQwenImage (z_dim 16, dim_mult [1, 2, 4, 4], temperal_downsample
# [false, true, true]: 8x spatially) one file. The edit checkpoint adds processor/ (Qwen2VLProcessor).
QWEN_IMAGE_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.5, "invert_sigmas": False, "max_image_seq_len": 8192,
                        "max_shift": 0.9, "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": 0.02,
                        "stochastic_sampling": False, "time_shift_type": "exponential", "use_beta_sigmas": False,
                        "use_dynamic_shifting": True, "use_exponential_sigmas": False, "use_karras_sigmas": False}
QWEN_MORE_IDS = {151657: "<tool_call>", 151658: "</tool_call>", 151659: "<|fim_prefix|>", 151660: "<|fim_middle|>",
                 151661: "<|fim_suffix|>", 151662: "<|fim_pad|>", 151663: "<|repo_name|>", 151664: "<|file_sep|>"}


def _qwen_tokenizer_files(folder: Path) -> None:
    """Qwen2Tokenizer's slow files as Qwen2.5-VL ships them: vocab.json (byte symbols, filler words up to 151643),
    merges.txt, and tokenizer_config.json with the added tokens 151643..151664 and the chat template."""
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    vocab |= {f"\u0120w{i}": i for i in range(len(alphabet), 151643)}
    added = {**QWEN_IDS, **QWEN_MORE_IDS}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    decoder = {str(i): {"content": token, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                        "special": i not in (151657, 151658)} for i, token in added.items()}
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"add_prefix_space": False, "added_tokens_decoder": decoder, "bos_token": None,
         "chat_template": QWEN_CHAT_TEMPLATE, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
         "errors": "replace", "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
         "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}, indent=2, ensure_ascii=False))


def build_qwen_image(folder: Path, *, edit: bool = False, seed: int = 0) -> Path:
    """Qwen-Image's folder (``edit=True``: Qwen-Image-Edit's) at one transformer block of width 32 (head dim 16:
    RoPE axes [4, 6, 6]) over a 2-layer Qwen2.5-VL of width 32, with the real VAE's depth (8x, 16 latent
    channels) at base width 8; transformer and text encoder sharded."""
    from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageEditPipeline,
                           QwenImagePipeline, QwenImageTransformer2DModel)
    from transformers import Qwen2Tokenizer, Qwen2VLProcessor, Qwen2VLVideoProcessor

    text_encoder, flat = qwen2_5_vl_model(seed=seed)
    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=64, out_channels=16, num_layers=1,
                                              attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                              axes_dims_rope=(4, 6, 6))
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True, True])
    _qwen_tokenizer_files(folder / "tokenizer")
    tokenizer = Qwen2Tokenizer.from_pretrained(folder / "tokenizer")
    parts = {"scheduler": FlowMatchEulerDiscreteScheduler(**QWEN_IMAGE_SCHEDULER), "vae": vae,
             "text_encoder": text_encoder, "tokenizer": tokenizer, "transformer": transformer}
    if edit:
        parts["processor"] = Qwen2VLProcessor(image_processor=qwen_image_processor(), tokenizer=tokenizer,
                                              video_processor=Qwen2VLVideoProcessor(), chat_template=QWEN_CHAT_TEMPLATE)
    (QwenImageEditPipeline if edit else QwenImagePipeline)(**parts).save_pretrained(folder)
    _reshard(folder, "transformer", transformer, max_shard_size="100KB")
    _reshard(folder, "text_encoder", text_encoder, max_shard_size="5MB")
    (folder / "text_encoder" / "config.json").write_text(json.dumps(flat, indent=2))
    (folder / "text_encoder" / "generation_config.json").write_text(json.dumps(QWEN_GENERATION, indent=2))
    for name in ("tokenizer.json", "special_tokens_map.json", "chat_template.jinja"):  # the slow files only
        (folder / "tokenizer" / name).unlink(missing_ok=True)
    _qwen_tokenizer_files(folder / "tokenizer")
    if edit:  # the hub's processor/: the tokenizer's slow files, preprocessor_config.json and the chat template
        shutil.rmtree(folder / "processor")
        _qwen_tokenizer_files(folder / "processor")
        qwen_image_processor().save_pretrained(folder / "processor")
        Qwen2VLVideoProcessor().save_pretrained(folder / "processor")
        (folder / "processor" / "chat_template.json").write_text(json.dumps({"chat_template": QWEN_CHAT_TEMPLATE}))
    return folder


# ---- OmniGen v1 ---------------------------------------------------------------------------------------

# The hub folder Shitao/OmniGen-v1-diffusers: model_index.json naming OmniGenPipeline; scheduler/
# FlowMatchEulerDiscreteScheduler (defaults); tokenizer/ Phi-3's (LlamaTokenizer; bos <s> 1, <|endoftext|> 32000
# as eos and pad, chat tokens 32001..32010 such as <|assistant|> 32001, <|end|> 32007, <|user|> 32010);
# transformer/ OmniGenTransformer2DModel (Phi-3 widths: hidden 3072, 32 layers and heads, intermediate 8192,
# vocab 32064, pad 32000, su-scaled RoPE with long/short factors of head_dim/2 entries, 4 latent channels, patch 2,
# pos_embed_max_size 192); vae/ AutoencoderKL (SDXL's: four levels, 8x, 4 latent channels, scaling 0.13025).
PHI3_IDS = {0: "<unk>", 1: "<s>", 2: "</s>", 32000: "<|endoftext|>", 32001: "<|assistant|>", 32002: "<|placeholder1|>",
            32003: "<|placeholder2|>", 32004: "<|placeholder3|>", 32005: "<|placeholder4|>", 32006: "<|system|>",
            32007: "<|end|>", 32008: "<|placeholder5|>", 32009: "<|placeholder6|>", 32010: "<|user|>"}


def build_omnigen(folder: Path, *, seed: int = 0) -> Path:
    """OmniGen-v1-diffusers' folder at one layer of width 32 (4 heads: head dim 8, RoPE factors of 4 entries),
    with the real VAE's depth (8x, 4 latent channels) at width 8."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, OmniGenPipeline, OmniGenTransformer2DModel

    torch.manual_seed(seed)
    tok = byte_level_tokenizer(32011, PHI3_IDS, bos="<s>", eos="<|endoftext|>", pad="<|endoftext|>", add_bos=True)
    transformer = OmniGenTransformer2DModel(
        in_channels=4, patch_size=2, hidden_size=32, num_attention_heads=4, num_key_value_heads=4,
        intermediate_size=64, num_layers=1, pad_token_id=32000, vocab_size=32064, max_position_embeddings=131072,
        original_max_position_embeddings=4096, rope_scaling={"long_factor": [1.0, 1.2, 1.5, 2.0],
                                                              "short_factor": [1.0, 1.0, 1.1, 1.2], "type": "su"},
        pos_embed_max_size=192)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
                        latent_channels=4, norm_num_groups=4, down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, scaling_factor=0.13025, sample_size=1024)
    OmniGenPipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae,
                    tokenizer=tok).save_pretrained(folder)
    _rewrite_json(folder / "tokenizer" / "tokenizer_config.json", tokenizer_class="LlamaTokenizer")
    _rewrite_json(folder / "model_index.json", tokenizer=["transformers", "LlamaTokenizer"])
    return folder


def run_pipeline(folder: Path):
    """A 2-step 32x32 run of the pipeline folder by diffusers alone (FLUX Kontext given a blank 32x32 image to
    edit): its images, or the library's own error."""
    from diffusers import DiffusionPipeline
    from PIL import Image

    pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    extra = {"image": Image.new("RGB", (32, 32))} if type(pipeline).__name__ == "FluxKontextPipeline" else {}
    return pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np",
                    generator=torch.Generator().manual_seed(0), **extra).images
