"""``models``: every model card, what it can do, and whether it can run here (and if not, why)."""

from __future__ import annotations

import argparse
import sys

from realunify_arena.commands._options import OK, PROBLEMS, CommandError, add_models_dir, model_cards
from realunify_arena.settings import SettingsError, parse_bool


def register(sub) -> None:
    p = sub.add_parser("models", help="list model cards with capabilities and availability here",
                       description="Broken cards are left out and listed on standard error (exit 1); "
                                   "the others are listed as usual.")
    add_models_dir(p)
    p.add_argument("--allow-large-models", nargs="?", const="yes", default=None, metavar="yes|no",
                   type=_yes_no,
                   help="count cards too large for this machine as runnable; a bare flag means yes, as in"
                        " app.py (default: env REALUNIFY_ALLOW_LARGE_MODELS, else no)")
    p.set_defaults(func=run)


def _yes_no(raw: str) -> bool:
    """An argparse ``type`` reading yes/no the way the app's settings do; a bad value is a usage error."""
    try:
        return parse_bool(raw, "value")
    except SettingsError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run(args) -> int:
    from realunify_arena.availability import ALLOW_LARGE_ENV, allow_large_default, availability_of

    problems: list = []
    cards = model_cards(args.models_dir, problems=problems)
    width = max(map(len, cards), default=4)
    allow_large, allowed_by = args.allow_large_models, "--allow-large-models"
    if allow_large is None:
        try:
            allow_large, allowed_by = allow_large_default(), ALLOW_LARGE_ENV
        except SettingsError as e:
            raise CommandError(str(e)) from None
    checked = availability_of(cards.values(), allow_large=allow_large, allowed_by=allowed_by)
    for name, card in cards.items():
        ok, reason = checked[name]
        capabilities = ",".join(c.value for c in sorted(card.capabilities, key=lambda c: c.value))
        status = "available" if ok else "unavailable"
        print(f"{name:<{width}}  {card.family:<7} {capabilities:<26} {status:<11} {reason}")
    for problem in problems:
        print(f"broken card left out: {problem}", file=sys.stderr)
    return PROBLEMS if problems else OK
