"""Entry point, locally and as the Space's ``app_file``: settings from CLI/env -> build_demo -> launch.

``python app.py [--data PATH] [--models CARD,...] [--judge CARD] [--db PATH] [--port N] ...``; every flag
also reads ``REALUNIFY_<NAME>`` (``python app.py --help`` lists them).
"""

import spaces  # noqa: F401, I001 - on ZeroGPU this must come before anything that initialises CUDA

import sys

from realunify_arena.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_cli(argv)
    except SettingsError as e:
        print(f"app.py: {e}", file=sys.stderr)
        return 2
    import gradio as gr

    from realunify_arena.persistence import open_store

    from realunify_arena.store import StoreError

    try:  # restored from $REALUNIFY_DATASET_REPO when that is set, so a restarted Space keeps its votes
        store, scheduler = open_store(settings.db, journal_mode=settings.journal_mode)
    except StoreError as e:  # damaged, truncated, read-only, or newer than this code: its own one line
        print(f"app.py: cannot open the database {e}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:  # a bad push interval, or the dataset repo could not be read
        print(f"app.py: cannot open the store {settings.db}: {e}", file=sys.stderr)
        return 2
    demo = build_app(settings, store)
    # ``scheduler`` (None without a dataset repo) pushes snapshots every few minutes while launch blocks,
    # and once more at exit.
    demo.launch(server_name=settings.host, server_port=settings.port, theme=gr.themes.Soft(primary_hue="indigo"),
                footer_links=["api", "gradio", "settings"])
    return 0


def build_app(settings: Settings, store):
    """The demo over an open store, with the model pool the settings ask for."""
    from realunify_arena.cards import availability, load_cards
    from realunify_arena.runtime import ModelPool, on_zero_gpu
    from realunify_arena.ui import build_demo

    pool = ModelPool(load_cards())
    if on_zero_gpu():  # ZeroGPU wants local weights placed at start-up; elsewhere they load on first use
        pool.preload([name for name in settings.models or pool.cards
                      if not pool.cards[name].remote and availability(pool.cards[name])[0]])
    return build_demo(settings, store, pool)


if __name__ == "__main__":
    sys.exit(main())
