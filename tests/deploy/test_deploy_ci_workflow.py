""".github/workflows/ci.yml: valid workflow syntax, and the two test runs the issue asks for."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deploy_support import WORKFLOW, vendored_schema

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _python(job: dict[str, Any]) -> dict[str, Any]:
    return next(s["with"] for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@"))


def test_workflow_matches_the_github_workflow_schema(workflow):
    validator = jsonschema.Draft7Validator(vendored_schema("github-workflows"))
    errors = list(validator.iter_errors(workflow))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    for name, job in workflow["jobs"].items():
        assert job.get("timeout-minutes"), f"{name}: set timeout-minutes"


def test_embedded_run(workflow):
    job = workflow["jobs"]["test-embedded"]
    assert "make test" in _runs(job)
    assert "NEO4J_URI" not in str(job), "the embedded run must not see a Neo4j"
    assert _python(job)["python-version"] == "3.11" and _python(job)["cache"] == "pip"


def test_neo4j_run(workflow):
    job = workflow["jobs"]["test-neo4j"]
    assert "make test" in _runs(job)
    assert _python(job)["python-version"] == "3.11" and _python(job)["cache"] == "pip"
    neo4j = job["services"]["neo4j"]
    assert neo4j["image"] == "neo4j:5"
    assert job["env"]["NEO4J_URI"] == "bolt://localhost:7687"
    assert any(str(p).startswith("7687:") for p in neo4j["ports"])
    user, password = neo4j["env"]["NEO4J_AUTH"].split("/", 1)
    assert (job["env"]["NEO4J_USER"], job["env"]["NEO4J_PASSWORD"]) == (user, password)
    assert len(password) >= 8, "Neo4j 5 refuses passwords shorter than 8 characters"
    assert "--health-cmd" in neo4j["options"] and password in neo4j["options"]


def test_compose_smoke_uses_the_repository_files(workflow):
    runs = _runs(workflow["jobs"]["compose-smoke"])
    assert "cp .env.example .env" in runs
    assert "-f docker/docker-compose.yml" in runs and "config" in runs
    assert "/healthz" in runs
