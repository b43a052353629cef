"""A hostile visitor of the Explore tab's endpoints: new model runs per visitor are bounded (``--run-limit``
per ``--run-window``, counted in the store), and no refusal names a server path."""

from __future__ import annotations

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gradio_client import Client

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
LIMIT = 3
REFUSED = f"rate limit: at most {LIMIT} new runs per 3600 s"


def _launch(root: Path, data: Path, limit: int = LIMIT):
    settings = Settings(data=(str(data),), models=("tiny-pair",), judge="human", db=root / "arena.db",
                        gpu_concurrency=2, run_limit=limit, run_window=3600)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    return demo, store, Client(url, verbose=False)


@pytest.fixture()
def apps(tmp_path):
    """Two app processes' worth of app (two launched apps, each with its own Store and Arena) on one database."""
    data = tmp_path / "srv-secret-layout" / "data"
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning", "mental_tracking"]), data)
    launched = [_launch(tmp_path, data), _launch(tmp_path, data)]
    uid = next(i.uid for i in load(str(data)).instances if i.track == "UEG")
    yield {"clients": [c for _, _, c in launched], "source": str(data), "uid": uid, "db": tmp_path / "arena.db",
           "root": tmp_path}
    for demo, store, client in launched:
        demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()
        store.close()


@pytest.fixture(scope="module")
def one_app(tmp_path_factory):
    """One launched app over the same layout, for the module's tests that only read (an unknown source's refusal
    changes nothing, so its two endpoints ask the same app): as ``apps``, with one client."""
    root = tmp_path_factory.mktemp("one-app")
    data = root / "srv-secret-layout" / "data"
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning", "mental_tracking"]), data)
    demo, store, client = _launch(root, data)
    uid = next(i.uid for i in load(str(data)).instances if i.track == "UEG")
    yield {"clients": [client], "source": str(data), "uid": uid, "db": root / "arena.db", "root": root}
    demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
    client.close()
    store.close()


def _run(app, client, seed):
    return client.predict(app["source"], app["uid"], "tiny-pair", "direct", seed, "", api_name="/run_instance")


def _stored_runs(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from runs").fetchone()[0]


def test_run_instance_counts_new_runs_per_visitor_across_app_processes(apps):
    """Before: every new seed ran the model and stored a run row, without limit."""
    first, second = apps["clients"]
    assert _run(apps, first, 1)["reused"] is False
    assert _run(apps, second, 2)["reused"] is False  # the other process counts the same visitor's starts
    assert _run(apps, first, 3)["reused"] is False
    with pytest.raises(Exception, match=re.escape(REFUSED)):
        _run(apps, second, 4)
    with pytest.raises(Exception, match=re.escape(REFUSED)):
        _run(apps, first, 5)
    assert _stored_runs(apps["db"]) == 3  # nothing was run or stored for the refused calls
    again = _run(apps, second, 1)  # a stored run served again runs nothing, so it is not refused
    assert again["reused"] is True and again["status"] == "ok"


def test_concurrent_new_runs_cannot_all_pass_the_limit(apps):
    """Eight calls at once with fresh seeds, half to each app process: exactly LIMIT run."""
    def call(i):
        try:
            return _run(apps, apps["clients"][i % 2], 100 + i)
        except Exception as e:  # noqa: BLE001 - the refusal is the result under test
            return e

    with ThreadPoolExecutor(8) as callers:
        results = list(callers.map(call, range(8)))
    ran = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ran) == LIMIT and len(refused) == 8 - LIMIT, results
    assert all(REFUSED in str(r) for r in refused), refused
    assert _stored_runs(apps["db"]) <= LIMIT, [(r["status"], r["error"]) for r in ran]


@pytest.mark.parametrize("endpoint", ["/instances", "/run_instance"])
def test_an_unknown_data_source_is_refused_without_the_servers_paths(one_app, endpoint):
    """Before: "data source 'nope' is not configured; choose one of ['/tmp/.../srv-secret-layout/data']"."""
    apps = one_app
    client = apps["clients"][0]
    args = ("nope", "all", "all") if endpoint == "/instances" else ("nope", apps["uid"], "tiny-pair", "direct", 0, "")
    with pytest.raises(Exception) as refused:
        client.predict(*args, api_name=endpoint)
    message = str(refused.value)
    assert "data source 'nope' is not configured; choose one of: data" in message, message
    assert "srv-secret-layout" not in message and str(apps["root"]) not in message, message


def test_a_run_whose_input_image_is_gone_names_no_server_folder(apps):
    """A GEU instance's image deleted after the source loaded: the run fails in place. Before, its error
    quoted the OS error's full path ("No such file or directory: '/tmp/.../srv-secret-layout/data/...'")."""
    client = apps["clients"][0]
    geu = next(r for r in client.predict(apps["source"], "GEU", "all", api_name="/instances"))  # loads the source
    instance = load(apps["source"]).get(geu["uid"])
    Path(instance.image_path).unlink()
    out = client.predict(apps["source"], geu["uid"], "tiny-pair", "direct", 0, "", api_name="/run_instance")
    assert out["status"] == "error" and out["run_id"] is None, out
    shown = str(out)
    assert Path(instance.image_path).name in shown, shown  # which file is still said
    assert "srv-secret-layout" not in shown and str(apps["root"]) not in shown, shown


def test_a_bad_source_in_folders_with_spaces_is_noted_without_the_servers_folders(tmp_path):
    """The Explore tab's note on a source that is no RealUnify source names it by its last part. Before, a
    folder with a space in its path ("srv secret layout/run 1") left the path's tail on the page
    ("secret layout/run 1/realunify: not a RealUnify source ...")."""
    import html

    import httpx

    source = tmp_path / "srv secret layout" / "run 1" / "realunify"
    source.mkdir(parents=True)
    demo, store, client = _launch(tmp_path, source)
    try:
        config = httpx.get(client.src.rstrip("/") + "/config", timeout=60).json()
    finally:
        demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()
        store.close()
    notice = html.unescape(next(c["props"]["value"] for c in config["components"]
                                if c["props"].get("elem_id") == "ex-source-notice"))  # plain() escapes ':', '/'
    assert "- realunify: not a RealUnify source: expected a folder with any of" in notice, notice
    assert "secret" not in notice and "run 1" not in notice and str(tmp_path) not in notice, notice
