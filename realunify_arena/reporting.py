"""Results in and out: the paper's Table 2 from the store or from official result files, CSV/JSON/plot
copies of it, and stored runs written back as official result files for third-party scorers.

Every path into the table goes through ``scoring.score_systems``, so the store and an official folder
scored with the same replies print the same numbers.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from realunify_arena import durable
from realunify_arena.benchmark.custom import CUSTOM_DATASET, is_benchmark_dataset
from realunify_arena.benchmark.result_files import (NAMES_SHOWN, naming_hint, result_files_in, result_folders_under,
                                                     result_kind)
from realunify_arena.benchmark.schema import (CATEGORIES, GEU_TASKS, OFFICIAL_PER_CATEGORY, UEG_TASKS, AnyInstance,
                                              GEUInstance)
from realunify_arena.benchmark.validation import Problem
from realunify_arena.dataset_names import instances_at
from realunify_arena.judge import (ANSWER_PARSER, judge_errors, mcq_judgment, parse_yes_no, polling_judgment,
                                   was_asked)
from realunify_arena.official_results import (FROM_SCORE_FIELD, RUN_FIELDS, ResultEntry, failure_notes,
                                             model_disagreements, models_named, read_result_files, reply_from_score,
                                             mode_disagreement_notes, skipped_note, unread_notes,
                                             unseen_image_notes)
from realunify_arena.reasoning import cut_while_reasoning
from realunify_arena.redaction import redact, secret_values
from realunify_arena.scoring import Outcome, SystemScore, difference, percent, score_systems
from realunify_arena.spreadsheet import safe_row
from realunify_arena.systems import MODEL_NAME_MAX, MODEL_NAME_RULE, MODES, System, model_name_problem
from realunify_arena.trace import Status, StepRole
from realunify_arena.shown import counted, markdown_text



@dataclass(frozen=True)
class Column:
    name: str
    value: Callable[[SystemScore], Fraction | None]
    items: Callable[[SystemScore], int]  # how many scored items (Q-acc: polling questions) the value rests on


def _items(tallies: dict, task_types: Iterable[str]) -> int:
    return sum(tallies[t].scored for t in task_types if t in tallies)


def _category_column(task_type: str) -> Column:
    return Column(CATEGORIES[task_type].abbreviation, lambda s: s.category(task_type),
                  lambda s: _items(s.categories, [task_type]))


# The paper's Table 2 columns, then the ones it lacks.
SCORE_COLUMNS: list[Column] = [
    *map(_category_column, UEG_TASKS), Column("UEG", lambda s: s.ueg, lambda s: _items(s.categories, UEG_TASKS)),
    *map(_category_column, GEU_TASKS), Column("GEU", lambda s: s.geu, lambda s: _items(s.categories, GEU_TASKS)),
    Column("Total", lambda s: s.total, lambda s: _items(s.categories, CATEGORIES)),
    Column("GEU strict", lambda s: s.geu_strict, lambda s: _items(s.strict, GEU_TASKS)),
    Column("Q-acc", lambda s: s.question_accuracy, lambda s: s.questions_total),
]
COUNT_COLUMNS = {"judge err": "judge_errors", "run err": "run_errors"}
COVERAGE_COLUMN = "instances"  # how many of the official instances each figure covers (``coverage``)


def coverage(score: SystemScore) -> str:
    """How many instances each category figure of ``score`` rests on, of the ``OFFICIAL_PER_CATEGORY`` (100) the
    official benchmark holds a category, so a partial run's figure is read as one: ``"100 of 100 each"``,
    ``"37 of 100 each"`` (every category shown alike), ``"WK 2 of 100"`` (one), ``"WK 2, SR 5 of 100"``; a
    category over 100 (a set of your own) ``"WK 120 (100 official)"``; ``"none"`` where no category is scored.
    The count is the figure's denominator (``Tally.scored``: judge errors and runs not judged yet are not in it)."""
    counts = {CATEGORIES[t].abbreviation: score.categories[t].scored for t in CATEGORIES if t in score.categories}
    if not counts:
        return "none"
    of = OFFICIAL_PER_CATEGORY
    if any(n > of for n in counts.values()):
        return ", ".join(f"{name} {n}" for name, n in counts.items()) + f" ({of} official)"
    if len(counts) > 1 and len(set(counts.values())) == 1:
        return f"{next(iter(counts.values()))} of {of} each"
    return ", ".join(f"{name} {n}" for name, n in counts.items()) + f" of {of}"


@dataclass
class Report:
    """One table: the systems of one dataset as one judge scored them; ``notes``: what the reader must know
    about how it was made (e.g. a folder's name that was cleaned into its model's name); ``imported``: the
    models in it whose runs were imported (``import-results``), not run here, marked under the table."""

    dataset: str
    judge: str | None
    scores: list[SystemScore]
    notes: list[str] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)  # models whose runs came from published result files
    skipped: list[str] = field(default_factory=list)  # result files read as instance files (score-official)

    @property
    def title(self) -> str:
        return f"{self.dataset}, UEG judged by {self.judge}" if self.judge else self.dataset


# -- rendering -----------------------------------------------------------------------------------


def markdown(report: Report, *, items: bool = False) -> str:
    """Table 2's layout: one row per model, each cell "direct/stepwise", then a Δ row (stepwise - direct).
    The last column (``COVERAGE_COLUMN``) says how many of the official 100 instances a category each figure
    covers (``coverage``: "37 of 100 each/-").

    ``items``: under each model a row "n <model>" with the number of scored items behind each cell
    (direct/stepwise; Q-acc counts polling questions)."""
    header = ["Model", *(c.name for c in SCORE_COLUMNS), *COUNT_COLUMNS, COVERAGE_COLUMN]
    lines = [f"### {markdown_text(report.title)}", "", _md_row(header), _md_row(["---"] * len(header))]
    for model, by_mode in _by_model(report.scores).items():
        def cell(get):
            return "/".join(get(by_mode[m]) if m in by_mode else "-" for m in MODES)

        lines.append(_md_row([model, *(cell(lambda s, c=c: percent(c.value(s))) for c in SCORE_COLUMNS),
                              *(cell(lambda s, a=a: str(getattr(s, a))) for a in COUNT_COLUMNS.values()),
                              cell(coverage)]))
        if items:
            lines.append(_md_row([f"n {model}", *(cell(lambda s, c=c: str(c.items(s))) for c in SCORE_COLUMNS),
                                  *[""] * (len(COUNT_COLUMNS) + 1)]))
        if all(m in by_mode for m in MODES):
            direct, stepwise = (by_mode[m] for m in MODES)
            lines.append(_md_row([f"Δ {model}", *(difference(c.value(direct), c.value(stepwise))
                                                   for c in SCORE_COLUMNS), *[""] * (len(COUNT_COLUMNS) + 1)]))
    if report.imported:
        lines += ["", imported_line(report.imported)]
    return "\n".join(lines) + "\n"


def imported_line(names: Iterable[str]) -> str:
    """The line that marks imported systems or models under a table (Markdown; each name as code, which a
    model name, letters, digits, ``.``, ``_``, ``-``, cannot break)."""
    return f"Imported from published result files, not run here: {', '.join(f'`{n}`' for n in names)}."


def records(report: Report) -> list[dict]:
    """One flat record per system: the printed values, then the counts behind them ("n WK": "correct/scored"),
    the table's ``COVERAGE_COLUMN`` text and the official count per category it is read against."""
    out = []
    for s in report.scores:
        row = {"dataset": report.dataset, "judge": report.judge, "model": s.model, "mode": s.mode,
               "imported": s.model in report.imported}
        row.update({c.name: percent(c.value(s)) for c in SCORE_COLUMNS})
        row.update({"judge_errors": s.judge_errors, "run_errors": s.run_errors,
                    "not_supported": s.not_supported, "unscored": s.unscored,
                    "questions_right": s.questions_right, "questions_total": s.questions_total})
        row.update({f"n {CATEGORIES[t].abbreviation}": f"{s.categories[t].correct}/{s.categories[t].scored}"
                    for t in CATEGORIES if t in s.categories})
        row.update({COVERAGE_COLUMN: coverage(s), "official_per_category": OFFICIAL_PER_CATEGORY})
        out.append(row)
    return out


TEXT_FIELDS = ("dataset", "judge", "model")  # the names in a CSV row (``spreadsheet.safe_row``)


def _counts_as_numbers(record: dict) -> dict:
    """``record`` with each count cell ("n WK": "2/4", correct/scored) as two number cells, "WK correct": 2 and
    "WK scored": 4: a spreadsheet reads "2/4" as the 2nd of April (or 4th of February), and "1/2" likewise."""
    out = {}
    for key, value in record.items():
        if key.startswith("n ") and isinstance(value, str) and "/" in value:
            correct, scored = value.split("/")
            out |= {f"{key[2:]} correct": int(correct), f"{key[2:]} scored": int(scored)}
        else:
            out[key] = value
    return out


def write_csv(reports: Iterable[Report], path: Path) -> Path:
    """``records`` of ``reports`` as CSV at ``path`` (replaced once written whole), each count cell as two numbers
    (``_counts_as_numbers``: "WK correct", "WK scored", where ``write_json`` writes "n WK": "2/4"); a name that
    starts like a spreadsheet formula or reads as a value (a date, a number) is written as text
    (``spreadsheet.safe_row``), as ``write_json`` keeps it exactly."""
    rows = [_counts_as_numbers(r) for report in reports for r in records(report)]
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with durable.open_text(path) as f:  # replaces the previous file only once written whole
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(safe_row(r, TEXT_FIELDS) for r in rows)
    return path


def write_json(reports: Iterable[Report], path: Path) -> Path:
    payload = [{"dataset": r.dataset, "judge": r.judge, "systems": records(r)} for r in reports]
    durable.write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


def plot(report: Report, path: Path) -> Path:
    """Per-category bars, direct beside stepwise, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = _by_model(report.scores)
    labels = [c.abbreviation for c in CATEGORIES.values()]
    fig, axes = plt.subplots(len(models), 1, figsize=(11, 2.6 * len(models) + 0.6), squeeze=False)
    width = 0.38
    for ax, (model, by_mode) in zip(axes[:, 0], models.items()):
        for offset, mode in zip((-width / 2, width / 2), MODES):
            scores = [by_mode[mode].category(t) if mode in by_mode else None for t in CATEGORIES]
            values = [math.nan if v is None else float(v) for v in scores]  # no bar where the table says "-"
            ax.bar([i + offset for i in range(len(labels))], values, width, label=mode)
        ax.set_title(model, parse_math=False)  # names are text, never mathtext (see ``paired.forest_plot``)
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 100)
        ax.set_ylabel("% correct")
        ax.axvline(len(UEG_TASKS) - 0.5, color="grey", linewidth=0.8)
        ax.legend(loc="upper right", fontsize="small")
    fig.suptitle(report.title, parse_math=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _by_model(scores: list[SystemScore]) -> dict[str, dict[str, SystemScore]]:
    out: dict[str, dict[str, SystemScore]] = defaultdict(dict)
    for s in scores:
        out[s.model][s.mode] = s
    return out


def _md_row(cells: list[str]) -> str:
    """One table row; each cell shows as itself (``shown.markdown_text``): a model label or name from outside
    makes no markup, and figures ("50.0/-", "+5.0") are left as they are."""
    return "| " + " | ".join(markdown_text(c) for c in cells) + " |"


# -- from the store ------------------------------------------------------------------------------


def reports_from_store(store, *, dataset: str | None = None, judge: str | None = None,
                       pinned: bool | None = None) -> list[Report]:
    """One report per (dataset, UEG judge) stored; GEU needs no judge model and appears in each.
    Runs of your own one-off instances (``benchmark.custom``) are in no table. ``pinned=True``: only the
    runs of batch evaluations (``eval`` and ``import-results`` pin theirs; a one-off Explore run is not)."""
    reports = []
    imported_in: dict[str, set] = {}  # dataset -> its imported models: one query per dataset, not per judge
    for name, judge_name, scored in judged_runs(store, dataset=dataset, judge=judge, pinned=pinned):
        if name not in imported_in:
            imported_in[name] = set(store.imported_models(name))
        imported = imported_in[name]
        scores = score_systems(outcome for _, outcome in scored)
        reports.append(Report(name, judge_name, scores, notes=cut_answer_notes(name, [o for _, o in scored]),
                              imported=list(dict.fromkeys(s.model for s in scores if s.model in imported))))
    return reports


def cut_answer_notes(dataset: str, outcomes: list[Outcome]) -> list[str]:
    """Per system, how many of its scored GEU answers end inside the model's reasoning (``Outcome.cut_answer``:
    cut at max_new_tokens while it was still thinking, ``protocols.cut_answer_note``): each keeps its official
    score (a letter read from unfinished thoughts, or none where a reasoning parser gave the thoughts apart) and
    counts 0 in the strict column. One line a system:
    ``"<dataset>: <system>: 3 of 40 GEU answers cut while the model was still reasoning ..."``."""
    cut: dict[tuple[str, str], int] = {}
    total: dict[tuple[str, str], int] = {}
    for o in outcomes:
        if o.track == "GEU" and o.status is Status.OK and o.score is not None:
            key = (o.model, o.mode)
            total[key] = total.get(key, 0) + 1
            cut[key] = cut.get(key, 0) + o.cut_answer
    return [f"{dataset}: {System(model, mode)}: {n} of {total[model, mode]} GEU answers cut while the model was "
            "still reasoning (at max_new_tokens): each keeps its official score (a letter read from unfinished "
            "thoughts, or none where its server gave the thoughts apart) and scores 0 in the strict column; raise the model's max_new_tokens (its card's, or the "
            "runner's) and run them again"
            for (model, mode), n in cut.items() if n]


def judged_runs(store, *, dataset: str | None = None, judge: str | None = None,
                pinned: bool | None = None) -> list[tuple[str, str | None, list[tuple[dict, Outcome]]]]:
    """(dataset, UEG judge, [(run row, its Outcome)]) per table ``reports_from_store`` prints, runs oldest
    first; the Outcome's ``model`` is the run's label from ``system_labels``. Custom instances are left out;
    ``pinned`` as in ``reports_from_store``."""
    runs = [r for r in store.runs(dataset=dataset, pinned=pinned) if is_benchmark_dataset(r["dataset"])]
    judgments = store.judgments()
    mcq = {j["run_id"]: j for j in judgments if j["kind"] == "mcq"}
    polling: dict[str, dict[int, dict]] = defaultdict(dict)
    for j in judgments:
        if j["kind"] == "polling":
            polling[j["judge"]][j["run_id"]] = j
    tables = []
    for name in sorted({r["dataset"] for r in runs}):
        subset = [r for r in runs if r["dataset"] == name]
        uegs_judged = sorted(j for j in polling if any(r["id"] in polling[j] for r in subset))
        judges = [judge] if judge else uegs_judged or [None]
        labels = system_labels(subset)
        for judge_name in judges:
            tables.append((name, judge_name, [(r, stored_outcome(r, labels[r["id"]],
                                                                 polling.get(judge_name, {}).get(r["id"]),
                                                                 mcq.get(r["id"]))) for r in subset]))
    return tables


def system_labels(runs: list[dict]) -> dict[int, str]:
    """Run id -> the system's name shown: its model, and where the model was run with several settings, the
    settings that tell its systems apart, ``"m (seed=1)"``.

    A system is a model and a settings dict as the store keys it (``store.settings_key``: JSON, so ``1``,
    ``"1"``, ``1.0`` and ``true`` are four settings); two runs get the same label exactly when they share the
    model and that key. Each differing setting is written ``key=value`` with the value as JSON (``seed=1``,
    ``seed="1"``, ``seed=1.0``, ``seed=true``; a string of letters, digits and ``._/-`` that reads as no other
    JSON value is written bare, ``size=512x512``) and ``key=unset`` where this system has no such setting, so
    no two systems print alike (a value printed with Python's ``str`` made ``1`` and ``"1"`` one label, and
    merged their runs in the paired analysis and the exported folders)."""
    variants: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        variants[r["model"]].add(r["settings_key"])
    differing: dict[str, list[str]] = {}
    for model, keys in variants.items():
        parsed = [json.loads(k) for k in keys]
        names = sorted({name for s in parsed for name in s})
        differing[model] = [n for n in names if len({_setting_value(s, n) for s in parsed}) > 1]
    labels = {}
    for r in runs:
        shown = differing[r["model"]]
        if not shown:
            labels[r["id"]] = r["model"]
            continue
        mine = json.loads(r["settings_key"])
        labels[r["id"]] = f"{r['model']} ({', '.join(f'{_setting_name(n)}={_setting_value(mine, n)}' for n in shown)})"
    return labels


_BARE = re.compile(r"[A-Za-z0-9._/-]+")


def _setting_name(name: str) -> str:
    """A setting's name as a label shows it: bare when it is a plain identifier, else as a JSON string."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else json.dumps(name)


def _setting_value(settings: dict, name: str) -> str:
    """A setting's value as a label shows it, one text per value as ``store.settings_key`` tells them apart:
    the canonical JSON, a plain string bare where no other value reads so, ``unset`` where it is absent."""
    if name not in settings:
        return "unset"
    value = settings[name]
    if isinstance(value, str) and _BARE.fullmatch(value) and value != "unset" and not _reads_as_json(value):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def stored_outcome(run: dict, label: str, polling: dict | None, mcq: dict | None) -> Outcome:
    """One stored run scored from its polling (UEG) or answer-letter (GEU) judgment, if any."""
    base = {"model": label, "mode": run["mode"], "task_type": run["task_type"], "status": Status(run["status"])}
    if base["status"] is not Status.OK:
        return Outcome(**base)
    if run["track"] == "GEU":
        if mcq is None:
            return Outcome(**base)
        return Outcome(**base, score=mcq["score"], strict=mcq["details"]["strict_score"],
                       cut_answer=bool(mcq["details"].get("cut_while_reasoning"))  # set by ``judge_trace``
                       or cut_while_reasoning(mcq["details"].get("reply")))
    if polling is None:
        return Outcome(**base)
    questions = polling["details"]["questions"]
    verdicts = [q["correct"] for q in questions]
    # counted from the questions, not the stored count: an import made before unasked questions were told
    # apart stored them as judge errors even where a failed question had already decided the instance
    errors = judge_errors(questions, polling["score"]) if questions else polling["errors"]
    return Outcome(**base, score=polling["score"], questions_right=sum(v is True for v in verdicts),
                   questions_total=sum(v is not None for v in verdicts), judge_errors=errors)


# -- official result files -----------------------------------------------------------------------


class OfficialFilesError(ValueError):
    """Result files that cannot be scored; ``problems`` names every file, entry and field at fault."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class FolderNameError(OfficialFilesError):
    """Result folders scored without ``--model`` whose names make one model name, or none."""


def _folder_model(folder: Path, model: str | None, notes: list[str], *, alone: bool) -> str:
    """``model``, else ``folder``'s name as a model name (``systems.MODEL_NAME_RULE``): as it is when it is one,
    else each run of other characters replaced by ``_`` (``m__seed=0``, as exports before that rule named a
    folder, becomes ``m__seed_0``), with a line in ``notes`` saying so. Raises FolderNameError naming the
    folder, the rule and the way out (``--model`` for a lone folder) when nothing of the name is left."""
    if model is not None:
        return model
    problem = model_name_problem(folder.name)
    if not problem:
        return folder.name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", folder.name).lstrip("._-")[:MODEL_NAME_MAX]
    if model_name_problem(cleaned):
        fix = "pass --model NAME" if alone else "rename the folder, or score it alone with --model NAME"
        raise FolderNameError([Problem(str(folder), None, None,
                                       f"the folder's name is the model's name unless --model is given, and it is "
                                       f"no model name: {problem}; {fix}")])
    notes.append(f"{folder}: shown as model {cleaned!r}, the folder's name made a model name ({MODEL_NAME_RULE});"
                 " --model NAME names a lone folder's model")
    return cleaned


def score_official(path: str | Path, *, model: str | None = None) -> Report:
    """Score official-format result files (a folder with any of the four files, or one of them).

    GEU entries are scored from ``response`` (``model_response`` as SenseNova-U1 writes it; a list counts
    by its first element) with the official letter extraction; UEG entries from a ``judge_answer`` field
    on each polling question, else from the per-item ``score`` (0/1) that the official generation scorer
    writes. Files are ``.json`` lists or ``.jsonl`` (``benchmark.result_files``), read under the rule
    ``import-results`` applies too (``official_results``): an entry whose run failed (GEU: no ``response``;
    UEG: ``generated_image`` missing or empty, even beside judge replies; naming no file here, or naming one
    that cannot be decoded, with no score and no judge reply) counts as wrong and in "run err", as the official scripts count it; judge replies
    count even when the image they judged is not here; an image that is there but
    carries neither is not judged yet and is left out; ``"status": "not_supported"`` counts as the paper's
    "-". Raises
    OfficialFilesError naming every bad file/entry/field
    (an instance entered twice in one file included: it would be scored twice), or FolderNameError (one of
    them) when ``model`` is None and nothing of the folder's name makes a model name
    (``systems.MODEL_NAME_RULE``; other characters are replaced by ``_``, said in ``Report.notes``).
    """
    path = Path(path)
    problems: list[Problem] = []
    files = _result_files(path, problems)
    if not files and not problems:
        raise OfficialFilesError([Problem(str(path), None, None, f"no {NAMES_SHOWN} result files{naming_hint(path)}")])
    notes: list[str] = []
    name = _folder_model((path if path.is_dir() else path.parent).resolve(), model, notes, alone=True)
    skipped: list[str] = []
    outcomes = _score_files(files, name, problems, notes, skipped)
    if problems:
        raise OfficialFilesError(problems)
    return Report(str(path), _official_judge(files), score_systems(outcomes), notes,
                  skipped=[str(path / file) if path.is_dir() else str(path) for file in skipped])


def score_official_folders(path: str | Path, *, model: str | None = None) -> list[Report]:
    """Every folder of result files at or under ``path``, as ``export --format official --out DIR`` lays
    them out (``DIR/<dataset>/<model>/``): one Report per dataset folder, one row per model folder.

    A folder (or file) that itself holds result files is scored as one model, named ``model`` or the folder;
    folders under it that hold result files too are not read, and ``Report.notes`` says so.
    Raises OfficialFilesError as ``score_official``, FolderNameError (before any file is read) when ``model``
    is None and a model folder's name makes no model name, or two folders of one dataset make the same one.
    """
    path = Path(path)
    folders = result_folders_under(path) if path.is_dir() else []
    if path.is_file() or path in folders:
        report = score_official(path, model=model)
        below = [folder for folder in folders if folder != path]
        if below:  # scored as one model from its own files: what lies below it must not vanish unsaid
            report.notes.append(f"{path}: its own result files are scored as one model; {len(below)} folder(s) "
                                f"under it also hold result files and were not read (first: "
                                f"{below[0].relative_to(path)}); score each by its own path")
        return [report]
    if not folders:
        raise OfficialFilesError([Problem(str(path), None, None,
                                          f"no {NAMES_SHOWN} result files in it or in any folder under "
                                                            f"it{naming_hint(path)}")])
    if model is not None and len(folders) > 1:
        raise OfficialFilesError([Problem(str(path), None, None,
                                          f"--model names one model, but {len(folders)} model folders are "
                                          "under it; leave it out to name each by its folder")])
    problems: list[Problem] = []
    by_dataset: dict[Path, list[Outcome]] = defaultdict(list)
    notes: dict[Path, list[str]] = defaultdict(list)  # per dataset folder
    names = {folder: _folder_model(folder, model, notes[folder.parent], alone=len(folders) == 1) for folder in folders}
    named = defaultdict(list)  # (dataset folder, model name) -> the model folders named so
    for folder in folders:
        named[folder.parent, names[folder]].append(folder.name)
    for (dataset, name), found in named.items():
        if len(found) > 1:
            raise FolderNameError([Problem(str(dataset), None, None,
                                           f"folders {', '.join(map(repr, found))} would all be model {name!r}"
                                           " (a folder's name made a model name); rename them apart")])
    files_of: dict[Path, list[Path]] = defaultdict(list)  # dataset folder -> its result files (for the judge)
    skipped: dict[Path, list[str]] = defaultdict(list)  # dataset folder -> the files skipped in its folders
    for folder in folders:
        found: list[Problem] = []
        files = _result_files(folder, found)
        files_of[folder.parent] += files
        local: list[str] = []
        passed: list[str] = []
        by_dataset[folder.parent] += _score_files(files, names[folder], found, local, passed)
        skipped[folder.parent] += [str(folder / file) for file in passed]
        notes[folder.parent] += [f"{folder.relative_to(path)}/{note}" for note in local]
        problems += [Problem(str(folder.relative_to(path) / p.file), p.entry, p.field, p.message) for p in found]
    if problems:
        raise OfficialFilesError(problems)
    return [Report(str(dataset), _official_judge(files_of[dataset]), score_systems(outcomes), notes[dataset],
                   skipped=skipped[dataset]) for dataset, outcomes in by_dataset.items()]


def _official_judge(files: list[Path]) -> str | None:
    """The UEG judge of official result files: their ``judge_answer`` replies, or None where no file is a
    UEG one (a GEU-only table names no UEG judge, as ``report``'s does not)."""
    return "judge_answer" if any(result_kind(f)[0] == "UEG" for f in files) else None


def _result_files(path: Path, problems: list[Problem] | None = None) -> list[Path]:
    if path.is_file():
        return [path] if result_kind(path) is not None else []
    return result_files_in(path, problems) if path.is_dir() else []


def _score_files(files: list[Path], name: str, problems: list[Problem], notes: list[str],
                 skipped: list[str]) -> list[Outcome]:
    read = read_result_files(files, problems, scoring_only=True)
    skipped += read.skipped
    # shown, not stored: a folder named otherwise than the runner named its model is no error here
    # (import-results, which stores the runs under the name given, refuses it)
    notes += [f"{file}: {counted(len(found), 'entry')} name(s) another model than "
              f"{name!r}: {models_named(found)}; scored as {name!r}"
              for file, found in model_disagreements(read.entries, name).items()]
    notes += [skipped_note(file) for file in read.skipped]
    notes += failure_notes(read.entries) + unread_notes(read.entries) + unseen_image_notes(read.entries)
    notes += mode_disagreement_notes(read.entries)
    outcomes = [outcome for outcome in (_official_outcome(e, name, problems) for e in read.entries)
                if outcome is not None]
    notes += cut_answer_notes(str(files[0].parent) if files else name, outcomes)
    return outcomes


def _official_outcome(entry: ResultEntry, model: str, problems: list[Problem]) -> Outcome | None:
    """The Outcome of one entry read by the shared rule (``official_results``)."""
    record = entry.record
    base = {"model": model, "mode": entry.mode, "task_type": record.task_type, "status": entry.status}
    if entry.status is not Status.OK:
        return Outcome(**base)
    if entry.score is not None:
        return Outcome(**base, score=entry.score)
    if isinstance(record, GEUInstance):
        if record.answer is None:  # the official scorer reads only response, task_type and answer
            problems.append(Problem(entry.file, entry.label, "answer", "missing; expected the letter A-D the "
                                                                       "reply is scored against"))
            return None
        judgment = mcq_judgment(record, entry.text)
        return Outcome(**base, score=judgment.score, strict=judgment.details["strict_score"],
                       cut_answer=cut_while_reasoning(judgment.details["reply"]))
    if entry.judge_answers is None:
        return Outcome(**base)  # an image, not judged yet
    judgment = polling_judgment(record.question_list, entry.judge_replies, "judge_answer")
    verdicts = [q["correct"] for q in judgment.details["questions"]]
    return Outcome(**base, score=judgment.score, questions_right=sum(v is True for v in verdicts),
                   questions_total=sum(v is not None for v in verdicts), judge_errors=judgment.errors)


def export_official(store, out_dir: str | Path, dataset: str | None = None, model: str | None = None, *,
                    data=None, judge: str | None = None, relative_paths: bool = False) -> list[Path]:
    """Write stored runs as official result files, one folder per dataset and model (``<out>/<dataset>/<model>``).

    Result fields: UEG ``generated_image`` (+ ``response``, the refined prompt, in the step file); GEU
    ``response`` (+ ``edit_image`` in the step file); images are copied into the folder's ``images/``
    and named by absolute path, so the official scorers find them from any working directory; with
    ``relative_paths`` they are written ``./images/<sha>.png`` instead (the folder can be moved, and the
    official scorer must then run from inside it). A file holds an entry only for a run that was made and
    that the model could do: a mode never run, or ``not_supported``, is left out (a file with no entries is
    not written; ``LookupError`` when no file at all is), so every entry carries what the official scorer
    reads. A failed run is written with ``"generated_image": ""`` or ``"response": ""``, which the official
    scripts score 0. With ``judge``, each polling question also carries that judge's deciding reply as
    ``judge_answer`` (a judgment without replies, imported from the official scorer's per-item ``score``, is
    written as that ``score``), so ``score_official`` on the folder reprints the stored table. A UEG run
    judged without a stored image (imported with its ``judge_answer`` replies from a folder copied without its
    images) is written, when ``judge`` writes those replies, with ``"generated_image": ""`` and the per-item
    ``score`` they give (null when undecided) beside them: ``score_official`` judges it by the replies again
    rather than as a failed run, and the official ``evaluate_accuracy`` counts its ``score`` (its
    ``process_one``, which judges images again, scores an empty image 0: there is no image to judge). A GEU
    run imported with the official per-item ``score`` and no reply is written with a ``response`` the official
    ``eval_understanding.py`` scores as that score (``official_results.reply_from_score``: the expected letter
    for 1, "" for 0; null would fail its whole file), that ``score``, and ``"response_from_score": true``,
    which the official scripts ignore and ``score-official`` and ``import-results`` read as "no reply: the
    score decides". ``data`` supplies the instances
    (a loaded Dataset); without it they are reloaded from where ``eval`` noted the dataset came from.
    Runs of your own one-off instances (``benchmark.custom``) are not exported: there is no instance
    file to write them against.
    """
    if dataset is not None and not is_benchmark_dataset(dataset):
        raise LookupError(f"runs of dataset {CUSTOM_DATASET!r} answered your own one-off instances, which are "
                          "not exported as official result files")
    runs = [r for r in store.runs(dataset=dataset, model=model) if is_benchmark_dataset(r["dataset"])]
    if not runs:
        raise LookupError(f"no stored runs{f' of dataset {dataset!r}' if dataset else ''}"
                          f"{f' by {model!r}' if model else ''} in {store.path}")
    _refuse_shared_folders(runs, out_dir)
    written: list[Path] = []
    for name in sorted({r["dataset"] for r in runs}):
        source = data if data is not None and data.name == name else _stored_source(store, name)
        subset = [r for r in runs if r["dataset"] == name]
        labels = system_labels(subset)
        for label in sorted(set(labels.values())):
            mine = [r for r in subset if labels[r["id"]] == label and r["status"] != Status.NOT_SUPPORTED.value]
            folder = Path(out_dir) / _safe(name) / _safe(label)
            if mine:
                written += _write_system(store, source, mine, folder, judge, relative_paths)
    if not written:
        raise LookupError(f"no result file to write: every stored run{f' of dataset {dataset!r}' if dataset else ''}"
                          f"{f' by {model!r}' if model else ''} in {store.path} is one its model cannot do "
                          "(not_supported, the paper's \"-\"), which gets no entry")
    return written


def _refuse_shared_folders(runs: list[dict], out_dir: str | Path) -> None:
    """Refuse, before anything is written, two datasets or models whose folder names come out the same
    (``a:direct`` and ``a_direct``): the second would overwrite the first's files and mix their results."""
    owner: dict[Path, tuple[str, str]] = {}
    for name in sorted({r["dataset"] for r in runs}):
        subset = [r for r in runs if r["dataset"] == name]
        for label in sorted(set(system_labels(subset).values())):
            folder = Path(out_dir) / _safe(name) / _safe(label)
            other = owner.setdefault(folder, (name, label))
            if other != (name, label):
                raise ValueError(f"{folder}: both {other[1]!r} on {other[0]!r} and {label!r} on {name!r} would be "
                                 "written to this folder; export them one at a time (--model, --dataset) to "
                                 "different --out folders")


def _stored_source(store, name: str):
    """The instances of dataset ``name`` where the store says they are: the bundled set, a dataset folder, or
    the result folder its runs were imported from (read as ``dataset_names.instances_at`` reads it: ``.json``
    or ``.jsonl`` entries, no input images needed, which such a folder seldom holds)."""
    from realunify_arena.benchmark import load
    from realunify_arena.benchmark.loaders import Dataset
    location = "bundled" if name == "bundled" else store.dataset_source(name)
    if location is None:
        raise LookupError(f"runs of dataset {name!r}: the store does not say where its instances are; "
                          "pass the loaded dataset (data=...)")
    if location == "bundled":
        source = load(location, name=name)
    else:
        problems: list[Problem] = []
        found = instances_at(location, name, problems)
        if found is None:
            raise LookupError(f"runs of dataset {name!r}: its instances were at {location}, which is gone")
        source = Dataset(name, list(found.values()), problems, root=Path(location))
    if not source.instances:
        problem = source.problems[0] if source.problems else "no instances"
        raise LookupError(f"runs of dataset {name!r}: cannot load its instances from {location} ({problem})")
    return source


def _write_system(store, source, runs: list[dict], folder: Path, judge: str | None,
                  relative_paths: bool) -> list[Path]:
    from realunify_arena.benchmark.writer import write_official

    instances, fields = {}, {}
    for run in runs:
        instance = source.get(run["instance_uid"])
        instances[instance.uid] = instance
        kind = "direct" if run["mode"] == "direct" else "step"
        fields[(instance.uid, kind)] = _result_fields(store, run, instance, folder, judge, relative_paths)
    # An instance read from a result folder keeps that folder's run fields among its extras: they describe
    # another run (its image, reply, score or error) and must not stand in for this run's missing ones.
    ordered = [dataclasses.replace(i, extra={k: v for k, v in i.extra.items() if k not in RUN_FIELDS})
               for i in source.instances if i.uid in instances]
    return write_official(ordered, folder, extra_fields=fields, only_with_fields=True)


def _result_fields(store, run: dict, instance: AnyInstance, folder: Path, judge: str | None,
                   relative_paths: bool) -> dict:
    trace = store.load_trace(run["id"])  # its texts with secrets masked, also those of a run stored unmasked
    fields: dict = {"status": trace.status.value}
    if trace.error:
        fields["error"] = trace.error
    for step in trace.steps:
        if step.role is StepRole.GENERATED_IMAGE:
            fields["generated_image"] = _copy_image(store, step.image_sha, folder, relative_paths)
        elif step.role is StepRole.EDITED_IMAGE:
            fields["edit_image"] = _copy_image(store, step.image_sha, folder, relative_paths)
        else:  # the refined prompt (UEG stepwise) or the answer (GEU): the official "response"
            fields["response"] = step.text
    verdict = store.find_judgment(run["id"], judge) if judge and not isinstance(instance, GEUInstance) else None
    questions = verdict["details"].get("questions") if verdict is not None else None
    # What the official scorers read, even for a failed run: they score "" as 0 (a missing key crashes them).
    # A run judged on an image that was never stored here (imported from a folder copied without its images)
    # is no failed run: its judge's replies are written with ``"generated_image": ""`` and the ``score`` they
    # give, which ``score-official`` judges by those replies and the official summary counts by that score.
    judged_without_image = trace.status is Status.OK and "generated_image" not in fields and bool(questions)
    if isinstance(instance, GEUInstance) and trace.status is Status.OK and "response" not in fields:
        scored = store.find_judgment(run["id"], ANSWER_PARSER)  # imported from a per-item score, no reply kept
        if scored is not None and scored["score"] in (0, 1):  # a response the official scorer scores so
            fields["response"] = reply_from_score(scored["score"], instance.answer)
            fields["score"], fields[FROM_SCORE_FIELD] = scored["score"], True
    fields.setdefault("response" if isinstance(instance, GEUInstance) else "generated_image", "")
    if judged_without_image:
        fields["score"] = verdict["score"] if verdict["score"] in (0, 1) else None  # null: undecided
    if questions:  # a judgment stored before replies were redacted may hold a key: masked here
        secrets = secret_values()
        # a question never asked (the judge stopped at a failed one) is written without judge_answer, as it
        # was read: "" would be an asked question with an unusable reply, a judge error to every reader
        fields["question_list"] = [
            {"question": q["question"], "answer": q["expected"],
             **({"judge_answer": redact(_deciding_reply(q), secrets)} if was_asked(q) else {})} for q in questions]
    elif verdict is not None and verdict["score"] in (0, 1):  # no replies kept: a per-item score imported from
        fields["score"] = verdict["score"]  # the official scorer's output, written back as it wrote it
    return fields


def _deciding_reply(question: dict) -> str:
    """The reply whose yes/no counted, or the last unparseable one (so the judge error carries over). The
    human verdict (``judge human``, ``Store.human_verdicts``) keeps no replies, only each question's majority:
    that yes/no, or "" on a tie (a judge error to score-official, as to report)."""
    replies = question.get("replies") or []
    if not replies:
        return question.get("verdict") or ""
    return next((r for r in replies if parse_yes_no(r) is not None), replies[-1])


def _copy_image(store, sha: str, folder: Path, relative: bool = False) -> str:
    """Copy stored image ``sha`` to ``folder/images/<sha>.png`` unless it is there; returns the path the export
    names. The copy goes through a temporary file (``durable.write_file``): one cut short (a full disk) is never
    left under the final name, which a later export would find and skip.

    Raises:
        OSError: the stored image cannot be read (``Store.open_image``: a missing one names the store), or the
            copy cannot be written (naming the file).
    """
    target = folder / "images" / f"{sha}.png"
    if not target.exists():
        with store.open_image(sha) as src:  # a missing one names the store
            durable.write_file(target, lambda f: shutil.copyfileobj(src, f))
    return f"./images/{sha}.png" if relative else str(target.resolve())


def _safe(name: str) -> str:
    """A folder name for a dataset path or model label: ASCII letters, digits, '-', '_' and '.' only, so a
    model folder's name is a model name (``systems.MODEL_NAME_RULE``) that ``score-official`` takes as the
    model's ("m (seed=1)" -> "m__seed_1")."""
    return "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_"
                   for c in Path(name).name or name).strip("._") or "_"
