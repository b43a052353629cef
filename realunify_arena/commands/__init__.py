"""One module per command; see realunify_arena.cli."""
