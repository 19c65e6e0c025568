"""The sign-in throttling policy: how long an account and address must wait, as pure functions.

Two counts, over the last ``WINDOW``, of the failures recorded in
``LoginFailures`` (an attempt is recorded *before* its password is checked, as
"checking", and is removed when the password was right or kept as a failure;
see ``webapp.models.accounts``):

* **Per account and address**: ``PAIR_LIMIT`` failures for one account from one
  address refuse that account *from that address* until the oldest of them is
  ``WINDOW`` old. Someone guessing from elsewhere therefore cannot lock a
  librarian out of her own desk.
* **Per address, with backoff**: an address with ``ADDRESS_SOFT_LIMIT`` failures
  (to any accounts) must leave a pause after its latest failure before its next
  attempt: 1 second, doubling every ``ADDRESS_BACKOFF_STEP`` further failures,
  at most ``ADDRESS_MAX_PAUSE``. A school behind one NAT address whose pupils
  mistype 20 passwords in a lesson waits a second between attempts at worst;
  someone spraying guesses from one address gets about 85 per window.

Attempts still being checked are not failures yet, but they may become ones: an
attempt that would be over a limit if they all failed waits for them to finish
(``must_wait_for_checks``), at most ``CHECK_WAIT``. So 200 simultaneous guesses
at one account get at most ``PAIR_LIMIT`` checks, while 20 desks signing in as
one librarian at the same moment all get in. A check older than
``CHECK_TIMEOUT`` (its process died) counts as a failure.

No limit counts an account's failures from every address together: it would let
anyone lock any account out. Slowing a guesser spread over many addresses is
left to the per-address limits and the cost of argon2id (docs/security.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5
ADDRESS_SOFT_LIMIT = 20
ADDRESS_BACKOFF_STEP = 10
ADDRESS_MAX_PAUSE = timedelta(seconds=60)
CHECK_WAIT = timedelta(seconds=30)
CHECK_TIMEOUT = timedelta(seconds=60)


def address_pause(failures: int) -> timedelta:
    """How long an address with ``failures`` in the window waits after its latest one."""
    if failures < ADDRESS_SOFT_LIMIT:
        return timedelta(0)
    # Capped before doubling: 2**n seconds overflows a timedelta long before n is large.
    doublings = min((failures - ADDRESS_SOFT_LIMIT) // ADDRESS_BACKOFF_STEP, 30)
    return min(timedelta(seconds=2**doublings), ADDRESS_MAX_PAUSE)


def seconds_to_wait(
    pair_failures: Sequence[datetime], address_failures: Sequence[datetime], now: datetime
) -> int:
    """Whole seconds before this account may try again from this address (0: now).

    Each sequence holds the times of the failures in the window, newest first:
    ``pair_failures`` at least the newest ``PAIR_LIMIT`` for this account from this
    address, ``address_failures`` every one from this address.
    """
    ready = now
    if len(pair_failures) >= PAIR_LIMIT:
        ready = max(ready, pair_failures[PAIR_LIMIT - 1] + WINDOW)
    if address_failures:
        ready = max(ready, address_failures[0] + address_pause(len(address_failures)))
    return math.ceil((ready - now).total_seconds())


def must_wait_for_checks(
    pair_failures: int, pair_checking: int, address_failures: int, address_checking: int
) -> bool:
    """Whether an attempt allowed by the failures so far would not be, had the attempts of
    this account and address (or of this address) still being checked all failed."""
    if pair_checking and pair_failures + pair_checking >= PAIR_LIMIT:
        return True
    return bool(address_checking) and address_failures + address_checking >= ADDRESS_SOFT_LIMIT
