"""One dataset name, one set of instances: the rule every writer of runs applies before storing any.

Runs are stored under a dataset *name* (``Dataset.name``: a folder's or file's name, or ``--data``'s), and a
store remembers the first place instances of that name were loaded from (``Store.dataset_source``): the app,
``report`` and ``export`` read the instances there. Another place of the same name (two models'
``results/`` folders, say) whose instances differ would have its runs stored as answers to the remembered
instances under the same uids: battles and reports would show an image under another instance's prompt.

``eval``, ``import-results``, ``merge`` and the app's Explore runs all call ``conflicts`` (and store nothing
when it names a problem) and then ``remember_source``. A remembered source that is gone (moved) cannot be
checked and is not. The name itself must be one line of text (``name_problem``): it comes from a folder's or
file's name, which whoever published the folder chose, and every table, page and export shows it. This module
imports only ``benchmark`` and ``shown``, so every writer can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from realunify_arena.benchmark import load
from realunify_arena.benchmark.loaders import Dataset, _disagreement, _merge_step_fields
from realunify_arena.benchmark.result_files import STEMS, parse_result_file, result_files_in
from realunify_arena.benchmark.schema import AnyInstance
from realunify_arena.benchmark.validation import Problem
from realunify_arena.shown import brief, one_line_fault, unshown_character

DATASET_NAME_MAX = 255  # characters: a folder's or file's name (NAME_MAX, 255 bytes on common file systems)


class Claim(NamedTuple):
    """One instance a writer is about to store runs for: where it was read (``file``, ``entry``, as a
    ``Problem`` names them), the instance, and fields not to compare (ones the source did not state)."""

    file: str
    entry: str | None
    instance: AnyInstance
    skip: frozenset[str] = frozenset()


class DatasetConflict(ValueError):
    """Runs refused by ``conflicts``' rule before anything was stored; ``problems`` names each instance."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def conflicts(store, name: str, root: Path | str | None, claims: Iterable[Claim]) -> list[Problem]:
    """The claims that do not answer the instances ``store`` already keeps under dataset ``name``.

    Args:
        store: a ``Store`` (only ``dataset_source`` is read).
        name: the dataset name the runs would be stored under.
        root: where the claims' instances were loaded from (a folder or file); the same place
            as the remembered one is never a conflict. None: a place of its own (checked).
        claims: the instances to be stored, each named by file and entry for the message.

    Returns:
        ``name_problem``'s one problem when ``name`` is no name to store runs under (then nothing else is
        checked). Else one ``Problem`` per claim whose uid is not an instance of the remembered source (field
        ``index``; where part of that source cannot be read now, the message says so and names its first problem
        instead of calling the instance foreign) or whose fields differ from it (the first such field;
        ``input_image`` is never compared, result files hold none). Empty when nothing is remembered, the
        source is this one, or it is gone.
    """
    refused = name_problem(name, root)
    if refused is not None:
        return [refused]
    location = store.dataset_source(name)
    if location is None or _same_place(location, root):
        return []
    unread: list[Problem] = []
    kept = instances_at(location, name, unread)
    if kept is None:
        return []
    problems = []
    for claim in claims:
        uid = claim.instance.uid
        field = _differing(kept, claim)
        if field == "index" and unread:  # perhaps one of the entries that cannot be read there now
            problems.append(Problem(claim.file, claim.entry, "index", (
                f"instance {uid} cannot be checked against dataset {name!r}: its runs in this store answer the "
                f"instances at {location}, which cannot all be read now ({len(unread)} problem(s), first: "
                f"{unread[0]}); repair that place, or use a folder of another name (the dataset is named after "
                "it)")))
        elif field:
            problems.append(_problem(claim, field, name, f"its runs in this store answer the instances at {location}"))
    return problems


RENAME = "rename the folder or file it is named after (or give the instances' source with --data)"


def name_fault(name: str) -> str | None:
    """What is wrong with ``name`` as a dataset's name (``"empty"``, or ``shown.one_line_fault``'s words: too long,
    white space around it, a line break or other character no table shows on one line), or None."""
    return one_line_fault(name, DATASET_NAME_MAX, "dataset") if name.strip() else "empty"


def dataset_name_problem(name: str) -> str | None:
    """``"<name, shortened>: <name_fault>; expected one line of 1 to 255 characters"``, or None: for a command that
    refuses a name before anything else, saying itself where the name came from and what to do."""
    fault = name_fault(name)
    return f"{brief(name)}: {fault}; expected one line of 1 to {DATASET_NAME_MAX} characters" if fault else None


def name_problem(name: str, root: Path | str | None = None, advice: str = RENAME) -> Problem | None:
    """Why runs cannot be stored under dataset ``name`` (read from ``root``), or None: it must be one line of 1 to
    ``DATASET_NAME_MAX`` characters with no white space around it and no control or invisible character
    (``shown.one_line_fault``), as a judge name or a battle id from outside must. A folder named with a line
    break or a right-to-left override (U+202E) was stored as such and shown reordered in every table and page.
    ``advice``: what to do, as the problem ends."""
    fault = name_fault(name)
    if fault is None:
        return None
    where = str(root) if root is not None else name
    return Problem(ascii(where) if unshown_character(where) else where, None, None, (  # the problem on one line
        f"dataset name {name!r}: {fault}; runs are stored, listed and shown under it, which needs one line of 1 to "
        f"{DATASET_NAME_MAX} characters with nothing invisible in it: {advice}"))


def _differing(kept: dict[str, AnyInstance], claim: Claim) -> str | None:
    """The field in which ``claim``'s instance differs from the one ``kept`` holds under its uid ("index":
    none there; input images and ``claim.skip`` not compared), or None when they agree."""
    uid = claim.instance.uid
    return "index" if uid not in kept else _disagreement(kept[uid], claim.instance,
                                                         skip={"input_image"} | set(claim.skip))


def _problem(claim: Claim, field: str, name: str, held: str) -> Problem:
    uid = claim.instance.uid
    what = f"instance {uid} is not in" if field == "index" else f"disagrees with instance {uid} of"
    return Problem(claim.file, claim.entry, field, (
        f"{what} dataset {name!r}: {held}; these "
        "answer other instances under the same name; use a folder of another name (the dataset is "
        "named after it), or --data naming the instances they answer"))


def dataset_claims(dataset: Dataset, instances: Iterable[AnyInstance] | None = None) -> list[Claim]:
    """``instances`` (default: all) of a loaded dataset as claims, each named by the dataset's place."""
    place = str(dataset.root) if dataset.root is not None else dataset.name
    return [Claim(place, f"instance {i.uid}", i) for i in (dataset.instances if instances is None else instances)]


def check_dataset(store, dataset: Dataset, instances: Iterable[AnyInstance] | None = None) -> None:
    """``conflicts`` for runs of ``dataset``'s ``instances`` (default: all).

    Raises:
        DatasetConflict: every problem found; nothing was stored.
    """
    problems = conflicts(store, dataset.name, _place(dataset), dataset_claims(dataset, instances))
    if problems:
        raise DatasetConflict(problems)


def other_source_conflicts(first: Dataset, second: Dataset) -> list[Problem]:
    """``conflicts`` between two loaded datasets of one name (two configured sources): ``second``'s
    instances that ``first`` does not hold with the same fields (input images are not compared)."""
    kept = {i.uid: i for i in first.instances}
    place = first.root if first.root is not None else first.name
    problems = []
    for claim in dataset_claims(second):
        field = _differing(kept, claim)
        if field:
            problems.append(_problem(claim, field, second.name, f"the data source {place} configured before it "
                                                                "holds under that name"))
    return problems


def store_conflicts(source, target) -> list[Problem]:
    """``conflicts`` for merging store ``source`` into ``target``: for each dataset name of ``source``'s runs
    that ``target`` remembers at another place, the instances those runs answer (as ``source``'s remembered
    place states them; one that is unknown or gone cannot be checked), each named by that place and uid; and a
    dataset name that is no name to store runs under (``name_problem``: one an older version stored), wherever
    its instances are."""
    problems = []
    for name in sorted({row["dataset"] for row in source.runs()}):
        location = source.dataset_source(name)
        refused = name_problem(name, f"{source.path}: dataset from {location}" if location else source.path,
                               "this store cannot take its runs; evaluate or import them again from a folder so "
                               "renamed")
        if refused is not None:
            problems.append(refused)
            continue
        stated = instances_at(location, name) if location is not None else None
        if stated is None:
            continue
        uids = sorted({row["instance_uid"] for row in source.runs(dataset=name)})
        claims = [Claim(f"{source.path}: dataset {name!r} from {location}", f"instance {uid}", stated[uid])
                  for uid in uids if uid in stated]
        problems += conflicts(target, name, location, claims)
    return problems


def remember_source(store, dataset: Dataset) -> None:
    """Note where the dataset's files are, so an export can reload the instances its runs answered (the
    first place noted is kept: ``Store.remember_dataset_source``)."""
    if dataset.root is not None:
        store.remember_dataset_source(dataset.name, str(dataset.root.resolve()))


def _place(dataset: Dataset) -> Path | None:
    return dataset.root.resolve() if dataset.root is not None else None


def _same_place(location: str, root: Path | str | None) -> bool:
    return root is not None and Path(location) == Path(root).resolve()


def instances_at(location: str, name: str,
                  problems: list[Problem] | None = None) -> dict[str, AnyInstance] | None:
    """uid -> instance of a remembered source as its files state them (None: it is gone): a folder of
    result files (``.json`` or ``.jsonl``; it holds no input images, which the loader would want), direct
    entries first, else what ``benchmark.load`` reads. What cannot be read there is appended to
    ``problems``."""
    problems = [] if problems is None else problems
    path = Path(location)
    if not path.exists():
        return None
    files = result_files_in(path, problems) if path.is_dir() else []
    if not files:
        loaded = load(path, name=name)
        problems.extend(loaded.problems)
        return {i.uid: i for i in loaded.instances}
    out: dict[str, AnyInstance] = {}
    for file in sorted(files, key=lambda f: STEMS[f.stem][1] != "direct"):
        for _, record, _ in parse_result_file(file, problems):
            if record.uid in out:
                _merge_step_fields(out[record.uid], record)
            else:
                out[record.uid] = record
    return out
