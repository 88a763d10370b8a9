"""Dependencies point one way. Every import in the code, top-level or inside a function,
is checked against the layer map below: a module may import its own layer and the
layers beneath it, never a layer above or a sibling beside it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (rank, layer): a module of rank r may import layers of lower rank and its own layer
LAYERS: dict[str, tuple[int, str]] = {
    "graph_schema": (0, "graph"),
    "records": (1, "records"),
    "training": (2, "training"),
    "service.config": (3, "service-base"),
    "service.runtime": (3, "service-base"),
    "service.problems": (3, "service-base"),
    "service.ingest": (4, "ingest"),
    "service.recs": (4, "recs"),
    "service.loop": (4, "loop"),  # online metrics and experiments over the event log
    "service.jobs": (5, "jobs"),
    "service": (6, "entry points"),  # api, app, auth, metrics, cli*: the top
}
# what each lower layer may import from the ones beneath it (besides itself)
ALLOWED = {
    "graph": set(),
    "records": {"graph"},  # settings and the clock
    "training": {"graph"},
}


def layer_of(module: str) -> tuple[int, str] | None:
    best = None
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return best[1] if best else None


def modules() -> list[tuple[str, Path]]:
    out = []
    for package in ("graph_schema", "records", "training", "service"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out.append((name, path))
    return out


def imports(path: Path, module: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_point_down(module: str, path: Path) -> None:
    rank, layer = layer_of(module)  # type: ignore[misc]
    wrong = []
    for target in sorted(imports(path, module)):
        other = layer_of(target)
        if other is None or other[1] == layer:
            continue
        o_rank, o_layer = other
        if o_rank > rank or (o_rank == rank) or (layer in ALLOWED and o_layer not in ALLOWED[layer]):
            wrong.append(f"{target} ({o_layer})")
    assert not wrong, f"{module} ({layer}) imports {', '.join(wrong)}"


def test_the_api_never_needs_torch_at_import() -> None:
    # training is imported by service only lazily, inside the refresh job
    lazy_ok = {
        "service.jobs.refresh",
        "service.cli_train",
        "service.ingest.movielens",
        "service.cli",
        "service.evaluation",
    }
    for module, path in modules():
        if not module.startswith("service") or module in lazy_ok:
            continue
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
        assert not {n for n in names if n == "training" or n.startswith("training.")}, module
