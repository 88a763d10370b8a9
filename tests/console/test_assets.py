"""The console's front end is ours to serve: pinned libraries, copied from the npm
registry's packages into static/vendor (committed), and nothing loaded from elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import engines

CONSOLE = Path(__file__).resolve().parents[2] / "service" / "console"
FRONTEND = CONSOLE / "frontend"
VENDOR = CONSOLE / "static" / "vendor"


def vendored() -> dict[str, str]:
    """static/vendor file -> node_modules path, as frontend/vendor.mjs copies them."""
    text = (FRONTEND / "vendor.mjs").read_text()
    return dict(re.findall(r'^\s*"([^"]+)": "([^"]+)",$', text, re.M))


def test_dependencies_are_pinned_and_locked() -> None:
    deps = json.loads((FRONTEND / "package.json").read_text())["dependencies"]
    lock = json.loads((FRONTEND / "package-lock.json").read_text())["packages"]
    for name, version in deps.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned to one version: {version}"
        assert lock[f"node_modules/{name}"]["version"] == version


def test_vendored_files_are_the_locked_packages() -> None:
    files = vendored()
    assert len(files) == 6 and all((VENDOR / target).is_file() for target in files)
    modules = FRONTEND / "node_modules"
    if not modules.is_dir():
        if engines.mode() == "required":
            pytest.fail("service/console/frontend/node_modules is missing: `make test` runs npm ci", pytrace=False)
        pytest.skip("the npm packages are not installed (`make console-assets` runs npm ci)")
    for target, source in files.items():
        assert (VENDOR / target).read_bytes() == (modules / source).read_bytes(), f"{target} differs: `make vendor`"


def test_pages_load_nothing_from_other_sites() -> None:
    for path in [*(CONSOLE / "templates").rglob("*.html"), CONSOLE / "static" / "console.js"]:
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), f"{path.name} loads from another site"
        assert 'fetch("http' not in text
