"""Input files whose JSON or YAML is well formed but holds what Python cannot hold: an integer of more digits
than ``int()`` reads from text (``sys.get_int_max_str_digits()``, 4300 by default, Python's guard against
CVE-2020-10735) and nesting past the recursion limit. Each is one message naming the file and where in it,
never Python's own ``ValueError`` ("Exceeds the limit (4300 digits) for integer string conversion") or a
traceback.

Before (official25): a votes file with a 5,000-digit number ended ``leaderboard --votes`` in a traceback; a model
card with one raised a bare ``ValueError`` from ``load_card`` (a hexadecimal one Python's message without the
file); a ``.jsonl`` result line nested 100,000 deep said "maximum recursion depth exceeded while decoding a
JSON array from a unicode string"; a 5,000-digit ``score`` was shown as a quoted run of digits.
"""

from __future__ import annotations

import json
import sys

import pytest

from realunify_arena.cards import CardError, load_card
from realunify_arena.cli import main
from realunify_arena import unique_keys
from realunify_arena.unique_keys import load_yaml, loads_json
from realunify_arena.vote_files import VotesFileError, read_votes

DIGITS = 5000
LIMIT = 4300  # Python's default (the docs of sys.set_int_max_str_digits)
BATTLE = {"model_a": "a", "model_b": "b", "winner": "model_a", "track": "UEG", "kind": "model_vs_model"}


@pytest.fixture(autouse=True)
def _default_limit():
    if sys.get_int_max_str_digits() != LIMIT:
        pytest.skip("the interpreter runs with a non-default int_max_str_digits")


def _battle_text(**extra_raw: str) -> str:
    text = json.dumps(BATTLE)[:-1]
    return text + "".join(f', "{k}": {v}' for k, v in extra_raw.items()) + "}"


def test_loads_json_names_the_place_of_an_integer_too_long():
    text = '[{"a": 1}, {"b": [2, {"c": %s}]}]' % ("9" * DIGITS)
    with pytest.raises(unique_keys.LongIntegerError) as found:
        loads_json(text)
    assert str(found.value) == f"'[1].b[1].c': an integer of {DIGITS} digits, over the {LIMIT} digits Python reads as a number"
    assert loads_json('[1, -2, {"x": 30}]') == [1, -2, {"x": 30}]  # ordinary integers read as before


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_votes_file_with_an_integer_too_long_names_file_and_field(tmp_path, suffix, capsys):
    line = _battle_text(tstamp="9" * DIGITS)
    path = tmp_path / f"votes{suffix}"
    path.write_text(f"[{line}]" if suffix == ".json" else line + "\n", encoding="utf-8")
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    place = "'[0].tstamp'" if suffix == ".json" else "line 1: 'tstamp'"
    assert str(refused.value).startswith(f"{path}") and place in str(refused.value), refused.value
    assert f"an integer of {DIGITS} digits" in str(refused.value)
    assert main(["leaderboard", "--votes", str(path)]) != 0  # the command: a message, no traceback
    err = capsys.readouterr().err
    assert f"an integer of {DIGITS} digits" in err and "Traceback" not in err and "Exceeds the limit" not in err


@pytest.mark.parametrize("value, digits", [("9" * DIGITS, DIGITS), ("0x" + "f" * DIGITS, 6021)])
def test_a_model_card_with_an_integer_too_long_names_file_and_line(tmp_path, value, digits):
    """16**5000 - 1 has 6021 decimal digits (5000 * log10(16) = 6020.6); Python reads hex of any length but
    cannot print it, so the card check's own message about the value failed with Python's."""
    card = tmp_path / "m.yaml"
    card.write_text(f"family: diffusers\ncheckpoint: x/y\ncapabilities: [generate]\ndefaults: {{steps: {value}}}\n",
                    encoding="utf-8")
    with pytest.raises(CardError) as refused:
        load_card(card)
    said = str(refused.value)
    assert said.startswith(f"{card}: ") and "line 4" in said and f"an integer of {digits} digits" in said, said
    assert load_yaml("a: [1, 0x10, 1_000]\n") == {"a": [1, 16, 1000]}


def _geu_entry(**fields) -> dict:
    return {"index": 1, "task_type": "mental_tracking", "input_image": "x.png", "question": "q?",
            "option": ["a", "b", "c", "d"], "answer": "A", **fields}


def test_a_result_line_nested_too_deeply_and_a_score_too_long_are_named(tmp_path, capsys):
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "GEU_direct.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    assert main(["score-official", str(deep)]) != 0
    err = capsys.readouterr().err
    assert "GEU_direct.jsonl, line 1: JSON nested too deeply to read" in err and "maximum recursion" not in err, err
    long = tmp_path / "long"
    long.mkdir()
    (long / "GEU_direct.jsonl").write_text(json.dumps(_geu_entry(score=0)).replace('"score": 0', '"score": '
                                                                                  + "9" * DIGITS) + "\n")
    assert main(["score-official", str(long)]) != 0
    err = capsys.readouterr().err
    assert f"field 'score': expected 0 or 1 (the official per-item score), got an integer of {DIGITS} digits" in err
    assert "9999" not in err
