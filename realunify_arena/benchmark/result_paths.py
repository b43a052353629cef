"""Where an image path written in a result file points, as ``import-results`` and ``score-official`` read it.

Runners write absolute paths, paths relative to the result file (``./images/1.png``, as ``export --format
official --relative-paths`` writes them) or relative to the directory they ran in (where the official
scorer, ``os.path.exists(img)``, looks); a runner on Windows writes ``.\\images\\1.png``.
"""

from __future__ import annotations

from pathlib import Path


def find_result_image(value: str, folder: Path) -> Path | None:
    """The existing file that ``value`` names, resolved, or None when it names none here.

    ``value``: an absolute path, or one relative to ``folder`` (the result file's folder, tried first) or to
    the current directory; a leading ``~`` is a home folder. Backslashes are read as ``/`` when the path as
    written names no file (a file written on Windows). A path that cannot name a file here (a NUL byte, too
    long a name, the home folder of an unknown user) gives None, never an exception.
    """
    written = [value] + ([value.replace("\\", "/")] if "\\" in value else [])
    for text in written:
        path = Path(text)
        try:
            path = path.expanduser()
        except RuntimeError:  # "~someone/..." for a user this machine does not know: taken as written
            pass
        for candidate in ([path] if path.is_absolute() else [folder / path, Path.cwd() / path]):
            try:
                if candidate.is_file():
                    return candidate.resolve()
            except (OSError, ValueError):  # too long a name, a NUL byte: no file of that name
                continue
    return None
