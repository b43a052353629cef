from realunify_arena.cli import main

raise SystemExit(main())
