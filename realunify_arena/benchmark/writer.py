"""Writing records back in the official four-file layout (generators, official-format export)."""

from __future__ import annotations

import json
from pathlib import Path

from realunify_arena import durable
from realunify_arena.benchmark.schema import AnyInstance, GEUInstance, UEGInstance


def official_entry(inst: AnyInstance, kind: str) -> dict:
    """The JSON object for ``kind`` ("direct" or "step"), official fields first, then extras."""
    if isinstance(inst, UEGInstance):
        entry = {"index": inst.index, "task_type": inst.task_type, "prompt": inst.prompt,
                 "question_list": [{"question": q.question, "answer": q.answer} for q in inst.question_list]}
        if kind == "step":
            entry["new_prompt"] = inst.refine_text
    else:
        entry = {"index": inst.index, "task_type": inst.task_type, "input_image": inst.input_image,
                 "question": inst.question, "option": list(inst.option), "answer": inst.answer,
                 "evaluation_prompt": inst.mcq_text}
        if kind == "step":
            entry["edit_prompt"] = inst.edit_text
    for key, value in inst.extra.items():
        entry.setdefault(key, value)
    return entry


def write_official(instances: list[AnyInstance], out: Path, *, extra_fields: dict[tuple[str, str], dict] | None = None,
                   only_with_fields: bool = False) -> list[Path]:
    """Write the four JSON files (only those with entries). ``extra_fields[(uid, kind)]`` adds result fields;
    with ``only_with_fields`` an instance gets an entry in a file only where it has such fields (result
    files: an entry for each run made, none for a mode that did not run). The result fields are the caller's:
    ``reporting.export_official`` chooses them so that the official scripts read every entry, also a run
    whose reply or image is not stored (its rule is in that docstring).

    Output is deterministic: sorted keys are not used (official field order is kept), lists keep their
    order, and the JSON is written with a fixed indent and a trailing newline.
    """
    out.mkdir(parents=True, exist_ok=True)
    extra_fields = extra_fields or {}
    written = []
    for track, cls in (("UEG", UEGInstance), ("GEU", GEUInstance)):
        group = [i for i in instances if isinstance(i, cls)]
        if not group:
            continue
        for kind in ("direct", "step"):
            entries = []
            for inst in group:
                if only_with_fields and (inst.uid, kind) not in extra_fields:
                    continue
                entry = official_entry(inst, kind)
                entry.update(extra_fields.get((inst.uid, kind), {}))
                entries.append(entry)
            if not entries:
                continue
            path = out / f"{track}_{kind}.json"
            durable.write_text(path, json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
            written.append(path)
    return written
