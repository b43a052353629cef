"""Whether a model card can run on this machine now, and if not, why (``models``, every menu, the Arena).

A local card is runnable only when all of these hold:

- its weights are here: a local folder, or every weight file of a hub snapshot in the local cache (an
  interrupted download counts as not cached), of the card's ``params.variant`` (a folder holding only
  ``model.fp16.safetensors`` is refused by from_pretrained without ``variant="fp16"``: the reason names the file
  and the card field to set); or, if not, the hub can be asked for them: huggingface_hub's
  offline flag (``HF_HUB_OFFLINE``) is off and the hub answers a quick probe (``HUB_PROBE_TIMEOUT_S``, the
  answer kept for ``HUB_PROBE_TTL_S``);
- it fits this machine: its weights (``params.memory_gb``, else the cached files, else the hub's file list,
  else the size in its checkpoint name, e.g. ``7B``) fit the accelerator's memory, or on a CPU host
  ``CPU_MAX_BYTES`` of host memory (an 8B model on a CPU takes many minutes per image). ``allow_large``
  (``--allow-large-models`` / ``REALUNIFY_ALLOW_LARGE_MODELS``) lets such a card be tried anyway;
- the packages its family needs are installed (and transformers is new enough).

A remote card needs its API key variable set and, for an OpenAI-compatible endpoint, the endpoint to answer.
Nothing here raises: a broken environment is a reason, not a crash.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from realunify_arena.cards import CARD_REF, ModelCard, checkpoint_file, transformers_problem
from realunify_arena.families import FAMILIES
from realunify_arena.redaction import error_text, redact
from realunify_arena.settings import SettingsError

HUB_PROBE_TIMEOUT_S = 2.0  # a hub that has not answered by then is treated as unreachable
HUB_PROBE_TTL_S = 300.0  # how long a probe's answer is reused
ENDPOINT_PROBE_TIMEOUT_S = 2.0
CPU_MAX_BYTES = 6 * 2**30  # on a CPU host, larger weights are "too large for this machine" unless forced
ALLOW_LARGE_ENV = "REALUNIFY_ALLOW_LARGE_MODELS"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
_BYTES_PER_PARAM = {"bfloat16": 2, "float16": 2, "float32": 4}
_SIZE_IN_NAME = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[Bb](?![a-zA-Z])")  # "Janus-Pro-7B", "Qwen2.5-VL-7B"


@dataclass(frozen=True)
class HubProbe:
    reachable: bool
    reason: str  # says which endpoint and why not
    checked_at: float


_probes: dict[str, HubProbe] = {}
_probe_lock = threading.Lock()
_hub_sizes: dict[str, int | None] = {}


def hub_offline() -> bool:
    """huggingface_hub's offline flag: its constant (read at import) or ``$HF_HUB_OFFLINE`` set since."""
    from huggingface_hub import constants

    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def probe_hub(endpoint: str | None = None, *, timeout: float = HUB_PROBE_TIMEOUT_S,
              ttl: float = HUB_PROBE_TTL_S) -> HubProbe:
    """Whether the hub at ``endpoint`` (default: huggingface_hub's, ``$HF_ENDPOINT``) answers an HTTP request
    within ``timeout`` seconds; any HTTP status counts as an answer. Results are cached per endpoint for
    ``ttl`` seconds. With the offline flag set nothing is sent."""
    import httpx

    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    if hub_offline():
        return HubProbe(False, "HF_HUB_OFFLINE is set", time.monotonic())
    with _probe_lock:
        cached = _probes.get(endpoint)
        if cached is not None and time.monotonic() - cached.checked_at < ttl:
            return cached
        from realunify_arena.http_deadline import total_deadline

        # a total deadline: a hub (or proxy) that drips bytes is as unreachable as a silent one
        with total_deadline(timeout) as deadline, _probe_client() as client:
            try:
                client.head(f"{endpoint}/api/models", timeout=timeout)
                probe = HubProbe(True, f"the hub {endpoint} answers", time.monotonic())
            except httpx.HTTPError as exc:
                hub = f"the hub {endpoint}"
                why = (f"{hub} did not answer within {timeout:g} s" if deadline.expired
                       or isinstance(exc, httpx.TimeoutException) else _unreachable(hub, exc, "cannot be reached"))
                probe = HubProbe(False, why, time.monotonic())
        _probes[endpoint] = probe
        return probe


def _probe_client():
    """An ``httpx.Client`` for one probe under the enclosing ``http_deadline.total_deadline``."""
    import httpx

    from realunify_arena.http_deadline import deadline_client_args

    return httpx.Client(**deadline_client_args())


def _unreachable(where: str, exc: Exception, what: str = "is not answering") -> str:
    """``where what (ConnectError)`` for a failed request; ``where: the TLS certificate could not be verified
    ...`` when a certificate check failed (``tls.certificate_problem``)."""
    from realunify_arena.tls import certificate_problem

    problem = certificate_problem(exc)
    return f"{where}: {problem}" if problem else f"{where} {what} ({type(exc).__name__})"


def forget_probes() -> None:
    """Drop the cached hub probes and sizes (the next check asks again)."""
    with _probe_lock:
        _probes.clear()
        _hub_sizes.clear()


def _weight_files(folder: Path) -> list[Path]:
    return [f for f in folder.rglob("*") if f.name.endswith(WEIGHT_SUFFIXES) and f.is_file()]


def complete_snapshot(folder: Path, variant: str | None = None) -> tuple[bool, str]:
    """Whether ``folder`` holds the whole of the weights ``from_pretrained(folder, variant=variant)`` reads
    (``weight_layout.files_read``: each model's or pipeline component's entry file, every shard its index names),
    and, in none of the libraries' layouts, at least one weight file (what it lacks is the load's check to say); not
    weights of another variant only (``weight_layout.variant_problem``: from_pretrained refuses them).
    Files no from_pretrained reads (a ``pytorch_model.bin.index.json`` beside safetensors weights, whose shards a
    download of ``*.safetensors`` left out) are no part of it. The reason names what is missing."""
    from realunify_arena.adapters.weight_layout import files_read, variant_problem

    files, problem = files_read(folder, variant)
    if problem:
        return False, problem
    problem = variant_problem(folder, variant)
    if problem:  # weights of another variant only: from_pretrained refuses them
        return False, problem
    if not files and not _weight_files(folder):
        return False, "no weight files"
    return True, ""


def cache_folder_problem(folder: Path) -> str | None:
    """Why ``folder``, named as a checkpoint, is a Hugging Face cache folder and not a checkpoint: a repository's
    (``models--ORG--NAME``, holding ``blobs``, ``refs`` and ``snapshots``) or its ``snapshots`` folder, where
    transformers and diffusers find no ``config.json`` or ``model_index.json``; the message names the hub id to give
    instead (its cached snapshot is then read) and the snapshot folder ``refs/main`` points to. None otherwise."""
    repo = folder if folder.name.startswith("models--") else folder.parent if folder.name == "snapshots" else None
    if repo is None or not repo.name.startswith("models--") or not (repo / "snapshots").is_dir():
        return None
    hub_id = repo.name.removeprefix("models--").replace("--", "/")
    try:
        revision = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        revision = ""
    snapshot = repo / "snapshots" / revision
    where = (f"its snapshot folder {snapshot}" if revision and snapshot.is_dir()
             else f"a snapshot folder under {repo / 'snapshots'}")
    return (f"{folder}: a Hugging Face cache folder of {hub_id}, not a checkpoint folder; expected the hub id "
            f"{hub_id} as the checkpoint (its cached snapshot is read) or {where}")


def cached_snapshot(checkpoint: str, cache_dir: str | Path | None = None) -> Path | None:
    """The local folder ``checkpoint`` names, else its hub snapshot in the local cache (complete or not:
    ``models--ORG--NAME/snapshots/REVISION``, files linked into ``blobs``), else None."""
    folder = Path(checkpoint).expanduser()
    if folder.is_dir():
        return folder
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(checkpoint, local_files_only=True, cache_dir=cache_dir))
    except Exception:  # noqa: BLE001 - not cached, or not a valid repo id
        return None


def cached_folder(checkpoint: str, cache_dir: str | Path | None = None, *,
                  variant: str | None = None) -> tuple[Path | None, str]:
    """(folder, problem): the local folder or cached hub snapshot holding ``checkpoint``'s complete
    weights (of ``variant``: ``complete_snapshot``), or None with why not (not cached, or only partly)."""
    folder = cached_snapshot(checkpoint, cache_dir)
    if folder is None:
        return None, "not in the local cache"
    ok, problem = complete_snapshot(folder, variant)
    return (folder, "") if ok else (None, f"only partly in the local cache ({problem})")


def _hub_size(checkpoint: str, variant: str | None = None) -> int | None:
    """The summed size of the repo's weight files that ``from_pretrained(variant=variant)`` reads as the hub lists
    them (``weight_layout.names_read``, a pipeline's components those of its ``model_index.json`` where the local
    cache holds it: ``_cached_components``; in none of the libraries' layouts, its safetensors when there are any,
    else every weight file), or None when the hub does not say within ``HUB_PROBE_TIMEOUT_S`` in all; cached with the
    probes.

    huggingface_hub's timeouts bound each read, not the call (and it may ask the hub other things first),
    so a hub that drips bytes would hold the listing: the question runs on a daemon thread and an answer
    later than the limit counts as none."""
    key = checkpoint if variant is None else f"{checkpoint}@{variant}"
    if key in _hub_sizes:
        return _hub_sizes[key]
    answer: list[int | None] = []

    def ask() -> None:
        try:
            from huggingface_hub import HfApi

            info = HfApi(endpoint=hub_endpoint()).model_info(checkpoint, files_metadata=True,
                                                             timeout=HUB_PROBE_TIMEOUT_S)
            from realunify_arena.adapters.weight_layout import names_read

            listed = {s.rfilename: s.size or 0 for s in info.siblings or []}
            read = names_read(listed, variant, _cached_components(checkpoint) if "model_index.json" in listed
                              else None)
            files = [(name, size) for name, size in listed.items() if name.endswith(WEIGHT_SUFFIXES)]
            preferred = ([f for f in files if f[0] in read] or [f for f in files if f[0].endswith(".safetensors")]
                         or files)
            answer.append(sum(n for _, n in preferred) or None)
        except Exception:  # noqa: BLE001 - gated, missing, timed out: unknown
            answer.append(None)

    asking = threading.Thread(target=ask, daemon=True, name="realunify-hub-size")
    asking.start()
    asking.join(HUB_PROBE_TIMEOUT_S)
    size = answer[0] if answer else None
    with _probe_lock:
        _hub_sizes[key] = size
    return size


def _cached_components(checkpoint: str) -> dict[str, tuple[str, ...]] | None:
    """The components (``weight_layout.pipeline_components``) the ``model_index.json`` of hub repository
    ``checkpoint`` names, where that file is in the local cache (``huggingface_hub.try_to_load_from_cache``, read
    offline, through ``cards.checkpoint_file``: a snapshot whose weights are not all there yet); None where it is
    not, or names none."""
    from realunify_arena.adapters.weight_layout import pipeline_components

    found = checkpoint_file(checkpoint, "model_index.json")
    return (pipeline_components(found) or None) if isinstance(found, Path) else None


def _size_from_name(checkpoint: str, dtype: str) -> int | None:
    match = _SIZE_IN_NAME.search(checkpoint.rsplit("/", 1)[-1])
    return int(float(match.group(1)) * 1e9 * _BYTES_PER_PARAM[dtype]) if match else None


def estimate_bytes(card: ModelCard, *, ask_hub: bool = False) -> int | None:
    """The card's weights in bytes, or None when nothing says: ``params.memory_gb``, else per checkpoint the
    cached or local files ``from_pretrained`` reads (``weight_layout.files_read``, of the card's ``params.variant``;
    in none of the libraries' layouts, every weight file), each as it takes memory loaded in the card's ``dtype``
    (``_loaded_size``), else (``ask_hub``) the hub's file sizes (``_hub_size``, as stored: the hub's list says no
    dtype), else a size in its name (``7B``) times the dtype's bytes per parameter. Remote cards and card:NAME
    references count 0."""
    if "memory_gb" in card.params:
        return int(float(card.params["memory_gb"]) * 2**30)
    if card.remote or card.family == "tiny":
        return 0
    from realunify_arena.adapters.weight_layout import files_read

    variant = card.params.get("variant")
    total = 0
    for checkpoint in dict.fromkeys(v for v in card.checkpoints.values() if not v.startswith(CARD_REF)):
        folder, _ = cached_folder(checkpoint, variant=variant)
        if folder is not None:
            size = sum(_loaded_size(f, card.dtype) for f in files_read(folder, variant)[0] or _weight_files(folder))
        else:
            size = ((_hub_size(checkpoint, variant) if ask_hub else None)
                    or _size_from_name(checkpoint, card.dtype))
        if size is None:
            return None
        total += size
    return total


def _loaded_size(path: Path, dtype: str) -> int:
    """The bytes weight file ``path`` takes loaded in the card's ``dtype`` (``from_pretrained(dtype=...)`` casts
    every floating tensor): a ``.safetensors`` file's tensors as its header says (``safetensors_header.loaded_bytes``:
    float32 weights loaded as bfloat16 take half their file, bfloat16 ones loaded as float32 double); any other file,
    or one whose header cannot be read, its size on disk."""
    if path.name.endswith(".safetensors"):
        from realunify_arena.adapters.safetensors_header import loaded_bytes

        loaded = loaded_bytes(path, _BYTES_PER_PARAM[dtype])
        if loaded is not None:
            return loaded
    return path.stat().st_size


def device_capacity(device: str | None = None) -> tuple[int, str]:
    """(bytes a model's weights may take on ``device`` (default: CUDA if present, else CPU), how that was
    decided)."""
    device = device or _default_device()
    if device.startswith("cuda"):
        import torch

        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        return int(total * 0.9), f"the GPU has {_gb(total)}"
    available = _host_available_bytes()
    if available is not None and available < CPU_MAX_BYTES:
        return available, f"this CPU host has {_gb(available)} of memory free"
    return CPU_MAX_BYTES, f"a CPU host runs models up to {_gb(CPU_MAX_BYTES)}"


def _host_available_bytes() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def allow_large_default() -> bool:
    """``$REALUNIFY_ALLOW_LARGE_MODELS`` as a yes/no value, read as ``app.py`` reads it (unset: no).

    Raises:
        SettingsError: a value, empty included, that is neither yes nor no (the message names the variable).
    """
    from realunify_arena.settings import parse_bool  # settings is light; kept beside its use

    raw = os.environ.get(ALLOW_LARGE_ENV)
    return False if raw is None else parse_bool(raw, ALLOW_LARGE_ENV)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _checkpoint_status(checkpoint: str, variant: str | None = None) -> tuple[bool, bool, str]:
    """(usable, cached, reason) for one local checkpoint whose weights are read as ``variant``."""
    if Path(checkpoint).expanduser().is_dir():
        from realunify_arena.adapters.weight_layout import variant_problem

        folder = Path(checkpoint).expanduser()
        problem = cache_folder_problem(folder) or variant_problem(folder, variant)
        return (False, True, problem) if problem else (True, True, f"local folder {checkpoint}")
    folder, problem = cached_folder(checkpoint, variant=variant)
    if folder is not None:
        return True, True, f"{checkpoint} in the local cache"
    if hub_offline():
        return False, False, f"weights {checkpoint} are {problem} and HF_HUB_OFFLINE is set"
    probe = probe_hub()
    if not probe.reachable:
        return False, False, f"weights {checkpoint} are {problem} and {probe.reason}"
    return True, False, f"{checkpoint} {problem}: downloaded from the hub on first use"


def _endpoint_problem(card: ModelCard) -> str | None:
    """What keeps ``card``'s endpoint from serving, or None: asked ``GET <endpoint>/models`` with a total
    deadline of ``ENDPOINT_PROBE_TIMEOUT_S`` (an endpoint that drips bytes counts as not answering)."""
    import httpx

    from realunify_arena.http_deadline import total_deadline

    headers = {}
    if card.api_key_env:
        headers["Authorization"] = f"Bearer {os.environ[card.api_key_env]}"
    limit = ENDPOINT_PROBE_TIMEOUT_S
    with total_deadline(limit) as deadline, _probe_client() as client:
        try:
            reply = client.get(f"{card.endpoint.rstrip('/')}/models", headers=headers, timeout=limit)
        except httpx.HTTPError as exc:
            start = f"; start it with: {card.serve}" if card.serve else ""
            where = f"endpoint {card.endpoint}"
            why = f"{where} is not answering (no answer within {limit:g} s)" if deadline.expired else _unreachable(where, exc)
            return why + start
    if reply.status_code in (401, 403):
        return f"endpoint {card.endpoint} rejected the API key in ${card.api_key_env} (HTTP {reply.status_code})"
    return None


def _check(card: ModelCard, device: str | None, allow_large: str | None) -> tuple[bool, str]:
    """``availability``'s check; ``allow_large``: what allowed large models (a flag or variable), or None."""
    reasons, missing, checked = [], [], {}
    for cap, part in sorted(card.parts.items()):  # every part's problem, each part checked and named once
        if part.name not in checked:
            checked[part.name] = ok, reason = _check(part, device, allow_large)
            if not ok:
                missing.append(f"{cap} via {part.name}: {reason}")
        reasons.append(f"{cap} via {part.name}")
    if missing:  # a pair's own weights too (OmniGen2: its VLM in process, its DiT behind an endpoint)
        return False, "; ".join(missing + _own_weights_missing(card))
    if card.remote and card.family == "pair":
        return True, "; ".join(reasons)
    for package in FAMILIES[card.family].packages:
        if importlib.util.find_spec(package.split(".")[0]) is None or importlib.util.find_spec(package) is None:
            return False, f"missing package {package} (pip install -r requirements.txt)"
    if card.api_key_env and not os.environ.get(card.api_key_env):
        return False, f"API key variable {card.api_key_env} is unset"
    if card.remote:
        if card.endpoint and card.family == "openai":
            problem = _endpoint_problem(card)
            if problem:
                return False, problem
        key = f", key from ${card.api_key_env}" if card.api_key_env else ""
        return True, f"endpoint {card.endpoint or 'default'}{key}"
    problem = transformers_problem()
    if problem:
        return False, problem
    if card.family == "tiny":
        return True, "built offline from configs (random weights: outputs are noise)"
    downloads = False
    for checkpoint in dict.fromkeys(v for v in card.checkpoints.values() if not v.startswith(CARD_REF)):
        ok, cached, reason = _checkpoint_status(checkpoint, card.params.get("variant"))
        if not ok:
            return False, reason
        downloads |= not cached
        reasons.append(reason)
    size = estimate_bytes(card, ask_hub=downloads)
    if size:
        capacity, why = device_capacity(device)
        if size > capacity:
            if not allow_large:
                return False, (f"too large for this machine: about {_gb(size)} of weights and {why} "
                               f"(--allow-large-models or {ALLOW_LARGE_ENV}=1 tries anyway)")
            reasons.append(f"about {_gb(size)}, over this machine's {_gb(capacity)}: allowed by {allow_large}")
        else:
            reasons.append(f"about {_gb(size)} of weights")
    return True, "; ".join(reasons)


def _own_weights_missing(card: ModelCard) -> list[str]:
    """``"{capability}: {why}"`` for each of a pair's own (not card:NAME) checkpoints that cannot be loaded here."""
    found = []
    for cap, checkpoint in sorted(card.checkpoints.items()):
        if card.family == "pair" and not checkpoint.startswith(CARD_REF):
            ok, _, reason = _checkpoint_status(checkpoint, card.params.get("variant"))
            if not ok:
                found.append(f"{cap}: {reason}")
    return found


def availability(card: ModelCard, *, device: str | None = None, allow_large: bool | None = None,
                 allowed_by: str = "--allow-large-models") -> tuple[bool, str]:
    """(runnable, reason) for ``card`` on ``device`` (default: CUDA if present, else CPU).

    ``allow_large`` (default: ``$REALUNIFY_ALLOW_LARGE_MODELS``) lets a card too large for the device count
    as runnable; the reason then names what allowed it: ``allowed_by`` (the flag or variable the caller
    read it from), or the variable when ``allow_large`` is None. Contacts at most the hub (one cached probe,
    and its file list for a card not yet cached) and the card's own endpoint. Never raises. The reason is
    redacted (an endpoint's password, a key the endpoint quoted): menus on a public page show it.
    """
    try:
        if allow_large is None:
            allow_large, allowed_by = allow_large_default(), ALLOW_LARGE_ENV
        ok, reason = _check(card, device, allowed_by if allow_large else None)
        return ok, redact(reason)
    except SettingsError as exc:  # e.g. a CA variable naming no file: the message names the variable
        return False, redact(str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken environment must not take the listing down
        return False, f"availability check failed: {error_text(exc)}"


def availability_of(cards: Iterable[ModelCard], **kwargs) -> dict[str, tuple[bool, str]]:
    """``availability`` of several cards, checked in parallel (each may wait on a probe), by name."""
    from concurrent.futures import ThreadPoolExecutor

    cards = list(cards)
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(cards)))) as pool:
        results = list(pool.map(lambda c: availability(c, **kwargs), cards))
    return {card.name: result for card, result in zip(cards, results)}
