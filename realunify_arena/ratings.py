"""The leaderboard: Bradley-Terry ratings fitted to all votes at once, with bootstrap intervals.

BT maximum likelihood is order-free, unlike online Elo. Ties and both-bad count as half a win each way
(the convention of Chatbot Arena, so figures are comparable); both-bad is also reported on its own, as a
failure rate. Ratings use the familiar display scale 1000 + 400/ln(10) * theta, so 100 points mean a 64%
expected win rate; the ranked systems average 1000.

Ranked and preliminary systems. A system with at least ``min_votes`` votes, at least one of them fitted against
another such system, is *ranked* (one whose every fitted vote is against preliminary systems, or with
``decisive_only`` one with only ties, is preliminary: the ranked fit would hold no vote of it). The ranked board is
fitted on the votes between ranked systems only, so a newcomer cannot move it; every preliminary system is
then placed against that board by a second fit in which the ranked ratings are held fixed. Rank(UB)
(1 + the number of ranked systems whose lower bound is above this one's upper bound, FastChat's
definition) is computed among ranked systems; preliminary systems have none. A missing bound is open, with
two refinements where the votes alone order systems: a system counts against another whose group never
won or tied against its own although it beat theirs (infinitely above at maximum likelihood, so surely
better, shown interval or not), provided its shown rating is higher too (the prior holds both finite, and a
rank must not contradict the ratings beside it); and intervals are compared only between systems that the
votes link both ways (the same strongly connected group), so parts that never met rank none of each other.

Priors. A tiny ridge (``RIDGE`` on theta) keeps the fit defined; with it the point ratings match FastChat's
and choix's maximum-likelihood fits (within 0.001 points where those are finite: a larger ridge, 1e-4, pulled a
sparse board's ratings, spread over 500 points by a dozen votes, up to 0.9 points towards 1000). A system that
won every vote in its fit ("never lost") or lost every one ("never won") has no finite maximum-likelihood
rating; it is flagged and given one virtual tie against a 1000-rated reference (``PRIOR_TIES``), which keeps it
finite: a single win over a 1000-rated system places it at 1191. The prior moves no other system: as in the
limit of FastChat's fit, where the flagged systems run off to infinity, the others are fitted on the votes among
themselves, then the flagged ones are placed against them held fixed, each flagged group as a whole (its
spread from its members' votes among themselves; a tie per member). Where setting the flagged systems aside
leaves another system never lost or never won (one between the two), it is flagged in turn, and its note names
the ones set aside. A group of systems that met no one else ("unconnected") has a finite spread, which is
kept as the votes give it (no prior); only its level is a convention: it averages 1000, where FastChat's
unpenalised fit, started at 0, leaves each connected part.

Intervals. 95% bootstrap percentile intervals over ``rounds`` resamplings of the votes with replacement
(multinomial resampling of the vote-count table, fixed seed, so the board does not jitter between page
loads); the ranked board's table and the preliminary systems' votes are resampled separately, and each
round places the preliminary systems against that round's ranked board. An interval is shown only where it
means something: none when all of a system's votes are one result against one opponent (resampling cannot
vary it, e.g. a single vote), one-sided for a flagged system (the prior, not the data, holds its open end),
and every shown interval contains its point estimate.

Speed. Votes are aggregated by SQL into counts per (system A, system B, choice), kept current by adding
only votes with a higher id (``VoteCounts``); the point fit and all bootstrap rounds are solved together by
a batched, damped Newton method on per-pair totals, so a refit costs the same at 10k and 1M votes.
``Leaderboards`` refits on a background thread and keeps the last finished board per view.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import math
import threading
import unicodedata
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from realunify_arena.arena import KIND_LABELS
from realunify_arena.judge import ANSWER_PARSER
from realunify_arena.shown import font_joined, markdown_text, mixed_script
from realunify_arena.spreadsheet import safe_row
from realunify_arena.store import Store

BASE = 1000.0
SCALE = 400.0 / math.log(10.0)
OUTCOME = {"A": 1.0, "B": 0.0, "tie": 0.5, "both_bad": 0.5}  # P(A wins) each choice stands for
RIDGE = 1e-8  # on theta; twice this is choix's ``alpha`` for the same fit (module docstring: why this small)
PRIOR_TIES = 1.0  # virtual ties against a 1000-rated reference for a system that never lost or never won
PRIOR_TEXT = "one virtual tie against a 1000-rated reference"
CONVENTION_TEXT = "its group is set to average 1000, a convention: no vote links it to the others"
ORPHAN_TEXT = ("preliminary although it has enough votes: none of the votes fitted is against a ranked system, "
               "so the ranked board cannot rate it")
EMPTY_TEXT = "no votes yet — play a battle"
AGREEMENT_EMPTY_TEXT = ("*No voted battle has both sides judged yet: after your vote the app's judge scores each "
                        "side (with the judge `human`, nothing does), then this table compares its scores with "
                        "the votes.*")
AGREEMENT_HEADERS = ["judge", "battles", "agreement", "decisive battles", "agreement (decisive)"]
# a share over no decisive battle: before, "0%" beside "0 decisive battles" read as a judge always wrong
NOTHING_TO_COMPARE = "nothing to compare yet"
PARSER_NOTE = (f"*`{ANSWER_PARSER}` is no judge model: it is how GEU is scored, the letter parsed from each "
               "side's answer checked against the expected one (right 1, wrong 0). Its row says how often people "
               "voted for the side that answered right. A share needs a decisive battle: one where the scores "
               "differ (one side right, the other wrong) and the vote picked a side.*")

_MAX_STEP = 2.0  # largest Newton step in theta (a damping for systems far out on the logistic's flat tail)


# -- counts ----------------------------------------------------------------------------------------

@dataclass
class CountTable:
    """One board's votes as counts per (system_a, system_b, choice). ``last_vote_id`` changes exactly when the
    counts do: the newest vote id counted (from a store: the id the update that last changed them read up to)."""

    counts: Counter = field(default_factory=Counter)
    last_vote_id: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def from_votes(cls, votes: Iterable[dict]) -> CountTable:
        """From vote rows that carry system_a, system_b and choice (and optionally vote_id)."""
        table = cls()
        for v in votes:
            table.counts[(v["system_a"], v["system_b"], v["choice"])] += 1
            table.last_vote_id = max(table.last_vote_id, int(v.get("vote_id") or 0))
        return table


class VoteCounts:
    """Counts of every board of a store, kept current incrementally (``update`` adds only newer votes)."""

    def __init__(self) -> None:
        self._tables: dict[tuple[str, str], CountTable] = {}
        self.last_vote_id = 0
        self._lock = threading.Lock()

    def update(self, store: Store) -> int:
        """Add the votes stored since the last update (one SQL query); returns how many were added."""
        with self._lock:
            rows = store.vote_counts(after_id=self.last_vote_id)
            for r in rows:
                table = self._tables.setdefault((r["track"], r["kind"]), CountTable())
                table.counts[(r["system_a"], r["system_b"], r["choice"])] += r["n"]
                table.last_vote_id = max(table.last_vote_id, r["last_id"])
                self.last_vote_id = max(self.last_vote_id, r["last_id"])
            return sum(r["n"] for r in rows)

    def table(self, track: str | None = None, kind: str | None = None) -> CountTable:
        """A copy of the counts of the boards that match (None: every track or kind)."""
        merged = CountTable()
        with self._lock:
            for (t, k), table in self._tables.items():
                if track in (None, t) and kind in (None, k):
                    merged.counts.update(table.counts)
                    merged.last_vote_id = max(merged.last_vote_id, table.last_vote_id)
        return merged


# -- the fit ---------------------------------------------------------------------------------------

class _Pairs:
    """Vote counts of one fit by unordered system pair (i < j) and result for i (1, 1/2 or 0), for batched fits.

    Orientation (who was A) and tie versus both-bad do not enter the likelihood, so they are merged: the
    multinomial resampling of these categories is the same as resampling the votes themselves, with about
    a third as many categories.
    """

    def __init__(self, rows: list[tuple[int, int, float, int]], n: int, anchors: np.ndarray | None = None):
        self.anchors = np.zeros(n, dtype=bool) if anchors is None else anchors  # held-fixed systems with ratings
        merged: Counter = Counter()
        for i, j, o, c in rows:
            merged[(min(i, j), max(i, j), o if i < j else 1.0 - o)] += c
        keyed = sorted(merged.items())
        pairs = [k[:2] for k, _ in keyed]
        firsts = [r for r in range(len(pairs)) if r == 0 or pairs[r] != pairs[r - 1]]
        self.n = n
        self.I = np.array([pairs[r][0] for r in firsts], dtype=np.intp)
        self.J = np.array([pairs[r][1] for r in firsts], dtype=np.intp)
        self.starts = np.array(firsts, dtype=np.intp)
        self.score = np.array([k[2] for k, _ in keyed])  # P(lower index wins) per category
        self.counts = np.array([c for _, c in keyed], dtype=float)

    @property
    def empty(self) -> bool:
        return len(self.I) == 0

    def totals(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pair, from category weights ``(rounds, categories)``: votes N and wins of the lower index S,
        ``(rounds, pairs)``."""
        return (np.add.reduceat(weights, self.starts, axis=1),
                np.add.reduceat(weights * self.score, self.starts, axis=1))

    def to_systems(self, at_i: np.ndarray, at_j: np.ndarray) -> np.ndarray:
        """Per-pair values ``(rounds, pairs)`` summed per system, ``at_i`` to each pair's I and ``at_j`` to its J:
        ``(rounds, systems)``, by one bincount (no matmul: small products, where a threaded BLAS only adds
        contention on a busy machine)."""
        rounds, n = len(at_i), self.n
        base = np.arange(rounds)[:, None] * n
        index = np.concatenate([(base + self.I).ravel(), (base + self.J).ravel()])
        return np.bincount(index, np.concatenate([at_i.ravel(), at_j.ravel()]), rounds * n).reshape(rounds, n)

    def per_system(self, N: np.ndarray, S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Votes and score (wins, half a win per tie) of every system, ``(rounds, systems)``."""
        return self.to_systems(N, N), self.to_systems(S, N - S)

    def bootstrap(self, rng: np.random.Generator, rounds: int) -> np.ndarray:
        """Category weights of ``rounds`` resamplings of the votes with replacement, ``(rounds, categories)``."""
        total = int(self.counts.sum())
        return rng.multinomial(total, self.counts / total, size=rounds).astype(float)

    def unbounded(self, N: np.ndarray, S: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where maximum likelihood has no finite answer (Ford's condition: the "won or tied against" graph is
        not strongly connected), the systems whose group never lost, or never won, to any system outside it.

        Returns booleans ``never_lost`` and ``never_won`` ``(rounds, systems)`` (both: "unconnected", its group
        met no one else), ``group`` ``(rounds, systems, systems)`` (i and j reach each other: the same strongly
        connected group) and ``reach`` of the same shape (i won or tied against j, directly or through others).
        The systems not in ``free`` are held fixed, so they count as one group, and a group that holds one of
        them is never flagged (its rating is finite: the fixed member places it). Systems without votes here are
        left out, except the ``anchors`` (held fixed at ratings of their own): free systems that never met them
        are an unconnected group.
        """
        rounds, n = len(N), self.n
        present = (self.per_system(N, S)[0] > 0) | self.anchors
        reach = np.zeros((rounds, n, n), dtype=bool)
        reach[:, self.I, self.J] = S > 0
        reach[:, self.J, self.I] = (N - S) > 0
        fixed = np.ones(n, dtype=bool)
        fixed[free] = False
        reach[:, fixed[:, None] & fixed[None, :]] = True
        reach[:, np.arange(n), np.arange(n)] = True
        for _ in range(max(1, math.ceil(math.log2(n)))):  # transitive closure by repeated squaring
            closed = reach.astype(np.float32)
            reach = np.einsum("rij,rjk->rik", closed, closed) > 0
            if reach.all():  # the usual case: every system reaches every other in a step or two
                break
        into = reach.transpose(0, 2, 1)  # into[r, i, u]: u reaches i
        group = reach & into
        both = present[:, :, None] & present[:, None, :]
        split = ~(group | ~both).all(axis=(1, 2))  # some two present systems do not reach each other
        open_ = present & split[:, None] & ~(group & (present & fixed)[:, None, :]).any(axis=2)  # no held member
        never_lost = open_ & ~(into & ~reach & present[:, None, :]).any(axis=2)
        never_won = open_ & ~(reach & ~into & present[:, None, :]).any(axis=2)
        return never_lost, never_won, group, reach

    def solve(self, N: np.ndarray, S: np.ndarray, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
        """theta ``(rounds, systems)`` maximising each round's BT log-likelihood over the ``free`` columns
        (the others held at their given values), minus ``RIDGE * |theta_free|^2``; an unconnected group's
        spread is finite, and the ridge alone centres it at 0, where FastChat's unpenalised fit, started at 0,
        leaves each connected part.

        A free system that ``unbounded`` finds never lost or never won (not both) has no finite maximum
        likelihood, and is set aside per round, in three steps: (1) the other systems are fitted from the
        votes among themselves (recursively, so a group left unbounded once these are set aside is set
        aside in turn), as FastChat's fit leaves them in its limit where the flagged ones go to infinity;
        (2) each flagged group's spread is fitted from the votes among its members only; (3) each flagged
        group is then moved as a whole, the others held, by all its votes plus one virtual tie per member
        (``PRIOR_TIES``) against theta = 0.

        All rounds at once: Newton steps from batched Hessians, each capped at ``_MAX_STEP`` and halved
        per round until the objective falls (Armijo), so the fit converges from any start.
        """
        theta = theta.astype(float).copy()
        if len(free) == 0 or self.empty:
            return theta
        never_lost, never_won, group, _ = self.unbounded(N, S, free)
        flagged = never_lost ^ never_won  # (rounds, systems)
        if not flagged.any():
            return self._newton(N, S, theta, free)
        keep = ~(flagged[:, self.I] | flagged[:, self.J])
        theta = self.solve(N * keep, S * keep, theta, free)  # (1) their votes move none of the others
        inside = flagged[:, self.I] & group[:, self.I, self.J]
        own = np.where(flagged[:, free], np.arange(len(free)), -1)
        theta = self._newton(N * inside, S * inside, theta, free, lead=own)  # (2) each group's spread
        first = group[:, free][:, :, free].argmax(axis=2)  # the first free member of each one's group
        lead = np.where(flagged[:, free], first, -1)
        return self._newton(N, S, theta, free, PRIOR_TIES * flagged[:, free], lead)  # (3) each group's level

    def _newton(self, N: np.ndarray, S: np.ndarray, theta: np.ndarray, free: np.ndarray,
                prior: np.ndarray | float = 0.0, lead: np.ndarray | None = None) -> np.ndarray:
        """``solve``'s damped Newton method: theta ``(rounds, systems)`` maximising the log-likelihood over the
        ``free`` columns, minus the ridge, plus ``prior`` ``(rounds, free)`` virtual ties against theta = 0.
        ``lead`` ``(rounds, free)``, optional: per round, the position in ``free`` whose step each free system
        takes (so a group sharing one moves as a whole, its spread kept), or -1 to hold it."""
        I, J, n_free, rounds = self.I, self.J, len(free), len(theta)
        position = np.full(self.n, -1)
        position[free] = np.arange(n_free)
        both = (position[I] >= 0) & (position[J] >= 0)
        fI, fJ = position[I][both], position[J][both]
        diag = np.arange(n_free)
        moves = None if lead is None else (lead[..., None] == diag).astype(float)  # (rounds, free, leads)

        def objective(th: np.ndarray) -> np.ndarray:
            d = th[:, I] - th[:, J]  # S softplus(-d) + (N - S) softplus(d), with softplus(d) = softplus(-d) + d
            f = (N * np.logaddexp(0.0, -d) + (N - S) * d).sum(axis=1)
            tf = th[:, free]
            return f + RIDGE * (tf * tf).sum(axis=1) + (prior * (np.logaddexp(0.0, -tf) + tf / 2)).sum(axis=1)

        f = objective(theta)
        for _ in range(200):
            p = _sigmoid(theta[:, I] - theta[:, J])
            pf = _sigmoid(theta[:, free])
            residual = N * p - S
            grad = self.to_systems(residual, -residual)[:, free] + 2.0 * RIDGE * theta[:, free] + prior * (pf - 0.5)
            h = N * p * (1.0 - p)
            hess = np.zeros((rounds, n_free, n_free))
            hess[:, fI, fJ] = -h[:, both]
            hess[:, fJ, fI] = -h[:, both]
            hess[:, diag, diag] = self.to_systems(h, h)[:, free] + 2.0 * RIDGE + prior * pf * (1.0 - pf)
            if moves is None:
                step = np.linalg.solve(hess, grad[..., None])[..., 0]
            else:  # Newton within the moves allowed: grad and Hessian summed over the systems sharing a lead
                led = np.einsum("rik,ri->rk", moves, grad)
                hess = moves.transpose(0, 2, 1) @ hess @ moves
                hess[:, diag, diag] += ~moves.any(axis=1)  # a lead of none: no step
                step = np.einsum("rik,rk->ri", moves, np.linalg.solve(hess, led[..., None])[..., 0])
            size = np.abs(step).max(axis=1)
            if size.max() < 1e-9:
                break
            step *= np.minimum(1.0, _MAX_STEP / np.maximum(size, 1e-300))[:, None]
            slope = -(grad * step).sum(axis=1)  # directional derivative along -step (<= 0)
            t = np.ones(rounds)
            for _ in range(40):
                candidate = theta.copy()
                candidate[:, free] -= t[:, None] * step
                f_new = objective(candidate)
                ok = f_new <= f + 1e-4 * t * slope + 1e-12 * np.abs(f)
                if ok.all():
                    break
                t = np.where(ok, t, t / 2)
            done = f - f_new <= 1e-13 * (1.0 + np.abs(f))  # per round: no decrease left to make
            theta, f = candidate, f_new
            if done.all():  # (steps along a flat direction, which only the tiny ridge holds, change nothing)
                break
        return theta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def fit_bt(n_systems: int, a: np.ndarray, b: np.ndarray, outcome: np.ndarray,
           weight: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Log-strengths, mean zero, maximising sum(weight * log P(outcome)) - RIDGE * |theta|^2, with the
    never-lost/never-won prior of ``_Pairs.solve``. P(A beats B) = sigmoid(theta[a] - theta[b]) (Bradley-Terry).

    Args:
        n_systems: number of systems ``S`` (>= 1); systems are the indices ``0 .. S-1``.
        a, b: integer arrays of shape ``(M,)``, values in ``[0, S)``: the two systems of each comparison row
            (``a != b``; a row may stand for many votes, see ``weight``).
        outcome: float array ``(M,)`` in ``[0, 1]``: P(A wins) the row stands for (1 A won, 0 B won,
            0.5 tie or both-bad; see ``OUTCOME``).
        weight: float array ``(M,)``, >= 0: how many votes the row stands for.
        start: optional float array ``(S,)`` to start from (a previous fit).

    Returns:
        float array ``(S,)`` of log-strengths in natural-log units, mean zero (``to_display`` turns them
        into rating points). A system with no comparisons gets 0.

    Raises:
        IndexError: an index in ``a`` or ``b`` is outside ``[0, S)``.
    """
    rows = [(int(i), int(j), float(o), w) for i, j, o, w in zip(a, b, outcome, weight) if w > 0]
    pairs = _Pairs(rows, n_systems)
    theta = np.zeros((1, n_systems)) if start is None else np.asarray(start, dtype=float)[None]
    if pairs.empty:
        return theta[0] - theta[0].mean()
    N, S = pairs.totals(pairs.counts[None])
    theta = pairs.solve(N, S, theta, np.arange(n_systems))[0]
    return theta - theta.mean()


def to_display(theta: np.ndarray) -> np.ndarray:
    """Log-strengths (any shape) -> rating points, ``1000 + 400/ln(10) * theta`` (100 points = 64% to win)."""
    return BASE + SCALE * theta


def leaderboard(store: Store, track: str | None = None, kind: str | None = None,
                min_votes: int = 100, rounds: int = 200, seed: int = 0,
                decisive_only: bool = False) -> list[dict]:
    """One row per system, best first: ranked systems, then preliminary ones (see ``rate_counts``).

    Args:
        store: the votes' store.
        track: ``"UEG"``, ``"GEU"`` or None (both).
        kind: ``"model_vs_model"``, ``"direct_vs_stepwise"`` or None (both).
        min_votes: votes (>= 0) below which a system is ``preliminary`` (placed, not ranked).
        rounds: bootstrap refits (>= 0; 0 skips the intervals).
        seed: bootstrap seed; the same votes and seed give the same board.
        decisive_only: drop tie and both-bad votes from the fit.

    Returns:
        ``rate_counts``' rows; empty when there are no votes.
    """
    counts = VoteCounts()
    counts.update(store)
    return rate_counts(counts.table(track, kind), min_votes=min_votes, rounds=rounds, seed=seed,
                       decisive_only=decisive_only)


def rate(votes: Iterable[dict], min_votes: int = 100, rounds: int = 200, seed: int = 0,
         decisive_only: bool = False) -> list[dict]:
    """``leaderboard`` over vote rows that carry system_a, system_b and choice."""
    return rate_counts(CountTable.from_votes(votes), min_votes=min_votes, rounds=rounds, seed=seed,
                       decisive_only=decisive_only)


def rate_counts(table: CountTable, min_votes: int = 100, rounds: int = 200, seed: int = 0,
                decisive_only: bool = False) -> list[dict]:
    """The board of one vote-count table: one row per system, ranked systems best first, then the
    preliminary ones (fewer than ``min_votes`` votes) best first.

    Row fields: system; rating (display scale); lower and upper (its 95% interval, or None where none is
    meaningful, see the module docstring); rank_ub (int, None for preliminary systems); votes; both_bad_rate
    (0-1); preliminary (bool); flag ("never lost", "never won" or None); note (why an interval is missing
    or one-sided, and the prior that holds a flagged system finite; or None). ``decisive_only`` drops tie
    and both-bad votes from the fit (they compress the spread); ``rounds=0`` skips the intervals.
    """
    counts = {k: c for k, c in table.counts.items() if c > 0}
    systems = sorted({a for a, _, _ in counts} | {b for _, b, _ in counts})
    if not systems:
        return []
    unknown = sorted({c for _, _, c in counts} - OUTCOME.keys())
    if unknown:
        raise ValueError(f"vote choice(s) {unknown}: expected one of {', '.join(OUTCOME)}")
    index = {s: i for i, s in enumerate(systems)}
    n = len(systems)
    n_votes, both_bad = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    for (a, b, choice), c in counts.items():
        for s in (a, b):
            n_votes[index[s]] += c
            both_bad[index[s]] += c if choice == "both_bad" else 0
    fitted = sorted((index[a], index[b], OUTCOME[choice], c) for (a, b, choice), c in counts.items()
                    if not decisive_only or choice in ("A", "B"))
    enough = n_votes >= min_votes
    ranked = _rankable(enough, fitted)
    ranked_rows = [r for r in fitted if ranked[r[0]] and ranked[r[1]]]
    placed_rows = [r for r in fitted if not (ranked[r[0]] and ranked[r[1]])]
    rng = np.random.default_rng(seed)

    # 1. the ranked board, on votes between ranked systems only
    board_fit = _Pairs(ranked_rows, n)
    free = np.flatnonzero(ranked)
    board_flags, above, linked = _structure(board_fit, free)
    flags = [board_flags]
    theta = _centred(board_fit.solve(*_point(board_fit), np.zeros((1, n)), free), free)[0]
    draws = np.full((rounds, n), np.nan)
    if rounds > 0 and not board_fit.empty:
        weights = board_fit.bootstrap(rng, rounds)
        N, S = board_fit.totals(weights)
        draws[:, free] = _centred(board_fit.solve(N, S, np.tile(theta, (rounds, 1)), free), free)[:, free]
        draws[:, free] = np.where(board_fit.per_system(N, S)[0][:, free] > 0, draws[:, free], np.nan)

    # 2. preliminary systems placed against it, the ranked ratings held fixed (per round in the bootstrap)
    placing = _Pairs(placed_rows, n, anchors=board_fit.per_system(*_point(board_fit))[0][0] > 0)
    free = np.flatnonzero(~ranked)
    flags.append(_structure(placing, free)[0])
    if not placing.empty:
        theta = placing.solve(*_point(placing), theta[None], free)[0]
        if rounds > 0:
            start = np.where(np.isnan(draws), theta, draws)
            weights = placing.bootstrap(rng, rounds)
            N, S = placing.totals(weights)
            placed = placing.solve(N, S, start, free)
            draws[:, free] = np.where(placing.per_system(N, S)[0][:, free] > 0, placed[:, free], np.nan)

    ends = np.full((2, n), np.nan)
    if rounds > 0:
        seen = ~np.isnan(draws).any(axis=0)
        ends[:, seen] = np.percentile(to_display(draws[:, seen]), [2.5, 97.5], axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: no interval, see _row
            ends[:, ~seen] = np.nanpercentile(to_display(draws[:, ~seen]), [2.5, 97.5], axis=0)
    results = [Counter() for _ in systems]  # per system: (opponent, P(win)) -> votes, over its own fit's votes
    for fit_rows, in_fit in ((ranked_rows, ranked), (placed_rows, ~ranked)):
        for a, b, o, c in fit_rows:
            if in_fit[a]:
                results[a][(b, o)] += c
            if in_fit[b]:
                results[b][(a, 1.0 - o)] += c
    rows, bounds = [], []
    for i, s in enumerate(systems):
        flag, group, beyond = flags[0][i] if ranked[i] else flags[1][i]
        row, within = _row(s, float(to_display(theta[i])), ends[:, i], results[i], rounds, flag=flag,
                         group=[systems[j] for j in group], beyond=[systems[j] for j in beyond],
                         votes=int(n_votes[i]), both_bad=int(both_bad[i]),
                         preliminary=not ranked[i])
        if enough[i] and not ranked[i]:
            row["note"] = "; ".join(filter(None, [ORPHAN_TEXT, row["note"]]))
        rows.append(row)
        # the bounds its rank uses: the shown ones, else those within an unconnected group (open where None)
        lower, upper = (row["lower"], row["upper"]) if row["flag"] != "unconnected" else within
        bounds.append((-math.inf if lower is None else lower, math.inf if upper is None else upper))
    for i in np.flatnonzero(ranked):
        rows[i]["rank_ub"] = 1 + sum(
            1 for j in np.flatnonzero(ranked) if j != i
            and (above[j, i] and rows[j]["rating"] > rows[i]["rating"]  # never against the ratings shown
                 or linked[i, j] and bounds[j][0] > bounds[i][1]))
    return sorted(rows, key=lambda r: (r["preliminary"], -r["rating"], r["system"]))


def _rankable(enough: np.ndarray, fitted: list[tuple[int, int, float, int]]) -> np.ndarray:
    """Booleans ``(systems,)``: the systems with ``enough`` votes that have a vote in the fit against another
    such system, repeated until none is left without one (a system the ranked fit holds no vote of has no
    rating there, only the board's convention, and nothing could rank it)."""
    ranked = enough.copy()
    while True:
        met = np.zeros(len(ranked), dtype=bool)
        for a, b, _, _ in fitted:
            if ranked[a] and ranked[b]:
                met[a] = met[b] = True
        if (met == ranked).all():
            return ranked
        ranked = met


def _point(pairs: _Pairs) -> tuple[np.ndarray, np.ndarray]:
    return pairs.totals(pairs.counts[None])


def _structure(pairs: _Pairs, free: np.ndarray) -> tuple[dict[int, tuple[str | None, list[int], list[int]]],
                                                         np.ndarray, np.ndarray]:
    """What this fit's votes alone say, from its "won or tied against" graph (``unbounded``):

    - per free system: "never lost", "never won", "unconnected" (its group met no one else) or None, the
      other members of its group when the flag concerns a group, and the flagged systems it met that were
      set aside before it was flagged (``solve`` sets the flagged systems aside and looks again at the rest:
      a system between a never-lost and a never-won one is flagged there, once those two are set aside);
    - ``above[j, i]`` ``(systems, systems)``: j's group won or tied against i's (through others too) and i's
      never against j's, so at maximum likelihood j is infinitely above i;
    - ``group[i, j]``: i and j reach each other (only there do intervals compare: systems that no votes
      order are neither).
    """
    n = pairs.n
    flags: dict[int, tuple[str | None, list[int], list[int]]] = {int(i): (None, [], []) for i in free}
    if pairs.empty:
        return flags, np.zeros((n, n), dtype=bool), np.eye(n, dtype=bool)
    N, S = _point(pairs)
    met = np.zeros((n, n), dtype=bool)
    met[pairs.I, pairs.J] = met[pairs.J, pairs.I] = N[0] > 0
    never_lost, never_won, group, reach = (x[0] for x in pairs.unbounded(N, S, free))
    first, lost, won, layer, aside = group, never_lost, never_won, group, np.zeros(n, dtype=bool)
    while True:
        for i in free:  # "unconnected" only at the first look: later, its group met the ones set aside
            if flags[int(i)][0] is None and (lost[i] ^ won[i] or lost[i] and won[i] and not aside.any()):
                flag = "unconnected" if lost[i] and won[i] else "never lost" if lost[i] else "never won"
                flags[int(i)] = (flag, [int(j) for j in np.flatnonzero(layer[i]) if j != i],
                                 [int(j) for j in np.flatnonzero(aside & met[i])])
        flagged = lost ^ won
        if not flagged.any():
            return flags, reach & ~reach.T, first
        aside |= flagged
        N, S = N * ~(aside[pairs.I] | aside[pairs.J]), S * ~(aside[pairs.I] | aside[pairs.J])
        lost, won, layer, _ = (x[0] for x in pairs.unbounded(N, S, free))


def _centred(theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The ranked systems average theta 0 (display 1000), per round."""
    if len(free):
        theta = theta.copy()
        theta[:, free] -= theta[:, free].mean(axis=1, keepdims=True)
    return theta


def _row(system: str, rating: float, ends: np.ndarray, results: Counter, rounds: int, *,
         flag: str | None, group: list[str], beyond: list[str], votes: int, both_bad: int,
         preliminary: bool) -> tuple[dict, tuple[float | None, float | None]]:
    """A board row, and the (lower, upper) interval its rank compares where the row shows none (an unconnected
    group's: meaningful between members of the group, whose common level cancels; (None, None) otherwise)."""
    fitted = sum(results.values())
    notes, lower, upper = [], None, None
    within = None, None  # the interval its rank uses where none is shown: an unconnected group's, see below
    members = f" (its group: {', '.join(group)})" if group else ""
    if flag == "unconnected":
        # its group's members are the systems it did meet: named as its group, never beside "never met"
        whom = f"it and its group ({', '.join(group)}) never met the systems outside it" if group else \
            "never met the other systems"
        notes.append(f"unconnected: {whom}; {CONVENTION_TEXT}")
    elif flag:
        outside = (" to" if flag == "never lost" else " against") + " a system outside its group" if group else ""
        aside = (f" once {', '.join(beyond)}, unbounded {'itself' if len(beyond) == 1 else 'themselves'},"
                 " set aside" if beyond else "")
        notes.append(f"{flag}{outside}{members}{aside}: held finite by the prior ({PRIOR_TEXT})")
    if rounds <= 0:
        notes.append("no interval: no bootstrap rounds")
    elif not fitted:
        notes.append("no interval: no votes in its fit" + (" (none against ranked systems)" if not preliminary
                                                            else ""))
    elif fitted == 1:
        notes.append("no interval: its only vote cannot vary under resampling")
    elif len(results) == 1:
        notes.append(f"no interval: all {fitted} of its votes are one result against one opponent,"
                     " so resampling cannot vary it")
    else:
        lo, hi = ends  # the 2.5 and 97.5 percentiles of its bootstrap ratings
        if not np.isfinite(lo) or hi - lo < 0.05:
            notes.append("no interval: its bootstrap did not vary")
        else:
            lower, upper = min(float(lo), rating), max(float(hi), rating)  # contains its point estimate
            if flag == "never lost":
                upper = None
                notes.append("no upper bound")
            elif flag == "never won":
                lower = None
                notes.append("no lower bound")
            elif flag == "unconnected":
                within = lower, upper  # its group's common level cancels between two of its members
                lower = upper = None
                notes.append("no interval: its level against the others is a convention" + (
                    "" if preliminary else " (its rank compares its interval with its group's only)"))
    return {
        "system": system, "rating": float(rating), "lower": lower, "upper": upper, "rank_ub": None,
        "votes": votes, "both_bad_rate": both_bad / votes if votes else 0.0, "preliminary": preliminary,
        "flag": flag, "note": "; ".join(notes) or None,
    }, within


# -- boards: what the tab, the API and the CLI show ------------------------------------------------

@dataclass(frozen=True)
class Board:
    """One leaderboard view: ``rows`` from ``rate_counts`` over ``votes`` votes (up to ``last_vote_id``)."""

    track: str | None
    kind: str | None
    min_votes: int
    votes: int
    last_vote_id: int
    rows: list[dict]

    @property
    def title(self) -> str:
        return board_title(self.track, self.kind)

    def to_dict(self) -> dict:
        return {"track": self.track, "kind": self.kind, "min_votes": self.min_votes, "votes": self.votes,
                "last_vote_id": self.last_vote_id, "rows": self.rows}


def board_title(track: str | None, kind: str | None) -> str:
    """A board's name as pages and tables show it: "UEG · two models, same mode" (None: all of them)."""
    return f"{track or 'all tracks'} · {KIND_LABELS.get(kind, kind or 'all battles')}"


def board_from_counts(table: CountTable, track: str | None, kind: str | None, min_votes: int,
                      rounds: int = 200, seed: int = 0, decisive_only: bool = False) -> Board:
    rows = rate_counts(table, min_votes=min_votes, rounds=rounds, seed=seed, decisive_only=decisive_only)
    return Board(track, kind, min_votes, table.total, table.last_vote_id, rows)


BOARD_HEADERS = ["rank (UB)", "system", "rating", "95% interval", "votes", "both-bad rate", "tier", "note"]
COLUMNS_MARKDOWN = (
    "**rank (UB)**: 1 + the number of ranked systems surely better (among systems the votes link both ways, "
    "an interval wholly above this one's; or a higher rating whose group beat this one's and never lost to "
    "it), so systems whose intervals overlap share a rank. "
    "**rating**: Bradley–Terry strength on the Elo scale: the ranked systems average 1000, and 100 points "
    "more means an expected 64% of the battles between the two won (200: 76%, 400: 91%); tie and both-bad "
    "votes count half a win each way. **95% interval**: the 2.5 and 97.5 percentiles of the rating over "
    "bootstrap resamplings of the votes (a fixed seed: the same votes always give the same interval); ≥ or ≤ "
    "where only one end is known, — where none is meaningful "
    "(the note says why). **votes**: its votes on this board, ties and both-bad included, votes of flagged "
    "battles left out. **both-bad rate**: the share of its votes that found both sides bad. **tier**: ranked, "
    "or preliminary (too few votes, or none fitted against a ranked system: placed against the ranked board "
    "without moving it, and not ranked). "
    "**note**: why an interval is missing or one-sided, and what holds a flagged rating finite.")
CSV_FIELDS = ("track", "kind", "rank_ub", "system", "rating", "lower", "upper", "votes", "both_bad_rate",
              "preliminary", "flag", "note")


def interval_text(row: dict) -> str:
    """``"950 – 1010"``, one-sided ``"≥ 950"`` / ``"≤ 1010"``, or ``"—"`` where no interval is meaningful."""
    lower, upper = row["lower"], row["upper"]
    if lower is not None and upper is not None:
        return f"{lower:.0f} – {upper:.0f}"
    if lower is not None:
        return f"≥ {lower:.0f}"
    if upper is not None:
        return f"≤ {upper:.0f}"
    return "—"


def board_table(rows: list[dict]) -> list[list]:
    """The rows as the tab and the Markdown board show them, under ``BOARD_HEADERS``."""
    return [["–" if r["rank_ub"] is None else r["rank_ub"], r["system"], round(r["rating"]), interval_text(r),
             r["votes"], f"{100 * r['both_bad_rate']:.0f}%", "preliminary" if r["preliminary"] else "ranked",
             r["note"] or ""] for r in rows]


def mark_imported(rows: list[dict], imported_models: set[str]) -> list[dict]:
    """Board rows with ``imported``: whether the system's model is one of ``imported_models`` (its runs came
    from published result files, ``import-results``, not from a model run here)."""
    return [{**r, "imported": r["system"].rpartition(":")[0] in imported_models} for r in rows]


TAB_CHOICE = "choose their Track and Battles above"  # the tab's menus; the CLI names its flags


def summary_markdown(board: Board, votes_now: int | None = None, elsewhere: dict[str, int] | None = None,
                     empty: str | None = None, choose: str = TAB_CHOICE) -> str:
    """The line above a board: its title, its vote count, and what preliminary means. ``elsewhere``: the
    other boards that hold votes (title -> votes), named when this one is empty, so that a visitor who just
    voted on another kind of battle is not told there are no votes. ``empty``: what to say of an empty board
    in place of ``EMPTY_TEXT`` (the Arena tab's advice), where its votes come from elsewhere (a votes file).
    ``choose``: how to see the boards ``elsewhere`` names (the tab's menus by default)."""
    votes_now = board.votes if votes_now is None else votes_now
    if votes_now == 0 and elsewhere:
        where = "; ".join(f"**{title}**: {n} vote{'s' if n != 1 else ''}" for title, n in elsewhere.items())
        return (f"**{board.title}**: 0 votes on this board yet. Votes so far are on other boards ({where}): "
                f"{choose}.")
    if votes_now == 0:
        return f"**{board.title}**: 0 votes; {empty or f'{EMPTY_TEXT} in the Arena tab'}."
    text = (f"**{board.title}**: {votes_now} vote{'s' if votes_now != 1 else ''}. Systems with fewer than "
            f"{board.min_votes} votes are *preliminary*: listed last, placed against the ranked board without "
            "moving it, and not ranked.")
    if votes_now != board.votes and not board.votes:  # no board is shown yet (the tab hides one with no rows)
        text += " *Refitting: the board shows once its first votes are counted; Refresh in a moment.*"
    elif votes_now != board.votes:
        text += f" *Refitting: the board below counts {board.votes} of them.*"
    return text


def left_out_text(flagged: int) -> str:
    """What the board says of its votes on flagged battles (a side named its model before the vote), which the
    ratings leave out: ``" 3 votes left out of the ratings: ..."``, or "" for none."""
    if not flagged:
        return ""
    return (f" {flagged} vote{'s' if flagged != 1 else ''} left out of the ratings: a side's answer named a"
            " model (redacted before the vote, as large public arenas do).")


def elsewhere_votes(votes, track: str, kind: str) -> dict[str, int]:
    """The other boards with votes, ``board_title`` -> votes, in board order (tracks UEG, GEU; kinds as
    ``KIND_LABELS``); ``votes(track, kind)`` gives a board's count. ``summary_markdown``'s ``elsewhere``."""
    others = ((t, k) for t in ("UEG", "GEU") for k in KIND_LABELS if (t, k) != (track, kind))
    return {board_title(t, k): n for t, k in others if (n := votes(t, k))}


def board_markdown(board: Board, empty: str | None = None, elsewhere: dict[str, int] | None = None,
                   flagged: int = 0, choose: str = TAB_CHOICE) -> str:
    """The summary line, the board as a Markdown table and what its columns mean (the empty state when there
    are no votes: ``empty``, ``elsewhere`` and ``choose``, as ``summary_markdown`` takes them); ``flagged``: its
    votes on flagged battles, said as the tab says them (``left_out_text``)."""
    lines = [summary_markdown(board, elsewhere=elsewhere if board.votes == 0 else None, empty=empty,
                              choose=choose) + left_out_text(flagged)]
    if board.rows:
        lines += ["", "| " + " | ".join(BOARD_HEADERS) + " |", "|" + "---|" * len(BOARD_HEADERS)]
        lines += ["| " + " | ".join(markdown_text(str(c)) if i != 1 else markdown_name(c) for i, c in enumerate(row))
                  + " |" for row in board_table(board.rows)]
        lines += ["", COLUMNS_MARKDOWN]
    return "\n".join(lines)


def markdown_name(name: str) -> str:
    """A system or model name as a Markdown cell: ``markdown_text``, and as Python's ``ascii`` writes it (quoted,
    escapes visible) where a table would show it like another name (white space around or doubled inside,
    which Markdown drops, not in Unicode NFC form, a zero-width joiner between emoji, drawn as the two emoji
    where a font lacks the sequence: ``vote_files.look_alikes``, ``shown.font_joined``; or a letter of Cyrillic or
    Greek among Latin ones, "gpt-4" with a Cyrillic "р": ``shown.mixed_script``)."""
    plain = (name == unicodedata.normalize("NFC", " ".join(name.split())) and not font_joined(name)
             and not mixed_script(name))
    return markdown_text(name if plain else ascii(name))


_TEXT_FIELDS = ("system", "note")  # ``spreadsheet.safe_row``'s fields of a board's CSV row


def boards_csv(boards: list[Board]) -> str:
    """The boards as CSV (``CSV_FIELDS``, one row per system). Names are written as read, except that a text cell
    starting like a spreadsheet formula, or read as a value (``3-4``, ``1e5``), gets a leading ``'``
    (``spreadsheet.spreadsheet_safe``); ``--format json`` keeps every name exactly."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for board in boards:
        for r in board.rows:
            row = {"track": board.track, "kind": board.kind, **{k: r[k] for k in CSV_FIELDS[2:]}}
            writer.writerow(safe_row(row, _TEXT_FIELDS))
    return out.getvalue()


def boards_json(boards: list[Board]) -> str:
    return json.dumps([b.to_dict() for b in boards], indent=2, ensure_ascii=False)


class Leaderboards:
    """The boards of one store as the app serves them: counts kept current incrementally, one fit per
    board and new vote on a background thread, the last finished board kept per (track, kind, min_votes).
    Thread-safe."""

    def __init__(self, store: Store, rounds: int = 200, seed: int = 0):
        self.store = store
        self.rounds, self.seed = rounds, seed
        self.counts = VoteCounts()
        self._done: dict[tuple, Board] = {}
        self._jobs: dict[tuple, concurrent.futures.Future] = {}
        self._fitting: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self._refits = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="refit")
        self._agreement: tuple[tuple, list[dict]] | None = None

    def board(self, track: str, kind: str, min_votes: int, wait: float | None = None) -> Board:
        """The board with every stored vote, once its refit finishes within ``wait`` seconds (None: however
        long it takes); otherwise the last finished one (``Board.votes`` says how many it counts)."""
        self.counts.update(self.store)
        version = self.counts.table(track, kind).last_vote_id
        key = (track, kind, min_votes)
        with self._lock:
            done = self._done.get(key)
            if done is not None and done.last_vote_id >= version:
                return done
            job = self._jobs.get(key)
            # a queued job will read the newest counts when it starts; a running one may have read older ones
            if job is None or job.done() or (job.running() and self._fitting.get(key, -1) < version):
                job = self._jobs[key] = self._refits.submit(self._refit, key)
        try:
            return job.result(timeout=None if done is None else wait)
        except concurrent.futures.TimeoutError:
            return done

    def votes(self, track: str, kind: str) -> int:
        """Votes on this board as of the last ``board`` call (no query)."""
        return self.counts.table(track, kind).total

    def elsewhere(self, track: str, kind: str) -> dict[str, int]:
        """The other boards with votes as of the last ``board`` call: ``board_title`` -> votes, in board order
        (tracks UEG, GEU; kinds as ``KIND_LABELS``)."""
        return elsewhere_votes(self.votes, track, kind)

    def _refit(self, key: tuple) -> Board:
        track, kind, min_votes = key
        table = self.counts.table(track, kind)
        with self._lock:
            self._fitting[key] = table.last_vote_id
        rows = rate_counts(table, min_votes=min_votes, rounds=self.rounds, seed=self.seed)
        board = Board(track, kind, min_votes, table.total, table.last_vote_id, rows)
        with self._lock:
            if key not in self._done or self._done[key].last_vote_id <= board.last_vote_id:
                self._done[key] = board
        return board

    def agreement(self) -> list[dict]:
        """``judge_agreement``, recomputed only after a new vote or judgment; empty at once if nothing is judged."""
        judged = self.store.query("select count(*) as n, max(id) as last, max(created_at) as at"
                                  " from judgments where score is not null")[0]
        if not judged["n"]:
            return []
        version = (tuple(judged.values()), self.counts.last_vote_id)
        cached = self._agreement
        if cached is None or cached[0] != version:
            cached = self._agreement = version, judge_agreement(self.store)
        return cached[1]


# -- judges against humans -------------------------------------------------------------------------

def judge_agreement(store: Store) -> list[dict]:
    """Per judge, over voted battles whose two runs that judge scored: how often the judge's scores
    prefer the side humans preferred. ``agreement`` counts ties (equal scores; tie or both-bad votes)
    as a third answer; ``agreement_decisive`` uses only battles both sides called decisively. Votes the
    ratings leave out (a flagged battle: a side named its model) are left out here too."""
    scores: dict[str, dict[int, int]] = defaultdict(dict)
    for j in store.judgments():
        if j["score"] is not None:
            scores[j["judge"]][j["run_id"]] = j["score"]
    if not scores:
        return []  # nothing judged: no need to read the votes
    votes = [v for v in store.votes() if v["run_a"] is not None and v["run_b"] is not None and not v["flagged"]]

    board = []
    for judge in sorted(scores):
        judged = scores[judge]
        pairs = [(_preference(judged[v["run_a"]], judged[v["run_b"]]),
                  v["choice"] if v["choice"] in ("A", "B") else "tie")
                 for v in votes if v["run_a"] in judged and v["run_b"] in judged]
        decisive = [(j, h) for j, h in pairs if j != "tie" and h != "tie"]
        board.append({
            "judge": judge,
            "battles": len(pairs),
            "agreement": _share(pairs),
            "decisive_battles": len(decisive),
            "agreement_decisive": _share(decisive),
        })
    return board


def agreement_table(rows: list[dict]) -> list[list]:
    """``judge_agreement`` rows as the Leaderboard shows them, under ``AGREEMENT_HEADERS``: shares in whole
    percent; a judge with no decisive battle yet (its scores never differed on a battle people decided) has
    ``NOTHING_TO_COMPARE`` in both share columns, not a share of ties that read as "0%" agreement."""
    def share(x: float | None, decisive: int) -> str:
        return NOTHING_TO_COMPARE if x is None or not decisive else f"{100 * x:.0f}%"

    return [[r["judge"], r["battles"], share(r["agreement"], r["decisive_battles"]), r["decisive_battles"],
             share(r["agreement_decisive"], r["decisive_battles"])] for r in rows]


def agreement_note(rows: list[dict]) -> str:
    """The text under the agreement table: ``AGREEMENT_EMPTY_TEXT`` while no voted battle counts, else
    ``PARSER_NOTE`` when ``ANSWER_PARSER`` (GEU's scoring, not a judge model) has a row, else ""."""
    if not any(r["battles"] for r in rows):
        return AGREEMENT_EMPTY_TEXT
    return PARSER_NOTE if any(r["judge"] == ANSWER_PARSER for r in rows) else ""


def _preference(score_a: float, score_b: float) -> str:
    return "A" if score_a > score_b else "B" if score_b > score_a else "tie"


def _share(pairs: list[tuple[str, str]]) -> float | None:
    return sum(j == h for j, h in pairs) / len(pairs) if pairs else None
