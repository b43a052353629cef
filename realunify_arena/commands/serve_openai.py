"""``serve-openai --model CARD --port N``: serve one card over the OpenAI-compatible API on loopback."""

from __future__ import annotations

import os

from realunify_arena.commands._options import (
    PROBLEMS,
    USAGE,
    CommandError,
    add_allow_large,
    add_models_dir,
    allow_large_of,
    card_named,
    model_cards,
    warn,
)


EXAMPLE = "python -m realunify_arena serve-openai --model tiny-pair --port 8101"


def register(sub) -> None:
    p = sub.add_parser("serve-openai", help="serve a model card over the OpenAI-compatible API on 127.0.0.1")
    p.add_argument("--model", required=True, help="card name (see `models`)")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port; default 8000)")
    add_models_dir(p)
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu ... (default: cuda if available)")
    add_allow_large(p, "serve a card too large for this machine anyway")
    p.add_argument("--preload", action="store_true", help="load the model before accepting requests")
    p.add_argument("--run-time-limit", metavar="SECONDS", default=None,
                   help="seconds one request's model work may take, 0 for no limit (default $REALUNIFY_RUN_TIME_LIMIT,"
                        " else the app's default); a request past it is answered 500, and one whose client "
                        "disconnects is stopped")
    p.set_defaults(func=run)


def time_limit_s(flag: str | None, env=os.environ) -> float | None:
    """The per-request time limit in seconds (None: none), read as the app reads ``--run-time-limit`` and
    ``REALUNIFY_RUN_TIME_LIMIT`` (``settings``: same bounds, same default).

    Raises:
        CommandError: the value is not an integer from 0 to a week, naming the flag or variable.
    """
    from realunify_arena.settings import Settings, SettingsError, spec

    setting = spec("run_time_limit")
    raw, source = (flag, f"--{setting.flag}") if flag is not None else (env.get(setting.env), setting.env)
    try:
        limit = None if raw is None else setting.convert(raw, source)
    except SettingsError as e:
        raise CommandError(str(e), USAGE) from None
    return Settings(run_time_limit=limit).time_limit_s


def run(args) -> int:
    from realunify_arena.availability import availability
    from realunify_arena.listening import listen_problem
    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import LOOPBACK, BackgroundServer, create_app

    limit_s = time_limit_s(args.run_time_limit)
    problems: list = []
    cards = model_cards(args.models_dir, problems=problems)  # a broken card elsewhere does not stop this one
    for problem in problems:
        warn("serve-openai", f"broken card left out: {problem}")
    problem = listen_problem(LOOPBACK, args.port)  # before the model loads: a port in use was a bare
    if problem:  # "Address already in use", and one over 65535 a traceback
        raise CommandError(f"--port: {problem}; pass another --port (0: any free port)",
                           USAGE if problem.startswith("port ") else PROBLEMS)  # out of range; in use
    ok, reason = availability(card_named(cards, args.model), device=args.device, **allow_large_of(args))
    if not ok:
        raise CommandError(f"{args.model} is not available here: {reason}", PROBLEMS)
    pool = ModelPool(cards, device=args.device)
    try:  # listening before the preload: a port taken while the model loaded (minutes) failed after the load
        server = BackgroundServer(create_app(pool, args.model, time_limit_s=limit_s), port=args.port)
    except OSError as e:  # taken since the check above
        raise CommandError(f"--port: {listen_problem(LOOPBACK, args.port) or e.strerror}; pass another --port"
                           " (0: any free port)", PROBLEMS) from None
    try:
        if args.preload:
            pool.preload([args.model])
    except BaseException:
        server.socket.close()
        raise
    with server:
        print(f"serving {args.model} at {server.url} (Ctrl-C stops)", flush=True)
        try:
            server.thread.join()
        except KeyboardInterrupt:
            pass
    pool.close()
    return 0
