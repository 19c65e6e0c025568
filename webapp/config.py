"""Settings, read once from ``SHELFMARK_*`` environment variables.

Every setting is documented in the README; the names here are the contract.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"


class SettingsError(ValueError):
    """A ``SHELFMARK_*`` variable holds a value that cannot be used."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"SHELFMARK_{name.upper()} must be true or false, not {raw!r}")


def _parse_time(name: str, raw: str) -> time:
    try:
        return time.fromisoformat(raw.strip())
    except ValueError:
        raise SettingsError(
            f"SHELFMARK_{name.upper()} must be a time like 02:00, not {raw!r}"
        ) from None


def _parse_timezone(name: str, raw: str) -> str:
    try:
        ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"SHELFMARK_{name.upper()} is not a known timezone: {raw!r}") from None
    return raw.strip()


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_log_level(name: str, raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"SHELFMARK_{name.upper()} must be one of {', '.join(LOG_LEVELS)}, not {raw!r}"
        )
    return level


def _parse_networks(name: str, raw: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR ranges (``10.0.0.5, 192.168.1.0/24``)."""
    networks = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"SHELFMARK_{name.upper()} must list addresses or ranges like 10.0.0.5 or "
                f"192.168.1.0/24, separated by commas; {item.strip()!r} is neither"
            ) from None
    return tuple(networks)


def _parse_count(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingsError(f"SHELFMARK_{name.upper()} must be 0 or a whole number, not {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the app, the CLI and the scheduler may be configured with."""

    database: Path = field(default_factory=lambda: Path("instance") / "shelfmark.sqlite3")
    secret_key: str = DEVELOPMENT_SECRET_KEY
    library_name: str = "Shelfmark Library"
    timezone: str = "Europe/London"
    secure_cookies: bool = False
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 30.0
    mail_from: str = "Shelfmark Library <library@localhost>"
    reminder_time: time = time(2, 0)
    in_process_scheduler: bool = False
    search_cache_entries: int = 256
    workers: int = 1
    # Operations (docs/operations.md): log level, the access log ("-" standard
    # error, "off", or a file), who may read /metrics, and how many reverse
    # proxies in front of the server may be believed about the client's address.
    log_level: str = "INFO"
    access_log: str = "-"
    metrics_allow: tuple[Network, ...] = ()
    trusted_proxies: int = 0
    # Cataloguing (docs/cataloguing.md): where ISBN lookups and covers come from; an
    # empty URL turns that source off. The timeout bounds a whole lookup, every source
    # together, so "New book" answers within 3 seconds.
    openlibrary_url: str = "https://openlibrary.org"
    openlibrary_covers_url: str = "https://covers.openlibrary.org"
    google_books_url: str = ""
    isbn_lookup_timeout: float = 2.5
    # Single sign-on with the school's OpenID Connect provider (README, "Signing in"):
    # on when an issuer and a client id are set.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_name: str = "your school account"
    oidc_allowed_domains: tuple[str, ...] = ()
    oidc_create_role: str = ""
    # How staff sign in: "either" (a password or single sign-on), "sso" or "password".
    staff_sign_in: str = "either"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def uses_development_secret(self) -> bool:
        return self.secret_key == DEVELOPMENT_SECRET_KEY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``SHELFMARK_<NAME>`` variables, then apply ``overrides``."""
        source: Mapping[str, str] = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"SHELFMARK_{f.name.upper()}")
            if raw is None:
                continue
            # With postponed annotations a field's type is its annotation's text.
            values[f.name] = _convert(f.name, str(f.type), raw)
        return replace(cls(**values), **overrides)


def _convert(name: str, type_name: str, raw: str) -> object:
    if name in _NAMED_PARSERS:
        return _NAMED_PARSERS[name](name, raw)
    if type_name == "bool":
        return _parse_bool(name, raw)
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(
                f"SHELFMARK_{name.upper()} must be a whole number, not {raw!r}"
            ) from None
    if type_name == "float":
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"SHELFMARK_{name.upper()} must be a number, not {raw!r}") from None
    if type_name == "time":
        return _parse_time(name, raw)
    if type_name == "Path":
        return Path(raw)
    return raw


def _parse_domains(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated email domains (``school.example, pupils.school.example``), lower-cased."""
    domains = tuple(item.strip().lower().lstrip("@") for item in raw.split(",") if item.strip())
    for domain in domains:
        if "@" in domain or "." not in domain or " " in domain:
            raise SettingsError(
                f"SHELFMARK_{name.upper()} must list email domains like school.example, "
                f"separated by commas; {domain!r} is not one"
            )
    return domains


def _parse_create_role(name: str, raw: str) -> str:
    """Empty (never create accounts from single sign-on) or Student: never staff."""
    role = raw.strip()
    if role.lower() == "student":
        return "Student"
    if role:
        raise SettingsError(
            f"SHELFMARK_{name.upper()} may only be Student (or empty), not {raw!r}: "
            "staff accounts are never created by single sign-on"
        )
    return ""


STAFF_SIGN_IN = ("either", "sso", "password")


def _parse_staff_sign_in(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in STAFF_SIGN_IN:
        raise SettingsError(
            f"SHELFMARK_{name.upper()} must be one of {', '.join(STAFF_SIGN_IN)}, not {raw!r}"
        )
    return value


def _parse_issuer(name: str, raw: str) -> str:
    """An https URL (http only on this machine, for a provider run by tests), no trailing /."""
    issuer = raw.strip().rstrip("/")
    loopback = re.match(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(/|$)", issuer)
    if issuer and not (issuer.startswith("https://") or loopback):
        raise SettingsError(
            f"SHELFMARK_{name.upper()} must be the provider's https:// address, not {raw!r}"
        )
    return issuer


_NAMED_PARSERS = {
    "timezone": _parse_timezone,
    "log_level": _parse_log_level,
    "metrics_allow": _parse_networks,
    "trusted_proxies": _parse_count,
    "oidc_issuer": _parse_issuer,
    "oidc_allowed_domains": _parse_domains,
    "oidc_create_role": _parse_create_role,
    "staff_sign_in": _parse_staff_sign_in,
}
