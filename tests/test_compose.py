"""Static checks for docker-compose.yml and the Dockerfile it builds."""

import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DATA_VOLUME = "shelfmark-data"


@pytest.fixture(scope="module")
def compose():
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def _command(service):
    cmd = service.get("command")
    if isinstance(cmd, str):
        return shlex.split(cmd)
    assert isinstance(cmd, list), f"unexpected command: {cmd!r}"
    return [str(part) for part in cmd]


def _environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _volume_mounts(service):
    """Map volume source -> container path for a service's volumes."""
    mounts = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
        else:
            source, target = entry.get("source"), entry.get("target")
        mounts[source] = target
    return mounts


def _build_context(service):
    build = service.get("build")
    if isinstance(build, dict):
        return build.get("context", ".")
    return build


def test_compose_parses_and_has_services(services):
    assert {"web", "scheduler", "mailpit"} <= set(services)


def test_data_volume_declared_and_shared(compose, services):
    assert DATA_VOLUME in (compose.get("volumes") or {})
    web_mounts = _volume_mounts(services["web"])
    scheduler_mounts = _volume_mounts(services["scheduler"])
    assert DATA_VOLUME in web_mounts
    assert DATA_VOLUME in scheduler_mounts
    assert web_mounts[DATA_VOLUME] == scheduler_mounts[DATA_VOLUME]


def test_database_lives_on_the_shared_volume(services):
    mount = _volume_mounts(services["web"])[DATA_VOLUME]
    for name in ("web", "scheduler"):
        db = _environment(services[name])["SHELFMARK_DATABASE"]
        assert db.startswith(mount.rstrip("/") + "/"), (name, db)


def test_web_and_scheduler_share_build_and_image(services):
    web, scheduler = services["web"], services["scheduler"]
    assert _build_context(web) is not None
    assert _build_context(web) == _build_context(scheduler)
    assert web.get("image")
    assert web["image"] == scheduler.get("image")


def test_web_publishes_port_8000_on_loopback_by_default(services):
    assert services["web"]["ports"] == ["${WEB_PUBLISH:-127.0.0.1:8000}:8000"]


def test_mailpit_is_pinned_and_its_inbox_is_published_on_loopback_only(services):
    mailpit = services["mailpit"]
    name, _, tag = mailpit["image"].partition(":")
    assert name == "axllent/mailpit" and tag not in ("", "latest")
    for port in mailpit.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), port


def test_scheduler_has_its_own_healthcheck_on_its_heartbeat(services):
    test = services["scheduler"]["healthcheck"]["test"]
    assert test == ["CMD", "shelfmark", "healthcheck", "--scheduler"]


def test_secure_cookies_are_on_unless_turned_off(services):
    for name in ("web", "scheduler"):
        value = str(_environment(services[name])["SHELFMARK_SECURE_COOKIES"])
        assert value == "${SHELFMARK_SECURE_COOKIES:-true}", (name, value)


def test_the_ci_override_leaves_mailpit_out_and_mail_in_the_app(services):
    override = yaml.safe_load((ROOT / "docker-compose.ci.yml").read_text(encoding="utf-8"))
    assert set(override["services"]) == {"web", "scheduler"}
    for name in ("web", "scheduler"):
        assert override["services"][name]["environment"]["SHELFMARK_SMTP_HOST"] == ""
        assert "depends_on" not in services[name] or "mailpit" not in services[name]["depends_on"]


def test_scheduler_runs_scheduler_command(services):
    cmd = _command(services["scheduler"])
    assert cmd[:2] == ["shelfmark", "scheduler"]


def test_web_serves_and_does_not_run_scheduler(services):
    web = services["web"]
    cmd = _command(web)
    assert cmd[:2] == ["shelfmark", "serve"]
    assert "scheduler" not in cmd
    flag = _environment(web).get("SHELFMARK_IN_PROCESS_SCHEDULER")
    assert str(flag).strip().lower() in {"false", "0", "no", "off"}


def test_secret_key_is_required(services):
    for name in ("web", "scheduler"):
        secret = str(_environment(services[name]).get("SHELFMARK_SECRET_KEY", ""))
        assert secret.startswith("${SHELFMARK_SECRET_KEY:?"), (name, secret)


def test_dockerfile_installs_the_wheel_as_a_non_root_user_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert "--no-index --find-links /tmp/wheelhouse shelfmark" in text
    lines = [line.strip() for line in text.splitlines()]
    assert "USER shelfmark" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/healthz" in text


def test_dockerignore_keeps_local_state_out_of_the_build():
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".venv", "instance", ".git", "bench", "build", "dist", "**/__pycache__"} <= ignored
