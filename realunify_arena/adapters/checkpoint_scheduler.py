"""A diffusers scheduler's ``scheduler_config.json`` checked by the scheduler itself, before the pipeline loads.

diffusers passes the file's values to the scheduler's ``__init__`` as they are (``ConfigMixin.extract_init_dict``)
and reads most string settings only when it runs: a misspelt ``timestep_spacing: "linspase"`` loads and fails at
``set_timesteps`` ("linspase is not supported. Please make sure to choose one of 'linspace', 'leading' or
'trailing'."), a misspelt ``prediction_type`` at the first ``step``, and some are never refused at all (DDPM's
``variance_type: "fixed_smal"`` falls through to another variance, silently). diffusers' words name neither the
file nor the field. Two checks turn both into one line naming file, field, value and the values taken:

- each field the class annotates ``Literal[...]`` holds one of those values once the class has built (its
  ``__init__`` maps some legacy values onto them with ``register_to_config``: DPMSolver's ``algorithm_type:
  "deis"``), unless another diffusers scheduler's annotation of the same field lists it (a configuration saved for
  that class and loaded as this one, ``from_config``'s everyday use: DDPM's ``variance_type: "fixed_small"`` under
  DPMSolverMultistepScheduler, which ignores it);
- a dry run of the scheduler as a pipeline drives it (``set_timesteps`` for a few steps, with ``mu`` where the
  configuration shifts by resolution, then ``step`` through them on zeros; a model output of twice the sample's
  channels where ``variance_type`` says the model predicts its variance, as DeepFloyd IF's does): a refusal the
  file's values cause is traced to the one string field whose class default makes the run pass.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import types
import typing
from pathlib import Path

from realunify_arena.redaction import shortened

__all__ = ["scheduler_settings_problem"]

log = logging.getLogger(__name__)

# PNDMScheduler's PRK warm-up cannot run fewer than 4 steps (numpy broadcast error at 2 or 3)
DRY_STEPS = 4


def scheduler_settings_problem(path: Path, content: dict, cls: type) -> str | None:
    """Why the scheduler class ``cls`` (a ``diffusers.SchedulerMixin``), built from ``content`` (the parsed
    ``scheduler_config.json`` at ``path``; ``cls.from_config(content)`` already succeeded), would refuse a string
    value of it when it runs, or read it as another setting.

    Returns:
        ``"{path}: field 'timestep_type' is "continous"; expected "discrete" or "continuous" (the values
        EulerDiscreteScheduler's __init__ annotation lists)"``, or ``"{path}: field 'prediction_type' is
        "epsilonn"; expected a value EulerDiscreteScheduler takes (it refuses this one: prediction_type given as
        epsilonn must be one of `epsilon`, or `v_prediction`)"``, or None (also where a dry run cannot tell: a
        scheduler whose step takes more than a model output and a sample, or whose defaults do not run this way
        either).
    """
    try:
        built = cls.from_config(content).config
    except Exception as exc:  # noqa: BLE001 - the scheduler's own refusal at __init__: ValueError, NotImplementedError
        return _traced(path, content, cls, exc, cls.from_config)
    return _literal_problem(path, content, cls, built) or _run_problem(path, content, cls)


def _literal_values(annotation: object) -> tuple | None:
    """The values of a ``Literal[...]`` annotation, None included where it is ``Literal[...] | None``; None for any
    other annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        literals = [m for m in members if typing.get_origin(m) is typing.Literal]
        if literals and all(m is type(None) or m in literals for m in members):
            return tuple(v for m in literals for v in typing.get_args(m)) + (
                (None,) if type(None) in members else ())
    return None


def _hints(cls: type) -> dict:
    """``cls.__init__``'s resolved annotations (``register_to_config`` wraps it); empty when they cannot be
    resolved."""
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    try:
        return typing.get_type_hints(init)
    except Exception:  # noqa: BLE001 - annotations naming what cannot be imported: nothing to check against
        return {}


@functools.cache
def _any_scheduler_takes() -> dict[str, frozenset]:
    """field -> every value some diffusers scheduler's ``Literal`` annotation of that field lists."""
    import diffusers
    from diffusers import SchedulerMixin

    taken: dict[str, set] = {}
    for name in dir(diffusers):
        if not name.endswith("Scheduler"):
            continue
        try:
            cls = getattr(diffusers, name)
        except Exception:  # noqa: BLE001 - a lazily imported module that fails to import
            continue
        if isinstance(cls, type) and issubclass(cls, SchedulerMixin):
            for field, annotation in _hints(cls).items():
                values = _literal_values(annotation)
                if values:
                    taken.setdefault(field, set()).update(values)
    return {field: frozenset(values) for field, values in taken.items()}


def _values_text(values) -> str:
    """``"a", "b" or "c"``, as JSON writes them (null for None)."""
    shown = [json.dumps(v, ensure_ascii=False) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _literal_problem(path: Path, content: dict, cls: type, built) -> str | None:
    """A field annotated ``Literal[...]`` whose value, as the scheduler built from ``content`` holds it (``built``, its
    ``config``), is none of those values nor one another scheduler's annotation of that field lists."""
    hints = _hints(cls)
    for field, value in content.items():
        allowed = _literal_values(hints.get(field)) if not field.startswith("_") else None
        if allowed is None or value in allowed:
            continue
        held = built.get(field, value)
        if held in allowed or (isinstance(held, str) and held in _any_scheduler_takes().get(field, ())):
            continue
        shown = shortened(json.dumps(value, ensure_ascii=False), 60, "...")
        return (f"{path}: field '{field}' is {shown}; expected {_values_text(allowed)} (the values "
                f"{cls.__name__}'s __init__ annotation lists)")
    return None


# ``variance_type`` values of a model that predicts its variance too: its output holds twice the sample's channels
# (DeepFloyd IF's UNet: 6 over an RGB sample), which DDPM and UnCLIP split in two and DPM-Solver cuts to its first 3
# (``model_output[:, :3]``); with an output of the sample's shape they fail ("unsupported operand type(s) for +:
# 'NoneType' and 'int'"), so a dry run with such an output alone would refuse IF's own scheduler_config.json.
_LEARNED_VARIANCE = ("learned", "learned_range")


def _dry_run(cls: type, content: dict) -> None:
    """``_dry_run_shaped`` with a model output of the sample's shape; where the configuration's ``variance_type`` is
    one of ``_LEARNED_VARIANCE`` and that run fails, the run again over an RGB sample (1x3x4x4) with an output of
    twice its channels, as such a model gives it: passes where either passes, else raises the first failure."""
    try:
        _dry_run_shaped(cls, content, 4, 4)
    except Exception:
        if content.get("variance_type") not in _LEARNED_VARIANCE:
            raise
        try:
            _dry_run_shaped(cls, content, 3, 6)
        except Exception:  # noqa: BLE001 - the first failure is the one to name
            pass
        else:
            return
        raise


def _dry_run_shaped(cls: type, content: dict, channels: int, output_channels: int) -> None:
    """Build ``cls`` from ``content`` and drive it as a pipeline does: ``set_timesteps(DRY_STEPS)`` (with ``mu`` from
    ``base_shift``, where the configuration shifts by resolution: the pipelines' ``calculate_shift`` at the base
    sequence length), then one ``step`` per timestep of a zero model output of 1 x ``output_channels`` x 4 x 4 over a
    zero sample of 1 x ``channels`` x 4 x 4, each input scaled first (``scale_model_input``). Raises whatever the
    scheduler raises."""
    import torch

    scheduler = cls.from_config(content)
    kwargs = {}
    if "mu" in inspect.signature(scheduler.set_timesteps).parameters and scheduler.config.get("use_dynamic_shifting"):
        base = scheduler.config.get("base_shift")
        kwargs["mu"] = base if isinstance(base, (int, float)) and not isinstance(base, bool) else 0.5
    scheduler.set_timesteps(num_inference_steps=DRY_STEPS, **kwargs)
    takes = inspect.signature(scheduler.step).parameters
    extra = {"generator": torch.Generator().manual_seed(0)} if "generator" in takes else {}
    sample = torch.zeros(1, channels, 4, 4)
    for timestep in scheduler.timesteps:
        scaled = scheduler.scale_model_input(sample, timestep) if hasattr(scheduler, "scale_model_input") else sample
        output = torch.zeros(1, output_channels, 4, 4, dtype=scaled.dtype)
        out = scheduler.step(output, timestep, sample, **extra)
        sample = out.prev_sample if hasattr(out, "prev_sample") else out[0]


def _run_problem(path: Path, content: dict, cls: type) -> str | None:
    """The dry run's refusal, traced to the string field whose class default makes it pass."""
    try:
        _dry_run(cls, content)
    except Exception as exc:  # noqa: BLE001 - the scheduler's own refusal, whatever its class
        return _traced(path, content, cls, exc, functools.partial(_dry_run, cls))
    return None


def _traced(path: Path, content: dict, cls: type, failure: BaseException, probe) -> str | None:
    """``failure`` of ``probe(content)`` (``cls.from_config`` or ``_dry_run``), traced to the one string field of
    ``content`` whose class default makes ``probe`` pass; None where no such field is found (the caller reports a
    failure to build in the scheduler's words; a dry run's failure is then left to the real run)."""
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    params = inspect.signature(init).parameters
    hints = _hints(cls)
    for field, value in content.items():
        if field.startswith("_") or field not in params or not isinstance(value, str) \
                or value == params[field].default:
            continue
        try:
            probe({**content, field: params[field].default})
        except Exception:  # noqa: BLE001 - still refused: not this field
            continue
        allowed = _literal_values(hints.get(field))
        said = shortened(" ".join(str(failure).split()), 200, "...")
        wanted = _values_text(allowed) if allowed else f"a value {cls.__name__} takes"
        shown = shortened(json.dumps(value, ensure_ascii=False), 60, "...")
        return f"{path}: field '{field}' is {shown}; expected {wanted} (it refuses this one: {said})"
    log.debug("%s: %s failed, not traced to a string field (%s: %s)", path, cls.__name__, type(failure).__name__,
              failure)
    return None
