"""Whether a torch ``.bin`` weight file (``pytorch_model.bin``, ``diffusion_pytorch_model.bin``) is one
``torch.load(weights_only=True)`` will read, as transformers and diffusers call it, read without loading a tensor.

``torch.load`` tells its two formats apart by the first bytes (``torch.serialization._is_zipfile``): a zip
archive (``torch.save`` since torch 1.6) starts with the local-file magic ``PK\\x03\\x04`` and is read through its
central directory at the end, with the pickled object in ``<archive>/data.pkl``; anything else is read as the
legacy format, a pickle stream starting with the pickled ``torch.serialization.MAGIC_NUMBER``. With
``weights_only=True`` (the default since torch 2.6, and what transformers passes) the pickle may name only the
globals torch allows (``torch._weights_only_unpickler``). The library's own refusals name no file: a truncated
archive is "PytorchStreamReader failed reading zip archive: failed finding central directory", a safetensors
file saved under a ``.bin`` name is an ``UnpicklingError`` ("Unsupported operand"), a pickle of another class is
"Weights only load failed" over a dozen lines. Here each is one line naming the file.
"""

from __future__ import annotations

import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

__all__ = ["torch_bin_problem"]

_ZIP_MAGIC = b"PK\x03\x04"
_AGAIN = "expected the file as torch.save wrote it (an interrupted download? download it again)"


def _legacy_magic() -> bytes:
    import torch

    return pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)


def torch_bin_problem(path: Path) -> str | None:
    """Why ``torch.load(path, weights_only=True)`` would fail, read from the file's first bytes, its zip
    directory and its (small) pickle, never its tensors.

    Returns:
        ``"{path}: {what is wrong}; expected ..."``: an empty file, a safetensors file under a ``.bin`` name, a zip
        archive whose central directory is missing or that lacks ``data.pkl``, a pickle that is not torch's
        legacy format, or a pickle naming a global ``weights_only`` refuses; None otherwise.
    """
    try:
        with path.open("rb") as stream:
            head = stream.read(64)
    except OSError as exc:
        return f"{path}: cannot be read: {exc.strerror or exc}"
    if not head:
        return f"{path}: empty; {_AGAIN}"
    if head.startswith(_ZIP_MAGIC):
        return _zip_problem(path)
    if len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] > 0:
        return (f"{path}: a safetensors file (8-byte header length, then a JSON header) under a torch .bin name; "
                f"expected a torch.save file, or rename it to {path.name.replace('pytorch_model', 'model').removesuffix('.bin')}"
                ".safetensors")
    if not head.startswith(_legacy_magic()):
        return (f"{path}: neither a torch zip archive (starting PK\\x03\\x04) nor torch's legacy pickle format "
                f"(starting with its magic number); {_AGAIN}")
    return None


def _zip_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickled = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if pickled is None:
                return f"{path}: a zip archive without data.pkl; expected a torch.save archive ({_AGAIN})"
            data = archive.read(pickled)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        return f"{path}: not a whole zip archive ({exc}); {_AGAIN}"
    return _globals_problem(path, data)


def _globals_problem(path: Path, data: bytes) -> str | None:
    """The first global the pickle ``data`` names that ``torch.load(weights_only=True)`` refuses (torch's own
    allow-list, and any the process added with ``torch.serialization.add_safe_globals``)."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals, _get_user_allowed_globals

        allowed = set(_get_allowed_globals()) | set(_get_user_allowed_globals())
    except (ImportError, AttributeError):  # another torch: its load decides
        return None
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL" and isinstance(arg, str):
                name = ".".join(arg.split(" ", 1))
                if name not in allowed:
                    return (f"{path}: its pickle names {name}, which torch.load(weights_only=True) refuses (as "
                            "transformers loads .bin weights); expected tensors only (save the state_dict, or convert "
                            "the file to safetensors)")
    except (ValueError, pickle.UnpicklingError) as exc:
        return f"{path}: data.pkl is not a whole pickle ({exc}); {_AGAIN}"
    return None
