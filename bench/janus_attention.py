"""Which attention backend should the fast Janus decoder use on CUDA? For each allowed set of
``scaled_dot_product_attention`` backends, at one model size and batch 1: the warm seconds per image
(compiled step graph, the shipped decoder otherwise unchanged), whether teacher-forced logits repeat bit for
bit over three calls, their error against a float32 forward of the same weights (relative, per step, median;
``tests/gpu/test_janus_fast_gpu.py``'s measure), and the attention kernels that ran.

Background: cuDNN's decoding kernels are fast but not bit-reproducible (``adapters/determinism.py``);
with the causal mask of a static cache, FLASH is not eligible and EFFICIENT (cutlass fmha) runs instead,
which measured 3x cuDNN's attention time on an H200 at Janus-Pro-1B. MATH inside a compiled graph becomes
inductor's own kernels.

    python bench/janus_attention.py --size 1b --json attention.json     # on a CUDA machine
"""

from __future__ import annotations

import copy
import importlib.util
import json
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

BENCH = Path(__file__).resolve().parent / "janus_generation.py"
spec = importlib.util.spec_from_file_location("janus_generation", BENCH)
janus_generation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(janus_generation)
determinism_spec = importlib.util.spec_from_file_location("janus_determinism", BENCH.with_name("janus_determinism.py"))
janus_determinism = importlib.util.module_from_spec(determinism_spec)
determinism_spec.loader.exec_module(janus_determinism)
# torch and the adapters are imported where they are used, so ``--help`` and a usage error answer at once.


def backend_sets() -> dict:
    """The allowed sets of attention backends compared, by name."""
    from torch.nn.attention import SDPBackend

    return {
        "math": [SDPBackend.MATH],
        "shipped (flash, efficient, math)": [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                                             SDPBackend.MATH],
        "cudnn first (before)": [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION,
                                 SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH],
    }


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    value, reference = value.float().transpose(0, 1).flatten(1), reference.float().transpose(0, 1).flatten(1)
    return (value - reference).norm(dim=1) / reference.norm(dim=1)


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser()
    parser.add_argument("--size", default="1b")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--repeats", type=int, default=3, help="timed warm calls and teacher-forced calls per set")
    parser.add_argument("--device", default=None, help="default: cuda where available, else cpu (a smoke run, eager)")
    args = parser.parse_args(argv)
    import torch
    from torch.nn.attention import sdpa_kernel

    from realunify_arena.adapters import janus_fast

    args.device = args.device or janus_generation.default_device()
    cuda = torch.device(args.device).type == "cuda"
    model = janus_generation.random_janus(args.size, args.device, torch.bfloat16)
    prompt = janus_generation.prompt_ids(model, janus_generation.PROMPT_TOKENS, args.device)
    settings = dict(do_sample=True, guidance_scale=5.0)
    forced = janus_generation.forced_tokens(model, 1, args.device)
    exact = copy.deepcopy(model).float()
    truth = janus_fast.reference_image_logits(exact, prompt, forced, 5.0)
    del exact
    torch.cuda.empty_cache() if cuda else None
    results = []
    chosen = janus_fast.reproducible_attention  # set back after: main() may run inside a test's process
    try:
        for name, backends in backend_sets().items():
            torch._dynamo.reset()
            janus_fast.reproducible_attention = lambda backends=backends: sdpa_kernel(backends)
            fast = janus_fast.JanusFastGenerator(model, compile=cuda)
            row = {"config": name}
            try:
                start = time.perf_counter()
                fast.generate_images(prompt, **settings)
                janus_generation.synchronize(args.device)
                row["first_call_s"] = time.perf_counter() - start
                row["warm_s_per_image"] = statistics.median(janus_generation.timed(
                    lambda: fast.generate_images(prompt, **settings), args.device, args.repeats))
                logits = [fast.image_logits(prompt, forced, **settings) for _ in range(max(2, args.repeats))]
                row["logits_bitwise_equal"] = [bool(torch.equal(a, logits[0])) for a in logits[1:]]
                row["error_vs_float32_median"] = float(relative_error(logits[0], truth).median())
                if cuda:
                    row["attention_kernels"] = janus_determinism.attention_kernels(
                        lambda: fast.generate_images(prompt, **settings))
            except Exception as error:  # noqa: BLE001 - a configuration that cannot run is a result too
                row["error"] = f"{type(error).__name__}: {error}"[:500]
            results.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                args.json.write_text(json.dumps({"torch": torch.__version__,
                                                 "device": torch.cuda.get_device_name() if cuda else "cpu",
                                                 "size": args.size, "results": results}, indent=2))
    finally:
        janus_fast.reproducible_attention = chosen
    return janus_generation.exit_status(results, "janus_attention")


if __name__ == "__main__":
    raise SystemExit(main())
