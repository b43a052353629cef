"""`leaderboard --votes FILE` against outside references (session 23 arena review).

FastChat's published battle files (``clean_battle_<date>.json``, written by ``clean_battle_data.py`` with
``json.dump(battles, fout, indent=2)``) hold one to two million battles; ``elo_analysis.py`` reads one with
``pd.read_json`` and rates it in minutes. Reading such a file here must cost a few microseconds a battle, not
the price of a refusal message per battle.
"""

from __future__ import annotations

import json

from realunify_arena import shown
from realunify_arena.vote_files import read_votes

BOARD = ("UEG", "model_vs_model")


def fastchat_battles(n: int) -> list[dict]:
    """``n`` anonymous FastChat battles between four models, winners in turn (model_a, model_b, tie, both bad)."""
    models = ["vicuna-13b", "koala-13b", "alpaca-13b", "llama-13b"]
    winners = ["model_a", "model_b", "tie", "tie (bothbad)"]
    return [{"model_a": models[k % 4], "model_b": models[(k + 1) % 4], "winner": winners[k % 4],
             "judge": f"arena_user_{k}", "turn": 1, "anony": True, "language": "English",
             "tstamp": 1682000000.5 + k} for k in range(n)]


def test_valid_battles_are_read_without_building_a_refusal_for_each(tmp_path, monkeypatch):
    """Before: every FastChat battle's two model names were first checked as ``model:mode`` systems, and the
    refusal that check builds (``shown.brief``, which reads every environment variable for secrets to mask)
    was made and thrown away: 0.6 ms a battle, 20 minutes for FastChat's 2-million-battle file. A valid record
    needs no message: reading valid battles and valid `export votes` lines reads the secrets zero times."""
    reads = []
    real = shown.secret_values
    monkeypatch.setattr(shown, "secret_values", lambda: reads.append(1) or real())

    battles = tmp_path / "clean_battle_20240814.json"
    battles.write_text(json.dumps(fastchat_battles(400), indent=2))
    exported = tmp_path / "votes.jsonl"
    exported.write_text("".join(json.dumps({"vote_id": k + 1, "track": "UEG", "kind": "model_vs_model",
                                            "system_a": "m1:direct", "system_b": "m2:stepwise",
                                            "choice": "AB"[k % 2]}) + "\n" for k in range(400)))

    assert len(read_votes(battles, BOARD)) == 400 and len(read_votes(exported)) == 400
    assert reads == []
    bad = tmp_path / "bad.json"  # the check still refuses a bad name, with the message it builds
    bad.write_text(json.dumps([{"model_a": "bad name", "model_b": "x", "winner": "tie"}]))
    try:
        read_votes(bad, BOARD)
    except ValueError as e:
        assert "model_a 'bad name'" in str(e) and "entry 1" in str(e)
    else:
        raise AssertionError("a model name with a space was read")
