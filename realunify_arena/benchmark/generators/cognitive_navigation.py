"""Cognitive navigation: a maze with a start, a goal and four numbered points; questions solved by search.

Mazes are carved by a randomised depth-first walk and then get a few extra openings, so there can be more
than one route and "shortest" means something. Two kinds of question:
- on_path: exactly one numbered point lies on every shortest route from S to G; the others lie on none.
- closest_to_goal: which numbered point is the shortest walk from G; the point nearest in a straight line is
  a different one, so looking instead of searching gives a wrong answer.
"""

from __future__ import annotations

import random
from collections import deque

from PIL import Image, ImageDraw

from realunify_arena.benchmark.generators.base import GEUDraft
from realunify_arena.benchmark.generators.drawing import COLOURS, INK, font

NAME = "maze_search"
CELL, MARGIN, WALL = 30, 16, 3
EXTRA_OPENING_CHANCE = 0.12

Cell = tuple[int, int]


def make(rng: random.Random) -> GEUDraft:
    kind = rng.choice(("on_path", "closest_to_goal"))
    while True:  # a fresh maze until one admits a well-posed question of this kind
        cols, rows = rng.randint(7, 10), rng.randint(7, 10)
        passages = _carve(rng, cols, rows)
        start, goal = (0, rng.randrange(rows)), (cols - 1, rng.randrange(rows))
        from_start, from_goal = _bfs(passages, start), _bfs(passages, goal)
        chosen = (_on_path if kind == "on_path" else _closest)(rng, cols, rows, start, goal, from_start, from_goal)
        if chosen is not None:
            break
    answer_cell, other_cells = chosen
    cells = [answer_cell, *other_cells]
    labels = rng.sample(["1", "2", "3", "4"], 4)
    points = dict(sorted(zip(labels, cells)))
    if kind == "on_path":
        question = ("In this maze you may move only through open corridors, never through walls. Which numbered "
                    "point lies on the shortest route from S (green) to G (red)?")
    else:
        question = ("In this maze you may move only through open corridors, never through walls. Which numbered "
                    "point is the shortest walk away from G (red)?")
    params = {"cols": cols, "rows": rows, "cell": CELL, "margin": MARGIN,
              "passages": sorted([list(a), list(b)] for a, b in passages),
              "start": list(start), "goal": list(goal), "points": {k: list(v) for k, v in points.items()},
              "question_kind": kind}
    return GEUDraft(subtask=f"maze_{kind}", question=question, answer=f"Point {labels[0]}",
                    distractors=[f"Point {label}" for label in labels[1:]],
                    image=_draw(cols, rows, passages, start, goal, points), params=params)


def _carve(rng: random.Random, cols: int, rows: int) -> set[tuple[Cell, Cell]]:
    """Passages as ordered cell pairs (smaller first)."""
    passages: set[tuple[Cell, Cell]] = set()
    seen, stack = {(0, 0)}, [(0, 0)]
    while stack:
        x, y = stack[-1]
        fresh = [n for n in _neighbours(x, y, cols, rows) if n not in seen]
        if not fresh:
            stack.pop()
            continue
        n = rng.choice(fresh)
        passages.add(tuple(sorted(((x, y), n))))
        seen.add(n)
        stack.append(n)
    for x in range(cols):
        for y in range(rows):
            for n in ((x + 1, y), (x, y + 1)):
                if n[0] < cols and n[1] < rows and rng.random() < EXTRA_OPENING_CHANCE:
                    passages.add(((x, y), n))
    return passages


def _neighbours(x: int, y: int, cols: int, rows: int) -> list[Cell]:
    return [(a, b) for a, b in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)) if 0 <= a < cols and 0 <= b < rows]


def _bfs(passages: set[tuple[Cell, Cell]], source: Cell) -> dict[Cell, int]:
    adjacent: dict[Cell, list[Cell]] = {}
    for a, b in passages:
        adjacent.setdefault(a, []).append(b)
        adjacent.setdefault(b, []).append(a)
    dist, queue = {source: 0}, deque([source])
    while queue:
        cell = queue.popleft()
        for n in adjacent.get(cell, []):
            if n not in dist:
                dist[n] = dist[cell] + 1
                queue.append(n)
    return dist


def _on_path(rng, cols, rows, start, goal, from_start, from_goal):
    total = from_start[goal]
    on_some = [c for c in sorted(from_start) if from_start[c] + from_goal[c] == total]
    # A cell on every shortest route is the only on-route cell at its distance from S.
    on_every = [c for c in on_some if 2 <= from_start[c] <= total - 2
                and sum(from_start[o] == from_start[c] for o in on_some) == 1]
    if not on_every:
        return None
    answer = rng.choice(on_every)
    near_route = {n for c in on_some for n in _neighbours(*c, cols, rows)}
    off = [c for c in sorted(near_route) if from_start[c] + from_goal[c] > total and _apart(c, [answer, start, goal])]
    rng.shuffle(off)
    distractors: list[Cell] = []
    for c in off:
        if _apart(c, distractors):
            distractors.append(c)
        if len(distractors) == 3:
            return answer, distractors
    return None


def _closest(rng, cols, rows, start, goal, from_start, from_goal):
    candidates = [c for c in sorted(from_goal) if from_goal[c] >= 3 and c != start]
    for _ in range(200):
        cells = rng.sample(candidates, 4)
        if not all(_apart(c, [o for o in cells if o != c]) for c in cells):
            continue
        walks = sorted(cells, key=lambda c: from_goal[c])
        straight = min(cells, key=lambda c: (c[0] - goal[0]) ** 2 + (c[1] - goal[1]) ** 2)
        if from_goal[walks[1]] - from_goal[walks[0]] >= 2 and straight != walks[0]:
            return walks[0], walks[1:]
    return None


def _apart(cell: Cell, others: list[Cell]) -> bool:
    return all(abs(cell[0] - o[0]) + abs(cell[1] - o[1]) >= 2 for o in others)


def _centre(cell: Cell) -> tuple[float, float]:
    return MARGIN + (cell[0] + 0.5) * CELL, MARGIN + (cell[1] + 0.5) * CELL


def _draw(cols, rows, passages, start, goal, points) -> Image.Image:
    image = Image.new("RGB", (2 * MARGIN + cols * CELL, 2 * MARGIN + rows * CELL), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for x in range(cols):
        for y in range(rows):
            if x + 1 < cols and ((x, y), (x + 1, y)) not in passages:
                lx = MARGIN + (x + 1) * CELL
                draw.line((lx, MARGIN + y * CELL, lx, MARGIN + (y + 1) * CELL), fill=INK, width=WALL)
            if y + 1 < rows and ((x, y), (x, y + 1)) not in passages:
                ly = MARGIN + (y + 1) * CELL
                draw.line((MARGIN + x * CELL, ly, MARGIN + (x + 1) * CELL, ly), fill=INK, width=WALL)
    border = (MARGIN - 1, MARGIN - 1, MARGIN + cols * CELL + 1, MARGIN + rows * CELL + 1)
    draw.rectangle(border, outline=INK, width=WALL)
    marks = [("S", start, COLOURS["green"]), ("G", goal, COLOURS["red"])]
    marks += [(label, cell, COLOURS["blue"]) for label, cell in points.items()]
    for text, cell, colour in marks:
        cx, cy = _centre(cell)
        draw.ellipse((cx - 10, cy - 10, cx + 10, cy + 10), fill=colour)
        draw.text((cx, cy), text, fill=(255, 255, 255), font=font(14), anchor="mm")
    return image
