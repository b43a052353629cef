"""What Hugging Face accepts in a Space's README front-matter, checked before ``space-card`` writes it.

The rules are the Hub's own: the Spaces configuration reference (https://huggingface.co/docs/hub/spaces-config-
reference: field types, the SDKs, the colours, the hardware flavours, the ``preload_from_hub`` item format,
``hf_oauth_expiration_minutes`` at most 43200) and the Hub's refusal of a ``short_description`` over 60
characters ("length must be less than or equal to 60 characters long"). A value the Hub refuses stops the push
of the README; one it does not understand is silently ignored, so both are reported here.
"""

from __future__ import annotations

import re
from pathlib import Path

COLOURS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
SDKS = ("gradio", "docker", "static")
# The flavours huggingface_hub's ``SpaceHardware`` names (the Hub's own client), ZeroGPU's ``zero-a10g`` included:
# the README's "GPU / ZeroGPU Space" suggests it, and Spaces' front-matter uses it.
HARDWARE = ("cpu-basic", "cpu-upgrade", "zero-a10g", "t4-small", "t4-medium", "l4x1", "l4x4", "l40sx1", "l40sx4",
            "l40sx8", "a10g-small", "a10g-large", "a10g-largex2", "a10g-largex4", "a100-large", "a100x4", "a100x8",
            "rtx-pro-6000", "rtx-pro-6000x2", "rtx-pro-6000x4", "rtx-pro-6000x8")
SHORT_DESCRIPTION_MAX = 60
OAUTH_MINUTES_MAX = 43200  # 30 days
TEXT = ("title", "emoji", "short_description", "license", "thumbnail", "base_path", "app_build_command")
FLAGS = ("pinned", "fullWidth", "hf_oauth", "disable_embedding")
LISTS = ("tags", "hf_oauth_scopes")
REPO_LISTS = ("models", "datasets")
OTHER = ("colorFrom", "colorTo", "sdk", "python_version", "sdk_version", "suggested_hardware", "suggested_storage",
         "app_file", "app_port", "header", "hf_oauth_expiration_minutes", "hf_oauth_authorized_org",
         "startup_duration_timeout", "custom_headers", "preload_from_hub")
KNOWN = frozenset(TEXT + FLAGS + LISTS + REPO_LISTS + OTHER)
_PYTHON = re.compile(r"3\.\d+(\.\d+)?")
_DURATION = re.compile(r"(\d+(\.\d+)?(ms|s|m|h))+")  # "1h", "30m", "1h30m" (a Go duration, as the Hub parses it)
_SHA = re.compile(r"[0-9a-f]{40}")
_GRADIO_PIN = re.compile(r"^\s*gradio(\[[^\]]*\])?\s*==\s*([^\s;#]+)", re.MULTILINE)


def space_problems(data: dict, folder: Path) -> list[str]:
    """Every field of ``data`` (a Space's front-matter, from a file in ``folder``) that the Hub would refuse
    or ignore, as ``"FIELD: expected ..., got VALUE"``; [] when all are right. ``app_file`` must exist in
    ``folder``, a gradio ``sdk_version`` must be the version ``folder/requirements.txt`` pins with
    ``gradio==`` (the Space installs the former, the app was tested with the latter), and ``python_version``
    one that ``folder/pyproject.toml``'s ``requires-python`` allows."""
    from realunify_arena.shown import brief

    problems = []

    def bad(key: str, expected: str) -> None:
        problems.append(f"{key}: expected {expected}, got {brief(data[key])}")

    for key in data:
        if key not in KNOWN:
            problems.append(f"{key}: not a field of the Spaces configuration reference (the Hub ignores it)")
    for key in TEXT:
        if key in data and not (isinstance(data[key], str) and data[key].strip()):
            bad(key, "a text")
    if isinstance(data.get("short_description"), str) and len(data["short_description"]) > SHORT_DESCRIPTION_MAX:
        bad("short_description", f"at most {SHORT_DESCRIPTION_MAX} characters (the Hub refuses longer ones;"
                                 f" this has {len(data['short_description'])})")
    for key in FLAGS:
        if key in data and not isinstance(data[key], bool):
            bad(key, "true or false")
    for key in LISTS + REPO_LISTS:
        if key in data and not (isinstance(data[key], list) and all(isinstance(v, str) and v for v in data[key])):
            bad(key, "a list of texts")
    for key in REPO_LISTS:
        for repo_id in data.get(key) or []:
            if isinstance(repo_id, str) and not is_repo_id(repo_id):
                problems.append(f"{key}: expected Hub repo ids like owner/name, got {brief(repo_id)}")
    for key in ("colorFrom", "colorTo"):
        if key in data and data[key] not in COLOURS:
            bad(key, f"one of {', '.join(COLOURS)}")
    if "sdk" in data and data["sdk"] not in SDKS:
        bad("sdk", f"one of {', '.join(SDKS)}")
    if "python_version" in data and not (isinstance(data["python_version"], str)
                                         and _PYTHON.fullmatch(data["python_version"])):
        bad("python_version", "a quoted Python version '3.x' or '3.x.x' (unquoted, 3.10 is read as the number 3.1)")
    if "suggested_hardware" in data and data["suggested_hardware"] not in HARDWARE:
        bad("suggested_hardware", f"a hardware flavour of the Hub ({', '.join(HARDWARE)})")
    if "suggested_storage" in data:
        problems.append("suggested_storage: the Hub no longer offers persistent storage and ignores it; keep the"
                        " votes with REALUNIFY_DATASET_REPO instead")
    if "app_port" in data and (data.get("sdk") != "docker" or not _int_in(data["app_port"], 1, 65535)):
        bad("app_port", "a port 1 to 65535, and only with sdk: docker (a gradio Space listens on 7860)")
    if "hf_oauth_expiration_minutes" in data and not _int_in(data["hf_oauth_expiration_minutes"], 1,
                                                              OAUTH_MINUTES_MAX):
        bad("hf_oauth_expiration_minutes", f"whole minutes 1 to {OAUTH_MINUTES_MAX} (30 days)")
    if "header" in data and data["header"] not in ("mini", "default"):
        bad("header", "mini or default")
    if "startup_duration_timeout" in data and not (isinstance(data["startup_duration_timeout"], str)
                                                   and _DURATION.fullmatch(data["startup_duration_timeout"])):
        bad("startup_duration_timeout", "a duration such as '30m' or '1h'")
    problems += _preload_problems(data.get("preload_from_hub"))
    problems += _app_problems(data, folder)
    return problems


def _preload_problems(items) -> list[str]:
    from realunify_arena.shown import brief

    if items is None:
        return []
    if not isinstance(items, list):
        return [f"preload_from_hub: expected a list of 'owner/name [file1,file2 [commit]]', got {brief(items)}"]
    problems = []
    for item in items:
        parts = item.split(" ") if isinstance(item, str) else []
        if not (1 <= len(parts) <= 3 and is_repo_id(parts[0]) and all(parts[1:])
                and (len(parts) < 3 or _SHA.fullmatch(parts[2]))):
            problems.append(f"preload_from_hub: expected 'owner/name', 'owner/name file1,file2' or 'owner/name"
                            f" file1,file2 COMMIT_SHA' (40 hex digits), got {brief(item)}")
    return problems


def _app_problems(data: dict, folder: Path) -> list[str]:
    from realunify_arena.shown import brief

    problems = []
    app_file = data.get("app_file")
    if app_file is not None and not (isinstance(app_file, str) and (folder / app_file).is_file()):
        problems.append(f"app_file: expected a file in {folder}, got {brief(app_file)}")
    wanted = requires_python(folder / "pyproject.toml")
    python = data.get("python_version")
    if wanted is not None and isinstance(python, str) and _PYTHON.fullmatch(python) and python not in wanted:
        problems.append(f"python_version: expected a version {folder / 'pyproject.toml'}'s requires-python allows"
                        f" ({wanted}; the Space runs the app on python_version), got {brief(python)}")
    pinned = gradio_pin(folder / "requirements.txt")
    version = data.get("sdk_version")
    if data.get("sdk") == "gradio" and pinned is not None and version != pinned:
        problems.append(f"sdk_version: expected {pinned!r}, the gradio version {folder / 'requirements.txt'} pins"
                        f" (the Space installs sdk_version), got {brief(version)}")
    return problems


def gradio_pin(requirements: Path) -> str | None:
    """The version ``requirements`` pins with ``gradio==`` (extras allowed), or None (no file, no pin)."""
    try:
        match = _GRADIO_PIN.search(requirements.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return match.group(2) if match else None


def requires_python(pyproject: Path):
    """``[project] requires-python`` of ``pyproject`` as a ``packaging`` ``SpecifierSet`` (``"3.11" in it``), or
    None (no file, no such field, or not TOML or a specifier: the file's own tools report that)."""
    import tomllib

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        wanted = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("requires-python")
        return SpecifierSet(wanted) if isinstance(wanted, str) else None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, InvalidSpecifier, AttributeError):
        return None


def is_repo_id(value: str, *, owner_required: bool = False) -> bool:
    """Whether ``value`` is a Hub repo id by the Hub's own rule (``huggingface_hub``'s ``validate_repo_id``:
    ASCII letters, digits, '-', '_', '.', '-' and '.' neither first nor last, no '--' or '..', at most 96
    characters): ``name`` or ``owner/name``, the owner required when ``owner_required``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return value.count("/") == 1 if owner_required else value.count("/") <= 1


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
