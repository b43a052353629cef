"""The leaderboard: Bradley-Terry ratings fitted to all votes at once, with bootstrap intervals.

BT maximum likelihood is order-free, unlike online Elo. Ties and both-bad count as half a win each way
(the convention of Chatbot Arena, so figures are comparable); both-bad is also reported on its own, as a
failure rate. A tiny ridge keeps a system that never lost finite. Ratings use the familiar display scale
1000 + 400/ln(10) * theta, so 100 points mean a 64% expected win rate.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np
from scipy.optimize import minimize

from realunify_arena.store import Store

BASE = 1000.0
SCALE = 400.0 / math.log(10.0)
OUTCOME = {"A": 1.0, "B": 0.0, "tie": 0.5, "both_bad": 0.5}  # P(A wins) each choice stands for


def fit_bt(n_systems: int, a: np.ndarray, b: np.ndarray, outcome: np.ndarray,
           weight: np.ndarray, ridge: float = 1e-4, start: np.ndarray | None = None) -> np.ndarray:
    """Log-strengths (mean zero) maximising sum(weight * log P(outcome)) - ridge * |theta|^2.

    P(A beats B) = sigmoid(theta[a] - theta[b]) (Bradley-Terry). Newton-CG with the exact Hessian (the
    objective is convex) converges in a handful of steps; the bootstrap calls this hundreds of times, so
    that matters more than it looks.

    Args:
        n_systems: number of systems ``S`` (>= 1); systems are the indices ``0 .. S-1``.
        a, b: integer arrays of shape ``(M,)``, values in ``[0, S)``: the two systems of each comparison row
            (``a != b``; a row may stand for many votes, see ``weight``).
        outcome: float array ``(M,)`` in ``[0, 1]``: P(A wins) the row stands for (1 A won, 0 B won,
            0.5 tie or both-bad; see ``OUTCOME``).
        weight: float array ``(M,)``, >= 0: how many votes the row stands for.
        ridge: L2 penalty (>= 0) that keeps a system that never lost finite.
        start: optional float array ``(S,)`` to start from (a previous fit, for the bootstrap).

    Returns:
        float array ``(S,)`` of log-strengths in natural-log units, mean zero (``to_display`` turns them
        into rating points). A system with no comparisons gets 0.

    Raises:
        IndexError: an index in ``a`` or ``b`` is outside ``[0, S)``.
        ValueError: ``a``, ``b``, ``outcome`` and ``weight`` differ in length.
    """
    n = n_systems

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[a] - theta[b]
        # -log sigma(d) = logaddexp(0, -d); a fractional outcome mixes both directions
        nll = weight * (outcome * np.logaddexp(0.0, -d) + (1.0 - outcome) * np.logaddexp(0.0, d))
        residual = weight * (1.0 / (1.0 + np.exp(-d)) - outcome)  # d(nll)/d(d)
        grad = np.bincount(a, residual, n) - np.bincount(b, residual, n)
        return float(nll.sum() + ridge * np.sum(theta * theta)), grad + 2.0 * ridge * theta

    def hessian(theta: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
        h = weight * p * (1.0 - p)
        flat = (np.bincount(a * n + a, h, n * n) + np.bincount(b * n + b, h, n * n)
                - np.bincount(a * n + b, h, n * n) - np.bincount(b * n + a, h, n * n))
        return flat.reshape(n, n) + 2.0 * ridge * np.eye(n)

    x0 = np.zeros(n) if start is None else start
    result = minimize(loss, x0, jac=True, hess=hessian, method="Newton-CG", options={"xtol": 1e-10})
    return result.x - result.x.mean()


def to_display(theta: np.ndarray) -> np.ndarray:
    """Log-strengths (any shape) -> rating points, ``1000 + 400/ln(10) * theta`` (100 points = 64% to win)."""
    return BASE + SCALE * theta


def leaderboard(store: Store, track: str | None = None, kind: str | None = None,
                min_votes: int = 100, rounds: int = 200, seed: int = 0,
                decisive_only: bool = False) -> list[dict]:
    """One row per system, best first: rating, 95% interval, Rank(UB), votes, both-bad rate.

    Systems with fewer than ``min_votes`` votes are ``preliminary`` and listed after the others.
    ``decisive_only`` drops ties and both-bad votes from the fit (they compress the spread).

    Args:
        store: the votes' store.
        track: ``"UEG"``, ``"GEU"`` or None (both).
        kind: ``"model_vs_model"``, ``"direct_vs_stepwise"`` or None (both).
        min_votes: votes (>= 0) below which a system is ``preliminary``.
        rounds: bootstrap refits (>= 0; 0 gives a zero-width interval).
        seed: bootstrap seed; the same votes and seed give the same board.

    Returns:
        A list of dicts, one per system (``"model:mode"``), with ``system``, ``rating``, ``lower``, ``upper``
        (rating points; ``lower``/``upper`` the 2.5/97.5 bootstrap percentiles), ``rank_ub`` (1 + number
        of systems whose lower bound is above this one's upper bound), ``votes``, ``both_bad_rate`` (in
        [0, 1]) and ``preliminary``. Empty when there are no votes.
    """
    # a battle whose output named its system (flagged) keeps its vote, but the vote is not rated
    return rate([v for v in store.votes(track=track, kind=kind) if not v.get("flagged")], min_votes=min_votes,
                rounds=rounds, seed=seed, decisive_only=decisive_only)


def rate(votes: Iterable[dict], min_votes: int = 100, rounds: int = 200, seed: int = 0,
         decisive_only: bool = False) -> list[dict]:
    """``leaderboard`` over vote rows (dicts with ``system_a``, ``system_b`` and ``choice``, one of ``OUTCOME``'s
    keys).

    Raises:
        KeyError: a row lacks one of those keys, or its choice is not in ``OUTCOME``.
    """
    votes = list(votes)
    systems = sorted({v["system_a"] for v in votes} | {v["system_b"] for v in votes})
    if not systems:
        return []
    index = {s: i for i, s in enumerate(systems)}
    n_votes, both_bad = Counter(), Counter()
    for v in votes:
        for side in ("system_a", "system_b"):
            n_votes[v[side]] += 1
            both_bad[v[side]] += v["choice"] == "both_bad"

    fitted = [v for v in votes if not decisive_only or v["choice"] in ("A", "B")]
    rows = Counter((index[v["system_a"]], index[v["system_b"]], OUTCOME[v["choice"]]) for v in fitted)
    keys = list(rows)
    a = np.array([k[0] for k in keys], dtype=np.intp)
    b = np.array([k[1] for k in keys], dtype=np.intp)
    outcome = np.array([k[2] for k in keys])
    counts = np.array([rows[k] for k in keys], dtype=float)

    theta = fit_bt(len(systems), a, b, outcome, counts)
    lower, upper = _bootstrap_interval(len(systems), a, b, outcome, counts, theta, rounds, seed)
    rating, lower, upper = to_display(theta), to_display(lower), to_display(upper)

    board = [
        {
            "system": s, "rating": float(rating[i]), "lower": float(lower[i]), "upper": float(upper[i]),
            "rank_ub": 1 + int(np.sum(lower > upper[i])), "votes": n_votes[s],
            "both_bad_rate": both_bad[s] / n_votes[s], "preliminary": n_votes[s] < min_votes,
        }
        for i, s in enumerate(systems)
    ]
    return sorted(board, key=lambda r: (r["preliminary"], -r["rating"]))


def _bootstrap_interval(n: int, a: np.ndarray, b: np.ndarray, outcome: np.ndarray, counts: np.ndarray,
                        theta: np.ndarray, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2.5 and 97.5 percentiles over refits on votes resampled with replacement (a fixed seed, so the
    board does not move between page loads); the point estimate stays the full-data fit."""
    total = int(counts.sum())
    if total == 0 or rounds <= 0:
        return theta.copy(), theta.copy()
    rng = np.random.default_rng(seed)
    draws = np.stack([
        fit_bt(n, a, b, outcome, rng.multinomial(total, counts / total).astype(float), start=theta)
        for _ in range(rounds)
    ])
    return np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)


def judge_agreement(store: Store) -> list[dict]:
    """Per judge, over voted battles whose two runs that judge scored: how often the judge's scores
    prefer the side humans preferred. ``agreement`` counts ties (equal scores; tie or both-bad votes)
    as a third answer; ``agreement_decisive`` uses only battles both sides called decisively."""
    scores: dict[str, dict[int, int]] = defaultdict(dict)
    for j in store.judgments():
        if j["score"] is not None:
            scores[j["judge"]][j["run_id"]] = j["score"]
    votes = [v for v in store.votes() if v["run_a"] is not None and v["run_b"] is not None]

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


def _preference(score_a: float, score_b: float) -> str:
    return "A" if score_a > score_b else "B" if score_b > score_a else "tie"


def _share(pairs: list[tuple[str, str]]) -> float | None:
    return sum(j == h for j, h in pairs) / len(pairs) if pairs else None
