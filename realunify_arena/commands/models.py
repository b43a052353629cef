"""``models``: every model card, what it can do, which of the paper's four protocols that lets it run, and
whether it can run here (and if not, why).

One line per card: name, family, capabilities, protocols (``UEG direct/stepwise GEU direct/-``: the paper's
notation, "-" for a protocol the card cannot run), ``available``/``unavailable`` and the reason."""

from __future__ import annotations

import sys

from realunify_arena.commands._options import OK, PROBLEMS, add_allow_large, add_models_dir, allow_large_of, model_cards


EXAMPLE = "python -m realunify_arena models"


def register(sub) -> None:
    p = sub.add_parser("models", help="list model cards with capabilities, the protocols they can run and availability here",
                       description="Broken cards are left out and listed on standard error (exit 1); "
                                   "the others are listed as usual.")
    add_models_dir(p)
    add_allow_large(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.availability import availability_of
    from realunify_arena.protocols import protocols_text

    problems: list = []
    cards = model_cards(args.models_dir, problems=problems)
    width = max(map(len, cards), default=4)
    checked = availability_of(cards.values(), **allow_large_of(args))
    for name, card in cards.items():
        ok, reason = checked[name]
        capabilities = ",".join(c.value for c in sorted(card.capabilities, key=lambda c: c.value))
        status = "available" if ok else "unavailable"
        protocols = protocols_text(card.capabilities)
        print(f"{name:<{width}}  {card.family:<7} {capabilities:<26} {protocols:<39} {status:<11} {reason}")
    for problem in problems:
        print(f"broken card left out: {problem}", file=sys.stderr)
    return PROBLEMS if problems else OK
