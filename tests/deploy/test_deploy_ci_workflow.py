""".github/workflows/ci.yml: valid workflow syntax; one test job that runs `make test` as
our machines do (the suite starts its own Neo4j and PostgreSQL, TEST_ENGINES=required),
and the compose smoke test."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deploy_support import REPO, WORKFLOW, vendored_schema

jsonschema = pytest.importorskip("jsonschema")

CI_RUN = REPO / ".ci" / "run"
MAKEFILE = REPO / "Makefile"
MAX_TIMEOUT_MINUTES = 40  # the whole run stays under 25 minutes


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _uses(job: dict[str, Any], action: str) -> dict[str, Any]:
    """The `with:` of the job's step that uses `action` (e.g. actions/setup-python)."""
    steps = [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]
    assert steps, f"the job has no {action} step"
    return steps[0].get("with", {})


def _runs_required_tests(job: dict[str, Any]) -> bool:
    """The job runs .ci/run, or `make test` with TEST_ENGINES=required (command or env)."""
    runs = _runs(job)
    if re.search(r"(^|\s)(\./)?\.ci/run\b", runs, re.M):
        return True
    if "make test" in runs:
        env = {**job.get("env", {}), **{k: v for s in job["steps"] for k, v in s.get("env", {}).items()}}
        return "TEST_ENGINES=required" in runs or str(env.get("TEST_ENGINES")) == "required"
    return False


@pytest.fixture(scope="module")
def suite_job(workflow: dict[str, Any]) -> dict[str, Any]:
    jobs = [job for job in workflow["jobs"].values() if _runs_required_tests(job)]
    assert len(jobs) == 1, "exactly one job runs the suite with TEST_ENGINES=required (.ci/run)"
    return jobs[0]


def test_workflow_matches_the_github_workflow_schema(workflow):
    validator = jsonschema.Draft7Validator(vendored_schema("github-workflows"))
    errors = list(validator.iter_errors(workflow))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    for name, job in workflow["jobs"].items():
        minutes = job.get("timeout-minutes")
        assert minutes, f"{name}: set timeout-minutes"
        assert 0 < int(minutes) <= MAX_TIMEOUT_MINUTES, f"{name}: timeout-minutes {minutes} > {MAX_TIMEOUT_MINUTES}"


def test_ci_entry_point_requires_the_engines():
    text = CI_RUN.read_text(encoding="utf-8")
    assert re.search(r"^make test TEST_ENGINES=required\b", text, re.M), ".ci/run must run make test, engines required"
    assert CI_RUN.stat().st_mode & 0o111, ".ci/run must be executable"


def test_the_test_job_runs_the_suite_with_required_engines(suite_job):
    assert str(suite_job["runs-on"]).startswith("ubuntu-"), "`make engines` installs PostgreSQL with apt-get"
    python = _uses(suite_job, "actions/setup-python")
    assert str(python["python-version"]) == "3.11" and python["cache"] == "pip"
    # the Makefile builds its venv with $(PYTHON) (python3.11 unless set): setup-python's 3.11
    env = suite_job.get("env", {})
    assert env.get("PYTHON", "python3.11") in {"python", "python3", "python3.11"}


def test_the_test_job_sets_up_java_17_with_a_maven_cache(suite_job):
    java = _uses(suite_job, "actions/setup-java")
    assert java["distribution"] == "temurin"
    assert int(str(java["java-version"]).split(".")[0]) >= 17, "Neo4j 5 needs Java 17+"
    assert java["cache"] == "maven", "cache ~/.m2: Neo4j's jars come from Maven Central"


def test_the_suite_starts_its_own_engines(workflow, suite_job):
    """No service containers and no external engine: tests/engines.py starts Neo4j and
    PostgreSQL, as on our machines."""
    for name, job in workflow["jobs"].items():
        images = [str(s.get("image", "")) for s in (job.get("services") or {}).values()]
        assert not any(i.startswith(("neo4j", "postgres")) for i in images), f"{name}: no engine service containers"
    text = yaml.safe_dump(suite_job)
    for name in ("NEO4J_URI", "TEST_POSTGRES_URL", "TEST_ENGINES: auto", "TEST_ENGINES: off"):
        assert name not in text, f"{name}: the test job must start and require its own engines"


def test_make_test_installs_postgresql_when_missing():
    """What the test job relies on for PostgreSQL: `make test` runs `engines`, which
    apt-get installs the package (with sudo when not root) if initdb is missing."""
    text = MAKEFILE.read_text(encoding="utf-8")
    assert re.search(r"^test:.*\bengines\b", text, re.M)
    engines = re.search(r"^engines:\n((?:\t.*\n)+)", text, re.M)
    assert engines, "the Makefile has no `engines` target"
    recipe = engines[1]
    assert "initdb" in recipe and "postgresql" in recipe and "apt-get install" in recipe
    assert "$(SUDO) apt-get" in recipe and re.search(r"^SUDO :=.*sudo", text, re.M)


def test_compose_smoke_uses_the_repository_files(workflow):
    runs = _runs(workflow["jobs"]["compose-smoke"])
    assert "cp .env.example .env" in runs
    assert "-f docker/docker-compose.yml" in runs and "config" in runs
    assert "/healthz" in runs
