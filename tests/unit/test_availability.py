"""Availability tells the truth: weights on disk (a real hub-cache layout), a hub that does not answer, a
model too large for the machine, and the app's default model and judge chosen from what can run."""

from __future__ import annotations

import json
import math
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from huggingface_hub import constants
from stand_in import serve_in_thread

from realunify_arena import availability as av
from realunify_arena.arena import Arena
from realunify_arena.cards import load_card, load_cards
from realunify_arena.context import AppContext
from realunify_arena.settings import Settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHIPPED = load_cards()


@pytest.fixture(autouse=True)
def isolated_hub(tmp_path, monkeypatch):
    """A private hub cache, probes forgotten, online unless a test says otherwise."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv(av.ALLOW_LARGE_ENV, raising=False)
    av.forget_probes()
    yield cache
    av.forget_probes()


def _snapshot(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A snapshot laid out as huggingface_hub writes one: refs/main -> snapshots/<commit>/files."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT)
    folder = root / "snapshots" / COMMIT
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def _card(tmp_path: Path, checkpoint: str, name: str = "local", extra: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: {checkpoint}\n{extra}")
    return load_card(path)


class _Hub(BaseHTTPRequestHandler):
    """A loopback stand-in for the hub's API: answers the probe and one repo's file list."""

    sizes: ClassVar[dict[str, int]] = {}

    def do_HEAD(self):  # http.server's naming
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        body = json.dumps({"id": "org/Model-8B", "sha": COMMIT, "siblings": [
            {"rfilename": n, "size": s} for n, s in self.sizes.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    serve_in_thread(server)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()


@pytest.fixture
def silent_hub(monkeypatch):
    """A loopback socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{s.getsockname()[1]}")
        yield s


def test_a_cached_snapshot_runs_offline_and_a_partial_one_does_not(isolated_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _snapshot(isolated_hub, "org/whole", {"config.json": b"{}", "model.safetensors": b"x" * 64})
    ok, reason = av.availability(_card(tmp_path, "org/whole"), device="cpu")
    assert ok and "org/whole in the local cache" in reason

    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    _snapshot(isolated_hub, "org/half", {"config.json": b"{}", "model.safetensors.index.json": json.dumps(index).encode(),
                                         "model-00001-of-00002.safetensors": b"x" * 64})
    ok, reason = av.availability(_card(tmp_path, "org/half", "half"), device="cpu")
    assert not ok
    assert "only partly in the local cache" in reason and "1 of 2 weight files" in reason
    assert "HF_HUB_OFFLINE" in reason

    ok, reason = av.availability(_card(tmp_path, "org/absent", "absent"), device="cpu")
    assert not ok and "org/absent" in reason and "not in the local cache" in reason and "HF_HUB_OFFLINE" in reason


# a 0.5 s probe of a silent hub ends well within this even on a loaded 2-core machine; one without its timeout
# never ends (the hub never answers). Whether the answer is reused is read from the hub's connections, not the clock.
PROBE_ENDED_S = 4.0


def _connections_made(listening: socket.socket) -> int:
    """How many connections wait in ``listening``'s backlog (each taken out and closed)."""
    listening.setblocking(False)
    made = 0
    while True:
        try:
            conn, _ = listening.accept()
        except BlockingIOError:
            return made
        conn.close()
        made += 1


def test_an_unanswering_hub_is_unreachable_within_the_probe_timeout_and_the_answer_is_cached(silent_hub, tmp_path):
    started = time.monotonic()
    probe = av.probe_hub(timeout=0.5)
    assert time.monotonic() - started < PROBE_ENDED_S
    assert not probe.reachable and "did not answer within 0.5 s" in probe.reason
    assert _connections_made(silent_hub) == 1
    assert av.probe_hub(timeout=0.5) is probe  # reused, not asked again

    started = time.monotonic()
    ok, reason = av.availability(_card(tmp_path, "org/not-here"), device="cpu")
    assert time.monotonic() - started < PROBE_ENDED_S
    assert not ok and "org/not-here" in reason and constants.ENDPOINT in reason
    assert _connections_made(silent_hub) == 0  # the cached answer: asking again would wait the 2 s default probe


def test_a_probe_past_its_ttl_asks_again(hub):
    first = av.probe_hub(ttl=0)
    assert first.reachable
    assert av.probe_hub(ttl=0) is not first


def test_an_uncached_model_too_large_for_a_cpu_host_is_refused_unless_forced(hub, tmp_path):
    _Hub.sizes = {"model-00001-of-00002.safetensors": 9 * 10**9, "model-00002-of-00002.safetensors": 7 * 10**9,
                  "model.safetensors.index.json": 30_000, "pytorch_model.bin": 32 * 10**9, "README.md": 5}
    card = _card(tmp_path, "org/Model-8B")
    ok, reason = av.availability(card, device="cpu", allow_large=False)
    assert not ok and "too large for this machine" in reason
    assert "16.0 GB" in reason  # the hub's safetensors, not the .bin copy, not the name's guess
    assert "--allow-large-models" in reason
    ok, reason = av.availability(card, device="cpu", allow_large=True)
    assert ok and "downloaded from the hub on first use" in reason and "allowed by --allow-large-models" in reason


def test_the_size_in_a_checkpoint_name_is_the_last_resort(tmp_path, monkeypatch):
    monkeypatch.setattr(av, "_hub_size", lambda checkpoint, variant=None: None)
    assert av.estimate_bytes(_card(tmp_path, "org/Model-7B"), ask_hub=True) == 7 * 10**9 * 2  # bfloat16
    assert av.estimate_bytes(_card(tmp_path, "org/Model"), ask_hub=True) is None
    assert av.estimate_bytes(_card(tmp_path, "org/Model", "hinted", "params: {memory_gb: 3}\n")) == 3 * 2**30


def test_a_cached_model_larger_than_the_host_allows_is_too_large(isolated_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _snapshot(isolated_hub, "org/small", {"model.safetensors": b"x" * 4096})
    monkeypatch.setattr(av, "CPU_MAX_BYTES", 1000)
    ok, reason = av.availability(_card(tmp_path, "org/small"), device="cpu")
    assert not ok and "too large for this machine" in reason
    monkeypatch.setenv(av.ALLOW_LARGE_ENV, "1")  # the environment forces it too
    ok, reason = av.availability(_card(tmp_path, "org/small"), device="cpu")
    assert ok and "allowed by REALUNIFY_ALLOW_LARGE_MODELS" in reason  # before: "allowed by --allow-large-models"
    assert "--allow-large-models" not in reason


class _Pool:
    """The two things AppContext reads from a pool when choosing defaults (no model is loaded)."""

    device = "cpu"

    def __init__(self, cards):
        self.cards = cards


def _context(tmp_path, store, models, judge="auto") -> AppContext:
    settings = Settings(models=models, judge=judge, db=tmp_path / "arena.db")
    return AppContext(settings, store, _Pool(SHIPPED), Arena(store))


def test_defaults_are_runnable_models_and_judges(tmp_path, store, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    ctx = _context(tmp_path, store, ("janus-pro-7b", "emu3", "tiny-janus"))
    choices = ctx.model_choices()
    assert choices[0] == ("tiny-janus", "tiny-janus")
    assert all("unavailable" in label for label, name in choices[1:])
    assert ctx.judge == "human"  # no key, no cached VLM, and never a random-weight judge
    labels = dict((name, label) for label, name in ctx.judge_choices())
    assert "GEMINI_API_KEY is unset" in labels["gemini-2.5-pro"]
    assert "tiny-pair" in labels and "unavailable" not in labels["tiny-pair"]


def test_the_judge_menu_lists_the_judges_that_can_run_here_first(tmp_path, store, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no weights cached, no key: only the tiny cards can run
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    names = [name for _, name in _context(tmp_path, store, ("tiny-janus",)).judge_choices()]
    # the three shipped tiny cards read images (models/tiny-*.yaml); every other judge card is unavailable here
    assert names[:4] == ["human", "tiny-emu3", "tiny-janus", "tiny-pair"]


def test_the_papers_judge_is_the_default_when_its_key_is_set(tmp_path, store, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-used")
    assert _context(tmp_path, store, ("tiny-janus",)).judge == "gemini-2.5-pro"
    assert _context(tmp_path, store, ("tiny-janus",), judge="tiny-pair").judge == "tiny-pair"  # set: kept


def test_a_cached_local_vlm_is_the_judge_without_a_key(isolated_hub, tmp_path, store, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    _snapshot(isolated_hub, "Qwen/Qwen2.5-VL-7B-Instruct", {"model.safetensors": b"x" * 64})
    assert _context(tmp_path, store, ("tiny-janus",)).judge == "qwen2.5-vl-7b"


# ---- the weights counted are the files from_pretrained reads ------------------------------------------------------

# FLUX.1 Kontext [dev]'s hub repository: the diffusers folders, and beside them BFL's single-file checkpoint and
# autoencoder, which no from_pretrained reads (sizes rounded, in GB)
KONTEXT_LISTING = {
    "model_index.json": 0, "flux1-kontext-dev.safetensors": 23.8, "ae.safetensors": 0.3,
    "transformer/config.json": 0, "transformer/diffusion_pytorch_model.safetensors.index.json": 0,
    "transformer/diffusion_pytorch_model-00001-of-00003.safetensors": 10.0,
    "transformer/diffusion_pytorch_model-00002-of-00003.safetensors": 10.0,
    "transformer/diffusion_pytorch_model-00003-of-00003.safetensors": 3.8,
    "text_encoder/model.safetensors": 0.2, "text_encoder_2/model.safetensors.index.json": 0,
    "text_encoder_2/model-00001-of-00002.safetensors": 5.0, "text_encoder_2/model-00002-of-00002.safetensors": 4.5,
    "vae/diffusion_pytorch_model.safetensors": 0.2, "scheduler/scheduler_config.json": 0,
    "tokenizer/vocab.json": 0, "tokenizer_2/spiece.model": 0,
}
KONTEXT_READ_GB = 10.0 + 10.0 + 3.8 + 0.2 + 5.0 + 4.5 + 0.2  # the components' weights: 33.7
KONTEXT_INDEX = {"_class_name": "FluxKontextPipeline", "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
                 "text_encoder": ["transformers", "CLIPTextModel"],
                 "text_encoder_2": ["transformers", "T5EncoderModel"],
                 "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "T5TokenizerFast"],
                 "transformer": ["diffusers", "FluxTransformer2DModel"], "vae": ["diffusers", "AutoencoderKL"]}


def test_an_uncached_pipeline_counts_its_components_weights_not_the_single_file_copy_beside_them(hub, tmp_path):
    _Hub.sizes = {name: int(gb * 10**9) for name, gb in KONTEXT_LISTING.items()}
    ok, reason = av.availability(SHIPPED["flux-kontext"], device="cpu", allow_large=True)
    assert ok and f"about {KONTEXT_READ_GB:.1f} GB" in reason, reason  # not 57.8 GB


def test_an_uncached_model_counts_the_variant_the_card_reads(hub, tmp_path):
    _Hub.sizes = {"config.json": 5, "model.safetensors": 8 * 10**9, "model.fp16.safetensors": 4 * 10**9,
                  "pytorch_model.bin": 8 * 10**9}
    reason = av.availability(_card(tmp_path, "org/Model"), device="cpu", allow_large=True)[1]
    assert "about 8.0 GB" in reason, reason
    reason = av.availability(_card(tmp_path, "org/Model", "half", "params: {variant: fp16}\n"), device="cpu",
                             allow_large=True)[1]
    assert "about 4.0 GB" in reason, reason


def _kontext_snapshot(cache: Path) -> int:
    """KONTEXT_LISTING's layout cached (a byte per 0.1 GB); returns the bytes of the components' weights."""
    files = {name: b"x" * round(gb * 10) for name, gb in KONTEXT_LISTING.items()}
    files["model_index.json"] = json.dumps(KONTEXT_INDEX).encode()
    for index_name in ("transformer/diffusion_pytorch_model.safetensors.index.json",
                       "text_encoder_2/model.safetensors.index.json"):
        folder, _, _ = index_name.rpartition("/")
        shards = [n.rpartition("/")[2] for n in KONTEXT_LISTING if n.startswith(folder + "/") and "-of-" in n]
        files[index_name] = json.dumps({"weight_map": {f"w{i}": s for i, s in enumerate(shards)}}).encode()
    _snapshot(cache, "black-forest-labs/FLUX.1-Kontext-dev", files)
    return round(KONTEXT_READ_GB * 10)


def test_a_cached_pipeline_counts_its_components_weights_not_the_single_file_copy_beside_them(isolated_hub, tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    read = _kontext_snapshot(isolated_hub)
    card = SHIPPED["flux-kontext"]
    assert av.estimate_bytes(card) == read
    monkeypatch.setattr(av, "CPU_MAX_BYTES", read + 1)  # the components fit; with the single-file copy they did not
    ok, reason = av.availability(card, device="cpu")
    assert ok and "in the local cache" in reason, reason


def test_files_beside_a_model_that_no_from_pretrained_reads_are_not_its_weights(isolated_hub, tmp_path, monkeypatch):
    """A Trainer's checkpoint folder (optimizer.pt twice the model, training_args.bin, rng_state.pth), a
    pytorch_model.bin copy of the safetensors weights, and an fp16 variant beside them."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _snapshot(isolated_hub, "org/finetuned", {
        "config.json": b"{}", "model.safetensors": b"x" * 1000, "model.fp16.safetensors": b"x" * 500,
        "pytorch_model.bin": b"x" * 1000, "optimizer.pt": b"x" * 2000, "training_args.bin": b"x" * 50,
        "rng_state.pth": b"x" * 20, "scheduler.pt": b"x" * 10})
    assert av.estimate_bytes(_card(tmp_path, "org/finetuned")) == 1000
    assert av.estimate_bytes(_card(tmp_path, "org/finetuned", "half", "params: {variant: fp16}\n")) == 500
    assert av.estimate_bytes(_card(tmp_path, str(folder), "folder")) == 1000  # the folder named by its path
    monkeypatch.setattr(av, "CPU_MAX_BYTES", 1500)
    ok, reason = av.availability(_card(tmp_path, str(folder), "folder"), device="cpu")
    assert ok and "too large" not in reason, reason


def test_an_index_of_weights_the_library_does_not_read_leaves_the_snapshot_complete(isolated_hub, tmp_path,
                                                                                    monkeypatch):
    """A repository shipping model.safetensors and a sharded pytorch_model.bin, downloaded with
    ``--include "*.safetensors" "*.json"``: the .bin index came, its shards did not. from_pretrained reads the
    safetensors (transformers prefers them); the snapshot is whole. An index it does read, whose shards are missing,
    still makes it partial."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bin_index = {"weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}
    _snapshot(isolated_hub, "org/both", {"config.json": b"{}", "model.safetensors": b"x" * 64,
                                         "pytorch_model.bin.index.json": json.dumps(bin_index).encode()})
    ok, reason = av.availability(_card(tmp_path, "org/both"), device="cpu")
    assert ok and "org/both in the local cache" in reason, reason

    safe_index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    _snapshot(isolated_hub, "org/torn", {"config.json": b"{}", "pytorch_model.bin": b"x" * 64,
                                         "model.safetensors.index.json": json.dumps(safe_index).encode(),
                                         "model-00001-of-00002.safetensors": b"x" * 64})
    ok, reason = av.availability(_card(tmp_path, "org/torn", "torn"), device="cpu")
    assert not ok and "1 of 2 weight files named by model.safetensors.index.json are missing" in reason, reason


def _fp16_only(folder: Path) -> Path:
    """A tiny real transformers model saved as ``save_pretrained(variant="fp16")`` writes it: config.json and
    model.fp16.safetensors, no unvarianted weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16)
    LlamaForCausalLM(config).save_pretrained(folder, variant="fp16")
    return folder


def test_a_folder_with_weights_of_another_variant_only_is_unavailable_naming_the_file_and_the_field(tmp_path):
    # before: "local folder ..." runnable, and the load then refused it
    from transformers import AutoModelForCausalLM

    folder = _fp16_only(tmp_path / "fp16")
    assert sorted(p.name for p in folder.glob("*.safetensors")) == ["model.fp16.safetensors"]
    with pytest.raises(OSError):  # the reference: transformers refuses it without the variant
        AutoModelForCausalLM.from_pretrained(folder)
    AutoModelForCausalLM.from_pretrained(folder, variant="fp16")  # and loads it with the variant
    ok, reason = av.availability(_card(tmp_path, str(folder)), device="cpu")
    assert not ok
    assert "model.fp16.safetensors" in reason and "set the card's params.variant: fp16" in reason
    ok, reason = av.availability(_card(tmp_path, str(folder), "with", "params: {variant: fp16}\n"), device="cpu")
    assert ok, reason
    with pytest.raises(OSError):  # the other way round: a variant the folder lacks
        AutoModelForCausalLM.from_pretrained(folder, variant="bf16")
    ok, reason = av.availability(_card(tmp_path, str(folder), "other", "params: {variant: bf16}\n"), device="cpu")
    assert not ok and "no weights of variant 'bf16'" in reason and "set params.variant: fp16" in reason


def test_a_cached_snapshot_with_weights_of_another_variant_only_is_not_runnable_offline(isolated_hub, tmp_path,
                                                                                        monkeypatch):
    # before: "in the local cache", runnable offline, and from_pretrained(variant=None) then failed
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    built = _fp16_only(tmp_path / "built")
    _snapshot(isolated_hub, "org/fp16", {p.name: p.read_bytes() for p in built.iterdir() if p.is_file()})
    ok, reason = av.availability(_card(tmp_path, "org/fp16"), device="cpu")
    assert not ok and "model.fp16.safetensors" in reason and "params.variant: fp16" in reason, reason
    ok, reason = av.availability(_card(tmp_path, "org/fp16", "with", "params: {variant: fp16}\n"), device="cpu")
    assert ok, reason


def _saved(folder: Path, dtype) -> tuple[Path, int]:
    """(folder, element count): a tiny real transformers model saved by save_pretrained in torch ``dtype``; the count
    of its saved tensors' elements as the safetensors library reads them (the reference)."""
    import torch
    from safetensors import safe_open
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16)
    LlamaForCausalLM(config).to(dtype).save_pretrained(folder)
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        count = sum(math.prod(weights.get_slice(k).get_shape()) for k in weights.keys())
    return folder, count


def test_weights_are_counted_in_the_dtype_the_card_loads_them_in(tmp_path, monkeypatch):
    # from_pretrained(dtype=card.dtype) casts every floating tensor: float32 files loaded as bfloat16 take half their
    # size, bfloat16 ones loaded as float32 double; before, the files' size on disk was the estimate either way
    import torch

    fp32, count = _saved(tmp_path / "fp32", torch.float32)
    bf16, same = _saved(tmp_path / "bf16", torch.bfloat16)
    assert count == same
    assert av.estimate_bytes(_card(tmp_path, str(fp32), "a", "dtype: bfloat16\n")) == 2 * count
    assert av.estimate_bytes(_card(tmp_path, str(fp32), "b", "dtype: float32\n")) == 4 * count
    assert av.estimate_bytes(_card(tmp_path, str(bf16), "c", "dtype: float32\n")) == 4 * count
    assert av.estimate_bytes(_card(tmp_path, str(bf16), "d", "dtype: float16\n")) == 2 * count
    monkeypatch.setattr(av, "_host_available_bytes", lambda: None)
    monkeypatch.setattr(av, "CPU_MAX_BYTES", 3 * count)  # between the two
    ok, reason = av.availability(_card(tmp_path, str(fp32), "half", "dtype: bfloat16\n"), device="cpu")
    assert ok, reason
    ok, reason = av.availability(_card(tmp_path, str(bf16), "double", "dtype: float32\n"), device="cpu")
    assert not ok and "too large for this machine" in reason


def test_an_uncached_pipeline_whose_model_index_is_cached_counts_only_the_components_it_names(hub, isolated_hub):
    # a sub-folder with weights that model_index.json does not name (an extra transformer) is no part of what
    # DiffusionPipeline.from_pretrained reads; the hub's list alone cannot tell (every sub-folder with weights counts),
    # the cached model_index.json can (before: it was not read, 40.7 GB)
    listing = {**KONTEXT_LISTING, "transformer_extra/diffusion_pytorch_model.safetensors": 7.0}
    _Hub.sizes = {name: int(gb * 10**9) for name, gb in listing.items()}
    _snapshot(isolated_hub, "black-forest-labs/FLUX.1-Kontext-dev",
              {"model_index.json": json.dumps(KONTEXT_INDEX).encode()})  # an interrupted download's first file
    ok, reason = av.availability(SHIPPED["flux-kontext"], device="cpu", allow_large=True)
    assert ok and f"about {KONTEXT_READ_GB:.1f} GB" in reason, reason
