"""What makes a password acceptable, and checking one against its hash (NIST SP 800-63B).

At least ``MIN_LENGTH`` characters and not one of the 30,000 most common
passwords, nothing more: no rules about digits or symbols, which push people
to ``Password1!``. The list is the one the zxcvbn package ships (its
``passwords`` frequency list, drawn from leaked password dumps), not one kept by
hand. Pure apart from the argon2 check, which callers run in a thread.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 10
MAX_LENGTH = 1024

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def problem(password: str, *, email: str | None = None, name: str | None = None) -> str | None:
    """Why ``password`` may not be used, in words for the form; None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in _common_passwords() or lowered.strip() in _common_passwords():
        return "That password is one of the most common ones, easy to guess. Choose another."
    own = {part.lower() for part in (email, name) if part}
    if email:
        own.add(email.split("@", 1)[0].lower())
    if lowered in own:
        return "Do not use your name or email address as your password."
    return None


def matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed. CPU-bound (argon2): call it from a thread."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
