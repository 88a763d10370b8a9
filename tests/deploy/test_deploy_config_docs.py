"""Every environment variable the code reads is documented (docs/deploy.md) and listed (.env.example).

The application's variables come from graph_schema/settings.py (`Settings.model_fields`, the one
place configuration is read) and the settings classes built on it (e.g. service/config.py's
ApiSettings); the deployment's own come from docker/gunicorn.conf.py and the compose file.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from deploy_support import DEPLOY_DOC, ENV_EXAMPLE, GUNICORN_CONF, REPO, compose_raw, parse_env_file
from pydantic import AliasChoices, AliasPath
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from graph_schema.settings import Settings

PACKAGES = ("graph_schema", "service", "training")
_SETTINGS_CLASS = re.compile(r"^class \w+\((?:[\w.]*Settings)\b", re.M)
_TRAINING_STACK = re.compile(r"^(?:import|from) (?:torch|dgl)\b", re.M)


def settings_classes() -> list[type[BaseSettings]]:
    """Settings and every settings class defined on top of it in the packages (modules that
    import torch/DGL at import time are left out: the API never loads them)."""
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if _SETTINGS_CLASS.search(text) and not _TRAINING_STACK.search(text):
                importlib.import_module(".".join(path.relative_to(REPO).with_suffix("").parts))
    found: list[type[BaseSettings]] = []
    todo: list[type[BaseSettings]] = [Settings]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def settings_env_vars() -> dict[str, tuple[type[BaseSettings], str]]:
    """env var name -> (settings class, field name), as pydantic-settings maps them."""
    out: dict[str, tuple[type[BaseSettings], str]] = {}
    for cls in settings_classes():
        prefix = (cls.model_config.get("env_prefix") or "").upper()
        for field_name, info in cls.model_fields.items():
            alias = info.validation_alias or info.alias
            if isinstance(alias, str):
                names = [alias.upper()]
            elif isinstance(alias, AliasChoices):
                names = [c.upper() for c in alias.choices if isinstance(c, str)]
            elif isinstance(alias, AliasPath):
                names = [str(alias.path[0]).upper()]
            else:
                names = [f"{prefix}{field_name}".upper()]
            for name in names:
                out.setdefault(name, (cls, field_name))
    return out


ENV_VARS = settings_env_vars()


def _default(cls: type[BaseSettings], field_name: str) -> Any:
    info = cls.model_fields[field_name]
    if info.default_factory is not None:
        return info.default_factory()
    return None if info.default is PydanticUndefined else info.default


def _doc_rows() -> dict[str, list[str]]:
    """Markdown table rows whose first cell is `NAME`: name -> the remaining cells."""
    rows: dict[str, list[str]] = {}
    for line in DEPLOY_DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|(.*)\|\s*$", line)
        if m:
            rows[m[1]] = [c.strip() for c in m[2].split("|")]
    return rows


def _same_default(cell: str, default: Any) -> bool:
    text = cell.strip().strip("`").strip()
    if default is None:
        return text.lower().startswith(("unset", "(unset)", "none", "—", "-"))
    if isinstance(default, bool):
        return text.lower() == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(text) == float(default)
        except ValueError:
            return False
    if isinstance(default, Path):
        return Path(text) == default
    if isinstance(default, dict | list):
        try:
            return json.loads(text) == default
        except json.JSONDecodeError:
            return False
    return text == str(default)


def test_settings_has_fields():
    assert {"GRAPH_URI", "DATABASE_URL", "NEO4J_PASSWORD", "DATA_DIR"} <= set(ENV_VARS)
    assert {cls.__name__ for cls in settings_classes()} >= {"Settings"}


@pytest.mark.parametrize("name", sorted(ENV_VARS))
def test_setting_is_documented_with_its_default(name):
    rows = _doc_rows()
    assert name in rows, f"{name} (graph_schema/settings.py) has no row in docs/deploy.md's configuration tables"
    cells = rows[name]
    assert len(cells) >= 2 and cells[-1], f"{name}: the docs row needs a default and a meaning"
    cls, field_name = ENV_VARS[name]
    default = _default(cls, field_name)
    if field_name == "neo4j_password":
        return  # a secret: documented as "empty", no default worth comparing
    assert _same_default(cells[0], default), f"{name}: docs say default {cells[0]!r}, the code says {default!r}"


@pytest.mark.parametrize("name", sorted(ENV_VARS))
def test_setting_is_in_env_example(name):
    example = parse_env_file(ENV_EXAMPLE)
    assert name in example.values or name in example.commented, f"{name} is missing from .env.example"


def test_env_example_values_are_valid_settings(monkeypatch):
    example = parse_env_file(ENV_EXAMPLE)
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in example.values.items():
        if name in ENV_VARS:
            monkeypatch.setenv(name, value)
    for cls in settings_classes():
        cls()  # raises on an invalid value


@pytest.mark.parametrize("name", sorted(ENV_VARS))
def test_env_example_commented_defaults_match_the_code(monkeypatch, name):
    example = parse_env_file(ENV_EXAMPLE)
    if name not in example.commented or example.commented[name] == "":
        return  # not shown with a value
    for other in ENV_VARS:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, example.commented[name])
    cls, field_name = ENV_VARS[name]
    assert getattr(cls(), field_name) == getattr(cls.model_construct(), field_name), (
        f".env.example shows {name}={example.commented[name]}, which is not the default"
    )


def test_every_variable_in_env_example_is_documented():
    example = parse_env_file(ENV_EXAMPLE)
    docs = DEPLOY_DOC.read_text(encoding="utf-8")
    for name in set(example.values) | set(example.commented):
        assert f"`{name}`" in docs, f"{name} is in .env.example but not in docs/deploy.md"


def test_gunicorn_variables_are_documented():
    docs = DEPLOY_DOC.read_text(encoding="utf-8")
    example = parse_env_file(ENV_EXAMPLE)
    names = set(re.findall(r"os\.environ\.get\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", GUNICORN_CONF.read_text()))
    assert "WEB_CONCURRENCY" in names
    # variables the compose file fixes for the api container cannot be changed from .env
    api_env = compose_raw()["services"]["api"]["environment"]
    pinned = {k for k, v in api_env.items() if "$" not in str(v)}
    for name in names:
        assert f"`{name}`" in docs, f"{name} (docker/gunicorn.conf.py) is not in docs/deploy.md"
        if name not in pinned:
            assert name in example.values or name in example.commented, f"{name} is missing from .env.example"


_DIRECT_READ = re.compile(r"""(?:os\.environ\.get\(|os\.environ\[|os\.getenv\(|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def test_variables_read_outside_the_settings_are_documented():
    """Configuration belongs in the settings classes; a variable read directly (e.g. a library's
    own, like PROMETHEUS_MULTIPROC_DIR) must at least be documented."""
    docs = DEPLOY_DOC.read_text(encoding="utf-8")
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            for name in _DIRECT_READ.findall(path.read_text(encoding="utf-8")):
                assert f"`{name}`" in docs, f"{path.relative_to(REPO)} reads {name}, not in docs/deploy.md"
