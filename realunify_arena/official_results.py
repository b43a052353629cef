"""What one entry of an official-format result file says happened: the one rule ``score-official`` and
``import-results`` both apply (``read_result_files``), so the table of a folder and the table of the same
folder imported agree entry by entry.

The rule, following what the official scorers count (``eval_understanding.py`` reads ``response``;
``eval_generation.py`` scores an image it cannot open 0):

- ``"status": "not_supported"`` is the paper's "-"; ``"status": "error"`` a failed run.
- GEU: the reply is ``response`` (``model_response`` as SenseNova-U1 writes it; a list counts by its first
  element). No reply (null or missing): scored by the official per-item ``score`` when there is one, else a
  failed run. A ``response`` written from the ``score`` (``"response_from_score": true``, ``reply_from_score``:
  what ``export`` writes for a run whose reply is not kept) is no reply either: the ``score`` decides (an
  entry so marked without a ``score`` is refused); a
  ``response`` other than the one that score is written as is a real reply, and the entry is refused.
  Stepwise, the ``edit_image`` is kept when it names a file here; a missing one never voids the reply, which
  is what is scored.
- UEG: the image is ``generated_image`` (a list counts by its last element; paths as
  ``result_paths.find_result_image`` finds them). The per-item ``score`` decides when no polling question
  carries a ``judge_answer``. An empty ``generated_image`` ("" or null) is a failed run, whatever a judge said
  (the official scorer scores it 0), unless the entry also carries its per-item ``score`` (0, 1 or null):
  a run judged on an image that was not kept, as ``export`` writes one so that the official
  ``eval_generation.py`` reads it (it counts ``score == 1``); its judge replies then decide, and
  ``ResultEntry.note`` says so. A ``score`` other than the one the replies give is refused. Judge replies
  otherwise decide, even when the image file is not here (a folder copied without its images) or the entry
  names none (``generated_image`` absent: judged, the path not kept; the note names any unread field that may
  hold it, such as ``output_image``): the replies are what is scored, and ``ResultEntry.note`` says so.
  Without replies, an image found and readable is a run not judged yet, and an image missing, not found,
  outside the folder or unreadable (``images.open_checked`` refuses it: corrupt, truncated, not an image) a
  failed run, as the official scorer scores an image it cannot open 0. With replies (or a ``score``) the
  image is not opened here: it decides nothing (``import-results``, which stores it, opens it and stores a
  judged run whose image is unreadable without the image, saying so).
  A question without a ``judge_answer`` (missing or null) beside others that have one was never asked, as
  where a runner stops at the first wrong verdict the way the official scorer's loop does: the instance is 0
  when an asked question already fails it (its unasked questions are then not judged, and no judge errors),
  else its unasked questions are judge errors (no verdict).
  Stepwise, a ``response`` is the refined prompt.
- A file whose entries carry instance fields only (``has_results``: the official instance files' fields,
  ``validation.UEG_FIELDS`` / ``GEU_FIELDS``, and this project's own) is an instance file: skipped, and said
  (``skipped_note``), whatever its size (a one-entry file is read by the same rule). Any field a run writes
  (``RUN_FIELDS``: ``error`` and ``model`` too, which no instance file holds) makes it a result file. An entry carrying a field that is neither an instance's nor a result's (``output_image``,
  ``answer_text``: ``unread_fields``) is a result the scorers cannot read, even where no entry of its file
  carries a field read here: a failed run when nothing else decides it, named with those fields by
  ``failure_notes`` (and in the entry's own error where the field it stands for is missing); an entry scored
  all the same (``edited_image`` beside the ``response`` scored) is named by ``unread_notes``.

The texts an entry carries (``response``, each ``judge_answer``, ``error``) are read with their secrets masked
(``redaction.redact``), as ``eval`` stores a model's or judge's reply: an imported run is stored, shown on the
page and exported again, and a file written from an endpoint that echoed its key must put it in none of them.
"""

from __future__ import annotations

import re

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.benchmark.result_files import STEMS, parse_result_file
from realunify_arena.benchmark.result_paths import climbs_out, find_result_image, why_not_found
from realunify_arena.benchmark.schema import AnyInstance, GEUInstance, Track
from realunify_arena.benchmark.validation import (GEU_FIELDS, OWN_INSTANCE_FIELDS, POLLING_FIELDS, UEG_FIELDS,
                                                  OversizedInteger, Problem, describe)
from realunify_arena.redaction import redact, secret_values
from realunify_arena.shown import brief, counted
from realunify_arena.trace import Mode, Status

MODEL_FIELD = "model"  # the model's name, as some runners write it into each entry
OFFICIAL_MODES: dict[str, Mode] = {"direct": "direct", "step": "stepwise"}  # official file suffix -> mode
# Fields a runner or the official scorers add to an instance entry: where a run's result is. A file whose entries
# carry none of these nor any other run field (``RUN_FIELDS``), no judge_answer and no field other than an
# instance's (``has_results``) holds instances only, and is skipped.
RESULT_FIELDS = ("generated_image", "response", "model_response", "edit_image", "score", "status")
JUDGE_FIELD = "judge_answer"  # a judge's reply, on each polling question of a UEG entry
# Where a failed run's result is expected, per track (``failure_notes`` names it beside the fields found).
EXPECTED_RESULT: dict[Track, str] = {
    "UEG": "generated_image (or a judge_answer on each polling question, or the per-item score)",
    "GEU": "response (or model_response, or the per-item score)",
}
# Everything an entry says about one run rather than about its instance: never carried over to another run's
# entry (an export of runs on a dataset that was read from a result folder).
# ``model`` is the name some runners write into each entry: whose run it is, never another run's.
# ``response_from_score``: true where ``response`` was written from the per-item ``score`` beside it
# (``reply_from_score``), the model's own reply not being kept.
FROM_SCORE_FIELD = "response_from_score"
RUN_FIELDS = RESULT_FIELDS + ("error", MODEL_FIELD, FROM_SCORE_FIELD)


@dataclass
class ResultEntry:
    """One result entry read by the shared rule. ``status`` OK with ``score`` set: scored by the official
    per-item score; with ``judge_answers``: by those (UEG); GEU with ``text``: by the reply's letter; UEG with
    neither: an image not judged yet."""

    file: str  # the result file's name
    label: str  # "index 12 (world_knowledge)"
    record: AnyInstance
    raw: dict
    mode: Mode
    status: Status
    error: str | None = None
    text: str | None = None  # GEU: the reply; UEG stepwise: the refined prompt
    image: Path | None = None  # the generated (UEG) or edited (GEU stepwise) image file, when found here
    judge_answers: list[str | None] | None = None  # UEG: one reply per polling question (None: never asked)
    score: int | None = None  # the official per-item score, when it decides
    note: str | None = None  # judged or answered, but the image it names is not here
    image_failed: bool = False  # a failed run because the image it names is not here or unreadable (see error)

    @property
    def judge_replies(self) -> list[list[str]]:
        """``judge_answers`` as ``judge.polling_judgment`` takes them: each question's replies, none for a
        question never asked."""
        return [[] if a is None else [a] for a in self.judge_answers or []]


@dataclass
class ResultFiles:
    entries: list[ResultEntry] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the files read
    skipped: list[str] = field(default_factory=list)  # files whose entries carry instance fields only


def read_result_files(files: list[Path], problems: list[Problem], *, scoring_only: bool = False) -> ResultFiles:
    """Every entry of ``files`` (result files, ``result_files.result_kind``) under the rule above; each
    problem (an unreadable file, a bad field, an instance twice in a file) is appended to ``problems`` by file,
    entry and field, and its entry left out. ``scoring_only``: an entry needs only what the official scorers
    read (``validation.parse_entry``), as third-party runners write slimmed files; for a reader that takes no
    instance from the entries (``score-official``; ``import-results`` with a dataset, whose instances it
    stores). ``import-results`` without one stores the entries' own instances, so reads them in full."""
    out = ResultFiles()
    for file in files:
        kind = STEMS[file.stem][1]
        parsed = parse_result_file(file, problems, scoring_only=scoring_only)
        if parsed and not any(has_results(raw, record.track) for raw, record, _ in parsed):
            out.skipped.append(file.name)
            continue
        if parsed:
            out.files.append(file.name)
        for raw, record, label in parsed:
            entry = _entry(file, OFFICIAL_MODES[kind], raw, record, label, problems)
            if entry is not None:
                out.entries.append(entry)
    return out


def has_results(raw: dict, track: Track) -> bool:
    """Whether an entry says anything about a run: a field a run writes (``RUN_FIELDS``: a result field, an
    ``error``, the ``model``), a judge_answer, or a field no instance carries (``unread_fields``). A runner that wrote every image as ``output_image`` wrote results the
    official scorers cannot read (their ``process_one`` scores each 0, printing the ``KeyError``), not an
    instance file: its entries count as failed runs, and ``failure_notes`` names the fields."""
    return (any(k in raw for k in RUN_FIELDS) or bool(unread_fields(raw, track)) or any(
        isinstance(q, dict) and JUDGE_FIELD in q for q in raw.get("question_list") or []))


def unread_fields(raw: dict, track: Track) -> list[str]:
    """The fields of an entry that are neither an instance's (the official ones, ``validation.UEG_FIELDS`` /
    ``GEU_FIELDS``, and this project's ``OWN_INSTANCE_FIELDS``) nor a result's (``RUN_FIELDS``, a polling
    question's ``judge_answer``), in the order written: ``output_image``, ``question_list[].judgement``."""
    known = (UEG_FIELDS if track == "UEG" else GEU_FIELDS) | OWN_INSTANCE_FIELDS | set(RUN_FIELDS)
    found = [k for k in raw if k not in known]
    questions = raw.get("question_list") if track == "UEG" else None
    for item in questions if isinstance(questions, list) else []:
        for k in item if isinstance(item, dict) else []:
            name = f"question_list[].{k}"
            if k not in POLLING_FIELDS and k != JUDGE_FIELD and name not in found:
                found.append(name)
    return found


def result_fields_shown() -> str:
    """The result fields this reader looks for, as every message that lists them writes them (the one home of
    the list): ``RESULT_FIELDS`` and each polling question's ``judge_answer``."""
    return ", ".join(RESULT_FIELDS + (f"question_list[].{JUDGE_FIELD}",))


# What a file of instance fields only should carry where it holds runs that wrote nothing (``skipped_note``).
FAILED_HINT = ('if it holds runs that wrote no result, mark each failed run with "status": "error" (scored 0, '
               "as the official scorers score a run with no image or reply)")


def skipped_note(file: str) -> str:
    """Why ``file`` (one of ``ResultFiles.skipped``, a name or a path) was not read: what its entries carry,
    and what was looked for."""
    return (f"{file}: skipped: its entries carry instance fields only, none of the result fields "
            f"({result_fields_shown()}), nor error or model: an instance file, not results, and none of it is "
            f"scored; {FAILED_HINT}")


def no_results(place: str, skipped: list[str]) -> str:
    """The refusal of a command that found no entry carrying results at ``place`` (a folder or file): the
    result fields looked for, and each file ``skipped`` with why (as ``skipped_note`` says it), so the files
    read are named, not only their folder."""
    said = f"{place}: no entry carries results ({result_fields_shown()})"
    if not skipped:
        return said
    return (f"{said}; every file was skipped as an instance file, its entries carrying instance fields only: "
            f"{', '.join(skipped)}; {FAILED_HINT}")


def reply_from_score(score: int, answer: str | None) -> str:
    """A GEU ``response`` that the official ``eval_understanding.py`` scores as ``score`` (1 or 0), for a run
    whose reply is not kept (imported from a per-item score): the expected letter ``answer`` for 1, "" for 0
    (its ``extract_characters_regex`` reads no letter in "", and calls ``.strip()`` on the response, so null
    fails the whole file). The entry says so with ``FROM_SCORE_FIELD``, and this reader then scores it by its
    ``score``, never taking the letter for the model's reply. An ``answer`` that is no letter gives "" (the
    official scorer can match no reply to it)."""
    return answer if score == 1 and isinstance(answer, str) and answer else ""


def _replies_score(record: AnyInstance, answers: list[str | None]) -> int | None:
    """The score a UEG entry's ``judge_answer`` replies give its polling questions (``judge.polling_judgment``),
    or None when they leave it undecided or do not match its questions."""
    from realunify_arena.judge import polling_judgment  # judge loads the adapters; only this check needs it

    questions = getattr(record, "question_list", [])
    if len(questions) != len(answers):
        return None
    return polling_judgment(questions, [[] if a is None else [a] for a in answers], "judge_answer").score


def item_score(value: object) -> int | None:
    """The official per-item ``score`` as 1 or 0, or None when it is neither. The official summary counts an
    item right when ``score == 1``, so ``true`` and ``1.0`` are 1 and ``false`` and ``0.0`` are 0; NaN, text
    and anything else are no score."""
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return int(value)
    return None


_ABSENT = object()


def _entry(path: Path, mode: Mode, raw: dict, record: AnyInstance, label: str,
           problems: list[Problem]) -> ResultEntry | None:
    file, found = path.name, []

    def bad(field_name: str, message: str) -> None:
        found.append(Problem(file, label, field_name, message))

    geu = isinstance(record, GEUInstance)
    status = raw.get("status", Status.OK.value)
    if not isinstance(status, str) or status not in {s.value for s in Status}:
        bad("status", f"expected ok, not_supported or error, got {brief(status)}")
    text_field = "model_response" if geu and "response" not in raw and "model_response" in raw else "response"
    text = _text(raw, text_field, bad) if geu or mode == "stepwise" else _ABSENT
    image_field = "edit_image" if geu else "generated_image"
    image = _image(raw, image_field, bad) if not geu or mode == "stepwise" else _ABSENT
    answers = None
    if not geu:
        answers = [item.get(JUDGE_FIELD) for item in raw.get("question_list") or []]
        if all(a is None for a in answers):
            answers = None
        else:
            for i, a in enumerate(answers):
                if a is not None and not isinstance(a, str):
                    bad(f"question_list[{i}].judge_answer", f"expected the judge's reply as a string, "
                                                            f"got {describe(a)}")
    if found:
        problems.extend(found)
        return None
    secrets = secret_values()  # read once per entry: every text it keeps is masked as eval masks a reply
    if isinstance(text, str):
        text = redact(text, secrets)
    if answers is not None:
        answers = [a if a is None else redact(a, secrets) for a in answers]
    entry = ResultEntry(file, label, record, raw, mode, Status(status),
                        text=text if isinstance(text, str) else None)
    located = find_result_image(image, path.parent) if isinstance(image, str) and image.strip() else None
    entry.image = located
    if entry.status is not Status.OK:
        given = raw.get("error")
        entry.error = redact(given, secrets) if isinstance(given, str) else f"the run did not finish (status {status} in {file})"
        return entry
    from_score = geu and raw.get(FROM_SCORE_FIELD) is True  # the response is the score, written as a letter
    if from_score and "score" not in raw:  # the mark says the response stands for a score the entry lacks
        problems.append(Problem(file, label, FROM_SCORE_FIELD, f"true, but the entry has no score: the response "
                                f"{brief(text)} stands for a per-item score, and its letter is no reply of the "
                                f"model's; add the score, or remove {FROM_SCORE_FIELD} to score the response"))
        return None
    no_reply = text is None or text is _ABSENT or from_score
    decided_by_score = "score" in raw and (no_reply if geu else answers is None)
    if decided_by_score:
        entry.score = item_score(raw["score"])
        if entry.score is None:
            problems.append(Problem(file, label, "score", f"expected 0 or 1 (the official per-item score), "
                                                          f"got {_score_shown(raw['score'])}"))
            return None
        written = reply_from_score(entry.score, record.answer) if from_score else None
        if from_score and text != written:  # a real reply marked as written from the score
            problems.append(Problem(file, label, FROM_SCORE_FIELD, f"true, but response {brief(text)} is not what "
                                    f"score {entry.score} is written as ({written!r}): the official "
                                    "eval_understanding.py scores the response, so which decides is unclear; "
                                    f"remove {FROM_SCORE_FIELD} to score the response"))
            return None
        if from_score:
            entry.text = None  # no reply of the model's: what the export wrote to carry the score
        return entry
    if geu:
        if entry.text is None:
            said = _none_said(raw, text_field) if text is None else f"missing{_found_instead(raw, record.track)}"
            return _failed(entry, f"no answer ({text_field} is {said} in {file})")
        if mode == "stepwise" and located is None:
            entry.note = _not_here(image_field, image, path.parent, "the reply is scored without it", raw)
        return entry
    no_image = image is None or image is _ABSENT or (isinstance(image, str) and not image.strip())
    if no_image and answers is not None and "score" in raw:  # judged on an image not kept (as export writes it)
        if raw["score"] is not None and item_score(raw["score"]) is None:
            problems.append(Problem(file, label, "score", f"expected 0, 1 or null (the per-item score of its "
                                                          f"judge_answer replies), got {_score_shown(raw['score'])}"))
            return None
        given = item_score(raw["score"])
        replied = _replies_score(record, answers)
        if replied != given:  # the replies would decide otherwise than the score the entry carries
            problems.append(Problem(file, label, "score", f"{brief(raw['score'])}, but its judge_answer replies give "
                                    f"{'no verdict' if replied is None else replied} and {image_field} is empty "
                                    "(the official process_one scores it 0, its summary counts the score): "
                                    "which decides is unclear"))
            return None
        entry.judge_answers = answers
        entry.note = (f"{image_field} is {_said(image, raw, record.track, image_field)}: judged by its judge_answer "
                      "replies (the entry carries its per-item score)")
        return entry
    if image is _ABSENT and answers is not None:  # judged without the image named here: the replies decide
        entry.judge_answers = answers
        entry.note = _not_here(image_field, image, path.parent, "judged by its judge_answer replies", raw,
                               record.track)
        return entry
    if no_image:
        if image is _ABSENT:
            return _failed(entry, f"no generated image ({image_field} missing{_found_instead(raw, record.track)} "
                                  f"in {file}, and no judge_answer)")
        said = _said(image, raw, record.track, image_field)
        return _failed(entry, f"no generated image ({image_field} is {said} in {file})")
    entry.judge_answers = answers
    if located is None:
        if answers is not None:
            entry.note = _not_here(image_field, image, path.parent, "judged by its judge_answer replies")
            return entry
        entry.image_failed = True
        return _failed(entry, f"no generated image: {_not_here(image_field, image, path.parent, 'not judged')}")
    if answers is None:  # nothing but the image decides: one the official scorer cannot open scores 0
        unreadable = image_problem(located)
        if unreadable is not None:
            entry.image, entry.image_failed = None, True
            return _failed(entry, f"no usable generated image: {image_field} {_shown(image)}: {unreadable}; "
                                  "not judged")
    return entry


NOTED_FAILURES = 3  # failed entries named per file in ``failure_notes``


def failure_notes(entries: list[ResultEntry]) -> list[str]:
    """Per file, the entries this rule counts as failed runs (0, in "run err") though the file did not say
    their run failed (no ``"status": "error"``): how many, and the first ``NOTED_FAILURES`` with why ("no answer
    (response missing ...)"). A file whose replies or images sit under a field the official scorers do not
    read (``output_image``, ``answer_text``) scores 0 there too, but their ``process_one`` prints the
    ``KeyError`` that names the field; a table of zeros must say as much."""
    found: dict[str, list[ResultEntry]] = {}
    for entry in entries:
        if entry.status is Status.ERROR and entry.raw.get("status", Status.OK.value) != Status.ERROR.value:
            found.setdefault(entry.file, []).append(entry)
    lines = []
    for file, failed in found.items():
        shown = "; ".join(f"{e.label}: {e.error}" for e in failed[:NOTED_FAILURES])
        more = f"; and {len(failed) - NOTED_FAILURES} more" if len(failed) > NOTED_FAILURES else ""
        lines.append(f"{file}: {len(failed)} of {sum(e.file == file for e in entries)} entries count as failed "
                     f"runs (scored 0, in run err) ({shown}{more}){_unread(failed)}")
    return lines


def unseen_image_notes(entries: list[ResultEntry]) -> list[str]:
    """Per file, the entries scored without the image they name (``ResultEntry.note``: judged by their
    ``judge_answer`` replies, or a stepwise GEU reply scored without its edit, the image not here, unreadable or
    not named): how many, and the first ``NOTED_FAILURES`` with why. The official ``eval_generation.py`` would
    judge again, and score 0 an image it cannot find (``os.path.exists``); these are scored by the replies the
    file carries, so a reader comparing with its numbers must be told which."""
    return noted_per_file([e for e in entries if e.status is Status.OK and e.note], "scored without the image named")


def noted_per_file(noted: list, what: str) -> list[str]:
    """Per file, one line on the ``noted`` entries (each with ``file``, ``label`` and ``note``):
    ``"{file}: {n} entries {what} ({label}: {note}; ...; and N more)"``, the first ``NOTED_FAILURES`` shown."""
    found: dict[str, list] = {}
    for entry in noted:
        found.setdefault(entry.file, []).append(entry)
    lines = []
    for file, some in found.items():
        shown = "; ".join(f"{e.label}: {e.note}" for e in some[:NOTED_FAILURES])
        more = f"; and {len(some) - NOTED_FAILURES} more" if len(some) > NOTED_FAILURES else ""
        lines.append(f"{file}: {counted(len(some), 'entry')} {what} ({shown}{more})")
    return lines


def mode_disagreement_notes(entries: list[ResultEntry]) -> list[str]:
    """Per step file, its entries whose instance disagrees with the direct file's entry of the same (task_type,
    index) (``loaders._disagreement``: GEU question, option or answer, UEG prompt or polling questions; image
    paths and a prompt recovered from ``new_prompt`` aside), naming the field (an answer with both letters). Each
    file is still scored against its own fields, as the official scorers score each file alone, but such an
    instance's Δ compares two different items (a file of another release of the data); ``import-results``
    refuses them. Entries without an index are matched to nothing."""
    from types import SimpleNamespace

    from realunify_arena.benchmark.loaders import _disagreement, _shared_fields

    direct = {(e.record.task_type, e.record.index): e for e in entries
              if e.mode == "direct" and e.record.index is not None}
    noted: dict[tuple[str, str], list] = {}  # (step file, direct file) -> its disagreeing entries
    for entry in entries:
        other = direct.get((entry.record.task_type, entry.record.index)) if entry.mode == "stepwise" else None
        if other is None:
            continue
        skip = {"input_image"} | ({"prompt"} if entry.raw.get("prompt") is None else set())
        name = _disagreement(other.record, entry.record, skip=skip)
        if name is not None:
            here, there = (_shared_fields(r)[name] for r in (entry.record, other.record))
            note = f"{name} {brief(here)} here, {brief(there)} there" if name == "answer" else f"{name} not the same"
            noted.setdefault((entry.file, other.file), []).append(SimpleNamespace(file=entry.file, label=entry.label,
                                                                                  note=note))
    return [line + "; each file is scored against its own, as the official scorers score each file alone, so the Δ "
            "of such an instance compares two different items"
            for (_, other), some in noted.items()
            for line in noted_per_file(some, f"{'disagrees' if len(some) == 1 else 'disagree'} with {other} on the "
                                             "instance of the same (task_type, index)")]


# The fields each file's scoring reads, per track and mode (``unread_notes`` names them beside the fields found).
READ_FIELDS: dict[tuple[Track, Mode], str] = {
    ("UEG", "direct"): f"generated_image, question_list[].{JUDGE_FIELD}, score",
    ("UEG", "stepwise"): f"response (the refined prompt), generated_image, question_list[].{JUDGE_FIELD}, score",
    ("GEU", "direct"): "response (or model_response), score",
    ("GEU", "stepwise"): "edit_image, response (or model_response), score",
}


def unread_notes(entries: list[ResultEntry]) -> list[str]:
    """Per file, the entries scored all the same (not counted failed by this rule, which ``failure_notes``
    names) that carry fields no scorer reads (``unread_fields``: ``edited_image`` where ``edit_image`` is read,
    ``refined_prompt`` where ``response`` is): the fields with how many entries carry each, the first
    ``NOTED_FAILURES`` entries, and the fields read (``READ_FIELDS``), so what a runner wrote under another name
    never vanishes unsaid."""
    found: dict[str, list[ResultEntry]] = {}
    for entry in entries:
        failed = entry.status is Status.ERROR and entry.raw.get("status", Status.OK.value) != Status.ERROR.value
        if not failed and unread_fields(entry.raw, entry.record.track):
            found.setdefault(entry.file, []).append(entry)
    lines = []
    for file, noted in found.items():
        counts: Counter = Counter()
        for entry in noted:
            counts.update(unread_fields(entry.raw, entry.record.track))
        fields = ", ".join(f"{name} ({counted(n, 'entry')})" for name, n in counts.items())
        shown = ", ".join(e.label for e in noted[:NOTED_FAILURES])
        more = f" and {len(noted) - NOTED_FAILURES} more" if len(noted) > NOTED_FAILURES else ""
        lines.append(f"{file}: fields found that no scorer reads: {fields} (in {shown}{more}); scored from "
                     f"{READ_FIELDS[noted[0].record.track, noted[0].mode]} only")
    return lines


def _unread(failed: list[ResultEntry]) -> str:
    """The fields the failed entries carry that no scorer reads, with how many carry each, and the field the
    result is expected under: "" when they carry none."""
    counts: Counter = Counter()
    for entry in failed:
        counts.update(unread_fields(entry.raw, entry.record.track))
    if not counts:
        return ""
    found = ", ".join(f"{name} ({counted(n, 'entry')})" for name, n in counts.items())
    return (f"; fields found that no scorer reads: {found}; the result is expected under "
            f"{EXPECTED_RESULT[failed[0].record.track]}")


def image_problem(path: Path) -> str | None:
    """Why the image file at ``path`` cannot be used (``images.open_checked``: missing, unreadable, not an
    image, corrupt or truncated, over the pixel limit), or None when it decodes. Decodes the whole image."""
    try:
        open_checked(path).close()
    except ImageError as e:
        return str(e).removeprefix(f"{path}: ")
    return None


def model_disagreements(entries: list[ResultEntry], model: str) -> dict[str, list[ResultEntry]]:
    """Per file, the entries whose own ``model`` field (as some runners write it) names another model than
    ``model``: a string other than ``model``, ignoring case and a hub owner (``deepseek-ai/Janus-Pro-1B`` is
    ``janus-pro-1b``), or a value that is no name at all. Entries without the field (or with null) are
    not compared."""
    out: dict[str, list[ResultEntry]] = {}
    for entry in entries:
        if not same_model(entry.raw.get(MODEL_FIELD), model):
            out.setdefault(entry.file, []).append(entry)
    return out


def models_named(found: list[ResultEntry]) -> str:
    """The ``model`` fields of ``found``, each with how many entries name it: ``'someone-else' (2), ...``."""
    names = Counter(brief(entry.raw.get(MODEL_FIELD)) for entry in found)
    return ", ".join(f"{name} ({n})" for name, n in names.most_common())


def same_model(named: object, model: str) -> bool:
    """Whether an entry's ``model`` field (``named``; None, or an empty or blank string: not stated) names
    ``model``: ignoring case, and what comes before the last ``/`` or ``\\`` (a hub owner, or the folder of
    a checkpoint path as runners write it, POSIX or Windows, with or without a trailing separator)."""
    if named is None:
        return True
    if not isinstance(named, str):
        return False
    named = named.strip().rstrip("/\\").casefold()
    return not named or model.casefold() in (named, re.split(r"[/\\]", named)[-1])


def _failed(entry: ResultEntry, error: str) -> ResultEntry:
    """``entry`` as a failed run, ``error`` saying why; the ``error`` the runner wrote, if any, follows (masked)."""
    given = entry.raw.get("error")
    if isinstance(given, str) and given.strip():
        error = f"{error}; its error: {brief(redact(given, secret_values()))}"
    entry.status, entry.error = Status.ERROR, error
    return entry


def _not_here(name: str, value: object, folder: Path, outcome: str, raw: dict | None = None,
              track: Track = "GEU") -> str:
    if value is _ABSENT:
        return f"{name} missing{_found_instead(raw or {}, track)}; {outcome}"
    shown = _shown(value)
    if isinstance(value, str) and climbs_out(value):
        return f"{name} {shown} climbs above {folder} by '..' (a result file never reads outside it); {outcome}"
    if not isinstance(value, str) or not value.strip():  # null, "", or no path at all: nothing to look for
        said = (_none_said(raw or {}, name) if value is None else "empty" if isinstance(value, str) else
                f"{shown}, not a path")
        return f"{name} is {said}; {outcome}"
    return f"{name} {shown}{why_not_found(value, folder)}; {outcome}"


def _said(image: object, raw: dict, track: Track, name: str | None = None) -> str:
    """How an image field (``name``: generated_image or edit_image, for an empty list) that names no image was
    written: null, empty, an empty list, or missing (with the fields found in its place)."""
    if image is _ABSENT:
        return f"missing{_found_instead(raw, track)}"
    return _none_said(raw, name) if image is None else "empty"


def _none_said(raw: dict, name: str | None) -> str:
    """How a field ``_text`` or ``_image`` read as None was written: "an empty list" (a runner that keeps replies
    or images as lists, one of them empty) or "null"."""
    return "an empty list" if name is not None and raw.get(name) == [] else "null"


def _found_instead(raw: dict, track: Track) -> str:
    """Where a result field is missing: the entry's fields that no scorer reads (``unread_fields``), which
    may hold what it lacks (``output_image`` for ``generated_image``, ``edited_image`` for ``edit_image``), as
    " (found output_image, which no scorer reads)"; "" when it carries none."""
    found = unread_fields(raw, track)
    if not found:
        return ""
    return f" (found {', '.join(found)}, which no scorer reads)"


def _score_shown(value: object) -> str:
    """A ``score`` that is no 0 or 1 as a message shows it: ``nan``, ``'1'``, or for an integer too long to read
    (``validation.OversizedInteger``) its length, not a run of digits posing as text."""
    return describe(value) if isinstance(value, OversizedInteger) else brief(value)


def _shown(value: object) -> str:
    return value if isinstance(value, str) and len(value) <= 120 and value.isprintable() else brief(value)


def _text(raw: dict, name: str, bad):
    """The text field: a string, None (null), or _ABSENT; a list counts by its first element."""
    if name not in raw:
        return _ABSENT
    value = raw[name]
    if isinstance(value, list):
        value = value[0] if value else None
    if value is not None and not isinstance(value, str):
        bad(name, f"expected a string (or a list whose first element is one), got {describe(value)}")
        return None
    return value


def _image(raw: dict, name: str, bad):
    """The image field as written: a path string, "" / None (no image), or _ABSENT; a list counts by its last
    element (as SenseNova-U1 writes it and its scorer reads it)."""
    if name not in raw:
        return _ABSENT
    value = raw[name]
    if isinstance(value, list):
        value = value[-1] if value else None
    if value is not None and not isinstance(value, str):
        bad(name, f"expected an image path (a string), got {describe(value)}")
        return None
    return value
