"""Battles and votes that can be trusted.

The server issues each battle an unguessable id bound to the session that received it and remembers
which systems sit on A and B; the browser only ever holds the id. A vote is accepted once, from that
session, after both outputs were delivered, and within the voter's rate limit. Every refusal raises
``VoteRefused`` from inside the write transaction, so a refused vote writes nothing; an accepted one is
returned only after it is committed.

A write that raised ``StoreError`` (its commit could not be confirmed on disk) may still be in the database.
Retrying it is safe: the same vote again (same battle, voter and choice) is answered with the vote already
stored, found in the store itself, so a retry that reaches another app process, or comes after a restart, is
accepted the same way (idempotently: nothing new is written, the vote id is the stored one). A different vote
on the battle is refused with "already has a vote". Either answer is given only once the store has made the
stored vote durable (``Store.durable_found``), so it never names a vote a power cut could still take away.
A session's next battle start after a failed one gets the battle that start recorded; that failed start is
remembered in this process only (a retry reaching another process starts a second battle, which the battle
limit counts).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import random
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Literal

from realunify_arena.settings import PROXY_HEADERS, Settings
from realunify_arena.shown import brief
from realunify_arena.store import (
    NotFound,
    Store,
    StoreError,
    now,
    rate_key,
    rate_limit_message,
    split_uid,
    timestamp_problem,
    window_start,
)
from realunify_arena.systems import MODES, System

Side = Literal["A", "B"]
Choice = Literal["A", "B", "tie", "both_bad"]
Kind = Literal["model_vs_model", "direct_vs_stepwise"]

CHOICES: tuple[str, ...] = ("A", "B", "tie", "both_bad")
KINDS: tuple[str, ...] = ("model_vs_model", "direct_vs_stepwise")
# Each choice as FastChat's arena exports write it (its ``winner`` field), so its rating scripts read our votes.
WINNER: dict[str, str] = {"A": "model_a", "B": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
KIND_LABELS: dict[str, str] = {"model_vs_model": "two models, same mode",
                               "direct_vs_stepwise": "one model: direct vs stepwise"}  # as pages show them
SALT_ENV = "REALUNIFY_VOTER_SALT"
SALT_META_KEY = "voter_salt"  # where a generated salt is kept when the environment gives none
# the shortest $REALUNIFY_VOTER_SALT the app takes: the salt keys the hashes of voters' addresses, and there are
# only 2^32 IPv4 addresses, so a guessable salt ("x", "pepper") lets anyone holding an export of votes recover
# each anonymous voter's address; 16 characters is also past the redaction's shortest masked secret
MIN_SALT_CHARS = 16


class SaltError(ValueError):
    """``$REALUNIFY_VOTER_SALT`` is set but too short to key voter hashes; the message names the variable and
    the length wanted, never the value."""


def env_salt(env: Mapping[str, str] | None = None) -> str | None:
    """``$REALUNIFY_VOTER_SALT`` from ``env`` (default ``os.environ``), or None when unset or empty (the store's
    own random salt is used then). The one place a salt is taken from the environment: the app's start,
    ``Arena`` (the page's votes) and ``export votes`` all go through it.

    Raises:
        SaltError: set but under ``MIN_SALT_CHARS`` characters (the value is never quoted).
    """
    salt = (os.environ if env is None else env).get(SALT_ENV, "")
    if salt and len(salt) < MIN_SALT_CHARS:
        raise SaltError(f"{SALT_ENV}: {len(salt)} character(s); expected a random secret of at least {MIN_SALT_CHARS}"
                        " (as `python -c \"import secrets; print(secrets.token_hex(32))\"` prints), or unset it to let"
                        " the app keep its own in the database")
    return salt or None


def salt_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why ``$REALUNIFY_VOTER_SALT`` in ``env`` (default ``os.environ``) cannot key voter hashes
    (``env_salt``'s refusal), or None. The value is never quoted."""
    try:
        env_salt(env)
    except SaltError as e:
        return str(e)
    return None

_BATTLE_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")  # new_battle_id(); older stores: secrets.token_urlsafe(24)


class BattleError(Exception):
    """A battle request the arena will not serve; the message is safe to show the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class VoteRefused(BattleError):
    """A vote that was not recorded; nothing was written."""


class RunRefused(BattleError):
    """A new model run refused by the visitor's run limit (``Arena.admit_runs``); nothing was run or written."""


def parse_system(system: str) -> System:
    """``System.parse``, refusing with a ``BattleError`` (a message safe to show)."""
    try:
        return System.parse(system)
    except ValueError as e:
        raise BattleError(str(e)) from None


def client_address(headers: Mapping[str, str], peer: str | None, trusted_proxies: int = 0,
                   header: str = PROXY_HEADERS[0]) -> str:
    """The visitor's address, as far as ``trusted_proxies`` proxy hops in front of the app can vouch.

    The hops are the entries of ``header`` (every such header line, in order) followed by ``peer``, the
    socket peer. ``header`` is one of ``PROXY_HEADERS``: ``"x-forwarded-for"`` (each comma-separated entry
    one hop) or RFC 7239's ``"forwarded"`` (each comma-separated element one hop, its ``for=`` parameter the
    address: ``forwarded_hops``); the other header is never read, since with proxies that append to one a
    client writes the other unchecked. Each trusted proxy appends the address it received the request from,
    so the visitor is ``trusted_proxies`` hops left of the peer: with 0 the peer itself (an app reached
    directly; the header, which any client can write, is ignored), with 1 the right-most forwarded entry (one
    proxy, as on a Hugging Face Space), and so on. Entries further left were written by the client and are
    never used. A chain shorter than that (a request that bypassed the proxies) gives its left-most hop.
    ``UNDISCLOSED`` ("unknown") when there is no peer and no header at all (a call from inside the process),
    or when the hop is a ``Forwarded`` element without ``for=``, a line that breaks its grammar, or any hop left
    of such a line (it may hold several proxies' elements, each appended to the last line: what stands left of it
    may be a line the client wrote, RFC 9110 section 5.3 making all lines one list).

    Raises:
        ValueError: ``trusted_proxies`` below 0, or ``header`` not one of ``PROXY_HEADERS``.

    The address is normalised (``_address_key``): a port or IPv6 zone is dropped; an IPv6 address that
    carries one IPv4 host's address is that IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``; 6to4
    ``2002:V4ADDR::/48``, RFC 3056 section 2, the whole /48 of one IPv4 address; Teredo ``2001:0::/32``,
    RFC 4380 section 4, whose last 32 bits are the client's IPv4 address inverted and whose server, flag and
    port bits the client can vary); any other IPv6 address counts by its /64 network, the smallest block a
    subscriber is given (RFC 6177), inside which a visitor can pick any source address.
    """
    if trusted_proxies < 0:
        raise ValueError(f"trusted_proxies: expected 0 or more, got {trusted_proxies}")
    if header not in PROXY_HEADERS:
        raise ValueError(f"header: expected one of {', '.join(PROXY_HEADERS)}, got {header!r}")
    lines = [str(value) for key, value in headers.items() if key.lower() == header] if trusted_proxies else []
    broken = -1  # the right-most hop that stands for a whole line breaking the Forwarded grammar
    forwarded: list[str] = []
    for line in lines:
        if header == "forwarded":
            line_hops = _forwarded_line(line)
            if line_hops is None:
                broken, line_hops = len(forwarded), [UNDISCLOSED]
            forwarded += [hop for hop in line_hops if hop]  # an empty for="" is passed over, as before
        else:
            forwarded += [entry for entry in (part.strip() for part in line.split(",")) if entry]
    hops = forwarded + ([peer] if peer else [])
    if not hops:
        return UNDISCLOSED
    at = max(0, len(hops) - 1 - trusted_proxies)
    # a broken line may hold any number of the proxies' elements (each appends to the last line), so a hop left
    # of it is not known to be a proxy's: it may be a line the client wrote before (RFC 9110 section 5.3: the
    # lines are one list, and that list breaks the grammar as a whole)
    return UNDISCLOSED if at <= broken else _address_key(hops[at])


# RFC 7239 section 4: forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] ), forwarded-pair = token
# "=" value, value = token / quoted-string (RFC 7230 section 3.2.6); elements separated by "," with optional space
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*")
_BLANK = re.compile(r"[ \t]*")
UNDISCLOSED = "unknown"  # RFC 7239 section 6.2: a hop whose address is not disclosed or cannot be read


def forwarded_hops(line: str) -> list[str]:
    """The ``for=`` address of each element of one RFC 7239 ``Forwarded`` header line, left to right, with
    ``UNDISCLOSED`` for an element without one (section 5.2: a proxy may leave it out) and quotes and
    backslash escapes removed (``for="[2001:db8::17]:4711"`` gives ``[2001:db8::17]:4711``). Empty list
    elements (``a, , b``) are skipped, as RFC 9110 section 5.6.1 asks of a recipient. A line that does not
    follow the grammar (section 4), e.g. a client's unterminated quote that swallowed what a proxy appended
    to the same line, gives one ``UNDISCLOSED`` hop: no address it holds can be told from the client's writing.

    Source: RFC 7239, "Forwarded HTTP Extension", sections 4-6 (https://www.rfc-editor.org/rfc/rfc7239).
    """
    hops = _forwarded_line(line)
    return [UNDISCLOSED] if hops is None else hops


def _forwarded_line(line: str) -> list[str] | None:
    """``forwarded_hops`` of ``line``, None for a line that breaks the grammar."""
    hops: list[str] = []
    at = 0
    while True:
        element: dict[str, str] = {}
        empty = True
        while True:
            pair = _PAIR.match(line, at)
            if pair is not None:
                value = pair.group(2)
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                element.setdefault(pair.group(1).lower(), value)
                at, empty = pair.end(), False
            else:
                at = _BLANK.match(line, at).end()
            if at < len(line) and line[at] == ";":
                at += 1
                continue
            break
        if not empty:
            hops.append(element.get("for", UNDISCLOSED))
        if at == len(line):
            return hops
        if line[at] != ",":
            return None
        at += 1


def _address_key(address: str) -> str:
    """One spelling per visitor: no port ("[v6]:p", "v4:p", a number or RFC 7239's obfuscated "_name") or zone
    ("%eth0"); IPv6 that carries an IPv4 host (IPv4-mapped, 6to4, Teredo: see ``client_address``) as that IPv4
    address, other IPv6 as its /64 network; something that is not an address is kept as written."""
    text = address.strip().strip('"')
    if bracketed := re.fullmatch(r"\[([^\]]+)\](?::(?:\d+|_[A-Za-z0-9._-]+))?", text):  # RFC 7239's obfport too
        text = bracketed.group(1)
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return address
    if ip.version == 6:
        host = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        return str(host) if host else str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def voter_id(profile_username: str | None, session_hash: str, headers: Mapping[str, str],
             *, salt: str | None = None, peer: str | None = None, trusted_proxies: int = 0,
             proxy_header: str = PROXY_HEADERS[0]) -> str:
    """Who is voting: the Hugging Face username when logged in, else salted hashes of the client's
    address (``client_address``: the socket ``peer`` unless ``trusted_proxies`` proxies vouch for a
    forwarded one) and of the session. The raw address never leaves this function. ``salt`` defaults to
    $REALUNIFY_VOTER_SALT; ``Arena.voter_id`` supplies the database's own salt when that is unset."""
    if profile_username:
        return f"hf:{profile_username}"
    salt = salt or env_salt()
    if not salt:
        raise ValueError(f"no voter salt: set ${SALT_ENV} or call Arena.voter_id")
    ip = client_address(headers, peer, trusted_proxies, proxy_header)
    return f"anon:{_keyed_hash(salt, 'ip', ip, 16)}:{_keyed_hash(salt, 'session', session_hash, 12)}"


def draw_pair(systems: Sequence[str], kind: Kind, rng: random.Random) -> tuple[str, str]:
    """Two systems for a battle, uniformly over the valid pairs, on randomly chosen sides: one model's
    two modes, or two models in the same mode."""
    if kind == "direct_vs_stepwise":
        offered = set(systems)
        models = sorted({parse_system(s).model for s in systems
                         if {str(System(parse_system(s).model, m)) for m in MODES} <= offered})
        if not models:
            raise BattleError("no model offers both direct and stepwise runs")
        model = rng.choice(models)
        pair = [str(System(model, m)) for m in MODES]
    elif kind == "model_vs_model":
        distinct = sorted(set(systems))
        pairs = [[a, b] for i, a in enumerate(distinct) for b in distinct[i + 1:]
                 if parse_system(a).mode == parse_system(b).mode]  # sorted: same mode means different models
        if not pairs:
            raise BattleError("a model-vs-model battle needs two models with runs in the same mode")
        pair = rng.choice(pairs)
    else:
        raise BattleError(f"battle kind {brief(kind)}: expected one of {', '.join(KINDS)}")
    rng.shuffle(pair)
    return pair[0], pair[1]


def new_battle_id() -> str:
    """An opaque battle id: 32 characters of ``[0-9a-zA-Z_-]``, the issue time in milliseconds as 12 hex
    digits, then 120 random bits (``secrets.token_urlsafe(15)``), so nobody can guess another battle's id.

    The time first makes ids of later battles sort after earlier ones, so the id index (and the votes'
    index on it) grow at their end: a fully random id would change a random page of each index per battle,
    several times the write-ahead log per vote, and as many more checkpoints (issue 18). The time is when
    the battle started: its visitor knows it; ``export votes``, which carries each vote's own time, shows it too
    (and with it how long a vote took), never who voted (``voter_hash``)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_urlsafe(15)}"


def _keyed_hash(salt: str, purpose: str, value: str, length: int) -> str:
    return hmac.new(salt.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()[:length]


def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Arena:
    """Issues battles, records deliveries and votes, in the store's database."""

    def __init__(self, store: Store, *, max_votes: int = Settings.vote_limit,
                 window_seconds: float = Settings.vote_window, trusted_proxies: int = 0,
                 proxy_header: str = Settings.proxy_header, max_battles: int = Settings.battle_limit,
                 battle_window_seconds: float = Settings.battle_window,
                 max_runs: int = Settings.run_limit, run_window_seconds: float = Settings.run_window):
        """The limits default to ``Settings``' (their one home; ``from_settings`` takes an app's own).

        Raises:
            SaltError: ``$REALUNIFY_VOTER_SALT`` is set but too short (``env_salt``).
        """
        self.store = store
        self.trusted_proxies = trusted_proxies  # proxy hops whose entries of proxy_header are believed
        self.proxy_header = proxy_header  # one of PROXY_HEADERS (``client_address``)
        self.max_votes = max_votes
        self.window_seconds = window_seconds
        # battles one voter (account, or address across sessions) may start per battle_window_seconds: each
        # start stores a row (and in live mode runs two models), so a script cannot fill the database
        self.max_battles = max_battles
        self.battle_window_seconds = battle_window_seconds
        # new model runs (Explore's Run, /run_instance) one voter may start per run_window_seconds: each runs a
        # model and stores a run, so a script cannot fill the database or hold the accelerator's queue
        self.max_runs = max_runs
        self.run_window_seconds = run_window_seconds
        # a short $REALUNIFY_VOTER_SALT raises SaltError here: no vote is hashed or exported with it
        self.salt = env_salt() or store.meta(SALT_META_KEY, lambda: secrets.token_hex(32))
        # writes answered with StoreError, which a retry completes instead of repeating (module docstring)
        self._failed_starts: dict[str, dict] = {}  # session key -> the battles row that start wrote
        # a live battle's run counts (monotonic time, run_starts ids), to give back if it is withdrawn; kept in
        # this process for one run window (then they no longer count), so a withdrawal elsewhere leaves them to
        # expire with their window
        self._battle_runs: dict[str, tuple[float, list[int]]] = {}

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> Arena:
        """The arena of an app run with ``settings``: its vote, battle and run limits and trusted proxy hops."""
        return cls(store, max_votes=settings.vote_limit, window_seconds=settings.vote_window,
                   trusted_proxies=settings.proxy_hops, proxy_header=settings.proxy_header,
                   max_battles=settings.battle_limit,
                   battle_window_seconds=settings.battle_window, max_runs=settings.run_limit,
                   run_window_seconds=settings.run_window)

    def voter_id(self, profile_username: str | None, session_hash: str, headers: Mapping[str, str],
                 peer: str | None = None) -> str:
        """``voter_id`` with this arena's salt and trusted proxy hops; ``peer`` is the socket peer's
        address (``request.client.host``)."""
        return voter_id(profile_username, session_hash, headers, salt=self.salt, peer=peer,
                        trusted_proxies=self.trusted_proxies, proxy_header=self.proxy_header)

    def voter_hash(self, voter: str) -> str:
        """A stable pseudonym for exports, one per person: the ``rate_key`` of ``voter`` (the account, or an
        anonymous visitor's address across sessions), as FastChat's ``judge`` is one id per IP
        (``clean_battle_data.py``), so its per-user steps (``--daily-vote-per-user``, ``outlier_detect``) see
        one visitor who reloaded the page as one; people stay distinguishable, usernames and addresses private."""
        return _keyed_hash(self.salt, "voter", rate_key(voter), 16)

    def new_battle(self, session_id: str, voter: str, instance_uid: str, dataset: str,
                   system_a: str, system_b: str, kind: Kind, *, runs: Mapping[Side, int] | None = None,
                   new_runs: int = 0) -> str:
        """Record a battle and return its opaque id, the only thing the browser receives.

        ``runs`` pins stored runs to sides up front (a battle drawn from stored runs): each must be a run
        of that side's system on the instance, and is still ``deliver``ed when shown. ``new_runs`` (0 to 2):
        the sides that will run a model now (a live battle's unpinned sides); they count against the voter's
        run limit like Explore's runs (``admit_runs``), checked and recorded with the battle in one
        operation, and are given back if the battle is withdrawn (``withdraw_battle``). After a start of
        this session that raised ``StoreError``, a start on the same dataset returns that battle instead
        (written again if it is missing), so a retry leaves one battle, not two.

        Raises ``BattleError`` for a request it will not serve, among them a new battle past the voter's
        battle limit (``max_battles`` per ``battle_window_seconds``, counted like the vote limit per
        ``rate_key``: "rate limit: at most 60 new battles per 60 s; please wait a little"), and ``RunRefused``
        (a ``BattleError``) past its run limit ("rate limit: at most 30 new runs per 60 s; …"); nothing is
        written then."""
        _require_session(session_id, BattleError)
        if new_runs > self.max_runs:  # no window would ever admit it: "please wait" would be untrue
            raise RunRefused(f"rate limit: a battle here runs {new_runs} models, more than the {self.max_runs} new"
                             f" runs one visitor may start per {self.run_window_seconds:g} s")
        if kind not in KINDS:
            raise BattleError(f"battle kind {brief(kind)}: expected one of {', '.join(KINDS)}")
        a, b = parse_system(system_a), parse_system(system_b)
        mismatch = pair_problem(kind, a, b)
        if mismatch:
            raise BattleError(mismatch)
        try:
            track, _ = split_uid(instance_uid)
        except ValueError as e:
            raise BattleError(str(e)) from None
        pinned = {side: run_id for side, run_id in (runs or {}).items() if run_id is not None}
        for side, run_id in pinned.items():
            if side not in ("A", "B"):
                raise BattleError(f"side {side!r}: expected 'A' or 'B'")
            _check_run(self.store, run_id, instance_uid, str({"A": a, "B": b}[side]), side)
        session_key = _session_key(session_id)
        row = self._failed_starts.pop(session_key, None)
        retry = row is not None and row["dataset"] == dataset
        if not retry:
            row = {"id": new_battle_id(), "session_key": session_key, "voter": voter,
                   "dataset": dataset, "instance_uid": instance_uid, "track": track, "kind": kind,
                   "system_a": str(a), "system_b": str(b), "run_a": pinned.get("A"), "run_b": pinned.get("B"),
                   "created_at": now()}

        def record(_db) -> list[int]:  # one group-committed operation: concurrent starts cannot all pass the limits
            counted: list[int] = []
            if not retry:  # a retry completes a start the limits already let through
                self._check_rate(voter, self.store.count_battles_since, self.max_battles,
                                 self.battle_window_seconds, "new battles", BattleError)
                if new_runs > 0:  # a live battle's models run like Explore's: the run limit counts them
                    since = self._check_rate(voter, self.store.count_run_starts_since, self.max_runs,
                                             self.run_window_seconds, "new runs", RunRefused, adding=new_runs)
                    counted = self.store.insert_run_starts(voter, new_runs, expired_before=since)
            self.store.insert_battle(row)  # the failed start's row, if it is there, is kept as it is
            return counted

        try:
            counted = self.store.apply(record)
        except StoreError:
            self._failed_starts[session_key] = row
            raise
        if counted:
            expired = time.monotonic() - self.run_window_seconds  # their window is over: nothing to give back
            for old in [b for b, (at, _) in self._battle_runs.items() if at < expired]:
                self._battle_runs.pop(old, None)
            self._battle_runs[row["id"]] = (time.monotonic(), counted)
        return row["id"]

    def withdraw_battle(self, battle_id: str, session_id: str) -> bool:
        """Take back a battle that never produced an output (refused by a full queue, stopped while it waited for
        the accelerator): its row is deleted, so its start no longer counts against the battle limit (nor its
        sides against the run limit, ``new_battle``'s ``new_runs``) and a vote on it is refused ("unknown battle id"). A battle with a side delivered or a vote, another session's, or a
        malformed id is left as it is (False). Raises ``StoreError`` when the delete could not be confirmed on
        disk."""
        if not isinstance(battle_id, str) or not _BATTLE_ID.match(battle_id) or not isinstance(session_id, str) \
                or not session_id:
            return False
        key = _session_key(session_id)

        counted_at, counts = self._battle_runs.get(battle_id, (0.0, []))
        if time.monotonic() - counted_at >= self.run_window_seconds:
            # their window is over: they count no more, and the rows may be gone (any start deletes expired
            # rows) and their ids taken by another visitor's new starts (SQLite reuses the largest rowids)
            counts = []

        def delete(_db) -> bool:  # the battle and the run counts it took, together
            deleted = self.store.delete_unplayed_battle(battle_id, key)
            if deleted:
                self.store.delete_run_starts(counts)
            return deleted

        withdrawn = self.store.apply(delete)
        if withdrawn:
            self._battle_runs.pop(battle_id, None)
        return withdrawn

    def admit_runs(self, voter: str, count: int = 1) -> list[int]:
        """Count ``count`` new model runs ``voter`` is about to start (a stored run served again is not one),
        or refuse them all: past ``max_runs`` per ``run_window_seconds``, counted per ``rate_key`` in the store
        (every app process counts the same starts), checked and recorded in one group-committed operation so
        concurrent calls cannot all pass. Returns the ``count`` counts (run_starts row ids; [] for 0): a run
        that then never starts (refused by a full queue, stopped while it waited) is ``release_runs``d.

        Raises:
            RunRefused: over the limit ("rate limit: at most 30 new runs per 60 s; please wait a little"),
                ``count`` above ``max_runs`` ("rate limit: this starts 2 new runs, more than the 1 one visitor
                may start per 60 s; ask for fewer at once"), or no voter identity; nothing is written then.
            StoreError: the count's write could not be confirmed on disk (``Store.apply``); no run may start.
        """
        if not isinstance(voter, str) or not voter:
            raise RunRefused("no visitor identity; reload the page")
        if count <= 0:
            return []
        if count > self.max_runs:  # no window would ever admit it: "please wait" would be untrue
            raise RunRefused(f"rate limit: this starts {count} new runs, more than the {self.max_runs} one visitor"
                             f" may start per {self.run_window_seconds:g} s; ask for fewer at once")

        def record(_db) -> None:
            since = self._check_rate(voter, self.store.count_run_starts_since, self.max_runs,
                                     self.run_window_seconds, "new runs", RunRefused, adding=count)
            return self.store.insert_run_starts(voter, count, expired_before=since)

        return self.store.apply(record)

    def release_runs(self, counts: Sequence[int]) -> None:
        """Give back ``admit_runs``' ``counts`` of runs that never started, so they no longer count against the
        visitor's run limit. Raises ``StoreError`` when the delete could not be confirmed on disk."""
        if counts:
            self.store.apply(lambda _db: self.store.delete_run_starts(counts))

    def deliver(self, battle_id: str, session_id: str, side: Side, run_id: int, *, flag: str | None = None) -> None:
        """Record that this side's output (a stored run of the right system and instance) was shown;
        ``flag`` says why that output gives its system away (the battle is flagged: its vote is kept
        but left out of the ratings)."""
        if side not in ("A", "B"):
            raise BattleError(f"side {side!r}: expected 'A' or 'B'")
        column = side.lower()
        _check_ids(battle_id, session_id, BattleError)

        def record(_db) -> None:  # one group-committed operation
            if not flag and self.store.deliver_battle_side_checked(battle_id, _session_key(session_id), side,
                                                                   run_id):
                return  # every check below held; otherwise they say which one failed
            battle = self._battle_for(battle_id, session_id, BattleError)
            if battle["voted"]:
                raise BattleError("this battle already has a vote; start a new one")
            _check_run(self.store, run_id, battle["instance_uid"], battle[f"system_{column}"], side)
            if battle[f"run_{column}"] not in (None, run_id):
                raise BattleError(f"side {side} was already delivered with run {battle[f'run_{column}']}")
            self.store.deliver_battle_side(battle_id, side, run_id)
            if flag:
                self.store.flag_battle(battle_id, f"side {side}: {flag}")

        self.store.apply(record)

    def vote(self, battle_id: str, session_id: str, voter: str, choice: Choice) -> dict:
        """Record the vote and reveal the systems; raises ``VoteRefused`` and writes nothing otherwise."""
        if choice not in CHOICES:
            raise VoteRefused(f"choice {brief(choice)}: expected one of {', '.join(CHOICES)}")
        if not isinstance(voter, str) or not voter:
            raise VoteRefused("no voter identity; reload the page")
        _check_ids(battle_id, session_id, VoteRefused)

        def record(_db) -> tuple[dict, int, str]:  # one group-committed operation
            battle = self._battle_for(battle_id, session_id, VoteRefused)
            if battle["voted"]:
                stored = self.store.battle_vote(battle_id)
                found.append(stored)
                if (stored["voter"], stored["choice"]) == (voter, choice):
                    return battle, stored["id"], stored["created_at"]  # a retry of that vote: this one
                raise VoteRefused("this battle already has a vote; each battle takes one vote")
            undelivered = [s for s in ("A", "B") if battle[f"delivered_{s.lower()}_at"] is None]
            if undelivered:
                raise VoteRefused(f"{_sides(undelivered)} not been shown: still running, or it failed; a battle"
                                  " takes a vote once both outputs are on screen (after a failed side, start a new"
                                  " battle)")
            self._check_rate(voter, self.store.count_votes_since, self.max_votes, self.window_seconds, "votes",
                             VoteRefused)
            return (battle, *self.store.insert_vote(battle_id, voter, choice))

        found: list[dict] = []  # the vote already stored, when that is why this one is refused
        try:
            battle, vote_id, created_at = self.store.apply(record)  # returns once a new vote is durable
        except VoteRefused:
            if found:  # "already has a vote" only once that vote is on disk: it may be a failed write of
                self.store.durable_found()  # another process's (or before a restart), which a retry would miss
            raise
        if found:  # the vote found (a retry's earlier write) is acknowledged only once it is on disk
            self.store.durable_found()
        return _revealed(battle, choice, vote_id, created_at)

    def reveal(self, battle_id: str, session_id: str) -> dict:
        """The systems behind a battle this session has voted on."""
        with self.store.read():
            battle = self._battle_for(battle_id, session_id, BattleError)
            vote = self.store.battle_vote(battle_id)
        if vote is None:
            raise BattleError("the systems are revealed only after the vote")
        return _revealed(battle, vote["choice"], vote["id"], vote["created_at"])

    def battle(self, battle_id: str, session_id: str) -> dict:
        """The battle row, for the session it was issued to; raises ``BattleError`` otherwise.
        The row names the systems: callers show them only through ``reveal`` or after the vote."""
        return self._battle_for(battle_id, session_id, BattleError)

    def _battle_for(self, battle_id: str, session_id: str, error: type[BattleError]) -> dict:
        _check_ids(battle_id, session_id, error)
        battle = self.store.battle(battle_id)
        if battle is None:
            raise error("unknown battle id; start a new battle")
        if not hmac.compare_digest(battle["session_key"], _session_key(session_id)):
            raise error("this battle was issued to another session")
        return battle

    @staticmethod
    def _check_rate(voter: str, count_since, limit: int, window_seconds: float, what: str,
                    error: type[BattleError], adding: int = 1) -> str:
        """Raise ``error`` when ``adding`` more rows would take ``voter``'s ``rate_key`` past ``limit`` rows
        counted by ``count_since`` (a ``Store.count_*_since``) within the last ``window_seconds``; ``what``
        names them in the message ("rate limit: at most 30 votes per 60 s; please wait a little"). Returns
        the window's start (ISO timestamp)."""
        since = window_start(window_seconds)
        if count_since(rate_key(voter), since) + adding > limit:
            raise error(rate_limit_message(limit, what, window_seconds))
        return since


def _check_run(store: Store, run_id: int, instance_uid: str, system: str, side: str) -> None:
    """Refuse a run that is not ``system``'s run on ``instance_uid`` for this side."""
    try:
        run = store.run(run_id)
    except NotFound:
        raise BattleError(f"run {run_id} is not in the store") from None
    try:
        got = str(System(run["model"], run["mode"]))
    except ValueError:  # a stored run whose mode is not one of MODES (or with no model) is no side's system
        got = f"{run['model']}:{run['mode']}"
        message = f"run {run_id} is {got!r}, not a system, but side {side} of this battle is {system}"
        raise BattleError(message) from None
    if (run["instance_uid"], got) != (instance_uid, system):
        raise BattleError(f"run {run_id} is {got} on {run['instance_uid']}, but side {side}"
                          f" of this battle is {system} on {instance_uid}")


def pair_problem(kind: str, a: System, b: System) -> str | None:
    """Why systems ``a`` and ``b`` cannot be the two sides of a battle of ``kind`` (one of ``KINDS``), or None."""
    if kind == "direct_vs_stepwise" and (a.model != b.model or a.mode == b.mode):
        return f"direct_vs_stepwise compares one model's two modes, got {str(a)!r} and {str(b)!r}"
    if kind == "model_vs_model" and (a.model == b.model or a.mode != b.mode):
        return f"model_vs_model compares two models in the same mode, got {str(a)!r} and {str(b)!r}"
    return None


def copied_battle_problem(row: Mapping, vote: Mapping | None, source: Store) -> str | None:
    """Why a battle of another store (``row``: a ``battles`` row of ``source``, a store being merged in by
    ``evaluation.merge``: another node's store or a replica's snapshot from the dataset repo) with its vote
    (``voter``, ``choice``, ``created_at``; None when unvoted) breaks a rule this arena keeps for every battle and
    vote it records itself, or None. The message names the battle and the field.

    The rules (``new_battle``, ``deliver``, ``vote``): a battle id as ``new_battle_id`` makes it; a session and a
    voter; a kind of ``KINDS`` whose two systems fit it; the track the instance id names; a side's shown run is
    that side's system on the instance (in ``source``); times in ``store.now()``'s form (UTC, microseconds: the
    rate limits compare them as text) and at most ``store.MAX_CLOCK_AHEAD`` ahead of this clock; a vote's choice one of
    ``CHOICES``, cast by a voter once both sides were shown. A battle that breaks one would stop the leaderboard
    (an unknown choice), count a vote on outputs never shown, or hold a voter inside every rate-limit window.
    """
    battle_id = row.get("id")
    if not isinstance(battle_id, str) or not _BATTLE_ID.match(battle_id):
        return f"battle {brief(battle_id)}: malformed id (expected 32 characters of A-Z, a-z, 0-9, _ or -)"
    problem = _copied_battle_fields(row, source) or (_copied_vote_problem(row, vote) if vote is not None else None)
    return f"battle {battle_id}: {problem}" if problem else None


def _copied_battle_fields(row: Mapping, source: Store) -> str | None:
    for field in ("session_key", "voter"):
        if not isinstance(row.get(field), str) or not row[field]:
            return f"{field} {brief(row.get(field))}: expected a non-empty text"
    if row.get("kind") not in KINDS:
        return f"kind {brief(row.get('kind'))}: expected one of {', '.join(KINDS)}"
    try:
        a, b = System.parse(row["system_a"]), System.parse(row["system_b"])
        track, _ = split_uid(row["instance_uid"])
    except (ValueError, TypeError, AttributeError) as e:  # not text, or no system / instance id
        return str(e)
    mismatch = pair_problem(row["kind"], a, b)
    if mismatch:
        return mismatch
    if row.get("track") != track:
        return f"track {brief(row.get('track'))}: instance {brief(row['instance_uid'])} is on track {track}"
    problem = timestamp_problem(row.get("created_at"), "created_at")
    for side, system in (("A", a), ("B", b)):
        column = side.lower()
        delivered = row.get(f"delivered_{column}_at")
        if problem is None and delivered is not None:
            problem = timestamp_problem(delivered, f"delivered_{column}_at")
        if problem is None and row.get(f"run_{column}") is not None:
            try:
                _check_run(source, row[f"run_{column}"], row["instance_uid"], str(system), side)
            except BattleError as e:
                problem = e.message
    if problem is None and row.get("flagged") is not None and not isinstance(row["flagged"], str):
        problem = f"flagged {brief(row['flagged'])}: expected the reason as text, or none"
    return problem


def _copied_vote_problem(row: Mapping, vote: Mapping) -> str | None:
    if vote.get("choice") not in CHOICES:
        return f"vote choice {brief(vote.get('choice'))}: expected one of {', '.join(CHOICES)}"
    if not isinstance(vote.get("voter"), str) or not vote["voter"]:
        return f"vote voter {brief(vote.get('voter'))}: expected a non-empty text"
    undelivered = [s for s in ("A", "B") if row.get(f"delivered_{s.lower()}_at") is None]
    if undelivered:
        return f"a vote, but {_sides(undelivered, 'was', 'were')} never shown (a battle takes a vote once both are)"
    return timestamp_problem(vote.get("created_at"), "vote created_at")


def _sides(sides: list[str], one: str = "has", both: str = "have") -> str:
    """``sides`` (["A"], ["B"] or ["A", "B"]) as a sentence's subject with its verb: "side B has", "sides A and B
    have"."""
    return f"sides A and B {both}" if len(sides) == 2 else f"side {sides[0]} {one}"


def _check_ids(battle_id: str, session_id: str, error: type[BattleError]) -> None:
    """Refuse a malformed battle id or a missing session before the database is touched."""
    if not isinstance(battle_id, str) or not _BATTLE_ID.match(battle_id):
        raise error("malformed battle id; start a new battle")
    _require_session(session_id, error)


def _require_session(session_id: str, error: type[BattleError]) -> None:
    if not isinstance(session_id, str) or not session_id:
        raise error("no session; reload the page")


def _revealed(battle: dict, choice: str, vote_id: int, created_at: str) -> dict:
    return {
        "battle_id": battle["id"], "vote_id": vote_id, "choice": choice, "created_at": created_at,
        "system_a": battle["system_a"], "system_b": battle["system_b"], "kind": battle["kind"],
        "instance_uid": battle["instance_uid"],
    }
