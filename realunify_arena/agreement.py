"""Judge agreement across judges: do two UEG judges (model judges, or people) read the same images alike?

When two or more judges answered the polling questions of the same stored runs, this reports, per judge
pair, how often their yes/no verdicts agree on each polling question and on each instance's all-or-nothing
score, with Cohen's κ (chance-corrected agreement, ``statsmodels.stats.inter_rater.cohens_kappa``), and the
scores each judge gives in the layout of the paper's judge comparison (RealUnify, Table 4: Gemini 2.5 Pro,
Qwen2.5-VL and human experts scoring BAGEL's UEG runs, direct and stepwise).

Only verdicts both judges gave count: an unparseable reply (a judge error) is left out, never read as yes
or no; what only one of the two judges answered (the other did not judge that run, or gave no yes/no) is
left out and counted (``questions_one_judge``, ``instances_one_judge``). A run both judges scored is compared
as an instance only where they judged the same polling questions (matched by text; a judgment that lists no
questions, a majority of people's per-item scores, is taken as the instance's own): a judge that asked a
question the other did not scored another all-or-nothing poll, and calling the two scores a disagreement
would blame the judges for the question list (Cohen's κ rates one item by both raters). Such runs are left
out and counted (``instances_other_questions``); their common questions still count. The score table uses
the runs *every* compared judge decided over the same polling questions, by the same rule (``polls_differ``):
the judges' figures are computed on the same instances (``n``), those the agreement rows compare, and the runs
left out for their question lists are counted (``Comparison.runs_other_questions``).

``ratings.judge_agreement`` answers a different question (does a judge's score prefer the side people
voted for in arena battles); the two may later share this module.
"""

from __future__ import annotations

import csv
import json
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from itertools import combinations
from pathlib import Path

import numpy as np

from realunify_arena import durable
from realunify_arena.benchmark.custom import is_benchmark_dataset
from realunify_arena.benchmark.schema import CATEGORIES, UEG_TASKS
from realunify_arena.reporting import stored_outcome, system_labels
from realunify_arena.scoring import MODES, percent, round_half_up, score_systems
from realunify_arena.settings import comma_items
from realunify_arena.shown import as_stored, counted, markdown_text
from realunify_arena.spreadsheet import safe_row
from realunify_arena.trace import Status

ALL = "all"  # the scope of a row over every UEG category
VERDICTS = ("yes", "no")


class JudgeSelectionError(ValueError):
    """Judges that cannot be compared (fewer than two, or one that judged nothing stored)."""


@dataclass(frozen=True)
class PairAgreement:
    """Two judges on one scope (a UEG task_type, or ``"all"``). Shares are fractions in [0, 1]; κ in
    [-1, 1], None where undefined (no items, or both judges gave one answer throughout)."""

    judge_a: str
    judge_b: str
    scope: str
    questions: int  # polling questions both answered yes or no
    question_agreement: float | None
    question_kappa: float | None
    instances: int  # runs both judges decided (all-or-nothing score not None)
    instance_agreement: float | None
    instance_kappa: float | None
    # left out because only one of the two answered: polling questions one judge answered yes or no and the
    # other did not (not judged that run, not asked it, or no yes/no); runs one judge scored 1 or 0 and the
    # other did not
    questions_one_judge: int = 0
    instances_one_judge: int = 0
    # runs both judges scored 1 or 0, left out because each listed a different set of polling questions
    # (one asked a question the other did not): their all-or-nothing scores answer different polls
    instances_other_questions: int = 0


@dataclass
class Comparison:
    """The judges' agreement and scores on one dataset."""

    dataset: str
    judges: list[str]
    agreement: list[PairAgreement] = field(default_factory=list)
    # model label -> judge -> (mode -> SystemScore), over the runs every judge decided
    scores: dict[str, dict[str, dict]] = field(default_factory=dict)
    common_runs: int = 0  # runs every judge decided over the same polling questions: the score table's
    # runs every judge decided, left out of the score table because two judges listed different polling
    # questions (``polls_differ``), as the agreement rows leave them out (``instances_other_questions``)
    runs_other_questions: int = 0


def cohen_kappa(table) -> float | None:
    """Cohen's κ of a square confusion matrix (rows: judge A's answer, columns: judge B's), via statsmodels;
    None where it is undefined (no items, or chance agreement 1: both always gave the same single answer).

    Source: Cohen (1960), κ = (p_o − p_e) / (1 − p_e).
    """
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise ValueError(f"expected a square confusion matrix, got shape {table.shape}")
    if table.sum() == 0:
        return None
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        kappa = float(cohens_kappa(table, return_results=False))
    return kappa if np.isfinite(kappa) else None


def agreement_of(pairs: list[tuple[str, str]], labels: tuple) -> tuple[int, float | None, float | None]:
    """(count, share equal, κ) of paired answers drawn from ``labels``."""
    if not pairs:
        return 0, None, None
    index = {v: i for i, v in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for a, b in pairs:
        table[index[a], index[b]] += 1
    return len(pairs), float(np.trace(table) / len(pairs)), cohen_kappa(table)


def polling_judges(store, dataset: str | None = None) -> list[str]:
    """Names of the judges with polling (UEG) judgments stored, sorted."""
    return sorted({j["judge"] for j in store.judgments() if j["kind"] == "polling"
                   and is_benchmark_dataset(j["dataset"]) and (dataset is None or j["dataset"] == dataset)})


def compare_judges(store, judges: list[str] | None = None, *, dataset: str | None = None,
                   pinned: bool | None = None) -> list[Comparison]:
    """One Comparison per dataset on which at least two of ``judges`` (default: every polling judge) judged
    runs. ``pinned=True``: only the runs of batch evaluations (``eval``, ``import-results``), as the Leaderboard's
    table reads them (``reporting.reports_from_store``): a one-off Explore run at another seed would otherwise
    count, and split its model into one label per settings (``reporting.system_labels``) in the score table.
    Raises JudgeSelectionError for fewer than two judges or one with no stored polling judgments."""
    known = polling_judges(store, dataset)
    if judges is None:
        judges = known
    elif len({as_stored(j, known) for j in judges}) < 2:
        raise JudgeSelectionError(f"judges {judges}: name two or more judges to compare; stored: {known or 'none'}")
    judges = [as_stored(j, known) for j in judges]  # one stored in another normalization form by an earlier version
    unknown = [j for j in judges if j not in known]
    if unknown:
        raise JudgeSelectionError(f"judge(s) {unknown} judged no UEG runs{f' of {dataset!r}' if dataset else ''}"
                                  f" in {store.path}; stored judges: {known or 'none'}")
    judges = list(dict.fromkeys(judges))
    verdicts: dict[str, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))  # ds -> judge -> run
    read = None if pinned is None else {r["id"] for r in store.runs(dataset=dataset, pinned=pinned)}
    for j in store.judgments():
        if (j["kind"] == "polling" and j["judge"] in judges and is_benchmark_dataset(j["dataset"])
                and (dataset is None or j["dataset"] == dataset) and (read is None or j["run_id"] in read)):
            verdicts[j["dataset"]][j["judge"]][j["run_id"]] = j
    out = []
    for name in sorted(verdicts):
        by_judge = verdicts[name]
        present = [j for j in judges if by_judge.get(j)]
        if len(present) < 2:
            continue
        comparison = Comparison(name, present)
        for a, b in combinations(present, 2):
            comparison.agreement += _pair_rows(a, b, by_judge[a], by_judge[b])
        _scores(store, comparison, by_judge, pinned)
        out.append(comparison)
    return out


def _by_question(items: list[dict]) -> dict[tuple[str, int], dict]:
    """Polling items keyed by (question text, its occurrence among equal texts): two judges' items of one run
    are matched by the question asked, not by position (a human majority lists questions in the order the
    voters first answered them, an import in its file's order)."""
    seen: dict[str, int] = defaultdict(int)
    out = {}
    for item in items:
        out[(item["question"], seen[item["question"]])] = item
        seen[item["question"]] += 1
    return out


def polls_differ(judgments: Iterable[dict]) -> bool:
    """Whether polling judgments of one run scored different polls: two of them list different polling
    questions (matched by text, ``_by_question``). A judgment listing no questions (a majority of people's
    per-item scores) is taken as scoring the instance's own poll."""
    listed = {frozenset(_by_question(j["details"]["questions"])) for j in judgments if j["details"]["questions"]}
    return len(listed) > 1


def _pair_rows(a: str, b: str, mine: dict[int, dict], theirs: dict[int, dict]) -> list[PairAgreement]:
    questions, instances = defaultdict(list), defaultdict(list)
    one_judge = defaultdict(lambda: [0, 0, 0])  # task -> [questions, instances] only one of the two answered,
    # [2]: instances both scored over different polling questions
    for run_id in sorted(mine.keys() | theirs.keys()):
        x, y = mine.get(run_id), theirs.get(run_id)
        task = (x or y)["task_type"]
        by_a, by_b = (_by_question(j["details"]["questions"]) if j else {} for j in (x, y))
        for key in by_a.keys() | by_b.keys():
            said = [q["verdict"] for q in (by_a.get(key), by_b.get(key)) if q and q["verdict"] in VERDICTS]
            if len(said) == 2:
                questions[task].append((said[0], said[1]))
            elif said:
                one_judge[task][0] += 1
        scores = [j["score"] for j in (x, y) if j and j["score"] is not None]
        if len(scores) == 2 and polls_differ((x, y)):
            one_judge[task][2] += 1
        elif len(scores) == 2:
            instances[task].append((scores[0], scores[1]))
        elif scores:
            one_judge[task][1] += 1
    rows = []
    for scope in (ALL, *(t for t in UEG_TASKS if questions[t] or instances[t] or any(one_judge[t]))):
        tasks = UEG_TASKS if scope == ALL else (scope,)
        qs = [p for t in tasks for p in questions[t]]
        ins = [p for t in tasks for p in instances[t]]
        rows.append(PairAgreement(a, b, scope, *agreement_of(qs, VERDICTS), *agreement_of(ins, (1, 0)),
                                  *(sum(one_judge[t][i] for t in tasks) for i in (0, 1, 2))))
    return rows


def _scores(store, comparison: Comparison, by_judge: dict[str, dict[int, dict]], pinned: bool | None) -> None:
    """Each judge's table on the same runs: the UEG runs every judge decided over the same polling questions
    (a run two judges scored over different ones is left out and counted, as the agreement rows leave it
    out: ``polls_differ``), plus the UEG runs whose model failed (or could not run the mode), which no judge
    sees and which count as ``report`` counts them (a failed run 0 and in "run err", a not-supported one as
    "-"), so these figures never exceed report's."""
    decided = [{r for r, j in by_judge[name].items() if j["score"] is not None} for name in comparison.judges]
    common = set.intersection(*decided)
    other = {r for r in common if polls_differ(by_judge[name][r] for name in comparison.judges)}
    common -= other
    comparison.common_runs, comparison.runs_other_questions = len(common), len(other)
    read = store.runs(dataset=comparison.dataset, pinned=pinned)
    runs = [r for r in read if r["id"] in common or (r["track"] == "UEG" and r["status"] != Status.OK.value)]
    labels = system_labels(read)
    for name in comparison.judges:
        outcomes = [stored_outcome(r, labels[r["id"]], by_judge[name].get(r["id"]), None) for r in runs]
        for s in score_systems(outcomes):
            comparison.scores.setdefault(s.model, {}).setdefault(name, {})[s.mode] = s


# -- rendering -----------------------------------------------------------------------------------

AGREEMENT_HEADER = ["Judge A", "Judge B", "Scope", "questions", "agreement", "κ (questions)", "instances",
                    "agreement", "κ (instances)", "left out: one judge only (questions / instances)",
                    "left out: other questions (instances)"]


def _share(x: float | None) -> str:
    """A share as a percentage, halves up like every other figure (9/16 -> 56.3%; the share is a count over
    a count, so the exact fraction is recovered from the float)."""
    return "-" if x is None else f"{percent(100 * Fraction(x).limit_denominator(10 ** 9))}%"


UNDEFINED = "undefined"  # κ shown where items were compared but both judges gave one answer throughout


def kappa_text(x: float | None, items: int) -> str:
    """κ to two decimals, halves up as every other figure (0.625 -> "0.63"; κ is a ratio of counts, so the
    exact fraction is recovered from the float); ``UNDEFINED`` where ``items`` were compared but κ has no
    value (chance agreement 1: both judges gave the same single answer to every item); "-" with no items."""
    if x is None:
        return UNDEFINED if items else "-"
    text = str(round_half_up(Fraction(x).limit_denominator(10 ** 9), 2))
    return "0.00" if text == "-0.00" else text


def _scope(scope: str) -> str:
    return "all UEG" if scope == ALL else CATEGORIES[scope].abbreviation


def score_columns(comparison: Comparison) -> list[str]:
    """The UEG categories the compared runs cover, then UEG."""
    seen = {t for per in comparison.scores.values() for modes in per.values() for s in modes.values()
            for t in s.categories}
    return [t for t in UEG_TASKS if t in seen]


def score_rows(comparison: Comparison) -> list[tuple[str, list[list[str]]]]:
    """Per model: rows ``[judge, n, <category "direct/stepwise">..., UEG "direct/stepwise"]`` (Table 4)."""
    tasks = score_columns(comparison)
    out = []
    for model, per_judge in comparison.scores.items():
        rows = []
        for judge, modes in per_judge.items():
            def cell(get):
                return "/".join(get(modes[m]) if m in modes else "-" for m in MODES)

            n = sum(t.scored for s in modes.values() for t in s.categories.values())
            rows.append([judge, str(n), *(cell(lambda s, t=t: percent(s.category(t))) for t in tasks),
                         cell(lambda s: percent(s.ueg))])
        out.append((model, rows))
    return out


def judge_names(text: str) -> list[str]:
    """``report --judges``' names (``settings.comma_items``: a judge name holding a comma, which ``import-results
    --judge-name`` takes, "Gemini, 2.5", is written in double quotes). ``judges_text`` writes them so."""
    return list(comma_items(text))


def judges_text(judges: Iterable[str]) -> str:
    """Judge names as one line that ``judge_names`` reads back: separated by ", ", a name holding a comma or starting
    with a double quote in double quotes, its quotes doubled ("Gemini, 2.5" and "qwen" -> '"Gemini, 2.5", qwen';
    joined bare they read as three). A double quote inside an unquoted name is read as itself (RFC 4180 as the csv
    module reads it), so such a name is written as it is."""
    return ", ".join('"' + name.replace('"', '""') + '"' if "," in name or name.startswith('"') else name
                     for name in judges)


def markdown(comparison: Comparison) -> str:
    def row(cells):  # every cell shows as itself: judge names come from outside (import-results --judge-name)
        return "| " + " | ".join(markdown_text(str(c)) for c in cells) + " |"

    lines = [f"### Judges on {markdown_text(comparison.dataset)}: {markdown_text(judges_text(comparison.judges))}", "",
             "Agreement per polling question and per instance (all-or-nothing score), with Cohen's κ:", "",
             row(AGREEMENT_HEADER), row(["---"] * len(AGREEMENT_HEADER))]
    for r in comparison.agreement:
        lines.append(row([r.judge_a, r.judge_b, _scope(r.scope), r.questions, _share(r.question_agreement),
                          kappa_text(r.question_kappa, r.questions), r.instances, _share(r.instance_agreement),
                          kappa_text(r.instance_kappa, r.instances),
                          f"{r.questions_one_judge} / {r.instances_one_judge}", r.instances_other_questions]))
    lines += ["", "Questions: polling questions both judges answered yes or no; instances: runs both judges scored 1 "
                  "or 0. What only one of the two answered (the other did not judge the run, was not asked the "
                  "question, or gave no yes/no) is left out and counted; so is a run both scored over different polling "
                  "questions (one judge asked a question the other did not: the scores answer different polls). "
                  "Agreement is the "
                  f"share of equal answers; κ = (p_o − p_e) / (1 − p_e) (Cohen 1960); \"{UNDEFINED}\": both judges "
                  "gave the same single answer to every item, so chance agreement p_e is 1 and κ has no value."]
    header = ["Judge", "n", *(CATEGORIES[t].abbreviation for t in score_columns(comparison)), "UEG"]
    other = comparison.runs_other_questions
    left_out = (f"; {counted(other, 'run')} every judge decided left out, the judges having "
                "polled different questions, as in the agreement rows" if other else "")
    lines += ["", f"Scores each judge gives (direct/stepwise, %), on the {comparison.common_runs} runs every "
                  f"judge decided over the same polling questions{left_out} (the layout of the paper's Table 4):"]
    for model, rows in score_rows(comparison):
        lines += ["", f"**{markdown_text(model)}**", "", row(header), row(["---"] * len(header)), *map(row, rows)]
    return "\n".join(lines) + "\n"


def records(comparison: Comparison) -> list[dict]:
    """Flat rows: one per judge pair and scope (``kind`` "agreement"), one per model, judge and mode
    (``kind`` "score": the UEG category scores and UEG)."""
    out = [{"kind": "agreement", "dataset": comparison.dataset, **asdict(r)} for r in comparison.agreement]
    for model, per_judge in comparison.scores.items():
        for judge, modes in per_judge.items():
            for mode, s in modes.items():
                out.append({"kind": "score", "dataset": comparison.dataset, "model": model, "judge": judge,
                            "mode": mode, **{CATEGORIES[t].abbreviation: percent(s.category(t)) for t in UEG_TASKS
                                             if t in s.categories},
                            "UEG": percent(s.ueg), "n": sum(t.scored for t in s.categories.values())})
    return out


TEXT_FIELDS = ("dataset", "judge_a", "judge_b", "model", "judge")  # names (``spreadsheet.safe_row``)


def write_csv(comparisons: Iterable[Comparison], path: Path) -> Path:
    """``records`` of ``comparisons`` as CSV at ``path``; a name that starts like a spreadsheet formula (or reads as
    a value, ``spreadsheet.spreadsheet_safe``) is written as text (``spreadsheet.safe_row``), as ``write_json``
    keeps it exactly."""
    rows = [r for c in comparisons for r in records(c)]
    with durable.open_text(path) as f:  # replaces the previous file only once written whole
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)) or ["kind"],
                                restval="")
        writer.writeheader()
        writer.writerows(safe_row(r, TEXT_FIELDS) for r in rows)
    return path


def write_json(comparisons: Iterable[Comparison], path: Path) -> Path:
    payload = [{"dataset": c.dataset, "judges": c.judges, "common_runs": c.common_runs,
                "runs_other_questions": c.runs_other_questions,
                "agreement": [asdict(r) for r in c.agreement],
                "scores": [r for r in records(c) if r["kind"] == "score"]} for c in comparisons]
    durable.write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path
