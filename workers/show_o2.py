"""Show-o2 worker: understanding and text-to-image (Show-o2 has no editing; the paper's GEU stepwise is "-").

Run inside a Show-o2 environment (showlab/Show-o ``show-o2/requirements.txt``, ``build_env.sh``: torch 2.5.1,
transformers 4.47.0, diffusers 0.31.0), from ``show-o2/``, with the Wan2.1 VAE file:
    python /path/to/workers/show_o2.py --repo . --config configs/showo2_7b_demo_432x432.yaml --port 8108
Source: showlab/Show-o@1ed49a1 ``show-o2/configs/showo2_7b_demo_432x432.yaml`` (the 7B model runs at 432x432;
guidance, steps and time shift from its ``transport`` block), ``show-o2/inference_t2i.py`` and
``show-o2/inference_mmu.py`` (the entry points). NOT DONE: the model calls below are not written yet:
the steps of inference_t2i.py / inference_mmu.py were not read closely enough to reproduce them without
guessing, so the backend answers every request with an error that says so.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "showlab/show-o2-7B"
PORT = 8108
SRC = "showlab/Show-o@1ed49a1 show-o2/configs/showo2_7b_demo_432x432.yaml"
DEFAULTS = {
    "understand": {"max_new_tokens": Setting(256, "none found in the Show-o2 demo configs; 256 here")},
    "generate": {
        "resolution": Setting(432, f"{SRC} dataset.preprocessing.resolution"),
        "guidance_scale": Setting(5.0, f"{SRC} transport.guidance_scale"),
        "num_inference_steps": Setting(50, f"{SRC} transport.num_inference_steps"),
        "time_shifting_factor": Setting(3.0, f"{SRC} transport.time_shifting_factor"),
        "seed": Setting(0, "none in the demo config; recorded here so repeated runs match"),
    },
}
MISSING = ("the Show-o2 worker's model calls are not written yet (see workers/show_o2.py): "
           "inference_t2i.py / inference_mmu.py steps still to be reproduced")


class Backend:
    @classmethod
    def load(cls, args) -> Backend:
        return cls()

    def understand(self, images, question, *, max_new_tokens) -> str:
        raise NotImplementedError(MISSING)

    def generate(self, prompt, *, resolution, guidance_scale, num_inference_steps, time_shifting_factor, seed):
        raise NotImplementedError(MISSING)


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], NAME, PORT)
    parser.add_argument("--config", default="configs/showo2_7b_demo_432x432.yaml", help="Show-o2 demo config")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
