"""``python app.py --help`` names each option's default, and each default it names is the one the app takes.

Before: ``--data`` and ``--arena-mode`` named none (a newcomer could not tell that ``bundled`` and ``live`` are
what the README's ``python app.py`` runs), ``--allow-large-models`` none either, and ``--trusted-proxies`` said
"(default 0: the socket peer; 1 on a Space)" although the app takes 0 on a Space too: the README's Space steps
say to set ``REALUNIFY_TRUSTED_PROXIES=1`` because nothing sets it, and at 0 every visitor of a Space shares
the proxy's address (one voter, one vote limit). The help's own phrasing beside it, ``--run-time-limit``'s
"default 180 on a Space", is a default the app does apply. (Since then a Space does trust one hop by default,
``Settings.proxy_hops``, and the help says so; this test holds the help to it.)"""

from __future__ import annotations

import dataclasses
import re

import pytest

from realunify_arena import settings as settings_module
from realunify_arena.settings import Settings

# unset (None) here: Gradio's own default applies (host, port), or one sized to the model and host (torch
# threads), as their help says
RESOLVED_LATER = {"host", "port", "torch-threads"}
HELP_OPTION = re.compile(r"^  --([a-z-]+)(?: [A-Z_\[\]|a-z]+)?\s*(.*)$")


def _helps() -> dict[str, str]:
    """Each option's help text (joined lines), by flag, as ``app.py --help`` prints it."""
    text = settings_module._parser().format_help().split("options:", 1)[1].split("\n\n")[0]
    helps: dict[str, str] = {}
    flag = None
    for line in text.splitlines():
        found = HELP_OPTION.match(line)
        if found:
            flag = found.group(1)
            helps[flag] = found.group(2)
        elif flag:
            helps[flag] += " " + line.strip()
    helps.pop("help", None)
    return {flag: " ".join(text.split()) for flag, text in helps.items()}


def _resolved(name: str, env: dict[str, str], monkeypatch) -> object:
    """What the app runs with for field ``name`` when nothing sets it, in the environment ``env``."""
    for variable in ("SPACE_ID", "GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings = Settings.from_cli([], env=env)
    resolved = {"run_time_limit": "time_limit_s", "trusted_proxies": "proxy_hops"}  # None: resolved by a property
    return getattr(settings, resolved.get(name, name))


def test_every_option_names_its_default():
    helps = _helps()
    assert len(helps) == len(settings_module._SPECS), sorted(helps)
    missing = [flag for flag, text in helps.items() if "default" not in text]
    assert not missing, {flag: helps[flag] for flag in missing}


@pytest.mark.parametrize("where, env", [("elsewhere", {}), ("on a Space", {"SPACE_ID": "user/space"})])
def test_each_number_a_help_gives_as_the_default_is_the_one_the_app_takes(where, env, monkeypatch):
    fields = {f.name for f in dataclasses.fields(Settings)}
    checked = 0
    for flag, text in _helps().items():
        name = flag.replace("-", "_")
        assert name in fields, flag
        clause = re.search(r"\(default:? ([^()]*)\)", text)
        if not clause or flag in RESOLVED_LATER:
            continue
        # "(default 20)", "(default 0: the socket peer; ...)", "(default 180 on a Space, else 900)"
        numbers = {place: int(n) for n, place in re.findall(r"(\d+) (on a Space)", clause.group(1))}
        rest = re.sub(r"\d+ on a Space", "", clause.group(1))
        elsewhere = re.match(r"\s*(?:else )?(\d+)\b", rest) or re.search(r"\belse (\d+)\b", rest)
        if elsewhere and not re.match(r"\s*\d+ or ", rest):
            numbers.setdefault("elsewhere", int(elsewhere.group(1)))
        expected = numbers.get(where, numbers.get("elsewhere"))  # a default said once holds on a Space too
        if expected is None:
            continue
        value = _resolved(name, env, monkeypatch)
        assert value == expected, (flag, where, text, value)
        checked += 1
    assert checked >= 8  # the limits, windows, votes, concurrency, queue, proxies, time limit


def test_data_and_arena_mode_name_what_python_app_py_runs(monkeypatch):
    helps = _helps()
    defaults = Settings()
    assert f"default {','.join(defaults.data)}" in helps["data"], helps["data"]
    assert f"default {defaults.arena_mode}" in helps["arena-mode"], helps["arena-mode"]
