"""``space-card``: write README.md's YAML front-matter from space.yaml (Hugging Face reads only the former)."""

from __future__ import annotations

from pathlib import Path

import yaml

from realunify_arena import durable
from realunify_arena.commands._options import PROBLEMS, CommandError

ROOT = Path(__file__).resolve().parents[2]
FENCE = "---"


class FrontMatterError(ValueError):
    """README.md opens a front-matter block it never closes, or space.yaml is not a mapping."""


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
    readme = args.readme.read_text(encoding="utf-8") if args.readme.exists() else ""
    wanted = load_space(args.space)
    if args.check:
        current = front_matter(readme, source=str(args.readme))
        if current != wanted:
            keys = sorted(k for k in set(current) | set(wanted) if current.get(k) != wanted.get(k))
            print(f"{args.readme} front-matter disagrees with {args.space} on: {', '.join(keys)}; "
                  f"run `python -m realunify_arena space-card`")
            return 1
        print(f"{args.readme} front-matter matches {args.space}")
        return 0
    durable.write_text(args.readme, with_front_matter(readme, wanted))  # never a README cut short
    print(f"wrote {len(wanted)} keys from {args.space} into {args.readme}")
    return 0


def load_space(path: Path) -> dict:
    """space.yaml's settings.

    Raises:
        FrontMatterError: the file is not a YAML mapping.
        OSError, yaml.YAMLError: it cannot be read or parsed.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise FrontMatterError(f"{path}: expected a YAML mapping of Space settings, got {type(data).__name__}")
    return data


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
    from huggingface_hub import SpaceCard

    block, _ = split(readme, source=source)
    if block is None:
        return {}
    return SpaceCard(readme).data.to_dict()


def with_front_matter(readme: str, data: dict) -> str:
    """``readme`` with its front-matter replaced by ``data`` (in that key order), written by ``SpaceCard``.

    Raises:
        FrontMatterError: the README opens a front-matter block it never closes.
    """
    from huggingface_hub import SpaceCard, SpaceCardData

    block, body = split(readme)
    card = SpaceCard(readme if block is not None else f"{FENCE}\n{{}}\n{FENCE}\n{body}")  # "{}": no metadata yet
    card.data = SpaceCardData(**data)
    return card.content
