"""Peak memory of one image decode through ``open_checked``, per format and mode, measured vs the cost table.

For each case (a format and a mode Pillow reads it as, sometimes a compression or an animation) this builds
a ``--side`` x ``--side`` image file, then decodes it through ``images.open_checked`` in a fresh Python
process (one process per measurement: a process's peak never goes down) and reads that process's peak
resident memory (``VmHWM`` in ``/proc/self/status``, Linux) before and after the decode, after a warm-up
decode of an 8x8 file of the same case (plugins and code paths loaded before the baseline). The rise over
the pixel count is the measured cost in bytes a pixel, printed beside the cost table's
(``decode_budget.COSTS``) and the estimate the app makes from the header (``decode_budget.estimate``:
table x pixels + ``DECODE_OVERHEAD``), which must not be below the measured rise.

    python bench/decode_memory.py [--side 4000] [--only PNG,WEBP] [--json out.json]

Exit status 1 when an estimate is below its measured rise (the table needs a higher cost). ~2-4 min for all
cases at 4000x4000 on 2 cores (JPEG 2000 and AVIF encodes are the slow part).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEASURE = r"""
import json, sys
from realunify_arena.benchmark.images import open_checked

def peak():  # this process's peak resident memory (ru_maxrss would start at the parent's peak: fork keeps it)
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) * 1024

open_checked(sys.argv[2]).close()  # warm-up: the same case at 8x8
before = peak()
image = open_checked(sys.argv[1], max_decode_bytes=2**62)  # measured whatever the table says
print(json.dumps({"rise": peak() - before, "size": image.size}))
"""


def picture(mode: str, side: int) -> Image.Image:
    """A ``mode`` image of ``side`` x ``side`` pixels with varied content (gradients, so encoders finish fast
    and decoders do real work)."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 1, side, dtype=np.float32)
    across, down = np.meshgrid(ramp, ramp)
    level = ((across * 0.7 + down * 0.3) * 255).astype(np.uint8)
    grey = Image.fromarray(level, "L")
    if mode == "L":
        return grey
    if mode == "1":
        return grey.point(lambda v: 255 * (v % 2)).convert("1")
    if mode == "P":
        return Image.merge("RGB", (grey, grey.transpose(Image.Transpose.ROTATE_90), grey)).convert("P")
    if mode == "LA":
        return Image.merge("LA", (grey, grey.transpose(Image.Transpose.ROTATE_90)))
    if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB"):
        bands = [grey, grey.transpose(Image.Transpose.ROTATE_90), grey.transpose(Image.Transpose.ROTATE_180),
                 grey.transpose(Image.Transpose.ROTATE_270)][:len(mode) if mode != "YCbCr" else 3]
        return Image.merge(mode, bands)
    if mode == "I;16":
        return Image.fromarray((across * 65535).astype(np.uint16))
    if mode == "I":
        return Image.fromarray((across * 65535).astype(np.int32))
    if mode == "F":
        return Image.fromarray(across * 255)
    raise ValueError(mode)


# (format as Pillow names it, mode the file opens as, the mode the picture is made in, save options)
CASES = [
    ("PNG", "1", "1", {}), ("PNG", "L", "L", {}), ("PNG", "LA", "LA", {}), ("PNG", "P", "P", {}),
    ("PNG", "P", "P", {"transparency": 0}), ("PNG", "L", "L", {"transparency": 0}), ("PNG", "RGB", "RGB", {}),
    ("PNG", "RGB", "RGB", {"transparency": (0, 0, 0)}), ("PNG", "RGBA", "RGBA", {}),
    ("PNG", "I;16", "I;16", {}), ("PNG", "RGBA", "RGBA", {"save_all": True, "frames": 2}),
    ("JPEG", "L", "L", {}), ("JPEG", "RGB", "RGB", {}), ("JPEG", "CMYK", "CMYK", {}),
    ("BMP", "1", "1", {}), ("BMP", "L", "L", {}), ("BMP", "P", "P", {}), ("BMP", "RGB", "RGB", {}),
    ("BMP", "RGBA", "RGBA", {}),
    ("GIF", "P", "P", {}), ("GIF", "P", "P", {"transparency": 0}), ("GIF", "L", "L", {}),
    ("GIF", "P", "P", {"save_all": True, "frames": 2}),
    ("TIFF", "1", "1", {}), ("TIFF", "L", "L", {}), ("TIFF", "LA", "LA", {}), ("TIFF", "P", "P", {}),
    ("TIFF", "RGB", "RGB", {}), ("TIFF", "RGB", "RGB", {"compression": "tiff_adobe_deflate"}),
    ("TIFF", "RGB", "RGB", {"compression": "jpeg"}), ("TIFF", "RGBA", "RGBA", {}),
    ("TIFF", "CMYK", "CMYK", {}), ("TIFF", "I;16", "I;16", {}), ("TIFF", "I", "I", {}), ("TIFF", "F", "F", {}),
    ("TIFF", "LAB", "LAB", {}),
    ("WEBP", "RGB", "RGB", {}), ("WEBP", "RGB", "RGB", {"lossless": True}), ("WEBP", "RGBA", "RGBA", {}),
    ("WEBP", "RGBA", "RGBA", {"save_all": True, "frames": 2}),
    ("JPEG2000", "L", "L", {}), ("JPEG2000", "LA", "LA", {}), ("JPEG2000", "RGB", "RGB", {}),
    ("JPEG2000", "RGBA", "RGBA", {}), ("JPEG2000", "I;16", "I;16", {}),
    ("JPEG2000", "L", "L", {"tile_size": None}), ("JPEG2000", "LA", "LA", {"tile_size": None}),
    ("JPEG2000", "RGB", "RGB", {"tile_size": None}), ("JPEG2000", "RGBA", "RGBA", {"tile_size": None}),
    ("JPEG2000", "I;16", "I;16", {"tile_size": None}),
    ("AVIF", "RGB", "RGB", {}), ("AVIF", "RGBA", "RGBA", {}),
    ("PPM", "1", "1", {}), ("PPM", "L", "L", {}), ("PPM", "RGB", "RGB", {}), ("PPM", "I", "I;16", {}),
    ("PPM", "F", "F", {}),
    ("TGA", "L", "L", {}), ("TGA", "LA", "LA", {}), ("TGA", "P", "P", {}), ("TGA", "RGB", "RGB", {}),
    ("TGA", "RGBA", "RGBA", {}),
    ("QOI", "RGB", "RGB", {}), ("QOI", "RGBA", "RGBA", {}),
    ("SGI", "L", "L", {}), ("SGI", "RGB", "RGB", {}), ("SGI", "RGBA", "RGBA", {}),
    ("PCX", "L", "L", {}), ("PCX", "P", "P", {}), ("PCX", "RGB", "RGB", {}),
    ("IM", "L", "L", {}), ("IM", "RGB", "RGB", {}), ("IM", "I;16", "I;16", {}), ("IM", "F", "F", {}),
    ("DDS", "RGB", "RGB", {}), ("DDS", "RGBA", "RGBA", {}),
]


def write(path: Path, fmt: str, mode: str, options: dict, side: int) -> None:
    from PIL import Image

    image = picture(mode, side)
    options = dict(options)
    frames = options.pop("frames", 1)
    if frames > 1:
        options["append_images"] = [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)] * (frames - 1)
    if fmt == "JPEG2000" and side > 64:  # tiled as cameras and scanners write them (faster to encode), or one tile
        options["tile_size"] = options.get("tile_size", (1024, 1024))
    if fmt == "AVIF":
        options.setdefault("speed", 10)
    image.save(path, format=fmt, **options)


def label(fmt: str, mode: str, options: dict) -> str:
    extra = ",".join(f"{k}={v}" for k, v in options.items() if k != "save_all")
    return f"{fmt} {mode}" + (f" ({extra})" if extra else "")


def measure(fmt: str, mode: str, made_as: str, options: dict, side: int, folder: Path) -> dict:
    from PIL import Image

    from realunify_arena.benchmark import decode_budget

    path, tiny = folder / f"big.{fmt.lower()}", folder / f"tiny.{fmt.lower()}"
    write(path, fmt, made_as, options, side)
    write(tiny, fmt, made_as, options, 8)
    with Image.open(path) as im:
        opened = (im.format, decode_budget.key(im.mode, im.info))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(tiny)], capture_output=True, text=True,
                          env=env, timeout=600)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result = json.loads(done.stdout.splitlines()[-1])
    pixels = side * side
    estimate = decode_budget.estimate(opened[0], opened[1], (side, side))
    return {"format": opened[0], "mode": opened[1], "file_bytes": path.stat().st_size, "rise": result["rise"],
            "measured_per_pixel": result["rise"] / pixels, "table_per_pixel": decode_budget.cost(*opened),
            "estimate": estimate, "ok": result["rise"] <= estimate}


def main() -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=4000, help="image side in pixels (default 4000: 16 MP)")
    parser.add_argument("--only", default="", help="comma-separated formats to measure (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    only = {f.strip().upper() for f in args.only.split(",") if f.strip()}
    rows, failed = [], False
    print(f"{'case':44} {'opens as':22} {'file MB':>8} {'rise MB':>8} {'B/px':>6} {'table':>6} {'est MB':>7}")
    for fmt, mode, made_as, options in CASES:
        if only and fmt not in only:
            continue
        with tempfile.TemporaryDirectory() as folder:
            try:
                row = measure(fmt, mode, made_as, options, args.side, Path(folder))
            except (OSError, ValueError, KeyError) as e:  # a codec this Pillow was built without
                row = {"error": f"{type(e).__name__}: {e}"}
        row["case"] = label(fmt, mode, options)
        rows.append(row)
        if "error" in row:
            print(f"{row['case']:44} not measured: {row['error']}")
            continue
        failed |= not row["ok"]
        print(f"{row['case']:44} {row['format'] + ' ' + row['mode']:22} {row['file_bytes'] / 2**20:8.1f} "
              f"{row['rise'] / 2**20:8.0f} {row['measured_per_pixel']:6.2f} {row['table_per_pixel']:6.1f} "
              f"{row['estimate'] / 2**20:7.0f}{'' if row['ok'] else '  ESTIMATE BELOW MEASURED'}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
