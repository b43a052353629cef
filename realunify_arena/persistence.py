"""Keeping the store across Space restarts: push snapshots to a dataset repo, restore them on boot.

A Space's disk is wiped on restart. When ``REALUNIFY_DATASET_REPO`` names a dataset repo, a
``CommitScheduler`` pushes a consistent snapshot of the database (never the live file, which may be
mid-write and has a WAL beside it) plus the content-addressed images every few minutes, and a fresh
Space restores them before opening the store. Without that variable nothing leaves the machine.

Two replicas may push to one repo (a rebuilt Space starts while the old container still takes votes and
pushes at exit). Each push therefore first merges the repo's snapshot into the live store when the repo has
moved on since this replica restored or last pushed (``evaluation.merge``: its runs, images, judgments,
battles, votes, run starts and replaced runs' records the store lacks), then pushes with ``parent_commit``: a
push that loses the race to the other replica is refused by the Hub, and merges again before it retries, so
neither replica's votes are pushed over. A store that, merged, holds nothing the repo's snapshot lacks
(``store.rows_missing``; a row the repo holds otherwise, such as a battle voted otherwise on each replica, is
nothing new) uploads nothing: two replicas holding the same votes do not push their whole databases back and
forth. Nor does a replica's first push after a restore whose store is unchanged.

The generated voter salt is removed from snapshots, so the pushed copy cannot be used to test guessed
IPs against the voter hashes; set ``REALUNIFY_VOTER_SALT`` as a Space secret to keep voter ids stable
across restarts.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from huggingface_hub import CommitOperationAdd, CommitScheduler, HfApi
from huggingface_hub.errors import HTTPError  # the Hub client's errors; a refused connection is not an OSError
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.utils import filter_repo_objects

from realunify_arena import durable
from realunify_arena.arena import SALT_ENV, SALT_META_KEY
from realunify_arena.settings import SettingsError, out_of_range
from realunify_arena.shown import brief, error_line
from realunify_arena.space_config import is_repo_id
from realunify_arena.store import SQLITE_HEADER, Store, StoreError, left_behind, rows_missing

REPO_ENV = "REALUNIFY_DATASET_REPO"
EVERY_ENV = "REALUNIFY_PUSH_MINUTES"
SNAPSHOT = "snapshot.sqlite"  # file name beside the database and in the repo
PATTERNS = [SNAPSHOT, "images/*/*.png"]
MAX_PUSH_MINUTES = 7 * 24 * 60  # a week; longer (or inf) would leave every vote of a restart unpushed
MERGE_DIR = ".repo-merge"  # beside the database: the repo's snapshot (and the images it needs) while merged
PUSH_TRIES = 3  # pushes per scheduled push: each one refused because another replica pushed first merges again

log = logging.getLogger(__name__)


class RestoreRefused(OSError):
    """``restore`` will not put the repo's snapshot in place: it is no sound SQLite database, or another
    database's journal is left where it would go. The repo was read fine (no network or token advice)."""


def snapshot(store: Store, out_path: Path) -> bool:
    """Write a consistent, salt-free copy of the database to ``out_path``; False if it is unchanged
    (the file is then left untouched, so the scheduler does not upload it again).

    Raises:
        OSError, sqlite3.Error: the copy could not be made (a full disk); ``out_path`` is as it was and no
            partial copy is left.
    """
    tmp = store.backup(out_path.with_name(out_path.name + ".new"))
    try:
        Store.scrub_meta(tmp, (SALT_META_KEY,))
        if out_path.exists() and _sha256(out_path) == _sha256(tmp):
            tmp.unlink()
            return False
        durable.replace(tmp, out_path)  # the push that follows reads a snapshot that survives a crash
    except BaseException:  # a full disk: no database-sized leftover beside the store
        tmp.unlink(missing_ok=True)
        raise
    return True


class SnapshotScheduler(CommitScheduler):
    """A CommitScheduler that merges the repo's newer snapshot in, then refreshes the database snapshot, just
    before each push.

    ``in_repo`` lists files that came from the repo (a restore), so they are not pushed back. ``seen``: the
    repo commit whose snapshot the store holds all of (the one restored); None when that is not known (a
    database that was already on disk, a repo without a snapshot), so the first push merges whatever the repo
    holds.
    """

    def __init__(self, store: Store, in_repo: list[Path] = (), seen: str | None = None, **kwargs):
        self.store = store
        self._in_repo = {p.resolve(): p.stat().st_mtime for p in in_repo}
        self._seen = seen
        self._conflicts = Conflicts()  # what the last merge found held otherwise here: warned about when it grows
        super().__init__(folder_path=store.path.parent, allow_patterns=PATTERNS, **kwargs)

    def push_to_hub(self):
        """One push (scheduled, or the last one at exit): the repo's newer snapshot merged in
        (``merge_from_repo``), a fresh snapshot, then the upload with ``parent_commit`` (tried again, after
        another merge, when another replica pushed in between). A failure (the Hub unreachable or refusing, the
        snapshot not written on a full disk) is logged as one line, here rather than by the scheduler's
        ``_push_to_hub`` (which logged it too, then re-raised: "Exception ignored in atexit callback" and a
        traceback as the Space stopped), and the next push tries again."""
        try:
            return self._push()
        except (OSError, HTTPError, sqlite3.Error, StoreError) as e:  # the Hub refused or is unreachable; a full disk
            log.error("%s=%s: the votes since the last push are only in %s until a push succeeds (%s)",
                      REPO_ENV, self.repo_id, self.store.path, error_line(e))
            return None

    def _push(self):
        snapshot_path = self.folder_path / SNAPSHOT
        for attempt in range(1, PUSH_TRIES + 1):
            with self.lock:
                restored = snapshot_path.resolve() in self._in_repo  # the file beside the store is the repo's, at seen
                self.last_uploaded.update(self._in_repo)
                self._in_repo = {}
                head = self.api.repo_info(self.repo_id, repo_type=self.repo_type, revision=self.revision).sha
                if head != self._seen:  # another replica pushed since: its votes come in before ours go up
                    merged = merge_from_repo(self.store, self.repo_id, self.api, head, snapshot_path,
                                             known=self._conflicts)
                    self._conflicts = merged.conflicts or self._conflicts  # None: nothing merged, nothing learnt
                    for image in merged.images:
                        self.last_uploaded[image.resolve()] = image.stat().st_mtime  # in the repo already
                    if merged.holds_all:  # ours adds nothing to the repo's: uploaded once the store changes
                        self.last_uploaded[snapshot_path] = snapshot_path.stat().st_mtime
                    else:  # the repo's snapshot is theirs: ours goes up
                        self.last_uploaded.pop(snapshot_path, None)
                elif restored and snapshot_path.exists():  # a fresh snapshot's bytes differ, its rows need not
                    held = snapshot_path.with_name(SNAPSHOT + ".repo")  # PATTERNS never name it: not pushed
                    try:
                        os.replace(snapshot_path, held)
                        if repo_holds_all(self.store, snapshot_path, held):
                            self.last_uploaded[snapshot_path] = snapshot_path.stat().st_mtime
                    finally:
                        held.unlink(missing_ok=True)
                snapshot(self.store, snapshot_path)
                files = self._changed_files()
            if not files:
                self._seen = head
                return None
            operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path, _ in files]
            try:
                info = self.api.create_commit(repo_id=self.repo_id, repo_type=self.repo_type, operations=operations,
                                              commit_message="Scheduled Commit", revision=self.revision,
                                              parent_commit=head)
            except HTTPError:  # the Hub refuses a stale parent_commit: another replica pushed in between
                if attempt < PUSH_TRIES and self.api.repo_info(self.repo_id, repo_type=self.repo_type,
                                                               revision=self.revision).sha != head:
                    continue
                raise
            with self.lock:
                self.last_uploaded.update((path, mtime) for _, path, mtime in files)
            self._seen = info.oid
            return info
        return None  # not reached: the last try returns or raises

    def _changed_files(self) -> list[tuple[str, Path, float]]:
        """(path in the repo, local path, modification time) of each file ``PATTERNS`` names that changed since
        it was last pushed (the scheduler's ``last_uploaded``), in name order."""
        found = {path.relative_to(self.folder_path).as_posix(): path
                 for path in sorted(self.folder_path.glob("**/*")) if path.is_file()}
        changed = []
        for rel in filter_repo_objects(found, allow_patterns=self.allow_patterns,
                                       ignore_patterns=self.ignore_patterns):
            mtime = found[rel].stat().st_mtime
            if self.last_uploaded.get(found[rel]) != mtime:
                changed.append((rel, found[rel], mtime))
        return changed


class Conflicts(NamedTuple):
    """What a merge found the store holding otherwise than the repo's snapshot, each kept as the store holds it
    (``evaluation.MergeCounts``' counts of the same names)."""

    votes_differing: int = 0  # battles voted otherwise (or another battle under the id)
    differing: int = 0  # run keys run to other outputs
    judgments_differing: int = 0  # runs a judge judged otherwise


class Merged(NamedTuple):
    """What ``merge_from_repo`` did."""

    images: list[Path]  # the store's image files that came from the repo (in the repo already: not pushed back)
    holds_all: bool = False  # the repo's snapshot holds every row of the store's fresh snapshot: no upload needed
    conflicts: Conflicts | None = None  # held otherwise here, the store's kept; None when nothing was merged


def merge_from_repo(store: Store, repo_id: str, api: HfApi, revision: str, snapshot_path: Path | None = None,
                    known: Conflicts = Conflicts()) -> Merged:
    """Merge dataset ``repo_id``'s snapshot at commit ``revision`` into ``store`` (``evaluation.merge``: the
    runs with their images, judgments, battles, votes, run starts and replaced runs' records the store lacks;
    merging again adds nothing), and log one line saying what came in. Only the images the store lacks are
    downloaded, into ``MERGE_DIR`` beside the database, which is removed afterwards. Returns ``Merged``: the store's image files that came
    from the repo (none when the repo holds no snapshot or it could not be merged) and, with ``snapshot_path``,
    whether the repo's snapshot already holds all of the store: a fresh ``snapshot`` of the merged store is
    written there and compared with the repo's (``store.rows_missing``). Without that check two replicas
    running at once each uploaded their whole database at every push, nothing new in either. A row the repo holds
    otherwise (a battle voted otherwise, a run key run to another output), where the store keeps its own, is
    nothing new: the store's stays here, the repo's there. The log line is a warning when something came in or
    was refused, or when the store holds more rows otherwise than ``known`` (the last merge's ``conflicts``): a
    conflict is warned about once, not at each merge.

    A snapshot that cannot be merged (no sound database, runs of another dataset under one name, an image it
    names missing from the repo) is logged as one line naming the commit that keeps it, and nothing is
    returned: the push goes on, as the store's own votes must leave the machine; the repo keeps that
    snapshot in its history, to ``merge`` by hand.

    Raises:
        OSError, huggingface_hub.errors.HTTPError: the repo could not be read (the push waits for the next
            try rather than push over votes it never saw).
    """
    from realunify_arena.evaluation import merge

    folder = store.path.parent / MERGE_DIR
    shutil.rmtree(folder, ignore_errors=True)
    try:
        if not api.get_paths_info(repo_id, [SNAPSHOT], repo_type="dataset", revision=revision):
            return Merged([])  # a repo no replica has pushed to yet
        path = Path(api.hf_hub_download(repo_id, SNAPSHOT, repo_type="dataset", revision=revision, local_dir=folder))
        problem = _snapshot_problem(path)
        if problem:
            return _not_merged(repo_id, revision, f"{SNAPSHOT} there is {problem}")
        try:
            source = Store.open(path, journal_mode="delete")
        except (StoreError, sqlite3.Error) as e:
            return _not_merged(repo_id, revision, error_line(e))
        try:
            fetched = [store.image_path(sha) for sha in _images_lacking(source, store)]
            for image in fetched:
                rel = image.relative_to(store.path.parent).as_posix()
                try:
                    api.hf_hub_download(repo_id, rel, repo_type="dataset", revision=revision, local_dir=folder)
                except RemoteEntryNotFoundError:
                    return _not_merged(repo_id, revision, f"{rel}, an image its snapshot names, is not in the repo")
            try:
                done = merge(source, store)
            except (ValueError, OSError, sqlite3.Error) as e:  # DatasetConflict, StoreError: a one-line message
                return _not_merged(repo_id, revision, error_line(e))
        finally:
            source.close()
        # taken after the merge: a vote cast meanwhile is in it, and counts
        holds_all = snapshot_path is not None and repo_holds_all(store, snapshot_path, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    came_in = done.votes or done.battles or done.runs or done.judgments or done.run_starts or done.archived
    refused = (f"; {done.battles_refused} battles and {done.judgments_refused} human judgments not copied, breaking"
               f" the arena's rules (the first: {error_line(done.first_refused)})"
               ) if done.battles_refused or done.judgments_refused else ""
    conflicts = Conflicts(*(getattr(done, name) for name in Conflicts._fields))
    kept = ("; {} battles voted otherwise here, {} runs with other outputs here and {} runs judged otherwise here"
            " kept as this store holds them (the repo keeps its own)".format(*conflicts)
            ) if any(now > before for now, before in zip(conflicts, known)) else ""  # once, not at each merge
    (log.warning if came_in or kept or refused else log.info)(
        "%s=%s: merged the repo's snapshot at %s into %s before pushing (another replica pushed it): %d votes,"
        " %d battles, %d runs, %d judgments, %d run starts, %d replaced runs' records came in%s%s", REPO_ENV,
        repo_id, revision[:12], store.path, done.votes, done.battles, done.runs, done.judgments, done.run_starts,
        done.archived, kept, refused)
    return Merged([image for image in fetched if image.exists()], holds_all, conflicts)


def repo_holds_all(store: Store, snapshot_path: Path, repo_snapshot: Path) -> bool:
    """Write a fresh ``snapshot`` of ``store`` to ``snapshot_path``; whether the repo's snapshot (a downloaded
    copy at ``repo_snapshot``) holds all of it (``store.rows_missing``): then nothing needs uploading. False when
    they could not be compared (pushed, as before the check).

    Raises:
        OSError, sqlite3.Error: the snapshot could not be written (``snapshot``).
    """
    snapshot(store, snapshot_path)
    try:
        return not rows_missing(snapshot_path, repo_snapshot)
    except sqlite3.Error:
        return False


def _not_merged(repo_id: str, revision: str, why: str) -> Merged:
    log.error("%s=%s: the repo's snapshot at commit %s was not merged before pushing (%s); what it holds that this"
              " store lacks stays only in the repo's history at that commit: download it from there and add it with"
              " `python -m realunify_arena merge`", REPO_ENV, repo_id, revision, why)
    return Merged([])


def _images_lacking(source: Store, target: Store) -> list[str]:
    """The image ids that ``source``'s runs show and ``target`` does not hold, sorted."""
    lacking = set()
    for row in source.runs():
        for step in source.load_trace(row["id"]).steps:
            if step.image_sha and not target.image_path(step.image_sha).exists():
                lacking.add(step.image_sha)
    return sorted(lacking)


def restore(db_path: Path, repo_id: str, api: HfApi, revision: str | None = None) -> bool:
    """Fill an empty data folder from the dataset repo. A database already there (the same disk after a
    restart, or an attached volume) wins. Errors other than a missing repo propagate: booting empty and then pushing would overwrite
    the votes kept in the repo. The database is put in place whole (``durable.write_file``): a restore cut
    short (a full disk, a crash) leaves none, so the next boot restores again. A snapshot that is no sound
    SQLite database (an upload cut short) is checked before and never put in place. ``revision``: the repo
    commit to restore (``SnapshotScheduler``'s ``seen``); its newest when None.

    Raises:
        RestoreRefused: the repo's snapshot is no sound database (the message says how to revert it), or a
            journal of another database is left at ``db_path`` (``store.left_behind``); nothing was written.
        OSError: the download, or the copy into place, failed; ``db_path`` was not created.
    """
    if db_path.exists():
        return False
    problem = left_behind(db_path)
    if problem:  # SQLite would replay another database's log into the restored snapshot
        raise RestoreRefused(f"{problem} (restoring the dataset repo's snapshot there would mix the two)")
    if not api.repo_exists(repo_id, repo_type="dataset"):
        log.info("dataset %s does not exist yet; starting with an empty store", repo_id)
        return False
    folder = db_path.parent
    api.snapshot_download(repo_id, repo_type="dataset", revision=revision, local_dir=folder, allow_patterns=PATTERNS)
    if not (folder / SNAPSHOT).exists():
        log.info("dataset %s holds no snapshot yet; starting with an empty store", repo_id)
        return False
    problem = _snapshot_problem(folder / SNAPSHOT)
    if problem:  # put in place, it would stop every boot as a damaged local file, restored again each time
        (folder / SNAPSHOT).unlink(missing_ok=True)
        raise RestoreRefused(f"{SNAPSHOT} in the dataset repo is {problem}; nothing was restored: revert {SNAPSHOT} in"
                      f" {repo_id} to an earlier commit (the Hub keeps every pushed snapshot in the repo's history)")
    with open(folder / SNAPSHOT, "rb") as src:  # all or nothing: a half-copied file would win the next boot
        durable.write_file(db_path, lambda f: shutil.copyfileobj(src, f))
    log.info("restored %s from dataset %s", db_path, repo_id)
    return True


def _snapshot_problem(path: Path) -> str | None:
    """What makes the downloaded snapshot at ``path`` no sound database ("not an SQLite database", "damaged
    (...)"), or None. Read without writing to it (SQLite's ``immutable`` URI: no journal, no lock file)."""
    with open(path, "rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return "not an SQLite database (its first bytes are not the SQLite header)"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
        finally:
            conn.close()
    except sqlite3.Error as e:  # a file cut short: "database disk image is malformed"
        problems = [str(e)]
    if problems != ["ok"]:
        return f"damaged ({'; '.join(' '.join(p.split()) for p in problems)})"
    return None


def open_store(db_path: str | Path, env: Mapping[str, str] = os.environ,
               api: HfApi | None = None, *, journal_mode: str = "wal") -> tuple[Store, SnapshotScheduler | None]:
    """The app's store: restored from and pushed to the dataset repo named in ``env`` if any.

    The repo is created private if it does not exist; the token comes from ``HF_TOKEN``.

    Raises:
        SettingsError: a bad ``REALUNIFY_DATASET_REPO`` or ``REALUNIFY_PUSH_MINUTES`` (``repo_settings``), a
            database named as the snapshot (``SNAPSHOT``, or its temporary ``.new``, or a link to such a file
            beside it), or a repo set with no token (``HF_TOKEN`` unset, no login, or ``api`` made with
            ``token=False``); nothing was created.
        OSError: the repo could not be read or created; the message starts ``REALUNIFY_DATASET_REPO=<id>:``
            and no store was opened.
        StoreError: the database cannot be used (``Store.open``).
    """
    db_path = Path(db_path)
    synced = repo_settings(env)
    if synced is None:
        return Store.open(db_path, journal_mode=journal_mode), None
    repo_id, every = synced
    real = Path(os.path.realpath(db_path))  # a link: the file it names is the one written (SQLite, durable.replace)
    if db_path.name in (SNAPSHOT, SNAPSHOT + ".new") or real in (
            Path(os.path.realpath(db_path.parent / name)) for name in (SNAPSHOT, SNAPSHOT + ".new")):
        linked = "" if real.name == db_path.name else f" (a link to {real})"
        # each push would write its snapshot over the live file
        raise SettingsError(f"{REPO_ENV}={repo_id} is set and the database is {db_path}{linked}: each push writes"
                            f" {SNAPSHOT} (through {SNAPSHOT}.new) beside the database, which would replace it;"
                            " give the database file itself another name (REALUNIFY_DB=data/arena.db); nothing was started")
    api = api or HfApi()
    if not _token(api):  # else a private repo reads as missing, and the Hub's 401 names no setting
        raise SettingsError(f"{REPO_ENV}={repo_id} is set but no Hugging Face token was found: expected an"
                            " HF_TOKEN secret (a token with write access to that dataset repo) to keep the votes"
                            " there; nothing was started")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        head = None if db_path.exists() else _head(repo_id, api)
        restored = restore(db_path, repo_id, api, revision=head)
    except RestoreRefused as e:  # the repo id, token and network are not what to check
        raise OSError(f"{REPO_ENV}={repo_id}: {e}; nothing was started") from None
    except (OSError, HTTPError) as e:  # the repo could not be read: starting empty would later push over the votes
        raise OSError(f"{REPO_ENV}={repo_id}: restoring the store from this dataset repo failed ({error_line(e)});"
                      " nothing was started; check the repo id, the HF_TOKEN secret and the network") from None
    try:
        writable(repo_id, api)
    except (OSError, HTTPError) as e:  # a read token: every push would fail, and the votes die with the Space
        raise OSError(f"{REPO_ENV}={repo_id}: the dataset repo could not be created or written ({error_line(e)});"
                      " nothing was started; check the HF_TOKEN secret (it needs write access) and the network"
                      ) from None
    store = Store.open(db_path, journal_mode=journal_mode)
    in_repo = [db_path.parent / SNAPSHOT, *sorted(store.images_dir.glob("*/*.png"))] if restored else []
    try:
        scheduler = SnapshotScheduler(store, in_repo=in_repo, seen=head if restored else None, repo_id=repo_id,
                                      repo_type="dataset", private=True, every=every, hf_api=api)
    except (OSError, HTTPError) as e:  # creating the repo failed (no token, no write access): votes would never leave
        store.close()
        raise OSError(f"{REPO_ENV}={repo_id}: the dataset repo could not be created or reached ({error_line(e)});"
                      " check the HF_TOKEN secret (it needs write access) and the network") from None
    return store, scheduler


def _head(repo_id: str, api: HfApi) -> str | None:
    """The newest commit of dataset ``repo_id``, or None when the repo does not exist.

    Raises:
        OSError, huggingface_hub.errors.HTTPError: the Hub refused otherwise or could not be reached.
    """
    try:
        return api.repo_info(repo_id, repo_type="dataset").sha
    except RepositoryNotFoundError:
        return None


def writable(repo_id: str, api: HfApi) -> None:
    """Make sure the token (``HF_TOKEN``) can push to dataset ``repo_id``: the repo is created private when it
    does not exist, then the Hub's own write check is asked (``HfApi.auth_check(write=True)``).

    ``create_repo(exist_ok=True)`` alone passes a read-only token when the repo exists, and every push after
    it failed in the background: the app ran, and its votes were lost at the next restart.

    Raises:
        OSError, huggingface_hub.errors.HTTPError: the Hub refused (no token, a read-only token, no access to
            the namespace) or could not be reached.
    """
    api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    api.auth_check(repo_id, repo_type="dataset", write=True)


def _token(api: HfApi) -> str | None:
    """The token ``api`` sends: its own, else ``HF_TOKEN`` or a login's (``huggingface_hub.get_token``); None
    when there is none (``token=False`` turns it off)."""
    from huggingface_hub import get_token

    if api.token is False:
        return None
    return api.token or get_token() or None




def repo_settings(env: Mapping[str, str] = os.environ) -> tuple[str, float] | None:
    """The dataset repo and the push interval in minutes from ``env``; None when no repo is set.

    Raises:
        SettingsError: ``REALUNIFY_DATASET_REPO`` is not ``owner/name`` by the Hub's naming rule,
            ``REALUNIFY_PUSH_MINUTES`` is not a number above 0 and at most ``MAX_PUSH_MINUTES``, or it is set
            without a repo; one line naming each variable that is wrong, what was expected and the value given.
    """
    repo_id = env.get(REPO_ENV, "").strip()
    if not repo_id:
        if env.get(EVERY_ENV, "").strip():  # set alone, it suggests the votes are kept when nothing is pushed
            raise SettingsError(f"{EVERY_ENV} is set but {REPO_ENV} is not: expected a dataset repo id like"
                                f" user/name in {REPO_ENV} to push the votes to, or neither variable")
        return None
    problems = []  # both variables wrong: both named at once, not one per restart of the Space
    if not is_repo_id(repo_id, owner_required=True):
        problems.append(f"{REPO_ENV}: expected a dataset repo id like user/name, got {brief(repo_id)} (each"
                        " part: letters, digits, '-', '_' or '.')")
    raw = env.get(EVERY_ENV, "5").strip()
    try:
        every = float(raw)
    except ValueError:
        every = math.nan
    if not 0 < every <= MAX_PUSH_MINUTES:  # also refuses nan and inf
        problems.append(str(out_of_range(EVERY_ENV, raw, f"a number of minutes above 0 and at most"
                                                         f" {MAX_PUSH_MINUTES}")))
    if problems:
        raise SettingsError("; ".join(problems))
    return repo_id, every


def unstable_voters(env: Mapping[str, str] = os.environ) -> str | None:
    """Why voter ids would change at each restart of a Space that keeps its votes in a dataset repo: a repo
    is set in ``env`` (``repo_settings``, already checked) and ``REALUNIFY_VOTER_SALT`` is not, so the salt is
    generated and kept only in the live database (snapshots leave it out), and each restored Space hashes every
    visitor anew. None when no repo is set or a salt is."""
    if not env.get(REPO_ENV, "").strip() or env.get(SALT_ENV, ""):
        return None
    return (f"{REPO_ENV} is set but {SALT_ENV} is not: the voter salt is generated here and never pushed, so after"
            " each restart every visitor is a new voter (rate limits, one voter's votes and verdicts, two replicas"
            f" telling one visitor apart); set {SALT_ENV} as a Space secret, a random text of at least 16"
            " characters")


def _sha256(path: Path) -> str:
    """The SHA-256 of ``path``, read in chunks: a database snapshot may be gigabytes, and one read whole (twice
    each push: the last snapshot and the new one) held it all in memory."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
