"""A hostile visitor reading the app's data sources: the page's config, the API's schema, its replies and its
refusals name each configured source by its public name (its folder name, made unique), never by the server
path it was configured with; a script chooses a source by that name (or by the path it configured)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from gradio_client import Client
from unlimited import NOT_LIMITED

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
MARKER = "srv secret layout"  # in every configured path below, in no public name


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    data = root / "tmp" / MARKER / "run 1" / "realunify"  # real instances
    gone = root / "tmp" / MARKER / "run 2" / "realunify"  # the same folder name, and no such folder
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning", "mental_tracking"]), data)
    settings = Settings(data=(str(data), str(gone)), models=("tiny-pair",), judge="human", db=root / "arena.db",
                        gpu_concurrency=2, **NOT_LIMITED)  # the module's tests share it
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False)
    yield {"url": url, "client": client, "data": str(data), "gone": str(gone), "instances": load(str(data)).instances}
    demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
    client.close()
    store.close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as reply:
        return reply.read().decode("utf-8")


def _refusal(call) -> str:
    with pytest.raises(Exception) as refused:  # noqa: PT011 - gradio_client's AppError carries the message
        call()
    return str(refused.value)


def _dropdown_choices(config: dict, elem_id: str) -> list:
    component = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    return component["props"]["choices"], component["props"]["value"]


def test_page_config_and_api_schema_name_no_server_path(app):
    """Before: both Data source menus' values were the configured paths, in /config and the API's enums."""
    config_text = _get(app["url"].rstrip("/") + "/config")
    assert MARKER not in config_text
    config = json.loads(config_text)
    for elem_id in ("ex-source", "ar-source"):
        choices, value = _dropdown_choices(config, elem_id)
        assert [list(c) for c in choices] == [["realunify", "realunify"], ["realunify (2)", "realunify (2)"]]
        assert value == "realunify"
    assert MARKER not in _get(app["url"])  # the page itself
    assert MARKER not in json.dumps(app["client"].view_api(print_info=False, return_format="dict"))


def test_a_source_is_chosen_by_its_public_name(app):
    client = app["client"]
    listed = client.predict("realunify", "all", "all", api_name="/instances")
    assert sorted(i["uid"] for i in listed) == sorted(i.uid for i in app["instances"])
    assert client.predict("realunify (2)", "all", "all", api_name="/instances") == []  # the missing folder
    uid = next(i.uid for i in app["instances"] if i.track == "UEG")
    result = client.predict("realunify", uid, "tiny-pair", "direct", 1, "", api_name="/run_instance")
    assert result["status"] == "ok" and MARKER not in json.dumps(result)
    # a script may still pass the path it configured; the reply names no path either
    again = client.predict(app["data"], uid, "tiny-pair", "direct", 1, "", api_name="/run_instance")
    assert again["reused"] is True and MARKER not in json.dumps(again)


def test_refusals_name_no_server_path(app):
    """Before: a refusal about the missing source quoted its dataset's name, the full configured path."""
    client = app["client"]
    for source in ("realunify (2)", app["gone"]):
        refused = _refusal(lambda s=source: client.predict(s, "no-such-uid", "tiny-pair", "direct", 0, "",
                                                           api_name="/run_instance"))
        assert "no-such-uid" in refused and MARKER not in refused
        refused = _refusal(lambda s=source: client.predict(s, "any", "any", api_name="/new_battle"))
        assert "realunify (2)" in refused and MARKER not in refused
    refused = _refusal(lambda: client.predict("elsewhere", "all", "all", api_name="/instances"))
    assert "realunify, realunify (2)" in refused and MARKER not in refused
