"""``serve-openai --model CARD --port N``: serve one card over the OpenAI-compatible API on loopback."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("serve-openai", help="serve a model card over the OpenAI-compatible API on 127.0.0.1")
    p.add_argument("--model", required=True, help="card name (see `models`)")
    p.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port; default 8000)")
    p.add_argument("--models-dir", default=None, help="folder of model cards (default: the project's models/)")
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu ... (default: cuda if available)")
    p.add_argument("--preload", action="store_true", help="load the model before accepting requests")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from realunify_arena.cards import MODELS_DIR, availability, load_cards
    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import BackgroundServer, create_app

    cards = load_cards(args.models_dir or MODELS_DIR)
    if args.model not in cards:
        print(f"no card named {args.model!r}; known: {', '.join(sorted(cards))}", file=sys.stderr)
        return 2
    ok, reason = availability(cards[args.model])
    if not ok:
        print(f"{args.model} is not available here: {reason}", file=sys.stderr)
        return 1
    pool = ModelPool(cards, device=args.device)
    if args.preload:
        pool.preload([args.model])
    server = BackgroundServer(create_app(pool, args.model), port=args.port)
    with server:
        print(f"serving {args.model} at {server.url} (Ctrl-C stops)", flush=True)
        try:
            server.thread.join()
        except KeyboardInterrupt:
            pass
    pool.close()
    return 0
