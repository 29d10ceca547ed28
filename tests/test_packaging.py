"""The wheel lists its packages explicitly (migrations/ ships as controller._migrations), so a new package
directory that is not listed would be missing from `pip install .` while editable installs still work."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_in_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "controller").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    on_disk |= {"controller._migrations", "controller._migrations.versions"}
    assert on_disk == listed
