"""Who may use which route.

Every view declares its policy with ``@allow(...)``. The app checks the policy
in one ``before_request`` hook, and refuses to start when a route has none, so
a route added without a declared policy can never be reached by accident.
Object-level checks (a student sees only their own loans) stay in the views.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TypeVar

View = TypeVar("View", bound=Callable)


class Access(enum.Enum):
    PUBLIC = "anyone, logged in or not"
    LOGGED_IN = "any logged-in user"
    STAFF = "librarians and admins"
    ADMIN = "admins only"


STAFF_ROLES = frozenset({"Librarian", "Admin"})


def allow(access: Access) -> Callable[[View], View]:
    """Declare who may call a view."""

    def mark(view: View) -> View:
        view.access = access
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
    if access is Access.STAFF:
        return role in STAFF_ROLES
    return role == "Admin"


# Endpoints that Quart itself defines, and so cannot carry a decorator.
BUILT_IN_POLICIES = {"static": Access.PUBLIC}


def endpoint_policy(view_functions: dict[str, Callable], endpoint: str) -> Access | None:
    """The declared policy of an endpoint, or None when it has none."""
    if endpoint in BUILT_IN_POLICIES:
        return BUILT_IN_POLICIES[endpoint]
    return getattr(view_functions.get(endpoint), "access", None)
