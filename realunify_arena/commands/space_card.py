"""``space-card``: write README.md's YAML front-matter from space.yaml (Hugging Face reads only the former)."""

from __future__ import annotations

from pathlib import Path

import yaml

from realunify_arena import durable
from realunify_arena.cards import yaml_problem
from realunify_arena.commands._options import PROBLEMS, USAGE, CommandError, existing_file
from realunify_arena.space_config import space_problems
from realunify_arena.shown import json_kind
from realunify_arena.unique_keys import RepeatedKeyError, load_yaml

ROOT = Path(__file__).resolve().parents[2]
FENCE = "---"
CONFIG_REFERENCE = "https://huggingface.co/docs/hub/spaces-config-reference"


class FrontMatterError(ValueError):
    """README.md opens a front-matter block it never closes or holds one that is not a mapping, space.yaml is
    not a mapping, or either is not UTF-8 text."""


EXAMPLE = "python -m realunify_arena space-card --check"


def register(sub) -> None:
    p = sub.add_parser("space-card", help="write README.md front-matter from space.yaml (the Space's config)")
    p.add_argument("--space", type=Path, default=ROOT / "space.yaml", help="source of truth (default space.yaml)")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README to update (default README.md)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when the README disagrees")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        return _run(args)
    except (FrontMatterError, OSError, yaml.YAMLError) as e:
        raise CommandError(str(e), PROBLEMS) from e


def _run(args) -> int:
    existing_file(args.space, "--space")  # options naming nothing are usage errors, as everywhere
    if args.readme.exists():
        readme = _read_text(existing_file(args.readme, "--readme"))
    elif not args.readme.parent.is_dir():
        raise CommandError(f"--readme {args.readme}: no folder {args.readme.parent} to write it in", USAGE)
    else:
        readme = ""  # a README is made
    wanted = load_space(args.space)
    problems = space_problems(wanted, args.space.resolve().parent)
    if problems:  # written, the README would be refused by the Hub or its setting silently ignored
        raise CommandError(f"{args.space}: {'; '.join(problems)} (see {CONFIG_REFERENCE}); README not written",
                           PROBLEMS)
    if args.check:
        current = front_matter(readme, source=str(args.readme))
        if current != wanted:
            keys = sorted(k for k in set(current) | set(wanted) if current.get(k) != wanted.get(k))
            print(f"{args.readme} front-matter disagrees with {args.space} on: {', '.join(keys)}; "
                  f"run `python -m realunify_arena space-card`")
            return 1
        print(f"{args.readme} front-matter matches {args.space}")
        return 0
    updated = with_front_matter(readme, wanted, source=str(args.readme))
    durable.write_text(args.readme, updated)  # never a README cut short
    print(f"wrote {len(wanted)} keys from {args.space} into {args.readme}")
    return 0


def load_space(path: Path) -> dict:
    """space.yaml's settings.

    Raises:
        FrontMatterError: the file is not a YAML mapping.
        OSError, yaml.YAMLError: it cannot be read or parsed.
    """
    try:
        data = load_yaml(_read_text(path))
    except RepeatedKeyError as e:  # else the last value would be written to the README silently
        raise FrontMatterError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        raise FrontMatterError(f"{path}: not valid YAML: {yaml_problem(e)}") from None
    if not isinstance(data, dict):
        raise FrontMatterError(f"{path}: expected a YAML mapping of Space settings, got {json_kind(data)}")
    return data


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise FrontMatterError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _card(readme: str, source: str):
    """``SpaceCard(readme)``; a front-matter block that is not a mapping is a ``FrontMatterError``."""
    from huggingface_hub import SpaceCard

    try:
        return SpaceCard(readme)
    except ValueError as e:  # huggingface_hub: "repo card metadata block should be a dict"
        raise FrontMatterError(f"{source}: front-matter is not a YAML mapping of Space settings ({e})") from None
    except yaml.YAMLError as e:
        raise FrontMatterError(f"{source}: front-matter is not valid YAML: {yaml_problem(e)}") from None


def split(readme: str, *, source: str = "README.md") -> tuple[str | None, str]:
    """(front-matter YAML text or None, body)."""
    lines = readme.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        return None, readme
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == FENCE:
            return "".join(lines[1:i]), "".join(lines[i + 1:])
    raise FrontMatterError(f"{source}: front-matter opened by '---' on line 1 is never closed")


def front_matter(readme: str, *, source: str = "README.md") -> dict:
    """The README's metadata as Hugging Face parses it ({} when there is none)."""
    block, _ = split(readme, source=source)
    if block is None:
        return {}
    return _card(readme, source).data.to_dict()


def with_front_matter(readme: str, data: dict, *, source: str = "README.md") -> str:
    """``readme`` with its front-matter replaced by ``data`` (in that key order), written by ``SpaceCard``.

    Raises:
        FrontMatterError: the README opens a front-matter block it never closes, or holds one that is not a
            mapping.
    """
    from huggingface_hub import SpaceCardData

    block, body = split(readme, source=source)
    # "{}": no metadata yet
    card = _card(readme if block is not None else f"{FENCE}\n{{}}\n{FENCE}\n{body}", source)
    card.data = SpaceCardData(**data)
    return card.content
