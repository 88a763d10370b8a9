"""Helpers for the deployment checks: compose interpolation, .env parsing, Dockerfile parsing.

Nothing here needs a Docker engine or the network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
API_DOCKERFILE = DOCKER / "api.Dockerfile"
TRAINER_DOCKERFILE = DOCKER / "trainer.Dockerfile"
GUNICORN_CONF = DOCKER / "gunicorn.conf.py"


# --- vendored JSON schemas (shipped, with their licences, by check-jsonschema) ---------
def vendored_schema(name: str) -> dict[str, Any]:
    """`compose-spec` (Compose Specification, Apache-2.0) or `github-workflows` (SchemaStore)."""
    pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (ships the schemas)")
    files = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((files / f"{name}.json").read_text(encoding="utf-8"))


# --- .env files ------------------------------------------------------------------------
_ENV_LINE = re.compile(r"^\s*(?P<comment>#\s*)?(?:export\s+)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


@dataclass
class EnvFile:
    values: dict[str, str]  # uncommented NAME=value lines
    commented: dict[str, str]  # "# NAME=value" lines: documented, left at the default


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    # an unquoted value ends at " #" (an inline comment)
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def parse_env_file(path: Path) -> EnvFile:
    values: dict[str, str] = {}
    commented: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ENV_LINE.match(line)
        if not m:
            continue
        target = commented if m["comment"] else values
        target[m["name"]] = _unquote(m["value"])
    return EnvFile(values, commented)


# --- compose interpolation (the Compose Specification's rules) --------------------------
_VAR = re.compile(r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)|\{(?P<braced>[^}]*)\})")
_BRACED = re.compile(r"^(?P<name>[_a-zA-Z][_a-zA-Z0-9]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.S)


class MissingVariable(ValueError):
    pass


@dataclass(frozen=True)
class VarRef:
    name: str
    op: str | None  # None, ":-", "-", ":?", "?", ":+", "+"
    arg: str | None

    @property
    def required(self) -> bool:
        return self.op in (":?", "?")

    @property
    def has_default(self) -> bool:
        return self.op in (":-", "-")


def var_refs(text: str) -> list[VarRef]:
    refs = []
    for m in _VAR.finditer(text):
        if m["escaped"]:
            continue
        if m["named"]:
            refs.append(VarRef(m["named"], None, None))
            continue
        b = _BRACED.match(m["braced"])
        if not b:
            raise ValueError(f"malformed interpolation ${{{m['braced']}}}")
        if b["arg"] and "$" in b["arg"]:
            raise ValueError(f"nested interpolation in ${{{m['braced']}}}: keep defaults literal")
        refs.append(VarRef(b["name"], b["op"], b["arg"]))
    return refs


def interpolate(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        if m["named"]:
            return env.get(m["named"], "")
        b = _BRACED.match(m["braced"])
        if not b:
            raise ValueError(f"malformed interpolation ${{{m['braced']}}}")
        name, op, arg = b["name"], b["op"], b["arg"] or ""
        is_set = name in env
        is_nonempty = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op == ":-":
            return env[name] if is_nonempty else arg
        if op == "-":
            return env[name] if is_set else arg
        if op == ":?":
            if not is_nonempty:
                raise MissingVariable(f"{name}: {arg}")
            return env[name]
        if op == "?":
            if not is_set:
                raise MissingVariable(f"{name}: {arg}")
            return env[name]
        if op == ":+":
            return arg if is_nonempty else ""
        return arg if is_set else ""  # "+"

    return _VAR.sub(sub, value)


def _walk_strings(node: Any, fn):
    if isinstance(node, dict):
        return {k: _walk_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_strings(v, fn) for v in node]
    if isinstance(node, str):
        return fn(node)
    return node


def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(compose_text())


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    """The compose model after YAML anchors/merge keys and variable interpolation."""
    return _walk_strings(compose_raw(), lambda s: interpolate(s, env))


def compose_var_refs() -> list[VarRef]:
    refs: list[VarRef] = []
    _walk_strings(compose_raw(), lambda s: refs.extend(var_refs(s)) or s)
    return refs


# --- Dockerfiles --------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int
    stage: int  # index of the FROM this belongs to


def dockerfile_instructions(path: Path) -> list[Instruction]:
    out: list[Instruction] = []
    stage = -1
    buf: list[str] = []
    start = 0
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buf:
            start = lineno
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        text = " ".join(p for p in buf if p)
        buf = []
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), start, stage))
    return out


def stages(instructions: list[Instruction]) -> dict[str, list[Instruction]]:
    """Instructions per stage, keyed by `AS name` (or the stage index for unnamed stages)."""
    result: dict[str, list[Instruction]] = {}
    names: dict[int, str] = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            parts = ins.args.split()
            names[ins.stage] = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else str(ins.stage)
        if ins.stage >= 0:
            result.setdefault(names[ins.stage], []).append(ins)
    return result


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(x, str) for x in value) else None


# --- requirements files ---------------------------------------------------------------------
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_names(path: Path, _seen: set[Path] | None = None) -> set[str]:
    """Normalised distribution names a requirements file installs, following `-r` includes."""
    seen = _seen if _seen is not None else set()
    path = path.resolve()
    if path in seen:
        return set()
    seen.add(path)
    names: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(path.parent / line.split(None, 1)[1], seen)
            continue
        if line.startswith("-"):
            continue
        m = _REQ_NAME.match(line)
        if m:
            names.add(re.sub(r"[-_.]+", "-", m[1]).lower())
    return names
