"""The Gradio app: ``build_demo(settings, store, pool)`` with the Explore, Arena and Leaderboard tabs."""

from realunify_arena.ui.app import build_demo, demo_for, launch_options

__all__ = ["build_demo", "demo_for", "launch_options"]
