"""Whether a ``.safetensors`` file is one the ``safetensors`` library will open, read from its header alone.

The format (the safetensors README, "Format"): 8 bytes giving the header's length N (little-endian u64), N bytes
of a JSON object mapping each tensor's name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (and an
optional ``"__metadata__"`` of string values), then the tensors' bytes, offsets counted from the end of the header.
The byte buffer must be indexed entirely, with no hole and no overlap, and each tensor's bytes must be exactly
its shape's element count times its dtype's size. A file breaking any of this is refused by the library only when
``from_pretrained`` opens it, as "Error while deserializing header: invalid shape, data type, or offset for
tensor", naming neither the file nor (mostly) the tensor; here each is one line naming both.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

from realunify_arena.adapters.checkpoint_config import library_refusal
from realunify_arena.unique_keys import LongIntegerError, RepeatedKeyError, loads_json

__all__ = ["DTYPE_BITS", "loaded_bytes", "safetensors_problem"]

# each dtype the safetensors library (0.8) reads, with its size in bits (``Dtype::bitsize``)
DTYPE_BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
              "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
              "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64}
_AGAIN = "download it again"
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own cap (``MAX_HEADER_SIZE``): a longer one it refuses


# the floating dtypes from_pretrained(dtype=...) casts to the asked dtype (torch float16, bfloat16, float32, float64)
_CAST = frozenset({"F16", "BF16", "F32", "F64"})


def loaded_bytes(path: Path, float_bytes: int) -> int | None:
    """The bytes the tensors of the ``.safetensors`` file ``path`` take in memory once loaded as
    ``from_pretrained(dtype=...)`` loads them: each floating tensor (F16, BF16, F32, F64) as its element count times
    ``float_bytes`` (2 for bfloat16 or float16, 4 for float32), any other (integer, 8-bit float) as stored (its
    ``data_offsets`` span). Read from the header alone. None where the header cannot be read as the format says
    (the file's size is then all that is known): not a JSON object, an unknown dtype, a shape or offsets that are not
    whole numbers, a shape whose bytes are not its offsets' span, or spans past the file's end (a header that lies:
    the safetensors library refuses each, and its shapes say nothing of what a load would take)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > min(MAX_HEADER_BYTES, size - 8):
                return None
            header = json.loads(file.read(length))
        total = stored = 0
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            if not (dtype in DTYPE_BITS and isinstance(shape, list) and all(_whole(n) for n in (*shape, begin, end))
                    and math.prod(shape) * DTYPE_BITS[dtype] == 8 * (end - begin)):
                return None
            stored += end - begin
            total += math.prod(shape) * float_bytes if dtype in _CAST else end - begin
        return total if 8 + length + stored <= size else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error, RecursionError):
        return None


def safetensors_problem(path: Path) -> str | None:
    """Why the ``safetensors`` library would refuse to open ``path``, read without reading any tensor.

    Returns:
        ``"{path}: {what is wrong}; ..."``: a file shorter than its header or its tensors claim, a header that is
        not a JSON object, a tensor entry (named) whose ``dtype``, ``shape`` or ``data_offsets`` is not what the
        format allows or disagrees with the others, a hole, an overlap or trailing bytes after the last tensor,
        or the library's own refusal (its words, one line) of anything else; None for a file it opens.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return (f"{path}: {size} bytes; expected a safetensors file (an 8-byte header length, then a"
                        f" header); {_AGAIN}")
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                return f"{path}: truncated or not safetensors ({size} bytes, the header alone claims {length}); {_AGAIN}"
            if length > MAX_HEADER_BYTES:  # not read: it could be gigabytes
                return (f"{path}: its header claims {length} bytes, over the {MAX_HEADER_BYTES} the safetensors "
                        f"library reads; expected a safetensors file ({_AGAIN})")
            header = loads_json(f.read(length).decode("utf-8"))
    except OSError as exc:
        return f"{path}: cannot be read: {exc.strerror or exc}"
    except RepeatedKeyError as exc:  # the library would keep one of the two silently, or refuse the offsets
        return f"{path}: its header names tensor {_short(exc.key)} twice; expected each tensor once ({_AGAIN})"
    except LongIntegerError as exc:  # valid JSON, but Python reads no integer of over 4,300 digits
        at = f" at '{exc.where}'" if exc.where else ""
        return (f"{path}: its header holds an integer of {exc.digits} digits{at}, over the "
                f"{sys.get_int_max_str_digits()} digits Python reads; expected a safetensors file, whose shapes and "
                f"offsets fit in 64 bits ({_AGAIN})")
    except RecursionError:
        return (f"{path}: its header is JSON nested too deeply to read; expected a safetensors file (a flat object "
                f"of tensor entries; {_AGAIN})")
    except (UnicodeDecodeError, ValueError):  # ValueError: not JSON
        return f"{path}: its header is not valid JSON; expected a safetensors file ({_AGAIN})"
    if not isinstance(header, dict):
        return f"{path}: its header is not a JSON object; expected a safetensors file"
    problem = _entries_problem(path, header) or _buffer_problem(path, header, size, 8 + length)
    return problem or _library_problem(path)


def _entries_problem(path: Path, header: dict) -> str | None:
    """Each entry's fields: a known dtype, a shape of whole numbers, offsets that hold exactly that many bytes."""
    metadata = header.get("__metadata__")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        return f"{path}: its header's '__metadata__' is {_short(metadata)}; expected a JSON object of strings"
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        where = f"{path}: tensor {key}"
        if not isinstance(entry, dict):
            return f"{where}: its header entry is {_short(entry)}; expected {{\"dtype\", \"shape\", \"data_offsets\"}}"
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in DTYPE_BITS:
            return (f"{where}: dtype {_short(dtype)}; expected a safetensors dtype (F32, F16, BF16, ... "
                    f"{len(DTYPE_BITS)} in all); {_AGAIN}")
        if not (isinstance(shape, list) and all(_whole(n) for n in shape)):
            return f"{where}: shape {_short(shape)}; expected a list of whole numbers, 0 or more; {_AGAIN}"
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_whole(n) for n in offsets)
                and offsets[0] <= offsets[1]):
            return (f"{where}: data_offsets {_short(offsets)}; expected [begin, end], whole numbers with begin <= end;"
                    f" {_AGAIN}")
        bits = math.prod(shape) * DTYPE_BITS[dtype]
        if bits != 8 * (offsets[1] - offsets[0]):
            return (f"{where}: shape {shape} of {dtype} takes {bits / 8:g} bytes, but its data_offsets {offsets} hold "
                    f"{offsets[1] - offsets[0]}; expected the bytes its shape and dtype take; {_AGAIN}")
    return None


def _buffer_problem(path: Path, header: dict, size: int, start: int) -> str | None:
    """The tensors' byte ranges, in order, cover the file's ``size`` bytes from ``start`` (the header's end) on: no
    hole, overlap or rest."""
    at = 0
    ranges = sorted((entry["data_offsets"], key) for key, entry in header.items() if key != "__metadata__")
    for (begin, end), key in ranges:
        if begin != at:
            said = "overlap the tensor before it" if begin < at else f"leave bytes {at} to {begin} unused"
            return (f"{path}: tensor {key}: data_offsets [{begin}, {end}] {said}; expected it to start at {at} (each "
                    f"tensor's bytes follow the last's); {_AGAIN}")
        at = end
    if start + at > size:
        return f"{path}: truncated ({size} bytes, its tensors need {start + at}); {_AGAIN}"
    if start + at < size:
        return (f"{path}: {size - start - at} bytes after its last tensor; expected the file to end there (a file written "
                f"over another, or not safetensors); {_AGAIN}")
    return None


def _library_problem(path: Path) -> str | None:
    """The library's own refusal, for anything the checks above do not cover (one line, its words)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt"):
            return None
    except Exception as exc:  # noqa: BLE001 - SafetensorError, or whatever a future version raises
        return library_refusal(path, exc, f"a safetensors file ({_AGAIN})")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
