"""Does the fast Janus decoder give the same numbers twice? Teacher-forced image logits, called three times
with the same tokens, compared bit for bit, and seeded sampling three times, compiled and eager, as shipped
(attention without cuDNN: ``realunify_arena/adapters/determinism.py``) and as before (cuDNN allowed).

Seeded sampling can only repeat if the logits repeat: with random weights a one-ulp change flips a sampled
token now and then, and every later token follows it. PyTorch documents the FLASH, EFFICIENT and MATH
scaled-dot-product-attention forwards as deterministic and leaves cuDNN's out of its deterministic mode
(``docs/source/notes/randomness.rst``). Prints one line per configuration and writes a JSON after each.

    python bench/janus_determinism.py --json determinism.json     # on a CUDA machine
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "janus_generation.py"
spec = importlib.util.spec_from_file_location("janus_generation", BENCH)
janus_generation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(janus_generation)  # also puts the checkout on sys.path
# torch and the adapters are imported where they are used, so ``--help`` and a usage error answer at once.


def attention_kernels(run) -> list[str]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run()
        torch.cuda.synchronize()
    names = {e.key for e in prof.key_averages() if any(p in e.key.lower() for p in ("sdpa", "fmha", "flash",
                                                                                     "attention", "cudnn"))}
    return sorted(n[:80] for n in names)


def main() -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser()
    parser.add_argument("--size", default="small")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import torch

    from realunify_arena.adapters import janus_fast

    if not torch.cuda.is_available():  # its subject is CUDA attention kernels: on CPU nothing it measures exists
        print("janus_determinism: needs a CUDA device (torch.cuda.is_available() is False); for a CPU smoke run"
              " use bench/janus_attention.py --size tiny --device cpu", file=sys.stderr)
        return 2

    model = janus_generation.random_janus(args.size, "cuda", torch.bfloat16)
    prompt = janus_generation.prompt_ids(model, janus_generation.PROMPT_TOKENS, "cuda").repeat(2, 1)
    settings = dict(do_sample=True, guidance_scale=5.0)
    forced = janus_generation.forced_tokens(model, 2, "cuda")
    results = []
    shipped = janus_fast.reproducible_attention
    for name, compiled, cudnn_allowed in [("compiled, as shipped", True, False), ("eager, as shipped", False, False),
                                          ("compiled, cuDNN attention allowed (before)", True, True)]:
        torch._dynamo.reset()
        janus_fast.reproducible_attention = nullcontext if cudnn_allowed else shipped
        fast = janus_fast.JanusFastGenerator(model, compile=compiled)
        row = {"config": name}
        try:
            start = time.perf_counter()
            first = fast.image_logits(prompt, forced, **settings)
            torch.cuda.synchronize()
            row["first_call_s"] = time.perf_counter() - start
            again = []
            for _ in range(3):
                start = time.perf_counter()
                again.append(fast.image_logits(prompt, forced, **settings))
                torch.cuda.synchronize()
            row["warm_call_s"] = time.perf_counter() - start
            seeded = [fast.generate_images(prompt[:1], num_return_sequences=2, **settings,
                                           generator=torch.Generator("cuda").manual_seed(11)) for _ in range(3)]
            row["attention_kernels"] = attention_kernels(lambda: fast.image_logits(prompt, forced, **settings))
            diffs = [(a != first).any(dim=(0, 2)) for a in again]  # per step: any logit different
            row["logits_bitwise_equal"] = [not bool(d.any()) for d in diffs]
            row["first_differing_step"] = [int(d.nonzero()[0]) if d.any() else None for d in diffs]
            row["max_abs_diff"] = [float((a.float() - first.float()).abs().max()) for a in again]
            row["seeded_tokens_equal"] = [bool(torch.equal(s, seeded[0])) for s in seeded[1:]]
        except Exception as error:  # noqa: BLE001 - a configuration that cannot run is a result too
            row["error"] = f"{type(error).__name__}: {error}"[:500]
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(),
                                             "results": results}, indent=2))
    return janus_generation.exit_status(results, "janus_determinism")


if __name__ == "__main__":
    raise SystemExit(main())
