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


def _published_ports(service):
    published = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            published.add(str(port.get("published")))
        else:
            parts = str(port).split("/")[0].split(":")
            if len(parts) >= 2:
                published.add(parts[-2])
    return published


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


def test_web_publishes_port_8000(services):
    assert "8000" in _published_ports(services["web"])


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


def test_dockerfile_exists():
    dockerfile = ROOT / "Dockerfile"
    assert dockerfile.is_file()
    text = dockerfile.read_text(encoding="utf-8")
    assert "FROM python:3.11" in text
    assert "USER " in text
