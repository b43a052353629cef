"""Show-o2 worker: understanding and text-to-image (Show-o2 has no editing; the paper's GEU stepwise is "-").

Run inside a Show-o2 environment (showlab/Show-o ``show-o2/build_env.sh``: torch 2.5.1, transformers 4.47.0,
diffusers 0.31.0, omegaconf, torchdiffeq), with the Wan2.1 VAE file ``Wan2.1_VAE.pth`` in ``show-o2/`` as its
README says, from the clone of showlab/Show-o:
    python /path/to/workers/show_o2.py --repo show-o2 --config configs/showo2_7b_demo_432x432.yaml --port 8108
Relative ``--config`` and ``--vae-path`` are looked up in the current folder, then in ``--repo``.

Source: showlab/Show-o@45a5a2d (the steps below are those of its scripts, run once per request):

* loading, as ``show-o2/inference_t2i.py``: the demo config (``OmegaConf``), ``WanVAE(vae_pth=...,
  dtype, device)``, ``models.misc.get_text_tokenizer(llm_model_path, add_showo_tokens=True,
  return_showo_token_ids=True, llm_name=utils.path_to_llm_name[...])``, ``Showo2Qwen2_5.from_pretrained(
  checkpoint, use_safetensors=False)`` cast to the config's ``model.weight_type`` (bfloat16), one more
  image token for the time embedding when ``add_time_embeds``, ``utils.get_hyper_params``,
  ``transport.create_transport(...)`` and ``Sampler``; the Stable Diffusion safety checker the script
  applies to every image (``--no-safety-checker`` leaves it out, as the script did before 2025-10-22).
* text-to-image, as ``inference_t2i.py``: ``prepare_gen_input`` (prompt and empty prompt), Gaussian latents
  doubled for classifier-free guidance when ``guidance_scale > 0``, ``omni_attn_mask_naive``,
  ``sampler.sample_ode(sampling_method, num_steps, atol, rtol, reverse, time_shifting_factor)`` run on
  ``model.t2i_generate``, the conditional half decoded by ``WanVAE.batch_decode`` and ``utils.denorm``.
  Resolution is the config's (432x432 for the 7B demo: its latent grid and token count are fixed by the
  checkpoint), so a request cannot change it; another config file (e.g. the 1.5B 1024x1024 one) can.
* understanding, as ``inference_mmu.py``: ``datasets.utils.image_transform(image, resolution)`` (resize +
  center crop), ``WanVAE.sample``, the und/gen embedders, position embedding, ``und_trans`` and
  ``fusion_proj``; the prompt ``<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>
  user\\n<|vision_start|>[time][image]<|vision_end|>{question}\\n<|im_start|>assistant\\n`` as embeddings,
  ``omni_attn_mask_naive`` and ``model.mmu_generate(input_embeds, attention_mask, top_k=1,
  max_new_tokens=300, eos_token)`` (greedy: top-k 1). inference_mmu.py takes exactly one image.

Deviations, each because the scripts have no path for it: a text-only question (the UEG stepwise
refinement) uses the same chat prompt without the image block under ``causal_attn_mask_naive``;
more than one image is refused (HTTP 400); inference_mmu.py runs the model in float32, here one
copy in the config's weight type (bfloat16) serves both capabilities; the scripts draw latents
unseeded (their ``set_seed(42)`` is commented out), here ``utils.set_seed(seed)`` runs before each image.
Never run against real weights here.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import RequestError, Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "showlab/show-o2-7B"
PORT = 8108
SRC = "showlab/Show-o@45a5a2d show-o2"
CONFIG = "configs/showo2_7b_demo_432x432.yaml"
DEFAULTS = {
    "understand": {"max_new_tokens": Setting(300, f"{SRC}/inference_mmu.py mmu_generate(max_new_tokens=300)")},
    "generate": {
        "guidance_scale": Setting(7.5, f"{SRC}/README.md t2i demo: inference_t2i.py config={CONFIG} "
                                       "guidance_scale=7.5 (the script reads config.guidance_scale from the "
                                       "command line, not the config's transport.guidance_scale 5.0)"),
        "num_inference_steps": Setting(50, f"{SRC}/README.md t2i demo: num_inference_steps=50 "
                                           f"(= {CONFIG} transport.num_inference_steps)"),
        "time_shifting_factor": Setting(3.0, f"{SRC}/{CONFIG} transport.time_shifting_factor"),
        "seed": Setting(42, f"{SRC}/inference_t2i.py '# seed_value = 42 / set_seed(seed_value)' (commented out "
                            "there: latents are unseeded); set here so repeated runs match"),
    },
}
# sample_ode arguments inference_t2i.py takes from the config's transport block (not per-request settings)
ODE_FIELDS = ("sampling_method", "atol", "rtol", "reverse")
SYSTEM_PROMPT = "system\nYou are a helpful assistant.<|im_end|>"  # inference_mmu.py sys_prompt_ids
USER_ROLE, ASSISTANT_ROLE = "\n<|im_start|>user\n", "\n<|im_start|>assistant\n"  # inference_mmu.py role_a/b


class Backend:
    """Show-o2's components and the repository functions its scripts call (``official``: a namespace with
    ``prepare_gen_input``, ``omni_attn_mask_naive``, ``causal_attn_mask_naive``, ``image_transform``,
    ``denorm`` and ``set_seed``). ``shapes`` holds what ``get_hyper_params`` returns plus ``resolution`` and
    ``add_time_embeds``; ``ode`` the config's ``transport`` fields in ``ODE_FIELDS``."""

    def __init__(self, model, vae, tokenizer, token_ids, sampler, shapes, ode, official, device, dtype,
                 safety=None) -> None:
        self.model, self.vae, self.tokenizer, self.token_ids = model, vae, tokenizer, token_ids
        self.sampler, self.shapes, self.ode, self.official = sampler, shapes, ode, official
        self.device, self.dtype, self.safety = device, dtype, safety

    @classmethod
    def load(cls, args) -> Backend:
        import types

        import torch
        from datasets.utils import image_transform
        from models import Showo2Qwen2_5, WanVAE, causal_attn_mask_naive, omni_attn_mask_naive
        from models.misc import get_text_tokenizer, prepare_gen_input
        from omegaconf import OmegaConf
        from transport import Sampler, create_transport
        from utils import denorm, get_hyper_params, path_to_llm_name, set_seed

        config = OmegaConf.load(_path(args.config, args.repo))
        dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}[config.model.weight_type]
        device = torch.device(args.device)
        vae_path = _path(args.vae_path or config.model.vae_model.pretrained_model_path, args.repo)
        vae = WanVAE(vae_pth=vae_path, dtype=dtype, device=device)
        llm = config.model.showo.llm_model_path
        tokenizer, token_ids = get_text_tokenizer(llm, add_showo_tokens=True, return_showo_token_ids=True,
                                                  llm_name=path_to_llm_name[llm])
        model = Showo2Qwen2_5.from_pretrained(args.checkpoint, use_safetensors=False).to(device)
        model.to(dtype)
        model.eval()
        pre = config.dataset.preprocessing
        if config.model.showo.add_time_embeds:  # the time embedding is prepended to the image tokens
            pre.num_t2i_image_tokens += 1
            pre.num_mmu_image_tokens += 1
            pre.num_video_tokens += 1
        names = ("num_t2i_image_tokens", "num_mmu_image_tokens", "num_video_tokens", "max_seq_len", "max_text_len",
                 "image_latent_dim", "patch_size", "latent_width", "latent_height", "pad_id", "bos_id", "eos_id",
                 "boi_id", "eoi_id", "bov_id", "eov_id", "img_pad_id", "vid_pad_id", "guidance_scale")
        shapes = dict(zip(names, get_hyper_params(config, tokenizer, token_ids)))
        shapes.update(resolution=pre.resolution, add_time_embeds=bool(config.model.showo.add_time_embeds))
        t = config.transport
        transport = create_transport(path_type=t.path_type, prediction=t.prediction, loss_weight=t.loss_weight,
                                     train_eps=t.train_eps, sample_eps=t.sample_eps, snr_type=t.snr_type,
                                     do_shift=t.do_shift, seq_len=shapes["num_t2i_image_tokens"])
        safety = None
        if not args.no_safety_checker:
            from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
            from transformers import AutoFeatureExtractor

            safety = (AutoFeatureExtractor.from_pretrained(args.safety_checker),
                      StableDiffusionSafetyChecker.from_pretrained(args.safety_checker))
        official = types.SimpleNamespace(prepare_gen_input=prepare_gen_input, omni_attn_mask_naive=omni_attn_mask_naive,
                                         causal_attn_mask_naive=causal_attn_mask_naive,
                                         image_transform=image_transform, denorm=denorm, set_seed=set_seed)
        return cls(model, vae, tokenizer, token_ids, Sampler(transport), shapes, {k: t[k] for k in ODE_FIELDS},
                   official, device, dtype, safety)

    def understand(self, images, question, *, max_new_tokens) -> str:
        """inference_mmu.py for one image (or none); greedy (top_k=1) up to ``max_new_tokens`` tokens."""
        import torch

        if len(images) > 1:
            raise RequestError(400, f"Show-o2 answers about one image at a time (inference_mmu.py), got {len(images)}")
        tok, ids, shapes, model = self.tokenizer, self.token_ids, self.shapes, self.model
        sys_ids = tok(SYSTEM_PROMPT, add_special_tokens=False)["input_ids"]
        role_a = tok(USER_ROLE, add_special_tokens=False)["input_ids"]
        role_b = tok(ASSISTANT_ROLE, add_special_tokens=False)["input_ids"]
        question_ids = tok(question, add_special_tokens=False).input_ids
        embed = model.showo.model.embed_tokens
        with torch.no_grad():
            tokens_a = torch.tensor([ids["bos_id"]] + sys_ids + role_a).to(self.device)[None, :]
            embeds_a = embed(tokens_a)
            if images:
                image = self.official.image_transform(images[0], resolution=shapes["resolution"]).to(self.device)
                latents = self.vae.sample(image.unsqueeze(0).unsqueeze(2)).squeeze(2).to(self.dtype)
                und = model.image_embedder_und(latents) + model.position_embedding(model.image_position_ids)
                und = model.und_trans(und)["last_hidden_state"]
                image_embeds = model.fusion_proj(torch.cat([und, model.image_embedder_gen(latents)], dim=-1))
                embeds_b = embed(torch.tensor([ids["boi_id"], ids["eoi_id"]] + question_ids + role_b)
                                 .to(self.device)[None, :])
                parts = [embeds_a, embeds_b[:, :1]]
                if shapes["add_time_embeds"]:
                    time_embeds = model.time_embed(torch.Tensor([[1.0]]).to(self.device), embeds_a.dtype)
                    if hasattr(model, "time_embed_proj"):
                        time_embeds = model.time_embed_proj(time_embeds)
                    parts.append(time_embeds)
                input_embeds = torch.cat(parts + [image_embeds, embeds_b[:, 1:]], dim=1).to(self.dtype)
                offset = tokens_a.shape[1] + (2 if shapes["add_time_embeds"] else 1)
                positions = torch.tensor([offset, shapes["num_mmu_image_tokens"]])[None, None, :].to(self.device)
                mask = self.official.omni_attn_mask_naive(B=input_embeds.size(0), LEN=input_embeds.size(1),
                                                          modalities=positions, device=self.device, inverted=True)
            else:  # no script for text alone: the same chat prompt without the image block, causal attention
                embeds_b = embed(torch.tensor(question_ids + role_b).to(self.device)[None, :])
                input_embeds = torch.cat([embeds_a, embeds_b], dim=1).to(self.dtype)
                mask = self.official.causal_attn_mask_naive(B=input_embeds.size(0), LEN=input_embeds.size(1),
                                                            device=self.device, inverted=True)
            tokens = model.mmu_generate(input_embeds=input_embeds, attention_mask=mask.to(input_embeds.dtype),
                                        top_k=1, max_new_tokens=max_new_tokens, eos_token=tok.eos_token_id)
        if not tokens:
            return ""
        return tok.batch_decode(torch.stack(tokens)[None], skip_special_tokens=True)[0].strip()

    def generate(self, prompt, *, guidance_scale, num_inference_steps, time_shifting_factor, seed):
        """inference_t2i.py for one prompt -> an RGB PIL image at the config's resolution."""
        import torch
        from PIL import Image

        s, official = self.shapes, self.official
        official.set_seed(seed)
        text, text_null, positions, positions_null = official.prepare_gen_input(
            [prompt], self.tokenizer, s["num_t2i_image_tokens"], s["bos_id"], s["eos_id"], s["boi_id"], s["eoi_id"],
            s["pad_id"], s["img_pad_id"], s["max_text_len"], self.device)
        z = torch.randn((1, s["image_latent_dim"], s["latent_height"] * s["patch_size"],
                         s["latent_width"] * s["patch_size"])).to(torch.bfloat16).to(self.device)
        if guidance_scale > 0:  # the conditional and the empty prompt in one batch
            z = torch.cat([z, z], dim=0)
            text, positions = torch.cat([text, text_null], dim=0), torch.cat([positions, positions_null], dim=0)
        mask = official.omni_attn_mask_naive(text.size(0), s["max_seq_len"], positions, self.device).to(self.dtype)
        sample_fn = self.sampler.sample_ode(sampling_method=self.ode["sampling_method"], num_steps=num_inference_steps,
                                            atol=self.ode["atol"], rtol=self.ode["rtol"], reverse=self.ode["reverse"],
                                            time_shifting_factor=time_shifting_factor)
        with torch.no_grad():
            samples = sample_fn(z, self.model.t2i_generate, text_tokens=text, attention_mask=mask,
                                modality_positions=positions, output_hidden_states=True,
                                max_seq_len=s["max_seq_len"], guidance_scale=guidance_scale)[-1]
            samples = torch.chunk(samples, 2)[0]
            images = self.vae.batch_decode(samples.unsqueeze(2)).squeeze(2)
        array = official.denorm(images)[0]  # H x W x 3, uint8
        if self.safety is not None:
            array = self._checked(array)
        return Image.fromarray(array)

    def _checked(self, array):
        """inference_t2i.py's safety check: an image it flags comes back black."""
        import numpy as np
        import torch
        from PIL import Image

        processor, checker = self.safety
        inputs = processor(images=[Image.fromarray(array)], return_tensors="pt")
        with torch.no_grad():
            checked, _ = checker(images=[array], clip_input=inputs["pixel_values"])
        return np.asarray(checked[0]).astype(np.uint8)


def _path(path: str, repo: str) -> str:
    """``path`` as given when absolute or present in the current folder, else inside ``repo``."""
    return path if os.path.isabs(path) or os.path.exists(path) else os.path.join(os.path.abspath(repo), path)


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], NAME, PORT)
    parser.add_argument("--config", default=CONFIG, help=f"Show-o2 demo config (default {CONFIG})")
    parser.add_argument("--vae-path", default=None, help="Wan2.1_VAE.pth (default: the config's model.vae_model)")
    parser.add_argument("--no-safety-checker", action="store_true",
                        help="skip the Stable Diffusion safety checker inference_t2i.py applies")
    parser.add_argument("--safety-checker", default="CompVis/stable-diffusion-safety-checker",
                        help="the safety checker's weights (inference_t2i.py's)")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
