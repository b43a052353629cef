"""A card number written in exponent form without a dot (``guidance: 1e5``) is text to YAML: the refusal says so.

PyYAML follows YAML 1.1, whose float needs a dot, and a signed exponent where there is one
(https://yaml.org/type/float.html): ``1e5`` and ``5E-1`` are read as the strings '1e5' and '5E-1'. The card
was refused with "expected a number, got '1e5'", which reads as nonsense to anyone who wrote a number. Now the
message says YAML read it as text and what to write instead; the suggestion is checked here by loading it with
PyYAML itself and through the card loader.
"""

from __future__ import annotations

import re

import pytest
import yaml

from realunify_arena.cards import CardError, load_card

CARD = """family: tiny
description: a tiny pair
capabilities: [understand, generate, edit]
dtype: float32
defaults: {{width: 32, height: 32, steps: {steps}, guidance: {guidance}, max_new_tokens: 8}}
params: {{base: pair, seed: 0, limits: {{guidance: 1000000}}}}  # above 100, the default bound: 1e5 is taken
"""


@pytest.mark.parametrize("field, written, steps, guidance, value", [
    ("guidance", "1e5", 2, "1e5", 1e5),
    ("guidance", "5E-1", 2, "5E-1", 0.5),
    ("steps", "5e1", "5e1", 3.0, 50),
])
def test_the_message_names_yaml_and_a_form_it_reads_as_the_number(tmp_path, field, written, steps, guidance, value):
    assert isinstance(yaml.safe_load(f"x: {written}")["x"], str)  # the premise: PyYAML reads it as text
    path = tmp_path / "tiny-x.yaml"
    path.write_text(CARD.format(steps=steps, guidance=guidance), encoding="utf-8")
    with pytest.raises(CardError) as caught:
        load_card(path)
    message = str(caught.value)
    assert f"field 'defaults.{field}'" in message and f"YAML reads {written} as text" in message, message
    suggested = re.search(r"write (\S+?)[ )]", message).group(1)
    assert yaml.safe_load(f"x: {suggested}")["x"] == value  # what it suggests is that number to YAML
    path.write_text(CARD.format(steps=suggested if field == "steps" else 2,
                                guidance=suggested if field == "guidance" else 3.0), encoding="utf-8")
    card = load_card(path)
    assert getattr(card.defaults, field) == value


def test_plain_text_gets_no_yaml_hint(tmp_path):
    path = tmp_path / "tiny-x.yaml"
    path.write_text(CARD.format(steps=2, guidance="high"), encoding="utf-8")
    with pytest.raises(CardError) as caught:
        load_card(path)
    assert "expected a number, got 'high'" in str(caught.value) and "YAML reads" not in str(caught.value)


@pytest.mark.parametrize("written, value", [
    ("1e-5", 1e-5),  # Python writes 1e-05: no dot, text to YAML again
    ("1e20", 1e20),  # 1e+20
    ("1.25e3", 1250.0),  # 1.2e+03 would be another number
    ("3E-7", 3e-7),
    ("1e5", 1e5),
])
def test_every_form_the_message_suggests_is_that_number_to_yaml(tmp_path, written, value):
    """Each spelling after 'write' is read back by PyYAML itself (the outside reference) as the very number."""
    assert isinstance(yaml.safe_load(f"x: {written}")["x"], str)
    path = tmp_path / "tiny-x.yaml"
    path.write_text(CARD.format(steps=2, guidance=written), encoding="utf-8")
    with pytest.raises(CardError) as caught:
        load_card(path)
    message = str(caught.value)
    forms = re.search(r"write (.+?)\)", message).group(1).split(" or ")
    assert forms, message
    for form in forms:
        assert yaml.safe_load(f"x: {form}")["x"] == value, (form, message)
