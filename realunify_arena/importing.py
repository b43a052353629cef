"""Published results into the store: an official-format result folder becomes stored, pinned runs.

A result folder (or one file) in the official layout (``UEG_direct.json``, ``UEG_step.json``,
``GEU_direct.json``, ``GEU_step.json``: instance entries plus the result fields a runner fills in, as
``export --format official`` and third-party runners write them) becomes one run per (instance, mode)
under the model name given: UEG ``generated_image`` (stepwise: ``response``, the refined prompt, first),
GEU ``response`` (stepwise: ``edit_image`` first). Judge replies on the polling questions
(``question_list[i].judge_answer``) become a judgment under a named judge, the per-item ``score`` of the
official generation scorer a judgment without per-question detail; GEU replies are scored with the official
letter extraction, as ``eval`` scores them. Extra fields are ignored; a ``response`` list counts by its first
element and a ``generated_image`` list by its last (as SenseNova-U1 writes them and its scorer reads them);
an image path is found by ``benchmark.result_paths.find_result_image``. Files (``.json`` or ``.jsonl``) are
read by ``benchmark.result_files`` and each entry under the rule ``score-official`` applies
(``official_results``): a run without its reply or image is stored as failed, and judge replies are stored
and count even when the image they judged is not here or cannot be read (the run then has no image step; the
summary says so, as it names the entries stored as failed runs, their reply or image missing or the image not
here, outside the folder or unreadable: the first few of each file and how many, by
``official_results.failure_notes``, as ``score-official`` names them). An image path is matched by Unicode
normalization too (``result_paths.existing_file``: a folder copied from macOS). Entries that carry their own
``model`` field (as some runners write it) must name the model given (``official_results.same_model``:
ignoring case and a hub owner); runs of another model are refused, never stored under the name given.

The instances come from a dataset (``data``), matched by ``(task_type, index)``, or else from the entries'
own instance fields. Every problem (unreadable JSON or image, a missing or mistyped field, an entry whose
instance is not in the dataset or disagrees with it, an entry twice in a file, an entry changed since it was
imported) is collected and named by file, entry and field, and then nothing is written: the runs go into the
store in one transaction (``Store.save_imported``) or not at all. Imported runs carry their origin (folder,
file, entry, model name, import time, a digest of the entry and its image bytes), so importing the same
folder again changes nothing, and a changed entry is re-imported only with ``replace``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.benchmark.loaders import Dataset, _disagreement, _merge_step_fields, named_after
from realunify_arena.benchmark.result_files import (NAMES_SHOWN, STEMS, naming_hint, result_files_in,
                                                   result_folders_under, result_kind)
from realunify_arena.benchmark.result_paths import find_result_image
from realunify_arena.benchmark.schema import AnyInstance, GEUInstance, UEGInstance
from realunify_arena.benchmark.validation import Problem
from realunify_arena.dataset_names import Claim, conflicts, dataset_name_problem, remember_source
from realunify_arena.judge import ANSWER_PARSER, HUMAN, mcq_judgment, polling_judgment
from realunify_arena.protocols import MODES
from realunify_arena.official_results import (JUDGE_FIELD, MODEL_FIELD, OFFICIAL_MODES, ResultEntry, failure_notes,
                                             model_disagreements, models_named, no_results, noted_per_file,
                                             read_result_files, same_model, skipped_note, unread_notes)
from realunify_arena.store import ImportConflict, judged_otherwise_message, now, settings_key
from realunify_arena.systems import model_name_problem
from realunify_arena.trace import Mode, Status, Step, StepRole, Trace
from realunify_arena.shown import brief, canonical, counted, one_line_fault

IMPORTED_SETTINGS = {"imported": True}  # the settings every imported run is stored under (part of its key)
DEFAULT_JUDGE_NAME = "judge_answer"  # the judge name replies found in the files are stored under by default


class ImportFailed(ValueError):
    """An import that wrote nothing; ``problems`` names every file, entry and field at fault."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass
class ImportSummary:
    """What an import did: runs per outcome, and the files read or skipped."""

    dataset: str
    model: str
    new: int = 0
    unchanged: int = 0
    replaced: int = 0
    judged: int = 0  # runs stored before, given this import's judge's judgments (their outputs unchanged)
    rejudged: int = 0  # runs stored before whose judgment by this import's judge was replaced (--replace)
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files whose entries carry no results
    notes: list[str] = field(default_factory=list)  # entries stored without the image they name, and why
    statuses: Counter = field(default_factory=Counter)  # status of the runs read

    def lines(self) -> list[str]:
        runs = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "none"
        lines = [(f"{self.model} on {self.dataset}: {self.new} runs imported, {self.unchanged} unchanged, "
                  f"{self.replaced} replaced (read {', '.join(self.files) or 'no file'}; runs {runs})")]
        if self.judged:
            lines.append(f"{counted(self.judged, 'run')} imported before, unchanged, given this import's judgments "
                         "(another judge's replies on the same runs)")
        if self.rejudged:
            lines.append(f"{counted(self.rejudged, 'run')} imported before, unchanged, this import's judge's earlier "
                         "judgments of them replaced (the old ones kept with the runs' replaced records)")
        lines += [f"note: {skipped_note(name)}" for name in self.skipped]
        lines += [f"note: {note}" for note in self.notes]
        return lines


@dataclass
class _Entry:
    """One result entry, read and checked, not yet stored."""

    file: str
    label: str
    instance: AnyInstance
    mode: Mode
    raw: dict
    status: Status
    error: str | None
    texts: dict[StepRole, str]  # refined prompt / answer
    images: dict[StepRole, Path]  # generated / edited image files
    judgments: dict[str, dict]
    note: str | None = None  # stored without the image it names (not here, or unreadable): why
    digest: str = ""
    outputs_digest: str = ""  # the run alone, without its judges' replies (``_digest``)
    trace: Trace | None = None  # with its images decoded, once they are


@dataclass
class ReadResults:
    """Result files read and checked, with nothing stored yet (``read_results``); ``store_results`` stores them."""

    path: Path
    folder: Path
    model: str
    data: Dataset | None
    summary: ImportSummary
    entries: list[_Entry]
    notes: list[str] = field(default_factory=list)  # notes on the files, before the entries' image notes


def import_results(store, path: str | Path, model: str, *, modes: Iterable[Mode] = MODES,
                   data: Dataset | None = None, judge_name: str = DEFAULT_JUDGE_NAME,
                   replace: bool = False) -> ImportSummary:
    """Import the result files at ``path`` (a folder holding any of the four official files, or one file)
    as ``model``'s runs in ``modes``, pinned for arena battles.

    ``data``: the dataset whose instances the entries answer (matched by ``(task_type, index)``; the
    runs are stored under its name); without it, the entries' own instance fields are the instances and the
    dataset is named after the folder (as ``benchmark.load`` names it). Returns an ``ImportSummary``; raises
    ``ImportFailed`` listing every problem, and then nothing was written.
    """
    read = read_results(path, model, modes=modes, data=data, judge_name=judge_name)
    return store_results(store, read, replace=replace)


# The judge an import's replies are stored under (``--judge-name``): stored in every judgment and shown in the
# report's Markdown and CSV tables (``report --judges``), so one line of text, as a model name from outside is
# (``vote_files.outside_name_problem``); spaces and other punctuation are kept ("Gemini 2.5 Pro").
JUDGE_NAME_MAX = 100


def judge_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an imported judge's name: ``"<name, shortened>: ..."`` saying what is wrong and what
    is expected; None when it can (``shown.one_line_fault``: 1 to ``JUDGE_NAME_MAX`` characters on one line, no
    white space around it; not ``judge.HUMAN`` or ``judge.ANSWER_PARSER``, whose judgments are the app's own)."""
    expected = (f"expected a name of 1 to {JUDGE_NAME_MAX} characters on one line, other than {HUMAN!r} and "
                f"{ANSWER_PARSER!r}")
    if not isinstance(name, str) or not name.strip() or name in (HUMAN, ANSWER_PARSER):
        return f"{brief(name)}: {expected}"
    fault = one_line_fault(name, JUDGE_NAME_MAX, "judge")
    return f"{brief(name)}: {fault}; {expected}" if fault else None


def read_results(path: str | Path, model: str, *, modes: Iterable[Mode] = MODES, data: Dataset | None = None,
                 judge_name: str = DEFAULT_JUDGE_NAME, decode: bool = False) -> ReadResults:
    """Read and check the result files at ``path`` (``import_results``'s arguments) without a store, so a
    refused import never needs (or creates) one. ``decode``: also decode every image now (the store is new,
    so every entry will be stored): then only the store itself can still refuse the import.

    Raises:
        ImportFailed: every problem found in the files (and the names given).
    """
    path = Path(path)
    modes = tuple(modes)
    problem = model_name_problem(model)
    if problem:
        raise ImportFailed([Problem(str(path), None, None, f"model name {problem}")])
    problem = judge_name_problem(judge_name)
    if problem:
        raise ImportFailed([Problem(str(path), None, None, f"judge name {problem}")])
    judge_name = canonical(judge_name)  # one judge whatever form its name was written in, as `report --judge` reads it
    folder = path if path.is_dir() else path.parent
    dataset = data.name if data is not None else named_after(folder.resolve())
    problem = dataset_name_problem(dataset)
    if problem:  # the name is stored with every run and shown: a line break in a folder's name would be too
        raise ImportFailed([Problem(str(path), None, None, (
            f"dataset name (the name of the folder or file --data names) {problem}: rename it" if data is not None
            else f"dataset name (this folder's name) {problem}: pass --data with the instances the entries answer "
                 "(\"bundled\", an official folder or parquet files: the runs are stored under its name), or rename "
                 "the folder"))])
    summary = ImportSummary(dataset, model)
    problems: list[Problem] = []
    files = _files(path, modes, problems)
    entries = _read(files, folder, data, judge_name, problems, summary)
    if not problems and not entries:
        said = no_results(str(path), [str(folder / name) for name in summary.skipped])
        problems.append(Problem(str(path), None, None, f"{said.removeprefix(f'{path}: ')}; nothing to import"))
    for entry in entries:
        entry.digest = _digest(entry, judge_name)
        entry.outputs_digest = _digest(entry, None)
    if decode and not problems:
        for entry, trace in zip(entries, _traces(entries, model)):
            entry.trace = trace
    if problems:
        raise ImportFailed(problems)
    read = ReadResults(path, folder, model, data, summary, entries, notes=list(summary.notes))
    summary.notes = read.notes + _image_notes(entries)
    return read


def store_results(store, read: ReadResults, *, replace: bool = False) -> ImportSummary:
    """Store what ``read_results`` read, in one transaction, or nothing (``ImportFailed``)."""
    path, folder, model, summary, entries = read.path, read.folder, read.model, read.summary, read.entries
    dataset = summary.dataset
    own = settings_key(IMPORTED_SETTINGS)
    if any(r["settings_key"] != own for r in store.runs(dataset=dataset, model=model)):
        raise ImportFailed([Problem(str(path), None, None, f"model name {model!r} already has runs made here (by "
                                                           f"eval or the app) on dataset {dataset!r}; import the "
                                                           "published results under a name of their own")])
    problems = _against_stored_dataset(store, read)
    stored = store.imported_runs(dataset, model, IMPORTED_SETTINGS)
    todo, judged = [], []
    for entry in entries:
        previous = stored.get((entry.instance.uid, entry.mode))
        if previous is not None and previous["digest"] == entry.digest:
            if previous["outputs_digest"] is None:  # imported before it was kept (m011): recorded now
                judged.append({"outputs_digest_of": previous["run_id"], "outputs_digest": entry.outputs_digest})
            continue
        if previous is not None and previous["outputs_digest"] == entry.outputs_digest:
            # the same run, another judge's replies (or the same judge's, changed: refused unless replace)
            problems += [Problem(entry.file, entry.label, None, judged_otherwise_message(judge))
                         for judge, judgment in entry.judgments.items()
                         if not replace and store.judged_otherwise(previous["run_id"], judge, judgment)]
            judged.append({"judged_run": previous["run_id"], "judgments": entry.judgments,
                           "label": f"{entry.file}, {entry.label}"})
            continue
        if previous is not None and not replace:
            when = f" on {previous['imported_at']} from {previous['file']}" if previous["imported_at"] else ""
            older = ("" if previous["outputs_digest"] is not None else
                     " (it was imported by an older version, which kept no digest of the run without its judge's "
                     "replies: if only the replies differ, another judge's, import the file it was imported from "
                     "again first, under the --judge-name it was imported with, then this one)")
            problems.append(Problem(entry.file, entry.label, None, f"changed since it was imported{when}; "
                                                                   f"pass --replace to re-import it{older}"))
        todo.append(entry)
    undecoded = [e for e in todo if e.trace is None]  # decodes the new and changed entries' images
    for entry, trace in zip(undecoded, _traces(undecoded, model)):
        entry.trace = trace
    summary.notes = read.notes + _image_notes(entries)  # with the images found unreadable as they decoded
    if problems:
        raise ImportFailed(problems)
    traces = [entry.trace for entry in todo]
    for trace in traces:
        for step in trace.steps:
            if step.image is not None:
                step.image_sha = store.put_image(step.image)  # content-addressed files: no stored row changes
                step.image = None
    imported_at = now()
    resolved = str(folder.resolve())
    items = [{"trace": trace, "judgments": entry.judgments,
              "origin": {"folder": resolved, "file": entry.file, "entry": entry.label, "model": model,
                         "imported_at": imported_at, "digest": entry.digest, "outputs_digest": entry.outputs_digest}}
             for entry, trace in zip(todo, traces)] + judged
    try:
        counts = store.save_imported(dataset, items, replace=replace)
    except ImportConflict as e:  # another import of the same model landed in between
        raise ImportFailed([Problem(str(path), None, None, str(e))]) from None
    remember_source(store, read.data if read.data is not None else Dataset(dataset, root=folder))
    if read.data is None:
        summary.notes += _same_instances_elsewhere(store, dataset, {entry.instance.uid for entry in entries})
    summary.new, summary.replaced, summary.judged = counts["new"], counts["replaced"], counts["judged"]
    summary.rejudged = counts["rejudged"]
    summary.unchanged = len(entries) - counts["new"] - counts["replaced"] - counts["judged"] - counts["rejudged"]
    return summary


def _same_instances_elsewhere(store, dataset: str, uids: set[str]) -> list[str]:
    """A note when runs imported without ``--data`` (stored under ``dataset``, the folder's name) answer
    instances that other datasets' pinned runs also answer: runs battle only within one dataset, so two
    models' folders imported this way never meet in the arena."""
    shared = {name: len(uids & others) for name, others in store.pinned_instances().items() if name != dataset}
    shared = {name: n for name, n in shared.items() if n}
    if not shared:
        return []
    listing = ", ".join(f"{name!r} ({n})" for name, n in sorted(shared.items()))
    return [f"these runs are stored under dataset {dataset!r}, named after the folder; this store's dataset"
            f"{'s' if len(shared) > 1 else ''} {listing} hold{'' if len(shared) > 1 else 's'} runs of the same "
            "instances. Arena battles pair runs of one dataset only: import every model's results with the "
            "same --data (the instances they answer: \"bundled\", an official folder or parquet files)"]


def _against_stored_dataset(store, read: ReadResults) -> list[Problem]:
    """Entries whose instance is not the one this store already keeps under the dataset's name
    (``dataset_names.conflicts``: one rule for every writer of runs). An entry that states no UEG prompt
    (one derived from its refined prompt) is not compared on it."""
    mine = read.data.root if read.data is not None else read.folder
    claims = [Claim(e.file, e.label, e.instance,
                    frozenset({"prompt"}) if isinstance(e.instance, UEGInstance) and e.raw.get("prompt") is None
                    else frozenset()) for e in read.entries]
    return conflicts(store, read.summary.dataset, mine, claims)


# -- reading ---------------------------------------------------------------------------------------


def _files(path: Path, modes: tuple[Mode, ...], problems: list[Problem]) -> list[Path]:
    """The result files to read (``benchmark.result_files``: ``.json`` or ``.jsonl``): ``path`` itself, or
    those in the folder, for ``modes``."""
    for mode in modes:
        if mode not in MODES:
            problems.append(Problem(str(path), None, None, f"mode {mode!r}: expected one of {MODES}"))
            return []
    if path.is_file():
        kind = result_kind(path)
        if kind is None:
            problems.append(Problem(str(path), None, None, f"not a result file: expected one of {NAMES_SHOWN}"
                                                           f"{naming_hint(path)}"))
            return []
        if OFFICIAL_MODES[kind[1]] not in modes:
            problems.append(Problem(str(path), None, None, f"holds {OFFICIAL_MODES[kind[1]]} runs, but --mode asks "
                                                           f"for {' and '.join(modes)}"))
            return []
        return [path]
    if not path.is_dir():
        problems.append(Problem(str(path), None, None, "no such file or folder"))
        return []
    # Whatever stands at a result file's name is read (a folder or a symlink loop there is named as unreadable).
    found = [f for f in result_files_in(path, problems) if OFFICIAL_MODES[result_kind(f)[1]] in modes]
    if found or problems:
        return found
    nested = [f.relative_to(path) for f in result_folders_under(path) if f != path]
    if nested:
        problems.append(Problem(str(path), None, None, f"holds no result file itself, but {len(nested)} folder(s) "
                                                       f"under it do ({', '.join(map(str, nested[:5]))}); import "
                                                       "each model's folder with its own --model"))
    else:
        wanted = sorted(f"{t}_{k}" for t, k in STEMS.values() if OFFICIAL_MODES[k] in modes)
        problems.append(Problem(str(path), None, None, f"no {' or '.join(wanted)} (.json or .jsonl) in this "
                                                           f"folder{naming_hint(path)}"))
    return []


def _read(files: list[Path], folder: Path, data: Dataset | None, judge_name: str, problems: list[Problem],
          summary: ImportSummary) -> list[_Entry]:
    # With a dataset, the instances stored are its own: an entry needs only what scoring reads (a slimmed
    # entry without prompt, input_image, question or option is matched by (task_type, index) all the same).
    read = read_result_files(files, problems, scoring_only=data is not None)
    summary.files, summary.skipped = read.files, read.skipped
    summary.notes = (_model_field(read.entries, summary.model, problems) + failure_notes(read.entries)
                     + unread_notes(read.entries))
    instances = _instances(read.entries, folder, data, problems)
    summary.notes += _missing_inputs(instances.values(), folder)
    entries = []
    for result in read.entries:
        instance = instances.get((result.record.task_type, result.record.index))
        if instance is None:
            continue
        entry = _entry(result, instance, judge_name, problems)
        if entry is not None:
            summary.statuses[entry.status.value] += 1
            entries.append(entry)
    return entries


def _missing_inputs(instances: Iterable[AnyInstance], folder: Path) -> list[str]:
    """A note when GEU instances read from the entries themselves (no ``--data``) name an input image
    (``input_image``) that is not here: a runner's folder often holds only its replies and outputs. Their runs
    are stored and scored all the same, but the app loads a GEU instance only with its image (``benchmark.load``
    lists the others as problems), so Explore and arena battles never show these runs."""
    missing = sorted((i for i in instances if isinstance(i, GEUInstance) and i.input_image and i.image_path is None),
                     key=lambda i: (i.task_type, i.index))
    if not missing:
        return []
    return [f"{counted(len(missing), 'GEU instance')} name{'s' if len(missing) == 1 else ''} an input image not "
            f"found under {folder} (first: {brief(missing[0].input_image)}, {missing[0].task_type} index "
            f"{missing[0].index}): their runs are stored and scored, but the app loads a GEU instance only with its "
            "image, so Explore and arena battles never show them; pass --data with the instances they answer "
            "(\"bundled\", the official folder or parquet files) to use its images"]


def _model_field(entries: list[ResultEntry], model: str, problems: list[Problem]) -> list[str]:
    """A problem per file whose entries' own ``model`` field names another model than ``model``
    (``official_results.model_disagreements``), as an option the files contradict (``--mode``, ``--data``) is
    refused; a note per file whose entries name it otherwise spelled (another case, a hub owner)."""
    for file, found in model_disagreements(entries, model).items():
        problems.append(Problem(file, _first(found), MODEL_FIELD,
                                f"{_count(found)} name(s) another model than --model {model!r}: "
                                f"{models_named(found)}; their "
                                "runs would be stored as another model's. Import them under their own name "
                                "(--model), or correct the files' `model` field if they are this model's runs"))
    spelled: dict[str, set[str]] = {}
    for entry in entries:
        named = entry.raw.get(MODEL_FIELD)
        if isinstance(named, str) and named.strip() and named != model and same_model(named, model):
            spelled.setdefault(entry.file, set()).add(named)
    return [f"{file}: entries name the model {', '.join(map(repr, sorted(names)))}, taken as --model {model!r} "
            "(the same name but for case, a hub owner or a checkpoint's folder)" for file, names in spelled.items()]


def _image_notes(entries: list[_Entry]) -> list[str]:
    """Per file: the entries stored without the image they name (judged or answered, so scored all the
    same), with its first entries and why (``official_results.noted_per_file``). The entries stored as failed runs (their reply
    or image missing, or the image not here, outside the folder or unreadable) are named by the shared rule's
    ``official_results.failure_notes``, as ``score-official`` names them."""
    return noted_per_file([entry for entry in entries if entry.note], "stored without the image named")


def _count(found: list) -> str:
    return counted(len(found), "entry")


def _first(found: list[ResultEntry]) -> str:
    return found[0].label + (f" and {len(found) - 1} more" if len(found) > 1 else "")


def _instances(results: list[ResultEntry], folder: Path, data: Dataset | None,
               problems: list[Problem]) -> dict[tuple[str, int], AnyInstance]:
    """The instance each (task_type, index) answers: the dataset's, or the entries' own (direct and step
    entries of one instance merged, as the loader merges them); disagreements are problems."""
    out: dict[tuple[str, int], AnyInstance] = {}
    rejected: set[tuple[str, int]] = set()
    origin: dict[tuple[str, int], str] = {}
    for result in sorted(results, key=lambda r: r.mode != "direct"):  # direct entries first
        file, raw, record, label = result.file, result.raw, result.record, result.label
        key = (record.task_type, record.index)
        derived = isinstance(record, UEGInstance) and raw.get("prompt") is None  # recovered from new_prompt
        skip = {"input_image"} | ({"prompt"} if derived else set())  # runners rewrite image paths
        if data is not None:
            if record.index is None:  # read for scoring alone, where no index is needed (validation.parse_entry)
                problems.append(Problem(file, label, "index", "missing; expected the integer index of the "
                                                               f"{record.task_type} instance of dataset "
                                                               f"{data.name!r} this entry answers (entries are "
                                                               "matched by (task_type, index), never guessed)"))
                continue
            try:
                instance = data.get(record.uid)
            except KeyError:
                problems.append(Problem(file, label, "index", f"no instance {record.uid} in dataset "
                                                                   f"{data.name!r}; entries are matched by "
                                                                   "(task_type, index), never guessed"))
                rejected.add(key)
                continue
            disagreement = _disagreement(instance, record, skip=skip)
            if disagreement:
                problems.append(Problem(file, label, disagreement, f"disagrees with instance {record.uid} "
                                                                        f"of dataset {data.name!r}"))
                rejected.add(key)
                continue
            out[key] = instance
            continue
        if key in out:
            disagreement = _disagreement(out[key], record, skip=skip)
            if disagreement:
                problems.append(Problem(file, label, disagreement,
                                        f"disagrees with {origin[key]} on the same instance"))
                rejected.add(key)
                continue
            _merge_step_fields(out[key], record)
        else:
            if isinstance(record, GEUInstance):
                record.image_path = find_result_image(record.input_image, folder)
            out[key], origin[key] = record, file
    return {k: v for k, v in out.items() if k not in rejected}


def _entry(result: ResultEntry, instance: AnyInstance, judge_name: str, problems: list[Problem]) -> _Entry | None:
    """One entry's run, as the shared rule (``official_results``) read it: its status, the text and image steps
    it holds, and its judgments."""
    found: list[Problem] = []

    def bad(field_name: str | None, message: str) -> None:
        found.append(Problem(result.file, result.label, field_name, message))

    geu = isinstance(instance, GEUInstance)
    texts: dict[StepRole, str] = {}
    images: dict[StepRole, Path] = {}
    if result.status is not Status.NOT_SUPPORTED:
        if result.text is not None:
            texts[StepRole.ANSWER if geu else StepRole.REFINED_PROMPT] = result.text
        if result.image is not None:
            images[StepRole.EDITED_IMAGE if geu else StepRole.GENERATED_IMAGE] = result.image
    judgments = _judgments(result, instance, judge_name, bad)
    if found:
        problems.extend(found)
        return None
    return _Entry(result.file, result.label, instance, result.mode, result.raw, result.status, result.error, texts,
                  images, judgments, note=result.note)


def _judgments(result: ResultEntry, instance: AnyInstance, judge_name: str, bad) -> dict[str, dict]:
    """GEU: the answer scored by the official letter extraction (as ``eval`` scores it). UEG: the judge's
    replies on the polling questions under ``judge_name``. Either: the official per-item ``score``, when it
    decides."""
    if result.status is not Status.OK:
        return {}
    geu = isinstance(instance, GEUInstance)
    if result.score is not None:
        details = {"source": "the per-item score of the official scorer"}
        if geu:
            return {ANSWER_PARSER: {"kind": "mcq", "score": result.score, "errors": 0,
                                    "details": {**details, "reply": None, "answer": instance.answer,
                                                "strict_score": None}}}
        return {judge_name: {"kind": "polling", "score": result.score, "errors": 0,
                             "details": {**details, "judge": judge_name, "questions": []}}}
    if geu:
        if instance.question is None or instance.option is None or instance.answer is None:
            bad("answer", "missing; a reply is scored against the entry's question, option and answer")
            return {}
        return {ANSWER_PARSER: mcq_judgment(instance, result.text).to_dict()}
    if result.judge_answers is None:
        return {}
    return {judge_name: polling_judgment(instance.question_list, result.judge_replies, judge_name).to_dict()}


def _digest(entry: _Entry, judge_name: str | None) -> str:
    """The entry's identity for re-imports: its JSON (image paths replaced by the images' byte hashes, so
    a moved folder or absolute vs relative paths do not count as a change) and the judge name. With
    ``judge_name`` None, the identity of the run alone (``outputs_digest``): a UEG entry without what its judge
    wrote (each ``question_list[].judge_answer`` and the per-item ``score``, stored under the judge name), so
    two judges' files on the same published runs give the same one. It keeps the run's status as the entry's
    fields decide it (``official_results``): a judge's replies or ``score`` can make an entry a judged run
    where the same entry without them is a failed one (an empty or missing ``generated_image``), and judgments
    are never added to a run stored as failed."""
    raw = dict(entry.raw)
    if judge_name is None and isinstance(entry.instance, UEGInstance):
        raw.pop("score", None)
        if isinstance(raw.get("question_list"), list):
            raw["question_list"] = [{k: v for k, v in q.items() if k != JUDGE_FIELD} if isinstance(q, dict) else q
                                    for q in raw["question_list"]]
    for role, path in list(entry.images.items()):
        name = _image_field(role)
        try:
            with path.open("rb") as f:  # streamed: a path may name any large file
                raw[name] = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as e:  # stored without it, as an image that is not here (``_without_image``)
            raw[name] = f"unreadable: {path}"
            _without_image(entry, role, f"cannot be read ({e.strerror or e})")
    identity = {"entry": raw, "mode": entry.mode, "judge": judge_name}
    if judge_name is None:  # the full digest stays as stores hold it
        identity["status"] = entry.status.value
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- traces ----------------------------------------------------------------------------------------


def _traces(entries: list[_Entry], model: str) -> list[Trace]:
    """The trace of each entry, with its images decoded; an image that cannot be decoded is left out
    (``_without_image``)."""
    traces = []
    for entry in entries:
        loaded = {}
        for role, path in list(entry.images.items()):
            try:
                loaded[role] = open_checked(path)
            except ImageError as e:
                _without_image(entry, role, str(e).removeprefix(f"{path}: "))
        traces.append(Trace(entry.instance.uid, model, entry.mode, dict(IMPORTED_SETTINGS),
                            steps=_steps(entry, loaded), status=entry.status, error=entry.error))
    return traces


def _without_image(entry: _Entry, role: StepRole, why: str) -> None:
    """``entry`` stored without the image file it names, which cannot be read or decoded (``why``): what
    ``score-official`` and the official scorers count decides, as for an image that is not here
    (``official_results``): the judge's replies, the per-item score or the GEU reply; a run that nothing
    but its image decides was already failed by the shared rule, which decodes it. The summary names it."""
    path = entry.images.pop(role)
    judged = any(isinstance(q, dict) and q.get("judge_answer") is not None
                 for q in entry.raw.get("question_list") or [])
    decides = ("the reply is scored without it" if isinstance(entry.instance, GEUInstance) else
               "judged by its judge_answer replies" if judged else "scored as the file records it")
    entry.note = f"{_image_field(role)} {path}: {why}; {decides}"


def _image_field(role: StepRole) -> str:
    return "edit_image" if role is StepRole.EDITED_IMAGE else "generated_image"


def _steps(entry: _Entry, images: dict) -> list[Step]:
    """The protocol's steps (``protocols._steps``), with what the file holds in place of model calls."""
    inst, steps = entry.instance, []
    if isinstance(inst, GEUInstance):
        if entry.mode == "stepwise" and StepRole.EDITED_IMAGE in images:
            steps.append(Step(StepRole.EDITED_IMAGE, inst.edit_text, image=images[StepRole.EDITED_IMAGE]))
        if StepRole.ANSWER in entry.texts:
            steps.append(Step(StepRole.ANSWER, inst.mcq_text, text=entry.texts[StepRole.ANSWER]))
        return steps
    prompt = inst.prompt
    if entry.mode == "stepwise" and StepRole.REFINED_PROMPT in entry.texts:
        prompt = entry.texts[StepRole.REFINED_PROMPT]
        steps.append(Step(StepRole.REFINED_PROMPT, inst.refine_text, text=prompt))
    if StepRole.GENERATED_IMAGE in images:
        steps.append(Step(StepRole.GENERATED_IMAGE, prompt, image=images[StepRole.GENERATED_IMAGE]))
    return steps

