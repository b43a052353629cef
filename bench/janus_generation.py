"""Janus-Pro image generation: transformers' ``generate`` against the fast decoder, same process, same weights.

The models have random weights with the real shapes (config built on the meta device, then materialised
on the device: no download); the arithmetic and memory traffic are those of the real checkpoints. For
each batch (images per prompt) it prints, per image: seconds, ms per token step, the speed-up over
``generate``, the measured copy bandwidth and the ratio to the weight-streaming floor, and images/s;
it writes every figure to a JSON file. ``--profile`` adds where one fast call's time goes: its kernel time
against its wall time (what the GPU idles), kernel launches per token step, time per kind of kernel
(matmul, attention, inductor's fused kernels, copies) and the top kernels.

Floors (what a perfectly memory- or compute-bound decoder would take), per token step × token steps:
- ``floor_weights_s``: the weights a step reads ÷ copy bandwidth. A step reads the decoder layers, the final
  norm, the image head and the aligner whole, but only one row of the token-embedding table, so that table is
  left out.
- ``floor_s``: the larger of the step's byte time (those weights plus the KV cache it reads, ÷ bandwidth) and
  its FLOP time (÷ the measured bf16 matmul rate): a step cannot beat either, and both overlap on the device.
  At batch 1 it is close to ``floor_weights_s``; at batch 16 the KV cache and FLOPs count.
On CPU no floor is claimed (there is no matmul rate to set against, and the figure would mislead): the
floors and ratios are left out of the JSON and the printout.

The reference and the fast path are each timed ``--repeats`` times (at least 3 by default), and both the
minimum and the median are reported; a ratio under 1 is printed as "N.Nx slower", never "0.4x faster".

    python bench/janus_generation.py --size 1b --batch 1 --batch 16 --json janus-1b.json
    python bench/janus_generation.py --size tiny            # CPU smoke run (eager fast path)
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

# torch, transformers and the adapters are imported by the functions that use them, so ``--help`` and a usage
# error answer at once instead of after seconds of imports.

# Janus-Pro's language models (LLaMA shapes, DeepSeek-LLM vocabulary) and its special token ids.
TEXT_SHAPES = {
    "1b": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24, "num_attention_heads": 16},
    "7b": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 30, "num_attention_heads": 32},
    # the GPU tests' model: Janus-Pro's vocabulary, codebook and 576 image tokens, a thin 4-layer LM
    "small": {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 4, "num_attention_heads": 8},
}
JANUS_PRO_TOKENS = {"bos_token_id": 100000, "eos_token_id": 100001, "pad_token_id": 100015, "boi_token_id": 100016}
GUIDANCE = 5.0
PROMPT_TOKENS = 40  # a chat-templated RealUnify prompt is typically 30-60 tokens


def janus_config(size: str):
    """(JanusConfig, special token ids) for ``size``; ``tiny`` is the shared tiny test model's config."""
    from transformers import GenerationConfig, JanusConfig

    if size == "tiny":
        from realunify_arena.adapters.tiny import ensure_built
        from realunify_arena.cards import load_cards

        folder = ensure_built(load_cards()["tiny-janus"])
        generation = GenerationConfig.from_pretrained(folder)
        tokens = {"bos_token_id": generation.bos_token_id, "eos_token_id": generation.eos_token_id,
                  "pad_token_id": generation.pad_token_id,
                  "boi_token_id": generation.generation_kwargs["boi_token_id"]}
        return JanusConfig.from_pretrained(folder), tokens
    shape = TEXT_SHAPES[size]
    hidden = shape["hidden_size"]
    text = {"model_type": "llama", "vocab_size": 102400, "max_position_embeddings": 16384,
            "num_key_value_heads": shape["num_attention_heads"], **shape,
            **{k: v for k, v in JANUS_PRO_TOKENS.items() if k != "boi_token_id"}}
    config = JanusConfig(text_config=text, vision_config={"projection_dim": hidden},
                         vq_config={"projection_dim": hidden, "image_token_embed_dim": hidden})
    return config, JANUS_PRO_TOKENS


def random_janus(size: str, device: str, dtype: torch.dtype, seed: int = 0):
    """A Janus model of ``size`` with random weights: built on the meta device, materialised on ``device``."""
    import torch
    from transformers import JanusForConditionalGeneration

    config, tokens = janus_config(size)
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
    model = model.to(dtype=dtype).to_empty(device=device)
    with torch.random.fork_rng(devices=[device] if torch.device(device).type == "cuda" else []):
        torch.manual_seed(seed)
        model.init_weights()  # also recomputes the non-persistent buffers (rotary frequencies, position ids)
    generation = model.generation_config
    generation.bos_token_id, generation.eos_token_id = tokens["bos_token_id"], tokens["eos_token_id"]
    generation.pad_token_id = tokens["pad_token_id"]
    generation.generation_kwargs = {"boi_token_id": tokens["boi_token_id"]}
    return model.eval()


def prompt_ids(model, length: int, device: str) -> torch.Tensor:
    """BOS, random text tokens, BOI: the shape of a chat-templated image prompt."""
    import torch

    generation = model.generation_config
    vocab = model.config.text_config.vocab_size
    low = min(1000, vocab // 2)
    high = min(generation.bos_token_id, vocab) if generation.bos_token_id > low else vocab
    body = torch.randint(low, high, (1, length - 2), generator=torch.Generator().manual_seed(0))
    ids = [[generation.bos_token_id], body[0].tolist(), [generation.generation_kwargs["boi_token_id"]]]
    return torch.tensor([sum(ids, [])], device=device)


def forced_tokens(model, rows: int, device: str, seed: int = 0) -> torch.Tensor:
    """(rows, image tokens) random VQ codebook ids to teacher-force: one per image token step of ``model``
    (576 for Janus-Pro, the config's ``num_image_tokens`` for the tiny model), drawn on ``device`` from ``seed``."""
    import torch

    steps = model.model.vision_model.config.num_image_tokens
    return torch.randint(0, model.config.vq_config.num_embeddings, (rows, steps), device=device,
                         generator=torch.Generator(device).manual_seed(seed))


def default_device() -> str:
    """``cuda`` where a CUDA device is available, else ``cpu`` (a smoke run)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def exit_status(results: list[dict], script: str) -> int:
    """The exit status of a bench that measures several configurations, each row a result or an ``error``:
    0 when at least one configuration ran, 1 (with a line on stderr) when every one failed, so a run that
    measured nothing is not read as a success by a shell or CI step."""
    failed = [row for row in results if "error" in row]
    if results and len(failed) == len(results):
        print(f"{script}: every configuration failed ({len(failed)}); first error: {failed[0]['error']}",
              file=sys.stderr)
        return 1
    return 0


def synchronize(device: str) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def copy_bandwidth(device: str) -> float:
    """Device copy bandwidth in bytes/s, counting bytes read and written (median of 10 copies of 1 GiB)."""
    import torch

    size = 2**30 if torch.device(device).type == "cuda" else 2**25
    source = torch.empty(size, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    return 2 * size / statistics.median(timed(lambda: target.copy_(source), device, 10))


def matmul_rate(device: str, dtype: torch.dtype) -> float | None:
    """Dense matmul FLOP/s at ``dtype`` (8192³ on CUDA); None on CPU, where no compute floor is claimed."""
    import torch

    if torch.device(device).type != "cuda":
        return None
    a = torch.randn(8192, 8192, device=device, dtype=dtype)
    b = torch.randn(8192, 8192, device=device, dtype=dtype)
    a @ b
    return 2 * 8192**3 / statistics.median(timed(lambda: a @ b, device, 10))


def nbytes(module: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def step_weight_bytes(model) -> int:
    """Bytes of the weights one image token step reads: the language model without its token-embedding table
    (a step reads one row of it), plus the image head and the aligner (the image-token embedding, also read one
    row per step, is left out for the same reason)."""
    lm = model.model.language_model
    return (nbytes(lm) - nbytes(lm.embed_tokens) + nbytes(model.model.generation_head)
            + nbytes(model.model.generation_aligner))


def floors(model, batch: int, prompt: int, bandwidth: float, rate: float | None) -> dict:
    """Seconds per call a perfectly bandwidth- or compute-bound decoder would need; see the module doc.

    Returns ``floor_weights_s`` (weights only), ``floor_bytes_s`` (weights + KV cache), ``floor_flops_s``
    (None without a matmul ``rate``) and ``floor_s`` = max(bytes, FLOPs); per-step bytes and FLOPs too.
    """
    lm = model.model.language_model
    text = model.config.text_config
    steps = model.model.vision_model.config.num_image_tokens
    rows = 2 * batch  # classifier-free guidance doubles the batch
    step_weights = step_weight_bytes(model)
    head_dim = text.hidden_size // text.num_attention_heads
    element = next(lm.parameters()).element_size()
    context = prompt + (steps - 1) / 2  # mean cache length over the image
    kv_read = 2 * text.num_hidden_layers * rows * text.num_key_value_heads * head_dim * element * context
    # 2 FLOPs per weight and row (every weight a step reads is a matmul weight but the norms, a rounding error),
    # plus attention: scores and values, 2 FLOPs each per cached position, head dimension and row.
    flops = 2 * rows * step_weights / element + 4 * rows * text.num_hidden_layers * text.hidden_size * context
    bytes_s = (step_weights + kv_read) / bandwidth * steps
    flops_s = flops / rate * steps if rate else None
    return {"floor_weights_s": step_weights / bandwidth * steps, "floor_bytes_s": bytes_s, "floor_flops_s": flops_s,
            "floor_s": max(bytes_s, flops_s or 0.0),
            "step_weight_bytes": step_weights, "step_kv_bytes": kv_read, "step_flops": flops}


def relative(reference_s: float, fast_s: float) -> str:
    """"2.5x faster" or "1.4x slower": a slowdown is never written as a speed-up under 1."""
    return f"{reference_s / fast_s:.1f}x faster" if fast_s <= reference_s else f"{fast_s / reference_s:.1f}x slower"


KERNEL_KINDS = {  # name fragments -> kind, first match wins (cuBLAS/CUTLASS GEMMs, SDPA, inductor's fused kernels)
    "matmul": ("gemm", "cutlass", "nvjet", "xmma", "cublas", "matmul", "addmm", "aten::mm", "aten::bmm"),
    "attention": ("flash", "fmha", "attention", "sdpa"),
    "fused (triton)": ("triton",),
    "copy/fill": ("memcpy", "memset", "copy", "fill"),
}


def kernel_kind(name: str) -> str:
    lowered = name.lower()
    return next((kind for kind, parts in KERNEL_KINDS.items() if any(p in lowered for p in parts)), "other")


def kernel_profile(run, device: str, top: int = 15) -> dict:
    """Where one fast call's device time goes: the ``top`` kernels by their own time, the total kernel
    time and launches (set against the call's wall time, it shows how much of the call the GPU idles), and
    the time per kind of kernel. On CPU the same for operators' own CPU time."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.device(device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        run()
        synchronize(device)
    # Own time of the kernels themselves (an operator's device time repeats its kernels') or of CPU operators.
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    counted = (lambda e: e.device_type == DeviceType.CUDA and not e.is_user_annotation) if cuda else (lambda e: True)
    events = sorted((e for e in prof.key_averages() if counted(e) and getattr(e, key) > 0),
                    key=lambda e: getattr(e, key), reverse=True)
    by_kind: dict[str, float] = {}
    for event in events:
        kind = kernel_kind(event.key)
        by_kind[kind] = by_kind.get(kind, 0.0) + getattr(event, key) / 1e3
    return {"unit": "CUDA kernels" if cuda else "CPU operators",
            "total_ms": sum(getattr(e, key) for e in events) / 1e3, "launches": sum(e.count for e in events),
            "by_kind_ms": by_kind,
            "top": [{"name": e.key[:90], "total_ms": getattr(e, key) / 1e3, "calls": e.count} for e in events[:top]]}


def bench(args) -> dict:
    import torch
    from transformers import __version__ as transformers_version

    from realunify_arena.adapters.janus import IMAGE_SAMPLING
    from realunify_arena.adapters.janus_fast import JanusFastGenerator

    device, dtype = args.device, getattr(torch, args.dtype)
    bandwidth, rate = copy_bandwidth(device), matmul_rate(device, dtype)
    model = random_janus(args.size, device, dtype)
    fast = JanusFastGenerator(model, compile={"auto": None, "on": True, "off": False}[args.compile],
                              compile_options={"mode": args.compile_mode})
    ids = prompt_ids(model, args.prompt_tokens, device)
    mask = torch.ones_like(ids)
    steps = model.model.vision_model.config.num_image_tokens
    report = {"size": args.size, "device": torch.cuda.get_device_name() if "cuda" in device else platform.machine(),
              "dtype": args.dtype, "torch": torch.__version__, "transformers": transformers_version,
              "compile": args.compile, "compile_mode": args.compile_mode, "image_tokens": steps,
              "prompt_tokens": args.prompt_tokens, "copy_bandwidth_Bps": bandwidth, "matmul_flops": rate,
              "lm_bytes": nbytes(model.model.language_model), "results": []}
    print(f"{args.size} on {report['device']} ({args.dtype}): LM {report['lm_bytes'] / 1e9:.2f} GB, copy "
          f"bandwidth {bandwidth / 1e12:.2f} TB/s, matmul {rate / 1e12 if rate else 0:.0f} TFLOP/s", flush=True)

    def reference(batch):
        with torch.inference_mode():
            return model.generate(input_ids=ids, attention_mask=mask, generation_mode="image",
                                  guidance_scale=GUIDANCE, num_return_sequences=batch, **IMAGE_SAMPLING)

    def fast_run(batch):
        # both paths sample as the adapter does (the authors' way: the whole codebook, temperature 1)
        return fast.generate_images(ids, mask, guidance_scale=GUIDANCE, num_return_sequences=batch, **IMAGE_SAMPLING)

    # no separate reference warm-up (one image is ~15 s of device time): the first timed call carries it, and
    # the median of the timed calls (all kept in the JSON) is what is compared
    claim_floor = rate is not None  # on CPU no floor is claimed
    for batch in args.batch:
        start = time.perf_counter()
        tokens = fast_run(batch)  # compiles and records this shape's graphs
        synchronize(device)
        warmup_s = time.perf_counter() - start
        fast_times = timed(lambda: fast_run(batch), device, args.repeats)
        ref_times = timed(lambda: reference(batch), device, args.ref_repeats)
        ref_s, fast_s = statistics.median(ref_times), statistics.median(fast_times)
        with torch.inference_mode():
            decode_s = statistics.median(timed(lambda: model.decode_image_tokens(tokens), device, 1))
        row = {"batch": batch, "reference_s": ref_s, "reference_min_s": min(ref_times), "reference_times_s": ref_times,
               "fast_s": fast_s, "fast_min_s": min(fast_times), "fast_times_s": fast_times,
               "fast_first_call_s": warmup_s,
               "reference_s_per_image": ref_s / batch, "fast_s_per_image": fast_s / batch,
               "reference_ms_per_step": ref_s / steps * 1e3, "fast_ms_per_step": fast_s / steps * 1e3,
               "speedup": ref_s / fast_s, "reference_images_per_s": batch / ref_s, "fast_images_per_s": batch / fast_s,
               "vq_decode_s": decode_s,
               "peak_memory_GB": torch.cuda.max_memory_allocated() / 1e9 if "cuda" in device else None}
        floor_text = ""
        if claim_floor:
            floor = floors(model, batch, args.prompt_tokens, bandwidth, rate)
            row.update(floor, floor_images_per_s=batch / floor["floor_s"],
                       ratio_to_floor_weights=fast_s / floor["floor_weights_s"], ratio_to_floor=fast_s / floor["floor_s"])
            floor_text = (f" | floor {floor['floor_weights_s']:.3f} s (weights), {floor['floor_s']:.3f} s "
                          f"(max of weights+KV and FLOPs) -> {row['ratio_to_floor_weights']:.2f}x / "
                          f"{row['ratio_to_floor']:.2f}x floor, floor images/s {row['floor_images_per_s']:.2f}")
        report["results"].append(row)
        save(report, args.json)  # after every row: a run cut short by its time limit keeps what it measured
        print(f"batch {batch:>2} ({len(ref_times)} reference, {len(fast_times)} fast calls; min / median): reference "
              f"{min(ref_times) / batch:.3f} / {row['reference_s_per_image']:.3f} s/image "
              f"({row['reference_ms_per_step']:.2f} ms/step) | fast {min(fast_times) / batch:.3f} / "
              f"{row['fast_s_per_image']:.3f} s/image ({row['fast_ms_per_step']:.2f} ms/step), "
              f"{relative(ref_s, fast_s)}, first call {warmup_s:.1f} s | images/s: reference "
              f"{row['reference_images_per_s']:.2f}, fast {row['fast_images_per_s']:.2f} | VQ decode {decode_s:.3f} s"
              f"{floor_text}", flush=True)
        if args.profile and batch == args.batch[0]:  # right after its row: a run cut short keeps it
            wall_s = fast_s
            kernels = kernel_profile(lambda: fast_run(batch), device)
            kernels.update(batch=batch, wall_ms=wall_s * 1e3, busy_fraction=kernels["total_ms"] / (wall_s * 1e3),
                           launches_per_step=kernels["launches"] / steps)
            report["profile"] = kernels
            kinds = ", ".join(f"{kind} {ms:.1f} ms" for kind, ms in sorted(kernels["by_kind_ms"].items(),
                                                                             key=lambda kv: -kv[1]))
            print(f"one fast call at batch {batch}: {kernels['unit']} {kernels['total_ms']:.1f} ms of the call's "
                  f"{kernels['wall_ms']:.1f} ms (busy {kernels['busy_fraction']:.0%}), {kernels['launches_per_step']:.0f}"
                  f" per token step; by kind: {kinds}")
            for event in kernels["top"]:
                print(f"  {event['total_ms']:9.2f} ms  {event['calls']:7d}x  {event['name']}")
            save(report, args.json)
    save(report, args.json)
    return report


def save(report: dict, path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["tiny", "small", "1b", "7b"], default="tiny")
    parser.add_argument("--batch", type=int, action="append", help="images per prompt; repeatable (default 1, 16)")
    parser.add_argument("--device", default=None, help="default: cuda where available, else cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS)
    parser.add_argument("--repeats", type=int, default=3, help="timed fast calls per batch (min and median)")
    parser.add_argument("--ref-repeats", type=int, default=None,
                        help="timed generate calls per batch (min and median); default: as many as --repeats")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--compile-mode", default="reduce-overhead")
    parser.add_argument("--profile", action="store_true", help="also list the top kernels of one fast call")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    args.device = args.device or default_device()
    args.batch = args.batch or [1, 16]
    args.ref_repeats = args.ref_repeats or args.repeats
    args.dtype = args.dtype or ("bfloat16" if "cuda" in args.device else "float32")
    bench(args)
    if args.json:
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
