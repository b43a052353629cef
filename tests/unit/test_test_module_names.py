"""Every Python module under ``tests/`` (other than ``conftest.py``) has a name of its own.

The README's test command is one pytest run over every tier. Test folders are not packages, so pytest
imports each file under its basename ("rootdir/prepend" import mode): two ``test_x.py`` in different tiers
stop the whole run at collection ("import file mismatch"), although each tier passes run alone. This check
runs with the unit tier, so a tier-by-tier run finds the clash too.
"""

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def clashing_module_names(root: Path) -> dict[str, list[str]]:
    """Basenames of ``*.py`` files under ``root`` that occur in more than one folder (``conftest.py``,
    which pytest imports per folder, excepted), each with its paths relative to ``root``."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        if path.name != "conftest.py" and "__pycache__" not in path.parts:
            where[path.name].append(str(path.relative_to(root)))
    return {name: paths for name, paths in where.items() if len(paths) > 1}


def test_no_two_test_modules_share_a_name():
    clashes = clashing_module_names(TESTS)
    assert not clashes, f"rename one of each: {clashes}"


def test_a_clash_across_tiers_is_found(tmp_path):
    for tier in ("unit", "api"):
        (tmp_path / tier).mkdir()
        (tmp_path / tier / "conftest.py").write_text("")
        (tmp_path / tier / "test_same.py").write_text("")
    (tmp_path / "unit" / "test_other.py").write_text("")
    assert clashing_module_names(tmp_path) == {"test_same.py": ["api/test_same.py", "unit/test_same.py"]}
