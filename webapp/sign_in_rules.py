"""Who may sign in how: pure rules for passwords, single sign-on and accounts it creates.

No database, no Quart, no clock: the views pass what they know.
"""

from __future__ import annotations

from collections.abc import Iterable

from webapp.access import STAFF_ROLES


def password_sign_in_allowed(role: str, staff_sign_in: str, sso_enabled: bool) -> bool:
    """Whether an account of ``role`` may sign in with a password.

    ``staff_sign_in`` is SHELFMARK_STAFF_SIGN_IN: "sso" makes staff use the
    school's single sign-on, so a leaked library password cannot open a
    librarian's account; it has no effect while single sign-on is not configured,
    or nobody could sign in to set it up. Students may always use a password (not
    every pupil has a school account).
    """
    return role not in STAFF_ROLES or staff_sign_in != "sso" or not sso_enabled


def sso_sign_in_allowed(role: str, staff_sign_in: str) -> bool:
    """Whether an account of ``role`` may sign in through single sign-on."""
    return role not in STAFF_ROLES or staff_sign_in != "password"


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def domain_allowed(email: str, allowed: Iterable[str]) -> bool:
    """Whether a verified email may sign in: every domain when ``allowed`` is empty."""
    domains = tuple(allowed)
    return not domains or email_domain(email) in domains


def role_for_new_account(create_role: str) -> str | None:
    """The role of an account created at its first single sign-on, or None: create none.

    Only Student, whatever the setting says (the settings refuse anything else too):
    a staff account is always made by a person.
    """
    return "Student" if create_role == "Student" else None
