"""``page_links``: the one home of the page's links, outside ``ui/``. Expected values from the WHATWG URL Standard
(``URLSearchParams.get`` returns a name's first value, as the browser reads a link's tab) and from what each tab
offers (``TRACKS``, ``arena.KINDS``), written out here."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from realunify_arena.page_links import (arena_query, card_settings, changed_settings, explore_query, key_problems,
                                        leaderboard_query, link_params, link_tab, read_arena, read_board, read_explore,
                                        tab_problems)

SOURCES = ["bundled", "Café"]  # public names; the second in NFC


def _params(query: str) -> dict[str, str]:
    return link_params(parse_qsl(urlsplit(query).query, keep_blank_values=True))


def test_a_repeated_key_counts_by_its_first_value_as_the_browser_reads_it():
    assert _params("?tab=leaderboard&track=GEU&tab=explore&track=UEG") == {"tab": "leaderboard", "track": "GEU"}


@pytest.mark.parametrize("tab, opened, said", [(None, "explore", False), ("arena", "arena", False),
                                               ("zzz", "explore", True), ("Leaderboard", "explore", True),
                                               ("", "explore", True)])
def test_a_link_s_tab_and_an_unknown_one_said(tab, opened, said):
    params = {} if tab is None else {"tab": tab}
    assert link_tab(params) == opened
    assert bool(tab_problems(params)) is said


def test_each_tab_s_query_leaves_its_defaults_out_and_the_arena_s_names_no_battle():
    assert leaderboard_query("UEG", "model_vs_model") == "?tab=leaderboard"
    assert leaderboard_query("GEU", "direct_vs_stepwise") == "?tab=leaderboard&track=GEU&battles=direct_vs_stepwise"
    assert arena_query(None, "any", "any") == "?tab=arena"
    assert arena_query("Café", "GEU", "model_vs_model") == "?tab=arena&data=Caf%C3%A9&track=GEU&battles=model_vs_model"
    assert explore_query(None, "UEG_1", model="tiny-janus", seed=3) == (
        "?tab=explore&instance=UEG_1&model=tiny-janus&seed=3")


def test_each_tab_reads_back_the_query_it_writes():
    query = arena_query("Café", "GEU", "direct_vs_stepwise")
    arena = read_arena(_params(query), SOURCES)
    assert (arena.source, arena.track, arena.kind, arena.problems) == ("Café", "GEU", "direct_vs_stepwise", ())
    board = read_board(_params(leaderboard_query("GEU", "direct_vs_stepwise")))
    assert (board.track, board.kind, board.problems) == ("GEU", "direct_vs_stepwise", ())


def test_an_arena_link_s_values_the_arena_does_not_offer_are_left_out_and_said():
    link = read_arena({"tab": "arena", "data": "nope", "track": "<script>", "battles": "x" * 5000}, SOURCES)
    assert (link.source, link.track, link.kind) == (None, None, None)
    assert [p.split(" ")[:3] for p in link.problems] == [["The", "link", "names"], ["The", "link's", "track"],
                                                        ["The", "link's", "battles"]]
    assert all(len(p) < 300 for p in link.problems)  # a long value is shortened (``shown.brief``)
    decomposed = "Cafe\u0301"  # the same name, as a folder copied from a Mac spells it
    assert read_arena({"tab": "arena", "data": decomposed}, SOURCES).source == "Café"


def test_one_tab_s_link_fills_in_no_other_tab():
    """A track (and a data source) belongs to the link's tab: the Leaderboard's board, the Arena's draw or
    Explore's."""
    for tab in ("explore", "arena"):
        assert read_board({"tab": tab, "track": "GEU"}).track is None
    for tab in ("explore", "leaderboard"):
        assert read_arena({"tab": tab, "track": "GEU"}, SOURCES).track is None
    explore = dict(sources=SOURCES, find_source=lambda name: name, find_instance=_no_instance, models=[], judges=[])
    assert read_explore({"tab": "arena", "track": "GEU", "data": "Café"}, **explore) == read_explore({}, **explore)
    assert read_explore({"tab": "zzz", "track": "GEU"}, **explore).track == "GEU"  # no known tab: Explore opens


def _no_instance(source, uid):
    raise KeyError(uid)


def test_an_explore_link_s_category_all_alone_is_offered_and_said_nothing_of():
    """Before: ``?tab=explore&category=all`` (Explore's category menu offers "all" on either track) was said to
    name "a category this app does not offer". Expected from the menu (``ui.explore.category_choices``: "all"
    first on each track): no problem, and the form keeps its track (a link naming none) and its category."""
    explore = dict(sources=SOURCES, find_source=lambda name: name, find_instance=_no_instance, models=[], judges=[])
    link = read_explore({"tab": "explore", "category": "all"}, **explore)
    assert (link.track, link.category, link.problems) == (None, None, ())
    unknown = read_explore({"tab": "explore", "category": "nope"}, **explore)  # still said
    assert len(unknown.problems) == 1 and "'nope'" in unknown.problems[0]


def test_an_explore_link_s_generation_settings_are_written_and_read_back_checked():
    """Expected from the link grammar written here (ASCII digits for steps and max new tokens, a plain decimal for
    guidance) and from what the checker (the model card's limits, in the app) says: taken values come back as
    numbers; one not a number, not finite, or refused is said and left out."""
    query = explore_query(None, "UEG_1", model="m", seed=3, settings={"steps": 5, "guidance": 2.5,
                                                                      "max_new_tokens": 16.0})
    assert query == "?tab=explore&instance=UEG_1&model=m&seed=3&steps=5&guidance=2.5&max_new_tokens=16"
    asked = []

    def check(model, name, value):
        asked.append((model, name, value))
        return "max_new_tokens = 999 is outside the allowed range 1 to 256 for m." if value == 999 else None

    explore = dict(sources=SOURCES, find_source=lambda name: name, find_instance=lambda source, uid: None,
                   models=["m"], judges=[], check_setting=check)
    link = read_explore(_params(query), **explore)
    assert dict(link.settings) == {"steps": 5, "guidance": 2.5, "max_new_tokens": 16} and link.problems == ()
    assert asked == [("m", "steps", 5), ("m", "guidance", 2.5), ("m", "max_new_tokens", 16)]
    for name, bad in (("steps", "-1"), ("steps", "2.5"), ("steps", "５"), ("guidance", "nan"), ("guidance", "1e999"),
                      ("guidance", "-2"), ("guidance", "0x10"), ("max_new_tokens", "999"), ("steps", "9" * 11)):
        link = read_explore({"tab": "explore", name: bad}, **explore)
        assert link.settings == () and len(link.problems) == 1, (name, bad)
        assert link.problems[0].startswith(f"The link's {name} "), link.problems
    assert "outside the allowed range" in read_explore({"tab": "explore", "max_new_tokens": "999"}, **explore).problems[0]
    for written, number in ((".5", 0.5), ("5.", 5.0), ("0.25e1", 2.5), ("007", 7.0)):  # decimals as written by hand
        assert read_explore({"tab": "explore", "guidance": written}, **explore).settings == (("guidance", number),)
    without = {k: v for k, v in explore.items() if k != "check_setting"}  # a caller that checks none takes none
    assert read_explore(_params(query), **without).settings == ()


def test_an_explore_link_s_settings_for_a_model_this_app_does_not_offer_are_not_put_on_the_form_s_model():
    """A link's settings are its model's (Run's link, the Arena's side link, a link from another app naming a card
    not in --models). Before, with its model left out (not offered), they were checked against the form's model
    instead and filled in without a word: Run made the form's model run with another card's settings (40 steps
    meant for a large model, on tiny-pair). Expected: each is said and left out, naming the model, and the checker
    is never asked of another card's settings; the same settings with an offered model are taken."""
    asked = []

    def check(model, name, value):
        asked.append((model, name, value))
        return None

    explore = dict(sources=SOURCES, find_source=lambda name: name, find_instance=lambda source, uid: None,
                   models=["m"], judges=[], check_setting=check)
    link = read_explore({"tab": "explore", "model": "gone", "steps": "40", "guidance": "7.5"}, **explore)
    assert (link.model, link.settings, asked) == (None, (), [])
    assert [p.split(" ")[:3] for p in link.problems] == [["The", "link", "names"], ["The", "link's", "steps"],
                                                        ["The", "link's", "guidance"]]
    assert all("'gone'" in p for p in link.problems[1:]), link.problems
    taken = read_explore({"tab": "explore", "model": "m", "steps": "40", "guidance": "7.5"}, **explore)
    assert (taken.settings, taken.problems) == ((("steps", 40), ("guidance", 7.5)), ())


@pytest.mark.parametrize("name, text, said", [("guidance", "+2.5", "no sign"), ("guidance", "1e309", "finite"),
                                               ("guidance", "2.5 ", "no sign"), ("steps", "00000000005", "1 to 10"),
                                               ("steps", "+5", "ASCII digits")])
def test_a_link_s_setting_written_otherwise_than_a_link_writes_it_is_said_by_the_rule_it_breaks(name, text, said):
    """Before, ``guidance=%2B2.5`` and ``guidance=1e309`` were said to be "not a number of 0 or more" and
    ``steps=00000000005`` "not a whole number": each is one, so the sentence was false and named no rule. Expected,
    from the link grammar (``read_explore``: 1 to 10 ASCII digits; a decimal with no sign, finite): the rule."""
    link = read_explore({"tab": "explore", name: text}, sources=SOURCES, find_source=lambda n: n,
                        find_instance=lambda source, uid: None, models=[], judges=[],
                        check_setting=lambda model, n, value: None)
    assert link.settings == () and len(link.problems) == 1
    assert link.problems[0].startswith(f"The link's {name} {text!r} is not a ") and said in link.problems[0], link.problems


def test_a_link_names_only_the_settings_that_differ_from_the_card_s_defaults():
    defaults = {"steps": 2, "guidance": 3.0, "max_new_tokens": 8}
    assert changed_settings({"steps": 2.0, "guidance": 3, "max_new_tokens": 8}, defaults) == {}
    assert changed_settings({"steps": 0, "guidance": "", "max_new_tokens": None}, defaults) == {}  # empty/0: default
    assert changed_settings({"steps": 5.0, "guidance": 0, "max_new_tokens": 16}, defaults) == {
        "steps": 5, "guidance": 0.0, "max_new_tokens": 16}
    assert changed_settings({"steps": 5, "guidance": 7.5}, {"guidance": 5.0}) == {"guidance": 7.5}  # steps unused


def test_a_link_s_key_differing_only_in_case_from_the_page_s_own_is_said():
    """Before: ``?TAB=arena&Track=GEU`` opened Explore on its defaults without a word. A query's names are
    case-sensitive (WHATWG URL Standard), so they stay unread; each is now named. Gradio's ``__theme`` and a key
    that is no near-miss of the page's own are said nothing of."""
    said = key_problems(_params("?TAB=arena&Track=GEU&tab=arena&__theme=dark&ref=x"))
    assert [p.split(" ")[3] for p in said] == ["'TAB'", "'Track'"]
    assert "'tab'" in said[0] and "'track'" in said[1]
    assert key_problems(_params("?tab=arena&track=GEU&__theme=dark&view=api")) == []


def test_a_card_s_settings_in_a_link_are_those_it_uses_that_differ_from_its_defaults():
    from realunify_arena.cards import load_cards

    cards = load_cards()  # tiny-pair: 2 steps, guidance 3, 8 new tokens; tiny-janus: guidance 5, no steps
    assert card_settings(cards["tiny-pair"], {"steps": 5, "guidance": 3.0, "max_new_tokens": 8}) == {"steps": 5}
    assert card_settings(cards["tiny-janus"], {"steps": 5, "guidance": 1.0}) == {"guidance": 1.0}
    assert card_settings(None, {"steps": 5}) == {} and card_settings(cards["tiny-pair"], {"steps": "x"}) == {}
    assert card_settings(cards["tiny-pair"], ["steps", 5]) == {}  # a stored settings_key that is no JSON object


def test_a_link_s_setting_the_model_does_not_use_is_not_said_to_be_replaced_by_a_field_the_form_hides():
    """Found by a newcomer following the README's link (``model=tiny-janus`` with ``steps=5``): the warning said
    "'tiny-janus' does not use it. Run uses the steps below.", but the form shows no steps field for that card
    (Janus generates image tokens autoregressively: it has no diffusion steps; the page hides the field). Expected:
    the unused setting is said without pointing at a field that is not there; a setting refused by its limit (the
    tiny cards allow 50 steps, README "params.limits") still points at the field below, which the form shows."""
    from realunify_arena.cards import load_cards
    from realunify_arena.form_settings import setting_refusal
    cards = load_cards()
    explore = dict(sources=SOURCES, find_source=lambda name: name, find_instance=lambda source, uid: None,
                   models=["tiny-janus", "tiny-pair"], judges=[],
                   check_setting=lambda model, name, value: setting_refusal(cards, model, name, value))
    unused = read_explore({"tab": "explore", "model": "tiny-janus", "steps": "5"}, **explore).problems
    assert len(unused) == 1 and "'tiny-janus' does not use it" in unused[0], unused
    assert "below" not in unused[0], unused
    limited = read_explore({"tab": "explore", "model": "tiny-pair", "steps": "999"}, **explore).problems
    assert len(limited) == 1 and limited[0].endswith("Run uses the steps below."), limited
