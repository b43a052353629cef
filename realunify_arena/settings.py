"""How one app instance is configured: every field has a CLI flag and a ``REALUNIFY_*`` environment variable.

The flag wins over the variable, the variable over the default. Spaces have no command line, so every
deployment choice must be reachable through the environment (the Space's "Variables" settings).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from realunify_arena.redaction import SECRETS_FROM_ENV, RedactingParser
from realunify_arena.shown import brief

ArenaMode = Literal["live", "stored"]
ARENA_MODES: tuple[str, ...] = ("live", "stored")
JOURNAL_MODES: tuple[str, ...] = ("wal", "delete")  # the store's; kept here so settings import nothing heavy
DEFAULT_DATA_DIR = Path("data")
AUTO_JUDGE = "auto"  # the judge setting's default: chosen by what can run here (``AppContext.judge``)
SPACE_RUN_TIME_LIMIT_S = 180  # the per-run time limit on a Hugging Face Space (``$SPACE_ID`` set)
SPACE_PROXY_HOPS = 1  # Hugging Face's proxy in front of a Space: its X-Forwarded-For entry is the visitor's
# the header the trusted proxies append each hop's address to: the de-facto X-Forwarded-For (the default; Hugging
# Face's proxy, nginx, most load balancers) or RFC 7239's Forwarded ("for=" of each element)
PROXY_HEADERS: tuple[str, ...] = ("x-forwarded-for", "forwarded")
LOCAL_RUN_TIME_LIMIT_S = 900  # ... and elsewhere
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


# Gradio's own variables for the address (``gradio/blocks.py`` ``launch``, ``gradio/http_server.py``), which
# Spaces set: read for ``host``/``port`` when neither the flag nor the REALUNIFY_ variable is given
GRADIO_ENV = {"host": "GRADIO_SERVER_NAME", "port": "GRADIO_SERVER_PORT"}

# Gradio's variables that Gradio 6 reads with ``int()`` (at ``import gradio``: ``http_server.py``,
# ``node_server.py``; building the page: ``queueing.py``; at launch: ``blocks.py``): a value that is not an
# integer ended the app with Gradio's ValueError traceback, naming no variable, on every start
GRADIO_INT_ENV = ("GRADIO_SERVER_PORT", "GRADIO_NUM_PORTS", "GRADIO_NODE_NUM_PORTS", "GRADIO_NODE_SERVER_PORT",
                  "GRADIO_NUM_WORKERS", "GRADIO_DEBUG", "GRADIO_ANALYTICS_MAX_EVENTS",
                  "GRADIO_ANALYTICS_CACHE_FREQUENCY")
GRADIO_TEMP_ENV = "GRADIO_TEMP_DIR"  # the folder Gradio keeps uploads and served files in (made if missing)

JANUS_FAST_ENV = "REALUNIFY_JANUS_FAST"  # an environment switch only (cards say ``params: {fast: ...}``)


class SettingsError(ValueError):
    """A flag or environment variable has a value the app cannot use; the message names it."""


def out_of_range(source: str, raw: object, expected: str) -> SettingsError:
    """The one form of every numeric flag or variable's error: ``"<source>: expected <kind and range>, got
    <value>"``, e.g. ``"REALUNIFY_MIN_VOTES: expected an integer from 0 to 1000000, got 'many'"``."""
    return SettingsError(f"{source}: expected {expected}, got {brief(raw)}")


def parse_int(raw: str, source: str, low: int, high: int) -> int:
    """An integer flag or variable from ``low`` to ``high`` (both included).

    Raises:
        SettingsError: not an integer, or out of range (``out_of_range``'s form, naming ``source``).
    """
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise out_of_range(source, raw.strip() if value is None else value, f"an integer from {low} to {high}")
    return value


def parse_bool(raw: str, source: str) -> bool:
    """A yes/no flag or environment value: 1/true/yes/on or 0/false/no/off, any case.

    Raises:
        SettingsError: anything else; the message starts with ``source`` (the flag or variable).
    """
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise SettingsError(f"{source}: expected one of {', '.join(_TRUE + _FALSE)}, got {raw!r}")
    return value in _TRUE


def janus_fast_switch(env: Mapping[str, str] | None = None) -> bool | None:
    """``$REALUNIFY_JANUS_FAST`` as yes/no; None when unset or empty (then the device decides).

    Raises:
        SettingsError: any other value; ``app.py`` checks it at start, before any Janus model loads.
    """
    raw = (os.environ if env is None else env).get(JANUS_FAST_ENV, "")
    return parse_bool(raw, JANUS_FAST_ENV) if raw.strip() else None


def check_gradio_variables(env: Mapping[str, str] | None = None) -> None:
    """Refuse the Gradio variables Gradio itself would crash on, before ``import gradio``: each of
    ``GRADIO_INT_ENV`` that Python's ``int()`` cannot read (as Gradio reads it), and a ``GRADIO_TEMP_DIR``
    that cannot be made or written to (Gradio makes it while building the page).

    Raises:
        SettingsError: ``"<VARIABLE>: expected ..., got <value>; fix or unset it"``.
    """
    env = os.environ if env is None else env
    for name in GRADIO_INT_ENV:
        raw = env.get(name)
        if raw is None:
            continue
        try:
            int(raw)
        except ValueError:
            raise SettingsError(f"{name}: expected an integer (Gradio reads it as one), got {brief(raw)}; "
                                "fix or unset it") from None
    folder = env.get(GRADIO_TEMP_ENV)
    if folder:
        path = Path(folder).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
            usable = path.is_dir() and os.access(path, os.W_OK | os.X_OK)
            why = "not a writable folder"
        except OSError as exc:
            usable, why = False, (exc.strerror or type(exc).__name__).lower()
        if not usable:
            raise SettingsError(f"{GRADIO_TEMP_ENV} {brief(folder)}: {why}; expected a "
                                "folder this app can write uploads to, or unset it")


@dataclass(frozen=True)
class Settings:
    data: tuple[str, ...] = ("bundled",)  # instance sources: "bundled", official folders, parquet files
    models: tuple[str, ...] = ()  # model card names offered; empty: every card the pool knows
    models_dir: Path | None = None  # folder of model cards; None: the project's models/
    judge: str = AUTO_JUDGE  # judge card name, "human", or "auto" (what can run here; see AppContext.judge)
    db: Path = DEFAULT_DATA_DIR / "arena.db"
    host: str | None = None  # else $GRADIO_SERVER_NAME (which Spaces set; GRADIO_ENV); None: Gradio's 127.0.0.1
    port: int | None = None  # else $GRADIO_SERVER_PORT; None: Gradio's default (7860 or the next free port)
    arena_mode: ArenaMode = "live"  # "stored": battles are drawn from stored runs (CPU-only Spaces)
    min_votes: int = 20  # below this a system is shown as "preliminary" on the leaderboard
    gpu_concurrency: int = 1  # model events allowed to run at once (they share one accelerator)
    torch_threads: int | None = None  # torch's CPU threads per model run; None: sized to the host and model
    queue_size: int = 32  # local model runs that may wait for the accelerator; one more is refused (QueueFull)
    vote_limit: int = 30  # votes one voter (account, or IP across sessions) may cast per vote_window
    vote_window: int = 60  # seconds
    battle_limit: int = 60  # battles one voter (account, or IP across sessions) may start per battle_window
    battle_window: int = 60  # seconds
    run_limit: int = 30  # new model runs (Explore, /run_instance) one voter may start per run_window
    run_window: int = 60  # seconds
    trusted_proxies: int | None = None  # proxy hops whose proxy_header entries are believed; None: proxy_hops
    proxy_header: str = PROXY_HEADERS[0]  # the header those proxies append to: one of PROXY_HEADERS
    journal_mode: str = "wal"  # SQLite journal: "wal" (local disks), "delete" (network and FUSE mounts)
    allow_large_models: bool = False  # offer cards too large for this machine (an 8B model on a CPU host)
    run_time_limit: int | None = None  # seconds a run may generate for; 0: no limit; None: the default below
    # where each value set came from: (field, "--flag", "REALUNIFY_VAR" or a GRADIO_ENV variable); a field
    # absent here is the default
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def source(self, name: str) -> str | None:
        """Where field ``name`` came from: its flag (``"--db"``), its variable (``"REALUNIFY_DB"``), Gradio's
        variable for ``host``/``port`` (``"GRADIO_SERVER_NAME"``), or None for the default."""
        return dict(self.sources).get(name)

    def where(self, name: str) -> str:
        """What a message about field ``name`` names: its ``source``, or both the flag and the variable when
        the value is the default (``"--db (or REALUNIFY_DB)"``)."""
        setting = spec(name)
        return self.source(name) or f"--{setting.flag} (or {setting.env})"

    def named_in(self, text: str, name: str) -> str:
        """``text`` (e.g. a ``StoreError`` that says "point --db at ...") with field ``name``'s flag replaced
        by the variable when the value came from a variable."""
        setting, source = spec(name), self.source(name)
        return text.replace(f"--{setting.flag}", source) if source and source != f"--{setting.flag}" else text

    def set_by(self, name: str, value: str) -> str:
        """How to give field ``name`` the value ``value`` where it now comes from: ``"pass --port 8000"``, or
        ``"set GRADIO_SERVER_PORT to 8000 (or pass --port)"`` when a variable gave it."""
        setting, source = spec(name), self.source(name)
        if source and not source.startswith("--"):
            return f"set {source} to {value} (or pass --{setting.flag})"
        return f"pass --{setting.flag} {value}"

    @property
    def time_limit_s(self) -> float | None:
        """The per-run time limit in seconds (None: none): ``run_time_limit`` if set, else
        ``SPACE_RUN_TIME_LIMIT_S`` on a Space and ``LOCAL_RUN_TIME_LIMIT_S`` elsewhere."""
        limit = self.run_time_limit
        if limit is None:
            limit = SPACE_RUN_TIME_LIMIT_S if os.environ.get("SPACE_ID") else LOCAL_RUN_TIME_LIMIT_S
        return float(limit) if limit > 0 else None

    @property
    def proxy_hops(self) -> int:
        """The proxy hops in front of the app whose ``X-Forwarded-For`` entries are believed (0 to 16):
        ``trusted_proxies`` if set, else ``SPACE_PROXY_HOPS`` (1) on a Space and 0 elsewhere. A Space is only
        reached through Hugging Face's proxy, which appends the visitor's address; at 0 every visitor would be
        that proxy's address, one voter sharing one vote limit."""
        if self.trusted_proxies is not None:
            return self.trusted_proxies
        return SPACE_PROXY_HOPS if os.environ.get("SPACE_ID") else 0

    @property
    def data_dir(self) -> Path:
        return self.db.parent

    @classmethod
    def from_cli(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """Parse ``argv`` (default: ``sys.argv[1:]``) over ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        parser = _parser()
        args = parser.parse_args(argv)
        values, sources = {}, []
        for spec in _SPECS:
            raw = getattr(args, spec.name)
            source = f"--{spec.flag}"
            if raw is None and spec.env in env:
                raw, source = env[spec.env], spec.env
            elif raw is None and env.get(GRADIO_ENV.get(spec.name, ""), "").strip():  # what Gradio would read
                raw, source = env[GRADIO_ENV[spec.name]], GRADIO_ENV[spec.name]
            if raw is not None:
                values[spec.name] = spec.convert(raw, source)
                sources.append((spec.name, source))
        return cls(**values, sources=tuple(sources))


def comma_items(raw: str) -> tuple[str, ...]:
    """The items of a comma-separated list of names or paths (``--data``, ``--models``, ``report --judges``), read
    as one CSV row (RFC 4180, as the csv module reads it, spaces after a comma skipped): an item holding a comma, a
    folder "/data/RealUnify, v2" or a judge "Gemini, 2.5", is written in double quotes; each item without white
    space around it, empty ones dropped. A line break outside double quotes separates items as a comma does (a
    variable written over several lines, ``REALUNIFY_MODELS="a,\n  b"``, as splitting on commas read it)."""
    rows = csv.reader(io.StringIO(raw, newline=""), skipinitialspace=True)
    return tuple(item.strip() for row in rows for item in row if item.strip())


@dataclass(frozen=True)
class _Spec:
    name: str
    help: str
    kind: str  # "list" | "path" | "folder" (an existing one) | "int" | "str" | "mode" | "choice" | "bool"
    bounds: tuple[int, int] = (1, 10**6)  # for "int"
    choices: tuple[str, ...] = ()  # for "choice"

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return f"REALUNIFY_{self.name.upper()}"

    def convert(self, raw: str, source: str):
        raw = raw.strip()
        if self.kind == "list":
            items = comma_items(raw)
            if self.name == "data" and not items:
                raise SettingsError(f"{source}: expected at least one data source, got {raw!r}")
            return items
        if self.kind == "path":
            if not raw:
                raise SettingsError(f"{source}: expected a file path, got an empty value")
            return Path(raw).expanduser()
        if self.kind == "folder":  # a mistyped folder would start an app that offers no model, silently
            folder = Path(raw).expanduser()
            if not folder.is_dir():
                what = "not a folder" if folder.exists() else "no such folder"
                raise SettingsError(f"{source} {brief(raw)}: {what}; expected the folder that holds the model "
                                    f"cards (*.yaml)")
            return folder
        if self.kind == "int":
            return parse_int(raw, source, *self.bounds)
        if self.kind == "bool":
            return parse_bool(raw, source)
        if self.kind == "choice":
            if raw.lower() not in self.choices:
                raise SettingsError(f"{source}: expected one of {', '.join(self.choices)}, got {raw!r}")
            return raw.lower()
        if self.kind == "mode":
            if raw not in ARENA_MODES:
                raise SettingsError(f"{source}: expected one of {', '.join(ARENA_MODES)}, got {raw!r}")
            return raw
        if not raw:
            raise SettingsError(f"{source}: expected a value, got an empty string")
        return raw


_WEEK_S = 7 * 24 * 3600


def _window_spec(limit: str) -> _Spec:
    """``<limit>_window``: a rate limit's window, whole seconds from 1 to a week (each one's default is 60)."""
    return _Spec(f"{limit}_window", f"the {limit} limit's window in seconds (default 60)", "int", (1, _WEEK_S))


_SPECS = (
    _Spec("data", 'instance sources, comma-separated: "bundled", official folders, parquet files; a path holding a'
          ' comma in double quotes, as in a CSV row (default bundled)', "list"),
    _Spec("models", "model cards to offer, comma-separated (default: every card)", "list"),
    _Spec("models_dir", "folder of model cards (default: the project's models/)", "folder"),
    _Spec("judge", 'judge card, "human", or "auto" (default: the paper\'s judge gemini-2.5-pro when $GEMINI_API_KEY'
          ' is set, else a cached local VLM judge, else human)', "str"),
    _Spec("db", "SQLite file for runs, judgments and votes (default data/arena.db)", "path"),
    _Spec("host", "address to listen on (default 127.0.0.1, or $GRADIO_SERVER_NAME; 0.0.0.0 serves others)", "str"),
    _Spec("port", "port to listen on (default 7860, or $GRADIO_SERVER_PORT)", "int", (1, 65535)),
    _Spec("arena_mode", "live: generate battles now; stored: draw them from stored runs (default live)",
          "mode"),
    _Spec("min_votes", "votes below which a system is shown as preliminary (default 20)", "int", (0, 10**6)),
    _Spec("gpu_concurrency", "local model runs at once (default 1); remote cards never wait for it", "int"),
    _Spec("torch_threads", "torch CPU threads for a model run (default: 1 for tiny models, else the physical"
          " cores)", "int", (1, 4096)),
    _Spec("queue_size", "local model runs that may wait for the accelerator (default 32); one more is refused"
          " (\"... already waiting for the accelerator; try again later\"), as is a fifth of one visitor's", "int"),
    _Spec("vote_limit", "votes one voter may cast per vote window (default 30)", "int"),
    _window_spec("vote"),
    _Spec("battle_limit", "new battles one voter may start per battle window (default 60)", "int"),
    _window_spec("battle"),
    _Spec("run_limit", "new model runs one visitor may start per run window, from Explore, /run_instance or"
          " a live battle (two per battle); a stored run shown again is not counted (default 30)", "int"),
    _window_spec("run"),
    _Spec("trusted_proxies", "proxy hops in front of the app whose X-Forwarded-For (or --proxy-header) entries"
          " are believed; the "
          "voter is the right-most address they did not write (default 1 on a Space, for Hugging Face's proxy;"
          " else 0: the socket peer)",
          "int", (0, 16)),
    _Spec("proxy_header", "the header those proxies append each hop's address to: x-forwarded-for (default)"
          " or forwarded (RFC 7239's for=); the other one, which a client can write, is ignored", "choice",
          choices=PROXY_HEADERS),
    _Spec("journal_mode", "SQLite journal mode: wal (default; local disks) or delete (network and FUSE"
          " mounts, where WAL is unsafe)", "choice", choices=JOURNAL_MODES),
    _Spec("allow_large_models", "offer models too large for this machine (an 8B model on a CPU host); as a bare"
          " flag: yes (default no)", "bool"),
    _Spec("run_time_limit", f"seconds a run may generate before it is stopped, 0 for no limit (default "
          f"{SPACE_RUN_TIME_LIMIT_S} on a Space, else {LOCAL_RUN_TIME_LIMIT_S})", "int", (0, _WEEK_S)),
)


def spec(name: str) -> _Spec:
    """The flag and variable of field ``name`` (``spec("min_votes").env == "REALUNIFY_MIN_VOTES"``)."""
    return next(s for s in _SPECS if s.name == name)


def _parser() -> argparse.ArgumentParser:
    parser = RedactingParser(prog="app.py", description="RealUnify Explore / Arena / Leaderboard app.",
                             epilog=SECRETS_FROM_ENV)
    for spec in _SPECS:
        extra = {"nargs": "?", "const": "yes", "metavar": "yes|no"} if spec.kind == "bool" else {}  # as the CLI's
        parser.add_argument(f"--{spec.flag}", dest=spec.name, default=None,
                            help=f"{spec.help}; env {spec.env}", **extra)
    return parser
