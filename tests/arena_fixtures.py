"""Stored arena runs shaped like real ones, and what an attacker reads off a battle; shared by the API and
reliability tests of battle anonymity.

``seed_arena_runs`` stores, pinned as ``eval`` stores them, a run of each instance for each system a card
can serve, with the steps its protocol really has (a stepwise side has an intermediate step a direct one
lacks), timings that differ by model and mode, and the settings ``/run_instance`` uses for seed 0, so
``/run_instance`` returns these very runs (with their run ids and image hashes). Some answers name their
model, as chat models do.
"""

from __future__ import annotations

import random

from PIL import Image

from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.protocols import required_capabilities
from realunify_arena.systems import MODES
from realunify_arena.trace import Step, StepRole, Trace

ROLES = {("UEG", "direct"): [StepRole.GENERATED_IMAGE],
         ("UEG", "stepwise"): [StepRole.REFINED_PROMPT, StepRole.GENERATED_IMAGE],
         ("GEU", "direct"): [StepRole.ANSWER],
         ("GEU", "stepwise"): [StepRole.EDITED_IMAGE, StepRole.ANSWER]}
TIMING_KEYS = ("seconds", "time", "elapsed", "duration", "latency")


def seed_arena_runs(store, dataset, cards: dict, models: tuple[str, ...], per_track: int = 8,
                    naming: tuple[str, ...] = ()) -> dict[str, dict]:
    """Pinned runs of the first ``per_track`` instances of each track for every (model, mode) the card
    serves; the GEU answers of models in ``naming`` say who they are. Returns {instance uid: {system:
    run id}}."""
    rng = random.Random(11)
    chosen = [i for i in dataset.instances if i.track == "UEG"][:per_track] + \
             [i for i in dataset.instances if i.track == "GEU"][:per_track]
    runs: dict[str, dict] = {}
    for inst in chosen:
        for m, model in enumerate(models):
            card = cards[model]
            for mode in MODES:
                if not set(required_capabilities(inst, mode)) <= card.capabilities:
                    continue
                steps = []
                for role in ROLES[(inst.track, mode)]:
                    seconds = 0.5 + 3.0 * m + (2.0 if mode == "stepwise" else 0.0) + rng.random()
                    if role in (StepRole.GENERATED_IMAGE, StepRole.EDITED_IMAGE):
                        colour = tuple(rng.randrange(256) for _ in range(3))
                        steps.append(Step(role, "p", image=Image.new("RGB", (16, 16), colour), seconds=seconds))
                    elif role is StepRole.REFINED_PROMPT:
                        steps.append(Step(role, "p", text=f"refined: {inst.prompt}", seconds=seconds))
                    else:
                        letter = rng.choice("ABCD")
                        text = f"As {model}, I choose {letter}." if model in naming else letter
                        steps.append(Step(role, inst.mcq_text, text=text, seconds=seconds))
                trace = Trace(inst.uid, model, mode, card.options(seed=0).to_dict(), steps=steps)
                runs.setdefault(inst.uid, {})[f"{model}:{mode}"] = store.save_trace(trace, dataset.name, pin=True)
    return runs


def shape(value) -> object:
    """The structure of a JSON value: dict keys with their values' shapes, list items' shapes, type names."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def keys(value) -> list[str]:
    """Every dict key in a JSON value."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *keys(v))]
    if isinstance(value, list):
        return [s for v in value for s in keys(v)]
    return []


def strings(value) -> list[str]:
    """Every key and scalar in a JSON value, as text."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [str(value)]


def lookup_ids(client, source: str, uid: str, systems: list[str]) -> set[str]:
    """What ``/run_instance`` tells anyone about the instance's runs: run ids and image hashes."""
    ids: set[str] = set()
    for system in systems:
        model, mode = system.split(":")
        out = client.predict(source, uid, model, mode, 0, "", api_name="/run_instance")
        ids.add(str(out["run_id"]))
        ids.update(step["image_sha"] for step in out["trace"]["steps"] if step.get("image_sha"))
    return ids


def instance_track(inst) -> str:
    return "GEU" if isinstance(inst, GEUInstance) else "UEG"
