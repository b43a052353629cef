"""A visitor's own instance is labelled as their own, with the category they chose or none (board14).

Before: ``custom_instance`` put the track's first task type on an instance whose visitor chose "all", and
the page showed it as that category (e.g. "Mental Reconstruction (MR-II)" for any own GEU question).
"""

from __future__ import annotations

import pytest
from PIL import Image

from realunify_arena.benchmark.custom import category_label, custom_instance, is_own
from realunify_arena.benchmark.schema import CATEGORIES, GEUInstance, UEGInstance


def geu(category: str):
    return custom_instance("GEU", category, None, Image.new("RGB", (8, 8), "orange"), "Which colour?",
                           "orange\nblue\ngreen\nred", "A")


@pytest.mark.parametrize("category", ["all", "", None, "world_knowledge"])  # none, or another track's
def test_an_own_geu_question_without_a_category_of_its_track_names_none(category):
    inst = geu(category)
    assert is_own(inst) and category_label(inst) == "own question"
    assert not any(c.name in category_label(inst) or f"({c.abbreviation})" in category_label(inst)
                   for c in CATEGORIES.values())


def test_an_own_instance_shows_the_category_its_visitor_chose():
    assert category_label(geu("mental_tracking")) == "own question · Mental Tracking (MT)"
    prompt = custom_instance("UEG", "world_knowledge", "A red bus", None, None, None, None)
    assert category_label(prompt) == "own prompt · World Knowledge (WK)"
    assert category_label(custom_instance("UEG", "all", "A red bus", None, None, None, None)) == "own prompt"


def test_a_data_sources_instance_keeps_its_category_name():
    ueg = UEGInstance(index=3, task_type="logical_reasoning", prompt="p")
    geu_inst = GEUInstance(index=4, task_type="cognitive_navigation", question="q", option=list("abcd"), answer="A")
    assert not is_own(ueg) and category_label(ueg) == "Logical Reasoning (LR)"
    assert category_label(geu_inst) == "Cognitive Navigation (CN)"


def test_the_stepwise_prompt_still_has_a_category_to_use():
    """With no category chosen the run still needs an edit prompt: the track's first one, as before."""
    assert geu("all").edit_text == geu("mental_reconstruction").edit_text
