"""Shared by the reliability tier: a database seeded with stored runs, and ``app.py`` as a subprocess.

Both come from ``bench/load.py``, so the load bench and these tests start the app the same way.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _import_bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench_load = _import_bench("load")


@pytest.fixture(scope="session")
def bench():
    """``bench/load.py`` as a module (its app launcher, seeding and database checks)."""
    return bench_load


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """A database (and images folder) holding a stored run of every bundled instance for four systems."""
    folder = tmp_path_factory.mktemp("seeded")
    bench_load.seed_stored_runs(folder / "arena.db")
    return folder


@pytest.fixture
def seeded_db(seeded_template, tmp_path) -> Path:
    """A private copy of the seeded database for one test."""
    folder = tmp_path / "data"
    shutil.copytree(seeded_template, folder)
    return folder / "arena.db"


@pytest.fixture
def start_app(tmp_path):
    """``start_app(db, *app_args, env=..., trusted_proxies=1)`` launches ``app.py`` (stored arena mode) and
    stops it afterwards. By default it believes one proxy hop, so clients stand for visitors behind a proxy
    told apart by their ``X-Forwarded-For``."""
    started = []

    def start(db: Path, *args: str, env: dict[str, str] | None = None, trusted_proxies: int = 1):
        app = bench_load.AppProcess(db, tmp_path / "app.log", *args, env=env, trusted_proxies=trusted_proxies)
        started.append(app)
        app.start()
        return app

    yield start
    for app in started:
        app.stop()
