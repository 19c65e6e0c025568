"""Who may use which route.

Every view declares its policy with ``@allow(...)``. The app checks the policy
in one ``before_request`` hook, and refuses to start when a route has none, so
a route added without a declared policy can never be reached by accident.
Object-level checks (a student sees only their own loans) stay in the views.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Iterable
from typing import TypeVar

from webapp.config import Network

View = TypeVar("View", bound=Callable)


class Access(enum.Enum):
    PUBLIC = "anyone, logged in or not"
    LOGGED_IN = "any logged-in user"
    STAFF = "librarians and admins"
    ADMIN = "admins only"
    # /metrics: staff, or a monitoring server at an address in SHELFMARK_METRICS_ALLOW
    # (checked by the app's access hook, which knows the request's address).
    STAFF_OR_MONITOR = "librarians and admins, or an address in SHELFMARK_METRICS_ALLOW"


STAFF_ROLES = frozenset({"Librarian", "Admin"})


def allow(access: Access) -> Callable[[View], View]:
    """Declare who may call a view."""

    def mark(view: View) -> View:
        setattr(view, "access", access)  # noqa: B010 (a Callable type has no such attribute)
        return view

    return mark


def permits(access: Access, role: str | None) -> bool:
    """Whether a user with ``role`` (None: anonymous) passes ``access``."""
    if access is Access.PUBLIC:
        return True
    if role is None:
        return False
    if access is Access.LOGGED_IN:
        return True
    if access in (Access.STAFF, Access.STAFF_OR_MONITOR):
        return role in STAFF_ROLES
    return role == "Admin"


def address_allowed(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether ``address`` (a request's client address) is in one of ``networks``."""
    try:
        client = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(client in network for network in networks)


# Endpoints that Quart itself defines, and so cannot carry a decorator.
BUILT_IN_POLICIES = {"static": Access.PUBLIC}


def endpoint_policy(view_functions: dict[str, Callable], endpoint: str) -> Access | None:
    """The declared policy of an endpoint, or None when it has none."""
    if endpoint in BUILT_IN_POLICIES:
        return BUILT_IN_POLICIES[endpoint]
    return getattr(view_functions.get(endpoint), "access", None)
