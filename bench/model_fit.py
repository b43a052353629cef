"""The whole-model weight-fit check (``checkpoint_files.model_weights_problem``): what it costs on a good
checkpoint of the real size, and what it saves on a broken one.

1. Cost: Janus-Pro-7B, Qwen2.5-VL-7B-Instruct and Emu3 (the hub's config fields for their sizes, built on the meta
   device) each get a folder holding ``config.json`` and a sparse ``model.safetensors`` (the real keys and shapes
   in its header, no data written: 15-17 GB apparent, nothing on disk). The check is timed on it as it is (must
   pass) and with one decoder weight left out of the header (must refuse).
2. Saving: a Janus-Pro folder of the real format (tests/real_format.py) whose model is a few hundred MB (text
   width 1024, 4 layers, the real 102400 vocabulary) lacking one decoder layer's MLP is loaded through the
   janus-pro-1b card (``build_adapter``, CPU) in a fresh process twice: with the check, and with it switched off
   (the post-load report refuses, as before the check). Each prints seconds to the refusal and the process's peak
   RSS, and both refusals must be the same message.

    python bench/model_fit.py            # both parts (about a minute on 2 cores; ~1 GB in /tmp)
    python bench/model_fit.py --cost     # part 1 only
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

# hub config.json fields of each model's language part (deepseek-community/Janus-Pro-7B,
# Qwen/Qwen2.5-VL-7B-Instruct, BAAI/Emu3-Gen-hf); the rest are the classes' defaults, as those configs leave them
JANUS_7B_TEXT = {"model_type": "llama", "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008,
                 "num_hidden_layers": 30, "num_attention_heads": 32, "num_key_value_heads": 32,
                 "max_position_embeddings": 16384}
QWEN_7B = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
           "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False,
           "max_position_embeddings": 128000, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
           "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                             "out_hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2,
                             "temporal_patch_size": 2, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31],
                             "model_type": "qwen2_5_vl"}}
EMU3_TEXT = {"vocab_size": 184622, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 9216}
_DTYPES = {"torch.bfloat16": "BF16", "torch.float32": "F32", "torch.float16": "F16", "torch.int64": "I64"}


def sparse_safetensors(path: Path, shapes: dict[str, tuple[tuple[int, ...], str]]) -> int:
    """A safetensors file whose header lists ``shapes`` (key -> (shape, safetensors dtype)) and whose data is a hole
    of the right length (a sparse file: nothing written); returns its apparent size in bytes."""
    sizes = {"BF16": 2, "F16": 2, "F32": 4, "I64": 8}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for key, (shape, dtype) in shapes.items():
        count = 1
        for side in shape:
            count *= side
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + count * sizes[dtype]]}
        offset += count * sizes[dtype]
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + offset)
    return 8 + len(text) + offset


def full_size(name: str, folder: Path):
    """(model class, folder) of ``name`` at its real size: config.json and a sparse model.safetensors holding every
    weight ``save_pretrained`` would write (tied copies left out, as it does)."""
    import torch
    from accelerate import init_empty_weights
    from transformers import (Emu3Config, Emu3ForConditionalGeneration, JanusConfig, JanusForConditionalGeneration,
                              Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration)

    folder.mkdir(parents=True, exist_ok=True)
    if name == "Janus-Pro-7B":
        cls, config = JanusForConditionalGeneration, JanusConfig(
            text_config=JANUS_7B_TEXT, vision_config={"projection_dim": 4096},
            vq_config={"projection_dim": 4096, "image_token_embed_dim": 4096}, image_token_id=100594)
        config.save_pretrained(folder)
    elif name == "Qwen2.5-VL-7B-Instruct":
        cls, config = Qwen2_5_VLForConditionalGeneration, None
        (folder / "config.json").write_text(json.dumps(QWEN_7B))
        config = Qwen2_5_VLConfig.from_pretrained(folder)
    else:
        # the vocabulary map Emu3Model reads (the Gen checkpoint's: <|extra_200|> and its 32768 visual tokens)
        vocabulary = {"<|extra_200|>": 151846} | {f"<|visual token{i:06d}|>": 151854 + i for i in range(32768)}
        cls, config = Emu3ForConditionalGeneration, Emu3Config(text_config=EMU3_TEXT, vocabulary_map=vocabulary)
        config.save_pretrained(folder)
    with init_empty_weights(include_buffers=True):
        model = cls(config).to(torch.bfloat16)
    tied = set(model.all_tied_weights_keys)
    shapes = {key: (tuple(t.shape), _DTYPES[str(t.dtype)]) for key, t in model.state_dict().items() if key not in tied}
    size = sparse_safetensors(folder / "model.safetensors", shapes)
    return cls, folder, shapes, size


def cost(root: Path, repeats: int = 3) -> list[dict]:
    """Part 1: seconds the check takes on each real-size folder, good and lacking one weight."""
    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    rows = []
    for name in ("Janus-Pro-7B", "Qwen2.5-VL-7B-Instruct", "Emu3"):
        cls, folder, shapes, size = full_size(name, root / name)
        good = []
        for _ in range(repeats):
            start = time.perf_counter()
            problem = model_weights_problem(str(folder), cls, None)
            good.append(time.perf_counter() - start)
            assert problem is None, problem
        dropped = next(key for key in shapes if ".layers.1." in key and "mlp" in key)
        sparse_safetensors(folder / "model.safetensors", {k: v for k, v in shapes.items() if k != dropped})
        start = time.perf_counter()
        problem = model_weights_problem(str(folder), cls, None)
        broken = time.perf_counter() - start
        assert problem and "1 of the " in problem and dropped in problem, problem
        rows.append({"model": name, "weights": len(shapes), "apparent_gb": round(size / 1e9, 1),
                     "good_s_median": round(statistics.median(good), 3), "good_s_min": round(min(good), 3),
                     "broken_s": round(broken, 3)})
        print(f"{name}: {len(shapes)} weights, {size / 1e9:.1f} GB apparent; check on the good folder "
              f"{statistics.median(good):.3f} s (median of {repeats}, min {min(good):.3f}), refusal "
              f"{broken:.3f} s", flush=True)
        shutil.rmtree(folder)
    return rows


_CHILD = """
import json, sys, time, dataclasses
sys.path.insert(0, {root!r})
from realunify_arena.adapters import ModelUnavailable, build_adapter, local
from realunify_arena.cards import load_cards
if {off!r}:
    local.model_weights_problem = lambda *args: None  # the load and its report decide, as before the check
def peak_mb():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak across exec)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
spent = []
pretrained = local.LocalAdapter.pretrained
def timed(self, cls, checkpoint):
    start = time.perf_counter()
    try:
        return pretrained(self, cls, checkpoint)
    finally:
        spent.append(time.perf_counter() - start)
local.LocalAdapter.pretrained = timed
card = load_cards()["janus-pro-1b"]
card = dataclasses.replace(card, checkpoints={{cap: {folder!r} for cap in card.checkpoints}}, parts={{}},
                           dtype="float32")  # as the CPU tests load it: every bf16 weight is read and widened
import torch, transformers  # imported before the clock starts, in both runs
before = peak_mb()
start = time.perf_counter()
try:
    build_adapter(card, "cpu")
    said = None
except ModelUnavailable as exc:
    said = str(exc)
print(json.dumps({{"seconds": time.perf_counter() - start, "pretrained_s": sum(spent), "rss_before_mb": before,
                  "peak_rss_mb": peak_mb(), "said": said}}))
"""


def saving(root: Path, repeats: int = 3) -> dict:
    """Part 2: a broken few-hundred-MB Janus-Pro folder refused with the check and without it (fresh processes)."""
    import torch
    from accelerate import init_empty_weights
    from safetensors.torch import save_file
    from transformers import JanusConfig, JanusForConditionalGeneration

    sys.path.insert(0, str(ROOT / "tests"))
    import real_format

    folder = real_format.build_janus_pro(root / "Janus-Pro-small")
    config = JanusConfig.from_pretrained(folder)
    config.text_config.update({"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 4,
                               "num_attention_heads": 8, "num_key_value_heads": 8})
    config.vision_config.projection_dim = config.vq_config.projection_dim = 1024
    config.vq_config.image_token_embed_dim = 1024
    config.save_pretrained(folder)
    with init_empty_weights(include_buffers=True):
        model = JanusForConditionalGeneration(config).to(torch.bfloat16)
    tied = set(model.all_tied_weights_keys)  # lm_head.weight: save_pretrained leaves it out
    weights = {key: torch.ones(t.shape, dtype=t.dtype) for key, t in model.state_dict().items()
               if not key.startswith("model.language_model.layers.2.mlp.") and key not in tied}
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    size = (folder / "model.safetensors").stat().st_size
    del weights
    runs: dict[str, list[dict]] = {"with the check": [], "without it (post-load report)": []}
    for _ in range(repeats):  # interleaved: the shared machine's load and the page cache fall on both alike
        for label, off in (("with the check", False), ("without it (post-load report)", True)):
            code = _CHILD.format(root=str(ROOT), off=off, folder=str(folder))
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            runs[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for label, done in runs.items():
        figures = {key: statistics.median(run[key] for run in done)
                   for key in ("seconds", "pretrained_s", "peak_rss_mb", "rss_before_mb")}
        print(f"{label}: build_adapter refused after {figures['seconds']:.2f} s ({figures['pretrained_s']:.2f} s of "
              f"it in LocalAdapter.pretrained), peak RSS {figures['peak_rss_mb']:.0f} MB (after imports "
              f"{figures['rss_before_mb']:.0f} MB); medians of {repeats}", flush=True)
    said = {run["said"] for done in runs.values() for run in done}
    assert len(said) == 1 and None not in said, said
    print(f"model.safetensors {size / 1e6:.0f} MB; every refusal: {said.pop()[:200]}...")
    return {"safetensors_mb": round(size / 1e6), **runs}


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", action="store_true", help="part 1 only (the check's cost at real sizes)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="model_fit_") as tmp:
        report = {"cost": cost(Path(tmp))}
        if not args.cost:
            report["saving"] = saving(Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
