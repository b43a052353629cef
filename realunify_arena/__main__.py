"""``python -m realunify_arena``: ``cli.main``, with a Ctrl-C while the command line is still being read
(imports, building the parser) the same ``interrupted`` line and exit 130 as one during the command."""

import sys

try:
    from realunify_arena.cli import main

    code = main()
except KeyboardInterrupt:  # before cli.main got to run_command, which reports it itself
    command = next((a for a in sys.argv[1:2] if not a.startswith("-")), "python -m realunify_arena")
    print(f"{command}: interrupted", file=sys.stderr)
    code = 130

raise SystemExit(code)
