"""``page_links``: the one home of the page's links, outside ``ui/``. Expected values from the WHATWG URL Standard
(``URLSearchParams.get`` returns a name's first value, as the browser reads a link's tab) and from what each tab
offers (``TRACKS``, ``arena.KINDS``), written out here."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from realunify_arena.page_links import (arena_query, explore_query, leaderboard_query, link_params, link_tab,
                                        read_arena, read_board, read_explore, tab_problems)

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
