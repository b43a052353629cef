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
- a dry run of the scheduler as the pipeline that loads it drives it (``set_timesteps`` for a few steps, called the
  way that pipeline's ``__call__`` calls it, ``timestep_call``: FLUX, Qwen-Image, LTX and Z-Image pass their own
  ``sigmas`` and a ``mu``, OmniGen and HunyuanVideo ``sigmas`` and no ``mu``, CogView4 ``timesteps`` and ``sigmas``
  from the configuration's ``num_train_timesteps`` and a ``mu``, SD3 ``mu`` only where the configuration shifts by
  resolution, DDPM/SD1.x the step count alone; then ``step`` through them on zeros; a model
  output of twice the sample's channels where ``variance_type`` says the model predicts its variance, as DeepFloyd
  IF's does): a refusal the file's values cause is traced to the one string field whose class default (or boolean
  field whose other value) makes the run pass; a refusal of ``set_timesteps`` as the pipeline calls it that no such
  field explains is named in the scheduler's words.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import types
import typing
from pathlib import Path
from typing import Callable, NamedTuple

from realunify_arena.redaction import shortened
from realunify_arena.shown import error_line

__all__ = ["scheduler_settings_problem"]

log = logging.getLogger(__name__)

# PNDMScheduler's PRK warm-up cannot run fewer than 4 steps (numpy broadcast error at 2 or 3)
DRY_STEPS = 4


def scheduler_settings_problem(path: Path, content: dict, cls: type, pipeline: type | None = None,
                               component: str = "scheduler") -> str | None:
    """Why the scheduler class ``cls`` (a ``diffusers.SchedulerMixin``), built from ``content`` (the parsed
    ``scheduler_config.json`` at ``path``; ``cls.from_config(content)`` already succeeded), would refuse a string
    or boolean value of it when it runs, or read a string as another setting; ``pipeline`` (a ``DiffusionPipeline``
    class, None where unknown) is the one that loads it as its ``component``, whose way of calling ``set_timesteps``
    the dry run follows (``timestep_call``).

    Returns:
        ``"{path}: field 'timestep_type' is "continous"; expected "discrete" or "continuous" (the values
        EulerDiscreteScheduler's __init__ annotation lists)"``, or ``"{path}: field 'prediction_type' is
        "epsilonn"; expected a value EulerDiscreteScheduler takes (it refuses this one: prediction_type given as
        epsilonn must be one of `epsilon`, or `v_prediction`)"``, ``"{path}: field 'use_dynamic_shifting' is true;
        expected false (it refuses this one as OmniGenPipeline calls set_timesteps(sigmas=np.linspace(1, 0,
        steps + 1)[:-1]), without mu: `mu` must be passed when `use_dynamic_shifting` is set to be `True`)"``,
        ``"{path}: UniPCMultistepScheduler cannot set its steps as FluxPipeline calls set_timesteps(...): Passing
        `sigmas` is only supported when ...; expected a configuration of it that takes that call"``, or None (also
        where a dry run cannot tell: a scheduler whose step takes more than a model output and a sample, or whose
        defaults do not run this way either).
    """
    try:
        built = cls.from_config(content).config
    except Exception as exc:  # noqa: BLE001 - the scheduler's own refusal at __init__: ValueError, NotImplementedError
        return _traced(path, content, cls, exc, cls.from_config)
    call = timestep_call(pipeline, component)
    takes = inspect.signature(cls.set_timesteps).parameters
    if call is not None and ((call.sigmas is not None and "sigmas" not in takes)
                             or (call.timesteps is not None and not {"timesteps", "sigmas"} <= set(takes))
                             or (call.mu == "always" and "mu" not in takes)):
        call = None  # a class that cannot take the call at all is named as such by the pipeline's class check
    return _literal_problem(path, content, cls, built) or _run_problem(path, content, cls, call)


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


class TimestepCall(NamedTuple):
    """How a pipeline's ``__call__`` sets its scheduler's steps (``timestep_call``).

    ``sigmas(steps)``: the schedule it passes by default (None: it passes none, only the step count); ``mu``:
    ``"always"`` (FLUX: ``mu=mu`` from ``calculate_shift``), ``"dynamic"`` (SD3: only where the configuration's
    ``use_dynamic_shifting`` is on) or ``"never"``; ``retrieve``: the pipeline module's own ``retrieve_timesteps``
    (None where ``__call__`` calls ``set_timesteps`` itself); ``said``: the call as a message shows it;
    ``timesteps(steps, config)``: the ``timesteps`` and ``sigmas`` it passes by default where both follow from the
    scheduler's configuration (CogView4: ``_derived_timesteps``), as keyword arguments; None elsewhere."""

    sigmas: Callable[[int], object] | None
    mu: str
    retrieve: Callable | None
    said: str
    timesteps: Callable[[int, object], dict] | None = None


# ``sigmas = np.linspace(1.0, 1 / num_inference_steps, num_inference_steps)`` (FLUX, Qwen-Image, LTX, Z-Image's
# helper), ``np.linspace(1, 0, num_inference_steps + 1)[:num_inference_steps]`` (OmniGen), ``np.linspace(1.0, 0.0,
# num_inference_steps + 1)[:-1]`` (HunyuanVideo), ``torch.linspace(1.0, 0.0, num_inference_steps + 1)`` passed as
# ``sigmas[:-1]`` (ERNIE-Image): a schedule of ``steps + 1`` points is always passed without its last one.
_LINSPACE = re.compile(r"\b(np|torch)\.linspace\(\s*([\d.]+)\s*,\s*(1(?:\.0)?\s*/\s*num_inference_steps|[\d.]+)\s*,"
                       r"\s*num_inference_steps\s*(\+\s*1\s*)?[,)]")
_SIGMAS_SET = re.compile(r"^\s*sigmas = (.+)$", re.M)  # an assignment; a keyword argument is written sigmas=sigmas


def _call_args(source: str, component: str) -> list[str]:
    """The argument text of each call in ``source`` that sets ``component``'s steps: ``retrieve_timesteps(
    self.scheduler, ...)`` / ``retrieve_timesteps(audio_scheduler, ...)`` and ``self.scheduler.set_timesteps(...)``
    (as "set_timesteps:" and its arguments)."""
    found = []
    pattern = re.compile(rf"\bretrieve_timesteps\(\s*(?:self\.)?{component}\b|\bself\.{component}\.set_timesteps\(")
    for match in pattern.finditer(source):
        start = source.index("(", match.start())
        depth, end = 0, start
        for end in range(start, len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        text = " ".join(source[start + 1:end].split())
        found.append(("set_timesteps:" if "set_timesteps" in match.group() else "") + text)
    return found


def _default_sigmas(source: str, module) -> tuple[Callable[[int], object], str] | None | bool:
    """(steps -> the schedule, its text) of the ``sigmas = ...linspace(...)`` default in ``source`` (a pipeline's
    ``__call__``), looked for in a helper of ``module`` it calls (Z-Image's ``get_default_z_image_sigmas``); None
    where ``source`` sets no ``sigmas`` (they come from the caller only, None by default); False where it sets them
    in a way not recognised here."""
    import numpy as np
    import torch

    settings = _SIGMAS_SET.findall(source)
    if not settings:
        return None
    for text in settings:
        match = _LINSPACE.search(text)
        helper = re.match(r"(\w+)\(", text.strip())
        if match is None and helper and callable(getattr(module, helper.group(1), None)):
            try:
                match = _LINSPACE.search(inspect.getsource(getattr(module, helper.group(1))))
            except (OSError, TypeError):
                match = None
        if match is None or not 0.9 <= float(match.group(2)) <= 1:  # Cosmos 2's linspace(0, 1, ...) is reshaped after
            continue
        library, first, last, extra = match.groups()
        closing = match.string.find(")", match.end() - 1)
        as_list = match.string[closing + 1:].lstrip().startswith(".tolist()")

        def schedule(steps, library=library, first=float(first), last=last, extra=bool(extra), as_list=as_list):
            end = 1 / steps if "num_inference_steps" in last else float(last)
            points = steps + 1 if extra else steps
            values = (np.linspace(first, end, points) if library == "np"
                      else torch.linspace(first, end, points, dtype=torch.float32))
            values = values[:steps]
            return values.tolist() if as_list else values

        return schedule, match.group().rstrip(",)") + ")" + ("[:-1]" if extra else "")
    return False


def _one_call(pipeline: type | None, component: str) -> tuple[str, str] | None:
    """(``pipeline.__call__``'s source, the argument text of its one way of setting ``component``'s steps,
    ``_call_args``); None where there is no pipeline, its source cannot be read, or it sets them in more than one
    way."""
    if pipeline is None:
        return None
    try:
        source = inspect.getsource(pipeline.__call__)
    except (OSError, TypeError):
        return None
    shapes = set(_call_args(source, component))
    return (source, shapes.pop()) if len(shapes) == 1 else None


@functools.cache
def timestep_call(pipeline: type | None, component: str = "scheduler") -> TimestepCall | None:
    """How ``pipeline``'s ``__call__`` (diffusers' own source, read with ``inspect``) sets ``component``'s steps
    when its caller gives no ``sigmas`` or ``timesteps`` of its own; None where it cannot be told (no pipeline, no
    call found, calls of more than one shape, a default schedule not recognised): then the dry run calls
    ``set_timesteps(steps)`` with ``mu`` where the configuration shifts by resolution."""
    read = _one_call(pipeline, component)
    if read is None:
        return None
    source, args = read
    module = inspect.getmodule(pipeline)
    sigmas = None
    derived = _derived_timesteps(source, component) if re.search(r"\btimesteps\b.*\bsigmas\b", args) else None
    if derived is None and re.search(r"\bsigmas\b", args):
        sigmas = _default_sigmas(source, module)
        if sigmas is False:
            return None
    if re.search(r"\bmu\s*=", args) or re.search(r"scheduler_kwargs\s*=\s*\{\s*[\"']mu[\"']", source):
        mu = "always"
    elif "**scheduler_kwargs" in args and re.search(r"scheduler_kwargs\[[\"']mu[\"']\]", source):
        mu = "dynamic"
    else:
        mu = "never"
    retrieve = None if args.startswith("set_timesteps:") else getattr(module, "retrieve_timesteps", None)
    if not args.startswith("set_timesteps:") and not callable(retrieve):
        return None
    passed = [derived[1] if derived else f"sigmas={sigmas[1]}" if sigmas else "steps",
              *(["mu=calculate_shift(...)"] if mu == "always" else ["mu where use_dynamic_shifting"]
                if mu == "dynamic" else [])]
    said = f"{pipeline.__name__} calls set_timesteps({', '.join(passed)})" + (", without mu" if mu == "never" else "")
    said = said.replace("num_inference_steps", "steps")
    return TimestepCall(sigmas[0] if sigmas else None, mu, retrieve, said, derived[0] if derived else None)


# CogView4 (and GLM-Image): ``timesteps = (np.linspace(self.scheduler.config.num_train_timesteps, 1.0,
# num_inference_steps) if timesteps is None else np.array(timesteps))``, ``timesteps =
# timesteps.astype(np.int64).astype(np.float32)``, ``sigmas = timesteps / self.scheduler.config.num_train_timesteps if
# sigmas is None else sigmas``: both passed to retrieve_timesteps
def _derived_timesteps(source: str, component: str) -> tuple[Callable[[int, object], dict], str] | None:
    """((steps, the scheduler's config) -> {"timesteps": ..., "sigmas": ...}, its text) where ``source`` (a
    pipeline's ``__call__``) sets both the CogView4 way; else None."""
    import numpy as np

    config = rf"self\.{component}\.config\.num_train_timesteps"
    linspace = rf"^\s*timesteps = \(?\s*np\.linspace\(\s*{config},\s*1\.0,\s*num_inference_steps\s*\)"
    if not (re.search(linspace, source, re.M)
            and re.search(r"^\s*timesteps = timesteps\.astype\(np\.int64\)\.astype\(np\.float32\)", source, re.M)
            and re.search(rf"^\s*sigmas = timesteps / {config} if sigmas is None", source, re.M)):
        return None

    def schedule(steps: int, settings) -> dict:
        total = settings.get("num_train_timesteps", 1000)
        timesteps = np.linspace(total, 1.0, steps).astype(np.int64).astype(np.float32)
        return {"timesteps": timesteps, "sigmas": timesteps / total}

    return schedule, ("timesteps=np.linspace(num_train_timesteps, 1.0, steps), sigmas=timesteps / "
                      "num_train_timesteps")


_RETRIEVE_POSITIONS = {3: "timesteps", 4: "sigmas"}  # retrieve_timesteps(scheduler, steps, device, timesteps, sigmas)


@functools.cache
def passed_arguments(pipeline: type | None, component: str = "scheduler") -> frozenset[str] | None:
    """Which of ``timesteps``, ``sigmas`` and ``mu`` ``pipeline``'s ``__call__`` passes its ``component``'s
    ``set_timesteps`` whatever its caller gives: from ``timestep_call`` where that reads the call; else, where
    ``__call__`` sets the steps in one way only, each schedule it passes (by keyword, or in ``retrieve_timesteps``'
    places) and gives a value of its own (an assignment in ``__call__``: CogView4's ``timesteps = (np.linspace(...)
    if timesteps is None else ...)`` and ``sigmas = timesteps / ... if sigmas is None else sigmas``), and ``mu``
    where it passes ``mu=``. None where it cannot be told (no pipeline, calls of more than one shape: HiDream-I1,
    IF, EasyAnimate)."""
    import ast

    call = timestep_call(pipeline, component)
    if call is not None:
        return frozenset((["sigmas"] if call.sigmas is not None else []) + (["mu"] if call.mu == "always" else [])
                         + (["timesteps", "sigmas"] if call.timesteps is not None else []))
    read = _one_call(pipeline, component)
    if read is None:
        return None
    source, args = read
    try:
        parsed = ast.parse(f"f({args.removeprefix('set_timesteps:')})", mode="eval").body
    except SyntaxError:
        return None
    given = {keyword.arg: keyword.value for keyword in parsed.keywords if keyword.arg}
    if not args.startswith("set_timesteps:"):
        given.update({name: parsed.args[at] for at, name in _RETRIEVE_POSITIONS.items() if at < len(parsed.args)})
    passed = {"mu"} if "mu" in given else set()
    for name in ("timesteps", "sigmas"):
        value = given.get(name)
        if isinstance(value, ast.Name) and re.search(rf"^\s*{value.id} = ", source, re.M):
            passed.add(name)
    return frozenset(passed)


class _StepsRefused(Exception):
    """The scheduler's own refusal of ``set_timesteps`` as the pipeline calls it (``__cause__``: its error)."""


def _dry_run(cls: type, content: dict, call: TimestepCall | None = None) -> None:
    """``_dry_run_shaped`` with a model output of the sample's shape; where the configuration's ``variance_type`` is
    one of ``_LEARNED_VARIANCE`` and that run fails, the run again over an RGB sample (1x3x4x4) with an output of
    twice its channels, as such a model gives it: passes where either passes, else raises the first failure."""
    try:
        _dry_run_shaped(cls, content, 4, 4, call)
    except Exception:
        if content.get("variance_type") not in _LEARNED_VARIANCE:
            raise
        try:
            _dry_run_shaped(cls, content, 3, 6, call)
        except Exception:  # noqa: BLE001 - the first failure is the one to name
            pass
        else:
            return
        raise


def _mu(config) -> float:
    """The ``mu`` the pipelines' ``calculate_shift`` gives at the configuration's base sequence length: its
    ``base_shift`` (0.5, their default, where it holds no number)."""
    base = config.get("base_shift")
    return base if isinstance(base, (int, float)) and not isinstance(base, bool) else 0.5


def _dry_run_shaped(cls: type, content: dict, channels: int, output_channels: int,
                    call: TimestepCall | None = None) -> None:
    """Build ``cls`` from ``content`` and drive it as a pipeline does: ``set_timesteps`` for ``DRY_STEPS`` steps as
    ``call`` says (through the pipeline's own ``retrieve_timesteps`` where it uses one; ``mu`` from ``_mu``), or,
    with no ``call``, ``set_timesteps(DRY_STEPS)`` with ``mu`` where the configuration shifts by resolution; then one
    ``step`` per timestep of a zero model output of 1 x ``output_channels`` x 4 x 4 over a zero sample of 1 x
    ``channels`` x 4 x 4, each input scaled first (``scale_model_input``). Raises whatever the scheduler raises,
    ``_StepsRefused`` from its error where ``set_timesteps`` as ``call`` says refuses."""
    import torch

    scheduler = cls.from_config(content)
    dynamic = scheduler.config.get("use_dynamic_shifting")
    if call is None:
        kwargs = {"mu": _mu(scheduler.config)} if dynamic and "mu" in inspect.signature(
            scheduler.set_timesteps).parameters else {}
        scheduler.set_timesteps(num_inference_steps=DRY_STEPS, **kwargs)
    else:
        kwargs = {"mu": _mu(scheduler.config)} if call.mu == "always" or (call.mu == "dynamic" and dynamic) else {}
        if call.sigmas is not None:
            kwargs["sigmas"] = call.sigmas(DRY_STEPS)
        if call.timesteps is not None:
            kwargs.update(call.timesteps(DRY_STEPS, scheduler.config))
        try:
            if call.retrieve is not None:
                call.retrieve(scheduler, DRY_STEPS, None, **kwargs)
            else:
                scheduler.set_timesteps(DRY_STEPS, **kwargs)
        except Exception as exc:
            raise _StepsRefused(error_line(exc)) from exc
    takes = inspect.signature(scheduler.step).parameters
    extra = {"generator": torch.Generator().manual_seed(0)} if "generator" in takes else {}
    sample = torch.zeros(1, channels, 4, 4)
    for timestep in scheduler.timesteps:
        scaled = scheduler.scale_model_input(sample, timestep) if hasattr(scheduler, "scale_model_input") else sample
        output = torch.zeros(1, output_channels, 4, 4, dtype=scaled.dtype)
        out = scheduler.step(output, timestep, sample, **extra)
        sample = out.prev_sample if hasattr(out, "prev_sample") else out[0]


def _run_problem(path: Path, content: dict, cls: type, call: TimestepCall | None = None) -> str | None:
    """The dry run's refusal, traced to the string or boolean field that makes it pass; else, where
    ``set_timesteps`` as the pipeline calls it refuses, that refusal in the scheduler's words."""
    try:
        _dry_run(cls, content, call)
    except Exception as exc:  # noqa: BLE001 - the scheduler's own refusal, whatever its class
        problem = _traced(path, content, cls, exc, functools.partial(_dry_run, cls, call=call), call)
        if problem or not isinstance(exc, _StepsRefused):
            return problem
        said = shortened(error_line(exc), 200, "...")
        return (f"{path}: {cls.__name__} cannot set its steps as {call.said}: {said}; expected a configuration of "
                "it that takes that call")
    return None


def _traced(path: Path, content: dict, cls: type, failure: BaseException, probe,
            call: TimestepCall | None = None) -> str | None:
    """``failure`` of ``probe(content)`` (``cls.from_config`` or ``_dry_run``), traced to the one string field of
    ``content`` whose class default makes ``probe`` pass, or the one boolean field whose other value does; None
    where no such field is found (the caller reports a failure to build in the scheduler's words; a dry run's
    failure is then left to the real run, unless ``set_timesteps`` refused the pipeline's ``call``)."""
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    params = inspect.signature(init).parameters
    hints = _hints(cls)
    for field, value in content.items():
        if field.startswith("_") or field not in params:
            continue
        if isinstance(value, bool):
            other = not value
        elif isinstance(value, str) and value != params[field].default:
            other = params[field].default
        else:
            continue
        try:
            probe({**content, field: other})
        except Exception:  # noqa: BLE001 - still refused: not this field
            continue
        allowed = _literal_values(hints.get(field))
        said = shortened(error_line(failure), 200, "...")
        wanted = (json.dumps(other) if isinstance(value, bool) else _values_text(allowed) if allowed
                  else f"a value {cls.__name__} takes")
        how = f" as {call.said}" if call is not None and isinstance(failure, _StepsRefused) else ""
        shown = shortened(json.dumps(value, ensure_ascii=False), 60, "...")
        return f"{path}: field '{field}' is {shown}; expected {wanted} (it refuses this one{how}: {said})"
    log.debug("%s: %s failed, not traced to a string or boolean field (%s: %s)", path, cls.__name__,
              type(failure).__name__, failure)
    return None
