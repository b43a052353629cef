"""ILLUME+ worker: understanding, generation and editing by driving the repository's own demo handlers
(``ILLUME/app.py``: ``add_text`` then ``http_chat_bot`` or ``http_gen_edit_bot``) without the browser.

Run inside an ILLUME+ environment (illume-unified-mllm/ILLUME_plus README), from ``ILLUME/``, with the
configs and checkpoints the demo takes:
    python /path/to/workers/illume_plus.py --repo . --config <mllm config.py> --tokenizer-config <dualvitok
        config.py> --tokenizer-checkpoint <dualvitok .bin> --diffusion-decoder-path <sdxl decoder> --port 8107
Source: illume-unified-mllm/ILLUME_plus@51de69d ``ILLUME/app.py`` (handlers, the demo's slider defaults,
``build_eval_model`` configuration in its ``__main__``). The handlers read the module globals ``eval_model``,
``args`` and ``streamer`` and the device attributes ``__main__`` gives the model, all of which ``Backend.load``
sets as the demo's ``__main__`` does on one GPU. Never run against real weights here.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "ILLUME-MLLM/illume_plus-qwen2_5-3b"
PORT = 8107
SRC = "illume-unified-mllm/ILLUME_plus@51de69d ILLUME/app.py"
IMAGE = {
    "temperature": Setting(1.0, f"{SRC} image_gen_temperature slider"),
    "top_k": Setting(2048, f"{SRC} image_gen_top_k slider"),
    "top_p": Setting(1.0, f"{SRC} image_gen_top_p slider"),
    "guidance_scale": Setting(2.0, f"{SRC} llm_cfg_scale slider"),
    "resolution": Setting("512x512", f"{SRC} resolution_wh_dropdown"),
    "use_diffusion": Setting(False, f"{SRC} use_diffusion_checkbox"),
    "diffusion_guidance_scale": Setting(2.0, f"{SRC} diffusion_cfg_scale slider"),
    "num_inference_steps": Setting(20, f"{SRC} diffusion_num_inference_steps slider"),
    "max_new_tokens": Setting(1024, f"{SRC} max_output_tokens slider"),
}
DEFAULTS = {
    "understand": {"temperature": Setting(1.0, f"{SRC} temperature slider"),
                   "top_k": Setting(128, f"{SRC} top_k slider"),
                   "top_p": Setting(1.0, f"{SRC} top_p slider"),
                   "max_new_tokens": Setting(1024, f"{SRC} max_output_tokens slider")},
    "generate": IMAGE,
    "edit": dict(IMAGE),
}


class Backend:
    def __init__(self, app) -> None:
        self.app = app

    @classmethod
    def load(cls, args) -> Backend:
        import torch

        import app  # ILLUME/app.py, the demo module

        app.args = args
        model = app.build_eval_model(dict(
            type="ILLUME", config=args.config, tokenizer_config=args.tokenizer_config,
            diffusion_decoder_path=args.diffusion_decoder_path, tokenizer_checkpoint=args.tokenizer_checkpoint,
            torch_dtype=args.torch_dtype))
        placed(model, torch.device(args.device))
        app.eval_model = model
        # app.py's __main__ makes the streamer http_chat_bot reads from this module global (None until then:
        # every chat would fail inside the handler, which answers its error banner as if it were the reply)
        app.streamer = app.TextIteratorStreamer(model.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                                timeout=15)
        return cls(app)

    def _state(self, text, image, mode):
        state = self.app.load_demo_refresh_model_list()
        return self.app.add_text(state, text, image, mode)[0]

    @staticmethod
    def _drain(steps):
        state = None
        for output in steps:
            state = output[0]
        return state

    def understand(self, images, question, *, temperature, top_k, top_p, max_new_tokens) -> str:
        state = self._state(question, images[0] if images else None, "chat")
        state = self._drain(self.app.http_chat_bot(state, temperature, top_k, top_p, max_new_tokens))
        return self._reply(state.messages[-1][-1])

    def _reply(self, answer) -> str:
        """The chat handler's answer; its error banners (app.py ``server_error_msg``, ``server_oom_msg``, the
        too-long notice) are a failed request, never a reply to score."""
        text = str(answer)
        banners = (getattr(self.app, "server_error_msg", None), getattr(self.app, "server_oom_msg", None),
                   "Exceeds max token length")
        if answer is None or any(b and text.startswith(b) for b in banners):
            raise RuntimeError(f"ILLUME+'s chat handler failed: {text}"[:300])
        return text

    def _image(self, text, image, mode, s):
        state = self._state(text, image, mode)
        state = self._drain(self.app.http_gen_edit_bot(
            state, s["temperature"], s["top_k"], s["top_p"], s["max_new_tokens"], s["guidance_scale"],
            s["resolution"], s["use_diffusion"], s["diffusion_guidance_scale"], s["num_inference_steps"]))
        answer = state.messages[-1][-1]  # app.py: ('<image>', [generated_image], token parts)
        if not isinstance(answer, tuple) or not answer[1]:
            raise RuntimeError(f"ILLUME+ answered without an image: {answer!r}"[:300])
        return answer[1][0]

    def generate(self, prompt, *, temperature, top_k, top_p, guidance_scale, resolution, use_diffusion,
                 diffusion_guidance_scale, num_inference_steps, max_new_tokens):
        return self._image(prompt, None, "image-generation", dict(
            temperature=temperature, top_k=top_k, top_p=top_p, guidance_scale=guidance_scale, resolution=resolution,
            use_diffusion=use_diffusion, diffusion_guidance_scale=diffusion_guidance_scale,
            num_inference_steps=num_inference_steps, max_new_tokens=max_new_tokens))

    def edit(self, image, instruction, *, temperature, top_k, top_p, guidance_scale, resolution, use_diffusion,
             diffusion_guidance_scale, num_inference_steps, max_new_tokens):
        return self._image(instruction, image, "image-editing", dict(
            temperature=temperature, top_k=top_k, top_p=top_p, guidance_scale=guidance_scale, resolution=resolution,
            use_diffusion=use_diffusion, diffusion_guidance_scale=diffusion_guidance_scale,
            num_inference_steps=num_inference_steps, max_new_tokens=max_new_tokens))


def placed(model, device) -> None:
    """``model`` (app.py's ILLUME) set up as app.py's ``__main__`` does on one device: its MLLM, VQ tokenizer and
    diffusion decoder moved to ``device`` and the attributes the handlers read set (``device``, ``mllm_device``,
    ``vq_device``, ``diffusion_device``, ``local_rank``; ILLUME itself sets only ``device``, to the local rank,
    so without this every generation and edit fails on ``eval_model.vq_device``)."""
    for part in ("mllm_model", "vq_model", "diffusion_decoder_pipe"):
        component = getattr(model, part, None)
        if component is not None:
            component.to(device)
    model.device = model.mllm_device = model.vq_device = model.diffusion_device = device
    model.local_rank = 0 if device.type == "cuda" else -1


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], NAME, PORT)
    parser.add_argument("--config", required=True, help="MLLM config file (configs/example/illume_plus_3b/...)")
    parser.add_argument("--tokenizer-config", required=True, help="DualViTok config file")
    parser.add_argument("--tokenizer-checkpoint", default=None, help="DualViTok checkpoint")
    parser.add_argument("--diffusion-decoder-path", default=None, help="SDXL diffusion decoder folder")
    parser.add_argument("--torch-dtype", default="fp32", choices=["fp32", "bf16", "fp16"],
                        help="weights' dtype (default fp32, app.py's --torch_dtype default)")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
