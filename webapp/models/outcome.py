"""What a circulation action did: the one answer of lending, holds and undo.

``loans``, ``holds`` and ``undo`` each return an ``Outcome``, and the desk and
My account turn it into their message (and a 200 or a 422). It has a module of
its own because lending hands returned copies to the hold queue (``loans``
imports ``holds``): the type they share cannot live in either without an
import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from webapp.models.holds import SetAside


@dataclass(frozen=True)
class Outcome:
    """What a circulation action did, in words for the desk.

    ``action`` is one of: lent, returned, renewed, undone, repeat (a double scan,
    applied once), found (a lost copy checked back in), closed (a loan closed as
    lost or claims returned), due_changed, hold_placed, hold_cancelled, set_aside
    (a copy pulled from the shelf for a hold), refused, not_found; the desk adds
    selected and cleared for choosing and letting go of a patron, ask (a question
    the librarian must answer first) and cancelled (its answer "Cancel").
    ``set_aside`` is the hold a returned copy was put on the hold shelf for, which
    the desk must not let go unnoticed. ``overridable`` is the barcode of a refused
    lend that staff may make anyway, giving a reason ("Lend anyway").
    """

    action: str
    message: str
    patron_id: int | None = None
    loan_id: int | None = None
    set_aside: SetAside | None = None
    overridable: str | None = None

    @property
    def ok(self) -> bool:
        return self.action not in ("refused", "not_found")


def refused(message: str, patron_id: int | None = None) -> Outcome:
    """A refusal: nothing changed, and ``message`` says why."""
    return Outcome("refused", message, patron_id)
