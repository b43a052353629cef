"""A contact sheet: a few GEU instances of each category side by side, captioned with the answer, for the
README and for eyeballing a generated set."""

from __future__ import annotations

from PIL import Image, ImageDraw

from realunify_arena.benchmark.generators.drawing import INK, font
from realunify_arena.benchmark.schema import GEU_TASKS, LETTERS, GEUInstance

TILE, CAPTION, PAD = 300, 44, 10


def contact_sheet(instances: list[GEUInstance], per_category: int = 2) -> Image.Image:
    """One column per GEU category present, its first ``per_category`` instances stacked in it."""
    columns = [[i for i in instances if i.task_type == task][:per_category] for task in GEU_TASKS]
    columns = [column for column in columns if column]
    if not columns:
        raise ValueError("no GEU instances to put on a contact sheet")
    rows = max(len(column) for column in columns)
    sheet = Image.new("RGB", (PAD + len(columns) * (TILE + PAD), PAD + rows * (TILE + CAPTION + PAD)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, column in enumerate(columns):
        for r, inst in enumerate(column):
            x, y = PAD + c * (TILE + PAD), PAD + r * (TILE + CAPTION + PAD)
            thumb = inst.open_image()
            thumb.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
            sheet.paste(thumb, (x + (TILE - thumb.width) // 2, y + (TILE - thumb.height) // 2))
            draw.rectangle((x - 1, y - 1, x + TILE, y + TILE), outline=(200, 200, 200))
            answer = inst.option[LETTERS.index(inst.answer)]
            draw.text((x, y + TILE + 4), f"{inst.category} · {inst.subtask or inst.task_type}", fill=INK, font=font(14))
            draw.text((x, y + TILE + 22), f"answer {inst.answer}: {answer}", fill=INK, font=font(14))
    return sheet
