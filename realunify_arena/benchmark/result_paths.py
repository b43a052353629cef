"""Where an image path written in a result file points, as ``import-results`` and ``score-official`` read it.

Runners write absolute paths, paths relative to the result file (``./images/1.png``, as ``export --format
official --relative-paths`` writes them) or relative to the directory they ran in (where the official
scorer, ``os.path.exists(img)``, looks); a runner on Windows writes ``.\\images\\1.png`` or an absolute
``C:\\results\\images\\1.png``, and a folder copied from another machine keeps that machine's absolute paths.
A folder copied from macOS often stores its file names decomposed (Unicode NFD: ``e`` + U+0301) while the
JSON spells them composed (NFC: U+00E9), or the other way round: a name that differs only in Unicode
normalization names the same file (``existing_file``), as it does on macOS itself.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

from realunify_arena.text_files import NO_SUCH_FILE, path_fault

_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|[\\/]{2}[^\\/]+[\\/][^\\/]+)")  # C:\ or C:/ or \\server\share


def find_result_image(value: str, folder: Path) -> Path | None:
    """The existing file that ``value`` names, resolved, or None when it names none here.

    ``value``: an absolute path, or one relative to ``folder`` (the result file's folder, tried first) or to
    the current directory; a leading ``~`` is a home folder. Backslashes are read as ``/`` when the path as
    written names no file (a file written on Windows). An absolute path that names no file here (a Windows
    path such as ``C:\\results\\images\\1.png`` or ``\\\\server\\share\\1.png``, or another machine's
    ``/home/...``) is tried relative to ``folder`` by its tail, longest first: ``results/images/1.png``, then
    ``images/1.png``, then ``1.png`` (a tail holding ``..`` is not tried). A relative path that climbs above
    the folder it is read from (``../../secret.png``, ``..\\..\\secret.png``) names no file: a result file
    never reaches outside its folder or the current directory by ``..``. Each part of a path is matched as
    written, else by its Unicode NFC form (``existing_file``). A path that cannot name a file here
    (a NUL byte, too long a name, the home folder of an unknown user) gives None, never an exception.
    """
    for group in _candidates(value, folder):
        found = _first_file(group)
        if found is not None:
            return found
    return None


def why_not_found(value: str, folder: Path) -> str:
    """Why ``value`` names no image here (``find_result_image`` gave None), as the text to follow the path as
    written: what the first place looked at holds instead of a readable file (``text_files.path_fault``),
    ``": a folder, not a file (<folder>/imgs); expected a readable image file"`` (likewise a device, a named
    pipe, a loop of symbolic links, a link to nothing, a name too long or holding a NUL byte, a part of the path
    that is a file, a file without read permission; the place is left out for a name too long or unprintable
    to show), else where it was looked for: ``" not found (looked
    relative to <folder> and to the current directory)"``, or for an absolute path ``" not found: no such
    file, nor by its tail images/1.png under <folder> (...)"``. Nothing is opened but a regular file (a named
    pipe is never opened); never raises.
    """
    expected = "expected a readable image file"
    if "\x00" in value:
        return f": {path_fault(value)}; {expected}"
    for place in (path for group in _candidates(value, folder) for path in group):
        fault = path_fault(place)
        if fault is not None and fault != NO_SUCH_FILE:
            at = f" ({place})" if str(place) != value and len(value) <= 120 and value.isprintable() else ""
            return f": {fault}{at}; {expected}"
    if not (_WINDOWS_ABSOLUTE.match(value) or Path(value.replace("\\", "/")).is_absolute()):
        return f" not found (looked relative to {folder} and to the current directory)"
    tails = [str(t) for t in _tails(value)]
    shown = " or ".join(tails[-2:]) if len(tails) <= 2 else f"{tails[0]} (or {len(tails) - 1} shorter)"
    nor = f", nor by its tail {shown} under {folder}" if tails else ""
    return f" not found: no such file here{nor} (an absolute path is never read relative to the current directory)"


def _candidates(value: str, folder: Path) -> list[list[Path]]:
    """The places ``find_result_image`` looks at for ``value``, in order, grouped as it tries them."""
    groups = []
    written = [value] + ([value.replace("\\", "/")] if "\\" in value else [])
    for text in written:
        path = Path(text)
        try:
            path = path.expanduser()
        except RuntimeError:  # "~someone/..." for a user this machine does not know: taken as written
            pass
        if _WINDOWS_ABSOLUTE.match(text):
            groups.append([])  # never relative to the current directory: "C:/x" is no folder named "C:" here
        elif path.is_absolute():
            groups.append([path])
        else:  # never above the folder it is relative to: "../../secret.png" names no result image
            groups.append([c for c in (_within(folder, path), _within(Path.cwd(), path)) if c is not None])
    if _WINDOWS_ABSOLUTE.match(value) or Path(value.replace("\\", "/")).is_absolute():
        groups.append([folder / tail for tail in _tails(value)])
    return groups


def climbs_out(value: str) -> bool:
    """Whether ``value``, a relative path (``/`` or ``\\``), climbs above the folder it is read from by ``..``
    (``../../secret.png``): such a path names no result image (``find_result_image``)."""
    text = value.replace("\\", "/")
    return (not _WINDOWS_ABSOLUTE.match(text) and not text.startswith(("/", "~"))
            and _within(Path("."), PurePosixPath(text)) is None)


def _tails(value: str) -> list[PurePosixPath]:
    """The relative tails of an absolute path, longest first, without its drive, share or root."""
    text = value.replace("\\", "/")
    match = _WINDOWS_ABSOLUTE.match(text)
    parts = [p for p in text[match.end() if match else 0:].split("/") if p]
    tails = [PurePosixPath(*parts[i:]) for i in range(len(parts))]
    return [t for t in tails if ".." not in t.parts and "." != str(t)]


def _within(base: Path, relative: Path) -> Path | None:
    """``base / relative`` with its ``.`` and ``..`` parts applied as written (no link followed), or None when a
    ``..`` climbs above ``base``."""
    parts: list[str] = []
    for part in relative.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return base.joinpath(*parts)


def existing_file(path: Path) -> Path | None:
    """The file ``path`` names, as stored on disk, or None when it names none.

    A part of the path that names nothing as written is matched against its folder's entries by Unicode
    normalization (NFC, UAX #15): ``café.png`` written composed (U+00E9) names ``café.png`` stored decomposed
    (``e`` + U+0301, as macOS's HFS+ writes names and folders copied from it keep them), and the other way
    round. Only names that differ in nothing but normalization match; a folder holding two such names
    (possible on Linux) matches neither, never a guess. ``.`` and ``..`` are taken as written (callers
    remove those that climb out first: ``_within``). Never raises: a path that cannot name a file (a NUL
    byte, too long a name, a folder that cannot be listed) gives None.
    """
    try:
        if path.is_file():
            return path
        parts = path.parts
        if not parts or not any(unicodedata.normalize("NFC", p) != p or unicodedata.normalize("NFD", p) != p
                                for p in parts):
            return None  # plain ASCII-like names: nothing normalization could change
        here = Path(path.anchor or ".")
        for part in parts[1:] if path.anchor else parts:
            step = here / part
            if part in (".", "..") or step.exists():
                here = step
                continue
            wanted = unicodedata.normalize("NFC", part)
            with os.scandir(here) as listing:
                same = [e.name for e in listing if unicodedata.normalize("NFC", e.name) == wanted]
            if len(same) != 1:
                return None
            here = here / same[0]
        return here if here.is_file() else None
    except (OSError, ValueError):  # too long a name, a NUL byte, a folder that cannot be listed
        return None


def _first_file(candidates) -> Path | None:
    for candidate in candidates:
        found = existing_file(candidate)
        if found is not None:
            try:
                return found.resolve()
            except (OSError, ValueError):
                continue
    return None
