"""`leaderboard --votes FILE` rates FastChat battles with their model names as written (session 25).

FastChat's ratings (``fastchat/serve/monitor/rating_systems.py``) take model_a and model_b as plain strings:
``get_matchups_models`` maps them to ids with ``pd.factorize``, so "meta-llama/Llama-2-70b", "gpt-4o@2024",
"Gemini 1.5 Pro", "qwen:7b" or "模型" are models like any other, and "m1" and "m1 " are two. Its ``compute_bt``
fits ``bt_loss_and_grad``: a battle of a model against itself has logit 0 (a constant loss) and adds +g and -g to
the same model's gradient (``np.add.at``), so it moves no rating. Before, such names, or one self-battle, refused
the whole file.

The reference below is that objective written here (weighted logistic loss of (a, b, outcome) triples, ties 0.5,
``alpha = ln 10 / 400``, from zero ratings, self-battles included), solved by scipy's L-BFGS-B; the Markdown is
rendered by an independent CommonMark renderer (markdown-it-py, raw HTML on, as a browser would take it).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
import unicodedata
from collections import Counter

import numpy as np
import pytest
from markdown_it import MarkdownIt
from scipy.optimize import minimize

from realunify_arena.cli import main

BOARD = ["--track", "UEG", "--kind", "model_vs_model"]
PLAIN = ["m1", "m2", "m3", "m4"]
OUTSIDE = ["meta-llama/Llama-2-70b", "gpt-4o@2024", "Gemini 1.5 Pro", "qwen:7b", "模型", "janus-pro-1b:stepwise",
           "a|b `c` <script>alert(1)</script> *x* [l](http://e.x) &amp; \\| ~~s~~ $m$"]


def plan_battles(names: list[str]) -> list[dict]:
    """A connected board of four models where each won and lost, with ties and both-bad."""
    a, b, c, d = names
    plan = [(a, b, "model_a", 9), (b, a, "model_a", 3), (b, c, "model_a", 6), (c, b, "model_a", 4),
            (c, a, "model_b", 7), (a, c, "model_b", 2), (c, d, "model_a", 5), (d, c, "model_a", 2),
            (d, a, "tie", 3), (b, d, "tie (bothbad)", 4), (d, b, "model_b", 3), (a, d, "model_a", 6)]
    return [{"model_a": x, "model_b": y, "winner": w, "anony": True, "language": "English", "tstamp": 1.0 + k}
            for k, (x, y, w, n) in enumerate(plan) for _ in range(n)]


def compute_bt(battles: list[dict]) -> dict[str, float]:
    """FastChat's compute_bt objective on ``battles`` (module docstring), ratings 1000 + 400 * coefficient."""
    models = sorted({r["model_a"] for r in battles} | {r["model_b"] for r in battles})
    index = {m: i for i, m in enumerate(models)}
    triples = Counter((index[r["model_a"]], index[r["model_b"]],
                       {"model_a": 1.0, "model_b": 0.0}.get(r["winner"], 0.5)) for r in battles)
    ab = np.array([[i, j] for i, j, _ in triples])
    outcome = np.array([o for _, _, o in triples])
    weight = np.array(list(triples.values()), dtype=float)
    alpha = math.log(10) / 400

    def loss_and_grad(r):
        p = 1 / (1 + np.exp(-alpha * (r[ab[:, 0]] - r[ab[:, 1]])))
        loss = -((np.log(p) * outcome + np.log(1 - p) * (1 - outcome)) * weight).sum()
        grad = np.zeros_like(r)
        np.add.at(grad, ab, (-alpha * (outcome - p) * weight)[:, None] * np.array([1.0, -1.0]))
        return loss, grad

    fit = minimize(loss_and_grad, np.zeros(len(models)), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
    return {m: 1000 + float(fit.x[index[m]]) for m in models}


def leaderboard(tmp_path, capsys, battles: list[dict], fmt: str = "json", name: str = "clean_battle.json"):
    path = tmp_path / name
    path.write_text(json.dumps(battles, indent=2, ensure_ascii=False), encoding="utf-8")
    code = main(["leaderboard", "--votes", str(path), "--format", fmt, "--rounds", "20", "--min-votes", "0", *BOARD])
    out, err = capsys.readouterr()
    assert code == 0, err
    return path, out, err


def markdown_rows(text: str) -> list[list[str]]:
    """The board table's body cells as a browser shows them (tags dropped, entities decoded)."""
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    body = re.search(r"<tbody>(.*?)</tbody>", rendered, re.S).group(1)
    assert not re.search(r"<(?!/?(tr|td)[ >])", body), body  # no element made of a name: no script, link, em
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


@pytest.mark.parametrize("outside", OUTSIDE, ids=["slash", "at", "spaces", "colon", "cjk", "own-system", "markup"])
def test_a_model_named_as_other_arenas_name_it_is_rated_as_written_in_every_format(tmp_path, capsys, outside):
    names = [outside, *PLAIN[1:]]
    battles = plan_battles(names)
    expected = compute_bt(battles)
    _, out, _ = leaderboard(tmp_path, capsys, battles)
    (board,) = json.loads(out)
    assert board["votes"] == len(battles)
    got = {r["system"]: r["rating"] for r in board["rows"]}
    assert got.keys() == expected.keys()
    for model, rating in expected.items():
        assert got[model] == pytest.approx(rating, abs=0.5), model
    (plain,) = json.loads(leaderboard(tmp_path, capsys, plan_battles(PLAIN), name="plain.json")[1])
    assert [r["rating"] for r in board["rows"] if r["system"] == outside] == pytest.approx(
        [r["rating"] for r in plain["rows"] if r["system"] == "m1"], abs=1e-6)  # the same battles, renamed

    rows = list(csv.DictReader(io.StringIO(leaderboard(tmp_path, capsys, battles, "csv")[1])))
    assert sorted(r["system"] for r in rows) == sorted(names)

    shown = markdown_rows(leaderboard(tmp_path, capsys, battles, "markdown")[1])
    assert all(len(row) == 8 for row in shown) and sorted(row[1] for row in shown) == sorted(names)


def test_a_battle_of_a_model_against_itself_is_left_out_and_said_in_every_format(tmp_path, capsys):
    """FastChat's compute_bt gives such a battle no gradient; here it is left out, counted in the note."""
    battles = plan_battles(PLAIN)
    selfish = battles[:5] + [dict(battles[0], model_b="m1", winner="model_a"),
                             dict(battles[1], model_a="m3", model_b="m3", winner="tie")] + battles[5:]
    expected = compute_bt(selfish)
    for fmt in ("json", "csv", "markdown"):
        path, out, err = leaderboard(tmp_path, capsys, selfish, fmt)
        assert f"note: {path}: 2 left out: 2 a model against itself" in err and "Traceback" not in err
    path, out, err = leaderboard(tmp_path, capsys, selfish)
    (board,) = json.loads(out)
    assert board["votes"] == len(battles)
    for r in board["rows"]:
        assert r["rating"] == pytest.approx(expected[r["system"]], abs=0.5), r["system"]
    assert {r["system"]: r["votes"] for r in board["rows"]} == dict(Counter(
        m for b in battles for m in (b["model_a"], b["model_b"])))

    line = {"track": "UEG", "kind": "model_vs_model", "system_a": "m:direct", "system_b": "m:direct", "choice": "A"}
    lines = tmp_path / "votes.jsonl"  # an export's vote of a system against itself: left out the same way
    lines.write_text(json.dumps(line) + "\n")
    assert main(["leaderboard", "--votes", str(lines), "--format", "json", *BOARD]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["votes"] == 0 and "1 a model against itself" in err


@pytest.mark.parametrize("bad, message", [
    ("", "field 'model_b' is missing or empty"),
    (7, "field 'model_b' is missing or empty"),
    ("   ", "only white space"),
    ("a\nb", "control character (U+000A)"),
    ("a\u2028b", "line separator (U+2028)"),
    ("evil\u202egnp.exe", "invisible format character (U+202E)"),
    ("zero\u200bwidth", "invisible format character (U+200B)"),
    ("\ud800", "lone surrogate (U+D800)"),  # yajl, ijson's C parser, read it as '?'
    ("ab\udc00", "lone surrogate (U+DC00)"),
    ("x" * 257, "(257 characters)"),
], ids=["empty", "number", "blank", "newline", "line-separator", "bidi", "zero-width", "high-surrogate",
        "low-surrogate", "long"])
def test_a_name_no_table_can_show_is_refused_naming_the_file_entry_and_field(tmp_path, capsys, bad, message):
    battles = plan_battles(PLAIN)
    battles[2] = dict(battles[2], model_b=bad)
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(battles))  # ASCII, \u escapes: a lone surrogate is JSON text
    for fmt in ("json", "markdown"):
        assert main(["leaderboard", "--votes", str(path), "--format", fmt, *BOARD]) == 2
        err = capsys.readouterr().err
        assert f"{path} entry 3 (index 2): " in err and message in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1
    if isinstance(bad, str) and bad.strip():
        assert "expected a model name of 1 to 256 characters on one line" in err


def test_the_longest_name_allowed_and_escaped_surrogate_pairs_are_rated(tmp_path, capsys):
    longest, emoji = "x" * 256, "model \U0001f600"
    battles = plan_battles([longest, emoji, *PLAIN[2:]])
    (board,) = json.loads(leaderboard(tmp_path, capsys, battles)[1])
    path = tmp_path / "ascii.json"  # json.dumps' default: the emoji as the escapes "\ud83d\ude00"
    path.write_text(json.dumps(battles))
    assert main(["leaderboard", "--votes", str(path), "--format", "json", "--rounds", "20", "--min-votes", "0",
                 *BOARD]) == 0
    assert {r["system"] for r in board["rows"]} == {longest, emoji, *PLAIN[2:]}
    assert json.loads(capsys.readouterr().out)[0]["rows"] == board["rows"]


def test_names_differing_only_in_white_space_or_normalization_are_two_models_shown_apart(tmp_path, capsys):
    """As FastChat: each exact string is one model. A note says which names look alike, and the Markdown shows
    the one a table would show like another as Python's ascii writes it."""
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    battles = plan_battles([nfc, "m2", "m3", "m4"]) + plan_battles([nfd, "m2 ", "m3", "m4"])
    expected = compute_bt(battles)
    path, out, err = leaderboard(tmp_path, capsys, battles)
    got = {r["system"]: r["rating"] for r in json.loads(out)[0]["rows"]}
    assert got.keys() == expected.keys() == {nfc, nfd, "m2", "m2 ", "m3", "m4"}
    for model, rating in expected.items():
        assert got[model] == pytest.approx(rating, abs=0.5), ascii(model)
    assert f"note: {path}: 'cafe\\u0301' and 'caf\\xe9' differ only in white space or Unicode normalization" in err
    assert f"note: {path}: 'm2' and 'm2 ' differ only" in err

    shown = [row[1] for row in markdown_rows(leaderboard(tmp_path, capsys, battles, "markdown")[1])]
    assert len(set(shown)) == 6 and {nfc, "'cafe\\u0301'", "m2", "'m2 '"} <= set(shown)


def test_a_name_starting_like_a_spreadsheet_formula_is_text_in_the_csv_and_exact_in_the_json(tmp_path, capsys):
    """Outside names are rated as written, so a votes file may name a model "=HYPERLINK(...)" or "@SUM(1)". A
    spreadsheet opening the CSV ran such a cell as a formula (verify25); OWASP's advice: a leading apostrophe,
    which the spreadsheet shows as text. JSON keeps the names exactly."""
    names = ["=HYPERLINK(\"http://x\")", "+1", "@SUM(1)", "- item"]
    battles = plan_battles(names)
    _, out, _ = leaderboard(tmp_path, capsys, battles, fmt="csv")
    systems = {row["system"] for row in csv.DictReader(io.StringIO(out))}
    assert systems == {"'" + name for name in names}, systems
    _, out, _ = leaderboard(tmp_path, capsys, battles, fmt="json")
    assert {row["system"] for board in json.loads(out) for row in board["rows"]} == set(names)
