"""Entry point, locally and as the Space's ``app_file``: settings from CLI/env -> build_demo -> launch.

``python app.py [--data PATH] [--models CARD,...] [--judge CARD] [--db PATH] [--port N] ...``; every flag
also reads ``REALUNIFY_<NAME>`` (``python app.py --help`` lists them).
"""

import contextlib
import os
import sys

if os.environ.get("SPACES_ZERO_GPU", "").lower() in {"1", "t", "true"}:  # spaces' own test (runtime.on_zero_gpu)
    import spaces  # noqa: F401 - on ZeroGPU this must come before anything that initialises CUDA

from realunify_arena.listening import listen_problem
from realunify_arena.redaction import redact
from realunify_arena.settings import Settings, SettingsError, check_gradio_variables, janus_fast_switch


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.tls import tls_context
    from realunify_arena.url_credentials import check_url_variables

    try:
        settings = Settings.from_cli(argv)
        janus_fast_switch()  # read only when a Janus model loads: a bad value would fail a visitor's first run
        check_gradio_variables()  # else Gradio's own int() of one is a traceback, at its import or launch
        tls_context()  # a CA variable naming no CA file is refused here, not at each remote model's request
        check_url_variables()  # $HF_ENDPOINT with a password would replace HF_TOKEN in every hub request
    except SettingsError as e:
        return refuse(str(e))
    from realunify_arena.arena import salt_problem

    problem = salt_problem()  # a guessable salt would let an export of votes be traced back to addresses
    if problem:
        return refuse(problem)
    problem = address_problem(settings)
    if problem:  # else a port in use was Gradio's traceback after the store was made, a bad host a hang
        return refuse(problem)
    for source in settings.data:  # loaded on first use: a mistyped path would show only once chosen in the page
        if source != "bundled" and not os.path.exists(os.path.expanduser(source)):
            print(redact(f"app.py: warning: data source {source}: no such file or folder (the page lists it"
                         " with this problem)"), file=sys.stderr)
    try:  # every card, --models and --judge checked before the store is made: a refused start creates nothing
        chosen = choose_cards(settings)
    except ValueError as e:  # --models or --judge names a card that does not exist (or a judge that cannot judge)
        return refuse(str(e))
    from realunify_arena.persistence import open_store, unstable_voters
    from realunify_arena.store import StoreError
    from realunify_arena.ui import launch_options

    try:  # restored from $REALUNIFY_DATASET_REPO when that is set, so a restarted Space keeps its votes
        store, scheduler = open_store(settings.db, journal_mode=settings.journal_mode)
    except StoreError as e:  # damaged, truncated, read-only, or newer than this code: its own one line
        return refuse(settings.named_in(f"cannot open the database {e}", "db"))
    except SettingsError as e:  # $REALUNIFY_DATASET_REPO or $REALUNIFY_PUSH_MINUTES: it names the variable
        return refuse(str(e))
    except (ValueError, OSError) as e:  # the dataset repo could not be read (its message names the variable)
        return refuse(f"cannot open the store {settings.db} ({settings.where('db')}): {e}")
    for problem in (stored_arena_problem(settings, store), unstable_voters()):  # else the deployer learns it only
        if problem:  # when a visitor asks for a battle, or never (voters counted anew after each restart)
            print(f"app.py: warning: {redact(problem)}", file=sys.stderr)
    try:
        demo = build_app(settings, store, chosen)
    except ValueError as e:  # the page cannot be built from these settings
        return refuse(str(e))
    # ``scheduler`` (None without a dataset repo) pushes snapshots every few minutes while launch blocks,
    # and once more at exit.
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, **launch_options())
    except OSError as e:  # Gradio's "Cannot find empty port": the address was free at the check above, and
        # another program (a second app started at the same moment) took it while this one built its page
        problem = address_problem(settings)
        if problem is None and "Cannot find empty port" not in str(e):
            raise
        return refuse(problem or f"{settings.where('port')}: port {settings.port} was taken while the app"
                      " started (another program listened there for a moment); " + settings.set_by("port", "N")
                      + " for another port, or start it again")
    except KeyboardInterrupt:  # a second Ctrl-C while launch closed its server (up to 5 s with a run's stream
        exit_at_once()  # open): the runs were never stopped, and an interpreter exit would abort
    stop_runs_at_exit()  # launch returns on Ctrl-C; a second one exits at once
    return 0


def address_problem(settings) -> str | None:
    """Why the app cannot listen at ``settings``' host and port, as ``refuse``'s line naming the option and
    what to do, or None when it can. Gradio takes a port only if it is free on 127.0.0.1 as well as on the host
    (``gradio.http_server.start_server``), so both are asked."""
    problem = (listen_problem(settings.host or "127.0.0.1", settings.port)
               or (settings.port and listen_problem("127.0.0.1", settings.port)))
    if not problem:
        return None
    field = "host" if problem.startswith("host ") else "port"
    fix = (settings.set_by("host", "127.0.0.1") + " for this machine only, or 0.0.0.0 for every interface"
           if field == "host" else settings.set_by("port", "N") + " for another port, or stop what listens"
           " there")
    return f"{settings.where(field)}: {problem}; {fix}"


# How the README's CPU Space puts a store on the Space (one source: the README shows these lines, and
# stored_arena_problem names them): a consistent copy first (``backup`` is safe while the app runs; the store's own
# files are not: rows of a live or abruptly stopped WAL database may still sit in arena.db-wal), into a folder of
# its own, then only the database and its images are uploaded. Never arena.db.lock/.sync, -wal/-shm, reports/ or a
# temporary ``*.partial``: ``--include`` is an allow-list, which huggingface_hub applies with ``filter_repo_objects``.
SPACE_UPLOAD = ("python -m realunify_arena backup data/space/arena.db --db data/arena.db",
                "hf upload USER/SPACE data/space data --repo-type space --include arena.db --include 'images/*/*.png'")


def stored_arena_problem(settings, store) -> str | None:
    """Why a stored-mode Arena (``settings.arena_mode == "stored"``) can draw no battle from ``store``: no
    instance of any dataset has finished pinned runs of two systems (``Store.battle_ready_datasets``; pinned runs
    are ``eval``'s and ``import-results``'s). None in live mode or when some dataset can battle. The usual cause
    on a Space is a ``data/`` folder that never arrived: this repository's ``.gitignore`` leaves it out of a
    ``git push``."""
    if settings.arena_mode != "stored" or store.battle_ready_datasets():
        return None
    return (f"{settings.where('arena_mode')} is stored, but the database {settings.db} holds no instance with two"
            " systems' pinned runs (eval's or import-results'), so the Arena will offer no battle: import results"
            f" into it first; on a Space, upload a backup of it: `{SPACE_UPLOAD[0]}` then `{SPACE_UPLOAD[1]}`"
            " (data/ is git-ignored, so a git push leaves it out)")


def refuse(message: str) -> int:
    """Print why the app cannot start as one line on standard error, secrets taken out (a token pasted into
    the wrong setting is echoed as ``***``), and return the usage-error exit status 2."""
    print(f"app.py: {redact(message)}", file=sys.stderr)
    return 2


SHUTDOWN_WAIT_S = 30.0  # how long a shutdown waits for stopped runs to leave their model
FORCED_EXIT_STATUS = 130  # 128 + SIGINT, as a shell reports a command ended by Ctrl-C


def stop_runs_at_exit(wait_s: float = SHUTDOWN_WAIT_S) -> None:
    """Stop the runs still going and wait for their threads to leave the model: one still inside torch when
    the interpreter exits aborts it ("terminate called without an active exception", exit status 134).
    A Ctrl-C during that wait exits at once (``exit_at_once``)."""
    from realunify_arena import stopping

    running = stopping.stop_all()
    if not running:
        return
    print(f"app.py: stopping {running} model run(s) before exiting (at most {wait_s:g} s; Ctrl-C again to"
          " exit at once)", file=sys.stderr, flush=True)
    try:
        if not stopping.wait_until_idle(wait_s):
            print(f"app.py: warning: a model run did not stop within {wait_s:g} s", file=sys.stderr)
    except KeyboardInterrupt:
        exit_at_once()


def exit_at_once() -> None:
    """The answer to a second Ctrl-C, wherever in the shutdown it arrives: ``exit_process`` with status
    ``FORCED_EXIT_STATUS``, without waiting for the runs (the ``atexit`` callbacks, the Space's final snapshot
    push among them, still run first). Every acknowledged write is already on disk."""
    print("app.py: exiting without waiting for the model run(s)", file=sys.stderr, flush=True)
    exit_process(FORCED_EXIT_STATUS)


def exit_process(status: int) -> None:
    """End the process with ``status`` after what ``sys.exit`` runs first (the ``atexit`` callbacks: the Space's
    final snapshot push, Gradio's clean-up), but without the interpreter's shutdown after them.

    That shutdown ends each daemon thread that is inside a torch call when the call returns, by unwinding its
    stack through C++ code that may not be unwound: the process aborts ("terminate called without an active
    exception", exit status 134). ``stop_runs_at_exit`` waits for the runs' steps, but a daemon thread can still
    be inside torch: a model loading, the judge's prefetch, the work a run does after its last step. Every
    acknowledged write is on disk already; an unacknowledged one is rolled back, as after ``kill -9``.

    A Ctrl-C while the callbacks run (a third one, or a second after a clean stop) no longer interrupts the
    final snapshot push, whose ``KeyboardInterrupt`` Python printed as "Exception ignored in atexit callback"
    with a traceback, and which left the votes since the last push out of the dataset repo: it is answered
    by one line (``FINISHING``, once) and the callbacks finish; ``kill`` still ends the process."""
    import atexit
    import signal

    with contextlib.suppress(ValueError):  # ValueError: not the main thread, where no handler can be set
        signal.signal(signal.SIGINT, _finish_first)
    try:
        atexit._run_exitfuncs()  # noqa: SLF001 - what Py_FinalizeEx runs first; its own errors are printed
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


FINISHING = ("app.py: finishing the final save before exiting (the snapshot push); Ctrl-C cannot cut it short,"
             " `kill` the process to give it up")


_finishing_said = False


def _finish_first(signum, frame) -> None:
    """SIGINT while ``exit_process`` runs the ``atexit`` callbacks: say ``FINISHING`` once, interrupt nothing."""
    global _finishing_said
    if not _finishing_said:
        _finishing_said = True
        print(FINISHING, file=sys.stderr, flush=True)


def choose_cards(settings: Settings):
    """The cards the app serves, checked against ``settings`` without touching the store or the disk:
    ``(pool, problems, settings)``, the pool over every readable card, the broken cards (each a ``CardError``,
    named on standard error here) and the settings with ``models`` cut to the readable cards named.

    Raises:
        ValueError: ``settings.models`` names a card that is neither in the models folder nor a broken card,
            or only broken cards; ``settings.judge`` names no readable card, or one that cannot understand
            images.
    """
    import dataclasses

    from realunify_arena.cards import MODELS_DIR, load_cards
    from realunify_arena.judge import judge_card_problem
    from realunify_arena.runtime import ModelPool

    problems: list = []
    models_dir = settings.models_dir or MODELS_DIR
    pool = ModelPool(load_cards(models_dir, problems=problems), torch_threads=settings.torch_threads)
    for problem in problems:
        print(redact(f"app.py: warning: broken card left out: {problem}"), file=sys.stderr)
    broken = {p.path.stem for p in problems if p.path}
    unknown = [m for m in settings.models if m not in pool.cards and m not in broken]
    if unknown:
        raise ValueError(f"{settings.where('models')} names unknown card(s) {unknown}; known:"
                         f" {sorted(pool.cards)}")
    judge_problem = judge_card_problem(settings.judge, pool.cards, frozenset(broken))
    if judge_problem:  # else the page would offer a judge that fails every judgment
        raise ValueError(f"{settings.where('judge')} {judge_problem}")
    offered = tuple(m for m in settings.models if m in pool.cards)
    if settings.models and not offered:  # an empty list offers every card: not what was asked for
        raise ValueError(f"{settings.where('models')} names only broken card(s) {list(settings.models)}, each left"
                         f" out (its problem is above); fix one or name a good card: {sorted(pool.cards)}")
    return pool, problems, dataclasses.replace(settings, models=offered)


def build_app(settings: Settings, store, chosen=None):
    """The demo over an open store, with the model pool the settings ask for (``chosen``: what
    ``choose_cards(settings)`` returned, else it is called here).

    A broken card never stops the app: it is left out, named on standard error and in a notice on the
    page, and the other cards work.

    Raises:
        ValueError: as ``choose_cards``.
    """
    import gradio as gr

    from realunify_arena.availability import availability
    from realunify_arena.runtime import on_zero_gpu
    from realunify_arena.ui import build_demo

    pool, problems, settings = chosen or choose_cards(settings)
    if on_zero_gpu():  # ZeroGPU wants local weights placed at start-up; elsewhere they load on first use
        pool.preload([name for name in settings.models or pool.cards
                      if not pool.cards[name].remote and availability(pool.cards[name])[0]])
    demo = build_demo(settings, store, pool)
    if problems:
        with demo:
            gr.Markdown(card_notice(problems), elem_id="card-problems")
    return demo


def card_notice(problems: list) -> str:
    """The page's notice about broken cards: each file's name and its problem as a visitor may see them
    (``visitor_text``: no server folder, endpoint or secret) and as plain text (``plain``: a card quoting
    Markdown, a link or an image in a field builds no element and fetches nothing)."""
    from realunify_arena.redaction import visitor_text
    from realunify_arena.ui.render import plain

    lines = "\n".join(f"- {plain(visitor_text(str(p)))}" for p in problems)
    return f"**{len(problems)} model card(s) could not be read and are left out:**\n{lines}"


if __name__ == "__main__":
    try:
        status = main()
    except KeyboardInterrupt:  # Ctrl-C before the server is up: importing gradio, opening the store, building
        print("app.py: interrupted while starting", file=sys.stderr)  # the page (launch handles its own)
        status = FORCED_EXIT_STATUS
    exit_process(status)
