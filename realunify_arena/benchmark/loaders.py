"""Loading instances from the official four-file layout, the GEU parquet copy, or the bundled set.

All three return a ``Dataset``: the good records plus every problem found. One bad entry never hides the
good ones; callers decide whether problems are fatal (``validate`` exits non-zero, the app shows them).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from realunify_arena.benchmark.schema import (
    CATEGORIES,
    GEU_TASKS,
    TRACKS,
    AnyInstance,
    GEUInstance,
    PollingQuestion,
    Track,
    UEGInstance,
)
from realunify_arena.benchmark.result_paths import existing_file
from realunify_arena.benchmark.validation import EntryErrors, Problem, check_image_file, parse_entry, parse_json_int
from realunify_arena.json_layout import COLUMNS, joined_said, pandas_columns, wrapped_list, wrapped_said
from realunify_arena.shown import brief, canonical, json_kind
from realunify_arena.text_files import FileTooLarge, data_file_limit, line_bom_fault, not_text, read_json_text
from realunify_arena.unique_keys import RepeatedKeyError, loads_json

OFFICIAL_FILES: dict[str, tuple[Track, str]] = {
    "UEG_direct.json": ("UEG", "direct"),
    "UEG_step.json": ("UEG", "step"),
    "GEU_direct.json": ("GEU", "direct"),
    "GEU_step.json": ("GEU", "step"),
}
# Fields that only the step file carries; every other official field must agree between the two files.
STEP_ONLY = {"new_prompt", "edit_prompt"}
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "assets" / "instances"


def selection_problems(track: object, task_type: object) -> list[str]:
    """One sentence per filter of ``Dataset.select`` that names nothing (each None or "all" is every one):
    an unknown ``track`` (UEG, GEU), an unknown ``task_type``; [] when both are known."""
    problems = []
    if track not in (None, "all", *TRACKS):
        problems.append(f"track {brief(track)}: expected one of all, {', '.join(TRACKS)}")
    if task_type not in (None, "all", *CATEGORIES):
        problems.append(f"task type {brief(task_type)}: expected all or one of {', '.join(CATEGORIES)}")
    return problems


@dataclass
class Dataset:
    name: str
    instances: list[AnyInstance] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    root: Path | None = None

    def __post_init__(self) -> None:
        self._by_uid = {i.uid: i for i in self.instances}

    def __len__(self) -> int:
        return len(self.instances)

    def get(self, uid: str) -> AnyInstance:
        try:
            return self._by_uid[uid]
        except (KeyError, TypeError):  # TypeError: a list or object from an API client, not a uid
            raise KeyError(f"no instance {brief(uid)} in dataset {self.name!r}") from None

    def select(self, track: str | None = None, task_type: str | None = None) -> list[AnyInstance]:
        """Instances of ``track`` and ``task_type`` (each None or "all" for every one).

        Raises:
            ValueError: an unknown track or task type (a misspelt filter selects nothing, which would
                read as "no such instances").
        """
        problems = selection_problems(track, task_type)
        if problems:
            raise ValueError("; ".join(problems))
        return [i for i in self.instances
                if (track in (None, "all", i.track)) and (task_type in (None, "all", i.task_type))]

    def random(self, rng: random.Random, track: str | None = None, task_type: str | None = None) -> AnyInstance:
        pool = self.select(track, task_type)
        if not pool:
            raise LookupError(f"dataset {self.name!r} has no {track or ''} {task_type or ''} instances".replace("  ", " "))
        return rng.choice(pool)

    def counts(self) -> dict[str, Counter]:
        """Instances per category, per track, in the paper's column order."""
        out: dict[str, Counter] = {"UEG": Counter(), "GEU": Counter()}
        for inst in self.instances:
            out[inst.track][inst.category] += 1
        for track in out:
            out[track] = Counter({c.abbreviation: out[track][c.abbreviation] for c in CATEGORIES.values()
                                  if c.track == track and out[track][c.abbreviation]})
        return out


def named_after(path: Path) -> str:
    """The dataset name a folder or file gives: ``path.name`` (a parquet file's ``stem``) in Unicode Normalization
    Form C (``shown.canonical``). macOS writes a file's name decomposed ("Cafe" and U+0301), other systems keep it
    as typed (U+00E9): the same folder copied from a Mac and named again here stores its runs under one dataset,
    not two shown alike."""
    return canonical(path.stem if path.is_file() and path.suffix == ".parquet" else path.name)


def load(source: str | Path, *, name: str | None = None) -> Dataset:
    """``"bundled"``, a folder in the official layout, a parquet file, or a folder of parquet files; the dataset is
    named ``name``, else after the folder or file (``named_after``)."""
    if str(source) == "bundled":
        return load_official(BUNDLED_DIR, name=name or "bundled")
    path = Path(source).expanduser()
    if not path.exists():
        return Dataset(name or str(path), problems=[Problem(str(path), None, None, "no such file or folder")])
    if path.is_file() and path.suffix == ".parquet":
        return load_parquet([path], name=name or named_after(path))
    if path.is_dir() and any((path / f).exists() for f in OFFICIAL_FILES):
        return load_official(path, name=name or named_after(path))
    if path.is_dir() and sorted(path.glob("**/*.parquet")):
        return load_parquet(sorted(path.glob("**/*.parquet")), name=name or named_after(path))
    return Dataset(name or str(path), problems=[Problem(
        str(path), None, None,
        f"not a RealUnify source: expected a folder with any of {sorted(OFFICIAL_FILES)}, or parquet files")])


def load_official(root: Path, *, name: str) -> Dataset:
    """The four-file layout: direct and step copies of an instance are merged into one record.

    A step entry may leave out what its direct copy carries (a UEG ``prompt``: recovered from ``new_prompt``
    when the step file stands alone; GEU ``question``/``option``/``answer``). The direct copy's values win;
    copies that differ only in whitespace (line endings, trailing spaces, a final newline) agree.
    """
    problems: list[Problem] = []
    merged: dict[tuple[str, int], tuple[AnyInstance, str]] = {}  # key -> (record, file it came from)
    rejected: set[tuple[str, int]] = set()
    for filename, (track, kind) in OFFICIAL_FILES.items():
        path = root / filename
        if not path.exists():
            continue
        entries = read_json_list(path, problems)
        seen_in_file: set[tuple[str, int]] = set()
        for position, raw in enumerate(entries):
            try:
                record = parse_entry(raw, track=track, file=filename, position=position, step=kind == "step")
            except EntryErrors as e:
                problems.extend(e.problems)
                continue
            key = (record.task_type, record.index)
            label = f"index {record.index} ({record.task_type})"
            if key in seen_in_file:
                problems.append(Problem(filename, label, "index", f"duplicate uid {record.uid} in this file"))
                rejected.add(key)
                continue
            seen_in_file.add(key)
            if isinstance(record, GEUInstance):
                # a name differing only in Unicode normalization (a folder copied from macOS) is the same file
                stored = existing_file(root / record.input_image)
                record.image_path = (stored or root / record.input_image).resolve()
                if not record.image_path.is_relative_to(root.resolve()):
                    problems.append(Problem(filename, label, "input_image", "path leaves the dataset folder"))
                    rejected.add(key)
                    continue
            # A prompt recovered from new_prompt never overrides, nor disagrees with, the direct file's
            # (the direct file is read first, so its record is the one kept).
            derived = isinstance(record, UEGInstance) and raw.get("prompt") is None
            if key in merged:
                other, other_file = merged[key]
                disagreement = _disagreement(other, record, skip={"prompt"} if derived else set())
                if disagreement:
                    problems.append(Problem(filename, label, disagreement,
                                            f"disagrees with {other_file} on the same instance"))
                    rejected.add(key)
                    continue
                _merge_step_fields(other, record)
            else:
                merged[key] = (record, filename)
    instances = []
    for key, (record, filename) in merged.items():
        if key in rejected:
            continue
        missing = _still_missing(record, filename)
        if missing:
            problems.extend(missing)
            continue
        if isinstance(record, GEUInstance):
            problem = check_image_file(record.image_path, file=filename,
                                       label=f"index {record.index} ({record.task_type})")
            if problem:
                problems.append(problem)
                continue
        instances.append(record)
    if not any((root / f).exists() for f in OFFICIAL_FILES):
        problems.append(Problem(str(root), None, None, f"none of {sorted(OFFICIAL_FILES)} found"))
    return Dataset(name, sorted(instances, key=_order), problems, root=root)


def _still_missing(record: AnyInstance, filename: str) -> list[Problem]:
    """Fields a step entry left out that no direct entry supplied."""
    label = f"index {record.index} ({record.task_type})"
    direct = filename.replace("_step", "_direct")
    if isinstance(record, UEGInstance):
        if record.prompt is None:
            return [Problem(filename, label, "prompt",
                            f"missing, not in {direct}, and new_prompt does not follow the paper's refine "
                            "template (\"Here is the prompt for image generation: ...\"), so it cannot be recovered")]
        return []
    expected = {"question": "a string", "option": "a list of 4 option strings", "answer": "a letter A-D"}
    return [Problem(filename, label, field, f"missing (and not in {direct}); expected {what}")
            for field, what in expected.items() if getattr(record, field) is None]


def load_parquet(paths: list[Path], *, name: str) -> Dataset:
    """The lmms-lab GEU copy: one parquet file per task, the image embedded as bytes.

    As lmms-eval's realunify task reads it (``doc.get("task_type", doc.get("category"))``), a
    ``category`` column stands in for a missing ``task_type`` (the official string, or the category's
    abbreviation or name); without either, a GEU task type in the file's path is used. A file without an
    ``index`` column gets one from the row order: 0, 1, ... per task type across the files in path order,
    so the uids are stable as long as the files are.
    """

    problems: list[Problem] = []
    instances: list[AnyInstance] = []
    seen: set[str] = set()
    derived_index: Counter = Counter()
    for path in paths:
        try:
            rows = _parquet_rows(path)
        except OSError as e:  # over the limit, or $REALUNIFY_MAX_DATA_FILE_MB malformed: the file is not read
            problems.append(Problem(path.name, None, None, f"cannot be read: {e.strerror or e}"))
            continue
        except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
            problems.append(Problem(path.name, None, None, f"unreadable parquet file: {e}"))
            continue
        has_index = any("index" in row for row in rows)
        for position, raw in enumerate(rows):
            image = raw.pop("image", None)
            if isinstance(image, dict):
                image = image.get("bytes")
            raw.setdefault("input_image", raw.get("image_path") or "")
            if raw.get("task_type") is None:
                raw["task_type"] = _task_type_from(raw.get("category"), path)
            if not has_index and isinstance(raw.get("task_type"), str):
                raw["index"] = derived_index[raw["task_type"]]
                derived_index[raw["task_type"]] += 1
            try:
                record = parse_entry(raw, track="GEU", file=path.name, position=position)
            except EntryErrors as e:
                problems.extend(e.problems)
                continue
            label = f"index {record.index} ({record.task_type})"
            if not isinstance(image, (bytes, bytearray)) or not image:
                problems.append(Problem(path.name, label, "image", "missing; expected the image as bytes"))
                continue
            if record.uid in seen:
                problems.append(Problem(path.name, label, "index", f"duplicate uid {record.uid}"))
                continue
            seen.add(record.uid)
            record.image_bytes = bytes(image)
            instances.append(record)
    return Dataset(name, sorted(instances, key=_order), problems, root=paths[0].parent if paths else None)


_PARQUET_BATCH_ROWS = 16  # rows decoded at a time: the most read past the limit before it is refused
# the bytes Arrow gives each value of a parquet physical type when decoded (a BYTE_ARRAY value: its offset;
# FIXED_LEN_BYTE_ARRAY: the column's length): https://parquet.apache.org/docs/file-format/types/
_DECODED_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 4}


def _parquet_rows(path: Path) -> list[dict]:
    """The rows of a parquet file as dicts, refused once they decode to more than ``data_file_limit()`` bytes.

    Before a column is read, the footer is checked: its uncompressed sizes (a single huge value) and each
    column chunk's count of values times the bytes a value decodes to at least (a run-length or dictionary
    encoded column stores a repeated value once, so one row of a few-kilobyte file can be a list of a billion
    numbers). Then the rows are decoded ``_PARQUET_BATCH_ROWS`` at a time, every text or bytes column as an
    Arrow dictionary (each distinct value held once), and their size as Python would hold them summed
    before they become Python objects.

    Raises:
        FileTooLarge: over the limit (``strerror`` gives the size decoded and in how many rows).
        OSError: ``$REALUNIFY_MAX_DATA_FILE_MB`` is not a number of MiB.
        Exception: pyarrow's own errors for a file that is no parquet file.
    """
    import pyarrow.parquet as pq
    from pyarrow.fs import LocalFileSystem

    limit = data_file_limit()
    with LocalFileSystem().open_input_file(str(path)) as source:  # opened once: its footer read once, and the rows read through it
        metadata = pq.ParquetFile(source).metadata
        stored = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
        if stored > limit:
            raise FileTooLarge(path, stored, limit, "uncompressed")
        schema = metadata.schema
        widths = [schema.column(j).length if schema.column(j).physical_type == "FIXED_LEN_BYTE_ARRAY"
                  else _DECODED_WIDTH.get(schema.column(j).physical_type, 1) for j in range(metadata.num_columns)]
        counted = sum(max(metadata.row_group(i).column(j).num_values, 0) * widths[j]
                      for i in range(metadata.num_row_groups) for j in range(metadata.num_columns))
        if counted > limit:
            raise FileTooLarge(path, counted, limit, "decoded at least (the values its footer counts)")
        texts = [schema.column(j).path for j in range(metadata.num_columns)
                 if schema.column(j).physical_type == "BYTE_ARRAY"]
        rows: list[dict] = []
        size = 0
        reader = pq.ParquetFile(source, metadata=metadata, read_dictionary=texts)
        for batch in reader.iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            size += sum(_dense_size(column) for column in batch.columns)
            if size > limit:
                raise FileTooLarge(path, size, limit, f"decoded in its first {len(rows) + batch.num_rows} rows")
            rows += batch.to_pylist()
    return rows


def _dense_size(array) -> int:
    """The bytes ``array`` takes once each dictionary value is written out at every place it is used (as
    ``to_pylist`` does), computed from the value lengths without writing them out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        used = pc.binary_length(array.dictionary).take(array.indices)
        return int(pc.sum(used).as_py() or 0) + 4 * len(array)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind) \
            or pa.types.is_map(kind):
        return 4 * len(array) + _dense_size(array.flatten())
    if pa.types.is_struct(kind):
        return sum(_dense_size(array.field(i)) for i in range(kind.num_fields))
    return array.nbytes


def _task_type_from(category: object, path: Path) -> object:
    """``task_type`` from a ``category`` value, else from a GEU task type named in the file's path."""
    if isinstance(category, str):
        wanted = category.strip().lower().replace(" ", "_").replace("-", "_")
        for task_type, c in CATEGORIES.items():
            if wanted in (task_type, c.abbreviation.lower().replace("-", "_"),
                          c.name.lower().replace(" ", "_").replace("-", "_")):
                return task_type
        return category  # reported as an unknown task_type, naming the value given
    if category is None:
        for part in reversed(path.with_suffix("").parts):
            for task_type in GEU_TASKS:
                if task_type in part:
                    return task_type
    return category


def read_json_list(path: Path, problems: list[Problem]) -> list:
    """The entries of a JSON list file (UTF-8, with or without the byte-order mark Windows tools write, or
    UTF-16/32: ``text_files.read_json_text``); any
    reason it cannot be read becomes one problem (and no entries).

    Integers too long for Python (over 4,300 digits by default) are kept as ``OversizedInteger`` text, so
    only the entry holding one is reported, not the file.
    """
    try:
        text = read_json_text(path)
        if not text.strip():  # a run that stopped before writing anything leaves an empty file
            problems.append(Problem(path.name, None, None, "is empty; expected a JSON list of entries"))
            return []
        bom = line_bom_fault(text, first=True)
        if bom is not None:  # json's "Unexpected UTF-8 BOM (decode using utf-8-sig)" says neither why nor what to do
            problems.append(Problem(path.name, None, None, bom))
            return []
        data = loads_json(text, parse_int=parse_json_int)  # a BOM, UTF-16 or UTF-32 is no error
    except RepeatedKeyError as e:  # else the last value would be kept silently
        problems.append(Problem(path.name, None, None, str(e)))
        return []
    except UnicodeDecodeError as e:
        problems.append(Problem(path.name, None, None, not_text(e, path)))
        return []
    except json.JSONDecodeError as e:  # two lists joined with `cat`: said so, not as json's "Extra data"
        problems.append(Problem(path.name, None, None, joined_said(text, e) or
                                f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"))
        return []
    except RecursionError:
        problems.append(Problem(path.name, None, None, "invalid entries: JSON nested too deeply to read"))
        return []
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else e  # the problem names the file already
        problems.append(Problem(path.name, None, None, f"cannot be read: {why}"))
        return []
    if not isinstance(data, list):
        wrapped = wrapped_list(data)
        if wrapped is not None:  # {"model": ..., "results": [...]}: the entries are one level down
            problems.append(Problem(path.name, None, None, f"{wrapped_said(*wrapped)}; expected the file to be that "
                                                           "list itself, as the official scripts read it"))
            return []
        what = f"{COLUMNS}; expected" if pandas_columns(data) else "expected"  # pandas' to_json() default
        problems.append(Problem(path.name, None, None, f"{what} a JSON list of entries, got {json_kind(data)}"))
        return []
    return data


def _same_text(a: object, b: object) -> bool:
    """Equal up to whitespace-only differences: line endings, trailing spaces on a line, blank ends."""
    if isinstance(a, str) and isinstance(b, str):
        return _normal_text(a) == _normal_text(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_text(x, y) for x, y in zip(a, b))
    if isinstance(a, PollingQuestion) and isinstance(b, PollingQuestion):
        return a.answer == b.answer and _same_text(a.question, b.question)
    return a == b


def _normal_text(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def _shared_fields(record: AnyInstance) -> dict:
    if isinstance(record, UEGInstance):
        return {"prompt": record.prompt, "question_list": record.question_list}
    return {"input_image": record.input_image, "question": record.question, "option": record.option,
            "answer": record.answer, "evaluation_prompt": record.evaluation_prompt}


def _disagreement(a: AnyInstance, b: AnyInstance, skip: set[str] = frozenset()) -> str | None:
    fa, fb = _shared_fields(a), _shared_fields(b)
    for key in fa:
        if key not in skip and fa[key] is not None and fb[key] is not None and not _same_text(fa[key], fb[key]):
            return key
    return None


def _merge_step_fields(target: AnyInstance, other: AnyInstance) -> None:
    for key in STEP_ONLY:
        if getattr(other, key, None) is not None:
            setattr(target, key, getattr(other, key))
    for key, value in _shared_fields(other).items():
        if getattr(target, key) is None:
            setattr(target, key, value)
    for key, value in other.extra.items():
        target.extra.setdefault(key, value)


def _order(inst: AnyInstance) -> tuple:
    return (list(CATEGORIES).index(inst.task_type), inst.index)
