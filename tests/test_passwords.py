"""The password rules (NIST SP 800-63B: length and a common-passwords list, no composition
rules), who may sign in how, and the sign-in settings."""

from __future__ import annotations

import pytest

from jobs import reminders
from webapp import passwords, send_now, sign_in_rules
from webapp.config import Settings, SettingsError
from webapp.models import accounts


def test_length_and_the_common_passwords_list_are_the_only_rules():
    assert passwords.problem("short") == "Use at least 10 characters."
    assert "most common" in passwords.problem("1234567890")
    assert "most common" in passwords.problem("Password123".lower())
    assert "most common" in passwords.problem("QWERTYUIOP")
    # No digits, no symbols, no capitals: fine, if long and not common.
    assert passwords.problem("purple elephants dance") is None
    assert passwords.problem("alice.smith@example.com", email="alice.smith@example.com")
    assert passwords.problem("x" * 1025) == "Use at most 1024 characters."


def test_a_password_matches_only_its_own_hash():
    stored = accounts.hash_password("purple elephants dance")
    assert passwords.matches(stored, "purple elephants dance")
    assert not passwords.matches(stored, "purple elephants dance!")
    assert not passwords.matches(None, "anything at all")
    assert not passwords.matches("not a hash", "anything at all")


def test_staff_sign_in_setting():
    for role in ("Librarian", "Admin"):
        assert sign_in_rules.password_sign_in_allowed(role, "either", True)
        assert not sign_in_rules.password_sign_in_allowed(role, "sso", True)
        # Without single sign-on configured, "sso" cannot lock the staff out.
        assert sign_in_rules.password_sign_in_allowed(role, "sso", False)
        assert not sign_in_rules.sso_sign_in_allowed(role, "password")
        assert sign_in_rules.sso_sign_in_allowed(role, "sso")
    assert sign_in_rules.password_sign_in_allowed("Student", "sso", True)
    assert sign_in_rules.sso_sign_in_allowed("Student", "password")


def test_domains_and_the_role_of_new_accounts():
    assert sign_in_rules.domain_allowed("a@School.example", ("school.example",))
    assert not sign_in_rules.domain_allowed("a@evil.example", ("school.example",))
    assert not sign_in_rules.domain_allowed("a@sub.school.example", ("school.example",))
    assert sign_in_rules.domain_allowed("a@anything.example", ())
    assert sign_in_rules.role_for_new_account("") is None
    assert sign_in_rules.role_for_new_account("Student") == "Student"
    assert sign_in_rules.role_for_new_account("Admin") is None


def test_sign_in_settings_are_checked():
    env = {
        "SHELFMARK_OIDC_ISSUER": "https://accounts.google.com/",
        "SHELFMARK_OIDC_CLIENT_ID": "id",
        "SHELFMARK_OIDC_ALLOWED_DOMAINS": "School.example, @pupils.school.example",
        "SHELFMARK_OIDC_CREATE_ROLE": "student",
        "SHELFMARK_STAFF_SIGN_IN": "SSO",
    }
    settings = Settings.from_env(env)
    assert settings.oidc_enabled and settings.oidc_issuer == "https://accounts.google.com"
    assert settings.oidc_allowed_domains == ("school.example", "pupils.school.example")
    assert (settings.oidc_create_role, settings.staff_sign_in) == ("Student", "sso")
    assert not Settings.from_env({}).oidc_enabled
    for name, value in [
        ("OIDC_CREATE_ROLE", "Librarian"),
        ("OIDC_CREATE_ROLE", "Admin"),
        ("OIDC_ISSUER", "http://accounts.example"),
        ("OIDC_ALLOWED_DOMAINS", "not a domain"),
        ("STAFF_SIGN_IN", "sometimes"),
    ]:
        with pytest.raises(SettingsError):
            Settings.from_env({f"SHELFMARK_{name}": value})


def test_sending_now_takes_the_same_lease_as_the_nightly_run_and_the_sweep():
    assert send_now.LEASE == reminders.LEASE
